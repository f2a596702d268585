"""Threadline's Qt desktop interface: the main window, its panes, item models, dialogs and workers.

Everything here reads through ``app.queries`` and writes through the ``app``
services, on background workers (``ui.workers``); nothing here builds SQL or
parses a source format.
"""
