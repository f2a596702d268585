"""Merge review, manual merge and split, undo and history, order figures, and the import preview.

Driven like a user through the main window (keys and clicks); background work
is awaited with ``qtbot.waitSignal`` / ``qtbot.waitUntil``, never with sleeps.
The database is ``seed`` from ``test_ui_models`` plus three pairs of customers
the suggestions should find.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QApplication,
    QComboBox,
    QLineEdit,
    QWidget,
)

from app import merges, queries, settings
from app.db import Database
from app.ingest import import_items
from app.records import EventRecord
from app.suggestions import suggestions
from tests.test_ui_models import LONDON, NOW, SHOP, _at, chat, mail, order, seed
from ui import workers
from ui.identity_models import ChangeHistoryModel, ExcludingProxy
from ui.import_preview import PreviewModel, load_preview
from ui.main_window import MainWindow
from ui.merge_review import MergeReviewDialog
from ui.models import CustomerListModel, TimelineEntry, summary
from ui.timeline_delegate import event_html

WAIT = 10000
WHATSAPP = Path(__file__).resolve().parent / "fixtures" / "whatsapp"


def seed_pairs(db: Database) -> None:
    """``seed`` plus three pairs that look like one person each."""
    seed(db)
    items = [
        mail(
            "g1@x",
            "Maria Garcia",
            "maria.garcia@example.com",
            SHOP,
            "Table centrepieces",
            "Do you do centrepieces for 8 tables?",
            _at(6, 10, 0),
        ),
        order(
            "#1010",
            "Maria Garcia",
            "mgarcia77@example.net",
            "",
            _at(8, 12, 0),
            [("Rose box", 1, "30.00")],
        ),
        chat("r1", "Robert Brown", "Is my order ready?", _at(4, 9, 0), phone="+44 7700 900777"),
        order(
            "#1011",
            "Bob Brown",
            "bob.brown@example.org",
            "+44 7800 900777",
            _at(7, 15, 0),
            [("Tulips", 2, "12.00")],
        ),
        mail("w1@x", "Olivia Wood", "liv@example.com", SHOP, "Hi", "Opening hours?", _at(11, 9, 0)),
        mail(
            "w2@x",
            "Olivia Wood",
            "o.wood@example.org",
            SHOP,
            "Delivery",
            "Do you deliver?",
            _at(12, 9, 0),
        ),
    ]
    import_items(db, lambda: items, label="pairs", format="test")


@pytest.fixture
def window(qtbot, db: Database) -> Iterator[MainWindow]:
    seed_pairs(db)
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.resize(1400, 850)
    w.show()
    qtbot.waitUntil(lambda: w.customer_model.loaded_query == "", timeout=WAIT)
    yield w
    workers.manager().wait_for_done()
    qtbot.waitUntil(lambda: workers.manager().active == 0, timeout=WAIT)


@pytest.fixture(autouse=True)
def _no_leftover_work(qapp):
    yield
    workers.manager().wait_for_done()


def names(w: MainWindow) -> list[str]:
    m = w.customer_model
    return [m.row(i).name for i in range(m.rowCount())]


def open_customer(qtbot, w: MainWindow, name: str) -> None:
    with qtbot.waitSignal(w.customer_opened, timeout=WAIT):
        w.customers.select_row(names(w).index(name))
    qtbot.waitUntil(lambda: w.notes.customer_id == w.timeline_model.customer_id, timeout=WAIT)


def customer_id(db: Database, ref: str) -> int:
    with db.session() as s:
        return queries.resolve_customer(s, ref)


def customer_row(db: Database, ref: str) -> queries.CustomerRow:
    with db.session() as s:
        return queries.customer(s, queries.resolve_customer(s, ref))


def pairs(db: Database) -> set[frozenset[str]]:
    with db.session() as s:
        return {frozenset((p.name_a, p.name_b)) for p in suggestions(s)}


def open_review(qtbot, w: MainWindow) -> MergeReviewDialog:
    w.review_action.trigger()
    dialog = w.identity_flow.review
    assert isinstance(dialog, MergeReviewDialog)
    qtbot.waitUntil(lambda: dialog.current is not None, timeout=WAIT)
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=WAIT)
    return dialog


def key(qtbot, dialog: QWidget, k: Qt.Key, mods=Qt.KeyboardModifier.NoModifier) -> None:
    target = QApplication.focusWidget() or dialog
    qtbot.keyClick(target, k, mods)


# --- merge review --------------------------------------------------------------------------


def import_later_mail(db: Database) -> None:
    """One more message of Maria Garcia's, imported as a later import would."""
    later = [
        mail(
            "later@x",
            "Maria Garcia",
            "maria.garcia@example.com",
            SHOP,
            "Any news?",
            "Any news about the centrepieces?",
            _at(5, 9, 0),
        )
    ]
    import_items(db, lambda: later, label="later", format="test")


def test_status_bar_counts_suggestions(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.suggestions_button.count == 3, timeout=WAIT)
    assert window.suggestions_button.text() == "3 suggested merges"
    assert window.suggestions_button.isVisible()
    window.suggestions_button.click()
    dialog = window.identity_flow.review
    assert dialog is not None and dialog.isVisible()
    dialog.reject()


def test_status_bar_count_after_an_import_reads_the_stored_list_off_the_gui_thread(
    qtbot, window: MainWindow, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from app import suggestion_store
    from app import suggestions as sx

    qtbot.waitUntil(lambda: window.suggestions_button.count == 3, timeout=WAIT)
    counted_on: list[threading.Thread] = []
    real = suggestion_store.stored_count

    def stored_count(*args, **kwargs):
        counted_on.append(threading.current_thread())
        return real(*args, **kwargs)

    def whole_list(*args, **kwargs):
        raise AssertionError("the status bar computed the whole list")

    monkeypatch.setattr(suggestion_store, "stored_count", stored_count)
    monkeypatch.setattr(sx, "suggestions", whole_list)
    import_later_mail(db)
    window.identity_flow.refresh_suggestions()
    qtbot.waitUntil(lambda: bool(counted_on), timeout=WAIT)
    workers.manager().wait_for_done()
    assert threading.main_thread() not in counted_on
    assert window.suggestions_button.count >= 3


def test_the_count_starts_as_an_import_ends_and_waits_after_a_setting(
    qtbot, window: MainWindow, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An import (or a sync) is one change, and the one the user then looks for in the
    # count: counted at once, not after the pause that gathers a burst of live changes;
    # the database's log is checkpointed after the count is shown, off the GUI thread.
    # A setting changed in the Settings window still waits for the pause.
    import threading

    from app.service import Service

    flow = window.identity_flow
    qtbot.waitUntil(lambda: window.suggestions_button.count == 3, timeout=WAIT)
    workers.manager().wait_for_done()
    events: list[tuple[str, threading.Thread]] = []
    flow.suggestions_counted.connect(
        lambda _n: events.append(("shown", threading.current_thread()))
    )
    plain = Service.checkpoint

    def checkpoint(self: Service) -> None:
        events.append(("checkpoint", threading.current_thread()))
        plain(self)

    monkeypatch.setattr(Service, "checkpoint", checkpoint)
    import_later_mail(db)
    before = flow.count_op
    window.import_flow.import_finished.emit([])
    assert not flow._count_timer.isActive()
    assert flow.count_op is not None and flow.count_op is not before  # (started: no pause)
    qtbot.waitUntil(lambda: len(events) == 2, timeout=WAIT)
    workers.manager().wait_for_done()
    assert [e for e, _t in events] == ["shown", "checkpoint"]
    assert events[1][1] is not threading.main_thread()
    started = flow.count_op
    window._setting_changed("currency")
    assert flow._count_timer.isActive()
    assert flow.count_op is started  # (not yet: after the pause)
    qtbot.waitUntil(lambda: flow.count_op is not started, timeout=WAIT)


def test_review_merges_a_suggested_pair(qtbot, window: MainWindow, db: Database) -> None:
    dialog = open_review(qtbot, window)
    assert dialog.position.text() == "PAIR 1 OF 3"
    assert {dialog.current.name_a, dialog.current.name_b} == {"Robert Brown", "Bob Brown"}
    assert "phone numbers end alike" in dialog.reasons.text()
    with qtbot.waitSignal(dialog.pair_shown, timeout=WAIT):
        key(qtbot, dialog, Qt.Key.Key_S)
    assert dialog.position.text() == "PAIR 2 OF 3"
    assert "same name Maria Garcia" in dialog.reasons.text()
    assert dialog.score.text() == "Very likely one person (score 1.00)"
    left, right = dialog.cards
    assert left.name.text() == right.name.text() == "Maria Garcia"
    assert dialog.outcome.text().startswith("Merge keeps the left “Maria Garcia”")
    details = left.details.text() + right.details.text()
    assert "maria.garcia@example.com" in details and "mgarcia77@example.net" in details
    assert "from email" in details and "from Shopify" in details
    assert "Table centrepieces" in details  # the latest events
    assert "LATEST" in details and "Orders" in details
    before = len(names(window))
    with qtbot.waitSignal(dialog.pair_shown, timeout=WAIT) as shown:
        key(qtbot, dialog, Qt.Key.Key_M)
    assert {shown.args[0].name_a, shown.args[0].name_b} == {"Olivia Wood"}
    assert dialog.position.text() == "PAIR 2 OF 2"
    maria = customer_row(db, "maria.garcia@example.com")
    assert set(maria.emails) == {"maria.garcia@example.com", "mgarcia77@example.net"}
    assert maria.orders.count == 1
    qtbot.waitUntil(lambda: len(names(window)) == before - 1, timeout=WAIT)
    with db.session() as s:
        latest = merges.history(s, limit=1)[0]
    assert latest.action == "merge" and "suggested: same name" in latest.details["reason"]
    qtbot.waitUntil(lambda: window.suggestions_button.count == 2, timeout=WAIT)
    dialog.reject()


def test_review_rejects_and_the_pair_does_not_come_back(
    qtbot, window: MainWindow, db: Database
) -> None:
    dialog = open_review(qtbot, window)
    with qtbot.waitSignal(dialog.pair_shown, timeout=WAIT):
        key(qtbot, dialog, Qt.Key.Key_N)
    assert frozenset(("Robert Brown", "Bob Brown")) not in pairs(db)
    assert len(pairs(db)) == 2
    assert customer_id(db, "bob.brown@example.org") != customer_id(db, "+44 7700 900777")
    dialog.reject()
    dialog = open_review(qtbot, window)
    assert dialog.position.text() == "PAIR 1 OF 2"
    assert {dialog.current.name_a, dialog.current.name_b} == {"Maria Garcia"}
    dialog.reject()


def test_review_skips_and_comes_round_again(qtbot, window: MainWindow) -> None:
    dialog = open_review(qtbot, window)
    first = dialog.current
    with qtbot.waitSignal(dialog.pair_shown, timeout=WAIT):
        key(qtbot, dialog, Qt.Key.Key_S)
    assert dialog.position.text() == "PAIR 2 OF 3"
    assert dialog.current != first
    for _ in range(2):
        with qtbot.waitSignal(dialog.pair_shown, timeout=WAIT):
            dialog.skip_button.click()
    assert dialog.current is None
    assert dialog.stack.currentWidget() is dialog.done_page
    assert "3 pairs skipped" in dialog.done_text.text()
    with qtbot.waitSignal(dialog.pair_shown, timeout=WAIT):
        dialog.again_button.click()
    assert dialog.current == first
    dialog.reject()


def test_review_keeps_the_chosen_name_and_undoes_in_place(
    qtbot, window: MainWindow, db: Database
) -> None:
    dialog = open_review(qtbot, window)  # Robert / Bob come first
    robert = dialog.cards[0].name.text()
    key(qtbot, dialog, Qt.Key.Key_2)
    assert dialog.cards[1].keep.isChecked()
    kept = dialog.cards[1].name.text()
    assert dialog.describe() == f"Merge “{robert}” into “{kept}”"
    with qtbot.waitSignal(dialog.pair_shown, timeout=WAIT):
        dialog.merge_button.click()
    merged = customer_row(db, "bob.brown@example.org")
    assert merged.name == kept
    assert "+447700900777" in merged.phones
    assert dialog.undo_button.isEnabled()
    with qtbot.waitSignal(dialog.pair_shown, timeout=WAIT) as shown:
        key(qtbot, dialog, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert {shown.args[0].name_a, shown.args[0].name_b} == {"Robert Brown", "Bob Brown"}
    assert customer_id(db, "bob.brown@example.org") != customer_id(db, "+44 7700 900777")
    dialog.reject()


def test_empty_review_says_so(qtbot, db: Database) -> None:
    seed(db)
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.show()
    w.review_action.trigger()
    dialog = w.identity_flow.review
    with qtbot.waitSignal(dialog.pair_shown, timeout=WAIT) as shown:
        pass
    assert shown.args == [None]
    assert dialog.done_title.text() == "No suggested merges right now."
    assert not dialog.merge_button.isEnabled()
    assert not w.suggestions_button.isVisible()
    dialog.reject()
    settle(qtbot)


def settle(qtbot) -> None:
    """Let every background operation finish (for tests that build their own window)."""
    workers.manager().wait_for_done()
    qtbot.waitUntil(lambda: workers.manager().active == 0, timeout=WAIT)


# --- manual merge, split, undo, history ------------------------------------------------------


def ctrl_click(qtbot, w: MainWindow, name: str) -> None:
    view = w.customers.view
    index = w.customer_model.index(names(w).index(name), 0)
    view.scrollTo(index)
    rect = view.visualRect(index)
    qtbot.mouseClick(
        view.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.ControlModifier,
        rect.center(),
    )


def test_merge_selected_customers(qtbot, window: MainWindow, db: Database) -> None:
    open_customer(qtbot, window, "Kim Lee")
    ctrl_click(qtbot, window, "Tom Baker")
    assert [r.name for r in window.customers.selected_customers()] == ["Kim Lee", "Tom Baker"]
    assert window.customers.heading.text() == "2 SELECTED · CTRL+M MERGES"
    menu = window.customers.context_menu()
    assert menu.actions()[0].text() == "&Merge 2 Selected Customers…"
    window.activateWindow()
    qtbot.keyClick(window.customers.view, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    dialog = window.identity_flow.merge_dialog
    assert dialog is not None and dialog.isVisible()
    assert "“Tom Baker” will be merged into “Kim Lee”" in dialog.summary.text()
    dialog.radios[1].click()  # keep Tom's name instead
    assert "“Kim Lee” will be merged into “Tom Baker”" in dialog.summary.text()
    assert dialog.merge_button.text() == "&Merge into Tom Baker"
    with qtbot.waitSignal(window.identity_flow.changed, timeout=WAIT) as changed:
        dialog.merge_button.click()
    assert changed.args[0].message == "Merged “Kim Lee” into “Tom Baker”."
    qtbot.waitUntil(lambda: "Kim Lee" not in names(window), timeout=WAIT)
    assert customer_id(db, "kim@example.com") == customer_id(db, "tom@bakers.example")
    qtbot.waitUntil(lambda: window.timeline.name_label.text() == "Tom Baker", timeout=WAIT)
    assert "Merged “Kim Lee” into “Tom Baker”." in window.statusBar().currentMessage()


def test_merge_needs_two(qtbot, window: MainWindow) -> None:
    open_customer(qtbot, window, "Kim Lee")
    window.merge_action.trigger()
    assert window.identity_flow.merge_dialog is None
    assert "Select two or more" in window.statusBar().currentMessage()


def identity_of(row: queries.CustomerRow, value: str) -> queries.IdentityRow:
    return next(i for i in row.identities if i.value == value)


def test_split_from_the_profile(qtbot, window: MainWindow, db: Database) -> None:
    open_customer(qtbot, window, "Jane Doe")
    row = window.profile.customer
    assert row is not None
    email = identity_of(row, "jane.doe@gmail.com")
    button = window.profile.identity_buttons[email.id]
    assert button.isVisible() and button.accessibleName().startswith("Actions for")
    menu = window.profile.identity_menu(email)
    to_new = next(a for a in menu.actions() if a.text().startswith("Move to a &New"))
    assert to_new.isEnabled()
    to_new.trigger()
    box = window.identity_flow.confirm
    assert box is not None and box.isVisible()
    assert "jane.doe@gmail.com" in box.text()
    before = window.timeline_model.total
    with qtbot.waitSignal(window.identity_flow.changed, timeout=WAIT) as changed:
        box.findChild(QAbstractButton, "moveButton").click()
    assert changed.args[0].action == "split"
    assert "to a new customer" in changed.args[0].message
    jane = customer_id(db, "+44 7700 900123")
    assert customer_id(db, "jane.doe@gmail.com") != jane
    qtbot.waitUntil(lambda: window.timeline_model.total < before, timeout=WAIT)
    qtbot.waitUntil(
        lambda: "jane.doe@gmail.com" not in window.timeline.identities_label.text(), timeout=WAIT
    )
    assert all(i.value != "jane.doe@gmail.com" for i in window.profile.customer.identities)


def test_move_to_another_customer_with_the_picker(qtbot, window: MainWindow, db: Database) -> None:
    open_customer(qtbot, window, "Jane Doe")
    row = window.profile.customer
    phone = identity_of(row, "+447700900123")
    window.profile.move_to_other_requested.emit(row, phone)
    picker = window.identity_flow.picker
    assert picker is not None and picker.isVisible()
    qtbot.waitUntil(lambda: picker.proxy.rowCount() > 0, timeout=WAIT)
    shown = {picker.proxy.index(r, 0).data() for r in range(picker.proxy.rowCount())}
    assert "Jane Doe" not in shown  # the customer it moves away from is left out
    qtbot.keyClicks(picker.field, "#1002")
    qtbot.waitUntil(lambda: picker.model.loaded_query == "#1002", timeout=WAIT)
    assert picker.proxy.index(0, 0).data() == "Kim Lee"
    with qtbot.waitSignal(window.identity_flow.changed, timeout=WAIT) as changed:
        qtbot.keyClick(picker.field, Qt.Key.Key_Return)
    assert changed.args[0].message == "Moved +44 7700 900123 to “Kim Lee”."
    assert customer_id(db, "+44 7700 900123") == customer_id(db, "kim@example.com")


def test_ctrl_z_undoes_the_latest_change(qtbot, window: MainWindow, db: Database) -> None:
    kim, tom = customer_row(db, "kim@example.com"), customer_row(db, "tom@bakers.example")
    with qtbot.waitSignal(window.identity_flow.changed, timeout=WAIT):
        window.identity_flow.merge(kim, [tom], reason="test")
    qtbot.waitUntil(lambda: "Tom Baker" not in names(window), timeout=WAIT)
    window.activateWindow()
    window.customers.view.setFocus()
    with qtbot.waitSignal(window.identity_flow.changed, timeout=WAIT) as changed:
        qtbot.keyClick(window.customers.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert changed.args[0].action == "undo"
    assert changed.args[0].message == "Undone: merged Tom Baker into Kim Lee."
    assert window.statusBar().currentMessage() == "Undone: merged Tom Baker into Kim Lee."
    qtbot.waitUntil(lambda: "Tom Baker" in names(window), timeout=WAIT)
    assert customer_id(db, "kim@example.com") != customer_id(db, "tom@bakers.example")
    # nothing left: a calm message, no error dialog
    window.undo()
    qtbot.waitUntil(lambda: "Nothing to undo" in window.statusBar().currentMessage(), timeout=WAIT)


def test_history_dialog_undoes_an_entry(qtbot, window: MainWindow, db: Database) -> None:
    kim, tom = customer_row(db, "kim@example.com"), customer_row(db, "tom@bakers.example")
    with qtbot.waitSignal(window.identity_flow.changed, timeout=WAIT) as merged:
        window.identity_flow.merge(kim, [tom], reason="test")
    change_id = merged.args[0].change_ids[0]
    window.history_action.trigger()
    dialog = window.identity_flow.history
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: change_id in dialog.undo_buttons, timeout=WAIT)
    assert dialog.model.index(0, 1).data() == "Merged Tom Baker into Kim Lee"
    assert dialog.undo_selected.isEnabled()
    with qtbot.waitSignal(window.identity_flow.changed, timeout=WAIT):
        dialog.undo_buttons[change_id].click()
    qtbot.waitUntil(lambda: change_id not in dialog.undo_buttons, timeout=WAIT)
    assert dialog.model.index(0, 1).data() == "Merged Tom Baker into Kim Lee"
    assert dialog.model.index(0, 2).data() == "Undone"
    assert not dialog.undo_selected.isEnabled()
    qtbot.waitUntil(lambda: "Tom Baker" in names(window), timeout=WAIT)
    dialog.reject()


def test_history_dialog_shows_why_an_undo_must_wait(
    qtbot, window: MainWindow, db: Database
) -> None:
    kim, tom = customer_row(db, "kim@example.com"), customer_row(db, "tom@bakers.example")
    maria = customer_row(db, "maria.garcia@example.com")
    with qtbot.waitSignal(window.identity_flow.changed, timeout=WAIT) as merged:
        window.identity_flow.merge(kim, [tom], reason="test")
    first = merged.args[0].change_ids[0]
    kim = customer_row(db, "kim@example.com")
    with qtbot.waitSignal(window.identity_flow.changed, timeout=WAIT) as merged:
        window.identity_flow.merge(maria, [kim], reason="test")
    second = merged.args[0].change_ids[0]
    window.history_action.trigger()
    dialog = window.identity_flow.history
    assert dialog is not None
    qtbot.waitUntil(lambda: first in dialog.undo_buttons, timeout=WAIT)
    blocked = dialog.undo_buttons[first]
    assert not blocked.isEnabled()
    assert blocked.toolTip().startswith(f"cannot undo change {first}: change {second} (merged ")
    assert dialog.undo_buttons[second].isEnabled()
    dialog.table.setCurrentIndex(dialog.model.index(1, 1))
    assert not dialog.undo_selected.isEnabled()
    assert dialog.undo_selected.toolTip() == blocked.toolTip()
    assert blocked.toolTip() in str(dialog.model.index(1, 1).data(Qt.ItemDataRole.ToolTipRole))
    dialog.reject()


# --- orders ----------------------------------------------------------------------------------


def test_profile_shows_order_figures(qtbot, window: MainWindow) -> None:
    open_customer(qtbot, window, "Jane Doe")
    values = {k: v.text() for k, v in window.profile.values.items()}
    assert values["Orders"] == "2"
    assert values["Spent"] == "£121.98"
    assert values["Average order"] == "£60.99"
    assert values["First order"] == "1 Mar 2026, 18:04"
    assert values["Last order"] == "yesterday 16:40"


def test_an_updated_order_shows_what_changed(qtbot, db: Database) -> None:
    seed(db)
    first = order(
        "#1001",
        "Jane Doe",
        "jane.doe@gmail.com",
        "+44 7700 900123",
        _at(3, 18, 4),
        [("Spring bouquet – Large", 1, "45.00"), ("Periwinkle ribbon", 3, "2.50")],
    )
    assert isinstance(first, EventRecord) and first.order is not None
    refunded = replace(
        first,
        order=replace(first.order, financial_status="refunded", refunded=Decimal("40.00")),
    )
    report = import_items(db, lambda: [refunded], label="newer.csv", format="test")
    assert report.updated == 1
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.customer_model.loaded_query == "", timeout=WAIT)
    open_customer(qtbot, w, "Jane Doe")
    with qtbot.waitSignal(w.timeline_model.loaded, timeout=WAIT):
        w.timeline.chips["order"].click()
    m = w.timeline_model
    entries = [m.item(r) for r in m.event_rows()]
    assert {e.event.channel for e in entries} == {"order"}
    updated = next(
        e for e in entries if isinstance(e, TimelineEntry) and e.event.order.number == "#1001"
    )
    line = summary(updated.event)
    assert line == "Order #1001 · £57.49 · paid → refunded · refunded £40.00"
    expanded = event_html(updated.event, (), w.palette())
    assert "Changed by a newer export:" in expanded and "paid → refunded" in expanded
    assert w.profile.values["Spent"].text() == "£81.98"  # net of the refund
    settle(qtbot)


# --- import preview --------------------------------------------------------------------------


def preview_rows(dialog) -> list[tuple[str, str, str, str]]:
    m = dialog.preview_model
    return [tuple(m.index(r, c).data() for c in range(4)) for r in range(m.rowCount())]


def test_import_preview_shows_the_first_messages(qtbot, window: MainWindow, db: Database) -> None:
    path = WHATSAPP / "WhatsApp Chat with Alice Smith.txt"
    dialog = window.import_flow.open_dialog()
    with qtbot.waitSignal(dialog.preview_updated, timeout=WAIT):
        dialog.add_paths([path])
    assert dialog.preview.title.text().startswith("<b>WhatsApp chat export")
    assert "impossible date" in dialog.preview.notices.text()
    rows = preview_rows(dialog)
    assert 10 <= len(rows) <= 20
    assert rows[0][2] == "System"
    assert rows[1] == ("14 Mar 2024, 09:16", "Alice Smith", "Received", rows[1][3])
    assert rows[1][3] == "Hi! Is the blue teapot still available?"
    assert rows[2][1:3] == ("You", "Sent by you")  # Bob's Bakery, from the file's owner hint
    assert dialog.owner_combo.currentText() == "Bob's Bakery"
    assert dialog.owner_combo.isEnabled()
    with qtbot.waitSignal(dialog.preview_updated, timeout=WAIT):
        dialog.owner_combo.setCurrentIndex(dialog.owner_combo.findText("Alice Smith"))
    rows = preview_rows(dialog)
    assert rows[1][1:3] == ("You", "Sent by you")
    assert rows[2][1:3] == ("Bob's Bakery", "Received")
    with qtbot.waitSignal(dialog.preview_updated, timeout=WAIT):
        dialog.tz_combo.setCurrentText("America/New_York")
    assert preview_rows(dialog)[1][0] == "14 Mar 2024, 13:16"  # read in New York, shown in London
    with qtbot.waitSignal(dialog.preview_updated, timeout=WAIT):
        dialog.owner_combo.setCurrentIndex(dialog.owner_combo.findText("Bob's Bakery"))
    assert dialog.request().owner == (("owner_names", "Bob's Bakery"),)
    with qtbot.waitSignal(window.import_flow.import_finished, timeout=WAIT):
        dialog.import_button.click()
    with db.session() as s:
        assert "Bob's Bakery" in settings.get_list(s, "owner_names")
    window.import_flow.summary.reject()


@pytest.mark.parametrize(
    "name",
    [
        "imazing/Messages - Priya Shah.csv",  # an iPhone's chat: outgoing rows name nobody
        "imessage_exporter/+447700900888.txt",  # imessage-exporter: the owner is "Me"
        "sms/sms-20240306091500.xml",  # an Android phone's texts: sent ones are marked
    ],
)
def test_import_preview_of_a_phones_texts_knows_what_was_sent(
    qtbot, window: MainWindow, name: str
) -> None:
    """A phone's backup says which texts the owner sent: the preview shows them as sent by
    you, and does not ask which sender is the business."""
    from tests.conftest import FIXTURES

    dialog = window.import_flow.open_dialog()
    with qtbot.waitSignal(dialog.preview_updated, timeout=WAIT):
        dialog.add_paths([FIXTURES / "chat" / name])
    rows = preview_rows(dialog)
    assert ("You", "Sent by you") in [row[1:3] for row in rows]
    assert any(row[2] == "Received" and row[1] != "You" for row in rows)
    assert "Which sender is your business?" not in dialog.preview.notices.text()
    assert not dialog.owner_combo.isEnabled()
    dialog.reject()


def test_import_preview_date_order_and_phone_owner(qtbot, window: MainWindow, db: Database) -> None:
    path = WHATSAPP / "ios_ambiguous_12h_narrow_nbsp.txt"
    dialog = window.import_flow.open_dialog()
    with qtbot.waitSignal(dialog.preview_updated, timeout=WAIT):
        dialog.add_paths([path])
    notices = dialog.preview.notices.text()
    assert "Dates were ambiguous; read as day/month/year (region GB)." in notices
    assert "Which sender is your business?" in notices
    assert dialog.date_combo.itemText(0) == "Detect from the file (read as day first)"
    assert preview_rows(dialog)[1][0] == "1 Apr 2023, 19:02"
    assert dialog.owner_combo.currentData() is None  # no hint, no setting: ask
    with qtbot.waitSignal(dialog.preview_updated, timeout=WAIT):
        dialog.date_combo.setCurrentIndex(dialog.date_combo.findData("mdy"))
    assert preview_rows(dialog)[1][0] == "4 Jan 2023, 19:02"
    assert dialog.date_combo.itemText(0) == "Detect from the file"
    phone = "+1 (415) 634-0199"
    with qtbot.waitSignal(dialog.preview_updated, timeout=WAIT):
        dialog.owner_combo.setCurrentIndex(dialog.owner_combo.findText(phone))
    rows = preview_rows(dialog)
    assert rows[2][1:3] == ("You", "Sent by you")
    assert rows[1][1:3] == ("Dana Lee", "Received")
    request = dialog.request()
    assert request.owner == (("owner_phones", phone),) and request.date_order == "mdy"
    with qtbot.waitSignal(window.import_flow.import_finished, timeout=WAIT):
        dialog.import_button.click()
    window.import_flow.summary.reject()
    with db.session() as s:
        assert phone in settings.get_list(s, "owner_phones")
        dana = queries.resolve_customer(s, "Dana Lee")
        events = queries.timeline(s, dana, limit=50)
    sent = [e for e in events if e.direction == "outbound"]
    assert sent and all("Shipping" in e.text or "Contact" in e.text for e in sent)


def test_preview_of_a_file_it_cannot_read(qtbot, window: MainWindow) -> None:
    dialog = window.import_flow.open_dialog()
    with qtbot.waitSignal(dialog.preview_updated, timeout=WAIT):
        dialog.add_paths([WHATSAPP / "not_a_chat.txt"])
    assert dialog.preview.stack.currentWidget() is dialog.preview.placeholder
    assert "recognised" in dialog.preview.placeholder.text()
    assert not dialog.owner_combo.isEnabled()
    dialog.reject()


# --- models ----------------------------------------------------------------------------------


def test_change_history_model(qtmodeltester, db: Database) -> None:
    seed_pairs(db)
    model = ChangeHistoryModel(db, tz=LONDON, now=lambda: NOW)
    model.reload(background=False)
    qtmodeltester.check(model)
    with db.session() as s:
        a = queries.resolve_customer(s, "maria.garcia@example.com")
        b = queries.resolve_customer(s, "mgarcia77@example.net")
        change = merges.merge_customers(s, a, b, reason="same person")
        merges.undo(s, change)
    model.reload(background=False)
    qtmodeltester.check(model)
    texts = [model.index(r, 1).data() for r in range(model.rowCount())]
    assert "Merged Maria Garcia into Maria Garcia" in texts
    merged_row = texts.index("Merged Maria Garcia into Maria Garcia")
    assert model.index(merged_row, 2).data() == "Undone"
    assert "Why: same person" in model.index(merged_row, 1).data(Qt.ItemDataRole.ToolTipRole)
    with db.session() as s:
        before = settings.get(s, "user_name")
        settings.set_value(s, "user_name", "Robin")
        merges.reject(s, a, b)
    model.reload(background=False)
    assert model.index(0, 3).data() == "Robin"  # who made the change
    assert model.index(merged_row + 1, 3).data() == before != "Robin"


def test_preview_model(qtmodeltester, db: Database) -> None:
    seed(db)
    data = load_preview(
        db,
        WHATSAPP / "WhatsApp Chat with Alice Smith.txt",
        format=None,
        tz_name="Europe/London",
        date_order=None,
    )
    assert data.suggested_owner == "Bob's Bakery"
    assert [a.label for a in data.authors] == ["Alice Smith", "Bob's Bakery"]
    model = PreviewModel(tz=LONDON, now=lambda: NOW)
    model.set_preview(data, {"Bob's Bakery"})
    qtmodeltester.check(model)
    model.set_owners(set())
    assert model.index(2, 1).data() == "Bob's Bakery"
    model.set_preview(None)
    qtmodeltester.check(model)


def test_excluding_proxy(qtmodeltester, db: Database) -> None:
    seed(db)
    source = CustomerListModel(db, tz=LONDON, now=lambda: NOW)
    source.set_query("", background=False)
    jane = customer_id(db, "jane.doe@gmail.com")
    proxy = ExcludingProxy(jane)
    proxy.setSourceModel(source)
    qtmodeltester.check(proxy)
    assert proxy.rowCount() == source.rowCount() - 1
    assert "Jane Doe" not in {proxy.index(r, 0).data() for r in range(proxy.rowCount())}


# --- accessibility and the look ---------------------------------------------------------------


def unnamed_controls(root: QWidget) -> list[str]:
    controls = (QAbstractButton, QLineEdit, QAbstractItemView, QComboBox)
    return [
        f"{type(w).__name__}:{w.objectName()}"
        for w in root.findChildren(QWidget)
        if isinstance(w, controls)
        and w.isVisibleTo(root)
        and not (w.accessibleName() or (isinstance(w, QAbstractButton) and w.text()))
    ]


def test_new_windows_are_named_and_look_right(qtbot, window: MainWindow, fixtures: Path) -> None:
    dialog = open_review(qtbot, window)
    dialog.resize(dialog.sizeHint().expandedTo(dialog.minimumSize()))
    assert unnamed_controls(dialog) == []
    assert dialog.grab().save("/tmp/shot_merge.png")
    dialog.reject()

    open_customer(qtbot, window, "Kim Lee")
    ctrl_click(qtbot, window, "Tom Baker")
    window.merge_selected()
    merge = window.identity_flow.merge_dialog
    assert unnamed_controls(merge) == []
    assert merge.grab().save("/tmp/shot_merge_confirm.png")
    merge.reject()

    open_customer(qtbot, window, "Jane Doe")
    window.profile.move_to_other_requested.emit(
        window.profile.customer, window.profile.customer.identities[0]
    )
    picker = window.identity_flow.picker
    qtbot.waitUntil(lambda: picker.proxy.rowCount() > 0, timeout=WAIT)
    assert unnamed_controls(picker) == []
    assert picker.grab().save("/tmp/shot_picker.png")
    picker.reject()

    with qtbot.waitSignal(window.identity_flow.changed, timeout=WAIT):
        window.identity_flow.merge(
            window.profile.customer,
            [customer_row(window.service.database, "kim@example.com")],
            reason="x",
        )
    window.history_action.trigger()
    history = window.identity_flow.history
    qtbot.waitUntil(lambda: bool(history.undo_buttons), timeout=WAIT)
    assert unnamed_controls(history) == []
    assert history.grab().save("/tmp/shot_history.png")
    history.reject()

    qtbot.waitUntil(lambda: window.profile.values.get("Average order") is not None, timeout=WAIT)
    assert window.grab().save("/tmp/shot_main_profile.png")
    assert window.profile.grab().save("/tmp/shot_profile.png")

    imp = window.import_flow.open_dialog()
    with qtbot.waitSignal(imp.preview_updated, timeout=WAIT):
        imp.add_paths([fixtures / "whatsapp" / "ios_ambiguous_12h_narrow_nbsp.txt"])
    imp.resize(imp.sizeHint())
    assert unnamed_controls(imp) == []
    assert imp.grab().save("/tmp/shot_import_preview.png")
    imp.reject()


# --- the same window on a team server ----------------------------------------------------------


@pytest.mark.slow
def test_look_up_merge_and_split_on_a_postgresql_store(qtbot, pg_url: str) -> None:
    """The main window on a PostgreSQL database (tests/conftest.py): the lookup as you
    type, a merge of two selected customers and a split from the profile, through the
    widgets, each change stored on the server."""
    from app.db import open_database

    db = open_database(pg_url)
    try:
        with db.session() as s:
            settings.set_value(s, "region", "GB")
            settings.set_value(s, "timezone", "Europe/London")
        seed_pairs(db)
        w = MainWindow(db, now=lambda: NOW)
        qtbot.addWidget(w)
        w.resize(1400, 850)
        w.show()
        qtbot.waitUntil(lambda: w.customer_model.loaded_query == "", timeout=WAIT)
        assert w.service.url == pg_url

        # Look up as you type: a fragment of a phone number, then of an order number.
        for typed, found in (
            ("900456", "Priya Patel"),
            ("#1002", "Kim Lee"),
            ("bakers", "Tom Baker"),
        ):
            w.search_box.clear()
            qtbot.keyClicks(w.search_box, typed)
            qtbot.waitUntil(lambda t=typed: w.customer_model.loaded_query == t, timeout=WAIT)
            assert names(w) == [found], typed
        w.search_box.clear()
        qtbot.waitUntil(lambda: w.customer_model.loaded_query == "", timeout=WAIT)

        # Merge Tom Baker into Kim Lee: select both, Ctrl+M, the dialog's button.
        open_customer(qtbot, w, "Kim Lee")
        ctrl_click(qtbot, w, "Tom Baker")
        w.activateWindow()
        qtbot.keyClick(w.customers.view, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
        dialog = w.identity_flow.merge_dialog
        assert dialog is not None and dialog.isVisible()
        with qtbot.waitSignal(w.identity_flow.changed, timeout=WAIT) as changed:
            dialog.merge_button.click()
        assert changed.args[0].message == "Merged “Tom Baker” into “Kim Lee”."
        qtbot.waitUntil(lambda: "Tom Baker" not in names(w), timeout=WAIT)
        assert customer_id(db, "kim@example.com") == customer_id(db, "tom@bakers.example")

        # Split Jane's email out to a new customer from her profile.
        open_customer(qtbot, w, "Jane Doe")
        row = w.profile.customer
        assert row is not None
        email = identity_of(row, "jane.doe@gmail.com")
        menu = w.profile.identity_menu(email)
        next(a for a in menu.actions() if a.text().startswith("Move to a &New")).trigger()
        box = w.identity_flow.confirm
        assert box is not None and box.isVisible()
        with qtbot.waitSignal(w.identity_flow.changed, timeout=WAIT) as split:
            box.findChild(QAbstractButton, "moveButton").click()
        assert split.args[0].action == "split"
        assert customer_id(db, "jane.doe@gmail.com") != customer_id(db, "+44 7700 900123")
        qtbot.waitUntil(
            lambda: "jane.doe@gmail.com" not in w.timeline.identities_label.text(), timeout=WAIT
        )
        with db.session() as s:
            assert [c.action for c in merges.history(s, limit=2)] == ["split", "merge"]
        settle(qtbot)
        w.close()
    finally:
        db.dispose()


def test_history_tells_that_a_list_is_no_customer(
    qtbot, window: MainWindow, db: Database, tmp_path: Path
) -> None:
    """A list that had become a customer (the owner's sent copy of a post has no list
    headers) and is then seen as a list: the change history says why it went."""
    from app.ingest import import_paths

    def post(n: int, sender: str, headers: str = "") -> Path:
        path = tmp_path / f"{n}.eml"
        path.write_text(
            f"From: {sender}\r\nTo: makers@friends.example\r\nSubject: Post {n}\r\n"
            f"Date: Mon, 1 Jan 2024 10:0{n}:00 +0000\r\nMessage-ID: <p{n}@x.example>\r\n"
            f"{headers}\r\nHello.\r\n"
        )
        return path

    def linked() -> bool:
        from sqlalchemy import select

        from app.models import CustomerIdentity, Identity

        with db.session() as s:
            found = s.scalars(
                select(CustomerIdentity.customer_id)
                .join(Identity, Identity.id == CustomerIdentity.identity_id)
                .where(Identity.value == "makers@friends.example")
            )
            return found.first() is not None

    list_headers = "List-Id: <makers.friends.example>\r\n"
    import_paths(db, [post(1, f"Shop <{SHOP}>")])
    assert linked()
    import_paths(db, [post(2, "Ann Lee <ann@lee.example>", list_headers)])
    assert not linked()
    window.history_action.trigger()
    dialog = window.identity_flow.history
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.model.rowCount() > 0, timeout=WAIT)
    assert dialog.model.index(0, 1).data() == (
        "A mailing list's address, not a customer: makers@friends.example"
    )
    assert not dialog.undo_buttons  # (nothing to undo: the address is a list's)
    dialog.grab().save(str(tmp_path / "history-list.png"))
    dialog.reject()
