"""Merge suggestions: pairs of customers that may be one person, scored, with reasons in words.

Automatic links happen only on strong evidence (``app.identity``). Everything
weaker becomes a suggestion that the user accepts or rejects: similar names
(``rapidfuzz``, nicknames, initials, swapped order), the same postcode, phone
numbers that end alike, an email local part that spells the other's name, a
contact point both use but seen with different names. Candidate pairs come
from blocking keys, so the cost grows near-linearly with the number of
customers; a rejected pair is never suggested again.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import math
import re
import sys
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import count, pairwise
from operator import itemgetter, methodcaller
from typing import Any, TypeVarTuple

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, Indel
from sqlalchemy import Connection, Select, select
from sqlalchemy.orm import Session

from app import dialect
from app.addresses import Address, Match, compare, parse_address, postcodes_agree
from app.mentions import order_key
from app.merges import rejected_pairs
from app.models import (
    Customer,
    CustomerIdentity,
    Event,
    EventParticipant,
    Identity,
    Mention,
    Order,
)
from app.names import (
    PersonName,
    canonical_given,
    family_names_match,
    fold,
    given_names_match,
    nickname_of,
    other_forms,
    parse_name,
)

MAX_BLOCK = 60  # a blocking key shared by more customers says nothing


@dataclass(frozen=True)
class Suggestion:
    """Two customers that may be one person."""

    customer_a: int
    customer_b: int
    score: float
    reasons: tuple[str, ...]
    name_a: str = ""
    name_b: str = ""
    against: tuple[str, ...] = ()  # what speaks against one person ("names differ")

    def as_json(self) -> dict[str, Any]:
        """The CLI's JSON shape."""
        return {
            "customer_a": self.customer_a,
            "customer_b": self.customer_b,
            "score": round(self.score, 3),
            "reasons": list(self.reasons),
            "name_a": self.name_a,
            "name_b": self.name_b,
            "against": list(self.against),
        }


@dataclass(slots=True)
class _Profile:
    id: int
    name: str
    parsed: PersonName
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    handles: set[str] = field(default_factory=set)
    shared: dict[int, str] = field(default_factory=dict)  # identity id → value
    postcodes: set[str] = field(default_factory=set)
    addresses: set[Address] = field(default_factory=set)
    mobiles: set[str] = field(default_factory=set)
    names: list[PersonName] | None = None
    own_spelling: float | None = None
    quick: _Quick | None = None  # a cache (``_quick``)


@dataclass(frozen=True, slots=True)
class _Quick:
    """What the scorer reads of a customer for every pair, worked out once (``_quick``)."""

    homes: tuple[tuple[str, Address], ...]  # the addresses in key order, with their keys
    tails: frozenset[str]  # the last seven digits of its numbers
    locals: frozenset[str]  # its email addresses' local parts that may spell a name
    spellings: frozenset[str]  # local parts that would spell one of its names
    # Its postcodes, each also with one character left out: two postcodes that agree
    # (equal, or one slip apart) share one of these.
    postcodes: frozenset[str]


def _address(value: Any) -> Address | None:
    """An order's billing or shipping address (a JSON object as text) for comparison."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return parse_address(value) if isinstance(value, dict) else None


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off for a whole-database computation, on again after.

    Such a computation makes millions of objects (profiles, keys, pairs) that live until
    it ends and hold no cycles: every full collection walks all of them again (building
    the per-customer features of 96,351 customers took 2.4 s of CPU with it on, 0.9 s
    with it off), and in a forked scorer it touches every inherited page, so the copies
    that fork saves are made anyway.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def release_caches() -> None:
    """Empty the scorer's memo tables (parsed names, Soundex codes, address comparisons,
    pairs of name parts: every ``functools`` cache of this module, ``names`` and
    ``addresses``). They pay off within one computation; kept after it, in the app's
    long-lived process, a catch-up over a new million-event file left some 300,000 objects
    behind that every later full garbage collection walks again (hundreds of
    milliseconds each). Emptying them changes no answer: each is a pure function's."""
    from app import addresses, names

    for module in (sys.modules[__name__], names, addresses):
        for value in list(vars(module).values()):
            if callable(getattr(value, "cache_clear", None)) and hasattr(value, "cache_info"):
                value.cache_clear()


log = logging.getLogger(__name__)

_CHUNK = 500  # customer ids per IN list


def _profiles(
    session: Session, only: Iterable[int] | None = None, *, reads: _WholeReads | None = None
) -> dict[int, _Profile]:
    """The customers (all, or ``only`` these) with what the suggestions compare of them
    (all: the whole tables read by ``reads`` if given, ``_WholeReads``)."""
    if only is None:
        return _read_profiles(session, None, reads)
    ids = sorted(set(only))
    found: dict[int, _Profile] = {}
    for start in range(0, len(ids), _CHUNK):
        found.update(_read_profiles(session, ids[start : start + _CHUNK]))
    return found


def _read_profiles(
    session: Session, only: list[int] | None, reads: _WholeReads | None = None
) -> dict[int, _Profile]:
    # Lean reads: plain rows through the connection (no ORM row processing), and each
    # distinct name and address text parsed once however many customers show it.
    connection = session.connection()
    stmt = select(Customer.id, Customer.display_name).where(Customer.merged_into_id.is_(None))
    if only is not None:
        stmt = stmt.where(Customer.id.in_(only))
    parsed: dict[str, PersonName] = {}

    def parse(text: str) -> PersonName:
        found = parsed.get(text)
        if found is None:
            found = parsed[text] = parse_name(text)
        return found

    profiles: dict[int, _Profile] = {}
    for cid, name in _rows(connection, stmt, only is None):
        name = name or ""
        profiles[cid] = _Profile(cid, name, parse(name))
    if only is not None and not profiles:
        return {}
    fallback: dict[int, tuple[tuple[int, int], str]] = {}  # a nameless customer's name
    for cid, point in _points(connection, None if only is None else list(profiles), reads):
        profile = profiles.get(cid)
        if profile is None or point is None:
            continue
        iid, kind, value, shared, display, line_type = point
        if shared:
            profile.shared[iid] = value
        if kind == "email":
            profile.emails.add(value)
        elif kind == "phone":
            profile.phones.add(value)
            if line_type == "mobile" and not shared:
                profile.mobiles.add(value)
        elif kind == "handle":
            profile.handles.add(value)
        if display and not profile.parsed.tokens:
            # The lowest identity id whose name has words, whatever order the rows come in
            # (a full read and a read of a few customers give a customer the same name).
            rank = (0 if parse(display).tokens else 1, iid)
            if cid not in fallback or rank < fallback[cid][0]:
                fallback[cid] = (rank, display)
    for cid, (_rank, display) in fallback.items():
        profiles[cid].name, profiles[cid].parsed = display, parse(display)
    home_stmt = _order_homes(session)
    if only is not None:
        home_stmt = home_stmt.where(CustomerIdentity.customer_id.in_(list(profiles)))
    read = reads.homes() if reads is not None else None
    homes: Iterable[Sequence[Any]] = (
        read if read is not None else _rows(connection, home_stmt, only is None)
    )
    addresses: dict[Any, Address | None] = {}
    for cid, billing, shipping in homes:
        profile = profiles.get(cid)
        if profile is None:
            continue
        for value in (billing, shipping):
            if value is None:
                continue
            key = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            if key in addresses:
                address = addresses[key]
            else:
                address = addresses[key] = _address(value)
            if address is not None:
                if address.postcode:
                    profile.postcodes.add(address.postcode)
                if address.full:
                    profile.addresses.add(address)
    return {cid: p for cid, p in profiles.items() if p.emails or p.phones or p.handles}


def _order_homes(session: Session) -> Select[tuple[int, Any, Any]]:
    """Each order's customer, billing and shipping address (JSON text, or None), by the
    customers of its participants."""
    store = dialect.for_bind(session)
    return (
        select(
            CustomerIdentity.customer_id,
            store.json_value(Event.details, "billing"),
            store.json_value(Event.details, "shipping"),
        )
        .join(EventParticipant, EventParticipant.identity_id == CustomerIdentity.identity_id)
        .join(Event, Event.id == EventParticipant.event_id)
        .where(Event.channel == "order")
    )


_POINT_COLUMNS = (
    Identity.id,
    Identity.kind,
    Identity.value,
    Identity.shared,
    Identity.display_name,
    Identity.line_type,
)
_LINKS = select(CustomerIdentity.customer_id, CustomerIdentity.identity_id)


def _points(
    connection: Connection, only: list[int] | None, reads: _WholeReads | None = None
) -> Iterator[tuple[int, Any]]:
    """Each customer's contact points (of all customers, or ``only`` these): (customer id,
    (identity id, kind, value, shared, display name, line type)); the point is None when
    the link names no identity. For all customers, both tables are read whole (or were, by
    ``reads``) and joined here: the database's join looks every identity up by its id,
    which took 0.6 s for 100k customers against 0.3 s for the two tables read in order."""
    if only is not None:
        stmt = (
            select(CustomerIdentity.customer_id, *_POINT_COLUMNS)
            .join(Identity, Identity.id == CustomerIdentity.identity_id)
            .where(CustomerIdentity.customer_id.in_(only))
        )
        for row in connection.execute(stmt):
            yield row[0], tuple(row[1:])
        return
    read = reads.points() if reads is not None else None
    rows: Iterable[Sequence[Any]]
    customers: Sequence[int]
    identities: Sequence[int]
    if read is not None:
        rows, (customers, identities) = read
    else:
        rows = list(_rows(connection, select(*_POINT_COLUMNS), True))
        linked = list(_rows(connection, _LINKS, True))
        customers, identities = zip(*linked, strict=True) if linked else ((), ())
    points = {row[0]: row for row in rows}
    yield from zip(customers, map(points.get, identities), strict=True)


def aside_file(session: Session) -> str | None:
    """The SQLite file that a second connection may read for this session as the session
    itself would (its path, resolved), or None. Only for a transaction that holds the write
    lock (``BEGIN IMMEDIATE``) and has changed no row yet: no one else can then have
    changed what the second connection reads, and it misses nothing of this one's."""
    from pathlib import Path

    from app.db import wrote_nothing

    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return None
    if connection.get_execution_options().get("threadline_read"):
        return None  # (a read transaction holds no lock: a writer may commit meanwhile)
    session.flush()
    if not wrote_nothing(connection):
        return None  # (what it wrote is not for the second connection to see)
    database = connection.engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    if not Path(database).is_file():
        return None
    return str(Path(database).resolve())


class _Aside:
    """Statements run by a thread on a second, read-only connection to the SQLite file
    (``aside_file``: only for a write transaction that has written nothing, so that the
    second connection reads what this one would) while this one goes on, each answering
    one row of aggregates (JSON texts, or blobs joined: read as bytes). The database makes
    such a row in one step, without the interpreter's lock; a thread reading row by row
    would wait for the lock at each row while this one works. ``what`` the reads are is
    logged if they fail; the caller then reads through its session."""

    def __init__(
        self, database: str, statements: Sequence[tuple[str, tuple[Any, ...]]], what: str
    ) -> None:
        import threading

        self._database = database
        self._statements = statements
        self._what = what
        self._rows: list[tuple[Any, ...] | None] = [None] * len(statements)
        # How many statements are done (all of them once one fails): a row is given as
        # soon as its statement is done, not once the others are.
        self._done = 0
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="threadline-aside")
        self._thread.start()

    @classmethod
    def start(
        cls, session: Session, statements: Sequence[tuple[str, tuple[Any, ...]]], what: str
    ) -> _Aside | None:
        """The statements begun (None: not a SQLite file's write transaction that has
        written nothing; read through the session instead)."""
        database = aside_file(session)
        return None if database is None else cls(database, statements, what)

    def _read(self) -> None:
        import sqlite3
        from pathlib import Path

        try:
            uri = f"{Path(self._database).as_uri()}?mode=ro"
            with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as connection:
                connection.text_factory = bytes  # (blobs joined are bytes, not UTF-8)
                for at, (statement, params) in enumerate(self._statements):
                    row = tuple(connection.execute(statement, params).fetchone())
                    with self._ready:
                        self._rows[at] = row
                        self._done = at + 1
                        self._ready.notify_all()
        except Exception:  # (read through the session instead)
            log.warning("%s could not be read aside", self._what, exc_info=True)
        finally:
            with self._ready:
                self._done = len(self._statements)  # (those not read stay None)
                self._ready.notify_all()

    def row(self, at: int) -> tuple[Any, ...] | None:
        """Statement ``at``'s row, once read (the later statements may still be read),
        given once (its texts then go with the caller's; None: the read failed, or it was
        given before)."""
        with self._ready:
            self._ready.wait_for(lambda: self._done > at)
            found, self._rows[at] = self._rows[at], None
        return found

    def close(self) -> None:
        """Wait for the thread (a process with threads forks no helpers)."""
        self._thread.join()


def _literal_sql(dialect_: Any, stmt: Select[*tuple[Any, ...]], literal: bool = True) -> str:
    """The statement's SQL with its values written in (for a read aside: ``_Aside``), or
    (not ``literal``) with its parameters' marks."""
    kwargs = {"literal_binds": True} if literal else {}
    return str(stmt.compile(dialect=dialect_, compile_kwargs=kwargs))


def aggregated_sql(
    dialect_: Any,
    stmt: Select[*tuple[Any, ...]],
    texts: tuple[int, ...] = (),
    *,
    literal: bool = True,
) -> str:
    """A statement whose one row is the rows of ``stmt`` as one JSON text (a list of lists,
    for a read aside: ``_Aside``), its values written in (or, not ``literal``, its
    parameters' marks left for the caller's values); the columns in ``texts`` as text (a
    value that a JSON function returned would be nested as JSON)."""
    width = len(stmt.selected_columns)
    labelled = stmt.with_only_columns(
        *(c.label(f"c{i}") for i, c in enumerate(stmt.selected_columns))
    )
    row = ", ".join(f"c{i} || ''" if i in texts else f"c{i}" for i in range(width))
    inner = _literal_sql(dialect_, labelled, literal)
    return f"SELECT json_group_array(json_array({row})) FROM ({inner})"


class _WholeReads:
    """The whole tables ``_read_profiles`` reads (contact points, their customers, the
    orders' addresses), and what ``_mentions`` reads, read aside (``_Aside``: a thread on a
    second connection to the SQLite file) while this one reads and parses the customers'
    names: at 100k customers they cost this one some 0.6 s and 0.3 s, against 0.15 s and
    0.05 s to decode what the thread read (which it has read before the names are parsed).
    Each is read as one JSON text. Only for a transaction that holds the write lock (a
    rebuild's ``BEGIN IMMEDIATE``) and has changed no row yet; if the thread fails, the
    tables are read here as before.
    """

    def __init__(self, aside: _Aside, names: list[str]) -> None:
        self._aside = aside
        self._names = names

    @classmethod
    def start(cls, session: Session) -> _WholeReads | None:
        """The reads started for this session (None: not a SQLite file's write transaction,
        so the tables are read through the session). ``close`` it once the profiles are
        read."""
        from sqlalchemy import func  # (not among the module's names: ``release_caches``)

        database = aside_file(session)
        if database is None:
            return None
        dialect_ = session.connection().dialect

        def sql(stmt: Select[*tuple[Any, ...]]) -> str:
            return _literal_sql(dialect_, stmt)

        def aggregated(stmt: Select[*tuple[Any, ...]], texts: tuple[int, ...] = ()) -> str:
            return aggregated_sql(dialect_, stmt, texts)

        links = _LINKS.subquery()
        statements = {
            "points": aggregated(select(*_POINT_COLUMNS)),
            "links": sql(
                select(
                    func.json_group_array(links.c.customer_id),
                    func.json_group_array(links.c.identity_id),
                )
            ),
            "homes": aggregated(_order_homes(session), texts=(1, 2)),
        }
        for name, stmt in _mention_reads().items():
            statements[f"mentions:{name}"] = aggregated(stmt)
        aside = _Aside(database, [(text, ()) for text in statements.values()], "the profiles")
        return cls(aside, list(statements))

    def _decoded(self, name: str) -> list[Any] | None:
        texts = self._aside.row(self._names.index(name))  # (each read once)
        return None if texts is None else [json.loads(text) for text in texts]

    def rows(self, name: str) -> list[Any] | None:
        """The rows of the statement ``name`` (each read once; None: read them through the
        session)."""
        found = self._decoded(name)
        return None if found is None else found[0]

    def points(self) -> tuple[list[Any], tuple[list[int], list[int]]] | None:
        """The contact points' rows, and the links' customers and identities (None: read
        them through the session)."""
        points, links = self._decoded("points"), self._decoded("links")
        if points is None or links is None:
            return None
        return points[0], (links[0], links[1])

    def homes(self) -> list[Any] | None:
        """The orders' rows (``_order_homes``; None: read them through the session)."""
        return self.rows("homes")

    def close(self) -> None:
        """Wait for the thread (a process with threads forks no helpers)."""
        self._aside.close()


def _rows(
    connection: Connection, stmt: Select[*tuple[Any, ...]], plain: bool
) -> Iterator[Sequence[Any]]:
    """The rows of ``stmt``; if ``plain``, as the driver gives them (the statement's
    values written in, no SQLAlchemy rows nor result processing: on a read of every
    customer those cost more than the query; the columns read here need none, a
    flag reads as 0 or 1 on SQLite)."""
    if not plain:  # (all fetched at once: one by one, each row cost a call to the driver)
        yield from connection.execute(stmt).all()
        return
    compiled = stmt.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
    cursor = connection.connection.cursor()
    try:
        cursor.execute(str(compiled))
        while batch := cursor.fetchmany(10000):
            yield from batch
    finally:
        cursor.close()


_SOUNDEX = str.maketrans("bfpvcgjkqsxzdtlmnr", "111122222222334556")
_NOT_A_TO_Z = re.compile(r"[^a-z]")


def _a_to_z(text: str) -> str:
    """``text`` with all but the letters a to z left out (most folded names hold no other)."""
    if text.isascii() and text.isalpha() and text.islower():
        return text
    return _NOT_A_TO_Z.sub("", text)


@lru_cache(maxsize=262144)
def soundex(word: str) -> str:
    """The Soundex code of a folded word (``robert`` and ``rupert`` → ``r163``)."""
    letters = _a_to_z(word)
    if not letters:
        return ""
    codes = letters.translate(_SOUNDEX)
    out, last = letters[0], codes[0]
    for letter, code in zip(letters[1:], codes[1:], strict=True):
        if code.isdigit() and code != last:
            out += code
        if letter not in "hw":
            last = code
    return (out + "000")[:4]


def _name_keys(name: PersonName) -> set[str]:
    family, first = name.family, name.first
    if family and first:
        keys = {
            f"n:{family}:{first[0]}",
            f"sx:{soundex(family)}:{first[0]}",  # surname spelling slips
            f"n3:{family[:3]}:{first[:2]}",
            f"sw:{first}:{family[0]}",  # swapped order / surname typos
            f"sp:{first}{family}",
            f"sp:{first[0]}{family}",
            f"sp:{family}{first}",
        }
        keys.update([f"cn:{family}:{c}" for c in canonical_given(first)])
        return keys
    return {f"sp:{first}"} if first else set()


@lru_cache(maxsize=262144)
def _local_key(email: str) -> str:
    local = fold(email.split("@", 1)[0].split("+", 1)[0])
    return "sp:" + _a_to_z(local)


def _block_keys(profile: _Profile) -> set[str]:
    keys = _name_keys(profile.parsed)
    for handle in profile.handles:
        keys |= _name_keys(parse_name(handle))
    keys.update(map(_local_key, profile.emails))
    if profile.phones:
        keys.update([f"ph:{phone[-7:]}" for phone in profile.phones if len(phone) >= 8])
    keys.update([f"pc:{postcode}" for postcode in profile.postcodes])
    keys |= _address_keys(profile)
    if profile.shared:
        keys.update([f"sh:{iid}" for iid in profile.shared])
    return {key for key in keys if len(key) > 4}


def _address_keys(profile: _Profile) -> set[str]:
    """Blocking keys of a customer's addresses: a home, a street, a name at a postcode."""
    keys: set[str] = set()
    name = profile.parsed
    for address in profile.addresses:
        street = address.street.replace(" ", "")[:6]
        if address.house:
            keys.add(f"ah:{address.house}:{street}")
            if address.postcode:
                keys.add(f"hp:{address.house}:{address.postcode}")
            if name.first:
                keys.add(f"sg:{soundex(name.first)}:{address.house}")
        if address.town:
            keys.add(f"at:{street}:{address.town.replace(' ', '')[:5]}")
        words = {w for w in f"{address.street} {address.town}".split() if len(w) >= 4}
        if address.house:
            # Address lines swapped or a word mistyped: the house number and any one word.
            keys.update(f"hw:{address.house}:{word}" for word in words)
        for token in name.tokens:
            code = soundex(token)
            if address.house:
                keys.add(f"th:{code}:{address.house}")  # any name part at that number
            if address.town:
                keys.add(f"tt:{code}:{address.town.replace(' ', '')[:4]}")
    for postcode in profile.postcodes:
        for token in {name.first, name.family} - {""}:
            keys.add(f"fp:{token}:{postcode}")  # a missing given or family name
    return keys


def _names_of(profile: _Profile) -> list[PersonName]:
    if profile.names is None:
        names = [profile.parsed] if profile.parsed.tokens else []
        names.extend(parse_name(h) for h in profile.handles)
        profile.names = [n for n in names if n.tokens]
    return profile.names


@lru_cache(maxsize=262144)
def _spelled_as(name: PersonName) -> tuple[frozenset[str], frozenset[str]]:
    """The local parts that spell a name with first and last name in full (either order),
    and those that spell it with an initial (``jdoe``, ``doej``, ``janed``); both empty
    without a given and a family name."""
    if not name.first or not name.family:
        return frozenset(), frozenset()
    family = _a_to_z(name.family)
    first = _a_to_z(name.first)
    return (
        frozenset({first + family, family + first}),
        frozenset({first[:1] + family, family + first[:1], first + family[:1]}),
    )


@lru_cache(maxsize=262144)
def name_spellings(name: PersonName) -> tuple[str, ...]:
    """The email local parts (as ``_local_key`` spells them, four letters or more) that
    ``_email_spells`` finds spell this name: every other local part spells nothing."""
    full, initial = _spelled_as(name)
    return tuple(sorted(local for local in full | initial if len(local) >= 4))


_NOTHING: frozenset[str] = frozenset()


def _quick(profile: _Profile) -> _Quick:
    # Most customers hold one name, an address or two and a number or two, and nothing of
    # some kinds: those are read without a generator each (a tenth of a rebuild's front).
    if profile.quick is None:
        names = _names_of(profile)
        if not names:
            spellings = _NOTHING
        elif len(names) == 1:
            spellings = frozenset(name_spellings(names[0]))
        else:
            spellings = frozenset([local for n in names for local in name_spellings(n)])
        own = profile.postcodes
        profile.quick = _Quick(
            tuple(sorted([(a.key(), a) for a in profile.addresses], key=itemgetter(0)))
            if profile.addresses
            else (),
            frozenset([p[-7:] for p in profile.phones if len(p) >= 8])
            if profile.phones
            else _NOTHING,
            frozenset([k[3:] for k in map(_local_key, profile.emails) if len(k) >= 7])
            if profile.emails
            else _NOTHING,
            spellings,
            (_slips(next(iter(own))) if len(own) == 1 else frozenset().union(*map(_slips, own)))
            if own
            else _NOTHING,
        )
    return profile.quick


@lru_cache(maxsize=262144)
def _slips(postcode: str) -> frozenset[str]:
    """A postcode, and the postcode with each one character left out (``_Quick.postcodes``)."""
    return frozenset([postcode, *[postcode[:i] + postcode[i + 1 :] for i in range(len(postcode))]])


def _may_spell(x: _Profile, y: _Profile) -> bool:
    """False if no address of ``x`` spells a name of ``y`` (``_email_spells`` is 0 for all)."""
    return not _quick(x).locals.isdisjoint(_quick(y).spellings)


def _spell_neither(qa: _Quick, qb: _Quick) -> bool:
    """True if no address of either customer spells a name of the other (``_may_spell``
    both ways, on their ``_quick``)."""
    return qa.locals.isdisjoint(qb.spellings) and qb.locals.isdisjoint(qa.spellings)


def _email_spells(email: str, name: PersonName) -> float:
    """How much an address's local part spells a name: 1 for first+last, 0.4 for initials."""
    if not name.first or not name.family:
        return 0.0
    local = _local_key(email)[3:]
    if len(local) < 4:
        return 0.0
    full, initial = _spelled_as(name)
    if local in full:
        return 1.0
    if local in initial:
        return 0.4
    return 0.0


def _personal_address(x: _Profile, other: _Profile) -> bool:
    """True if one of ``x``'s addresses spells a full name of either side (jane.doe123@)."""
    return _own_spelling(x) >= 1.0 or (
        _may_spell(x, other)
        and any(
            _email_spells(e, n) >= 1.0 and len(n.first) > 1
            for e in x.emails
            for n in _names_of(other)
        )
    )


def _own_spelling(profile: _Profile) -> float:
    if profile.own_spelling is None:
        # The most that ``_email_spells`` gives any of its addresses and names: its local
        # parts (``_Quick.locals``: those of four letters or more, the only ones that may
        # spell anything) against each name's spellings, in full or with an initial.
        quick = _quick(profile)
        locals_ = quick.locals
        best = 0.0
        if not locals_.isdisjoint(quick.spellings):  # ``_may_spell`` of itself
            for name in _names_of(profile):
                full, initial = _spelled_as(name)
                if not locals_.isdisjoint(full):
                    best = 1.0
                    break
                if not locals_.isdisjoint(initial):
                    best = 0.4
        profile.own_spelling = best
    return profile.own_spelling


# --- the model ------------------------------------------------------------------------------
#
# A pair's score is the probability that the two customers are one person,
# from odds that start at the prior (each customer has, on average, about
# PRIOR_SPLITS other customers that are the same person, among all customers)
# and are multiplied by one likelihood ratio per piece of evidence: how much
# more often that evidence is seen for one person than for two. A name
# agreement weighs as much as the name is rare: its chance for two different
# people is the frequency of the given name times that of the family name,
# counted among this database's customers (on top of a small prior
# population, so a new database with a few customers is not certain of
# everything). Two customers of one full name also count how many customers
# carry it: two holders of a rare name are likely one person, five are a family
# or namesakes (``_odds_one_person``).

PRIOR_SPLITS = 0.5
_PRIOR_POPULATION = 1000.0  # pseudo-customers behind every frequency
_P0_GIVEN = 1 / 300  # the frequency of a given name nobody has yet
_P0_FAMILY = 1 / 3000
_P0_POSTCODE = 1 / 2000
# How often one person's two customers show each kind of name agreement.
_M_EXACT = 0.8
_M_SWAPPED = 0.03
_M_VARIANT = 0.08  # a nickname or a typo in either name
_M_INITIAL = 0.8  # one side gives an initial: the other's full given name fits it
_M_TWO_VARIANTS = 0.01
_TWO_SLIPS = 0.3  # a name mistyped twice, against once
_ESTABLISHED_SPELLINGS = 0.1
_M_SPELLED = 0.8  # an address spells the other's name (first and last, or jdoe@)
_M_FIRST_ONLY = 0.2
_M_PART = 0.05  # one side gives only the surname (or only the first name) of the other
_M_NEW_SURNAME = 0.01  # the same given name under another surname: married, or a slip
_LR_FAMILY_CONFLICT = 0.02  # same surname, different given names: usually family members
_LR_CONFLICT = 0.005
_LR_FAMILY_AT_MISTYPED_HOME = 1.0  # the same at a home written with a slip: as likely as not
_LR_OWN_ADDRESSES = 0.4
_LR_DIFFERENT_MOBILES = 0.1
_LR_PHONE_TAIL = 2000.0
_LR_SHARED_POINT = 30.0
_LR_POSTCODE_MAX = 50.0  # households share a postcode, and so do neighbours
_LR_HOUSE = 200.0  # one house number on one street, the town or postcode unclear
_POSTCODE_SLIP = 0.1  # how often one person's postcode is mistyped, against the same
_HOUSEHOLD_ODDS = 1.0  # two customers of one home: as likely one person as two
_LR_NAME_AT_HOME = 20.0  # a matching name at home: a junior with the parent's name is rare
_MENTION_ODDS = 10.0  # one mentions the other's order, address or number: about 10 to 1
_CONFLICT_CAP = 0.35
_LR_HOME_MAX = 1e5
_LR_OTHER_HOME = 0.03  # both give a home and the homes differ: people move, but seldom


@dataclass
class _Frequencies:
    """How common names and postcodes are among the customers."""

    customers: int
    named: int
    given: Counter[str]
    initials: Counter[str]
    family: Counter[str]
    with_postcode: int
    postcodes: Counter[str]
    full: Counter[str]
    with_mobile: int = 0
    with_own_address: int = 0
    family_initial: Counter[str] = field(default_factory=Counter)
    with_address: int = 0

    @classmethod
    def of(cls, profiles: Iterable[_Profile]) -> _Frequencies:
        given: Counter[str] = Counter()
        initials: Counter[str] = Counter()
        family: Counter[str] = Counter()
        full: Counter[str] = Counter()
        family_initial: Counter[str] = Counter()
        postcodes: Counter[str] = Counter()
        customers = named = with_postcode = with_mobile = with_own_address = with_address = 0
        for p in profiles:
            customers += 1
            name = p.parsed
            if name.family and name.first:
                named += 1
                with_mobile += bool(p.mobiles)
                with_own_address += _own_spelling(p) >= 1.0
                family[name.family] += 1
                full[name.full] += 1
                family_initial[f"{name.first[0]} {name.family}"] += 1
                initials[name.first[0]] += 1
                if len(name.first) > 1:
                    for canonical in canonical_given(name.first):
                        given[canonical] += 1
            with_address += bool(p.addresses)
            if p.postcodes:
                with_postcode += 1
                postcodes.update(p.postcodes)
        return cls(
            customers,
            named,
            given,
            initials,
            family,
            with_postcode,
            postcodes,
            full,
            with_mobile,
            with_own_address,
            family_initial,
            with_address,
        )

    def lr_not_both(self, holders: int) -> float:
        """The likelihood ratio of "not both hold one" for a kind that one person holds once.

        One person's two customers rarely hold two different mobiles (or two personal
        addresses in their name); two people do whenever both have one. So a pair where
        at most one holds it is that much likelier one person: 1 / (1 - share²).
        """
        share = self._share(holders, self.named, 0.0) if self.named else 0.0
        return 1.0 / max(1.0 - share * share, 0.2)

    def _share(self, count: int, total: int, prior: float) -> float:
        return (count + _PRIOR_POPULATION * prior) / (total + _PRIOR_POPULATION)

    def p_given(self, name: str) -> float:
        """The chance that a customer has this given name (or a variant of it)."""
        count = 0
        for form in canonical_given(name):
            held = self.given.get(form, 0)
            if held > count:
                count = held
        return self._share(count, self.named, _P0_GIVEN)

    def p_initial(self, name: str) -> float:
        return self._share(self.initials.get(name[:1], 0), self.named, 1 / 15)

    def p_family(self, name: str) -> float:
        return self._share(self.family.get(name, 0), self.named, _P0_FAMILY)

    def p_postcode(self, postcode: str) -> float:
        return self._share(self.postcodes.get(postcode, 0), self.with_postcode, _P0_POSTCODE)

    @property
    def prior_odds(self) -> float:
        """The odds that two customers taken at random are one person."""
        return PRIOR_SPLITS / max(self.customers, 2)

    def expected_holders(self, name: PersonName) -> float:
        """How many customers would carry this name by chance."""
        return self.named * self.p_given(name.first) * self.p_family(name.family)


# How many customers one person makes under one exact name: 1, 2, 3, … with chances falling
# by _SAME_NAME_AGAIN each time, so that a customer has on average PRIOR_SPLITS × _M_EXACT
# others of the same person and name (for this geometric law that is 2s / (1 - s)).
_SAME_NAME_AGAIN = PRIOR_SPLITS * _M_EXACT / (2 + PRIOR_SPLITS * _M_EXACT)
_MAX_HOLDERS = 60
_NAME_SPREAD = 1.0  # how uncertain a name's expected count is (a Gamma law's shape)


@lru_cache(maxsize=65536)
def _odds_one_person(holders: int, expected: float) -> float:
    """The odds that two of the ``holders`` customers of one exact name are one person.

    The number of people who carry a name is uncertain around ``expected`` (the
    customers that would carry it by chance, from how common the given and family names
    are; names run in families and communities, so a Gamma law around it, which makes
    the count negative binomial), and each person makes one or more customers. Given
    how many customers do carry it, the chance that two of them are one person follows:
    two holders of a rare name are likely one person, five holders of it are a family or
    namesakes.
    """
    holders = min(holders, _MAX_HOLDERS)
    s = _SAME_NAME_AGAIN
    people = max(expected, 1e-9) * (1 - s)
    q = [0.0] + [(1 - s) * s ** (n - 1) for n in range(1, holders + 1)]
    spread = people / _NAME_SPREAD

    def totals(shape: float) -> list[float]:
        # Panjer's recursion: f[m] = P(m customers in all) for a negative binomial number
        # of people, each making q[n] customers.
        a = spread / (1 + spread)
        b = (shape - 1) * a
        f = [(1 + spread) ** -shape] + [0.0] * holders
        for m in range(1, holders + 1):
            f[m] = sum((a + b * j / m) * q[j] * f[m - j] for j in range(1, m + 1))
        return f

    f = totals(_NAME_SPREAD)
    if f[holders] <= 0.0:
        return 0.0
    # Expected same-person pairs among the holders: people × Σ q(n) C(n, 2) P(the others
    # make H - n), the others counted under the size-biased law (one more in the shape).
    g = totals(_NAME_SPREAD + 1)
    same = people * sum(q[n] * math.comb(n, 2) * g[holders - n] for n in range(2, holders + 1))
    p = same / (f[holders] * math.comb(holders, 2))
    p = min(max(p, 1e-12), 1 - 1e-12)
    return p / (1 - p)


def _name_evidence(na: PersonName, nb: PersonName, freq: _Frequencies) -> tuple[float, str, bool]:
    """The likelihood ratio of two names, a reason in words, and whether they conflict."""
    if na.family and nb.family:
        p_family = max(freq.p_family(na.family), freq.p_family(nb.family))
        initial = min(len(na.first), len(nb.first)) == 1
        p_given = freq.p_initial(na.first) if initial else freq.p_given(na.first)
        chance = p_given * p_family
        if na.full == nb.full and not initial:
            holders = max(freq.full.get(na.full, 0), 2)
            if freq.expected_holders(na) >= 1:
                note = f", a common name ({holders} customers have it)"
            elif holders > 2:
                note = f"; {holders} customers have it"
            else:
                note = "; no other customer has it"
            odds = _odds_one_person(holders, freq.expected_holders(na))
            return odds / freq.prior_odds, f"same name {na.full.title()}{note}", False
        if sorted(na.full.split()) == sorted(nb.full.split()):
            return _M_SWAPPED / chance, "same name in swapped order", False
        # A man's and a woman's form of one name (Eric and Erica) are two names, however
        # close, unless one is held by only a few beside the many of the other (Rebecc
        # beside Rebecca: a lost letter); a short name may lose a letter ("Gu" for Gus).
        forms = other_forms(na.first, nb.first) and not _outnumbered(na.first, nb.first, freq.given)
        given_ok = given_names_match(na.first, nb.first) or (
            not forms and _slip(na.first, nb.first, freq.given, shortest=2)
        )
        family_ok = family_names_match(na.family, nb.family) or _slip(
            na.family, nb.family, freq.family, _TYPO_SHARE
        )
        # Two slips in a long name ("Tabhta"/"Tabitha") are still not a different name.
        slips = 0
        if not given_ok and not forms and _two_slips(na.first, nb.first, freq.given):
            given_ok, slips = True, slips + 1
        if not family_ok and _two_slips(na.family, nb.family, freq.family, _TYPO_SHARE):
            family_ok, slips = True, slips + 1
        if given_ok and family_ok:
            detail = []
            established = slips > 1
            if na.first != nb.first:
                kind = "nickname" if nickname_of(na.first, nb.first) else "first names"
                detail.append(f"{kind} {na.first.title()}/{nb.first.title()}")
                # Two close given names that several customers each hold are two names
                # (Marina and Mariana), not a typo.
                established = (
                    kind == "first names"
                    and not initial
                    and min(freq.given[na.first], freq.given[nb.first]) >= 2
                )
            if na.family != nb.family:
                detail.append(f"surnames {na.family.title()}/{nb.family.title()}")
                chance = p_given * (freq.p_family(na.family) + freq.p_family(nb.family))
                # A misspelling is usually seen once; two spellings each held by several
                # customers are two surnames (Thomson and Thompson).
                established |= not _rare_beside(na.family, nb.family, freq.family, _TYPO_SHARE)
            variants = len(detail) - (1 if initial else 0)
            m = _M_TWO_VARIANTS if variants == 2 else _M_VARIANT if variants else _M_INITIAL
            if established:
                m *= _ESTABLISHED_SPELLINGS
            m *= _TWO_SLIPS**slips
            reason = "similar names" + (f" ({'; '.join(detail)})" if detail else "")
            if initial and not variants:
                # "J. Smith": as telling as few customers fit it (Jane and John Smith do).
                holders = max(freq.family_initial[f"{na.first[0]} {na.family}"], 2)
                odds = _odds_one_person(holders, freq.named * chance)
                return odds / freq.prior_odds, reason, False
            return m / chance, reason, False
        if _alike_across(na.first, nb.family, freq) and _alike_across(na.family, nb.first, freq):
            return _M_SWAPPED * _M_VARIANT / chance, "similar names in swapped order", False
        joined_a, joined_b = "".join(na.tokens), "".join(nb.tokens)
        split = joined_a == joined_b or (
            len(na.tokens) != len(nb.tokens) and OSA.distance(joined_a, joined_b) <= 1
        )
        if min(len(joined_a), len(joined_b)) >= 6 and split:
            # "Jane Gree N" and "Jane Green": a stray space or a lost one.
            return _M_VARIANT / chance, "similar names written apart", False
        if min(len(joined_a), len(joined_b)) >= 6 and _turned_apart(na, nb):
            # "Macgo Wan Darcie" and "Darcie Macgowan": swapped, and a space strayed.
            whole = na if len(na.tokens) < len(nb.tokens) else nb
            turned = freq.p_given(whole.first) * freq.p_family(whole.family)
            reason = "similar names in swapped order, written apart"
            return _M_SWAPPED * _M_VARIANT / turned, reason, False
        if family_ok and (shared := _given_among(na, nb)):
            # "Mary Jane Reid" and "Jane Reid": one leaves out a given name the other
            # gives (a missing name is weak evidence, not a different one).
            reason = f"similar names (one gives {shared.title()} as a second given name)"
            return _M_VARIANT / (freq.p_given(shared) * p_family), reason, False
        if family_ok:
            # One surname, given names truly different (not a slip, a nickname, an
            # initial, a missing name or a swap): family members, at one home a household.
            return _LR_FAMILY_CONFLICT, f"same surname {na.family.title()}", True
        if given_ok and len(na.first) > 1:
            # The same given name under two surnames: a new surname, or two people.
            if na.first == nb.first:
                reason = f"same first name {na.first.title()}, surnames differ"
                return _M_NEW_SURNAME / freq.p_given(na.first), reason, False
            reason = f"first names {na.first.title()}/{nb.first.title()}, surnames differ"
            m = _M_NEW_SURNAME * _M_VARIANT * _TWO_SLIPS**slips
            return m / max(freq.p_given(na.first), freq.p_given(nb.first)), reason, False
        return _LR_CONFLICT, "", True
    if not na.family and not nb.family and na.first and na.first == nb.first:
        return _M_FIRST_ONLY / freq.p_given(na.first), f"same first name {na.first.title()}", False
    single, whole = (na, nb) if not na.family else (nb, na)
    token = single.first
    if token and whole.family and len(token) > 1:
        # One side gives one name only: weak evidence, never a conflict. A long name may
        # carry two slips ("Zimmerrmnn" for Zimmermann), which makes it weaker still.
        m = _M_PART if _alike(token, whole.family, freq.family, freq.family) else 0.0
        if not m and _two_slips(token, whole.family, freq.family, _TYPO_SHARE):
            m = _M_PART * _TWO_SLIPS
        if m:
            reason = f"one gives only the surname {whole.family.title()}"
            return m / freq.p_family(whole.family), reason, False
        m = _M_PART if _alike(token, whole.first, freq.given, freq.given) else 0.0
        if not m and _two_slips(token, whole.first, freq.given):
            m = _M_PART * _TWO_SLIPS
        if m:
            reason = f"one gives only the first name {whole.first.title()}"
            return m / freq.p_given(whole.first), reason, False
    return 1.0, "", False


# A surname spelling held by fewer than this share of the holders of a spelling one or two
# slips from it is read as that name mistyped, however many customers hold it: a common
# name is mistyped the same way by several people (Ryan as Rya), while two real spellings
# (Thomson and Thompson) are each held by many. Given names keep the stricter rule: Eric
# and Erica are two names, whatever their counts.
_TYPO_SHARE = 0.2


def _rare_beside(a: str, b: str, counts: Counter[str], share: float = 0.0) -> bool:
    """True if one of two spellings is held by at most one customer, or by fewer than
    ``share`` of the holders of the other: a misspelling, not a name of its own."""
    ca, cb = counts.get(a, 0), counts.get(b, 0)
    return min(ca, cb) < 2 or min(ca, cb) < share * max(ca, cb)


def _given_among(na: PersonName, nb: PersonName) -> str:
    """The first given name of one name that is a later given name of the other (both of
    two letters or more, equal, a nickname or a slip apart), or "" if there is none."""
    for x, y in ((na, nb), (nb, na)):
        if len(x.first) > 1:
            for later in y.given[1:]:
                if len(later) > 1 and given_names_match(later, x.first):
                    return x.first
    return ""


def _turned_apart(na: PersonName, nb: PersonName) -> bool:
    """True if one name, family name first, is the other written with a space more or
    less and at most one slip (a swapped order and a split or joined name at once)."""
    if len(na.tokens) == len(nb.tokens) or not na.family or not nb.family:
        return False
    joined_a, joined_b = "".join(na.tokens), "".join(nb.tokens)
    turned_a = na.family + "".join(na.given)
    turned_b = nb.family + "".join(nb.given)
    return OSA.distance(joined_a, turned_b) <= 1 or OSA.distance(turned_a, joined_b) <= 1


def _slip(a: str, b: str, counts: Counter[str], share: float = 0.0, shortest: int = 3) -> bool:
    """True if two spellings one typing slip apart look like one name mistyped.

    A misspelling is usually seen once: two spellings that several customers each
    hold are two names (Mara and Mary), so they do not count as a slip. ``shortest``:
    the fewest letters a spelling may have; a two-letter one must be the other with
    its last letter lost ("Gu" for Gus), which is a slip more often than a name.
    """
    if not a or not b or min(len(a), len(b)) < shortest or (a[0] != b[0] and len(a) < 5):
        return False
    if min(len(a), len(b)) < 3 and not (a.startswith(b) or b.startswith(a)):
        return False
    return OSA.distance(a, b) <= 1 and _rare_beside(a, b, counts, share)


def _two_slips(a: str, b: str, counts: Counter[str], share: float = 0.0) -> bool:
    """True if two spellings of a long name two typing slips apart look like one name
    mistyped twice: they start alike and one of them is rare beside the other."""
    if min(len(a), len(b)) < 5 or a[0] != b[0]:
        return False
    return OSA.distance(a, b) <= 2 and _rare_beside(a, b, counts, share)


def _alike(a: str, b: str, counts_a: Counter[str], counts_b: Counter[str]) -> bool:
    """Equal, or one slip apart and not two names that several customers each hold."""
    if not a or not b:
        return False
    if a == b:
        return True
    if min(len(a), len(b)) < 3 or OSA.distance(a, b) > 1:
        return False
    return min(counts_a.get(a, 0), counts_b.get(b, 0)) < 2


def _outnumbered(a: str, b: str, counts: Counter[str]) -> bool:
    """True if one spelling is held by fewer than ``_TYPO_SHARE`` of the holders of the
    other: a slip copied into a few records, not a name of its own."""
    ca, cb = counts.get(a, 0), counts.get(b, 0)
    return min(ca, cb) < _TYPO_SHARE * max(ca, cb)


def _alike_across(a: str, b: str, freq: _Frequencies) -> bool:
    """Whether a name part and the other's part in the other place (a swapped order) are
    one name: equal, one slip apart (a two-letter part: the other with its last letter
    lost), or two slips apart in a long name starting alike; and the rarer spelling,
    counted as given and as family name, a misspelling of the other (the surnames' rule,
    ``_TYPO_SHARE``), so that a slip copied into a few records ("Masno" for Mason) still
    reads as one."""
    if a == b:
        return bool(a)
    if not a or not b:
        return False
    shortest, distance = min(len(a), len(b)), OSA.distance(a, b)
    if shortest < 2 or distance > (2 if shortest >= 5 and a[0] == b[0] else 1):
        return False
    if shortest == 2 and not (a.startswith(b) or b.startswith(a)):
        return False
    ca = freq.given.get(a, 0) + freq.family.get(a, 0)
    cb = freq.given.get(b, 0) + freq.family.get(b, 0)
    return min(ca, cb) < 2 or min(ca, cb) < _TYPO_SHARE * max(ca, cb)


def score_pair(
    a: _Profile,
    b: _Profile,
    freq: _Frequencies,
    mentions: Iterable[str] = (),
    floor: float = 0.0,
) -> tuple[float, list[str], list[str]]:
    """How likely two customers are one person (0–1), why, and what speaks against it.

    Names weigh as much as they are rare; other evidence (a home, a postcode,
    phone digits, an address that spells the name, a contact point both use, a
    message that mentions the other's order, address or number) multiplies the
    odds; clearly different names, two different homes or two different mobiles
    divide them, and are returned apart from the reasons for. A pair whose
    names conflict never scores above 0.35: it is listed so the conflict is
    seen, not so it is merged.

    ``floor``: a pair that cannot score this much (``_below``) is not scored: it gets 0
    and no reasons. Every pair that can is scored in full, so the pairs scored ``floor``
    or more and their scores are the same with or without it.
    """
    if floor > 0.0 and _below(a, b, freq, mentions, floor):
        return 0.0, [], []
    reasons: list[str] = []
    against_reasons: list[str] = []  # evidence against, kept apart from the reasons for
    odds = freq.prior_odds
    shared = set(a.shared) & set(b.shared)
    if shared:
        reasons.append(f"both use {a.shared[min(shared)]}, seen with different names")
    name_lr, name_reason, conflict = 1.0, "", False
    for na in _names_of(a):
        for nb in _names_of(b):
            lr, reason, clash = _name_evidence(na, nb, freq)
            if (not clash and lr > name_lr) or (clash and name_lr == 1.0 and not conflict):
                name_lr, name_reason, conflict = lr, reason, clash
    spelled: tuple[float, str, str] = (1.0, "", "")
    for x, y in ((a, b), (b, a)):
        if not _may_spell(x, y):
            continue
        for e in sorted(x.emails):
            for n in _names_of(y):
                strength = _email_spells(e, n)
                if not strength:
                    continue
                initial = strength < 1.0 or len(n.first) == 1
                p_given = freq.p_initial(n.first) if initial else freq.p_given(n.first)
                chance = p_given * freq.p_family(n.family)
                if initial:
                    lr = _M_SPELLED / chance
                else:  # the name once more: as telling as its holders make it
                    holders = max(freq.full.get(n.full, 0), 2)
                    lr = _odds_one_person(holders, freq.named * chance) / freq.prior_odds
                if lr > spelled[0]:
                    spelled = (lr, e, y.name)
    if floor > 0.0 and _names_only_below(a, b, mentions, shared, name_lr, conflict, freq, floor):
        return 0.0, [], []
    if name_reason:
        reasons.append(name_reason)
    if spelled[0] > name_lr and not conflict:
        name_lr = spelled[0]
    against = 1.0
    if _personal_address(a, b) and _personal_address(b, a) and not (a.emails & b.emails):
        # Each has a personal address in that name: two people, or one with two accounts.
        against = _LR_OWN_ADDRESSES
        against_reasons.append("each has their own address in that name")
    else:
        against = freq.lr_not_both(freq.with_own_address)
        if spelled[1]:
            reasons.append(f"email {spelled[1]} spells the name {spelled[2]}")
    home, where = _homes(a, b)
    mistyped = home is Match.SAME and _home_mistyped(a, b)
    if (
        conflict
        and mistyped
        and not shared
        and not (_owns_given_name(a, b) or _owns_given_name(b, a))
    ):
        # The household rule needs one address written alike: one surname and clearly
        # different given names at an address that is one home only through a slip (a
        # letter in the street or town, a digit of the house number or postcode) are one
        # record garbled twice (the given name replaced, the address mistyped) as often
        # as two people of one home, one of them mistyping it: as likely as not. So is
        # the rule's swapped form, one name part written in the other's other place
        # ("Gloster Mia" and "Riley Gloster"): the swap is as likely for either. Not
        # where a mailbox of one side spells its own given name and nothing of the other
        # side spells it (``_owns_given_name``): that given name is the person's own, not
        # a garbled field, and the other's is someone else's.
        across = "" if name_reason else _part_across(a, b, freq)
        if name_reason or across:
            name_lr, conflict = _LR_FAMILY_AT_MISTYPED_HOME, False
            if across:
                name_reason = f"same name {across.title()} in swapped places"
                reasons.append(name_reason)
            against_reasons.append("first names differ")
    odds *= name_lr
    household = 1.0
    if home is Match.SAME:
        # One home: as likely one person as two before the names are heard (_HOUSEHOLD_ODDS).
        household = min(_HOUSEHOLD_ODDS / freq.prior_odds, _LR_HOME_MAX)
        slip = " (one written with a slip)" if mistyped else ""
        reasons.append(f"same address {where}{slip}")
    elif home is Match.HOUSE:
        household = _LR_HOUSE
        reasons.append(f"same house number and street {where}")
    elif home is Match.STREET:
        household = _LR_POSTCODE_MAX
        reasons.append(f"same street {where}")
    else:
        for postcode in sorted(a.postcodes & b.postcodes)[:1]:
            household = min(0.8 / freq.p_postcode(postcode), _LR_POSTCODE_MAX)
            reasons.append(f"same postcode {postcode}")
        if household == 1.0:
            near = [(p, q) for p in a.postcodes for q in b.postcodes if postcodes_agree(p, q)]
            for p, q in sorted(near)[:1]:
                # A postcode one slip from the other's: a typo, or a neighbouring district.
                household = min(0.8 * _POSTCODE_SLIP / freq.p_postcode(p), _LR_POSTCODE_MAX)
                reasons.append(f"postcodes {p}/{q}")
    if home is Match.DIFFERENT:
        odds *= _LR_OTHER_HOME
        against_reasons.append("different addresses")
    if shared:
        household = max(household, _LR_SHARED_POINT)
    if household > 1.0:
        # One home: the other explanation of a matching name is a family member with the
        # same name (a junior), not a stranger, so the name counts for less; the home is
        # counted once however it shows.
        # Without a name that agrees, a shared postcode is only neighbours.
        odds = min(odds * household, _HOUSEHOLD_ODDS * min(name_lr, _LR_NAME_AT_HOME))
    odds *= against
    tails_a, tails_b = _quick(a).tails, _quick(b).tails
    if tails_a & tails_b and not (a.phones & b.phones):
        odds *= _LR_PHONE_TAIL
        reasons.append(f"phone numbers end alike (…{min(tails_a & tails_b)})")
    if a.mobiles and b.mobiles and not (a.mobiles & b.mobiles) and not (tails_a & tails_b):
        odds *= _LR_DIFFERENT_MOBILES
        against_reasons.append("different mobile numbers")
    elif not (a.mobiles and b.mobiles):
        odds *= freq.lr_not_both(freq.with_mobile)
    mentioned = sorted(set(mentions))
    if mentioned:
        odds *= _MENTION_ODDS / freq.prior_odds
        reasons.extend(mentioned[:2])
    score = odds / (1.0 + odds)
    if conflict:
        score = min(score, _CONFLICT_CAP)
        against_reasons.append("names differ")
    return max(0.0, min(1.0, score)), reasons, against_reasons


# The model multiplies likelihood ratios as if each piece of evidence were independent of
# the others, which they are not (a home and a postcode, a name and the address that spells
# it), so its probabilities are mapped to what is observed: a monotone table from the
# model's probability to the share of pairs that are one person, fitted by pool-adjacent
# violators on the generated benchmark (10,000 people, seed 3), FEBRL1 and FEBRL2
# together, each pair weighing alike, and checked on FEBRL3, FEBRL4 and the generated
# benchmark with another seed (4,000 people, seed 5), which it never saw
# (``python -m tests.bench.bench_identity --save-scores gen.txt``, ``… --febrl 1
# --save-scores febrl1.txt``, ``… --febrl 2 --save-scores febrl2.txt``, then ``…
# --fit-calibration gen.txt febrl1.txt febrl2.txt``: 144,368 scored pairs, of which 7,514
# at 0.02 or more; the knots from 0.1 to 0.7 each rest on 70 to 310 pairs, so read them
# to about ±0.06). Between the knots the map is linear. The benchmarks disagree below
# about 0.8: two records at one home whose names say nothing either way, or one surname
# with different given names, are mostly one person in FEBRL (no households there) and
# mostly two in the generated homes, so a pooled share sits between the two.
CALIBRATION: tuple[tuple[float, float], ...] = (
    (0.0, 0.0),
    (0.02, 0.219),
    (0.1, 0.219),
    (0.2, 0.412),
    (0.3, 0.469),
    (0.35, 0.523),
    (0.4, 0.523),
    (0.5, 0.893),
    (0.6, 0.893),
    (0.7, 0.893),
    (0.8, 0.915),
    (0.9, 0.915),
    (0.95, 0.982),
    (0.99, 0.998),
    (1.0, 1.0),
)


def calibrated(raw: float) -> float:
    """The calibrated score of a model probability (CALIBRATION, linear between knots)."""
    knots = CALIBRATION
    for (x0, y0), (x1, y1) in pairwise(knots):
        if raw <= x1:
            return y0 if x1 <= x0 else y0 + (y1 - y0) * (raw - x0) / (x1 - x0)
    return knots[-1][1]


# The review queue: pairs at least as likely as not one person. Over the whole list about
# 19 in 20 pairs are one person on the generated benchmark (most score far above it).
DEFAULT_MIN_SCORE = calibrated(0.35)


def raw_floor(min_score: float) -> float:
    """The model probability below which every pair is calibrated under ``min_score``
    (the map is monotone: ``calibrated(raw) < min_score`` for any ``raw`` below it)."""
    if min_score <= 0.0:
        return 0.0
    for (x0, y0), (x1, y1) in pairwise(CALIBRATION):
        if y1 >= min_score:
            return (
                x0 if y0 >= min_score or x1 <= x0 else x0 + (min_score - y0) * (x1 - x0) / (y1 - y0)
            )
    return CALIBRATION[-1][0]


_ROUNDING = 1e-9  # a margin for the bound's rounding against the scorer's


def _below(
    a: _Profile, b: _Profile, freq: _Frequencies, mentions: Iterable[str], floor: float
) -> bool:
    """True if ``score_pair`` surely gives the pair less than ``floor`` (a model probability).

    Only a pair that has none of the evidence that multiplies the odds by much (a
    mention, a shared contact point, phone numbers that end alike, a postcode, a home or
    a street, an address that spells the other's name) and whose names, compared by
    ``_name_bound``, cannot weigh enough: its odds are at most the prior times the
    names' bound times the largest ratios of "not both have their own address" and "not
    both have a mobile". Answers False whenever it cannot tell.
    """
    if mentions:
        return False
    if a.shared and b.shared and not a.shared.keys().isdisjoint(b.shared):
        return False
    qa, qb = a.quick or _quick(a), b.quick or _quick(b)
    if _tails_weigh(a, b, qa, qb):
        return False
    if not qa.postcodes.isdisjoint(qb.postcodes):
        if not a.postcodes.isdisjoint(b.postcodes):
            return False
        if any(postcodes_agree(p, q) for p in a.postcodes for q in b.postcodes):
            return False
    if not qa.locals.isdisjoint(qb.spellings) or not qb.locals.isdisjoint(qa.spellings):
        return False
    limit, others = _limits(freq, floor)
    names = 1.0
    for na in _names_of(a):
        for nb in _names_of(b):
            names = max(names, _name_bound(na, nb, freq, limit))
            if names >= limit:
                return False
    odds = freq.prior_odds * names * others
    if odds / (1.0 + odds) >= floor * (1.0 - _ROUNDING):
        return False
    if qa.homes and qb.homes:
        home, _ = _homes(a, b)
        if home in (Match.SAME, Match.HOUSE, Match.STREET):
            return False
    return True


def _names_only_below(
    a: _Profile,
    b: _Profile,
    mentions: Iterable[str],
    shared: set[int],
    name_lr: float,
    conflict: bool,
    freq: _Frequencies,
    floor: float,
) -> bool:
    """For ``score_pair``, once the names weigh ``name_lr``: True if the pair surely scores
    less than ``floor`` (then it gets 0 and no reasons, as ``_below`` would give it).

    Only without a mention, a home both give, or an email that spells a name where the
    names do not conflict (``score_pair`` weighs a spelled name only then). The odds
    are then at most the prior times ``name_lr``, times the most a shared contact point
    or a postcode may make of the household (capped as ``score_pair`` caps it), times
    the phone digits' ratio if the numbers may end alike, times the largest ratios that
    follow ("not both have their own address", "not both have a mobile": ``_limits``).
    A postcode may agree only where ``_below`` says so. False whenever it cannot tell.
    """
    if mentions:
        return False
    qa, qb = a.quick or _quick(a), b.quick or _quick(b)
    if (qa.homes and qb.homes) or not (conflict or _spell_neither(qa, qb)):
        return False
    household = _LR_SHARED_POINT if shared else 1.0
    if not qa.postcodes.isdisjoint(qb.postcodes):
        household = max(household, _LR_POSTCODE_MAX)
    odds = freq.prior_odds * name_lr
    if household > 1.0:  # ``score_pair`` lowers the odds to the cap, never raises them
        capped = min(odds * household, _HOUSEHOLD_ODDS * min(name_lr, _LR_NAME_AT_HOME))
        odds = max(odds, capped)
    if _tails_weigh(a, b, qa, qb):
        odds *= max(1.0, _LR_PHONE_TAIL)
    odds *= _limits(freq, floor)[1]
    return odds / (1.0 + odds) < floor * (1.0 - _ROUNDING)


def _tails_weigh(a: _Profile, b: _Profile, qa: _Quick, qb: _Quick) -> bool:
    """Whether ``score_pair`` may count phone numbers that end alike (``_LR_PHONE_TAIL``):
    numbers of both end in the same seven digits, and no number is the same on both (a
    number both give, a household's landline, is their contact point, and the digits of
    their other numbers are not counted then either)."""
    return not qa.tails.isdisjoint(qb.tails) and a.phones.isdisjoint(b.phones)


def _clash_below(freq: _Frequencies, floor: float) -> bool:
    """For ``scorable``: whether a pair whose names surely conflict (a family conflict or
    a conflict, no more) surely scores below ``floor`` with no evidence but a postcode or
    a contact point both share (no mention, phone digits, spelling email, nor a home both
    give). Its odds are then at most the prior times the conflict's ratio, raised by the
    household up to ``score_pair``'s cap, times the ratios that follow (``_limits``)."""
    names = max(_LR_CONFLICT, _LR_FAMILY_CONFLICT)
    odds = freq.prior_odds * names
    household = max(_LR_SHARED_POINT, _LR_POSTCODE_MAX)
    odds = max(odds, min(odds * household, _HOUSEHOLD_ODDS * min(names, _LR_NAME_AT_HOME)))
    odds *= _limits(freq, floor)[1]
    return odds / (1.0 + odds) < floor * (1.0 - 2 * _ROUNDING)


_limits_of: list[tuple[_Frequencies, float, tuple[float, float]]] = []  # the last answer


def _limits(freq: _Frequencies, floor: float) -> tuple[float, float]:
    """For ``_below``: the names' likelihood ratio from which a pair without other evidence
    may reach ``floor``, and the largest product of the ratios that follow the names
    ("not both have their own address", "not both have a mobile"), for these frequencies."""
    last = _limits_of[0] if _limits_of else None  # read once: another thread may replace it
    if last is not None and last[0] is freq and last[1] == floor:
        return last[2]
    others = max(_LR_OWN_ADDRESSES, freq.lr_not_both(freq.with_own_address))
    others *= max(1.0, _LR_DIFFERENT_MOBILES, freq.lr_not_both(freq.with_mobile))
    reach = floor / (1.0 - floor) if floor < 1.0 else math.inf
    limits = (reach / (freq.prior_odds * others), others)
    _limits_of[:] = [(freq, floor, limits)]
    return limits


def _name_bound(na: PersonName, nb: PersonName, freq: _Frequencies, limit: float) -> float:
    """An upper bound of ``_name_evidence``'s likelihood ratio, worked out without most of
    it: infinite unless the names are far apart (the family names, the whole names and
    each name part against the other's part in the other place too far for a slip, a
    variant, a swap or a split), where what is left is a conflict or the same given name
    under another surname. Infinite too, without a look at the names, when that bound
    would reach ``limit`` anyway."""
    if not na.family or not nb.family:
        if not na.family and not nb.family:
            if na.first and na.first == nb.first:
                return _M_FIRST_ONLY / freq.p_given(na.first)
            return 1.0
        whole = nb if not na.family else na
        bound = _M_PART / freq.p_family(whole.family)
        return max(bound, _M_PART / freq.p_given(whole.first)) if whole.first else bound
    if not na.first or not nb.first:
        return math.inf
    # What is left once the names are found far apart: the same surname (not here), the
    # same or a similar given name under another surname (_M_NEW_SURNAME over its
    # frequency at most), or a conflict.
    given = freq.p_given(na.first)
    if nb.first != na.first:
        given = min(given, freq.p_given(nb.first))
    bound = _M_NEW_SURNAME / given
    if bound >= limit or na.full == nb.full:
        return math.inf
    if OSA.distance(na.family, nb.family) <= 2:
        return math.inf  # the family names may agree
    if _near(na.first, nb.family) and _near(na.family, nb.first):
        return math.inf  # a swapped order
    if OSA.distance("".join(na.tokens), "".join(nb.tokens)) <= 1:
        return math.inf  # written apart
    if sorted(na.full.split()) == sorted(nb.full.split()) or _turned_apart(na, nb):
        return math.inf  # swapped, or swapped and written apart
    # family_names_match, but for two names in one part each (equal ones are caught above)
    # only its typing-slip test: the cheaper question first.
    if " " in na.family or " " in nb.family:
        if family_names_match(na.family, nb.family):
            return math.inf
    elif min(len(na.family), len(nb.family)) >= 4 and fuzz.ratio(na.family, nb.family) >= 80:
        return math.inf
    return bound


def _near(a: str, b: str) -> bool:
    """Whether ``_alike_across`` may hold: equal, or two slips apart at most."""
    return a == b or OSA.distance(a, b) <= 2


def _part_across(a: _Profile, b: _Profile, freq: _Frequencies) -> str:
    """A name part of one customer that is the other's part in the other place (the
    given name of one, the surname of the other: alike as ``_alike_across`` reads a
    swapped order), or "" if there is none."""
    for na in _names_of(a):
        for nb in _names_of(b):
            if not na.family or not nb.family or len(na.first) < 2 or len(nb.first) < 2:
                continue
            if _alike_across(na.first, nb.family, freq):
                return nb.family
            if _alike_across(na.family, nb.first, freq):
                return na.family
    return ""


def _owns_given_name(x: _Profile, y: _Profile) -> bool:
    """True if an address of ``x`` spells a name of ``x`` (jane.doe@, jdoe@) and no name
    of ``y``, and no address of ``y`` spells a name of ``x``: ``x``'s mailbox confirms
    its given name, and nothing of ``y`` says that ``y`` is ``x`` under another given
    name (one person's records garbled with a replaced given name still come from that
    person's mailbox, which spells the true name)."""
    if not _own_spelling(x):
        return False
    names_x, names_y = _names_of(x), _names_of(y)
    if _may_spell(y, x) and any(_email_spells(e, n) for e in y.emails for n in names_x):
        return False
    return any(
        _email_spells(e, n) and not any(_email_spells(e, m) for m in names_y)
        for e in x.emails
        for n in names_x
    )


def _home_mistyped(a: _Profile, b: _Profile) -> bool:
    """True if the two customers' addresses are one home (``compare`` says so) only
    through a slip: every such pair of addresses differs in a field both give (the house
    number, the street, the town or the postcode), and none gives two different units
    (two flats of one building are two homes)."""
    found = False
    for _, x in _quick(a).homes:
        for _, y in _quick(b).homes:
            if compare(x, y) is not Match.SAME:
                continue
            if x.unit and y.unit and x.unit != y.unit:
                return False
            fields = ((x.house, y.house), (x.street, y.street), (x.town, y.town))
            if all(p == q or not p or not q for p, q in (*fields, (x.postcode, y.postcode))):
                return False  # written alike (a field one leaves out is not a slip)
            found = True
    return found


_HOME_RANK = {Match.SAME: 4, Match.HOUSE: 3, Match.STREET: 2, Match.DIFFERENT: 1, Match.UNKNOWN: 0}


def _homes(a: _Profile, b: _Profile) -> tuple[Match, str]:
    """How the two customers' addresses compare at best, and the address they share."""
    best, where = Match.UNKNOWN, ""
    homes_b = _quick(b).homes
    if not homes_b:
        return best, where
    rank = _HOME_RANK
    compared = False
    for key, x in _quick(a).homes:
        for _, y in homes_b:
            match = compare(x, y)
            if match is Match.UNKNOWN:
                continue
            if not compared or rank[match] > rank[best]:
                best, where, compared = match, key, True
    return best, where


def suggestions(
    session: Session,
    *,
    min_score: float = DEFAULT_MIN_SCORE,
    limit: int | None = None,
    customer_id: int | None = None,
    calibrate: bool = True,
) -> list[Suggestion]:
    """Scored candidate pairs, best first, without rejected pairs.

    Args:
        session: an open session.
        min_score: leave out pairs below this score.
        limit: at most this many.
        customer_id: only pairs involving this customer.
        calibrate: map the model's probabilities to observed shares (``calibrated``);
            False gives the model's own, for fitting the map.
    """
    with collector_paused():
        profiles = _profiles(session)
        freq = _Frequencies.of(profiles.values())
        said = _mentions(session, profiles)
        rejected = rejected_pairs(session)
        found: list[Suggestion] = []
        floor = raw_floor(min_score) if calibrate else min_score
        for x, y in scorable(profiles, freq, said, _candidate_codes(profiles, said), floor):
            if (x, y) in rejected:
                continue
            if customer_id is not None and customer_id not in (x, y):
                continue
            a, b = profiles[x], profiles[y]
            score, reasons, against = score_pair(a, b, freq, said.get((x, y), ()), floor)
            if calibrate:
                score = calibrated(score)
            if score >= min_score and (reasons or against):
                found.append(
                    Suggestion(x, y, score, tuple(reasons), a.name, b.name, tuple(against))
                )
    found.sort(key=lambda s: (-s.score, s.customer_a, s.customer_b))
    return found[:limit] if limit is not None else found


def candidate_pairs(session: Session) -> set[tuple[int, int]]:
    """Every pair of customers the blocking keys compare (lower id first), for benchmarks."""
    profiles = _profiles(session)
    return set(_candidate_pairs(profiles, _mentions(session, profiles)))


def _candidate_pairs(
    profiles: dict[int, _Profile],
    said: dict[tuple[int, int], set[str]],
    keys: dict[int, set[str]] | None = None,
    orders: dict[int, tuple[str, str, str]] | None = None,
) -> Iterator[tuple[int, int]]:
    """Pairs worth scoring (each once, lower id first).

    Three sources, so that nothing obvious is missed while the cost stays near-linear:
    customers that share a blocking key (a key shared by more than MAX_BLOCK customers,
    a common surname or a busy postcode, is not dropped but read in name order, each
    customer meeting its WINDOW neighbours); neighbours in name order over all customers
    (sorted neighbourhood: a typo late in a name, a swapped order); mentioned pairs.
    """
    for code in _candidate_codes(profiles, said, keys, orders):
        yield code >> 32, code & _LOW


def _candidate_codes(
    profiles: dict[int, _Profile],
    said: dict[tuple[int, int], set[str]],
    keys: dict[int, set[str]] | None = None,
    orders: dict[int, tuple[str, str, str]] | None = None,
) -> Iterator[int]:
    """``_candidate_pairs``, each pair as one integer, lower id high."""
    yield from _candidate_array(profiles, said, keys, orders).tolist()


def _candidate_array(
    profiles: dict[int, _Profile],
    said: dict[tuple[int, int], set[str]],
    keys: dict[int, set[str]] | None = None,
    orders: dict[int, tuple[str, str, str]] | None = None,
) -> Any:
    """``_candidate_codes`` as a numpy int64 array (in no particular order).

    The pairs are made in numpy columns: a customer's keys numbered, the (key, customer)
    rows sorted, and each block's pairs (or, in an oversized block, each member's
    neighbours in a name order) drawn from the sorted rows at once; the pairs of several
    blocks are told apart once (``np.unique``) instead of one by one in a set.
    """
    return _with_mentions(_unmentioned_candidates(profiles, keys, orders), said)


_Candidates = tuple[Any, Any, Any]  # numpy int64 codes: strong, weak sharing a part, weak


def _with_mentions(found: _Candidates, said: dict[tuple[int, int], set[str]]) -> Any:
    """``_candidate_array`` from ``_unmentioned_candidates`` and the mentioned pairs: those
    join the strong pairs, and leave the weak ones (each part stays ascending)."""
    import numpy as np

    strong, touching, late = found
    mentioned = _distinct(_said_array(said))
    if len(mentioned):
        strong = _distinct(np.concatenate((strong, mentioned)))
        touching = touching[~np.isin(touching, mentioned, assume_unique=True)]
        late = late[~np.isin(late, mentioned, assume_unique=True)]
    return np.concatenate((strong, touching, late))


def _unmentioned_candidates(
    profiles: dict[int, _Profile],
    keys: dict[int, set[str]] | None = None,
    orders: dict[int, tuple[str, str, str]] | None = None,
    blocks: _KeyBlocks | None = None,
) -> _Candidates:
    """The pairs of ``_candidate_array`` but the mentioned ones (which need the database:
    this part needs only the profiles, so a forked process can make it): the strong pairs,
    then the weak pairs (not strong) whose names share a part, then the other weak pairs
    whose names touch, each ascending; a weak pair may be a mentioned one. The ``blocks``
    (``_key_blocks`` of ``keys``) may be made beforehand. (``_blocked_pairs``, then
    ``_touching_weak`` of its weak pairs.)"""
    seen, rest = _blocked_pairs(profiles, keys, orders, blocks)
    touching, late = _touching_weak(profiles, rest)
    return seen, touching, late


def _blocked_pairs(
    profiles: dict[int, _Profile],
    keys: dict[int, set[str]] | None = None,
    orders: dict[int, tuple[str, str, str]] | None = None,
    blocks: _KeyBlocks | None = None,
) -> tuple[Any, Any]:
    """The strong pairs of ``_unmentioned_candidates`` and its weak pairs (not strong)
    before their names are compared (``_touching_weak``), each ascending."""
    import numpy as np

    if keys is None:
        keys = {cid: _block_keys(p) for cid, p in profiles.items()}
    if orders is None:
        orders = {cid: _name_orders(p) for cid, p in profiles.items()}
    texts, numbered, member = _key_blocks(keys) if blocks is None else blocks
    # The rows by key, then customer: each block's members ascending, one after another.
    starts = np.flatnonzero(np.r_[True, numbered[1:] != numbered[:-1]]) if len(member) else member
    sizes = np.diff(np.r_[starts, len(member)])
    weak_key = np.zeros(len(starts), dtype=bool)  # of each block (of one member: no pairs)
    shared = np.flatnonzero(sizes >= 2)
    weak_key[shared] = [
        texts[key].partition(":")[0] in _WEAK_KEYS for key in numbered[starts[shared]].tolist()
    ]
    # Each customer's place in each name order (by the order's text, then id): a block's
    # members in that order are its members sorted by their places.
    ascending = sorted(orders)
    ids = np.array(ascending, dtype=np.int64)
    ranked_all = [
        sorted(ascending, key=_order_text(orders, which)) for which in range(_NAME_ORDERS)
    ]
    places = []
    for ranked in ranked_all:
        place = np.empty(len(ranked), dtype=np.int64)
        place[np.searchsorted(ids, ranked)] = np.arange(len(ranked))
        places.append(place)  # by the customer's index in ``ids``
    strong: list[Any] = []
    weak: list[Any] = []
    small = (sizes >= 2) & (sizes <= MAX_BLOCK)
    for kept, out in ((~weak_key, strong), (weak_key, weak)):
        chosen = small & kept
        out.append(_block_array(member, starts[chosen], sizes[chosen]))
    for at in np.flatnonzero(sizes > MAX_BLOCK).tolist():
        members = member[starts[at] : starts[at] + sizes[at]]
        index = np.searchsorted(ids, members)
        out = weak if weak_key[at] else strong
        for which in range(_NAME_ORDERS):
            in_order = members[np.argsort(places[which][index])]
            out.append(_window_array(in_order, WINDOW))
    for which, ranked in enumerate(ranked_all):
        named_only = [cid for cid in ranked if orders[cid][which]]
        weak.append(_window_array(np.array(named_only, dtype=np.int64), NAME_WINDOW))
    seen = _distinct(np.concatenate(strong))
    rest = _distinct(np.concatenate(weak))
    return seen, rest[~np.isin(rest, seen, assume_unique=True)]


def _touching_weak(profiles: dict[int, _Profile], rest: Any) -> tuple[Any, Any]:
    """Of weak pairs (codes, ascending), those whose names share a part or the sound of
    one (``_parts``), then those of the others whose names touch (``_touching_rest``),
    each in the order given. Each pair's answer is its own: the pairs may be split into
    runs answered apart and the answers put together in the same order."""
    import numpy as np

    if not len(rest):
        return rest, rest
    touching = _sharing_parts(profiles, rest)
    late = np.array(list(_touching_rest(profiles, rest[~touching].tolist())), dtype=np.int64)
    return rest[touching], late


def _order_text(orders: dict[int, tuple[str, str, str]], which: int) -> Callable[[int], str]:
    """A customer's text in name order ``which``. Sorting the ids, ascending, by it (a
    stable sort) orders them by the text, then the id, comparing strings rather than
    (text, id) tuples: less than half the time."""
    return lambda cid: orders[cid][which]


def _key_rows(keys: dict[int, set[str]]) -> list[tuple[str, int]]:
    """The (key, customer) rows of ``keys``, by key, then customer: made in customer order,
    then sorted (stably) by the key alone, which is half the work of comparing a million
    (key, customer) tuples."""
    rows = [(key, cid) for cid in sorted(keys) for key in keys[cid]]
    rows.sort(key=itemgetter(0))
    return rows


# The customers' keys as blocks (``_key_blocks``): each key's text by its number, and the
# (key number, customer) rows sorted by key number, then customer, in two int64 arrays.
_KeyBlocks = tuple[list[str], Any, Any]


def _key_blocks(keys: dict[int, set[str]]) -> _KeyBlocks:
    """``keys`` as blocks: each key numbered at its first sight, and the rows sorted by
    number (stably, the customers ascending within each): a million rows in an integer
    sort, instead of a million (key, customer) tuples sorted by their keys' texts (less
    than half the time, which a rebuild's candidates wait for)."""
    import numpy as np

    numbers: defaultdict[str, int] = defaultdict(count().__next__)
    ids = sorted(keys)
    held = list(map(keys.__getitem__, ids))
    numbered = np.array([numbers[key] for own in held for key in own], dtype=np.int64)
    sizes = np.fromiter(map(len, held), dtype=np.int64, count=len(held))
    customers = np.repeat(np.array(ids, dtype=np.int64), sizes)
    order = np.argsort(numbered, kind="stable")
    return list(numbers), numbered[order], customers[order]


def _distinct(codes: Any) -> Any:
    """The distinct values of an int64 array, ascending (``np.unique`` by sorting: its hash
    table is slower on millions of codes)."""
    import numpy as np

    codes = np.sort(codes)
    return codes[np.r_[True, codes[1:] != codes[:-1]]] if len(codes) else codes


_PARTS_HELD = 8  # name parts (and their sounds) of a customer read in numpy columns


def _sharing_parts(profiles: dict[int, _Profile], codes: Any) -> Any:
    """For the pairs ``codes``, whether their customers share a name part or the sound of
    one (``_parts`` not disjoint): each customer's parts numbered in a row of a matrix, a
    customer with more of them read from its set."""
    import numpy as np

    cids = _distinct(np.concatenate((codes >> 32, codes & _LOW)))
    numbers: defaultdict[str, int] = defaultdict(count().__next__)  # at first sight
    held = [_parts(profiles[cid]) for cid in cids.tolist()]
    sizes = np.fromiter(map(len, held), dtype=np.int64, count=len(held))
    many = sizes > _PARTS_HELD
    # A customer with more parts than the columns hold is read from its set below.
    rows = [() if len(own) > _PARTS_HELD else own for own in held]
    table = _padded(
        rows, [numbers[part] for own in rows for part in own], _PARTS_HELD, -1, np.int64
    )
    width = int((table >= 0).sum(axis=1).max(initial=0))  # the columns beyond hold none
    a = np.searchsorted(cids, codes >> 32)
    b = np.searchsorted(cids, codes & _LOW)
    mine, theirs = table[a, :width], table[b, :width]
    found = np.zeros(len(codes), dtype=bool)
    for p in range(width):
        part = mine[:, p]
        for q in range(width):
            found |= (part == theirs[:, q]) & (part >= 0)
    check = np.flatnonzero(many[a] | many[b])
    found[check] = [
        not held[i].isdisjoint(held[j])
        for i, j in zip(a[check].tolist(), b[check].tolist(), strict=True)
    ]
    return found


def _said_array(said: dict[tuple[int, int], set[str]]) -> Any:
    """The mentioned pairs as codes (lower id high)."""
    import numpy as np

    return np.array(
        [x << 32 | y if x < y else y << 32 | x for x, y in said if x != y], dtype=np.int64
    )


def _block_array(member: Any, starts: Any, sizes: Any) -> Any:
    """Every pair of the blocks ``member[start : start + size]`` (each block's ids
    ascending) as codes, lower id high (``_block_codes`` of each block)."""
    import numpy as np

    if not len(starts):
        return np.zeros(0, dtype=np.int64)
    # Each member pairs with those after it in its block: how many, and where they start.
    firsts = np.repeat(starts, sizes)
    ends = np.repeat(starts + sizes, sizes)
    at = firsts + (np.arange(len(firsts)) - np.repeat(np.cumsum(sizes) - sizes, sizes))
    counts = ends - at - 1
    left = np.repeat(at, counts)
    step = np.arange(len(left)) - np.repeat(np.cumsum(counts) - counts, counts)
    right = left + 1 + step
    return member[left] << 32 | member[right]


def _window_array(ranked: Any, width: int) -> Any:
    """``_window_codes`` of a numpy array of distinct ids."""
    import numpy as np

    found = []
    for d in range(1, width + 1):
        x, y = ranked[:-d], ranked[d:]
        found.append(np.minimum(x, y) << 32 | np.maximum(x, y))
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _touching_rest(profiles: dict[int, _Profile], codes: list[int]) -> Iterator[int]:
    """The pairs ``codes`` whose names touch (``_names_touch``), of pairs that share no
    name part nor the Soundex code of one (``_parts``). Many at once are read in numpy
    columns: for two customers of one name each, of three parts at most, what is left
    of ``_tokens_touch`` is an initial, a nickname or a slip or two, and of
    ``_names_touch`` the parts written together two slips apart."""
    if len(codes) < _VECTOR_MIN:
        for code in codes:
            if _names_touch(profiles[code >> 32], profiles[code & _LOW]):
                yield code
        return
    import numpy as np

    pairs = np.array(codes, dtype=np.int64)
    ids = _distinct(np.concatenate((pairs >> 32, pairs & _LOW)))  # only these are read
    width = 3
    none = (False, "", *([""] * width))
    table = []
    for cid in ids.tolist():
        names = _names_of(profiles[cid])
        if len(names) == 1 and len(names[0].tokens) <= width:
            tokens = names[0].tokens
            table.append((True, "".join(tokens), *tokens, *([""] * (width - len(tokens)))))
        else:
            table.append(none)
    cols = list(zip(*table, strict=True))
    plain = np.array(cols[0], dtype=bool)
    joined = _Strings.of(list(cols[1]))
    parts = [_Strings.of(list(col)) for col in cols[2:]]
    groups: dict[str, int] = {}
    from app.names import _NICKNAMES

    for bit, (full_form, nicks) in enumerate(_NICKNAMES.items()):
        for form in (full_form, *nicks):
            groups[form] = groups.get(form, 0) | 1 << bit
    nicknames = [np.array([groups.get(t, 0) for t in col], dtype=np.uint64) for col in cols[2:]]
    initials = [np.array([ord(t[0]) if t else -1 for t in col], dtype=np.int64) for col in cols[2:]]
    a = np.searchsorted(ids, pairs >> 32)
    b = np.searchsorted(ids, pairs & _LOW)
    simple = plain[a] & plain[b]
    touch = ~simple  # others are read one by one below
    rows = np.flatnonzero(simple)

    def near(left: _Strings, right: _Strings, at: Any, most: Any) -> Any:
        """OSA distance at most ``most`` (per pair) for the pairs ``at``, non-empty."""
        la, lb = left.length[a[at]], right.length[b[at]]
        ma, mb = left.letters[a[at]], right.letters[b[at]]
        may = (
            (la > 0)
            & (lb > 0)
            & (np.abs(la - lb) <= most)
            & (np.bitwise_count(ma & ~mb) <= most)
            & (np.bitwise_count(mb & ~ma) <= most)
        )
        found = np.zeros(len(at), dtype=bool)
        check = np.flatnonzero(may)
        xs, ys = left.text[a[at[check]]].tolist(), right.text[b[at[check]]].tolist()
        limits = (
            most[check] if isinstance(most, np.ndarray) else np.full(len(check), most)
        ).tolist()
        found[check] = [
            OSA.distance(x, y, score_cutoff=m) <= m for x, y, m in zip(xs, ys, limits, strict=True)
        ]
        return found

    found = near(joined, joined, rows, 2)
    for p in range(width):
        for q in range(width):
            at = rows[~found]
            ta, tb = parts[p], parts[q]
            la, lb = ta.length[a[at]], tb.length[b[at]]
            one = ((la == 1) | (lb == 1)) & (la > 0) & (lb > 0)
            hit = one & (initials[p][a[at]] == initials[q][b[at]])
            hit |= (nicknames[p][a[at]] & nicknames[q][b[at]]) != 0
            slips = np.where(np.minimum(la, lb) >= 5, 2, 1)
            longer = np.flatnonzero(~hit & ~one)
            hit[longer] = near(ta, tb, at[longer], slips[longer])
            found[np.flatnonzero(~found)[hit]] = True
    touch[rows] = found
    for k in np.flatnonzero(~simple).tolist():
        code = codes[k]
        touch[k] = _names_touch(profiles[code >> 32], profiles[code & _LOW])
    yield from pairs[touch].tolist()


_LOW = (1 << 32) - 1


def _block_codes(ids: list[int]) -> list[int]:
    """Every pair of distinct ``ids`` (ascending) as one integer, lower id high."""
    return [x << 32 | y for i, x in enumerate(ids) for y in ids[i + 1 :]]


def _window_codes(ranked: list[int], width: int) -> list[int]:
    """Each item paired with the next ``width`` items, as integers, lower id high
    (``ranked`` holds distinct ids)."""
    return [
        x << 32 | y if x < y else y << 32 | x
        for i, x in enumerate(ranked)
        for y in ranked[i + 1 : i + 1 + width]
    ]


def _touching(a: _Profile, b: _Profile, parts: dict[int, frozenset[str]]) -> bool:
    """``_names_touch``, answered at once when the two share a name part or the sound of
    one (``parts`` keeps each customer's parts between calls)."""
    pa, pb = parts.get(a.id), parts.get(b.id)
    if pa is None:
        pa = parts[a.id] = _parts(a)
    if pb is None:
        pb = parts[b.id] = _parts(b)
    return not pa.isdisjoint(pb) or _names_touch(a, b)


def _parts(profile: _Profile) -> frozenset[str]:
    """A customer's name parts, and the Soundex codes of those of two letters or more
    marked with a leading NUL: two customers that share one touch (``_tokens_touch``)."""
    names = _names_of(profile)
    tokens = names[0].tokens if len(names) == 1 else {t for name in names for t in name.tokens}
    return frozenset([*tokens, *["\0" + soundex(t) for t in tokens if len(t) >= 2]])


# Keys that cast a wide net (a house number with any address word or name sound): their
# pairs, and neighbours in name order, are scored only if some name part of each agrees.
_WEAK_KEYS = frozenset(("hw", "th", "tt"))


def _names_touch(a: _Profile, b: _Profile) -> bool:
    """Whether any name part of one is a name part of the other, give or take two slips
    (or sounds alike, or is a nickname of it); a customer with no name touches everyone."""
    names_a, names_b = _names_of(a), _names_of(b)
    if not names_a or not names_b:
        return True
    for na in names_a:
        for nb in names_b:
            if OSA.distance("".join(na.tokens), "".join(nb.tokens)) <= 2:
                return True
            for ta in na.tokens:
                for tb in nb.tokens:
                    if _tokens_touch(ta, tb):
                        return True
    return False


@lru_cache(maxsize=262144)
def _tokens_touch(a: str, b: str) -> bool:
    if len(a) == 1 or len(b) == 1:
        return a[0] == b[0]
    return (
        OSA.distance(a, b) <= (2 if min(len(a), len(b)) >= 5 else 1)
        or soundex(a) == soundex(b)
        or bool(canonical_given(a) & canonical_given(b))
    )


WINDOW = 10  # inside an oversized block, each customer meets this many neighbours
NAME_WINDOW = 4  # in name order over all customers
_NAME_ORDERS = 3


def _name_orders(profile: _Profile) -> tuple[str, str, str]:
    """A customer's sort keys: name parts in alphabetical order (a swapped order sorts
    alike), that spelled backwards (a slip in the first letters), and the postcode with
    the family name (a busy postcode read by name)."""
    tokens = sorted(profile.parsed.tokens)
    joined = " ".join(tokens)
    postcode = min(profile.postcodes, default="")
    return joined, joined[::-1], f"{postcode} {profile.parsed.family}" if postcode else ""


MAX_MENTIONED = 3  # a message that points at more customers is a forward or a list
_Columns = TypeVarTuple("_Columns")


def _their_customers(stmt: Select[*_Columns]) -> Select[*_Columns]:
    """``stmt`` over event participants, joined to their customers (not the owner's own
    contact points, nor shared ones: those say nothing about who a customer is)."""
    return (
        stmt.join(Identity, Identity.id == EventParticipant.identity_id)
        .join(CustomerIdentity, CustomerIdentity.identity_id == Identity.id)
        .where(Identity.is_own.is_(False), Identity.shared.is_(False))
    )


def _mention_reads() -> dict[str, Select[*tuple[Any, ...]]]:
    """What ``_mentions`` reads: the customers taking part in each message that mentions
    something ("writers"), the customers of each order number ("orders") and of each
    mentioned contact point ("points"), and the mentions ("mentions")."""
    return {
        "writers": _their_customers(
            select(EventParticipant.event_id, CustomerIdentity.customer_id)
            .join(Mention, Mention.event_id == EventParticipant.event_id)
            .where(EventParticipant.event_id.in_(select(Mention.event_id)))
        ).distinct(),
        "orders": _their_customers(
            select(Order.number, CustomerIdentity.customer_id).join(
                EventParticipant, EventParticipant.event_id == Order.event_id
            )
        ),
        "points": select(Identity.kind, Identity.value, CustomerIdentity.customer_id)
        .join(CustomerIdentity, CustomerIdentity.identity_id == Identity.id)
        .join(Mention, (Mention.kind == Identity.kind) & (Mention.value == Identity.value))
        .where(
            Identity.is_own.is_(False),
            Identity.shared.is_(False),
            Identity.value.in_(select(Mention.value)),
        )
        .distinct(),
        "mentions": select(Mention.event_id, Mention.kind, Mention.value),
    }


def _mentions(
    session: Session, profiles: Container[int], reads: _WholeReads | None = None
) -> dict[tuple[int, int], set[str]]:
    """Pairs of customers where a message of one mentions the other's order, address or number.

    Returns, for each pair (lower id first), the mentions in words.

    The mentions lead the reads (``IN`` the mentions' events, their values): a message
    or a contact point is looked up only if some mention names it. Without that, SQLite
    read every event's participants and every contact point to find the few mentioned
    (0.4 s of 0.8 s at 100k customers). Plain rows through the driver (``_rows``), or
    those ``reads`` read (``_WholeReads``, with the mentions).
    """
    session.flush()  # as the session's own reads would: objects not yet written count too
    connection = session.connection()
    statements = _mention_reads()

    def rows(name: str) -> Iterable[Sequence[Any]]:
        found = reads.rows(f"mentions:{name}") if reads is not None else None
        return found if found is not None else _rows(connection, statements[name], True)

    writers: dict[int, set[int]] = defaultdict(set)  # event → customers taking part
    for event_id, cid in rows("writers"):
        if cid in profiles:
            writers[event_id].add(cid)
    if not writers:
        return {}
    owners: dict[tuple[str, str], set[int]] = defaultdict(set)  # (kind, value) → customers
    for number, cid in rows("orders"):
        owners[("order", order_key(number))].add(cid)
    for kind, value, cid in rows("points"):
        owners[(kind, value)].add(cid)
    per_event: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for event_id, kind, value in rows("mentions"):
        if event_id in writers and (kind, value) in owners:
            per_event[event_id].append((kind, value))
    words = {
        "order": "one mentions the other's order {}",
        "email": "one gives the other's address {}",
        "phone": "one gives the other's number {}",
    }
    found: dict[tuple[int, int], set[str]] = defaultdict(set)
    for event_id, points in per_event.items():
        targets = {cid for point in points for cid in owners[point]} - writers[event_id]
        if not targets or len(targets) > MAX_MENTIONED or len(writers[event_id]) > MAX_MENTIONED:
            continue
        for kind, value in points:
            shown = value if kind != "order" else f"#{value.lstrip('#')}"
            for target in owners[(kind, value)] & targets:
                if target not in profiles:
                    continue
                for writer in writers[event_id]:
                    pair = (min(writer, target), max(writer, target))
                    found[pair].add(words[kind].format(shown))
    return found


# --- many pairs at once ---------------------------------------------------------------------
#
# A rebuild of 96,351 generated customers meets 2,036,058 candidate pairs, of which
# 209,994 may reach the stored floor (40,432 do): most share a given name and a surname's
# initial, or a surname's first letters, and nothing else. ``scorable`` finds those that
# surely cannot (what ``_below`` finds, and more) a column at a time with numpy: two
# strings whose lengths, or whose sets of letters, differ by more than a few cannot be a
# few slips apart, so the exact distances are worked out only for the pairs that pass that
# test; the other evidence (phone digits, postcodes, addresses that spell a name) is read
# the same way, and only pairs that may share some are read from their sets in Python.
# Every pair it keeps is scored as before, so what is stored does not change.

_VECTOR_MIN = 2000  # fewer pairs are left to ``_below``, one by one


@dataclass
class _Strings:
    """One string per customer (numpy columns by a dense index)."""

    text: Any  # object array of str
    length: Any  # int64 array
    letters: Any  # uint64 array: a bit per letter it holds (``_letters``)

    @classmethod
    def of(cls, texts: list[str]) -> _Strings:
        import numpy as np

        length = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        return cls(np.array(texts, dtype=object), length, _letters_of(texts, length))


_LETTERS_ROWS = 16384  # texts read at once by ``_letters_of`` (their code points in a matrix)


def _letters_of(texts: list[str], length: Any) -> Any:
    """``_letters`` of each text (``length`` holds their lengths), in numpy: the texts'
    code points in a matrix, a row at a time no wider than its longest text."""
    import numpy as np

    letters = np.zeros(len(texts), dtype=np.uint64)
    if "\0" in "".join(texts):  # numpy's strings end at a NUL
        letters[:] = [_letters(t) for t in texts]
        return letters
    one = np.uint64(1)
    for start in range(0, len(texts), _LETTERS_ROWS):
        chunk = texts[start : start + _LETTERS_ROWS]
        if not int(length[start : start + _LETTERS_ROWS].max(initial=0)):
            continue  # all empty
        points = np.array(chunk, dtype=str)
        points = points.view(np.uint32).reshape(len(chunk), -1)
        bits = np.where(points != 0, one << (points % 64).astype(np.uint64), np.uint64(0))
        letters[start : start + len(chunk)] = np.bitwise_or.reduce(bits, axis=1)
    return letters


def _padded(rows: list[Any], flat: list[Any], width: int, fill: int, dtype: Any) -> Any:
    """A numpy matrix of ``width`` columns, a row for each of ``rows`` (none longer):
    ``flat`` (the rows' values one after another) from the left, ``fill`` after."""
    import numpy as np

    counts = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    out = np.full((len(rows), width), fill, dtype=dtype)
    row = np.repeat(np.arange(len(rows)), counts)
    column = np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)
    out[row, column] = np.array(flat, dtype=dtype)
    return out


def _letters(text: str) -> int:
    """A bit for each character of ``text`` (two characters may share one): a character of
    one string whose bit the other lacks must be typed, deleted or replaced."""
    mask = 0
    for ch in text:
        mask |= 1 << (ord(ch) % 64)
    return mask


@dataclass
class _NameColumns:
    """The one name of each customer that has exactly one (given and family name, the
    family name in one part), in columns by a dense index; ``simple`` is False for the
    others (no name, a name without a given or family name, several names)."""

    ids: list[int]  # the customers in ascending order
    simple: Any  # numpy bool array
    first: _Strings
    family: _Strings
    joined: _Strings  # the name parts written together
    turned: _Strings  # the family name first, then the given names, written together
    parts: Any  # numpy int arrays: how many name parts
    full: Any  # the whole name, as a number (equal names, equal numbers)
    sorted_parts: Any  # the parts in alphabetical order, as a number
    first_code: Any  # the given name, as a number
    initial: Any  # the given name's first letter, as a number
    nicknames: Any  # numpy uint64: the nickname groups the given name belongs to
    p_given: Any  # numpy float64: ``freq.p_given`` of the given name
    # numpy int64: how many customers hold the given name and the family name as they are
    # spelled (``freq.given``, ``freq.family``: what ``_slip`` reads), and the family name
    # as a number
    given_count: Any
    family_count: Any
    family_code: Any

    @classmethod
    def of(cls, profiles: dict[int, _Profile], freq: _Frequencies) -> _NameColumns:
        import numpy as np

        from app.names import _NICKNAMES

        groups: dict[str, int] = {}
        for bit, (full_form, nicks) in enumerate(_NICKNAMES.items()):
            for form in (full_form, *nicks):
                groups[form] = groups.get(form, 0) | 1 << bit
        numbers = _Codes()
        ids = sorted(profiles)
        none = (False, "", "", "", "", 0, -1, -1, -1, 0, 0, 1.0, 0, 0, -1)
        rows: dict[int, tuple[Any, ...]] = {}  # by the name's id: a name is parsed once
        shares: dict[str, float] = {}  # ``freq.p_given`` by given name

        def row(name: PersonName) -> tuple[Any, ...]:
            first, family, tokens = name.first, name.family, name.tokens
            if not first or not family or " " in family:
                return none
            share = shares.get(first)
            if share is None:
                share = shares[first] = freq.p_given(first)
            return (
                True,
                first,
                family,
                "".join(tokens),
                family + "".join(name.given),
                len(tokens),
                numbers[name.full],
                numbers["\1".join(sorted(tokens))],
                numbers[first],
                ord(first[0]),
                groups.get(first, 0),
                share,
                freq.given.get(first, 0),
                freq.family.get(family, 0),
                numbers[family],
            )

        table = []
        for cid in ids:
            names = _names_of(profiles[cid])
            if len(names) != 1:
                table.append(none)
                continue
            found = rows.get(id(names[0]))
            if found is None:
                found = rows[id(names[0])] = row(names[0])
            table.append(found)
        cols = list(zip(*table, strict=True)) if table else [()] * len(none)
        first, family, joined, turned = (_Strings.of(list(col)) for col in cols[1:5])
        parts, full, sorted_parts, first_code, initial = (
            np.array(col, dtype=np.int64) for col in cols[5:10]
        )
        return cls(
            ids=ids,
            simple=np.array(cols[0], dtype=bool),
            first=first,
            family=family,
            joined=joined,
            turned=turned,
            parts=parts,
            full=full,
            sorted_parts=sorted_parts,
            first_code=first_code,
            initial=initial,
            nicknames=np.array(cols[10], dtype=np.uint64),
            p_given=np.array(cols[11], dtype=np.float64),
            given_count=np.array(cols[12], dtype=np.int64),
            family_count=np.array(cols[13], dtype=np.int64),
            family_code=np.array(cols[14], dtype=np.int64),
        )


def near_columns(left: Any, right: Any, rows_a: Any, rows_b: Any, most: int) -> Any:
    """Whether ``left``'s strings at ``rows_a`` are ``most`` slips apart or fewer
    (``OSA.distance``) from ``right``'s at ``rows_b``, pair by pair (columns with ``length``,
    ``letters`` and ``text``, as ``_Strings``): a string is as many slips from another at
    least as their lengths differ, and as it holds letters the other lacks, so the distance
    is worked out only for the pairs those allow."""
    import numpy as np

    la, lb = left.length[rows_a], right.length[rows_b]
    ma, mb = left.letters[rows_a], right.letters[rows_b]
    may = (
        (np.abs(la - lb) <= most)
        & (np.bitwise_count(ma & ~mb) <= most)
        & (np.bitwise_count(mb & ~ma) <= most)
    )
    found = np.zeros(len(rows_a), dtype=bool)
    check = np.flatnonzero(may)
    xs, ys = left.text[rows_a[check]].tolist(), right.text[rows_b[check]].tolist()
    found[check] = [
        OSA.distance(x, y, score_cutoff=most) <= most for x, y in zip(xs, ys, strict=True)
    ]
    return found


Prefilter = tuple["_NameColumns", "_Evidence"]  # what ``scorable`` reads of each customer


def prefilter_columns(profiles: dict[int, _Profile], freq: _Frequencies) -> Prefilter:
    """The columns ``scorable`` reads of each customer (its names, its other evidence)."""
    columns = _NameColumns.of(profiles, freq)
    return columns, _Evidence.of(profiles, columns.ids)


def scorable(
    profiles: dict[int, _Profile],
    freq: _Frequencies,
    said: dict[tuple[int, int], set[str]],
    codes: Iterable[int],
    floor: float,
    prepared: Prefilter | None = None,
) -> list[tuple[int, int]]:
    """The pairs ``codes`` (as ``_candidate_codes`` gives them), lower id first, without
    pairs that ``score_pair`` surely scores below
    ``floor`` (a model probability): what it gives every pair left out is 0 with no
    reasons, so scoring the rest gives the same pairs at ``floor`` or more. ``prepared``
    (``prefilter_columns`` of these profiles and frequencies) may be made beforehand.

    A pair is left out when nothing but the names speaks for it (no mention, shared
    contact point, phone digits, postcode, email that spells a name, nor a home both
    give: ``_below``'s tests) and its names cannot weigh enough: both customers have one
    name each, and the names are far apart (``_name_bound``'s tests), or the given names
    are: no slip, nickname, initial, swap or split can make them agree, which leaves a
    family conflict or a conflict, each weighing less than nothing said. Such a conflict
    is left out too where only a postcode or a contact point speaks for it, when the
    household's cap keeps it under ``floor`` anyway (``_clash_below``).
    """
    import numpy as np

    if isinstance(codes, np.ndarray):
        pairs = codes.astype(np.int64, copy=False)
    else:
        pairs = np.array(list(codes), dtype=np.int64)
    if floor <= 0.0 or len(pairs) < _VECTOR_MIN:
        return [(code >> 32, code & _LOW) for code in pairs.tolist()]

    columns, evidence = prepared if prepared is not None else prefilter_columns(profiles, freq)
    left_out = left_out_of(pairs, columns, evidence, freq, said, floor)
    return [(code >> 32, code & _LOW) for code in pairs[~left_out].tolist()]


def left_out_of(
    pairs: Any,
    columns: _NameColumns,
    evidence: _Evidence,
    freq: _Frequencies,
    said: dict[tuple[int, int], set[str]],
    floor: float,
) -> Any:
    """``scorable``'s tests, however few the pairs: for the pairs ``pairs`` (a numpy int64
    array of codes, both customers in ``columns`` and ``evidence``), whether each surely
    scores below ``floor`` (a numpy bool array)."""
    import numpy as np

    ids = np.array(columns.ids, dtype=np.int64)
    count = len(pairs)
    a = np.searchsorted(ids, pairs >> 32)
    b = np.searchsorted(ids, pairs & _LOW)
    limit, others = _limits(freq, floor)
    # What the names weigh at most once the family names are found apart (or a slip or
    # two apart in names that several customers each hold), and the given names may
    # agree (``_name_evidence``, which reads them in the pair's order: the lower id's
    # first): the same given name under another surname, a similar one (a nickname, a
    # slip, an initial beside the whole name), or a conflict where the first customer
    # gives only an initial.
    p_a, p_b = columns.p_given[a], columns.p_given[b]
    bound = np.where(
        columns.first_code[a] == columns.first_code[b],
        _M_NEW_SURNAME / p_a,
        _M_NEW_SURNAME * _M_VARIANT / np.maximum(p_a, p_b),
    )
    bound[columns.first.length[a] == 1] = _LR_CONFLICT
    # Pairs still open: both simple, and neither the same name nor the same parts in
    # another order, nor a bound that reaches the limit anyway.
    open_ = (
        columns.simple[a]
        & columns.simple[b]
        & (columns.full[a] != columns.full[b])
        & (columns.sorted_parts[a] != columns.sorted_parts[b])
        & (bound < limit)
    )
    rows = np.flatnonzero(open_)

    def near(left: _Strings, right: _Strings, at: Any, most: int) -> Any:
        return near_columns(left, right, a[at], b[at], most)

    def ratio_80(left: _Strings, right: _Strings, at: Any) -> Any:
        """``fuzz.ratio`` 80 or more, the shorter string of four letters or more: the
        strings are at most a fifth of their lengths apart by insertions and deletions,
        which is at least their lengths' difference and the letters one holds alone."""
        la, lb = left.length[a[at]], right.length[b[at]]
        ma, mb = left.letters[a[at]], right.letters[b[at]]
        most = (la + lb) / 5.0
        may = (
            (np.minimum(la, lb) >= 4)
            & (np.abs(la - lb) <= most)
            & (np.bitwise_count(ma ^ mb) <= most)
        )
        found = np.zeros(len(at), dtype=bool)
        check = np.flatnonzero(may)
        xs, ys = left.text[a[at[check]]].tolist(), right.text[b[at[check]]].tolist()
        found[check] = [fuzz.ratio(x, y) >= 80 for x, y in zip(xs, ys, strict=True)]
        return found

    # A swapped order (each part near the other's part in the other place), a name written
    # apart or together, both at once (``_turned_apart``): these may weigh much.
    one_way = near(columns.first, columns.family, rows, 2)
    swapped = np.zeros(len(rows), dtype=bool)
    swapped[one_way] = near(columns.family, columns.first, rows[one_way], 2)
    rows = rows[~swapped]
    rows = rows[~near(columns.joined, columns.joined, rows, 1)]
    apart = np.flatnonzero(columns.parts[a[rows]] != columns.parts[b[rows]])
    turned = near(columns.joined, columns.turned, rows[apart], 1)
    turned |= near(columns.turned, columns.joined, rows[apart], 1)
    rows = np.delete(rows, apart[turned])
    # Given names that may agree (``given_names_match``, or a slip or two; or a later
    # given name of one may be the other's, ``_given_among``).
    ra, rb = a[rows], b[rows]
    shortest = np.minimum(columns.first.length[ra], columns.first.length[rb])
    given = (
        (columns.first_code[ra] == columns.first_code[rb])
        | ((shortest == 1) & (columns.initial[ra] == columns.initial[rb]))
        | ((columns.nicknames[ra] & columns.nicknames[rb]) != 0)
        | (columns.parts[ra] > 2)
        | (columns.parts[rb] > 2)
    )
    # A slip or two count only where one spelling is held by one customer at most
    # (``_slip``, ``_two_slips``: two given names that several customers each hold are
    # two names, Mara and Mary); ``given_names_match``'s ratio whatever the counts.
    rest = np.flatnonzero(~given)
    rare = np.minimum(columns.given_count[ra[rest]], columns.given_count[rb[rest]]) < 2
    slips = np.flatnonzero(rare)
    given[rest[slips]] = near(columns.first, columns.first, rows[rest[slips]], 2)
    rest = rest[~given[rest]]
    given[rest] = ratio_80(columns.first, columns.first, rows[rest])
    # Names that surely conflict weigh so little that a household (a postcode, a contact
    # point) cannot lift them to the floor either: ``_clash_below``.
    clash = np.zeros(count, dtype=bool)
    if _clash_below(freq, floor):
        clash[rows[~given]] = True
    # Family names that may agree (``_name_bound``'s tests): with given names that may,
    # the names may weigh much; without, the names conflict.
    # (Equal, a slip or two where one spelling is rare beside the other: ``_slip``'s
    # ``_rare_beside`` with ``_TYPO_SHARE``, Thomson and Thompson are two surnames; or
    # ``family_names_match``'s ratio.)
    maybe = np.flatnonzero(given)
    fa, fb = a[rows[maybe]], b[rows[maybe]]
    family = columns.family_code[fa] == columns.family_code[fb]
    held = np.minimum(columns.family_count[fa], columns.family_count[fb])
    rare = (held < 2) | (
        held < _TYPO_SHARE * np.maximum(columns.family_count[fa], columns.family_count[fb])
    )
    slips = np.flatnonzero(~family & rare)
    family[slips] = near(columns.family, columns.family, rows[maybe[slips]], 2)
    rest = np.flatnonzero(~family)
    family[rest] = ratio_80(columns.family, columns.family, rows[maybe[rest]])
    weighs = np.ones(len(rows), dtype=np.float64)  # the names' bound (1: nothing said)
    weighs[maybe] = np.where(family, np.inf, np.maximum(1.0, bound[rows[maybe]]))
    odds = freq.prior_odds * weighs * others
    with np.errstate(invalid="ignore"):
        reach = (weighs >= limit) | (odds / (1.0 + odds) >= floor * (1.0 - 2 * _ROUNDING))
    silent = rows[~reach]  # the names cannot weigh enough: left out unless something else
    # The other evidence, as ``_below`` reads it (a home both give is left to it).
    silent = silent[~(evidence.homes[a[silent]] & evidence.homes[b[silent]])]
    if said:  # (looked up in the sorted codes: ``np.isin`` took 20 ms on 50,000 pairs)
        mentioned = np.sort(np.array([x << 32 | y for x, y in said], dtype=np.int64))
        codes = pairs[silent]
        at = np.minimum(np.searchsorted(mentioned, codes), len(mentioned) - 1)
        silent = silent[mentioned[at] != codes]
    left_out = np.zeros(count, dtype=bool)
    left_out[silent] = evidence.out_of(a[silent], b[silent], clash[silent])
    return left_out


@dataclass
class _Evidence:
    """What ``_below`` reads of each customer beside the names (by a dense index): as
    sets, and in numpy columns that tell at once most pairs that share none of it."""

    profiles: dict[int, _Profile]
    ids: list[int]  # the customers in ascending order
    homes: Any  # bool: gives a home
    many: Any  # bool: more numbers, postcodes or addresses than the columns hold
    shared: Any  # int64 (n, 3): its shared contact points' identity ids (-1: none)
    tails: Any  # int64 (n, 3): its numbers' last seven digits, as numbers (-1: none)
    postcode_length: Any  # int64 (n, 3): -1 none
    postcode_letters: Any  # uint64 (n, 3): ``_letters``
    locals: Any  # int64 (n, 3): its addresses' local parts that may spell a name (-1: none)
    spellings: Any  # int64 (n, 5): the local parts that would spell its names (-1: none)
    phones: Any  # int64 (n, 3): its numbers (``_phone_number``; -1: none)
    kept: dict[int, frozenset[str]] = field(default_factory=dict)  # ``_common``

    @classmethod
    def of(cls, profiles: dict[int, _Profile], ids: list[int]) -> _Evidence:
        import numpy as np

        table: list[tuple[Any, ...]] = []
        for cid in ids:
            profile = profiles[cid]
            quick = _quick(profile)
            own = profile.postcodes
            phones = [_phone_number(p) for p in profile.phones] if profile.phones else []
            if (
                len(quick.tails) > 3
                or len(own) > 3
                or len(quick.locals) > 3
                or len(quick.spellings) > 5
                or len(profile.shared) > 3
                or len(phones) > 3
                or None in phones
            ):
                table.append((bool(quick.homes), True, (), (), (), (), (), ()))
                continue
            table.append(
                (
                    bool(quick.homes),
                    False,
                    tuple(profile.shared),
                    quick.tails,
                    own,
                    quick.locals,
                    quick.spellings,
                    phones,
                )
            )
        homes, many, shared, tails, postcodes, locals_, spellings, phones_ = (
            (list(col) for col in zip(*table, strict=True)) if table else ([] for _ in range(8))
        )
        numbers = _Codes()

        def numbered(values: list[Any], width: int, prefix: str = "") -> Any:
            flat = [numbers[prefix + v] for own in values for v in own]
            return _padded(values, flat, width, -1, np.int64)

        ordered = [sorted(own) for own in postcodes]
        return cls(
            profiles,
            ids,
            np.array(homes, dtype=bool),
            np.array(many, dtype=bool),
            _padded(shared, [v for own in shared for v in own], 3, -1, np.int64),
            numbered(tails, 3, "\3"),
            _padded(ordered, [len(p) for own in ordered for p in own], 3, -1, np.int64),
            _padded(ordered, [_letters(p) for own in ordered for p in own], 3, 0, np.uint64),
            numbered(locals_, 3),
            numbered(spellings, 5),
            _padded(phones_, [v for own in phones_ for v in own], 3, -1, np.int64),
        )

    def share_nothing(self, i: int, j: int) -> bool:
        """Whether customers ``i`` and ``j`` share nothing that ``_below`` weighs beside the
        names: no phone number's last digits, postcode (or one with a letter left out) or
        shared contact point, and no address of one that spells a name of the other. (A
        phone number's digits that spell a postcode only keep a pair that could have
        gone.)"""
        qa = _quick(self.profiles[self.ids[i]])
        qb = _quick(self.profiles[self.ids[j]])
        return self._common(i).isdisjoint(self._common(j)) and _spell_neither(qa, qb)

    def _common(self, i: int) -> frozenset[str]:
        """Customer ``i``'s numbers' last digits, postcodes (each with its slips) and shared
        contact points (marked with a leading NUL), as one set: made once a customer."""
        found = self.kept.get(i)
        if found is None:
            profile = self.profiles[self.ids[i]]
            quick = _quick(profile)
            found = quick.tails | quick.postcodes
            if profile.shared:
                found |= frozenset([f"\0{k}" for k in profile.shared])
            self.kept[i] = found
        return found

    def household_only(self, i: int, j: int) -> bool:
        """Whether customers ``i`` and ``j`` share at most a postcode or a contact point, if
        their names surely conflict: no phone numbers that end alike (``_tails_weigh``).
        (An address of one that spells a name of the other is no evidence then: the
        scorer weighs a spelled name only when the names do not conflict.)"""
        a, b = self.profiles[self.ids[i]], self.profiles[self.ids[j]]
        return not _tails_weigh(a, b, _quick(a), _quick(b))

    def out_of(self, a: Any, b: Any, clash: Any) -> Any:
        """For the pairs ``a``, ``b`` (dense indexes) whose names cannot weigh enough,
        whether they share nothing ``_below`` weighs (``share_nothing``), or (``clash``:
        their names surely conflict) at most a household (``household_only``): those that
        ``may_meet`` read one by one."""
        import numpy as np

        found = np.ones(len(a), dtype=bool)
        maybe = np.flatnonzero(self.may_meet(a, b))
        share_nothing, household_only = self.share_nothing, self.household_only
        found[maybe] = [
            share_nothing(i, j) or (c and household_only(i, j))
            for i, j, c in zip(
                a[maybe].tolist(), b[maybe].tolist(), clash[maybe].tolist(), strict=True
            )
        ]
        return found

    def may_meet(self, a: Any, b: Any) -> Any:
        """For the pairs ``a``, ``b`` (dense indexes), whether they may share evidence: a
        shared contact point, a phone number's last digits, postcodes that agree (each
        one letter at most left out: their lengths a letter apart at most, and at most
        one letter of either missing from the other), or an address of one that spells a
        name of the other. False tells for sure; True is read from the sets."""
        shared, tails, postcodes, spelled = self._meeting(a, b)
        return self.many[a] | self.many[b] | shared | tails | postcodes | spelled

    def _meeting(self, a: Any, b: Any) -> tuple[Any, Any, Any, Any]:
        """``may_meet``'s four tests of the pairs ``a``, ``b``, each a numpy bool array:
        a shared contact point and a number's last digits (both as the columns hold
        them: exact), postcodes that may agree, an address that spells a name (exact)."""
        import numpy as np

        def equal(left: Any, right: Any, x: Any, y: Any) -> Any:
            """Whether a value of ``left``'s row ``x`` is one of ``right``'s row ``y``: each
            column of ``left`` compared where it holds a value (most hold none past the
            first or two) with each of ``right``'s."""
            found = np.zeros(len(x), dtype=bool)
            mine = left[x]
            for p in range(mine.shape[1]):
                rows = np.flatnonzero(mine[:, p] >= 0)
                if not len(rows):
                    continue
                value, theirs = mine[rows, p], right[y[rows]]
                hit = value == theirs[:, 0]
                for q in range(1, theirs.shape[1]):
                    hit |= value == theirs[:, q]
                found[rows[hit]] = True
            return found

        near = np.zeros(len(a), dtype=bool)
        la, lb = self.postcode_length[a], self.postcode_length[b]
        for p in range(la.shape[1]):
            for q in range(lb.shape[1]):
                rows = np.flatnonzero((la[:, p] >= 0) & (lb[:, q] >= 0))
                if not len(rows):
                    continue
                mp = self.postcode_letters[a[rows], p]
                mq = self.postcode_letters[b[rows], q]
                near[rows] |= (
                    (np.abs(la[rows, p] - lb[rows, q]) <= 1)
                    & (np.bitwise_count(mp & ~mq) <= 1)
                    & (np.bitwise_count(mq & ~mp) <= 1)
                )
        spelled = equal(self.locals, self.spellings, a, b)
        spelled |= equal(self.locals, self.spellings, b, a)
        shared, tails = equal(self.shared, self.shared, a, b), equal(self.tails, self.tails, a, b)
        return shared, tails, near, spelled


def _phone_number(phone: str) -> int | None:
    """A phone number as one number, for the stored features: its digits behind a 2 (if
    written with a leading "+") or a 1, so that no two numbers written apart are one; None
    for a number that does not fit (then the customer's pairs are told by the scorer)."""
    digits = phone[1:] if phone.startswith("+") else phone
    if not digits or len(digits) > 17 or not (digits.isascii() and digits.isdigit()):
        return None
    return int(("2" if phone.startswith("+") else "1") + digits)


class _Codes(dict[str, int]):
    """A number for each text, the same in every process and run (unlike ``hash``): the
    pre-filter's columns compare values by these numbers, and the catch-up reads the ones
    that earlier runs stored (``feature_rows``). Two texts may share one (its CRC-32: one
    pair of texts in four billion): they are then taken as equal, which keeps a pair for
    the scorer and never leaves one out."""

    def __missing__(self, text: str) -> int:
        code = self[text] = zlib.crc32(text.encode("utf-8", "surrogatepass"))
        return code


# What the store keeps of each customer's pre-filter columns (``feature_rows``, read back by
# ``stored_prefilter``), one fixed-size row of little-endian numbers: what ``_NameColumns``
# and ``_Evidence`` hold of it but its name's texts. The frequencies' figures are those of
# the stored list's frequencies: a rebuild writes every row with the frequencies it stores,
# and a catch-up scores and writes with those.
_FEATURE_FIELDS = (
    ("flags", "<u1"),  # 1: one simple name; 2: a home; 4: more than the columns hold
    ("parts", "<i4"),
    ("initial", "<i4"),
    ("lengths", "<i4", (4,)),  # of the first, family, joined and turned name
    ("letters", "<u8", (4,)),  # (the same four)
    ("full", "<i8"),
    ("sorted_parts", "<i8"),
    ("first_code", "<i8"),
    ("family_code", "<i8"),
    ("nicknames", "<u8"),
    ("shared", "<i8", (3,)),
    ("tails", "<i8", (3,)),
    ("postcode_length", "<i4", (3,)),
    ("postcode_letters", "<u8", (3,)),
    ("locals", "<i8", (3,)),
    ("spellings", "<i8", (5,)),
    ("phones", "<i8", (3,)),
    ("p_given", "<f8"),
    ("given_count", "<i8"),
    ("family_count", "<i8"),
)
# ``sift``: the four name texts, each followed by this but the last; ``postcodes``: the
# postcodes, likewise (no name part nor postcode holds it).
_SIFT_SEPARATOR = "\x1f"
_SIFT_NONE = _SIFT_SEPARATOR * 3  # (four empty texts)

# A customer's stored features: its row of the columns (``features_dtype``, as bytes), its
# name's four texts (``sift``) and its postcodes, as ``suggestion_customer`` keeps them.
Features = tuple[bytes, str, str]


@lru_cache(maxsize=1)
def features_dtype() -> Any:
    """The numpy dtype of a customer's stored features (``_FEATURE_FIELDS``)."""
    import numpy as np

    return np.dtype(list(_FEATURE_FIELDS))


def feature_rows(prepared: Prefilter) -> list[Features]:
    """Each customer's stored features (``Features``), in ``prepared``'s order (its
    ``ids``): the name's first, family, joined and turned texts, its postcodes, and the
    rest of its columns' row."""
    import numpy as np

    columns, evidence = prepared
    size = len(columns.ids)
    table = np.zeros(size, dtype=features_dtype())
    many = evidence.many.copy()
    simple = columns.simple.copy()
    strings = (columns.first, columns.family, columns.joined, columns.turned)
    sep = _SIFT_SEPARATOR
    sifts = [
        f"{a}{sep}{b}{sep}{c}{sep}{d}"
        for a, b, c, d in zip(*(s.text.tolist() for s in strings), strict=True)
    ]
    profiles = evidence.profiles
    postcodes: list[str] = []
    held = 0  # (the separators they hold)
    for cid, m in zip(columns.ids, many.tolist(), strict=True):
        codes = () if m else profiles[cid].postcodes
        postcodes.append(sep.join(sorted(codes)) if codes else "")
        held += len(codes) - 1 if codes else 0
    if "".join(sifts).count(sep) != 3 * size or "".join(postcodes).count(sep) != held:
        for i, (sift, written) in enumerate(zip(sifts, postcodes, strict=True)):
            wanted = len(profiles[columns.ids[i]].postcodes) - 1 if written else 0
            if sift.count(sep) != 3 or written.count(sep) != wanted:
                # (a separator in a text, not read back as written: its pairs are scored)
                sifts[i], postcodes[i], many[i], simple[i] = _SIFT_NONE, "", True, False
    table["flags"] = simple | (evidence.homes << 1) | (many << 2)
    table["parts"] = columns.parts
    table["initial"] = columns.initial
    for k, s in enumerate(strings):
        table["lengths"][:, k] = s.length
        table["letters"][:, k] = s.letters
    for name in (
        "full",
        "sorted_parts",
        "first_code",
        "family_code",
        "nicknames",
        "p_given",
        "given_count",
        "family_count",
    ):
        table[name] = getattr(columns, name)
    for name in (
        "shared",
        "tails",
        "postcode_length",
        "postcode_letters",
        "locals",
        "spellings",
        "phones",
    ):
        table[name] = getattr(evidence, name)
    data, width = table.tobytes(), table.itemsize
    blobs = [data[start : start + width] for start in range(0, size * width, width)]
    return list(zip(blobs, sifts, postcodes, strict=True))


def stored_prefilter(
    ids: list[int], rows: Sequence[Features]
) -> tuple[_NameColumns, _StoredEvidence]:
    """The pre-filter's columns of the customers ``ids`` (ascending) from their stored
    features (``feature_rows``, written with the stored list's frequencies): what
    ``left_out_of`` reads, without their profiles."""
    import numpy as np

    data, sifts, postcodes = (
        (list(column) for column in zip(*rows, strict=True)) if rows else ([], [], [])
    )
    table = np.frombuffer(b"".join(data), dtype=features_dtype())
    return stored_prefilter_of(ids, table, sifts, postcodes)


def stored_prefilter_of(
    ids: list[int], table: Any, sifts: list[str], postcodes: list[str]
) -> tuple[_NameColumns, _StoredEvidence]:
    """``stored_prefilter`` of the customers' stored features already in a table (a numpy
    array of ``features_dtype``, a row a customer in the order of ``ids``), with their
    texts (the lists may be changed)."""
    import numpy as np

    separators = list(map(methodcaller("count", _SIFT_SEPARATOR), sifts))
    if set(separators) - {3}:  # (a text not as ``feature_rows`` writes it)
        table = table.copy()
        for i, found in enumerate(separators):
            if found != 3:
                sifts[i], postcodes[i] = _SIFT_NONE, ""
                table["flags"][i] = 4  # (neither simple nor known: its pairs are scored)
    strings = [
        _Strings(
            _SiftTexts(sifts, k),
            table["lengths"][:, k].astype(np.int64),
            table["letters"][:, k].copy(),
        )
        for k in range(4)
    ]
    flags = table["flags"]
    columns = _NameColumns(
        ids=ids,
        simple=(flags & 1).astype(bool),
        first=strings[0],
        family=strings[1],
        joined=strings[2],
        turned=strings[3],
        parts=table["parts"].astype(np.int64),
        full=table["full"].copy(),
        sorted_parts=table["sorted_parts"].copy(),
        first_code=table["first_code"].copy(),
        initial=table["initial"].astype(np.int64),
        nicknames=table["nicknames"].copy(),
        p_given=table["p_given"].copy(),
        given_count=table["given_count"].copy(),
        family_count=table["family_count"].copy(),
        family_code=table["family_code"].copy(),
    )
    evidence = _StoredEvidence(
        {},
        ids,
        (flags & 2).astype(bool),
        (flags & 4).astype(bool),
        table["shared"].copy(),
        table["tails"].copy(),
        table["postcode_length"].astype(np.int64),
        table["postcode_letters"].copy(),
        table["locals"].copy(),
        table["spellings"].copy(),
        table["phones"].copy(),
        postcodes=postcodes,
    )
    return columns, evidence


class _SiftTexts:
    """One of the four name texts of stored customers (``sift``: first, family, joined,
    turned), split out for the rows asked for alone: ``near_columns`` reads the texts of the
    few pairs whose lengths and letters let them be near."""

    __slots__ = ("k", "sifts")

    def __init__(self, sifts: list[str], k: int) -> None:
        self.sifts = sifts
        self.k = k

    def __getitem__(self, rows: Any) -> Any:
        import numpy as np

        sifts, k = self.sifts, self.k
        return np.array([sifts[i].split(_SIFT_SEPARATOR)[k] for i in rows.tolist()], dtype=object)


@dataclass
class _StoredEvidence(_Evidence):
    """``_Evidence`` read from the store (``stored_prefilter``), without the profiles: the
    pairs ``may_meet`` lets through are told from the stored values (each contact point,
    number, number's digits and spelling as a number, each postcode as text); a pair of
    a customer with more of them than the columns hold is kept."""

    postcodes: list[str] = field(default_factory=list)  # each one's, as stored
    texts: Any = None  # ``postcodes`` in a numpy array, made when first needed

    def out_of(self, a: Any, b: Any, clash: Any) -> Any:
        """``_Evidence.out_of`` from the columns, all pairs at once: their tests are exact
        but for the postcodes, which are compared as text where the columns let them
        agree."""
        import numpy as np

        known = ~(self.many[a] | self.many[b])
        shared, tails, near, spelled = self._meeting(a, b)
        open_ = known & ~shared & ~tails & ~spelled
        check = np.flatnonzero(open_ & near)
        # Customers that give the very same postcodes share one (``near``: both give some);
        # the others' postcodes are compared give or take a slip.
        texts = self._postcode_texts()
        open_[check[texts[a[check]] == texts[b[check]]]] = False
        check = check[open_[check]]
        apart = self._apart
        open_[check] = [
            apart(i, j) for i, j in zip(a[check].tolist(), b[check].tolist(), strict=True)
        ]
        # (numbers that end alike weigh unless a number is the same on both: ``_tails_weigh``)
        same = np.zeros(len(a), dtype=bool)
        mine, theirs = self.phones[a], self.phones[b]
        for p in range(mine.shape[1]):
            for q in range(theirs.shape[1]):
                same |= (mine[:, p] == theirs[:, q]) & (mine[:, p] >= 0)
        return open_ | (clash & known & (~tails | same))

    def _postcode_texts(self) -> Any:
        """Each customer's postcodes as stored, in a numpy array (of ``str`` objects)."""
        import numpy as np

        if self.texts is None:
            self.texts = np.array(self.postcodes, dtype=object)
        return self.texts

    def _apart(self, i: int, j: int) -> bool:
        """Whether no postcode of customer ``i`` is one of ``j``'s give or take a slip (their
        ``_slips`` share nothing). For one postcode each, as an edit distance: two postcodes
        that are one once a character of each (or of the longer) is left out are those as
        many letters apart as that, counting only insertions and deletions (``Indel``)."""
        x, y = self.postcodes[i], self.postcodes[j]
        if _SIFT_SEPARATOR in x or _SIFT_SEPARATOR in y or not x or not y:
            return self._slips(i).isdisjoint(self._slips(j))
        longer = len(x) - len(y)
        if longer > 1 or longer < -1:
            return True
        most = 1 if longer else 2
        return Indel.distance(x, y, score_cutoff=most) > most

    def _slips(self, i: int) -> frozenset[str]:
        """Customer ``i``'s postcodes, each also with one character left out (``_Quick``)."""
        found = self.kept.get(i)
        if found is None:
            postcodes = self.postcodes[i]
            found = frozenset().union(*map(_slips, postcodes.split(_SIFT_SEPARATOR)))
            self.kept[i] = found if postcodes else frozenset()
        return found
