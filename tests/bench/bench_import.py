"""Benchmark: import rate per format, and query latency on the result.

Run on demand (not part of the default suite):

    python -m tests.bench.bench_import [--messages 5000] [--chat-lines 20000] [--orders 2000]

It writes a seeded, realistic mbox, WhatsApp export and Shopify CSV into a
temp folder, imports each through ``app.ingest.import_file`` into a fresh
SQLite database, and prints items per second, then the time of the queries an
agent waits on: the customer list, a customer search, a timeline page and a
full-text search.
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from app import queries, settings
from app.db import open_database
from app.ingest import import_file

FIRST = [
    "Jane",
    "John",
    "Priya",
    "Zoë",
    "María",
    "Tom",
    "Aiko",
    "Olu",
    "Sven",
    "Fatima",
    "Liam",
    "Chen",
    "Noor",
    "Ivan",
    "Grace",
    "Mateo",
]
LAST = [
    "Doe",
    "Smith",
    "Patel",
    "Müller",
    "García",
    "Okafor",
    "Tanaka",
    "Berg",
    "Khan",
    "Murphy",
    "Wang",
    "Haddad",
    "Petrov",
    "Lee",
    "Rossi",
]
WORDS = [
    "bouquet",
    "ribbon",
    "delivery",
    "order",
    "invoice",
    "wedding",
    "tulips",
    "roses",
    "refund",
    "courier",
    "tomorrow",
    "address",
    "gift",
    "birthday",
    "anniversary",
    "vase",
    "posy",
    "colour",
    "peonies",
    "thank",
    "please",
]
OWNER = "hello@shop.example"


def _people(rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    out = []
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = (
            f"{first.lower()}.{last.lower()}{i}@example.com".replace("ë", "e")
            .replace("í", "i")
            .replace("ü", "u")
        )
        phone = f"+4477009{i:05d}"
        out.append((f"{first} {last}", email, phone))
    return out


def _sentence(rng: random.Random, n: int = 12) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def write_mbox(path: Path, people: list[tuple[str, str, str]], count: int, seed: int) -> None:
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for i in range(count):
            name, email, _ = rng.choice(people)
            at = start + timedelta(minutes=37 * i)
            outbound = i % 3 == 2
            sender = f"Shop <{OWNER}>" if outbound else f"{name} <{email}>"
            to = f"{name} <{email}>" if outbound else OWNER
            body = "\n".join(_sentence(rng) for _ in range(rng.randint(2, 8)))
            fh.write(f"From {i}@xxx {at:%a %b %d %H:%M:%S %Y}\n")
            fh.write(f"Message-ID: <bench-{i}@example.com>\nDate: {format_datetime(at)}\n")
            fh.write(f"From: {sender}\nTo: {to}\nSubject: Order question {i}\n")
            fh.write("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n")
            fh.write(body.replace("\nFrom ", "\n>From ") + "\n\n")


def write_whatsapp(path: Path, lines: int, seed: int) -> None:
    rng = random.Random(seed)
    at = datetime(2025, 1, 1, 8, 0)
    with path.open("w", encoding="utf-8") as fh:
        for _ in range(lines):
            at += timedelta(minutes=rng.randint(1, 90))
            who = "Shop" if rng.random() < 0.4 else "Jane Doe"
            fh.write(f"{at:%d/%m/%Y, %H:%M} - {who}: {_sentence(rng, rng.randint(3, 20))}\n")


def write_shopify(path: Path, people: list[tuple[str, str, str]], orders: int, seed: int) -> None:
    rng = random.Random(seed)
    header = [
        "Name",
        "Email",
        "Financial Status",
        "Paid at",
        "Fulfillment Status",
        "Currency",
        "Subtotal",
        "Shipping",
        "Taxes",
        "Total",
        "Created at",
        "Lineitem quantity",
        "Lineitem name",
        "Lineitem price",
        "Lineitem sku",
        "Billing Name",
        "Billing Phone",
        "Phone",
        "Id",
    ]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for i in range(orders):
            name, email, phone = rng.choice(people)
            created = (start + timedelta(hours=5 * i)).strftime("%Y-%m-%d %H:%M:%S +0000")
            items = [
                (rng.randint(1, 3), rng.choice(WORDS).title(), rng.randint(500, 9000))
                for _ in range(rng.randint(1, 4))
            ]
            subtotal = sum(q * p for q, _, p in items)
            for j, (qty, item, pence) in enumerate(items):
                first = j == 0
                writer.writerow(
                    [
                        f"#{10000 + i}",
                        email if first else "",
                        "paid" if first else "",
                        created if first else "",
                        "fulfilled" if first else "",
                        "GBP" if first else "",
                        f"{subtotal / 100:.2f}" if first else "",
                        "4.99" if first else "",
                        "0.00" if first else "",
                        f"{subtotal / 100 + 4.99:.2f}" if first else "",
                        created,
                        qty,
                        item,
                        f"{pence / 100:.2f}",
                        f"SKU-{item}",
                        name if first else "",
                        phone if first else "",
                        phone,
                        str(5700000000000 + i) if first else "",
                    ]
                )


def _timed(label: str, fn: object, repeat: int = 5) -> float:
    assert callable(fn)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    print(f"  {label:<34} {best * 1000:8.1f} ms")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--chat-lines", type=int, default=20000)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--people", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        people = _people(random.Random(args.seed), args.people)
        files = {
            "mbox": root / "mail.mbox",
            "whatsapp": root / "WhatsApp Chat with Jane Doe.txt",
            "shopify": root / "orders_export.csv",
        }
        write_mbox(files["mbox"], people, args.messages, args.seed)
        write_whatsapp(files["whatsapp"], args.chat_lines, args.seed)
        write_shopify(files["shopify"], people, args.orders, args.seed)
        db = open_database(root / "bench.db")
        with db.session() as s:
            settings.set_value(s, "region", "GB")
            settings.set_value(s, "owner_emails", OWNER)
            settings.set_value(s, "owner_names", "Shop")
        print("import (fresh database, 2-core machine figures in README):")
        for name, path in files.items():
            t0 = time.perf_counter()
            report = import_file(db, path)
            dt = time.perf_counter() - t0
            size = path.stat().st_size / 1e6
            print(
                f"  {name:<9} {report.added:>7} items in {dt:6.2f} s = "
                f"{report.added / dt:8.0f} items/s ({size:.1f} MB)"
            )
            t0 = time.perf_counter()
            again = import_file(db, path)
            print(
                f"  {name:<9} re-import: {again.duplicates} duplicates in "
                f"{time.perf_counter() - t0:.2f} s"
            )
        print("queries:")
        with db.session() as s:
            n = queries.count_customers(s)
            jane = queries.list_customers(s, "jane")[0].id
            _timed(f"customer list, first page ({n})", lambda: queries.list_customers(s))
            _timed("find customer 'jane'", lambda: queries.list_customers(s, "jane"))
            _timed("find customer by phone digits", lambda: queries.list_customers(s, "900012"))
            _timed("find order #10042", lambda: queries.list_customers(s, "#10042"))
            _timed("timeline first page", lambda: queries.timeline(s, jane, limit=200))
            _timed("full-text search 'peonies refund'", lambda: queries.search(s, "peonies refund"))
        db.dispose()


if __name__ == "__main__":
    main()
