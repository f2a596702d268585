"""A customer's figures kept in step by the write path: event count, first and last contact.

``refresh_customer_stats`` is called after an import, a merge or split and a change of the
owner's addresses (through ``app.identity``, ``app.merges``); it also refreshes who waits
for a reply (``app.waiting``) and the brief's figures (``app.summary``) for the same customers,
and marks them for the stored merge suggestions (``app.suggestion_marks``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import String, select, type_coerce
from sqlalchemy.orm import Session

from app import suggestion_marks, summary, waiting
from app.customer_events import customer_events
from app.models import Customer, Event, aware_utc


def refresh_customer_stats(session: Session, customer_ids: Iterable[int]) -> None:
    """Recompute event count and first/last contact of the given customers.

    One read of their events (by the rule of ``customer_events``) gives these figures and
    also the channels and last contact their stored profile holds (``summary.refresh``),
    which would otherwise read the same events twice more.
    """
    ids = sorted(set(customer_ids))
    seen: dict[int, summary.Seen] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        theirs = customer_events(chunk).subquery()
        # (customer, event) pairs once each: ``customer_events`` is DISTINCT
        rows = session.execute(
            select(
                theirs.c.customer_id,
                Event.id,
                # compared as stored, as an aggregate would (SQLite: text of one width, no
                # time parsed per row); only each customer's first and last are read as times
                type_coerce(Event.occurred_at, String),
                Event.channel,
                Event.direction,
            ).join(Event, Event.id == theirs.c.event_id)
        ).all()
        count: dict[int, int] = dict.fromkeys(chunk, 0)
        first: dict[int, Any] = {}  # stored times (SQLite: text; a server: naive UTC)
        last: dict[int, Any] = {}
        channels: dict[int, set[str]] = {cid: set() for cid in chunk}
        contact: dict[int, tuple[Any, int]] = {}
        for cid, eid, at, channel, direction in rows:
            count[cid] += 1
            if cid not in first or at < first[cid]:
                first[cid] = at
            if cid not in last or at > last[cid]:
                last[cid] = at
            channels[cid].add(channel)
            if direction is not None and direction != "system":
                latest = contact.get(cid)
                if latest is None or (at, eid) > latest:
                    contact[cid] = (at, eid)
        for cid in chunk:
            latest = contact.get(cid)
            seen[cid] = summary.Seen(
                channels=frozenset(channels[cid]),
                last_contact=latest[1] if latest is not None else None,
            )
        # loaded in one query (held here: the session's identity map is weak), not one by one
        held = list(session.scalars(select(Customer).where(Customer.id.in_(chunk))))
        for cid in chunk:
            customer = session.get(Customer, cid)
            if customer is None:
                continue
            customer.event_count = count[cid]
            customer.first_seen = aware_utc(first.get(cid))
            customer.last_seen = aware_utc(last.get(cid))
        del held
    session.flush()
    waiting.refresh(session, ids)  # who waits for a reply is kept in step with them
    summary.refresh(session, ids, seen)  # channels, orders and what the brief reads
    suggestion_marks.mark(session, ids)  # their merge suggestions are brought up to date
