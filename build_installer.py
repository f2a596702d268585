"""Build Threadline's installable app for the platform this runs on, under ``dist/``.

Usage:
    python build_installer.py              # build the bundle, self-test it, pack it
    python build_installer.py --no-pack    # build and self-test the folder only

Every platform starts from the same PyInstaller one-folder bundle, described by a spec file
this script writes (``build/threadline.spec``): the Python runtime, Qt (PySide6-Essentials), the
Alembic migrations, certifi's trust store and the package data of ``resources/`` (installed as
``threadline_resources``), with the main executable named ``threadline``. The built app must
pass ``--self-test`` (offscreen) and a demo round trip on a throw-away database before anything
is packed, so a broken bundle never ships. The icons (.ico, .icns, .png) are drawn at build time
from ``resources/ui/icons/logo.svg`` with Qt and packed with Pillow.

Packing per platform:
    Linux: ``dist/Threadline-<version>-linux-<arch>.tar.gz`` holding the ``threadline/``
    folder with ``threadline.desktop`` and ``threadline.svg`` (``install.sh`` inside puts the
    menu entry and icon in the user's folders), and ``Threadline-<version>-<arch>.AppImage``
    when ``appimagetool`` is on PATH.

    Windows: the folder holds ``threadline.exe`` (the windowed app, no console) and
    ``threadline-cli.exe`` (the same program with a console, for scripts), both with the icon
    and a version resource. ``Threadline-<version>-windows-<arch>-setup.exe`` is compiled from
    ``resources/installer/threadline.nsi`` when ``makensis`` (NSIS) is found. Signed with
    signtool when THREADLINE_WINDOWS_CERT_FILE (a .pfx) is set.

    macOS: ``dist/Threadline.app`` (bundle id ``app.threadline.Threadline``) packed into
    ``Threadline-<version>-macos-<arch>.dmg``. Signed when THREADLINE_MACOS_SIGN_IDENTITY is set
    and notarised when notary credentials are set too (README, "Building installers").

OAuth: when the build's environment names this app's registrations
(``THREADLINE_GOOGLE_CLIENT_ID`` and ``THREADLINE_GOOGLE_CLIENT_SECRET``,
``THREADLINE_MICROSOFT_CLIENT_ID``), they are baked into the bundle as
``oauth_clients.json`` beside the other resources, so its users sign in to Gmail and
Microsoft 365 without setting anything.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import plistlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DIST = ROOT / "dist"
BUILD = ROOT / "build"
RESOURCES = ROOT / "resources"
INSTALLER = RESOURCES / "installer"  # templates of the packers: not shipped in the app
RESOURCES_PACKAGE = "threadline_resources"
# The README's picture and the installer templates are not shipped.
NOT_RESOURCES = {"__pycache__", "screenshot.png", "installer"}
# Test and type-checking tools that alembic's and SQLAlchemy's test helpers (or SQLAlchemy's mypy
# plugin) would drag in: the app never imports them.
EXCLUDED_MODULES = (
    "alembic.testing",
    "sqlalchemy.testing",
    "sqlalchemy.ext.mypy",
    "mypy",
    "pytest",
    "_pytest",
    # Pillow draws the icons at build time; the app never imports it (pypdf would, optionally,
    # for pictures in a PDF, which the app does not read).
    "PIL",
)
PRODUCT = "Threadline"
PUBLISHER = "Threadline"
BUNDLE_ID = "app.threadline.Threadline"
MACOS_MINIMUM = "12.0"  # Qt 6.8 and later run on macOS 12 (Monterey) and newer
ICO_SIZES = (16, 20, 24, 32, 40, 48, 64, 128, 256)
ICNS_SIZES = (32, 64, 128, 256, 512, 1024)
ICON_BACKGROUND = "#2f6fde"


def _project() -> dict[str, str]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        project: dict[str, str] = tomllib.load(handle)["project"]
    return project


def version() -> str:
    """The release being built: pyproject.toml's ``version``."""
    return _project()["version"]


def version_numbers(text: str) -> tuple[int, int, int, int]:
    """``"1.2.3rc1"`` -> ``(1, 2, 3, 0)``: the four numbers a Windows version resource holds."""
    match = re.match(r"\d+(?:\.\d+)*", text)
    if match is None:
        raise ValueError(f"not a version: {text!r}")
    numbers = [int(part) for part in match.group().split(".")][:4]
    numbers += [0] * (4 - len(numbers))
    return numbers[0], numbers[1], numbers[2], numbers[3]


def _machine() -> str:
    machine = platform.machine().lower()
    return "x64" if machine == "amd64" else machine  # Windows says AMD64


def _ensure(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)


def _ensure_pyinstaller() -> None:
    _ensure("PyInstaller", "pyinstaller")


# -- Icons ----------------------------------------------------------------------------------


def app_icon_svg() -> str:
    """The app icon: the logo's strokes in white on a rounded square (the logo alone is black
    line art, which vanishes on a dark taskbar or dock)."""
    ns = "http://www.w3.org/2000/svg"
    ET.register_namespace("", ns)
    logo = ET.parse(RESOURCES / "ui" / "icons" / "logo.svg").getroot()
    icon = ET.Element(f"{{{ns}}}svg", {"viewBox": "0 0 24 24", "width": "24", "height": "24"})
    ET.SubElement(
        icon,
        f"{{{ns}}}rect",
        {"x": "1", "y": "1", "width": "22", "height": "22", "rx": "5", "fill": ICON_BACKGROUND},
    )
    strokes = {k: v for k, v in logo.attrib.items() if k.startswith(("stroke", "fill"))}
    strokes["stroke"] = "#ffffff"
    strokes["transform"] = "translate(12 12) scale(0.72) translate(-12 -12)"
    group = ET.SubElement(icon, f"{{{ns}}}g", strokes)
    group.extend(list(logo))
    return ET.tostring(icon, encoding="unicode")


_QT_APP: object = None


@dataclass(frozen=True)
class Icons:
    svg: Path
    png: Path  # 512 px, for the AppImage and Linux menus
    ico: Path
    icns: Path


def render_icons(out: Path) -> Icons:
    """Draw the app icon at every size the platforms ask for and write .svg, .png, .ico, .icns."""
    _ensure("PIL", "pillow")
    from PIL import Image

    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer
    from PySide6.QtWidgets import QApplication

    global _QT_APP
    if QApplication.instance() is None:  # a QApplication, so widgets may follow in-process
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        _QT_APP = QApplication([])
    out.mkdir(parents=True, exist_ok=True)
    svg = out / "threadline.svg"
    svg.write_text(app_icon_svg(), encoding="utf-8")
    renderer = QSvgRenderer(QByteArray(svg.read_bytes()))
    if not renderer.isValid():
        raise SystemExit(f"cannot draw the icon from {svg}")

    def draw(size: int) -> Image.Image:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        buffer.close()
        (out / f"threadline-{size}.png").write_bytes(data.data())
        return Image.open(out / f"threadline-{size}.png")

    drawn = {size: draw(size) for size in sorted({*ICO_SIZES, *ICNS_SIZES, 512})}
    icons = Icons(svg, out / "threadline.png", out / "threadline.ico", out / "threadline.icns")
    drawn[512].save(icons.png)
    largest = max(ICO_SIZES)
    drawn[largest].save(
        icons.ico,
        format="ICO",
        sizes=[(s, s) for s in ICO_SIZES],
        append_images=[drawn[s] for s in ICO_SIZES if s != largest],
    )
    drawn[1024].save(
        icons.icns, format="ICNS", append_images=[drawn[s] for s in ICNS_SIZES if s != 1024]
    )
    return icons


# -- Windows version resource and macOS Info.plist ------------------------------------------


def version_resource(release: str) -> str:
    """PyInstaller's version file (``EXE(version=...)``) for the Windows executables."""
    numbers = version_numbers(release)
    description = _project()["description"]
    strings = {
        "CompanyName": PUBLISHER,
        "FileDescription": f"{PRODUCT} — {description}",
        "FileVersion": release,
        "InternalName": "threadline",
        "LegalCopyright": PUBLISHER,
        "OriginalFilename": "threadline.exe",
        "ProductName": PRODUCT,
        "ProductVersion": release,
    }
    entries = ",\n".join(f"          StringStruct({k!r}, {v!r})" for k, v in strings.items())
    return f"""# UTF-8
# Written by build_installer.py from pyproject.toml: do not edit.
VSVersionInfo(
  ffi=FixedFileInfo(
    filevers={numbers!r},
    prodvers={numbers!r},
    mask=0x3f,
    flags=0x0,
    OS=0x40004,
    fileType=0x1,
    subtype=0x0,
    date=(0, 0)
  ),
  kids=[
    StringFileInfo([
      StringTable(
        '040904B0',
        [
{entries}
        ])
    ]),
    VarFileInfo([VarStruct('Translation', [1033, 1200])])
  ]
)
"""


def info_plist(release: str) -> dict[str, object]:
    """The keys of ``Threadline.app/Contents/Info.plist`` (PyInstaller adds the executable's)."""
    return {
        "CFBundleName": PRODUCT,
        "CFBundleDisplayName": PRODUCT,
        "CFBundleIdentifier": BUNDLE_ID,
        "CFBundleShortVersionString": release,
        "CFBundleVersion": release,
        "CFBundleIconFile": "threadline.icns",
        "CFBundlePackageType": "APPL",
        "LSApplicationCategoryType": "public.app-category.business",
        "LSMinimumSystemVersion": MACOS_MINIMUM,
        "NSHighResolutionCapable": True,
        "NSRequiresAquaSystemAppearance": False,  # follows the system's dark mode
        "NSHumanReadableCopyright": PUBLISHER,
    }


# -- The PyInstaller spec -------------------------------------------------------------------


def _entry_script() -> Path:
    BUILD.mkdir(exist_ok=True)
    entry = BUILD / "threadline_entry.py"
    entry.write_text(
        "import os\n"
        "import sys\n"
        "\n"
        "# A windowed executable (Windows) has no console: print() would fail on None.\n"
        "for _name in ('stdout', 'stderr'):\n"
        "    if getattr(sys, _name) is None:\n"
        "        setattr(sys, _name, open(os.devnull, 'w', encoding='utf-8'))\n"
        "# Finder on older macOS passes a process serial number: not an argument of ours.\n"
        "sys.argv[1:] = [a for a in sys.argv[1:] if not a.startswith('-psn_')]\n"
        "\n"
        "# A big import parses in a worker process (app.parse_worker), and the window builds\n"
        "# a big list of merge suggestions in a child process (app.suggestion_child), both\n"
        "# spawned from this executable: here the spawned copy becomes one instead of the app.\n"
        "import multiprocessing\n"
        "\n"
        "multiprocessing.freeze_support()\n"
        "\n"
        "from app.cli import main\n"
        "\n"
        "sys.exit(main())\n",
        encoding="utf-8",
    )
    return entry


# The OAuth client registrations an installer build bakes in (``app.oauth``): provider →
# (its client id's variable, its client secret's variable, or None).
OAUTH_CLIENT_VARIABLES = {
    "google": ("THREADLINE_GOOGLE_CLIENT_ID", "THREADLINE_GOOGLE_CLIENT_SECRET"),
    "microsoft": ("THREADLINE_MICROSOFT_CLIENT_ID", None),
}


def oauth_clients(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The app's OAuth registrations named in the build's environment, as
    ``resources/oauth_clients.json`` holds them (``app.oauth``): the installed app then
    signs in to Google and Microsoft without anyone setting a variable. Empty when the
    build names none (the app then asks for one)."""
    clients: dict[str, dict[str, str]] = {}
    for provider, (id_variable, secret_variable) in OAUTH_CLIENT_VARIABLES.items():
        client_id = environ.get(id_variable, "").strip()
        if not client_id:
            continue
        clients[provider] = {"client_id": client_id}
        secret = environ.get(secret_variable, "").strip() if secret_variable else ""
        if secret:
            clients[provider]["client_secret"] = secret
    return clients


def spec_text(
    system: str,
    entry: Path,
    icons: Icons | None = None,
    version_file: Path | None = None,
    plist: Path | None = None,
    extra: list[Path] | None = None,
) -> str:
    """The PyInstaller spec for ``system`` (``linux``, ``windows`` or ``darwin``); ``extra``:
    files made by the build that join the resources (``oauth_clients.json``)."""
    datas: list[tuple[str, str]] = []
    for item in sorted(RESOURCES.iterdir()):  # what the wheel's package data holds
        if item.name in NOT_RESOURCES or item.suffix in (".py", ".pyc"):
            continue
        target = f"{RESOURCES_PACKAGE}/{item.name}" if item.is_dir() else RESOURCES_PACKAGE
        datas.append((str(item), target))
    datas += [(str(path), RESOURCES_PACKAGE) for path in extra or ()]
    datas.append((str(ROOT / "app" / "migrations"), "app/migrations"))
    windowed = system in ("windows", "darwin")
    exe_icon = str(icons.ico) if icons is not None and system == "windows" else None
    app_icon = str(icons.icns) if icons is not None else None
    resource = str(version_file) if version_file is not None else None
    # Windows: UTF-8 mode, so the CLI's output piped to a file or another program is UTF-8
    # rather than the ANSI code page (which has no Cyrillic or CJK).
    options = [("X utf8", None, "OPTION")] if system == "windows" else []
    exes = [("threadline", not windowed)]
    if system == "windows":
        exes.append(("threadline-cli", True))  # the same program, with a console, for scripts
    lines = [
        "# Written by build_installer.py: do not edit.",
        "import plistlib",
        "from PyInstaller.utils.hooks import collect_data_files, collect_submodules",
        "",
        f"datas = {datas!r}",
        # babel: CLDR data for money in the user's locale (app.formatting), pruned after
        "for package in ('phonenumbers', 'certifi', 'py3langid', 'babel'):",
        "    datas += collect_data_files(package)",
        f"excludes = {list(EXCLUDED_MODULES)!r}",
        "",
        "",
        "def wanted(name):",
        "    return not any(name == m or name.startswith(m + '.') for m in excludes)",
        "",
        "",
        "hiddenimports = ['ui.app']",
        # psycopg: the team server's driver, which SQLAlchemy loads by name
        "for package in ('app', 'connectors', 'ui', 'alembic', 'psycopg', 'psycopg_binary'):",
        "    hiddenimports += collect_submodules(package, filter=wanted)",
        "",
        "a = Analysis(",
        f"    [{str(entry)!r}],",
        f"    pathex=[{str(ROOT)!r}],",
        "    datas=datas,",
        "    hiddenimports=hiddenimports,",
        "    excludes=excludes,",
        ")",
        "pyz = PYZ(a.pure)",
        "exes = [",
    ]
    for name, console in exes:
        lines += [
            "    EXE(",
            "        pyz,",
            "        a.scripts,",
            f"        {options!r},",
            "        exclude_binaries=True,",
            f"        name={name!r},",
            f"        console={console!r},",
            "        upx=False,",
            f"        icon={exe_icon!r},",
            f"        version={resource!r},",
            "    ),",
        ]
    lines += [
        "]",
        "coll = COLLECT(*exes, a.binaries, a.datas, upx=False, name='threadline')",
    ]
    if system == "darwin":
        lines += [
            f"with open({str(plist)!r}, 'rb') as handle:",
            "    info = plistlib.load(handle)",
            "app = BUNDLE(",
            "    coll,",
            f"    name={PRODUCT + '.app'!r},",
            f"    icon={app_icon!r},",
            f"    bundle_identifier={BUNDLE_ID!r},",
            "    version=info['CFBundleShortVersionString'],",
            "    info_plist=info,",
            ")",
        ]
    return "\n".join(lines) + "\n"


def build_bundle(system: str, icons: Icons | None = None) -> Path:
    """Run PyInstaller (one folder); returns the folder holding the ``threadline`` executable."""
    _ensure_pyinstaller()
    BUILD.mkdir(exist_ok=True)
    release = version()
    version_file = plist = None
    if system == "windows":
        version_file = BUILD / "version_info.txt"
        version_file.write_text(version_resource(release), encoding="utf-8")
    if system == "darwin":
        plist = BUILD / "Info.plist"
        plist.write_bytes(plistlib.dumps(info_plist(release)))
    extra: list[Path] = []
    clients = oauth_clients(os.environ)
    baked = BUILD / "oauth_clients.json"
    baked.unlink(missing_ok=True)
    if clients:
        baked.write_text(json.dumps(clients, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        extra.append(baked)
        print(f"OAuth client registrations baked in: {', '.join(sorted(clients))}")
    spec = BUILD / "threadline.spec"
    spec.write_text(
        spec_text(system, _entry_script(), icons, version_file, plist, extra), encoding="utf-8"
    )
    args = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean"]
    args += ["--log-level", "WARN", "--distpath", str(DIST), "--workpath", str(BUILD / "pyi")]
    subprocess.run([*args, str(spec)], check=True, cwd=ROOT)
    prune_locale_data(DIST)  # the one folder, and the .app built from it on macOS
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
    """The bundle's executable for scripts: the console one on Windows."""
    return folder / ("threadline-cli.exe" if os.name == "nt" else "threadline")


def smoke_test(exe: Path) -> None:
    """Run the built app: --version, --self-test, then demo + customers on a temp database."""
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


# -- Linux ----------------------------------------------------------------------------------

DESKTOP_ENTRY = """[Desktop Entry]
Type=Application
Name=Threadline
GenericName=Customer timeline
Comment=One customer's email, chats and orders in one searchable timeline
Exec={exe}
Icon={icon}
Terminal=false
Categories=Office;Email;
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

APP_RUN = """#!/bin/sh
# The AppImage's entry point: the bundle's executable, with every argument.
here=$(dirname "$(readlink -f "$0")")
exec "$here/usr/lib/threadline/threadline" "$@"
"""


def pack_linux(folder: Path, icons: Icons) -> Path:
    """A .tar.gz of the bundle folder with a .desktop file, the icon and install.sh."""
    shutil.copyfile(icons.svg, folder / "threadline.svg")
    (folder / "threadline.desktop").write_text(
        DESKTOP_ENTRY.format(exe="threadline", icon="threadline"), encoding="utf-8"
    )
    install = folder / "install.sh"
    install.write_text(INSTALL_SH, encoding="utf-8")
    install.chmod(0o755)
    name = f"Threadline-{version()}-linux-{_machine()}"
    archive = DIST / f"{name}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="threadline")
    return archive


def write_appdir(folder: Path, icons: Icons, appdir: Path) -> Path:
    """An AppDir (AppRun, .desktop, icon) around a copy of the bundle folder."""
    if appdir.exists():
        shutil.rmtree(appdir)
    shutil.copytree(folder, appdir / "usr" / "lib" / "threadline", symlinks=True)
    app_run = appdir / "AppRun"
    app_run.write_text(APP_RUN, encoding="utf-8")
    app_run.chmod(0o755)
    (appdir / "threadline.desktop").write_text(
        DESKTOP_ENTRY.format(exe="threadline", icon="threadline"), encoding="utf-8"
    )
    shutil.copyfile(icons.png, appdir / "threadline.png")
    (appdir / ".DirIcon").symlink_to("threadline.png")
    return appdir


def pack_appimage(folder: Path, icons: Icons) -> Path | None:
    """``Threadline-<version>-<arch>.AppImage`` when appimagetool is on PATH, else None."""
    tool = shutil.which("appimagetool")
    if tool is None:
        print("AppImage skipped: appimagetool is not on PATH")
        return None
    appdir = write_appdir(folder, icons, BUILD / "Threadline.AppDir")
    arch = platform.machine()
    image = DIST / f"Threadline-{version()}-{arch}.AppImage"
    # Inside a container without FUSE, appimagetool (itself an AppImage) extracts and runs.
    env = {**os.environ, "ARCH": arch, "APPIMAGE_EXTRACT_AND_RUN": "1"}
    subprocess.run([tool, "--no-appstream", str(appdir), str(image)], check=True, env=env)
    return image


def build_linux(pack: bool) -> list[Path]:
    """The Linux one-folder bundle, self-tested, its .tar.gz and (if possible) AppImage."""
    icons = render_icons(BUILD / "icons")
    folder = build_bundle("linux", icons)
    smoke_test(executable(folder))
    if not pack:
        return [folder]
    built = [pack_linux(folder, icons)]
    image = pack_appimage(folder, icons)
    return built + ([image] if image else [])


# -- Windows --------------------------------------------------------------------------------


def find_makensis() -> str | None:
    """makensis on PATH, else where the NSIS installer puts it on Windows."""
    found = shutil.which("makensis")
    if found:
        return found
    for base in (os.environ.get("PROGRAMFILES(X86)"), os.environ.get("PROGRAMFILES")):
        if base and (Path(base) / "NSIS" / "makensis.exe").is_file():
            return str(Path(base) / "NSIS" / "makensis.exe")
    return None


def remove_bundle_nsh(folder: Path) -> str:
    """The NSIS macro that removes the bundle's top-level files and folders from $INSTDIR."""
    lines = ["!macro REMOVE_BUNDLE"]
    for item in sorted(folder.iterdir()):
        command = "RMDir /r" if item.is_dir() else "Delete"
        lines.append(f'  {command} "$INSTDIR\\{item.name}"')
    lines.append("!macroend")
    return "\n".join(lines) + "\n"


def compile_nsis(
    folder: Path,
    icon: Path,
    out: Path,
    release: str,
    makensis: str,
    sign_command: str | None = None,
) -> Path:
    """Compile ``resources/installer/threadline.nsi`` over ``folder`` into ``out``."""
    BUILD.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BUILD) as tmp:
        files = Path(tmp) / "bundle_files.nsh"
        files.write_text(remove_bundle_nsh(folder), encoding="utf-8")
        defines = {
            "VERSION": release,
            "VERSION4": ".".join(map(str, version_numbers(release))),
            "PUBLISHER": PUBLISHER,
            "SOURCE_DIR": str(folder),
            "FILES_NSH": str(files),
            "ICON": str(icon),
            "OUTFILE": str(out),
        }
        if sign_command:
            defines["SIGN_COMMAND"] = sign_command
        args = [makensis, "-V2", "-NOCD", *(f"-D{k}={v}" for k, v in defines.items())]
        subprocess.run([*args, str(INSTALLER / "threadline.nsi")], check=True)
    return out


def windows_signing() -> tuple[str, str] | None:
    """(signtool, certificate file) when THREADLINE_WINDOWS_CERT_FILE is set, else None."""
    cert = os.environ.get("THREADLINE_WINDOWS_CERT_FILE")
    if not cert:
        return None
    tool = os.environ.get("THREADLINE_SIGNTOOL") or shutil.which("signtool")
    if tool is None:
        kits = Path(os.environ.get("PROGRAMFILES(X86)", "C:/Program Files (x86)"))
        found = sorted((kits / "Windows Kits" / "10" / "bin").glob("*/x64/signtool.exe"))
        tool = str(found[-1]) if found else None
    if tool is None:
        raise SystemExit("THREADLINE_WINDOWS_CERT_FILE is set but signtool was not found")
    return tool, cert


def sign_windows(path: Path) -> None:
    """Sign ``path`` with signtool and the certificate named in the environment."""
    signing = windows_signing()
    if signing is None:
        return
    tool, cert = signing
    url = os.environ.get("THREADLINE_WINDOWS_TIMESTAMP_URL", "http://timestamp.digicert.com")
    args = [tool, "sign", "/fd", "sha256", "/td", "sha256", "/tr", url, "/f", cert]
    password = os.environ.get("THREADLINE_WINDOWS_CERT_PASSWORD")
    if password:
        args += ["/p", password]
    subprocess.run([*args, "/d", PRODUCT, str(path)], check=True)
    print(f"signed {path.name}")


def nsis_sign_command() -> str | None:
    """What makensis runs to sign the installer and uninstaller (``sign_windows`` through this
    script), or None when no certificate is set."""
    if windows_signing() is None:
        return None
    # Quotes only where a path has spaces: cmd.exe mangles a line that starts with one.
    script = str(Path(__file__).resolve())
    return subprocess.list2cmdline([sys.executable, script, "--sign-windows"])


def build_windows(pack: bool) -> list[Path]:
    """threadline.exe (windowed) + threadline-cli.exe in one folder, and the NSIS installer."""
    icons = render_icons(BUILD / "icons")
    folder = build_bundle("windows", icons)
    smoke_test(executable(folder))
    # The windowed executable has no console to print to: it must still start and exit cleanly.
    subprocess.run([str(folder / "threadline.exe"), "--version"], check=True)
    if not pack:
        return [folder]
    for exe in ("threadline.exe", "threadline-cli.exe"):
        sign_windows(folder / exe)
    makensis = find_makensis()
    if makensis is None:
        print("Windows installer skipped: makensis (NSIS) was not found")
        return [folder]
    release = version()
    out = DIST / f"Threadline-{release}-windows-{_machine()}-setup.exe"
    return [compile_nsis(folder, icons.ico, out, release, makensis, nsis_sign_command())]


# -- macOS ----------------------------------------------------------------------------------


def sign_macos(app: Path) -> bool:
    """codesign the .app (hardened runtime) when THREADLINE_MACOS_SIGN_IDENTITY is set."""
    identity = os.environ.get("THREADLINE_MACOS_SIGN_IDENTITY")
    if not identity:
        print("macOS signing skipped: THREADLINE_MACOS_SIGN_IDENTITY is not set")
        return False
    entitlements = INSTALLER / "entitlements.plist"
    args = ["codesign", "--force", "--deep", "--options", "runtime", "--timestamp"]
    args += ["--entitlements", str(entitlements), "--sign", identity, str(app)]
    subprocess.run(args, check=True)
    subprocess.run(["codesign", "--verify", "--deep", "--strict", str(app)], check=True)
    return True


def notary_credentials() -> list[str] | None:
    """notarytool's credential arguments from the environment, or None when none are set."""
    profile = os.environ.get("THREADLINE_NOTARY_KEYCHAIN_PROFILE")
    if profile:
        return ["--keychain-profile", profile]
    names = (
        "THREADLINE_NOTARY_APPLE_ID",
        "THREADLINE_NOTARY_TEAM_ID",
        "THREADLINE_NOTARY_PASSWORD",
    )
    values = [os.environ.get(name, "") for name in names]
    if not any(values):
        return None
    if not all(values):
        raise SystemExit("notarisation needs all of " + ", ".join(names))
    return ["--apple-id", values[0], "--team-id", values[1], "--password", values[2]]


def make_dmg(app: Path, dmg: Path) -> Path:
    """A compressed disk image holding the .app and a link to /Applications."""
    with tempfile.TemporaryDirectory(dir=BUILD) as tmp:
        stage = Path(tmp) / PRODUCT
        stage.mkdir()
        subprocess.run(["ditto", str(app), str(stage / app.name)], check=True)
        (stage / "Applications").symlink_to("/Applications")
        dmg.unlink(missing_ok=True)
        args = ["hdiutil", "create", "-volname", PRODUCT, "-srcfolder", str(stage)]
        args += ["-fs", "HFS+", "-format", "UDZO", "-ov", str(dmg)]
        for attempt in range(3):  # hdiutil now and then finds the device busy
            if subprocess.run(args, check=False).returncode == 0:
                return dmg
            print(f"hdiutil failed (attempt {attempt + 1} of 3)")
    raise SystemExit("hdiutil could not create the disk image")


def build_macos(pack: bool) -> list[Path]:
    """Threadline.app (windowed), self-tested, signed and notarised if asked, in a .dmg."""
    icons = render_icons(BUILD / "icons")
    build_bundle("darwin", icons)
    app = DIST / f"{PRODUCT}.app"
    smoke_test(app / "Contents" / "MacOS" / "threadline")
    if not pack:
        return [app]
    signed = sign_macos(app)
    credentials = notary_credentials()
    if credentials and not signed:
        raise SystemExit("notarisation needs a signed app: set THREADLINE_MACOS_SIGN_IDENTITY")
    dmg = make_dmg(app, DIST / f"Threadline-{version()}-macos-{_machine()}.dmg")
    if signed:
        identity = os.environ["THREADLINE_MACOS_SIGN_IDENTITY"]
        subprocess.run(["codesign", "--timestamp", "--sign", identity, str(dmg)], check=True)
    if credentials:
        subprocess.run(
            ["xcrun", "notarytool", "submit", str(dmg), "--wait", *credentials], check=True
        )
        subprocess.run(["xcrun", "stapler", "staple", str(dmg)], check=True)
    else:
        print("notarisation skipped: no THREADLINE_NOTARY_* credentials")
    return [dmg]


BUILDERS: dict[str, Callable[[bool], list[Path]]] = {
    "linux": build_linux,
    "windows": build_windows,
    "darwin": build_macos,
}


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-pack", action="store_true", help="leave the folder, skip packing")
    parser.add_argument("--sign-windows", metavar="FILE", help=argparse.SUPPRESS)  # for NSIS
    args = parser.parse_args()
    if args.sign_windows:
        sign_windows(Path(args.sign_windows))
        return 0
    system = platform.system().lower()
    builder = BUILDERS.get(system)
    if builder is None:
        print(f"build_installer.py: no installer for {platform.system()}")
        return 2
    for built in builder(not args.no_pack):
        print(f"built {built} ({_size(built) / 1e6:.1f} MB)")
    folder = DIST / "threadline"
    if folder.is_dir():
        print(f"bundle folder {folder} ({_size(folder) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
