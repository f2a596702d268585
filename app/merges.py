"""Merging and splitting customers, every change in the audit log and undoable.

A merge moves the identities and notes of one customer onto another and
leaves the merged customer behind with a pointer to the survivor; a split
moves identities out to a new (or another) customer. Events never move: they
follow their identities. ``undo`` reverses a change from what its audit entry
recorded, so nothing is ever deleted by a merge.

Undo in any order is exact or refused. A merge or split *touches* the
customers and identities its audit entry names; a later merge or split that
is not undone and touches any of them depends on it (it started from the
state the earlier one left). Undoing a change that has such dependents is
refused, naming the newest of them (directly or through others), which can
itself be undone. Once none is left, every customer and identity the change
touched is exactly as the change left it, so reversing it restores what was
before. A rejection only adds its own row, so it neither depends on nor
blocks anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app import live
from app.customer_stats import refresh_customer_stats
from app.errors import NotFoundError, UserFacingError
from app.models import AuditEntry, Customer, CustomerIdentity, Identity, MergeRejection, Note

UNDOABLE = ("merge", "split", "reject")
_MOVES = ("merge", "split")  # the undoable changes that move identities


def _survivor(session: Session, customer_id: int) -> int:
    seen: set[int] = set()
    current = customer_id
    while current not in seen:
        seen.add(current)
        customer = session.get(Customer, current)
        if customer is None:
            raise NotFoundError(f"no customer {customer_id}")
        if customer.merged_into_id is None:
            return current
        current = customer.merged_into_id
    return current


def _move_links(session: Session, identity_ids: list[int], source: int, target: int) -> None:
    for identity_id in identity_ids:
        session.execute(
            delete(CustomerIdentity).where(
                CustomerIdentity.identity_id == identity_id, CustomerIdentity.customer_id == source
            )
        )
        if session.get(CustomerIdentity, (target, identity_id)) is None:
            session.add(CustomerIdentity(customer_id=target, identity_id=identity_id))
    session.flush()


def merge_customers(
    session: Session,
    survivor_id: int,
    other_id: int,
    *,
    reason: str,
    auto: bool = False,
    recount: bool = True,
) -> int:
    """Move every identity and note of ``other_id`` onto ``survivor_id``.

    ``auto`` marks the merge an import makes by the identity rule (one strong contact
    point ties the two): on a team server agents may make those, not others.
    ``recount=False`` leaves the two customers' figures to the caller (an import
    recounts every customer it touched together, not at each merge).

    Returns:
        The audit entry id of the merge (for undo).

    Raises:
        UserFacingError: the two are the same customer.
    """
    survivor_id, other_id = _survivor(session, survivor_id), _survivor(session, other_id)
    if survivor_id == other_id:
        raise UserFacingError("these are already the same customer")
    moved = list(
        session.scalars(
            select(CustomerIdentity.identity_id).where(CustomerIdentity.customer_id == other_id)
        )
    )
    already = set(
        session.scalars(
            select(CustomerIdentity.identity_id).where(
                CustomerIdentity.customer_id == survivor_id,
                CustomerIdentity.identity_id.in_(moved),
            )
        )
    )
    _move_links(session, moved, other_id, survivor_id)
    notes = list(session.scalars(select(Note.id).where(Note.customer_id == other_id)))
    session.execute(
        update(Note).where(Note.customer_id == other_id).values(customer_id=survivor_id)
    )
    other = session.get(Customer, other_id)
    survivor = session.get(Customer, survivor_id)
    assert other is not None and survivor is not None
    other.merged_into_id = survivor_id
    named = not survivor.display_name and bool(other.display_name)
    if named:
        survivor.display_name = other.display_name
    entry = AuditEntry(
        action="merge",
        details={
            "survivor": survivor_id,
            "merged": other_id,
            "identities": moved,
            "shared_before": sorted(already),
            "notes": notes,
            "took_name": named,
            "reason": reason,
            **({"auto": True} if auto else {}),
        },
    )
    session.add(entry)
    session.flush()
    if recount:
        _refresh(session, [survivor_id, other_id])
    else:
        live.changed(session, "identity", [survivor_id, other_id])
    return entry.id


def split_customer(
    session: Session, customer_id: int, identity_ids: list[int], *, into: int | None = None
) -> tuple[int, int]:
    """Move identities out of a customer to a new customer (or to ``into``).

    Returns:
        (the customer that received them, the audit entry id).

    Raises:
        UserFacingError: an identity is not on the customer, or all would leave it.
    """
    source = _survivor(session, customer_id)
    mine = set(
        session.scalars(
            select(CustomerIdentity.identity_id).where(CustomerIdentity.customer_id == source)
        )
    )
    missing = [i for i in identity_ids if i not in mine]
    if missing or not identity_ids:
        raise UserFacingError("those contact points are not on this customer")
    if set(identity_ids) == mine and into is None:
        raise UserFacingError("a split must leave at least one contact point behind")
    if into is None:
        first = session.get(Identity, identity_ids[0])
        target = Customer(display_name=first.display_name if first is not None else "")
        session.add(target)
        session.flush()
        target_id, created = target.id, True
    else:
        target_id, created = _survivor(session, into), False
        if target_id == source:
            raise UserFacingError("cannot split a customer into itself")
    already = sorted(
        session.scalars(
            select(CustomerIdentity.identity_id).where(
                CustomerIdentity.customer_id == target_id,
                CustomerIdentity.identity_id.in_(identity_ids),
            )
        )
    )
    _move_links(session, list(identity_ids), source, target_id)
    entry = AuditEntry(
        action="split",
        details={
            "from": source,
            "to": target_id,
            "identities": list(identity_ids),
            "created": created,
            "shared_before": already,
        },
    )
    session.add(entry)
    session.flush()
    _refresh(session, [source, target_id])
    return target_id, entry.id


@dataclass(frozen=True)
class Change:
    """One entry of the change history."""

    id: int
    at: datetime
    action: str
    description: str
    undone: bool
    details: dict[str, Any]
    blocked_by: str = ""  # why it cannot be undone now ("" when it can)
    author: str = ""  # who made it ("" for changes made before authors were kept)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "action": self.action,
            "description": self.description,
            "undone": self.undone,
            "author": self.author,
        }


def _name(session: Session, customer_id: int) -> str:
    customer = session.get(Customer, customer_id)
    return f"{customer.display_name or 'customer'} (#{customer_id})" if customer else "?"


def _describe(session: Session, entry: AuditEntry) -> str:
    d = entry.details
    if entry.action == "merge":
        why = f": {d['reason']}" if d.get("reason") else ""
        return f"merged {_name(session, d['merged'])} into {_name(session, d['survivor'])}{why}"
    if entry.action == "split":
        n = len(d.get("identities", []))
        source, target = _name(session, d["from"]), _name(session, d["to"])
        return f"moved {n} contact point(s) from {source} to {target}"
    if entry.action == "undo":
        return f"undid change {d.get('change')}"
    if entry.action == "reject":
        return f"not the same person: {_name(session, d['a'])} and {_name(session, d['b'])}"
    if entry.action == "shared":
        return f"contact point seen with different names: {', '.join(d.get('names', []))}"
    if entry.action == "list":
        return f"a mailing list's address, not a customer: {d.get('address', '?')}"
    if entry.action == "create":
        return f"new customer {_name(session, d['customer'])}"
    return entry.action


def history(
    session: Session,
    *,
    limit: int = 100,
    undoable_only: bool = False,
    actions: tuple[str, ...] | None = None,
) -> list[Change]:
    """The latest identity changes, newest first.

    Args:
        session: an open session.
        limit: at most this many.
        undoable_only: only merges, splits and rejections not undone yet.
        actions: only these kinds ("merge", "split", "reject", "shared", "list", "create",
            "undo").
    """
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actions is not None:
        stmt = stmt.where(AuditEntry.action.in_(actions))
    if undoable_only:
        stmt = stmt.where(AuditEntry.action.in_(UNDOABLE), AuditEntry.undone_by.is_(None))
    entries = list(session.scalars(stmt))
    active = [e for e in entries if e.action in _MOVES and e.undone_by is None]
    later = _active_moves(session, min(e.id for e in active)) if active else []
    return [
        Change(
            e.id,
            e.at,
            e.action,
            _describe(session, e),
            e.undone_by is not None,
            e.details,
            _refusal(session, e, later) if e in active else "",
            e.author,
        )
        for e in entries
    ]


def _touched(entry: AuditEntry) -> tuple[set[int], set[int]]:
    """The customers and identities a merge or split changed."""
    d = entry.details
    keys = ("survivor", "merged") if entry.action == "merge" else ("from", "to")
    customers = {int(d[k]) for k in keys if d.get(k) is not None}
    return customers, {int(i) for i in d.get("identities", [])}


def _active_moves(session: Session, after: int) -> list[AuditEntry]:
    """Merges and splits newer than change ``after`` that are not undone, oldest first."""
    return list(
        session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.id > after,
                AuditEntry.action.in_(_MOVES),
                AuditEntry.undone_by.is_(None),
            )
            .order_by(AuditEntry.id)
        )
    )


def _dependents(entry: AuditEntry, later: list[AuditEntry]) -> list[AuditEntry]:
    """The active changes after ``entry`` that depend on it, directly or through others."""
    customers, identities = _touched(entry)
    found: list[AuditEntry] = []
    for other in later:
        if other.id <= entry.id:
            continue
        c, i = _touched(other)
        if c & customers or i & identities:
            found.append(other)
            customers |= c
            identities |= i
    return found


def _refusal(session: Session, entry: AuditEntry, later: list[AuditEntry]) -> str:
    """Why ``entry`` cannot be undone now, or "" when it can."""
    if entry.action not in _MOVES:
        return ""
    dependents = _dependents(entry, later)
    if not dependents:
        return ""
    newest = dependents[-1]
    return (
        f"cannot undo change {entry.id}: change {newest.id} "
        f"({_describe(session, newest)}) depends on it; undo {newest.id} first"
    )


def undo(session: Session, change_id: int | None = None) -> Change:
    """Reverse a merge, split or rejection (the latest one when no id is given).

    Raises:
        NotFoundError: nothing to undo / no such change.
        UserFacingError: the change was undone already or is not undoable.
    """
    if change_id is None:
        entry = session.scalar(
            select(AuditEntry)
            .where(AuditEntry.action.in_(UNDOABLE), AuditEntry.undone_by.is_(None))
            .order_by(AuditEntry.id.desc())
            .limit(1)
        )
        if entry is None:
            raise NotFoundError("there is nothing to undo")
    else:
        entry = session.get(AuditEntry, change_id)
        if entry is None:
            raise NotFoundError(f"no change {change_id}")
    if entry.action not in UNDOABLE:
        raise UserFacingError(f"change {entry.id} ({entry.action}) cannot be undone")
    if entry.undone_by is not None:
        raise UserFacingError(f"change {entry.id} was undone already")
    refusal = _refusal(session, entry, _active_moves(session, entry.id))
    if refusal:
        raise UserFacingError(refusal)
    d = entry.details
    if entry.action == "merge":
        survivor, merged = int(d["survivor"]), int(d["merged"])
        keep = set(d.get("shared_before", []))
        back = [i for i in d.get("identities", []) if i not in keep]
        _move_links(session, back, survivor, merged)
        for identity_id in keep:
            if session.get(CustomerIdentity, (merged, identity_id)) is None:
                session.add(CustomerIdentity(customer_id=merged, identity_id=identity_id))
        session.execute(
            update(Note).where(Note.id.in_(d.get("notes", []))).values(customer_id=merged)
        )
        other = session.get(Customer, merged)
        assert other is not None
        other.merged_into_id = None
        if d.get("took_name"):
            first = session.get(Customer, survivor)
            if first is not None and first.display_name == other.display_name:
                first.display_name = ""
        touched = [survivor, merged]
    elif entry.action == "reject":
        session.execute(
            delete(MergeRejection).where(
                MergeRejection.customer_a == int(d["a"]), MergeRejection.customer_b == int(d["b"])
            )
        )
        touched = []
    else:
        source, target = int(d["from"]), int(d["to"])
        keep = set(d.get("shared_before", []))
        _move_links(session, list(d.get("identities", [])), target, source)
        for identity_id in keep:  # it was on both before the split: it stays on both
            if session.get(CustomerIdentity, (target, identity_id)) is None:
                session.add(CustomerIdentity(customer_id=target, identity_id=identity_id))
        if d.get("created"):
            # The customer the split made goes again; whatever reached it since (a
            # contact point linked by an import, a note) goes back with the rest.
            left = list(
                session.scalars(
                    select(CustomerIdentity.identity_id).where(
                        CustomerIdentity.customer_id == target
                    )
                )
            )
            _move_links(session, left, target, source)
            session.execute(
                update(Note).where(Note.customer_id == target).values(customer_id=source)
            )
            created = session.get(Customer, target)
            assert created is not None
            created.merged_into_id = source
        touched = [source, target]
    record = AuditEntry(action="undo", details={"change": entry.id})
    session.add(record)
    session.flush()
    entry.undone_by = record.id
    session.flush()
    _refresh(session, touched)
    return Change(
        entry.id,
        entry.at,
        entry.action,
        _describe(session, entry),
        True,
        entry.details,
        author=entry.author,
    )


def reject(session: Session, a: int, b: int) -> None:
    """Remember that two customers are not the same person (never suggested again)."""
    a, b = _survivor(session, a), _survivor(session, b)
    if a == b:
        raise UserFacingError("these are the same customer")
    low, high = sorted((a, b))
    exists = session.scalar(
        select(MergeRejection.id).where(
            MergeRejection.customer_a == low, MergeRejection.customer_b == high
        )
    )
    if exists is None:
        session.add(MergeRejection(customer_a=low, customer_b=high))
        session.add(AuditEntry(action="reject", details={"a": low, "b": high}))
        session.flush()


def rejected_pairs(session: Session) -> set[tuple[int, int]]:
    """Every rejected pair, as (low id, high id) of the customers shown now."""
    pairs: set[tuple[int, int]] = set()
    for a, b in session.execute(select(MergeRejection.customer_a, MergeRejection.customer_b)):
        x, y = _survivor(session, a), _survivor(session, b)
        if x != y:
            low, high = sorted((x, y))
            pairs.add((low, high))
    return pairs


def _refresh(session: Session, customer_ids: list[int]) -> None:
    refresh_customer_stats(session, customer_ids)
    live.changed(session, "identity", customer_ids)  # who is who: other windows refresh


def describe(session: Session, entry: AuditEntry) -> str:
    """One change of the history in words, as the history lists it."""
    return _describe(session, entry)
