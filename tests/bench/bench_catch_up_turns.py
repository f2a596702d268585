"""Benchmark: the suggestions' catch-up of this tree against another tree's, taking turns.

Run on demand (not part of the default suite):

    python -m tests.bench.bench_catch_up_turns --db AFTER_IMPORT.db --other TREE
        [--pairs 12] [--cold] [--count]

This machine's speed drifts by up to twice from one minute to the next, more than most
changes to the catch-up weigh; timed one after the other, two versions of it are told
apart by the minute they ran in. So two worker processes, one importing this tree's code
and one the other tree's (a checkout of another commit, ``git worktree add``), take turns
on one database as an import left it (``bench_suggestions --after-import PATH``): each
runs ``suggestion_store.catch_up`` once a turn, in a transaction rolled back (nothing is
written: every turn starts from the same database), and the order of the two is swapped
each pair. Both catch up on the stored list as if their own scorer had built it (the
stored version is taken as theirs), so that versions whose scorer differs compare too.
After a first turn each, not counted, the frequencies stay decoded in each process (as
in a process that has caught up before); ``--cold`` decodes them each time. ``--count``
times what the window waits for instead: the service's count (``Service.suggestion_count``:
the catch-up, its commit and the count query) on a fresh copy of the database each turn,
the log's checkpoint after it (``Service.checkpoint``) not timed.

Prints each turn's wall time and the median of the differences (this tree minus the other)
with how many pairs this tree won.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

_WORKER = """
import os, shutil, sqlite3, sys, tempfile, time
from app import suggestion_store as ss
from app import suggestion_child, suggestion_mentions, suggestions  # (imported first)
from app.db import open_database
from app.service import Service

path, cold, counted = sys.argv[1], sys.argv[2] == "cold", sys.argv[3] == "count"
version = sqlite3.connect(path).execute("SELECT version FROM suggestion_state").fetchone()[0]
ss.scorer_version = lambda: version
db = open_database(path)
folder = tempfile.TemporaryDirectory()  # (each turn's copy, gone with the worker)
copy = os.path.join(folder.name, "turn.db")


class Undo(Exception):
    pass


def count():
    # On a fresh copy: the service's count as the window asks for it (catch-up, commit,
    # count), the log's checkpoint after it not timed.
    shutil.copyfile(path, copy)
    for end in ("-wal", "-shm"):
        if os.path.exists(copy + end):
            os.remove(copy + end)
    mine = open_database(copy)
    service = Service(mine)
    ss.last_work = ss.Work()
    start = time.perf_counter()
    service.suggestion_count()
    took = time.perf_counter() - start
    service.checkpoint()
    mine.dispose()
    return took, "updated" if ss.last_work.changed else "not-updated"


for _line in sys.stdin:
    if cold:
        ss.__dict__["_known_freq"] = None
    if counted:
        took, outcome = count()
    else:
        try:
            with db.session(checkpoint=False) as session:
                start = time.perf_counter()
                outcome = ss.catch_up(session)
                took = time.perf_counter() - start
                raise Undo
        except Undo:
            pass
    print(f"{took:.4f} {outcome}", flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="a database as an import left it")
    parser.add_argument("--other", type=Path, required=True, help="the other tree's folder")
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--cold", action="store_true", help="decode the frequencies each time")
    parser.add_argument(
        "--count",
        action="store_true",
        help="time the service's count on a fresh copy each turn (catch-up, commit, count)",
    )
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[2]
    trees = {"this": here, "other": args.other.resolve()}
    workers = {
        name: subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER,
                str(args.db.resolve()),
                "cold" if args.cold else "",
                "count" if args.count else "",
            ],
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name, tree in trees.items()
    }

    def turn(name: str) -> float:
        worker = workers[name]
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
        took, outcome = worker.stdout.readline().split()
        if outcome != "updated":
            raise SystemExit(f"the {name} tree's catch-up {outcome}: not a database to compare on")
        return float(took)

    turn("this")
    turn("other")  # (first turns not counted: modules and memo tables made)
    times: dict[str, list[float]] = {"this": [], "other": []}
    for i in range(args.pairs):
        for name in ("this", "other") if i % 2 == 0 else ("other", "this"):
            times[name].append(turn(name))
    for worker in workers.values():
        assert worker.stdin is not None
        worker.stdin.close()
        worker.wait()
    differences = [a - b for a, b in zip(times["this"], times["other"], strict=True)]
    for name in ("this", "other"):
        print(f"{name:5s} ({trees[name]}): " + " ".join(f"{t:.3f}" for t in times[name]))
    won = sum(d < 0 for d in differences)
    print(
        f"median: this {statistics.median(times['this']):.3f} s, other "
        f"{statistics.median(times['other']):.3f} s; median difference "
        f"{statistics.median(differences):+.3f} s; this tree faster in {won} of {args.pairs}"
    )


if __name__ == "__main__":
    main()
