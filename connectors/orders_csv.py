"""Generic orders CSV / Excel-CSV import, with a column mapping.

For shops whose platform has no preset: any CSV (``,``, ``;``, TAB or ``|``;
UTF-8 with or without BOM, or Windows-1252 as Excel saves it) with a row per
order or a row per order item. Its columns are named through
``options.column_map`` (``--map number=Bestellnr,date=Datum,total=Summe``),
field → header, for the fields in ``FIELDS``; fields not mapped are guessed
from common header names in English, German, French and Spanish
(``guess_columns``, which a mapping dialog can use to pre-fill its choices).
The order number and the date are required; without them the import fails
with the file's headers and a ``--map`` example.

Rows with the same order number in a row are one order (order fields from its
first row, an item per row). Amounts may carry a currency symbol and
thousands separators; the decimal mark (``1,234.56`` or ``1.234,56``) is
decided from the file's amounts (a ``;``-separated file defaults to a
decimal comma). Dates are read in ``options.tz``, in the day/month order the
file's dates show (else the user's choice, else the region's); Excel serial
numbers are understood. Without a currency column the currency comes from an
unambiguous symbol (``€``, ``£``, ``¥``) or ``options.currency``, with a
notice. Common status words (paid, bezahlt, refunded, storniert, …) are read
as Shopify's paid/pending/refunded/voided; a refunded order's whole total counts
as refunded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from app.errors import FormatError
from app.records import Channel, EventRecord, Item, OrderInfo, OrderLine, ParseOptions, Problem
from connectors.base import MappingSpec
from connectors.csv_common import (
    CsvReader,
    Row,
    buyer,
    group_rows,
    header_cells,
    mapped_columns,
    no_currency_notice,
    norm,
    order_event,
)
from connectors.order_values import (
    BadValue,
    NumberStyle,
    choose_date_order,
    currency_code,
    currency_from_symbols,
    detect_number_style,
    parse_datetime,
    parse_money,
    parse_quantity,
    region_date_order,
)

_SOURCE = "orders_csv"
_WHAT = "an orders CSV"
FIELDS = (
    "number",
    "date",
    "email",
    "phone",
    "name",
    "total",
    "currency",
    "status",
    "item",
    "quantity",
    "price",
    "sku",
)
_GUESSES: dict[str, tuple[str, ...]] = {
    "number": (
        "order number", "order no", "order #", "order id", "order ref", "order reference",
        "order", "invoice number", "invoice no", "invoice", "bestellnummer", "bestellnr",
        "bestellung", "auftragsnummer", "numéro de commande", "commande",
        "número de pedido", "pedido",
    ),
    "date": (
        "order date", "date", "created at", "created", "purchase date", "bestelldatum",
        "datum", "date de commande", "fecha", "fecha del pedido", "created date",
        "created date (utc)", "created (utc)", "created at (utc)", "date (utc)",
    ),
    "email": (
        "email", "e-mail", "email address", "customer email", "buyer email", "mail",
        "e-mail-adresse", "correo",
    ),
    "phone": ("phone", "phone number", "telephone", "mobile", "telefon", "téléphone", "teléfono"),
    "name": (
        "customer name", "customer", "buyer name", "buyer", "full name", "name", "kunde",
        "kundenname", "client", "nom", "cliente", "nombre",
    ),
    "total": (
        "order total", "total", "grand total", "total amount", "amount", "sum", "betrag",
        "summe", "gesamt", "gesamtbetrag", "montant", "importe",
    ),
    "currency": ("currency", "currency code", "währung", "devise", "moneda"),
    "status": ("order status", "status", "state", "bestellstatus", "statut", "estado"),
    "item": (
        "item name", "item", "product name", "product", "title", "artikel", "produkt",
        "produit", "producto",
    ),
    "quantity": ("quantity", "qty", "menge", "anzahl", "quantité", "cantidad"),
    "price": ("unit price", "item price", "price", "preis", "einzelpreis", "prix", "precio"),
    "sku": ("sku", "item sku", "product code", "article number", "artikelnummer", "référence"),
}  # fmt: skip
_STATUSES = {
    "paid": "paid", "bezahlt": "paid", "payé": "paid", "pagado": "paid", "completed": "paid",
    "pending": "pending", "offen": "pending", "en attente": "pending", "pendiente": "pending",
    "refunded": "refunded", "erstattet": "refunded", "rückerstattet": "refunded",
    "remboursé": "refunded", "reembolsado": "refunded",
    "cancelled": "voided", "canceled": "voided", "voided": "voided", "storniert": "voided",
    "annulé": "voided", "cancelado": "voided",
}  # fmt: skip


def guess_columns(header: list[str]) -> dict[str, str]:
    """The header cell each field probably is, from common names (field → header cell).

    Args:
        header: the file's header cells.
    """
    by_key: dict[str, str] = {}
    for header_cell in header:
        by_key.setdefault(norm(header_cell), header_cell)
    found: dict[str, str] = {}
    used: set[str] = set()
    for field_name in FIELDS:
        for name in _GUESSES[field_name]:
            match = by_key.get(norm(name))
            if match is not None and match not in used:
                found[field_name] = match
                used.add(match)
                break
    return found


MAPPING = MappingSpec(
    fields=FIELDS,
    required=("number", "date"),
    labels={
        "number": "Order number",
        "date": "Order date",
        "email": "Customer email",
        "phone": "Customer phone",
        "name": "Customer name",
        "total": "Order total",
        "currency": "Currency",
        "status": "Status",
        "item": "Item name",
        "quantity": "Quantity",
        "price": "Unit price",
        "sku": "SKU",
    },
    guess=guess_columns,
)


def _mapping(
    header: list[str], column_map: Mapping[str, str] | None, filename: str
) -> dict[str, str]:
    """Field → normalised column key: the user's mapping over the guesses.

    Raises:
        FormatError: the mapping names an unknown field or a column the file lacks,
            or the order number or date column is unknown.
    """
    mapping = {
        f: norm(cell)
        for f, cell in mapped_columns(header, column_map, FIELDS, guess_columns, filename).items()
    }
    missing = [f for f in ("number", "date") if f not in mapping]
    if missing:
        example = ",".join(f"{f}=<column>" for f in ("number", "date", "total", "email"))
        raise FormatError(
            f"{filename}: cannot tell which columns hold the order {' and '.join(missing)} "
            f"(columns: {', '.join(header)}); import it with --format orders_csv --map {example}"
        )
    return mapping


class OrdersCsvConnector:
    """Reads any orders CSV through a column mapping (given or guessed)."""

    name: str = "orders_csv"
    label: str = "Orders CSV with column mapping (.csv)"
    channel: Channel = "order"
    extensions: tuple[str, ...] = (".csv", ".txt", ".tsv")

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure this connector is that ``path`` is an orders CSV it can map by itself.

        Args:
            path: the file (unused; the header decides).
            head: up to the first 64 KiB of the file.

        Returns:
            0.4 when common header names give an order number, a date and a
            total or item column (platform presets score higher), else 0.0.
        """
        guessed = guess_columns(header_cells(head))
        if {"number", "date"} <= guessed.keys() and guessed.keys() & {"total", "item"}:
            return 0.4
        return 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield one order event per order number, and a problem per bad row.

        Args:
            path: the CSV file.
            options: ``column_map`` (field → header), zone, region, default
                currency, progress and cancel hooks.

        Yields:
            ``EventRecord``, ``Problem`` and ``Notice`` items.

        Raises:
            FormatError: the order number and date columns are unknown, or the
                mapping is wrong.
        """
        with CsvReader(path, options, _WHAT) as reader:
            mapping = _mapping(reader.header, options.column_map, reader.name)

            def cells(*fields: str) -> list[str]:
                names = [reader.header[reader.columns[mapping[f]]] for f in fields if f in mapping]
                return reader.sample(names)

            order, notice = choose_date_order(
                options, cells("date"), region_date_order(options.region)
            )
            if notice is not None:
                yield notice
            money_samples = cells("total", "price")
            default: NumberStyle = "comma" if reader.delimiter == ";" else "dot"
            style = detect_number_style(money_samples, default)
            currency = options.currency.upper()
            if "currency" not in mapping:
                symbol_currency = currency_from_symbols(money_samples)
                if symbol_currency is None:
                    yield no_currency_notice(currency)
                currency = symbol_currency or currency
            build = _Build(
                reader.name,
                mapping,
                currency,
                lambda text: parse_money(text, style),
                lambda text: parse_datetime(text, options.tz, order),
            )
            for group in group_rows(
                reader, lambda row: build.get(row, "number"), "row has no order number; skipped"
            ):
                yield group if isinstance(group, Problem) else build.order(group)


class _Build:
    """Builds order events from mapped rows."""

    def __init__(
        self,
        filename: str,
        mapping: dict[str, str],
        currency: str,
        money: Callable[[str], Decimal | None],
        date: Callable[[str], datetime | None],
    ) -> None:
        self.filename = filename
        self.mapping = mapping
        self.currency = currency
        self.money = money
        self.date = date

    def get(self, row: Row, field_name: str) -> str:
        """The cell of a mapped field ("" if unmapped)."""
        key = self.mapping.get(field_name)
        return row.values.get(key, "") if key else ""

    def order(self, rows: list[Row]) -> EventRecord | Problem:
        """One order's rows as an order event, or a problem naming the bad row."""
        first, get = rows[0], self.get
        number = get(first, "number")
        at, column = first, ""
        try:
            column = "date"
            created = self.date(get(first, column))
            column = "total"
            total = self.money(get(first, column))
            column = "currency"
            cell = get(first, column)
            currency = currency_code(cell) if cell else self.currency
            lines: list[OrderLine] = []
            for at in rows:
                if not get(at, "item"):
                    continue
                column = "quantity"
                quantity = parse_quantity(get(at, column))
                column = "price"
                price = self.money(get(at, column))
                lines.append(OrderLine(get(at, "item"), quantity, price, get(at, "sku")))
        except BadValue as exc:
            return Problem(f"{self.filename}:{at.line}", f"order {number}: {column} {exc}")
        if created is None:
            return Problem(f"{self.filename}:{first.line}", f"order {number}: no date")
        status = get(first, "status")
        financial = _STATUSES.get(status.lower(), status.lower())
        info = OrderInfo(
            number=number,
            currency=currency,
            total=total,
            refunded=total if financial == "refunded" else None,
            financial_status=financial,
            lines=tuple(lines),
        )
        participants = buyer(
            _SOURCE, name=get(first, "name"), email=get(first, "email"), phone=get(first, "phone")
        )
        details = {"status": status}
        return order_event(
            _SOURCE, info, created, participants, details, f"{self.filename}:{first.line}"
        )
