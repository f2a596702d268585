"""The writer's bulk insert (``ingest.insert_rows``) stores what a Core insert stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import StatementError

from app import ingest
from app.db import Database, open_database
from app.ingest import insert_rows, is_data_fault
from app.models import ImportRun


def _event(n: int, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": n,
        "channel": "email",
        "source": "mbox",
        "external_id": f"<{n}@example.com>",
        # an offset other than UTC, microseconds, a far date: all bound by the column type
        "occurred_at": datetime(2026, 3, 2, 10, 0, n, 123456, tzinfo=timezone(timedelta(hours=5))),
        "direction": "inbound",
        "title": f"Order {n} \u2014 Zoë's «parcel»",
        "body": "Hallo\x00 wörld\n\u202e\ud7ff" * n,
        "thread_key": f"<{n}@example.com>",
        "details": {"z": [1, 2.5, None], "a": "ü", "when": datetime(2026, 1, 1, tzinfo=UTC)},
        "content_hash": "h" * 64,
        "fingerprint": "",
        "import_run_id": 1,
        "locator": f"cur/{n}:2,S",
        "created_at": datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        "language": None if n % 2 else "de",
    }
    row.update(changes)
    return row


def _order(n: int) -> dict[str, Any]:
    return {
        "event_id": n,
        "number": f"#{1000 + n}",
        "platform": "shopify",
        "currency": "EUR",
        "total": Decimal("1234.50"),
        "subtotal": Decimal("0.10") if n % 2 else None,
        "shipping": None,
        "tax": Decimal("-0"),
        "discount": None,
        "refunded": Decimal("1E+3"),
        "financial_status": "paid",
        "fulfillment_status": "",
        "platform_order_id": "",
        "paid_at": datetime(2026, 3, 2, tzinfo=UTC),
        "fulfilled_at": None,
        "cancelled_at": None,
    }


def _tables(rows: int) -> list[tuple[Any, list[dict[str, Any]]]]:
    return [
        (ingest._EVENT, [_event(n) for n in range(1, rows + 1)]),
        (ingest._ORDER, [_order(n) for n in range(1, rows + 1)]),
        (
            ingest._ORDER_LINE,
            [
                {
                    "order_event_id": n,
                    "position": 0,
                    "name": "Mug",
                    "sku": "",
                    "quantity": 2,
                    "unit_price": Decimal("9.99"),
                }
                for n in range(1, rows + 1)
            ],
        ),
        (ingest._MENTION, [{"event_id": n, "kind": "order", "value": f"{n}"} for n in range(1, 4)]),
    ]


def _stored(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    with db.session() as session:
        return {
            table.name: [
                tuple(row)
                for row in session.execute(text(f"SELECT * FROM {table.name} ORDER BY rowid"))
            ]
            for table, _rows in _tables(0)
        }


def _database(path: Path) -> Database:
    db = open_database(path)
    with db.session() as session:
        session.add(ImportRun(path="x", format="mbox"))
    return db


def test_insert_rows_stores_what_core_stores(tmp_path: Path) -> None:
    fast, core = _database(tmp_path / "fast.db"), _database(tmp_path / "core.db")
    with fast.session() as session:
        for table, rows in _tables(5):
            insert_rows(session, table, rows)
    with core.session() as session:
        for table, rows in _tables(5):
            session.execute(insert(table), rows)
    assert _stored(fast) == _stored(core)
    assert len(_stored(fast)["event"]) == 5
    assert ingest._plain_inserts  # the driver path was taken, not only Core's


def test_insert_rows_rows_with_other_keys_go_through_core(tmp_path: Path) -> None:
    fast, core = _database(tmp_path / "fast.db"), _database(tmp_path / "core.db")
    extra = [_event(1), {**_event(2), "unknown": 1}]  # Core leaves an unknown key out
    with fast.session() as session:
        insert_rows(session, ingest._EVENT, [dict(r) for r in extra])
    with core.session() as session:
        session.execute(insert(ingest._EVENT), [dict(r) for r in extra])
    assert _stored(fast) == _stored(core)
    missing = [_event(3), {k: v for k, v in _event(4).items() if k != "language"}]
    with pytest.raises(StatementError, match="language"), fast.session() as session:
        insert_rows(session, ingest._EVENT, missing)  # not stored with a NULL in its place


def test_insert_rows_a_naive_time_is_the_records_fault(tmp_path: Path) -> None:
    db = _database(tmp_path / "x.db")
    with pytest.raises(Exception) as caught, db.session() as session:
        insert_rows(
            session, ingest._EVENT, [_event(1), _event(2, occurred_at=datetime(2026, 1, 1))]
        )
    assert is_data_fault(caught.value)  # as from a Core insert: the item becomes a problem
