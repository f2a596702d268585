"""Lookup as one types: which customers a typed fragment finds, in which order, on both
stores; and on SQLite, the two ways a page is read (few matches collected first, many walked
in display order, ``app.lookup_sql``) give the same pages, in the ORM path and the
CLI's lean path alike."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from app import lookup_sql, queries
from app.db import Database
from app.ingest import import_items
from app.merges import merge_customers
from app.readpath import Reader
from app.records import EventRecord
from tests.test_search import NOW, chat, mail, order

FIRST = ["Mary", "Mark", "Martin", "Mia", "Sam", "Sara", "Bart", "Omar", "Ann", "Zoe"]
COUNT = 40


def _name(n: int) -> str:
    return f"{FIRST[n % len(FIRST)]} Test{n}"


def _email(n: int) -> str:
    return f"{FIRST[n % len(FIRST)].lower()}{n}@example.com"


def _phone(n: int) -> str:
    return f"+4477009{n:05d}"


def _fill(store: Database) -> Database:
    """Forty customers (mail, chat, some orders), last contacts out of id order; the
    chat contact of the 39th is merged into the mail one."""
    records: list[EventRecord] = []
    for n in range(COUNT):
        at = NOW - timedelta(hours=(n * 17) % COUNT)  # last contacts in no id order
        records.append(mail(f"m{n}", _email(n), _name(n), "Hello", "peonies please", at))
        records.append(chat(f"c{n}", _name(n), _phone(n), "tulips", at - timedelta(days=1)))
        if n % 2 == 0:
            records.append(order(f"#{10000 + n}", _email(n), _name(n), "10.00", at))
    import_items(store, lambda: records, label="test", format="test")
    with store.session() as s:
        by_mail = queries.resolve_customer(s, _email(COUNT - 1))
        by_phone = queries.resolve_customer(s, _phone(COUNT - 1))
        if by_mail != by_phone:
            merge_customers(s, by_mail, by_phone, reason="test")
    return store


@pytest.fixture
def people(store: Database) -> Database:
    """``_fill`` on each store (SQLite, PostgreSQL)."""
    return _fill(store)


def _found(db: Database, typed: str, **page: int) -> list[Any]:
    with db.session() as s:
        return queries.list_customers(s, typed, **page)


def _numbers(rows: list[Any]) -> Counter[int]:
    return Counter(int(r.name.rsplit("Test", 1)[1]) for r in rows)


def _in_display_order(rows: list[Any]) -> bool:
    keys = [(r.last_seen, r.id) for r in rows]
    return keys == sorted(keys, reverse=True)


def _people(numbers: set[int], both: bool) -> Counter[int]:
    """Customers by number: a person is two customers (a name never ties the mail and the
    chat contact), except the 39th, whose two were merged."""
    return Counter({n: 2 if both and n != COUNT - 1 else 1 for n in numbers})


M_NAMES = {n for n in range(COUNT) if FIRST[n % 10].startswith("M")}


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("M", _people(M_NAMES, both=True)),  # a word prefix: names, mail local parts
        ("ma", _people({n for n in M_NAMES if FIRST[n % 10] != "Mia"}, both=True)),
        ("Mar", _people({n for n in range(COUNT) if "mar" in FIRST[n % 10].lower()}, True)),
        ("art", _people({n for n in range(COUNT) if FIRST[n % 10] in ("Martin", "Bart")}, True)),
        ("sara1", _people({15}, both=False)),  # sara15@example.com
        ("900012", _people({12}, both=False)),  # a phone's digits
        ("07700 900031", _people({31}, both=False)),  # another written form
        ("10012", _people({12}, both=False)),  # order #10012
        ("#1003", _people({30, 32, 34, 36, 38}, both=False)),
        ("0770090", _people(set(range(COUNT)), both=False)),  # every phone
        ("Test3", _people({3, *range(30, COUNT)}, both=True)),
        ("nobody", Counter()),
    ],
)
def test_a_fragment_finds_its_customers_most_recent_first(
    people: Database, typed: str, expected: Counter[int]
) -> None:
    rows = _found(people, typed, limit=1000)
    assert _numbers(rows) == expected
    assert _in_display_order(rows)
    with people.session() as s:
        assert queries.count_customers(s, typed) == len(rows)


def test_an_exact_contact_point_comes_first(people: Database) -> None:
    rows = _found(people, _email(7))
    assert _numbers(rows) == Counter({7: 1})


def test_pages_of_a_lookup_fit_together(people: Database) -> None:
    whole = [r.id for r in _found(people, "0770090", limit=1000)]
    pages = [r.id for o in range(0, COUNT, 7) for r in _found(people, "0770090", offset=o, limit=7)]
    assert pages == whole


LOOKUPS = ["M", "ma", "Mar", "art", "0770090", "07700 900031", "#1003", "10012", "Test3", "te"]


@pytest.mark.parametrize("typed", LOOKUPS)
def test_many_and_few_read_the_same_pages(
    db: Database, monkeypatch: pytest.MonkeyPatch, typed: str
) -> None:
    # Whether a lookup walks customers in display order or collects and sorts them is a
    # matter of speed only: with the threshold at 0 (always walk) and beyond any count
    # (never walk) every page is the same, in both read paths.
    _fill(db)
    answers = []
    for few in (0, 10**9):
        monkeypatch.setattr(lookup_sql, "FEW", few)
        full = [
            [r.id for r in _found(db, typed, offset=o, limit=limit)]
            for limit in (5, 1000)
            for o in (0, 5, 12)
        ]
        with db.session() as s:
            full.append([queries.count_customers(s, typed)])
        reader = Reader.open(db.path) if db.path is not None else None
        assert reader is not None
        try:
            lean = [
                [r.id for r in reader.list_customers(typed, offset=o, limit=limit)]
                for limit in (5, 1000)
                for o in (0, 5, 12)
            ]
        finally:
            reader.close()
        answers.append((full, lean))
    (full_walk, lean_walk), (full_sort, lean_sort) = answers
    assert full_walk == full_sort
    assert lean_walk == lean_sort == full_sort[:-1]
    assert full_sort[3], typed  # each lookup here finds someone
