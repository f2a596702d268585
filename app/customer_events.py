"""Which events are a customer's own: one rule every "a customer's events" query reads."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import aliased

from app.models import Customer, CustomerIdentity, EventParticipant, Identity

_ONE_PERSON_ROLES = ("from", "author", "buyer")  # roles one participant fills alone


@cache
def _aliases() -> tuple[Any, ...]:
    """The aliased tables ``customer_events`` joins, made once: each ``aliased()`` is a web of
    objects that refer to each other, so making them afresh for every query left some 2,000
    objects a query for the cyclic garbage collector (a timeline page is one query). (Each
    statement renders them under names of its own: one statement may use them twice.)"""
    return (
        aliased(CustomerIdentity),
        aliased(CustomerIdentity),
        aliased(EventParticipant),
        aliased(EventParticipant),
        aliased(Customer),
        aliased(Customer),
        aliased(Identity),
    )


def customer_events(
    customer_ids: Iterable[int] | None = None, *, event_ids: Iterable[int] | None = None
) -> Select[int, int]:
    """(customer id, event id) for every event that is a customer's own (of these
    customers, and of these events, when given).

    An event is a customer's through any of their contact points, except through a
    shared one (a number several buyers give, a family landline) when the event is
    plainly someone else's: the name on it is that of another customer of the contact
    point and not this customer's, or the same participant also gave a contact point of
    another customer (an order placed with another buyer's own email). An event through
    a shared contact point that could be anyone's (a chat from the number with no name)
    stays with all of them. Every "a customer's events" query reads this one rule.
    """
    ci, other_ci, ep, other_ep, me, other, own = _aliases()
    named_for_another = (
        select(other_ci.customer_id)
        .join(other, other.id == other_ci.customer_id)
        .where(
            other_ci.identity_id == ci.identity_id,
            other_ci.customer_id != ci.customer_id,
            ep.name != "",
            func.lower(other.display_name) == func.lower(ep.name),
            func.lower(me.display_name) != func.lower(ep.name),
        )
    )
    given_by_another = (
        select(other_ep.identity_id)
        .join(own, own.id == other_ep.identity_id)
        .join(other_ci, other_ci.identity_id == own.id)
        .where(
            other_ep.event_id == ep.event_id,
            other_ep.role == ep.role,
            ep.role.in_(_ONE_PERSON_ROLES),
            own.shared.is_(False),
            own.is_own.is_(False),
            other_ci.customer_id != ci.customer_id,
        )
    )
    shared = select(Identity.id).where(Identity.id == ci.identity_id, Identity.shared.is_(True))
    stmt = (
        select(ci.customer_id, ep.event_id)
        .join(ep, ep.identity_id == ci.identity_id)
        .join(me, me.id == ci.customer_id)
        .where(
            or_(
                ~shared.exists(),
                and_(~named_for_another.exists(), ~given_by_another.exists()),
            )
        )
    )
    if customer_ids is not None:
        stmt = stmt.where(ci.customer_id.in_(list(customer_ids)))
    if event_ids is not None:
        stmt = stmt.where(ep.event_id.in_(list(event_ids)))
    return stmt.distinct()
