"""Connector for the Shopify orders export (Admin › Orders › Export, ``orders_export.csv``).

The export has one CSV row per line item; the order-level columns are filled
only on the first row of each order, and later rows of the same order (same
``Name``) add line items only. Columns are matched by header name because the
layout has grown from about 44 to 79 columns over the years. The file is read
as a stream, holding one order's rows at a time, and each order becomes one
``EventRecord`` with an ``OrderInfo``, keyed by Shopify's order ``Id`` (else
its ``Name`` and creation time: see ``order_key``), so two stores' ``#1001``
stay two orders and a newer export of one store updates its orders (one with the
Id column and one without, or with Ids a spreadsheet mangled, meet by the order's
name and the minute it was placed: ``app.ingest``). Amounts
stay exact ``Decimal`` values, dates become aware UTC datetimes (including
Excel serial numbers left behind by a spreadsheet round trip), and a bad row
becomes a ``Problem`` while the rest of the file goes on.

Spreadsheet round trips are tolerated: the delimiter is detected (a European
Excel re-saves with ``;`` and may write decimal commas, decided from the
file's amounts), the encoding is UTF-8 with or without BOM or Windows-1252,
and local numeric dates (``05.04.2026 21:06``) are read in ``options.tz`` in
the day/month order the file shows (else the region's). An export without a
``Currency`` column is read in ``options.currency`` with a notice. Rows of
one order that reappear after other orders become a problem instead of a
second, partial order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

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
    MAX_GROUP_ROWS,
    CsvReader,
    clean,
    drop_empty,
    header_keys,
    no_currency_notice,
    norm,
    order_event,
    too_many_rows,
)
from connectors.order_values import (
    BadValue,
    choose_date_order,
    currency_code,
    detect_number_style,
    parse_amount,
    parse_date,
    parse_datetime,
    parse_money,
    region_date_order,
)
from connectors.textfile import KeySet

__all__ = [
    "ShopifyConnector",
    "order_key",
    "parse_amount",
    "parse_date",
    "parse_note_attributes",
]

_WHAT = "a Shopify orders export"
_REQUIRED = ("Name", "Created at", "Lineitem name")
_SNIFF_KEYS = frozenset({"name", "financialstatus", "lineitemname"})
# Other spellings of a column, mapped to the current name.
_ALIASES = {"fulfillmentdate": "fulfilledat"}
_ORDER_AMOUNTS = (
    ("subtotal", "Subtotal"),
    ("shipping", "Shipping"),
    ("tax", "Taxes"),
    ("total", "Total"),
    ("discount", "Discount Amount"),
    ("refunded", "Refunded Amount"),
)
_ORDER_DATES = (
    ("paid_at", "Paid at"),
    ("fulfilled_at", "Fulfilled at"),
    ("cancelled_at", "Cancelled at"),
)


@dataclass
class _Group:
    """The consecutive rows of one order: (line number, row) pairs."""

    name: str
    line: int
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    skipped: bool = False


@dataclass(frozen=True)
class _Readers:
    """How this file's money and date cells are read."""

    money: Callable[[str], Decimal | None]
    date: Callable[[str], datetime | None]
    currency: str


def parse_note_attributes(text: str) -> dict[str, str]:
    """Split the ``Note Attributes`` cell (one ``key: value`` per line) into a dict.

    A line without a colon continues the previous value.

    Args:
        text: the cell, with embedded newlines.

    Returns:
        The attributes in file order; empty keys and values are dropped.
    """
    found: dict[str, str] = {}
    last = ""
    for raw in text.splitlines():
        key, colon, value = raw.partition(":")
        if colon and key.strip():
            last = key.strip()
            found[last] = value.strip()
        elif last and raw.strip():
            found[last] = f"{found[last]}\n{raw.strip()}".strip()
    return {k: v for k, v in found.items() if v}


def _key(name: str, aliases: Mapping[str, str] = _ALIASES) -> str:
    key = norm(name)
    return aliases.get(key, key)


def order_key(name: str, order_id: str, created: datetime) -> str:
    """An order's natural key: Shopify's order ``Id``, else its ``Name`` and creation time.

    Every store numbers its orders ``#1001``, ``#1002``…, so the name alone would
    let two stores' exports overwrite each other. ``Id`` is unique across
    Shopify; an export without it (or with an ``Id`` a spreadsheet turned into
    ``1.67185E+13``) keys an order by its name and the second it was created,
    which a newer export of the same store repeats and another store does not.

    Args:
        name: the order's ``Name`` ("#1001").
        order_id: its ``Id`` cell (may be empty).
        created: its ``Created at`` time (aware).
    """
    if order_id.isdigit():
        return f"id:{order_id}"
    return f"{name}@{created.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


class ShopifyConnector:
    """Reads Shopify's orders export CSV into order events.

    A shop platform whose export copies Shopify's columns under a few other names
    (Squarespace) is this connector with its own ``_aliases`` and words.
    """

    name: str = "shopify"
    label: str = "Shopify orders export (.csv)"
    channel: Channel = "order"
    extensions: tuple[str, ...] = (".csv",)
    _what: str = _WHAT  # the file, in messages
    _aliases: Mapping[str, str] = _ALIASES
    _number: str = "Name"  # the column of the order's number, as the export names it
    # Whether a row without an order number continues the order above (with a line item).
    _blank_continues: bool = False

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure this connector is that ``path`` is a Shopify orders export.

        Args:
            path: the file (unused; the header decides).
            head: up to the first 64 KiB of the file.

        Returns:
            0.95 if the first row is a CSV header (any delimiter, BOM or not)
            with ``Name``, ``Financial Status`` and ``Lineitem name``, else 0.0.
        """
        return 0.95 if header_keys(head) >= _SNIFF_KEYS else 0.0

    def _key(self, name: str) -> str:
        return _key(name, self._aliases)

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield one order event per order in the export, and a problem per bad row.

        Args:
            path: the CSV file.
            options: the zone for dates without an offset, the default
                currency, progress and cancel hooks.

        Yields:
            ``EventRecord`` items (channel "order"), ``Problem`` items, and
            ``Notice`` items for assumptions (currency, day/month order).

        Raises:
            FormatError: the header lacks the Shopify columns this needs.
        """
        with CsvReader(path, options, self._what) as reader:
            keys = [self._key(cell) for cell in reader.header]
            missing = [col for col in _REQUIRED if _key(col) not in keys]
            if missing:
                names = [self._number if col == "Name" else col for col in missing]
                raise reader.fail(f"no {', '.join(names)} column")
            columns: dict[str, int] = {}
            for position, key in enumerate(keys):
                if key:
                    columns.setdefault(key, position)
            readers, notices = self._readers(reader, options, columns)
            yield from notices
            for item in self._groups(reader, len(keys), columns):
                if isinstance(item, Problem):
                    yield item
                    continue
                yield self._order(reader.name, item, readers)

    def _readers(
        self, reader: CsvReader, options: ParseOptions, columns: Mapping[str, int]
    ) -> tuple[_Readers, list[Notice]]:
        """Money and date readers for this file, and the notices their choice needs.

        Shopify writes plain ``1400.00`` amounts and ``2026-04-05 21:06:21 +0400``
        dates. A file re-saved by a spreadsheet in a decimal-comma locale uses
        ``;`` and may write ``1400,00``; its dates may become local numeric
        dates (``05.04.2026 21:06``), read in ``options.tz`` in the file's
        day/month order.
        """
        notices: list[Notice] = []
        money: Callable[[str], Decimal | None] = parse_amount
        if reader.delimiter == ";":
            style = detect_number_style(
                reader.sample(("Total", "Subtotal", "Lineitem price")), "comma"
            )

            def money(text: str) -> Decimal | None:
                return parse_money(text, style)

        samples = reader.sample(("Created at", "Paid at"))
        order = region_date_order(options.region)
        if any(_needs_order(v) for v in samples):
            order, notice = choose_date_order(options, samples, order)
            if notice is not None:
                notices.append(notice)

        def date(text: str) -> datetime | None:
            return parse_datetime(text, options.tz, order)

        currency = options.currency.upper()
        if "currency" not in columns:
            notices.append(no_currency_notice(currency))
        return _Readers(money, date, currency), notices

    def _groups(
        self, reader: CsvReader, width: int, columns: dict[str, int]
    ) -> Iterator[_Group | Problem]:
        """Group consecutive rows by ``Name``; bad rows become problems."""
        filename = reader.name
        name_index = columns["name"]
        current: _Group | None = None
        seen = KeySet()
        for record in reader.records():
            if isinstance(record, Problem):
                yield record
                continue
            start, cells = record
            if len(cells) > width and not any(cell.strip() for cell in cells[width:]):
                cells = cells[:width]
            name = cells[name_index].strip() if name_index < len(cells) else ""
            same = current is not None and bool(name) and name == current.name
            if len(cells) != width:
                if not same:
                    if current is not None and not current.skipped:
                        yield current
                    current = _Group(name, start, skipped=True)
                what = "line item skipped" if same else f"order {name or '?'} skipped"
                yield Problem(
                    f"{filename}:{start}",
                    f"row has {len(cells)} columns but the header has {width}; {what}",
                )
                continue
            if not name and self._blank_continues and current is not None:
                same = True  # (a line item of the order above)
            elif not name:
                what = self._number if self._number != "Name" else "order Name"
                yield Problem(f"{filename}:{start}", f"row has no {what}; skipped")
                continue
            if current is not None and same:
                if current.skipped:
                    continue
                if len(current.rows) < MAX_GROUP_ROWS:
                    current.rows.append((start, {k: cells[i] for k, i in columns.items()}))
                else:
                    yield too_many_rows(filename, start, name)
                continue
            if current is not None and not current.skipped:
                yield current
            if not seen.add(name):
                yield Problem(
                    f"{filename}:{start}",
                    f"order {name} appears again after other orders; row skipped "
                    "(one order's rows must be together)",
                )
                current = _Group(name, start, skipped=True)
                continue
            current = _Group(name, start, [(start, {k: cells[i] for k, i in columns.items()})])
        if current is not None and not current.skipped and not reader.cancelled:
            yield current

    def _order(self, filename: str, group: _Group, readers: _Readers) -> EventRecord | Problem:
        """Turn one order's rows into an event, or a problem if its first row is bad."""
        locator = f"{filename}:{group.line}"
        first = group.rows[0][1]

        def cell(column: str) -> str:
            return clean(first.get(self._key(column), ""))

        if not (cell("Currency") or cell("Total") or cell("Financial Status")):
            return Problem(locator, f"order {group.name}: its first row has no order details")
        amounts: dict[str, Decimal | None] = {}
        dates: dict[str, datetime | None] = {}
        column = ""
        try:
            for attr, column in _ORDER_AMOUNTS:
                amounts[attr] = readers.money(cell(column))
            column = "Created at"
            created = readers.date(cell(column))
            for attr, column in _ORDER_DATES:
                dates[attr] = readers.date(cell(column))
            column = "Currency"
            currency = currency_code(cell(column)) if cell(column) else readers.currency
        except BadValue as exc:
            return Problem(locator, f"order {group.name}: {column} {exc}")
        if created is None:
            return Problem(locator, f"order {group.name}: no Created at date")

        lines: list[OrderLine] = []
        for _line, row in group.rows:
            line_name = clean(row.get("lineitemname", ""))
            if not line_name:
                continue
            try:
                price = readers.money(row.get("lineitemprice", ""))
            except BadValue:
                price = None
            quantity_text = clean(row.get("lineitemquantity", ""))
            quantity = int(quantity_text) if quantity_text.isdigit() else 1
            variant = clean(row.get("lineitemvariant", ""))
            if variant and variant.casefold() not in line_name.casefold():
                line_name = f"{line_name} - {variant}"  # (as Shopify names a variant)
            lines.append(OrderLine(line_name, quantity, price, clean(row.get("lineitemsku", ""))))

        info = OrderInfo(
            number=group.name,
            currency=currency,
            total=amounts["total"],
            subtotal=amounts["subtotal"],
            shipping=amounts["shipping"],
            tax=amounts["tax"],
            discount=amounts["discount"],
            refunded=amounts["refunded"],
            financial_status=cell("Financial Status").lower(),
            fulfillment_status=cell("Fulfillment Status").lower(),
            # (an Id a spreadsheet turned into 1.67185E+13 names nothing: left out)
            platform_order_id=cell("Id") if cell("Id").isdigit() else "",
            paid_at=dates["paid_at"],
            fulfilled_at=dates["fulfilled_at"],
            cancelled_at=dates["cancelled_at"],
            lines=tuple(lines),
        )
        billing, shipping = _address(first, "billing"), _address(first, "shipping")
        marketing = cell("Accepts Marketing").lower()
        details = drop_empty(
            {
                "billing": billing,
                "shipping": shipping,
                "shipping_method": cell("Shipping Method"),
                "payment_method": cell("Payment Method"),
                "discount_code": cell("Discount Code"),
                "tags": [t.strip() for t in cell("Tags").split(",") if t.strip()],
                "notes": cell("Notes"),
                "note_attributes": parse_note_attributes(first.get("noteattributes", "")),
                "accepts_marketing": marketing in ("yes", "true") if marketing else None,
                "source": cell("Source"),
            }
        )
        buyer_name = billing.get("name") or shipping.get("name") or ""
        email = cell("Email") or None
        phone = cell("Phone") or billing.get("phone") or shipping.get("phone") or None
        participants: tuple[Participant, ...] = ()
        if buyer_name or email or phone:
            participants = (Participant("buyer", buyer_name, email, phone, platform=self.name),)
        key = order_key(group.name, cell("Id"), created)
        return order_event(
            self.name, info, created, participants, details, locator, external_id=key
        )


def _needs_order(value: str) -> bool:
    """Whether a date cell is a numeric local date whose day/month order matters."""
    text = value.strip()
    return bool(text) and not text[:4].isdigit() and any(sep in text[:6] for sep in "/.-")


def _address(row: Mapping[str, str], prefix: str) -> dict[str, str]:
    """The billing or shipping address of a first row, empty parts dropped."""

    def get(column: str) -> str:
        return clean(row.get(norm(f"{prefix} {column}"), ""))

    street = get("street") or ", ".join(part for part in (get("address1"), get("address2")) if part)
    return drop_empty(
        {
            "name": get("name"),
            "street": street,
            "city": get("city"),
            # Shopify prefixes zips with an apostrophe so spreadsheets keep leading zeros.
            "zip": get("zip").lstrip("'"),
            "province": get("province") or get("province name"),
            "country": get("country"),
            "phone": get("phone"),
            "company": get("company"),
        }
    )
