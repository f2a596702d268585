"""Benchmark: the same shop on a SQLite file and on a PostgreSQL server, side by side.

Run on demand (not part of the default suite):

    python -m tests.bench.bench_stores [--events 20000] [--seed 11] [--runs 20]

``tests.bench.corpus`` writes the seeded shop (mail, WhatsApp, Messenger, Shopify and
WooCommerce exports); the same files are imported, through the service as the app does,
into a new SQLite file and into a new database on a private PostgreSQL server on this
machine (tests/postgres.py: Debian's binaries, durability off as in the tests). Then the
same queries run on both: the lookup as one types (``count_customers`` and the first page
of ``list_customers``: name prefixes, email, phone and order-number fragments) and the
first page (50 hits) of a search (words, prefixes, a phrase, filters, a number fragment).

Prints one table: import rate, and p50 / p95 of each kind of query per store, wall-clock
in milliseconds (on a busy machine the wall clock also counts the time other processes
held the cores: the one-minute load average after each import is printed with them).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from app import queries
from app.service import Service
from tests.bench import corpus
from tests.postgres import run_postgres

LOOKUPS = ("j", "ja", "jan", "pri", "müll", "doe@", "7700 9", "900", "#10", "1004")
SEARCHES = (
    "flowers",
    "deliv*",
    "tulips roses",
    '"thank you"',
    "wedding -birthday",
    "ribbon channel:email",
    "bouquet after:2020-01-01",
    "from:jane",
    "order:100",
    "9001",
)


def _times(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm: caches, prepared plans
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def measure(where: str, folder: Path, runs: int) -> dict[str, str]:
    """Import the corpus into ``where`` and time the queries; figures as text."""
    svc = Service.open(where)
    try:
        svc.configure_many(
            {
                "owner_emails": corpus.SHOP_EMAIL,
                "owner_names": corpus.SHOP_NAME,
                "region": "GB",
                "currency": "GBP",
                "timezone": "Europe/London",
            }
        )
        t = time.perf_counter()
        reports = svc.import_paths([folder])
        took = time.perf_counter() - t
        added = sum(r.added for r in reports)
        out = {
            "events imported": f"{added:,}",
            "import (events/s)": f"{added / took:,.0f}",
            "load avg after import": f"{os.getloadavg()[0]:.1f}",
        }
        db = svc.database
        lookup: list[float] = []
        for typed in LOOKUPS:

            def look(typed: str = typed) -> None:
                with db.read_session() as s:
                    queries.count_customers(s, typed)
                    queries.list_customers(s, typed, limit=200)

            lookup += _times(look, runs)
        found: list[float] = []
        for query in SEARCHES:
            found += _times(lambda query=query: svc.search(query, limit=50), runs)
        for name, values in (("lookup", lookup), ("search", found)):
            out[f"{name} p50 (ms)"] = f"{_p(values, 0.5):.1f}"
            out[f"{name} p95 (ms)"] = f"{_p(values, 0.95):.1f}"
        return out
    finally:
        svc.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--runs", type=int, default=20, help="runs of each query")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="threadline-bench-") as tmp:
        folder = Path(tmp) / "corpus"
        corpus.generate(folder, args.events, args.seed, heavy=args.events // 10)
        figures = {"SQLite": measure(str(Path(tmp) / "shop.db"), folder, args.runs)}
        with run_postgres() as pg:
            figures["PostgreSQL"] = measure(pg.new_database("bench"), folder, args.runs)
    rows = list(figures["SQLite"])
    print(f"{args.events:,} events (seed {args.seed}), {args.runs} runs of each query")
    print(f"| {'':22} | {'SQLite':>10} | {'PostgreSQL':>10} |")
    print(f"|{'-' * 24}|{'-' * 11}:|{'-' * 11}:|")
    for row in rows:
        print(f"| {row:22} | {figures['SQLite'][row]:>10} | {figures['PostgreSQL'][row]:>10} |")


if __name__ == "__main__":
    main()
