"""Email fingerprints: a reused Message-ID no longer hides a different message.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

Adds ``event.fingerprint`` (see ``app.fingerprint``) and computes it for the
emails already stored, from their sender, time and body, so a database
imported before this version tells a different message with a reused
Message-ID from the same one exactly as a new database does. Nothing else
changes; the downgrade drops the column.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from app.fingerprint import date_is_from_header, mail_fingerprint
from app.models import JSONText, UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BATCH = 2000


def upgrade() -> None:
    bind = op.get_bind()
    if "fingerprint" not in {c["name"] for c in sa.inspect(bind).get_columns("event")}:
        # A plain ALTER TABLE: rebuilding ``event`` would cascade-delete its participants.
        op.add_column(
            "event",
            sa.Column("fingerprint", sa.String(length=64), nullable=False, server_default=""),
        )
    event = sa.table(
        "event",
        sa.column("id", sa.Integer()),
        sa.column("source", sa.String()),
        sa.column("occurred_at", UTCDateTime()),
        sa.column("body", sa.Text()),
        sa.column("details", JSONText()),
        sa.column("fingerprint", sa.String()),
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(event.c.id, event.c.occurred_at, event.c.body, event.c.details)
            .where(event.c.source == "email", event.c.id > last)
            .order_by(event.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        senders = _senders(bind, [r[0] for r in rows])
        updates: list[dict[str, Any]] = []
        for event_id, occurred_at, body, details in rows:
            when: datetime | None = occurred_at if date_is_from_header(details or {}) else None
            digest = mail_fingerprint(senders.get(event_id), when, body or "")
            updates.append({"eid": event_id, "fp": digest})
        bind.execute(
            sa.update(event).where(event.c.id == sa.bindparam("eid")).values(fingerprint=sa.bindparam("fp")),
            updates,
        )
        last = rows[-1][0]


def _senders(bind: sa.Connection, event_ids: list[int]) -> dict[int, str]:
    rows = bind.execute(
        sa.text(
            "SELECT p.event_id, i.value FROM event_participant p "
            "JOIN identity i ON i.id = p.identity_id "
            "WHERE p.role = 'from' AND i.kind = 'email' AND p.event_id IN "
            f"({','.join(str(int(e)) for e in event_ids)}) ORDER BY i.value"
        )
    ).all()
    found: dict[int, str] = {}
    for event_id, value in rows:
        found.setdefault(int(event_id), str(value))
    return found


def downgrade() -> None:
    op.drop_column("event", "fingerprint")  # SQLite 3.35+: in place, no table rebuild
