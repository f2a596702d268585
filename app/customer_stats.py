"""A customer's figures kept in step by the write path: event count, first and last contact.

``refresh_customer_stats`` is called after an import, a merge or split and a change of the
owner's addresses (through ``app.identity``, ``app.merges``); it also refreshes who waits
for a reply (``app.waiting``) and the brief's figures (``app.summary``) for the same customers,
and marks them for the stored merge suggestions (``app.suggestion_marks``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import suggestion_marks, summary, waiting
from app.customer_events import customer_events
from app.models import Customer, Event, aware_utc


def refresh_customer_stats(session: Session, customer_ids: Iterable[int]) -> None:
    """Recompute event count and first/last contact of the given customers."""
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        theirs = customer_events(chunk).subquery()
        per_event = (
            select(
                theirs.c.customer_id.label("cid"),
                Event.id.label("eid"),
                Event.occurred_at,
            )
            .join(Event, Event.id == theirs.c.event_id)
            .distinct()
            .subquery()
        )
        rows = session.execute(
            select(
                per_event.c.cid,
                func.count(per_event.c.eid),
                func.min(per_event.c.occurred_at),
                func.max(per_event.c.occurred_at),
            ).group_by(per_event.c.cid)
        ).all()
        found = {row[0]: row for row in rows}
        # loaded in one query (held here: the session's identity map is weak), not one by one
        held = list(session.scalars(select(Customer).where(Customer.id.in_(chunk))))
        for cid in chunk:
            customer = session.get(Customer, cid)
            if customer is None:
                continue
            row = found.get(cid)
            customer.event_count = int(row[1]) if row else 0
            customer.first_seen = aware_utc(row[2]) if row else None
            customer.last_seen = aware_utc(row[3]) if row else None
        del held
    session.flush()
    waiting.refresh(session, ids)  # who waits for a reply is kept in step with them
    summary.refresh(session, ids)  # channels, orders and what the brief reads
    suggestion_marks.mark(session, ids)  # their merge suggestions are brought up to date
