"""The demo lives in its own database: the window says "Demo", the user's database is untouched,
File → Leave Demo returns to it; ``threadline demo`` goes to the demo database unless ``--db``
names one, and fails when it loaded nothing."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import cli, models, settings
from app.db import Database, open_database
from app.paths import demo_db_path
from tests.cli_entry import threadline
from tests.test_ui_models import NOW
from ui import workers
from ui.main_window import MainWindow

ROOT = Path(__file__).resolve().parent.parent
WAIT = 60000


def _customers(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(models.Customer)) or 0)


@pytest.mark.gui
def test_try_the_demo_opens_its_own_database_and_leave_demo_returns(
    qtbot, db: Database, tmp_path: Path
) -> None:
    home = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(home)
    home.show()
    qtbot.waitUntil(lambda: home.central.currentWidget() is home.empty, timeout=WAIT)
    assert home.windowTitle() == "Threadline" and not home.is_demo

    home.empty.demo_button.click()
    qtbot.waitUntil(lambda: home.replaced_by is not None, timeout=WAIT)
    demo = home.replaced_by
    assert demo is not None
    qtbot.addWidget(demo)
    assert demo.is_demo and demo.windowTitle() == "Threadline — Demo"
    assert not home.isVisible() and demo.isVisible()
    qtbot.waitUntil(lambda: demo.central.currentWidget() is demo.splitter, timeout=WAIT)
    qtbot.waitUntil(lambda: demo.customer_model.rowCount() > 0, timeout=WAIT)
    assert Path(demo.service.url.removeprefix("sqlite:///")) == demo_db_path()
    assert demo.leave_demo_button.isVisible()
    demo.grab().save(str(tmp_path / "demo-window.png"))

    # The user's database got no customers and no demo settings.
    user_db = open_database(Path(db.url.removeprefix("sqlite:///")))
    try:
        assert _customers(user_db) == 0
        with user_db.session() as session:
            assert settings.get_list(session, "owner_names") == []
    finally:
        user_db.dispose()

    assert demo.demo_action.text().replace("&", "") == "Leave Demo"
    demo.demo_action.trigger()
    back = demo.replaced_by
    assert back is not None
    qtbot.addWidget(back)
    assert not back.is_demo and back.windowTitle() == "Threadline"
    assert back.service.url == db.url
    qtbot.waitUntil(lambda: back.central.currentWidget() is back.empty, timeout=WAIT)
    workers.manager().wait_for_done()


def _run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "THREADLINE_HOME": str(tmp_path / "home"), "QT_QPA_PLATFORM": "offscreen"}
    env.pop("THREADLINE_DB", None)
    return subprocess.run(
        [threadline(), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_demo_command_without_db_loads_the_demo_database(tmp_path: Path) -> None:
    done = _run_cli(tmp_path, "demo", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert Path(out["database"]) == tmp_path / "home" / "demo.db"
    assert sum(f["added"] for f in out["files"]) > 20
    assert not (tmp_path / "home" / "threadline.db").exists()  # the user's: never created

    again = _run_cli(tmp_path, "demo", "--json")  # a second load adds nothing, and succeeds
    assert again.returncode == 0, again.stderr
    assert sum(f["added"] for f in json.loads(again.stdout)["files"]) == 0


def test_demo_command_with_db_loads_there(tmp_path: Path) -> None:
    target = tmp_path / "script.db"
    done = _run_cli(tmp_path, "--db", str(target), "demo")
    assert done.returncode == 0, done.stderr
    assert f"into {target}" in done.stdout
    assert not (tmp_path / "home" / "demo.db").exists()
    db = open_database(target)
    try:
        assert _customers(db) > 3
    finally:
        db.dispose()


def test_demo_that_loads_nothing_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "no-demo"
    empty.mkdir()
    monkeypatch.setattr("app.demo.demo_dir", lambda: empty)
    assert cli.main(["--db", str(tmp_path / "x.db"), "demo"]) == 2
    assert "demo data is not part of this installation" in capsys.readouterr().err

    # Files that are there but yield nothing: still a failure, not "0 events loaded".
    (empty / "notes.txt").write_text("nothing to import here\n", encoding="utf-8")
    assert cli.main(["--db", str(tmp_path / "y.db"), "demo"]) == 2
