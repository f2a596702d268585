"""The main window driven like a user: search, open, filter, expand, notes, import, export.

The database is filled through ``app.ingest.import_items`` (``seed`` from
``test_ui_models``); background work is awaited with ``qtbot.waitSignal`` and
``qtbot.waitUntil``, never with sleeps.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from app import queries
from app.db import Database
from tests.test_ui_models import NOW, seed
from ui import workers
from ui.main_window import MainWindow
from ui.models import DayHeader, ExpandedRole, TimelineEntry

WAIT = 10000


@pytest.fixture
def window(qtbot, db: Database) -> Iterator[MainWindow]:
    seed(db)
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.resize(1400, 850)
    w.show()
    qtbot.waitUntil(lambda: w.customer_model.loaded_query == "", timeout=WAIT)
    yield w
    workers.manager().wait_for_done()
    qtbot.waitUntil(lambda: workers.manager().active == 0, timeout=WAIT)


def names(w: MainWindow) -> list[str]:
    m = w.customer_model
    return [m.row(i).name for i in range(m.rowCount())]


def type_search(qtbot, w: MainWindow, text: str) -> None:
    w.search_box.clear()
    qtbot.keyClicks(w.search_box, text)
    qtbot.waitUntil(lambda: w.customer_model.loaded_query == text.strip(), timeout=WAIT)


def open_customer(qtbot, w: MainWindow, name: str) -> None:
    with qtbot.waitSignal(w.customer_opened, timeout=WAIT):
        w.customers.select_row(names(w).index(name))
    qtbot.waitUntil(lambda: w.notes.customer_id == w.timeline_model.customer_id, timeout=WAIT)


def entries(w: MainWindow) -> list[TimelineEntry]:
    m = w.timeline_model
    return [m.item(r) for r in m.event_rows()]


# --- customer search ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jane", "Jane Doe"),
        ("bakers.exa", "Tom Baker"),
        ("900456", "Priya Patel"),
        ("#1002", "Kim Lee"),
        ("1003", "Priya Patel"),
    ],
)
def test_search_box_filters_the_list(qtbot, window: MainWindow, text: str, expected: str) -> None:
    assert len(names(window)) == 5
    type_search(qtbot, window, text)
    assert names(window)[0] == expected
    assert len(names(window)) == 1


def test_enter_opens_top_hit_and_esc_clears(qtbot, window: MainWindow) -> None:
    window.focus_search()
    qtbot.keyClicks(window.search_box, "priya")
    with qtbot.waitSignal(window.customer_opened, timeout=WAIT) as blocker:
        qtbot.keyClick(window.search_box, Qt.Key.Key_Return)
    assert window.timeline_model.customer is not None
    assert window.timeline_model.customer.name == "Priya Patel"
    assert blocker.args == [window.timeline_model.customer.id]
    assert window.timeline.view.hasFocus()
    window.focus_search()
    qtbot.keyClick(window.search_box, Qt.Key.Key_Escape)
    assert window.search_box.text() == ""
    qtbot.waitUntil(lambda: len(names(window)) == 5, timeout=WAIT)


def test_down_moves_into_the_list(qtbot, window: MainWindow) -> None:
    window.focus_search()
    with qtbot.waitSignal(window.customer_opened, timeout=WAIT):
        qtbot.keyClick(window.search_box, Qt.Key.Key_Down)
    assert window.customers.view.hasFocus()
    assert window.customers.current_customer() == window.customer_model.row(0).id


def test_enter_without_a_match_searches_all_messages(qtbot, window: MainWindow) -> None:
    window.focus_search()
    qtbot.keyClicks(window.search_box, "peonies")
    with qtbot.waitSignal(window.search_model.loaded, timeout=WAIT):
        qtbot.keyClick(window.search_box, Qt.Key.Key_Return)
    assert window.left.currentWidget() is window.results
    assert window.search_model.query == "peonies"


def test_no_match_offers_full_text_search(qtbot, window: MainWindow) -> None:
    type_search(qtbot, window, "peonies")
    assert window.customers.stack.currentWidget() is window.customers.no_match
    assert "peonies" in window.customers.no_match_title.text()
    with qtbot.waitSignal(window.search_model.loaded, timeout=WAIT):
        window.customers.full_text_button.click()
    assert window.left.currentWidget() is window.results
    assert window.search_model.rowCount() >= 1


# --- timeline, profile, chips, expansion -------------------------------------------------


def test_selecting_a_customer_shows_timeline_and_profile(qtbot, window: MainWindow) -> None:
    open_customer(qtbot, window, "Jane Doe")
    m = window.timeline_model
    assert isinstance(m.item(0), DayHeader) and m.item(0).label == "Today"
    times = [e.event.occurred_at for e in entries(window)]
    assert len(times) == 7
    assert times == sorted(times, reverse=True)
    assert entries(window)[0].event.direction == "outbound"
    assert window.timeline.name_label.text() == "Jane Doe"
    assert "jane.doe@gmail.com" in window.timeline.identities_label.text()
    assert "2 orders" in window.timeline.figures_label.text()
    assert window.profile.values["Orders"].text() == "2"
    assert window.profile.values["Spent"].text() == "£121.98"
    assert window.export_action.isEnabled()


def test_filter_chips(qtbot, window: MainWindow) -> None:
    open_customer(qtbot, window, "Jane Doe")
    with qtbot.waitSignal(window.timeline_model.loaded, timeout=WAIT):
        window.timeline.chips["order"].click()
    assert {e.event.channel for e in entries(window)} == {"order"}
    with qtbot.waitSignal(window.timeline_model.loaded, timeout=WAIT):
        window.filter_actions["email"].trigger()  # Ctrl+6
    assert {e.event.channel for e in entries(window)} == {"email"}
    assert window.timeline.chips["email"].isChecked()
    with qtbot.waitSignal(window.timeline_model.loaded, timeout=WAIT):
        window.timeline.chips["all"].click()
    assert len(entries(window)) == 7


def test_search_inside_customer_highlights(qtbot, window: MainWindow) -> None:
    open_customer(qtbot, window, "Jane Doe")
    with qtbot.waitSignal(window.timeline_model.loaded, timeout=WAIT):
        qtbot.keyClicks(window.timeline.search, "periwinkle")
    found = entries(window)
    assert found and len(found) < 7
    assert window.timeline_model.terms == ("periwinkle",)
    assert "match" in window.timeline.count_label.text()


def test_expand_event_in_place(qtbot, window: MainWindow) -> None:
    open_customer(qtbot, window, "Jane Doe")
    view = window.timeline.view
    m = window.timeline_model
    row = next(r for r in m.event_rows() if m.item(r).event.order is not None)
    index = m.index(row, 0)
    collapsed = view.visualRect(index).height()
    view.setCurrentIndex(index)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert index.data(ExpandedRole) is True
    qtbot.waitUntil(lambda: view.visualRect(index).height() > collapsed * 2, timeout=WAIT)
    rect = view.visualRect(index)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.topLeft() + QPoint(5, 5))
    assert index.data(ExpandedRole) is False


# --- notes -------------------------------------------------------------------------------


def _notes(db: Database, customer_id: int) -> list[queries.NoteRow]:
    with db.session() as s:
        return queries.notes(s, customer_id)


def test_notes_add_edit_pin_delete(qtbot, window: MainWindow, db: Database) -> None:
    open_customer(qtbot, window, "Jane Doe")
    cid = window.timeline_model.customer_id
    assert cid is not None
    window.timeline.view.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.notes.composer.isVisible()
    assert window.notes.editor.hasFocus()
    qtbot.keyClicks(window.notes.editor, "Prefers periwinkle ribbons")
    with qtbot.waitSignal(window.notes.notes_changed, timeout=WAIT):
        qtbot.keyClick(window.notes.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    stored = _notes(db, cid)
    assert [n.body for n in stored] == ["Prefers periwinkle ribbons"]
    assert stored[0].author == "Sam"
    assert [c.body.text() for c in window.notes.cards] == ["Prefers periwinkle ribbons"]
    assert not window.notes.composer.isVisible()

    card = window.notes.cards[0]
    card.edit_button.click()
    assert card.editor is not None
    card.editor.setPlainText("Prefers periwinkle, never white")
    with qtbot.waitSignal(window.notes.notes_changed, timeout=WAIT):
        qtbot.keyClick(card.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert _notes(db, cid)[0].body == "Prefers periwinkle, never white"

    with qtbot.waitSignal(window.notes.notes_changed, timeout=WAIT):
        window.notes.cards[0].pin_button.click()
    assert _notes(db, cid)[0].pinned
    assert window.notes.cards[0].accessibleName() == "Pinned note"

    card = window.notes.cards[0]
    card.delete_button.click()
    assert card.confirm.isVisible()
    with qtbot.waitSignal(window.notes.notes_changed, timeout=WAIT):
        card.confirm_delete.click()
    assert _notes(db, cid) == []
    assert window.notes.cards == []


# --- full-text search --------------------------------------------------------------------


def test_full_text_search_opens_customer_at_hit(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.search_model.loaded, timeout=WAIT):
        window.search_all("invoice café")
    assert window.search_model.rowCount() == 1
    hit = window.search_model.hit(0)
    assert hit.customer_name == "Tom Baker"
    view = window.results.view
    view.setCurrentIndex(window.search_model.index(0, 0))
    view.setFocus()
    with qtbot.waitSignal(window.timeline_model.loaded, timeout=WAIT):
        qtbot.keyClick(view, Qt.Key.Key_Return)
    assert window.timeline_model.customer is not None
    assert window.timeline_model.customer.name == "Tom Baker"
    current = window.timeline.view.currentIndex()
    item = window.timeline_model.item(current.row())
    assert isinstance(item, TimelineEntry) and item.event.id == hit.event_id
    assert current.data(ExpandedRole) is True


def test_full_text_hit_deep_in_a_long_timeline(qtbot, db: Database) -> None:
    from datetime import timedelta

    from app.ingest import import_items
    from app.records import EventRecord, Participant

    seed(db)
    items = [
        EventRecord(
            channel="email",
            source="email",
            external_id=f"bulk{i}@x",
            occurred_at=NOW - timedelta(hours=i + 1),
            title=f"Update {i}",
            text="zebra" if i == 450 else f"routine note {i}",
            participants=(Participant("from", "Jane Doe", email="jane.doe@gmail.com"),),
        )
        for i in range(500)
    ]
    import_items(db, lambda: items, label="bulk", format="test")
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.search_model.loaded, timeout=WAIT):
        w.search_all("zebra")
    hit = w.search_model.hit(0)
    with qtbot.waitSignal(w.timeline_model.loaded, timeout=WAIT):
        w.open_hit(hit)
    row = w.timeline_model.row_of_event(hit.event_id)
    assert row is not None
    assert w.timeline.view.currentIndex().row() == row
    workers.manager().wait_for_done()


# --- import, cancel, drop ----------------------------------------------------------------


def test_import_dialog_detects_and_imports_in_background(
    qtbot, window: MainWindow, fixtures: Path
) -> None:
    good = fixtures / "whatsapp" / "WhatsApp Chat with Alice Smith.txt"
    bad = fixtures / "whatsapp" / "not_a_chat.txt"
    dialog = window.import_flow.open_dialog()
    with qtbot.waitSignal(dialog.detection_finished, timeout=WAIT):
        dialog.add_paths([good, bad])
    formats = {d.path.name: d for d in dialog.detected}
    assert formats[good.name].format == "whatsapp"
    assert formats[bad.name].format is None
    assert "not a format" in formats[bad.name].reason
    assert dialog.files.topLevelItem(1).text(1).startswith("Not a format")
    assert dialog.tz_combo.currentText() == "Europe/London"
    assert dialog.import_button.isEnabled()
    with qtbot.waitSignal(window.import_flow.import_finished, timeout=WAIT) as done:
        dialog.import_button.click()
    reports = done.args[0]
    assert [r.status for r in reports] == ["done", "skipped"]  # the unrecognised file is told
    assert reports[0].added > 0
    summary = window.import_flow.summary
    assert summary is not None and summary.isVisible()
    assert f"{reports[0].added:,} added" in summary.summary.text()
    qtbot.waitUntil(lambda: "Alice Smith" in names(window), timeout=WAIT)


def test_cancelled_import_adds_nothing(qtbot, window: MainWindow, fixtures: Path) -> None:
    from ui.import_dialog import ImportRequest

    gate = threading.Event()
    workers.Op(None, lambda: gate.wait(5), write=True).run()  # keep the writer busy
    path = fixtures / "whatsapp" / "WhatsApp Chat with Alice Smith.txt"
    window.import_flow.run(ImportRequest((path,), None, "Europe/London"))
    assert window.import_flow.running
    window.progress.cancel.click()
    assert window.progress.cancel.text() == "Cancelling…"
    with qtbot.waitSignal(window.import_flow.import_finished, timeout=WAIT) as done:
        gate.set()
    assert done.args[0] == []
    assert "cancelled" in window.import_flow.summary.title.text()
    window.customer_model.reload(background=False)
    assert "Alice Smith" not in names(window)


def test_dropping_files_opens_the_import_dialog(
    qtbot, window: MainWindow, fixtures: Path, tmp_path: Path
) -> None:
    src = fixtures / "whatsapp" / "WhatsApp Chat with Alice Smith.txt"
    target = tmp_path / "chat.txt"
    shutil.copy(src, target)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(target))])
    event = QDropEvent(
        window.rect().center().toPointF(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    dialog = window.import_flow.dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: [d.path for d in dialog.detected] == [target], timeout=WAIT)
    dialog.reject()


def test_empty_database_shows_the_welcome_panel(qtbot, db: Database) -> None:
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.central.currentWidget() is w.empty, timeout=WAIT)
    assert w.empty.import_button.isVisible()
    w.empty.import_button.click()
    assert w.import_flow.dialog is not None and w.import_flow.dialog.isVisible()
    w.import_flow.dialog.reject()
    workers.manager().wait_for_done()


def test_problems_button_opens_the_list(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.problems_button.count == 1, timeout=WAIT)
    assert window.problems_button.text() == "1 problem"
    with qtbot.waitSignal(window.problems_model.loaded, timeout=WAIT):
        window.problems_button.click()
    dialog = window.problems_dialog
    assert dialog is not None and dialog.isVisible()
    assert window.problems_model.index(0, 1).data() == "orders_export.csv:88"
    dialog.reject()


# --- export ------------------------------------------------------------------------------


def test_export_pdf_writes_a_file(qtbot, window: MainWindow, tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("app.export.pdf")
    target = tmp_path / "jane.pdf"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "PDF"))
    )
    open_customer(qtbot, window, "Jane Doe")
    window.export_action.trigger()
    dialog = window.export_flow.dialog
    assert dialog is not None and dialog.isVisible()
    dialog.redact.setChecked(True)
    with qtbot.waitSignal(window.export_flow.export_finished, timeout=60000):
        dialog.export_button.click()
    assert target.read_bytes().startswith(b"%PDF")
    done = window.export_flow.done_dialog
    assert done is not None and done.isVisible()
    assert done.open_button.text() == "&Open"
    done.reject()
    # The dialog remembers the choices of the last export.
    window.export_action.trigger()
    again = window.export_flow.dialog
    assert again is not None and again.redact.isChecked()
    again.reject()


# --- start-up ----------------------------------------------------------------------------


def test_open_window_opens_the_database_and_shows_the_window(qtbot, tmp_path: Path) -> None:
    # main() is open_window() plus QApplication.exec(); exec() is not run inside the test process.
    from ui import app as ui_app

    window = ui_app.open_window(str(tmp_path / "fresh.db"))
    assert window is not None
    qtbot.addWidget(window)
    assert window.isVisible()
    qtbot.waitUntil(lambda: window.central.currentWidget() is window.empty, timeout=WAIT)
    workers.manager().wait_for_done()
    assert (tmp_path / "fresh.db").exists()
    window.close()
    window.service.close()


def test_main_explains_a_database_it_cannot_open(tmp_path: Path, monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from ui import app as ui_app
    from ui import crash

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(lambda *a: shown.append(a[2])))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    try:
        assert ui_app.main(str(blocker / "threadline.db")) == 1
    finally:
        crash.uninstall()
    assert shown and "cannot" in shown[0]


# --- accessibility and the look ----------------------------------------------------------


def test_every_control_has_an_accessible_name(qtbot, window: MainWindow) -> None:
    open_customer(qtbot, window, "Jane Doe")
    controls = (QAbstractButton, QLineEdit, QAbstractItemView, QComboBox, QPlainTextEdit)
    unnamed = [
        f"{type(w).__name__}:{w.objectName()}"
        for w in window.findChildren(QWidget)
        if isinstance(w, controls)
        and w.isVisibleTo(window)
        and not (w.accessibleName() or (isinstance(w, QAbstractButton) and w.text()))
        and type(w).__name__ != "QToolBarExtension"
    ]
    assert unnamed == []
    for action in window.menuBar().actions():
        for sub in action.menu().actions():
            assert sub.isSeparator() or sub.text()


def test_screenshot(qtbot, window: MainWindow) -> None:
    open_customer(qtbot, window, "Jane Doe")
    m = window.timeline_model
    row = next(r for r in m.event_rows() if m.item(r).event.order is not None)
    window.timeline._toggle(m.index(row, 0))
    window.timeline.view.setFocus()
    qtbot.waitUntil(lambda: window.profile.values["Orders"].isVisible(), timeout=WAIT)
    assert window.grab().save("/tmp/shot_main.png")


def test_full_text_search_syntax_error_is_a_message_under_the_box(
    qtbot, window: MainWindow
) -> None:
    with qtbot.waitSignal(window.search_model.loaded, timeout=WAIT):
        window.search_all('"invoice café')
    assert window.search_model.rowCount() == 0
    assert "unbalanced quote" in window.results.status.text()
    with qtbot.waitSignal(window.search_model.loaded, timeout=WAIT):
        window.search_all("invoice after:2020-01-01 channel:email")
    assert window.search_model.error == ""
    assert window.search_model.rowCount() == 1
