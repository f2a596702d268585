"""A generated shop whose stored suggestions are built, for the tests of the catch-up's bound."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.orm import Session

from app import suggestion_store
from app import suggestions as sx
from app.db import open_database
from app.ingest import import_items
from tests.bench.bench_identity import make_people, make_records


@dataclass
class BoundCase:
    """What the bound's tests read: an open session on the rebuilt store, the stored
    frequencies as if of a hundred times as many customers (a small database's prior odds
    alone reach the floor), the customers' profiles and their mentions."""

    session: Session
    freq: sx._Frequencies
    profiles: dict[int, sx._Profile]
    said: dict[tuple[int, int], set[str]]


@contextmanager
def bound_case(tmp_path: Path, seed: int, people: int = 400) -> Iterator[BoundCase]:
    """``people`` generated people (``bench_identity``) imported, the list rebuilt."""
    made, _users = make_people(people, seed)
    records = [r for r, _ in make_records(made, seed)]
    db = open_database(tmp_path / "bound.db")
    try:
        import_items(db, lambda: records, label="t", format="t")
        with db.session() as s:
            suggestion_store.rebuild(s)
            state = suggestion_store._state(s)
            assert state is not None
            freq = replace(state.freq, customers=100 * state.freq.customers)
            profiles = sx._profiles(s)
            yield BoundCase(s, freq, profiles, sx._mentions(s, profiles))
    finally:
        db.dispose()
