"""Rough edges a new user met: import report, email reading, names on screen, sync messages.

Each test builds its own odd input and saves a screenshot under /tmp/rb/ to look at.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.db import Database
from app.ingest import FileReport
from app.records import Problem
from tests.test_ui_models import NOW, seed
from ui import workers
from ui.main_window import MainWindow

pytestmark = pytest.mark.gui
WAIT = 10000
SHOTS = Path("/tmp/rb")


def shot(widget, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    widget.grab().save(str(SHOTS / name))


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


# --- import report -----------------------------------------------------------------------


def test_file_picker_offers_json_and_zip() -> None:
    from ui.import_dialog import FILE_FILTER

    default = FILE_FILTER.split(";;")[0]
    assert "*.json" in default and "*.zip" in default


def test_file_picker_offers_every_format_it_reads() -> None:
    """Each connector's file endings are in the picker's first filter (a Telegram contact
    saved as .vcard, an Amazon report as .tsv), and chats list .csv (iMazing, chat CSVs)."""
    from connectors import registry
    from ui.import_dialog import FILE_FILTER

    default, _mail, chats, *_ = FILE_FILTER.split(";;")
    for name in registry.names():
        for ending in registry.get(name).extensions:
            assert f"*{ending}" in default, (name, ending)
    assert "*.csv" in chats


def test_a_file_with_nothing_added_and_problems_is_not_plain_done(qtbot) -> None:
    from ui.import_dialog import ImportSummaryDialog

    bad = FileReport(
        "/x/orders.csv",
        "shopify",
        problems=[Problem(f"row {i}", "no order number") for i in (2, 3)],
    )
    fine = FileReport("/x/chat.txt", "whatsapp", added=4)
    dialog = ImportSummaryDialog([bad, fine])
    qtbot.addWidget(dialog)
    from PySide6.QtWidgets import QTreeWidget

    tree = dialog.findChild(QTreeWidget)
    results = [tree.topLevelItem(i).text(5) for i in range(tree.topLevelItemCount())]
    assert results[0] != "Done" and "Nothing imported" in results[0]
    assert results[1] == "Done"
    dialog.show()
    shot(dialog, "import_summary_problems.png")


def test_an_exports_many_left_out_files_share_one_row(qtbot) -> None:
    # A download's 30 photos and a profile file: one row saying how many and of what kind,
    # the path of each in its tooltip; never a row (and a full path) per photo.
    from PySide6.QtWidgets import QTreeWidget

    from ui.import_dialog import ImportSummaryDialog

    why = "not a format Threadline recognises (supported: mbox, eml)"
    zipped = "/x/facebook.zip"
    left = [
        FileReport(
            f"{zipped}/media/{n:02d}.jpeg",
            "",
            status="skipped",
            error=f"{zipped}/media/{n:02d}.jpeg: {why}",
        )
        for n in range(30)
    ]
    left.append(
        FileReport(
            f"{zipped}/profile.json", "", status="skipped", error=f"{zipped}/profile.json: {why}"
        )
    )
    chat = FileReport(f"{zipped}/messages/Alice_40.json", "messenger", added=6)
    dialog = ImportSummaryDialog([chat, *left])
    qtbot.addWidget(dialog)
    tree = dialog.findChild(QTreeWidget)
    rows = [[tree.topLevelItem(i).text(c) for c in (0, 5)] for i in range(tree.topLevelItemCount())]
    assert rows == [
        ["Alice_40.json", "Done"],
        ["31 files", "Not imported: Not a format Threadline recognises (30 .jpeg, 1 .json)"],
    ]
    assert tree.topLevelItem(1).toolTip(0).splitlines()[0] == f"{zipped}/media/00.jpeg"
    assert "31 files not imported" in dialog.summary.text()
    dialog.show()
    shot(dialog, "import_summary_left_out.png")


def test_an_unrecognised_file_appears_in_the_summary(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    good = tmp_path / "WhatsApp Chat with Ada Lovelace.txt"
    good.write_text(
        "12/03/2024, 09:15 - Ada Lovelace: Hello, is the blue vase still available?\n"
        "12/03/2024, 09:20 - Shop: Yes it is!\n",
        encoding="utf-8",
    )
    junk = tmp_path / "holiday notes.txt"
    junk.write_text("just some notes, nothing to import\n", encoding="utf-8")
    dialog = window.import_flow.open_dialog()
    with qtbot.waitSignal(dialog.detection_finished, timeout=WAIT):
        dialog.add_paths([good, junk])
    assert [d.format is not None for d in dialog.detected] == [True, False]
    with qtbot.waitSignal(window.import_flow.import_finished, timeout=WAIT) as done:
        dialog.import_button.click()
    reports = done.args[0]
    assert [Path(r.path).name for r in reports] == [good.name, junk.name]
    assert reports[1].status == "skipped"
    summary = window.import_flow.summary
    assert summary is not None and summary.isVisible()
    assert "1 file not imported" in summary.summary.text()
    from PySide6.QtWidgets import QTreeWidget

    tree = summary.findChild(QTreeWidget)
    assert tree.topLevelItemCount() == 2
    assert tree.topLevelItem(1).text(5).startswith("Not imported")
    shot(summary, "import_summary_unrecognised.png")
    summary.reject()


def test_problem_reasons_are_readable(qtbot, db: Database) -> None:
    from ui.models import ProblemsModel
    from ui.problems import ProblemsDialog

    model = ProblemsModel(db)
    reason = (
        "the Total column holds “twelve pounds”, which is not an amount; "
        "the row was left out and the rest of the file was imported"
    )
    long_name = "/data/exports/" + "very_long_export_file_name_" * 4 + ".csv"
    model._apply([(long_name, "row 18", reason, NOW)])
    dialog = ProblemsDialog(model)
    qtbot.addWidget(dialog)
    dialog.resize(900, 400)
    dialog.show()
    qtbot.waitExposed(dialog)
    table = dialog.table
    em = table.fontMetrics().horizontalAdvance("M")
    assert table.columnWidth(0) <= em * 18
    assert table.columnWidth(2) >= em * 30
    text_width = table.fontMetrics().horizontalAdvance(reason)
    lines_needed = -(-text_width // max(1, table.columnWidth(2) - em))
    assert table.rowHeight(0) >= table.fontMetrics().lineSpacing() * lines_needed
    shot(dialog, "problems_reason.png")


# --- mail sync and accounts --------------------------------------------------------------


def test_a_failed_account_makes_the_sync_summary_say_so(qtbot) -> None:
    from app.sync import AccountReport, FolderReport
    from ui.sync_flow import SyncSummaryDialog

    ok = AccountReport("Home", folders=[FolderReport("INBOX", new=3)])
    bad = AccountReport("Shop", status="failed", error="cannot connect to imap.example.com")
    dialog = SyncSummaryDialog([ok, bad], cancelled=False)
    qtbot.addWidget(dialog)
    assert "failed" in dialog.title.text() and "Shop" in dialog.title.text()
    assert dialog.title.text() != "Sync finished."
    assert "1 account failed" in dialog.totals.text()
    dialog.show()
    shot(dialog, "sync_summary_failed.png")
    only = SyncSummaryDialog([bad], cancelled=False)
    qtbot.addWidget(only)
    assert only.title.text().startswith("Sync failed")


def test_saving_an_account_whose_test_failed_asks_first(
    qtbot, window: MainWindow, db: Database
) -> None:
    import socket

    from app import accounts

    with socket.socket() as s:  # a port nothing listens on: the test cannot connect
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dialog = window.show_accounts()
    qtbot.waitUntil(lambda: dialog.keyring_known, timeout=WAIT)
    dialog.new_account()
    dialog.name.setText("Shop")
    dialog.user.setText("shop@example.com")
    dialog.password.setText("secret-pw")
    dialog.tls.setCurrentIndex(dialog.tls.findData("implicit"))
    dialog.host.setText("127.0.0.1")
    dialog.port.setValue(port)
    with qtbot.waitSignal(dialog.test_finished, timeout=WAIT) as tested:
        dialog.test_button.click()
    assert tested.args == [False]
    assert "Error" not in dialog.test_result.text()  # no exception class names
    dialog.save_button.click()
    box = dialog.save_question
    assert box is not None and box.isVisible()
    assert "connection test failed" in box.text()
    assert "secret-pw" not in box.text()
    shot(box, "save_failed_test.png")
    with db.session() as session:
        assert not [a for a in accounts.list_accounts(session) if a.name == "Shop"]
    save = next(b for b in box.buttons() if b.text() == "Save anyway")
    with qtbot.waitSignal(dialog.saved, timeout=WAIT):
        save.click()
    with db.session() as session:
        assert [a for a in accounts.list_accounts(session) if a.name == "Shop"]
    dialog.reject()


def test_failures_are_told_in_words_not_class_names() -> None:
    from app.errors import in_words

    class ConnectTimeout(OSError):
        pass

    class KeyringLocked(RuntimeError):
        pass

    class SSLError(OSError):
        pass

    assert in_words(ConnectTimeout()) == "no answer in time"
    assert in_words(KeyringLocked()) == "it is locked"
    assert "verified" in in_words(SSLError())
    assert "Error" not in in_words(ValueError())


# --- email reading -----------------------------------------------------------------------


class _ImageServer:
    """A tiny HTTP server on 127.0.0.1 serving one PNG; it records every path asked for."""

    def __init__(self, png: bytes) -> None:
        import http.server
        import threading

        asked: list[str] = []
        self.asked = asked

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                asked.append(self.path)
                if self.path == "/pic.png":
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", str(len(png)))
                    self.end_headers()
                    self.wfile.write(png)
                else:
                    self.send_error(404)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _png(width: int, height: int) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QColor, QImage

    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("#3366cc"))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def _settle(qtbot, w: MainWindow, body) -> None:
    """Wait until the view has laid the expanded email out at its row (before a screenshot)."""
    view = w.timeline.view

    def placed() -> bool:
        want = body.height_for(view.viewport().width())
        return body.width() >= view.viewport().width() - 2 and abs(body.height() - want) <= 4

    qtbot.waitUntil(placed, timeout=WAIT)


def _open_email(qtbot, w: MainWindow, customer: str, title: str):
    from ui.models import TimelineEntry

    m = w.customer_model
    row = next(i for i in range(m.rowCount()) if m.row(i).name == customer)
    with qtbot.waitSignal(w.customer_opened, timeout=WAIT):
        w.customers.select_row(row)
    tm = w.timeline_model
    row = next(
        r
        for r in tm.event_rows()
        if isinstance(tm.item(r), TimelineEntry) and tm.item(r).event.title == title
    )
    view = w.timeline.view
    view.setCurrentIndex(tm.index(row, 0))
    view.setFocus()
    qtbot.keyClick(view, "\r")
    body = w.timeline.email_view(row)
    assert body is not None
    return body


def test_expanded_email_shows_people_date_and_loads_remote_images_only_once_asked(
    qtbot, db: Database, tmp_path: Path
) -> None:
    from app.ingest import import_items
    from app.records import EventRecord, Participant
    from tests.test_ui_models import SHOP, _at

    server = _ImageServer(_png(120, 60))
    secret = tmp_path / "secret.png"
    secret.write_bytes(_png(300, 300))
    remote = f"http://127.0.0.1:{server.port}/pic.png"
    html = (
        "<p>Hello, here is the <b>periwinkle</b> ribbon:</p>"
        f"<img src='{remote}' alt='ribbon'>"
        f"<img src='file://{secret}'><img src='{secret}'><img src='secret.png'>"
        "<p>Thanks, Ada</p>"
    )
    record = EventRecord(
        channel="email",
        source="email",
        external_id="r1@ada",
        occurred_at=_at(1, 14, 30),
        title="Ribbon photo",
        text="Hello, here is the periwinkle ribbon:\n\nThanks, Ada",
        thread_key="ribbon-photo",
        participants=(
            Participant("from", "Ada Lovelace", email="ada@example.org"),
            Participant("to", "", email=SHOP),
            Participant("cc", "Charles Babbage", email="charles@example.org"),
        ),
        details={"html": html},
        locator="m.mbox:r1",
    )
    import_items(db, lambda: [record], label="m.mbox", format="test")
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.customer_model.loaded_query == "", timeout=WAIT)
        body = _open_email(qtbot, w, "Ada Lovelace", "Ribbon photo")
        headers = body.headers.text()
        assert "From:" in headers and "Ada Lovelace &lt;ada@example.org&gt;" in headers
        assert "To:" in headers and SHOP in headers
        assert "Cc:" in headers and "Charles Babbage" in headers
        assert "Date:" in headers
        assert body.remote_note.isVisible() and body.show_images.isVisible()
        assert "blocked" in body.remote_note.text()
        assert server.asked == []  # nothing fetched before the click
        _settle(qtbot, w, body)
        shot(w.timeline, "email_blocked.png")
        with qtbot.waitSignal(body.images_loaded, timeout=WAIT):
            body.show_images.click()
        assert server.asked == ["/pic.png"]  # only the http image, once
        assert list(body.browser.remote) == [remote]
        doc_html = body.browser.document().toHtml()
        assert "pic.png" in doc_html
        # the local images are still refused (never read from disk)
        assert any(str(secret) in r for r in body.browser.refused)
        assert any(r.endswith("secret.png") and "127.0.0.1" not in r for r in body.browser.refused)
        assert not body.remote_note.isVisible()
        _settle(qtbot, w, body)
        shot(w.timeline, "email_images_shown.png")
    finally:
        server.close()
        workers.manager().wait_for_done()


def test_search_matches_are_highlighted_in_html_mail_and_long_mail_is_collapsed(
    qtbot, db: Database
) -> None:
    from app.ingest import import_items
    from app.records import EventRecord, Participant
    from tests.test_ui_models import SHOP, _at
    from ui.email_view import MAX_LINES

    paragraphs = "".join(f"<p>Paragraph {i} about the order.</p>" for i in range(150))
    html = f"<p>The <i>periwinkle</i> ribbon arrived.</p>{paragraphs}<p>Last line</p>"
    record = EventRecord(
        channel="email",
        source="email",
        external_id="long@ada",
        occurred_at=_at(1, 10, 0),
        title="Long letter",
        text="The periwinkle ribbon arrived.\n" + "\n".join(f"Paragraph {i}" for i in range(150)),
        thread_key="long",
        participants=(
            Participant("from", "Ada Lovelace", email="ada@example.org"),
            Participant("to", "", email=SHOP),
        ),
        details={"html": html},
        locator="m.mbox:long",
    )
    import_items(db, lambda: [record], label="m.mbox", format="test")
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitUntil(lambda: w.customer_model.loaded_query == "", timeout=WAIT)
    m = w.customer_model
    row = next(i for i in range(m.rowCount()) if m.row(i).name == "Ada Lovelace")
    with qtbot.waitSignal(w.customer_opened, timeout=WAIT):
        w.customers.select_row(row)
    with qtbot.waitSignal(w.timeline_model.loaded, timeout=WAIT):
        qtbot.keyClicks(w.timeline.search, "periwinkle")
    tm = w.timeline_model
    row = tm.event_rows()[0]
    w.timeline.view.setCurrentIndex(tm.index(row, 0))
    w.timeline.view.setFocus()
    qtbot.keyClick(w.timeline.view, "\r")
    body = w.timeline.email_view(row)
    assert body is not None
    assert body.matches == 1
    marks = body.browser.extraSelections()
    assert marks[0].cursor.selectedText() == "periwinkle"
    # long: collapsed to MAX_LINES with "Show more"
    cap = body.fontMetrics().lineSpacing() * MAX_LINES
    width = w.timeline.view.viewport().width()
    body.height_for(width)
    assert body.more.isVisible() and body.more.text() == "Show more"
    assert body.browser.height() == cap
    _settle(qtbot, w, body)
    shot(w.timeline, "email_long_collapsed.png")
    body.more.click()
    body.height_for(width)
    assert body.browser.height() > cap * 3
    assert body.more.text() == "Show less"
    workers.manager().wait_for_done()


# --- names and numbers on screen ---------------------------------------------------------


def test_no_raw_identifiers_on_screen_and_one_phone_format(
    qtbot, db: Database, tmp_path: Path
) -> None:
    from PySide6.QtWidgets import QLabel

    from app import settings
    from app.ingest import import_paths
    from ui import formatting as fmt
    from ui.models import TimelineEntry

    with db.session() as session:
        settings.set_value(session, "region", "GB")
    tom = tmp_path / "WhatsApp Chat with Tom Okafor.txt"
    tom.write_text(
        "10/03/2026, 08:41 - Messages and calls are end-to-end encrypted. No one outside of "
        "this chat, not even WhatsApp, can read or listen to them. Tap to learn more.\n"
        "10/03/2026, 08:41 - Tom Okafor: Morning, are you open on Sunday?\n"
        "10/03/2026, 08:45 - Bloom: Yes, 10 till 4\n",
        encoding="utf-8",
    )
    number = tmp_path / "WhatsApp Chat with +44 7700 900456.txt"
    number.write_text(
        "11/03/2026, 09:00 - +44 7700 900456: Hi, do you deliver to Leeds?\n"
        "11/03/2026, 09:05 - Bloom: We do!\n",
        encoding="utf-8",
    )
    reports = import_paths(db, [tom, number])
    assert all(r.status == "done" for r in reports)
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitUntil(lambda: w.customer_model.loaded_query == "", timeout=WAIT)
    rows = {
        w.customer_model.row(i).name: w.customer_model.row(i)
        for i in range(w.customer_model.rowCount())
    }
    assert "Tom Okafor" in rows
    assert fmt.best_contact(rows["Tom Okafor"]) == "Tom Okafor on WhatsApp"
    phone_row = next(r for r in rows.values() if r.phones)
    assert fmt.best_contact(phone_row) == "+44 7700 900456"
    assert fmt.phone("+4915123456789") == "+49 1512 3456789"
    assert fmt.phone("+14155550123") == "+1 415-555-0123"
    with qtbot.waitSignal(w.customer_opened, timeout=WAIT):
        w.customers.select_row(list(rows).index("Tom Okafor"))
    qtbot.waitUntil(lambda: w.timeline_model.customer_id == rows["Tom Okafor"].id, timeout=WAIT)
    tm = w.timeline_model
    texts = [
        tm.item(r).event.text for r in tm.event_rows() if isinstance(tm.item(r), TimelineEntry)
    ]
    assert texts and not any("encrypted" in t for t in texts)  # not an event of Tom's
    on_screen = [lbl.text() for lbl in w.findChildren(QLabel) if lbl.isVisible()]
    on_screen.append(w.customer_model.data(w.customer_model.index(0, 0), 3) or "")
    assert not any("whatsapp:" in t for t in on_screen)
    assert "Tom Okafor on WhatsApp" in w.timeline.identities_label.text()
    shot(w, "names_tom.png")
    workers.manager().wait_for_done()


# --- small windows and 150 % scaling ----------------------------------------------------


def test_at_800_by_600_the_profile_stays_readable(qtbot, window: MainWindow) -> None:
    window.resize(800, 600)
    m = window.customer_model
    row = next(i for i in range(m.rowCount()) if m.row(i).name == "Jane Doe")
    with qtbot.waitSignal(window.customer_opened, timeout=WAIT):
        window.customers.select_row(row)
    qtbot.waitUntil(lambda: window.profile.customer is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: window.splitter.sizes()[2] > 0, timeout=WAIT)
    em = window.fontMetrics().horizontalAdvance("M")
    left, middle, right = window.splitter.sizes()
    assert left + middle + right <= 800
    assert right >= em * 20  # the profile keeps room for "First contact  10 Mar 2026, 08:41"
    assert middle >= em * 30
    assert not window.profile.horizontalScrollBar().isVisible()
    body = window.profile.body
    qtbot.waitUntil(lambda: body.height() >= body.minimumSizeHint().height(), timeout=WAIT)
    labels = sorted(window.profile.values.values(), key=lambda lbl: lbl.y())
    for above, below in itertools.pairwise(labels):  # rows never overlap
        assert above.geometry().bottom() < below.geometry().top()
    for label in labels:  # and each figure is shown whole
        assert label.width() >= label.fontMetrics().horizontalAdvance(label.text())
    shot(window, "window_800x600.png")


def test_at_150_percent_scaling_the_default_window_fits_the_screen(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    screens = tmp_path / "screens.json"  # a 1920 × 1080 laptop screen
    screens.write_text(
        json.dumps(
            {
                "screens": [
                    {
                        "name": "laptop",
                        "x": 0,
                        "y": 0,
                        "width": 1920,
                        "height": 1080,
                        "logicalDpi": 96,
                        "logicalBaseDpi": 96,
                        "dpr": 1,
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    script = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication(sys.argv)\n"
        "from app.db import open_database\n"
        "from ui.main_window import MainWindow\n"
        f"w = MainWindow(open_database({str(tmp_path / 'x.db')!r}))\n"
        "room = w.screen().availableGeometry()\n"
        "print(room.width(), room.height(), w.width(), w.height(), "
        "w.minimumSizeHint().width(), w.minimumSizeHint().height())\n"
    )
    env = dict(os.environ, QT_SCALE_FACTOR="1.5", QT_QPA_PLATFORM=f"offscreen:configfile={screens}")
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    room_w, room_h, width, height, min_w, min_h = map(int, done.stdout.split()[-6:])
    assert (room_w, room_h) == (1280, 720)  # 1920 × 1080 at 150 %
    assert width <= room_w and height <= room_h - 20  # room left for the title bar
    assert min_w <= room_w and min_h <= room_h
