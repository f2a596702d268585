"""Texts and calls from an Android phone, as SMS Backup & Restore saves them."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.db import Database
from app.errors import FormatError
from app.ingest import import_paths
from app.records import EventRecord, Notice, OwnerHint, ParseOptions, Problem
from app.service import Service
from connectors import registry
from connectors.sms_backup import SmsBackupConnector
from tests.test_cli_e2e import CLI

FIX = Path(__file__).resolve().parent / "fixtures" / "chat" / "sms"
SMS = FIX / "sms-20240306091500.xml"
CALLS = FIX / "calls-20240306091500.xml"
OPTIONS = ParseOptions(tz=ZoneInfo("Europe/London"), region="GB")


def _items(path: Path) -> list[object]:
    return list(SmsBackupConnector().parse(path, OPTIONS))


def _events(path: Path) -> list[EventRecord]:
    return [i for i in _items(path) if isinstance(i, EventRecord)]


def test_both_backups_are_recognised_and_other_xml_is_not(tmp_path: Path) -> None:
    assert registry.detect(SMS).name == "sms_backup"
    assert registry.detect(CALLS).name == "sms_backup"
    feed = tmp_path / "feed.xml"
    feed.write_text("<?xml version='1.0'?><rss><channel><title>smses</title></channel></rss>")
    assert SmsBackupConnector().sniff(feed, feed.read_bytes()) == 0.0


def test_texts_read_as_the_phone_shows_them() -> None:
    """Received and sent texts, the app's emoji (two references per character) joined, half an
    emoji and a reference to no character read as the replacement character, a number
    never saved in the phone, a courier's named sender (automated: no customer), a draft
    left out."""
    items = _items(SMS)
    texts = [i for i in items if isinstance(i, EventRecord)]
    assert [(e.direction, e.title, e.text) for e in texts[:5]] == [
        ("inbound", "Priya Shah", "Hi, is my order 1043 ready? 😊"),
        ("outbound", "Priya Shah", "Yes! Ready from 2pm & we close at 6."),
        ("inbound", "07700 900789", "Do you deliver to Leeds?\nThanks, Tom"),
        ("inbound", "DHL", "Your parcel 1Z999 will arrive today between 10:00 and 12:00."),
        ("inbound", "Priya Shah", "Broken emoji \ufffd and \ufffd stay text"),
    ]
    first = texts[0]
    assert first.occurred_at == datetime(2024, 3, 5, 9, 16, tzinfo=UTC)
    assert (first.channel, first.source, first.thread_key) == ("chat", "sms", "sms:+447700900456")
    assert [(p.role, p.name, p.phone) for p in first.participants] == [
        ("author", "Priya Shah", "+447700900456")
    ]
    assert texts[2].thread_key == "sms:+447700900789"  # (read in the region: one thread)
    assert texts[3].details == {"automated": True}
    assert Notice("sms-20240306091500.xml: 1 drafts left out (never sent)") in items


def test_picture_messages_a_group_and_the_owners_number() -> None:
    """A group MMS from Dev to Priya and the shop: its text, its picture listed (never read),
    Dev as the author; the owner's sent MMS names the owner's number, which is no one's."""
    items = _items(SMS)
    group, sent = [e for e in _events(SMS) if e.text.startswith(("This is", "We'll"))]
    assert group.text == "This is the vase we mean"
    assert [(p.role, p.name, p.phone) for p in group.participants] == [
        ("author", "Dev Shah", "+447700900111"),
        ("member", "Priya Shah", "+447700900456"),
    ]
    assert group.details["media"] == [{"type": "image/jpeg", "name": "IMG_7.jpg"}]
    assert group.thread_key == "sms:+447700900111~+447700900456"
    assert OwnerHint("phone", "+447700900000") in items
    assert (sent.direction, sent.text) == ("outbound", "We'll wrap it twice 🎁")
    assert [p.phone for p in sent.participants] == ["+447700900456"]


def test_calls_read_with_their_kind_and_length() -> None:
    items = _items(CALLS)
    calls = [i for i in items if isinstance(i, EventRecord)]
    assert [(c.direction, c.title, c.text) for c in calls] == [
        ("inbound", "Priya Shah", "Incoming call, 1 min 4 s"),
        ("outbound", "Priya Shah", "Outgoing call, 3 min"),
        ("inbound", "07700 900789", "Missed call"),
        ("inbound", "Priya Shah", "Voicemail"),
    ]
    assert {c.source for c in calls} == {"calls"}
    assert calls[0].thread_key == "sms:+447700900456"  # (her texts' thread)
    assert calls[1].details == {"call": {"type": "Outgoing call", "seconds": 180}}
    assert (
        Notice(
            "calls-20240306091500.xml: 1 calls from a withheld number left out "
            "(nothing to link them to)"
        )
        in items
    )


def test_texts_and_calls_make_one_history(db: Database) -> None:
    """Imported together: Priya's texts, picture messages and calls are one customer's;
    the courier and the shop's own number are no customers; importing again adds nothing."""
    reports = import_paths(db, [SMS, CALLS])
    assert [(r.format, r.added, r.problems) for r in reports] == [
        ("sms_backup", 7, []),
        ("sms_backup", 4, []),
    ]
    svc = Service(db)
    customers = {c.name: c for c in svc.customers("")}
    assert sorted(customers) == ["07700 900789", "Dev Shah", "Priya Shah"]
    assert customers["Priya Shah"].event_count == 8  # 4 texts, 1 group MMS, 3 calls
    assert not svc.customers("DHL") and not svc.customers("900000")
    again = import_paths(db, [SMS, CALLS])
    assert [(r.added, r.duplicates) for r in again] == [(0, 7), (0, 4)]


def test_a_video_of_any_size_is_skipped_unread(tmp_path: Path) -> None:
    """A picture message's video is one XML attribute of base64 (a real backup held one of
    92 MB): it is never held in memory."""
    video = "A" * (40 * 1024 * 1024)
    path = tmp_path / "sms-big.xml"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<smses count=\"1\">")
        fh.write('<mms date="1709650000000" msg_box="1" address="+447700900456"><parts>')
        fh.write('<part seq="0" ct="text/plain" text="Our clip" />')
        fh.write(f'<part seq="1" ct="video/mp4" name="clip.mp4" data="{video}" />')
        fh.write('</parts><addrs><addr address="+447700900456" type="137" /></addrs></mms>')
        fh.write("</smses>")
    del video
    tracemalloc.start()
    try:
        (event,) = _events(path)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert event.text == "Our clip"
    assert event.details["media"] == [{"type": "video/mp4", "name": "clip.mp4"}]
    assert peak < 8 * 1024 * 1024


def test_a_file_cut_short_gives_what_came_before(tmp_path: Path) -> None:
    data = SMS.read_bytes()
    path = tmp_path / "sms-cut.xml"
    path.write_bytes(data[: data.index(b"<sms", data.index(b"DHL")) + 40])
    items = _items(path)
    assert len([i for i in items if isinstance(i, EventRecord)]) == 4
    (problem,) = [i for i in items if isinstance(i, Problem)]
    assert problem.location.startswith("sms-cut.xml:")
    assert "what comes before was read" in problem.reason


def test_a_declared_dtd_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sms-dtd.xml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE smses [<!ENTITY a "aaaa">]>'
        '<smses><sms address="+447700900456" date="1" type="1" body="&a;" /></smses>'
    )
    with pytest.raises(FormatError, match="declares a DTD"):
        _items(path)


def test_texts_through_the_cli(tmp_path: Path) -> None:
    tool = CLI(tmp_path)
    assert tool.run("config", "region", "GB").returncode == 0
    (report,) = tool.json("import", str(SMS))["files"]
    assert (report["format"], report["added"]) == ("sms_backup", 7)
    (priya,) = tool.json("customers", "Priya")
    assert priya["phones"] == ["+447700900456"]
    shown = tool.json("show", "+447700900456")
    assert [e["channel"] for e in shown["events"]] == ["chat"] * 5
    assert shown["events"][0]["source"] == "sms"


def test_a_damaged_declaration_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "sms-odd.xml"
    path.write_bytes(SMS.read_bytes().replace(b"encoding='UTF-8'", b"encoding='KTF-8'", 1))
    (problem,) = _items(path)
    assert isinstance(problem, Problem) and "cannot be read" in problem.reason
