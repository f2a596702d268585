"""Telegram Desktop's HTML chat export (the exporter's default): a chat folder of
``messages.html`` pages beside its photos, styles and scripts."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.db import Database
from app.errors import UnrecognisedFormat
from app.ingest import import_paths
from app.records import EventRecord, OwnerHint, ParseOptions, Problem
from connectors import registry
from connectors.telegram_html import TelegramHtmlConnector

EXPORT = Path(__file__).parent / "fixtures" / "chat" / "telegram_html" / "ChatExport_2024-03-20"
LONDON = ZoneInfo("Europe/London")


def _items(path: Path) -> list[object]:
    return list(TelegramHtmlConnector().parse(path, ParseOptions(tz=LONDON)))


def test_a_chat_folder_reads_page_after_page() -> None:
    assert registry.detect(EXPORT).name == "telegram_html"
    items = _items(EXPORT)
    assert items[0] == OwnerHint("name", "Bob’s Bakery")  # the chat is named after Alice
    records = [i for i in items if isinstance(i, EventRecord)]
    assert [(r.external_id, r.text) for r in records] == [
        (
            "html:Alice Smith:101",
            "Hi! Is the blue teapot still available?\nAnd the cups & saucers? 🫖",
        ),
        ("html:Alice Smith:102", "(photo)"),
        ("html:Alice Smith:103", "Yes it is: £24 plus shipping."),
        ("html:Alice Smith:104", "Bob’s Bakery pinned «Yes it is: £24 plus shipping.»"),
        ("html:Alice Smith:105", "Loved my teapot from Bob’s!"),
        ("html:Alice Smith:106", "(audio)"),
        ("html:Alice Smith:107", "Paid, thanks!"),
    ]
    by_id = {r.external_id.rsplit(":", 1)[1]: r for r in records}
    assert by_id["101"].occurred_at == datetime(2024, 3, 14, 9, 16, 2, tzinfo=UTC)
    assert [p.name for p in by_id["102"].participants if p.role == "author"] == ["Alice Smith"]
    assert by_id["102"].details["media"] == [
        {"kind": "photo", "uri": "photos/photo_1@14-03-2024_09-16-40.jpg"}
    ]
    assert by_id["103"].details == {"reply_to": "101"}
    assert [p.name for p in by_id["103"].participants if p.role == "author"] == ["Bob’s Bakery"]
    assert by_id["104"].direction == "system"  # at the time of the message before it
    assert by_id["104"].occurred_at == by_id["103"].occurred_at
    assert by_id["105"].details == {"forwarded_from": "Carol Jones"}
    # The first message of the second page is joined to the last of the first: Alice's.
    assert [p.name for p in by_id["106"].participants if p.role == "author"] == ["Alice Smith"]
    assert by_id["106"].details["media"] == [
        {
            "kind": "audio",
            "title": "Voice message",
            "status": "Not included, change data exporting settings to download. · 0:07, 12.4 KB",
        }
    ]
    # An older export's time without an offset is read in the chosen zone (GMT in March).
    assert by_id["107"].occurred_at == datetime(2024, 3, 15, 10, 0, tzinfo=LONDON)
    assert [i for i in items if isinstance(i, Problem)] == [
        Problem("messages2.html:118", "no usable date ('not a date')")
    ]
    assert {r.thread_key for r in records} == {"telegram:html:Alice Smith"}


def test_one_page_alone_and_a_page_that_is_not_telegrams(tmp_path: Path) -> None:
    page = EXPORT / "messages2.html"
    assert registry.detect(page).name == "telegram_html"
    items = _items(page)
    # Alone, its first message (joined to one on the page before) has no sender.
    assert (
        Problem("messages2.html:38", "no sender (joined to a message of an earlier page)") in items
    )
    other = tmp_path / "messages.html"
    other.write_text("<html><body><div class='message'>hi</div></body></html>", encoding="utf-8")
    with pytest.raises(UnrecognisedFormat):
        registry.detect(other)
    assert TelegramHtmlConnector().sniff(tmp_path, b"") == 0.0


def test_a_folder_holding_the_export_imports_it_once_with_nothing_left_over(
    db: Database, tmp_path: Path
) -> None:
    downloads = tmp_path / "Downloads" / "Telegram Desktop"
    shutil.copytree(EXPORT, downloads / EXPORT.name)
    reports = import_paths(db, [tmp_path / "Downloads"])
    assert [(Path(r.path).name, r.format, r.status, r.added) for r in reports] == [
        (EXPORT.name, "telegram_html", "done", 7)  # its photos, styles and scripts: its own
    ]
    again = import_paths(db, [downloads / EXPORT.name])
    assert (again[0].added, again[0].duplicates) == (0, 7)


def test_replies_across_pages_and_a_forwarded_messages_own_reply(tmp_path: Path) -> None:
    # A reply to a message on another page links by href alone; a forwarded message's
    # reply names a message of the chat it came from, not this chat's.
    def message(number: int, inner: str, sender: str = "Bob") -> str:
        return (
            f'<div class="message default clearfix" id="message{number}"><div class="body">'
            f'<div class="pull_right date details" title="08.12.2020 03:4{number}:00 UTC+03:00">'
            f'03:4{number}</div><div class="from_name">{sender}</div>{inner}</div></div>'
        )

    page = tmp_path / "messages3.html"
    page.write_text(
        '<html><body><div class="page_wrap"><div class="page_header"><div class="content">'
        '<div class="text bold">Bob</div></div></div><div class="history">'
        + message(
            1,
            '<div class="reply_to details">In reply to <a href="messages2.html#go_to_message999">'
            'this message</a></div><div class="text">about that order</div>',
        )
        + message(
            2,
            '<div class="forwarded body"><div class="from_name">Shop News <span class="date '
            'details" title="07.12.2020 10:00:00 UTC+03:00"> 07.12.2020 10:00:00</span></div>'
            '<div class="reply_to details">In reply to <a href="#go_to_message555" '
            'onclick="return GoToMessage(555)">this message</a></div>'
            '<div class="media_wrap clearfix"><div class="media clearfix pull_left media_video">'
            '<div class="body"><div class="title bold">Video file</div><div class="description">'
            "Not included, change data exporting settings to download.</div>"
            '<div class="status details">01:00, 21.4 MB</div></div></div></div>'
            '<div class="text">our new teapots</div></div>',
            sender="Alice",
        )
        + "</div></div></body></html>",
        encoding="utf-8",
    )
    records = [i for i in _items(page) if isinstance(i, EventRecord)]
    assert [(r.text, r.details.get("reply_to")) for r in records] == [
        ("about that order", "999"),
        ("our new teapots", None),
    ]
    forwarded = records[1]
    assert forwarded.details["forwarded_from"] == "Shop News"
    assert [p.name for p in forwarded.participants if p.role == "author"] == ["Alice"]
    assert forwarded.details["media"] == [
        {
            "kind": "video",
            "title": "Video file",
            "status": "Not included, change data exporting settings to download. · 01:00, 21.4 MB",
        }
    ]
    assert forwarded.occurred_at == datetime(2020, 12, 8, 0, 42, tzinfo=UTC)
