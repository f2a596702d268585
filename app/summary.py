"""What the brief says of a customer, kept with the customer instead of counted on each look.

The brief (``app.brief``) needs, per customer, the number of orders and what they came
to, the latest order, the last contact, and the channel and language they write in.
Counting those over a long history on every look costs tens of milliseconds at 10,000
events, so the write path keeps one ``customer_summary`` row per live customer, rebuilt
for exactly the customers it touches (``refresh``, called from
``app.identity.refresh_customer_stats`` on import, merge, split, undo and owner
changes, beside the waiting list). Reading a brief is then a handful of key lookups.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import String, delete, func, insert, select, type_coerce
from sqlalchemy.orm import Session

from app.models import Customer, CustomerSummary, Event, EventParticipant, Order
from app.models import CustomerIdentity as CI

MESSAGE_CHANNELS = ("email", "chat")
RECENT_MESSAGES = 200  # preferred channel and language: from this many latest messages
VOID_STATUSES = ("voided", "expired", "failed")  # orders that count as nothing spent
_CHUNK = 500


@dataclass(frozen=True)
class Summary:
    """One customer's stored figures (see the module's docstring)."""

    order_count: int
    totals: dict[str, Decimal]
    last_order_event_id: int | None
    last_contact_event_id: int | None
    sources: dict[tuple[str, str], int]  # (channel, source) of their latest messages
    languages: dict[str, int]


def read(session: Session, customer_id: int) -> Summary:
    """The figures of a live customer: the stored row, else counted now (nothing written)."""
    row = session.get(CustomerSummary, customer_id)
    if row is not None:
        stored = {
            "order_count": row.order_count,
            "totals": row.totals,
            "last_order_event_id": row.last_order_event_id,
            "last_contact_event_id": row.last_contact_event_id,
            "sources": row.sources,
            "languages": row.languages,
        }
    else:
        stored = _compute(session, {customer_id}).get(customer_id) or _compute_empty(customer_id)
    return _summary(stored)


def _summary(row: dict[str, Any]) -> Summary:
    return Summary(
        order_count=int(row["order_count"]),
        totals={cur: Decimal(v) for cur, v in json.loads(row["totals"] or "{}").items()},
        last_order_event_id=row["last_order_event_id"],
        last_contact_event_id=row["last_contact_event_id"],
        sources={(str(c), str(s)): int(n) for c, s, n in json.loads(row["sources"] or "[]")},
        languages={str(k): int(v) for k, v in json.loads(row["languages"] or "{}").items()},
    )


def _compute_empty(customer_id: int) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "order_count": 0,
        "totals": "{}",
        "last_order_event_id": None,
        "last_contact_event_id": None,
        "sources": "[]",
        "languages": "{}",
    }


def rebuild(session: Session) -> None:
    """Recompute the whole table (after an upgrade)."""
    session.execute(delete(CustomerSummary))
    refresh(session, session.scalars(select(Customer.id).where(Customer.merged_into_id.is_(None))))


def refresh(session: Session, customer_ids: Iterable[int]) -> None:
    """Recompute the figures of these customers (merged-away ones lose their row)."""
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), _CHUNK):
        _refresh_chunk(session, ids[start : start + _CHUNK])


def _refresh_chunk(session: Session, chunk: list[int]) -> None:
    session.execute(delete(CustomerSummary).where(CustomerSummary.customer_id.in_(chunk)))
    live = set(
        session.scalars(
            select(Customer.id).where(Customer.id.in_(chunk), Customer.merged_into_id.is_(None))
        )
    )
    rows = _compute(session, live)
    if rows:
        session.execute(insert(CustomerSummary), [rows[cid] for cid in sorted(rows)])


def _compute(session: Session, live: set[int]) -> dict[int, dict[str, Any]]:
    """The figures of these live customers, as ``customer_summary`` rows."""
    if not live:
        return {}
    mine = (
        select(CI.customer_id.label("cid"), EventParticipant.event_id.label("eid"))
        .join(EventParticipant, EventParticipant.identity_id == CI.identity_id)
        .where(CI.customer_id.in_(live))
        .distinct()
        .subquery()
    )
    counts: Counter[int] = Counter()
    totals: dict[int, dict[str, Decimal]] = {cid: {} for cid in live}

    # Orders: how many, what they came to net of refunds, and the latest one.
    latest_order: dict[int, tuple[str, int]] = {}
    for cid, eid, at, currency, total, refunded, status in session.execute(
        select(
            mine.c.cid,
            Order.event_id,
            type_coerce(Event.occurred_at, String),
            Order.currency,
            Order.total,
            Order.refunded,
            Order.financial_status,
        )
        .join(Order, Order.event_id == mine.c.eid)
        .join(Event, Event.id == Order.event_id)
    ):
        counts[cid] += 1
        key = (str(at), int(eid))
        if cid not in latest_order or key > latest_order[cid]:
            latest_order[cid] = key
        net = Decimal(0)
        if status not in VOID_STATUSES and total is not None:
            net = total - (refunded if refunded is not None else Decimal(0))
        spent = totals[cid]
        spent[currency] = spent.get(currency, Decimal(0)) + net

    # Last contact: their latest event that is not a system line.
    ranked = (
        select(
            mine.c.cid,
            Event.id.label("eid"),
            func.row_number()
            .over(
                partition_by=mine.c.cid,
                order_by=(Event.occurred_at.desc(), Event.id.desc()),
            )
            .label("rn"),
        )
        .join(Event, Event.id == mine.c.eid)
        .where(Event.direction != "system")
        .subquery()
    )
    last_contact: dict[int, int] = {
        cid: eid
        for cid, eid in session.execute(select(ranked.c.cid, ranked.c.eid).where(ranked.c.rn == 1))
    }

    # How they write now: channel and language of their latest messages.
    sent = (
        select(CI.customer_id.label("cid"), EventParticipant.event_id.label("eid"))
        .join(EventParticipant, EventParticipant.identity_id == CI.identity_id)
        .where(CI.customer_id.in_(live), EventParticipant.role.in_(("from", "author")))
        .distinct()
        .subquery()
    )
    recent = (
        select(
            sent.c.cid,
            Event.channel,
            Event.source,
            Event.language,
            func.row_number()
            .over(
                partition_by=sent.c.cid,
                order_by=(Event.occurred_at.desc(), Event.id.desc()),
            )
            .label("rn"),
        )
        .join(Event, Event.id == sent.c.eid)
        .where(Event.direction == "inbound", Event.channel.in_(MESSAGE_CHANNELS))
        .subquery()
    )
    sources: dict[int, Counter[tuple[str, str]]] = {cid: Counter() for cid in live}
    languages: dict[int, Counter[str]] = {cid: Counter() for cid in live}
    for cid, chan, source, lang, n in session.execute(
        select(recent.c.cid, recent.c.channel, recent.c.source, recent.c.language, func.count())
        .where(recent.c.rn <= RECENT_MESSAGES)
        .group_by(recent.c.cid, recent.c.channel, recent.c.source, recent.c.language)
    ):
        sources[cid][(chan, source)] += n
        if lang:
            languages[cid][lang] += n

    rows: dict[int, dict[str, Any]] = {}
    for cid in sorted(live):
        rows[cid] = {
            "customer_id": cid,
            "order_count": counts[cid],
            "totals": json.dumps({cur: str(v) for cur, v in sorted(totals[cid].items())}),
            "last_order_event_id": latest_order[cid][1] if cid in latest_order else None,
            "last_contact_event_id": last_contact.get(cid),
            "sources": json.dumps(
                [[chan, src, n] for (chan, src), n in sorted(sources[cid].items())]
            ),
            "languages": json.dumps(dict(sorted(languages[cid].items()))),
        }
    return rows
