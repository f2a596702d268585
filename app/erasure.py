"""Erasure that stays erased (GDPR art. 17): forget a customer, and keep them out afterwards.

``plan`` says what forgetting a customer removes, in numbers, for the confirmation.
``forget`` then, in one transaction:

- deletes every event that is the customer's alone (their messages, the replies to them,
  their orders) with its participants, mentions, order lines and search-index entry;
- in events shared with other customers (a group chat, a CC'd mail) removes only their
  part: their participation, and their addresses, numbers and names in the text;
- deletes their notes, their identities (a contact point other customers use too stays
  with them), the customer and every customer merged into it, and the rejections and
  change-history entries that name them;
- writes their addresses, numbers and names out of import-run paths and import problems
  (a chat export is named after the person), and out of what other events record;
- records a suppression: a keyed hash (HMAC-SHA256 with a salt kept in this database)
  of each contact point, which the import path checks, so a later import or sync does not
  bring them back (the import report counts what it held back);
- leaves one audit entry: an erasure happened, when and by whom — no personal data.

Afterwards the search index is rebuilt, the database is vacuumed and its write-ahead log
checkpointed and truncated, so the bytes are gone from the file, the WAL and the index.
Backups made earlier still hold the data: ``forget`` lists them with that warning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from app import backups, dialect, queries, settings, suggestion_marks
from app.db import Database
from app.ingest import index_event
from app.models import (
    AuditEntry,
    Customer,
    CustomerIdentity,
    Event,
    EventParticipant,
    Identity,
    ImportProblem,
    ImportRun,
    Mention,
    MergeRejection,
    Note,
    Order,
    OrderLine,
    Suppression,
)
from app.suppression import AUTHOR_ROLES, salt_of
from app.suppression import SuppressionRow as SuppressionRow
from app.suppression import Suppressor as Suppressor
from app.suppression import digest as hmac_digest
from app.suppression import lift as lift
from app.suppression import suppressions as suppressions

log = logging.getLogger(__name__)

REMOVED = "[removed]"
_BATCH = 500


# --- what goes -----------------------------------------------------------------------------


@dataclass
class ErasurePlan:
    """What forgetting a customer removes, for the confirmation and the report."""

    customer_id: int
    name: str
    customers: list[int]
    identities: list[int]
    shared_identities: list[int]
    events: list[int]
    shared_events: list[int]
    notes: int
    contact_points: list[tuple[str, str, str]] = field(default_factory=list)

    def summary(self) -> str:
        """The confirmation's words: what will go, and what stays."""
        parts = [
            f"{len(self.events):,} events (messages and orders)",
            f"{self.notes:,} notes",
            f"{len(self.identities):,} contact points",
        ]
        text = f"Forget {self.name}: removes {', '.join(parts)}"
        if self.shared_events:
            text += (
                f"; in {len(self.shared_events):,} conversations shared with other customers "
                "only their part is removed"
            )
        return text + ". This cannot be undone."

    def as_json(self) -> dict[str, Any]:
        return {
            "customer": self.customer_id,
            "events": len(self.events),
            "shared_events": len(self.shared_events),
            "notes": self.notes,
            "contact_points": len(self.identities),
        }


def plan(session: Session, customer_id: int) -> ErasurePlan:
    """What ``forget`` would remove.

    Raises:
        NotFoundError: no such customer.
    """
    row = queries.customer(session, customer_id)
    cid = row.id
    customers = [cid]
    frontier = [cid]
    while frontier:
        found = session.scalars(select(Customer.id).where(Customer.merged_into_id.in_(frontier)))
        frontier = [c for c in found if c not in customers]
        customers.extend(frontier)
    mine = list(
        session.scalars(
            select(CustomerIdentity.identity_id).where(CustomerIdentity.customer_id == cid)
        )
    )
    used_by_others = set(
        session.scalars(
            select(CustomerIdentity.identity_id).where(
                CustomerIdentity.identity_id.in_(mine), CustomerIdentity.customer_id != cid
            )
        )
    )
    own_only = [i for i in mine if i not in used_by_others]
    points = [
        (i.kind, i.platform, i.value)
        for i in session.scalars(select(Identity).where(Identity.id.in_(own_only)))
    ]
    events = sorted(
        set(
            session.scalars(
                select(EventParticipant.event_id).where(EventParticipant.identity_id.in_(mine))
            )
        )
    )
    # An event is shared when a customer other than this one takes part, and this one
    # did not write it: then it stays for the others, without this customer.
    others = {
        eid
        for (eid,) in session.execute(
            select(EventParticipant.event_id)
            .join(CustomerIdentity, CustomerIdentity.identity_id == EventParticipant.identity_id)
            .join(Identity, Identity.id == EventParticipant.identity_id)
            .where(
                EventParticipant.event_id.in_(events),
                CustomerIdentity.customer_id != cid,
                Identity.is_own.is_(False),
            )
        )
    }
    authored = {
        eid
        for (eid,) in session.execute(
            select(EventParticipant.event_id).where(
                EventParticipant.event_id.in_(events),
                EventParticipant.identity_id.in_(own_only),
                EventParticipant.role.in_(AUTHOR_ROLES),
            )
        )
    }
    shared = sorted(e for e in events if e in others and e not in authored)
    gone = sorted(e for e in events if e not in set(shared))
    notes = int(
        session.scalar(select(func.count()).select_from(Note).where(Note.customer_id == cid)) or 0
    )
    return ErasurePlan(
        customer_id=cid,
        name=row.name or f"customer #{cid}",
        customers=customers,
        identities=own_only,
        shared_identities=sorted(used_by_others),
        events=gone,
        shared_events=shared,
        notes=notes,
        contact_points=points,
    )


# --- forgetting ----------------------------------------------------------------------------


def _words_of(session: Session, p: ErasurePlan) -> list[str]:
    """The strings that name the customer: addresses, numbers as written, names."""
    found: set[str] = set()
    for ident in session.scalars(select(Identity).where(Identity.id.in_(p.identities))):
        for value in (ident.value, ident.raw, ident.display_name):
            if value and len(value.strip()) >= 3:
                found.add(value.strip())
        if ident.kind == "phone":
            digits = re.sub(r"\D", "", ident.value)
            found.add(digits)
            if len(digits) > 10:
                found.add("0" + digits[-10:])
    for name in session.scalars(select(Customer.display_name).where(Customer.id.in_(p.customers))):
        if name and len(name.strip()) >= 3:
            found.add(name.strip())
    for name in session.scalars(
        select(EventParticipant.name).where(EventParticipant.identity_id.in_(p.identities))
    ):
        if name and len(name.strip()) >= 3:
            found.add(name.strip())
    return sorted(found, key=len, reverse=True)


def _scrubber(words: Iterable[str]) -> re.Pattern[str] | None:
    parts = [re.escape(w) for w in words if w]
    if not parts:
        return None
    return re.compile("|".join(parts), re.IGNORECASE)


def _scrub(pattern: re.Pattern[str] | None, value: str | None) -> str | None:
    if pattern is None or not value:
        return value
    return pattern.sub(REMOVED, value)


def _scrub_json(pattern: re.Pattern[str] | None, value: Any) -> Any:
    if isinstance(value, str):
        return _scrub(pattern, value)
    if isinstance(value, list):
        return [_scrub_json(pattern, v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_json(pattern, v) for k, v in value.items()}
    return value


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _BATCH):
        yield list(ids[start : start + _BATCH])


@dataclass(frozen=True)
class ErasureReport:
    """What ``forget`` did, and the backups that still hold the customer."""

    erasure_id: int
    plan: ErasurePlan
    suppressed: int
    backups: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            **self.plan.as_json(),
            "erasure": self.erasure_id,
            "suppressed_contact_points": self.suppressed,
            "backups_still_holding_data": list(self.backups),
        }


def forget(db: Database, customer_id: int, *, by: str | None = None) -> ErasureReport:
    """Forget a customer everywhere, keep them out of later imports, and reclaim the bytes.

    Raises:
        NotFoundError: no such customer.
    """

    def erase(session: Session) -> tuple[ErasurePlan, int, int]:
        p = plan(session, customer_id)
        author = by if by is not None else settings.get(session, "user_name")
        pattern = _scrubber(_words_of(session, p))
        erasure_id = _erase(session, p, pattern, author)
        return p, erasure_id, _suppress(session, p, erasure_id)

    p, erasure_id, suppressed = db.write(erase)  # on a server: again if a colleague won
    _compact(db)
    return ErasureReport(erasure_id, p, suppressed, tuple(str(b) for b in backups_of(db)))


def _erase(session: Session, p: ErasurePlan, pattern: re.Pattern[str] | None, author: str) -> int:
    store = dialect.for_bind(session)
    numbers: set[str] = set()
    for chunk in _chunks(p.events):
        numbers.update(session.scalars(select(Order.number).where(Order.event_id.in_(chunk))))
        store.forget_events(session, chunk)
        session.execute(delete(Mention).where(Mention.event_id.in_(chunk)))
        session.execute(delete(OrderLine).where(OrderLine.order_event_id.in_(chunk)))
        session.execute(delete(Order).where(Order.event_id.in_(chunk)))
        session.execute(delete(EventParticipant).where(EventParticipant.event_id.in_(chunk)))
        session.execute(delete(Event).where(Event.id.in_(chunk)))
    mine = p.identities + p.shared_identities
    for chunk in _chunks(p.shared_events):
        session.execute(
            delete(EventParticipant).where(
                EventParticipant.event_id.in_(chunk), EventParticipant.identity_id.in_(mine)
            )
        )
        for event in session.scalars(select(Event).where(Event.id.in_(chunk))):
            event.title = _scrub(pattern, event.title) or ""
            event.body = _scrub(pattern, event.body) or ""
            event.locator = _scrub(pattern, event.locator) or ""
            event.details = _scrub_json(pattern, dict(event.details or {}))
            people = " ".join(
                n
                for n in session.scalars(
                    select(EventParticipant.name).where(EventParticipant.event_id == event.id)
                )
                if n
            )
            session.flush()
            _reindex(session, event, people)
    # Mentions elsewhere of this customer's addresses, numbers and orders.
    values = [v for _k, _pl, v in p.contact_points]
    values += sorted(numbers) + sorted(n.lstrip("#") for n in numbers)
    for chunk_values in (values[i : i + _BATCH] for i in range(0, len(values), _BATCH)):
        session.execute(delete(Mention).where(Mention.value.in_(chunk_values)))
    session.execute(delete(Note).where(Note.customer_id.in_(p.customers)))
    session.execute(
        delete(MergeRejection).where(
            or_(
                MergeRejection.customer_a.in_(p.customers),
                MergeRejection.customer_b.in_(p.customers),
            )
        )
    )
    session.execute(delete(CustomerIdentity).where(CustomerIdentity.customer_id.in_(p.customers)))
    for chunk in _chunks(p.identities):
        session.execute(delete(EventParticipant).where(EventParticipant.identity_id.in_(chunk)))
        session.execute(delete(CustomerIdentity).where(CustomerIdentity.identity_id.in_(chunk)))
        session.execute(delete(Identity).where(Identity.id.in_(chunk)))
    _forget_history(session, p)
    session.execute(
        update(Customer).where(Customer.merged_into_id.in_(p.customers)).values(merged_into_id=None)
    )
    session.execute(delete(Customer).where(Customer.id.in_(p.customers)))
    suggestion_marks.mark(session, p.customers)  # their stored suggestions go too
    for run in session.scalars(select(ImportRun)):
        run.path = _scrub(pattern, run.path) or ""
        run.notices = _scrub(pattern, run.notices) or ""
    for problem in session.scalars(select(ImportProblem)):
        problem.location = _scrub(pattern, problem.location) or ""
        problem.reason = _scrub(pattern, problem.reason) or ""
    entry = AuditEntry(
        action="erasure",
        details={"by": author or "", "events": len(p.events), "contact_points": len(p.identities)},
    )
    session.add(entry)
    session.flush()
    return entry.id


def _reindex(session: Session, event: Event, people: str) -> None:
    index_event(session, event, people)


def _forget_history(session: Session, p: ErasurePlan) -> None:
    """Drop the change-history entries that name the customer or their contact points."""
    customers, idents = set(p.customers), set(p.identities)
    gone: list[int] = []
    for entry in session.scalars(select(AuditEntry)):
        d = entry.details or {}
        named = {d.get(k) for k in ("survivor", "merged", "from", "to", "a", "b", "customer")}
        points = set(d.get("identities") or []) | {d.get("identity")}
        if named & customers or points & idents:
            gone.append(entry.id)
    if not gone:
        return
    # Undo entries point at what they undid: those go with it.
    gone += list(session.scalars(select(AuditEntry.id).where(AuditEntry.undone_by.in_(gone))))
    session.execute(update(AuditEntry).where(AuditEntry.undone_by.in_(gone)).values(undone_by=None))
    for chunk in _chunks(sorted(set(gone))):
        session.execute(delete(AuditEntry).where(AuditEntry.id.in_(chunk)))


def _suppress(session: Session, p: ErasurePlan, erasure_id: int) -> int:
    salt = salt_of(session, create=True)
    assert salt is not None
    known = set(session.scalars(select(Suppression.digest)))
    added = 0
    for kind, platform, value in p.contact_points:
        digest = hmac_digest(salt, kind, platform, value)
        if digest in known:
            continue
        known.add(digest)
        session.add(Suppression(kind=kind, digest=digest, erasure_id=erasure_id))
        added += 1
    return added


def _compact(db: Database) -> None:
    """Rebuild the search index and the file, and empty the WAL, so no byte is left."""
    if not db.url.startswith("sqlite"):
        return
    with db.engine.connect() as conn:
        # the full-text index and the lookup-as-you-type ones (migration 0011)
        for table in ("event_fts", "lookup_fts", "lookup_words"):
            conn.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES('optimize')")
        conn.commit()
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("VACUUM")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    finally:
        raw.close()


def backups_of(db: Database) -> list[Path]:
    """Backups of this database and copies a restore set aside: they still hold the data."""
    if db.path is None:
        return []
    found = [b.path for b in backups.list_backups(db.path)]
    stem, suffix = db.path.stem, db.path.suffix
    found += [f for f in db.path.parent.glob(f"{stem}-replaced-*{suffix}") if f.is_file()]
    return sorted(found)
