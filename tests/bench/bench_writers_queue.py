"""Benchmark: how long import batches on one SQLite file wait for their turn, queued or not.

Run on demand (not part of the default suite):

    python -m tests.bench.bench_writers_queue [--writers 4] [--batches 40] [--hold 30] [--rounds 1]

``--writers`` processes write one SQLite file at once, each ``--batches`` transactions one
after the other with nothing in between (an import whose next batch is parsed already:
the case where SQLite's busy handler is unfair), each transaction holding the write lock
for about ``--hold`` ms of CPU. Two ways, one after the other on the same machine:
``queued`` takes ``Database.writers_queue`` around each transaction, as import batches do
(``app.turnstile``); ``busy only`` does not (SQLite's busy timeout and ``retry_when_busy``
alone: how import batches on a SQLite file waited before). For each it prints the wall
time, how long a transaction waited for the lock (median, 99th percentile, worst), the most
transactions of other writers that committed while one writer waited ("overtaken by"), the
spread of the writers' finishing times, and writes that gave up (``BUSY_DEADLINE``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from app.db import _sqlite_begin, open_database, retry_when_busy
from app.errors import UserFacingError

ROOT = Path(__file__).resolve().parents[2]


def child(db_path: str, name: str, queued: bool, batches: int, hold_ms: float) -> None:
    """One writer: says "ready", waits for "go", writes its batches, prints gave-up count."""
    db = open_database(db_path)
    print("ready", flush=True)
    sys.stdin.readline()
    gave_up = 0
    for _ in range(batches):
        asked = time.monotonic()

        def write(asked: float = asked) -> None:
            with db.session() as session:
                session.connection()  # BEGIN IMMEDIATE now: the write lock is held from here
                got = time.monotonic()
                end = got + hold_ms / 1000
                while time.monotonic() < end:  # the batch's work, inside the transaction
                    pass
                session.execute(
                    text("INSERT INTO bench_turns (who, asked, got) VALUES (:w, :a, :g)"),
                    {"w": name, "a": asked, "g": got},
                )

        try:
            if queued:
                with db.writers_queue():
                    retry_when_busy(write)
            else:
                retry_when_busy(write)
        except OperationalError as exc:  # busy past BUSY_DEADLINE: counted, the writer goes on
            if db.user_error(exc) is None:
                raise
            gave_up += 1
    db.dispose()
    print(f"gave_up {gave_up}", flush=True)


def import_child(db_path: str, mbox: str, queued: bool) -> None:
    """One import (``ingest.import_file``) of ``mbox``, with its write transactions timed.

    Prints one line of JSON: the seconds each write transaction waited for SQLite's write
    lock (``BEGIN IMMEDIATE``), apart for import batches (inside ``writers_queue``) and the
    import's other write transactions (which wait with the busy timeout alone), the waits
    at the queue, the import's wall time and status.
    """
    from app import ingest

    db = open_database(db_path)
    db.file_queue = queued  # off: writers_queue does nothing on SQLite, as before the queue
    waits: dict[str, list[float]] = {"batch": [], "other": [], "queue": []}
    inside = [False]
    real_queue = db.writers_queue

    @contextmanager
    def timed_queue() -> Iterator[None]:
        asked = time.monotonic()
        with real_queue():
            waits["queue"].append(time.monotonic() - asked)
            inside[0] = True
            try:
                yield
            finally:
                inside[0] = False

    def timed_begin(conn: Connection) -> None:
        asked = time.monotonic()
        _sqlite_begin(conn)  # BEGIN IMMEDIATE (or BEGIN for a read): waits for the lock
        if not conn.get_execution_options().get("threadline_read"):
            waits["batch" if inside[0] else "other"].append(time.monotonic() - asked)

    event.remove(db.engine, "begin", _sqlite_begin)
    event.listen(db.engine, "begin", timed_begin)
    db.writers_queue = timed_queue  # type: ignore[method-assign]
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.monotonic()
    try:
        status = ingest.import_file(db, Path(mbox)).status
    except UserFacingError as exc:
        status = f"error: {exc}"
    wall = time.monotonic() - start
    db.dispose()
    print(json.dumps({"waits": waits, "wall": wall, "status": status}), flush=True)


def write_mbox(path: Path, count: int, tag: str) -> None:
    """``count`` messages from 40 people (the imports meet the same customers)."""
    with path.open("w", encoding="utf-8") as f:
        for i in range(count):
            f.write(f"From p{i % 40}@example.com Mon Jan  1 10:00:00 2024\n")
            f.write(f"From: Person {i % 40} <p{i % 40}@example.com>\nTo: shop@myshop.example\n")
            f.write(f"Subject: question {tag} {i}\nMessage-ID: <{tag}-{i}@example.com>\n")
            f.write(f"Date: Mon, 01 Jan 2024 10:00:00 +0000\n\nHello, message {i} of {tag}.\n\n")


def run_imports(
    folder: Path, label: str, queued: bool, args: argparse.Namespace
) -> dict[str, float]:
    path = folder / f"{label.replace(' ', '-')}.db"
    open_database(path).dispose()
    mboxes = []
    for n in range(args.writers):
        mbox = folder / f"{label.replace(' ', '-')}-{n}.mbox"
        write_mbox(mbox, args.messages, f"{label.replace(' ', '-')}{n}")
        mboxes.append(mbox)
    procs = _start([["--import-child", str(path), str(m), "1" if queued else "0"] for m in mboxes])
    outs, wall, cpu = _go(procs)
    results = [json.loads(out.strip().splitlines()[-1]) for out in outs]
    batch = sorted(w for r in results for w in r["waits"]["batch"])
    other = sorted(w for r in results for w in r["waits"]["other"])
    queue = sorted(w for r in results for w in r["waits"]["queue"])
    walls = [r["wall"] for r in results]
    return {
        "wall": wall,
        "cpu": cpu,
        "batch_worst": batch[-1] if batch else 0.0,
        "other_worst": other[-1] if other else 0.0,
        "queue_worst": queue[-1] if queue else 0.0,
        "slowest": max(walls),
        "fastest": min(walls),
        "failed": sum(1 for r in results if r["status"] != "done"),
    }


def _start(argvs: list[list[str]]) -> list[subprocess.Popen[str]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.bench.bench_writers_queue", *argv],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return procs


def _go(procs: list[subprocess.Popen[str]]) -> tuple[list[str], float, float]:
    """Start the ready processes at once; their outputs, the wall and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = []
    for p in procs:
        out, _ = p.communicate()
        assert p.returncode == 0
        outs.append(out)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return outs, wall, cpu


def run(folder: Path, label: str, queued: bool, args: argparse.Namespace) -> dict[str, float]:
    path = folder / f"{label.replace(' ', '-')}.db"
    open_database(path).dispose()
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE bench_turns (id INTEGER PRIMARY KEY, who, asked, got)")
    con.commit()
    con.close()
    procs = _start(
        [
            [
                "--child",
                str(path),
                f"w{n}",
                "1" if queued else "0",
                str(args.batches),
                str(args.hold),
            ]
            for n in range(args.writers)
        ]
    )
    outs, wall, cpu = _go(procs)
    gave_up = sum(int(out.split()[-1]) for out in outs)
    con = sqlite3.connect(path)
    rows = con.execute("SELECT who, asked, got FROM bench_turns ORDER BY got").fetchall()
    con.close()
    waits = sorted(g - a for _w, a, g in rows)
    overtaken = 0
    for who, asked, got in rows:
        others = sum(1 for w, _a, g in rows if w != who and asked < g < got)
        overtaken = max(overtaken, others)
    last = {w: g for w, _a, g in rows}  # rows ordered by got: each writer's last turn
    return {
        "transactions": len(rows),
        "wall": wall,
        "cpu": cpu,
        "median": statistics.median(waits),
        "p99": waits[min(len(waits) - 1, int(len(waits) * 0.99))],
        "worst": waits[-1],
        "overtaken": overtaken,
        "spread": max(last.values()) - min(last.values()),
        "gave_up": gave_up,
    }


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        db_path, name, queued, batches, hold = sys.argv[2:7]
        child(db_path, name, queued == "1", int(batches), float(hold))
        return
    if sys.argv[1:2] == ["--import-child"]:
        db_path, mbox, queued = sys.argv[2:5]
        import_child(db_path, mbox, queued == "1")
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--batches", type=int, default=40, help="transactions per writer")
    parser.add_argument("--hold", type=float, default=30.0, help="ms of work per transaction")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each way, alternating")
    parser.add_argument(
        "--imports", action="store_true", help="real imports of --messages each instead"
    )
    parser.add_argument("--messages", type=int, default=1500, help="messages per import")
    args = parser.parse_args()
    if args.imports:
        imports(args)
        return
    print(
        f"{args.writers} writers × {args.batches} transactions of ~{args.hold:g} ms, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    print(
        f"{'way':<10} {'txns':>5} {'wall s':>7} {'cpu s':>6} {'wait p50':>9} {'p99':>7} "
        f"{'worst':>7} {'overtaken':>9} {'spread s':>8} {'gave up':>7}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for label, queued in (("busy only", False), ("queued", True)):
                f = run(Path(tmp), f"{label}-{r}", queued, args)
                print(
                    f"{label:<10} {f['transactions']:>5.0f} {f['wall']:>7.1f} {f['cpu']:>6.1f} "
                    f"{f['median']:>9.3f} {f['p99']:>7.3f} {f['worst']:>7.3f} "
                    f"{f['overtaken']:>9.0f} {f['spread']:>8.2f} {f['gave_up']:>7.0f}",
                    flush=True,
                )
    print(f"load average {os.getloadavg()[0]:.1f} at end")


def imports(args: argparse.Namespace) -> None:
    print(
        f"{args.writers} imports of {args.messages} messages into one file at once, "
        f"load average {os.getloadavg()[0]:.1f} at start; waits in seconds"
    )
    print(
        f"{'way':<10} {'wall s':>7} {'cpu s':>6} {'queue worst':>11} {'batch worst':>11} "
        f"{'other worst':>11} {'fastest':>7} {'slowest':>7} {'failed':>6}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for label, queued in (("busy only", False), ("queued", True)):
                f = run_imports(Path(tmp), f"{label}-{r}", queued, args)
                print(
                    f"{label:<10} {f['wall']:>7.1f} {f['cpu']:>6.1f} {f['queue_worst']:>11.2f} "
                    f"{f['batch_worst']:>11.2f} {f['other_worst']:>11.2f} {f['fastest']:>7.1f} "
                    f"{f['slowest']:>7.1f} {f['failed']:>6.0f}",
                    flush=True,
                )
    print(f"load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
