"""Tests for the chat connectors: Meta (Messenger, Instagram), Telegram, Slack, Zendesk, chat CSV.

Built on the real samples copied into ``fixtures/chat`` and on hand-made fixtures of the same
shapes (see that folder's README), plus WhatsApp ``.zip`` exports assembled from the WhatsApp
fixtures.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.db import Database
from app.errors import FormatError
from app.ingest import import_file, import_paths
from app.models import Event
from app.records import EventRecord, Item, Notice, OwnerHint, ParseOptions, Problem
from connectors import registry
from connectors.base import Connector
from connectors.chat_common import fix_mojibake, load_json
from connectors.chat_csv import ChatCsvConnector, guess_columns
from connectors.meta_dyi import InstagramConnector, MessengerConnector
from connectors.slack import SlackConnector
from connectors.telegram import TelegramConnector, flatten_text
from connectors.whatsapp import WhatsAppConnector
from connectors.zendesk import ZendeskConnector

HERE = Path(__file__).parent / "fixtures"
CHAT = HERE / "chat"
LONDON = ZoneInfo("Europe/London")
THREAD = CHAT / "messages" / "inbox" / "alicesmith_1234567890" / "message_1.json"
ACCOUNT = CHAT / "telegram_shop_account.json"
SLACK = CHAT / "slack_export"


def parse(connector: Connector, path: Path, **options: Any) -> list[Item]:
    options.setdefault("tz", LONDON)
    return list(connector.parse(path, ParseOptions(**options)))


def events(items: Sequence[Item]) -> list[EventRecord]:
    return [i for i in items if isinstance(i, EventRecord)]


def problems(items: Sequence[Item]) -> list[Problem]:
    return [i for i in items if isinstance(i, Problem)]


def notices(items: Sequence[Item]) -> list[str]:
    return [i.message for i in items if isinstance(i, Notice)]


def people(record: EventRecord) -> list[tuple[str, str]]:
    return [(p.role, p.name) for p in record.participants]


def sniff(connector: Connector, path: Path) -> float:
    head = b"" if path.is_dir() else path.read_bytes()[: registry.SNIFF_BYTES]
    return connector.sniff(path, head)


def zip_folder(folder: Path, target: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(folder).as_posix())
    return target


# --- shared helpers ---------------------------------------------------------------------------


def test_fix_mojibake_recursively() -> None:
    raw = {"a": ["\u00e2\u009d\u00a4\u00ef\u00b8\u008f"], "b\u00e2\u0080\u0099": "so\u00f1\u00e9"}
    assert fix_mojibake(raw) == {"a": ["❤️"], "b’": "soñé"}
    assert fix_mojibake([1, None, True, "plain"]) == [1, None, True, "plain"]


def test_load_json_repairs_x_escapes_only_outside_escaped_backslashes() -> None:
    assert load_json(b'{"t": "a\\x0Bb"}', "f") == {"t": "a\x0bb"}
    assert load_json(b'{"t": "C:\\\\x1F"}', "f") == {"t": "C:\\x1F"}
    assert load_json(b'\xef\xbb\xbf{"t": 1}', "f") == {"t": 1}
    with pytest.raises(FormatError, match=r"^f: not valid JSON \(.*near byte 6\)$"):
        load_json(b'{"t": ', "f")


# --- Meta: Messenger and Instagram --------------------------------------------------------------

INSTAGRAM = CHAT / "instagram_message_1_mojibake.json"


def test_instagram_sample_mojibake_fixed() -> None:
    items = parse(InstagramConnector(), INSTAGRAM)
    recs = events(items)
    assert len(recs) == 13 and not problems(items)
    assert not [i for i in items if isinstance(i, OwnerHint)]  # a group thread
    assert [r.occurred_at for r in recs] == sorted(r.occurred_at for r in recs)
    assert {r.source for r in recs} == {"instagram"}
    assert {r.title for r in recs} == {"Test Log"}
    assert {r.thread_key for r in recs} == {"instagram:inbox/testlog_2765720812686121"}
    texts = {r.text for r in recs}
    assert "Testing message with emoji: ❤️" in texts
    assert "Testing username with emoji: J❤️hn Doe" in texts
    reacted = next(r for r in recs if r.text == "Testing message with reactions.")
    assert reacted.details["reactions"] == [
        {"reaction": "❤️", "actor": "J❤️hn Doe"},
        {"reaction": "💖", "actor": "Jane Doe"},
    ]
    assert reacted.occurred_at == datetime(2017, 7, 6, 19, 25, tzinfo=UTC)
    emoji_only = next(r for r in recs if r.text.startswith("Testing username only"))
    assert people(emoji_only)[0] == ("author", "❤️")
    # Every member of the group (and every other sender) is on every message.
    assert {p.name for p in reacted.participants} == {
        "John Doe",
        "J❤️hn Doe",
        "Jane Doe",
        "Lionel Messi",
        "❤️",
    }
    share = next(r for r in recs if "share" in r.details)
    assert "Tantas veces lo soñé" in share.details["share"]["share_text"]  # proper text kept
    joined = next(r for r in recs if r.text == "Jane Doe joined the group.")
    assert joined.direction == "system" and joined.details["users"] == ["Jane Doe"]
    photo = next(r for r in recs if r.text == "(photo)")
    assert photo.details["media"][0]["uri"].endswith("_n_5409190972533416.jpg")
    assert photo.details["media"][0]["created_at"] == "2017-07-16T19:13:00+00:00"
    assert {r.text for r in recs} >= {"(video)", "(audio)"}


def test_messenger_minimal_sample() -> None:
    path = CHAT / "messenger_message_1_minimal.json"
    recs = events(parse(MessengerConnector(), path))
    assert [r.text for r in recs] == ["Hello Allan", "Hello John"]
    assert {r.source for r in recs} == {"messenger"}
    assert recs[0].occurred_at == datetime(2022, 11, 16, 19, 50, 3, 612000, tzinfo=UTC)
    assert recs[0].title == "Allan Smith, John Doe"  # no title: the senders
    assert people(recs[1]) == [("author", "Allan Smith"), ("member", "John Doe")]


def test_meta_sniff() -> None:
    messenger, instagram = MessengerConnector(), InstagramConnector()
    assert sniff(instagram, INSTAGRAM) == 0.9 and sniff(messenger, INSTAGRAM) == 0.85
    assert sniff(messenger, THREAD) == 0.85 and sniff(instagram, THREAD) == 0.0
    assert sniff(messenger, ACCOUNT) == 0.0
    head = THREAD.read_bytes()
    ig_path = Path("your_instagram_activity/messages/inbox/alice_1/message_1.json")
    assert instagram.sniff(ig_path, head) == 0.9
    assert messenger.sniff(THREAD, b"") == 0.0


def test_a_thread_file_copied_out_of_its_export_keeps_its_platform(tmp_path: Path) -> None:
    # A user copies the real sample out of its export as message_1.json: only its own
    # top-level keys (joinable_mode among them) say which platform wrote it.
    copy = tmp_path / "message_1.json"
    shutil.copyfile(INSTAGRAM, copy)
    assert registry.detect(copy).name == "instagram"
    assert {r.source for r in events(parse(registry.detect(copy), copy))} == {"instagram"}


def _long_thread(path: Path, *, instagram: bool, geo: bool) -> Path:
    """A thread file longer than the sniffed head, top-level keys after the messages."""
    messages = [
        {
            "sender_name": "Alice Example" if n % 2 else "Bob\u00e2\u0080\u0099s Bakery",
            "timestamp_ms": 1_600_000_000_000 - n * 60_000,
            "content": f"message number {n} about the lemon cake order",
            **({"is_geoblocked_for_viewer": False} if geo else {}),
        }
        for n in range(1500)
    ]
    thread: dict[str, Any] = {
        "participants": [{"name": "Alice Example"}, {"name": "Bob"}],
        "messages": messages,
        "title": "Alice Example",
        "is_still_participant": True,
        "thread_path": "inbox/aliceexample_123",
        "magic_words": [],
    }
    if instagram:
        thread["joinable_mode"] = {"mode": 1, "link": ""}
    path.write_text(json.dumps(thread, indent=2), encoding="utf-8")
    assert path.stat().st_size > registry.SNIFF_BYTES  # the top-level keys lie past the head
    return path


@pytest.mark.parametrize("geo", [False, True])
def test_a_long_thread_is_told_apart_by_its_top_level_keys(tmp_path: Path, geo: bool) -> None:
    # Newer Messenger messages carry no "type"; some carry is_geoblocked_for_viewer too.
    # Whatever the messages hold, joinable_mode (Instagram's only) decides at the file's end.
    (tmp_path / "m").mkdir()
    (tmp_path / "i").mkdir()
    messenger = _long_thread(tmp_path / "m" / "message_1.json", instagram=False, geo=geo)
    instagram = _long_thread(tmp_path / "i" / "message_1.json", instagram=True, geo=geo)
    assert registry.detect(messenger).name == "messenger"
    assert registry.detect(instagram).name == "instagram"


def test_messenger_one_to_one_thread() -> None:
    items = parse(MessengerConnector(), THREAD)
    assert items[0] == OwnerHint("name", "Bob’s Bakery")
    assert problems(items) == [
        Problem(f"{THREAD.name}:messages[5]", "no usable timestamp_ms (None)")
    ]
    recs = events(items)
    assert len(recs) == 8
    assert recs[0].text == "Hi, do you have the lemon cake? Café-style, naïve question"
    assert recs[0].locator == f"{THREAD.name}:messages[8]"
    assert recs[-1].text == "You’re welcome! ❤️"
    # The owner's message carries the customer as a member, so it reaches her timeline.
    assert people(recs[-1]) == [("author", "Bob’s Bakery"), ("member", "Alice Smith")]
    assert recs[-2].details["reactions"] == [{"reaction": "❤️", "actor": "Bob’s Bakery"}]
    ok1, ok2 = recs[1], recs[2]
    assert ok1.text == ok2.text == "ok" and ok1.occurred_at == ok2.occurred_at
    assert ok1.external_id.endswith(":1") and ok2.external_id.endswith(":2")
    call = next(r for r in recs if r.details.get("type") == "Call")
    assert call.details["call_duration"] == 65
    share = next(r for r in recs if r.details.get("type") == "Share")
    assert share.details["share"] == {"link": "https://example.com/cakes/lemon"}
    photo = next(r for r in recs if "media" in r.details)
    assert photo.text == "(photo)"
    assert photo.details["media"] == [
        {
            "kind": "photo",
            "uri": "messages/inbox/alicesmith_1234567890/photos/431907_n_1710497220.jpg",
            "created_at": "2024-03-15T10:07:00+00:00",
        }
    ]
    assert {r.thread_key for r in recs} == {"messenger:inbox/alicesmith_1234567890"}


def test_messenger_owner_names_suppress_hint() -> None:
    items = parse(MessengerConnector(), THREAD, owner_names=("Bob’s Bakery",))
    assert not [i for i in items if isinstance(i, OwnerHint)]


def test_messenger_longer_export_keeps_ids(tmp_path: Path) -> None:
    data = json.loads(THREAD.read_text(encoding="utf-8"))
    newer = [
        {"sender_name": "Alice Smith", "timestamp_ms": 1710600000000, "content": "ok"},
        {"sender_name": "Alice Smith", "timestamp_ms": 1710500000000, "content": "ok"},
    ]
    data["messages"] = newer + data["messages"]
    longer = tmp_path / "alicesmith_1234567890" / "message_1.json"
    longer.parent.mkdir()
    longer.write_text(json.dumps(data), encoding="utf-8")
    old = [r.external_id for r in events(parse(MessengerConnector(), THREAD))]
    new = [r.external_id for r in events(parse(MessengerConnector(), longer))]
    assert new[: len(old)] == old and len(set(new)) == len(new) == len(old) + 2


def test_meta_not_the_format(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="not a Meta messages file"):
        parse(MessengerConnector(), CHAT / "telegram_result_single_chat.json")
    bad = tmp_path / "message_1.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(FormatError, match='no "messages" list'):
        parse(InstagramConnector(), bad)


E2EE = CHAT / "messenger_e2ee" / "Alice Smith_40.json"


def test_messenger_end_to_end_encrypted_chats_export() -> None:
    # Messenger's download of its end-to-end encrypted chats: camelCase keys, names as plain
    # strings, proper UTF-8, one list of media. Read as the DYI's threads are.
    assert registry.detect(E2EE).name == "messenger"
    assert sniff(MessengerConnector(), E2EE) == 0.85 and sniff(InstagramConnector(), E2EE) == 0.0
    items = parse(MessengerConnector(), E2EE)
    assert items[0] == OwnerHint("name", "Bob’s Bakery")  # named after Alice: Bob is the owner
    assert problems(items) == [Problem(f"{E2EE.name}:messages[6]", "no usable timestamp (None)")]
    recs = events(items)
    assert [r.text for r in recs] == [
        "Hello again! Is the lemon cake back? Café-style, please 🍋",
        "Yes — from Friday. Shall I keep one for you?",
        "(photo)",
        "(audio, file)",
        "https://example.com/cakes/lemon",
        "(message unsent)",
    ]
    assert recs[0].occurred_at == datetime(2025, 5, 1, 4, 29, 51, 906000, tzinfo=UTC)
    assert {r.title for r in recs} == {"Alice Smith"}  # not "Alice Smith_40"
    assert people(recs[0]) == [("author", "Alice Smith"), ("member", "Bob’s Bakery")]
    assert people(recs[1]) == [("author", "Bob’s Bakery"), ("member", "Alice Smith")]
    assert recs[1].details == {"reactions": [{"reaction": "❤", "actor": "Alice Smith"}]}
    assert recs[2].details["media"] == [
        {"kind": "photo", "uri": "media/5c1e0a52-8a4f-4c1e-9d7e-2f0b9a1c3d4e.jpeg"}
    ]
    assert recs[3].details["media"] == [
        {"kind": "audio", "uri": "media/0b7d3e21-6c55-4e0f-8a9b-1d2c3e4f5a6b.m4a"},
        {"kind": "file", "uri": "Failed to download media"},
    ]
    assert recs[4].details == {"type": "link"}
    assert recs[5].details == {"type": "placeholder", "unsent": True}
    assert {r.thread_key for r in recs} == {"messenger:e2ee:Alice Smith|Bob’s Bakery"}


def test_an_end_to_end_encrypted_chat_downloaded_again_keeps_its_ids(tmp_path: Path) -> None:
    # A later download: another number after the name, the messages in another order, one
    # more message. The messages already there keep their ids (no duplicates).
    data = json.loads(E2EE.read_text(encoding="utf-8"))
    data["threadName"] = "Alice Smith_7"
    data["messages"] = [
        *reversed(data["messages"]),
        {"senderName": "Alice Smith", "timestamp": 1746090000000, "text": "See you Friday"},
    ]
    later = tmp_path / "Alice Smith_7.json"
    later.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    old = {r.text: r.external_id for r in events(parse(MessengerConnector(), E2EE))}
    new = {r.text: r.external_id for r in events(parse(MessengerConnector(), later))}
    assert {t: new[t] for t in old} == old and len(new) == len(old) + 1


def test_a_message_without_its_sender_in_an_end_to_end_encrypted_chat(tmp_path: Path) -> None:
    thread = {
        "participants": ["Bob", "Alice"],
        "threadName": "Alice_3",
        "messages": [
            {"senderName": None, "timestamp": 1746073791906, "text": "who?", "isUnsent": False},
            {"senderName": "Alice", "timestamp": 1746073791907, "text": "me", "isUnsent": False},
        ],
    }
    path = tmp_path / "Alice_3.json"
    path.write_text(json.dumps(thread), encoding="utf-8")
    items = parse(registry.detect(path), path)
    assert problems(items) == [Problem("Alice_3.json:messages[0]", "no senderName")]
    assert [r.text for r in events(items)] == ["me"]


def test_an_unsent_dyi_message_says_so(tmp_path: Path) -> None:
    data = {
        "participants": [{"name": "Alice"}, {"name": "Bob"}],
        "messages": [
            {"sender_name": "Alice", "timestamp_ms": 1710497220000, "is_unsent": True},
            {"sender_name": "Bob", "timestamp_ms": 1710497210000, "content": "Hi Alice"},
        ],
    }
    path = tmp_path / "message_1.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    recs = events(parse(MessengerConnector(), path))
    assert [(r.text, r.details) for r in recs] == [
        ("Hi Alice", {}),
        ("(message unsent)", {"unsent": True}),
    ]


# --- Telegram ----------------------------------------------------------------------------------


def test_telegram_samples_flatten_entities() -> None:
    for name in ("telegram_result_single_chat.json", "telegram_result_full_account.json"):
        recs = events(parse(TelegramConnector(), CHAT / name))
        assert [r.text for r in recs] == ["Minimal Message", "Link:https://telegram.org/"]
        assert recs[0].occurred_at == datetime(2018, 12, 5, 10, 39, 10, tzinfo=UTC)
        assert people(recs[1]) == [("author", "Author 2"), ("member", "Author 1")]
    full = events(parse(TelegramConnector(), CHAT / "telegram_result_full_account.json"))
    assert {r.title for r in full} == {"Chatname"}
    assert flatten_text([{"type": "bold", "text": "a"}, "b", 3]) == "ab"
    assert flatten_text(None) == ""


def test_telegram_full_account_with_several_chats() -> None:
    items = parse(TelegramConnector(), ACCOUNT)
    assert items[:2] == [OwnerHint("name", "Bob Baker"), OwnerHint("phone", "+44 7700 900001")]
    assert problems(items) == [
        Problem(f"{ACCOUNT.name}:chats[0].messages[4]", "no usable date_unixtime or date")
    ]
    recs = events(items)
    assert [r.title for r in recs].count("Alice Smith") == 7
    assert {r.title for r in recs} == {"Alice Smith", "Cake Club", "Saved messages"}
    by_id = {r.external_id: r for r in recs}
    link = by_id["5550002:102"]
    assert link.text == "Yes, see our menu or call +44 20 7946 0000"
    assert link.details["links"] == ["https://example.com/menu"]
    assert people(link) == [("author", "Bob Baker"), ("member", "Alice Smith")]
    assert link.participants[1].platform_id == "user5550002"
    assert link.participants[1].handle == "Alice Smith"
    assert link.thread_key == "telegram:5550002"
    photo = by_id["5550002:103"]
    assert photo.text == "(photo)"
    assert photo.details["media"] == {
        "kind": "photo",
        "file": None,
        "not_included": "(File not included. Change data exporting settings to download.)",
    }
    invoice = by_id["5550002:104"].details["media"]
    assert invoice == {
        "kind": "file",
        "file": "files/invoice_1042.pdf",
        "mime_type": "application/pdf",
    }
    assert by_id["5550002:106"].text == "Line one\x0bline two"  # the \x0B escape
    call = by_id["5550002:107"]
    assert call.direction == "system" and call.text == "Alice Smith: phone call"
    voice = by_id["5550002:108"].details["media"]
    assert voice["kind"] == "audio" and voice["file"] is None and voice["duration_seconds"] == 7
    created = by_id["1987654321:1"]
    assert created.direction == "system"
    assert created.text == "Bob Baker: create group “Cake Club” (Carol White, Dan Brown)"
    assert by_id["1987654321:2"].text == "@bobsbakery when is the next tasting?"
    deleted = by_id["1987654321:3"].participants[0]
    assert deleted.role == "author" and deleted.platform_id == "user5550099" and not deleted.handle
    assert by_id["1987654321:5"].details["reply_to_message_id"] == 2
    assert "1987654321:4" not in by_id  # "unsupported" is skipped quietly
    assert by_id["5550001:1"].text == "note to self: order lemons"


def test_telegram_prefers_unixtime_and_falls_back_to_local_date(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    messages = [
        {"id": 1, "type": "message", "date": "2024-07-01T12:00:00", "from": "A", "text": "x"},
        {"id": 2, "type": "message", "date": "2024-07-01T12:00:00", "date_unixtime": "1719835200",
         "from": "A", "text": "y"},
    ]  # fmt: skip
    path.write_text(
        json.dumps({"name": "A", "type": "personal_chat", "id": 7, "messages": messages})
    )
    recs = events(parse(TelegramConnector(), path, tz=ZoneInfo("Europe/Berlin")))
    assert recs[0].occurred_at == datetime(2024, 7, 1, 10, 0, tzinfo=UTC)  # local, Berlin
    assert recs[1].occurred_at == datetime(2024, 7, 1, 12, 0, tzinfo=UTC)  # unixtime wins


def test_telegram_longer_export_keeps_ids(tmp_path: Path) -> None:
    for source in (ACCOUNT, CHAT / "telegram_result_single_chat.json"):
        text = source.read_text(encoding="utf-8").replace("\\x0B", "\\u000b")
        data = json.loads(text)
        chat = data["chats"]["list"][0] if "chats" in data else data
        chat["messages"].append(
            {"id": 999, "type": "message", "date_unixtime": "1720000000", "from": "Author 1",
             "from_id": "user1", "text": "a later message"}
        )  # fmt: skip
        longer = tmp_path / source.name
        longer.write_text(json.dumps(data), encoding="utf-8")
        old = [r.external_id for r in events(parse(TelegramConnector(), source))]
        new = [r.external_id for r in events(parse(TelegramConnector(), longer))]
        assert len(new) == len(old) + 1
        assert [i for i in new if i in old] == old


def test_telegram_not_the_format() -> None:
    assert sniff(TelegramConnector(), ACCOUNT) == 0.9
    assert sniff(TelegramConnector(), INSTAGRAM) == 0.0
    with pytest.raises(FormatError, match="not a Telegram export"):
        parse(TelegramConnector(), CHAT / "zendesk_ticket_show_response.json")
    with pytest.raises(FormatError, match="messages have no date"):
        parse(TelegramConnector(), CHAT / "messenger_message_1_minimal.json")


def test_telegram_owner_outbound_through_ingest(db: Database) -> None:
    report = import_file(db, ACCOUNT)
    assert report.added == 12 and len(report.problems) == 1
    assert "recognised Bob Baker as your own name" in report.notices
    with db.session() as session:
        rows = session.execute(select(Event.external_id, Event.direction)).all()
    direction = dict(rows)
    assert direction["5550002:101"] == "inbound"
    assert direction["5550002:102"] == "outbound"
    assert direction["5550002:107"] == "system"
    again = import_file(db, ACCOUNT)
    assert again.added == 0 and again.duplicates == 12


# --- Slack -------------------------------------------------------------------------------------


def _slack_by_text(recs: list[EventRecord]) -> dict[str, EventRecord]:
    return {r.text: r for r in recs}


def test_slack_export_folder() -> None:
    items = parse(SlackConnector(), SLACK)
    recs = events(items)
    assert len(recs) == 20
    found = {p.location: p.reason for p in problems(items)}
    assert found.pop("shared-acme/2024-03-03.json").startswith(
        "shared-acme/2024-03-03.json: not valid JSON ("
    )
    assert found == {
        "shared-acme/2024-03-02.json[1]": "not a message object",
        "shared-acme/2024-03-02.json[2]": "no usable ts",
    }
    by_text = _slack_by_text(recs)
    ask = by_text["Hi @Bob Baker, where is order #1042? <urgent> & thanks"]
    assert ask.external_id == "C0SHARED1:1709290860.000200"
    assert ask.occurred_at == datetime(2024, 3, 1, 11, 1, 0, 200, tzinfo=UTC)
    assert ask.title == "#shared-acme" and ask.thread_key == "slack:C0SHARED1"
    alice = ask.participants[0]
    assert (alice.role, alice.name, alice.email) == ("author", "Alice Smith", "alice@acme.example")
    assert (alice.handle, alice.platform, alice.platform_id) == (
        "alice.smith",
        "slack",
        "UCUST0001",
    )
    assert people(ask)[1] == ("member", "Bob Baker")
    assert ask.details["reactions"] == [{"reaction": "eyes", "users": ["Bob Baker"]}]
    reply = by_text["It shipped today, tracking: https://track.example/ZX9"]
    assert reply.details["thread_ts"] == "1709290860.000200"
    assert people(reply)[:2] == [("author", "Bob Baker"), ("member", "Alice Smith")]
    join = by_text["@Alice Smith has joined the channel"]
    assert join.direction == "system" and join.details["subtype"] == "channel_join"
    assert by_text["@Bob Baker set the channel topic: Orders for ACME"].direction == "system"
    bot = by_text["Parcel ZX9 is out for delivery"]
    assert people(bot)[0] == ("author", "ShipBot")
    upload = by_text["(file)"]
    assert upload.details["files"] == [
        {"id": "F0PHOTO01", "name": "box.jpg", "title": "box.jpg", "mimetype": "image/jpeg",
         "filetype": "jpg", "size": 48213}
    ]  # fmt: skip
    assert "xoxe" not in repr(recs)  # file URLs carry tokens; they are never kept
    assert "The box was dented :disappointed: @here" in by_text
    assert by_text["The box was dented :disappointed: @here"].details["edited_at"]
    sorry = "Sorry! A new one is on its way, see #random and mail help@bobsbakery.example"
    assert sorry in by_text
    dm = by_text["Can I pay by invoice?"]
    assert dm.title == "Direct messages: Bob Baker, Alice Smith"
    assert dm.external_id.startswith("D0DM00001:")
    random = [r for r in recs if r.thread_key == "slack:C0RANDOM1"]
    assert len(random) == 11
    assert [r.direction for r in random].count("system") == 3
    assert "@U8X25EBAB has joined the channel" in {r.text for r in random}
    assert "@channel" in {r.text for r in random} and "@everyone" in {r.text for r in random}


def test_slack_zip_matches_folder(tmp_path: Path) -> None:
    folder = events(parse(SlackConnector(), SLACK))
    for prefix in ("", "Bob's Bakery Slack export Mar 1 2024/"):
        path = zip_folder(SLACK, tmp_path / f"export{len(prefix)}.zip", prefix)
        assert sniff(SlackConnector(), path) == 0.95
        assert sniff(WhatsAppConnector(), path) == 0.0
        items = parse(SlackConnector(), path)
        recs = events(items)
        assert [(r.external_id, r.text) for r in recs] == [(r.external_id, r.text) for r in folder]
        assert recs[0].locator.startswith(f"{path.name}!{prefix}")
        assert len(problems(items)) == 3


def test_slack_single_day_file_and_users_sample(tmp_path: Path) -> None:
    day = SLACK / "shared-acme" / "2024-03-01.json"
    assert sniff(SlackConnector(), day) == 0.7
    recs = events(parse(SlackConnector(), day))
    assert len(recs) == 5 and recs[1].participants[0].email == "alice@acme.example"
    # The real minimal users.json: profile.email becomes the participant's email.
    root = tmp_path / "export"
    (root / "general").mkdir(parents=True)
    shutil.copy(CHAT / "slack_users_minimal.json", root / "users.json")
    (root / "channels.json").write_text('[{"id": "C1", "name": "general"}]')
    (root / "general" / "2024-01-02.json").write_text(
        json.dumps([{"type": "message", "user": "U061A1R2R", "text": "hi <@U066MTL5U>",
                     "ts": "1704189600.000100"}])
    )  # fmt: skip
    (rec,) = events(parse(SlackConnector(), root))
    assert rec.text == "hi @John"
    assert (rec.participants[0].name, rec.participants[0].email) == ("Jon", "jon@example.com")


def test_slack_without_users_json(tmp_path: Path) -> None:
    root = tmp_path / "export"
    shutil.copytree(SLACK, root)
    (root / "users.json").unlink()
    assert sniff(SlackConnector(), root) == 0.0
    items = parse(SlackConnector(), root)
    assert any("no users.json" in n for n in notices(items))
    assert "Hi @UOWN00001, where is order #1042? <urgent> & thanks" in {
        r.text for r in events(items)
    }


def test_slack_longer_export_keeps_ids(tmp_path: Path) -> None:
    root = tmp_path / "export"
    shutil.copytree(SLACK, root)
    (root / "shared-acme" / "2024-03-05.json").write_text(
        json.dumps([{"type": "message", "user": "UCUST0001", "text": "new", "ts": "1709636400.1"}])
    )
    old = [r.external_id for r in events(parse(SlackConnector(), SLACK))]
    new = [r.external_id for r in events(parse(SlackConnector(), root))]
    assert len(new) == len(old) + 1 and set(old) <= set(new)


def test_slack_folder_is_one_source() -> None:
    found = list(registry.expand([CHAT]))
    assert SLACK in found
    assert not [p for p in found if SLACK in p.parents]
    assert registry.detect(SLACK).name == "slack"


def test_slack_not_the_format(tmp_path: Path) -> None:
    assert sniff(SlackConnector(), CHAT) == 0.0
    assert sniff(SlackConnector(), ACCOUNT) == 0.0
    with pytest.raises(FormatError, match="not a Slack export"):
        parse(SlackConnector(), ACCOUNT)
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(FormatError, match="not a Slack export"):
        parse(SlackConnector(), empty)


def test_slack_import_through_ingest_is_idempotent(db: Database) -> None:
    (first,) = import_paths(db, [SLACK])
    assert first.format == "slack" and first.added == 20 and len(first.problems) == 3
    (second,) = import_paths(db, [SLACK])
    assert second.added == 0 and second.duplicates == 20


# --- Zendesk -----------------------------------------------------------------------------------


def test_zendesk_ticket_show() -> None:
    path = CHAT / "zendesk_ticket_show_response.json"
    (rec,) = events(parse(ZendeskConnector(), path))
    assert rec.external_id == "ticket:8867" and rec.source == "zendesk"
    assert (rec.title, rec.text) == ("This is a question?", "Indeed it is!")
    assert rec.occurred_at == datetime(2015, 12, 30, 1, 45, 29, tzinfo=UTC)
    assert rec.details["via_channel"] == "api" and rec.details["tags"] == ["awesome", "blossom"]
    (requester,) = rec.participants
    assert (requester.role, requester.platform_id) == ("author", "20014192")
    assert requester.handle == "Zendesk user 20014192" and requester.name == ""


def test_zendesk_audits_one_event_per_public_comment() -> None:
    path = CHAT / "zendesk_ticket_audits_response.json"
    items = parse(ZendeskConnector(), path)
    recs = events(items)
    assert len(recs) == 20 and not problems(items)
    assert notices(items) == [f"{path.name}: 2 private (internal) comments were not imported"]
    first = recs[0]
    assert first.external_id == "comment:21078922"
    assert first.text == "This is the first comment. Feel free to delete this sample ticket."
    assert first.title == "This is a sample ticket requested and submitted by you"
    assert first.thread_key == "zendesk:ticket:1" and first.details["via_channel"] == "web"
    assert first.details["author_is_requester"] is True
    assert first.locator == f"{path.name}:audits[0].events[0]"
    other = next(r for r in recs if r.participants[0].platform_id == "20014187")
    assert other.details["author_is_requester"] is False
    assert [p.platform_id for p in other.participants] == ["20014187", "20014182"]
    assert "This is a private comment" not in {r.text[:26] for r in recs}


def test_zendesk_incremental_export_with_users() -> None:
    path = CHAT / "zendesk_incremental_tickets.json"
    items = parse(ZendeskConnector(), path)
    assert problems(items) == [
        Problem(f"{path.name}:tickets[2]", "ticket without id or created_at")
    ]
    dented, gluten = events(items)
    assert dented.external_id == "ticket:501" and dented.details["via_channel"] == "email"
    assert dented.text.startswith("Hello, my order #1042")
    assert [(p.role, p.name, p.email) for p in dented.participants] == [
        ("author", "Alice Smith", "alice@acme.example"),
        ("member", "Bob Baker", "bob@bobsbakery.example"),
    ]
    assert gluten.participants[0].handle == "Zendesk user 9002"


def test_zendesk_sniff_and_not_the_format(tmp_path: Path) -> None:
    zendesk = ZendeskConnector()
    for name in (
        "zendesk_ticket_show_response.json",
        "zendesk_ticket_audits_response.json",
        "zendesk_incremental_tickets.json",
    ):
        assert sniff(zendesk, CHAT / name) == 0.9
    assert sniff(zendesk, ACCOUNT) == 0.0
    other = tmp_path / "x.json"
    other.write_text('{"orders": []}')
    with pytest.raises(FormatError, match="no ticket, tickets or audits"):
        parse(zendesk, other)


# --- chat CSV ----------------------------------------------------------------------------------

WIDGET = CHAT / "chat_widget_export.csv"
CUSTOM = CHAT / "chat_custom_columns.csv"
AMBIGUOUS = CHAT / "chat_ambiguous_dates.csv"
CUSTOM_MAP = {"time": "When", "author": "Who", "text": "Said", "conversation": "Thread"}


def test_csv_auto_guess() -> None:
    assert guess_columns(["Conversation ID", "Created at", "Author", "Email", "Message"]) == {
        "time": 1,
        "author": 2,
        "text": 4,
        "email": 3,
        "conversation": 0,
    }
    items = parse(ChatCsvConnector(), WIDGET)
    recs = events(items)
    assert len(recs) == 7
    assert problems(items) == [Problem(f"{WIDGET.name}:9", "unreadable time 'yesterday-ish'")]
    assert f"{WIDGET.name}: times without a zone were read in Europe/London" in notices(items)
    assert {r.source for r in recs} == {"chat_csv:generic"}
    first, answer = recs[0], recs[1]
    assert first.occurred_at == datetime(2024, 3, 15, 10, 0, tzinfo=UTC)
    assert first.title == "Conversation c-100" and first.thread_key == "chat_csv:generic:c-100"
    assert answer.text == "Yes, from 9 to 12.\nOrders before Friday, please."
    assert answer.locator == f"{WIDGET.name}:3"
    assert [(p.role, p.name, p.email) for p in answer.participants] == [
        ("author", "Bob's Bakery", None),
        ("member", "Alice Smith", "alice@acme.example"),
    ]
    assert recs[2].occurred_at == datetime(2024, 3, 15, 10, 3, tzinfo=UTC)  # Z
    ok1, ok2 = recs[3], recs[4]
    assert ok1.occurred_at == datetime(2024, 3, 15, 9, 3, tzinfo=UTC)  # +01:00
    assert ok1.external_id.endswith(":1") and ok2.external_id.endswith(":2")
    assert recs[-1].participants[1].email == "carol@example.org"
    assert any("several authors' rows" in n for n in notices(items))
    with_owner = parse(ChatCsvConnector(), WIDGET, owner_names=("Bob's Bakery",))
    assert not any("several authors' rows" in n for n in notices(with_owner))


def test_csv_needs_a_mapping() -> None:
    with pytest.raises(FormatError) as caught:
        parse(ChatCsvConnector(), CUSTOM)
    message = str(caught.value)
    assert "\n" not in message
    assert "cannot tell which column holds time and text" in message  # phone was guessed
    assert "(columns: When, Who, Said, Thread, Visitor phone)" in message
    assert "--map time=COLUMN,author=COLUMN,text=COLUMN" in message
    assert sniff(ChatCsvConnector(), CUSTOM) == 0.0


def test_csv_with_mapping_and_whole_file_date_order() -> None:
    items = parse(ChatCsvConnector(), CUSTOM, column_map={**CUSTOM_MAP, "platform": "Tawk.to"})
    recs = events(items)
    assert [r.occurred_at for r in recs] == [
        datetime(2024, 4, 3, 13, 5, tzinfo=UTC),
        datetime(2024, 4, 3, 13, 7, tzinfo=UTC),
        datetime(2024, 4, 25, 8, 0, tzinfo=UTC),
    ]
    assert not any("ambiguous" in n for n in notices(items))
    assert {r.source for r in recs} == {"chat_csv:tawk.to"}
    dan = recs[0].participants[0]
    assert (dan.name, dan.phone, dan.handle) == ("Dan Brown", "+44 7700 900456", "Dan Brown")
    assert people(recs[1]) == [("author", "Bob"), ("member", "Dan Brown")]
    asked = parse(ChatCsvConnector(), CUSTOM, column_map=CUSTOM_MAP, date_order="mdy")
    assert any("ask for month/day/year, but the file's dates only fit" in n for n in notices(asked))


def test_csv_mapping_errors() -> None:
    with pytest.raises(FormatError, match=r"--map time=Nope: no such column \(columns: When"):
        parse(ChatCsvConnector(), CUSTOM, column_map={**CUSTOM_MAP, "time": "Nope"})
    items = parse(ChatCsvConnector(), CUSTOM, column_map={**CUSTOM_MAP, "colour": "When"})
    assert f"{CUSTOM.name}: --map field 'colour' is not used for chat CSV" in notices(items)


@pytest.mark.parametrize(
    ("options", "month", "why"),
    [
        ({}, 4, "read as day/month/year (region GB)"),
        ({"region": "US"}, 3, "read as month/day/year (region US)"),
        ({"date_order": "mdy"}, 3, "read as month/day/year (as set in the import options)"),
    ],
)
def test_csv_ambiguous_dates(options: dict[str, Any], month: int, why: str) -> None:
    items = parse(ChatCsvConnector(), AMBIGUOUS, **options)
    assert f"{AMBIGUOUS.name}: dates were ambiguous; {why}" in notices(items)
    first = events(items)[0]
    assert first.occurred_at.month == month and first.occurred_at.hour in (9, 10)
    assert first.thread_key == "chat_csv:generic:chat_ambiguous_dates"


def _csv(tmp_path: Path, rows: list[list[str]], name: str = "chat.csv") -> Path:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    path = tmp_path / name
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def test_csv_utc_header_epoch_split_columns_and_ids(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        [
            ["Date", "Time", "Sender", "Text", "Message ID"],
            ["2024-07-01", "12:00", "A", "split date and time", "m1"],
            ["1719835260", "", "B", "epoch seconds", "m2"],
        ],
    )
    recs = events(parse(ChatCsvConnector(), path, tz=ZoneInfo("Europe/Berlin")))
    assert recs[0].occurred_at == datetime(2024, 7, 1, 10, 0, tzinfo=UTC)
    assert recs[1].occurred_at == datetime(2024, 7, 1, 12, 1, tzinfo=UTC)
    assert [r.external_id for r in recs] == ["m1", "m2"]
    utc = _csv(tmp_path, [["Time (UTC)", "From", "Body"], ["2024-07-01 12:00", "A", "x"]])
    items = parse(ChatCsvConnector(), utc, tz=ZoneInfo("Europe/Berlin"))
    assert events(items)[0].occurred_at == datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
    assert any("UTC (the column says so)" in n for n in notices(items))
    repeated = _csv(
        tmp_path,
        [["ID", "Timestamp", "Author", "Message"], ["7", "2024-07-01 12:00", "A", "x"],
         ["7", "2024-07-01 12:01", "B", "y"]],
        "repeat.csv",
    )  # fmt: skip
    items = parse(ChatCsvConnector(), repeated)
    assert len({r.external_id for r in events(items)}) == 2
    assert any("repeats values, so it is not a message id" in n for n in notices(items))


def test_csv_longer_export_keeps_ids(tmp_path: Path) -> None:
    longer = tmp_path / WIDGET.name
    longer.write_text(
        WIDGET.read_text(encoding="utf-8") + "c-100,2024-03-17 09:00:00,Alice Smith,,ok\n",
        encoding="utf-8",
    )
    old = [r.external_id for r in events(parse(ChatCsvConnector(), WIDGET))]
    new = [r.external_id for r in events(parse(ChatCsvConnector(), longer))]
    assert new[: len(old)] == old and len(set(new)) == len(old) + 1


def test_csv_encodings_and_not_the_format(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        "Timestamp;Author;Message\n2024-01-01 10:00;Zoë;Crème brûlée\n".encode("cp1252")
    )
    (rec,) = events(parse(ChatCsvConnector(), latin))
    assert (rec.participants[0].name, rec.text) == ("Zoë", "Crème brûlée")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(FormatError, match="empty file"):
        parse(ChatCsvConnector(), empty)
    shopify = HERE / "orders" / "shopify_orders_export_redacted.csv"
    assert sniff(ChatCsvConnector(), shopify) == 0.0
    assert sniff(ChatCsvConnector(), HERE / "whatsapp" / "whatsapp_android_ddmmyy_24h.txt") == 0.0
    assert sniff(ChatCsvConnector(), ACCOUNT) == 0.0


_CELL = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
_HEADER = st.lists(
    st.sampled_from(["Created at", "Author", "Message", "Email", "Phone", "Conversation ID",
                     "Message ID", "Date", "Time", "x"]) | _CELL,
    min_size=1, max_size=6,
)  # fmt: skip
_TIMEY = st.sampled_from(
    ["2024-03-04 10:00", "03/04/2024 1:00 PM", "13/04/24 10:00", "1719835260", "4 March 2024",
     "2024-03-04T10:00:00+25:00", "99/99/9999", "", "31/02/2024 10:00", "0000-00-00"]
)  # fmt: skip


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=_HEADER,
    rows=st.lists(st.lists(_TIMEY | _CELL, max_size=7), max_size=8),
    raw=st.none() | st.text(max_size=200),
    mapped=st.booleans(),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_property_chat_csv_never_raises(
    tmp_path: Path,
    header: list[str],
    rows: list[list[str]],
    raw: str | None,
    mapped: bool,
    delimiter: str,
) -> None:
    if raw is None:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter).writerows([header, *rows])
        raw = buffer.getvalue()
    path = tmp_path / "prop.csv"
    path.write_bytes(raw.encode("utf-8", "surrogatepass"))
    column_map = {"time": header[0], "text": header[-1], "author": header[0]} if mapped else None
    connector = ChatCsvConnector()
    assert connector.sniff(path, path.read_bytes()) in (0.0, 0.6)
    try:
        items = parse(connector, path, column_map=column_map)
    except FormatError as exc:
        assert "\n" not in str(exc)
        return
    for item in items:
        assert isinstance(item, EventRecord | Problem | Notice)
        if isinstance(item, EventRecord):
            assert item.occurred_at.utcoffset() is not None


_JSON_KEYS = st.sampled_from(
    ["messages", "sender_name", "timestamp_ms", "content", "photos", "uri", "reactions",
     "participants", "title", "thread_type", "type", "date", "date_unixtime", "from", "from_id",
     "text", "photo", "file", "id", "name", "members", "actor", "action", "events", "public",
     "body", "author_id", "ticket_id", "created_at", "requester_id", "via", "users", "ts", "user"]
)  # fmt: skip
_JSON_SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=6)
    | st.sampled_from(["1544006350", "message", "service", "Comment", "2024-01-01T00:00:00Z"])
)  # fmt: skip
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_JSON_KEYS, inner, max_size=6),
    max_leaves=30,
)
_MESSAGES = st.lists(st.dictionaries(_JSON_KEYS, _JSON, max_size=8), max_size=4)
_SHAPES = st.one_of(
    _JSON,
    _MESSAGES,
    st.builds(lambda m, p: {"messages": m, "participants": p}, _MESSAGES, _JSON),
    st.builds(lambda m, i: {"chats": {"list": [{"messages": m, "id": i}]}}, _MESSAGES, _JSON),
    st.builds(lambda e: {"audits": [{"ticket_id": 1, "created_at": "2024-01-01", "events": e}]},
              _MESSAGES),
    st.builds(lambda t, u: {"tickets": t, "users": u}, _MESSAGES, _JSON),
)  # fmt: skip


@pytest.mark.slow
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=_SHAPES)
def test_property_json_connectors_never_raise(tmp_path: Path, value: Any) -> None:
    path = tmp_path / "chan" / "2024-01-01.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(value), encoding="utf-8")
    for connector in (
        MessengerConnector(),
        TelegramConnector(),
        ZendeskConnector(),
        SlackConnector(),
    ):
        try:
            found = parse(connector, path)
        except FormatError:
            continue
        for item in found:
            if isinstance(item, EventRecord):
                assert item.occurred_at.utcoffset() is not None
                json.dumps(dict(item.details))


# --- WhatsApp .zip -----------------------------------------------------------------------------

WHATSAPP = HERE / "whatsapp"


def test_whatsapp_ios_zip_with_media(tmp_path: Path) -> None:
    chat = (WHATSAPP / "whatsapp_ios_attached_media.txt").read_bytes()
    path = tmp_path / "WhatsApp Chat - Loris.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("_chat.txt", chat)
        zf.writestr("00000001-PHOTO-2019-06-20-16-00-15.jpg", b"\xff\xd8" + b"j" * 1000)
        zf.writestr("00000002-VIDEO-2019-06-20-16-01-42.mp4", b"v" * 2000)
    assert sniff(WhatsAppConnector(), path) == 0.9
    assert registry.detect(path).name == "whatsapp"
    recs = events(parse(WhatsAppConnector(), path))
    plain = events(parse(WhatsAppConnector(), WHATSAPP / "whatsapp_ios_attached_media.txt"))
    assert [r.text for r in recs] == [r.text for r in plain]
    assert {r.thread_key for r in recs} == {"whatsapp:Loris"}
    assert recs[0].locator == "WhatsApp Chat - Loris.zip!_chat.txt:1"
    media = [r.details["media"] for r in recs if "media" in r.details]
    assert media[0] == {
        "kind": "photo",
        "file": "00000001-PHOTO-2019-06-20-16-00-15.jpg",
        "archive_member": "00000001-PHOTO-2019-06-20-16-00-15.jpg",
        "size": 1002,
    }
    assert media[1]["size"] == 2000
    assert "size" not in media[2]  # listed in the chat, not in the archive
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # nothing extracted


def test_whatsapp_android_zip_keeps_ids_of_the_txt(tmp_path: Path) -> None:
    txt = WHATSAPP / "WhatsApp Chat with Alice Smith.txt"
    path = tmp_path / "WhatsApp Chat with Alice Smith.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(txt, "WhatsApp Chat with Alice Smith.txt")
        zf.writestr("IMG-20240315-WA0001.jpg", b"x" * 10)
    items = parse(WhatsAppConnector(), path)
    assert items[0] == OwnerHint("name", "Bob's Bakery")
    from_zip = events(items)
    from_txt = events(parse(WhatsAppConnector(), txt))
    assert [r.external_id for r in from_zip] == [r.external_id for r in from_txt]
    photo = next(r for r in from_zip if r.details.get("media", {}).get("kind") == "photo")
    assert photo.details["media"]["size"] == 10


def test_whatsapp_zip_without_chat_text(tmp_path: Path) -> None:
    path = tmp_path / "photos.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("IMG-1.jpg", b"x")
    assert sniff(WhatsAppConnector(), path) == 0.0
    with pytest.raises(FormatError, match="no WhatsApp chat text in the archive"):
        parse(WhatsAppConnector(), path)


# --- across connectors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (INSTAGRAM, "instagram"),
        (CHAT / "messenger_message_1_minimal.json", "messenger"),
        (THREAD, "messenger"),
        (CHAT / "telegram_result_single_chat.json", "telegram"),
        (CHAT / "telegram_result_full_account.json", "telegram"),
        (ACCOUNT, "telegram"),
        (SLACK, "slack"),
        (SLACK / "random" / "2018-01-20.json", "slack"),
        (CHAT / "zendesk_ticket_show_response.json", "zendesk"),
        (CHAT / "zendesk_ticket_audits_response.json", "zendesk"),
        (CHAT / "zendesk_incremental_tickets.json", "zendesk"),
        (WIDGET, "chat_csv"),
        (AMBIGUOUS, "chat_csv"),
    ],
)
def test_registry_detects_each_format(path: Path, name: str) -> None:
    assert registry.detect(path).name == name


@pytest.mark.parametrize(
    ("connector", "path"),
    [
        (MessengerConnector(), THREAD),
        (TelegramConnector(), ACCOUNT),
        (SlackConnector(), SLACK),
        (ZendeskConnector(), CHAT / "zendesk_ticket_audits_response.json"),
        (ChatCsvConnector(), WIDGET),
    ],
)
def test_progress_and_cancel(connector: Connector, path: Path) -> None:
    calls: list[tuple[int, int]] = []
    full = events(parse(connector, path, progress=lambda d, t: calls.append((d, t))))
    assert calls and calls[-1][0] == calls[-1][1] and calls[-1][1] > 0
    stopped = events(parse(connector, path, should_cancel=lambda: True))
    assert len(stopped) < len(full)


@pytest.mark.parametrize(
    "connector",
    [MessengerConnector(), TelegramConnector(), SlackConnector(), ZendeskConnector()],
)
def test_json_connectors_refuse_broken_json(connector: Connector, tmp_path: Path) -> None:
    path = tmp_path / "message_1.json"
    path.write_bytes(b'{"messages": [')
    with pytest.raises(FormatError) as caught:
        parse(connector, path)
    assert "\n" not in str(caught.value)


def test_connector_attributes() -> None:
    for connector in (
        MessengerConnector(),
        InstagramConnector(),
        TelegramConnector(),
        SlackConnector(),
        ZendeskConnector(),
        ChatCsvConnector(),
    ):
        assert connector.channel == "chat"
        assert connector.name in registry.names()
        assert connector.label and connector.extensions
