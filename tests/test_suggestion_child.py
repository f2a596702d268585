"""``app.suggestion_child`` without a window: which catch-ups are big enough for a child
process, and the child's answers (built, read-only, cancelled)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from app import suggestion_child, suggestion_store
from app.db import Database, open_database
from app.errors import Cancelled
from app.ingest import import_items
from app.models import Customer, SuggestionPair, SuggestionState
from app.service import Service
from tests.bench.bench_identity import make_people, make_records


def _db(folder: Path) -> Database:
    people, _users = make_people(60, 5)
    db = open_database(folder / "small.db")
    records = [r for r, _ in make_records(people, 5)]
    import_items(db, lambda: records, label="t", format="t")
    return db


def test_the_pending_work_is_read_from_the_stores_state(tmp_path: Path) -> None:
    db = _db(tmp_path)
    with db.session() as s:
        customers = s.scalar(
            select(func.count()).select_from(Customer).where(Customer.merged_into_id.is_(None))
        )
        assert customers is not None and customers > 20
        # Never built: every customer is scored (counted up to the limit asked for).
        assert suggestion_child.pending_customers(s, up_to=10**6) == customers
        assert suggestion_child.pending_customers(s, up_to=7) == 7
        suggestion_store.rebuild(s)
        assert suggestion_child.pending_customers(s) == 0
        ids = list(s.scalars(select(Customer.id).limit(3)))
        suggestion_store.mark(s, ids)
        assert suggestion_child.pending_customers(s) == 3  # a few marked: they are scored
        marked = list(s.scalars(select(Customer.id)))[: customers // 5]
        suggestion_store.mark(s, marked)  # past DRIFT: rebuilt, everyone scored
        assert suggestion_child.pending_customers(s, up_to=10**6) == customers
        suggestion_store.rebuild(s)
        s.execute(update(SuggestionState).values(version="older"))  # another scorer
        assert suggestion_child.pending_customers(s, up_to=10**6) == customers
    db.dispose()


def test_worth_a_child_from_the_threshold_or_never_when_switched_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _db(tmp_path)
    monkeypatch.delenv("THREADLINE_SUGGESTION_CHILD", raising=False)
    with db.read_session() as s:
        assert not suggestion_child.worth_a_child(s)  # 60 people: far below the threshold
        monkeypatch.setattr(suggestion_child, "CHILD_MIN_CUSTOMERS", 2)
        assert suggestion_child.worth_a_child(s)
        monkeypatch.setenv("THREADLINE_SUGGESTION_CHILD", "0")
        assert not suggestion_child.worth_a_child(s)
    db.dispose()


def test_the_child_builds_the_list_a_service_would(tmp_path: Path) -> None:
    db = _db(tmp_path)
    done = suggestion_child.catch_up_in_child(db)
    assert done.outcome == "rebuilt" and done.pid != os.getpid() and done.cpu_seconds > 0
    with db.read_session() as s:
        stored = sorted(
            (p.customer_a, p.customer_b, p.score) for p in s.scalars(select(SuggestionPair))
        )
        assert not suggestion_store.needs_catch_up(s)
    other = _db(tmp_path / "other")  # the same records, built in this process
    with other.session() as s:
        suggestion_store.catch_up(s)
        assert stored == sorted(
            (p.customer_a, p.customer_b, p.score) for p in s.scalars(select(SuggestionPair))
        )
    assert suggestion_child.catch_up_in_child(db).outcome == "current"
    db.dispose()
    other.dispose()


def test_a_read_only_database_is_reported_and_the_count_computed_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _db(tmp_path)
    expected = Service(db).suggestions()
    with db.session() as s:  # forget the list again, then open the file read-only
        s.execute(update(SuggestionState).values(version="older"))
    db.dispose()
    assert db.path is not None
    ro = open_database(f"sqlite:///file:{db.path}?mode=ro&uri=true")
    monkeypatch.setattr(suggestion_child, "CHILD_MIN_CUSTOMERS", 2)
    assert suggestion_child.catch_up_in_child(ro).outcome == "read-only"
    assert Service(ro).suggestion_count(apart=True) == len(expected)
    ro.dispose()


def test_cancelling_stops_the_child(tmp_path: Path) -> None:
    db = _db(tmp_path)
    started = threading.Event()

    def should_cancel() -> bool:  # asked first while the child starts: cancel then
        started.set()
        return True

    with pytest.raises(Cancelled):
        suggestion_child.catch_up_in_child(db, should_cancel=should_cancel)
    assert started.is_set()
    assert suggestion_child._children == set()
    with db.read_session() as s:
        assert suggestion_store.needs_catch_up(s)  # nothing stored
    db.dispose()
