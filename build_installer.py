"""Build Threadline's installable app: a self-contained folder and a zip of it.

Usage:
    python build_installer.py            # build dist/Threadline-<version>-<platform>.zip
    python build_installer.py --no-zip   # build the folder only

It bundles the Python runtime, Qt (PySide6-Essentials), the Alembic
migrations and ``resources/`` with PyInstaller (installed on demand into the
running environment), then smoke-runs the built ``threadline --version`` and a
CLI round trip on a throw-away database, so a broken bundle never ships.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DIST = ROOT / "dist"
BUILD = ROOT / "build"


def _version() -> str:
    sys.path.insert(0, str(ROOT))
    from app import __version__

    return __version__


def _ensure_pyinstaller() -> None:
    if importlib.util.find_spec("PyInstaller") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "pyinstaller"], check=True)


def _entry_script() -> Path:
    BUILD.mkdir(exist_ok=True)
    entry = BUILD / "threadline_entry.py"
    entry.write_text("import sys\nfrom app.cli import main\n\nsys.exit(main())\n", encoding="utf-8")
    return entry


def build_folder() -> Path:
    """Run PyInstaller; returns the folder holding the ``threadline`` executable."""
    _ensure_pyinstaller()
    sep = os.pathsep
    args = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--clean",
        "--name",
        "threadline",
        "--distpath",
        str(DIST),
        "--workpath",
        str(BUILD / "pyinstaller"),
        "--specpath",
        str(BUILD),
        "--paths",
        str(ROOT),
        "--add-data",
        f"{ROOT / 'resources'}{sep}resources",
        "--add-data",
        f"{ROOT / 'app' / 'migrations'}{sep}app/migrations",
        "--hidden-import",
        "ui.app",
        "--collect-submodules",
        "app",
        "--collect-submodules",
        "connectors",
        "--collect-submodules",
        "ui",
        "--collect-submodules",
        "alembic",
        "--collect-data",
        "phonenumbers",
        "--collect-data",
        "py3langid",  # the language model file (app.language)
        str(_entry_script()),
    ]
    subprocess.run(args, check=True, cwd=ROOT)
    return DIST / "threadline"


def smoke_test(folder: Path) -> None:
    """Run the built executable: --version, then demo + customers on a temp database."""
    exe = folder / ("threadline.exe" if os.name == "nt" else "threadline")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    print(out.stdout.strip())
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "THREADLINE_HOME": tmp, "QT_QPA_PLATFORM": "offscreen"}
        db = str(Path(tmp) / "smoke.db")
        subprocess.run([str(exe), "--db", db, "demo"], check=True, env=env)
        listing = subprocess.run(
            [str(exe), "--db", db, "customers"], capture_output=True, text=True, check=True, env=env
        )
        if "Jane Doe" not in listing.stdout:
            raise SystemExit("smoke test failed: demo customers missing from the built app")
    print("smoke test passed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-zip", action="store_true", help="leave the folder, skip the zip")
    args = parser.parse_args()
    folder = build_folder()
    # PyInstaller puts data under _internal/; resources_dir() looks beside the app package.
    smoke_test(folder)
    if not args.no_zip:
        name = f"Threadline-{_version()}-{platform.system().lower()}-{platform.machine().lower()}"
        archive = shutil.make_archive(str(DIST / name), "zip", root_dir=DIST, base_dir="threadline")
        print(f"built {archive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
