"""Squarespace's orders export (Commerce › Orders › Download CSV), as shops download it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.db import Database
from app.errors import FormatError
from app.ingest import import_paths
from app.records import EventRecord, Notice, ParseOptions, Problem
from app.service import Service
from connectors import registry
from connectors.squarespace import SquarespaceConnector

FIX = Path(__file__).resolve().parent / "fixtures" / "orders" / "squarespace"
ORDERS = FIX / "orders.csv"
SHOPIFY = Path(__file__).resolve().parent / "fixtures" / "orders"


def _items(path: Path) -> list[object]:
    options = ParseOptions(tz=ZoneInfo("America/Los_Angeles"), currency="EUR")
    return list(SquarespaceConnector().parse(path, options))


def _orders(path: Path) -> dict[str, EventRecord]:
    found = {}
    for item in _items(path):
        if isinstance(item, EventRecord):
            assert item.order is not None
            found[item.order.number] = item
    return found


def test_the_export_is_told_from_shopifys() -> None:
    assert registry.detect(ORDERS).name == "squarespace"
    for shopify in sorted(SHOPIFY.glob("shopify*.csv")):
        assert registry.detect(shopify).name == "shopify", shopify


def test_orders_with_their_items_buyers_and_money() -> None:
    items = _items(ORDERS)
    assert not [i for i in items if isinstance(i, (Problem, Notice))]
    orders = _orders(ORDERS)
    assert list(orders) == ["1", "3", "4", "2"]
    one = orders["1"]
    assert one.source == "squarespace"
    # (the site's local time, month first: 7/25/2018 21:06 in Los Angeles)
    assert one.occurred_at == datetime(2018, 7, 26, 4, 6, tzinfo=UTC)
    assert one.order is not None
    assert (one.order.currency, one.order.subtotal, one.order.shipping, one.order.total) == (
        "USD",
        Decimal("20"),
        Decimal("10"),
        Decimal("30"),
    )
    assert [(line.name, line.quantity, line.unit_price, line.sku) for line in one.order.lines] == [
        ("Washed Colombian Coffee - 200g", 1, Decimal("10"), "SQ0509144"),
        ("Washed Ethiopian Coffee - 200g", 1, Decimal("10"), "SQ0030016"),
    ]
    (buyer,) = one.participants
    assert (buyer.name, buyer.email, buyer.platform) == (
        "Ana Ruiz",
        "ana.ruiz@example.com",
        "squarespace",
    )
    assert one.details["billing"]["zip"] == "94086"
    # An item row with an empty Order ID belongs to the order above it.
    four = orders["4"].order
    assert four is not None
    assert [line.name for line in four.lines] == [
        "Washed Colombian Coffee - 200g",
        "3 month subscription - 200g/1/Monthly",
    ]
    assert (four.financial_status, four.fulfillment_status) == ("paid", "fulfilled")
    assert four.fulfilled_at == datetime(2018, 8, 6, 17, 2, tzinfo=UTC)
    assert orders["3"].details["notes"] == "Leave at the back door"
    # A refunded, cancelled order: the refund and the cancellation are read.
    two = orders["2"].order
    assert two is not None
    assert (two.financial_status, two.refunded, two.total) == (
        "refunded",
        Decimal("20"),
        Decimal("20"),
    )
    assert two.cancelled_at == datetime(2018, 7, 26, 19, 32, tzinfo=UTC)
    (dirk,) = orders["2"].participants
    assert (dirk.name, dirk.phone) == ("Dirk Ortmann", "5034441234")


def test_a_bad_row_is_a_problem_at_its_line_and_the_rest_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    lines = ORDERS.read_text().splitlines()
    lines[3] = lines[3].replace(",240,,0,,8/4/2018 19:26,", ",2a40,,0,,8/4/2018 19:26,")
    lines.insert(2, "1,,,,,,,,,,,,,,,,1,Gift wrap")  # an item row cut short, in order 1
    path.write_text("\n".join(lines) + "\n")
    items = _items(path)
    problems = [i for i in items if isinstance(i, Problem)]
    assert [p.location for p in problems] == ["orders.csv:3", "orders.csv:5"]
    assert "header has 44" in problems[0].reason and "line item skipped" in problems[0].reason
    assert "order 3: Total" in problems[1].reason
    assert sorted(_orders(path)) == ["1", "2", "4"]


def test_a_file_without_order_id_says_which_column_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    text = ORDERS.read_text()
    path.write_text(text.replace("Order ID,", "Number,", 1))
    with pytest.raises(FormatError, match="no Order ID column"):
        _items(path)


def test_through_the_cli_one_customer_per_buyer_and_importing_again_adds_nothing(
    tmp_path: Path,
) -> None:
    from tests.test_cli_e2e import CLI

    tool = CLI(tmp_path)  # (the installed ``threadline`` command)
    (report,) = tool.json("import", str(ORDERS))["files"]
    assert (report["format"], report["added"], report["problems"]) == ("squarespace", 4, [])
    mo = tool.json("show", "mo.cafe@example.net")
    assert mo["customer"]["name"] == "Mo Cafe"
    assert mo["customer"]["orders"]["numbers"] == ["3", "4"]
    (report,) = tool.json("import", str(ORDERS))["files"]
    assert (report["added"], report["duplicates"]) == (0, 4)


def test_an_order_lookup_by_its_number(db: Database) -> None:
    (report,) = import_paths(db, [ORDERS])
    assert report.added == 4
    svc = Service(db)
    (ana,) = svc.customers("ana.ruiz")
    assert ana.orders.count == 1
