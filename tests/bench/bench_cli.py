"""Benchmark: how long the ``threadline`` command takes to answer, as a script sees it.

Run on demand (not part of the default suite):

    python -m tests.bench.bench_cli [--runs 5]

It loads the demo data into a fresh database (``threadline demo``), then runs the
installed ``threadline`` entry point of this Python environment (the console script
next to ``sys.executable``) ``--runs`` times per command, after one untimed run that
warms the file cache and writes the byte code caches a user's installation has. It
prints the median wall-clock time of the whole process and its median CPU time (user +
system). Targets (median): ``--version`` ≤ 60 ms; ``customers QUERY``, ``show
CUSTOMER`` and ``search WORD`` with ``--json`` ≤ 250 ms. The load average is printed
before and after: on a busy machine the figures are not the program's own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests import cli_entry

# (label, arguments after --db PATH, target in ms)
COMMANDS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("--version", ("--version",), 60),
    ("customers jane --json", ("customers", "jane", "--json"), 250),
    ("show 1 --json", ("show", "1", "--json"), 250),
    ("search order --json", ("search", "order", "--json"), 250),
)


def run_once(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """One run of ``command``: (wall seconds, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {result.stderr.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command")
    args = parser.parse_args(argv)
    threadline = cli_entry.threadline()
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        home = Path(tmp) / "home"
        db = Path(tmp) / "demo.db"
        env = {**os.environ, "THREADLINE_HOME": str(home), "TZ": "Europe/London"}
        env.pop("THREADLINE_DB", None)
        # As on a user's machine, where the installer compiled the byte code (or Python
        # caches it on the first run): the untimed first run of each command writes it.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        loaded = subprocess.run(
            [threadline, "--db", str(db), "demo", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        events = sum(f["added"] for f in json.loads(loaded.stdout)["files"])
        print(f"{threadline}, demo database of {events} events, {args.runs} runs per command")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print()
        print("| command | median wall | median CPU | target | met |")
        print("|---|---|---|---|---|")
        for label, command_args, target in COMMANDS:
            command = [threadline, "--db", str(db), *command_args]
            run_once(command, env)  # warm the file cache
            runs = [run_once(command, env) for _ in range(args.runs)]
            wall = statistics.median(w for w, _ in runs) * 1000
            cpu = statistics.median(c for _, c in runs) * 1000
            met = "yes" if wall <= target else "no"
            print(f"| `{label}` | {wall:.0f} ms | {cpu:.0f} ms | ≤ {target} ms | {met} |")
        print()
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
