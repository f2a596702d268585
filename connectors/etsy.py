"""Connector for Etsy's "Sold Orders" and "Sold Order Items" CSVs (Shop Manager › Download Data).

Etsy gives two files a month: ``EtsySoldOrders<YYYY>-<M>.csv`` (one row per
order: totals, status, buyer) and ``EtsySoldOrderItems<YYYY>-<M>.csv`` (one
row per item: name, quantity, price, variations). They join on ``Order ID``,
and both become the same event (source "etsy", external id = Order ID).

The rule that makes the two files merge: **each import emits the most
complete order it can build, and the same inputs always build the same
record.** When the other file of the pair lies in the same folder (any
``.csv`` there whose header is the other kind), its rows for the same Order IDs
are joined in, so the orders file and the items file each produce the full
order — totals, status and refunds from Sold Orders, line items and the paid
date from Sold Order Items — and importing the second file finds every order
unchanged. A file alone imports on its own: Sold Orders alone gives orders
without line items (the SKUs are kept in ``details``); Sold Order Items alone
gives orders with line items, subtotal, shipping, tax and discount, and a
total computed as subtotal − discount + shipping + tax
(``details["total_computed"]``). A later import of the other file then
updates the order through ingest's upsert (the later import's record
replaces the earlier one's figures), so keep the pair in one folder. (When a
folder holds several exports of the same orders, the first by file name is
joined.)

Dates are ``MM/DD/YY`` with no time and no zone: the sale day at midnight in
``options.tz`` (a file whose dates show day-first is read day-first).
Amounts are ``.`` decimals; a currency symbol and thousands separators
(``$1,234.00``) are accepted. Refunds: Sold Orders' ``Adjusted Order Total``
below ``Order Total`` means the difference was refunded; a status naming a
refund with no adjusted total means the whole total was. The buyer is the
``Buyer User ID`` (a username, as an Etsy handle; a numeric id as the
platform id) or the ``Buyer`` username, with ``Full Name``; there is no
e-mail column. ``Ship Name`` may be a gift recipient, so it stays in the
shipping address in ``details``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from app.errors import FormatError
from app.records import (
    Channel,
    EventRecord,
    Item,
    Notice,
    OrderInfo,
    OrderLine,
    ParseOptions,
    Participant,
    Problem,
)
from connectors.csv_common import (
    SNIFF_BYTES,
    CsvReader,
    Row,
    buyer,
    group_rows,
    header_keys,
    join_name,
    no_currency_notice,
    order_event,
)
from connectors.order_values import (
    BadValue,
    choose_date_order,
    currency_code,
    detect_number_style,
    parse_datetime,
    parse_money,
    parse_quantity,
)

Kind = Literal["orders", "items"]

_SOURCE = "etsy"
_WHAT = "an Etsy Sold Orders or Sold Order Items export"
_ORDERS_KEYS = frozenset({"saledate", "orderid", "buyeruserid"})
_ITEMS_KEYS = frozenset({"saledate", "orderid", "itemname"})
_PARTNER_MAX_BYTES = 50 * 1024 * 1024
_PARTNER_MAX_FILES = 500


def _kind(keys: set[str] | frozenset[str]) -> Kind | None:
    if keys >= _ORDERS_KEYS:
        return "orders"
    if keys >= _ITEMS_KEYS:
        return "items"
    return None


@dataclass
class _Order:
    """The rows of one Order ID: its Sold Orders row and its Sold Order Items rows."""

    order_id: str
    line: int
    order_row: Row | None = None
    item_rows: list[Row] | None = None
    partner_rows: set[int] | None = None


class EtsyConnector:
    """Reads Etsy Sold Orders and Sold Order Items CSVs, joined on Order ID."""

    name: str = "etsy"
    label: str = "Etsy Sold Orders / Sold Order Items (.csv)"
    channel: Channel = "order"
    extensions: tuple[str, ...] = (".csv",)

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure this connector is that ``path`` is one of Etsy's two order CSVs.

        Args:
            path: the file (unused; the header decides).
            head: up to the first 64 KiB of the file.

        Returns:
            0.95 for a header with ``Sale Date``, ``Order ID`` and either
            ``Buyer User ID`` (Sold Orders) or ``Item Name`` (Sold Order Items).
        """
        return 0.95 if _kind(header_keys(head)) else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield one order event per Order ID in the file, joined with the other file if found.

        Args:
            path: a Sold Orders or Sold Order Items CSV.
            options: zone for the sale days, default currency, progress and cancel.

        Yields:
            ``EventRecord`` items, ``Problem`` items for bad rows, ``Notice`` items.

        Raises:
            FormatError: the header is neither Etsy file.
        """
        with CsvReader(path, options, _WHAT) as reader:
            kind = _kind(set(reader.columns))
            if kind is None:
                raise reader.fail("no Sale Date, Order ID and Buyer User ID or Item Name columns")
            samples = reader.sample(("Sale Date", "Date Shipped", "Date Paid"))
            order, notice = choose_date_order(options, samples, "mdy")
            if notice is not None:
                yield notice
            if "currency" not in reader.columns:
                yield no_currency_notice(options.currency.upper())
            style = detect_number_style(
                reader.sample(("Order Total", "Order Value", "Price", "Item Total")), "dot"
            )
            partner, partners = _partner_rows(path, kind, options)
            build = _Build(
                path.name,
                options.currency.upper(),
                lambda text: parse_money(text, style),
                lambda text: parse_datetime(text, options.tz, order),
            )
            used = False
            for group in group_rows(
                reader, lambda row: row.get("Order ID"), "row has no Order ID; skipped"
            ):
                if isinstance(group, Problem):
                    yield group
                    continue
                order_id = group[0].get("Order ID")
                entry = _Order(order_id, group[0].line)
                if kind == "orders":
                    entry.order_row = group[0]
                    for extra in group[1:]:
                        yield Problem(
                            f"{reader.name}:{extra.line}",
                            f"order {order_id} appears again; this row is skipped",
                        )
                else:
                    entry.item_rows = group
                joined = partner.pop(order_id, None)
                if joined:
                    used = True
                    entry.partner_rows = {id(row) for row in joined}
                    if kind == "orders":
                        entry.item_rows = joined
                    else:
                        entry.order_row = joined[0]
                yield build.record(entry)
            if used:
                yield Notice(f"joined with {', '.join(partners)} on Order ID")


def _partner_rows(
    path: Path, kind: Kind, options: ParseOptions
) -> tuple[dict[str, list[Row]], list[str]]:
    """The rows of the other Etsy file(s) in the same folder by Order ID, and their names.

    The other file is read into memory, which its size cap (``_PARTNER_MAX_BYTES``) keeps
    bounded; the file being imported is streamed, one order's rows at a time.
    """
    want: Kind = "items" if kind == "orders" else "orders"
    rows: dict[str, list[Row]] = {}
    joined: list[str] = []
    try:
        candidates = sorted(p for p in path.parent.iterdir() if p.suffix.lower() == ".csv")
    except OSError:
        return rows, joined
    for candidate in candidates[:_PARTNER_MAX_FILES]:
        try:
            if candidate.samefile(path) or candidate.stat().st_size > _PARTNER_MAX_BYTES:
                continue
            with candidate.open("rb") as fh:
                if _kind(header_keys(fh.read(SNIFF_BYTES))) != want:
                    continue
            with CsvReader(candidate, ParseOptions(tz=options.tz), _WHAT) as reader:
                for row in reader.rows():
                    if isinstance(row, Row) and (order_id := row.get("Order ID")):
                        rows.setdefault(order_id, []).append(row)
            joined.append(candidate.name)
        except (OSError, FormatError):
            continue
    return rows, joined


class _Build:
    """Builds order records; the same rows always give the same record."""

    def __init__(
        self,
        filename: str,
        currency: str,
        money: Callable[[str], Decimal | None],
        date: Callable[[str], datetime | None],
    ) -> None:
        self.filename = filename
        self.currency = currency
        self.money = money
        self.date = date

    def record(self, entry: _Order) -> EventRecord | Problem:
        """The order event of one Order ID, or a problem naming the bad row."""
        rows = ([entry.order_row] if entry.order_row else []) + (entry.item_rows or [])
        at = rows[0]
        try:
            at = rows[0]
            created = self._date(at, "Sale Date")
            currency_cell = at.get("Currency")
            currency = currency_code(currency_cell) if currency_cell else self.currency
            lines: list[OrderLine] = []
            item_totals: list[Decimal] = []
            paid = shipped = None
            for at in entry.item_rows or []:
                line, line_total = self._line(at)
                lines.append(line)
                if line_total is not None:
                    item_totals.append(line_total)
                paid = paid or self._date(at, "Date Paid")
                shipped = shipped or self._date(at, "Date Shipped")
            at = entry.order_row or rows[0]
            figures = self._figures(entry, item_totals)
            shipped = self._date(at, "Date Shipped") or shipped
        except BadValue as exc:
            if id(at) in (entry.partner_rows or set()):
                return Problem(
                    f"{self.filename}:{entry.line}",
                    f"order {entry.order_id}: {exc} (in the other Etsy file, line {at.line})",
                )
            return Problem(f"{self.filename}:{at.line}", f"order {entry.order_id}: {exc}")
        if created is None:
            return Problem(f"{self.filename}:{entry.line}", f"order {entry.order_id}: no Sale Date")
        total, refunded = figures["total"], figures["refunded"]
        status = entry.order_row.get("Status") if entry.order_row else ""
        if "cancel" in status.lower():
            financial = "voided"
        elif refunded and refunded == total:
            financial = "refunded"
        elif refunded:
            financial = "partially_refunded"
        else:
            financial = "paid" if entry.order_row or paid else ""
        info = OrderInfo(
            number=entry.order_id,
            currency=currency,
            total=total,
            subtotal=figures["subtotal"],
            shipping=figures["shipping"],
            tax=figures["tax"],
            discount=figures["discount"],
            refunded=refunded,
            financial_status=financial,
            fulfillment_status="fulfilled" if shipped else "unfulfilled",
            platform_order_id=entry.order_id,
            paid_at=paid,
            fulfilled_at=shipped,
            lines=tuple(lines),
        )
        return order_event(
            _SOURCE,
            info,
            created,
            _buyer(entry),
            _details(entry, figures),
            f"{self.filename}:{entry.line}",
        )

    def _line(self, row: Row) -> tuple[OrderLine, Decimal | None]:
        """One item row as a line, and its line total."""
        quantity = parse_quantity(row.get("Quantity"))
        price = self._money(row, "Price")
        line_total = self._money(row, "Item Total")
        if line_total is None and price is not None:
            line_total = price * quantity
        name = row.get("Item Name")
        variations = row.get("Variations")
        if variations:
            name = f"{name} ({variations})"
        return OrderLine(name, quantity, price, row.get("SKU")), line_total

    def _figures(self, entry: _Order, item_totals: list[Decimal]) -> dict[str, Any]:
        """Totals from the Sold Orders row, else from the item rows."""
        row = entry.order_row
        if row is not None:
            total = self._money(row, "Order Total")
            adjusted = self._money(row, "Adjusted Order Total")
            refunded = None
            if adjusted is not None and total is not None and 0 < adjusted < total:
                refunded = total - adjusted
            elif "refund" in row.get("Status").lower() and not adjusted:
                refunded = total
            return {
                "total": total,
                "subtotal": self._money(row, "Order Value"),
                "shipping": self._money(row, "Shipping"),
                "tax": self._money(row, "Sales Tax"),
                "discount": self._discount(row),
                "refunded": refunded,
                "computed": False,
            }
        first = (entry.item_rows or [])[0]
        subtotal = sum(item_totals, Decimal(0)) if item_totals else None
        shipping = self._money(first, "Order Shipping")
        tax = self._money(first, "Order Sales Tax")
        discount = self._discount(first)
        total = None
        if subtotal is not None:
            total = subtotal - (discount or 0) + (shipping or 0) + (tax or 0)
        return {
            "total": total,
            "subtotal": subtotal,
            "shipping": shipping,
            "tax": tax,
            "discount": discount,
            "refunded": None,
            "computed": total is not None,
        }

    def _money(self, row: Row, column: str) -> Decimal | None:
        try:
            return self.money(row.get(column))
        except BadValue as exc:
            raise BadValue(f"{column} {exc}") from None

    def _date(self, row: Row, column: str) -> datetime | None:
        try:
            return self.date(row.get(column))
        except BadValue as exc:
            raise BadValue(f"{column} {exc}") from None

    def _discount(self, row: Row) -> Decimal | None:
        parts = [self._money(row, "Discount Amount"), self._money(row, "Shipping Discount")]
        found = [p for p in parts if p is not None]
        return sum(found, Decimal(0)) if found else None


def _buyer(entry: _Order) -> tuple[Participant, ...]:
    """The buyer: username handle or numeric id, and the full name (never Ship Name)."""
    row = entry.order_row
    items = entry.item_rows or []
    name = ""
    if row is not None:
        name = row.get("Full Name") or join_name(row.get("First Name"), row.get("Last Name"))
    user_id = row.get("Buyer User ID") if row else ""
    buyer_cell = (row.get("Buyer") if row else "") or (items[0].get("Buyer") if items else "")
    handle = platform_id = ""
    if user_id.isdigit():
        platform_id = user_id
    elif user_id:
        handle = user_id
    if buyer_cell.endswith(")") and "(" in buyer_cell:
        username = buyer_cell[buyer_cell.rfind("(") + 1 : -1].strip()
        handle = handle or username
        name = name or buyer_cell[: buyer_cell.rfind("(")].strip()
    elif buyer_cell and not any(ch.isspace() for ch in buyer_cell):
        handle = handle or buyer_cell
    elif buyer_cell:
        name = name or buyer_cell
    return buyer(_SOURCE, name=name, handle=handle, platform_id=platform_id)


def _details(entry: _Order, figures: dict[str, Any]) -> dict[str, Any]:
    """Shipping address (with Ship Name), payment and coupon facts, fees, SKUs."""
    row = entry.order_row
    items = entry.item_rows or []
    first_item = items[0] if items else None
    shipping: dict[str, str] = {}
    if row is not None:
        shipping = {
            "street": ", ".join(p for p in (row.get("Street 1"), row.get("Street 2")) if p),
            "city": row.get("Ship City"),
            "province": row.get("Ship State"),
            "zip": row.get("Ship Zipcode"),
            "country": row.get("Ship Country"),
        }
    elif first_item is not None:
        shipping = {
            "street": ", ".join(
                p for p in (first_item.get("Ship Address1"), first_item.get("Ship Address2")) if p
            ),
            "city": first_item.get("Ship City"),
            "province": first_item.get("Ship State"),
            "zip": first_item.get("Ship Zipcode"),
            "country": first_item.get("Ship Country"),
        }
    if first_item is not None:
        shipping = {"name": first_item.get("Ship Name"), **shipping}
    both = [r for r in (row, first_item) if r is not None]

    def pick(*columns: str) -> str:
        return next((v for r in both if (v := r.get(*columns))), "")

    skus = [s.strip() for s in (row.get("SKU") if row else "").split(",") if s.strip()]
    return {
        "shipping": {k: v for k, v in shipping.items() if v},
        "status": row.get("Status") if row else "",
        "payment_method": pick("Payment Method", "Payment Type"),
        "order_type": pick("Order Type"),
        "coupon_code": pick("Coupon Code"),
        "coupon_details": pick("Coupon Details"),
        "item_count": row.get("Number of Items") if row else "",
        "skus": skus if not items else [],
        "card_processing_fees": row.get("Card Processing Fees") if row else "",
        "order_net": row.get("Order Net") if row else "",
        "adjusted_order_total": row.get("Adjusted Order Total") if row else "",
        "total_computed": True if figures["computed"] else None,
    }
