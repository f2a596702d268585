"""A big catch-up of the stored merge suggestions, run in a child process.

Bringing the stored suggestions up to date (``app.suggestion_store.catch_up``) after the
scorer changed, on a database whose list was never built, or after many customers changed
is big work: a rebuild of the whole list takes minutes and a few hundred thousand objects
for a million events.
Run on a thread of the app's process, those objects and the collections they cause (a
full one overdue when the collector is switched back on) stall the window's event loop.
So the window's count of suggestions hands a big catch-up (``worth_a_child``) to a child
process with its own connection, and its worker thread only waits for the answer; small
ones stay in the process (starting a child costs about half a second).

The child is started with ``spawn`` (safe beside Qt's threads; in the frozen bundle the
executable's ``multiprocessing.freeze_support`` turns the spawned copy into the child, as
for the parse worker, ``app.parse_worker``). It gets the database's URL, with a team
server's password, through a pipe, never on a command line. The catch-up is one
transaction: stopping the child (the window closed, or the app exited) leaves the database
as it was, and the next count starts again. (The child keeps the usual priority: at a
lower one, on a machine busy with other work, a rebuild for a million events had not
ended after ten minutes; at the usual one the window still scrolled without a stall over
100 ms.) A second pipe is the child's lifeline: when the app's end of it closes, even
because the app died, the child stops at once.
"""

from __future__ import annotations

import _thread
import atexit
import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from app.errors import Cancelled

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from sqlalchemy.orm import Session

    from app.db import Database

log = logging.getLogger(__name__)

#: A catch-up that scores at least this many customers runs in a child process.
CHILD_MIN_CUSTOMERS = 2000
POLL_SECONDS = 0.2  # how often the waiting thread looks at its cancel flag
_SWITCH = "THREADLINE_SUGGESTION_CHILD"  # "0": every catch-up runs in the process

_one_at_a_time = threading.Lock()
_children: set[BaseProcess] = set()  # running children, stopped when the app exits


@dataclass(frozen=True)
class ChildResult:
    """What a child's catch-up did.

    Attributes:
        outcome: ``catch_up``'s answer ("current", "updated" or "rebuilt"), or "read-only"
            when the database cannot be written (nothing was stored).
        pid: the child's process id.
        cpu_seconds: the CPU time the child (and any scorers it forked) used.
    """

    outcome: str
    pid: int
    cpu_seconds: float


def pending_customers(session: Session, *, up_to: int = CHILD_MIN_CUSTOMERS) -> int:
    """How many customers a catch-up would score, counted no further than ``up_to``.

    A cheap read of the store's state (no frequencies or mentions loaded): every customer
    when the list is rebuilt (never built, another scorer, or changes past ``DRIFT``),
    else the marked customers.
    """
    from app import suggestion_store
    from app.models import Customer, SuggestionDirty, SuggestionState

    def counted(query: Any) -> int:
        found = session.scalar(select(func.count()).select_from(query.limit(up_to).subquery()))
        return int(found or 0)

    marked = counted(select(SuggestionDirty.customer_id))
    state = session.execute(
        select(SuggestionState.version, SuggestionState.customers).limit(1)
    ).first()
    if state is None or state.version != suggestion_store.scorer_version():
        return counted(select(Customer.id).where(Customer.merged_into_id.is_(None)))
    if marked == 0:
        return 0
    if marked > suggestion_store.DRIFT * max(state.customers, 1):
        return min(int(state.customers), up_to)  # rebuilt: every customer is scored again
    return marked


def worth_a_child(session: Session) -> bool:
    """Whether the pending catch-up is big enough to run in a child process."""
    if os.environ.get(_SWITCH) == "0":
        return False
    return pending_customers(session) >= CHILD_MIN_CUSTOMERS


@contextlib.contextmanager
def one_at_a_time(should_cancel: Callable[[], bool] | None = None) -> Iterator[None]:
    """Hold this process's catch-up turn: a second catch-up waits for the first (which
    then leaves it nothing to do) rather than for the database's write lock.

    Raises:
        Cancelled: ``should_cancel()`` turned true while waiting.
    """
    while not _one_at_a_time.acquire(timeout=POLL_SECONDS):
        if should_cancel is not None and should_cancel():
            raise Cancelled
    try:
        yield
    finally:
        _one_at_a_time.release()


def catch_up_in_child(
    db: Database, *, should_cancel: Callable[[], bool] | None = None
) -> ChildResult:
    """Run ``suggestion_store.catch_up`` in a child process and wait for it.

    Args:
        db: the open database (the child opens its own connection to it).
        should_cancel: polled while waiting; when it turns true the child is stopped
            (its transaction is rolled back) and ``Cancelled`` raised.

    Raises:
        Cancelled: cancelled while the child worked.
        whatever the catch-up raised in the child (same type where it can be sent), or
        RuntimeError when the child stopped without an answer.
    """
    context = multiprocessing.get_context("spawn")
    answers, answer_end = context.Pipe(duplex=False)  # child → app: the result
    lifeline_end, lifeline = context.Pipe(duplex=False)  # app → child: closed = stop
    url = db.engine.url.render_as_string(hide_password=False)  # sent through the pipe
    path = str(db.path) if db.path is not None else None
    process = context.Process(
        target=_child, args=(answer_end, lifeline_end), name="threadline-suggestions"
    )
    process.start()
    _children.add(process)
    answer_end.close()  # the child's ends: an answer pipe that closes means the child ended
    lifeline_end.close()
    answered = False
    try:
        lifeline.send((url, path, db.url, db.origin))
        while True:
            if should_cancel is not None and should_cancel():
                raise Cancelled
            if not answers.poll(POLL_SECONDS):
                continue
            try:
                message = answers.recv()
            except EOFError:
                process.join(5)
                raise RuntimeError(
                    "the suggestions' child process stopped without an answer"
                    f" (exit code {process.exitcode})"
                ) from None
            answered = True
            if message[0] == "done":
                _kind, outcome, pid, cpu = message
                return ChildResult(outcome, pid, cpu)
            _kind, error, text = message
            log.error("the suggestions' child process failed:\n%s", text)
            raise error
    finally:
        if answered:
            process.join(5)  # it ends by itself once it answered
        lifeline.close()  # one that still works stops at once
        answers.close()
        process.join(2)
        if process.is_alive():
            _stop(process)
            process.join(5)
        _children.discard(process)


def _stop(process: BaseProcess) -> None:
    """Stop a child and the scorers it forked (its process group, on POSIX)."""
    if process.pid is None:
        return
    if hasattr(os, "killpg"):
        with contextlib.suppress(OSError):  # (no group yet: the child had only just started)
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        process.kill()


@atexit.register
def _stop_children() -> None:
    """Stop children still running when the app exits (else multiprocessing waits for
    them). Registered after multiprocessing's own exit handler, so it runs first."""
    for process in list(_children):
        if process.is_alive():
            _stop(process)


# --- the child ---------------------------------------------------------------------------


def _child(answers: Connection, lifeline: Connection) -> None:
    """The child: open the database, catch up in one transaction, send the outcome."""
    logging.basicConfig(level=logging.WARNING)
    if hasattr(os, "setpgid"):
        os.setpgid(0, 0)  # a group of its own: stopped with the scorers it forks
    try:
        url, path, shown, origin = lifeline.recv()
    except EOFError:
        return  # the app gave up before the child started
    # The lifeline's watcher is a bare thread: it holds no lock (it waits in a read), so
    # the store's scorers may still fork beside it, and ``threading`` does not count it
    # among the threads that would forbid that (``suggestion_store._workers``).
    _thread.start_new_thread(_watch, (lifeline,))
    try:
        answers.send(("done", _catch_up(url, path, shown, origin), os.getpid(), _cpu_seconds()))
    except BaseException as exc:  # sent back whole: the app decides
        answers.send(("error", _sendable(exc), traceback.format_exc()))
    answers.close()


def _watch(lifeline: Connection) -> None:
    """Stop the child when the app closes its end of the lifeline (or dies)."""
    with contextlib.suppress(BaseException):
        lifeline.recv()
    if hasattr(os, "killpg"):
        with contextlib.suppress(OSError):
            os.killpg(os.getpgrp(), signal.SIGKILL)  # with the scorers it forked
    os._exit(3)  # mid-transaction: the database rolls it back


def _catch_up(url: str, path: str | None, shown: str, origin: str) -> str:
    from pathlib import Path

    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import sessionmaker

    from app import store_auth, suggestion_store
    from app.db import Database, make_engine

    engine = make_engine(store_auth.connect_url(url))  # (a password in it is kept from logs)
    db = Database(
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        url=shown,
        path=Path(path) if path is not None else None,
        origin=origin,  # (on a server its change announcement is the app's own)
    )

    def once() -> str:
        # (the log's checkpoint left to the app, once the count is shown: ``Service``)
        with db.session(checkpoint=False) as session:
            return suggestion_store.catch_up(session)

    try:
        return db.retried(once)
    except OperationalError as exc:
        if "readonly" not in str(exc).lower().replace(" ", "").replace("-", ""):
            raise
        return "read-only"
    finally:
        engine.dispose()


def _cpu_seconds() -> float:
    """This process's CPU time, with that of the children it waited for (the scorers)."""
    try:
        import resource
    except ImportError:  # Windows
        return sum(os.times()[:2])
    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _sendable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError that says what it was."""
    with contextlib.suppress(Exception):
        pickle.loads(pickle.dumps(exc))
        return exc
    return RuntimeError(f"{type(exc).__name__}: {exc}")
