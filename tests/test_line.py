"""LINE's "Export chat history" text files, in the variants public readers show."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from app.db import Database
from app.ingest import import_paths
from app.records import EventRecord, Notice, OwnerHint, ParseOptions
from app.service import Service
from connectors import registry
from connectors.line import LineConnector

FIX = Path(__file__).resolve().parent / "fixtures" / "chat" / "line"
PRIYA = FIX / "[LINE] Chat with Priya Shah.txt"
GROUP = FIX / "[LINE] Chat with Shop Friends.txt"
TANAKA = FIX / "[LINE] 田中さんとのトーク履歴.txt"
OPTIONS = ParseOptions(tz=ZoneInfo("Asia/Tokyo"), region="JP")


def _items(path: Path, options: ParseOptions = OPTIONS) -> list[object]:
    return list(LineConnector().parse(path, options))


def _events(path: Path, options: ParseOptions = OPTIONS) -> list[EventRecord]:
    return [i for i in _items(path, options) if isinstance(i, EventRecord)]


def test_exports_are_recognised_and_a_whatsapp_chat_is_not() -> None:
    for path in (PRIYA, GROUP, TANAKA):
        assert registry.detect(path).name == "line", path.name
    whatsapp = sorted((Path(__file__).resolve().parent / "fixtures" / "whatsapp").glob("*.txt"))
    assert len(whatsapp) >= 5
    for path in whatsapp:
        assert LineConnector().sniff(path, path.read_bytes()[:4096]) == 0.0, path.name


def test_a_one_to_one_chat_its_days_lines_and_owner() -> None:
    items = _items(PRIYA)
    assert items[0] == OwnerHint("name", "Bloom & Branch")  # (the chat is Priya's)
    events = [i for i in items if isinstance(i, EventRecord)]
    assert [(e.participants[0].name, e.text) for e in events] == [
        ("Priya Shah", "Hi, is my order 1043 ready?"),
        ("Bloom & Branch", "Yes! From 2pm."),
        ("Priya Shah", "Great, thanks.\nCan you add a card?\nIt says: Happy 30th!"),
        ("Priya Shah", "[Sticker]"),
        ("Bloom & Branch", "[Photo]"),
        ("Priya Shah", "Perfect ❤️"),
    ]
    first = events[0]
    assert first.occurred_at == datetime(2024, 3, 5, 0, 16, tzinfo=UTC)  # (09:16 in Tokyo)
    assert (first.source, first.title, first.thread_key) == (
        "line",
        "Priya Shah",
        "line:Priya Shah",
    )
    assert (first.participants[0].handle, first.participants[0].platform) == ("Priya Shah", "line")
    assert first.locator == "[LINE] Chat with Priya Shah.txt:5"


def test_a_us_export_with_am_pm_and_a_notice() -> None:
    events = _events(GROUP, ParseOptions(tz=ZoneInfo("America/New_York"), region="US"))
    assert [(e.direction, e.text) for e in events] == [
        (None, "Morning all"),
        (None, "Who is bringing the vases?"),
        ("system", "Tom Okafor joined the group"),
        (None, "I am"),
    ]
    assert events[0].occurred_at == datetime(2024, 3, 12, 12, 15, tzinfo=UTC)  # 8:15AM EDT
    assert events[1].occurred_at == datetime(2024, 3, 12, 16, 5, tzinfo=UTC)  # 12:05PM


def test_day_and_month_that_cannot_be_told_apart_are_said_to_be_assumed(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_text(
        "[LINE] Chat history with Ann\nSaved on: 05/03/2024, 09:00\n\n"
        "Tue, 05/03/2024\n9:16AM\tAnn\tHello\n",
        encoding="utf-8",
    )
    items = _items(path, ParseOptions(tz=ZoneInfo("Europe/London"), region="GB"))
    assert (
        Notice("chat.txt: day and month could not be told apart; read as day/month (region GB)")
        in items
    )
    (event,) = [i for i in items if isinstance(i, EventRecord)]
    assert event.occurred_at == datetime(2024, 3, 5, 9, 16, tzinfo=UTC)


def test_a_japanese_export_imports_and_again_adds_nothing(db: Database) -> None:
    (report,) = import_paths(db, [TANAKA], tz=ZoneInfo("Asia/Tokyo"))
    assert (report.format, report.added) == ("line", 2)
    names = {c.name for c in Service(db).customers("")}
    assert "田中" in names
    (again,) = import_paths(db, [TANAKA], tz=ZoneInfo("Asia/Tokyo"))
    assert (again.added, again.duplicates) == (0, 2)
