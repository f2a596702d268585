"""Suppression: the forgotten stay forgotten (the import path's side of ``app.erasure``).

A forgotten customer's contact points are kept only as keyed hashes (HMAC-SHA256 with a
salt stored in this database). ``Suppressor`` tells the import path which participants of
a record were forgotten; ``suppressions`` lists the hashes and ``lift`` lets some import
again. ``app.erasure`` writes them when it forgets a customer.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as pysecrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app import identity, settings
from app.models import Setting, Suppression
from app.records import EventRecord, Participant

_SALT_KEY = "suppression_salt"
AUTHOR_ROLES = ("from", "author", "buyer")


def salt_of(session: Session, *, create: bool) -> bytes | None:
    row = session.get(Setting, _SALT_KEY)
    if row is None:
        if not create:
            return None
        row = Setting(key=_SALT_KEY, value=pysecrets.token_hex(32))
        session.add(row)
        session.flush()
    return bytes.fromhex(row.value)


def digest(salt: bytes, kind: str, platform: str, value: str) -> str:
    message = f"{kind}\x1f{platform}\x1f{value}".encode()
    return hmac.new(salt, message, hashlib.sha256).hexdigest()


class Suppressor:
    """Tells the import path which participants were forgotten (nothing when none were)."""

    def __init__(self, session: Session) -> None:
        self.hashes: frozenset[str] = frozenset(session.scalars(select(Suppression.digest)))
        self.salt = salt_of(session, create=False) if self.hashes else None
        self.region = settings.get(session, "region") if self.hashes else ""
        self.owner = identity.OwnerSet.load(session) if self.hashes else None

    def __bool__(self) -> bool:
        return bool(self.hashes)

    def forgotten(self, participant: Participant) -> bool:
        """True if any contact point of ``participant`` belongs to a forgotten customer."""
        if not self.hashes or self.salt is None:
            return False
        return any(
            digest(self.salt, key.kind, key.platform, key.value) in self.hashes
            for key in identity.contact_keys(participant, self.region)
        )

    def _business(self, participant: Participant) -> bool:
        keys = identity.contact_keys(participant, self.region)
        return self.owner is not None and bool(keys) and all(self.owner.owns(k) for k in keys)

    def filter(self, record: EventRecord) -> EventRecord | None:
        """The record without forgotten participants.

        None when one of them wrote it, or when only the business would be left (a reply
        to them): such an item belongs to the forgotten customer's history.
        """
        if not self.hashes:
            return record
        kept = [p for p in record.participants if not self.forgotten(p)]
        if len(kept) == len(record.participants):
            return record
        if any(p.role in AUTHOR_ROLES for p in record.participants if p not in kept):
            return None
        if all(self._business(p) for p in kept):
            return None
        return replace(record, participants=tuple(kept))


@dataclass(frozen=True)
class SuppressionRow:
    """One forgotten contact point, as ``threadline suppressions`` lists it (hashed)."""

    id: int
    kind: str
    digest: str
    created_at: datetime
    erasure: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "hash": self.digest[:16],
            "created_at": self.created_at.isoformat(),
            "erasure": self.erasure,
        }


def suppressions(session: Session) -> list[SuppressionRow]:
    """Every suppressed contact point, newest first."""
    rows = session.scalars(select(Suppression).order_by(Suppression.id.desc()))
    return [SuppressionRow(r.id, r.kind, r.digest, r.created_at, r.erasure_id) for r in rows]


def lift(session: Session, ids: Sequence[int] = (), *, erasure: int | None = None) -> int:
    """Lift suppressions by id, or all those of one erasure; returns how many were lifted."""
    stmt = delete(Suppression)
    if erasure is not None:
        stmt = stmt.where(Suppression.erasure_id == erasure)
    elif ids:
        stmt = stmt.where(Suppression.id.in_(list(ids)))
    else:
        return 0
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]
