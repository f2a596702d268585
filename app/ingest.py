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

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app import erasure, identity, language, mappings, mentions, settings
from app.db import Database
from app.errors import Cancelled, FormatError, UserFacingError
from app.models import (
    Event,
    EventParticipant,
    ImportProblem,
    ImportRun,
    Mention,
    Order,
    OrderLine,
    utcnow,
)
from app.records import DateOrder, EventRecord, Item, Notice, OwnerHint, ParseOptions, Problem
from connectors import registry
from connectors.base import Connector

log = logging.getLogger(__name__)

BATCH_SIZE = 500
_OWNER_SETTING = {"email": "owner_emails", "phone": "owner_phones", "name": "owner_names"}


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
    status: str = "done"  # done | cancelled | failed
    error: str | None = None
    run_id: int | None = None
    suppressed: int = 0  # items of forgotten customers held back (``app.erasure``)

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
    data = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


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
    if session.get_bind().dialect.name != "sqlite":
        return
    session.execute(text("DELETE FROM event_fts WHERE rowid = :id"), {"id": event.id})
    session.execute(
        text("INSERT INTO event_fts(rowid, title, body, people) VALUES (:id, :t, :b, :p)"),
        {"id": event.id, "t": event.title, "b": event.body, "p": people},
    )


@dataclass
class _Pending:
    """Rows written in bulk at the end of a batch (participants, full-text entries)."""

    participants: list[dict[str, Any]] = field(default_factory=list)
    fts: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[dict[str, Any]] = field(default_factory=list)

    def mark(self) -> tuple[int, int, int]:
        return len(self.participants), len(self.fts), len(self.mentions)

    def rewind(self, mark: tuple[int, int, int]) -> None:
        del self.participants[mark[0] :]
        del self.fts[mark[1] :]
        del self.mentions[mark[2] :]

    def write(self, session: Session) -> None:
        if self.participants:
            session.execute(insert(EventParticipant), self.participants)
        if self.mentions:
            session.execute(insert(Mention), self.mentions)
        if self.fts and session.get_bind().dialect.name == "sqlite":
            session.execute(
                text("INSERT INTO event_fts(rowid, title, body, people) VALUES (:id, :t, :b, :p)"),
                self.fts,
            )
        self.participants.clear()
        self.fts.clear()
        self.mentions.clear()


def _existing_events(
    session: Session, records: Sequence[EventRecord]
) -> dict[tuple[str, str], tuple[int, str]]:
    """(source, external_id) → (event id, content hash) for the records already stored."""
    by_source: dict[str, list[str]] = {}
    for record in records:
        by_source.setdefault(record.source, []).append(record.external_id)
    found: dict[tuple[str, str], tuple[int, str]] = {}
    for source, ids in by_source.items():
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 500):
            rows = session.execute(
                select(Event.external_id, Event.id, Event.content_hash).where(
                    Event.source == source, Event.external_id.in_(unique[start : start + 500])
                )
            )
            for external_id, event_id, digest in rows:
                found[(source, external_id)] = (event_id, digest)
    return found


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
    for name in (
        "total",
        "subtotal",
        "shipping",
        "tax",
        "discount",
        "refunded",
        "paid_at",
        "fulfilled_at",
        "cancelled_at",
    ):
        value = getattr(info, name)
        if value is not None or getattr(order, name, None) is None:
            setattr(order, name, value)
    for name in ("financial_status", "fulfillment_status", "platform_order_id"):
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


class _Writer:
    """Stores the items of one import run, batch by batch.

    A batch is first written in one go; if any item in it fails, the batch is
    rolled back and written again item by item inside savepoints, so the bad
    item becomes a problem and the others still land.
    """

    def __init__(
        self, db: Database, run_id: int, report: FileReport, *, owner_hints: bool = True
    ) -> None:
        self.db = db
        self.run_id = run_id
        self.report = report
        self.owner_hints = owner_hints
        with db.session() as session:
            self.automated_customers = settings.get(session, "automated_customers") == "yes"
            self.suppressor = erasure.Suppressor(session)

    def write_batch(self, items: Sequence[Item]) -> None:
        r = self.report
        snapshot = (r.added, r.duplicates, r.updated, len(r.problems), len(r.notices))
        try:
            self._write(items, careful=False)
        except (SQLAlchemyError, ValueError, TypeError) as exc:
            log.info("batch failed (%s); writing it item by item", exc)
            r.added, r.duplicates, r.updated = snapshot[:3]
            del r.problems[snapshot[3] :]
            del r.notices[snapshot[4] :]
            self._write(items, careful=True)

    def _write(self, items: Sequence[Item], *, careful: bool) -> None:
        with self.db.session() as session:
            resolver = identity.Resolver(session)
            known = _existing_events(session, [i for i in items if isinstance(i, EventRecord)])
            pending = _Pending()
            for item in items:
                if isinstance(item, Problem):
                    self._problem(session, item)
                elif isinstance(item, Notice):
                    self.report.notices.append(item.message)
                elif isinstance(item, OwnerHint):
                    if self.owner_hints and self._owner_hint(session, item):
                        resolver = identity.Resolver(session)
                elif careful:
                    self._careful(session, resolver, item, known, pending)
                else:
                    self._store(session, resolver, item, known, pending)
            pending.write(session)
            identity.refresh_customer_stats(session, resolver.touched_customers)
            run = session.get(ImportRun, self.run_id)
            assert run is not None
            run.added, run.duplicates = self.report.added, self.report.duplicates
            run.updated, run.problem_count = self.report.updated, len(self.report.problems)
            run.notices = "\n".join(self.report.notices)

    def _problem(self, session: Session, problem: Problem) -> None:
        self.report.problems.append(problem)
        session.add(
            ImportProblem(run_id=self.run_id, location=problem.location, reason=problem.reason)
        )

    def _owner_hint(self, session: Session, hint: OwnerHint) -> bool:
        key = _OWNER_SETTING[hint.kind]
        if not settings.add_to_list(session, key, hint.value):
            return False
        self.report.notices.append(f"recognised {hint.value} as your own {hint.kind}")
        identity.apply_owner_settings(session)
        return True

    def _careful(
        self,
        session: Session,
        resolver: identity.Resolver,
        record: EventRecord,
        known: dict[tuple[str, str], tuple[int, str]],
        pending: _Pending,
    ) -> None:
        mark = pending.mark()
        try:
            with session.begin_nested():
                self._store(session, resolver, record, known, pending)
                pending.write(session)
        except (SQLAlchemyError, ValueError, TypeError) as exc:
            pending.rewind(mark)
            log.warning("could not store %s: %s", record.locator, exc)
            self._problem(
                session, Problem(record.locator or record.external_id, f"could not store: {exc}")
            )

    def _store(
        self,
        session: Session,
        resolver: identity.Resolver,
        record: EventRecord,
        known: dict[tuple[str, str], tuple[int, str]],
        pending: _Pending,
    ) -> None:
        if record.occurred_at.tzinfo is None:
            raise ValueError(f"{record.locator}: time without a zone")
        if self.suppressor:
            kept = self.suppressor.filter(record)
            if kept is None:  # written by a forgotten customer: it stays forgotten
                self.report.suppressed += 1
                return
            record = kept
        digest = content_hash(record)
        found = known.get((record.source, record.external_id))
        if found is not None:
            if found[1] == digest or record.order is None:
                self.report.duplicates += 1
                return
            event = session.get(Event, found[0])
            assert event is not None
            self._update(session, resolver, event, record, digest)
            known[(record.source, record.external_id)] = (event.id, digest)
            return
        event = Event(
            channel=record.channel,
            source=record.source,
            external_id=record.external_id,
            occurred_at=record.occurred_at.astimezone(UTC),
            direction=record.direction or "inbound",
            title=record.title,
            body=record.text,
            thread_key=record.thread_key,
            details=dict(record.details),
            content_hash=digest,
            import_run_id=self.run_id,
            locator=record.locator,
        )
        automated = bool(record.details.get("automated")) and not self.automated_customers
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
            event.direction = "outbound" if owner_sent else "inbound"
        event.language = language.for_event(event.channel, event.direction, event.title, event.body)
        _apply_order(event, record)
        session.add(event)
        session.flush()
        known[(record.source, record.external_id)] = (event.id, digest)
        pending.participants.extend(
            {"event_id": event.id, "identity_id": iid, "role": role, "name": name}
            for (iid, role), name in links.items()
        )
        pending.fts.append(
            {"id": event.id, "t": event.title, "b": event.body, "p": _people_text(record)}
        )
        if record.channel in ("email", "chat"):
            pending.mentions.extend(
                mentions.rows(event.id, event.title, event.body, resolver.region)
            )
        self.report.added += 1

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
        event.title, event.body = record.title, record.text
        event.details = (
            {
                **dict(record.details),
                "previous": {
                    "financial_status": was[0],
                    "fulfillment_status": was[1],
                    "refunded": str(was[2]) if was and was[2] is not None else None,
                },
            }
            if was
            else dict(record.details)
        )
        event.content_hash = digest
        _apply_order(event, record)
        present: set[tuple[int, str]] = {
            (iid, role)
            for iid, role in session.execute(
                select(EventParticipant.identity_id, EventParticipant.role).where(
                    EventParticipant.event_id == event.id
                )
            )
        }
        for participant in record.participants:
            identities, _owner = resolver.resolve(participant, record.source)
            for ident in identities:
                if (ident.id, participant.role) not in present:
                    present.add((ident.id, participant.role))
                    session.add(
                        EventParticipant(
                            event_id=event.id,
                            identity_id=ident.id,
                            role=participant.role,
                            name=participant.name,
                        )
                    )
        session.flush()
        index_event(session, event, _people_text(record))
        self.report.updated += 1


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
        with db.session() as session:
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

    Returns:
        The report; ``status`` is "cancelled" when stopped early.

    Raises:
        FormatError: the file is not (or not detected as) a supported format.
        UserFacingError: the file cannot be read.
    """
    connector = _connector_for(db, path, format)
    byte_state = [0, 0]

    def on_bytes(done: int, total: int) -> None:
        byte_state[0], byte_state[1] = done, total

    headers = registry.read_headers(path) if registry.mapping_spec(connector.name) else []
    chosen = column_map
    with db.session() as session:
        if headers and column_map is None:
            column_map = mappings.saved(session, connector.name, headers)
        options = _options(session, tz, date_order, on_bytes, should_cancel, column_map)
    report = import_items(
        db,
        lambda: connector.parse(path, options),
        label=str(path),
        format=connector.name,
        progress=progress,
        should_cancel=should_cancel,
        batch_size=batch_size,
        byte_state=byte_state,
        owner_hints=owner_hints,
    )
    if headers and chosen and report.status == "done":
        # A mapping the user gave that worked is remembered for this header set.
        with db.session() as session:
            mappings.save(session, connector.name, headers, chosen)
    return report


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

    Raises:
        FormatError, UserFacingError: the producer failed before yielding anything.
    """
    report = FileReport(path=label, format=format)
    state = byte_state if byte_state is not None else [0, 0]
    with db.session() as session:
        run = ImportRun(path=label, format=format)
        session.add(run)
        session.flush()
        run_id = run.id
    report.run_id = run_id
    writer = _Writer(db, run_id, report, owner_hints=owner_hints)
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
    try:
        for item in items():
            batch.append(item)
            items_seen += 1
            if len(batch) >= batch_size:
                writer.write_batch(batch)
                batch = []
                emit()
            if should_cancel is not None and should_cancel():
                report.status = "cancelled"
                break
        writer.write_batch(batch)
    except (FormatError, UserFacingError) as exc:
        writer.write_batch(batch)
        report.status, report.error = "failed", str(exc)
        _finish(db, report)
        if report.added or report.duplicates or report.problems:
            return report
        raise
    except Cancelled:
        writer.write_batch(batch)
        report.status = "cancelled"
    except OSError as exc:
        writer.write_batch(batch)
        report.status, report.error = "failed", f"{label}: read error: {exc}"
        _finish(db, report)
        raise UserFacingError(report.error) from exc
    emit()
    _finish(db, report)
    return report


def _finish(db: Database, report: FileReport) -> None:
    with db.session() as session:
        run = session.get(ImportRun, report.run_id)
        if run is not None:
            run.status = report.status
            run.finished_at = utcnow()


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
    status "failed" and its one-line error; the other files still import.
    """
    reports: list[FileReport] = []
    for path in registry.expand(paths):
        if should_cancel is not None and should_cancel():
            break
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
                )
            )
        except UserFacingError as exc:
            reports.append(
                FileReport(path=str(path), format=format or "", status="failed", error=str(exc))
            )
    return reports


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
        UserFacingError: the file cannot be read.
    """
    connector = _connector_for(db, path, format)
    with db.session() as session:
        if column_map is None and registry.mapping_spec(connector.name):
            column_map = mappings.saved(session, connector.name, registry.read_headers(path))
        options = _options(session, tz, date_order, lambda _d, _t: None, None, column_map)
    result = Preview(path=str(path), format=connector.name, label=connector.label)
    authors: dict[str, None] = {}
    for item in connector.parse(path, options):
        if isinstance(item, EventRecord):
            result.records.append(item)
            for p in item.participants:
                if p.role in ("from", "author", "buyer"):
                    authors.setdefault(p.name or p.email or p.phone or p.handle or "", None)
        elif isinstance(item, Problem):
            result.problems.append(item)
        elif isinstance(item, Notice):
            result.notices.append(item.message)
        else:
            result.owner_hints.append(item)
        if len(result.records) >= limit:
            break
    result.authors = [a for a in authors if a]
    return result
