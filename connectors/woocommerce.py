"""Connector for WooCommerce order exports, through presets for the plugins shops use.

WooCommerce has no export of its own; shops use plugins, so this connector
knows their layouts (FORMATS.md §1.2) and matches columns by header name in
any spelling (``billing_email``, ``BillingEmail`` and ``Email (Billing)`` are
one field):

- SkyVerge "Customer/Order CSV Export", legacy layout: one row per order,
  items packed into ``order_item_1``, ``order_item_2``, … as
  ``<sku or product_id:ID>|<quantity>|<line total>|<meta key: value>|…``
  (e.g. ``product_id:4959|1|30|size: Medium``); its newer keyed
  ``line_items`` cell (``name:…|sku:…|quantity:…|total:…``, items separated
  by ``;``) is read too.
- SkyVerge newer keys (``OrderId``, ``OrderNumber``, ``OrderDate``,
  ``OrderStatus``, ``OrderCurrency``, ``BillingFirstName``, …).
- AlgolPlus "Advanced Order Export": one row per product, and product rows
  repeat the order columns; order fields come from the order's first row.
- WQEP: ``id, status, order_date, billing_first_name … order_total,
  completed_date``, one row per order without items.

A file none of these fit raises ``FormatError`` advising the generic import
(``--format orders_csv --map …``). Amounts are plain ``.`` decimals as
WooCommerce stores them; a ``;``-separated file (a European spreadsheet
re-save or plugin setting) may use a decimal comma, decided from the file's
amounts. Dates are the site's local time, read in ``options.tz``; numeric
dates reformatted by a spreadsheet (``5/31/2016 0:37``) are read in the
day/month order the file shows (else the region's). The legacy layout has no
currency column, so its amounts are read in ``options.currency`` and a notice
says so. Statuses map to Shopify's vocabulary: processing → paid/unfulfilled,
completed → paid/fulfilled, refunded → refunded (the whole total unless a
refund column says otherwise), cancelled → voided, failed → failed,
pending/on-hold → pending, and a paid order with a refund below its total →
partially_refunded; the raw status stays in ``details["status"]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from app.records import Channel, EventRecord, Item, OrderInfo, OrderLine, ParseOptions, Problem
from connectors.csv_common import (
    CsvReader,
    Fields,
    Row,
    buyer,
    group_rows,
    header_keys,
    join_name,
    no_currency_notice,
    order_event,
    resolve_columns,
)
from connectors.order_values import (
    BadValue,
    NumberStyle,
    choose_date_order,
    currency_code,
    detect_number_style,
    parse_datetime,
    parse_money,
    parse_quantity,
    region_date_order,
    unit_price,
)

_WHAT = "a WooCommerce orders export"
_SOURCE = "woocommerce"
_FIELDS: dict[str, tuple[str, ...]] = {
    "number": (
        "order_number_formatted",
        "order_number",
        "Order Number",
        "order_id",
        "Order ID",
        "id",
    ),
    "order_id": ("order_id", "Order ID", "id"),
    "date": ("order_date", "Order Date", "date", "date_created", "post_date"),
    "status": ("status", "order_status", "Order Status"),
    "currency": ("order_currency", "currency"),
    "total": ("order_total", "Order Total Amount", "total"),
    "subtotal": ("order_subtotal", "Order Subtotal Amount", "subtotal"),
    "shipping": ("order_shipping", "shipping_total", "Order Shipping Amount"),
    "tax": ("order_tax", "tax_total", "Order Total Tax Amount", "Order Tax Amount"),
    "discount": ("discount_total", "OrderDiscountTotal", "cart_discount", "Cart Discount Amount"),
    "refunded": ("refunded_total", "order_refunded", "Order Refund Amount", "order_refund"),
    "paid_at": ("paid_date", "date_paid", "Order Paid Date"),
    "completed_at": ("completed_date", "date_completed", "Order Completed Date"),
    "payment_method": ("payment_method_title", "Payment Method Title", "payment_method"),
    "shipping_method": ("shipping_method", "Shipping Method Title", "shipping_method_1"),
    "customer_id": ("customer_user", "customer_id", "Customer User ID", "user_id"),
    "email": ("customer_email", "Customer Email"),
    "note": ("customer_note", "Customer Note"),
    "item_name": ("item_name", "Item Name", "Product Name", "line_item_name"),
    "item_sku": ("item_sku", "SKU", "product_sku"),
    "item_quantity": ("item_quantity", "Quantity", "Qty", "Quantity (- Refund)"),
    "item_price": ("item_price", "Item Cost", "Item Price", "Price"),
    "item_total": ("item_total", "Item Total", "line_total"),
    "line_items": ("line_items",),
}
_PARTS: dict[str, tuple[str, ...]] = {
    "first_name": ("{p}_first_name", "First Name ({P})"),
    "last_name": ("{p}_last_name", "Last Name ({P})"),
    "full_name": ("{p}_full_name", "Full Name ({P})", "{p}_name"),
    "company": ("{p}_company", "Company ({P})"),
    "email": ("{p}_email", "Email ({P})", "E-mail ({P})"),
    "phone": ("{p}_phone", "Phone ({P})"),
    "address1": ("{p}_address_1", "{p}_address1", "Address 1 ({P})", "Address 1&2 ({P})"),
    "address2": ("{p}_address_2", "{p}_address2", "Address 2 ({P})"),
    "city": ("{p}_city", "City ({P})"),
    "state": ("{p}_state", "State ({P})", "State Code ({P})", "State Name ({P})"),
    "postcode": ("{p}_postcode", "Postcode ({P})", "Zip ({P})"),
    "country": ("{p}_country", "Country ({P})", "Country Code ({P})", "Country Name ({P})"),
}
_WOO_SIGNALS = frozenset(
    {"billingfirstname", "firstnamebilling", "billingemail", "emailbilling", "customeruser"}
)
_PACKED = re.compile(r"orderitem(\d+)")
_KEYED = re.compile(
    r"(?i)(name|product_id|sku|quantity|qty|total|subtotal|price|id|meta)\s*:\s*(.*)"
)
# status → (financial status, fulfilment status)
_STATUSES = {
    "pending": ("pending", "unfulfilled"),
    "on-hold": ("pending", "unfulfilled"),
    "checkout-draft": ("pending", "unfulfilled"),
    "processing": ("paid", "unfulfilled"),
    "completed": ("paid", "fulfilled"),
    "refunded": ("refunded", ""),
    "cancelled": ("voided", ""),
    "failed": ("failed", ""),
}


def _fields() -> dict[str, tuple[str, ...]]:
    fields = dict(_FIELDS)
    for prefix in ("billing", "shipping"):
        for part, names in _PARTS.items():
            fields[f"{prefix}_{part}"] = tuple(
                n.format(p=prefix, P=prefix.capitalize()) for n in names
            )
    return fields


_ALL_FIELDS = _fields()


def _layout(header: list[str], columns: dict[str, int], fields: Fields) -> str:
    """Which plugin layout the header is: skyverge, skyverge-legacy, algolplus, wqep or generic."""
    if any(cell in ("OrderId", "OrderNumber") for cell in header):
        return "skyverge"
    if any(_PACKED.fullmatch(key) for key in columns) or fields.has("line_items"):
        return "skyverge-legacy"
    if fields.has("item_name"):
        return "algolplus"
    if "id" in columns and fields.has("date", "total"):
        return "wqep"
    return "generic"


def _present(reader: CsvReader, names: tuple[str, ...]) -> list[str]:
    """The header cells the file has for the fields ``names``."""
    return [cell for f in names if (cell := reader.column(*_ALL_FIELDS[f]))]


def _status(raw: str) -> tuple[str, str]:
    key = raw.strip().lower().removeprefix("wc-").replace(" ", "-")
    return _STATUSES.get(key, (key, ""))


class WooCommerceConnector:
    """Reads WooCommerce order exports (SkyVerge, AlgolPlus, WQEP layouts) into order events."""

    name: str = "woocommerce"
    label: str = "WooCommerce orders export (.csv)"
    channel: Channel = "order"
    extensions: tuple[str, ...] = (".csv",)

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure this connector is that ``path`` is a WooCommerce orders export.

        Args:
            path: the file (unused; the header decides).
            head: up to the first 64 KiB of the file.

        Returns:
            0.85 for a header with an order number, a date, a total and a
            WooCommerce sign (``order_item_N``, billing name or email columns,
            ``customer_user``), else 0.0.
        """
        keys = header_keys(head)
        columns = {key: i for i, key in enumerate(sorted(keys))}
        found = resolve_columns(columns, _ALL_FIELDS)
        if not {"number", "date"} <= found.keys():
            return 0.0
        woo = bool(keys & _WOO_SIGNALS) or any(_PACKED.fullmatch(k) for k in keys)
        return 0.85 if woo and ("total" in found or "item_name" in found) else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield one order event per order, and a problem per bad row.

        Args:
            path: the CSV file.
            options: zone of the site's local times, default currency, region
                (day/month order), progress and cancel hooks.

        Yields:
            ``EventRecord`` items (channel "order"), ``Problem`` and ``Notice`` items.

        Raises:
            FormatError: no preset fits the header.
        """
        with CsvReader(path, options, _WHAT) as reader:
            fields = Fields(reader.columns, _ALL_FIELDS)
            layout = _layout(reader.header, reader.columns, fields)
            if layout == "generic" or not fields.has("number", "date"):
                raise reader.fail(
                    "no preset fits its columns; import it with --format orders_csv "
                    "--map number=<column>,date=<column>,total=<column>,email=<column>"
                )
            money_names = _present(reader, ("total", "subtotal", "item_price"))
            default_style: NumberStyle = "comma" if reader.delimiter == ";" else "dot"
            style = detect_number_style(reader.sample(money_names), default_style)
            date_names = _present(reader, ("date", "paid_at"))
            order, notice = choose_date_order(
                options, reader.sample(date_names), region_date_order(options.region)
            )
            if notice is not None:
                yield notice
            if not fields.has("currency"):
                yield no_currency_notice(options.currency.upper())
            packed = sorted(
                (int(m[1]), key) for key in reader.columns if (m := _PACKED.fullmatch(key))
            )
            builder = _Builder(reader.name, fields, layout, [k for _n, k in packed], options)
            builder.money = lambda text: parse_money(text, style)
            builder.date = lambda text: parse_datetime(text, options.tz, order)
            for group in group_rows(
                reader, lambda row: fields.get(row, "number"), "row has no order number; skipped"
            ):
                yield group if isinstance(group, Problem) else builder.order(group)


class _Builder:
    """Builds one order event from the rows of one order."""

    def __init__(
        self, filename: str, fields: Fields, layout: str, packed: list[str], options: ParseOptions
    ) -> None:
        self.filename = filename
        self.fields = fields
        self.layout = layout
        self.packed = packed
        self.currency = options.currency.upper()
        self.money: Callable[[str], Decimal | None] = lambda text: parse_money(text)
        self.date: Callable[[str], datetime | None] = lambda text: parse_datetime(text, options.tz)

    def order(self, rows: list[Row]) -> EventRecord | Problem:
        """The order event of ``rows`` (order fields from the first), or a problem."""
        first, get = rows[0], self.fields.get
        number = get(first, "number")
        locator = f"{self.filename}:{first.line}"
        column = ""
        try:
            amounts: dict[str, Decimal | None] = {}
            for column in ("total", "subtotal", "shipping", "tax", "discount", "refunded"):
                amounts[column] = self.money(get(first, column))
            column = "date"
            created = self.date(get(first, "date"))
            column = "paid_at"
            paid = self.date(get(first, "paid_at"))
            column = "completed_at"
            completed = self.date(get(first, "completed_at"))
            column = "currency"
            currency_cell = get(first, "currency")
            currency = currency_code(currency_cell) if currency_cell else self.currency
            column = "items"
            lines = self._lines(rows)
        except BadValue as exc:
            return Problem(locator, f"order {number}: {column.replace('_', ' ')} {exc}")
        if created is None:
            return Problem(locator, f"order {number}: no order date")
        status = get(first, "status")
        financial, fulfillment = _status(status)
        refunded = amounts["refunded"]
        total = amounts["total"]
        if refunded is None and financial == "refunded":
            refunded = total
        if financial == "paid" and refunded and total is not None and 0 < refunded < total:
            financial = "partially_refunded"
        info = OrderInfo(
            number=number,
            currency=currency,
            total=amounts["total"],
            subtotal=amounts["subtotal"],
            shipping=amounts["shipping"],
            tax=amounts["tax"],
            discount=amounts["discount"],
            refunded=refunded,
            financial_status=financial,
            fulfillment_status=fulfillment,
            platform_order_id=get(first, "order_id"),
            paid_at=paid,
            fulfilled_at=completed,
            lines=tuple(lines),
        )
        billing, shipping = self._address(first, "billing"), self._address(first, "shipping")
        customer_id = get(first, "customer_id")
        customer_id = customer_id if customer_id not in ("", "0") else ""
        details = {
            "layout": self.layout,
            "status": status,
            "billing": billing,
            "shipping": shipping,
            "payment_method": get(first, "payment_method"),
            "shipping_method": get(first, "shipping_method"),
            "notes": get(first, "note"),
            "customer_id": customer_id,
        }
        participants = buyer(
            _SOURCE,
            name=billing.get("name") or shipping.get("name", ""),
            email=billing.get("email") or get(first, "email"),
            phone=billing.get("phone") or shipping.get("phone", ""),
            platform_id=customer_id,
        )
        return order_event(_SOURCE, info, created, participants, details, locator)

    def _lines(self, rows: list[Row]) -> list[OrderLine]:
        """Line items: packed ``order_item_N``/``line_items`` cells, or one per product row."""
        lines: list[OrderLine] = []
        if self.packed or self.fields.has("line_items"):
            first = rows[0]
            cells = [first.values.get(key, "") for key in self.packed]
            packed_items = self.fields.get(first, "line_items")
            cells.extend(part for part in packed_items.split(";") if part.strip())
            lines.extend(self._packed(cell) for cell in cells if cell.strip())
            return lines
        if not self.fields.has("item_name"):
            return lines
        for row in rows:
            name = self.fields.get(row, "item_name")
            if not name:
                continue
            quantity = parse_quantity(self.fields.get(row, "item_quantity"))
            price = self.money(self.fields.get(row, "item_price"))
            if price is None:
                price = unit_price(self.money(self.fields.get(row, "item_total")), quantity)
            lines.append(OrderLine(name, quantity, price, self.fields.get(row, "item_sku")))
        return lines

    def _packed(self, cell: str) -> OrderLine:
        """One packed item: ``product_id:4959|1|30|size: Medium`` or ``name:…|sku:…|quantity:…``."""
        keyed: dict[str, str] = {}
        positional: list[str] = []
        meta: list[str] = []
        for index, part in enumerate(p.strip() for p in cell.split("|")):
            match = _KEYED.fullmatch(part)
            if match and (match[1].lower() != "id" or index == 0):
                keyed.setdefault(match[1].lower(), match[2].strip())
            elif index > 0 and ":" in part:
                meta.append(part)
            elif part:
                positional.append(part)
        sku = keyed.get("sku", "")
        if "product_id" not in keyed and not sku and positional:
            sku = positional.pop(0)
        quantity_text = keyed.get("quantity") or keyed.get("qty")
        quantity = parse_quantity(quantity_text or (positional[0] if positional else ""))
        total_text = keyed.get("total") or (positional[1] if len(positional) > 1 else "")
        if keyed.get("price"):
            price = self.money(keyed["price"])
        else:
            price = unit_price(self.money(total_text), quantity)
        name = keyed.get("name") or sku or f"product {keyed.get('product_id', '?')}"
        if keyed.get("meta"):
            meta.append(keyed["meta"])
        if meta:
            name = f"{name} ({', '.join(meta)})"
        return OrderLine(name, quantity, price, sku)

    def _address(self, row: Row, prefix: str) -> dict[str, str]:
        """A billing or shipping address with its name, empty parts dropped."""

        def part(name: str) -> str:
            return self.fields.get(row, f"{prefix}_{name}")

        name = part("full_name") or join_name(part("first_name"), part("last_name"))
        values = {
            "name": name,
            "company": part("company"),
            "email": part("email"),
            "phone": part("phone"),
            "street": ", ".join(p for p in (part("address1"), part("address2")) if p),
            "city": part("city"),
            "zip": part("postcode"),
            "province": part("state"),
            "country": part("country"),
        }
        return {k: v for k, v in values.items() if v}
