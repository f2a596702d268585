"""eBay Seller Hub's orders report, as sellers download it (US and UK layouts)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from app.db import Database
from app.ingest import import_paths
from app.records import EventRecord, Notice, ParseOptions, Problem
from app.service import Service
from connectors import registry
from connectors.ebay import EbayConnector

FIX = Path(__file__).resolve().parent / "fixtures" / "orders" / "ebay"
US = FIX / "ebay-orders-us.csv"
UK = FIX / "ebay-orders-uk.csv"


def _items(path: Path, currency: str = "USD") -> list[object]:
    options = ParseOptions(tz=ZoneInfo("America/New_York"), currency=currency)
    return list(EbayConnector().parse(path, options))


def test_both_layouts_are_recognised_past_the_blank_line_before_the_header() -> None:
    assert registry.detect(US).name == "ebay"
    assert registry.detect(UK).name == "ebay"


def test_the_us_report_with_an_order_of_several_items_and_its_footer() -> None:
    """A one-item order; an order's own row (buyer, totals) then a row per item; the blank
    rows and the two footer rows ("1 record(s) downloaded", "Seller ID: …") are no orders
    and no problems. "$" names no currency by itself: the default, with a notice."""
    items = _items(US)
    assert Notice("no currency in the file; amounts read as USD (setting `currency`)") in items
    assert not [i for i in items if isinstance(i, Problem)]
    one, two = [i for i in items if isinstance(i, EventRecord)]
    assert (one.title, one.source, one.occurred_at) == (
        "Order 12-10843-55512",
        "ebay",
        datetime(2024, 3, 5, 5, 0, tzinfo=UTC),  # ("Mar-05-24", midnight in New York)
    )
    assert one.order is not None and two.order is not None
    assert (one.order.total, one.order.shipping, one.order.tax) == (
        Decimal("48.69"),
        Decimal("5.00"),
        Decimal("3.71"),
    )
    assert (one.order.financial_status, one.order.fulfillment_status) == ("paid", "fulfilled")
    (buyer,) = one.participants
    assert (buyer.name, buyer.email, buyer.phone, buyer.handle, buyer.platform) == (
        "Priya Shah",
        "priya@example.org",
        "+1 512-555-2345",
        "flowerfan22",
        "ebay",
    )
    assert [(line.name, line.quantity, line.unit_price) for line in two.order.lines] == [
        ("Vase, blue", 1, Decimal("24.99")),
        ("Ribbon, periwinkle", 2, Decimal("14.99")),
    ]
    assert (two.order.total, two.order.subtotal) == (Decimal("66.79"), Decimal("54.97"))
    assert two.order.fulfillment_status == "unfulfilled"
    assert two.details["shipping"]["zip"] == "10001"


def test_the_uk_report_in_pounds() -> None:
    (order,) = [i for i in _items(UK) if isinstance(i, EventRecord)]
    assert order.order is not None
    assert (order.order.currency, order.order.total) == ("GBP", Decimal("21.20"))
    assert order.occurred_at == datetime(2024, 3, 5, 5, 0, tzinfo=UTC)  # ("05-Mar-24")
    assert order.details["shipping"] == {
        "name": "Zoë Müller",
        "street": "3 Mill Lane",
        "city": "Bath",
        "province": "Somerset",
        "zip": "BA1 1NE",
        "country": "United Kingdom",
        "phone": "07700 900456",
    }
    assert order.details["tracking_number"] == "AB123456789GB"


def test_a_bad_amount_is_a_problem_at_its_row(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(US.read_text().replace('"$48.69"', '"$48,6,9"'))
    items = _items(path)
    (problem,) = [i for i in items if isinstance(i, Problem)]
    assert problem.location == "orders.csv:4"
    assert "order 12-10843-55512: Total Price" in problem.reason
    assert len([i for i in items if isinstance(i, EventRecord)]) == 1


def test_an_ebay_buyer_is_one_customer_and_importing_again_adds_nothing(db: Database) -> None:
    (report,) = import_paths(db, [US])
    assert (report.format, report.added, report.problems) == ("ebay", 2, [])
    svc = Service(db)
    (priya,) = svc.customers("Priya")
    assert priya.orders.count == 1 and priya.orders.numbers == ("12-10843-55512",)
    assert svc.customers("05-10844-66621")[0].name == "Tom Okafor"
    (again,) = import_paths(db, [US])
    assert (again.added, again.duplicates) == (0, 2)


def test_a_title_and_excel_sep_line_before_the_header_and_semicolons(tmp_path: Path) -> None:
    """What a report passed through Excel looks like: a title line, Excel's ``sep=``
    marker, semicolons, and no blank line."""
    path = tmp_path / "orders.csv"
    path.write_text(
        "Orders report generated 6 March 2024\nsep=;\n"
        "Order number;Buyer username;Post to name;Post to phone;Item title;Quantity;"
        "Sold for;Total price;Sale date\n"
        "21-10901-12399;zoe_m;Zoë Müller;07700 900456;Peony bunch;1;£18.00;£21.20;05-Mar-24\n",
        encoding="utf-8",
    )
    assert registry.detect(path).name == "ebay"
    (order,) = [i for i in _items(path) if isinstance(i, EventRecord)]
    assert (order.title, order.order.total if order.order else None) == (
        "Order 21-10901-12399",
        Decimal("21.20"),
    )
    assert order.locator == "orders.csv:4"
