"""Streamed reading of line-based exports: encodings, bounded lines, repeat detection, CSV rows.

Every file is built in the test. The helpers in ``connectors.textfile`` keep memory flat
(a bounded sample for the charset, lines cut at a bound, 8 bytes per key seen); the CSV
reader turns an over-long line into one problem and goes on, and an order's rows are
grouped while they are adjacent, with a cap on how many one order may have.
"""

from __future__ import annotations

import io
import random
from datetime import UTC
from pathlib import Path

import pytest

from app.records import EventRecord, Item, ParseOptions, Problem
from connectors import chat_csv, csv_common, registry, shopify, textfile
from connectors.orders_csv import OrdersCsvConnector
from connectors.shopify import ShopifyConnector

SHOPIFY_HEADER = (
    "Name,Email,Financial Status,Currency,Total,Created at,Lineitem name,Lineitem quantity"
)


def _shopify_row(name: str, item: str = "Mug") -> str:
    return f"{name},jane@example.com,paid,EUR,10.00,2024-01-01 10:00:00 +0000,{item},1"


def _parse_shopify(path: Path) -> list[Item]:
    return list(ShopifyConnector().parse(path, ParseOptions(tz=UTC)))


def test_key_set_tells_repeats_across_its_merged_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(textfile.KeySet, "_PENDING", 16)
    monkeypatch.setattr(textfile.KeySet, "_SORT_IN_MEMORY", 64)  # large merges stay lazy
    rng = random.Random(7)
    keys = [f"#{rng.randrange(10**12)}" for _ in range(3000)]
    seen = textfile.KeySet()
    assert all(seen.add(k) for k in keys)
    assert not any(seen.add(k) for k in rng.sample(keys, 500))
    assert all(k in seen for k in keys)
    assert not any(f"other {k}" in seen for k in keys)
    assert sum(len(run) for run in seen._runs) + len(seen._pending) == 3000


def test_bounded_lines_cut_long_lines_and_count_the_rest() -> None:
    text = "short\r\n" + "x" * 50 + "\nlast without end"
    stream = io.StringIO(text, newline="")
    got = list(textfile.bounded_lines(stream, 10))
    assert got == [("short\r\n", 0), ("x" * 10, 40), ("last witho", 6)]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("Café".encode(), "utf-8-sig"),
        ("Café".encode("utf-16"), "utf-16"),
        (b"\xef\xbb\xbfCaf\xc3\xa9", "utf-8-sig"),
        # ASCII for more than the sample, then one Windows-1252 byte: found where it is.
        (b"a,b\n" * 400_000 + "Zoë,Crème brûlée\n".encode("cp1252"), "cp1252"),
        (
            "注文番号,お客様,合計\n1001,山田太郎,1200円\n1002,佐藤花子,3400円\n".encode("shift_jis")
            * 4,
            "cp932",
        ),
    ],
)
def test_detect_encoding(data: bytes, expected: str) -> None:
    assert textfile.detect_encoding(io.BytesIO(data)) == expected


def test_a_line_longer_than_the_bound_is_one_problem_and_the_rest_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_common, "MAX_LINE_CHARS", 1000)
    path = tmp_path / "orders_export.csv"
    rows = [SHOPIFY_HEADER, _shopify_row("#1001"), "x" * 5000, _shopify_row("#1002")]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    items = _parse_shopify(path)
    orders = [i.order for i in items if isinstance(i, EventRecord)]
    assert [o.number for o in orders if o is not None] == ["#1001", "#1002"]
    assert [i for i in items if isinstance(i, Problem)] == [
        Problem("orders_export.csv:3", "line of 5,000 characters, longer than 1,000; skipped")
    ]


def test_an_order_with_too_many_rows_keeps_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shopify, "MAX_GROUP_ROWS", 3)
    monkeypatch.setattr(csv_common, "MAX_GROUP_ROWS", 3)
    path = tmp_path / "orders_export.csv"
    rows = [SHOPIFY_HEADER, *(_shopify_row("#1001", f"Item {n}") for n in range(5))]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    items = _parse_shopify(path)
    (order,) = [i for i in items if isinstance(i, EventRecord)]
    assert order.order is not None
    assert [line.name for line in order.order.lines] == ["Item 0", "Item 1", "Item 2"]
    problems = [i for i in items if isinstance(i, Problem)]
    assert [p.location for p in problems] == ["orders_export.csv:5", "orders_export.csv:6"]
    assert problems[0].reason == "order #1001 has more than 3 rows; this row is skipped"


def test_an_order_seen_again_after_many_others_is_still_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(textfile.KeySet, "_PENDING", 8)
    path = tmp_path / "orders.csv"
    lines = ["Order Number,Date,Customer Email,Total,Item"]
    lines += [f"{n},2024-01-01,c{n}@example.com,10.00,Mug" for n in range(1, 101)]
    lines.append("7,2024-01-01,c7@example.com,10.00,Cup")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = list(OrdersCsvConnector().parse(path, ParseOptions(tz=UTC)))
    assert len([i for i in items if isinstance(i, EventRecord)]) == 100
    (problem,) = [i for i in items if isinstance(i, Problem)]
    assert problem.location == "orders.csv:102"
    assert "order 7 appears again after other orders" in problem.reason


def test_a_utf16_tab_separated_export_is_read(tmp_path: Path) -> None:
    path = tmp_path / "orders_export.txt"
    rows = [SHOPIFY_HEADER, _shopify_row("#1001", "Crème")]
    path.write_bytes(("\n".join(r.replace(",", "\t") for r in rows) + "\n").encode("utf-16"))
    assert registry.detect(path).name == "shopify"
    (order,) = [i for i in _parse_shopify(path) if isinstance(i, EventRecord)]
    assert order.order is not None and order.order.lines[0].name == "Crème"


def test_a_chat_csv_line_longer_than_the_bound_is_one_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat_csv, "MAX_LINE_CHARS", 1000)
    path = tmp_path / "chats.csv"
    rows = [
        "Time,Author,Message",
        "2024-01-01 10:00:00,Bob,hello",
        "2024-01-01 10:01:00,Bob," + "x" * 5000,
        "2024-01-01 10:02:00,Alice,hi",
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    items = list(chat_csv.ChatCsvConnector().parse(path, ParseOptions(tz=UTC)))
    assert [i.text for i in items if isinstance(i, EventRecord)] == ["hello", "hi"]
    assert [i for i in items if isinstance(i, Problem)] == [
        Problem("chats.csv:3", "line of 5,024 characters, longer than 1,000; skipped")
    ]
