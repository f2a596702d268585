"""What one item may store, for every channel, and how many problems one file lists.

The ingest path cuts an event's text, title and names to fixed sizes and tells each cut in
a notice naming the item's location; a file that yields thousands of problems lists the
first ``MAX_PROBLEMS`` and counts the rest. The WhatsApp reader does not build a huge
message in the first place: it collects up to the bound and only counts the rest.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from app import ingest
from app.db import Database
from app.models import Event
from app.records import (
    MAX_NAME_CHARS,
    MAX_PROBLEMS,
    MAX_TEXT_CHARS,
    MAX_TITLE_CHARS,
    EventRecord,
    Item,
    ParseOptions,
    Participant,
    Problem,
)
from connectors.whatsapp import WhatsAppConnector

WHEN = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def _record(n: int, **changes: object) -> EventRecord:
    fields: dict[str, object] = {
        "channel": "chat",
        "source": "test",
        "external_id": f"m{n}",
        "occurred_at": WHEN,
        "title": "Chat",
        "text": "hello",
        "participants": (Participant("author", "Bob", handle="Bob", platform="test"),),
        "locator": f"chat.txt:{n}",
    }
    fields.update(changes)
    return EventRecord(**fields)  # type: ignore[arg-type]


def _import(db: Database, items: list[Item]) -> ingest.FileReport:
    return ingest.import_items(db, lambda: items, label="chat.txt", format="test")


def test_every_channel_stores_a_bounded_text_title_and_names(db: Database) -> None:
    long_text = "é" * (MAX_TEXT_CHARS + 500_000)
    record = _record(
        1,
        channel="email",
        text=long_text,
        title="S" * (MAX_TITLE_CHARS + 10),
        participants=(Participant("from", "N" * 600, email="bob@example.com"),),
    )
    report = _import(db, [record, _record(2)])
    assert report.added == 2
    assert report.problems == []  # the item is stored: a cut is told, not a failure
    assert report.notices == [
        "chat.txt:1: text cut at 1,000,000 characters (about 1 MB) of 1,500,000; "
        "the rest is not stored",
        "chat.txt:1: title cut at 2,000 characters of 2,010",
        "chat.txt:1: a participant's name cut at 500 characters",
    ]
    with db.session() as session:
        event = session.scalars(select(Event).where(Event.external_id == "m1")).one()
        assert event.body.startswith("é" * MAX_TEXT_CHARS)
        assert event.body.endswith("[… text cut: 500,000 more characters were not stored]")
        assert len(event.body) < MAX_TEXT_CHARS + 100
        assert event.details["text_truncated"] is True
        assert len(event.title) == MAX_TITLE_CHARS
        assert all(len(p.name) <= MAX_NAME_CHARS for p in event.participants)
        small = session.scalars(select(Event).where(Event.external_id == "m2")).one()
        assert small.body == "hello" and "text_truncated" not in small.details


def test_a_text_the_connector_already_cut_is_reported_with_its_full_size(db: Database) -> None:
    record = _record(1, text="x" * (MAX_TEXT_CHARS + 1), text_cut=4_000_000)
    report = _import(db, [record])
    (notice,) = report.notices
    assert notice.startswith(
        "chat.txt:1: text cut at 1,000,000 characters (about 1 MB) of 5,000,001"
    )
    with db.session() as session:
        (event,) = session.scalars(select(Event)).all()
        assert event.body.endswith("[… text cut: 4,000,001 more characters were not stored]")


def test_cuts_past_the_problem_cap_are_counted_in_one_notice(db: Database) -> None:
    records: list[Item] = [_record(n, title="T" * 3000) for n in range(MAX_PROBLEMS + 50)]
    report = _import(db, records)
    assert report.added == MAX_PROBLEMS + 50
    assert len(report.notices) == MAX_PROBLEMS + 1
    assert report.notices[-1] == "more values were cut to their stored size; not listed"


def test_a_file_of_junk_lists_the_first_problems_and_counts_the_rest(db: Database) -> None:
    junk: list[Item] = [Problem(f"junk.csv:{n}", "unreadable row") for n in range(2, 1602)]
    report = _import(db, [*junk, _record(1)])
    assert report.added == 1
    assert len(report.problems) == MAX_PROBLEMS + 1
    assert report.problems[-1] == Problem(
        "chat.txt", "600 more problems like the ones above were not listed"
    )
    assert report.problems[MAX_PROBLEMS - 1].location == f"junk.csv:{MAX_PROBLEMS + 1}"


def test_whatsapp_collects_a_huge_message_only_up_to_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with Bob.txt"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("01/03/2024, 10:00 - Bob: a long one\n")
        for _ in range(150):
            fh.write("w" * 9_999 + "\n")
        fh.write("y" * 1_200_000 + "\n")  # one line longer than the bound itself
        fh.write("01/03/2024, 10:05 - Alice: ok\n")
    items = list(WhatsAppConnector().parse(path, ParseOptions(tz=UTC)))
    events = [i for i in items if isinstance(i, EventRecord)]
    assert [e.text for e in events][1] == "ok"
    big = events[0]
    assert len(big.text) == MAX_TEXT_CHARS + 1
    assert big.text.startswith("a long one\nwww")
    # Every character is counted, the line breaks included: kept or cut, none is lost.
    assert len(big.text) + big.text_cut == len("a long one") + 150 * 10_000 + 1 + 1_200_000
