"""Import batches on one SQLite file take turns (``app.turnstile``): in order, crash-safe,
and an import goes on without the queue where its lock files cannot be had; its reads before
its batches never wait for the write lock.

The writers here are real processes taking ``Database.writers_queue`` on a real file; the
order of their turns is shown by the lines each writes while it holds its turn. Nothing
waits for a time: a writer says on a pipe where it is, and a writer next in line says so
through the queue's own debug log, which it writes once it holds ``.NAME.next``.
"""

from __future__ import annotations

import logging
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import ingest, turnstile
from app.db import open_database

ROOT = Path(__file__).resolve().parent.parent

# A writer: takes its turn(s) at the queue, appends its name to the order file inside each,
# and says on stdout where it is. Its argv: database, order file, name, number of turns.
# Before each turn after the first it waits for a line on stdin (the test's "go").
_WRITER = """
import logging, sys
from pathlib import Path
from app.db import open_database


class Say(logging.Handler):
    def emit(self, record):
        print("queue:", record.getMessage(), flush=True)


queue_log = logging.getLogger("app.turnstile")
queue_log.setLevel(logging.DEBUG)
queue_log.addHandler(Say())
db = open_database(sys.argv[1])
order, name, turns = Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
print("open", flush=True)
for i in range(turns):
    with db.writers_queue():
        with order.open("a", encoding="utf-8") as f:
            f.write(f"{name}{i + 1}\\n")
        print("in", flush=True)
        sys.stdin.readline()  # hold the turn until told to go on
    print("out", flush=True)
print("done", flush=True)
"""


#: How long a writer may stay silent before the test counts it as hung (a guard against a
#: hang, not a measure: every step here takes a fraction of a second).
SILENCE = 300.0


class Writer:
    """A writer process, its lines read by a thread so that a hung writer fails the test."""

    def __init__(self, db: Path, order: Path, name: str, turns: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(db), str(order), name, str(turns)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def read_until(self, wanted: str, *, not_before: str | None = None) -> None:
        """Read lines until one starts with ``wanted``; fail on one starting with
        ``not_before`` first, on the end of the process, or on a hang."""
        while True:
            try:
                line = self.lines.get(timeout=SILENCE)
            except queue.Empty:
                self.proc.kill()
                raise AssertionError(f"the writer hung before saying {wanted!r}") from None
            if line is None:
                raise AssertionError(f"the writer ended ({self.proc.wait()}) before {wanted!r}")
            if line.startswith(wanted):
                return
            if not_before is not None and line.startswith(not_before):
                raise AssertionError(f"the writer said {line!r} before {wanted!r}")

    def tell(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def finish(self) -> int:
        self.read_until("done")
        return self.proc.wait()


@pytest.fixture
def writers() -> Iterator[list[Writer]]:
    """The writers a test starts, killed at its end if still running."""
    started: list[Writer] = []
    yield started
    for w in started:
        if w.proc.poll() is None:
            w.kill()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data" / "shop.db"  # a folder of its own: made read-only below
    open_database(path).dispose()
    yield path


def test_a_waiting_writer_goes_before_the_one_that_just_let_go(
    database: Path, tmp_path: Path, writers: list[Writer]
) -> None:
    """The writer at work lets its turn go and at once asks for the next one (an import's
    next batch): the writer that was already waiting writes first."""
    order = tmp_path / "order.txt"
    first = Writer(database, order, "R", 2)
    writers.append(first)
    first.read_until("in")  # R holds the turn
    waiting = Writer(database, order, "W", 1)
    writers.append(waiting)
    waiting.read_until("queue: next in line", not_before="in")  # W holds .next, waits
    first.tell()  # R lets go and comes straight back for its second turn
    waiting.read_until("in")
    assert order.read_text(encoding="utf-8").split() == ["R1", "W1"]
    waiting.tell()
    first.read_until("in")  # R's second turn comes only after W's
    first.tell()
    assert first.finish() == 0 and waiting.finish() == 0
    assert order.read_text(encoding="utf-8").split() == ["R1", "W1", "R2"]


def test_a_killed_writer_leaves_no_lock_behind(
    database: Path, tmp_path: Path, writers: list[Writer]
) -> None:
    """A writer killed holding its turn, and one killed while next in line: the OS drops
    their locks with them, and the next writer gets its turn at once."""
    order = tmp_path / "order.txt"
    holder = Writer(database, order, "A", 1)
    writers.append(holder)
    holder.read_until("in")
    waiter = Writer(database, order, "B", 1)
    writers.append(waiter)
    waiter.read_until("queue: next in line", not_before="in")
    waiter.kill()
    holder.kill()
    with turnstile.turn(database, deadline=SILENCE) as queued:
        assert queued


def test_a_writer_that_gave_up_waiting_lets_the_turn_go_when_it_gets_it(
    database: Path, tmp_path: Path, writers: list[Writer]
) -> None:
    """A writer stopped with its turn held: the next one writes without the queue after
    its deadline, and the turn it went on waiting for in the background is let go as soon as
    it arrives (the queue is not left blocked by the writer that gave up)."""
    order = tmp_path / "order.txt"
    holder = Writer(database, order, "A", 1)
    writers.append(holder)
    holder.read_until("in")
    with turnstile.turn(database, deadline=0.01) as queued:
        assert not queued
    holder.tell()
    assert holder.finish() == 0
    with turnstile.turn(database, deadline=SILENCE) as queued:
        assert queued


def test_a_nested_turn_in_one_thread_does_not_wait_for_itself(database: Path) -> None:
    with (
        turnstile.turn(database, deadline=SILENCE) as outer,
        turnstile.turn(database, deadline=SILENCE) as inner,
    ):
        assert outer and inner


def _write_mbox(path: Path) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i in range(30):
            f.write(f"From p{i % 4}@example.com Mon Jan  1 10:{i:02d}:00 2024\n")
            f.write(f"From: Person {i % 4} <p{i % 4}@example.com>\nTo: shop@myshop.example\n")
            f.write(f"Subject: question {i}\nMessage-ID: <m{i}@example.com>\n")
            f.write(f"Date: Mon, 01 Jan 2024 10:{i:02d}:00 +0000\n\nHello {i}.\n\n")
    return path


def _import_mbox(database: Path) -> ingest.FileReport:
    """Import 30 messages in batches of 10 (each batch takes its turn)."""
    mbox = _write_mbox(database.parent.with_name("m.mbox"))
    db = open_database(database)
    try:
        return ingest.import_file(db, mbox, batch_size=10)
    finally:
        db.dispose()


def test_a_lock_file_that_cannot_be_created_leaves_the_import_as_before(
    database: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _next, turn = turnstile.lock_paths(database)
    turn.mkdir()  # something else has the name: the lock file cannot be opened
    with caplog.at_level(logging.INFO, logger="app.turnstile"):
        report = _import_mbox(database)
    assert report.status == "done" and report.added == 30
    said = [r for r in caplog.records if "without taking turns" in r.getMessage()]
    assert len(said) == 1  # once for the database, not once per batch


@pytest.mark.skipif(sys.platform == "win32", reason="a folder's mode bits (POSIX)")
def test_an_import_into_a_read_only_folder_goes_on_without_the_queue(
    database: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The database and its WAL are writable, its folder is not: no lock file can be made."""
    keep = sqlite3.connect(database)  # keeps the -wal and -shm files in place
    keep.execute("select count(*) from sqlite_master").fetchone()
    folder = database.parent
    folder.chmod(0o500)
    try:
        probe = folder / "probe"
        try:
            probe.touch()
        except PermissionError:
            pass
        else:  # root (with CAP_DAC_OVERRIDE) writes into any folder
            probe.unlink()
            pytest.skip("this user writes into read-only folders")
        with caplog.at_level(logging.INFO, logger="app.turnstile"):
            report = _import_mbox(database)
    finally:
        folder.chmod(0o700)
        keep.close()
    assert report.status == "done" and report.added == 30
    assert not any(p.exists() for p in turnstile.lock_paths(database))
    assert any("without taking turns" in r.getMessage() for r in caplog.records)


def test_an_imports_reads_before_its_batches_do_not_wait_for_the_write_lock(
    database: Path,
) -> None:
    """Another program holds the write lock: the import's checks before its first batch
    still run (each used to take the write lock, waiting out the busy timeout with no retry,
    and failed the import with "database is busy" while other imports' batches queued)."""
    mbox = _write_mbox(database.parent.with_name("m.mbox"))
    db = open_database(database)
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("begin immediate")
    try:
        assert ingest._unchanged_since_import(db, mbox, "m.mbox", "mbox", False) is None
        writer = ingest._Writer(db, 1, ingest.FileReport(path="m.mbox", format="mbox"))
        assert not writer.automated_customers and not writer.suppressor
    finally:
        holder.execute("rollback")
        holder.close()
        db.dispose()
