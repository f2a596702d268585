"""The one write path for imported data: idempotent upserts, provenance and problems.

``import_file`` runs a connector over one file and stores what it yields. Each
item is written inside a savepoint, so one bad item becomes an
``import_problem`` and the rest goes on; items are committed in batches, so a
cancel, a crash or a kill leaves complete events only, and the next run of the
same file adds just what is missing (events are unique by source and natural
key). Progress and cancellation are plain callbacks: the UI adapts them to
signals, tests pass lambdas.
"""

from __future__ import annotations

import contextlib
import dataclasses
import decimal
import hashlib
import json
import logging
import tempfile
from collections import ChainMap, Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, Text, bindparam, func, select, type_coerce, update
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError, StatementError
from sqlalchemy.orm import Session

from app import (
    dialect,
    fingerprint,
    identity,
    language,
    live,
    mappings,
    mentions,
    parse_worker,
    settings,
    suppression,
)
from app.db import Database, RunLock, is_environmental, retry_when_busy
from app.errors import (
    BadRecordError,
    Cancelled,
    FormatError,
    UnrecognisedFormat,
    UserFacingError,
)
from app.models import (
    SORTED_JSON,
    AuditEntry,
    Customer,
    Event,
    EventParticipant,
    ImportProblem,
    ImportRun,
    Mention,
    Order,
    OrderLine,
    utcnow,
)
from app.paths import data_dir
from app.records import (
    MAILBOX_MESSAGES,
    MAX_NAME_CHARS,
    MAX_PROBLEMS,
    MAX_TEXT_CHARS,
    MAX_TITLE_CHARS,
    ContactCard,
    DateOrder,
    EventRecord,
    Item,
    Notice,
    OrderInfo,
    OwnerHint,
    ParseOptions,
    Participant,
    Problem,
)
from app.records import OrderLine as RecordLine
from connectors import archive, registry
from connectors.base import Connector
from connectors.csv_common import summary
from connectors.registry import DATA_ERRORS, display_path, displayable

log = logging.getLogger(__name__)

BATCH_SIZE = 500
# Customers' stored figures (counts, profile, waiting list) are recounted over all their
# events: after every batch that would cost each batch the whole history again. They are
# recounted when the events written since the last recount reach this many and twice the
# run's events before it (2,000, 6,000, 18,000, …), and at the end of the run; meanwhile
# the customers touched are marked as not counted (``profile`` "{}", which readers count
# on the fly) so that a killed import leaves them to the next import's first recount.
REFRESH_MIN = 2000
RECOUNT_CHUNK = 500  # customers recounted in one transaction at the end of a folder import
UNCHANGED_FOR = timedelta(seconds=2)
WORKER_BATCH_SIZE = 2000  # a big source parsed in a worker: fewer, larger transactions
# A worker that has nothing more ready yet: the items held (this many at least) are written
# meanwhile rather than after a wait, so both processes stay busy and the run's last batch,
# written after the worker is done, is small.
IDLE_BATCH_SIZE = 1000
_OWNER_SETTING = {"email": "owner_emails", "phone": "owner_phones", "name": "owner_names"}
_EVENT = cast(Table, Event.__table__)
_PARTICIPANT = cast(Table, EventParticipant.__table__)
_MENTION = cast(Table, Mention.__table__)
_ORDER = cast(Table, Order.__table__)
_ORDER_LINE = cast(Table, OrderLine.__table__)
# An order's figures and dates (a known value is kept when an update lacks one), then its
# status texts (kept when an update's is empty); a new order copies them all as they are.
_ORDER_VALUES = (
    "total",
    "subtotal",
    "shipping",
    "tax",
    "discount",
    "refunded",
    "paid_at",
    "fulfilled_at",
    "cancelled_at",
)
_ORDER_TEXTS = ("financial_status", "fulfillment_status", "platform_order_id")
_ORDER_FIELDS = _ORDER_VALUES + _ORDER_TEXTS
_CUSTOMER = cast(Table, Customer.__table__)
_NOT_COUNTED = "{}"  # a customer's profile while its figures wait for a recount


@dataclass
class ImportProgress:
    """Where an import stands, for a progress bar."""

    path: str
    items: int
    added: int
    duplicates: int
    problems: int
    bytes_done: int
    bytes_total: int


@dataclass
class FileReport:
    """What one file's import did."""

    path: str
    format: str
    added: int = 0
    duplicates: int = 0
    updated: int = 0
    problems: list[Problem] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    status: str = "done"  # done | cancelled | failed | skipped (met in a folder: see import_paths)
    error: str | None = None
    run_id: int | None = None
    suppressed: int = 0  # items of forgotten customers held back (``app.erasure``)

    def reason(self) -> str:
        """Why the file was not read (its ``error``) without its path, which the report
        names, or the list of formats Threadline reads."""
        error = (self.error or "").removeprefix(f"{self.path}: ")
        return error.split(" (supported:", 1)[0].removesuffix("; skipped")

    def as_json(self) -> dict[str, Any]:
        """The CLI's JSON shape for one file."""
        return {
            "path": self.path,
            "format": self.format,
            "added": self.added,
            "duplicates": self.duplicates,
            "updated": self.updated,
            "problems": [{"location": p.location, "reason": p.reason} for p in self.problems],
            "notices": self.notices,
            "status": self.status,
            **({"error": self.error} if self.error else {}),
            **({"suppressed": self.suppressed} if self.suppressed else {}),
        }


def content_hash(record: EventRecord) -> str:
    """A digest of everything an event shows, to tell an update from a duplicate."""
    payload: dict[str, Any] = {
        "t": record.title,
        "b": record.text,
        "at": record.occurred_at.astimezone(UTC).isoformat(),
        "d": record.direction,
        "x": dict(record.details),
    }
    if record.order is not None:
        payload["o"] = repr(record.order)
    data = SORTED_JSON.encode(payload)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def bound_record(record: EventRecord) -> tuple[EventRecord, list[str]]:
    """The record with its text, title and names cut to the stored sizes, and what was cut.

    Every channel goes through here, so no item stores more than ``MAX_TEXT_CHARS`` of
    text, ``MAX_TITLE_CHARS`` of title or ``MAX_NAME_CHARS`` of a name or handle. A cut
    text ends with a line saying how much was left out and its details say
    ``text_truncated``; each cut becomes a notice naming the record's location (the item
    itself is stored, so it is not a problem).

    Args:
        record: a record as a connector yielded it (``text_cut`` counts what the
            connector already left out).

    Returns:
        The record to store, and one notice per cut value.
    """
    where = record.locator or record.external_id[:200]
    cuts: list[str] = []
    changes: dict[str, Any] = {}
    total = len(record.text) + record.text_cut
    if total > MAX_TEXT_CHARS:
        left_out = total - MAX_TEXT_CHARS
        changes["text"] = (
            record.text[:MAX_TEXT_CHARS]
            + f"\n[… text cut: {left_out:,} more characters were not stored]"
        )
        changes["details"] = {**record.details, "text_truncated": True}
        cuts.append(
            f"{where}: text cut at {MAX_TEXT_CHARS:,} characters (about 1 MB) of {total:,}; "
            "the rest is not stored"
        )
    if len(record.title) > MAX_TITLE_CHARS:
        changes["title"] = record.title[: MAX_TITLE_CHARS - 1] + "…"
        cuts.append(
            f"{where}: title cut at {MAX_TITLE_CHARS:,} characters of {len(record.title):,}"
        )
    people = []
    for p in record.participants:
        long = [n for n in ("name", "handle") if len(getattr(p, n) or "") > MAX_NAME_CHARS]
        if long:
            p = replace(p, **{n: getattr(p, n)[:MAX_NAME_CHARS] for n in long})
            cuts.append(
                f"{where}: a participant's {' and '.join(long)} cut at {MAX_NAME_CHARS} characters"
            )
        people.append(p)
    if people != list(record.participants):
        changes["participants"] = tuple(people)
    if record.text_cut:
        changes["text_cut"] = 0
    return (replace(record, **changes) if changes else record), cuts


def mail_fingerprint(record: EventRecord) -> str:
    """The fingerprint of an email record ("" for other sources); see ``app.fingerprint``."""
    if record.source != "email":
        return ""
    senders = [
        address
        for p in record.participants
        if p.role == "from" and p.email
        for address in (identity.normalize_email(p.email),)
        if address
    ]
    sent_at = record.occurred_at if fingerprint.date_is_from_header(record.details) else None
    return fingerprint.mail_fingerprint(min(senders, default=""), sent_at, record.text)


def _lookup_ids(record: EventRecord, mark: str) -> tuple[str, ...]:
    """The keys an incoming record may be stored under (an email's alternate one too)."""
    if record.source != "email":
        return (record.external_id,)
    return (record.external_id, fingerprint.alternate_id(record.external_id, mark))


def _people_text(record: EventRecord) -> str:
    parts: list[str] = []
    for p in record.participants:
        parts.extend(x for x in (p.name, p.email, p.phone, p.handle) if x)
    if record.order is not None:
        parts.append(record.order.number)
        parts.append(record.order.number.lstrip("#"))
    return " ".join(parts)


def index_event(session: Session, event: Event, people: str) -> None:
    """Put (or replace) an event in the full-text index."""
    dialect.for_bind(session).reindex_event(session, event.id, event.title, event.body, people)


@dataclass
class _Pending:
    """Rows written in bulk at the end of a batch: new events (through SQLAlchemy Core,
    one ``executemany``), their orders and order lines, participants, full-text entries
    and mentions.

    A new event's dependent rows name it by its place in ``events`` (a negative
    placeholder id) until ``write`` inserts the events and learns their ids.
    """

    events: list[dict[str, Any]] = field(default_factory=list)
    participants: list[dict[str, Any]] = field(default_factory=list)
    fts: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)

    def _lists(self) -> tuple[list[dict[str, Any]], ...]:
        return self.events, self.participants, self.fts, self.mentions, self.orders, self.lines

    def mark(self) -> tuple[int, ...]:
        return tuple(len(rows) for rows in self._lists())

    def rewind(self, mark: tuple[int, ...]) -> None:
        for rows, length in zip(self._lists(), mark, strict=True):
            del rows[length:]

    def add_event(self, row: dict[str, Any]) -> int:
        """Queue a new event row; returns the placeholder id its dependent rows use."""
        self.events.append(row)
        return -len(self.events)

    def write(self, session: Session) -> None:
        store = dialect.for_bind(session)
        if self.events:
            # The ids are known before the insert (SQLite: this is the only writer; a
            # server: from the sequence), so one plain executemany does (RETURNING costs more).
            ids = store.new_ids(session, Event.id, len(self.events))
            for event_id, row in zip(ids, self.events, strict=True):
                row["id"] = event_id
            # Core inserts on the tables: the ORM's bulk path adds nothing for plain rows.
            store.insert_rows(session, _EVENT, self.events)
            for rows, key in (
                (self.participants, "event_id"),
                (self.mentions, "event_id"),
                (self.orders, "event_id"),
                (self.lines, "order_event_id"),
            ):
                for row in rows:
                    if row[key] < 0:
                        row[key] = ids[-row[key] - 1]
            for row in self.fts:
                if row["id"] < 0:
                    row["id"] = ids[-row["id"] - 1]
        for table, rows in (
            (_ORDER, self.orders),
            (_ORDER_LINE, self.lines),
            (_PARTICIPANT, self.participants),
            (_MENTION, self.mentions),
        ):
            store.insert_rows(session, table, rows)
        write_fts(session, self.fts)
        for rows in self._lists():
            rows.clear()

    def add_order(self, event_id: int, record: EventRecord) -> None:
        """Queue the order and lines of a new event (as ``_apply_order`` sets a new one)."""
        info = record.order
        assert info is not None
        self.orders.append(
            {
                "event_id": event_id,
                "number": info.number,
                "platform": record.source,
                "currency": info.currency.upper(),
                **{name: getattr(info, name) for name in _ORDER_FIELDS},
            }
        )
        self.lines.extend(
            {
                "order_event_id": event_id,
                "position": position,
                "name": line.name,
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
            }
            for position, line in enumerate(info.lines)
        )


def write_fts(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add new events to the full-text index in one statement (``id``, ``t``, ``b``, ``p``).

    Every full-text write of an import goes through here or ``index_event``.
    """
    dialect.for_bind(session).index_events(session, rows)


_Known = dict[tuple[str, str], tuple[int, str, str]]

# What an item's own values can make the write path raise: a record the connector should
# not have yielded, a number or text the database cannot hold, a key it refuses. Anything
# else (TypeError, AttributeError, KeyError, a plain ValueError from our code) is a bug:
# it aborts the import and reaches the crash report, never a silent "problem".
_DATA_FAULTS: tuple[type[BaseException], ...] = (
    BadRecordError,
    OverflowError,
    UnicodeError,
    decimal.InvalidOperation,
    IntegrityError,
    DataError,
)


def is_data_fault(exc: BaseException) -> bool:
    """Whether storing an item failed because of the item's data (not our code, not the disk)."""
    if is_environmental(exc):
        return False
    if isinstance(exc, _DATA_FAULTS):
        return True
    # A value SQLAlchemy could not bind: the data's fault only if the value itself was bad.
    # A value SQLAlchemy could not bind (a naive time in an order's dates) is the record's;
    # a TypeError or AttributeError while binding is our code's.
    return isinstance(exc, StatementError) and isinstance(exc.orig, (*_DATA_FAULTS, ValueError))


class FileFailedError(UserFacingError):
    """A file's import stopped part-way; ``report`` counts what was stored before."""

    def __init__(self, message: str, report: FileReport) -> None:
        super().__init__(message)
        self.report = report


def _existing_events(
    session: Session, records: Sequence[EventRecord], marks: Callable[[EventRecord], str]
) -> _Known:
    """(source, external_id) → (event id, content hash, fingerprint) for the records
    already stored (for an email, under its Message-ID or its alternate key).

    Args:
        records: as ``_store`` will key them: after the size bounds.
        marks: a record's mail fingerprint.
    """
    by_source: dict[str, list[str]] = {}
    for record in records:
        by_source.setdefault(record.source, []).extend(_lookup_ids(record, marks(record)))
    found: _Known = {}
    for source, ids in by_source.items():
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 500):
            rows = session.execute(
                select(Event.external_id, Event.id, Event.content_hash, Event.fingerprint).where(
                    Event.source == source, Event.external_id.in_(unique[start : start + 500])
                )
            )
            for external_id, event_id, digest, mark in rows:
                found[(source, external_id)] = (event_id, digest, mark)
    _same_orders(session, [r for r in records if (r.source, r.external_id) not in found], found)
    return found


def _minute(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(second=0, microsecond=0)


def _same_orders(session: Session, records: Sequence[EventRecord], found: _Known) -> None:
    """Find the stored orders that another export of the same shop keyed otherwise (one
    with Shopify's Id column and one without, or with Ids a spreadsheet mangled): an
    order of the same source and number placed the same minute, whose platform order id
    (where both give one) is the record's, is that order. It is found under the
    record's key (and takes it when the record names the platform's id and it did not).
    """
    # (orders keyed by their number alone were found by it: only those keyed otherwise)
    wanted = [
        r
        for r in records
        if r.order is not None and r.order.number and r.external_id != r.order.number
    ]
    if not wanted:
        return
    by_source: dict[str, set[str]] = {}
    for record in wanted:
        assert record.order is not None
        by_source.setdefault(record.source, set()).add(record.order.number)
    stored: dict[tuple[str, str, datetime], list[tuple[int, str, str, str, str]]] = {}
    for source, numbers in by_source.items():
        unique = sorted(numbers)
        for start in range(0, len(unique), 500):
            rows = session.execute(
                select(
                    Order.number,
                    Event.occurred_at,
                    Event.id,
                    Event.external_id,
                    Event.content_hash,
                    Event.fingerprint,
                    Order.platform_order_id,
                )
                .join(Event, Event.id == Order.event_id)
                .where(Event.source == source, Order.number.in_(unique[start : start + 500]))
            )
            for number, at, event_id, external_id, digest, mark, platform_id in rows:
                stored.setdefault((source, number, _minute(at)), []).append(
                    (event_id, external_id, digest, mark, platform_id or "")
                )
    for record in wanted:
        assert record.order is not None
        minute = _minute(record.occurred_at)
        own = record.order.platform_order_id
        same = [
            row
            for row in stored.get((record.source, record.order.number, minute), [])
            if not (own and row[4] and row[4] != own)
        ]
        if len(same) != 1 or (record.source, record.external_id) in found:
            continue  # (none, or more than one that could be it: a new order)
        event_id, external_id, digest, mark, platform_id = same[0]
        if own and not platform_id:  # the key that names the platform's id from now on
            session.execute(
                update(Event).where(Event.id == event_id).values(external_id=record.external_id)
            )
            stored[(record.source, record.order.number, minute)] = [
                (event_id, record.external_id, digest, mark, own)
            ]
        found[(record.source, record.external_id)] = (event_id, digest, mark)


def _apply_order(event: Event, record: EventRecord) -> None:
    """Copy the record's order onto the event; an update keeps what the record lacks.

    A newer export changes statuses, refunds and totals; a partial record (an
    Etsy items file after its orders file) must not erase known figures or
    line items, so empty values never overwrite stored ones.
    """
    info = record.order
    if info is None:
        return
    order = event.order
    if order is None:
        order = Order(number=info.number, platform=record.source)
        event.order = order
    order.number = info.number
    order.currency = info.currency.upper()
    for name in _ORDER_VALUES:
        value = getattr(info, name)
        if value is not None or getattr(order, name, None) is None:
            setattr(order, name, value)
    for name in _ORDER_TEXTS:
        value = getattr(info, name)
        if value or not getattr(order, name, ""):
            setattr(order, name, value)
    if info.lines or not order.lines:
        order.lines = [
            OrderLine(
                position=pos,
                name=line.name,
                sku=line.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
            )
            for pos, line in enumerate(info.lines)
        ]


def _merged_details(stored: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """An updated order's details: the record's, over what was known that it lacks.

    A partial record (a refund that names its payment, an items file after its orders
    file) carries only some details: the stored addresses, notes and options stay. Each
    refund is kept by its id (``"refunds"``: id → amount), those of every import together.
    """
    merged = {k: v for k, v in (stored or {}).items() if k != "previous"}
    kept = merged.get("refunds")
    merged.update(new)
    refunds = new.get("refunds")
    if isinstance(kept, dict) and isinstance(refunds, dict):
        merged["refunds"] = {**kept, **refunds}
    elif isinstance(kept, dict) and kept:
        merged["refunds"] = kept
    return merged


def _apply_refunds(order: Order, refunds: Any) -> None:
    """Set an order's refunded sum from its refunds by id (``_merged_details``) and, with its
    total known, whether it is refunded in full or in part."""
    if not isinstance(refunds, dict) or not refunds:
        return
    try:
        refunded = sum((decimal.Decimal(str(v)) for v in refunds.values()), decimal.Decimal(0))
    except (decimal.InvalidOperation, ValueError):
        return  # (not written by a connector: left as the record says)
    order.refunded = refunded
    if order.total is not None and refunded > 0:
        order.financial_status = "refunded" if refunded >= order.total else "partially_refunded"


def _shown(event: Event, details: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """What an order event with these details shows and stores but its change note: the
    same before and after an update that brought nothing new."""
    order = event.order
    figures = (
        None
        if order is None
        else (
            order.number,
            order.currency,
            *(getattr(order, name) for name in _ORDER_FIELDS),
            [(line.name, line.quantity, line.unit_price, line.sku) for line in order.lines],
        )
    )
    kept = {k: v for k, v in (details or {}).items() if k != "previous"}
    text = json.dumps(kept, sort_keys=True, default=str)
    return event.occurred_at, event.title, event.body, text, figures


def _order_info(order: Order) -> OrderInfo:
    """A stored order as a record's ``OrderInfo`` (for its summary text)."""
    return OrderInfo(
        number=order.number,
        currency=order.currency,
        total=order.total,
        subtotal=order.subtotal,
        shipping=order.shipping,
        tax=order.tax,
        discount=order.discount,
        refunded=order.refunded,
        financial_status=order.financial_status or "",
        fulfillment_status=order.fulfillment_status or "",
        platform_order_id=order.platform_order_id or "",
        paid_at=order.paid_at,
        fulfilled_at=order.fulfilled_at,
        cancelled_at=order.cancelled_at,
        lines=tuple(
            RecordLine(line.name, line.quantity, line.unit_price, line.sku or "")
            for line in sorted(order.lines, key=lambda line: line.position)
        ),
    )


@dataclass
class Recounts:
    """The customers a folder import's runs touched, recounted together.

    Each run of a folder recounting its customers at its own end costs every file the
    whole history of the customers it meets again (a chat file of the big account, an
    import merging two customers). Its runs mark them "not counted" instead (as between a
    run's recounts); they are recounted when the folder's events written since the last
    recount reach ``REFRESH_MIN`` and twice the events before it (the rule of one run,
    over all the folder's files), and by ``recount_deferred`` after the last file.
    """

    ids: set[int] = field(default_factory=set)
    written: int = 0  # events the folder's runs added or updated so far
    counted_at: int = 0  # ``written`` at the last recount
    final: bool = False  # the folder's last file: its last batch recounts them all


def _not_counted(session: Session) -> list[int]:
    """The customers marked as waiting for their recount (by a run killed before it)."""
    return list(
        session.scalars(
            select(Customer.id).where(type_coerce(Customer.profile, Text) == _NOT_COUNTED)
        )
    )


def recount_deferred(db: Database, deferred: Recounts) -> None:
    """Recount the figures of the customers in ``deferred`` (``RECOUNT_CHUNK`` to a
    transaction, so other writers get their turn) and empty it."""
    if db.is_server:
        with db.read_session() as session:
            if db.writers_waiting(session):  # the waiting import recounts every marked one
                deferred.ids.clear()
                return
    ids = sorted(deferred.ids)
    for start in range(0, len(ids), RECOUNT_CHUNK):
        chunk = ids[start : start + RECOUNT_CHUNK]

        def recount(chunk: list[int] = chunk) -> None:
            with db.session() as session:
                identity.refresh_customer_stats(session, chunk)
                live.changed(session, "import", chunk)

        with db.writers_queue():
            retry_when_busy(recount)
        deferred.ids.difference_update(chunk)


class _Writer:
    """Stores the items of one import run, batch by batch.

    A batch is first written in one go; if any item in it fails, the batch is
    rolled back and written again item by item inside savepoints, so the bad
    item becomes a problem and the others still land.
    """

    def __init__(
        self,
        db: Database,
        run_id: int,
        report: FileReport,
        *,
        owner_hints: bool = True,
        deferred: Recounts | None = None,
        mailboxes: Counter[str] | None = None,
    ) -> None:
        self.db = db
        self.run_id = run_id
        self.report = report
        self.owner_hints = owner_hints
        # Messages delivered to each mailbox (lower-cased) so far: this run's, or those of
        # the folder import it is part of (``OwnerHint.delivered``).
        self.mailboxes: Counter[str] = Counter() if mailboxes is None else mailboxes
        self.cuts = 0  # values cut to their stored size so far
        self.unlinkable = 0  # address book cards whose numbers the region cannot read
        # languages a parse worker detected, and sources the producer skipped as known
        self.produced = parse_worker.Produced()
        self._marks: dict[int, tuple[EventRecord, str]] = {}  # id(record) → its fingerprint
        # customers whose figures wait for a recount: marked "not counted" in the database
        # (by this run, or by an earlier one that was killed before its recount)
        # (with ``deferred``, the set of the folder import this run is part of: its runs
        # only mark customers, and the folder import recounts them once at its end)
        self.recounts = deferred
        self.folder_before = deferred.written if deferred is not None else 0
        self.uncounted: set[int] = deferred.ids if deferred is not None else set()
        self.counted_at = 0  # events written by this run at its last recount
        with db.read_session() as session:  # reads only: never waits for the write lock
            self.automated_customers = settings.get(session, "automated_customers") == "yes"
            self.suppressor = suppression.Suppressor(session)
            if deferred is None:
                self.uncounted.update(_not_counted(session))

    def write_batch(self, items: Sequence[Item], *, last: bool = False) -> None:
        """Write ``items`` in one transaction (``last``: the run's last batch, after which
        every customer it touched has its figures recounted)."""
        r = self.report
        r.duplicates += self.produced.take_known()
        snapshot = (r.added, r.duplicates, r.updated, len(r.problems), len(r.notices))
        cuts, uncounted, counted_at = self.cuts, set(self.uncounted), self.counted_at
        unlinkable = self.unlinkable
        folder_counted = self.recounts.counted_at if self.recounts is not None else 0

        def attempt(careful: bool) -> None:
            try:
                self._write(items, careful=careful, last=last)
            except BaseException:
                r.added, r.duplicates, r.updated = snapshot[:3]
                self.cuts, self.counted_at, self.unlinkable = cuts, counted_at, unlinkable
                if self.recounts is not None:
                    self.recounts.counted_at = folder_counted
                self.uncounted.clear()  # in place: a folder import's runs share the set
                self.uncounted.update(uncounted)
                del r.problems[snapshot[3] :]
                del r.notices[snapshot[4] :]
                raise

        try:
            with self.db.writers_queue():
                retry_when_busy(lambda: attempt(False))
        except Exception as exc:
            if not is_data_fault(exc):  # a bug, or locked, disk full, damaged: not the data's
                raise
            log.info("batch failed (%s); writing it item by item", exc)
            with self.db.writers_queue():
                retry_when_busy(lambda: attempt(True))
        self.produced.languages.clear()  # every item yielded so far was in this batch

    def _write(self, items: Sequence[Item], *, careful: bool, last: bool) -> None:
        with self.db.session() as session:
            self._marks.clear()
            resolver = identity.Resolver(session, lists_apart=not self.automated_customers)
            bounded = {id(i): bound_record(i) for i in items if isinstance(i, EventRecord)}
            records = [record for record, _cuts in bounded.values()]
            known = _existing_events(session, records, self._mark)
            people = [p for r in records for p in r.participants]
            people += [p for i in items if isinstance(i, ContactCard) for p in _card_people(i)]
            resolver.prefetch(people)
            pending = _Pending()
            for item in items:
                if isinstance(item, EventRecord):
                    item, cuts = bounded[id(item)]
                    for cut in cuts:
                        self._cut(cut)
                if isinstance(item, Problem):
                    self._problem(session, item)
                elif isinstance(item, Notice):
                    self.report.notices.append(item.message)
                elif isinstance(item, OwnerHint):
                    resolver.write()  # the owner's settings re-mark the stored identities
                    if self.owner_hints and self._owner_hint(session, item):
                        touched = resolver.touched_customers  # still to be recounted
                        resolver = identity.Resolver(
                            session, lists_apart=not self.automated_customers
                        )
                        resolver.touched_customers = touched
                        resolver.prefetch(people)
                elif isinstance(item, ContactCard):
                    self._card(session, resolver, item, careful=careful)
                elif careful:
                    self._careful(session, resolver, item, known, pending)
                else:
                    self._store(session, resolver, item, known, pending)
            resolver.write()  # the identities the events name, before the events
            pending.write(session)
            self._count(session, resolver.touched_customers, last)
            live.changed(session, "import", resolver.touched_customers)
            if last and self.unlinkable:
                self.report.notices.append(
                    f"{self.unlinkable:,} contact(s) with no email address and no number that "
                    f"reads as a phone number in your region ({resolver.region}): nothing to "
                    "link (threadline config region XX, then import again)"
                )
            run = session.get(ImportRun, self.run_id)
            assert run is not None
            run.added, run.duplicates = self.report.added, self.report.duplicates
            run.updated, run.problem_count = self.report.updated, len(self.report.problems)
            run.notices = "\n".join(self.report.notices)

    def _count(self, session: Session, touched: set[int], last: bool) -> None:
        """Recount the figures of the customers touched (see ``REFRESH_MIN``), or mark the
        ones not marked yet as waiting for their recount."""
        written = self.report.added + self.report.updated
        if self.recounts is not None:  # a folder's run: the folder's events decide
            self.recounts.written = done = self.folder_before + written
            at = self.recounts.counted_at
            due = (last and self.recounts.final) or done - at >= max(REFRESH_MIN, 2 * at)
        else:
            done, at = written, self.counted_at
            due = last or done - at >= max(REFRESH_MIN, 2 * at)
        if self.db.is_server:
            # Another import waits for its turn: it recounts what this one leaves marked
            # (``_hand_over``), so a queue of writers counts its customers once, not once per
            # batch over their whole history. The last writer of a queue recounts them all.
            if due and not self.db.writers_waiting(session):
                identity.refresh_customer_stats(
                    session, self.uncounted | touched | set(_not_counted(session))
                )
                self.uncounted.clear()
            else:
                self._hand_over(session, touched)
                if due:  # marked in the database: the waiting import's to recount now
                    self.uncounted.clear()
            if due:
                self._counted(done)
            return
        if due:
            identity.refresh_customer_stats(session, self.uncounted | touched)
            self.uncounted.clear()
            self._counted(done)
            return
        fresh = sorted(touched - self.uncounted)
        if fresh:
            session.execute(
                update(_CUSTOMER)
                .where(_CUSTOMER.c.id == bindparam("cid"))
                .values(profile=bindparam("not_counted")),
                [{"cid": cid, "not_counted": {}} for cid in fresh],
            )
            self.uncounted.update(fresh)

    def _counted(self, done: int) -> None:
        """Note that the events written up to ``done`` are counted (or handed over)."""
        if self.recounts is not None:
            self.recounts.counted_at = done
        else:
            self.counted_at = done

    def _hand_over(self, session: Session, touched: set[int]) -> None:
        """On a server: mark the customers this batch touched as not counted, for whoever
        recounts next: this run, or the import waiting for the writers' turn.

        Every batch marks what it touched, even a customer this run marked before: a
        colleague's recount may have counted and unmarked it in between.
        """
        self.uncounted.update(touched)
        ids = sorted(touched)
        profile = type_coerce(_CUSTOMER.c.profile, Text)
        for start in range(0, len(ids), 1000):
            session.execute(
                update(_CUSTOMER)
                .where(_CUSTOMER.c.id.in_(ids[start : start + 1000]), profile != _NOT_COUNTED)
                .values(profile={})
            )

    def _mark(self, record: EventRecord) -> str:
        """``mail_fingerprint(record)``, computed once per record in a batch."""
        found = self._marks.get(id(record))
        if found is None or found[0] is not record:
            found = self._marks[id(record)] = (record, mail_fingerprint(record))
        return found[1]

    def _cut(self, notice: str) -> None:
        """Tell that a value was cut to its stored size (the first ``MAX_PROBLEMS`` of them)."""
        self.cuts += 1
        if self.cuts <= MAX_PROBLEMS:
            self.report.notices.append(notice)
        elif self.cuts == MAX_PROBLEMS + 1:
            self.report.notices.append("more values were cut to their stored size; not listed")

    def _problem(self, session: Session, problem: Problem) -> None:
        self.report.problems.append(problem)
        session.add(
            ImportProblem(run_id=self.run_id, location=problem.location, reason=problem.reason)
        )

    def _owner_hint(self, session: Session, hint: OwnerHint) -> bool:
        if hint.delivered:  # a mailbox: the owner's once enough messages name it
            self.mailboxes[hint.value.lower()] += 1
            if self.mailboxes[hint.value.lower()] < MAILBOX_MESSAGES:
                return False
        key = _OWNER_SETTING[hint.kind]
        if not settings.add_to_list(session, key, hint.value):
            return False
        self.report.notices.append(f"recognised {hint.value} as your own {hint.kind}")
        identity.apply_owner_settings(session)
        return True

    def _card(
        self, session: Session, resolver: identity.Resolver, card: ContactCard, *, careful: bool
    ) -> None:
        """Put an address book card's email addresses and numbers on one customer (no
        event): "added" if that linked or made anything, else a duplicate. ``careful``:
        in a savepoint, a failure being the card's problem."""
        if not careful:
            self._link_card(resolver, card)
            return
        r = self.report
        counts = (r.added, r.duplicates, r.suppressed)
        resolver.savepoint()
        try:
            with session.begin_nested():
                self._link_card(resolver, card)
                resolver.write()
        except Exception as exc:
            if not is_data_fault(exc):
                raise
            resolver.forget()
            r.added, r.duplicates, r.suppressed = counts
            log.warning("could not store %r: %s", card.locator, exc)
            self._problem(session, Problem(card.locator, f"could not store: {exc}"))

    def _link_card(self, resolver: identity.Resolver, card: ContactCard) -> None:
        people = _card_people(card)
        if self.suppressor and any(self.suppressor.forgotten(p) for p in people):
            self.report.suppressed += 1  # a forgotten customer stays forgotten
            return
        keys: dict[identity.ContactKey, None] = {}
        for person in people:
            for key in identity.contact_keys(person, resolver.region):
                if key.kind == _kind_of(person):  # (not a number read as a handle)
                    keys.setdefault(key, None)
        if not keys:  # (only numbers no one can dial here: nothing to link)
            self.unlinkable += 1
            return
        before = resolver.changes
        resolver.resolve_keys(list(keys), card.name, "contacts", card=True)
        if resolver.changes > before:
            self.report.added += 1
        else:  # (a card known already: its customer is not recounted either)
            self.report.duplicates += 1

    def _careful(
        self,
        session: Session,
        resolver: identity.Resolver,
        record: EventRecord,
        known: _Known,
        pending: _Pending,
    ) -> None:
        mark = pending.mark()
        resolver.savepoint()
        r = self.report
        counts = (r.added, r.duplicates, r.updated, r.suppressed, len(r.notices))
        seen: ChainMap[tuple[str, str], tuple[int, str, str]] = ChainMap({}, known)
        try:
            with session.begin_nested():
                self._store(session, resolver, record, seen, pending)
                resolver.write()
                pending.write(session)
        except Exception as exc:
            if not is_data_fault(exc):
                raise
            pending.rewind(mark)
            resolver.forget()  # what it made or loaded in the savepoint is gone
            # nor was the record counted, nor is it known to the rest of the batch
            r.added, r.duplicates, r.updated, r.suppressed = counts[:4]
            del r.notices[counts[4] :]
            log.warning("could not store %s: %s", record.locator, exc)
            self._problem(
                session, Problem(record.locator or record.external_id, f"could not store: {exc}")
            )
        else:
            known.update(seen.maps[0])

    def _store(
        self,
        session: Session,
        resolver: identity.Resolver,
        record: EventRecord,
        known: MutableMapping[tuple[str, str], tuple[int, str, str]],
        pending: _Pending,
    ) -> None:
        if record.occurred_at.tzinfo is None:
            raise BadRecordError(f"{record.locator}: time without a zone")
        if self.suppressor:
            kept = self.suppressor.filter(record)
            if kept is None:  # written by a forgotten customer: it stays forgotten
                self.report.suppressed += 1
                return
            record = kept
        digest = content_hash(record)
        mark = self._mark(record)
        external_id = record.external_id
        found = known.get((record.source, external_id))
        if found is not None and mark and found[2] and found[2] != mark:
            # Another message already has this Message-ID: this one is kept under
            # its own key (the same key every time, so a re-import adds nothing).
            external_id = fingerprint.alternate_id(external_id, mark)
            found = known.get((record.source, external_id))
            if found is None:
                self.report.notices.append(
                    f"{record.locator or external_id}: a different message already uses "
                    f"Message-ID {record.external_id}; both are kept"
                )
        # A message kept under an alternate key starts its own thread, not the other's.
        thread_key = external_id if record.thread_key == record.external_id else record.thread_key
        if found is not None and found[0] < 0 and record.order is not None and found[1] != digest:
            # an order queued in this very batch, changed: written now, so it can be updated
            resolver.write()
            pending.write(session)
            stored = session.scalar(
                select(Event.id).where(
                    Event.source == record.source, Event.external_id == external_id
                )
            )
            found = (stored, found[1], found[2]) if stored is not None else None
        if found is not None:
            # (a negative id: an event queued in this very batch, nothing to update yet)
            if found[1] == digest or record.order is None or found[0] < 0:
                self.report.duplicates += 1
                return
            event = session.get(Event, found[0])
            assert event is not None
            self._update(session, resolver, event, record, digest)
            known[(record.source, external_id)] = (event.id, digest, found[2])
            return
        row: dict[str, Any] = {
            "channel": record.channel,
            "source": record.source,
            "external_id": external_id,
            "occurred_at": record.occurred_at.astimezone(UTC),
            "direction": record.direction or "inbound",
            "title": record.title,
            "body": record.text,
            "thread_key": thread_key,
            "details": dict(record.details),
            "content_hash": digest,
            "fingerprint": mark,
            "import_run_id": self.run_id,
            "locator": record.locator,
        }
        # A mailing list's own address (a recipient of every message to it) is no customer;
        # but a list that is the owner's own address (a support@ group) brings people's mail.
        lists = record.details.get("lists") or ()
        own_group = bool(record.details.get("via_list")) and any(
            address in resolver.owner.emails for address in lists
        )
        automated = bool(record.details.get("automated")) and not (
            self.automated_customers or own_group
        )
        lists = () if self.automated_customers else lists
        if lists:  # (its own group's address is the owner's, and stays so)
            resolver.mark_lists(lists, record.source)
        owner_sent = False
        links: dict[tuple[int, str], str] = {}
        for participant in record.participants:
            link = not (automated and participant.role in ("from", "author"))
            identities, is_owner = resolver.resolve(participant, record.source, link=link)
            if is_owner and participant.role in ("from", "author"):
                owner_sent = True
            for ident in identities:
                links.setdefault((ident.id, participant.role), participant.name)
        if record.direction is None:
            row["direction"] = "outbound" if owner_sent else "inbound"
        row["language"] = self._language(record, row["direction"])
        row["created_at"] = utcnow()
        event_id = pending.add_event(row)  # inserted in bulk at the end of the batch
        if record.order is not None:
            pending.add_order(event_id, record)
        known[(record.source, external_id)] = (event_id, digest, mark)
        pending.participants.extend(
            {"event_id": event_id, "identity_id": iid, "role": role, "name": name}
            for (iid, role), name in links.items()
        )
        pending.fts.append(
            {"id": event_id, "t": record.title, "b": record.text, "p": _people_text(record)}
        )
        if record.channel in ("email", "chat"):
            pending.mentions.extend(
                mentions.rows(event_id, record.title, record.text, resolver.region)
            )
        self.report.added += 1

    def _language(self, record: EventRecord, direction: str) -> str | None:
        """The record's language: as the parse worker detected it, else detected here."""
        known = self.produced.languages.get(id(record))
        if known is not None and known[0] is record and direction != "system":
            return known[1]
        return language.for_event(record.channel, direction, record.title, record.text)

    def _update(
        self,
        session: Session,
        resolver: identity.Resolver,
        event: Event,
        record: EventRecord,
        digest: str,
    ) -> None:
        before = event.order
        was = (
            (before.financial_status, before.fulfillment_status, before.refunded)
            if before
            else None
        )
        shown = _shown(event, event.details)
        previous = (event.details or {}).get("previous")
        details = _merged_details(event.details, record.details)
        event.title = record.title
        placed = record.occurred_at.astimezone(UTC)
        if _minute(placed) < _minute(event.occurred_at):
            event.occurred_at = placed  # (a refund came first: the order is older; a date
            # that only lost its seconds in a spreadsheet is the same date)
        event.content_hash = digest
        _apply_order(event, record)
        order = event.order
        if order is not None:
            _apply_refunds(order, details.get("refunds"))
            # The text of what is now known (a partial record's own text lacks the rest).
            event.body = summary(_order_info(order), details)
        else:
            event.body = record.text
        changed = _shown(event, details) != shown
        if was and changed:
            details["previous"] = {
                "financial_status": was[0],
                "fulfillment_status": was[1],
                "refunded": str(was[2]) if was[2] is not None else None,
            }
        elif previous is not None:
            details["previous"] = previous  # (what the last change changed)
        event.details = details
        present: set[tuple[int, str]] = {
            (iid, role)
            for iid, role in session.execute(
                select(EventParticipant.identity_id, EventParticipant.role).where(
                    EventParticipant.event_id == event.id
                )
            )
        }
        resolved = [
            (participant, resolver.resolve(participant, record.source)[0])
            for participant in record.participants
        ]
        resolver.write()  # the identities the new participants name, before them
        for participant, identities in resolved:
            for ident in identities:
                if (ident.id, participant.role) not in present:
                    present.add((ident.id, participant.role))
                    changed = True
                    session.add(
                        EventParticipant(
                            event_id=event.id,
                            identity_id=ident.id,
                            role=participant.role,
                            name=participant.name,
                        )
                    )
        session.flush()
        # Who took part as stored: a partial export names fewer than the first one did.
        index_event(session, event, dialect.stored_people(session, [event.id]).get(event.id, ""))
        if changed:
            self.report.updated += 1
        else:  # (an export met before in another file: what it says is known)
            self.report.duplicates += 1


def _options(
    session: Session,
    tz: tzinfo | None,
    date_order: DateOrder | None,
    progress: Callable[[int, int], None],
    should_cancel: Callable[[], bool] | None,
    column_map: Mapping[str, str] | None = None,
) -> ParseOptions:
    return ParseOptions(
        tz=tz or settings.zone(session),
        region=settings.get(session, "region"),
        date_order=date_order,
        owner_names=tuple(settings.get_list(session, "owner_names")),
        currency=settings.get(session, "currency"),
        column_map=column_map,
        progress=progress,
        should_cancel=should_cancel,
    )


def _connector_for(db: Database, path: Path, format: str | None) -> Connector:
    """The named connector, or the detected one; a CSV nobody recognises can still be
    one whose columns the user mapped before."""
    if format:
        return registry.get(format)
    try:
        return registry.detect(path)
    except FormatError:
        if path.is_dir() or path.suffix.lower() not in (".csv", ".tsv", ".txt"):
            raise
        with db.read_session() as session:
            known = mappings.remembered_format(session, registry.read_headers(path))
        if known is None:
            raise
        return registry.get(known)


def import_file(
    db: Database,
    path: Path,
    *,
    format: str | None = None,
    tz: tzinfo | None = None,
    date_order: DateOrder | None = None,
    column_map: Mapping[str, str] | None = None,
    progress: Callable[[ImportProgress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    batch_size: int = BATCH_SIZE,
    owner_hints: bool = True,
    deferred: Recounts | None = None,
    label: str | None = None,
    mailboxes: Counter[str] | None = None,
) -> FileReport:
    """Import one file; never raises for a bad item, only for a bad file.

    Args:
        db: the open database.
        path: the file to import.
        format: a connector name to use instead of detecting one.
        tz: zone for timestamps without one (default: the configured zone).
        date_order: forced day/month order for chat exports.
        column_map: field → column header, for generic CSV formats.
        progress: called now and then with an ``ImportProgress``.
        should_cancel: polled between items; True stops after the current batch.
        batch_size: items per committed transaction.
        owner_hints: let the file's own word on who the business is seed the
            owner settings.
        deferred: the customers' recount is left to the folder import holding it.
        label: the name the file is reported and remembered under (default: its path;
            a file taken out of a zip archive: ``archive.zip/member``).
        mailboxes: messages delivered to each mailbox in the other files of the import
            (``OwnerHint.delivered``); counted on.

    Returns:
        The report; ``status`` is "cancelled" when stopped early.

    Raises:
        FormatError: the file is not (or not detected as) a supported format.
        UserFacingError: the file cannot be read, is a FIFO, device or socket, or
            holds data no parser can take (a number with thousands of digits,
            JSON nested too deeply).
    """
    registry.check_regular(path)
    connector = _connector_for(db, path, format)
    byte_state = [0, 0]

    def on_bytes(done: int, total: int) -> None:
        byte_state[0], byte_state[1] = done, total

    headers = registry.read_headers(path) if registry.mapping_spec(connector.name) else []
    chosen = column_map
    explicit = bool(format or tz or date_order or column_map)
    with db.read_session() as session:  # reads only: never waits for another import's lock
        if headers and column_map is None:
            column_map = mappings.saved(session, connector.name, headers)
        options = _options(session, tz, date_order, on_bytes, should_cancel, column_map)
    label = display_path(path) if label is None else label
    produced = parse_worker.Produced()
    options = replace(options, on_known=produced.count_known)
    if connector.name == "maildir":  # its message files stored before are not read again
        with db.read_session() as session:
            options = replace(options, known_locators=_stored_locators(session, path))
    unchanged = _unchanged_since_import(db, path, label, connector.name, explicit)
    if unchanged is not None:
        produced.known, notice = unchanged

        def produce() -> Iterable[Item]:
            return [Notice(notice)]

    elif parse_worker.worth_a_worker(path, len(options.known_locators)):  # the other core
        run_options = options

        def produce() -> Iterable[Item]:
            return parse_worker.items_from_worker(connector.name, path, run_options, produced)

        batch_size = WORKER_BATCH_SIZE if batch_size == BATCH_SIZE else batch_size
    else:

        def produce() -> Iterable[Item]:
            return connector.parse(path, options)

    report = import_items(
        db,
        produce,
        label=label,
        format=connector.name,
        progress=progress,
        should_cancel=should_cancel,
        batch_size=batch_size,
        byte_state=byte_state,
        owner_hints=owner_hints,
        clean_text=display_path(path) != str(path),
        produced=produced,
        deferred=deferred,
        mailboxes=mailboxes,
    )
    if headers and chosen and report.status == "done":
        # A mapping the user gave that worked is remembered for this header set.
        with db.session() as session:
            mappings.save(session, connector.name, headers, chosen)
    return report


def _stored_locators(session: Session, path: Path) -> frozenset[str]:
    """The locators of the messages of the Maildir ``path`` stored before (a Maildir file
    keeps its name and content for life: one seen before needs no reading)."""
    prefix = f"{path.name}/"
    rows = session.scalars(
        select(Event.locator).where(
            Event.source == "email", Event.locator.startswith(prefix, autoescape=True)
        )
    )
    return frozenset(rows)


def _unchanged_since_import(
    db: Database, path: Path, label: str, format: str, explicit: bool
) -> tuple[int, str] | None:
    """For a file (an mbox, a chat export, an orders CSV…) imported whole before with the
    same format and not touched since: (its items, a notice). Reading it again would only
    find what is stored (a 10,000-order export: 3–4 s of reading for nothing).

    Nobody may have been forgotten since the file was first imported (``app.erasure``):
    then it is read again each time, so the report says how many of its items are held
    back (none of them comes back either way).

    "Not touched" is the file's change time (which no copy or ``touch`` can set back)
    and modification time both ``UNCHANGED_FOR`` before the start of the last completed
    import of the same path (file times tick coarsely: mail appended just as that import
    began is read again); the options must be the defaults (nothing chosen for this import).
    A folder (a Maildir, a Slack export) is always read: its files have their own rules.
    """
    if explicit or path.is_dir():
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    changed = datetime.fromtimestamp(max(info.st_mtime, info.st_ctime), UTC)
    with db.read_session() as session:
        run = session.scalars(
            select(ImportRun)
            .where(ImportRun.path == label, ImportRun.format == format)
            .where(ImportRun.finished_at.is_not(None))
            .order_by(ImportRun.id.desc())
            .limit(1)
        ).first()
        if run is None or run.status != "done" or changed >= run.started_at - UNCHANGED_FOR:
            return None
        first = session.scalar(
            select(func.min(ImportRun.started_at)).where(
                ImportRun.path == label, ImportRun.format == format
            )
        )
        erased = session.scalar(  # a customer forgotten since: read it, to say what is held back
            select(AuditEntry.id)
            .where(AuditEntry.action == "erasure", AuditEntry.at >= (first or run.started_at))
            .limit(1)
        )
        if erased is not None:
            return None
        count = run.added + run.duplicates + run.updated
        when = run.started_at
    return count, (
        f"unchanged since its import on {when:%Y-%m-%d %H:%M} UTC: not read again "
        f"({count:,} items already stored)"
    )


def import_items(
    db: Database,
    items: Callable[[], Iterable[Item]],
    *,
    label: str,
    format: str,
    progress: Callable[[ImportProgress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    batch_size: int = BATCH_SIZE,
    byte_state: list[int] | None = None,
    owner_hints: bool = True,
    clean_text: bool = False,
    produced: parse_worker.Produced | None = None,
    deferred: Recounts | None = None,
    mailboxes: Counter[str] | None = None,
) -> FileReport:
    """Store a stream of items as one import run (the core of ``import_file``).

    Args:
        db: the open database.
        items: makes the iterable of items (called once, inside the run).
        label: what the run is called in reports (a path, "account/INBOX").
        format: the connector name recorded with the run.
        progress: called now and then with an ``ImportProgress``.
        should_cancel: polled between items.
        batch_size: items per committed transaction.
        byte_state: [done, total] bytes, updated by the producer for progress.
        owner_hints: let the source's own word on who the business is seed the
            owner settings (False when the user chose in the import dialog).
        clean_text: the source's name is not valid UTF-8: escape undecodable bytes
            in every text the items carry (locators and problems always are).
        produced: filled in by the producer as it yields: languages a parse worker
            detected (others are detected here), sources skipped as stored before.
        deferred: the customers touched are only marked "not counted" and added to
            it, for ``recount_deferred`` (a folder import's runs); else the run
            recounts them itself.
        mailboxes: as for ``import_file``.

    Raises:
        FormatError, UserFacingError: the producer failed before yielding anything
            (malformed data it cannot parse, such as a number with thousands of
            digits, counts as a ``UserFacingError``).
    """
    report = FileReport(path=label, format=format)
    state = byte_state if byte_state is not None else [0, 0]
    try:
        lock = retry_when_busy(lambda: _start_run(db, report))
    except SQLAlchemyError as exc:  # read-only, full, damaged: one line, no run left behind
        error = db.user_error(exc)
        if error is None:
            raise
        raise error from exc
    try:
        return _run(
            db,
            report,
            items,
            progress,
            should_cancel,
            batch_size,
            state,
            owner_hints,
            clean_text,
            parse_worker.Produced() if produced is None else produced,
            deferred,
            mailboxes,
        )
    except BaseException as exc:
        # A bug, an interrupt, or the database failing under us (locked, full,
        # damaged): the run is marked, never left "running".
        report.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        with contextlib.suppress(Exception):
            _finish(db, report)
        error = db.user_error(exc)
        if error is not None:
            raise error from exc
        raise
    finally:
        if lock is not None:
            lock.release()


def _start_run(db: Database, report: FileReport) -> RunLock | None:
    lock: RunLock | None = None

    def start(session: Session) -> RunLock | None:
        run = ImportRun(path=report.path, format=report.format)
        session.add(run)
        session.flush()
        report.run_id = run.id
        return db.hold_run(run.id)  # inside the transaction: never seen without its lock

    try:
        lock = db.write(start)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return lock


def _run(
    db: Database,
    report: FileReport,
    items: Callable[[], Iterable[Item]],
    progress: Callable[[ImportProgress], None] | None,
    should_cancel: Callable[[], bool] | None,
    batch_size: int,
    state: list[int],
    owner_hints: bool,
    clean_text: bool,
    produced: parse_worker.Produced,
    deferred: Recounts | None,
    mailboxes: Counter[str] | None,
) -> FileReport:
    label = report.path
    assert report.run_id is not None
    writer = _Writer(
        db, report.run_id, report, owner_hints=owner_hints, deferred=deferred, mailboxes=mailboxes
    )
    writer.produced = produced
    items_seen = 0

    def emit() -> None:
        if progress is not None:
            progress(
                ImportProgress(
                    label,
                    items_seen,
                    report.added,
                    report.duplicates,
                    len(report.problems),
                    state[0],
                    state[1],
                )
            )

    batch: list[Item] = []
    problems_met = 0
    try:
        for item in _guarded(items, label, clean_text):
            problems_met += isinstance(item, Problem)
            if not isinstance(item, Problem) or problems_met <= MAX_PROBLEMS:
                batch.append(item)  # past the cap a file of junk is counted, not listed
            items_seen += 1
            if len(batch) >= batch_size or (
                produced.idle and len(batch) >= min(batch_size, IDLE_BATCH_SIZE)
            ):
                writer.write_batch(batch)
                batch = []
                emit()
            if should_cancel is not None and should_cancel():
                report.status = "cancelled"
                break
        batch.extend(_more_problems(label, problems_met))
        writer.write_batch(batch, last=True)
    except (FormatError, UserFacingError) as exc:
        writer.write_batch([*batch, *_more_problems(label, problems_met)], last=True)
        report.status, report.error = "failed", displayable(str(exc))
        _finish(db, report)
        if report.added or report.duplicates or report.problems:
            return report
        raise
    except Cancelled:
        writer.write_batch([*batch, *_more_problems(label, problems_met)], last=True)
        report.status = "cancelled"
    except OSError as exc:
        writer.write_batch(batch, last=True)
        report.status, report.error = "failed", displayable(f"{label}: read error: {exc}")
        _finish(db, report)
        raise FileFailedError(report.error, report) from exc
    emit()
    _finish(db, report)
    return report


def _more_problems(label: str, met: int) -> list[Problem]:
    """The one problem that counts those past ``MAX_PROBLEMS`` (none if there were not more)."""
    if met <= MAX_PROBLEMS:
        return []
    more = met - MAX_PROBLEMS
    return [Problem(label, f"{more:,} more problems like the ones above were not listed")]


def _guarded(items: Callable[[], Iterable[Item]], label: str, full: bool) -> Iterator[Item]:
    """The producer's items, storable as text; malformed data it chokes on ends the file.

    Only the errors that malformed data raises in a parser (``DATA_ERRORS``) are
    turned into a one-line ``UserFacingError`` for this file (logged with the
    traceback); anything else is a bug and propagates. Errors raised by the
    consumer between items never pass through here.
    """
    try:
        for item in items():
            yield _clean_item(item, full)
    except DATA_ERRORS as exc:
        log.warning("%s: could not read the data", label, exc_info=True)
        raise UserFacingError(f"{label}: cannot read: {_data_error(exc)}; file skipped") from exc


def _data_error(exc: Exception) -> str:
    """Malformed data's error in words, without Python's advice."""
    message = str(exc)
    if isinstance(exc, RecursionError):
        return "data nested too deeply"
    if "integer string conversion" in message:
        return "a number with thousands of digits"
    if isinstance(exc, OverflowError):
        return "a number too large"
    if isinstance(exc, UnicodeError):
        return "text in an encoding it does not declare"
    first = displayable(message.splitlines()[0] if message else type(exc).__name__)
    return f"bad data ({first[:200]})"


def _card_people(card: ContactCard) -> list[Participant]:
    """A card's contact points, each as a participant of its own (one value each)."""
    people = [Participant(role="member", email=address) for address in card.emails]
    return people + [Participant(role="member", phone=number) for number in card.phones]


def _kind_of(person: Participant) -> str:
    """The kind of contact point a one-value participant gives ("email" or "phone")."""
    return "email" if person.email else "phone"


def _clean_item(item: Item, full: bool) -> Item:
    """An item whose texts can be stored and printed (undecodable file-name bytes escaped)."""
    if isinstance(item, Problem):
        return Problem(displayable(item.location), displayable(item.reason))
    if isinstance(item, Notice):
        return Notice(displayable(item.message))
    if isinstance(item, OwnerHint):
        return dataclasses.replace(item, value=displayable(item.value)) if full else item
    if full or displayable(item.locator) != item.locator:
        # A name with undecodable bytes (the file's, a Maildir folder's) may be in any text.
        cleaned = _clean_value(item)
        assert isinstance(cleaned, EventRecord | ContactCard)
        return cleaned
    return item


def _clean_value(value: Any) -> Any:
    if isinstance(value, str):
        return displayable(value)
    if isinstance(value, tuple):
        return tuple(_clean_value(v) for v in value)
    if isinstance(value, list):
        return [_clean_value(v) for v in value]
    if isinstance(value, Mapping):
        return {_clean_value(k): _clean_value(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _clean_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value


def _finish(db: Database, report: FileReport) -> None:
    def mark() -> None:
        with db.session() as session:
            run = session.get(ImportRun, report.run_id)
            if run is not None:
                run.status = report.status
                run.finished_at = utcnow()

    retry_when_busy(mark)


def import_paths(
    db: Database,
    paths: Iterable[Path],
    *,
    format: str | None = None,
    tz: tzinfo | None = None,
    date_order: DateOrder | None = None,
    column_map: Mapping[str, str] | None = None,
    progress: Callable[[ImportProgress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    owner_hints: bool = True,
) -> list[FileReport]:
    """Import files and folders (walked recursively); a bad file fails alone.

    A file that cannot be read or is not a supported format gets a report with
    status "failed" and its one-line error; the other files still import. A file met
    while walking a folder that no format recognises (an export's photos, its other
    files) gets a report with status "skipped" instead, and so does a named pipe,
    device or socket met there (never opened; given by name, it fails).

    A zip archive that is no export of its own (not a WhatsApp chat or a Slack
    workspace: a "Download your information", a Google Takeout, zipped exports), or a tar
    archive (a Takeout's ``.tgz``), is read
    as the folder it holds: its files are taken out into a private folder of the data folder
    (``connectors.archive.unpack``: checked names, size and zip-bomb limits, photos and
    other media left in), imported under the names ``archive.zip/member``, and deleted
    at the end.

    The customers the files touch have their figures recounted together, now and then
    and after the last file (``Recounts``), not at each file's end; an import stopped on
    the way leaves them marked for the next.
    """
    reports: list[FileReport] = []
    given = list(paths)
    with db.read_session() as session:
        deferred = Recounts(set(_not_counted(session)))
    mailboxes: Counter[str] = Counter()  # (a folder of ``.eml`` files: one message each)
    with contextlib.ExitStack() as unpacked:
        sources: list[tuple[Path, str]] = []
        left_out: list[FileReport] = []
        for path in registry.expand(given):
            if should_cancel is not None and should_cancel():
                break
            kind = None if format else registry.export_archive(path)
            if kind is not None:
                found = _unpacked(path, kind, unpacked, progress, should_cancel)
                if isinstance(found, FileReport):
                    reports.append(found)
                else:
                    sources.extend(found[0])
                    left_out.extend(found[1])
                continue
            sources.append((path, display_path(path)))
        for n, (path, label) in enumerate(sources):
            # the last file recounts them in its last transaction (one change for the others)
            deferred.final = n == len(sources) - 1
            if should_cancel is not None and should_cancel():
                break
            if path not in given and not format and registry.shared_in_chat(path):
                reports.append(
                    FileReport(
                        path=label,
                        format="",
                        status="skipped",
                        error=f"{label}: {registry.SHARED_CARD}; skipped "
                        "(import the file itself to add it)",
                    )
                )
                continue
            special = registry.special_file(path)
            if special is not None:
                reports.append(
                    FileReport(
                        path=label,
                        format=format or "",
                        status="failed" if path in given else "skipped",
                        error=f"{label}: {special}, not a regular file; skipped",
                    )
                )
                continue
            try:
                reports.append(
                    import_file(
                        db,
                        path,
                        format=format,
                        tz=tz,
                        date_order=date_order,
                        column_map=column_map,
                        owner_hints=owner_hints,
                        progress=progress,
                        should_cancel=should_cancel,
                        deferred=deferred,
                        label=label,
                        mailboxes=mailboxes,
                    )
                )
            except FileFailedError as exc:  # part of it may be stored: its counts are kept
                reports.append(exc.report)
            except UserFacingError as exc:
                walked = isinstance(exc, UnrecognisedFormat) and path not in given
                reports.append(
                    FileReport(
                        path=label,
                        format=format or "",
                        status="skipped" if walked else "failed",
                        error=displayable(str(exc)).replace(display_path(path), label),
                    )
                )
        reports.extend(left_out)
    recount_deferred(db, deferred)  # left by a last file that failed or was skipped
    return reports


UNZIPPED_KEPT = timedelta(days=1)


def _sweep(base: Path) -> None:
    """Delete what an import that never ended (the app killed, the machine off) left taken
    out of an archive: customers' mail and chats have no business lying about. A folder
    touched in the last day may be another import's, running now."""
    import shutil

    limit = (datetime.now(UTC) - UNZIPPED_KEPT).timestamp()
    for left in base.glob("unzipped-*"):
        try:
            stale = left.is_dir() and left.stat().st_mtime < limit
        except OSError:
            continue
        if stale:
            shutil.rmtree(left, ignore_errors=True)


def _unpacked(
    path: Path,
    kind: str,
    stack: contextlib.ExitStack,
    progress: Callable[[ImportProgress], None] | None,
    should_cancel: Callable[[], bool] | None,
) -> tuple[list[tuple[Path, str]], list[FileReport]] | FileReport:
    """The files of an archive of exports (``kind``: "zip" or "tar", as
    ``registry.export_archive`` tells), taken out into a private folder that ``stack``
    deletes (``import_paths``): each as (its path there, its name ``archive.zip/member``),
    and a "skipped" report for each member left in; or the archive's report if it cannot
    be read (or the import was cancelled while it was taken out)."""
    label = display_path(path)
    base = data_dir() / "unzipping"  # (owner only, as the data is; emptied at the end)
    base.mkdir(parents=True, exist_ok=True)
    _sweep(base)
    into = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="unzipped-", dir=base)))

    def on_bytes(done: int, total: int) -> None:
        if progress is not None:
            progress(ImportProgress(label, 0, 0, 0, 0, done, total))

    unpack = archive.unpack if kind == "zip" else archive.unpack_tar
    try:
        taken = unpack(path, into, should_cancel=should_cancel, on_bytes=on_bytes)
    except archive.ArchiveError as exc:
        return FileReport(path=label, format="", status="failed", error=displayable(str(exc)))
    if not taken.complete:
        return FileReport(path=label, format="", status="cancelled")
    inside = [
        (found, f"{label}/{display_path(found.relative_to(into).as_posix())}")
        for found in registry.expand([into])
    ]
    why = f"not a format Threadline recognises (supported: {', '.join(registry.names())})"
    skipped = [
        FileReport(f"{label}/{name}", "", status="skipped", error=f"{label}/{name}: {why}")
        for name in taken.left_out
    ]
    skipped += [
        FileReport(f"{label}/{name}", "", status="skipped", error=f"{label}/{name}: {reason}")
        for name, reason in taken.rejected
    ]
    if not inside and not skipped:
        return FileReport(
            path=label, format="", status="failed", error=f"{label}: the archive is empty"
        )
    return inside, skipped


def recent_problems(session: Session, limit: int = 500) -> list[tuple[str, str, str, datetime]]:
    """The latest import problems: (file, location, reason, when)."""
    rows = session.execute(
        select(ImportRun.path, ImportProblem.location, ImportProblem.reason, ImportRun.started_at)
        .join(ImportRun, ImportRun.id == ImportProblem.run_id)
        .order_by(ImportProblem.id.desc())
        .limit(limit)
    ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


@dataclass
class Preview:
    """The first items of a file as they would be stored, before anything is written."""

    path: str
    format: str
    label: str
    records: list[EventRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    owner_hints: list[OwnerHint] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    cards: list[ContactCard] = field(default_factory=list)  # an address book's


def preview_file(
    db: Database,
    path: Path,
    *,
    format: str | None = None,
    tz: tzinfo | None = None,
    date_order: DateOrder | None = None,
    column_map: Mapping[str, str] | None = None,
    limit: int = 20,
) -> Preview:
    """Parse the start of a file for an import preview; writes nothing.

    Returns:
        The detected format, the first ``limit`` records, and the problems,
        notices (e.g. the date order assumed) and owner hints met on the way;
        ``authors`` lists the distinct senders seen, for "which one is you".

    Raises:
        FormatError: the file is not a supported format.
        UserFacingError: the file cannot be read, is not a regular file, or holds
            data no parser can take.
    """
    registry.check_regular(path)
    connector = _connector_for(db, path, format)
    with db.session() as session:
        if column_map is None and registry.mapping_spec(connector.name):
            column_map = mappings.saved(session, connector.name, registry.read_headers(path))
        options = _options(session, tz, date_order, lambda _d, _t: None, None, column_map)
    label = display_path(path)
    result = Preview(path=label, format=connector.name, label=connector.label)
    authors: dict[str, None] = {}
    items = _guarded(lambda: connector.parse(path, options), label, label != str(path))
    for item in items:
        if isinstance(item, EventRecord):
            item, cuts = bound_record(item)
            result.notices.extend(cuts)
            result.records.append(item)
            for p in item.participants:
                if p.role in ("from", "author", "buyer"):
                    authors.setdefault(p.name or p.email or p.phone or p.handle or "", None)
        elif isinstance(item, Problem):
            result.problems.append(item)
        elif isinstance(item, Notice):
            result.notices.append(item.message)
        elif isinstance(item, ContactCard):
            result.cards.append(item)
        else:
            result.owner_hints.append(item)
        if len(result.records) + len(result.cards) >= limit:
            break
    result.authors = [a for a in authors if a]
    return result
