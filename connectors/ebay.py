"""Connector for eBay Seller Hub's orders report (Orders › Download report, a ``.csv``).

eBay's report is a CSV with its own habits, as sellers' files show: a blank line (or a
title, or Excel's ``sep=,``) before the header row, a blank row after it, and two footer
rows ("12 record(s) downloaded", "Seller ID: …"). Its columns differ by site: the US writes
``Order Number``, ``Buyer Username``, ``Ship To Name``, ``Ship To Phone``, ``Sold For``,
``Shipping And Handling``, ``Total Price`` and ``Sale Date`` as ``Mar-05-24``; the UK writes
``Order number``, ``Post to name``, ``Post to phone``, ``Postage and packaging``, ``Total
price`` and ``Sale date`` as ``05-Mar-24``. An order of several items is a row of the
order (buyer, totals) and a row per item (title, quantity, price), with one order number;
an old report gives only the ``Sales Record Number``. Money carries its symbol (``$48.69``,
``£12.50``): the currency comes from an unambiguous one, else the default currency, with a
notice.

Each order is one event (the source "ebay"): its items, total, postage, the tax eBay
collected, paid and shipped statuses from their dates, and the buyer: name, email (eBay
often leaves it out), the phone the parcel goes to, and the eBay username (a handle on
"ebay": the same buyer's orders are one customer even without an address).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.records import Channel, EventRecord, Item, OrderInfo, OrderLine, ParseOptions, Problem
from connectors.csv_common import (
    CsvReader,
    Row,
    buyer,
    decode_head,
    drop_empty,
    group_rows,
    no_currency_notice,
    norm,
    order_event,
)
from connectors.order_values import (
    BadValue,
    currency_from_symbols,
    parse_datetime,
    parse_money,
    parse_quantity,
)

_SOURCE = "ebay"
_WHAT = "an eBay orders report"
_NUMBER = ("Order Number", "Sales Record Number")
_HEADER_LINES = 10  # lines looked at for the header row
# eBay US's dates: "Mar-05-24" (month, day, two-digit year)
_US_DATE = re.compile(r"^([A-Za-z]{3})-(\d{1,2})-(\d{2}|\d{4})$")
_FOOTER = re.compile(r"record\(s\) downloaded|^seller id\b", re.IGNORECASE)


def _header_line(head: bytes) -> int | None:
    """The number of lines before the report's header row, or None if it has none."""
    import csv

    text = decode_head(head)
    for index, line in enumerate(text.splitlines()[:_HEADER_LINES]):
        if not line.strip() or line.lower().startswith("sep="):
            continue
        delimiter = ";" if line.count(";") > line.count(",") else ","
        if "\t" in line:
            delimiter = "\t"
        keys = {norm(cell) for cell in next(csv.reader([line], delimiter=delimiter), [])}
        if _is_report(keys):
            return index
    return None


def _is_report(keys: set[str]) -> bool:
    return (
        bool(keys & {"ordernumber", "salesrecordnumber"})
        and "buyerusername" in keys
        and bool(keys & {"itemtitle", "saledate"})
    )


def _footer(cells: list[str]) -> bool:
    """A footer row of the report ("12 record(s) downloaded", "Seller ID: …")."""
    return any(_FOOTER.search(cell.strip()) for cell in cells[:3] if cell.strip())


class EbayConnector:
    """Reads eBay's orders report: one order event per order number."""

    name = "ebay"
    label = "eBay orders report (Seller Hub .csv)"
    channel: Channel = "order"
    extensions: tuple[str, ...] = (".csv", ".tsv", ".txt")

    def sniff(self, path: Path, head: bytes) -> float:
        """0.95 when a header row of eBay's (order number, buyer username, item title or
        sale date) comes within its first lines, else 0.0."""
        del path
        return 0.95 if _header_line(head) is not None else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield one order event per order, a notice when the currency is assumed, and a
        problem per row that cannot be read.

        Raises:
            FormatError: no eBay header row.
        """
        with path.open("rb") as fh:
            skip = _header_line(fh.read(64 * 1024))
        with CsvReader(path, options, _WHAT, skip_lines=skip or 0) as reader:
            if not _is_report(set(reader.columns)):
                raise reader.fail("no Order Number, Buyer Username and Item Title columns")
            reader.skip_row = _footer
            samples = reader.sample(
                ("Total Price", "Sold For", "Shipping And Handling", "Postage and packaging"),
                limit=200,
            )
            named = currency_from_symbols(samples)
            currency = named or options.currency.upper()
            if named is None:
                yield no_currency_notice(currency)
            for group in group_rows(
                reader, lambda row: row.get(*_NUMBER), "row has no order number; skipped"
            ):
                if isinstance(group, Problem):
                    yield group
                else:
                    yield _order(reader.name, group, currency, options)


def _date(text: str, options: ParseOptions) -> datetime | None:
    """A report date: the US's "Mar-05-24", else any form ``parse_datetime`` reads."""
    found = _US_DATE.match(text.strip())
    if found is not None:
        month, day, year = found.groups()
        year = year if len(year) == 4 else f"20{year}"
        text = f"{int(day):02d} {month} {year}"
    return parse_datetime(text, options.tz, "dmy")


def _order(
    filename: str, rows: list[Row], currency: str, options: ParseOptions
) -> EventRecord | Problem:
    """One order's rows as its event, or a problem naming the bad row."""
    first = rows[0]
    number = first.get("Order Number") or first.get("Sales Record Number")
    order_row = next((r for r in rows if r.get("Total Price")), first)
    at, column = first, ""
    try:
        column = "Sale Date"
        created = _date(order_row.get(column), options)
        column = "Paid On Date"
        paid = _date(order_row.get(column), options) if order_row.get(column) else None
        column = "Total Price"
        total = parse_money(order_row.get(column))
        column = "Shipping And Handling"
        shipping = parse_money(order_row.get(column, "Postage and packaging"))
        column = "eBay Collected Tax"
        tax = parse_money(order_row.get(column, "Seller Collected Tax"))
        lines: list[OrderLine] = []
        for at in rows:
            title = at.get("Item Title")
            if not title:
                continue  # (the order's own row, when its items follow)
            column = "Quantity"
            quantity = parse_quantity(at.get(column))
            column = "Sold For"
            price = parse_money(at.get(column))
            lines.append(OrderLine(title, quantity, price, at.get("Custom Label", "Item Number")))
    except (BadValue, ValueError) as exc:
        return Problem(f"{filename}:{at.line}", f"order {number}: {column} {exc}")
    if created is None:
        return Problem(f"{filename}:{first.line}", f"order {number}: no sale date")
    shipped = bool(order_row.get("Shipped On Date", "Dispatched on date"))
    subtotal = None
    if lines and all(line.unit_price is not None for line in lines):
        subtotal = sum(
            ((line.unit_price or Decimal(0)) * line.quantity for line in lines), Decimal(0)
        )
    info = OrderInfo(
        number=number,
        currency=currency,
        total=total,
        subtotal=subtotal,
        shipping=shipping,
        tax=tax if tax else None,
        financial_status="paid" if paid is not None else "pending",
        fulfillment_status="fulfilled" if shipped else "unfulfilled",
        platform_order_id=number,
        paid_at=paid,
        lines=tuple(lines),
    )
    participants = buyer(
        _SOURCE,
        name=order_row.get("Buyer Name", "Ship To Name", "Post to name"),
        email=order_row.get("Buyer Email"),
        phone=order_row.get("Ship To Phone", "Post to phone", "Buyer Phone"),
        handle=order_row.get("Buyer Username"),
    )
    return order_event(
        _SOURCE, info, created, participants, _details(order_row), f"{filename}:{first.line}"
    )


def _details(row: Row) -> dict[str, Any]:
    """Where the order goes, how, and what eBay says of it."""

    def place(prefix: str) -> dict[str, str]:
        street = ", ".join(
            p for n in (1, 2) if (p := row.get(f"{prefix} Address {n}", f"{prefix} address {n}"))
        )
        return drop_empty(
            {
                "name": row.get(f"{prefix} Name"),
                "street": street,
                "city": row.get(f"{prefix} City"),
                "province": row.get(f"{prefix} State", f"{prefix} County"),
                "zip": row.get(f"{prefix} Zip", f"{prefix} Postcode"),
                "country": row.get(f"{prefix} Country"),
                "phone": row.get(f"{prefix} Phone"),
            }
        )

    shipping = place("Ship To") or place("Post to")
    return {
        "shipping": shipping,
        "billing": place("Buyer"),
        "buyer_note": row.get("Buyer Note"),
        "payment_method": row.get("Payment Method"),
        "shipping_method": row.get("Shipping Service", "Delivery service", "Postage service"),
        "tracking_number": row.get("Tracking Number"),
        "sales_record_number": row.get("Sales Record Number"),
    }
