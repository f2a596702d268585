"""View → Waiting for reply (Ctrl+2) and the brief at the top of a customer, driven like a user."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from app.db import Database
from app.ingest import import_items
from app.records import EventRecord, Participant
from tests.test_ui_models import NOW, SHOP, seed
from ui import workers
from ui.main_window import MainWindow
from ui.waiting_view import WaitingModel

WAIT = 10000
HOSTILE = "<b>Bold?</b> <img src='http://example.invalid/x.png'> & more"


def question(key: str, sender: str, text: str, hours_ago: float) -> EventRecord:
    return EventRecord(
        channel="email",
        source="email",
        external_id=key,
        occurred_at=NOW - timedelta(hours=hours_ago),
        title="Question",
        text=text,
        participants=(
            Participant("from", "Ann Lee", email=sender),
            Participant("to", "Shop", email=SHOP),
        ),
    )


@pytest.fixture
def window(qtbot, db: Database) -> Iterator[MainWindow]:
    seed(db)
    items = [question("q@ann", "ann@example.com", HOSTILE, 30)]
    import_items(db, lambda: items, label="test", format="test")
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.resize(1400, 850)
    w.show()
    qtbot.waitUntil(lambda: w.customer_model.loaded_query == "", timeout=WAIT)
    yield w
    workers.manager().wait_for_done()
    qtbot.waitUntil(lambda: workers.manager().active == 0, timeout=WAIT)


def shortcut_action(w: MainWindow, keys: str):  # type: ignore[no-untyped-def]
    found = [
        a
        for menu in w.menuBar().actions()
        for a in menu.menu().actions()
        if a.shortcut() == QKeySequence(keys)
    ]
    assert len(found) == 1, keys
    return found[0]


def test_view_menu_shortcuts_do_not_clash(window: MainWindow) -> None:
    seen: dict[str, str] = {}
    for menu in window.menuBar().actions():
        for a in menu.menu().actions():
            key = a.shortcut().toString()
            if key:
                assert key not in seen, (key, seen.get(key), a.text())
                seen[key] = a.text()
    assert "Waiting" in shortcut_action(window, "Ctrl+2").text()
    assert "List" in shortcut_action(window, "Ctrl+1").text()
    # The timeline filters are still reachable, now on Ctrl+5 … Ctrl+8.
    assert shortcut_action(window, "Ctrl+6") is window.filter_actions["email"]


def test_waiting_list_opens_marks_snoozes_and_undoes(qtbot, window: MainWindow) -> None:
    model = window.waiting_model
    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        shortcut_action(window, "Ctrl+2").trigger()
    assert window.left.currentWidget() is window.waiting
    names = [r.customer_name for r in model.rows]
    assert "Ann Lee" in names
    ann = names.index("Ann Lee")
    # Imported text is data, shown as it was written.
    assert model.data(model.index(ann, 3)) == HOSTILE
    assert model.data(model.index(ann, 1)) == "email"
    assert model.data(model.index(ann, 2)) == "1 d 6 h"
    pane = window.waiting
    pane.table.selectRow(ann)
    with qtbot.waitSignal(window.customer_opened, timeout=WAIT):
        pane.table.activated.emit(model.index(ann, 0))
    qtbot.waitUntil(lambda: window.profile.brief_lines[0].isVisible(), timeout=WAIT)
    assert window.profile.brief_lines[0].text().startswith("Ann Lee · customer since")
    assert window.profile.brief_lines[0].textFormat() == Qt.TextFormat.PlainText
    assert "Waiting 30 h for an answer" in window.profile.brief_lines[1].text()
    assert "for an answer on email" in window.profile.brief_lines[1].text()

    pane.table.selectRow(names.index("Ann Lee"))
    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        pane.answered_button.click()
    assert "Ann Lee" not in [r.customer_name for r in model.rows]
    assert pane.undo_button.isEnabled()
    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        pane.undo_button.click()
    assert "Ann Lee" in [r.customer_name for r in model.rows]

    pane.table.selectRow([r.customer_name for r in model.rows].index("Ann Lee"))
    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        pane.snooze_actions[2].trigger()  # for 1 day
    assert "Ann Lee" not in [r.customer_name for r in model.rows]
    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        pane.undo_button.click()
    assert "Ann Lee" in [r.customer_name for r in model.rows]

    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        pane.sort_box.setCurrentIndex(1)
    since = [r.waiting_since for r in model.rows]
    assert since == sorted(since)
    shortcut_action(window, "Ctrl+1").trigger()
    assert window.left.currentWidget() is window.customers


def test_waiting_model(qtmodeltester, db: Database) -> None:
    seed(db)
    model = WaitingModel(db, now=lambda: NOW)
    model.reload(background=False)
    assert model.rowCount() >= 1
    qtmodeltester.check(model)
    model.sort(0, Qt.SortOrder.AscendingOrder)  # Qt's own sort(): not shadowed by the sort key


def test_screenshot(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.waiting_model.loaded, timeout=WAIT):
        window.show_waiting()
    rows = window.waiting_model.rows
    window.waiting.table.selectRow([r.customer_name for r in rows].index("Ann Lee"))
    with qtbot.waitSignal(window.customer_opened, timeout=WAIT):
        window.waiting.table.activated.emit(window.waiting_model.index(0, 0))
    qtbot.waitUntil(lambda: window.profile.brief_lines[2].isVisible(), timeout=WAIT)
    assert window.grab().save("/tmp/shot_waiting.png")
