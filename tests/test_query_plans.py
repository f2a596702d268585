"""The hot queries use indexes: every statement they run is checked with EXPLAIN QUERY PLAN.

A statement that reads every row of ``event``, ``customer``, ``identity`` or their link
tables (a plan line ``SCAN <table>``, or a search of the index of not-merged customers,
which holds nearly all of them) fails the test: at a million events such a query
takes seconds, however fast it is on this small database. The statements are caught as
the public functions run them (the lookup as one types, a customer's profile and timeline
page, the first page of a search, the waiting list), so a rewrite of a query is checked
as it is, not as this test imagines it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection

from app import lookup_sql, queries, waiting
from app.db import Database
from app.errors import AmbiguousError
from app.ingest import import_items
from app.records import EventRecord
from tests.test_search import NOW, chat, mail, order

BIG_TABLES = (
    "event",
    "customer",
    "identity",
    "customer_identity",
    "event_participant",
    "order_info",
    "mention",
)
_SCAN = re.compile(r"\bSCAN (\w+)")
# An index that holds nearly every row: searching it for NULL (not merged) reads them all.
_ALL_ROWS = re.compile(
    r"\bSEARCH (customer) USING (?:COVERING )?INDEX "
    r"ix_customer_merged_into_id \(merged_into_id=\?\)"
)


@pytest.fixture
def shop(db: Database) -> Database:
    records: list[EventRecord] = []
    for n in range(60):
        at = NOW - timedelta(hours=n * 7)
        email = f"person{n}@example.com"
        records.append(mail(f"m{n}", email, f"Person {n}", f"Hello {n}", "peonies please", at))
        records.append(chat(f"c{n}", f"Person {n}", f"+4477009{n:05d}", "tulips today", at))
        records.append(order(f"#{10000 + n}", email, f"Person {n}", "10.00", at))
    import_items(db, lambda: records, label="test", format="test")
    # No ANALYZE: the app never runs it, so SQLite plans as for big tables, as here.
    return db


@contextmanager
def statements(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """Every SELECT the engine runs inside the block, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def catch(conn: Connection, cursor: Any, sql: str, params: Any, *args: Any) -> None:
        if sql.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((sql, params))

    event.listen(db.engine, "before_cursor_execute", catch)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", catch)


def full_scans(db: Database, run: Callable[[Any], object]) -> list[str]:
    """The plan lines of ``run``'s statements that read a whole big table."""
    with statements(db) as seen, db.session() as session:
        run(session)
    assert seen, "the function ran no query"
    bad: list[str] = []
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        for sql, params in seen:
            for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall():
                detail = str(row[-1])
                match = _SCAN.search(detail) or _ALL_ROWS.search(detail)
                if match and match.group(1) in BIG_TABLES:
                    bad.append(f"{detail}  ←  {' '.join(sql.split())[:300]}")
    return bad


def _customer_id(db: Database, ref: str) -> int:
    with db.session() as s:
        return queries.resolve_customer(s, ref)


LOOKUPS = ["p", "pe", "per", "Person 4", "person12@ex", "0090", "07700900012", "#10012", "0012"]


def test_lookup_as_you_type_uses_indexes(shop: Database) -> None:
    for typed in LOOKUPS:

        def run(s: Any, typed: str = typed) -> None:
            queries.count_customers(s, typed)
            queries.list_customers(s, typed, limit=50)

        assert full_scans(shop, run) == [], typed


def _page_plans(sqls: list[tuple[str, Any]], con: Any) -> list[list[str]]:
    """The plans of the statements that read a page of customers in display order."""
    return [
        [str(row[-1]) for row in con.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()]
        for sql, params in sqls
        if "ORDER BY customer.last_seen DESC" in " ".join(sql.split())
    ]


def _stops_at_its_end(plans: list[list[str]]) -> bool:
    """A page read in display order off ix_customer_display, never sorted first (a sort
    reads every match before the first row comes out: thousands at a million events)."""
    return bool(plans) and all(
        any("USING COVERING INDEX ix_customer_display" in line for line in plan)
        and not any("TEMP B-TREE FOR ORDER BY" in line for line in plan)
        for plan in plans
    )


@pytest.mark.parametrize("few", [0, 10**9], ids=["walked", "collected"])
def test_a_lookup_page_is_read_in_display_order_without_sorting(
    shop: Database, monkeypatch: pytest.MonkeyPatch, few: int
) -> None:
    # FEW decides whether the matches are walked or collected (app.lookup_sql): on this
    # small shop every lookup is "few", so both ways are forced here.
    monkeypatch.setattr(lookup_sql, "FEW", few)
    for typed in ["", *LOOKUPS]:
        with statements(shop) as seen, shop.session() as session:
            queries.list_customers(session, typed, limit=50)
        with shop.engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert _stops_at_its_end(_page_plans(seen, raw)), typed
        lean: list[tuple[str, Any]] = []
        assert lean_scans(shop, lambda r, q=typed: r.list_customers(q, limit=50), lean) == []
        with shop.engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert _stops_at_its_end(_page_plans(lean, raw)), typed


def test_opening_a_customer_uses_indexes(shop: Database) -> None:
    cid = _customer_id(shop, "person7@example.com")

    def run(s: Any) -> None:
        queries.customer(s, cid)
        queries.timeline(s, cid, limit=200)
        queries.timeline_count(s, cid)
        queries.timeline(s, cid, limit=200, channels=["email"], oldest_first=True)
        queries.notes(s, cid)

    assert full_scans(shop, run) == []


def test_resolving_a_reference_uses_indexes(shop: Database) -> None:
    def run(s: Any) -> None:
        queries.resolve_customer(s, "person7@example.com")
        queries.resolve_customer(s, "+447700900007")
        queries.resolve_customer(s, "#10007")
        with contextlib.suppress(AmbiguousError):  # by name: the chat's and the mail's
            queries.resolve_customer(s, "Person 7")

    assert full_scans(shop, run) == []


SEARCHES = [
    "peonies",
    "tulips today",
    '"peonies please"',
    "peon*",
    "peonies -tulips",
    "0090",
    "from:person7",
    "from:07700900",
    "order:10007",
    "peonies from:person7 after:30d",
    "tulips channel:whatsapp",
]


def test_search_first_page_uses_indexes(shop: Database) -> None:
    for query in SEARCHES:
        assert full_scans(shop, lambda s, q=query: queries.search(s, q, now=NOW)) == [], query


def test_search_in_one_customer_uses_indexes(shop: Database) -> None:
    cid = _customer_id(shop, "person7@example.com")
    assert full_scans(shop, lambda s: queries.search(s, "peonies", customer_id=cid)) == []


def test_waiting_list_uses_indexes(shop: Database) -> None:
    now = datetime(2026, 7, 1, tzinfo=UTC)
    assert full_scans(shop, lambda s: waiting.waiting(s, now=now, limit=100)) == []


def lean_scans(
    db: Database, run: Callable[[Any], object], seen_out: list[tuple[str, Any]] | None = None
) -> list[str]:
    """``full_scans`` for the lean read path of the CLI (``app.readpath``, plain sqlite3);
    the statements it ran go to ``seen_out`` too."""
    from app.readpath import Reader

    assert db.path is not None
    reader = Reader.open(db.path)
    assert reader is not None, "the lean path takes this database"
    con = reader._con
    seen: list[str] = []
    con.set_trace_callback(  # the statements with their values in place
        lambda sql: (
            seen.append(sql) if sql.lstrip().upper().startswith(("SELECT", "WITH")) else None
        )
    )
    try:
        run(reader)
    finally:
        con.set_trace_callback(None)
    assert seen, "the function ran no query"
    if seen_out is not None:
        seen_out.extend((sql, ()) for sql in seen)
    bad: list[str] = []
    try:
        for sql in seen:
            for row in con.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall():
                detail = str(row[-1])
                match = _SCAN.search(detail) or _ALL_ROWS.search(detail)
                if match and match.group(1) in BIG_TABLES:
                    bad.append(f"{detail}  ←  {' '.join(sql.split())[:300]}")
    finally:
        reader.close()
    return bad


def test_the_cli_lean_path_uses_indexes(shop: Database) -> None:
    # `threadline customers QUERY`, `show` and `search` answer through app.readpath, whose
    # SQL is its own (not the queries above): at a million events a scan there is what a
    # whole-process command waits for.
    cid = _customer_id(shop, "person7@example.com")
    for typed in LOOKUPS:
        assert lean_scans(shop, lambda r, q=typed: r.list_customers(q, limit=50)) == [], typed
    for ref in ("person7@example.com", "+447700900007", "#10007", "Person 7", str(cid)):

        def run(r: Any, ref: str = ref) -> None:
            with contextlib.suppress(AmbiguousError):  # the chat and the mail's "Person 7"
                r.open_customer(ref)

        assert lean_scans(shop, run) == [], ref
    for query in SEARCHES:
        if "after:" in query:
            continue  # relative to now: the shop's messages are of another day
        assert lean_scans(shop, lambda r, q=query: r.search(q)) == [], query


def test_the_check_catches_a_full_scan(shop: Database) -> None:
    # the check itself can fail: a filter no index serves is reported
    def run(s: Any) -> None:
        s.execute(queries.text("SELECT count(*) FROM event WHERE body LIKE '%peon%'")).all()

    assert full_scans(shop, run)


def test_the_catch_up_finds_mentioned_orders_by_index(shop: Database) -> None:
    # The suggestions' catch-up finds the orders a message mentions by the index of their
    # numbers' keys, and the few numbers SQL cannot key by a partial index of them alone
    # (migration 0020_catchup9), not by reading every order.
    from app.suggestion_mentions import _Reader

    with statements(shop) as seen, shop.session() as session:
        found = _Reader(session, set()).keyed_orders({"10012", "10013", "99999"})
    assert sorted(key for _event, key in found) == ["10012", "10013"]
    plans: list[str] = []
    with shop.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        for sql, params in seen:
            if "order_info" in sql:
                rows = raw.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
                plans.append(" ".join(str(row[-1]) for row in rows))
    assert len(plans) == 2, plans
    assert "USING INDEX ix_order_info_key" in plans[0], plans
    assert "USING COVERING INDEX ix_order_info_odd" in plans[1], plans
