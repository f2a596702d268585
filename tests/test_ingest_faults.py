"""Errors by fault: the data's faults become import problems, our bugs abort loudly."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import cli
from app.db import Database
from app.errors import UserFacingError
from app.ingest import FileFailedError, import_items, import_paths
from app.models import Event, ImportProblem, ImportRun, Order
from app.records import EventRecord, Item, OrderInfo, Participant
from connectors import registry

T0 = datetime(2026, 3, 1, 9, 15, tzinfo=UTC)


def mail(n: int, **changes: object) -> EventRecord:
    record = EventRecord(
        channel="email",
        source="email",
        external_id=f"<m{n}@example.com>",
        occurred_at=T0,
        title=f"Message {n}",
        text="Hello",
        participants=(Participant("from", "Jane", email="jane@example.com"),),
        locator=f"mail.mbox:{n}",
    )
    from dataclasses import replace

    return replace(record, **changes) if changes else record  # type: ignore[arg-type]


def stored(db: Database) -> tuple[int, int, list[str]]:
    with db.session() as s:
        events = s.scalar(select(func.count()).select_from(Event)) or 0
        problems = s.scalar(select(func.count()).select_from(ImportProblem)) or 0
        statuses = list(s.scalars(select(ImportRun.status).order_by(ImportRun.id)))
    return events, problems, statuses


def test_a_bug_in_the_write_path_aborts_the_import_not_a_problem(db: Database) -> None:
    # A connector that yields a thread key no column can hold is our bug (SQLite refuses to
    # bind it): it must not be filed as an "import problem" of the user's data.
    items: list[Item] = [mail(1), mail(2, thread_key=object()), mail(3)]
    with pytest.raises(Exception) as caught:
        import_items(db, lambda: items, label="bug", format="test")
    assert not isinstance(caught.value, UserFacingError)
    events, problems, statuses = stored(db)
    assert problems == 0
    assert statuses == ["failed"]
    assert events == 0  # the failing batch was rolled back whole: nothing half-written


def test_an_attribute_error_in_a_connector_aborts_the_import(db: Database) -> None:
    def items() -> Iterator[Item]:
        yield mail(1)
        yield mail(2)
        raise AttributeError("'NoneType' object has no attribute 'get_payload'")

    with pytest.raises(AttributeError):
        import_items(db, items, label="bug", format="test", batch_size=1)
    events, problems, statuses = stored(db)
    assert (problems, statuses) == (0, ["failed"])
    assert events == 2  # batches already committed stay, complete


def test_the_datas_faults_are_still_problems(db: Database) -> None:
    items: list[Item] = [
        mail(1, occurred_at=datetime(2026, 1, 1)),  # naive time: the connector's data
        mail(2),
    ]
    report = import_items(db, lambda: items, label="data", format="test")
    assert report.added == 1
    assert [p.location for p in report.problems] == ["mail.mbox:1"]
    assert report.status == "done"


def test_a_value_the_bulk_insert_cannot_convert_is_the_items_problem(db: Database) -> None:
    # New orders are inserted in bulk at the end of a batch (``dialect.insert_rows``): a
    # naive time among an order's dates is refused while its row is converted, and that
    # stays the record's fault (the batch is written again item by item), as through Core.
    def order(n: int, paid_at: datetime) -> EventRecord:
        info = OrderInfo(number=f"#{n}", currency="GBP", total=Decimal("5.00"), paid_at=paid_at)
        return mail(n, channel="order", source="shopify", order=info, locator=f"orders.csv:{n}")

    items: list[Item] = [order(1, T0), order(2, datetime(2026, 1, 1)), order(3, T0), mail(4)]
    report = import_items(db, lambda: items, label="orders", format="test")
    assert report.status == "done"
    assert [p.location for p in report.problems] == ["orders.csv:2"]
    assert "(builtins.ValueError) naive datetime" in report.problems[0].reason
    assert (report.added, report.duplicates) == (3, 0)  # the refused order is not counted
    with db.session() as s:
        assert list(s.scalars(select(Order.number).order_by(Order.number))) == ["#1", "#3"]
    assert stored(db)[:2] == (3, 1)


def test_a_record_refused_in_a_batch_does_not_hide_its_good_copy(db: Database) -> None:
    # The same order twice in one file, its first row refused: the second is stored, not
    # taken for a duplicate of a row that never was.
    def order(paid_at: datetime, locator: str) -> EventRecord:
        info = OrderInfo(number="#7", currency="GBP", total=Decimal("5.00"), paid_at=paid_at)
        return mail(7, channel="order", source="shopify", order=info, locator=locator)

    items: list[Item] = [
        mail(1),
        order(datetime(2026, 1, 1), "orders.csv:2"),
        order(T0, "orders.csv:3"),
    ]
    report = import_items(db, lambda: items, label="orders", format="test")
    assert [p.location for p in report.problems] == ["orders.csv:2"]
    assert (report.added, report.duplicates) == (2, 0)
    with db.session() as s:
        assert list(s.scalars(select(Order.number))) == ["#7"]
    assert stored(db)[:2] == (2, 1)


def test_a_file_that_fails_part_way_keeps_its_counts(db: Database) -> None:
    def items() -> Iterator[Item]:
        yield from (mail(n) for n in range(5))
        raise OSError(5, "Input/output error")

    with pytest.raises(FileFailedError) as caught:
        import_items(db, items, label="disk.mbox", format="mbox", batch_size=2)
    report = caught.value.report
    assert (report.added, report.status) == (5, "failed")
    assert report.error is not None and "read error" in report.error
    assert stored(db)[0] == 5


_MBOX = b"".join(
    b"From jane@example.com Mon Jan  1 00:00:00 2024\n"
    b"From: Jane <jane@example.com>\nTo: shop@example.com\nSubject: s%d\n"
    b"Message-ID: <m%d@example.com>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nHello\n\n" % (n, n)
    for n in range(4)
)


def _failing_after_parse(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    connector = type(registry.get("mbox"))
    parse = connector.parse

    def broken(self: object, path: Path, options: object) -> Iterator[Item]:
        yield from parse(self, path, options)  # type: ignore[arg-type]
        raise error

    monkeypatch.setattr(connector, "parse", broken)


def test_import_paths_reports_what_was_stored_before_a_read_error(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.mbox"
    path.write_bytes(_MBOX)
    _failing_after_parse(monkeypatch, OSError(5, "Input/output error"))
    (report,) = import_paths(db, [path])
    assert (report.status, report.added, report.format) == ("failed", 4, "mbox")
    assert report.error is not None and "read error" in report.error


def test_the_cli_says_internal_error_and_logs_the_traceback(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "a.mbox"
    path.write_bytes(_MBOX)
    _failing_after_parse(monkeypatch, TypeError("unsupported operand type(s)"))
    with caplog.at_level(logging.ERROR):
        code = cli.main(["--db", str(tmp_path / "t.db"), "import", str(path), "--json"])
    err = capsys.readouterr().err
    assert code == 2
    assert "internal error" in err and "unsupported operand" in err
    assert "Traceback" in caplog.text and "TypeError: unsupported operand" in caplog.text
