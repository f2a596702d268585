"""Benchmark: one customer's history of 10,000 events, exported as PDF, JSON and CSV zip.

Run on demand (not part of the default suite):

    python -m tests.bench.bench_export [--events 10000]

It stores a seeded history for one customer (mail, chats in many scripts with emoji, and
orders) through ``app.ingest.import_items`` into a fresh SQLite database, then times each
export and prints its size: the PDF with pages, the JSON document and the zip of CSV files.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from app import settings
from app.db import open_database
from app.export import data as export_data
from app.export.pdf import export_customer_pdf
from app.ingest import import_items
from app.records import EventRecord, OrderInfo, OrderLine, Participant

SAMPLES = [
    "Thanks so much, the bouquet was lovely 💐",
    "Could you deliver on Saturday morning? 🙏",
    "Merci beaucoup, les fleurs sont arrivées à temps.",
    "Спасибо! Всё пришло вовремя.",
    "ありがとうございます。とても綺麗です。",
    "谢谢你的花，非常漂亮。",
    "شكرا جزيلا على الزهور",
    "תודה רבה על הפרחים",
    "감사합니다, 꽃이 정말 예뻐요",
    "ขอบคุณมากครับ ดอกไม้สวยมาก",
]


def _history(count: int, seed: int) -> list[EventRecord]:
    rng = random.Random(seed)
    start = datetime(2016, 1, 1, tzinfo=UTC)
    jane = Participant("from", "Jane Doe", email="jane.doe@example.com")
    shop = Participant("to", "Bloom & Branch", email="hello@shop.example")
    records: list[EventRecord] = []
    for n in range(count):
        at = start + timedelta(minutes=n * 523 + rng.randrange(300))
        kind = rng.random()
        text = " ".join(rng.choice(SAMPLES) for _ in range(rng.randint(1, 4)))
        if kind < 0.5:
            records.append(
                EventRecord(
                    channel="email", source="mbox", external_id=f"<m{n}@bench>", occurred_at=at,
                    title=f"Order question {n}", text=text * rng.randint(1, 3),
                    participants=(jane, shop),
                )
            )  # fmt: skip
        elif kind < 0.9:
            records.append(
                EventRecord(
                    channel="chat", source="whatsapp", external_id=f"c{n}", occurred_at=at,
                    title="Jane Doe", text=text, thread_key="whatsapp:Jane",
                    participants=(
                        Participant("author", "Jane Doe", phone="+447700900123",
                                    platform="whatsapp"),
                    ),
                )
            )  # fmt: skip
        else:
            price = Decimal(rng.randrange(500, 9000)) / 100
            records.append(
                EventRecord(
                    channel="order", source="shopify", external_id=f"#{5000 + n}",
                    occurred_at=at, title=f"Order #{5000 + n}", text="Spring bouquet",
                    participants=(
                        Participant("buyer", "Jane Doe", email="jane.doe@example.com",
                                    phone="+447700900123", platform="shopify"),
                    ),
                    order=OrderInfo(
                        number=f"#{5000 + n}", currency="GBP", total=price, subtotal=price,
                        financial_status="paid", fulfillment_status="fulfilled",
                        lines=(OrderLine("Spring bouquet", 1, price),),
                    ),
                )
            )  # fmt: skip
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = open_database(folder / "bench.db")
        with db.session() as session:
            settings.set_value(session, "owner_emails", "hello@shop.example")
            settings.set_value(session, "region", "GB")
        records = _history(args.events, args.seed)
        started = time.perf_counter()
        import_items(db, lambda: records, label="bench", format="bench")
        stored = time.perf_counter() - started
        cid = 1
        print(f"{args.events:,} events stored in {stored:.1f} s")
        print(f"{'export':<10} {'seconds':>8} {'size':>10}  notes")
        started = time.perf_counter()
        pages = export_customer_pdf(db, cid, folder / "history.pdf")
        took = time.perf_counter() - started
        size = (folder / "history.pdf").stat().st_size
        print(f"{'PDF':<10} {took:>8.1f} {size / 1e6:>8.1f} MB  {pages:,} pages")
        for name, write, file in (
            ("JSON", export_data.write_json, "data.json"),
            ("CSV zip", export_data.write_zip, "data.zip"),
        ):
            started = time.perf_counter()
            written = write(db, cid, folder / file)
            took = time.perf_counter() - started
            size = (folder / file).stat().st_size
            print(
                f"{name:<10} {took:>8.1f} {size / 1e6:>8.1f} MB  {len(written['events']):,} events"
            )
        db.dispose()


if __name__ == "__main__":
    main()
