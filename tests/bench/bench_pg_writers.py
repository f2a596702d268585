"""Benchmark: import throughput of 1, 2 and 4 writers at once, on one PostgreSQL server.

Run on demand (not part of the default suite; needs Debian's ``postgresql`` package):

    python -m tests.bench.bench_pg_writers [--files 8] [--messages 200] [--writers 1,2,4]

It starts a private server (``tests/postgres.py``) and writes ``--files`` mbox files per
writer, each of ``--messages`` unique messages from one pool of 40 people (so the writers
meet the same contact points and customers). For each count of ``--writers``, that many
writers (processes, each its own ``Service``) import their files into a fresh database at
the same time. It prints events per second of each run (events stored over wall time,
parsing included), the load average when it ended, and checks each store's invariants
(``tests/pg_workload.check``, which includes every customer's stored event count).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

from tests import pg_workload
from tests.postgres import run_postgres


def _run(url: str, files: list[list[str]]) -> tuple[float, list[pg_workload.AgentResult]]:
    pg_workload.prepare(url)
    context = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    with context.Pool(len(files)) as pool:
        jobs = [
            pool.apply_async(pg_workload.agent, (url, f"w{n}", mine, 0.0, n, ("import",)))
            for n, mine in enumerate(files)
        ]
        results = [job.get() for job in jobs]
    return time.perf_counter() - start, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8, help="mbox files per writer")
    parser.add_argument("--messages", type=int, default=200, help="messages per file")
    parser.add_argument("--writers", default="1,2,4", help="writer counts, comma-separated")
    args = parser.parse_args()
    counts = [int(n) for n in args.writers.split(",")]
    with tempfile.TemporaryDirectory() as tmp, run_postgres() as pg:
        folder = Path(tmp)
        messages: dict[str, list[str]] = {}
        per_writer: list[list[str]] = []
        for w in range(max(counts)):
            mine = []
            for n in range(args.files):
                path = folder / f"w{w}-{n}.mbox"
                messages[str(path)] = pg_workload.write_mail(
                    path, f"w{w}f{n}", args.messages, seed=w * 1000 + n
                )
                mine.append(str(path))
            per_writer.append(mine)
        lines = []
        for count in counts:
            label = f"{count} writer" + ("s" if count > 1 else "")
            url = pg.new_database(f"w{count}")
            seconds, results = _run(url, per_writer[:count])
            events = sum(r.added for r in results)
            broken = pg_workload.check(url, results, messages)
            lines.append(
                f"{label:10} {events:7,} events in {seconds:6.1f} s: "
                f"{events / seconds:7,.0f} events/s  (load average {os.getloadavg()[0]:.1f})"
                + (f"  BROKEN: {broken}" if broken else "")
            )
            print(lines[-1], flush=True)


if __name__ == "__main__":
    main()
