"""Benchmark: the "waiting for a reply" list over 100,000 customers, and the brief.

Run on demand (not part of the default suite):

    python -m tests.bench.bench_waiting [--customers 100000] [--seed 7]

It writes a seeded database straight through SQL (customers with an email each, and
a few mails and WhatsApp lines apiece, some automated; ``--answered`` of them end with the
shop's reply, 0.9 by default, 0 for the worst case where most customers wait), fills
the ``waiting`` table with ``app.waiting.rebuild`` and the brief's figures with
``app.summary.rebuild`` (customer 1 has ``--heavy`` events), then times: the full list
(wall-clock and working hours), a filtered list, the incremental refresh of one import
batch's customers (both tables), and the brief of a customer.
Targets: list ≤ 200 ms, brief ≤ 20 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from app import brief, settings, summary, waiting
from app.db import open_database
from app.models import Customer, CustomerIdentity, Event, EventParticipant, Identity

LINES = [
    "Do you deliver on Sundays?",
    "Where is my order?",
    "Thanks, lovely flowers!",
    "Können Sie nach München liefern?",
    "¿Tienen tulipanes blancos?",
]


def build(path: Path, customers: int, seed: int, answered: float, heavy: int) -> None:
    rng = random.Random(seed)
    db = open_database(path)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with db.session() as session:
        settings.set_value(session, "owner_emails", "shop@example.com")
        session.execute(
            insert(Identity),
            [{"id": 1, "kind": "email", "value": "shop@example.com", "is_own": True}],
        )
        cust, idents, links, events, parts = [], [], [], [], []
        eid = 0
        for c in range(1, customers + 1):
            cust.append({"id": c, "display_name": f"Customer {c}", "event_count": 0})
            idents.append({"id": c + 1, "kind": "email", "value": f"c{c}@example.com"})
            links.append({"customer_id": c, "identity_id": c + 1})
            at = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 300))
            for _ in range(heavy if c == 1 else rng.randint(1, 5)):
                eid += 1
                kind = rng.random()
                outbound = kind < 0.35
                automated = 0.35 <= kind < 0.4
                chat = rng.random() < 0.4
                events.append(
                    {
                        "id": eid,
                        "channel": "chat" if chat else "email",
                        "source": "whatsapp" if chat else "email",
                        "external_id": str(eid),
                        "occurred_at": at,
                        "direction": "outbound" if outbound else "inbound",
                        "title": "Hello",
                        "body": rng.choice(LINES),
                        "details": {"automated": True} if automated else {},
                        "language": "en",
                    }
                )
                sender, other = (1, c + 1) if outbound else (c + 1, 1)
                role = "author" if chat else "from"
                parts.append({"event_id": eid, "identity_id": sender, "role": role})
                parts.append({"event_id": eid, "identity_id": other, "role": "to"})
                at += timedelta(minutes=rng.randrange(5, 60 * 48))
            if rng.random() < answered:  # most conversations end with the shop's reply
                eid += 1
                events.append(
                    {
                        "id": eid,
                        "channel": "email",
                        "source": "email",
                        "external_id": str(eid),
                        "occurred_at": at,
                        "direction": "outbound",
                        "title": "Re: Hello",
                        "body": "Thanks for your message!",
                        "details": {},
                        "language": "en",
                    }
                )
                parts.append({"event_id": eid, "identity_id": 1, "role": "from"})
                parts.append({"event_id": eid, "identity_id": c + 1, "role": "to"})
        for table, rows in (
            (Customer, cust),
            (Identity, idents),
            (CustomerIdentity, links),
            (Event, events),
            (EventParticipant, parts),
        ):
            for i in range(0, len(rows), 20000):
                session.execute(insert(table), rows[i : i + 20000])
        t = time.perf_counter()
        waiting.rebuild(session)
        took = time.perf_counter() - t
        t = time.perf_counter()
        summary.rebuild(session)
        brief_took = time.perf_counter() - t
        print(
            f"built {customers:,} customers, {eid:,} events; full rebuild {took:.1f} s "
            f"(waiting), {brief_took:.1f} s (the brief's figures)"
        )
    db.dispose()


def best(fn: object, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return min(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--answered",
        type=float,
        default=0.9,
        help="share of customers whose last message the shop answered (0: the worst case)",
    )
    ap.add_argument("--heavy", type=int, default=10_000, help="events of customer 1")
    ap.add_argument("--db", type=Path, help="keep the generated database here (reused if present)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.db"
        if not path.exists():
            build(path, args.customers, args.seed, args.answered, args.heavy)
        db = open_database(path)
        now = datetime(2026, 11, 1, tzinfo=UTC)
        with db.session() as session:
            rows = waiting.waiting(session, now=now)
            print(f"waiting: {len(rows):,} of {args.customers:,} customers")
            ms = best(lambda: waiting.waiting(session, now=now))
            print(f"list (all, wall-clock): {ms:.0f} ms")
            ms = best(lambda: waiting.waiting(session, now=now, limit=200))
            print(f"list (first 200): {ms:.1f} ms")
            ms = best(lambda: waiting.waiting(session, now=now, channel="whatsapp", sort="longest"))
            print(f"list (--channel whatsapp --sort longest): {ms:.0f} ms")
            settings.set_value(session, "opening_hours", "Mon-Fri 09:00-17:30; Sat 10:00-14:00")
            ms = best(lambda: waiting.waiting(session, now=now))
            print(f"list (all, with working hours): {ms:.0f} ms")
            batch = random.Random(1).sample(range(1, args.customers + 1), 500)
            ms = best(lambda: waiting.refresh(session, batch), runs=3)
            print(f"incremental refresh of 500 customers (one import batch): {ms:.0f} ms")
            ms = best(lambda: summary.refresh(session, batch), runs=3)
            print(f"the brief's figures for the same 500 customers: {ms:.0f} ms")
            ms = best(lambda: summary.refresh(session, [1]), runs=3)
            print(f"the brief's figures for customer 1 ({args.heavy:,} events): {ms:.0f} ms")
            ids = random.Random(2).sample(range(1, args.customers + 1), 50)
            brief.build(session, ids[0], now=now)
            per = []
            for cid in ids:
                t = time.perf_counter()
                brief.build(session, cid, now=now)
                per.append((time.perf_counter() - t) * 1000)
            print(
                f"brief: median {statistics.median(per):.1f} ms, "
                f"max {max(per):.1f} ms over {len(ids)} customers"
            )
            brief.build(session, 1, now=now)
            t = time.perf_counter()
            brief.build(session, 1, now=now)
            took = (time.perf_counter() - t) * 1000
            print(f"brief of customer 1 ({args.heavy:,} events): {took:.1f} ms")
            session.rollback()
        db.dispose()


if __name__ == "__main__":
    main()
