"""The benchmark corpus (tests/bench/corpus.py) gives what it promises once imported."""

from __future__ import annotations

import random
from pathlib import Path

from app.service import Service
from tests.bench import corpus


def test_big_account_gets_its_heavy_events_after_import(tmp_path: Path) -> None:
    # The big account's events used to be spread over every format in proportion, Messenger
    # included (a name only: a separate customer) and with automated mails in its places:
    # 8,843 of the promised 10,000 at a million events.
    events, seed, heavy = 600, 4, 150
    folder = tmp_path / "shop"
    counts = corpus.generate(folder, events, seed=seed, heavy=heavy)
    assert sum(counts.values()) == events
    big = corpus.people(events // 50, random.Random(seed))[0]
    svc = Service.open(tmp_path / "shop.db")
    try:
        svc.configure("owner_emails", corpus.SHOP_EMAIL)
        svc.configure("owner_names", corpus.SHOP_NAME)
        reports = svc.import_paths([folder])
        assert all(r.status == "done" and not r.problems for r in reports)
        customer = svc.resolve_customer(big.email)
        assert svc.resolve_customer(big.phone) == customer  # WhatsApp and orders: one customer
        assert svc.customer(customer).event_count == heavy
        # Its Messenger thread (a name only) stays apart: a suggestion, never a merge.
        namesakes = [c for c in svc.customers(big.name) if c.name == big.name]
        assert sorted(c.event_count for c in namesakes if c.id != customer) == [
            corpus._heavy_part(heavy, "messenger")
        ]
    finally:
        svc.close()


def test_same_seed_same_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        corpus.generate(tmp_path / name, 300, seed=9, heavy=40)
    files = {
        name: {
            p.relative_to(tmp_path / name): p.read_bytes()
            for p in sorted((tmp_path / name).rglob("*"))
            if p.is_file()
        }
        for name in ("a", "b")
    }
    assert files["a"] and files["a"] == files["b"]
