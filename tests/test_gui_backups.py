"""Backups and one window per database, driven through the main window.

File → Back Up Now, File → Restore… (pick, check, confirm, reopen), the daily
automatic backup, the backup before a bulk merge, and a second launch that
brings the running window to the front instead of opening another. Background
work is awaited with ``qtbot.waitSignal`` / ``waitUntil``, never with sleeps.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from PySide6.QtNetwork import QLocalServer
from PySide6.QtWidgets import QApplication, QMessageBox

from app import backups, merges, queries
from app.db import Database
from tests.cli_entry import threadline
from tests.test_ui_models import NOW, seed
from ui import app as ui_app
from ui import workers
from ui.main_window import MainWindow
from ui.single_instance import InstanceServer, server_name

WAIT = 15000
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_leftover_work(qapp):
    yield
    workers.manager().wait_for_done()


@pytest.fixture
def window(qtbot, db: Database) -> Iterator[MainWindow]:
    seed(db)
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.customer_model.loaded_query == "", timeout=WAIT)
    yield w
    workers.manager().wait_for_done()
    qtbot.waitUntil(lambda: workers.manager().active == 0, timeout=WAIT)
    shown = w.replaced_by
    while shown is not None:
        shown.close()
        shown.service.close()
        shown = shown.replaced_by


def counts(path: Path) -> dict[str, int]:
    con = sqlite3.connect(path)
    try:
        found = {
            table: con.execute(f"select count(*) from {table}").fetchone()[0]
            for table in ("identity", "event", "note", "audit_log")
        }
        found["customer"] = con.execute(
            "select count(*) from customer where merged_into_id is null"
        ).fetchone()[0]
        return found
    finally:
        con.close()


def customer(db: Database, ref: str) -> queries.CustomerRow:
    with db.session() as s:
        return queries.customer(s, queries.resolve_customer(s, ref))


def test_back_up_now_then_restore_it_from_the_window(qtbot, window: MainWindow, db: Database):
    assert db.path is not None
    with qtbot.waitSignal(window.backup_flow.backed_up, timeout=WAIT) as made:
        window.backup_action.trigger()
    backup = Path(made.args[0])
    assert backups.list_backups(db.path)[0].path == backup
    assert backups.list_backups(db.path)[0].label == backups.MANUAL
    before = counts(db.path)
    with db.session() as s:  # change the data after the backup
        a = queries.resolve_customer(s, "kim@example.com")
        b = queries.resolve_customer(s, "tom@bakers.example")
        merges.merge_customers(s, a, b, reason="test")
    changed = counts(db.path)
    assert changed != before

    window.restore_action.trigger()
    dialog = window.backup_flow.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.tree.topLevelItemCount() == 1
    assert dialog.tree.topLevelItem(0).text(1) == "Made by you"
    assert dialog.selected() == str(backup)
    assert not dialog.grab().isNull()
    with qtbot.waitSignal(window.backup_flow.confirm_shown, timeout=WAIT) as shown:
        dialog.restore_button.click()
    box: QMessageBox = shown.args[0]
    assert "Replace your data with the backup made" in box.text()
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
    confirm = next(b for b in box.buttons() if b.objectName() == "restoreConfirmButton")
    with qtbot.waitSignal(window.backup_flow.restored, timeout=WAIT):
        confirm.click()

    assert counts(db.path) == before
    kept = [p for p in db.path.parent.iterdir() if "-replaced-" in p.name and p.suffix == ".db"]
    assert len(kept) == 1 and counts(kept[0]) == changed  # the replaced data is kept aside
    new = window.replaced_by
    assert new is not None and new.isVisible() and not window.isVisible()
    qtbot.waitUntil(lambda: new.customer_model.rowCount() == before["customer"], timeout=WAIT)
    names = [new.customer_model.row(i).name for i in range(new.customer_model.rowCount())]
    assert "Kim Lee" in names and "Tom Baker" in names  # merged after the backup: apart again


def test_a_damaged_file_is_refused_and_the_data_left_alone(
    qtbot, window: MainWindow, db: Database, tmp_path: Path
):
    assert db.path is not None
    bad = tmp_path / "elsewhere.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    before = counts(db.path)
    with qtbot.waitSignal(workers.manager().idled, timeout=WAIT):
        window.backup_flow.check_chosen(str(bad))
    errors = [w for w in QApplication.topLevelWidgets() if w.objectName() == "errorDialog"]
    assert errors and "cannot be restored" in errors[-1].text()  # type: ignore[attr-defined]
    assert window.backup_flow.confirm is None and window.replaced_by is None
    assert counts(db.path) == before
    for w in errors:
        w.close()


def test_merging_several_customers_backs_up_first(qtbot, window: MainWindow, db: Database):
    assert db.path is not None
    flow = window.identity_flow
    jane, kim = customer(db, "Jane Doe"), customer(db, "kim@example.com")
    with qtbot.waitSignal(flow.changed, timeout=WAIT):
        flow.merge(jane, [kim], reason="one pair")
    assert backups.list_backups(db.path) == []  # one pair: Undo is enough
    con = sqlite3.connect(db.path)
    ids = [
        r[0]
        for r in con.execute(
            "select id from customer where id != ? and merged_into_id is null limit 3", (jane.id,)
        )
    ]
    con.close()
    assert len(ids) == 3
    keep, *others = [customer(db, str(i)) for i in ids]
    before = counts(db.path)
    with qtbot.waitSignal(flow.changed, timeout=WAIT):
        flow.merge(keep, others, reason="bulk")
    found = backups.list_backups(db.path)
    assert [b.label for b in found] == [backups.BEFORE_MERGE]
    assert counts(found[0].path) == before  # the copy holds the data as it was
    assert counts(db.path)["customer"] == before["customer"] - 2


def test_the_daily_backup_runs_at_start_and_not_again_the_same_day(
    qtbot, window: MainWindow, db: Database
):
    assert db.path is not None
    with qtbot.waitSignal(window.backup_flow.backed_up, timeout=WAIT):
        window.backup_flow.start_daily()
    assert window.backup_flow.daily and window.backup_flow.timer.interval() == 3_600_000
    op = window.backup_flow.check_daily()  # an hour later: the copy is fresh, nothing is made
    assert op is not None
    qtbot.waitUntil(lambda: not op.running, timeout=WAIT)
    assert [b.label for b in backups.list_backups(db.path)] == [backups.DAILY]
    window.close()
    assert not window.backup_flow.daily


# --- one window per database -----------------------------------------------------------------


def windows() -> list[MainWindow]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]


def test_server_name_is_per_database_and_ignores_spelling(tmp_path: Path) -> None:
    a = tmp_path / "a.db"
    assert server_name(a) == server_name(tmp_path / "x" / ".." / "a.db")
    assert server_name(a) != server_name(tmp_path / "b.db")


def test_a_second_launch_raises_the_running_window(qtbot, window: MainWindow, db: Database):
    assert db.path is not None
    server = InstanceServer()
    assert server.listen(server_name(db.path))
    server.activated.connect(lambda: ui_app.bring_to_front(window))
    window.showMinimized()
    open_before = len(windows())
    try:
        with qtbot.waitSignal(window.raised, timeout=WAIT):
            assert ui_app.main(str(db.path)) == 0
        assert len(windows()) == open_before
        assert not window.isMinimized()
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        with qtbot.waitSignal(window.raised, timeout=WAIT):
            done = subprocess.run(
                [threadline(), "--db", str(db.path)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
        assert done.returncode == 0, done.stderr
        assert len(windows()) == open_before
        # CLI commands do not go through the window: they work while it is open.
        done = subprocess.run(
            [threadline(), "--db", str(db.path), "backups", "--json"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    finally:
        server.close()


@pytest.mark.skipif(os.name != "posix", reason="a stale Unix socket file")
def test_a_socket_left_by_a_crashed_window_is_taken_over(qtbot, tmp_path: Path) -> None:
    name = server_name(tmp_path / "crashed.db")
    probe = QLocalServer()
    assert probe.listen(name)
    path = probe.fullServerName()
    probe.close()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)  # bound, never listening, left behind: what a crash leaves
    stale.close()
    assert os.path.exists(path)
    server = InstanceServer()
    try:
        assert server.listen(name)
        with qtbot.waitSignal(server.activated, timeout=WAIT):
            from ui.single_instance import notify_running

            assert notify_running(name)
    finally:
        server.close()
