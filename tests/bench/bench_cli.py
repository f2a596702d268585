"""Benchmark: how long the ``threadline`` command takes to answer, as a script sees it.

Run on demand (not part of the default suite):

    python -m tests.bench.bench_cli [--runs 5] [--events 20000] [--big DB] [--before SRC]

It loads the demo data into a fresh database (``threadline demo``) and builds a bigger
one: the seeded shop history of ``tests/bench/corpus.py`` with ``--events`` events, imported
by ``threadline import`` (``--big DB`` uses a database built before instead; ``--events 0``
leaves it out). Then it runs the installed ``threadline`` entry point of this Python
environment (the console script next to ``sys.executable``) ``--runs`` times per command
and database, after one untimed run that warms the file cache and writes the byte code
caches a user's installation has, and prints one table: the median wall-clock time of the
whole process and its median CPU time (user + system). ``show`` opens the first customer
``customers jane`` finds (a lookup, then the customer); the largest customer is shown for
information. Targets (median, wall): ``--version`` ≤ 60 ms; ``customers QUERY``, ``show
CUSTOMER`` and ``search WORD`` with ``--json`` ≤ 250 ms on the demo database and ≤ 300 ms on
the big one.

``--before SRC`` also runs an older source tree (``git archive main app connectors | tar
-x -C SRC``) with the same Python, alternately with this one, for a "before" column. The
load average is printed before and after: on a busy machine the figures are not the
program's own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests import cli_entry
from tests.bench import corpus

# (label, arguments after --db PATH ({id} is the customer to show), target in ms on the
# demo database, on the big one; None: shown for information)
COMMANDS: tuple[tuple[str, tuple[str, ...], int | None, int | None], ...] = (
    ("--version", ("--version",), 60, 60),
    ("customers jane --json", ("customers", "jane", "--json"), 250, 300),
    ("show ID --json", ("show", "{id}", "--json"), 250, 300),
    ("search order --json", ("search", "order", "--json"), 250, 300),
    ("show LARGEST --json", ("show", "{largest}", "--json"), None, None),
)


def run_once(
    command: list[str], env: dict[str, str], cwd: Path | None = None
) -> tuple[float, float]:
    """One run of ``command``: (wall seconds, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {result.stderr.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _ids(threadline: str, db: Path, env: dict[str, str]) -> dict[str, str]:
    """The customer ``customers jane`` finds first, and the one with the most events."""
    found = subprocess.run(
        [threadline, "--db", str(db), "customers", "jane", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(found.stdout)
    con = sqlite3.connect(db)
    try:
        largest = con.execute(
            "SELECT id FROM customer WHERE merged_into_id IS NULL "
            "ORDER BY event_count DESC, id LIMIT 1"
        ).fetchone()[0]
    finally:
        con.close()
    return {"id": str(rows[0]["id"] if rows else 1), "largest": str(largest)}


def _events(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT count(*) FROM event").fetchone()[0])
    finally:
        con.close()


def _big_database(threadline: str, folder: Path, events: int, env: dict[str, str]) -> Path:
    """A database of the seeded shop history with ``events`` events, imported by the CLI."""
    exports = folder / "shop"
    corpus.generate(exports, events, heavy=max(1, events // 10))
    db = folder / "big.db"
    subprocess.run(
        [threadline, "--db", str(db), "config", "owner_emails", corpus.SHOP_EMAIL],
        env=env,
        capture_output=True,
        check=True,
    )
    start = time.perf_counter()
    done = subprocess.run(
        [threadline, "--db", str(db), "import", str(exports), "--json"],
        env=env,
        capture_output=True,
        check=False,
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"import failed: {done.stderr.decode(errors='replace')}")
    print(f"imported {events:,} events in {time.perf_counter() - start:.0f} s", flush=True)
    return db


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command")
    parser.add_argument("--events", type=int, default=20_000, help="events of the big database")
    parser.add_argument("--big", type=Path, help="a big database built before (used as is)")
    parser.add_argument("--before", type=Path, help="an older source tree to compare with")
    args = parser.parse_args(argv)
    threadline = cli_entry.threadline()
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        home = Path(tmp) / "home"
        demo = Path(tmp) / "demo.db"
        env = {**os.environ, "THREADLINE_HOME": str(home), "TZ": "Europe/London"}
        env.pop("THREADLINE_DB", None)
        # As on a user's machine, where the installer compiled the byte code (or Python
        # caches it on the first run): the untimed first run of each command writes it.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run(
            [threadline, "--db", str(demo), "demo", "--json"],
            env=env,
            capture_output=True,
            check=True,
        )
        databases = [("demo", demo)]
        if args.big is not None:
            databases.append(("big", args.big))
        elif args.events > 0:
            databases.append(("big", _big_database(threadline, Path(tmp), args.events, env)))
        old_env = {**env, "PYTHONPATH": str(args.before)} if args.before else None
        old_cmd = [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())"]

        print(
            f"{threadline}; Python {platform.python_version()}, {os.cpu_count()} cores; "
            f"{args.runs} runs per command"
        )
        for name, db in databases:
            print(f"{name} database: {db.stat().st_size / 1e6:.0f} MB, {_events(db):,} events")
        print(f"load average before: {_load()}")
        print()
        before = " | before" if args.before else ""
        print(f"| database | command | median wall | median CPU | target | met{before} |")
        print("|---|---|---|---|---|---|" + ("---|" if args.before else ""))
        for name, db in databases:
            ids = _ids(threadline, db, env)
            for label, command_args, demo_target, big_target in COMMANDS:
                target = demo_target if name == "demo" else big_target
                filled = [a.format(**ids) for a in command_args]
                command = [threadline, "--db", str(db), *filled]
                old = [*old_cmd, "--db", str(db), *filled]
                run_once(command, env)  # warm the file cache and the byte code
                # (from inside the old tree: ``python -c`` looks in its folder first)
                if old_env is not None:
                    run_once(old, old_env, args.before)
                runs, old_runs = [], []
                for _ in range(args.runs):  # alternately, so both see the same machine
                    runs.append(run_once(command, env))
                    if old_env is not None:
                        old_runs.append(run_once(old, old_env, args.before))
                wall = statistics.median(w for w, _ in runs) * 1000
                cpu = statistics.median(c for _, c in runs) * 1000
                shown = label.replace("ID", ids["id"]).replace("LARGEST", ids["largest"])
                note = " (the largest customer)" if "LARGEST" in label else ""
                goal = f"≤ {target} ms" if target else "—"
                met = ("yes" if wall <= target else "no") if target else "—"
                row = (
                    f"| {name} | `{shown}`{note} | {wall:.0f} ms | {cpu:.0f} ms | {goal} | {met} |"
                )
                if old_runs:
                    row += f" {statistics.median(w for w, _ in old_runs) * 1000:.0f} ms |"
                print(row, flush=True)
        print()
        print(f"load average after: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
