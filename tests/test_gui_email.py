"""Email in the timeline: threads read as threads, and HTML mail shown safely.

An HTML email expands into its own ``SafeTextBrowser``: the sanitised HTML is
shown, "Show plain text" swaps in the text, attachments are listed, and no
remote resource is ever loaded (the browser's ``loadResource`` refuses every
http/https URL). Consecutive messages of one thread are grouped. The timeline
model with threads still passes ``qtmodeltester``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QImage, QTextDocument
from PySide6.QtWidgets import QApplication

from app import queries
from app.db import Database
from app.ingest import import_items
from app.records import EventRecord, Participant
from tests.test_ui_models import NOW, SHOP, _at, mail, seed
from ui import workers
from ui.email_view import EmailBodyView, SafeTextBrowser
from ui.main_window import MainWindow
from ui.models import ThreadRole, TimelineEntry, TimelineModel
from ui.timeline_delegate import event_html

WAIT = 10000
TRACKER = "https://tracker.example/pixel.gif?u=jane"
HTML = (
    "<p>Dear Bloom,</p><p>Here is <b>the colour</b> I meant:</p>"
    f"<img src='{TRACKER}' alt=''><p><a href='https://shop.example/p/1'>periwinkle</a></p>"
)


def html_mail() -> EventRecord:
    return EventRecord(
        channel="email",
        source="email",
        external_id="h1@jane",
        occurred_at=_at(0, 9, 5),
        title="Ribbon colour",
        text="Dear Bloom,\n\nHere is the colour I meant: periwinkle",
        thread_key="ribbon-colour",
        participants=(
            Participant("from", "Jane Doe", email="jane.doe@gmail.com"),
            Participant("to", "", email=SHOP),
        ),
        details={
            "html": HTML,
            "attachments": [
                {"name": "swatch.jpg", "type": "image/jpeg", "size": 48213},
                {"name": "invoice.pdf", "type": "application/pdf", "size": 1200},
            ],
        },
        locator="mail.mbox:h1",
    )


@pytest.fixture
def window(qtbot, db: Database) -> Iterator[MainWindow]:
    seed(db)
    thread = [
        mail(
            f"t{i}@jane",
            "Jane Doe",
            "jane.doe@gmail.com",
            SHOP,
            "Re: Delivery date" if i else "Delivery date",
            f"Thread message {i}",
            _at(3, 8 + i, 0),
        )
        for i in range(3)
    ]
    import_items(db, lambda: [html_mail(), *thread], label="more.mbox", format="test")
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitUntil(lambda: w.customer_model.loaded_query == "", timeout=WAIT)
    yield w
    workers.manager().wait_for_done()
    qtbot.waitUntil(lambda: workers.manager().active == 0, timeout=WAIT)


def open_jane(qtbot, w: MainWindow) -> None:
    m = w.customer_model
    row = next(i for i in range(m.rowCount()) if m.row(i).name == "Jane Doe")
    with qtbot.waitSignal(w.customer_opened, timeout=WAIT):
        w.customers.select_row(row)


def row_titled(w: MainWindow, title: str) -> int:
    m = w.timeline_model
    for r in m.event_rows():
        item = m.item(r)
        if isinstance(item, TimelineEntry) and item.event.title == title:
            return r
    raise AssertionError(f"no event titled {title!r}")


def expanded(qtbot, w: MainWindow, title: str) -> tuple[int, EmailBodyView]:
    """Open the email titled ``title`` of the customer shown (Enter on its row): its row and
    its expanded view."""
    row = row_titled(w, title)
    w.timeline.view.setCurrentIndex(w.timeline_model.index(row, 0))
    w.timeline.view.setFocus()
    qtbot.keyClick(w.timeline.view, "\r")
    body = w.timeline.email_view(row)
    assert isinstance(body, EmailBodyView)
    return row, body


def test_html_email_shows_sanitised_html_and_loads_nothing_remote(
    qtbot, window: MainWindow
) -> None:
    open_jane(qtbot, window)
    row, body = expanded(qtbot, window, "Ribbon colour")
    index = window.timeline_model.index(row, 0)
    browser = body.browser
    assert isinstance(browser, SafeTextBrowser)
    assert "the colour" in browser.toPlainText()
    assert "<b>" not in browser.toPlainText()
    assert browser.document().toHtml().count("font-weight") >= 1  # formatted, not escaped
    assert TRACKER in browser.refused  # the tracking pixel was asked for and refused
    # refused with a blank image: returning nothing would make Qt open the URL as a file path
    blank = browser.loadResource(QTextDocument.ResourceType.ImageResource, QUrl(TRACKER))
    assert isinstance(blank, QImage) and blank.size() == QSize(1, 1)
    assert not browser.openExternalLinks() and not browser.openLinks()
    assert "swatch.jpg · image/jpeg · 47 KB" in body.attachments.text()
    assert "invoice.pdf" in body.attachments.text()
    # the row grew to hold the view, and the view sits over the row
    rect = window.timeline.view.visualRect(index)
    assert rect.height() >= body.height_for(window.timeline.view.viewport().width()) - 2
    # plain text toggle
    body.toggle.click()
    assert browser.toPlainText().startswith("Dear Bloom,\n\nHere is the colour")
    assert body.toggle.text() == "Show formatted"
    body.toggle.click()
    assert "periwinkle" in browser.toPlainText()
    # collapsing removes the view
    qtbot.keyClick(window.timeline.view, "\r")
    assert window.timeline.email_view(row) is None


def test_data_urls_load_and_relative_ones_do_not(qtbot) -> None:
    browser = SafeTextBrowser()
    qtbot.addWidget(browser)
    pixel = "data:image/gif;base64,R0lGODlhAQABAAAAACw="
    browser.setHtml(f"<img src='{pixel}'><img src='local.png'><img src='http://x.example/a'>")
    browser.document().setTextWidth(400)
    assert browser.document().size().height() > 0  # laid out: the images were asked for
    assert "local.png" in browser.refused and "http://x.example/a" in browser.refused
    assert pixel not in browser.refused


def test_plain_email_lists_attachments_in_place(qtbot, db: Database) -> None:
    record = html_mail()
    import_items(db, lambda: [record], label="x.mbox", format="test")
    with db.session() as session:
        hit = queries.list_customers(session, "jane")[0]
        event = queries.timeline(session, hit.id)[0]
    text = event_html(event, (), QApplication.palette())
    assert "2 attachments" in text and "invoice.pdf · application/pdf · 1.2 KB" in text


def test_a_thread_groups(qtbot, window: MainWindow) -> None:
    open_jane(qtbot, window)
    m = window.timeline_model
    newest = row_titled(window, "Re: Delivery date")
    threads = [m.data(m.index(r, 0), ThreadRole) for r in m.event_rows()]
    assert threads.count((0, 3)) == 1
    assert (1, 3) in threads and (2, 3) in threads
    assert m.data(m.index(newest, 0), ThreadRole) == (0, 3)
    text = m.data(m.index(newest, 0), Qt.ItemDataRole.AccessibleTextRole)
    assert "3 messages in this thread" in text
    # the seeded question and its reply (same thread key) form a thread of two
    assert threads.count((0, 2)) == 1


def test_thread_model_passes_the_model_tester(qtbot, qtmodeltester, db: Database) -> None:
    seed(db)
    items = [
        mail(
            f"x{i}@jane",
            "Jane Doe",
            "jane.doe@gmail.com",
            SHOP,
            "Long thread",
            f"Reply {i}",
            _at(10, 0, i),
        )
        for i in range(7)
    ]
    import_items(db, lambda: items, label="long.mbox", format="test")
    with db.session() as session:
        jane = queries.list_customers(session, "jane")[0].id
    model = TimelineModel(db, page_size=4)
    model.load(jane, background=False)
    qtmodeltester.check(model)
    while model.canFetchMore(model.index(0, 0).parent()):
        model.fetchMore(model.index(0, 0).parent())
    qtmodeltester.check(model)
    sizes = [model.thread_of(r) for r in model.event_rows()]
    assert (0, 7) in sizes and (6, 7) in sizes


def test_a_message_forwarded_as_an_attachment_reads_below_the_message(
    qtbot, window: MainWindow, db: Database, tmp_path
) -> None:
    """Jane forwards, as an attachment, the mail her partner had from the courier: the
    expanded message shows hers, then the attached one below a "Forwarded message" line
    with its sender, date and subject, formatted as it was."""
    from connectors import mail as mail_reader

    raw = (
        b"From: Jane Doe <jane.doe@gmail.com>\r\nTo: " + SHOP.encode() + b"\r\n"
        b"Subject: Fwd: Missed delivery\r\nDate: Wed, 5 Jun 2024 09:30:00 +0000\r\n"
        b"Message-ID: <fwd1@jane>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="m"\r\n'
        b"\r\n--m\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Is this <b>our</b> parcel?</p>\r\n"
        b"--m\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
        b"From: Courier <noreply@courier.example>\r\nTo: Tom Doe <tom@example.com>\r\n"
        b"Subject: We missed you\r\nDate: Tue, 4 Jun 2024 17:02:00 +0000\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Parcel <i>QX-4471</i> is waiting at the depot.</p>\r\n--m--\r\n"
    )
    record = mail_reader.parse_message(raw, "fwd.eml")
    import_items(db, lambda: [record], label="fwd.eml", format="test")
    open_jane(qtbot, window)
    qtbot.waitUntil(lambda: _has_title(window, "Fwd: Missed delivery"), timeout=WAIT)
    _row, body = expanded(qtbot, window, "Fwd: Missed delivery")
    shown = body.browser.toPlainText()
    assert shown.index("Is this our parcel?") < shown.index("Forwarded message")
    assert "From: Courier <noreply@courier.example>" in shown
    assert "Parcel QX-4471 is waiting at the depot." in shown
    assert body.browser.document().toHtml().count("font-style:italic") >= 1
    assert "We missed you · message/rfc822" in body.attachments.text()
    assert window.grab().save(str(tmp_path / "forwarded.png"))


def _has_title(w: MainWindow, title: str) -> bool:
    try:
        row_titled(w, title)
    except AssertionError:
        return False
    return True
