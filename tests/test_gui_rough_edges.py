"""Rough edges a new user met in the window, each driven like a user and grabbed to a PNG.

Every test builds its own data (``seed`` from ``test_ui_models`` plus what it adds)
and saves ``window.grab()`` under the test's tmp dir so a failure can be looked at.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import settings
from app.db import Database
from tests.test_gui import WAIT, names, type_search
from tests.test_ui_models import NOW, seed
from ui import workers
from ui.main_window import MainWindow
from ui.safe_text import WrapText

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, db: Database) -> Iterator[MainWindow]:
    seed(db)
    with db.session() as s:
        settings.set_value(s, "region", "GB")
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.resize(1400, 850)
    w.show()
    qtbot.waitUntil(lambda: w.customer_model.loaded_query == "", timeout=WAIT)
    yield w
    workers.manager().wait_for_done()
    qtbot.waitUntil(lambda: workers.manager().active == 0, timeout=WAIT)


def shot(w, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    assert w.grab().save(str(path))
    return path


# --- customer search by a national phone number ------------------------------------------


@pytest.mark.parametrize("typed", ["07700 900123", "07700900123", "0770 0900", "+44 7700 900123"])
def test_search_finds_a_customer_by_national_number(
    qtbot, window: MainWindow, tmp_path: Path, typed: str
) -> None:
    type_search(qtbot, window, typed)
    shot(window, tmp_path, "phone-search")
    assert "Jane Doe" in names(window)
    assert window.customer_model.total >= 1


def test_national_number_matches_in_list_and_count_alike(db: Database) -> None:
    from app import queries

    seed(db)
    with db.session() as s:
        settings.set_value(s, "region", "GB")
    with db.read_session() as s:
        for typed in ("07700 900123", "07700900123", "0770", "0044 7700 900123"):
            rows = queries.list_customers(s, typed)
            assert "Jane Doe" in [r.name for r in rows], typed
            assert queries.count_customers(s, typed) == len(rows), typed


# --- import dialog: "Which one is you?" per file -----------------------------------------


def _chat_file(folder: Path, name: str, a: str, b: str) -> Path:
    path = folder / f"WhatsApp Chat with {name}.txt"
    path.write_text(
        f"14/03/2024, 09:16 - {a}: Hello there\n"
        f"14/03/2024, 09:20 - {b}: Hi, how can I help?\n"
        f"14/03/2024, 09:21 - {a}: A question about my order\n",
        encoding="utf-8",
    )
    return path


def _preview(qtbot, dialog, path: Path) -> None:
    row = next(i for i, d in enumerate(dialog.detected) if d.path == path)
    with qtbot.waitSignal(dialog.preview_updated, timeout=WAIT):
        dialog.files.setCurrentItem(dialog.files.topLevelItem(row))
    qtbot.waitUntil(lambda: dialog.preview.data is not None, timeout=WAIT)


def test_import_keeps_each_files_owner_choice(qtbot, window: MainWindow, tmp_path: Path) -> None:
    first = _chat_file(tmp_path, "Ann", "Ann Lee", "Shop Till")
    second = _chat_file(tmp_path, "Ben", "Ben Ray", "Counter Desk")
    dialog = window.import_flow.open_dialog()
    with qtbot.waitSignal(dialog.detection_finished, timeout=WAIT):
        dialog.add_paths([first, second])
    _preview(qtbot, dialog, first)
    with qtbot.waitSignal(dialog.preview_updated, timeout=WAIT):
        dialog.owner_combo.setCurrentIndex(dialog.owner_combo.findText("Shop Till"))
    _preview(qtbot, dialog, second)
    assert dialog.owner_combo.findText("Counter Desk") >= 0
    with qtbot.waitSignal(dialog.preview_updated, timeout=WAIT):
        dialog.owner_combo.setCurrentIndex(dialog.owner_combo.findText("Counter Desk"))
    _preview(qtbot, dialog, first)
    shot(dialog, tmp_path, "import-owner")
    assert dialog.owner_combo.currentText() == "Shop Till"  # not silently reset
    _preview(qtbot, dialog, second)
    assert dialog.owner_combo.currentText() == "Counter Desk"
    owner = dict.fromkeys(v for _k, v in dialog.request().owner)
    assert {"Shop Till", "Counter Desk"} <= set(owner)  # both files' choices are imported
    dialog.reject()


def test_an_exports_photos_are_listed_after_the_files_to_import(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    # Messenger's encrypted chats' download: the chat beside media/, whose photos come first
    # on the walk. The chat heads the list; the photos follow, marked as left out.
    import shutil

    from tests.test_connector_chats import CHAT

    folder = tmp_path / "messages"
    shutil.copytree(CHAT / "messenger_e2ee", folder)
    for n in range(12):
        (folder / "media" / f"{n:02d}.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    dialog = window.import_flow.open_dialog()
    with qtbot.waitSignal(dialog.detection_finished, timeout=WAIT):
        dialog.add_paths([folder])
    listed = [dialog.files.topLevelItem(i).text(0) for i in range(dialog.files.topLevelItemCount())]
    assert listed[0] == "Alice Smith_40.json" and len(listed) == 15
    assert [d.path.name for d in dialog.detected] == listed  # the rows and the list agree
    assert dialog.status.text() == "1 file ready · 14 not recognised (left out)"
    request = dialog.request()
    assert [p.name for p in request.paths] == ["Alice Smith_40.json"]
    assert len(request.unrecognised) == 14
    shot(dialog, tmp_path, "import-photos-left-out")
    dialog.reject()


def test_a_zip_of_exports_is_ready_to_import_as_it_came(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    # Meta's download, never unzipped (Windows shows a zip as a folder, but a file dialog
    # picks the file): ready to import, and the preview says what will be read from it.
    import zipfile

    from tests.test_connector_chats import CHAT
    from ui.import_dialog import ZIP, ZIP_LABEL

    download = tmp_path / "facebook-bobsbakery-2025-05-02.zip"
    with zipfile.ZipFile(download, "w") as zf:
        zf.write(CHAT / "messenger_e2ee" / "Alice Smith_40.json", "messages/Alice Smith_40.json")
    dialog = window.import_flow.open_dialog()
    with qtbot.waitSignal(dialog.detection_finished, timeout=WAIT):
        dialog.add_paths([download])
    assert [(d.format, d.label) for d in dialog.detected] == [(ZIP, ZIP_LABEL)]
    assert dialog.status.text() == "1 file ready"
    dialog.files.setCurrentItem(dialog.files.topLevelItem(0))
    dialog.refresh_preview()
    assert "is an archive" in dialog.preview.placeholder.text()
    assert dialog.request().paths == (download,) and dialog.import_button.isEnabled()
    shot(dialog, tmp_path, "import-zip")
    dialog.reject()


# --- an expanded order shows its shipping method, delivery address and notes -------------


def test_expanded_order_shows_its_details(
    qtbot, window: MainWindow, db: Database, tmp_path: Path
) -> None:
    from dataclasses import replace

    from PySide6.QtCore import Qt

    from app.ingest import import_items
    from tests.test_gui import open_customer
    from tests.test_ui_models import _at, order
    from ui.models import ExpandedRole
    from ui.timeline_delegate import event_html

    details = {
        "shipping_method": "Royal Mail Tracked 24",
        "shipping": {"name": "Tom Okafor", "street": "12 Rose Lane", "city": "Leeds"},
        "notes": "Leave with the neighbour at no. 14\nRing twice",
    }
    record = replace(
        order("#2001", "Tom Okafor", "tom@example.org", "", _at(0, 9, 0), [("Tulips", 1, "20")]),
        details=details,
    )
    import_items(db, lambda: [record], label="orders.csv", format="test")
    window.customer_model.reload(background=False)
    open_customer(qtbot, window, "Tom Okafor")
    m = window.timeline_model
    row = next(r for r in m.event_rows() if m.item(r).event.order is not None)
    event = m.item(row).event
    text = event_html(event, (), window.palette())
    assert "Royal Mail Tracked 24" in text
    assert "12 Rose Lane, Leeds" in text
    assert "Leave with the neighbour at no. 14" in text and "Ring twice" in text
    view = window.timeline.view
    index = m.index(row, 0)
    view.setCurrentIndex(index)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert index.data(ExpandedRole) is True
    shot(window, tmp_path, "order-details")


# --- customer list: scroll position and the first-run panel ------------------------------


def test_new_filter_starts_at_the_top(qtbot, db: Database, tmp_path: Path) -> None:
    seed(db, fillers=120)
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.resize(1400, 850)
    w.show()
    qtbot.waitUntil(lambda: w.customer_model.loaded_query == "", timeout=WAIT)
    view = w.customers.view
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=WAIT)
    # Open a customer far down the list: the list is scrolled to it.
    last = w.customer_model.rowCount() - 1
    with qtbot.waitSignal(w.customer_opened, timeout=WAIT):
        w.customers.select_row(last)
    view.scrollToBottom()
    assert bar.value() > 0
    type_search(qtbot, w, "customer")  # still many matches, the open one among them
    assert w.customer_model.rowCount() > 20
    shot(w, tmp_path, "filter-top")
    assert bar.value() == 0
    workers.manager().wait_for_done()


def test_first_run_panel_gives_way_whatever_the_search_box_holds(
    qtbot, db: Database, tmp_path: Path
) -> None:
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.resize(1400, 850)
    w.show()
    qtbot.waitUntil(lambda: w.central.currentWidget() is w.empty, timeout=WAIT)
    type_search(qtbot, w, "zzz nobody")
    assert w.central.currentWidget() is w.empty
    seed(db)  # an import lands while the search box holds text matching no one
    with qtbot.waitSignal(w.customer_model.loaded, timeout=WAIT):
        w.customer_model.reload()
    shot(w, tmp_path, "first-run-gives-way")
    assert w.central.currentWidget() is w.splitter
    assert w.customers.stack.currentWidget() is w.customers.no_match
    workers.manager().wait_for_done()


# --- the notes pane never scrolls sideways -----------------------------------------------


def test_notes_pane_wraps_long_text_and_keeps_its_buttons(
    qtbot, window: MainWindow, db: Database, tmp_path: Path
) -> None:
    from app import notes as note_service
    from app import queries
    from tests.test_gui import open_customer

    path = "C:/Users/" + "averyveryverylongfoldername" * 6 + "/invoice.pdf"
    words = " ".join(["Prefers periwinkle ribbons, never white."] * 12)
    with db.session() as s:
        cid = queries.resolve_customer(s, "Jane Doe")
        note_service.add_note(s, cid, path)
        note_service.add_note(s, cid, words)
        settings.set_value(s, "user_name", "Sam" + "X" * 120)  # a long unbroken author
        note_service.add_note(s, cid, "short")
    open_customer(qtbot, window, "Jane Doe")
    qtbot.waitUntil(lambda: len(window.notes.cards) == 3, timeout=WAIT)
    pane = window.notes

    def laid_out() -> bool:  # the text is as tall as its wrapped lines: nothing overlaps
        for card in pane.cards:
            body, meta = card.body, card.meta
            bottom = body.mapTo(card, body.rect().bottomLeft()).y()
            needed = body.heightForWidth(body.width())
            if isinstance(body, WrapText):
                needed = math.ceil(body.document().size().height())
            if body.height() < needed or bottom >= meta.y():
                return False
        return True

    qtbot.waitUntil(laid_out, timeout=WAIT)
    shot(window, tmp_path, "notes")
    assert not pane.scroll_area.horizontalScrollBar().isVisible()
    assert pane.list_widget.width() <= pane.scroll_area.viewport().width()
    right = (
        pane.scroll_area.viewport().mapToGlobal(pane.scroll_area.viewport().rect().topRight()).x()
    )
    for card in pane.cards:
        assert card.body.text() in (path, words, "short")  # shown exactly, nothing inserted
        assert card.body.height() >= card.body.fontMetrics().lineSpacing()
        for button in (card.pin_button, card.edit_button, card.delete_button):
            assert button.isVisible()
            edge = button.mapToGlobal(button.rect().topRight()).x()
            assert edge <= right, "a note's button is pushed out of the pane"
    long_card = next(c for c in pane.cards if c.body.text() == path)
    assert long_card.body.height() >= 2 * long_card.body.fontMetrics().lineSpacing()  # wrapped


def test_long_unbroken_name_wraps_in_the_header(
    qtbot, window: MainWindow, db: Database, tmp_path: Path
) -> None:
    from app.ingest import import_items
    from tests.test_gui import open_customer
    from tests.test_ui_models import SHOP, _at, mail

    name = "Bartholomew" + "Featherstonehaugh" * 8
    address = "x" * 90 + "@example.org"
    record = mail("long@x", name, address, SHOP, "Hello", "Hi", _at(0, 9, 30))
    import_items(db, lambda: [record], label="long.mbox", format="test")
    window.customer_model.reload(background=False)
    before = window.splitter.sizes()
    open_customer(qtbot, window, name)
    header = window.timeline.name_label
    qtbot.waitUntil(lambda: header.text() == name, timeout=WAIT)
    qtbot.waitUntil(lambda: header.height() >= 2 * header.fontMetrics().lineSpacing(), timeout=WAIT)
    shot(window, tmp_path, "long-name")
    assert window.splitter.sizes() == before  # the timeline pane kept its width
    pane = window.timeline
    for label in (header, window.timeline.identities_label):
        right = label.mapTo(pane, label.rect().topRight()).x()
        assert right <= pane.width()


# --- timeline: names in full, no sideways scroll after expanding -------------------------


def test_timeline_names_are_not_cut_and_expanding_never_scrolls_sideways(
    qtbot, db: Database, tmp_path: Path
) -> None:
    from dataclasses import replace

    from PySide6.QtCore import Qt
    from PySide6.QtGui import QFontMetrics
    from PySide6.QtWidgets import QStyleOptionViewItem

    from app.ingest import import_items
    from tests.test_gui import open_customer
    from tests.test_ui_models import SHOP, _at, mail
    from ui.models import ExpandedRole
    from ui.widgets import bold

    name = "Margaret Okafor"
    link = "https://shop.example/track?" + "parcel" * 60  # one long unbroken word
    body = "\n".join(f"Line {i} of a long message about the order." for i in range(60))
    body += "\n" + link
    page = "<p>Thanks!</p><table width=1500><tr><td>" + link + "</td></tr></table>"
    records = [
        replace(
            mail(
                f"t{i}@x", name, "tom.okafor@example.org", SHOP, f"Subject {i}", body, _at(i, 9, 0)
            ),
            details={"html": page},
        )
        for i in range(12)
    ]
    seed(db)
    import_items(db, lambda: records, label="tom.mbox", format="test")
    window = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(window)
    window.resize(1280, 600)
    window.show()
    qtbot.waitUntil(lambda: window.customer_model.loaded_query == "", timeout=WAIT)
    open_customer(qtbot, window, name)
    view = window.timeline.view
    m = window.timeline_model
    qtbot.waitUntil(lambda: len(m.event_rows()) == 12, timeout=WAIT)
    wfm = QFontMetrics(bold(view.font()))
    option = QStyleOptionViewItem()
    option.font = view.font()
    column = window.timeline.delegate._metrics(option)["who_w"]
    assert column >= wfm.horizontalAdvance(name), "the name would be cut to 'Margaret Ok…'"
    first = m.index(m.event_rows()[0], 0)
    view.setCurrentIndex(first)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert first.data(ExpandedRole) is True
    bar = view.horizontalScrollBar()
    qtbot.waitUntil(lambda: view.verticalScrollBar().isVisible(), timeout=WAIT)
    # The HTML body is shown in its own widget over the row once the row is laid out.
    qtbot.waitUntil(
        lambda: (
            (body := view.indexWidget(first)) is not None
            and body.isVisible()
            and body.geometry() == view.visualRect(first)
        ),
        timeout=WAIT,
    )
    shot(window, tmp_path, "timeline-expanded")
    assert bar.maximum() == 0
    assert not view.horizontalScrollBar().isVisible()
    workers.manager().wait_for_done()


def _previewed_book(qtbot, window: MainWindow, tmp_path: Path, name: str) -> tuple[Any, list]:
    """The import dialog with the address book ``name`` (of the contact fixtures) added and
    previewed (a screenshot kept), and its preview's rows (time, who, kind, text)."""
    book = Path(__file__).resolve().parent / "fixtures" / "contacts" / name
    dialog = window.import_flow.open_dialog()
    with qtbot.waitSignal(dialog.detection_finished, timeout=WAIT):
        dialog.add_paths([book])
    _preview(qtbot, dialog, book)
    shot(dialog, tmp_path, f"import-{name}")
    model = dialog.preview.model
    rows = [[model.index(r, c).data() for c in range(4)] for r in range(model.rowCount())]
    return dialog, rows


def test_import_dialog_previews_and_imports_an_address_book(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    """A ``.vcf`` previews as its contact cards: the name, "Contact card", the addresses and
    numbers; no time, and no "Which one is you?" to answer."""
    dialog, rows = _previewed_book(qtbot, window, tmp_path, "gmail-list.vcf")
    assert rows[0] == ["", "Arnold Smith", "Contact card", "asmithk@gmail.com"]
    assert len(rows) == 3
    assert not dialog.owner_combo.isEnabled()
    with qtbot.waitSignal(window.import_flow.import_finished, timeout=WAIT) as done:
        dialog.import_button.click()  # (in the background, as every import)
    (report,) = done.args[0]
    assert (report.format, report.added) == ("vcard", 3)
    summary = window.import_flow.summary
    assert summary is not None and "3 added" in summary.summary.text()
    shot(summary, tmp_path, "import-contacts-done")
    summary.close()
    type_search(qtbot, window, "beatle")
    assert names(window) == ["Chris Beatle"]


def test_a_contact_without_history_opens_plainly(
    qtbot, window: MainWindow, db: Database, tmp_path: Path
) -> None:
    """A customer known only from the address book: listed after those with history, and
    opened to their addresses and numbers with an empty timeline that says so."""
    from app.ingest import import_paths
    from tests.test_gui import open_customer

    book = tmp_path / "contacts.vcf"
    book.write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Olu Adeyemi\r\nORG:Adeyemi Catering\r\n"
        "EMAIL:olu@adeyemi.example\r\nTEL;TYPE=CELL:07700 900987\r\nEND:VCARD\r\n",
        encoding="utf-8",
    )
    (report,) = import_paths(db, [book])
    assert report.added == 1
    type_search(qtbot, window, "olu")
    assert names(window) == ["Olu Adeyemi"]
    open_customer(qtbot, window, "Olu Adeyemi")
    assert window.timeline_model.event_rows() == []
    shot(window, tmp_path, "contact-only")


def test_import_dialog_previews_an_outlook_contacts_csv(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    """Outlook's contacts export (a ``.csv`` in the Windows code page) previews as contact
    cards too, not as an orders or chat CSV to map."""
    dialog, rows = _previewed_book(qtbot, window, tmp_path, "outlook-contacts.csv")
    assert rows[0][:3] == ["", "José García", "Contact card"]
    assert [r[1] for r in rows] == ["José García", "Ann Lee", "Northwind Traders"]
    assert not dialog.owner_combo.isEnabled()
    with qtbot.waitSignal(window.import_flow.import_finished, timeout=WAIT) as done:
        dialog.import_button.click()
    (report,) = done.args[0]
    assert (report.format, report.added) == ("contacts_csv", 3)
    window.import_flow.summary.close()
    type_search(qtbot, window, "northwind")  # (QTest types no accented letter offscreen)
    assert names(window) == ["Northwind Traders"]


def test_sources_read_by_their_programs_names(qtbot, window: MainWindow, db: Database) -> None:
    """Where a record came from reads "Google Voice", not the code it is stored under, in
    the expanded event, its tooltip and the profile's contact points."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLabel

    from app.service import Service
    from tests.conftest import FIXTURES
    from tests.test_gui import open_customer
    from ui.timeline_delegate import event_html

    Service(db).import_paths([FIXTURES / "chat" / "google_voice"])
    window.customer_model.reload(background=False)
    open_customer(qtbot, window, "Dev Shah")
    m = window.timeline_model
    row = m.event_rows()[0]
    event = m.item(row).event
    assert "Source: Google Voice" in event_html(event, (), window.palette())
    assert "from Google Voice" in m.index(row, 0).data(Qt.ItemDataRole.ToolTipRole)
    shown = [label.text() for label in window.findChildren(QLabel)]
    assert "from Google Voice" in shown and "from google_voice" not in shown


def test_iphone_messages_read_as_a_conversation(
    qtbot, window: MainWindow, db: Database, tmp_path: Path
) -> None:
    """iMazing's CSVs of an iPhone's chats: each person one customer, their messages and
    the owner's replies one conversation, the source named as people know it."""
    from app.service import Service
    from tests.conftest import FIXTURES
    from tests.test_gui import open_customer
    from ui.timeline_delegate import event_html

    Service(db).import_paths([FIXTURES / "chat" / "imazing"])
    window.customer_model.reload(background=False)
    assert {"Priya Shah", "Robin Example", "Tom Okafor"} <= set(names(window))
    open_customer(qtbot, window, "Priya Shah")
    m = window.timeline_model
    # (the window's own data knows her number already: one customer with her WhatsApp)
    shown = [m.item(r).event for r in m.event_rows() if m.item(r).event.source != "whatsapp"]
    assert [e.direction for e in shown] == ["inbound", "outbound", "inbound", "outbound", "inbound"]
    picture = next(e for e in shown if "chip on the rim" in e.text)
    expanded = event_html(picture, (), window.palette())
    assert "Source: iMessage" in expanded
    assert "Photo (not imported): IMG_4821.HEIC" in expanded
    shot(window, tmp_path, "imazing")
