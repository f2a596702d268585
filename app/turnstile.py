"""The import writers' queue on a SQLite file: a turnstile of two OS file locks beside it.

SQLite's write lock is not fair. A writer that waits for it polls (the busy handler sleeps
and tries again), so a writer that commits and at once begins its next transaction can win
it every time, and one of four imports into one file on a loaded machine gave up waiting
("database is busy"). ``Database.writers_queue`` (``app.db``) makes import batches take turns
instead; on PostgreSQL an advisory lock does it, on a SQLite file ``turn`` here does, with
two ``flock`` locks on files named like the file's ``.NAME.checked`` stamp:

- ``.NAME.turn`` is held by the writer whose turn it is, for its whole transaction;
- ``.NAME.next`` is held by the writer next in line, while it waits for ``.NAME.turn``.

A writer takes ``next``, then ``turn``, then lets ``next`` go, and lets ``turn`` go after its
transaction. Only the holder of ``next`` ever waits for ``turn``, so when the writer at work
lets ``turn`` go, the writer waiting for it is the only one that can take it: the writer
that just finished must get through ``next`` first, which the waiting one holds.

The fairness this gives, with four import processes: one writes, one holds ``next`` and
waits for ``turn``, two are blocked on ``next``. The one waiting for ``turn`` always goes
next, whatever the others do (the guarantee a busy handler lacks). ``next`` itself is a
plain lock: when its holder gets ``turn`` and lets it go, the writers blocked on it are
woken together and the first to run takes it; the writer that just finished, if it is back
by then, is one more contender among them (it may win that race, never the one for
``turn``). So a writer waits for the batch at work and the one next in line, then for as
many rounds of that race as it loses; each round it is one of at most three contenders.
Measured (``tests/bench/bench_writers_queue.py``, 4 writers on a machine with its 2 cores
oversubscribed): a writer was overtaken by at most 5-7 transactions of the others while it
waited, against 29-119 with the busy timeout alone. The price is a wake-up at every hand-over
(the next writer must be scheduled before anyone writes): about a fifth more wall time for
transactions of 30 ms; four real imports of 1,500 messages each were not slower queued.

The locks die with their process (a crashed or killed writer never blocks the queue). The
files stay (0600, empty): deleting a lock file while a process holds it would let the next
writer lock a new file beside the held one. A writer that cannot have its turn within
``deadline`` seconds (a writer ahead of it stopped, not killed) writes without the queue,
as it does when the files cannot be created or locked (a read-only folder, a file system
without ``flock``), and on Windows, where ``msvcrt.locking`` only retries once a second for
ten seconds (a poll, as unfair as SQLite's): there the busy timeout alone decides, as before.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

#: ``flock`` exists (POSIX); elsewhere ``turn`` always writes without the queue.
SUPPORTED = sys.platform != "win32"

_held = threading.local()  # the files whose turn this thread holds (a nested ``turn``)


def lock_paths(db_path: Path) -> tuple[Path, Path]:
    """The queue's two lock files beside the database: ``.NAME.next`` and ``.NAME.turn``."""
    return (
        db_path.with_name(f".{db_path.name}.next"),
        db_path.with_name(f".{db_path.name}.turn"),
    )


@contextmanager
def turn(db_path: Path, *, deadline: float) -> Iterator[bool]:
    """Wait for this writer's turn at ``db_path``'s queue, and hold it for the block.

    Args:
        db_path: the SQLite database file.
        deadline: seconds to wait for the turn before writing without it.

    Yields:
        True while the turn is held; False when the block runs without the queue (no
        ``flock``, the lock files cannot be created or locked, or no turn within
        ``deadline``: the reason is logged). A ``turn`` nested in one already held by this
        thread for the same file yields True at once.
    """
    key = str(db_path)
    held: set[str] = _held.__dict__.setdefault("paths", set())
    if key in held:
        yield True
        return
    if not SUPPORTED:
        yield False
        return
    try:
        place: _Place | None = _Place(db_path)
    except OSError as exc:
        log.info("import batches on %s write without taking turns: %s", db_path, exc)
        place = None
    if place is None:
        yield False
        return
    try:
        queued = place.wait(deadline)
    except OSError as exc:
        log.info("import batches on %s write without taking turns: %s", db_path, exc)
        place.close()
        queued = False
    except BaseException:
        place.close()
        raise
    if not queued:
        yield False
        return
    held.add(key)
    try:
        yield True
    finally:
        held.discard(key)
        place.close()  # lets ``turn`` go


class _Place:
    """One writer's place in the queue: the two lock files, open, and the locks it holds.

    The blocking waits run in a helper thread so that the caller can give up after its
    deadline; a helper given up on lets go of the locks itself when it gets them.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._mutex = threading.Lock()
        self._done = threading.Event()
        self._given_up = False
        self._error: OSError | None = None
        self._fds: list[int] = []
        try:
            for path in lock_paths(db_path):
                self._fds.append(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError:
            self._close()
            raise

    def wait(self, deadline: float) -> bool:
        """Take ``next``, then ``turn``, then let ``next`` go: True once ``turn`` is held,
        False if that took longer than ``deadline`` (nothing held then).

        Raises:
            OSError: a lock could not be taken (the file system refuses ``flock``).
        """
        import fcntl

        gate, writer = self._fds
        have_gate = _try_flock(gate)
        if have_gate and _try_flock(writer):  # no one at work, no one next: the usual case
            fcntl.flock(gate, fcntl.LOCK_UN)
            return True
        helper = threading.Thread(
            target=self._line_up,
            args=(have_gate,),
            name="threadline-writers-queue",
            daemon=True,
        )
        helper.start()
        try:
            self._done.wait(deadline)
        finally:
            with self._mutex:
                if not self._done.is_set():
                    self._given_up = True  # the helper lets the locks go once it has them
        if self._given_up:
            log.info(
                "no turn to write %s within %.0f s; writing without taking turns",
                self.db_path,
                deadline,
            )
            return False
        if self._error is not None:
            raise self._error
        return True

    def _line_up(self, have_gate: bool) -> None:
        import fcntl

        gate, writer = self._fds
        try:
            if not have_gate:
                fcntl.flock(gate, fcntl.LOCK_EX)
            log.debug("next in line to write %s", self.db_path)
            fcntl.flock(writer, fcntl.LOCK_EX)
            fcntl.flock(gate, fcntl.LOCK_UN)
        except OSError as exc:
            self._error = exc
        with self._mutex:
            if self._given_up:
                self._close()
            self._done.set()

    def close(self) -> None:
        """Let every lock go (closing the files does), unless a helper that was given up
        on still waits with them: it closes them when it returns."""
        with self._mutex:
            if not self._given_up:
                self._close()

    def _close(self) -> None:
        while self._fds:
            os.close(self._fds.pop())


def _try_flock(fd: int) -> bool:
    """Take ``fd``'s exclusive ``flock`` if no one holds it; False if someone does.

    Raises:
        OSError: the file system refuses the lock (not "held by another").
    """
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    return True
