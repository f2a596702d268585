"""Build Threadline's installable app for the platform this runs on, under ``dist/``.

Usage:
    python build_installer.py              # build the bundle, self-test it, pack it
    python build_installer.py --no-pack    # build and self-test the folder only

Every platform starts from the same PyInstaller one-folder bundle: the Python
runtime, Qt (PySide6-Essentials), the Alembic migrations, certifi's trust store
and the package data of ``resources/`` (installed as ``threadline_resources``),
with the main executable named ``threadline``. The built app must pass
``threadline --self-test`` (offscreen) and a demo round trip on a throw-away
database before anything is packed, so a broken bundle never ships.

Packing per platform:
    Linux: ``dist/Threadline-<version>-linux-<arch>.tar.gz`` holding the
    ``threadline/`` folder with ``threadline.desktop`` and ``threadline.svg``
    (``install.sh`` inside puts the menu entry and icon in the user's folders).

Windows and macOS installers are not written yet: on those systems this
script stops with a message instead of producing something untested.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DIST = ROOT / "dist"
BUILD = ROOT / "build"
RESOURCES = ROOT / "resources"
RESOURCES_PACKAGE = "threadline_resources"
NOT_RESOURCES = {"__pycache__", "screenshot.png"}  # the README's picture is not shipped
# Test and type-checking tools that alembic's and SQLAlchemy's test helpers (or SQLAlchemy's mypy
# plugin) would drag in: the app never imports them.
EXCLUDED_MODULES = (
    "alembic.testing",
    "sqlalchemy.testing",
    "sqlalchemy.ext.mypy",
    "mypy",
    "pytest",
    "_pytest",
)


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


def build_bundle(extra: list[str] | None = None) -> Path:
    """Run PyInstaller (one folder); returns the folder holding the ``threadline`` executable."""
    _ensure_pyinstaller()
    sep = os.pathsep
    data: list[str] = []
    for entry in sorted(RESOURCES.iterdir()):  # what the wheel's package data holds
        if entry.name in NOT_RESOURCES or entry.suffix in (".py", ".pyc"):
            continue
        target = f"{RESOURCES_PACKAGE}/{entry.name}" if entry.is_dir() else RESOURCES_PACKAGE
        data += ["--add-data", f"{entry}{sep}{target}"]
    args = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--clean",
        "--log-level",
        "WARN",
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
        *data,
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
        "--hidden-import",
        "psycopg",  # the team server's driver, loaded by SQLAlchemy by name
        "--collect-submodules",
        "psycopg_binary",
        "--collect-data",
        "phonenumbers",
        "--collect-data",
        "certifi",
        "--collect-data",
        "py3langid",  # the language model file (app.language)
        "--collect-data",
        "babel",  # CLDR data for money in the user's locale (app.formatting), pruned below
        *(arg for module in EXCLUDED_MODULES for arg in ("--exclude-module", module)),
        *(extra or []),
        str(_entry_script()),
    ]
    subprocess.run(args, check=True, cwd=ROOT)
    prune_locale_data(DIST / "threadline")
    return DIST / "threadline"


def prune_locale_data(folder: Path) -> int:
    """Keep only Babel's English locale data (``en``, ``en_GB``, ``en_DE``… and ``root``).

    Babel ships CLDR data for about 750 locales (some 35 MB); the app speaks English and
    writes money as English is written in the user's country (``app.formatting``
    falls back from ``de_DE`` to ``en_DE``), so about 1 MB of it is needed.

    Returns:
        How many files were removed.
    """
    removed = 0
    for data in folder.rglob("babel/locale-data"):
        for path in data.glob("*.dat"):
            name = path.stem
            if name == "root" or name == "en" or name.startswith("en_"):
                continue
            path.unlink()
            removed += 1
    return removed


def executable(folder: Path) -> Path:
    """The bundle's main executable."""
    return folder / ("threadline.exe" if os.name == "nt" else "threadline")


def smoke_test(folder: Path) -> None:
    """Run the built app: --version, --self-test, then demo + customers on a temp database."""
    exe = executable(folder)
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    print(out.stdout.strip())
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "THREADLINE_HOME": tmp, "QT_QPA_PLATFORM": "offscreen"}
        env.pop("THREADLINE_DB", None)
        subprocess.run([str(exe), "--self-test"], check=True, env=env, cwd=tmp)
        db = str(Path(tmp) / "smoke.db")
        subprocess.run([str(exe), "--db", db, "demo"], check=True, env=env, cwd=tmp)
        listing = subprocess.run(
            [str(exe), "--db", db, "customers"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            cwd=tmp,
        )
        if "Jane Doe" not in listing.stdout:
            raise SystemExit("smoke test failed: demo customers missing from the built app")
        if "£" not in listing.stdout:  # the demo's GBP orders, through Babel's bundled data
            raise SystemExit("smoke test failed: money is not written in the built app")
    print("smoke test passed")


DESKTOP_ENTRY = """[Desktop Entry]
Type=Application
Name=Threadline
GenericName=Customer timeline
Comment=One customer's email, chats and orders in one searchable timeline
Exec={exe}
Icon={icon}
Terminal=false
Categories=Office;Network;Email;
StartupWMClass=Threadline
"""

INSTALL_SH = """#!/bin/sh
# Adds Threadline to your application menu (for this user), run from the unpacked folder.
set -e
here=$(cd "$(dirname "$0")" && pwd)
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/scalable/apps"
mkdir -p "$apps" "$icons"
cp "$here/threadline.svg" "$icons/threadline.svg"
sed "s|^Exec=.*|Exec=\\"$here/threadline\\"|; s|^Icon=.*|Icon=threadline|" \\
    "$here/threadline.desktop" > "$apps/threadline.desktop"
echo "Threadline is in your application menu; run $here/threadline to start it now."
"""


def pack_linux(folder: Path) -> Path:
    """A .tar.gz of the bundle folder with a .desktop file, the icon and install.sh."""
    shutil.copyfile(RESOURCES / "ui" / "icons" / "logo.svg", folder / "threadline.svg")
    (folder / "threadline.desktop").write_text(
        DESKTOP_ENTRY.format(exe="threadline", icon="threadline"), encoding="utf-8"
    )
    install = folder / "install.sh"
    install.write_text(INSTALL_SH, encoding="utf-8")
    install.chmod(0o755)
    name = f"Threadline-{_version()}-linux-{platform.machine().lower()}"
    archive = DIST / f"{name}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="threadline")
    return archive


def build_linux(pack: bool) -> list[Path]:
    """The Linux one-folder bundle, self-tested, and its .tar.gz."""
    folder = build_bundle()
    smoke_test(folder)
    return [pack_linux(folder)] if pack else [folder]


BUILDERS: dict[str, Callable[[bool], list[Path]]] = {"linux": build_linux}


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-pack", action="store_true", help="leave the folder, skip packing")
    args = parser.parse_args()
    system = platform.system().lower()
    builder = BUILDERS.get(system)
    if builder is None:
        print(f"build_installer.py: building on {platform.system()} is not written yet")
        return 2
    for built in builder(not args.no_pack):
        print(f"built {built} ({_size(built) / 1e6:.1f} MB)")
    folder = DIST / "threadline"
    print(f"bundle folder {folder} ({_size(folder) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
