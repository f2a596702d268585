"""Connector for Stripe's payments export (Dashboard › Payments › Export, ``unified_payments.csv``).

Each row is one payment (a charge, ``ch_…``), and each payment becomes one
"order" event: external id and number = the charge ``id``, total =
``Amount``, refunded = ``Amount Refunded``, currency = ``Currency``
upper-cased (Stripe writes ``usd``), amounts in major units exactly as
written (``15.00``; ``1500`` for JPY, ``12.345`` for KWD; plain ``.``
decimals, no thousands separators). A newer export of the same payment after a
refund updates the event (ingest's upsert by source and id).

The creation time column names its zone: ``Created date (UTC)`` (current) or
``Created (UTC)`` (older exports); an export made in another zone says so in
the column name (``Created date (Europe/Berlin)``, ``… (GMT+01:00)``), and
the times are read in that zone. The Dashboard lets users choose columns, so
everything but ``Amount``, ``Currency`` and a created column is optional. A
cut-down export without the ``id`` column keys each payment by its
``PaymentIntent ID`` when it has one, else by a stable digest of the row's
created time, amount, currency, description, card name and customer (a
second identical row gets ``-2``), and its number is shown as that key.
Status maps to Shopify's vocabulary: Paid → paid (or
partially_refunded/refunded by the refunded amount), Refunded → refunded,
Failed → failed, Canceled → voided, an uncaptured payment → authorized; the
raw status stays in ``details["status"]``. The buyer is ``Customer Email``,
``Customer Phone``, ``Card Name`` and the ``Customer ID`` (``cus_…``, as the
platform id); ``Shipping Name`` and the shipping address stay in ``details``.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from app.records import Channel, EventRecord, Item, Notice, OrderInfo, ParseOptions, Problem
from connectors.csv_common import (
    CsvReader,
    Row,
    buyer,
    drop_empty,
    header_cells,
    norm,
    order_event,
)
from connectors.order_values import (
    BadValue,
    currency_code,
    parse_amount,
    parse_datetime,
    zone_named,
)

_SOURCE = "stripe"
_WHAT = "a Stripe payments export"
_CREATED = re.compile(r"created(?: date)?\s*\((?P<zone>[^)]+)\)", re.IGNORECASE)
_REFUNDED = re.compile(r"refunded date\s*\((?P<zone>[^)]+)\)", re.IGNORECASE)
_STRIPE_SIGNS = frozenset(
    {"amountrefunded", "sellermessage", "captured", "paymentintentid", "customeremail", "cardlast4"}
)
# Further columns only Stripe's export has, for a cut-down export without ``id``.
_CUT_DOWN_SIGNS = _STRIPE_SIGNS | frozenset(
    {
        "convertedamount",
        "convertedcurrency",
        "statementdescriptor",
        "customerdescription",
        "customerid",
        "cardbrand",
        "cardfunding",
        "taxesonfee",
        "islink",
        "paymentsourcetype",
    }
)
_KEY_FIELDS = ("Amount", "Currency", "Description", "Card Name", "Customer ID", "Customer Email")


def _column(header: list[str], pattern: re.Pattern[str]) -> tuple[str, str] | None:
    """The first header cell matching ``pattern`` and the zone it names."""
    for cell in header:
        match = pattern.fullmatch(cell.strip())
        if match:
            return cell, match["zone"].strip()
    return None


class StripeConnector:
    """Reads Stripe's payments export: each payment is one order event."""

    name: str = "stripe"
    label: str = "Stripe payments export (unified_payments.csv)"
    channel: Channel = "order"
    extensions: tuple[str, ...] = (".csv",)

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure this connector is that ``path`` is a Stripe payments export.

        Args:
            path: the file (unused; the header decides).
            head: up to the first 64 KiB of the file.

        Returns:
            0.9 for a header with ``id``, ``Amount``, ``Currency``, a
            ``Created … (<zone>)`` column and a Stripe column such as
            ``Amount Refunded`` or ``Seller Message``; 0.8 for a cut-down
            export without ``id`` that has ``Amount``, ``Currency``, a
            ``Created date (<zone>)`` column and a Stripe column such as
            ``Statement Descriptor`` or ``Converted Amount``, or ``Created date
            (UTC)`` itself with ``Status`` or ``Description``; else 0.0.
        """
        cells = header_cells(head)
        keys = {norm(cell) for cell in cells}
        created = _column(cells, _CREATED)
        if not {"amount", "currency"} <= keys or created is None:
            return 0.0
        if "id" in keys:
            return 0.9 if keys & _STRIPE_SIGNS else 0.0
        stripe_name = created[0].strip().lower().startswith("created date")
        if keys & _CUT_DOWN_SIGNS or (stripe_name and keys & {"status", "description"}):
            return 0.8
        return 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield one order event per payment, and a problem per bad row.

        Args:
            path: the CSV file.
            options: fallback zone, progress and cancel hooks.

        Yields:
            ``EventRecord`` items (channel "order"), ``Problem`` and ``Notice`` items.

        Raises:
            FormatError: the header lacks ``id``, ``Amount``, ``Currency`` or a created column.
        """
        with CsvReader(path, options, _WHAT) as reader:
            created = _column(reader.header, _CREATED)
            if not reader.has("Amount", "Currency") or created is None:
                raise reader.fail("no Amount, Currency and Created date (UTC) columns")
            keys = _Keys(created[0], has_id=reader.has("id"))
            zones: dict[str, tzinfo] = {}
            for found in (created, _column(reader.header, _REFUNDED)):
                if found is None:
                    continue
                cell, zone_text = found
                zone = zone_named(zone_text)
                if zone is None:
                    zone = options.tz
                    yield Notice(
                        f"column {cell!r} names a zone Threadline does not know; "
                        f"its times are read in {options.tz}"
                    )
                zones[cell] = zone
            refunded_cell = next((c for c in zones if c != created[0]), "")
            for row in reader.rows():
                if isinstance(row, Problem):
                    yield row
                    continue
                yield self._payment(reader.name, row, keys, refunded_cell, zones)

    def _payment(
        self,
        filename: str,
        row: Row,
        keys: _Keys,
        refunded_cell: str,
        zones: dict[str, tzinfo],
    ) -> EventRecord | Problem:
        """One payment row as an order event, or a problem."""
        locator = f"{filename}:{row.line}"
        created_cell = keys.created_cell
        payment_id = keys.key(row)
        if not payment_id:
            return Problem(locator, "row has no payment id; skipped")
        column = ""
        try:
            column = "Amount"
            total = parse_amount(row.get(column))
            column = "Amount Refunded"
            refunded = parse_amount(row.get(column))
            column = "Currency"
            currency = currency_code(row.get(column))
            column = created_cell
            occurred = parse_datetime(row.get(column), zones[created_cell], "ymd")
            column = refunded_cell
            refunded_at = (
                parse_datetime(row.get(column), zones[refunded_cell], "ymd") if column else None
            )
        except BadValue as exc:
            return Problem(locator, f"payment {payment_id}: {column} {exc}")
        if occurred is None:
            return Problem(locator, f"payment {payment_id}: no {created_cell} date")
        status = row.get("Status")
        financial = _financial(status, row.get("Captured"), total, refunded)
        info = OrderInfo(
            number=payment_id,
            currency=currency,
            total=total,
            refunded=refunded,
            financial_status=financial,
            platform_order_id=row.get("PaymentIntent ID"),
            paid_at=occurred if financial in ("paid", "partially_refunded", "refunded") else None,
        )
        details = _details(row, refunded_at)
        participants = buyer(
            _SOURCE,
            name=row.get("Card Name"),
            email=row.get("Customer Email"),
            phone=row.get("Customer Phone"),
            platform_id=row.get("Customer ID"),
        )
        return order_event(_SOURCE, info, occurred, participants, details, locator)


class _Keys:
    """Each payment's natural key: its ``id``; in a cut-down export without that
    column, its PaymentIntent ID or a stable digest of the row."""

    def __init__(self, created_cell: str, *, has_id: bool) -> None:
        self.created_cell = created_cell
        self.has_id = has_id
        self.seen: Counter[str] = Counter()

    def key(self, row: Row) -> str:
        """The key ("" for a row of a file with ids whose id is empty)."""
        if self.has_id:
            return row.get("id")
        intent = row.get("PaymentIntent ID")
        if intent:
            return intent
        basis = "|".join([row.get(self.created_cell), *(row.get(f) for f in _KEY_FIELDS)])
        digest = hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]
        self.seen[digest] += 1
        count = self.seen[digest]
        return f"stripe-{digest}" if count == 1 else f"stripe-{digest}-{count}"


def _financial(status: str, captured: str, total: Any, refunded: Any) -> str:
    """Stripe's status in Shopify's financial-status vocabulary."""
    key = status.strip().lower()
    if key == "failed":
        return "failed"
    if key in ("canceled", "cancelled"):
        return "voided"
    if refunded and total is not None and refunded >= total:
        return "refunded"
    if refunded:
        return "partially_refunded"
    if key == "refunded":
        return "refunded"
    if captured.strip().lower() == "false" or key == "uncaptured":
        return "authorized"
    if key in ("paid", "succeeded"):
        return "paid"
    return key.replace(" ", "_")


def _details(row: Row, refunded_at: datetime | None) -> dict[str, Any]:
    """Description, invoice, card, address, dispute and conversion facts of a payment."""

    def address(prefix: str, zip_name: str) -> dict[str, str]:
        return drop_empty(
            {
                "street": ", ".join(
                    p for p in (row.get(f"{prefix} Line1"), row.get(f"{prefix} Line2")) if p
                ),
                "city": row.get(f"{prefix} City"),
                "province": row.get(f"{prefix} State"),
                "zip": row.get(f"{prefix} {zip_name}"),
                "country": row.get(f"{prefix} Country"),
            }
        )

    billing = {"name": row.get("Card Name"), **address("Card Address", "Zip")}
    shipping = {"name": row.get("Shipping Name"), **address("Shipping Address", "Postal Code")}
    return {
        "description": row.get("Description"),
        "status": row.get("Status"),
        "seller_message": row.get("Seller Message"),
        "statement_descriptor": row.get("Statement Descriptor"),
        "invoice_number": row.get("Invoice Number"),
        "invoice_id": row.get("Invoice ID"),
        "customer_id": row.get("Customer ID"),
        "customer_description": row.get("Customer Description"),
        "payment_method": _card(row),
        "fee": row.get("Fee"),
        "converted": drop_empty(
            {
                "amount": row.get("Converted Amount"),
                "refunded": row.get("Converted Amount Refunded"),
                "currency": row.get("Converted Currency").upper(),
            }
        ),
        "refunded_at": refunded_at.isoformat() if refunded_at else "",
        "dispute": drop_empty(
            {
                "amount": row.get("Disputed Amount"),
                "status": row.get("Dispute Status"),
                "reason": row.get("Dispute Reason"),
            }
        ),
        "line_items": row.get("Checkout Line Item Summary"),
        "billing": drop_empty(billing),
        "shipping": drop_empty(shipping),
    }


def _card(row: Row) -> str:
    """The payment method as "Visa debit card" (brand and funding), or the source type."""
    brand, funding = row.get("Card Brand"), row.get("Card Funding")
    if brand:
        return " ".join(p for p in (brand, funding, "card") if p)
    return row.get("Payment Source Type")
