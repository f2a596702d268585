"""Connector for Amazon Seller Central order reports (tab-separated flat files).

The "All Orders" / new-orders report and the "Unshipped Orders" report have
one row per order item, tab-separated, with lowercase hyphenated headers
(``order-id``, ``purchase-date``, ``product-name``, ``quantity-purchased``,
``item-price``, …; the "All Orders" report by date says ``amazon-order-id``
and ``quantity``, and has ``order-status``). Rows are grouped by
order id — kept as a string such as ``123-4567890-1234567`` — into one order
event whose lines are the items (``item-price`` is the line's total, so the
unit price is it divided by the quantity, when that is exact).

The report has no order total, so the total is derived: items + shipping −
promotion discounts, plus item and shipping tax for USD and CAD orders
(marketplaces whose prices exclude tax; elsewhere ``item-price`` includes
VAT). ``details["total_computed"]`` marks it. Amounts are plain ``.``
decimals. The Unshipped report has no currency column: its amounts are read
in ``options.currency`` with a notice. Dates are ISO 8601 with an offset
(``2009-01-01T10:50:49-08:00``). ``order-status`` maps to Shopify's
vocabulary (Shipped → paid/fulfilled, Unshipped → paid/unfulfilled, Pending
→ pending, Cancelled → voided). The buyer is ``buyer-email`` (an Amazon
relay address, still unique to the buyer), ``buyer-name`` and
``buyer-phone-number``; ``recipient-name`` and the shipping address stay in
``details``.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.records import Channel, EventRecord, Item, OrderInfo, OrderLine, ParseOptions, Problem
from connectors.csv_common import (
    CsvReader,
    Row,
    buyer,
    drop_empty,
    group_rows,
    header_keys,
    no_currency_notice,
    order_event,
)
from connectors.order_values import (
    BadValue,
    currency_code,
    parse_amount,
    parse_datetime,
    parse_quantity,
    unit_price,
)

_SOURCE = "amazon"
_WHAT = "an Amazon order report"
_ID = ("order-id", "amazon-order-id")
_AMOUNTS = (
    "item-price",
    "item-tax",
    "shipping-price",
    "shipping-tax",
    "item-promotion-discount",
    "ship-promotion-discount",
)
_TAX_EXCLUSIVE = frozenset({"USD", "CAD"})
_STATUSES = {
    "shipped": ("paid", "fulfilled"),
    "unshipped": ("paid", "unfulfilled"),
    "partiallyshipped": ("paid", "partial"),
    "pending": ("pending", "unfulfilled"),
    "cancelled": ("voided", ""),
    "canceled": ("voided", ""),
}


def _is_report(keys: set[str]) -> bool:
    return (
        bool(keys & {"orderid", "amazonorderid"})
        and "purchasedate" in keys
        and bool(keys & {"sku", "productname", "orderitemid"})
    )


class AmazonConnector:
    """Reads Amazon Seller Central order reports: items grouped into order events."""

    name: str = "amazon"
    label: str = "Amazon Seller Central order report (.txt, tab-separated)"
    channel: Channel = "order"
    extensions: tuple[str, ...] = (".txt", ".tsv", ".csv")

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure this connector is that ``path`` is an Amazon order report.

        Args:
            path: the file (unused; the header decides).
            head: up to the first 64 KiB of the file.

        Returns:
            0.95 for a header with ``order-id``, ``purchase-date`` and an item
            column (``sku``, ``product-name`` or ``order-item-id``), else 0.0.
        """
        return 0.95 if _is_report(header_keys(head)) else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield one order event per order id, and a problem per bad row.

        Args:
            path: the report.
            options: default currency, fallback zone, progress and cancel hooks.

        Yields:
            ``EventRecord``, ``Problem`` and ``Notice`` items.

        Raises:
            FormatError: the header is not an Amazon order report.
        """
        with CsvReader(path, options, _WHAT) as reader:
            if not _is_report(set(reader.columns)):
                raise reader.fail("no order-id, purchase-date and sku/product-name columns")
            default_currency = options.currency.upper()
            if "currency" not in reader.columns:
                yield no_currency_notice(default_currency)
            for group in group_rows(
                reader, lambda row: row.get(*_ID), "row has no order-id; skipped"
            ):
                if isinstance(group, Problem):
                    yield group
                else:
                    yield _order(reader.name, group, default_currency, options)


def _sum(values: list[Decimal | None]) -> Decimal | None:
    found = [v for v in values if v is not None]
    return sum(found, Decimal(0)) if found else None


def _order(
    filename: str, rows: list[Row], default_currency: str, options: ParseOptions
) -> EventRecord | Problem:
    """One order's item rows as an order event, or a problem naming the bad row."""
    first = rows[0]
    number = first.get(*_ID)
    at, column = first, ""
    try:
        column = "purchase-date"
        created = parse_datetime(first.get(column), options.tz, "ymd")
        column = "payments-date"
        paid = parse_datetime(first.get(column), options.tz, "ymd")
        column = "currency"
        currency = currency_code(first.get(column)) if first.get(column) else default_currency
        lines: list[OrderLine] = []
        money: dict[str, list[Decimal | None]] = {}
        for at in rows:
            for column in _AMOUNTS:
                money.setdefault(column, []).append(parse_amount(at.get(column)))
            column = "quantity-purchased"
            quantity = parse_quantity(at.get(column, "quantity"))
            lines.append(
                OrderLine(
                    at.get("product-name") or at.get("sku"),
                    quantity,
                    unit_price(money["item-price"][-1], quantity),
                    at.get("sku"),
                )
            )
    except BadValue as exc:
        return Problem(f"{filename}:{at.line}", f"order {number}: {column} {exc}")
    if created is None:
        return Problem(f"{filename}:{first.line}", f"order {number}: no purchase-date")
    subtotal = _sum(money["item-price"])
    shipping = _sum(money["shipping-price"])
    tax = _sum(money["item-tax"] + money["shipping-tax"])
    promotions = _sum(money["item-promotion-discount"] + money["ship-promotion-discount"])
    discount = abs(promotions) if promotions is not None else None
    total = None
    if subtotal is not None:
        total = subtotal + (shipping or 0) - (discount or 0)
        if currency in _TAX_EXCLUSIVE:
            total += tax or 0
    status = first.get("order-status")
    key = "".join(ch for ch in status.lower() if ch.isalpha())
    financial, fulfillment = _STATUSES.get(key, (key, ""))
    if not status:
        to_ship = sum(int(q) for r in rows if (q := r.get("quantity-to-ship")).isdigit())
        financial = "paid" if paid else ""
        fulfillment = "unfulfilled" if to_ship or not first.get("quantity-shipped") else "fulfilled"
    info = OrderInfo(
        number=number,
        currency=currency,
        total=total,
        subtotal=subtotal,
        shipping=shipping,
        tax=tax,
        discount=discount,
        financial_status=financial,
        fulfillment_status=fulfillment,
        platform_order_id=number,
        paid_at=paid,
        lines=tuple(lines),
    )
    participants = buyer(
        _SOURCE,
        name=first.get("buyer-name"),
        email=first.get("buyer-email"),
        phone=first.get("buyer-phone-number"),
    )
    details = _details(first, rows, total)
    return order_event(_SOURCE, info, created, participants, details, f"{filename}:{first.line}")


def _details(first: Row, rows: list[Row], total: Decimal | None) -> dict[str, Any]:
    """Shipping (with recipient) and billing addresses, channel, service level, item ids."""

    def address(prefix: str) -> dict[str, str]:
        street = ", ".join(p for n in (1, 2, 3) if (p := first.get(f"{prefix}-address-{n}")))
        return drop_empty(
            {
                "street": street,
                "city": first.get(f"{prefix}-city"),
                "province": first.get(f"{prefix}-state"),
                "zip": first.get(f"{prefix}-postal-code"),
                "country": first.get(f"{prefix}-country"),
                "phone": first.get(f"{prefix}-phone-number"),
            }
        )

    return {
        "shipping": drop_empty({"name": first.get("recipient-name"), **address("ship")}),
        "billing": address("bill"),
        "status": first.get("order-status"),
        "sales_channel": first.get("sales-channel"),
        "shipping_method": first.get("ship-service-level"),
        "fulfillment_channel": first.get("fulfillment-channel"),
        "promise_date": first.get("promise-date"),
        "purchase_order_number": first.get("purchase-order-number"),
        "business_order": first.get("is-business-order").lower() == "true" or None,
        "notes": first.get("delivery-Instructions"),
        "order_item_ids": [i for r in rows if (i := r.get("order-item-id"))],
        "total_computed": True if total is not None else None,
    }
