"""Google Voice in a Google Takeout: texts, group texts, calls and voicemail, and the
account's own numbers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from app.db import Database
from app.ingest import import_paths
from app.records import EventRecord, Notice, OwnerHint, ParseOptions
from app.service import Service
from connectors import registry
from connectors.google_voice import GoogleVoiceConnector

VOICE = Path(__file__).resolve().parent / "fixtures" / "chat" / "google_voice" / "Takeout" / "Voice"
CALLS = VOICE / "Calls"
OPTIONS = ParseOptions(tz=ZoneInfo("America/New_York"), region="US")


def _items(name: str) -> list[object]:
    return list(GoogleVoiceConnector().parse(CALLS / name, OPTIONS))


def _events(name: str) -> list[EventRecord]:
    return [i for i in _items(name) if isinstance(i, EventRecord)]


def test_every_page_and_the_accounts_numbers_are_recognised() -> None:
    for path in sorted(CALLS.glob("*.html")):
        assert registry.detect(path).name == "google_voice", path.name
    # The account's own numbers: owner hints, not an address book card.
    assert registry.detect(VOICE / "Phones.vcf").name == "google_voice"
    assert list(GoogleVoiceConnector().parse(VOICE / "Phones.vcf", OPTIONS)) == [
        OwnerHint("phone", "+16465559876")
    ]


def test_a_conversation_reads_with_its_times_lines_and_pictures() -> None:
    items = _items("Priya Shah - Text - 2024-03-05T14_16_00Z.html")
    texts = [i for i in items if isinstance(i, EventRecord)]
    assert [(t.direction, t.text) for t in texts] == [
        (None, "Hi! Is order 1043 ready?\nI can come at 2"),
        ("outbound", "Yes, ready from 2pm & we close at 6."),
        (None, "[picture]"),
    ]
    first = texts[0]
    assert first.occurred_at.astimezone(UTC) == datetime(2024, 3, 5, 14, 16, 0, 451000, UTC)
    assert (first.source, first.title, first.thread_key) == (
        "google_voice",
        "Priya Shah",
        "google_voice:+12125551234",
    )
    assert [(p.role, p.name, p.phone) for p in texts[1].participants] == [
        ("member", "Priya Shah", "+12125551234")
    ]
    assert OwnerHint("phone", "+16465559876") in items  # ("Me": the owner's number)


def test_a_group_conversation_names_its_people() -> None:
    dev, mine = _events("Group Conversation - 2024-03-05T15_00_00Z.html")
    assert [(p.role, p.name, p.phone) for p in dev.participants] == [
        ("author", "Dev Shah", "+12125553344"),
        ("member", "Priya Shah", "+12125551234"),
    ]
    assert dev.details == {"group": "+12125551234, +12125553344"}
    assert dev.thread_key == "google_voice:+12125551234~+12125553344"
    assert (mine.direction, mine.title) == ("outbound", "Priya Shah, Dev Shah")


def test_calls_and_voicemail() -> None:
    found = {
        name.split(" - ")[1]: _events(name)[0]
        for name in (p.name for p in sorted(CALLS.glob("* - [RPMV]*.html")))
    }
    assert {k: (e.direction, e.text) for k, e in found.items()} == {
        "Received": ("inbound", "Incoming call, 1 min 4 s"),
        "Placed": ("outbound", "Outgoing call, 3 min"),
        "Missed": ("inbound", "Missed call"),
        "Voicemail": (
            "inbound",
            "Voicemail, 23 s\nHi it's Priya, call me back about the vase please.",
        ),
    }
    assert found["Voicemail"].details == {"call": {"type": "Voicemail", "seconds": 23}}


def test_a_takeout_of_voice_is_one_history_per_customer(db: Database) -> None:
    """The folder as Takeout unpacks it: Priya's texts, calls and voicemail are hers, the
    account's own number is no customer's, and importing again adds nothing."""
    reports = import_paths(db, [VOICE.parent])
    assert [(Path(r.path).name, r.format, r.added, r.status) for r in reports] == [
        ("Calls", "google_voice", 9, "done"),  # (5 texts, 4 calls: the folder is one source)
        ("Phones.vcf", "google_voice", 0, "done"),
    ]
    svc = Service(db)
    customers = {c.name: c for c in svc.customers("")}
    assert sorted(customers) == ["+12125557070", "Dev Shah", "Priya Shah"]
    assert customers["Priya Shah"].event_count == 8  # 3 texts, 2 group texts, 3 calls
    assert not svc.customers("646 555 9876")
    again = import_paths(db, [VOICE.parent])
    assert sum(r.added for r in again) == 0


def test_a_conversation_google_voice_marked_as_spam_is_left_out(tmp_path: Path) -> None:
    calls = tmp_path / "Voice" / "Calls"
    calls.mkdir(parents=True)
    page = (CALLS / "Priya Shah - Text - 2024-03-05T14_16_00Z.html").read_text()
    spam = page.replace("+12125551234", "+12125558888").replace("#inbox", "#spam")
    (calls / "+12125558888 - Text - 2024-03-06T10_00_00Z.html").write_text(spam)
    (calls / "Priya Shah - Text - 2024-03-05T14_16_00Z.html").write_text(page)
    items = list(GoogleVoiceConnector().parse(calls, OPTIONS))
    assert len([i for i in items if isinstance(i, EventRecord)]) == 3
    assert Notice("Calls: 1 conversations Google Voice marked as spam left out") in items
    assert all("+12125558888" not in str(i) for i in items if isinstance(i, EventRecord))
