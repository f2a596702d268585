"""Benchmark: lookup as one types and the first page of a full-text search, at scale.

Run on demand (not part of the default suite):

    python -m tests.bench.bench_search [--events 1000000] [--db PATH] [--runs 200]

It writes a seeded database straight through SQL (the schema comes from the
migrations, so the lookup triggers and the full-text index are the real ones):
about one customer per 50 events, each with a name from the name lists of
``bench_import``, an email and a mobile; 60 % emails (half of them the shop's
replies), 25 % WhatsApp lines, 15 % Shopify orders with ``#``-numbers; bodies
drawn from a Zipf-like vocabulary, so some words are in most messages and some
in a few. Then it times, in-process, what the GUI runs:

- lookup: ``count_customers`` + the first page of ``list_customers`` (200 rows) for
  prefixes of names (1 to 6 characters), fragments of emails, of phone numbers
  (national and international digits) and of order numbers;
- search: the first page (50 hits) of ``queries.search`` for a common word, a rare
  word, a phrase, and a word with a filter.

It prints p50 / p95 per kind, wall-clock and CPU time (on a busy machine the wall
clock also counts the time other processes held the cores). Targets at 1M events:
lookup p95 ≤ 30 ms, full-text first page p95 ≤ 50 ms. ``--db`` keeps the database
(and reuses it when present).
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from app import queries, settings, summary
from app.db import Database, open_database
from app.models import Customer, CustomerIdentity, Event, EventParticipant, Identity, Order
from tests.bench.bench_import import FIRST, LAST, WORDS

OWNER = "hello@shop.example"
MORE_FIRST = "Amara Oskar Lena Yusuf Ines Kofi Hana Mateus Elif Rafael Saanvi Ada Nils".split()
MORE_LAST = "Nakamura Silva Kowalski Andersen Dubois Rossi Novak Ibrahim Costa Larsen".split()
RARE = [f"zephyr{n}" for n in range(200)]  # each in about 1 message in 10,000


def _vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    words = list(dict.fromkeys([*WORDS, *(w.lower() for w in FIRST + LAST)]))
    rng.shuffle(words)
    weights = [1 / (rank + 1) ** 0.9 for rank in range(len(words))]
    return words, weights


def build(db: Database, events: int, seed: int) -> None:
    rng = random.Random(seed)
    words, weights = _vocabulary(rng)
    first_names, last_names = FIRST + MORE_FIRST, LAST + MORE_LAST
    start = datetime(2016, 1, 1, tzinfo=UTC)
    span = 10 * 365 * 24 * 60
    customers = max(1, events // 50)
    with db.session() as s:
        settings.set_value(s, "owner_emails", OWNER)
        settings.set_value(s, "region", "GB")
        s.execute(insert(Identity), [{"id": 1, "kind": "email", "value": OWNER, "is_own": True}])
    people: list[tuple[str, int, int, str]] = []  # name, email identity, phone identity, email
    cust, idents, links = [], [], []
    for c in range(1, customers + 1):
        name = f"{rng.choice(first_names)} {rng.choice(last_names)}"
        email = f"{name.lower().replace(' ', '.')}{c}@example.com"
        phone = f"+447{rng.randrange(10**8, 10**9)}"
        e_id, p_id = 2 * c, 2 * c + 1
        cust.append({"id": c, "display_name": name, "event_count": 0})
        idents.append(
            {"id": e_id, "kind": "email", "value": email, "raw": email, "display_name": name}
        )
        idents.append(
            {
                "id": p_id,
                "kind": "phone",
                "value": phone,
                "raw": f"0{phone[3:7]} {phone[7:]}",
                "display_name": name,
                "search_digits": phone[1:],
            }
        )
        links += [{"customer_id": c, "identity_id": e_id}, {"customer_id": c, "identity_id": p_id}]
        people.append((name, e_id, p_id, email))
    _insert(db, Customer, cust)
    _insert(db, Identity, idents)
    _insert(db, CustomerIdentity, links)
    # Zipf over customers too: a few have thousands of events, most a handful.
    cweights = [1 / (rank + 1) ** 0.6 for rank in range(customers)]
    order_no = 1000
    figures: dict[int, list[Any]] = {}
    batch = 20000
    for base in range(0, events, batch):
        evs: list[dict[str, Any]] = []
        parts: list[dict[str, Any]] = []
        orders: list[dict[str, Any]] = []
        fts: list[dict[str, Any]] = []
        owners = rng.choices(range(customers), weights=cweights, k=min(batch, events - base))
        for i, who in enumerate(owners):
            eid = base + i + 1
            name, e_id, p_id, email = people[who]
            at = start + timedelta(minutes=rng.randrange(span))
            kind = rng.random()
            body = " ".join(rng.choices(words, weights, k=rng.randint(8, 60)))
            if rng.random() < 0.01:
                body += " " + rng.choice(RARE)
            people_text = f"{name} {email}"
            if kind < 0.6:
                outbound = rng.random() < 0.5
                channel, source, title = "email", "email", f"Re: {rng.choice(words)} order"
                sender, other = (1, e_id) if outbound else (e_id, 1)
                parts += [
                    {"event_id": eid, "identity_id": sender, "role": "from", "name": ""},
                    {"event_id": eid, "identity_id": other, "role": "to", "name": ""},
                ]
                people_text += f" {OWNER}"
            elif kind < 0.85:
                outbound = False
                channel, source, title = "chat", "whatsapp", name
                parts.append({"event_id": eid, "identity_id": p_id, "role": "author", "name": name})
            else:
                outbound = False
                order_no += 1
                number = f"#{order_no}"
                channel, source, title = "order", "shopify", f"Order {number}"
                body = f"{rng.randint(1, 3)} × {rng.choice(words).title()} bouquet"
                parts.append({"event_id": eid, "identity_id": e_id, "role": "buyer", "name": name})
                orders.append(
                    {
                        "event_id": eid,
                        "number": number,
                        "platform": "shopify",
                        "currency": "GBP",
                        "total": f"{rng.randint(10, 200)}.00",
                    }
                )
                people_text += f" {number} {order_no}"
            evs.append(
                {
                    "id": eid,
                    "channel": channel,
                    "source": source,
                    "external_id": str(eid),
                    "occurred_at": at,
                    "direction": "outbound" if outbound else "inbound",
                    "title": title,
                    "body": body,
                    "details": {},
                }
            )
            fts.append({"id": eid, "t": title, "b": body, "p": people_text})
            f = figures.setdefault(who + 1, [0, at, at])
            f[0] += 1
            f[1], f[2] = min(f[1], at), max(f[2], at)
        with db.session() as s:
            s.execute(insert(Event), evs)
            s.execute(insert(EventParticipant), parts)
            if orders:
                s.execute(insert(Order), orders)
            s.execute(
                text("INSERT INTO event_fts(rowid, title, body, people) VALUES (:id, :t, :b, :p)"),
                fts,
            )
        print(f"\r  {base + len(owners):,} events", end="", flush=True)
    print()
    with db.session() as s:
        s.execute(
            text(
                "UPDATE customer SET event_count = :n, first_seen = :f, last_seen = :l "
                "WHERE id = :id"
            ),
            [
                {"id": c, "n": n, "f": f.replace(tzinfo=None), "l": last.replace(tzinfo=None)}
                for c, (n, f, last) in figures.items()
            ],
        )
        summary.refresh(s, list(figures))  # as an import's refresh leaves them
    with db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO event_fts(event_fts) VALUES('optimize')")


def _insert(db: Database, table: Any, rows: list[dict[str, Any]]) -> None:
    with db.session() as s:
        for i in range(0, len(rows), 20000):
            s.execute(insert(table), rows[i : i + 20000])


def _lookups(db: Database, rng: random.Random, n: int) -> list[str]:
    with db.session() as s:
        top = s.execute(text("SELECT max(id) FROM customer")).scalar() or 1
        orders = s.execute(text("SELECT max(number) FROM order_info")).scalar() or "#1001"
        out: list[str] = []
        turn = 0
        while len(out) < n:
            cid = rng.randint(1, top)
            name, email, phone = s.execute(
                text(
                    "SELECT c.display_name, e.value, p.value FROM customer c "
                    "JOIN identity e ON e.id = 2 * c.id JOIN identity p ON p.id = 2 * c.id + 1 "
                    "WHERE c.id = :c"
                ),
                {"c": cid},
            ).one()
            kind = turn % 5
            turn += 1
            if kind == 0:  # a name as it is typed, one key at a time
                out.extend(name[:k] for k in range(1, 7))
            elif kind == 1:
                out.append(email[: rng.randint(4, 12)])
            elif kind == 2:
                out.append(phone[rng.randint(3, 6) :][: rng.randint(4, 7)])  # digits inside
            elif kind == 3:
                out.append("0" + phone[3:8])  # the national form, as typed
            else:
                number = str(rng.randint(1001, int(str(orders).lstrip("#"))))
                out.append(rng.choice([number, f"#{number}", number[1:]]))
        return out[:n]


def _percentiles(times: list[float]) -> tuple[float, float, float]:
    times = sorted(times)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times) * 1000, p95 * 1000, times[-1] * 1000


def _time(db: Database, label: str, queries_: list[str], run: Callable[[Any, str], Any]) -> None:
    """Wall-clock and CPU time of each query (CPU: what it costs on an idle machine)."""
    wall: list[float] = []
    cpu: list[float] = []
    with db.read_session() as s:
        for q in queries_[:3]:
            run(s, q)  # warm the page cache
        for q in queries_:
            t, c = time.perf_counter(), time.process_time()
            run(s, q)
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - t)
    p50, p95, worst = _percentiles(wall)
    c50, c95, _ = _percentiles(cpu)
    print(
        f"| {label:<34} | {len(wall):>5} | {p50:>7.1f} | {p95:>7.1f} | {worst:>7.1f} "
        f"| {c50:>7.1f} | {c95:>7.1f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--runs", type=int, default=200, help="look-ups timed (searches: a quarter)")
    ap.add_argument("--db", type=Path, help="keep the generated database here (reused if present)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.db"
        fresh = not path.exists()
        db = open_database(path)
        if fresh:
            t = time.perf_counter()
            build(db, args.events, args.seed)
            print(f"built in {time.perf_counter() - t:.0f} s")
        with db.session() as s:
            n_events = s.execute(text("SELECT count(*) FROM event")).scalar() or 0
            n_customers = s.execute(text("SELECT count(*) FROM customer")).scalar() or 0
        size = path.stat().st_size / 2**20
        print(f"{n_events:,} events, {n_customers:,} customers, {size:,.0f} MiB")
        rng = random.Random(args.seed + 1)
        lookups = _lookups(db, rng, args.runs)
        words, _weights = _vocabulary(random.Random(args.seed))
        common = words[:5]
        rare = RARE[: max(5, args.runs // 4)]
        phrases = [f'"{a} {b}"' for a, b in itertools.pairwise(words[:11])]
        filtered = [f"{w} channel:chat after:2024-01-01" for w in words[:10]]
        print(
            "| what                               | runs  | p50 ms  | p95 ms  | max ms  "
            "| CPU p50 | CPU p95 |"
        )
        print(
            "|------------------------------------|------:|--------:|--------:|--------:"
            "|--------:|--------:|"
        )

        def lookup(s: Any, q: str) -> None:
            if queries.count_customers(s, q):
                queries.list_customers(s, q, limit=200)

        def search(s: Any, q: str) -> None:
            queries.search(s, q, limit=50)

        _time(db, "lookup: count + first page (200)", lookups, lookup)
        reps = max(1, args.runs // 40)
        _time(db, "search: common word", common * reps, search)
        _time(db, "search: rare word", rare, search)
        _time(db, "search: phrase", phrases * reps, search)
        _time(db, "search: word + channel + date", filtered * reps, search)
        fragments = [q for q in lookups if q.lstrip("#").isdigit()]
        _time(db, "search: phone / order fragment", fragments, search)
        db.dispose()


if __name__ == "__main__":
    main()
