"""The installed package works: build the wheel, install it into a fresh virtual environment and
run the app from there, outside the source tree — demo, import, search, PDF export, self-test
(which opens the main window offscreen).

The new environment does not see the source tree. It reuses this environment's installed
dependencies through a ``.pth`` line (a plain path: the editable install's own ``.pth`` hooks in
that folder are not run), so the test needs no network and installs only the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
PIP = (sys.executable, "-m", "pip")

MAIL = """\
Message-ID: <wheel-test-1@example.org>
Date: Wed, 04 Mar 2026 09:00:00 +0000
From: Ilse Kowalczyk <ilse@example.org>
To: Shop <shop@example.com>
Subject: Lavender wreath
MIME-Version: 1.0
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: 8bit

Could the lavender wreath come with a card saying Grüße aus Kraków?
"""


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the new environment's bin folder, the built wheel)."""
    tmp = tmp_path_factory.mktemp("wheel")
    # Build from a copy so the source tree gets no build/ or egg-info folders.
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("app", "connectors", "ui", "resources"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    wheels = tmp / "wheels"
    built = subprocess.run(
        [*PIP, "wheel", str(src), "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("threadline-*.whl")

    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    here.update(site.getsitepackages())
    Path(purelib, "_threadline_test_deps.pth").write_text(
        "".join(f"{p}\n" for p in sorted(here)), encoding="utf-8"
    )
    done = subprocess.run(
        [*PIP, "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return bindir, wheel


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "THREADLINE_DB", "VIRTUAL_ENV")
    }
    environ.update(
        THREADLINE_HOME=str(tmp_path / "home"), QT_QPA_PLATFORM="offscreen", TZ="Europe/London"
    )
    return environ


def test_the_wheel_holds_resources_and_migrations(installed: tuple[Path, Path]) -> None:
    names = set(zipfile.ZipFile(installed[1]).namelist())
    assert "threadline_resources/ui/icons/logo.svg" in names
    assert "threadline_resources/demo/orders_export.csv" in names
    assert "threadline_resources/selftest/sample-mail.eml" in names
    assert "app/migrations/env.py" in names
    assert any(n.startswith("app/migrations/versions/0001_") for n in names)
    # Every resource ships (but the README's screenshot and helper scripts).
    for path in (ROOT / "resources").rglob("*"):
        if path.is_file() and path.suffix not in (".py", ".pyc") and path.name != "screenshot.png":
            shipped = path.relative_to(ROOT / "resources").as_posix()
            assert f"threadline_resources/{shipped}" in names
    # pyproject.toml lists the packages by hand (resources/ needs a mapping): none forgotten.
    for top in ("app", "connectors", "ui"):
        for init in (ROOT / top).rglob("__init__.py"):
            assert init.relative_to(ROOT).as_posix() in names


def test_the_installed_app_runs_outside_the_source_tree(
    installed: tuple[Path, Path], env: dict[str, str], tmp_path: Path
) -> None:
    bindir, _wheel = installed
    exe = str(bindir / "threadline")
    python = str(bindir / "python")

    where = _run([python, "-c", "import app, ui; print(app.__file__)"], tmp_path, env)
    assert where.returncode == 0, where.stderr
    assert not Path(where.stdout.strip()).is_relative_to(ROOT)  # the wheel's copy, not ours

    db = str(tmp_path / "script.db")

    def json_of(*args: str) -> Any:
        done = _run([exe, "--db", db, *args, "--json"], tmp_path, env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    demo = json_of("demo")
    assert sum(f["added"] for f in demo["files"]) > 20
    assert demo["database"] == db

    mail = tmp_path / "wreath.eml"
    mail.write_text(MAIL, encoding="utf-8")
    imported = json_of("import", str(mail))
    assert imported["files"][0]["added"] == 1

    hits = json_of("search", "lavender")
    assert [h["customer_name"] for h in hits] == ["Ilse Kowalczyk"]

    pdf = tmp_path / "ilse.pdf"
    json_of("export", "ilse@example.org", "--pdf", str(pdf))
    text = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "Grüße aus Kraków" in " ".join(text.split())

    selftest = _run([exe, "--self-test"], tmp_path, env)
    assert selftest.returncode == 0, selftest.stdout + selftest.stderr
    assert "window:" in selftest.stdout and "FAIL" not in selftest.stdout


def test_installed_demo_goes_to_its_own_database(
    installed: tuple[Path, Path], env: dict[str, str], tmp_path: Path
) -> None:
    exe = str(installed[0] / "threadline")
    done = _run([exe, "demo", "--json"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert Path(out["database"]) == tmp_path / "home" / "demo.db"
    assert not (tmp_path / "home" / "threadline.db").exists()
