"""Live updates: telling every open window that someone else changed the data.

A write says what it changed with ``changed(session, kind, customer_ids)`` (a note, a
merge, an import batch …); a write that says nothing but flushed rows counts as a change
to anyone. The two stores are watched differently:

- **PostgreSQL**: ``Database.session`` calls ``announce`` before it commits, which sends
  ``NOTIFY threadline_changes`` with a small JSON payload (``Change.as_json``). NOTIFY is
  transactional: a rolled-back or retried attempt announces nothing. ``Watcher`` keeps
  its own connection that ``LISTEN``s and hands each payload to a callback, within a few
  milliseconds of the commit.
- **SQLite** (one file shared by several processes: a CLI import while the window is
  open): no one can be notified across processes, so ``Watcher`` polls
  ``PRAGMA data_version`` on its own connection about once a second. The number moves
  whenever another connection commits; reading it costs one page-cache lookup, no table
  and no migration. It cannot say what changed, so the change is "anyone"
  (``customers`` None).

The watcher runs on its own thread and never touches Qt: ``ui/live.py`` turns its
callback into a signal for the window. A payload from this process's own database
(``origin``) is dropped: the window already refreshes after its own writes.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

if TYPE_CHECKING:
    from app.db import Database

log = logging.getLogger(__name__)

CHANNEL = "threadline_changes"
#: Seconds between two looks at ``PRAGMA data_version`` (and the listener's wake-ups).
POLL_SECONDS = 1.0
#: More customers than this in one change are sent as "anyone" (NOTIFY payloads are small).
MAX_IDS = 200
_KEY = "threadline_live"


@dataclass(frozen=True)
class Change:
    """What another writer committed.

    Attributes:
        kinds: what happened ("note", "merge", "split", "undo", "import", "change" …).
        customers: the customers concerned; None when it could be anyone.
        origin: the writing process's ``Database.origin`` ("" when unknown).
    """

    kinds: tuple[str, ...]
    customers: frozenset[int] | None
    origin: str = ""

    def concerns(self, customer_id: int | None) -> bool:
        """Whether the change may touch ``customer_id``'s timeline, profile or notes."""
        return customer_id is not None and (self.customers is None or customer_id in self.customers)

    def as_json(self) -> str:
        ids = None if self.customers is None else sorted(self.customers)
        return json.dumps({"kinds": list(self.kinds), "customers": ids, "origin": self.origin})

    @classmethod
    def from_json(cls, payload: str) -> Change:
        """The change in a NOTIFY payload; an unreadable one counts as a change to anyone."""
        try:
            data = json.loads(payload)
            ids = data.get("customers")
            return cls(
                tuple(str(k) for k in data.get("kinds") or ("change",)),
                None if ids is None else frozenset(int(i) for i in ids),
                str(data.get("origin") or ""),
            )
        except (ValueError, TypeError, AttributeError):
            return cls(("change",), None)


@dataclass
class _Pending:
    kinds: dict[str, None]
    customers: set[int] | None
    wrote: bool = False


def _pending(session: Session) -> _Pending:
    found = session.info.get(_KEY)
    if found is None:
        found = session.info[_KEY] = _Pending({}, set())
        event.listen(session, "after_flush", _flushed)
        event.listen(session, "do_orm_execute", _executed)
    assert isinstance(found, _Pending)
    return found


def _flushed(session: Session, _flush: UOWTransaction) -> None:
    if session.new or session.dirty or session.deleted:
        session.info[_KEY].wrote = True


def _executed(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_KEY].wrote = True


def track(session: Session) -> None:
    """Start noticing whether ``session`` writes (``Database.session`` calls this)."""
    _pending(session)


def changed(session: Session, kind: str, customers: Iterable[int] | None) -> None:
    """Record that this transaction changes ``customers`` (None: anyone) by ``kind``."""
    pending = _pending(session)
    pending.kinds.setdefault(kind, None)
    pending.wrote = True
    if customers is None or pending.customers is None:
        pending.customers = None
    else:
        pending.customers.update(customers)


def announce(session: Session, origin: str) -> None:
    """Send the transaction's change (if it wrote anything) with NOTIFY, before commit."""
    pending = session.info.get(_KEY)
    if not isinstance(pending, _Pending) or not pending.wrote:
        return
    customers = pending.customers
    if not pending.kinds:  # a write nobody described: it may concern anyone
        customers = None
    if customers is not None and len(customers) > MAX_IDS:
        customers = None
    change = Change(
        tuple(pending.kinds) or ("change",),
        None if customers is None else frozenset(customers),
        origin,
    )
    session.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {
            "channel": CHANNEL,
            "payload": change.as_json(),
        },
    )
    session.info.pop(_KEY, None)


class Watcher:
    """Watches a database for other writers' changes on a thread of its own.

    Args:
        db: the open database.
        callback: called on the watcher's thread with each ``Change``.
        poll_seconds: how often SQLite's ``data_version`` is read (and how long
            ``stop`` may wait).
    """

    def __init__(
        self,
        db: Database,
        callback: Callable[[Change], None],
        *,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._db = db
        self._callback = callback
        self._poll = poll_seconds
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="threadline-live", daemon=True)

    def start(self) -> Watcher:
        """Start watching; returns once the watcher listens (so no later change is missed)."""
        self._thread.start()
        self._ready.wait(timeout=10)
        return self

    def stop(self) -> None:
        """Stop watching and wait for the thread (at most about one poll)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._poll * 3 + 1)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def _run(self) -> None:
        delay = self._poll
        while not self._stop.is_set():
            try:
                if self._db.is_server:
                    self._listen()
                else:
                    self._watch_file()
                delay = self._poll
            except Exception as exc:  # the server went away: try again, ever more slowly
                log.warning("live updates paused: %s", exc)
                self._ready.set()
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)
                if not self._stop.is_set():
                    self._emit(Change(("change",), None))  # missed meanwhile: anyone

    def _emit(self, change: Change) -> None:
        if change.origin and change.origin == self._db.origin:
            return
        try:
            self._callback(change)
        except Exception:
            log.exception("a live-update callback failed")

    def _listen(self) -> None:
        raw = self._db.engine.raw_connection()
        conn: Any = raw.driver_connection
        raw.detach()  # this connection is the watcher's alone, never back in the pool
        try:
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
            self._ready.set()
            while not self._stop.is_set():
                for note in conn.notifies(timeout=self._poll):
                    self._emit(Change.from_json(note.payload))
                    if self._stop.is_set():
                        break
        finally:
            conn.close()

    def _watch_file(self) -> None:
        path = self._db.path
        if path is None:  # an in-memory or URI database: no other process can write to it
            self._ready.set()
            self._stop.wait()
            return
        con = sqlite3.connect(path, timeout=10, isolation_level=None)
        try:

            def version() -> int:
                return int(con.execute("PRAGMA data_version").fetchone()[0])

            seen = version()
            self._ready.set()
            while not self._stop.wait(self._poll):
                now = version()
                if now != seen:
                    seen = now
                    self._emit(Change(("change",), None))
        finally:
            con.close()
