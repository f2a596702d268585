"""Threadline's shipped resources (icons, demo data, self-test samples), installed as the package
``threadline_resources``; ``app.paths.resources_dir`` finds them. No code lives here."""
