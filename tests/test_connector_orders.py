"""Order connectors: WooCommerce, Etsy, Stripe, PayPal, Square, Amazon, generic CSV, Shopify.

Every fixture under ``fixtures/orders`` is in the real shape of its export
(headers verbatim from FORMATS.md §1, the Stripe and Shopify samples copied
as they are); the re-import tests go through ``app.ingest`` and check what a
customer's profile shows.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app import queries, settings
from app.db import Database, open_database
from app.errors import FormatError
from app.ingest import import_file, import_paths
from app.models import Event, Order
from app.records import EventRecord, Item, Notice, OrderLine, ParseOptions, Participant, Problem
from connectors import registry
from connectors.amazon import AmazonConnector
from connectors.csv_common import sniff_delimiter
from connectors.etsy import EtsyConnector
from connectors.order_values import (
    choose_date_order,
    detect_number_style,
    parse_datetime,
    parse_money,
    unit_price,
    zone_named,
)
from connectors.orders_csv import OrdersCsvConnector, guess_columns
from connectors.paypal import PayPalConnector
from connectors.shopify import ShopifyConnector
from connectors.square import SquareConnector
from connectors.stripe import StripeConnector
from connectors.woocommerce import WooCommerceConnector

FIXTURES = Path(__file__).parent / "fixtures" / "orders"
ETSY = FIXTURES / "etsy"
D = Decimal


def _parse(connector: Any, path: Path, tz: str = "UTC", **kwargs: Any) -> list[Item]:
    options = ParseOptions(tz=ZoneInfo(tz), **kwargs)
    return list(connector.parse(path, options))


def _events(items: list[Item]) -> dict[str, EventRecord]:
    return {i.external_id: i for i in items if isinstance(i, EventRecord)}


def _problems(items: list[Item]) -> dict[str, str]:
    return {i.location: i.reason for i in items if isinstance(i, Problem)}


def _notices(items: list[Item]) -> list[str]:
    return [i.message for i in items if isinstance(i, Notice)]


def _copy(tmp_path: Path, folder: str, *paths: Path) -> Path:
    target = tmp_path / folder
    target.mkdir()
    for path in paths:
        shutil.copy(path, target / path.name)
    return target


def _customer(db: Database, ref: str) -> queries.CustomerRow:
    with db.session() as s:
        return queries.customer(s, queries.resolve_customer(s, ref))


# --------------------------------------------------------------------------- shared readers


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1,5;2,5;3\n", ";"),
        ("a\tb\tc\n1\t2\t3\n", "\t"),
        ("a|b|c\n1|2|3\n", "|"),
        ('"Date","Name, Full","Gross"\n"1","x, y","1,250.00"\n', ","),
    ],
)
def test_sniff_delimiter(text: str, delimiter: str) -> None:
    assert sniff_delimiter(text) == delimiter


@pytest.mark.parametrize(
    ("text", "style", "expected"),
    [
        ("$1,234.56", "dot", "1234.56"),
        ("-$0.95", "dot", "-0.95"),
        ("(5.00)", "dot", "-5.00"),
        ("12.345", "dot", "12.345"),
        ("¥1,500", "dot", "1500"),
        ("1500", "dot", "1500"),
        ("1.234,56 €", "comma", "1234.56"),
        ("EUR 12,50", "comma", "12.50"),
        ("1 234,56", "comma", "1234.56"),
        ("3.300", "comma", "3300"),
        ("12,345", "comma", "12.345"),
    ],
)
def test_parse_money_is_exact(text: str, style: Any, expected: str) -> None:
    value = parse_money(text, style)
    assert isinstance(value, Decimal) and str(value) == expected


@pytest.mark.parametrize(
    ("text", "style"),
    [("12,5", "dot"), ("12.50", "comma"), ("1,23.4", "dot"), ("abc", "dot"), ("1e3", "dot")],
)
def test_parse_money_rejects(text: str, style: Any) -> None:
    with pytest.raises(ValueError, match="is not an amount"):
        parse_money(text, style)


def test_detect_number_style_by_majority() -> None:
    assert detect_number_style(["1,234.56", "12.50", "1,500"]) == "dot"
    assert detect_number_style(["1.234,56", "20,00", "3.300"]) == "comma"
    assert detect_number_style(["1.500", "12.345"], "dot") == "dot"
    assert detect_number_style(["1.500"], "comma") == "comma"


def test_parse_datetime_forms() -> None:
    ny, utc = ZoneInfo("America/New_York"), ZoneInfo("UTC")
    assert parse_datetime("5/31/2016 0:37", ny, "mdy") == datetime(2016, 5, 31, 4, 37, tzinfo=UTC)
    assert parse_datetime("31.05.2016", utc, "dmy") == datetime(2016, 5, 31, tzinfo=UTC)
    assert parse_datetime("10/05/2026 2:30:00 PM", utc, "mdy") == datetime(
        2026, 10, 5, 14, 30, tzinfo=UTC
    )
    assert parse_datetime("12/31/21", utc, "mdy") == datetime(2021, 12, 31, tzinfo=UTC)
    assert parse_datetime("Jan 25, 2025 12:45 PM", utc) == datetime(2025, 1, 25, 12, 45, tzinfo=UTC)
    assert parse_datetime("10-Dec-25", utc) == datetime(2025, 12, 10, tzinfo=UTC)
    assert parse_datetime("2009-01-01T10:50:49-08:00", utc) == datetime(
        2009, 1, 1, 18, 50, 49, tzinfo=UTC
    )
    assert parse_datetime("45384.5", ny) == datetime(2024, 4, 2, 16, 0, tzinfo=UTC)
    assert parse_datetime("", utc) is None
    for bad in ("yesterday", "31/02/2026", "13:00"):
        with pytest.raises(ValueError, match="is not a date"):
            parse_datetime(bad, utc, "dmy")


def test_choose_date_order() -> None:
    options = ParseOptions(tz=UTC)
    assert choose_date_order(options, ["5/31/2016"], "dmy") == ("mdy", None)
    assert choose_date_order(options, ["31/5/2016"], "mdy") == ("dmy", None)
    assert choose_date_order(options, ["03.02.2026"], "mdy") == ("dmy", None)
    order, notice = choose_date_order(options, ["03/02/2026"], "mdy")
    assert order == "mdy" and notice is not None and "--date-order" in notice.message
    assert choose_date_order(options, ["2026-02-03"], "dmy") == ("dmy", None)
    chosen = ParseOptions(tz=UTC, date_order="dmy")
    assert choose_date_order(chosen, ["5/31/2016"], "mdy") == ("dmy", None)


def test_zone_named_and_unit_price() -> None:
    assert zone_named("PST") is not None and str(zone_named("PST")) == "UTC-08:00"
    assert str(zone_named("GMT+01:00")) == "UTC+01:00"
    assert zone_named("Europe/Berlin") == ZoneInfo("Europe/Berlin")
    assert zone_named("XYZ") is None and zone_named("Nowhere/City") is None
    assert unit_price(D("51.00"), 2) == D("25.50")
    assert unit_price(D("10.00"), 3) is None
    assert unit_price(D("3300"), 3) == D("1100")


# --------------------------------------------------------------------------- every fixture


DETECTED = {
    "woocommerce_skyverge_legacy.csv": "woocommerce",
    "woocommerce_skyverge_keys_semicolon.csv": "woocommerce",
    "woocommerce_algolplus_kwd.csv": "woocommerce",
    "woocommerce_wqep_cp1252.csv": "woocommerce",
    "etsy/EtsySoldOrders2026-9.csv": "etsy",
    "etsy/EtsySoldOrderItems2026-9.csv": "etsy",
    "stripe_unified_payments_redacted.csv": "stripe",
    "stripe_payments_bom_jpy_kwd.csv": "stripe",
    "paypal_business_41col_bom.csv": "paypal",
    "paypal_personal_10col_eu.csv": "paypal",
    "paypal_19col.csv": "paypal",
    "square_transactions_41col.csv": "square",
    "square_transactions_55col_gbp.csv": "square",
    "amazon_all_orders_us.txt": "amazon",
    "amazon_new_orders_jp.txt": "amazon",
    "amazon_unshipped.txt": "amazon",
    "orders_generic_de_semicolon.csv": "orders_csv",
    "woocommerce_unknown_layout.csv": "orders_csv",
    "shopify_orders_export_redacted.csv": "shopify",
}


@pytest.mark.parametrize(("name", "expected"), sorted(DETECTED.items()))
def test_registry_detects_the_platform_from_the_header(name: str, expected: str) -> None:
    assert registry.detect(FIXTURES / name).name == expected


@pytest.mark.parametrize(
    "name", [n for n in sorted(DETECTED) if n != "woocommerce_unknown_layout.csv"]
)
def test_every_event_is_exact_aware_and_storable(name: str, tmp_path: Path) -> None:
    path = _copy(tmp_path, "x", FIXTURES / name) / Path(name).name
    items = _parse(registry.detect(path), path, "Europe/Berlin")
    events = [i for i in items if isinstance(i, EventRecord)]
    assert events
    for event in events:
        assert event.channel == "order" and event.occurred_at.tzinfo is UTC
        order = event.order
        assert order is not None and len(order.currency) == 3 and order.currency.isupper()
        for amount in (order.total, order.subtotal, order.shipping, order.tax, order.refunded):
            assert amount is None or type(amount) is Decimal
        assert all(type(line.quantity) is int for line in order.lines)
        assert all(
            line.unit_price is None or type(line.unit_price) is Decimal for line in order.lines
        )
        json.dumps(dict(event.details))  # details are stored as JSON: no Decimal, no datetime
        assert event.locator.startswith(f"{Path(name).name}:")


@pytest.mark.parametrize(
    ("connector", "foreign"),
    [
        (WooCommerceConnector(), "stripe_unified_payments_redacted.csv"),
        (EtsyConnector(), "paypal_19col.csv"),
        (StripeConnector(), "amazon_unshipped.txt"),
        (PayPalConnector(), "square_transactions_41col.csv"),
        (SquareConnector(), "woocommerce_wqep_cp1252.csv"),
        (AmazonConnector(), "not_shopify_customers.csv"),
        (OrdersCsvConnector(), "not_shopify_customers.csv"),
        (ShopifyConnector(), "etsy/EtsySoldOrders2026-9.csv"),
    ],
)
def test_a_foreign_file_is_a_one_line_format_error(connector: Any, foreign: str) -> None:
    with pytest.raises(FormatError) as info:
        _parse(connector, FIXTURES / foreign)
    assert "\n" not in str(info.value) and str(info.value).startswith(Path(foreign).name)


@pytest.mark.parametrize(
    ("connector", "name"),
    [
        (WooCommerceConnector(), "woocommerce_skyverge_legacy.csv"),
        (StripeConnector(), "stripe_payments_bom_jpy_kwd.csv"),
        (AmazonConnector(), "amazon_all_orders_us.txt"),
        (OrdersCsvConnector(), "orders_generic_de_semicolon.csv"),
    ],
)
def test_cancel_stops_and_progress_reaches_the_end(connector: Any, name: str) -> None:
    produced: list[Item] = []
    options = ParseOptions(
        tz=UTC, should_cancel=lambda: sum(isinstance(i, EventRecord) for i in produced) >= 1
    )
    for item in connector.parse(FIXTURES / name, options):
        produced.append(item)
    assert sum(isinstance(i, EventRecord) for i in produced) == 1
    calls: list[tuple[int, int]] = []
    _parse(connector, FIXTURES / name, progress=lambda done, total: calls.append((done, total)))
    size = (FIXTURES / name).stat().st_size
    assert calls[-1] == (size, size)


# --------------------------------------------------------------------------- WooCommerce


def test_woocommerce_skyverge_legacy_packed_items_and_bad_rows() -> None:
    items = _parse(
        WooCommerceConnector(),
        FIXTURES / "woocommerce_skyverge_legacy.csv",
        "America/New_York",
        currency="EUR",
    )
    assert _notices(items) == ["no currency in the file; amounts read as EUR (setting `currency`)"]
    events = _events(items)
    assert list(events) == ["4967", "4968", "4969"]
    zoe = events["4967"]
    assert zoe.title == "Order 4967" and zoe.source == "woocommerce"
    # "5/31/2016 0:37" is the site's local time (EDT).
    assert zoe.occurred_at == datetime(2016, 5, 31, 4, 37, tzinfo=UTC)
    order = zoe.order
    assert order is not None
    assert (order.currency, order.total, order.shipping, order.tax) == (
        "EUR",
        D("37.40"),
        D("5.00"),
        D("2.40"),
    )
    assert (order.financial_status, order.fulfillment_status) == ("paid", "unfulfilled")
    assert order.lines == (OrderLine("product 4959 (size: Medium)", 1, D("30"), ""),)
    assert zoe.participants == (
        Participant(
            "buyer",
            "Zoë Šimková",
            "zoe@example.cz",
            "+420 601 000 000",
            platform="woocommerce",
            platform_id="12",
        ),
    )
    assert zoe.details["notes"] == "Please gift wrap"
    assert zoe.text.startswith("1 × product 4959 (size: Medium) @ 30\nTotal 37.40 EUR · paid")

    gift = events["4968"]
    assert gift.order is not None
    assert gift.order.lines == (
        OrderLine("MUG-01", 2, D("12.00"), "MUG-01"),
        OrderLine("product 4960 (color: Blue, engraving: Ana)", 1, D("12.50"), ""),
    )
    assert gift.order.discount == D("5.00") and gift.order.fulfillment_status == "fulfilled"
    # A guest (customer_user 0) has no platform id; the gift recipient is not a participant.
    assert [(p.name, p.platform_id) for p in gift.participants] == [("Ana López", None)]
    assert gift.details["shipping"]["name"] == "Luis López"
    assert gift.details["billing"]["name"] == "Ana López"
    # 4968's order notes span lines 3-4.
    assert events["4969"].locator == "woocommerce_skyverge_legacy.csv:5"
    assert _problems(items) == {
        "woocommerce_skyverge_legacy.csv:6": "row has no order number; skipped",
        "woocommerce_skyverge_legacy.csv:7": "order 4971: total '12,x' is not an amount",
        "woocommerce_skyverge_legacy.csv:8": "order 4972: date 'tomorrow' is not a date",
    }


def test_woocommerce_skyverge_keys_semicolon_decimal_comma_and_yen() -> None:
    items = _parse(
        WooCommerceConnector(),
        FIXTURES / "woocommerce_skyverge_keys_semicolon.csv",
        "Europe/Berlin",
    )
    assert _problems(items) == {} and _notices(items) == []
    events = _events(items)
    machine = events["WC-5001"]
    assert machine.occurred_at == datetime(2026, 3, 1, 13, 5, tzinfo=UTC)
    assert machine.order is not None
    assert machine.order.total == D("1254.90") and str(machine.order.total) == "1254.90"
    assert machine.order.platform_order_id == "5001"
    assert machine.order.lines == (
        OrderLine("Espresso-Maschine", 1, D("1199.00"), "ESP-1"),
        OrderLine("Bohnen 1kg", 2, D("25.50"), "BN-1"),
    )
    assert machine.details["billing"]["company"] == "Groß & Söhne GmbH"
    assert machine.participants[0].platform_id == "77"
    yen = events["WC-5002"].order
    assert yen is not None and yen.currency == "JPY"
    assert str(yen.total) == "3300" and yen.lines == (
        OrderLine("抹茶 (Matcha)", 3, D("1100"), "MT"),
    )
    refunded = events["WC-5003"].order
    assert refunded is not None
    assert (refunded.financial_status, refunded.refunded) == ("refunded", D("15.50"))
    assert "refunded 15.50 EUR" in events["WC-5003"].text


def test_woocommerce_algolplus_product_rows_repeat_order_columns_kwd() -> None:
    items = _parse(
        WooCommerceConnector(), FIXTURES / "woocommerce_algolplus_kwd.csv", "Asia/Kuwait"
    )
    events = _events(items)
    fatima = events["801"]
    assert fatima.occurred_at == datetime(2026, 2, 10, 15, 30, tzinfo=UTC)
    assert fatima.order is not None
    assert str(fatima.order.total) == "13.845" and fatima.order.currency == "KWD"
    assert fatima.order.lines == (
        OrderLine("عود (Oud) 50ml", 1, D("7.345"), "OUD-1"),
        OrderLine("Bakhoor", 2, D("2.500"), "BK-2"),
    )
    assert fatima.participants[0].name == "فاطمة الكويتية"
    assert fatima.details["billing"]["street"] == "Block 3, Street 10"
    partial = events["802"].order
    assert partial is not None
    assert (partial.financial_status, partial.refunded) == ("partially_refunded", D("1.250"))
    assert _problems(items) == {
        "woocommerce_algolplus_kwd.csv:5": "order 803: items 'abc' is not an amount"
    }


def test_woocommerce_wqep_windows_1252() -> None:
    raw = (FIXTURES / "woocommerce_wqep_cp1252.csv").read_bytes()
    assert "Renée".encode("cp1252") in raw
    items = _parse(
        WooCommerceConnector(),
        FIXTURES / "woocommerce_wqep_cp1252.csv",
        "Europe/London",
        currency="GBP",
    )
    assert _notices(items) == ["no currency in the file; amounts read as GBP (setting `currency`)"]
    events = _events(items)
    renee = events["9001"]
    assert renee.participants[0].name == "Renée Façade"
    assert renee.details["billing"]["company"] == "Café Crème SARL"
    assert renee.order is not None and renee.order.currency == "GBP"
    assert renee.order.fulfilled_at == datetime(2026, 1, 7, 16, 0, tzinfo=UTC)
    assert events["9002"].participants[0].name == "Søren Ærø"
    assert events["9002"].order is not None and events["9002"].order.financial_status == "pending"
    # "31/02/2026" shows day-first dates, and February has no 31st.
    assert _problems(items) == {
        "woocommerce_wqep_cp1252.csv:4": "order 9003: date '31/02/2026' is not a date"
    }


def test_woocommerce_without_a_preset_advises_the_generic_import() -> None:
    with pytest.raises(FormatError, match=r"--format orders_csv --map number=") as info:
        _parse(WooCommerceConnector(), FIXTURES / "woocommerce_unknown_layout.csv")
    assert "\n" not in str(info.value)


def test_woocommerce_newer_export_updates_status_and_refund(db: Database) -> None:
    with db.session() as s:
        settings.set_value(s, "currency", "EUR")
    ny = ZoneInfo("America/New_York")
    first = import_file(db, FIXTURES / "woocommerce_skyverge_legacy.csv", tz=ny)
    assert (first.format, first.added, first.updated, len(first.problems)) == (
        "woocommerce",
        3,
        0,
        3,
    )
    assert first.notices == ["no currency in the file; amounts read as EUR (setting `currency`)"]
    zoe = _customer(db, "zoe@example.cz")
    assert zoe.orders.count == 2 and zoe.orders.totals == {"EUR": D("57.40")}

    newer = import_file(db, FIXTURES / "woocommerce_skyverge_legacy_newer.csv", tz=ny)
    assert (newer.added, newer.updated, newer.duplicates) == (0, 2, 1)
    zoe = _customer(db, "zoe@example.cz")
    assert zoe.orders.count == 2 and zoe.orders.totals == {"EUR": D("37.40")}
    assert zoe.orders.numbers == ("4967", "4969")
    with db.session() as s:
        refunded = next(
            e for e in queries.timeline(s, zoe.id, channels=["order"]) if e.title == "Order 4969"
        )
    assert refunded.order is not None and refunded.order.financial_status == "refunded"
    assert refunded.details["previous"]["financial_status"] == "paid"
    assert "refunded 20.00 EUR" in refunded.text
    again = import_file(db, FIXTURES / "woocommerce_skyverge_legacy_newer.csv", tz=ny)
    assert (again.added, again.updated, again.duplicates) == (0, 0, 3)


# --------------------------------------------------------------------------- Etsy

VANCOUVER = "America/Vancouver"
ORDERS_FILE = ETSY / "EtsySoldOrders2026-9.csv"
ITEMS_FILE = ETSY / "EtsySoldOrderItems2026-9.csv"


def test_etsy_sold_orders_alone(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "orders", ORDERS_FILE)
    items = _parse(EtsyConnector(), folder / ORDERS_FILE.name, VANCOUVER)
    assert _problems(items) == {} and _notices(items) == []
    events = _events(items)
    assert list(events) == ["3101", "3102", "3103"]
    jane = events["3101"]
    assert jane.title == "Order 3101" and jane.source == "etsy"
    # A sale day without a time is midnight in the chosen zone.
    assert jane.occurred_at == datetime(2026, 9, 3, 7, 0, tzinfo=UTC)
    order = jane.order
    assert order is not None and order.lines == ()
    assert (order.total, order.subtotal, order.shipping, order.currency) == (
        D("85.00"),
        D("77.00"),
        D("8.00"),
        "CAD",
    )
    assert order.fulfilled_at == datetime(2026, 9, 5, 7, 0, tzinfo=UTC)
    assert jane.details["skus"] == ["MUG-SP", "SOAP-L"]
    assert jane.participants == (
        Participant("buyer", "Jane Doe", handle="janedoe", platform="etsy"),
    )
    assert events["3102"].order is not None and events["3102"].order.discount == D("2.70")
    lucja = events["3103"].participants[0]
    assert (lucja.name, lucja.handle, lucja.platform_id) == ("Łucja Wiśniewska", "lucjaw", "4412")


def test_etsy_sold_order_items_alone(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "items", ITEMS_FILE)
    items = _parse(EtsyConnector(), folder / ITEMS_FILE.name, VANCOUVER)
    events = _events(items)
    assert list(events) == ["3101", "3102", "3103"]
    order = events["3101"].order
    assert order is not None
    assert order.lines == (
        OrderLine(
            "Handmade Ceramic Mug - Speckled, Stoneware (Color:Gray)", 2, D("34.00"), "MUG-SP"
        ),
        OrderLine("Lavender Soap Bar", 1, D("9.00"), "SOAP-L"),
    )
    # Subtotal − discount + shipping + tax, the same figure Sold Orders states.
    assert order.total == D("85.00") and events["3101"].details["total_computed"] is True
    assert order.paid_at == datetime(2026, 9, 3, 7, 0, tzinfo=UTC)
    bob = events["3102"]
    assert bob.order is not None and bob.order.total == D("30.30")
    # Ship Name may be a gift recipient: kept in details, never a participant.
    assert bob.details["shipping"]["name"] == "Mary Smith"
    assert bob.participants == (Participant("buyer", "", handle="bobsmith", platform="etsy"),)
    assert _problems(items) == {
        "EtsySoldOrderItems2026-9.csv:6": "order 3104: Price 'abc' is not an amount",
        "EtsySoldOrderItems2026-9.csv:7": "row has no Order ID; skipped",
    }


def test_etsy_pair_in_one_folder_gives_the_same_order_from_either_file(tmp_path: Path) -> None:
    folder = _copy(tmp_path, "pair", ORDERS_FILE, ITEMS_FILE)
    from_orders = _parse(EtsyConnector(), folder / ORDERS_FILE.name, VANCOUVER)
    from_items = _parse(EtsyConnector(), folder / ITEMS_FILE.name, VANCOUVER)
    assert _notices(from_orders) == [f"joined with {ITEMS_FILE.name} on Order ID"]
    assert _notices(from_items) == [f"joined with {ORDERS_FILE.name} on Order ID"]
    a, b = _events(from_orders), _events(from_items)
    assert list(a) == list(b) == ["3101", "3102", "3103"]
    for order_id in a:
        assert dataclasses.replace(a[order_id], locator="") == dataclasses.replace(
            b[order_id], locator=""
        )
    jane = a["3101"]
    assert jane.order is not None and len(jane.order.lines) == 2
    assert jane.order.paid_at is not None and jane.order.total == D("85.00")
    assert "total_computed" not in jane.details
    assert jane.participants[0].name == "Jane Doe"
    assert jane.details["shipping"]["name"] == "Jane Doe"


def test_etsy_folder_import_finds_the_second_file_unchanged(db: Database, tmp_path: Path) -> None:
    folder = _copy(tmp_path, "pair", ORDERS_FILE, ITEMS_FILE)
    reports = import_paths(db, [folder], tz=ZoneInfo(VANCOUVER))
    assert [(Path(r.path).name, r.added, r.duplicates, r.updated) for r in reports] == [
        (ITEMS_FILE.name, 3, 0, 0),
        (ORDERS_FILE.name, 0, 3, 0),
    ]
    with db.session() as s:
        cid = queries.resolve_customer(s, "3101")
        [event] = queries.timeline(s, cid)
        assert event.order is not None and len(event.order.lines) == 2
        assert queries.customer(s, cid).name == "Jane Doe"


def test_etsy_items_imported_after_orders_attach_to_the_same_event(
    db: Database, tmp_path: Path
) -> None:
    tz = ZoneInfo(VANCOUVER)
    orders = _copy(tmp_path, "a", ORDERS_FILE) / ORDERS_FILE.name
    line_items = _copy(tmp_path, "b", ITEMS_FILE) / ITEMS_FILE.name
    assert import_file(db, orders, tz=tz).added == 3
    report = import_file(db, line_items, tz=tz)
    assert (report.added, report.updated) == (0, 3)
    with db.session() as s:
        cid = queries.resolve_customer(s, "3101")
        [event] = queries.timeline(s, cid)
        assert event.source == "etsy" and event.order is not None
        assert [line.name for line in event.order.lines] == [
            "Handmade Ceramic Mug - Speckled, Stoneware (Color:Gray)",
            "Lavender Soap Bar",
        ]
        assert queries.customer(s, cid).orders.totals == {"CAD": D("85.00")}


def test_etsy_newer_orders_export_with_a_refund(db: Database, tmp_path: Path) -> None:
    tz = ZoneInfo(VANCOUVER)
    first = _copy(tmp_path, "a", ORDERS_FILE) / ORDERS_FILE.name
    newer = _copy(tmp_path, "b", ETSY / "EtsySoldOrders2026-9_after_refund.csv")
    import_file(db, first, tz=tz)
    assert _customer(db, "3102").orders.totals == {"CAD": D("30.30")}
    report = import_file(db, newer / "EtsySoldOrders2026-9_after_refund.csv", tz=tz)
    assert (report.added, report.updated, report.duplicates) == (0, 1, 2)
    bob = _customer(db, "3102")
    assert bob.orders.totals == {"CAD": D("20.30")}
    with db.session() as s:
        [event] = queries.timeline(s, bob.id)
    assert event.order is not None
    assert (event.order.financial_status, event.order.refunded) == (
        "partially_refunded",
        D("10.00"),
    )
    assert "refunded 10.00 CAD" in event.text


# --------------------------------------------------------------------------- Stripe


def test_stripe_real_sample() -> None:
    items = _parse(StripeConnector(), FIXTURES / "stripe_unified_payments_redacted.csv")
    [event] = _events(items).values()
    assert event.external_id == "ch_REDACTED000000000000000"
    assert event.title == "Order ch_REDACTED000000000000000"
    assert event.occurred_at == datetime(2024, 6, 7, 2, 38, 54, tzinfo=UTC)
    order = event.order
    assert order is not None
    assert (order.currency, order.total, order.refunded, order.financial_status) == (
        "USD",
        D("15.00"),
        D("0.00"),
        "paid",
    )
    assert order.platform_order_id == "pi_REDACTED000000000000000"
    assert event.participants == (
        Participant(
            "buyer",
            "REDACTED NAME",
            "customer@example.com",
            platform="stripe",
            platform_id="cus_REDACTED000000",
        ),
    )
    assert event.details["converted"] == {"amount": "534.80", "refunded": "0.00", "currency": "THB"}
    assert event.details["invoice_number"] == "REDACTED-0105"
    assert event.text == "Subscription update\nTotal 15.00 USD · paid"


def test_stripe_older_header_bom_yen_dinar_failed_and_bad_rows() -> None:
    items = _parse(StripeConnector(), FIXTURES / "stripe_payments_bom_jpy_kwd.csv")
    events = _events(items)
    assert list(events) == ["ch_1JPY", "ch_1KWD", "ch_1FAIL"]
    yen = events["ch_1JPY"]
    assert yen.order is not None and str(yen.order.total) == "1500" and yen.order.currency == "JPY"
    assert yen.participants[0].name == "山田 花子"
    assert yen.details["shipping"] == {"name": "山田 太郎", "city": "Kyoto", "country": "JP"}
    dinar = events["ch_1KWD"].order
    assert dinar is not None and str(dinar.total) == "12.345" and dinar.currency == "KWD"
    failed = events["ch_1FAIL"].order
    assert failed is not None and (failed.financial_status, failed.paid_at) == ("failed", None)
    assert _problems(items) == {
        "stripe_payments_bom_jpy_kwd.csv:5": "payment ch_1BAD: Amount '12,x' is not an amount",
        "stripe_payments_bom_jpy_kwd.csv:6": "row has no payment id; skipped",
        "stripe_payments_bom_jpy_kwd.csv:7": (
            "payment ch_1DATE: Created (UTC) 'yesterday' is not a date"
        ),
    }


def test_stripe_reads_times_in_the_zone_the_column_names(tmp_path: Path) -> None:
    path = tmp_path / "unified_payments.csv"
    path.write_text(
        "id,Created date (Europe/Berlin),Amount,Amount Refunded,Currency,Status\n"
        "ch_1,2026-07-01 12:00:00,10.00,0.00,eur,Paid\n",
        encoding="utf-8",
    )
    event = _events(_parse(StripeConnector(), path))["ch_1"]
    assert event.occurred_at == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    path.write_text(path.read_text().replace("Europe/Berlin", "Mars Time"), encoding="utf-8")
    items = _parse(StripeConnector(), path, "Asia/Tokyo")
    assert _events(items)["ch_1"].occurred_at == datetime(2026, 7, 1, 3, 0, tzinfo=UTC)
    assert "names a zone Threadline does not know" in _notices(items)[0]


def test_stripe_cut_down_export_without_id_or_email(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "unified_payments.csv"
    path.write_text(
        "Created date (UTC),Amount,Amount Refunded,Currency,Description,Status,Card Name\n"
        "2026-07-01 12:00:00,10.00,0.00,eur,Mug,Paid,Ann Lee\n"
        "2026-07-02 09:30:00,25.00,5.00,eur,Vase,Paid,Bob Roe\n"
        "2026-07-02 09:30:00,25.00,5.00,eur,Vase,Paid,Bob Roe\n",
        encoding="utf-8",
    )
    assert registry.detect(path).name == "stripe"
    items = _parse(StripeConnector(), path)
    assert _problems(items) == {}
    events = list(_events(items).values())
    keys = [e.external_id for e in events]
    assert all(k.startswith("stripe-") for k in keys) and keys[2] == f"{keys[1]}-2"
    assert keys == list(_events(_parse(StripeConnector(), path)))  # stable
    assert events[0].occurred_at == datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert events[1].order is not None
    assert (events[1].order.total, events[1].order.financial_status) == (
        D("25.00"),
        "partially_refunded",
    )
    assert events[0].participants[0].name == "Ann Lee"
    assert import_file(db, path).added == 3
    assert (import_file(db, path).duplicates, import_file(db, path).added) == (3, 0)
    # The generic orders mapping names the column too.
    header = ["Order", "Created date (UTC)", "Total"]
    assert guess_columns(header)["date"] == "Created date (UTC)"
    assert guess_columns(["Order", "Created (UTC)", "Total"])["date"] == "Created (UTC)"


def test_stripe_newer_export_with_a_refund(db: Database) -> None:
    import_file(db, FIXTURES / "stripe_payments_bom_jpy_kwd.csv")
    assert _customer(db, "ahmed@example.com.kw").orders.totals == {"KWD": D("12.345")}
    report = import_file(db, FIXTURES / "stripe_payments_bom_jpy_kwd_newer.csv")
    assert (report.added, report.updated, report.duplicates) == (0, 1, 2)
    ahmed = _customer(db, "ahmed@example.com.kw")
    assert ahmed.orders.totals == {"KWD": D("10.345")}
    shown = ahmed.as_json()["orders"]
    assert (shown["count"], shown["totals"], shown["numbers"]) == (
        1,
        {"KWD": "10.345"},
        ["ch_1KWD"],
    )
    hanako = _customer(db, "hanako@example.jp")
    assert hanako.orders.totals == {"JPY": D("1500")} and hanako.name == "山田 花子"


# --------------------------------------------------------------------------- PayPal


def test_paypal_business_41_columns() -> None:
    items = _parse(PayPalConnector(), FIXTURES / "paypal_business_41col_bom.csv", region="US")
    events = _events(items)
    assert list(events) == ["1AB23456CD789012E", "4HH00000CC000000E"]
    sale = events["1AB23456CD789012E"]
    # 10:30 PST.
    assert sale.occurred_at == datetime(2026, 1, 15, 18, 30, tzinfo=UTC)
    assert sale.order is not None
    # The refund 9ZZ… of 250.00 (a later row) is applied to the payment it names.
    assert (
        sale.order.total,
        sale.order.shipping,
        sale.order.refunded,
        sale.order.financial_status,
    ) == (D("1250.00"), D("25.00"), D("250.00"), "partially_refunded")
    assert sale.details["refunds"] == {"9ZZ11111AA222222B": "250.00"}
    assert sale.order.lines == (OrderLine("Handmade Quilt", 1, None, "QLT-1"),)
    assert sale.participants == (
        Participant("buyer", "Jane Doe", "jane@example.com", "+1 217 555 0100", platform="paypal"),
    )
    assert sale.details["options"] == {"Size": "Queen"}
    pending = events["4HH00000CC000000E"]
    assert pending.order is not None and pending.order.currency == "MXN"
    assert (
        pending.order.financial_status == "pending" and pending.participants[0].name == "José Ñúñez"
    )
    assert _problems(items) == {"paypal_business_41col_bom.csv:7": "Gross 'abc' is not an amount"}
    assert _notices(items) == [
        "skipped 1 funding or transfer rows (no counterparty); they are not customer orders",
        "skipped 1 rows of money you sent; they are not customer orders",
        "skipped 1 memo rows (no balance impact); they are not customer orders",
        "applied 1 refunds or reversals to the payments they undo",
    ]


def test_paypal_personal_10_columns_european_decimal_comma() -> None:
    items = _parse(PayPalConnector(), FIXTURES / "paypal_personal_10col_eu.csv", region="US")
    events = list(_events(items).values())
    assert [e.order.total for e in events if e.order] == [D("1234.56"), D("20.00"), D("20.00")]
    # Dotted dates are day first; 14:15 CET is 13:15 UTC.
    assert events[0].occurred_at == datetime(2026, 2, 3, 13, 15, tzinfo=UTC)
    # No Transaction ID in this layout: stable keys, distinct for identical rows.
    keys = [e.external_id for e in events]
    assert all(k.startswith("PP-") for k in keys) and keys[2] == f"{keys[1]}-2"
    assert keys == [
        e.external_id
        for e in _events(
            _parse(PayPalConnector(), FIXTURES / "paypal_personal_10col_eu.csv")
        ).values()
    ]
    assert events[0].participants == (Participant("buyer", "Jürgen Müller", platform="paypal"),)


def test_paypal_19_columns_date_order_and_unknown_zone() -> None:
    items = _parse(PayPalConnector(), FIXTURES / "paypal_19col.csv", "Asia/Tokyo", region="US")
    assert _notices(items) == [
        "dates could be day/month or month/day; read as month/day/year"
        " (use --date-order to change)",
        "applied 1 refunds or reversals to the payments they undo",
        "unknown time zones XYZ; those times are read in Asia/Tokyo",
    ]
    events = _events(items)
    assert list(events) == ["7LL00000FF000000H"]  # the refund 8MM… is applied to it
    sale = events["7LL00000FF000000H"]
    assert sale.occurred_at == datetime(2026, 10, 1, 23, 40, 11, tzinfo=UTC)
    assert sale.order is not None and str(sale.order.total) == "1500"
    assert (sale.order.refunded, sale.order.financial_status) == (D("500"), "partially_refunded")
    day_first = _parse(PayPalConnector(), FIXTURES / "paypal_19col.csv", date_order="dmy")
    assert _events(day_first)["7LL00000FF000000H"].occurred_at.month == 1


def test_paypal_refund_events_net_the_spend(db: Database) -> None:
    with db.session() as s:
        settings.set_value(s, "region", "US")
    report = import_file(db, FIXTURES / "paypal_business_41col_bom.csv")
    assert (report.added, len(report.problems), len(report.notices)) == (2, 1, 4)
    jane = _customer(db, "jane@example.com")
    assert jane.orders.totals == {"USD": D("1000.00")}
    assert jane.orders.count == 1
    again = import_file(db, FIXTURES / "paypal_business_41col_bom.csv")
    assert (again.added, again.duplicates) == (0, 2)


_PP_HEADER = (
    '"Date","Time","TimeZone","Name","Type","Status","Currency","Gross","Fee","Net",'
    '"From Email Address","To Email Address","Transaction ID","Reference Txn ID",'
    '"Balance Impact"'
)


def _paypal(path: Path, rows: list[tuple[str, ...]]) -> Path:
    """A business activity download: (date, name, type, gross, from, to, txn, ref, impact)."""
    lines = [_PP_HEADER]
    for date, name, kind, gross, sender, to, txn, ref, impact in rows:
        cells = [date, "10:00:00", "PST", name, kind, "Completed", "USD", gross, "0.00", gross]
        lines.append(",".join(f'"{c}"' for c in [*cells, sender, to, txn, ref, impact]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_paypal_imports_only_payments_from_buyers(db: Database, tmp_path: Path) -> None:
    shop = "shop@example.com"
    path = _paypal(
        tmp_path / "Download.CSV",
        [
            # A refund listed before the payment it undoes.
            (
                "03/12/2026",
                "Ann Lee",
                "Payment Refund",
                "-40.00",
                shop,
                "ann@x.example",
                "R1",
                "P1",
                "Debit",
            ),
            (
                "03/11/2026",
                "Ann Lee",
                "Express Checkout Payment",
                "100.00",
                "ann@x.example",
                shop,
                "P1",
                "",
                "Credit",
            ),
            ("03/11/2026", "PayPal", "General Card Deposit", "100.00", "", "", "D1", "", "Credit"),
            ("03/13/2026", "PayPal", "Payment Hold", "-50.00", "", "", "H1", "", "Debit"),
            ("03/14/2026", "PayPal", "Payment Release", "50.00", "", "", "H2", "H1", "Credit"),
            (
                "03/14/2026",
                "Ann Lee",
                "Account Hold for Open Authorization",
                "-20.00",
                shop,
                "ann@x.example",
                "H3",
                "",
                "Debit",
            ),
            (
                "03/15/2026",
                "Ann Lee",
                "Reversal of General Account Hold",
                "20.00",
                "ann@x.example",
                shop,
                "H4",
                "H3",
                "Credit",
            ),
            (
                "03/16/2026",
                "From U.S. Dollar",
                "General Currency Conversion",
                "91.00",
                "",
                "",
                "C1",
                "",
                "Credit",
            ),
            ("03/16/2026", "Bank of X", "Transfer from Bank", "500.00", "", "", "T1", "", "Credit"),
            (
                "03/17/2026",
                "Bob Roe",
                "Website Payment",
                "60.00",
                "bob@x.example",
                shop,
                "P2",
                "",
                "Credit",
            ),
            (
                "03/18/2026",
                "Bob Roe",
                "Payment Reversal",
                "-60.00",
                shop,
                "bob@x.example",
                "R2",
                "P2",
                "Debit",
            ),
            (
                "03/19/2026",
                "Cy Poe",
                "Payment Refund",
                "-5.00",
                shop,
                "cy@x.example",
                "R3",
                "P9",
                "Debit",
            ),  # its payment P9 is in another export
        ],
    )
    items = _parse(PayPalConnector(), path, region="US")
    events = _events(items)
    assert list(events) == ["P1", "P2", "P9"]
    p1, p2, p9 = (events[k].order for k in ("P1", "P2", "P9"))
    assert p1 is not None and p2 is not None and p9 is not None
    assert (p1.total, p1.refunded, p1.financial_status) == (
        D("100.00"),
        D("40.00"),
        "partially_refunded",
    )
    assert (p2.total, p2.refunded, p2.financial_status) == (D("60.00"), D("60.00"), "refunded")
    assert (p9.total, p9.refunded) == (None, D("5.00"))
    assert _notices(items) == [
        "skipped 7 rows that are not payments from a buyer (Account Hold for Open "
        "Authorization ×1, General Card Deposit ×1, General Currency Conversion ×1, Payment "
        "Hold ×1, Payment Release ×1, Reversal of General Account Hold ×1, Transfer from Bank "
        "×1); they are not customer orders",
        "applied 3 refunds or reversals to the payments they undo",
    ]
    report = import_file(db, path)
    assert report.added == 3
    with db.session() as session:
        names = {c.name for c in queries.list_customers(session)}
    assert "PayPal" not in names and "Bank of X" not in names
    assert _customer(db, "ann@x.example").orders.totals == {"USD": D("60.00")}
    assert _customer(db, "bob@x.example").orders.totals == {"USD": D("0.00")}
    # The earlier export with P9 completes that order; the refund is counted once,
    # and importing the later file again changes nothing.
    earlier = _paypal(
        tmp_path / "earlier.csv",
        [
            (
                "02/20/2026",
                "Cy Poe",
                "Website Payment",
                "30.00",
                "cy@x.example",
                shop,
                "P9",
                "",
                "Credit",
            )
        ],
    )
    assert import_file(db, earlier).updated == 1
    assert import_file(db, path).added == 0
    cy = _customer(db, "cy@x.example")
    assert (cy.orders.count, cy.orders.totals) == (1, {"USD": D("25.00")})


def test_paypal_refunds_spread_over_several_exports_add_up_and_keep_the_payment(
    db: Database, tmp_path: Path
) -> None:
    """A payment in one monthly download and two partial refunds in the next two: the
    refunds add up (each once, whatever file shows it again), the order keeps its item,
    address, notes and date, and a download met before changes nothing; in any order."""
    source = (FIXTURES / "paypal_business_41col_bom.csv").read_text(encoding="utf-8-sig")
    header, payment, *_rest = source.splitlines()
    first = source.splitlines()[4]  # the refund 9ZZ…222222B of 250.00
    assert "9ZZ11111AA222222B" in first and '"-250.00"' in first
    second = (
        first.replace("9ZZ11111AA222222B", "9ZZ11111AA333333C")
        .replace('"-250.00"', '"-100.00"')
        .replace("02/03/2026", "02/10/2026")
    )

    def download(name: str, *rows: str) -> Path:
        path = tmp_path / name
        path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
        return path

    january = download("january.csv", payment)
    february = download("february.csv", first)
    march = download("march.csv", second)
    both = download("february-march.csv", first, second)
    with db.session() as s:
        settings.set_value(s, "region", "US")

    def order() -> tuple[Any, ...]:
        with db.session() as session:
            row = session.execute(
                select(Event.occurred_at, Event.body, Event.details, Order.total, Order.refunded)
                .join(Order, Order.event_id == Event.id)
                .where(Order.number == "1AB23456CD789012E")
            ).one()
            status = session.scalar(select(Order.financial_status))
        occurred, body, details, total, refunded = row
        return occurred, body, details, total, refunded, status

    reports = [import_file(db, path) for path in (january, february, march)]
    assert [(r.added, r.updated, r.duplicates) for r in reports] == [
        (1, 0, 0),
        (0, 1, 0),
        (0, 1, 0),
    ]
    occurred, body, details, total, refunded, status = order()
    assert (total, refunded, status) == (D("1250.00"), D("350.00"), "partially_refunded")
    assert occurred == datetime(2026, 1, 15, 18, 30, tzinfo=UTC)
    assert details["refunds"] == {"9ZZ11111AA222222B": "250.00", "9ZZ11111AA333333C": "100.00"}
    assert details["shipping"]["street"] == "1 Main St" and details["options"] == {"Size": "Queen"}
    assert details["type"] == "Website Payment" and details["invoice_number"] == "INV-1001"
    assert body.splitlines() == [
        "1 × Handmade Quilt",
        "Total 1250.00 USD · partially_refunded · refunded 350.00 USD",
    ]
    with db.session() as session:  # the item stays searchable
        assert [h.title for h in queries.search(session, "quilt")] == ["Order 1AB23456CD789012E"]
    jane = _customer(db, "jane@example.com")
    assert (jane.orders.count, jane.orders.totals) == (1, {"USD": D("900.00")})
    # Downloads met before, or overlapping ones: nothing counted twice, nothing changed.
    again = [import_file(db, path) for path in (both, february, january, march)]
    assert [(r.added, r.updated, r.duplicates) for r in again] == [(0, 0, 1)] * 4
    assert order() == (occurred, body, details, total, refunded, status)

    # The refunds first, then the payment: the same order.
    other = open_database(tmp_path / "other.db")
    try:
        with other.session() as s:
            settings.set_value(s, "region", "US")
        for path in (march, february, january):
            import_file(other, path)
        with other.session() as session:
            row = session.execute(
                select(Event.occurred_at, Event.body, Order.refunded, Order.financial_status).join(
                    Order, Order.event_id == Event.id
                )
            ).one()
        assert tuple(row) == (occurred, body, D("350.00"), "partially_refunded")
    finally:
        other.dispose()


# --------------------------------------------------------------------------- Square


def test_square_41_columns() -> None:
    items = _parse(SquareConnector(), FIXTURES / "square_transactions_41col.csv", currency="usd")
    assert _notices(items) == ["no currency in the file; amounts read as USD (setting `currency`)"]
    events = _events(items)
    sale = events["TXN-A1"]
    # 21:50:48 Pacific (PST) on 10 November.
    assert sale.occurred_at == datetime(2022, 11, 11, 5, 50, 48, tzinfo=UTC)
    assert sale.order is not None
    assert (sale.order.total, sale.order.subtotal, sale.order.discount, sale.order.tax) == (
        D("25.53"),
        D("22.50"),
        D("2.00"),
        D("2.03"),
    )
    assert sale.order.lines == (OrderLine("Latte", 2), OrderLine("Croissant", 1))
    assert sale.details["tip"] == "$3.00" and sale.details["location"] == "Main St Café"
    refund = events["TXN-A1/refund/2022-11-11T08:05:00"]
    assert refund.title == "Refund TXN-A1"
    assert refund.order is not None and refund.order.total == D("-10.00")
    assert refund.details["refund_reason"] == "Spilled"
    big = events["TXN-A4"].order
    assert big is not None and big.total == D("1250.00")
    assert _problems(items) == {
        "square_transactions_41col.csv:4": (
            "transaction TXN-A3: Gross Sales '$2x.00' is not an amount"
        )
    }


def test_square_55_columns_pound_12_hour_and_customer() -> None:
    items = _parse(
        SquareConnector(), FIXTURES / "square_transactions_55col_gbp.csv", currency="USD"
    )
    assert _notices(items) == []
    events = _events(items)
    scones = events["TXN-B1"]
    # 2:30 PM London (BST) on 13 May.
    assert scones.occurred_at == datetime(2026, 5, 13, 13, 30, tzinfo=UTC)
    assert scones.order is not None and scones.order.currency == "GBP"
    assert scones.order.lines == (OrderLine("Scone", 3), OrderLine("Tea", 1))
    assert scones.participants == (
        Participant("buyer", "Siobhán O'Neill", platform="square", platform_id="CUST-1"),
    )
    assert scones.details["notes"] == "Table 4" and scones.details["order_reference"] == "ORD-9"


# --------------------------------------------------------------------------- Amazon


def test_amazon_all_orders_report_groups_items() -> None:
    items = _parse(AmazonConnector(), FIXTURES / "amazon_all_orders_us.txt")
    events = _events(items)
    socks = events["111-1234567-1234567"]
    assert socks.occurred_at == datetime(2026, 4, 1, 17, 0, tzinfo=UTC)
    order = socks.order
    assert order is not None
    assert order.lines == (
        OrderLine("Wool Socks", 2, D("10.00"), "SOCK-1"),
        OrderLine("Beanie", 1, D("15.00"), "BEAN-1"),
    )
    # 35.00 items + 4.99 shipping − 2.00 promotion + 3.20 tax (US prices exclude tax).
    assert (order.subtotal, order.shipping, order.discount, order.tax, order.total) == (
        D("35.00"),
        D("4.99"),
        D("2.00"),
        D("3.20"),
        D("41.19"),
    )
    assert (order.financial_status, order.fulfillment_status) == ("paid", "fulfilled")
    assert socks.details["total_computed"] is True
    cancelled = events["112-7654321-7654321"].order
    assert cancelled is not None and (cancelled.financial_status, cancelled.total) == (
        "voided",
        None,
    )
    assert _problems(items) == {
        "amazon_all_orders_us.txt:5": (
            "order 113-0000000-0000001: item-price '1O.00' is not an amount"
        ),
        "amazon_all_orders_us.txt:6": "row has no order-id; skipped",
    }


def test_amazon_new_orders_flat_file_yen_and_buyer() -> None:
    items = _parse(AmazonConnector(), FIXTURES / "amazon_new_orders_jp.txt", "Asia/Tokyo")
    [event] = _events(items).values()
    assert event.external_id == "503-1111111-2222222"
    assert event.occurred_at == datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
    assert event.order is not None
    assert str(event.order.total) == "7000" and event.order.currency == "JPY"
    assert event.order.lines[0] == OrderLine("抹茶 100g", 3, D("1500"), "MATCHA-1")
    assert event.participants == (
        Participant(
            "buyer",
            "山田 太郎",
            "abc123xyz@marketplace.amazon.co.jp",
            "080-0000-0000",
            platform="amazon",
        ),
    )
    assert event.details["shipping"]["name"] == "山田 花子"
    assert event.details["notes"] == "置き配"


def test_amazon_unshipped_report_states_no_currency() -> None:
    items = _parse(AmazonConnector(), FIXTURES / "amazon_unshipped.txt", currency="EUR")
    assert _notices(items) == ["no currency in the file; amounts read as EUR (setting `currency`)"]
    [event] = _events(items).values()
    assert event.order is not None
    assert (event.order.currency, event.order.total) == ("EUR", None)
    assert (event.order.financial_status, event.order.fulfillment_status) == ("paid", "unfulfilled")


# --------------------------------------------------------------------------- generic orders CSV


def test_generic_guesses_german_headers_semicolons_and_decimal_comma() -> None:
    items = _parse(
        OrdersCsvConnector(), FIXTURES / "orders_generic_de_semicolon.csv", "Europe/Berlin"
    )
    assert _notices(items) == []  # "€" names the currency
    events = _events(items)
    coffee = events["A-100"]
    assert coffee.source == "orders_csv" and coffee.title == "Order A-100"
    assert coffee.occurred_at == datetime(2026, 2, 3, 13, 30, tzinfo=UTC)
    assert coffee.order is not None
    assert (coffee.order.currency, coffee.order.total, coffee.order.financial_status) == (
        "EUR",
        D("20.00"),
        "paid",
    )
    assert coffee.order.lines == (
        OrderLine("Kaffee", 2, D("7.50")),
        OrderLine("Tasse", 1, D("5.00")),
    )
    assert coffee.participants == (
        Participant("buyer", "Jürgen Müller", "juergen@example.de", platform="orders_csv"),
    )
    assert events["A-101"].order is not None and events["A-101"].order.total == D("1234.50")
    assert _problems(items) == {
        "orders_generic_de_semicolon.csv:5": "row has no order number; skipped",
        "orders_generic_de_semicolon.csv:6": "order A-102: total '1,0x €' is not an amount",
    }


def test_generic_without_known_headers_needs_a_map() -> None:
    path = FIXTURES / "orders_generic_cp1252_needs_map.csv"
    with pytest.raises(FormatError) as info:
        _parse(OrdersCsvConnector(), path)
    message = str(info.value)
    assert "\n" not in message and "columns: Ref, Placed, Client Name" in message
    assert "--format orders_csv --map number=<column>,date=<column>" in message
    mapping = {
        "number": "Ref",
        "date": "Placed",
        "total": "Amount Due",
        "currency": "Curr",
        "name": "Client Name",
        "item": "Product",
    }
    items = _parse(OrdersCsvConnector(), path, "Europe/Paris", column_map=mapping)
    events = _events(items)
    renee = events["R-1"]
    assert renee.participants[0] == Participant(
        "buyer", "Renée Façade", "renee@example.fr", platform="orders_csv"
    )
    assert renee.order is not None and renee.order.lines == (OrderLine("Crème brûlée kit"),)
    assert renee.occurred_at == datetime(2026, 1, 4, 23, 0, tzinfo=UTC)
    yen, dinar = events["R-2"].order, events["R-3"].order
    assert yen is not None and (yen.currency, str(yen.total)) == ("JPY", "1500")
    assert dinar is not None and (dinar.currency, str(dinar.total)) == ("KWD", "12.345")


def test_generic_map_mistakes_are_explained() -> None:
    path = FIXTURES / "orders_generic_cp1252_needs_map.csv"
    with pytest.raises(FormatError, match="unknown field 'author'; fields: number, date"):
        _parse(OrdersCsvConnector(), path, column_map={"author": "Ref"})
    with pytest.raises(FormatError, match="--map number=Order: no such column; columns: Ref"):
        _parse(OrdersCsvConnector(), path, column_map={"number": "Order"})


def test_generic_excel_serial_dates_and_no_currency(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "Order Number,Order Date,Email,Total\n1001,45384.5,x@example.com,10.00\n", encoding="utf-8"
    )
    items = _parse(OrdersCsvConnector(), path, "UTC", currency="chf")
    assert _notices(items) == ["no currency in the file; amounts read as CHF (setting `currency`)"]
    event = _events(items)["1001"]
    assert event.occurred_at == datetime(2024, 4, 2, 12, 0, tzinfo=UTC)
    assert event.order is not None and event.order.currency == "CHF"


def test_guess_columns() -> None:
    assert guess_columns(["Order #", "Created at", "Customer Email", "Grand Total", "Qty"]) == {
        "number": "Order #",
        "date": "Created at",
        "email": "Customer Email",
        "total": "Grand Total",
        "quantity": "Qty",
    }


# --------------------------------------------------------------------------- Shopify hardening


def _orders(items: list[Item]) -> dict[str, EventRecord]:
    """Order events by order number (Shopify keys its events by order Id)."""
    return {i.order.number: i for i in items if isinstance(i, EventRecord) and i.order}


def _shopify_rows(rows: list[str]) -> str:
    header = (FIXTURES / "shopify_old_header.csv").read_text(encoding="utf-8").splitlines()[0]
    return "\n".join([header, *rows]) + "\n"


def test_shopify_excel_resave_with_semicolons_decimal_comma_and_local_dates(
    tmp_path: Path,
) -> None:
    source = FIXTURES / "shopify_orders_export_redacted.csv"
    with source.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))

    def excel(cell: str) -> str:  # a German Excel: decimal commas, local dates
        if re.fullmatch(r"\d+\.\d\d", cell):
            return cell.replace(".", ",")
        return "05.04.2026 23:30" if cell == "2026-04-05 23:30:29 +0400" else cell

    out = io.StringIO()
    csv.writer(out, delimiter=";").writerows([[excel(c) for c in row] for row in rows])
    path = tmp_path / "orders_export.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    assert ShopifyConnector().sniff(path, path.read_bytes()) == pytest.approx(0.95)
    items = _parse(ShopifyConnector(), path, "Asia/Dubai")
    first = _orders(items)["#71736"]
    assert first.order is not None and first.order.total == D("1500.00")
    assert first.occurred_at == datetime(2026, 4, 5, 19, 30, tzinfo=UTC)


def test_shopify_rows_of_one_order_apart_and_no_currency_column(tmp_path: Path) -> None:
    path = tmp_path / "orders_export.csv"
    path.write_text(
        "Name,Financial Status,Total,Created at,Lineitem quantity,Lineitem name,Lineitem price\n"
        "#1,paid,10.00,2026-01-01 10:00:00 +0000,1,Mug,10.00\n"
        "#2,paid,5.00,2026-01-02 10:00:00 +0000,1,Spoon,5.00\n"
        "#1,,,2026-01-01 10:00:00 +0000,1,Plate,3.00\n",
        encoding="utf-8",
    )
    items = _parse(ShopifyConnector(), path, currency="nok")
    assert _notices(items) == ["no currency in the file; amounts read as NOK (setting `currency`)"]
    assert list(_orders(items)) == ["#1", "#2"]
    assert _orders(items)["#1"].order is not None
    assert "#1 appears again" in _problems(items)["orders_export.csv:4"]


def test_paypal_german_activity_download_reads_as_the_english_one() -> None:
    # A German account's download (2018 layout, 41 columns): "Datum", "Brutto",
    # "Transaktionscode", "Auswirkung auf Guthaben" Haben/Soll, times in MEZ, decimal commas.
    path = FIXTURES / "paypal_business_41col_de.csv"
    assert registry.detect(path).name == "paypal"
    items = _parse(PayPalConnector(), path, region="DE")
    events = _events(items)
    assert list(events) == ["1AB23456CD789012E"]  # the card deposit, money sent, a hold: no
    sale = events["1AB23456CD789012E"]
    assert sale.occurred_at == datetime(2026, 1, 15, 18, 30, tzinfo=UTC)  # 19:30 MEZ
    assert sale.order is not None
    assert (
        sale.order.total,
        sale.order.shipping,
        sale.order.refunded,
        sale.order.financial_status,
        sale.order.currency,
    ) == (D("1250.00"), D("25.00"), D("250.00"), "partially_refunded", "EUR")
    assert sale.order.lines == (OrderLine("Handgemachte Decke", 1, None, "DCK-1"),)
    assert sale.participants == (
        Participant(
            "buyer", "Jana Schmidt", "jana@example.de", "+49 30 1234567", platform="paypal"
        ),
    )
    assert sale.details["shipping"]["zip"] == "10115" and sale.details["options"] == {
        "Größe": "Doppelbett"
    }
    assert _notices(items) == [
        "skipped 1 funding or transfer rows (no counterparty); they are not customer orders",
        "skipped 1 rows of money you sent; they are not customer orders",
        "skipped 1 memo rows (no balance impact); they are not customer orders",
        "applied 1 refunds or reversals to the payments they undo",
    ]


def test_paypal_uk_header_names(tmp_path: Path) -> None:
    # A UK account writes "Time zone", "Postage and Packaging Amount", "VAT", "County" and
    # "Postcode" where a US one writes TimeZone, Shipping and Handling Amount, Sales Tax…
    text = (FIXTURES / "paypal_business_41col_bom.csv").read_text(encoding="utf-8-sig")
    header, rest = text.split("\n", 1)
    for us, uk in (
        ('"TimeZone"', '"Time zone"'),
        ("Shipping and Handling Amount", "Postage and Packaging Amount"),
        ("Sales Tax", "VAT"),
        ("Address Line 2/District/Neighborhood", "Address Line 2/District/Neighbourhood"),
        ("State/Province/Region/County/Territory/Prefecture/Republic", "County"),
        ("Zip/Postal Code", "Postcode"),
    ):
        assert us in header
        header = header.replace(us, uk)
    path = tmp_path / "Download.CSV"
    path.write_text(header + "\n" + rest, encoding="utf-8")
    sale = _events(_parse(PayPalConnector(), path, region="US"))["1AB23456CD789012E"]
    assert sale.order is not None and sale.order.shipping == D("25.00")
    assert sale.order.tax == D("0.00")
    assert (
        sale.details["shipping"]["zip"] == "62701" and sale.details["shipping"]["province"] == "IL"
    )
    assert sale.occurred_at == datetime(2026, 1, 15, 18, 30, tzinfo=UTC)
