"""The catch-up's name orders read around the changed customers through the stored orders'
indexes (``suggestion_store._NameLists``) answer as the whole lists sorted in Python do
(``_Ordering``), on both stores: neighbours, window changes, pairs within the window."""

from __future__ import annotations

import random
from itertools import combinations
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from app.db import open_database
from app.models import SuggestionCustomer
from app.suggestion_store import Orders, _NameLists, _Ordering, _window_changes

# Values that sort differently by code point and by a language's collation (case, spaces,
# accents, punctuation), with ties and customers without a value.
_WORDS = ["", "", "ab", "a b", "Ab", "aB", "b", "Z", "z", "é", "e", "ea", "ä", "a-b", "ab c"]


def _value(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 2))).strip()


def _orders(rng: random.Random) -> Orders:
    return (_value(rng), _value(rng), _value(rng))


@pytest.mark.parametrize(("seed", "wrote"), [(1, False), (2, False), (1, True)])
def test_name_lists_read_by_index_equal_the_whole_lists(
    store_url: str, seed: int, wrote: bool
) -> None:
    """Read on a second connection (a SQLite file's transaction that has written nothing),
    or through the session (PostgreSQL, or a transaction that wrote)."""
    rng = random.Random(seed)
    width = 2
    stored = {cid: _orders(rng) for cid in range(1, 161)}
    changed = set(rng.sample(sorted(stored), 30)) | set(range(161, 171))  # new ones too
    erased = set(rng.sample(sorted(changed & set(stored)), 5))
    new = {cid: _orders(rng) for cid in changed - erased}
    for cid in rng.sample(sorted(changed & set(stored) - erased), 5):
        new[cid] = stored[cid]  # changed, but not in its name orders
    after = {cid: o for cid, o in stored.items() if cid not in changed} | new
    db = open_database(store_url)
    with db.session() as s:
        s.execute(
            insert(SuggestionCustomer),
            [
                {"customer_id": c, "order0": o[0], "order1": o[1], "order2": o[2]}
                for c, o in stored.items()
            ],
        )
    with db.session() as s:
        if wrote:  # (a customer in no list)
            s.execute(insert(SuggestionCustomer), [{"customer_id": 10_000}])
        old = {c: stored[c] for c in changed if c in stored}
        lists = _NameLists(s, changed, old, new, width)
        aside = lists._aside is not None
        assert aside == (not wrote and s.connection().dialect.name == "sqlite")
        olds = [_Ordering.of(stored, stored, w, named=True) for w in range(3)]
        news = [_Ordering.of(after, after, w, named=True) for w in range(3)]
        # The stored lists in the database's order are Python's.
        for w in range(3):
            rows = s.execute(
                select(SuggestionCustomer.customer_id)
                .where(getattr(SuggestionCustomer, f"order{w}") != "")
                .order_by(getattr(SuggestionCustomer, f"order{w}"), SuggestionCustomer.customer_id)
            )
            assert list(rows.scalars()) == olds[w].ranked
        for cid in new:
            expected = {y for o in news for y in o.neighbours(cid, width)}
            assert lists.neighbours(cid) == expected, cid
        unchanged = sorted(set(stored) - changed)
        expected_changes = set()
        for pair in combinations(unchanged, 2):
            for w in range(3):
                was, now = olds[w].within(*pair, width), news[w].within(*pair, width)
                if was != now:
                    expected_changes.add((pair, was, now))
        assert set(lists.changes()) == expected_changes
        assert expected_changes  # (the test changes some windows)
        pairs = list(combinations(unchanged, 2))
        expected_within = {p for p in pairs if any(o.within(*p, width) for o in news)}
        assert lists.within(pairs) == expected_within
    db.dispose()


def test_the_name_lists_are_read_by_their_indexes(tmp_path: Path) -> None:
    db = open_database(tmp_path / "plan.db")
    with db.session() as s:
        connection = s.connection()
        for w in range(3):
            plan = connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN SELECT order{w}, customer_id FROM suggestion_customer "
                f"WHERE (order{w}, customer_id) < (?, ?) AND order{w} <> '' "
                f"ORDER BY order{w} DESC, customer_id DESC LIMIT 4",
                ("a", 1),
            ).all()
            assert any(f"INDEX ix_suggestion_customer_order{w}" in row[-1] for row in plan), plan
    db.dispose()


@pytest.mark.parametrize("seed", range(6))
def test_window_changes_in_an_oversized_block_are_those_of_the_whole_lists(seed: int) -> None:
    """``_window_changes`` (read around the changed customers' places) finds every pair of
    unchanged members whose window membership changed, as comparing every pair does."""
    rng = random.Random(seed)
    width = rng.choice([1, 2, 3, 10])
    before = {cid: _orders(rng) for cid in range(1, 121)}
    dirty = set(rng.sample(sorted(before), 25)) | set(range(121, 131))  # new ones too
    gone = set(rng.sample(sorted(dirty & set(before)), 4))  # left the block
    after = {c: o for c, o in before.items() if c not in dirty}
    after |= {c: _orders(rng) for c in dirty - gone}
    for cid in rng.sample(sorted(dirty & set(before) - gone), 4):
        after[cid] = before[cid]  # changed, in the same places
    old_m, new_m = set(before) - set(range(121, 131)), set(after)
    olds = [_Ordering.of(old_m, before, w, named=False) for w in range(3)]
    news = [_Ordering.of(new_m, after, w, named=False) for w in range(3)]
    entries = [
        (w, (orders[c][w], c))
        for c in sorted(dirty)
        for orders in (before, after)
        if c in orders
        for w in range(3)
    ]
    found = list(_window_changes(olds, news, entries, dirty, width))
    expected = set()
    for pair in combinations(sorted(old_m - dirty), 2):
        was = any(o.within(*pair, width) for o in olds)
        now = any(o.within(*pair, width) for o in news)
        if was != now:
            expected.add((pair, was, now))
    assert len(found) == len(set(found))
    assert set(found) == expected
    assert expected  # (the test changes some windows)
    # The old orders made from the new ones, the changed customers moved back (as the
    # catch-up makes them): the same.
    for w, (old, new) in enumerate(zip(olds, news, strict=True)):
        made = new.changed(
            [(after[c][w], c) for c in dirty & new_m], [(before[c][w], c) for c in dirty & old_m]
        )
        assert made.keyed == old.keyed and made.pos == old.pos
