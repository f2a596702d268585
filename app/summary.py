"""A customer's figures, kept with the customer instead of counted on each look.

Lists, profiles and the brief need, per customer: the channels they were seen on; how
many orders they placed, what they came to per currency net of refunds, their average,
numbers and first/last dates; and for the brief the latest order, the last contact and
the channel and language they write in. Counting those over a long history on every look
costs tens of milliseconds at 10,000 events, so the write path stores them as JSON in
``customer.profile``, rebuilt for exactly the customers it touches (``refresh``, called
from ``app.customer_stats.refresh_customer_stats`` on import, merge, split, undo and owner
changes, beside the waiting list). A customer whose figures are not stored yet (``{}``:
written before they were kept, or by a path that has not refreshed them) is counted on the
fly, and nothing is written by a read.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, cast

from sqlalchemy import Table, and_, bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from app.customer_events import customer_events
from app.models import Customer, Event, EventParticipant, Order
from app.models import CustomerIdentity as CI
from app.rows import OrderFigures as OrderFigures

MESSAGE_CHANNELS = ("email", "chat")
RECENT_MESSAGES = 200  # preferred channel and language: from this many latest messages
VOID_STATUSES = ("voided", "expired", "failed")  # orders that count as nothing spent
_CHUNK = 500


@dataclass(frozen=True)
class Summary:
    """What the brief reads of one customer."""

    orders: OrderFigures
    last_order_event_id: int | None
    last_contact_event_id: int | None
    sources: dict[tuple[str, str], int]  # (channel, source) of their latest messages
    languages: dict[str, int]


@dataclass(frozen=True)
class Seen:
    """What a read of a customer's events for other figures found out for the profile too
    (``app.customer_stats``): the channels they were seen on and their last contact."""

    channels: frozenset[str]
    last_contact: int | None  # their latest event that is not a system line


@dataclass(frozen=True)
class Profile:
    """A customer's stored figures."""

    channels: frozenset[str]
    orders: OrderFigures
    brief: Summary


# --- reading -------------------------------------------------------------------------------


class _HasProfile(Protocol):
    profile: Any


def profiles(session: Session, customers: Mapping[int, _HasProfile]) -> dict[int, Profile]:
    """The figures of these customers (rows with their ``profile``): stored ones, the
    others counted now."""
    found: dict[int, Profile] = {}
    missing: list[int] = []
    for cid, customer in customers.items():
        stored = _from_json(customer.profile)
        if stored is None:
            missing.append(cid)
        else:
            found[cid] = stored
    if missing:
        found.update(recount(session, missing))
    return found


def read(session: Session, customer_id: int) -> Summary:
    """What the brief needs of a customer: the stored figures, else counted now."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return recount(session, [customer_id])[customer_id].brief
    return profiles(session, {customer_id: customer})[customer_id].brief


# --- keeping them in step --------------------------------------------------------------------


def refresh(
    session: Session, customer_ids: Iterable[int], seen: Mapping[int, Seen] | None = None
) -> None:
    """Count and store the figures of these customers (the write path calls this);
    ``seen``: their channels and last contact, read already."""
    ids = sorted(set(customer_ids))
    session.flush()
    table = cast(Table, Customer.__table__)
    statement = (
        update(table).where(table.c.id == bindparam("cid")).values(profile=bindparam("stored"))
    )
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = [
            {"cid": cid, "stored": _to_json(profile)}
            for cid, profile in recount(session, chunk, seen).items()
        ]
        if not rows:
            continue
        # One executemany through Core: an ORM UPDATE per customer would compare its
        # criteria with every object the session holds (quadratic in a big import).
        session.execute(statement, rows)
        for row in rows:  # customers the session holds see the stored figures too
            held = session.identity_map.get(identity_key(Customer, row["cid"]))
            if held is not None:
                set_committed_value(held, "profile", row["stored"])


def rebuild(session: Session) -> None:
    """Count and store the figures of every customer (after an upgrade, in benchmarks)."""
    refresh(session, list(session.scalars(select(Customer.id))))


def recount(
    session: Session, ids: Sequence[int], seen: Mapping[int, Seen] | None = None
) -> dict[int, Profile]:
    """The figures of these customers, counted from their events (their channels and
    last contact taken from ``seen`` when it has them all)."""
    wanted = set(ids)
    channels: dict[int, frozenset[str]]
    last_contact: dict[int, int]
    if seen is not None and wanted <= seen.keys():
        channels = {cid: seen[cid].channels for cid in wanted}
        last_contact = {
            cid: contact for cid in wanted if (contact := seen[cid].last_contact) is not None
        }
    else:
        found: dict[int, set[str]] = {cid: set() for cid in wanted}
        theirs = customer_events(wanted).subquery()
        for cid, channel in session.execute(
            select(theirs.c.customer_id, Event.channel)
            .join(Event, Event.id == theirs.c.event_id)
            .distinct()
        ):
            found[cid].add(channel)
        channels = {cid: frozenset(found[cid]) for cid in wanted}
        last_contact = _last_contact(session, wanted)
    orders, latest = _orders(session, wanted)
    sources, languages = _writing(session, wanted)
    return {
        cid: Profile(
            channels=channels[cid],
            orders=orders.get(cid, OrderFigures()),
            brief=Summary(
                orders=orders.get(cid, OrderFigures()),
                last_order_event_id=latest.get(cid),
                last_contact_event_id=last_contact.get(cid),
                sources=dict(sources[cid]),
                languages=dict(languages[cid]),
            ),
        )
        for cid in sorted(wanted)
    }


def _average(total: Decimal, count: int) -> Decimal:
    """The mean, with as many decimals as the amounts have (JPY 0, GBP 2, KWD 3)."""
    exponent = total.as_tuple().exponent
    places = Decimal(1).scaleb(exponent if isinstance(exponent, int) else 0)
    return (total / count).quantize(places)


def _orders(session: Session, ids: set[int]) -> tuple[dict[int, OrderFigures], dict[int, int]]:
    """Order figures per customer, and the event id of each one's latest order."""
    per: dict[int, dict[int, tuple[str, Decimal, str, datetime]]] = defaultdict(dict)
    theirs = customer_events(ids).subquery()
    for cid, eid, number, currency, total, refunded, status, at in session.execute(
        select(
            theirs.c.customer_id,
            Order.event_id,
            Order.number,
            Order.currency,
            Order.total,
            Order.refunded,
            Order.financial_status,
            Event.occurred_at,
        )
        .join(Order, Order.event_id == theirs.c.event_id)
        .join(Event, Event.id == Order.event_id)
    ):
        net = Decimal(0)
        if status not in VOID_STATUSES and total is not None:
            net = Decimal(total) - (Decimal(refunded) if refunded is not None else Decimal(0))
        per[cid][eid] = (number, net, currency, at)
    out: dict[int, OrderFigures] = {}
    latest: dict[int, int] = {}
    for cid, orders in per.items():
        totals: dict[str, Decimal] = defaultdict(Decimal)
        counts: dict[str, int] = defaultdict(int)
        for _number, net, currency, _at in orders.values():
            totals[currency] += net
            counts[currency] += 1
        ordered = sorted(orders.items(), key=lambda kv: (kv[1][3], kv[0]))
        out[cid] = OrderFigures(
            count=len(orders),
            totals=dict(totals),
            averages={cur: _average(total, counts[cur]) for cur, total in totals.items()},
            numbers=tuple(o[0] for _, o in ordered),
            first_order=ordered[0][1][3] if ordered else None,
            last_order=ordered[-1][1][3] if ordered else None,
        )
        latest[cid] = ordered[-1][0]
    return out, latest


def _mine(ids: set[int], *, sent: bool = False) -> Any:
    """(cid, eid) of the customers' own events; with ``sent``, those they wrote."""
    theirs = customer_events(ids).subquery()
    if not sent:
        return select(theirs.c.customer_id.label("cid"), theirs.c.event_id.label("eid")).subquery()
    return (
        select(CI.customer_id.label("cid"), EventParticipant.event_id.label("eid"))
        .join(EventParticipant, EventParticipant.identity_id == CI.identity_id)
        .join(
            theirs,
            and_(
                theirs.c.customer_id == CI.customer_id,
                theirs.c.event_id == EventParticipant.event_id,
            ),
        )
        .where(CI.customer_id.in_(ids), EventParticipant.role.in_(("from", "author")))
        .distinct()
        .subquery()
    )


def _last_contact(session: Session, ids: set[int]) -> dict[int, int]:
    """Each customer's latest event that is not a system line."""
    mine = _mine(ids)
    ranked = (
        select(
            mine.c.cid,
            Event.id.label("eid"),
            _row_number(mine.c.cid),
        )
        .join(Event, Event.id == mine.c.eid)
        .where(Event.direction != "system")
        .subquery()
    )
    return {
        cid: eid
        for cid, eid in session.execute(select(ranked.c.cid, ranked.c.eid).where(ranked.c.rn == 1))
    }


def _writing(
    session: Session, ids: set[int]
) -> tuple[dict[int, Counter[tuple[str, str]]], dict[int, Counter[str]]]:
    """How they write now: channel and language of their latest messages."""
    sent = _mine(ids, sent=True)
    recent = (
        select(
            sent.c.cid,
            Event.channel,
            Event.source,
            Event.language,
            _row_number(sent.c.cid),
        )
        .join(Event, Event.id == sent.c.eid)
        .where(Event.direction == "inbound", Event.channel.in_(MESSAGE_CHANNELS))
        .subquery()
    )
    sources: dict[int, Counter[tuple[str, str]]] = {cid: Counter() for cid in ids}
    languages: dict[int, Counter[str]] = {cid: Counter() for cid in ids}
    for cid, chan, source, lang, n in session.execute(
        select(recent.c.cid, recent.c.channel, recent.c.source, recent.c.language, func.count())
        .where(recent.c.rn <= RECENT_MESSAGES)
        .group_by(recent.c.cid, recent.c.channel, recent.c.source, recent.c.language)
    ):
        sources[cid][(chan, source)] += n
        if lang:
            languages[cid][lang] += n
    return sources, languages


def _row_number(partition: Any) -> Any:
    """Row number within a customer's events, newest first (ties: the later id first)."""
    return (
        func.row_number()
        .over(partition_by=partition, order_by=(Event.occurred_at.desc(), Event.id.desc()))
        .label("rn")
    )


# --- stored form ---------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _to_json(p: Profile) -> dict[str, Any]:
    f, b = p.orders, p.brief
    return {
        "channels": sorted(p.channels),
        "orders": {
            "count": f.count,
            "totals": {cur: str(v) for cur, v in f.totals.items()},
            "averages": {cur: str(v) for cur, v in f.averages.items()},
            "numbers": list(f.numbers),
            "first": _iso(f.first_order),
            "last": _iso(f.last_order),
        },
        "brief": {
            "last_order_event_id": b.last_order_event_id,
            "last_contact_event_id": b.last_contact_event_id,
            "sources": [[chan, src, n] for (chan, src), n in sorted(b.sources.items())],
            "languages": dict(sorted(b.languages.items())),
        },
    }


def _from_json(data: Mapping[str, Any] | None) -> Profile | None:
    if not data or "orders" not in data or "brief" not in data:
        return None
    o, b = data["orders"], data["brief"]
    orders = OrderFigures(
        count=int(o["count"]),
        totals={cur: Decimal(v) for cur, v in o["totals"].items()},
        averages={cur: Decimal(v) for cur, v in o["averages"].items()},
        numbers=tuple(o["numbers"]),
        first_order=datetime.fromisoformat(o["first"]) if o["first"] else None,
        last_order=datetime.fromisoformat(o["last"]) if o["last"] else None,
    )
    return Profile(
        channels=frozenset(data.get("channels", ())),
        orders=orders,
        brief=Summary(
            orders=orders,
            last_order_event_id=b["last_order_event_id"],
            last_contact_event_id=b["last_contact_event_id"],
            sources={(str(c), str(s)): int(n) for c, s, n in b["sources"]},
            languages={str(k): int(v) for k, v in b["languages"].items()},
        ),
    )
