"""Tests for the Shopify orders export connector, against a real redacted export."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import select

from app import queries
from app.db import Database, _alembic_config, make_engine, open_database, url_for
from app.errors import FormatError
from app.ingest import import_file, import_items, import_paths
from app.models import Event, Order
from app.records import (
    EventRecord,
    Item,
    OrderInfo,
    OrderLine,
    ParseOptions,
    Participant,
    Problem,
)
from connectors.shopify import ShopifyConnector, parse_amount, parse_date, parse_note_attributes

FIXTURES = Path(__file__).parent / "fixtures" / "orders"
SAMPLE = FIXTURES / "shopify_orders_export_redacted.csv"
APPLE = "Apple Cider Vinegar Effervescent - Buy 1 Get 1 FREE - Color-free"
DHAKA = ZoneInfo("Asia/Dhaka")


def _parse(name: str, tz: ZoneInfo = DHAKA, **kwargs: object) -> list[Item]:
    options = ParseOptions(tz=tz, **kwargs)  # type: ignore[arg-type]
    return list(ShopifyConnector().parse(FIXTURES / name, options))


def _events(items: list[Item]) -> dict[str, EventRecord]:
    """The orders by name ("#1001"); each is keyed by its Id, else name and creation time."""
    return {
        item.order.number if item.order else item.external_id: item
        for item in items
        if isinstance(item, EventRecord)
    }


def _problems(items: list[Item]) -> list[Problem]:
    return [item for item in items if isinstance(item, Problem)]


def test_real_sample_groups_line_items_by_order_name() -> None:
    items = _parse("shopify_orders_export_redacted.csv")
    assert _problems(items) == []
    events = _events(items)
    assert list(events) == ["#71736", "#71737"]

    first = events["#71736"]
    assert first.channel == "order"
    assert first.source == "shopify"
    assert first.title == "Order #71736"
    assert first.thread_key is None
    assert first.locator == "shopify_orders_export_redacted.csv:2"
    # 2026-04-05 23:30:29 +0400 is 19:30:29 UTC.
    assert first.occurred_at == datetime(2026, 4, 5, 19, 30, 29, tzinfo=UTC)
    order = first.order
    assert order is not None
    assert order.number == "#71736"
    assert order.currency == "BDT"
    assert order.total == Decimal("1500.00")
    assert str(order.total) == "1500.00"
    assert order.subtotal == Decimal("1400.00")
    assert order.shipping == Decimal("100.00")
    assert order.tax == Decimal("0.00")
    assert order.financial_status == "pending"
    assert order.fulfillment_status == "unfulfilled"
    assert order.platform_order_id == "16718658109809"
    assert order.paid_at is None and order.fulfilled_at is None and order.cancelled_at is None
    assert order.lines == (OrderLine(APPLE, 1, Decimal("1400.00"), ""),)
    assert first.participants == (
        Participant("buyer", "REDACTED NAME", None, "+880000000000", platform="shopify"),
    )
    assert first.text == (
        f"1 × {APPLE} @ 1400.00\n"
        "Total 1500.00 BDT · pending · unfulfilled\n"
        "Shipping: 2-4 Day Delivery (Steadfast)"
    )


def test_real_sample_totals_come_only_from_the_first_row() -> None:
    second = _events(_parse("shopify_orders_export_redacted.csv"))["#71737"]
    assert second.locator == "shopify_orders_export_redacted.csv:12"
    assert second.occurred_at == datetime(2026, 4, 5, 21, 48, 3, tzinfo=UTC)
    order = second.order
    assert order is not None
    assert order.total == Decimal("1700.00")
    assert order.subtotal == Decimal("1600.00")
    assert order.discount == Decimal("400.00")
    assert order.lines == (
        OrderLine("Female Solid Perfume", 1, Decimal("600.00"), ""),
        OrderLine(APPLE, 1, Decimal("1400.00"), ""),
    )
    assert "Total 1700.00 BDT" in second.text
    assert second.details["discount_code"] == "UPSELL DISCOUNT"


def test_real_sample_details_and_note_attributes() -> None:
    details = _events(_parse("shopify_orders_export_redacted.csv"))["#71736"].details
    assert details["billing"] == {
        "name": "REDACTED NAME",
        "street": "REDACTED STREET",
        "city": "Dhaka",
        "zip": "-",
        "country": "BD",
        "phone": "+880000000000",
    }
    assert details["shipping"] == details["billing"]
    assert details["shipping_method"] == "2-4 Day Delivery (Steadfast)"
    assert details["payment_method"] == "Cash on Delivery (COD)"
    assert details["tags"] == ["releasit_cod_form"]
    assert details["accepts_marketing"] is False
    assert details["source"] == "5690175"
    assert "notes" not in details
    attributes = details["note_attributes"]
    assert len(attributes) == 10
    assert attributes["First name"] == "REDACTED"
    assert attributes["UTM campaign"] == "120244480055500734"
    assert attributes["IP address"] == "192.0.2.1"


def test_older_shorter_header_in_another_order_gives_the_same_orders() -> None:
    sample = _events(_parse("shopify_orders_export_redacted.csv"))
    old = _events(_parse("shopify_old_header.csv"))
    assert list(old) == ["#71736", "#71737", "#71738"]
    for number, event in sample.items():
        assert dataclasses.replace(old[number], locator="") == dataclasses.replace(
            event, locator=""
        )
        assert old[number].locator.split(":")[1] == event.locator.split(":")[1]
    # "Fulfillment Date" is the old name of "Fulfilled at".
    third = old["#71738"]
    assert third.locator == "shopify_old_header.csv:23"
    assert third.order is not None
    assert third.order.fulfilled_at == datetime(2026, 4, 7, 8, 30, tzinfo=UTC)
    assert third.order.paid_at == datetime(2026, 4, 6, 6, 5, tzinfo=UTC)
    assert third.order.lines == (OrderLine("Female Solid Perfume", 1, Decimal("600.00"), "FSP-01"),)
    assert third.details["accepts_marketing"] is True
    assert third.participants[0].email == "buyer@example.com"


def test_bom_crlf_non_ascii_and_currency_exponents() -> None:
    raw = (FIXTURES / "shopify_bom_crlf_intl.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    items = _parse("shopify_bom_crlf_intl.csv")
    assert _problems(items) == []
    events = _events(items)
    assert list(events) == ["#1001", "#1002", "#1003"]

    yen = events["#1001"]
    assert yen.order is not None
    assert yen.order.currency == "JPY"
    assert yen.order.total == Decimal("1500")
    assert str(yen.order.total) == "1500"
    assert yen.occurred_at == datetime(2026, 3, 1, 0, 15, tzinfo=UTC)
    assert yen.order.fulfilled_at == datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
    assert yen.order.lines == (
        OrderLine("抹茶 Matcha 100g", 2, Decimal("500"), "MT-100"),
        OrderLine("Teebecher", 1, Decimal("500"), ""),
    )
    assert yen.participants == (
        Participant("buyer", "Zoë Müller", "zoe@example.de", "+49 221 000000", platform="shopify"),
    )
    # The shipping name differs from the billing name: both are kept.
    assert yen.details["shipping"]["name"] == "Jürgen Müller"
    assert yen.details["billing"]["zip"] == "50667"
    assert yen.details["billing"]["city"] == "Köln"
    assert yen.details["tags"] == ["VIP", "wholesale"]
    assert yen.text.startswith("2 × 抹茶 Matcha 100g @ 500\n1 × Teebecher @ 500\nTotal 1500 JPY")

    dinar = events["#1002"]
    assert dinar.order is not None
    assert dinar.order.currency == "KWD"
    assert dinar.order.total == Decimal("12.345")
    assert dinar.order.shipping == Decimal("1.345")
    assert dinar.order.refunded == Decimal("12.345")
    assert dinar.order.cancelled_at == datetime(2026, 3, 4, 7, 0, tzinfo=UTC)
    assert dinar.participants[0].name == "渡辺 健"
    assert dinar.participants[0].phone == "+965 0000 0000"
    assert dinar.details["notes"] == "Leave at the door.\nRing twice."
    assert dinar.details["note_attributes"] == {"gift": "yes", "wrap": "gold"}
    assert "Notes: Leave at the door." in dinar.text

    # #1002 spans lines 4-6 (two quoted fields with an embedded CRLF each).
    assert dinar.locator == "shopify_bom_crlf_intl.csv:4"
    anonymous = events["#1003"]
    assert anonymous.locator == "shopify_bom_crlf_intl.csv:7"
    assert anonymous.order is not None and anonymous.order.currency == "USD"
    assert anonymous.participants == (
        Participant("buyer", "Ana Lucía Peña", None, "+1 555 0100", platform="shopify"),
    )
    assert "billing" not in anonymous.details


def test_excel_saved_cp1252_file_with_serial_dates() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    events = _events(_parse("shopify_excel_cp1252.csv", tz=berlin))
    event = events["#3001"]
    # 45384.34789351852 is 2024-04-02 08:20:58 in Berlin (CEST, +0200).
    assert event.occurred_at == datetime(2024, 4, 2, 6, 20, 58, tzinfo=UTC)
    assert event.order is not None
    assert event.order.paid_at == datetime(2024, 4, 2, 6, 24, tzinfo=UTC)
    assert event.order.total == Decimal("19.99")
    assert event.participants[0].name == "Renée Façade"
    assert event.order.lines[0].name == "Crème brûlée kit"


def test_bad_rows_become_problems_and_the_rest_imports() -> None:
    items = _parse("shopify_bad_rows.csv")
    events = _events(items)
    assert list(events) == ["#2001", "#2004", "#2006"]
    problems = {p.location: p.reason for p in _problems(items)}
    assert set(problems) == {
        "shopify_bad_rows.csv:5",
        "shopify_bad_rows.csv:6",
        "shopify_bad_rows.csv:8",
        "shopify_bad_rows.csv:11",
    }
    assert "no order Name" in problems["shopify_bad_rows.csv:5"]
    assert "#2002" in problems["shopify_bad_rows.csv:6"]
    assert "'12,x' is not an amount" in problems["shopify_bad_rows.csv:6"]
    assert "10 columns" in problems["shopify_bad_rows.csv:8"]
    assert "'yesterday' is not a date" in problems["shopify_bad_rows.csv:11"]
    # #2001's note attributes span lines 2-4, so #2004 starts on line 9.
    assert events["#2001"].details["note_attributes"] == {"a": "1", "b": "2", "c": "3"}
    assert events["#2004"].locator == "shopify_bad_rows.csv:9"
    order = events["#2004"].order
    assert order is not None
    assert order.total == Decimal("10.00")
    assert order.lines[1] == OrderLine("Spoon", 3, Decimal("1.00"), "SP-1")


def test_not_a_shopify_export_raises_format_error() -> None:
    with pytest.raises(FormatError, match="not a Shopify orders export") as info:
        _parse("not_shopify_customers.csv")
    assert "\n" not in str(info.value)


def test_empty_file_raises_format_error(tmp_path: Path) -> None:
    empty = tmp_path / "orders_export.csv"
    empty.write_bytes(b"")
    with pytest.raises(FormatError):
        list(ShopifyConnector().parse(empty, ParseOptions(tz=DHAKA)))


def test_sniff() -> None:
    connector = ShopifyConnector()
    for name in ("shopify_orders_export_redacted.csv", "shopify_bom_crlf_intl.csv"):
        path = FIXTURES / name
        assert connector.sniff(path, path.read_bytes()[:65536]) == pytest.approx(0.95)
    other = FIXTURES / "not_shopify_customers.csv"
    assert connector.sniff(other, other.read_bytes()) == 0.0
    assert connector.sniff(other, b"") == 0.0
    assert connector.sniff(other, b"From alice@example.com Mon Jan 1 00:00:00 2024\n") == 0.0


def test_connector_attributes() -> None:
    connector = ShopifyConnector()
    assert connector.name == "shopify"
    assert connector.label == "Shopify orders export (.csv)"
    assert connector.channel == "order"
    assert connector.extensions == (".csv",)


def test_cancel_stops_between_orders() -> None:
    produced: list[Item] = []
    options = ParseOptions(tz=DHAKA, should_cancel=lambda: len(produced) >= 1)
    for item in ShopifyConnector().parse(FIXTURES / "shopify_old_header.csv", options):
        produced.append(item)
    assert list(_events(produced)) == ["#71736"]


def test_progress_ends_at_the_file_size() -> None:
    calls: list[tuple[int, int]] = []
    _parse("shopify_old_header.csv", progress=lambda done, total: calls.append((done, total)))
    size = (FIXTURES / "shopify_old_header.csv").stat().st_size
    assert calls[-1] == (size, size)
    assert all(done <= total == size for done, total in calls)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1400.00", Decimal("1400.00")),
        ("1500", Decimal("1500")),
        ("12.345", Decimal("12.345")),
        ("-5.10", Decimal("-5.10")),
        ("", None),
        ("  ", None),
    ],
)
def test_parse_amount(text: str, expected: Decimal | None) -> None:
    value = parse_amount(text)
    assert value == expected
    if expected is not None:
        assert str(value) == str(expected)


@pytest.mark.parametrize("text", ["12,x", "1,400.00", "$5", "NaN", "Infinity", "1e3"])
def test_parse_amount_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(text)


def test_parse_date_forms() -> None:
    tz = ZoneInfo("America/New_York")
    assert parse_date("2026-04-05 21:06:21 +0400", tz) == datetime(
        2026, 4, 5, 17, 6, 21, tzinfo=UTC
    )
    assert parse_date("2026-01-05 21:06:21 -0500", tz) == datetime(2026, 1, 6, 2, 6, 21, tzinfo=UTC)
    assert parse_date("2026-04-05T21:06:21+04:00", tz) == datetime(
        2026, 4, 5, 17, 6, 21, tzinfo=UTC
    )
    # No offset: the given zone (EST in January).
    assert parse_date("2026-01-05 10:00:00", tz) == datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
    assert parse_date("45384", tz) == datetime(2024, 4, 2, 4, 0, tzinfo=UTC)
    assert parse_date("", tz) is None
    with pytest.raises(ValueError):
        parse_date("05/04/2026 xx", tz)


def test_parse_note_attributes() -> None:
    assert parse_note_attributes("a: 1\r\nurl: https://x.test/p?q=1\nb:\ncontinued line") == {
        "a": "1",
        "url": "https://x.test/p?q=1",
        "b": "continued line",
    }
    assert parse_note_attributes("") == {}


# --- two stores in one database ----------------------------------------------------------

_STORE_HEADER = (
    "Name,Email,Financial Status,Currency,Total,Created at,Lineitem quantity,Lineitem name,"
    "Lineitem price,Billing Name"
)


def _store_export(path: Path, rows: list[tuple[str, str, str, str, str, str]], ids: bool) -> Path:
    """A Shopify export: (name, email, status, total, created, id) per order."""
    lines = [_STORE_HEADER + (",Id" if ids else "")]
    for name, email, status, total, created, order_id in rows:
        cells = [name, email, status, "GBP", total, created, "1", "Vase", total, email[:4]]
        lines.append(",".join(cells + ([order_id] if ids else [])))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("ids", [True, False], ids=["with Id", "without Id"])
def test_two_stores_numbering_alike_keep_their_own_orders(
    db: Database, tmp_path: Path, ids: bool
) -> None:
    store_a = [
        ("#1001", "ann@a.example", "paid", "10.00", "2026-01-05 10:00:00 +0000", "5001"),
        ("#1002", "bob@a.example", "paid", "20.00", "2026-01-06 10:00:00 +0000", "5002"),
    ]
    store_b = [
        ("#1001", "cat@b.example", "paid", "30.00", "2026-02-01 09:00:00 +0100", "7001"),
    ]
    a = _store_export(tmp_path / "a" / "orders_export.csv", store_a, ids)
    b = _store_export(tmp_path / "b" / "orders_export.csv", store_b, ids)
    assert [r.added for r in import_paths(db, [a, b])] == [2, 1]
    with db.session() as session:
        totals = {c.emails[0]: c.orders.totals for c in queries.list_customers(session)}
    assert totals == {
        "ann@a.example": {"GBP": Decimal("10.00")},
        "bob@a.example": {"GBP": Decimal("20.00")},
        "cat@b.example": {"GBP": Decimal("30.00")},
    }
    # A newer export of store A updates its orders, adding nothing and touching B's none.
    store_a[0] = ("#1001", "ann@a.example", "refunded", "10.00", store_a[0][4], "5001")
    newer = _store_export(tmp_path / "a" / "orders_export_1.csv", store_a, ids)
    [report] = import_paths(db, [newer])
    assert (report.added, report.updated, report.duplicates) == (0, 1, 1)
    with db.session() as session:
        statuses = dict(
            session.execute(select(Order.platform_order_id, Order.financial_status)).all()
            if ids
            else session.execute(select(Order.total, Order.financial_status)).all()
        )
    expected = (
        {"5001": "refunded", "5002": "paid", "7001": "paid"}
        if ids
        else {Decimal("10.00"): "refunded", Decimal("20.00"): "paid", Decimal("30.00"): "paid"}
    )
    assert statuses == expected


@pytest.mark.parametrize(
    "first, then",
    [("without", "with"), ("with", "without"), ("with", "mangled")],
    ids=["Id added later", "Id left out later", "Id mangled by a spreadsheet later"],
)
def test_an_export_with_or_without_ids_updates_the_orders_of_another(
    db: Database, tmp_path: Path, first: str, then: str
) -> None:
    """An older export without the Id column (or a newer one without it, or with the Ids a
    spreadsheet turned into 5.00E+03) keys its orders otherwise: the same order, named
    alike and placed the same minute, is updated, not added again; another store's order
    of the same name at another time stays its own."""

    def export(path: Path, kind: str, rows: list[tuple[str, str, str, str, str, str]]) -> Path:
        made = _store_export(path, rows, kind != "without")
        if kind == "mangled":  # (a spreadsheet also dropped the seconds of the dates)
            text = made.read_text(encoding="utf-8").replace(":37 +0000", " +0000")
            for row in rows:
                text = text.replace(f",{row[5]}\n", f",{int(row[5]) / 1000:.2f}E+03\n")
            made.write_text(text, encoding="utf-8")
        return made

    orders = [
        ("#1001", "ann@a.example", "paid", "10.00", "2026-01-05 10:00:37 +0000", "5001"),
        ("#1002", "bob@a.example", "paid", "20.00", "2026-01-06 10:00:37 +0000", "5002"),
    ]
    other_store = [("#1001", "cat@b.example", "paid", "30.00", "2026-02-01 09:00:00 +0100", "7001")]
    assert import_file(db, export(tmp_path / "a1.csv", first, orders)).added == 2
    assert import_file(db, export(tmp_path / "b.csv", first, other_store)).added == 1
    orders[0] = (*orders[0][:2], "refunded", *orders[0][3:])
    report = import_file(db, export(tmp_path / "a2.csv", then, orders))
    # (an order that gains its Id is updated too: the Id is stored with it)
    expected = (0, 2, 0) if then == "with" else (0, 1, 1)
    assert (report.added, report.updated, report.duplicates) == expected
    with db.session() as session:
        rows = session.execute(
            select(Order.number, Order.total, Order.financial_status).order_by(Order.total)
        ).all()
        assert [tuple(r) for r in rows] == [
            ("#1001", Decimal("10.00"), "refunded"),
            ("#1002", Decimal("20.00"), "paid"),
            ("#1001", Decimal("30.00"), "paid"),
        ]
        placed = session.scalars(select(Event.occurred_at).order_by(Event.occurred_at)).all()
        assert [at.second for at in placed] == [37, 37, 0]  # (seconds lost are no change)
    again = import_file(db, export(tmp_path / "a3.csv", first, orders))  # and back
    assert (again.added, again.updated) == (0, 0)


def test_orders_keyed_by_name_before_are_rekeyed_by_the_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    database = open_database(path)
    created = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    old = [
        EventRecord(
            channel="order",
            source="shopify",
            external_id=name,  # how versions before 0008 keyed a Shopify order
            occurred_at=created,
            title=f"Order {name}",
            text="",
            participants=(Participant("buyer", "Ann", "ann@a.example", platform="shopify"),),
            order=OrderInfo(name, "GBP", total=Decimal("10.00"), platform_order_id=order_id),
        )
        for name, order_id in (("#1001", "5001"), ("#1002", ""))
    ]
    import_items(database, lambda: old, label="old", format="shopify")
    database.dispose()
    engine = make_engine(url_for(path))
    cfg = _alembic_config()
    with engine.begin() as conn:  # back to the schema before order keys, data kept
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
    engine.dispose()
    database = open_database(path)
    with database.session() as session:
        keys = sorted(session.scalars(select(Event.external_id)))
    assert keys == ["#1002@2026-01-05T10:00:00Z", "id:5001"]
    export = _store_export(
        tmp_path / "orders_export.csv",
        [
            ("#1001", "ann@a.example", "paid", "10.00", "2026-01-05 10:00:00 +0000", "5001"),
            ("#1002", "ann@a.example", "paid", "10.00", "2026-01-05 10:00:00 +0000", ""),
        ],
        ids=True,
    )
    [report] = import_paths(database, [export])
    assert report.added == 0  # the same orders: updated or already there, never copies
    database.dispose()
