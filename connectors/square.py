"""Connector for Square's transactions export (Dashboard › Transactions › Export, CSV).

Square's file has one row per transaction and grew from 41 to 50 and 55
columns (``Customer ID``, ``Customer Name``, ``Order Reference ID``, …); all
are matched by header name. Each row is one event: a payment row is an order
(number = ``Transaction ID``, total = ``Total Collected``, subtotal = ``Gross
Sales``, discount = ``Discounts``, tax = ``Tax``; items from ``Description``,
``Latte x 2, Croissant``); a refund row (``Event Type`` Refund, or a negative
total) is its own "Refund <id>" event with a negative total, so a customer's
net spend is right whether or not the payment is in the same file.

Money carries a currency symbol and negatives look like ``-$0.95``;
thousands separators are accepted (``$1,234.56``) and a decimal comma where
the file uses one. The file states no currency code: ``€``, ``£`` and ``¥``
name theirs (EUR, GBP, JPY), otherwise amounts are read in
``options.currency`` and a notice says so. ``Date`` and ``Time`` are separate
columns (``2022-11-10``, ``21:50:48`` or ``10/05/2026``, ``2:30:00 PM``) and
``Time Zone`` is a Rails zone name (``Pacific Time (US & Canada)``) mapped to
its IANA zone; an unknown name falls back to ``options.tz`` with a notice.
The buyer is ``Customer Name`` with ``Customer ID`` as the platform id (the
export has no e-mail or phone).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from app.records import (
    Channel,
    DateOrder,
    EventRecord,
    Item,
    Notice,
    OrderInfo,
    OrderLine,
    ParseOptions,
    Problem,
)
from connectors.csv_common import (
    CsvReader,
    Row,
    buyer,
    header_keys,
    no_currency_notice,
    order_event,
)
from connectors.order_values import (
    BadValue,
    NumberStyle,
    choose_date_order,
    currency_from_symbols,
    detect_number_style,
    parse_datetime,
    parse_money,
    region_date_order,
    zone_named,
)

_SOURCE = "square"
_WHAT = "a Square transactions export"
_KEYS = frozenset({"date", "time", "grosssales", "totalcollected", "transactionid"})
_MONEY_COLUMNS = ("Gross Sales", "Net Sales", "Tax", "Total Collected", "Fees", "Net Total")
_ITEM = re.compile(r"(?P<name>.+?)\s+x\s*(?P<qty>\d+)")
_RAILS_ZONES = {
    "Pacific Time (US & Canada)": "America/Los_Angeles",
    "Mountain Time (US & Canada)": "America/Denver",
    "Central Time (US & Canada)": "America/Chicago",
    "Eastern Time (US & Canada)": "America/New_York",
    "Atlantic Time (Canada)": "America/Halifax",
    "Newfoundland": "America/St_Johns",
    "Alaska": "America/Juneau",
    "Hawaii": "Pacific/Honolulu",
    "Arizona": "America/Phoenix",
    "Indiana (East)": "America/Indiana/Indianapolis",
    "Saskatchewan": "America/Regina",
    "Mexico City": "America/Mexico_City",
    "Bogota": "America/Bogota",
    "Lima": "America/Lima",
    "Santiago": "America/Santiago",
    "Buenos Aires": "America/Argentina/Buenos_Aires",
    "Brasilia": "America/Sao_Paulo",
    "UTC": "Etc/UTC",
    "London": "Europe/London",
    "Edinburgh": "Europe/London",
    "Dublin": "Europe/Dublin",
    "Lisbon": "Europe/Lisbon",
    "Madrid": "Europe/Madrid",
    "Paris": "Europe/Paris",
    "Amsterdam": "Europe/Amsterdam",
    "Brussels": "Europe/Brussels",
    "Berlin": "Europe/Berlin",
    "Bern": "Europe/Zurich",
    "Zurich": "Europe/Zurich",
    "Rome": "Europe/Rome",
    "Vienna": "Europe/Vienna",
    "Stockholm": "Europe/Stockholm",
    "Copenhagen": "Europe/Copenhagen",
    "Warsaw": "Europe/Warsaw",
    "Prague": "Europe/Prague",
    "Athens": "Europe/Athens",
    "Helsinki": "Europe/Helsinki",
    "Istanbul": "Europe/Istanbul",
    "Moscow": "Europe/Moscow",
    "Tokyo": "Asia/Tokyo",
    "Osaka": "Asia/Tokyo",
    "Sapporo": "Asia/Tokyo",
    "Seoul": "Asia/Seoul",
    "Hong Kong": "Asia/Hong_Kong",
    "Singapore": "Asia/Singapore",
    "Mumbai": "Asia/Kolkata",
    "New Delhi": "Asia/Kolkata",
    "Kuwait": "Asia/Kuwait",
    "Sydney": "Australia/Sydney",
    "Canberra": "Australia/Sydney",
    "Melbourne": "Australia/Melbourne",
    "Brisbane": "Australia/Brisbane",
    "Adelaide": "Australia/Adelaide",
    "Darwin": "Australia/Darwin",
    "Perth": "Australia/Perth",
    "Hobart": "Australia/Hobart",
    "Auckland": "Pacific/Auckland",
    "Wellington": "Pacific/Auckland",
}


def _items(description: str) -> tuple[OrderLine, ...]:
    """Line items from ``Description``: ``Latte x 2, Croissant`` (no unit prices)."""
    lines: list[OrderLine] = []
    for part in (p.strip() for p in description.split(",")):
        if not part:
            continue
        match = _ITEM.fullmatch(part)
        if match:
            lines.append(OrderLine(match["name"].strip(), int(match["qty"])))
        else:
            lines.append(OrderLine(part))
    return tuple(lines)


class SquareConnector:
    """Reads Square transactions exports: payments and refunds as order events."""

    name: str = "square"
    label: str = "Square transactions export (.csv)"
    channel: Channel = "order"
    extensions: tuple[str, ...] = (".csv",)

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure this connector is that ``path`` is a Square transactions export.

        Args:
            path: the file (unused; the header decides).
            head: up to the first 64 KiB of the file.

        Returns:
            0.95 for a header with ``Date``, ``Time``, ``Gross Sales``,
            ``Total Collected`` and ``Transaction ID``, else 0.0.
        """
        return 0.95 if header_keys(head) >= _KEYS else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield one event per transaction row, and a problem per bad row.

        Args:
            path: the CSV file.
            options: default currency and zone, region (day/month order),
                progress and cancel hooks.

        Yields:
            ``EventRecord``, ``Problem`` and ``Notice`` items.

        Raises:
            FormatError: the header is not a Square transactions export.
        """
        with CsvReader(path, options, _WHAT) as reader:
            if not set(reader.columns) >= _KEYS:
                raise reader.fail("no Date, Time, Gross Sales, Total Collected, Transaction ID")
            order, notice = choose_date_order(
                options, reader.sample(("Date",)), region_date_order(options.region)
            )
            if notice is not None:
                yield notice
            money_samples = reader.sample(_MONEY_COLUMNS)
            currency = currency_from_symbols(money_samples)
            if currency is None:
                currency = options.currency.upper()
                yield no_currency_notice(currency)
            default: NumberStyle = "comma" if reader.delimiter == ";" else "dot"
            style = detect_number_style(money_samples, default)
            rows = _Rows(reader.name, options, currency, lambda t: parse_money(t, style), order)
            for row in reader.rows():
                yield row if isinstance(row, Problem) else rows.event(row)
            if reader.cancelled:
                return
        if rows.unknown_zones:
            names = ", ".join(sorted(rows.unknown_zones))
            yield Notice(f"unknown time zones {names}; those times are read in {options.tz}")


class _Rows:
    """Turns transaction rows into events."""

    def __init__(
        self,
        filename: str,
        options: ParseOptions,
        currency: str,
        money: Callable[[str], Decimal | None],
        order: DateOrder,
    ) -> None:
        self.filename = filename
        self.options = options
        self.currency = currency
        self.money = money
        self.order = order
        self.unknown_zones: set[str] = set()

    def event(self, row: Row) -> EventRecord | Problem:
        """One row as a payment or refund event, or a problem."""
        locator = f"{self.filename}:{row.line}"
        txn = row.get("Transaction ID")
        if not txn:
            return Problem(locator, "row has no Transaction ID; skipped")
        amounts: dict[str, Decimal | None] = {}
        column = ""
        try:
            for column in ("Gross Sales", "Discounts", "Tax", "Total Collected", "Partial Refunds"):
                amounts[column] = self.money(row.get(column))
            column = "Date"
            occurred = parse_datetime(
                f"{row.get('Date')} {row.get('Time')}".strip(), self._zone(row), self.order
            )
        except BadValue as exc:
            return Problem(locator, f"transaction {txn}: {column} {exc}")
        if occurred is None:
            return Problem(locator, f"transaction {txn}: no Date")
        total = amounts["Total Collected"]
        event_type = row.get("Event Type")
        refund = event_type.lower() == "refund" or (total is not None and total < 0)
        discount = amounts["Discounts"]
        status = row.get("Transaction Status")
        financial = "refunded" if refund else _financial(status)
        info = OrderInfo(
            number=txn,
            currency=self.currency,
            total=total,
            subtotal=amounts["Gross Sales"],
            tax=amounts["Tax"],
            discount=abs(discount) if discount else None,
            financial_status=financial,
            platform_order_id=row.get("Payment ID"),
            paid_at=occurred if financial == "paid" else None,
            lines=() if refund else _items(row.get("Description")),
        )
        participants = buyer(
            _SOURCE, name=row.get("Customer Name"), platform_id=row.get("Customer ID")
        )
        external_id = txn
        title = None
        if refund:
            stamp = f"{row.get('Date')}T{row.get('Time')}".replace(" ", "")
            external_id = f"{txn}/refund/{stamp}"
            title = f"Refund {txn}"
        return order_event(
            _SOURCE,
            info,
            occurred,
            participants,
            _details(row, refund),
            locator,
            title,
            external_id,
        )

    def _zone(self, row: Row) -> tzinfo:
        name = row.get("Time Zone")
        if not name:
            return self.options.tz
        if name in _RAILS_ZONES:
            return ZoneInfo(_RAILS_ZONES[name])
        zone = zone_named(name)
        if zone is None:
            self.unknown_zones.add(name)
            return self.options.tz
        return zone


def _financial(status: str) -> str:
    key = status.strip().lower()
    return {"complete": "paid", "completed": "paid", "canceled": "voided"}.get(key, key)


def _details(row: Row, refund: bool) -> dict[str, Any]:
    """Tender, staff, location, fees, tip and references of a transaction."""
    return {
        "description": row.get("Description") if refund else "",
        "event_type": row.get("Event Type"),
        "status": row.get("Transaction Status"),
        "source": row.get("Source"),
        "payment_method": row.get("Card Brand") or ("cash" if row.get("Cash") else ""),
        "tip": row.get("Tip"),
        "service_charges": row.get("Service Charges"),
        "gift_card_sales": row.get("Gift Card Sales"),
        "partial_refunds": row.get("Partial Refunds"),
        "fees": row.get("Fees"),
        "net_total": row.get("Net Total"),
        "refund_reason": row.get("Refund Reason"),
        "discount_name": row.get("Discount Name"),
        "location": row.get("Location"),
        "device": row.get("Device Nickname", "Device Name"),
        "staff": row.get("Staff Name"),
        "dining_option": row.get("Dining Option"),
        "customer_reference": row.get("Customer Reference ID"),
        "order_reference": row.get("Order Reference ID"),
        "deposit_id": row.get("Deposit ID"),
        "notes": row.get("Fulfillment Note"),
        "link": row.get("Details"),
    }
