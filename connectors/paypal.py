"""Connector for PayPal's activity download (Activity › Download, ``Download.CSV``).

PayPal writes one row per transaction, every field quoted, sometimes with a
UTF-8 BOM. Three layouts are known (FORMATS.md §1.7) and all are matched by
header name: the personal 10-column file (``Date, Time, TimeZone, Name,
Type, Status, Currency, Amount, Receipt ID, Balance``), the 19-column
customised file and the 41-column business file (``Gross, Fee, Net, From
Email Address, To Email Address, Transaction ID, …``).

Amounts are signed from the account holder's point of view. Only payments
received from a buyer become orders:

- a payment is a row with a positive amount, a counterparty (``Name``) that
  is not PayPal itself, a ``Balance Impact`` of Credit (when the file has the
  column) and a ``Type`` that names a payment ("Website Payment", "Express
  Checkout Payment", "Payment Received", "Subscription Payment", "Zahlung
  erhalten", …) and not a hold, release, deposit, transfer, conversion,
  withdrawal, authorization or fee. It is one order event, number =
  ``Transaction ID`` (the 10-column file has none, so a stable key is made
  from the row's date, time, name, type, currency and amount), total =
  ``Gross``/``Amount``, the payer's ``From Email Address``, ``Contact Phone
  Number`` and ``Name`` as the buyer;
- a negative refund, reversal or chargeback row is applied to the payment its
  ``Reference Txn ID`` names: the payment's ``refunded`` amount is the sum of
  its refunds and its status "refunded" or "partially_refunded". The file is
  read twice (first the refunds, then the rest) so the order of rows does
  not matter. A refund of a payment that is not in the file updates that
  payment's order (same key: its Transaction ID) when it is imported, or
  already was: the order keeps each refund by its Transaction ID
  (``details["refunds"]``) and the import adds up those of every file, so
  refunds spread over several exports add up, overlapping exports never
  count a refund twice, and the payment's item, addresses and notes stay. A refund
  naming no payment (the 10-column file) stays its own event ("Refund
  <key>") with a negative total;
- everything else — holds and their releases, card and bank deposits,
  transfers, currency conversions, withdrawals, memo rows, money the owner
  sent — is skipped, and the import report says how many rows of each
  kind.

Dates are ``MM/DD/YYYY`` for US accounts and ``DD.MM.YYYY`` or
``DD/MM/YYYY`` elsewhere: the day/month order comes from the file's dates,
else the region's, and a notice says when it had to be assumed. ``Time`` is
24-hour and ``TimeZone`` an abbreviation (``PST``, ``CEST``) or an offset,
read as a fixed offset. Amounts use thousands separators (``1,234.56``);
European files use a decimal comma (``1.234,56``), decided from the file's
amounts (a ``;``-separated file defaults to it).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

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
from connectors.csv_common import CsvReader, Row, buyer, header_keys, order_event
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
    zone_named,
)

_SOURCE = "paypal"
_WHAT = "a PayPal activity download"
_KEYS = frozenset({"date", "time", "timezone", "name", "type", "status", "currency"})
_REFUND_WORDS = (
    "refund", "reversal", "chargeback", "rückzahlung", "erstattung", "rückbuchung",
    "remboursement", "rétrofacturation", "reembolso", "devolución", "rimborso", "storno",
    "terugbetaling",
)  # fmt: skip
# A Type naming a payment from a buyer (English and the main European languages) …
_PAYMENT_WORDS = (
    "payment", "donation", "received", "virtual terminal", "zahlung", "spende", "erhalten",
    "paiement", "reçu", "pago", "recibido", "pagamento", "ricevuto", "betaling", "ontvangen",
    "płatność",
)  # fmt: skip
# … unless it names money PayPal moves on the account holder's own behalf.
_NOT_PAYMENT_WORDS = (
    "hold", "release", "deposit", "transfer", "conversion", "withdraw", "authoriz",
    "authoris", "fee", "reserve", "cashback", "cash back", "bonus", "einbehalt", "freigabe",
    "umrechnung", "überweisung", "einzahlung", "abbuchung", "autorisierung", "gebühr",
    "retenue", "virement", "dépôt", "frais", "retención", "transferencia", "conversión",
    "depósito", "comisión", "trattenuta", "bonifico", "conversione", "deposito",
    "commissione", "omrekening", "overboeking", "storting",
)  # fmt: skip
# Other names of the columns (keys as ``norm`` makes them) → the key they are read by: a UK
# account's file ("Time zone", "Postage and Packaging Amount", "VAT", "Postcode") and a German
# one's, in its layouts since 2013 ("Datum", "Brutto", "Transaktionscode", "Auswirkung auf
# Guthaben"; 2016's header spells "Transactionscode"), as other projects' readers of them list.
_ALIASES = {
    "postageandpackagingamount": "shippingandhandlingamount",
    "vat": "salestax",
    "addressline2districtneighbourhood": "addressline2districtneighborhood",
    "county": "stateprovinceregioncountyterritoryprefecturerepublic",
    "postcode": "zippostalcode",
    "datum": "date",
    "uhrzeit": "time",
    "zeit": "time",
    "zeitzone": "timezone",
    "typ": "type",
    "art": "type",
    "beschreibung": "type",
    "währung": "currency",
    "brutto": "gross",
    "gebühr": "fee",
    "entgelt": "fee",
    "netto": "net",
    "absenderemailadresse": "fromemailaddress",
    "vonemailadresse": "fromemailaddress",
    "empfängeremailadresse": "toemailaddress",
    "anemailadresse": "toemailaddress",
    "transaktionscode": "transactionid",
    "transactionscode": "transactionid",
    "lieferadresse": "shippingaddress",
    "artikelbezeichnung": "itemtitle",
    "verwendungszweck": "itemtitle",
    "artikelnummer": "itemid",
    "versandundbearbeitungsgebühr": "shippingandhandlingamount",
    "betragfürversandkosten": "shippingandhandlingamount",
    "umsatzsteuer": "salestax",
    "option1wert": "option1value",
    "option2wert": "option2value",
    "zugehörigertransaktionscode": "referencetxnid",
    "txnreferenzkennung": "referencetxnid",
    "rechnungsnummer": "invoicenumber",
    "anzahl": "quantity",
    "menge": "quantity",
    "empfangsnummer": "receiptid",
    "belegnummer": "receiptid",
    "guthaben": "balance",
    "adresszeile1": "addressline1",
    "adresse": "addressline1",
    "adresszusatz": "addressline2districtneighborhood",
    "zusätzlicheangaben": "addressline2districtneighborhood",
    "ort": "towncity",
    "bundesland": "stateprovinceregioncountyterritoryprefecturerepublic",
    "staatprovinzregionlandkreisterritoriumpräfekturrepublik": (
        "stateprovinceregioncountyterritoryprefecturerepublic"
    ),
    "plz": "zippostalcode",
    "land": "country",
    "telefon": "contactphonenumber",
    "telefonnummer": "contactphonenumber",
    "telefonnummerderkontaktperson": "contactphonenumber",
    "betreff": "subject",
    "hinweis": "note",
    "auswirkungaufguthaben": "balanceimpact",
}
# A German file's Balance Impact, as the English one's.
_IMPACTS = {"haben": "credit", "soll": "debit"}
_STATUSES = {
    "completed": "paid",
    "abgeschlossen": "paid",
    "cleared": "paid",
    "pending": "pending",
    "refunded": "refunded",
    "partially refunded": "partially_refunded",
    "denied": "voided",
    "canceled": "voided",
    "cancelled": "voided",
}


class PayPalConnector:
    """Reads PayPal activity downloads: customer payments and refunds as order events."""

    name: str = "paypal"
    label: str = "PayPal activity download (.csv)"
    channel: Channel = "order"
    extensions: tuple[str, ...] = (".csv",)

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure this connector is that ``path`` is a PayPal activity download.

        Args:
            path: the file (unused; the header decides).
            head: up to the first 64 KiB of the file.

        Returns:
            0.9 for a header with ``Date, Time, TimeZone, Name, Type, Status,
            Currency`` and ``Gross`` or ``Amount``, else 0.0.
        """
        keys = {_ALIASES.get(key, key) for key in header_keys(head)}
        return 0.9 if keys >= _KEYS and keys & {"gross", "amount"} else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield an order event per customer payment and a refund event per refund.

        Args:
            path: the CSV file.
            options: region (day/month order), fallback zone, progress and cancel.

        Yields:
            ``EventRecord``, ``Problem`` and ``Notice`` items.

        Raises:
            FormatError: the header is not a PayPal activity download.
        """
        with CsvReader(path, options, _WHAT, aliases=_ALIASES) as reader:
            if not set(reader.columns) >= _KEYS or not (
                reader.has("Gross") or reader.has("Amount")
            ):
                raise reader.fail("no Date, Time, TimeZone, Name, Type, Status, Gross columns")
            order, notice = choose_date_order(
                options, reader.sample(("Date",)), region_date_order(options.region)
            )
            if notice is not None:
                yield notice
            default: NumberStyle = "comma" if reader.delimiter == ";" else "dot"
            style = detect_number_style(
                reader.sample(("Gross", "Amount", "Fee", "Net", "Balance")), default
            )
            rows = _Rows(reader.name, options, lambda t: parse_money(t, style), order)
        # First pass: which payments the file holds and what was refunded of each.
        quiet = dataclasses.replace(options, progress=None)
        with CsvReader(path, quiet, _WHAT, aliases=_ALIASES) as reader:
            for row in reader.rows():
                if not isinstance(row, Problem):
                    rows.note(row)
            if reader.cancelled:
                return
        with CsvReader(path, options, _WHAT, aliases=_ALIASES) as reader:
            for row in reader.rows():
                if isinstance(row, Problem):
                    yield row
                    continue
                item = rows.event(row)
                if item is not None:
                    yield item
            if reader.cancelled:
                return
        yield from rows.notices()


@dataclass
class _Refunds:
    """The refunds of one payment met in the file: each refund's amount by its
    Transaction ID (a row without one by its line)."""

    amounts: dict[str, Decimal] = field(default_factory=dict)
    emitted: bool = False

    @property
    def total(self) -> Decimal:
        return sum(self.amounts.values(), Decimal(0))

    def add(self, row: Row, amount: Decimal) -> None:
        self.amounts[row.get("Transaction ID") or f"line {row.line}"] = -amount

    def details(self) -> dict[str, str]:
        """The refunds as the order's details keep them (``details["refunds"]``: the import
        adds up those of every file, ``app.ingest``)."""
        return {txn: str(amount) for txn, amount in self.amounts.items()}


def _kind(row: Row, amount: Decimal) -> str:
    """What a row is: "payment", "refund", or why it is no customer event."""
    kind = row.get("Type").casefold()
    impact = row.get("Balance Impact").casefold()
    impact = _IMPACTS.get(impact, impact)
    if impact == "memo" or amount == 0:
        return "memo"
    if not row.get("Name"):
        return "funding"
    excluded = any(word in kind for word in _NOT_PAYMENT_WORDS)
    if row.get("Name").casefold().startswith("paypal") or excluded:
        return "other"  # PayPal itself, holds and releases, deposits, conversions, fees
    if amount < 0:
        return "refund" if any(word in kind for word in _REFUND_WORDS) else "outgoing"
    if impact not in ("", "credit"):
        return "other"
    return "payment" if any(word in kind for word in _PAYMENT_WORDS) else "other"


class _Rows:
    """Turns rows into events and counts the rows that are not customer events."""

    def __init__(
        self,
        filename: str,
        options: ParseOptions,
        money: Callable[[str], Decimal | None],
        order: DateOrder,
    ) -> None:
        self.filename = filename
        self.options = options
        self.money = money
        self.order = order
        self.skipped: Counter[str] = Counter()
        self.other_types: Counter[str] = Counter()
        self.keys: Counter[str] = Counter()
        self.unknown_zones: set[str] = set()
        self.payments: set[str] = set()
        self.refunds: dict[str, _Refunds] = {}
        self.applied = 0

    def note(self, row: Row) -> None:
        """First pass: remember the file's payments and sum the refunds of each."""
        try:
            amount = self.money(row.get("Gross", "Amount"))
        except BadValue:
            return
        if amount is None:
            return
        kind = _kind(row, amount)
        txn = row.get("Transaction ID")
        if kind == "payment" and txn:
            self.payments.add(txn)
        elif kind == "refund" and row.get("Reference Txn ID"):
            self.refunds.setdefault(row.get("Reference Txn ID"), _Refunds()).add(row, amount)

    def event(self, row: Row) -> EventRecord | Problem | None:
        """The event of one row, a problem, or None for a row that is not a customer event."""
        locator = f"{self.filename}:{row.line}"
        column = ""
        try:
            column = "Gross"
            amount = self.money(row.get("Gross", "Amount"))
            column = "Date"
            occurred = self._when(row)
            column = "Currency"
            currency = currency_code(row.get("Currency"))
            column = "Shipping and Handling Amount"
            shipping = self.money(row.get(column))
            column = "Sales Tax"
            tax = self.money(row.get(column))
            column = "Quantity"
            quantity = parse_quantity(row.get(column))
        except BadValue as exc:
            return Problem(locator, f"{column} {exc}")
        if amount is None:
            return Problem(locator, "row has no amount; skipped")
        if occurred is None:
            return Problem(locator, "row has no date; skipped")
        kind = _kind(row, amount)
        if kind not in ("payment", "refund"):
            self.skipped[kind] += 1
            if kind == "other":
                self.other_types[row.get("Type") or "no type"] += 1
            return None
        refund = kind == "refund"
        reference = row.get("Reference Txn ID")
        if refund and reference:
            return self._refund_of(reference, row, amount, occurred, currency, locator)
        key = self._key(row, amount)
        status = row.get("Status")
        financial = "refunded" if refund else _STATUSES.get(status.lower(), status.lower())
        refunds = None if refund else self.refunds.get(row.get("Transaction ID"))
        if refunds is not None and refunds.total:
            self.applied += len(refunds.amounts)
            financial = "refunded" if refunds.total >= amount else "partially_refunded"
        item = row.get("Item Title")
        lines = (
            (OrderLine(item, quantity, None, row.get("Item ID")),) if item and not refund else ()
        )
        info = OrderInfo(
            number=key,
            currency=currency,
            total=amount,
            shipping=shipping,
            tax=tax,
            refunded=refunds.total if refunds is not None and refunds.total else None,
            financial_status=financial,
            platform_order_id=row.get("Transaction ID"),
            paid_at=occurred
            if not refund and financial in ("paid", "partially_refunded", "refunded")
            else None,
            lines=lines,
        )
        participants = buyer(
            _SOURCE,
            name=row.get("Name"),
            email=row.get("To Email Address" if refund else "From Email Address"),
            phone=row.get("Contact Phone Number"),
        )
        details = {
            "type": row.get("Type"),
            "status": status,
            "fee": row.get("Fee"),
            "net": row.get("Net"),
            "refund_of": row.get("Reference Txn ID") if refund else "",
            "reference": "" if refund else row.get("Reference Txn ID"),
            "refunds": refunds.details() if refunds is not None else {},
            "invoice_number": row.get("Invoice Number"),
            "receipt_id": row.get("Receipt ID"),
            "subject": row.get("Subject"),
            "notes": row.get("Note"),
            "shipping": _shipping(row),
            "options": {
                row.get(f"Option {n} Name"): row.get(f"Option {n} Value")
                for n in (1, 2)
                if row.get(f"Option {n} Name")
            },
        }
        title = f"Refund {key}" if refund else None
        return order_event(_SOURCE, info, occurred, participants, details, locator, title)

    def _refund_of(
        self,
        payment: str,
        row: Row,
        amount: Decimal,
        occurred: datetime,
        currency: str,
        locator: str,
    ) -> EventRecord | None:
        """A refund of ``payment``: applied to it when the file holds it, else an update of
        that payment's order, once per payment: the refunds of this file, which the import
        adds to those other files brought (each counted once, however many files show it)
        and to what it knows of the payment (its other details and figures stay)."""
        refunds = self.refunds.get(payment)
        if refunds is None:  # (the first pass met it: only a row it could not read is new)
            refunds = self.refunds[payment] = _Refunds()
            refunds.add(row, amount)
        if payment in self.payments or refunds.emitted:
            return None  # counted on the payment's own row, or already sent
        refunds.emitted = True
        self.applied += len(refunds.amounts)
        info = OrderInfo(
            number=payment,
            currency=currency,
            total=None,
            refunded=refunds.total,
            financial_status="refunded",
            platform_order_id=payment,
        )
        participants = buyer(
            _SOURCE,
            name=row.get("Name"),
            email=row.get("To Email Address"),
            phone=row.get("Contact Phone Number"),
        )
        # Only the refunds: the payment's own type, status and addresses are its row's.
        details = {"refunds": refunds.details()}
        return order_event(_SOURCE, info, occurred, participants, details, locator)

    def _when(self, row: Row) -> datetime | None:
        """The row's Date and Time in its TimeZone (a fixed offset), as UTC."""
        date, time = row.get("Date"), row.get("Time")
        if not date:
            return None
        zone_text = row.get("TimeZone")
        zone = zone_named(zone_text) if zone_text else None
        if zone is None:
            if zone_text:
                self.unknown_zones.add(zone_text)
            zone = self.options.tz
        return parse_datetime(f"{date} {time}".strip(), zone, self.order)

    def _key(self, row: Row, amount: Decimal) -> str:
        """The Transaction ID, or a stable key made from the row for files without one."""
        txn = row.get("Transaction ID")
        if txn:
            return txn
        fields = ("Date", "Time", "TimeZone", "Name", "Type", "Currency", "Receipt ID")
        basis = "|".join([*(row.get(f) for f in fields), str(amount)])
        digest = hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]
        self.keys[digest] += 1
        count = self.keys[digest]
        return f"PP-{digest}" if count == 1 else f"PP-{digest}-{count}"

    def notices(self) -> Iterator[Notice]:
        """What the import report should say about skipped rows and unknown zones."""
        what = {
            "funding": "funding or transfer rows (no counterparty)",
            "outgoing": "rows of money you sent",
            "memo": "memo rows (no balance impact)",
        }
        for kind, label in what.items():
            if self.skipped[kind]:
                yield Notice(f"skipped {self.skipped[kind]} {label}; they are not customer orders")
        if self.skipped["other"]:
            types = ", ".join(f"{t} ×{n}" for t, n in sorted(self.other_types.items()))
            yield Notice(
                f"skipped {self.skipped['other']} rows that are not payments from a buyer "
                f"({types}); they are not customer orders"
            )
        if self.applied:
            yield Notice(f"applied {self.applied} refunds or reversals to the payments they undo")
        if self.unknown_zones:
            names = ", ".join(sorted(self.unknown_zones))
            yield Notice(f"unknown time zones {names}; those times are read in {self.options.tz}")


def _shipping(row: Row) -> dict[str, str]:
    """The shipping address: the one-cell ``Shipping Address`` or its parts."""
    parts = {
        "street": ", ".join(
            p
            for p in (row.get("Address Line 1"), row.get("Address Line 2/District/Neighborhood"))
            if p
        ),
        "city": row.get("Town/City"),
        "province": row.get("State/Province/Region/County/Territory/Prefecture/Republic"),
        "zip": row.get("Zip/Postal Code"),
        "country": row.get("Country"),
        "address": row.get("Shipping Address"),
        "phone": row.get("Contact Phone Number"),
    }
    return {k: v for k, v in parts.items() if v}
