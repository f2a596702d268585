"""Mentions between customers, brought up to date for the customers that changed.

``app.suggestions._mentions`` counts, over every customer, the pairs where a message of
one mentions an order, address or number of the other. An event's share of them depends
on its writers (the customers of its participants), what it mentions, and the owners of
what it mentions; each of these changes only through a customer the write path marks
(``app.suggestion_marks``): a new event marks its writers, a contact point or an order
that moves to another customer, or is made shared or the owner's own, marks the customers
it leaves and joins. So ``update`` recounts only the events of the marked customers (as
writers, or as owners of what an event mentions) and, for every pair those events touch
or touched, the other events of its two customers; the other pairs keep their mentions.
An erasure also deletes mentions in other customers' messages: when a marked customer is
gone, ``update`` answers None and the caller counts everything again.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Container, Iterable
from typing import Any, cast

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from app.mentions import order_key
from app.models import Customer, CustomerIdentity, EventParticipant, Identity, Mention, Order

Pair = tuple[int, int]
Point = tuple[str, str]  # (kind, value) as mentions store them
_CHUNK = 500
_WORDS = {
    "order": "one mentions the other's order {}",
    "email": "one gives the other's address {}",
    "phone": "one gives the other's number {}",
}


def update(
    session: Session,
    marked: set[int],
    old: dict[Pair, set[str]],
    known: Container[int],
    first: FirstReads | None = None,
) -> dict[Pair, set[str]] | None:
    """The mentions between customers now, from ``old`` (as counted before the marked
    customers changed); None if a marked customer is gone (count them all again).

    Args:
        session: an open session.
        marked: the customers marked since ``old`` was counted.
        old: the pairs' mentions before (``app.suggestions._mentions``).
        known: the customers the suggestions compare now (``_mentions``'s ``profiles``).
        first: the first reads, begun aside for the same customers (``FirstReads``).
    """
    reader = _Reader(session, known)
    ids = sorted(marked)

    def rows(name: str) -> list[Any]:
        found = first.rows(name) if first is not None else None
        return found if found is not None else reader.rows(ids, _FIRST_READS[name])

    if len(rows("customers")) < len(ids):
        return None
    # Events the marked customers write, or that mention what they own (their contact
    # points and orders, shared or own ones too: a flag that changed is a change).
    events = {event for (event,) in rows("events")}
    owned: set[Point] = {(kind, value) for kind, value in rows("points")}
    owned.update(("order", order_key(number)) for (number,) in rows("orders"))
    events |= reader.mentioning(owned)
    new = reader.pairs(events)
    # Every pair those events touch now or may have touched (a customer that was one of
    # their writers or owners and is not any more is marked), with all its events.
    involved = marked | reader.writers_of(events) | reader.owners_of(events)
    touched = {p for p in old if p[0] in involved or p[1] in involved} | set(new)
    more = reader.written_by({c for p in touched for c in p}) - events
    for pair, words in reader.pairs(more).items():
        new.setdefault(pair, set()).update(words)
    found = {p: words for p, words in old.items() if p not in touched}
    found.update({p: words for p, words in new.items() if p in touched})
    return found


# ``update``'s first reads, of some marked customers (a list of ids, or a query of them):
# which of them exist, the events with mentions they write, their contact points and their
# orders' numbers.
_FIRST_READS: dict[str, Callable[[Any], Any]] = {
    "customers": lambda c: select(Customer.id).where(Customer.id.in_(c)),
    "events": lambda c: (
        select(EventParticipant.event_id)
        .join(CustomerIdentity, CustomerIdentity.identity_id == EventParticipant.identity_id)
        .join(Mention, Mention.event_id == EventParticipant.event_id)
        .where(CustomerIdentity.customer_id.in_(c))
        .distinct()
    ),
    "points": lambda c: (
        select(Identity.kind, Identity.value)
        .join(CustomerIdentity, CustomerIdentity.identity_id == Identity.id)
        .where(CustomerIdentity.customer_id.in_(c))
    ),
    "orders": lambda c: (
        select(Order.number)
        .join(EventParticipant, EventParticipant.event_id == Order.event_id)
        .join(CustomerIdentity, CustomerIdentity.identity_id == EventParticipant.identity_id)
        .where(CustomerIdentity.customer_id.in_(c))
    ),
}


_aside_texts: list[str] = []  # ``FirstReads``'s statements, made once a process


class FirstReads:
    """``update``'s first reads (``_FIRST_READS``: they need the marked customers alone)
    made aside (``app.suggestions._Aside``: a thread on a second connection, each read one
    JSON text) from the start of the catch-up, while it reads and looks at the changed
    customers. After an import of 1,000 records they took the session some 0.025 s.
    (The customers are given as one JSON list, read with ``json_each``: in a list of
    1,251 values written out, SQLite read the events by scanning every participant, 50 s.)"""

    def __init__(self, aside: Any) -> None:
        self._aside = aside

    @classmethod
    def start(cls, session: Session, marked: set[int]) -> FirstReads | None:
        """The reads begun (None: not a SQLite file's write transaction that has written
        nothing; ``update`` reads them through the session)."""
        from app import suggestions as sx

        if sx.aside_file(session) is None:
            return None
        if not _aside_texts:
            dialect = session.connection().dialect
            ids = select(func.json_each(bindparam("ids")).table_valued("value").c.value)
            _aside_texts[:] = [
                sx.aggregated_sql(dialect, query(ids), literal=False)
                for query in _FIRST_READS.values()
            ]
        given = (json.dumps(sorted(marked)),)
        statements = [(statement, given) for statement in _aside_texts]
        aside = sx._Aside.start(session, statements, "the mentions' first reads")
        return None if aside is None else cls(aside)

    def rows(self, name: str) -> list[Any] | None:
        """The rows of the read ``name`` (given once; None: read them through the session)."""
        row = self._aside.row(list(_FIRST_READS).index(name))
        return None if row is None else cast(list[Any], json.loads(row[0]))


class _Reader:
    """Events' writers, mentions and their owners, read as ``_mentions`` reads them (not
    the owner's own contact points, nor shared ones), for the events asked about."""

    def __init__(self, session: Session, known: Container[int]) -> None:
        self.session = session
        self.known = known
        self.is_known: dict[int, bool] = {}  # customers asked about (``known_of``)
        self.writers: dict[int, set[int]] = {}  # event → its customers that are known
        self.points: dict[int, list[Point]] = {}  # event → what it mentions
        self.owners: dict[Point, set[int]] = {}  # point → its customers (known or not)
        self.odd: list[tuple[int, str]] | None = None  # (event, key) of ``_ODD`` orders

    def known_of(self, customers: Iterable[int]) -> set[int]:
        """Those of these customers that are known, asked about at once (a container that
        can tell many at once, ``among``, is asked so: one query, not one each)."""
        wanted = set(customers)
        new = [c for c in wanted if c not in self.is_known]
        if new:
            among: Callable[[Iterable[int]], set[int]] | None = getattr(self.known, "among", None)
            found = among(new) if among is not None else {c for c in new if c in self.known}
            self.is_known.update((c, c in found) for c in new)
        return {c for c in wanted if self.is_known[c]}

    def rows(self, ids: Iterable[Any], query: Callable[[list[Any]], Any]) -> list[Any]:
        wanted = sorted(set(ids))
        found: list[Any] = []
        connection = self.session.connection()
        for start in range(0, len(wanted), _CHUNK):
            found.extend(connection.execute(query(wanted[start : start + _CHUNK])).all())
        return found

    def mentioning(self, points: set[Point]) -> set[int]:
        """The events that mention any of these points."""
        by_kind: dict[str, set[str]] = defaultdict(set)
        for kind, value in points:
            by_kind[kind].add(value)
        found: set[int] = set()
        for kind, values in by_kind.items():

            def query(chunk: list[str], kind: str = kind) -> Any:
                return select(Mention.event_id).where(
                    Mention.kind == kind, Mention.value.in_(chunk)
                )

            found.update(event for (event,) in self.rows(values, query))
        return found

    def written_by(self, customers: set[int]) -> set[int]:
        """The events with mentions that these customers write."""
        rows = self.rows(
            customers,
            lambda c: (
                _theirs(
                    select(EventParticipant.event_id, CustomerIdentity.customer_id).join(
                        Mention, Mention.event_id == EventParticipant.event_id
                    )
                )
                .where(CustomerIdentity.customer_id.in_(c))
                .distinct()
            ),
        )
        known = self.known_of(cid for _event, cid in rows)
        return {event for event, cid in rows if cid in known}

    def _read(self, events: set[int]) -> None:
        wanted = events - set(self.points)
        if not wanted:
            return
        for event in wanted:
            self.writers[event] = set()
            self.points[event] = []
        rows = self.rows(
            wanted,
            lambda c: (
                _theirs(select(EventParticipant.event_id, CustomerIdentity.customer_id))
                .where(EventParticipant.event_id.in_(c))
                .distinct()
            ),
        )
        known = self.known_of(cid for _event, cid in rows)
        for event, cid in rows:
            if cid in known:
                self.writers[event].add(cid)
        mentioned: set[Point] = set()
        for event, kind, value in self.rows(
            wanted,
            lambda c: select(Mention.event_id, Mention.kind, Mention.value).where(
                Mention.event_id.in_(c)
            ),
        ):
            self.points[event].append((kind, value))
            mentioned.add((kind, value))
        self._owners(mentioned - set(self.owners))

    def _owners(self, points: set[Point]) -> None:
        for point in points:
            self.owners[point] = set()
        others = [(k, v) for k, v in points if k != "order"]
        for kind, value, cid in self.rows(
            {v for _k, v in others},
            lambda c: (
                select(Identity.kind, Identity.value, CustomerIdentity.customer_id)
                .join(CustomerIdentity, CustomerIdentity.identity_id == Identity.id)
                .where(
                    Identity.is_own.is_(False), Identity.shared.is_(False), Identity.value.in_(c)
                )
            ),
        ):
            if (kind, value) in self.owners:
                self.owners[(kind, value)].add(cid)
        orders = {v for k, v in points if k == "order"}
        if not orders:
            return
        # Order numbers are compared as ``order_key`` spells them: the orders of the wanted
        # keys found by the index of their keys (``order_key_sql``), joined to their customers.
        keyed = {event: key for event, key in self.keyed_orders(orders)}
        for event, cid in self.rows(
            keyed,
            lambda c: _theirs(
                select(EventParticipant.event_id, CustomerIdentity.customer_id)
            ).where(EventParticipant.event_id.in_(c)),
        ):
            self.owners[("order", keyed[event])].add(cid)

    def keyed_orders(self, keys: set[str]) -> list[tuple[int, str]]:
        """(event, key) of the orders whose number ``order_key`` spells as one of these."""
        connection = self.session.connection()
        key_sql, odd_sql = order_key_sql(connection.dialect.name)
        statement = text(
            f"SELECT event_id, number FROM order_info WHERE {key_sql} IN :keys"
        ).bindparams(bindparam("keys", expanding=True))
        found: list[tuple[int, str]] = []
        wanted = sorted(keys)
        for start in range(0, len(wanted), _CHUNK):
            rows = connection.execute(statement, {"keys": wanted[start : start + _CHUNK]})
            found.extend(
                (event, key) for event, number in rows if (key := order_key(number)) in keys
            )
        # (the key above is ``order_key`` for a number of printable ASCII alone: the others,
        # a few, are keyed here)
        if self.odd is None:
            odd = text(f"SELECT event_id, number FROM order_info WHERE {odd_sql}")
            self.odd = [(event, order_key(number)) for event, number in connection.execute(odd)]
        found.extend((event, key) for event, key in self.odd if key in keys)
        return found

    def writers_of(self, events: set[int]) -> set[int]:
        self._read(events)
        return {cid for event in events for cid in self.writers[event]}

    def owners_of(self, events: set[int]) -> set[int]:
        self._read(events)
        return {cid for e in events for point in self.points[e] for cid in self.owners[point]}

    def pairs(self, events: set[int]) -> dict[Pair, set[str]]:
        """These events' share of the mentions (as ``_mentions`` counts it)."""
        from app.suggestions import MAX_MENTIONED

        self._read(events)
        known = self.known_of(
            cid for event in events for point in self.points[event] for cid in self.owners[point]
        )
        found: dict[Pair, set[str]] = defaultdict(set)
        for event in events:
            writers = self.writers[event]
            points = [p for p in self.points[event] if self.owners[p]]
            if not writers or not points:
                continue
            targets = {cid for point in points for cid in self.owners[point]} - writers
            if not targets or len(targets) > MAX_MENTIONED or len(writers) > MAX_MENTIONED:
                continue
            for kind, value in points:
                shown = value if kind != "order" else f"#{value.lstrip('#')}"
                for target in self.owners[(kind, value)] & targets:
                    if target not in known:
                        continue
                    for writer in writers:
                        pair = (min(writer, target), max(writer, target))
                        found[pair].add(_WORDS[kind].format(shown))
        return dict(found)


def order_key_sql(dialect: str) -> tuple[str, str]:
    """For the store's SQL dialect: the expression of ``order_key`` of an order's number,
    right for a number of printable ASCII characters alone (``#`` and spaces dropped,
    the letters in capitals), and the condition of the other numbers, which the first
    may key otherwise. Each is an index's expression (migration 0020_catchup9): spelt
    alike here, the index serves the query."""
    if dialect == "postgresql":  # (``upper`` in another collation may map a letter elsewhere)
        return (
            "upper(replace(replace(number, '#', ''), ' ', '') COLLATE \"C\")",
            "number COLLATE \"C\" ~ '[^ -~]'",
        )
    return "upper(replace(replace(number, '#', ''), ' ', ''))", "number GLOB '*[^ -~]*'"


def _theirs(stmt: Any) -> Any:
    """``stmt`` over event participants joined to their customers (as ``_mentions``)."""
    from app.suggestions import _their_customers

    return _their_customers(stmt)
