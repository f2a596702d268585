"""Connector for the Shopify orders export (Admin › Orders › Export, ``orders_export.csv``).

The export has one CSV row per line item; the order-level columns are filled
only on the first row of each order, and later rows of the same order (same
``Name``) add line items only. Columns are matched by header name because the
layout has grown from about 44 to 79 columns over the years. The file is read
as a stream, holding one order's rows at a time, and each order becomes one
``EventRecord`` with an ``OrderInfo``. Amounts stay exact ``Decimal`` values,
dates become aware UTC datetimes (including Excel serial numbers left behind
by a spreadsheet round trip), and a bad row becomes a ``Problem`` while the
rest of the file goes on.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

from app.errors import FormatError
from app.records import (
    Channel,
    EventRecord,
    Item,
    OrderInfo,
    OrderLine,
    ParseOptions,
    Participant,
    Problem,
)

_BOM = "\ufeff"
_REQUIRED = ("Name", "Created at", "Lineitem name")
_SNIFF_COLUMNS = frozenset({"Name", "Financial Status", "Lineitem name"})
# Other spellings of a column, mapped to the current name (lower case).
_ALIASES = {"fulfillment date": "fulfilled at"}
_PROGRESS_EVERY = 200
_CHUNK = 1 << 20

_SHOPIFY_DATE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?"
    r"\s*(?:(Z|UTC)|([+-])(\d{2}):?(\d{2}))?"
)
_EXCEL_SERIAL = re.compile(r"\d{1,7}(?:\.\d+)?")
_EXCEL_EPOCH = datetime(1899, 12, 30)
_AMOUNT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
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


class _Rows(Protocol):
    """What this module uses of a ``csv.reader``."""

    @property
    def line_num(self) -> int: ...

    def __next__(self) -> list[str]: ...


class _BadValue(ValueError):
    """A cell that should hold an amount, a count or a date holds something else."""


@dataclass
class _Group:
    """The consecutive rows of one order: (line number, row) pairs."""

    name: str
    line: int
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    skipped: bool = False


def parse_amount(text: str) -> Decimal | None:
    """Read a Shopify money cell exactly.

    Args:
        text: the cell, a plain decimal with ``.`` such as ``1400.00``.

    Returns:
        The amount as ``Decimal`` (its decimal places kept), or None if empty.

    Raises:
        ValueError: the cell is not a plain decimal number.
    """
    value = text.strip()
    if not value:
        return None
    if not _AMOUNT.fullmatch(value):
        raise _BadValue(f"{text!r} is not an amount")
    try:
        return Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already checked it
        raise _BadValue(f"{text!r} is not an amount") from exc


def parse_date(text: str, tz: tzinfo) -> datetime | None:
    """Read a Shopify date cell as an aware UTC datetime.

    Accepts ``YYYY-MM-DD HH:MM:SS ±HHMM`` (the export's form), ISO 8601, and
    Excel serial day numbers such as ``45384.34789351852`` (days since
    1899-12-30, which lost their offset, so they are read in ``tz``).

    Args:
        text: the cell.
        tz: zone for dates without an offset.

    Returns:
        The datetime in UTC, or None if the cell is empty.

    Raises:
        ValueError: the cell is not a date.
    """
    value = text.strip()
    if not value:
        return None
    match = _SHOPIFY_DATE.fullmatch(value)
    try:
        if match:
            year, month, day, hour, minute, second, utc, sign, off_h, off_m = match.groups()
            zone: tzinfo = tz
            if utc:
                zone = UTC
            elif sign:
                offset = timedelta(hours=int(off_h), minutes=int(off_m))
                zone = timezone(-offset if sign == "-" else offset)
            naive = datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second or 0)
            )
            return naive.replace(tzinfo=zone).astimezone(UTC)
        if _EXCEL_SERIAL.fullmatch(value) and 1 <= Decimal(value) < 2958466:
            serial = Decimal(value)
            days = int(serial)
            seconds = int(((serial - days) * 86400).to_integral_value())
            naive = _EXCEL_EPOCH + timedelta(days=days, seconds=seconds)
            return naive.replace(tzinfo=tz).astimezone(UTC)
        parsed = datetime.fromisoformat(value)
    except (ValueError, OverflowError) as exc:
        raise _BadValue(f"{text!r} is not a date") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


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


def _detect_encoding(path: Path) -> str:
    """``utf-8-sig`` if the whole file decodes as UTF-8, else ``cp1252`` (streamed)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as fh:
        try:
            while chunk := fh.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8-sig"


def _header_key(name: str) -> str:
    key = " ".join(name.replace(_BOM, "").replace("ï»¿", "").split()).lower()
    return _ALIASES.get(key, key)


def _header_names(line: str) -> set[str]:
    """The column names of a CSV header line, as the file spells them."""
    try:
        cells = next(csv.reader([line.lstrip(_BOM)]), [])
    except csv.Error:
        return set()
    return {" ".join(cell.split()) for cell in cells}


def _clean(value: str) -> str:
    """A cell without surrounding blanks, its embedded line ends as ``\\n``."""
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def _drop_empty(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in ("", None, [], {})}


class ShopifyConnector:
    """Reads Shopify's orders export CSV into order events."""

    name: str = "shopify"
    label: str = "Shopify orders export (.csv)"
    channel: Channel = "order"
    extensions: tuple[str, ...] = (".csv",)

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure this connector is that ``path`` is a Shopify orders export.

        Args:
            path: the file (unused; the header decides).
            head: up to the first 64 KiB of the file.

        Returns:
            0.95 if the first line is a CSV header with ``Name``,
            ``Financial Status`` and ``Lineitem name``, else 0.0.
        """
        if head.startswith(codecs.BOM_UTF8):
            head = head[len(codecs.BOM_UTF8) :]
        first = head.split(b"\n", 1)[0].rstrip(b"\r")
        names = _header_names(first.decode("utf-8", errors="replace"))
        return 0.95 if names >= _SNIFF_COLUMNS else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield one order event per order in the export, and a problem per bad row.

        Args:
            path: the CSV file.
            options: the zone for Excel serial dates, progress and cancel hooks.

        Yields:
            ``EventRecord`` items (channel "order") and ``Problem`` items.

        Raises:
            FormatError: the header lacks the Shopify columns this needs.
        """
        encoding = _detect_encoding(path)
        total_bytes = path.stat().st_size
        with (
            path.open("rb") as raw,
            io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="") as text,
        ):
            reader = csv.reader(text)
            try:
                header = next(reader, [])
            except csv.Error as exc:
                raise FormatError(f"{path.name}: not a Shopify orders export ({exc})") from exc
            keys = [_header_key(cell) for cell in header]
            missing = [col for col in _REQUIRED if col.lower() not in keys]
            if missing:
                raise FormatError(
                    f"{path.name}: not a Shopify orders export (no {', '.join(missing)} column)"
                )
            columns: dict[str, int] = {}
            for position, key in enumerate(keys):
                columns.setdefault(key, position)
            done = 0
            for item in self._groups(path.name, reader, len(keys), columns):
                if isinstance(item, Problem):
                    yield item
                    continue
                if options.should_cancel is not None and options.should_cancel():
                    return
                yield self._order(path.name, item, options)
                done += 1
                if options.progress is not None and done % _PROGRESS_EVERY == 0:
                    options.progress(raw.tell(), total_bytes)
        if options.progress is not None:
            options.progress(total_bytes, total_bytes)

    def _groups(
        self, filename: str, reader: _Rows, width: int, columns: dict[str, int]
    ) -> Iterator[_Group | Problem]:
        """Group consecutive rows by ``Name``; bad rows become problems."""
        name_index = columns["name"]
        current: _Group | None = None
        while True:
            start = reader.line_num + 1
            try:
                cells: list[str] = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                yield Problem(f"{filename}:{start}", f"unreadable CSV row: {exc}")
                continue
            if not any(cell.strip() for cell in cells):
                continue
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
            if not name:
                yield Problem(f"{filename}:{start}", "row has no order Name; skipped")
                continue
            if current is not None and same:
                if not current.skipped:
                    current.rows.append((start, {k: cells[i] for k, i in columns.items()}))
                continue
            if current is not None and not current.skipped:
                yield current
            current = _Group(name, start, [(start, {k: cells[i] for k, i in columns.items()})])
        if current is not None and not current.skipped:
            yield current

    def _order(self, filename: str, group: _Group, options: ParseOptions) -> EventRecord | Problem:
        """Turn one order's rows into an event, or a problem if its first row is bad."""
        locator = f"{filename}:{group.line}"
        first = group.rows[0][1]

        def cell(column: str) -> str:
            return _clean(first.get(column.lower(), ""))

        if not (cell("Currency") or cell("Total") or cell("Financial Status")):
            return Problem(locator, f"order {group.name}: its first row has no order details")
        amounts: dict[str, Decimal | None] = {}
        dates: dict[str, datetime | None] = {}
        column = ""
        try:
            for attr, column in _ORDER_AMOUNTS:
                amounts[attr] = parse_amount(cell(column))
            column = "Created at"
            created = parse_date(cell(column), options.tz)
            for attr, column in _ORDER_DATES:
                dates[attr] = parse_date(cell(column), options.tz)
        except _BadValue as exc:
            return Problem(locator, f"order {group.name}: {column} {exc}")
        if created is None:
            return Problem(locator, f"order {group.name}: no Created at date")

        lines: list[OrderLine] = []
        for _line, row in group.rows:
            line_name = _clean(row.get("lineitem name", ""))
            if not line_name:
                continue
            try:
                price = parse_amount(row.get("lineitem price", ""))
            except _BadValue:
                price = None
            quantity_text = _clean(row.get("lineitem quantity", ""))
            quantity = int(quantity_text) if quantity_text.isdigit() else 1
            lines.append(OrderLine(line_name, quantity, price, _clean(row.get("lineitem sku", ""))))

        info = OrderInfo(
            number=group.name,
            currency=cell("Currency").upper(),
            total=amounts["total"],
            subtotal=amounts["subtotal"],
            shipping=amounts["shipping"],
            tax=amounts["tax"],
            discount=amounts["discount"],
            refunded=amounts["refunded"],
            financial_status=cell("Financial Status"),
            fulfillment_status=cell("Fulfillment Status"),
            platform_order_id=cell("Id"),
            paid_at=dates["paid_at"],
            fulfilled_at=dates["fulfilled_at"],
            cancelled_at=dates["cancelled_at"],
            lines=tuple(lines),
        )
        billing, shipping = _address(first, "billing"), _address(first, "shipping")
        marketing = cell("Accepts Marketing").lower()
        details = _drop_empty(
            {
                "billing": billing,
                "shipping": shipping,
                "shipping_method": cell("Shipping Method"),
                "payment_method": cell("Payment Method"),
                "discount_code": cell("Discount Code"),
                "tags": [t.strip() for t in cell("Tags").split(",") if t.strip()],
                "notes": cell("Notes"),
                "note_attributes": parse_note_attributes(first.get("note attributes", "")),
                "accepts_marketing": marketing in ("yes", "true") if marketing else None,
                "source": cell("Source"),
            }
        )
        buyer_name = billing.get("name") or shipping.get("name") or ""
        email = cell("Email") or None
        phone = cell("Phone") or billing.get("phone") or shipping.get("phone") or None
        participants: tuple[Participant, ...] = ()
        if buyer_name or email or phone:
            participants = (Participant("buyer", buyer_name, email, phone, platform="shopify"),)
        return EventRecord(
            channel="order",
            source="shopify",
            external_id=group.name,
            occurred_at=created,
            title=f"Order {group.name}",
            text=_summary(info, details),
            participants=participants,
            thread_key=None,
            details=details,
            order=info,
            locator=locator,
        )


def _address(row: Mapping[str, str], prefix: str) -> dict[str, str]:
    """The billing or shipping address of a first row, empty parts dropped."""

    def get(column: str) -> str:
        return _clean(row.get(f"{prefix} {column}", ""))

    street = get("street") or ", ".join(part for part in (get("address1"), get("address2")) if part)
    return _drop_empty(
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


def _summary(info: OrderInfo, details: Mapping[str, Any]) -> str:
    """A readable plain-text summary of an order."""
    out: list[str] = []
    for line in info.lines:
        price = f" @ {line.unit_price}" if line.unit_price is not None else ""
        out.append(f"{line.quantity} × {line.name}{price}")
    total = f"Total {info.total} {info.currency}".rstrip() if info.total is not None else ""
    status = [total, info.financial_status, info.fulfillment_status]
    if info.cancelled_at is not None:
        status.append("cancelled")
    if info.refunded:
        status.append(f"refunded {info.refunded}")
    out.append(" · ".join(part for part in status if part))
    if details.get("shipping_method"):
        out.append(f"Shipping: {details['shipping_method']}")
    if details.get("notes"):
        out.append(f"Notes: {details['notes']}")
    return "\n".join(line for line in out if line)
