"""Stored merge suggestions, kept in step with the customers as records arrive.

Computing the suggestions (``app.suggestions``) reads every customer. The status bar's count
and the review queue read them often, and an import changes a few customers among many, so
the scored pairs are stored (``suggestion_pair``) and brought up to date for the customers
that changed:

- the write path marks the customers it touches (``app.suggestion_marks.mark``, called by
  ``app.customer_stats.refresh_customer_stats`` and by erasure): one small insert;
- ``catch_up`` (run before the suggestions are read) recomputes the blocking keys and name
  orders of the marked customers, finds the customers that share a key with them through
  ``customer_block_key``, scores the pairs that involve them, and re-examines the few pairs
  of other customers whose candidacy their arrival or departure changed: neighbours in a
  name order (of an oversized block, or of all customers) that an insertion pushed apart or
  a removal brought together, a block that grew past ``MAX_BLOCK`` or shrank below it, and
  pairs whose mentions changed. The name orders of all customers are not read: the stored
  ones are indexed, and only the neighbours of the changed customers' old and new places
  are asked for (``_NameLists``);
- pairs are scored with the name and postcode frequencies of the last full build (kept in
  ``suggestion_state``), so a pair's score depends only on its two customers, and the
  stored list equals a full build with those frequencies. When the customers have changed
  by more than ``DRIFT`` since, the scorer's version changed, or the database is small, the
  whole list is built again (``rebuild``) with fresh frequencies.

Rejected pairs stay stored and are left out when read, so undoing a rejection needs no work.
"""

from __future__ import annotations

import gc
import hashlib
import json
import multiprocessing
import os
import sys
import threading
from bisect import bisect_left, insort
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, fields
from functools import cache
from itertools import chain, combinations
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    Table,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from app import suggestion_mentions
from app.models import (
    Base,
    CustomerBlockKey,
    SuggestionCustomer,
    SuggestionDirty,
    SuggestionPair,
    SuggestionState,
    utcnow,
)
from app.suggestion_marks import mark as mark

if TYPE_CHECKING:
    from app import suggestions as sx
    from app.names import PersonName
    from app.suggestions import Suggestion, _Candidates, _Frequencies, _Profile

Pair = tuple[int, int]
Orders = tuple[str, str, str]

STORE_MIN_SCORE = 0.01  # pairs scored lower are not stored; a lower minimum reads from scratch
SMALL_DATABASE = 2000  # below this many customers every change rebuilds the list (fast)
DRIFT = 0.1  # rebuild with fresh frequencies once the customers changed by this share
_FORMAT = "4"  # the layout of the stored tables (and the customers' digests)

_CHUNK = 500
_STATE_ID = 1


def _table(model: type[Base]) -> Table:
    """A model's table, for Core inserts (no ORM bookkeeping per row)."""
    return cast("Table", model.__table__)


# --- the state: scorer version, frequencies, mentions ----------------------------------


@cache
def scorer_version() -> str:
    """A digest of the scoring code (suggestions, names, addresses) and the store's layout:
    when it changes, the stored pairs are scored again."""
    from app import addresses, names
    from app import suggestions as sx

    digest = hashlib.sha256(f"{_FORMAT}|{STORE_MIN_SCORE}|{sx.CALIBRATION!r}".encode())
    for module in (sx, names, addresses):
        try:
            digest.update(Path(module.__file__ or "").read_bytes())
        except OSError:  # a frozen bundle without sources: the version of the app
            digest.update(module.__name__.encode())
    return digest.hexdigest()[:16]


@dataclass
class _State:
    version: str
    customers: int
    freq: _Frequencies
    mentions: dict[Pair, set[str]]
    own: list[int] | None  # the owner's contact points when the mentions were counted


def _dump_freq(freq: _Frequencies) -> str:
    """The frequencies as JSON: each count with its values in one text (``_by_count``),
    which reads back in a fraction of the time a JSON object of every value takes (the
    catch-up reads them each time: 190,000 values at 100k customers)."""
    stored: dict[str, Any] = {}
    for f in fields(freq):
        value = getattr(freq, f.name)
        stored[f.name] = _by_count(value) if isinstance(value, Counter) else value
    return json.dumps(stored, sort_keys=True)


def _by_count(counter: Counter[str]) -> list[Any] | dict[str, int]:
    """A counter as [[count, its values joined by newlines], ...], or as it is when a
    value holds a newline (the joined text could not be split again). The values of a
    count are sorted: the counter's own order follows set order (a customer's postcodes),
    which Python's hash seed changes from one process to the next."""
    grouped: dict[int, list[str]] = defaultdict(list)
    for value, count in counter.items():
        grouped[count].append(value)
    found: list[Any] = []
    for count, values in sorted(grouped.items()):
        joined = "\n".join(sorted(values))
        if joined.count("\n") != len(values) - 1:
            return dict(counter)
        found.append([count, joined])
    return found


def _load_freq(text: str) -> _Frequencies:
    from app.suggestions import _Frequencies

    raw: dict[str, Any] = json.loads(text)
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if isinstance(value, list):  # (``_by_count``)
            counter: Counter[str] = Counter()
            for count, joined in value:
                dict.update(counter, dict.fromkeys(joined.split("\n"), int(count)))
            values[name] = counter
        elif isinstance(value, dict):  # as stored before
            values[name] = Counter(value)
        else:
            values[name] = int(value)
    return _Frequencies(**values)


def _dump_mentions(said: dict[Pair, set[str]], own: list[int] | None) -> str:
    pairs = [[a, b, sorted(words)] for (a, b), words in sorted(said.items())]
    return json.dumps({"own": own, "pairs": pairs})


def _load_mentions(text: str) -> tuple[dict[Pair, set[str]], list[int] | None]:
    raw = json.loads(text)
    if isinstance(raw, list):  # as stored before the owner's contact points were kept
        return {(int(a), int(b)): set(words) for a, b, words in raw}, None
    own = raw["own"]
    said = {(int(a), int(b)): set(words) for a, b, words in raw["pairs"]}
    return said, None if own is None else [int(i) for i in own]


def _own_identities(session: Session) -> list[int]:
    """The owner's contact points (a few): when they change, contact points leave their
    customers unmarked for the mentions (``app.suggestion_mentions``)."""
    from app.models import Identity

    return sorted(session.scalars(select(Identity.id).where(Identity.is_own.is_(True))))


# The frequencies this process last stored or read, with their text as stored: a rebuild
# writes them, and each catch-up until the next rebuild reads the same text again (some
# 3 MB at 100k customers, 0.05-0.06 s to decode; compared in a millisecond). They are
# read, never changed, and hold only texts and numbers (nothing for the cycle collector).
_known_freq: tuple[str, _Frequencies] | None = None


def _frequencies(text: str) -> _Frequencies:
    """The frequencies stored as ``text`` (``_dump_freq``)."""
    global _known_freq
    known = _known_freq
    if known is not None and known[0] == text:
        return known[1]
    freq = _load_freq(text)
    _known_freq = (text, freq)
    return freq


def _state(session: Session) -> _State | None:
    row = session.get(SuggestionState, _STATE_ID)
    if row is None:
        return None
    try:
        freq, (said, own) = _frequencies(row.stats), _load_mentions(row.mentions)
    except (ValueError, TypeError, KeyError):
        return None
    return _State(row.version, row.customers, freq, said, own)


def _save_state(session: Session, state: _State, texts: tuple[str, str] | None = None) -> None:
    """Store ``state``; ``texts``: its frequencies and mentions as stored (``_state_texts``),
    if made beforehand."""
    global _known_freq
    stats, mentions = texts if texts is not None else _state_texts(state)
    _known_freq = (stats, state.freq)
    session.execute(delete(SuggestionState))
    session.execute(
        insert(SuggestionState),
        [
            {
                "id": _STATE_ID,
                "version": state.version,
                "customers": state.customers,
                "stats": stats,
                "mentions": mentions,
                "built_at": utcnow(),
            }
        ],
    )


def _state_texts(state: _State) -> tuple[str, str]:
    return _dump_freq(state.freq), _dump_mentions(state.mentions, state.own)


# --- bringing the list up to date -------------------------------------------------------


def needs_catch_up(session: Session) -> bool:
    """Whether ``catch_up`` has anything to do (a cheap read: no lock taken)."""
    version = session.scalar(select(SuggestionState.version).where(SuggestionState.id == _STATE_ID))
    if version != scorer_version():
        return True
    return session.scalar(select(SuggestionDirty.customer_id).limit(1)) is not None


def catch_up(session: Session, *, small: int | None = None, drift: float | None = None) -> str:
    """Bring the stored pairs up to date: "current", "updated" (the changed customers
    rescored) or "rebuilt" (from scratch).

    Args:
        session: a writing session.
        small: rebuild on any change below this many customers (default SMALL_DATABASE).
        drift: rebuild once this share of the customers changed (default DRIFT).
    """
    from app import suggestions as sx

    # The cycle collector paused: the catch-up holds every customer's name orders while
    # it makes many small objects (each full collection walked them again). What it held
    # is let go of, and the memo tables emptied, before the collector runs again, so that
    # it does not walk them either (``_LetGo``). (The callers take turns: ``one_at_a_time``.)
    _let_go.wait()
    enabled = gc.isenabled()
    gc.disable()
    held: list[Any] = []
    try:
        outcome = _catch_up(session, small, drift, held)
    except BaseException:
        held.clear()
        sx.release_caches()  # (the app's process lives on: see release_caches)
        if enabled:
            gc.enable()
        raise
    _let_go.start(held, enabled)
    return outcome


class _LetGo:
    """What a catch-up held, let go of by a thread while the caller commits and counts.

    Freeing the working set of the catch-up after an import of 1,000 records (some
    hundreds of thousands of objects: pairs, name orders, profiles) took 0.05-0.06 s,
    as long as the commit that follows, most of which SQLite spends without the
    interpreter's lock. So the catch-up hands it to a thread and returns: the thread frees
    it piece by piece, empties the memo tables, then turns the cycle collector back on
    (it stays off until then: turned on while the set is held, its first collection would
    walk every object made since it went off). The next catch-up or rebuild waits for the
    thread first."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None

    def start(self, held: list[Any], enabled: bool) -> None:
        self._thread = threading.Thread(
            target=self._free, args=(held, enabled), name="threadline-let-go", daemon=True
        )
        self._thread.start()

    @staticmethod
    def _free(held: list[Any], enabled: bool) -> None:
        from app import suggestions as sx

        try:
            while held:
                part = held.pop()
                while isinstance(part, dict) and part:
                    part.popitem()  # (a piece at a time: the lock goes back between them)
                del part
            sx.release_caches()  # (the app's process lives on: see release_caches)
        finally:
            if enabled:
                gc.enable()

    def wait(self) -> None:
        """Wait for the thread (if any) to be done."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None


_let_go = _LetGo()


def _catch_up(session: Session, small: int | None, drift: float | None, held: list[Any]) -> str:
    small = SMALL_DATABASE if small is None else small
    drift = DRIFT if drift is None else drift
    state = _state(session)
    if state is None or state.version != scorer_version():
        rebuild(session)
        return "rebuilt"
    dirty = set(session.scalars(select(SuggestionDirty.customer_id)))
    if not dirty:
        return "current"
    if state.customers < small or len(dirty) > drift * max(state.customers, 1):
        rebuild(session)
        return "rebuilt"
    held.append(_update(session, dirty, state))
    known = session.scalar(select(func.count()).select_from(SuggestionCustomer)) or 0
    if abs(known - state.customers) > drift * max(state.customers, 1):
        rebuild(session)  # the frequencies have drifted: score everyone with fresh ones
        return "rebuilt"
    return "updated"


def rebuild(session: Session, *, keep_stats: bool = False) -> None:
    """Compute every pair from scratch and store it (with fresh frequencies, or with the
    stored ones if ``keep_stats``: then the result equals what ``catch_up`` keeps)."""
    from app.suggestions import collector_paused, release_caches

    _let_go.wait()

    def write_customers(made: _Here, scored_apart: bool) -> None:
        for table in (SuggestionPair, CustomerBlockKey, SuggestionCustomer, SuggestionDirty):
            session.execute(delete(table))
        _insert_key_documents(session, made.key_documents())
        if scored_apart and made.remote:  # done with the memo tables (the scorers have
            release_caches()  # their own copies): emptied while the customers' rows come
        rows = made.customer_rows()
        features = made.features()
        with _indexed_after(session, SuggestionCustomer) as bare:
            _insert_plain(
                session,
                SuggestionCustomer,
                _SUGGESTION_CUSTOMER_COLUMNS,
                [(*row, *more) for row, more in zip(rows, features, strict=True)],
                together=bare,
            )
        if scored_apart and not made.remote:
            release_caches()  # (after the customers' rows made here, which use them)

    # A million key rows beside the profiles: nothing to collect. The collector stays off
    # until what was computed is gone: on again while it is held, its first collection
    # walks every object made since it went off (0.8 s at 100k customers).
    with collector_paused():
        try:
            # The customers' keys are written while the pairs are scored (by other
            # processes).
            built = compute(session, keep_stats=keep_stats, meanwhile=write_customers)
            with _indexed_after(session, SuggestionPair) as bare:
                _insert_pairs(session, built.rows, together=bare)
            _save_state(session, built.state, built.texts)
            del built
        finally:
            # As ``catch_up`` does (the memo tables held 650,000 objects at 100k
            # customers, which the collector's first pass walked: 0.28 s; emptied: 0.17 s).
            release_caches()  # (emptied already, unless the pairs were scored here)


@contextmanager
def _indexed_after(session: Session, model: type[Base]) -> Iterator[bool]:
    """On SQLite, the secondary indexes of this table dropped, and made again (as they
    were: the stored ``CREATE INDEX``) at the end: an index made from the whole table at
    once (sorted) costs less than one written a row at a time in the rows' order (the
    96,351 customers' three name orders: 0.37 s instead of 0.9 s). Yields whether they
    were dropped. The drop and the making are in the rebuild's transaction: a reader sees
    the old tables and indexes until it commits. Not on PostgreSQL: there a dropped
    index locks its table against readers until the commit."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield False
        return
    quote = connection.dialect.identifier_preparer.quote
    made = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        " AND tbl_name = ? ORDER BY name",
        (model.__tablename__,),
    ).all()
    for name, _ in made:
        connection.exec_driver_sql(f"DROP INDEX {quote(name)}")
    try:
        yield True
    finally:
        for _, sql in made:
            connection.exec_driver_sql(sql)


@dataclass
class Built:
    """Every pair computed from scratch, with what the store keeps beside them."""

    profiles: dict[int, _Profile]
    rows: list[dict[str, Any]]  # as stored in suggestion_pair
    state: _State
    texts: tuple[str, str] | None = None  # ``_state_texts``, if made beforehand


def compute(
    session: Session,
    *,
    keep_stats: bool = False,
    meanwhile: Callable[[_Here, bool], None] | None = None,
) -> Built:
    """Every stored pair computed from scratch, nothing written (``rebuild`` writes it).

    Args:
        session: an open session.
        keep_stats: score with the stored frequencies (as ``catch_up`` does) instead of
            counting them again.
        meanwhile: called with what gives the key rows and the customers' rows
            (``_Here.key_documents``, ``_Here.customer_rows``) while the pairs are scored
            (when other processes score them), and whether other processes score them
            (``_scored``'s ``meanwhile``). Then the customers' keys, the candidate pairs
            but the mentioned ones, the key rows and the customers' rows are made by
            another process (``_made_apart``) while this one counts the frequencies, reads
            the mentions, makes the pre-filter's columns and the state's texts
            (``Built.texts``).
    """
    from app import suggestions as sx

    with sx.collector_paused():
        # A rebuild's transaction holds the write lock and has written nothing the profiles
        # and mentions are read from: those tables are read by a thread meanwhile.
        reads = sx._WholeReads.start(session) if meanwhile is not None else None
        try:
            profiles = sx._profiles(session, reads=reads)
        finally:
            if reads is not None:
                reads.close()  # (before the helper is forked)
        with _made_apart(profiles, meanwhile is not None) as apart:
            old = _state(session) if keep_stats else None
            freq = old.freq if old is not None else sx._Frequencies.of(profiles.values())
            customers = old.customers if old is not None else len(profiles)
            said = sx._mentions(session, profiles, reads)
            own = _own_identities(session)
            state = _State(scorer_version(), customers, freq, said, own)
            floor = sx.raw_floor(STORE_MIN_SCORE)
            prepared = apart.prepared = sx.prefilter_columns(profiles, freq)
            texts = None if meanwhile is None else _state_texts(state)
            codes = sx._with_mentions(apart.candidates(), said)
            later = (
                None if meanwhile is None else (lambda scored_apart: meanwhile(apart, scored_apart))
            )

            def sift(part: Any) -> list[Pair]:
                return sx.scorable(profiles, freq, said, part, floor, prepared)

            rows = _scored(profiles, freq, said, codes, later, sift=sift)
    return Built(profiles, rows, state, texts)


_SUGGESTION_CUSTOMER_COLUMNS = (
    "customer_id",
    "keys",
    "names",
    "order0",
    "order1",
    "order2",
    "digest",
    "features",
    "sift",
    "postcodes",
)
APART_MIN_CUSTOMERS = 20000  # for fewer customers, all is made in this process


class _Here:
    """What ``_made_apart`` gives, made in this process when asked for."""

    def __init__(self, profiles: dict[int, _Profile]) -> None:
        self.profiles = profiles
        self._made: tuple[dict[int, set[str]], dict[int, Orders]] | None = None
        self._texts: dict[int, str] | None = None
        self.prepared: sx.Prefilter | None = None  # the pre-filter's columns, once made

    def features(self) -> list[sx.Features]:
        """Each customer's stored features (``feature_rows`` of the pre-filter's columns,
        made in this process), in the order of ``customer_rows``."""
        from app import suggestions as sx

        if self.prepared is None:
            raise RuntimeError("the pre-filter's columns are made before the rows")
        return sx.feature_rows(self.prepared)

    def keys_and_orders(self) -> tuple[dict[int, set[str]], dict[int, Orders]]:
        """The customers' keys and their name orders."""
        from app import suggestions as sx

        if self._made is None:
            keys = {cid: sx._block_keys(p) for cid, p in self.profiles.items()}
            orders = {cid: sx._name_orders(p) for cid, p in self.profiles.items()}
            self._made = keys, orders
        return self._made

    def blocked(self) -> tuple[Any, Any]:
        """The strong pairs and the weak ones not compared yet (``_blocked_pairs``)."""
        from app import suggestions as sx

        return sx._blocked_pairs(self.profiles, *self.keys_and_orders())

    def candidates(self) -> _Candidates:
        from app import suggestions as sx

        seen, rest = self.blocked()
        return seen, *sx._touching_weak(self.profiles, rest)

    def key_texts(self) -> dict[int, str]:
        """Each customer's keys as ``suggestion_customer`` stores them (``_key_texts``)."""
        if self._texts is None:
            self._texts = _key_texts(self.keys_and_orders()[0])
        return self._texts

    def key_documents(self) -> list[str]:
        """The rows of ``customer_block_key`` as JSON texts (``_key_documents``)."""
        return _key_documents(self.key_texts())

    def customer_rows(self) -> list[tuple[Any, ...]]:
        """The rows of ``suggestion_customer`` (``_customer_rows``)."""
        return _customer_rows(self.profiles, *self.keys_and_orders(), self.key_texts())

    @property
    def remote(self) -> bool:
        """Whether another process makes what is asked for next."""
        return False


class _There(_Here):
    """What ``_made_apart`` gives, received from the forked process (made here if it
    fails): in this order, the candidates (two messages), the key rows (JSON texts), the
    customers' rows."""

    def __init__(self, profiles: dict[int, _Profile], receiving: Any) -> None:
        super().__init__(profiles)
        self.receiving = receiving
        self.failed = False

    @property
    def remote(self) -> bool:
        return not self.failed

    def _received(self) -> Any:
        if not self.failed:
            try:
                return self.receiving.recv()
            except (EOFError, OSError):
                self.failed = True  # the child failed: the rest is made here
        return None

    def candidates(self) -> _Candidates:
        """The forked process sends the blocked pairs (``_Here.blocked``), then compares
        the names of the weak ones (``_touching_weak``) and sends the answers, while this
        process counts the frequencies, reads the mentions and makes the pre-filter's
        columns. (Split in halves, one compared here, the two cost a third more than the
        whole, and this process was most often the later one to be ready.) If the helper
        fails midway, what is missing is made here."""
        from app import suggestions as sx

        blocked: tuple[Any, Any] | None = self._received()
        if blocked is None:
            return super().candidates()
        seen, rest = blocked
        theirs: tuple[Any, Any] | None = self._received()
        if theirs is None:
            theirs = sx._touching_weak(self.profiles, rest)
        return seen, *theirs

    def key_documents(self) -> list[str]:
        documents: list[str] | None = self._received()
        return documents if documents is not None else super().key_documents()

    def customer_rows(self) -> list[tuple[Any, ...]]:
        packed: _PackedRows | None = self._received()
        return _unpacked(packed) if packed is not None else super().customer_rows()


@contextmanager
def _made_apart(profiles: dict[int, _Profile], wanted: bool) -> Iterator[_Here]:
    """The customers' keys and name orders, the candidate pairs but the mentioned ones
    (``_unmentioned_candidates``) and the customers' rows (``_customer_rows``): for many
    customers, made by a forked process (which needs only the profiles) while this one
    goes on; else (or when no process is to be had) made here when asked for. Asked for
    in that order: the candidates, then the rows.

    A bare process and a pipe, not a pool: a pool's thread in this process would stop
    the scorers' fork (``_workers``), and rightly (a fork beside a thread may inherit a
    held lock)."""
    if not wanted or len(profiles) < APART_MIN_CUSTOMERS or _workers(PARALLEL_MIN_PAIRS) < 2:
        yield _Here(profiles)
        return
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(target=_send_apart, args=(sending, profiles), daemon=True)
    try:
        child.start()
    except OSError:
        receiving.close()
        sending.close()
        yield _Here(profiles)  # no process to be had
        return
    sending.close()  # the child's end: the pipe reports its end once the child is gone
    try:
        yield _There(profiles, receiving)
    finally:
        receiving.close()
        child.join(timeout=60)
        if child.is_alive():
            child.kill()
            child.join()


def _send_apart(sending: Any, profiles: dict[int, _Profile]) -> None:
    """In the forked process: the candidates (in two parts: ``_There.candidates``), the key
    rows (``_key_documents``), then the customers' rows (``_packed``), sent to the parent in
    that order. A thread of this process sends each while the next is made: a message
    waits in the pipe until the parent reads it, and this process goes on meanwhile."""
    import queue

    from app import suggestions as sx

    outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def post() -> None:
        try:
            while (message := outbox.get()) is not _DONE:
                sending.send(message)
        except OSError:
            pass  # the parent is gone (it makes the rest itself, or has stopped)

    poster = threading.Thread(target=post, daemon=True)
    poster.start()
    try:
        here = _Here(profiles)
        seen, rest = here.blocked()
        outbox.put((seen, rest))  # numpy arrays
        outbox.put(sx._touching_weak(profiles, rest))  # (``_There``)
        del seen, rest
        outbox.put(here.key_documents())
        outbox.put(_packed(here.customer_rows()))
    finally:
        outbox.put(_DONE)
        poster.join()
        sending.close()


_DONE = object()  # the end of ``_send_apart``'s messages

# The customers' rows as sent between processes: their ids in a numpy array and their texts
# written together in one string (96,351 customers' rows of six texts each were pickled,
# sent and unpickled in about 1 s under a rebuild's load), or (a text with the separator)
# the rows as they are.
_PackedRows = tuple[Any, str] | list[tuple[Any, ...]]
_SEPARATOR = "\x1e"  # (JSON escapes it; a name order would hold it only if a name did)


def _packed(rows: list[tuple[Any, ...]]) -> _PackedRows:
    """``_customer_rows``'s rows to send (``_unpacked`` gives them back)."""
    import numpy as np

    texts = _SEPARATOR.join(chain.from_iterable(row[1:] for row in rows))
    width = len(_SUGGESTION_CUSTOMER_COLUMNS) - 1
    if texts.count(_SEPARATOR) != max(len(rows) * width - 1, 0):
        return rows
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    return ids, texts


def _unpacked(packed: _PackedRows) -> list[tuple[Any, ...]]:
    if isinstance(packed, list):
        return packed
    ids, texts = packed
    if not len(ids):
        return []
    width = len(_SUGGESTION_CUSTOMER_COLUMNS) - 1
    parts = texts.split(_SEPARATOR)
    return list(zip(ids.tolist(), *(parts[i::width] for i in range(width)), strict=True))


def _key_texts(keys: dict[int, set[str]]) -> dict[int, str]:
    """Each customer's keys as ``suggestion_customer`` stores them (sorted, a JSON list)."""
    return {cid: _json_texts(sorted(own)) for cid, own in keys.items()}


_KEYS_PER_DOCUMENT = 150000  # customers: a text of some 30 MB (SQLite's and PostgreSQL's
# strings end at 1 GB)


def _key_documents(key_texts: dict[int, str]) -> list[str]:
    """The rows of ``customer_block_key`` as JSON texts, ``{"customer": [key, ...], ...}``
    (``_key_texts``) for ``_KEYS_PER_DOCUMENT`` customers each, which
    ``_insert_key_documents`` writes in one statement each."""
    ordered = sorted(key_texts.items())
    return [
        "{" + ",".join([f'"{cid}":{text}' for cid, text in part]) + "}"
        for part in (
            ordered[i : i + _KEYS_PER_DOCUMENT] for i in range(0, len(ordered), _KEYS_PER_DOCUMENT)
        )
    ]


def _insert_key_documents(session: Session, documents: list[str]) -> None:
    """Store the (key, customer) rows of ``_key_documents`` in ``customer_block_key``: a
    statement for each text, which reads the rows from it and sorts them in the database
    (the table's order). A rebuild's million rows at 100k customers: about 1.0 s on SQLite,
    where made in Python, sorted, sent between processes and bound row by row they cost
    some 1.9 s of CPU; and they are written while the pairs are scored, from a text the
    helper sends as soon as it has the candidates, not after the customers' rows."""
    connection = session.connection()
    table = connection.dialect.identifier_preparer.quote(CustomerBlockKey.__tablename__)
    if connection.dialect.name == "sqlite":
        rows = (
            "SELECT k.value, CAST(c.key AS integer) FROM json_each(?) AS c"
            " CROSS JOIN json_each(c.value) AS k"
        )
    else:
        rows = (
            "SELECT k.value, CAST(c.key AS integer) FROM json_each(CAST(%s AS json)) AS c"
            " CROSS JOIN LATERAL json_array_elements_text(c.value) AS k(value)"
        )
    for document in documents:
        connection.exec_driver_sql(
            f'INSERT INTO {table} ("key", customer_id) {rows} ORDER BY 1, 2', (document,)
        )


def _customer_rows(
    profiles: dict[int, _Profile],
    keys: dict[int, set[str]],
    orders: dict[int, Orders],
    key_texts: dict[int, str] | None = None,
    digests: dict[int, str] | None = None,
) -> list[tuple[Any, ...]]:
    """The rows of ``suggestion_customer``: each customer's keys (``_key_texts``, if made
    before), names, name orders and digest (``_digest``, if made before)."""
    from app.suggestions import _names_of

    texts = _json_texts
    return [
        (
            cid,
            key_texts[cid] if key_texts is not None else texts(sorted(keys[cid])),
            "[" + ", ".join(map(texts, _stored_names(p))) + "]" if _names_of(p) else "[]",
            *orders[cid],
            digests[cid] if digests is not None else _digest(p),
        )
        for cid, p in sorted(profiles.items())
    ]


def _json_texts(texts: Iterable[str]) -> str:
    """A list of strings as ``JSONList`` stores it (``json.dumps(..., ensure_ascii=False)``),
    written with json's own string encoder: its ``dumps`` costs some 3 µs a call, and a
    rebuild makes some 250,000 of these."""
    return "[" + ", ".join(map(_json_text, texts)) + "]"


_json_text = json.encoder.encode_basestring  # a string as json.dumps(ensure_ascii=False)


def _write_customers(
    session: Session,
    keys: dict[int, set[str]],
    stored: dict[int, set[str]],
    rows: list[tuple[Any, ...]],
) -> None:
    """Store these customers' rows (``_customer_rows`` with their stored features) and key
    rows, but those in ``stored`` (their keys that stay stored: most of a changed
    customer's keys are those it had)."""
    from app.suggestions import _key_rows

    new = {c: own - stored[c] if c in stored else own for c, own in keys.items()}
    _insert_key_rows(session, _key_rows(new))
    _insert_plain(session, SuggestionCustomer, _SUGGESTION_CUSTOMER_COLUMNS, rows)


def _insert_key_rows(session: Session, key_rows: list[tuple[str, int]]) -> None:
    """Store (key, customer) rows in ``customer_block_key``, many a statement."""
    _insert_plain(session, CustomerBlockKey, ("key", "customer_id"), key_rows, together=True)


def _insert_plain(
    session: Session,
    model: type[Base],
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    together: bool = False,
) -> None:
    """Insert rows of plain values (what the columns' types would store) with the driver's
    own executemany: a rebuild writes a million keys, and SQLAlchemy's handling of each
    row's parameters cost more than the inserts (some 10 µs a row).

    ``together``: many rows a statement (``VALUES (...), (...), ...``), for a table without
    secondary indexes: a statement's own cost, paid once a row, was as much as the insert's
    (SQLite, the 1,007,180 key rows of 96,351 customers: 0.93 s one a statement, 0.45 s
    499 a statement). Into SQLite tables with indexes it was slower (the customers' rows
    with their three: 0.8 s one a statement, 1.4 s 142 a statement)."""
    connection = session.connection()
    quote = connection.dialect.identifier_preparer.quote
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    head = f"INSERT INTO {quote(model.__tablename__)} ({', '.join(map(quote, columns))}) VALUES "
    one = f"({', '.join(mark for _ in columns)})"
    per = max(1, _MOST_PARAMETERS // len(columns)) if together else 1
    whole = len(rows) - len(rows) % per
    flat = chain.from_iterable
    statement = head + ", ".join([one] * per)
    batch = per * max(1, _BATCH_ROWS // per)
    for start in range(0, whole, batch):
        end = min(start + batch, whole)
        if per == 1:
            connection.exec_driver_sql(statement, list(rows[start:end]))
        else:
            connection.exec_driver_sql(
                statement, [tuple(flat(rows[i : i + per])) for i in range(start, end, per)]
            )
    if whole < len(rows):
        rest = rows[whole:]
        connection.exec_driver_sql(head + ", ".join([one] * len(rest)), tuple(flat(rest)))


# Parameters a statement may hold: SQLite's limit before 3.32 (since, 32,766; PostgreSQL's
# is 65,535).
_MOST_PARAMETERS = 999
_BATCH_ROWS = 20000  # rows handed to the driver at once


def _stored_names(profile: _Profile) -> list[list[str]]:
    """What the store keeps of a customer's names: the shown name, then each handle, each
    as [text, family name, given names...] (parsed: the catch-up reads the names of many
    customers it does not rescore, ``_named``)."""
    from app.names import parse_name

    return [
        [text, name.family, *name.given]
        for text, name in (
            (profile.name, profile.parsed),
            *((h, parse_name(h)) for h in sorted(profile.handles)),
        )
    ]


# Fields of a profile that are not evidence: its id, and what follows from the name
# (``parsed``) or is a cache (``names``, ``own_spelling``, ``quick``).
_NOT_COMPARED = frozenset({"id", "parsed", "names", "own_spelling", "quick"})


def _digest(profile: _Profile) -> str:
    """A digest of everything ``score_pair`` and the blocking read of a customer: two
    profiles with one digest score alike against anyone. Every field of ``_Profile`` but
    ``_NOT_COMPARED`` counts, so a field added to it later counts too. (A set or a mapping
    counts as its members' ``repr``s, sorted.)"""
    seen = "\0".join(map(_canonical, _compared_values()(profile)))
    return hashlib.blake2b(seen.encode(), digest_size=12).hexdigest()


def _canonical(value: Any) -> str:
    """A field's value as ``_digest`` reads it: its ``repr`` (which holds no NUL), a set's or
    a mapping's items sorted first (a set of strings as they are, of other things by their
    ``repr``s); empty, if it is."""
    if not value:
        return ""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return repr(sorted(value.items()))
    if isinstance(value, set | frozenset):
        if isinstance(next(iter(value)), str):
            return repr(sorted(value))
        return repr(sorted(map(repr, value)))
    return repr(value)


@cache
def _compared() -> tuple[str, ...]:
    """The fields of ``_Profile`` that ``_digest`` reads, in their order."""
    from app.suggestions import _Profile

    return tuple(f.name for f in fields(_Profile) if f.name not in _NOT_COMPARED)


@cache
def _compared_values() -> Callable[[_Profile], tuple[Any, ...]]:
    """The values of a profile's ``_compared`` fields, in their order."""
    get = attrgetter(*_compared())
    return get if len(_compared()) > 1 else lambda profile: (get(profile),)


PARALLEL_MIN_PAIRS = 20000  # fewer pairs are scored in this process
_SHARES = 8  # shares of the pairs a scorer: the last ones end close together
_job: tuple[Any, ...] | None = None  # what forked scorers read (inherited, not pickled)


def _scored(
    profiles: dict[int, _Profile],
    freq: _Frequencies,
    said: dict[Pair, set[str]],
    pairs: Iterable[Pair] | Any,
    meanwhile: Callable[[bool], None] | None = None,
    *,
    sift: Callable[[Any], list[Pair]] | None = None,
) -> list[dict[str, Any]]:
    """The rows to store for these pairs: those scored STORE_MIN_SCORE or more, with reasons.

    Many pairs (a rebuild) are scored by one forked process per core: the pairs are
    independent, and the children inherit the profiles instead of receiving them. This
    process calls ``meanwhile`` (if given) while they score, or before it scores itself:
    with True (the pairs are scored elsewhere) or False (here, next).

    ``sift``: if given, ``pairs`` are candidate codes (a numpy array, ``scorable``'s
    input) and ``sift`` of a share of them (``scorable`` with its other arguments) gives
    that share's pairs to score, in order: each scorer pre-filters its own share, so
    that the pre-filter runs on every core too (a rebuild's 2 million candidates at
    100k customers: 2.4 s in one process), and the rows are those of the sifted pairs.
    """
    wanted: Any = pairs if sift is not None else list(pairs)
    version, now = scorer_version(), utcnow()
    workers = _workers(len(wanted))
    if workers > 1:
        global _job
        _job = (profiles, freq, said, wanted, version, now, sift)
        step = -(-len(wanted) // (workers * _SHARES))
        bounds = [(i, min(i + step, len(wanted))) for i in range(0, len(wanted), step)]
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        try:
            try:
                parts = pool.map(_score_slice, bounds)  # the children start at once
            except OSError:
                parts = None  # no processes to be had: scored here
            if parts is not None:
                if meanwhile is not None:  # its errors are its own, not the pool's
                    meanwhile(True)
                    meanwhile = None
                try:
                    return [row for part in parts for row in part]
                except (OSError, BrokenProcessPool):
                    pass  # the children failed: scored here
        finally:
            pool.shutdown(cancel_futures=True)
            _job = None
    if meanwhile is not None:
        meanwhile(False)
    if sift is not None:
        wanted = sift(wanted)
    return _score(profiles, freq, said, wanted, version, now)


def _workers(pairs: int) -> int:
    """How many processes score ``pairs`` pairs (1: this one)."""
    if pairs < PARALLEL_MIN_PAIRS or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if sys.platform != "linux":
        return 1  # fork is unsafe beside macOS's frameworks; Windows has none
    if threading.active_count() > 1:
        return 1  # a fork beside other threads (the GUI's) may inherit a lock held forever
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def _score_slice(bounds: tuple[int, int]) -> list[dict[str, Any]]:
    assert _job is not None
    profiles, freq, said, wanted, version, now, sift = _job
    share = wanted[bounds[0] : bounds[1]]
    return _score(profiles, freq, said, share if sift is None else sift(share), version, now)


def _score(
    profiles: dict[int, _Profile],
    freq: _Frequencies,
    said: dict[Pair, set[str]],
    pairs: Iterable[Pair],
    version: str,
    now: Any,
) -> list[dict[str, Any]]:
    from app.suggestions import calibrated, raw_floor, score_pair

    rows: list[dict[str, Any]] = []
    floor = raw_floor(STORE_MIN_SCORE)  # a pair that cannot reach it is not scored in full
    for x, y in pairs:
        a, b = profiles[x], profiles[y]
        raw, reasons, against = score_pair(a, b, freq, said.get((x, y), ()), floor)
        score = calibrated(raw)
        if score >= STORE_MIN_SCORE and (reasons or against):
            rows.append(
                {
                    "customer_a": x,
                    "customer_b": y,
                    "score": score,
                    "reasons": reasons,
                    "against": against,
                    "name_a": a.name,
                    "name_b": b.name,
                    "version": version,
                    "computed_at": now,
                }
            )
    return rows


_PAIR_COLUMNS = (
    "customer_a",
    "customer_b",
    "score",
    "reasons",
    "against",
    "name_a",
    "name_b",
    "version",
    "computed_at",
)


def _insert_pairs(session: Session, rows: list[dict[str, Any]], *, together: bool = False) -> None:
    """Store scored pairs (``_score``'s rows) with the driver's executemany
    (``_insert_plain``): the reasons as ``JSONList`` stores them, the times as the
    column's type binds them (worked out once for each distinct time)."""
    rows.sort(key=lambda r: (r["customer_a"], r["customer_b"]))
    dialect = session.connection().dialect
    bind = _table(SuggestionPair).c.computed_at.type.bind_processor(dialect)
    times: dict[Any, Any] = {}
    for row in rows:
        if row["computed_at"] not in times:
            at = row["computed_at"]
            times[at] = bind(at) if bind is not None else at
    plain = [
        (
            r["customer_a"],
            r["customer_b"],
            r["score"],
            _json_texts(r["reasons"]),  # as JSONList stores it
            _json_texts(r["against"]),
            r["name_a"],
            r["name_b"],
            r["version"],
            times[r["computed_at"]],
        )
        for r in rows
    ]
    _insert_plain(session, SuggestionPair, _PAIR_COLUMNS, plain, together=together)


# --- the incremental step ------------------------------------------------------------------


class _Ordering:
    """Customers in one name order (``app.suggestions._name_orders``), for window pairs."""

    def __init__(self, keyed: list[tuple[str, int]]) -> None:
        self.keyed = keyed
        self.ranked = list(map(itemgetter(1), keyed))
        self.pos = dict(zip(self.ranked, range(len(self.ranked)), strict=True))

    @classmethod
    def of(
        cls, members: Iterable[int], orders: dict[int, Orders], which: int, *, named: bool
    ) -> _Ordering:
        """``named``: leave out customers without this order (the orders over everyone)."""
        return cls(sorted((orders[c][which], c) for c in members if not named or orders[c][which]))

    def changed(self, gone: Iterable[Entry], come: Iterable[Entry]) -> _Ordering:
        """This order without the places ``gone`` (each in it), with the places ``come``:
        for a block that a few customers left, joined or moved in, what ``of`` makes of
        its members as they were (a copy of the list changed in place, not sorted again:
        a fifth of the work for a block of 2,600 customers)."""
        keyed = self.keyed.copy()
        for entry in gone:
            del keyed[bisect_left(keyed, entry)]
        for entry in come:
            insort(keyed, entry)
        return _Ordering(keyed)

    def within(self, x: int, y: int, width: int) -> bool:
        i, j = self.pos.get(x), self.pos.get(y)
        return i is not None and j is not None and abs(i - j) <= width

    def neighbours(self, x: int, width: int) -> list[int]:
        i = self.pos.get(x)
        if i is None:
            return []
        return self.ranked[max(0, i - width) : i] + self.ranked[i + 1 : i + 1 + width]


def _window_changes(
    olds: Sequence[_Ordering],
    news: Sequence[_Ordering],
    entries: Iterable[tuple[int, tuple[str, int]]],
    dirty: set[int],
    width: int,
) -> Iterator[tuple[Pair, bool, bool]]:
    """Pairs of unchanged customers whose window membership differs between the old and
    the new orders (any of them), with (in an old window, in a new window).

    A pair's distance in an order changes only where a changed customer left or entered
    between them, so in the list where the two are neighbours its first customer sits at
    most ``width`` places before such a place, and its second at or after it. ``entries``
    are (order index, sort entry) of the changed customers, old and new.
    """
    seen: set[Pair] = set()
    for which, entry in entries:
        old, new = olds[which], news[which]
        for ordering, other in ((old, new), (new, old)):
            # The pairs this place lies between: those up to width places before where
            # the entry sorts, each with those after that place up to width places from
            # it; neighbours in this list, so the pair changed in this order if they are
            # not in the other list. (A pair on one side of the place keeps its distance
            # across it: if it changed, another changed place lies between its two.)
            ranked, place = ordering.ranked, other.pos
            i = bisect_left(ordering.keyed, entry)
            for at in range(max(0, i - width), min(i, len(ranked))):
                u = ranked[at]
                if u in dirty:
                    continue
                there_u = place.get(u)
                for v in ranked[i : at + 1 + width]:
                    if v in dirty:
                        continue
                    there_v = place.get(v)
                    if (
                        there_u is not None
                        and there_v is not None
                        and abs(there_u - there_v) <= width
                    ):
                        continue  # unchanged in this order; a change elsewhere is found there
                    pair = (u, v) if u < v else (v, u)
                    if pair in seen:
                        continue
                    seen.add(pair)
                    was = any(o.within(u, v, width) for o in olds)
                    now = any(o.within(u, v, width) for o in news)
                    if was != now:
                        yield pair, was, now


@dataclass
class Work:
    """What the last ``catch_up`` did (for tests and benchmarks): customers marked, those
    whose compared profile had changed (the others are only unmarked), pairs scored,
    profiles read beside the changed customers' own, and pairs bounded out unscored."""

    marked: int = 0
    changed: int = 0
    scored: int = 0
    profiles: int = 0
    bounded: int = 0  # changed customers' pairs left unscored: they cannot reach the floor


last_work = Work()


def _update(session: Session, marked: set[int], state: _State) -> dict[str, Any]:
    """Bring the stored pairs up to date for the changed customers ``marked``; returns
    what it worked with (its local names' values), for the caller to let go of (``_LetGo``)."""
    from app import suggestions as sx

    global last_work
    weak_kinds = sx._WEAK_KEYS
    mention_reads = suggestion_mentions.FirstReads.start(session, marked)  # (aside)
    fresh = sx._profiles(session, marked)
    # A customer marked by a write that changed nothing the suggestions compare (a new
    # message of a known customer, a recount) keeps its keys, orders and pairs.
    digests = {cid: _digest(p) for cid, p in fresh.items()}
    same = {cid for cid, d in _stored_digests(session, fresh).items() if d == digests[cid]}
    dirty = marked - same
    fresh = {cid: p for cid, p in fresh.items() if cid not in same}
    new_keys = {cid: sx._block_keys(p) for cid, p in fresh.items()}
    new_orders = {cid: sx._name_orders(p) for cid, p in fresh.items()}
    # The name orders of the changed customers and of the members of the oversized blocks
    # looked at, as stored (``before``) and after the catch-up (``after``): read as needed.
    orders = _OrdersRead(session, dirty, new_orders)
    orders.need(dirty)
    before, after = orders.before, orders.after
    old_keys = _stored_keys(session, dirty)
    in_play: set[str] = set()
    for own in (*old_keys.values(), *new_keys.values()):
        in_play |= own
    # The blocks' members (and the owner's contact points, for the mentions) read aside
    # while the changed customers' own features and rows are made.
    blocks = _BlocksRead.start(session, in_play)
    fresh_features = _fresh_features(fresh, state.freq)
    rows_of_fresh = [  # (written at the end)
        (*row, *fresh_features[row[0]])
        for row in _customer_rows(fresh, new_keys, new_orders, digests=digests)
    ]
    members_before = blocks.members()
    # The name orders over everyone, read around the changed customers' places (aside,
    # while the blocks are looked at).
    everyone = _NameLists(
        session, dirty, {c: before[c] for c in dirty if c in before}, new_orders, sx.NAME_WINDOW
    )
    members_after = {k: m - dirty for k, m in members_before.items()}
    for cid, own in new_keys.items():
        for k in own:
            members_after.setdefault(k, set()).add(cid)

    ranks_after: dict[str, list[_Ordering]] = {}

    def ranked_after(key: str, members: set[int]) -> list[_Ordering]:
        if key not in ranks_after:
            orders.need(members)
            ranks_after[key] = [
                _Ordering.of(members, after, w, named=False) for w in range(sx._NAME_ORDERS)
            ]
        return ranks_after[key]

    gained: dict[Pair, bool] = {}  # unchanged pairs that gained a source → a strong one?
    lost: set[Pair] = set()

    def note(pair: Pair, was: bool, now: bool, strong: bool) -> None:
        if now and not was:
            gained[pair] = gained.get(pair, False) or strong
        elif was and not now:
            lost.add(pair)

    entries_of = _entries(dirty, before, after)
    # Only the oversized blocks are looked at (a key whose block is small before and after
    # brings no pair of unchanged customers, nor takes one away); their members' orders are
    # read at once, aside while the mentions are counted.
    oversized_keys = sorted(
        key
        for key in in_play
        if len(members_before.get(key, ())) > sx.MAX_BLOCK
        or len(members_after.get(key, ())) > sx.MAX_BLOCK
    )
    oversized = orders.need_aside(
        c
        for key in oversized_keys
        for m in (members_before.get(key, set()), members_after.get(key, set()))
        if len(m) > sx.MAX_BLOCK
        for c in m
    )
    known = _Known(session, dirty, fresh)

    # Mentions: recounted for the marked customers' events (a new owner of a number can
    # silence a mention), or over everyone when the owner's contact points changed (they
    # leave their customers unmarked) or a customer was erased.
    own_points = blocks.own()
    said = None
    if own_points == state.own:
        said = suggestion_mentions.update(session, marked, state.mentions, known, mention_reads)
    if said is None:
        said = sx._mentions(session, known.everyone())
    changed_said = {
        pair
        for pair in set(said) | set(state.mentions)
        if said.get(pair) != state.mentions.get(pair)
        and pair[0] not in dirty
        and pair[1] not in dirty
    }
    said_of: dict[int, list[Pair]] = defaultdict(list)
    for pair in said:
        said_of[pair[0]].append(pair)
        said_of[pair[1]].append(pair)
    oversized()
    # The changed customers' candidates, in the new state (those of their mentions below).
    strong_pairs: set[Pair] = set()
    weak_pairs: set[Pair] = set()
    partners: set[int] = set()
    for cid, own in new_keys.items():
        for key in own:
            members = members_after[key]
            if len(members) < 2:
                continue
            into = weak_pairs if key.partition(":")[0] in weak_kinds else strong_pairs
            others: set[int]
            if len(members) <= sx.MAX_BLOCK:
                others = members
            else:
                others = {
                    y for o in ranked_after(key, members) for y in o.neighbours(cid, sx.WINDOW)
                }
            into.update((cid, y) if cid < y else (y, cid) for y in others if y != cid)
            partners |= others
        neighbours = everyone.neighbours(cid)
        weak_pairs.update((cid, y) if cid < y else (y, cid) for y in neighbours)
        partners |= neighbours
    # Their partners' features, read aside while the oversized blocks and the name lists'
    # changes are looked at (``_sifted``).
    partners_read = _PartnersRead.start(session, partners - fresh.keys())
    for key in oversized_keys:
        old_m, new_m = members_before.get(key, set()), members_after.get(key, set())
        old_small, new_small = len(old_m) <= sx.MAX_BLOCK, len(new_m) <= sx.MAX_BLOCK
        if old_m == new_m and all(before.get(c) == after.get(c) for c in dirty & old_m):
            continue  # the same members in the same places (their orders stayed): the same
        strong = key.partition(":")[0] not in weak_kinds
        orders.need(old_m)
        news = [] if new_small else ranked_after(key, new_m)
        olds: list[_Ordering] = []
        if not old_small and news:  # (the unchanged members alike: the changed ones moved)
            moved_now, moved_then = dirty & new_m, dirty & old_m
            olds = [
                o.changed(
                    [(after[c][w], c) for c in moved_now], [(before[c][w], c) for c in moved_then]
                )
                for w, o in enumerate(news)
            ]
        elif not old_small:
            olds = [_Ordering.of(old_m, before, w, named=False) for w in range(sx._NAME_ORDERS)]
        if old_small or new_small:  # the block crossed MAX_BLOCK
            for pair in combinations(sorted(old_m - dirty), 2):
                was = old_small or any(o.within(*pair, sx.WINDOW) for o in olds)
                now = new_small or any(o.within(*pair, sx.WINDOW) for o in news)
                note(pair, was, now, strong)
            continue
        mine = [(w, e) for cid in dirty & (old_m | new_m) for w, e in entries_of[cid]]
        for pair, was, now in _window_changes(olds, news, mine, dirty, sx.WINDOW):
            note(pair, was, now, strong)
    # The name orders over everyone (read around the changed customers' places: above).
    for pair, was, now in everyone.changes():
        note(pair, was, now, False)
    for cid in new_keys:  # (and their mentions)
        strong_pairs.update(said_of.get(cid, ()))

    # Only the pairs that may reach the stored floor are scored: the others (most) are
    # bounded from what the store keeps of the partner, before the names of the weak
    # ones are compared (a pair bounded out is not stored whether it is a candidate or not).
    candidates = strong_pairs | weak_pairs
    reachable, bounded = _sifted(
        session, candidates, fresh_features, said, state.freq, partners_read
    )
    gained_strong = {p for p, strong in gained.items() if strong}
    to_touch = (weak_pairs - strong_pairs) & reachable
    to_touch |= {p for p, strong in gained.items() if not strong}
    light = _light_profiles(session, {c for p in to_touch for c in p}, fresh)
    parts: dict[int, frozenset[str]] = {}
    touching = {p for p in to_touch if sx._touching(light[p[0]], light[p[1]], parts)}
    # (the unchanged customers' pairs among them: the changed customers' pairs all have
    # one of them, and are deleted with their rows)
    theirs = gained_strong | {p for p in gained if p in touching}
    score_these = strong_pairs | (weak_pairs & touching) | theirs

    # Stored pairs of unchanged customers that lost a source, and pairs whose mentions
    # changed: are they still candidates?
    stored = _stored_pairs(session, lost | changed_said)
    recheck = (lost & stored) | changed_said
    recheck -= score_these
    keep = _still_candidates(session, recheck, members_after, ranked_after, everyone, said, light)
    score_these |= keep
    theirs |= keep
    drop = recheck - keep

    # Only the pairs that may reach the floor are scored, and only their customers'
    # profiles read (the pairs of unchanged customers are not bounded).
    scoring = (score_these & reachable) | (score_these - candidates)
    needed = {c for p in scoring for c in p} - set(fresh)
    profiles = {**fresh, **sx._profiles(session, needed)}
    to_score = sorted(p for p in scoring if p[0] in profiles and p[1] in profiles)
    last_work = Work(len(marked), len(dirty), len(to_score), len(needed), bounded)
    rows = _scored(profiles, state.freq, said, to_score)

    # Write: the changed customers' pairs, keys and orders; the re-examined pairs.
    with _roomy_cache(session):
        _write_update(session, dirty, same, old_keys, new_keys, rows_of_fresh)
        _delete_pairs(session, drop | theirs)
        _insert_pairs(session, rows)
        # The frequencies stay those of the last full build: only the mentions are written.
        session.execute(
            update(SuggestionState)
            .where(SuggestionState.id == _STATE_ID)
            .values(mentions=_dump_mentions(said, own_points))
        )
    work = locals()
    del work["session"]  # (the caller's: not let go of on another thread)
    return work


@contextmanager
def _roomy_cache(session: Session) -> Iterator[None]:
    """SQLite's page cache made room for the catch-up's writes, as it was again after.

    They change rows all over big tables (some 9,000 pages after an import of 1,000
    records), more than the default cache of 2 MB holds: SQLite then writes changed pages
    to the log before the commit, and reads some back. The reads before them keep the small
    cache, whose pages are used again (each new page of a bigger one is fresh memory)."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    was = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size={-_WRITE_CACHE_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size={int(-2000 if was is None else was)}")


_WRITE_CACHE_KIB = 64 * 1024  # the catch-up's page cache while it writes


def _write_update(
    session: Session,
    dirty: set[int],
    same: set[int],
    old_keys: dict[int, set[str]],
    new_keys: dict[int, set[str]],
    rows: list[tuple[Any, ...]],
) -> None:
    """The changed customers' rows written again (their pairs, keys and orders deleted,
    then written as they are now: ``rows``, with their stored features), and the marks of
    the unchanged ones taken away."""
    ids = sorted(dirty)
    # Each row by its key, one statement run for many rows with the driver's executemany
    # (after an import of 1,000 records, 0.012 s; SQLAlchemy's statements with lists of
    # ids, 0.017-0.021 s).
    _delete_each(session, SuggestionPair, "customer_a", ids)
    _delete_each(session, SuggestionPair, "customer_b", ids)
    # Only the key rows the customer lost (its kept keys stay, and are not written again);
    # each by its primary key (a list of keys beside a list of customers made SQLite try
    # every combination of the two).
    lost = [(k, c) for c in ids for k in sorted(old_keys.get(c, set()) - new_keys.get(c, set()))]
    _delete_each(session, CustomerBlockKey, ("key", "customer_id"), lost)
    _delete_each(session, SuggestionCustomer, "customer_id", ids)
    _delete_each(session, SuggestionDirty, "customer_id", sorted(dirty | same))
    _write_customers(session, new_keys, old_keys, rows)


class _BlocksRead:
    """The members of the blocks the catch-up looks at (``_members``) and the owner's
    contact points (``_own_identities``), read aside (``suggestions._Aside``) while it
    goes on: 53,000 members of 11,000 blocks after an import of 1,000 records took the
    session 0.05-0.08 s, and take this one 0.01 s to decode; the owner's points, a scan of
    every contact point, 0.02 s. Read through the session if they could not be."""

    _MEMBERS = (
        "SELECT json_group_object(key, json(ids)) FROM (SELECT key, json_group_array("
        "customer_id) AS ids FROM customer_block_key WHERE key IN (SELECT value FROM "
        "json_each(?)) GROUP BY key)"
    )
    _OWN = "SELECT json_group_array(id) FROM identity WHERE is_own IS 1"

    def __init__(self, session: Session, keys: set[str], aside: sx._Aside | None) -> None:
        self.session = session
        self.keys = keys
        self._aside = aside

    @classmethod
    def start(cls, session: Session, keys: set[str]) -> _BlocksRead:
        from app import suggestions as sx

        statements = [(cls._MEMBERS, (json.dumps(sorted(keys)),)), (cls._OWN, ())]
        return cls(session, keys, sx._Aside.start(session, statements, "the blocks' members"))

    def members(self) -> dict[str, set[int]]:
        """The members of the blocks of the keys asked about, by key."""
        row = self._aside.row(0) if self._aside is not None else None
        if row is None:
            return _members(self.session, self.keys)
        return {key: set(ids) for key, ids in json.loads(row[0]).items()}

    def own(self) -> list[int]:
        """The owner's contact points (``_own_identities``)."""
        row = self._aside.row(1) if self._aside is not None else None
        return sorted(json.loads(row[0])) if row is not None else _own_identities(self.session)


class _OrdersRead:
    """Customers' name orders as stored (``before``) and as the catch-up leaves them
    (``after``: the changed customers' new ones), read from the store as needed."""

    _STATEMENT = (
        "SELECT json_group_array(json_array(customer_id, order0, order1, order2)) "
        "FROM suggestion_customer WHERE customer_id IN (SELECT value FROM json_each(?))"
    )

    def __init__(self, session: Session, dirty: set[int], new: dict[int, Orders]) -> None:
        self.session = session
        self.dirty = dirty
        self.before: dict[int, Orders] = {}
        self.after: dict[int, Orders] = dict(new)
        self.read: set[int] = set()

    def need_aside(self, ids: Iterable[int]) -> Callable[[], None]:
        """The stored orders of these customers read aside (``suggestions._Aside``) while
        the catch-up goes on: call the answer to have them (read through the session if
        they could not be read aside)."""
        from app import suggestions as sx

        wanted = set(ids) - self.read
        if not wanted:
            return lambda: None
        aside = sx._Aside.start(
            self.session,
            [(self._STATEMENT, (json.dumps(sorted(wanted)),))],
            "the oversized blocks' orders",
        )

        def done() -> None:
            row = aside.row(0) if aside is not None else None
            if row is None:
                self.need(wanted)
                return
            self.read |= wanted
            for cid, *stored in json.loads(row[0]):
                self._keep(cid, (stored[0], stored[1], stored[2]))

        return done

    def _keep(self, cid: int, stored: Orders) -> None:
        self.before[cid] = stored
        if cid not in self.dirty:
            self.after[cid] = stored

    def need(self, ids: Iterable[int]) -> None:
        """Read the stored orders of these customers (those not read yet)."""
        wanted = set(ids) - self.read
        self.read |= wanted
        columns = ("customer_id", "order0", "order1", "order2")
        for cid, o0, o1, o2 in _read_in(
            self.session, SuggestionCustomer, columns, "customer_id", wanted
        ):
            self.before[cid] = (o0, o1, o2)
            if cid not in self.dirty:
                self.after[cid] = (o0, o1, o2)


class _Known:
    """The customers the suggestions compare once the catch-up is done (a container):
    those stored but the changed ones, and the changed ones that still exist. The
    stored ones are asked for as needed, one by one or many in a query (``among``: the
    mentions of a catch-up ask about a few hundred customers), or read all at once
    (``everyone``) when many are."""

    _ONE_BY_ONE = 2000  # stored customers asked about before all are read

    def __init__(self, session: Session, dirty: set[int], fresh: Iterable[int]) -> None:
        self.session = session
        self.dirty = dirty
        self.fresh = set(fresh)
        self.stored: set[int] | None = None  # every stored customer, once read
        self.asked: dict[int, bool] = {}  # stored customers asked about (``among``)

    def everyone(self) -> _Known:
        """This container, with every stored customer read (for many questions)."""
        if self.stored is None:
            self.stored = {
                cid
                for (cid,) in self.session.connection().exec_driver_sql(
                    "SELECT customer_id FROM suggestion_customer"
                )
            }
        return self

    def among(self, ids: Iterable[int]) -> set[int]:
        """Those of these customers this container holds, the stored ones not asked about
        yet read in one query (``in`` asks about one)."""
        wanted = set(ids)
        found = wanted & self.fresh
        rest = wanted - self.fresh - self.dirty
        if self.stored is None:
            new = [c for c in rest if c not in self.asked]
            if len(self.asked) + len(new) >= self._ONE_BY_ONE:
                self.everyone()
            elif new:
                columns = ("customer_id",)
                rows = _read_in(self.session, SuggestionCustomer, columns, "customer_id", new)
                stored = {cid for (cid,) in rows}
                self.asked.update((c, c in stored) for c in new)
        if self.stored is not None:
            return found | (rest & self.stored)
        return found | {c for c in rest if self.asked[c]}

    def __contains__(self, cid: object) -> bool:
        return isinstance(cid, int) and cid in self.among((cid,))


Entry = tuple[str, int]  # (a customer's value in a name order, its id): a place in the order
_TERMS = 200  # subqueries per statement (SQLite takes 500 in one compound statement)


class _NameLists:
    """The name orders over every customer (``_name_orders``; a customer without one is
    not in that list), as stored and as the catch-up leaves them, read around the changed
    customers' places through the stored orders' indexes (``ORDER BY ... LIMIT``) instead
    of being read and sorted whole.

    The new lists are the stored ones without the changed customers' old places, plus
    their new ones: so for the unchanged customers near a changed place, their distance
    in either list is the unchanged customers between them, plus the changed customers'
    old (or new) places between them.
    """

    def __init__(
        self,
        session: Session,
        dirty: set[int],
        old: dict[int, Orders],
        new: dict[int, Orders],
        width: int,
    ) -> None:
        from app.suggestions import _NAME_ORDERS

        self.session = session
        self.dirty = dirty
        self.width = width
        self.orders = range(_NAME_ORDERS)
        self.new = new
        # The changed customers' places in each order, old and new.
        self.olds = [sorted((o[w], c) for c, o in old.items() if o[w]) for w in self.orders]
        self.news = [sorted((o[w], c) for c, o in new.items() if o[w]) for w in self.orders]
        # Around each of those places, the nearest unchanged customers before it (nearest
        # first) and after it: ``width`` of each at least, fewer at an end of the list
        # (``near``). Read on a second connection while this one goes on, if it may.
        self._places = [sorted(set(self.olds[w]) | set(self.news[w])) for w in self.orders]
        self._aside = _NearRead.start(session, self._places, width + 1)
        self._near: list[dict[Entry, tuple[list[Entry], list[Entry]]]] | None = None

    @property
    def near(self) -> list[dict[Entry, tuple[list[Entry], list[Entry]]]]:
        """For each order, each changed place's nearest unchanged customers (before it,
        nearest first; after it)."""
        if self._near is None:
            first = self._aside.rows() if self._aside is not None else None
            self._near = [
                self._around(w, self._places[w], None if first is None else first[w])
                for w in self.orders
            ]
        return self._near

    def _around(
        self,
        which: int,
        places: list[Entry],
        first: dict[tuple[Entry, str], list[Entry]] | None = None,
    ) -> dict[Entry, tuple[list[Entry], list[Entry]]]:
        """``first``: the first reads (``width + 1`` each way), if made already."""
        found: dict[Entry, tuple[list[Entry], list[Entry]]] = {}
        # One more than the width at first: a changed customer among them (one in a
        # hundred or so) leaves too few, and that place is read again further.
        limit = self.width + 1
        wanted = places
        rows = first
        while wanted:
            if rows is None:
                rows = self._rows(which, [(e, d, limit) for e in wanted for d in "<>"])
            short: list[Entry] = []
            for place in wanted:
                ahead = sorted(rows[place, "<"], reverse=True)
                behind = sorted(rows[place, ">"])
                found[place] = (
                    [e for e in ahead if e[1] not in self.dirty],
                    [e for e in behind if e[1] not in self.dirty],
                )
                if any(
                    len(kept) < self.width and len(read) == limit
                    for kept, read in zip(found[place], (ahead, behind), strict=True)
                ):
                    short.append(place)  # many changed customers there: read further
            wanted, limit, rows = short, limit * 4, None
        return found

    def _rows(
        self, which: int, asked: list[tuple[Entry, str, int]]
    ) -> dict[tuple[Entry, str], list[Entry]]:
        """For each (place, "<" or ">", limit): the stored places before it (up to limit,
        customers without this order left out) or after it."""
        found: dict[tuple[Entry, str], list[Entry]] = {(e, d): [] for e, d, _n in asked}
        terms: list[tuple[str, tuple[Any, ...]]] = []
        for place, direction, limit in asked:
            turn = " DESC" if direction == "<" else ""
            terms.append(
                (
                    f"({{col}}, {{cid}}) {direction} ({{mark}}, {{mark}}) AND {{col}} <> ''"
                    f" ORDER BY {{col}}{turn}, {{cid}}{turn} LIMIT {int(limit)}",
                    place,
                )
            )
        for tag, value, cid in _union(self.session, which, terms):
            place, direction, _limit = asked[tag]
            found[place, direction].append((value, cid))
        return found

    def changes(self) -> Iterator[tuple[Pair, bool, bool]]:
        """Pairs of unchanged customers whose distance in some order crossed the width,
        with (within it before, within it now) in that order. A pair's distance changes
        only where a changed customer's place lies between its two; within the width in
        either list, each of the two is among the ``width`` unchanged customers nearest
        that place on its side."""
        width = self.width
        for w in self.orders:
            olds, news = self.olds[w], self.news[w]
            # A place in both lists (a changed customer whose value in this order stayed)
            # counts alike before and now: a pair whose distance changed has a place of
            # one list alone between its two, and is found there.
            both = set(olds).intersection(news)
            seen: set[Pair] = set()
            for place, (ahead, behind) in self.near[w].items():
                if place in both:
                    continue
                # (each one's place among the changed ones, looked up once, not once a pair)
                ahead, behind = ahead[:width], behind[:width]
                old_u = [bisect_left(olds, u) for u in ahead]
                new_u = [bisect_left(news, u) for u in ahead]
                old_v = [bisect_left(olds, v) for v in behind]
                new_v = [bisect_left(news, v) for v in behind]
                for i, u in enumerate(ahead):
                    for j in range(min(width - i, len(behind))):
                        v = behind[j]
                        pair = (u[1], v[1]) if u[1] < v[1] else (v[1], u[1])
                        if pair in seen:
                            continue
                        seen.add(pair)
                        was = i + j + old_v[j] - old_u[i] < width
                        now = i + j + new_v[j] - new_u[i] < width
                        if was != now:
                            yield pair, was, now

    def neighbours(self, cid: int) -> set[int]:
        """A changed customer's ``width`` neighbours on each side in the new orders."""
        found: set[int] = set()
        width = self.width
        for w in self.orders:
            value = self.new[cid][w]
            if not value:
                continue
            place = (value, cid)
            news = self.news[w]
            at = bisect_left(news, place)
            ahead, behind = self.near[w][place]
            found.update(
                c for _v, c in sorted([*ahead[:width], *news[max(0, at - width) : at]])[-width:]
            )
            found.update(
                c for _v, c in sorted([*behind[:width], *news[at + 1 : at + 1 + width]])[:width]
            )
        return found

    def within(self, pairs: Iterable[Pair]) -> set[Pair]:
        """Which of these pairs of unchanged customers are ``width`` places apart or less
        in some new order (counted with the stored places between them)."""
        wanted = list(pairs)
        stored = _OrdersRead(self.session, self.dirty, {})
        stored.need({c for p in wanted for c in p})
        found: set[Pair] = set()
        for w in self.orders:
            olds, news = self.olds[w], self.news[w]
            asked: list[tuple[Pair, Entry, Entry, int]] = []
            for a, b in wanted:
                if (a, b) in found or a not in stored.after or b not in stored.after:
                    continue
                ea, eb = (stored.after[a][w], a), (stored.after[b][w], b)
                if not ea[0] or not eb[0]:
                    continue
                low, high = min(ea, eb), max(ea, eb)
                changed_old = bisect_left(olds, high) - bisect_left(olds, low)
                asked.append(((a, b), low, high, self.width + changed_old))
            terms = [
                (
                    "({col}, {cid}) > ({mark}, {mark}) AND ({col}, {cid}) < "
                    "({mark}, {mark}) ORDER BY {col}, {cid} LIMIT {mark}",
                    (*low, *high, int(limit)),  # (the limit a parameter: one text for all)
                )
                for _pair, low, high, limit in asked
            ]
            between = [0] * len(asked)
            for tag, _value, _cid in _union(self.session, w, terms):
                between[tag] += 1
            for (pair, low, high, limit), stored_between in zip(asked, between, strict=True):
                if stored_between >= limit:
                    continue  # the width at least once the changed places are taken out
                changed_old = bisect_left(olds, high) - bisect_left(olds, low)
                changed_new = bisect_left(news, high) - bisect_left(news, low)
                if stored_between - changed_old + changed_new < self.width:
                    found.add(pair)
        return found


class _NearRead:
    """The first reads of ``_NameLists._around`` (the stored places nearest each changed
    place in each name order, ``limit`` each way) made aside (``suggestions._Aside``) while the
    catch-up goes on: a statement an order, each place's two reads its subqueries, the
    rows one JSON text. At 100k customers, some 1,600 places an order took the session
    0.1-0.13 s to read in all, and take it a few hundredths to decode."""

    # (``json()``: the subquery's list nested as JSON, not as a text of JSON)
    _NEAREST = (
        "json((SELECT json_group_array(json_array(v, c)) FROM (SELECT {col} AS v, "
        "customer_id AS c FROM suggestion_customer WHERE ({col}, customer_id) {direction} "
        "(json_extract(p.value, '$[0]'), json_extract(p.value, '$[1]')) AND {col} <> '' "
        "ORDER BY {col}{turn}, customer_id{turn} LIMIT {limit})))"
    )

    def __init__(self, aside: sx._Aside, places: list[list[Entry]]) -> None:
        self._aside = aside
        self._places = places

    @classmethod
    def start(cls, session: Session, places: list[list[Entry]], limit: int) -> _NearRead | None:
        """The reads begun (None: not a SQLite file's write transaction that has written
        nothing; ``_NameLists`` reads them itself)."""
        from app import suggestions as sx

        statements = [
            (
                "SELECT json_group_array(json_array(p.key, {}, {})) FROM json_each(?) AS p".format(
                    *(
                        cls._NEAREST.format(
                            col=f"order{which}", direction=direction, turn=turn, limit=int(limit)
                        )
                        for direction, turn in (("<", " DESC"), (">", ""))
                    )
                ),
                (json.dumps(wanted),),
            )
            for which, wanted in enumerate(places)
        ]
        aside = sx._Aside.start(session, statements, "the name lists")
        return None if aside is None else cls(aside, places)

    def rows(self) -> list[dict[tuple[Entry, str], list[Entry]]] | None:
        """For each order, the stored places before ("<") and after (">") each changed
        place (None: the reads failed; make them through the session)."""
        found: list[dict[tuple[Entry, str], list[Entry]]] = []
        for which, places in enumerate(self._places):
            got = self._aside.row(which)
            if got is None:
                return None
            text = got[0]
            rows: dict[tuple[Entry, str], list[Entry]] = {}
            for index, *both in json.loads(text):
                place = places[index]
                for direction, read in zip("<>", both, strict=True):
                    # (as JSON; as a text of JSON, were ``json()`` not to mark it so)
                    entries = read if isinstance(read, list) else json.loads(read)
                    rows[place, direction] = [(v, c) for v, c in entries]
            if len(rows) != 2 * len(places):
                return None  # (not one answer a place: read them through the session)
            found.append(rows)
        return found


def _union(
    session: Session, which: int, terms: list[tuple[str, tuple[Any, ...]]]
) -> Iterator[tuple[int, str, int]]:
    """(term's index, value, customer id) of the stored customers that each term finds in
    name order ``which``: a term is the WHERE ... ORDER BY ... LIMIT of a query on the
    order's index, with {col}, {cid} and {mark} (a parameter) to fill in. The terms run
    as subqueries joined by UNION ALL, many in a statement."""
    connection = session.connection()
    quote = connection.dialect.identifier_preparer.quote
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    col, cid = quote(f"order{which}"), quote("customer_id")
    table = quote(SuggestionCustomer.__tablename__)
    for start in range(0, len(terms), _TERMS):
        parts: list[str] = []
        params: list[Any] = []
        # Each statement's tags count from 0, so that statements of the same terms have
        # the same text and the driver prepares it once (its statement cache).
        for tag, (term, values) in enumerate(terms[start : start + _TERMS]):
            where = term.format(col=col, cid=cid, mark=mark)
            parts.append(
                f"SELECT {tag} AS tag, {col}, {cid} FROM "
                f"(SELECT {col}, {cid} FROM {table} WHERE {where}) AS t{tag}"
            )
            params.extend(values)
        rows = _driver_rows(session, " UNION ALL ".join(parts), tuple(params))
        yield from ((start + tag, value, customer) for tag, value, customer in rows)


def _entries(
    dirty: set[int], before: dict[int, Orders], after: dict[int, Orders]
) -> dict[int, list[tuple[int, tuple[str, int]]]]:
    """Each changed customer's places in the three orders, old and new."""
    found: dict[int, list[tuple[int, tuple[str, int]]]] = {}
    for cid in dirty:
        places: list[tuple[int, tuple[str, int]]] = []
        for orders in (before, after):
            if cid in orders:
                places.extend((w, (value, cid)) for w, value in enumerate(orders[cid]))
        found[cid] = places
    return found


def _read_in(
    session: Session, model: type[Base], columns: Sequence[str], by: str, values: Iterable[Any]
) -> Iterator[tuple[Any, ...]]:
    """Plain rows (the driver's values: JSON as text) of these columns of the rows whose
    column ``by`` is one of ``values``, read in chunks with the driver's own statements
    (the catch-up reads many chunks, and SQLAlchemy's expansion of each IN list cost more
    than the read)."""
    connection = session.connection()
    quote = connection.dialect.identifier_preparer.quote
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    head = (
        f"SELECT {', '.join(map(quote, columns))} FROM {quote(model.__tablename__)} "
        f"WHERE {quote(by)} IN "
    )
    wanted = sorted(set(values))
    for start in range(0, len(wanted), _CHUNK):
        chunk = tuple(wanted[start : start + _CHUNK])
        statement = head + f"({', '.join([mark] * len(chunk))})"
        yield from _driver_rows(session, statement, chunk)


def _driver_rows(session: Session, statement: str, params: Sequence[Any]) -> list[Any]:
    """The rows of a query run on the driver's own cursor in the session's transaction:
    plain tuples. (SQLAlchemy's row objects cost about as much as the driver's read: the
    features of the catch-up's 39,000 partners took 0.13-0.18 s with them, 0.08 s
    without.)"""
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(statement, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _stored_keys(session: Session, ids: Iterable[int]) -> dict[int, set[str]]:
    columns = ("customer_id", "keys")
    rows = list(_read_in(session, SuggestionCustomer, columns, "customer_id", ids))
    return {
        cid: set(keys)
        for (cid, _text), keys in zip(rows, _decoded([t for _c, t in rows]), strict=True)
    }


def _stored_digests(session: Session, ids: Iterable[int]) -> dict[int, str]:
    columns = ("customer_id", "digest")
    return dict(_read_in(session, SuggestionCustomer, columns, "customer_id", ids))


def _members(session: Session, keys: Iterable[str]) -> dict[str, set[int]]:
    found: dict[str, set[int]] = defaultdict(set)
    for key, cid in _read_in(session, CustomerBlockKey, ("key", "customer_id"), "key", keys):
        found[key].add(cid)
    return dict(found)


def _stored_pairs(session: Session, pairs: set[Pair]) -> set[Pair]:
    """Which of these pairs are stored: the stored pairs of their first customers, read by
    the index (a list of pairs, as (a, b) IN (VALUES ...), made SQLite read them all)."""
    columns = ("customer_a", "customer_b")
    firsts = {a for a, _b in pairs}
    return {
        (a, b)
        for a, b in _read_in(session, SuggestionPair, columns, "customer_a", firsts)
        if (a, b) in pairs
    }


def _delete_each(
    session: Session, model: type[Base], by: str | tuple[str, ...], values: Sequence[Any]
) -> None:
    """Delete the rows whose column ``by`` (or columns, with tuples of values) holds each of
    ``values``: one statement run for them all by the driver's executemany."""
    if not values:
        return
    connection = session.connection()
    quote = connection.dialect.identifier_preparer.quote
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    columns = (by,) if isinstance(by, str) else by
    where = " AND ".join(f"{quote(column)} = {mark}" for column in columns)
    rows = [(value,) for value in values] if isinstance(by, str) else list(values)
    connection.exec_driver_sql(f"DELETE FROM {quote(model.__tablename__)} WHERE {where}", rows)


def _delete_pairs(session: Session, pairs: set[Pair]) -> None:
    """Delete these pairs, each by its primary key, one statement run for them all (a list
    of pairs, as (a, b) IN (VALUES ...), made SQLite read the whole table for each list)."""
    _delete_each(session, SuggestionPair, ("customer_a", "customer_b"), sorted(pairs))


def _light_profiles(
    session: Session, ids: set[int], fresh: dict[int, _Profile]
) -> dict[int, _Profile]:
    """Profiles with names only (for ``_names_touch``), from what the store keeps."""
    found: dict[int, _Profile] = {cid: p for cid, p in fresh.items() if cid in ids}
    names: dict[str, PersonName] = {}
    for cid, shown in _read_in(
        session, SuggestionCustomer, ("customer_id", "names"), "customer_id", ids - set(found)
    ):
        found[cid] = _named(cid, json.loads(shown), names)
    return found


def _still_candidates(
    session: Session,
    pairs: set[Pair],
    members_after: dict[str, set[int]],
    ranked_after: Any,
    everyone: _NameLists,
    said: dict[Pair, set[str]],
    light: dict[int, _Profile],
) -> set[Pair]:
    """Which of these pairs of unchanged customers the blocking compares now."""
    from app import suggestions as sx

    if not pairs:
        return set()
    ids = {c for p in pairs for c in p}
    keys = _stored_keys(session, ids)
    shared_keys = {k for a, b in pairs for k in keys.get(a, set()) & keys.get(b, set())}
    members = {k: m for k, m in members_after.items() if k in shared_keys}
    members.update(_members(session, shared_keys - set(members)))
    light = {**light, **_light_profiles(session, ids - set(light), {})}
    found: set[Pair] = set()
    parts: dict[int, frozenset[str]] = {}
    windowed = everyone.within(pairs)
    for a, b in pairs:
        strong = (a, b) in said
        weak = (a, b) in windowed
        for key in keys.get(a, set()) & keys.get(b, set()):
            block = members.get(key, set())
            if len(block) <= sx.MAX_BLOCK:
                inside = True
            else:
                inside = any(o.within(a, b, sx.WINDOW) for o in ranked_after(key, block))
            if inside:
                if key.partition(":")[0] in sx._WEAK_KEYS:
                    weak = True
                else:
                    strong = True
        if strong or (weak and sx._touching(light[a], light[b], parts)):
            found.add((a, b))
    return found


# --- pairs that cannot reach the stored floor -------------------------------------------


def _fresh_features(fresh: dict[int, _Profile], freq: _Frequencies) -> dict[int, sx.Features]:
    """The changed customers' features as the store keeps them (``feature_rows``), by id."""
    from app import suggestions as sx

    return dict(zip(sorted(fresh), sx.feature_rows(sx.prefilter_columns(fresh, freq)), strict=True))


class _PartnersRead:
    """The stored features (``_sifted``) of the partners of some pairs, read aside
    (``suggestions._Aside``) while the catch-up goes on. Those of 39,000 partners took the session
    0.08-0.1 s, and take it 0.02-0.03 s to decode."""

    _STATEMENT = (
        "SELECT json_group_array(customer_id), group_concat(features, ''), "
        "json_group_array(sift), json_group_array(postcodes) FROM suggestion_customer "
        "WHERE customer_id IN (SELECT value FROM json_each(?)) AND length(features) = ?"
    )

    def __init__(self, aside: sx._Aside, ids: set[int], width: int) -> None:
        self.ids = ids
        self.width = width
        self._aside = aside

    @classmethod
    def start(cls, session: Session, ids: set[int]) -> _PartnersRead | None:
        """The read of these customers' features begun (None: not a SQLite file's write
        transaction that has written nothing; ``_sifted`` reads them itself)."""
        from app import suggestions as sx

        if not ids:
            return None
        width = sx.features_dtype().itemsize
        statements = [(cls._STATEMENT, (json.dumps(sorted(ids)), width))]
        aside = sx._Aside.start(session, statements, "the partners' features")
        return None if aside is None else cls(aside, ids, width)

    def columns(self) -> tuple[list[int], bytes, list[str], list[str]] | None:
        """The partners stored with features of the current width: their ids, their
        features one after the other, their sift and postcodes texts (None: the read
        failed; read them through the session)."""
        row = self._aside.row(0)
        if row is None:
            return None
        ids, joined, sifts, postcodes = row
        found = json.loads(ids)
        joined = joined or b""
        if len(joined) != self.width * len(found):
            return None  # (not as written: read them through the session)
        return found, joined, json.loads(sifts), json.loads(postcodes)


def _sifted(
    session: Session,
    pairs: set[Pair],
    fresh: dict[int, sx.Features],
    said: dict[Pair, set[str]],
    freq: _Frequencies,
    partners_read: _PartnersRead | None = None,
) -> tuple[set[Pair], int]:
    """The pairs (each of a changed customer) that may score the stored floor or more, and
    how many of them surely score below it: ``scorable``'s tests (``left_out_of``) on the
    features the store keeps of the changed customers' partners (``fresh``: the changed
    customers' own, as they are now), in columns, without reading their profiles. A pair
    with a customer whose features the store lacks is kept. ``partners_read``: the
    partners' features being read aside (those it was not asked for are read here)."""
    import numpy as np

    from app import suggestions as sx

    width = sx.features_dtype().itemsize
    # (each end's column made at once from the pairs taken apart: half the time of one
    # array filled from the pairs one id at a time)
    firsts, seconds = zip(*pairs, strict=True) if pairs else ((), ())
    ends = np.array(firsts + seconds, dtype=np.int64)
    codes = ends[: len(pairs)] << 32 | ends[len(pairs) :]
    rows = dict(fresh)
    partners = set(sx._distinct(ends).tolist()) - fresh.keys()
    # (ids, features joined, sifts, postcodes) of those read aside, then of the others
    aside = partners_read.columns() if partners_read is not None else None
    if partners_read is not None and aside is not None:
        partners -= partners_read.ids
    else:
        aside = [], b"", [], []
    wanted = ("customer_id", "features", "sift", "postcodes")
    read = _read_in(session, SuggestionCustomer, wanted, "customer_id", partners)
    rows.update((row[0], row[1:]) for row in read if len(row[1]) == width)
    here = sorted(rows)
    found = np.array(aside[0] + here, dtype=np.int64)
    order = np.argsort(found, kind="stable")
    known = found[order]
    told = np.isin(codes >> 32, known) & np.isin(codes & sx._LOW, known)
    unknown, codes = codes[~told], codes[told]
    out = np.zeros(len(codes), dtype=bool)
    if len(codes):
        # (bytes(): a driver's view of the features)
        joined = aside[1] + b"".join(bytes(rows[c][0]) for c in here)
        table = np.frombuffer(joined, dtype=sx.features_dtype())[order]
        places = order.tolist()
        sifts = aside[2] + [rows[c][1] for c in here]
        postcodes = aside[3] + [rows[c][2] for c in here]
        columns, evidence = sx.stored_prefilter_of(
            known.tolist(), table, [sifts[i] for i in places], [postcodes[i] for i in places]
        )
        floor = sx.raw_floor(STORE_MIN_SCORE)
        out = sx.left_out_of(codes, columns, evidence, freq, said, floor)
    kept = np.concatenate((codes[~out], unknown)).tolist()
    return {(code >> 32, code & sx._LOW) for code in kept}, int(out.sum())


def _decoded(texts: list[str]) -> list[Any]:
    """The JSON texts decoded, read as one JSON list (each text one JSON value)."""
    try:
        found = json.loads(f"[{','.join(texts)}]")
    except ValueError:
        found = None
    if not isinstance(found, list) or len(found) != len(texts):  # (not one value each)
        found = [json.loads(text) for text in texts]
    return found


def _named(cid: int, shown: list[list[str]], names: dict[str, PersonName]) -> _Profile:
    """A profile with names only, from the stored names (``_stored_names``: each already
    parsed; ``names`` keeps one ``PersonName`` per distinct text, so that the memo tables
    keyed by names find it again)."""
    from app.names import PersonName
    from app.suggestions import _Profile

    if not shown:
        return _Profile(cid, "", names.get("") or names.setdefault("", PersonName((), "")))
    parsed = _parsed(shown, names)
    profile = _Profile(cid, shown[0][0], parsed[0])
    profile.handles = {entry[0] for entry in shown[1:]}
    profile.names = [n for n in parsed if n.given or n.family]  # (those with tokens)
    return profile


def _parsed(shown: list[list[str]], names: dict[str, PersonName]) -> list[PersonName]:
    """The stored names (``_stored_names``) as ``PersonName``s, one per distinct text."""
    from app.names import PersonName

    found: list[PersonName] = []
    for text, family, *given in shown:
        name = names.get(text)
        if name is None:
            name = names[text] = PersonName(tuple(given), family)
        found.append(name)
    return found


# --- reading -------------------------------------------------------------------------------


def stored_suggestions(
    session: Session,
    *,
    min_score: float,
    limit: int | None = None,
    customer_id: int | None = None,
) -> list[Suggestion]:
    """The stored pairs scored ``min_score`` or more, best first, without rejected pairs
    (call ``catch_up`` first; ``min_score`` at least STORE_MIN_SCORE)."""
    from app.merges import rejected_pairs
    from app.suggestions import Suggestion

    rejected = rejected_pairs(session)
    stmt = (
        select(SuggestionPair)
        .where(SuggestionPair.score >= min_score)
        .order_by(SuggestionPair.score.desc(), SuggestionPair.customer_a, SuggestionPair.customer_b)
    )
    if customer_id is not None:
        stmt = stmt.where(
            or_(SuggestionPair.customer_a == customer_id, SuggestionPair.customer_b == customer_id)
        )
    if limit is not None:
        stmt = stmt.limit(limit + len(rejected))
    found: list[Suggestion] = []
    for row in session.scalars(stmt):
        if (row.customer_a, row.customer_b) in rejected:
            continue
        found.append(
            Suggestion(
                row.customer_a,
                row.customer_b,
                row.score,
                tuple(row.reasons),
                row.name_a,
                row.name_b,
                tuple(row.against),
            )
        )
        if limit is not None and len(found) >= limit:
            break
    return found


def stored_count(session: Session, *, min_score: float) -> int:
    """How many stored pairs score ``min_score`` or more, rejected pairs left out."""
    from app.merges import rejected_pairs

    scored = SuggestionPair.score >= min_score
    total = session.scalar(select(func.count()).select_from(SuggestionPair).where(scored)) or 0
    wanted = sorted(rejected_pairs(session))
    for start in range(0, len(wanted), _CHUNK):
        pair = tuple_(SuggestionPair.customer_a, SuggestionPair.customer_b)
        total -= (
            session.scalar(
                select(func.count())
                .select_from(SuggestionPair)
                .where(scored, pair.in_(wanted[start : start + _CHUNK]))
            )
            or 0
        )
    return int(total)
