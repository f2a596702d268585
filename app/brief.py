"""The customer in three lines: a summary built by rules from stored data, never invented.

Line 1, who: name, customer since, how many orders and how much, preferred channel and
the language their messages are written in. Line 2, what happened last: the last
contact and its channel, and the question still waiting for an answer, quoted. Line 3,
what they bought last and its state (paid, fulfilled, refunded). Dates are in the
configured zone. The same inputs always give the same text.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import queries, settings, summary
from app.brief_lines import Brief as Brief
from app.brief_lines import LastContact, LastOrder, Wait, compose
from app.brief_lines import order_state as order_state
from app.errors import NotFoundError
from app.models import Customer, Event, Identity, Order, OrderLine, Waiting
from app.models import CustomerIdentity as CI


def build(
    session: Session,
    customer_id: int,
    *,
    now: datetime | None = None,
    tz: tzinfo | None = None,
) -> Brief:
    """The brief of one customer (following merges), dates in ``tz`` (default: the setting).

    The figures are read here; ``app.brief_lines.compose`` writes the lines.

    Raises:
        NotFoundError: no such customer.
    """
    now = now or datetime.now(UTC)
    tz = tz or settings.zone(session)
    cid = queries.survivor_id(session, customer_id)
    person = session.execute(
        select(Customer.display_name, Customer.first_seen, Customer.last_seen).where(
            Customer.id == cid
        )
    ).first()
    if person is None:
        raise NotFoundError(f"no customer {customer_id}")
    figures = summary.read(session, cid)
    who = person.display_name or _fallback_name(session, cid) or f"Customer #{cid}"
    last = (
        session.execute(
            select(Event.id, Event.channel, Event.source, Event.direction, Event.occurred_at).where(
                Event.id == figures.last_contact_event_id
            )
        ).first()
        if figures.last_contact_event_id is not None
        else None
    )
    wait = session.get(Waiting, cid)
    order = (
        session.execute(
            select(Order, Event.occurred_at)
            .join(Event, Event.id == Order.event_id)
            .where(Order.event_id == figures.last_order_event_id)
        ).first()
        if figures.last_order_event_id is not None
        else None
    )
    last_order: LastOrder | None = None
    if order is not None:
        o, at = order
        items = [
            (str(n), int(q))
            for n, q in session.execute(
                select(OrderLine.name, OrderLine.quantity)
                .where(OrderLine.order_event_id == o.event_id)
                .order_by(OrderLine.position)
            )
        ]
        last_order = LastOrder(
            o.event_id,
            o.number,
            o.currency,
            o.total,
            o.refunded,
            o.financial_status,
            o.fulfillment_status,
            at,
            items,
        )
    return compose(
        who=who,
        first_seen=person.first_seen,
        order_count=figures.orders.count,
        totals=figures.orders.totals,
        sources=figures.sources,
        languages=figures.languages,
        last=LastContact(*last) if last is not None else None,
        wait=Wait(
            wait.since,
            wait.event_id,
            wait.channel,
            wait.source,
            wait.first_line,
            wait.snoozed_until,
            session.scalar(select(Event.body).where(Event.id == wait.event_id)) or "",
        )
        if wait is not None
        else None,
        order=last_order,
        now=now,
        tz=tz,
    )


def _fallback_name(session: Session, cid: int) -> str:
    for raw, value in session.execute(
        select(Identity.raw, Identity.value)
        .join(CI, CI.identity_id == Identity.id)
        .where(CI.customer_id == cid, Identity.kind != "platform_id")
        .order_by(Identity.id)
        .limit(1)
    ):
        return str(raw or value)
    return ""
