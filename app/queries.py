"""Read-side queries: customers, profiles, timeline pages, notes and full-text search.

Every function takes a ``Session`` and returns plain frozen rows (never ORM
objects), so the UI and the CLI can hold them after the session closes and on
any thread.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, selectinload

from app.errors import AmbiguousError, NotFoundError, UserFacingError
from app.identity import normalize_email, normalize_phone, phone_search_digits
from app.models import Customer, Event, EventParticipant, Identity, Note, Order
from app.models import CustomerIdentity as CI
from app.settings import get as get_setting
from app.summary import VOID_STATUSES

# Bounds on what a query may ask: longer text is cut and further words dropped here (the
# GUI filters as one types); the CLI refuses such a query in one line (``check_query``).
MAX_QUERY_CHARS = 1000
MAX_QUERY_WORDS = 32


def query_words(query: str) -> list[str]:
    """The distinct words of a search query, in order (case-insensitive), within the bounds.

    Repeated words count once; words past ``MAX_QUERY_WORDS`` or past
    ``MAX_QUERY_CHARS`` characters of distinct words are dropped.
    """
    seen: dict[str, str] = {}
    size = 0
    for word in re.findall(r"\w+", query, flags=re.UNICODE):
        key = word.casefold()
        if key in seen:
            continue
        size += len(word) + 1
        if size > MAX_QUERY_CHARS + 1 or len(seen) >= MAX_QUERY_WORDS:
            break
        seen[key] = word
    return list(seen.values())


def check_query(query: str, what: str = "query", *, words: bool = False) -> None:
    """Refuse a query past the bounds, in one line.

    Args:
        query: what the user typed.
        what: its name in the message ("search query").
        words: the query is a list of words (full-text search): repeated words
            count once towards the length.

    Raises:
        UserFacingError: more than ``MAX_QUERY_CHARS`` characters, or more than
            ``MAX_QUERY_WORDS`` different words.
    """
    distinct = dict.fromkeys(w.casefold() for w in re.findall(r"\w+", query, flags=re.UNICODE))
    size = len(" ".join(distinct)) if words else len(query)
    if size > MAX_QUERY_CHARS:
        raise UserFacingError(
            f"the {what} is {size:,} characters long; at most {MAX_QUERY_CHARS:,} are allowed"
        )
    if len(distinct) > MAX_QUERY_WORDS:
        raise UserFacingError(
            f"the {what} has {len(distinct)} different words; at most {MAX_QUERY_WORDS} are allowed"
        )


@dataclass(frozen=True)
class OrderFigures:
    """How many orders a customer placed and what they spent, per currency."""

    count: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)
    numbers: tuple[str, ...] = ()
    first_order: datetime | None = None
    last_order: datetime | None = None
    averages: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class IdentityRow:
    """One contact point of a customer, with where it was first seen."""

    id: int
    kind: str
    platform: str
    value: str
    raw: str
    source: str


@dataclass(frozen=True)
class CustomerRow:
    """A customer as lists and profiles show them."""

    id: int
    name: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    handles: tuple[str, ...]
    identities: tuple[IdentityRow, ...]
    event_count: int
    first_seen: datetime | None
    last_seen: datetime | None
    channels: frozenset[str]
    orders: OrderFigures

    @property
    def best_identity(self) -> str:
        """The contact point to show under the name."""
        for values in (self.emails, self.phones, self.handles):
            if values:
                return values[0]
        return ""

    def as_json(self) -> dict[str, Any]:
        """The CLI's JSON shape of a customer."""
        return {
            "id": self.id,
            "name": self.name,
            "emails": list(self.emails),
            "phones": list(self.phones),
            "handles": list(self.handles),
            "event_count": self.event_count,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "orders": {
                "count": self.orders.count,
                "totals": {cur: str(v) for cur, v in sorted(self.orders.totals.items())},
                "numbers": list(self.orders.numbers),
                "average": {cur: str(v) for cur, v in sorted(self.orders.averages.items())},
                "first_order": _iso(self.orders.first_order),
                "last_order": _iso(self.orders.last_order),
            },
        }


@dataclass(frozen=True)
class OrderLineRow:
    name: str
    sku: str
    quantity: int
    unit_price: Decimal | None


_ADDRESS_PARTS = ("name", "company", "street", "city", "province", "zip", "country")


def order_details(details: Mapping[str, Any], *, address: bool = True) -> list[tuple[str, str]]:
    """The extras of an order event worth showing, as (label, text) pairs.

    Shipping method, the delivery address (``details["shipping"]``, when
    ``address``) and the order's notes, in that order; empty ones are left out.
    The timeline's expanded order and the PDF both show these.
    """
    out: list[tuple[str, str]] = []
    method = details.get("shipping_method")
    if isinstance(method, str) and method.strip():
        out.append(("Shipping method", method.strip()))
    shipping = details.get("shipping")
    if address and isinstance(shipping, Mapping):
        parts = [shipping.get(k) for k in _ADDRESS_PARTS]
        text = ", ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
        if text:
            out.append(("Deliver to", text))
    notes = details.get("notes")
    if isinstance(notes, str) and notes.strip():
        out.append(("Order notes", notes.strip()))
    return out


@dataclass(frozen=True)
class OrderRow:
    number: str
    platform: str
    currency: str
    total: Decimal | None
    subtotal: Decimal | None
    shipping: Decimal | None
    tax: Decimal | None
    discount: Decimal | None
    refunded: Decimal | None
    financial_status: str
    fulfillment_status: str
    lines: tuple[OrderLineRow, ...]

    def as_json(self) -> dict[str, Any]:
        """Every figure of the order (money as decimal strings), its lines included."""
        return {
            "number": self.number,
            "platform": self.platform,
            "currency": self.currency,
            "total": _dec(self.total),
            "subtotal": _dec(self.subtotal),
            "shipping": _dec(self.shipping),
            "tax": _dec(self.tax),
            "discount": _dec(self.discount),
            "refunded": _dec(self.refunded),
            "financial_status": self.financial_status,
            "fulfillment_status": self.fulfillment_status,
            "lines": [
                {
                    "name": ln.name,
                    "sku": ln.sku,
                    "quantity": ln.quantity,
                    "unit_price": _dec(ln.unit_price),
                }
                for ln in self.lines
            ],
        }


# The order keys of ``show --json`` (the public CLI shape; the data export has them all).
_SHOW_ORDER_KEYS = (
    "number", "currency", "total", "refunded", "financial_status", "fulfillment_status", "lines"
)  # fmt: skip


@dataclass(frozen=True)
class EventRow:
    """One timeline entry."""

    id: int
    channel: str
    direction: str
    occurred_at: datetime
    title: str
    text: str
    source: str
    locator: str
    thread_key: str | None
    author: str
    details: dict[str, Any]
    order: OrderRow | None
    # an email's people as (role, name, address), role one of from / to / cc; () otherwise
    people: tuple[tuple[str, str, str], ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The CLI's JSON shape of an event."""
        data: dict[str, Any] = {
            "id": self.id,
            "channel": self.channel,
            "direction": self.direction,
            "occurred_at": _iso(self.occurred_at),
            "title": self.title,
            "text": self.text,
            "source": self.source,
            "author": self.author,
        }
        if self.order is not None:
            full = self.order.as_json()
            data["order"] = {key: full[key] for key in _SHOW_ORDER_KEYS}
        return data


@dataclass(frozen=True)
class NoteRow:
    id: int
    customer_id: int
    body: str
    author: str
    pinned: bool
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "body": self.body,
            "author": self.author,
            "pinned": self.pinned,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


@dataclass(frozen=True)
class SearchHit:
    """A full-text hit. ``snippet`` marks matches with \\x02 … \\x03."""

    event_id: int
    customer_id: int | None
    customer_name: str
    channel: str
    occurred_at: datetime
    title: str
    snippet: str

    def as_json(self, mark: tuple[str, str] = ("[", "]")) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "customer_id": self.customer_id,
            "customer_name": self.customer_name,
            "channel": self.channel,
            "occurred_at": _iso(self.occurred_at),
            "title": self.title,
            "snippet": self.snippet.replace(HL_START, mark[0]).replace(HL_END, mark[1]),
        }


HL_START, HL_END = "\x02", "\x03"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dec(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


# --- customers ---------------------------------------------------------------------------


def survivor_id(session: Session, customer_id: int) -> int:
    """Follow merge pointers to the customer that is shown now."""
    seen: set[int] = set()
    current = customer_id
    while current not in seen:
        seen.add(current)
        merged = session.scalar(select(Customer.merged_into_id).where(Customer.id == current))
        if merged is None:
            return current
        current = merged
    return current


def _customer_filter(session: Session, query: str) -> Any:
    q = query.strip()[:MAX_QUERY_CHARS]
    if not q:
        return None
    like = f"%{q.lower()}%"
    conds: list[Any] = [
        func.lower(Customer.display_name).like(like),
        exists().where(
            CI.customer_id == Customer.id,
            CI.identity_id == Identity.id,
            or_(
                func.lower(Identity.value).like(like),
                func.lower(Identity.raw).like(like),
                func.lower(Identity.display_name).like(like),
            ),
        ),
    ]
    digits = re.sub(r"\D", "", q)
    if len(digits) >= 3 and len(digits) >= len(q.replace(" ", "")) // 2:
        # "07700 900123" with region GB is stored as 447700900123: look for both forms.
        region = get_setting(session, "region")
        conds.append(
            exists().where(
                CI.customer_id == Customer.id,
                CI.identity_id == Identity.id,
                or_(
                    *(
                        Identity.search_digits.like(f"%{run}%")
                        for run in phone_search_digits(q, region)
                    )
                ),
            )
        )
    order_q = q.lstrip("#").lower()
    if order_q:
        conds.append(
            exists()
            .where(CI.customer_id == Customer.id)
            .where(EventParticipant.identity_id == CI.identity_id)
            .where(Order.event_id == EventParticipant.event_id)
            .where(func.lower(Order.number).like(f"%{order_q}%"))
        )
    return or_(*conds)


def _customer_select(session: Session, query: str) -> Select[int]:
    stmt = select(Customer.id).where(
        Customer.merged_into_id.is_(None),
        exists().where(CI.customer_id == Customer.id),
    )
    cond = _customer_filter(session, query)
    if cond is not None:
        stmt = stmt.where(cond)
    return stmt


def count_customers(session: Session, query: str = "") -> int:
    """How many customers match ``query`` (all when empty)."""
    sub = _customer_select(session, query).subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


def list_customers(
    session: Session, query: str = "", *, offset: int = 0, limit: int = 100
) -> list[CustomerRow]:
    """Customers matching ``query`` by name, email, phone digits or order number.

    Most recent contact first; exact contact-point matches rank first.
    """
    stmt = _customer_select(session, query)
    q = query.strip()[:MAX_QUERY_CHARS]
    exact: list[int] = []
    if q and offset == 0:
        exact = _exact_matches(session, q)
    ids = list(
        session.scalars(
            stmt.order_by(Customer.last_seen.desc().nulls_last(), Customer.id.desc())
            .offset(offset)
            .limit(limit)
        )
    )
    ordered = exact + [i for i in ids if i not in exact]
    return customers_by_id(session, ordered[:limit]) if ordered else []


def _exact_matches(session: Session, ref: str) -> list[int]:
    region = get_setting(session, "region")
    values: list[tuple[str, str]] = []
    email = normalize_email(ref)
    if email:
        values.append(("email", email))
    phone = normalize_phone(ref, region)
    if phone:
        values.append(("phone", phone))
    found: list[int] = []
    for kind, value in values:
        for cid in session.scalars(
            select(CI.customer_id)
            .join(Identity, Identity.id == CI.identity_id)
            .where(Identity.kind == kind, Identity.value == value)
        ):
            found.append(survivor_id(session, cid))
    number = ref if ref.startswith("#") else f"#{ref}"
    for num in dict.fromkeys((ref, number)):
        for cid in session.scalars(
            select(CI.customer_id)
            .join(EventParticipant, EventParticipant.identity_id == CI.identity_id)
            .join(Order, Order.event_id == EventParticipant.event_id)
            .where(Order.number == num)
        ):
            found.append(survivor_id(session, cid))
    return list(dict.fromkeys(found))


def customers_by_id(session: Session, ids: Sequence[int]) -> list[CustomerRow]:
    """Full rows for the given customers, in the given order (unknown ids skipped)."""
    if not ids:
        return []
    customers = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))}
    idents: dict[int, list[Identity]] = defaultdict(list)
    for owner_id, ident in session.execute(
        select(CI.customer_id, Identity)
        .join(Identity, Identity.id == CI.identity_id)
        .where(CI.customer_id.in_(ids))
        .order_by(Identity.id)
    ):
        idents[owner_id].append(ident)
    channels: dict[int, set[str]] = defaultdict(set)
    for cid, channel in session.execute(
        select(CI.customer_id, Event.channel)
        .join(EventParticipant, EventParticipant.identity_id == CI.identity_id)
        .join(Event, Event.id == EventParticipant.event_id)
        .where(CI.customer_id.in_(ids))
        .distinct()
    ):
        channels[cid].add(channel)
    figures = _order_figures(session, ids)
    rows: list[CustomerRow] = []
    for cid in ids:
        c = customers.get(cid)
        if c is None:
            continue
        mine = idents.get(cid, [])
        fallback = next((i.raw or i.value for i in mine if i.kind != "platform_id"), "")
        rows.append(
            CustomerRow(
                id=c.id,
                name=c.display_name or fallback,
                emails=tuple(i.value for i in mine if i.kind == "email"),
                phones=tuple(i.value for i in mine if i.kind == "phone"),
                handles=tuple(
                    f"{i.platform}:{i.raw or i.value}" if i.platform else (i.raw or i.value)
                    for i in mine
                    if i.kind in ("handle", "platform_id")
                ),
                identities=tuple(
                    IdentityRow(i.id, i.kind, i.platform, i.value, i.raw, i.first_seen_source)
                    for i in mine
                ),
                event_count=c.event_count,
                first_seen=c.first_seen,
                last_seen=c.last_seen,
                channels=frozenset(channels.get(cid, set())),
                orders=figures.get(cid, OrderFigures()),
            )
        )
    return rows


def _average(total: Decimal, count: int) -> Decimal:
    """The mean, with as many decimals as the amounts have (JPY 0, GBP 2, KWD 3)."""
    exponent = total.as_tuple().exponent
    places = Decimal(1).scaleb(exponent if isinstance(exponent, int) else 0)
    return (total / count).quantize(places)


def _order_figures(session: Session, ids: Sequence[int]) -> dict[int, OrderFigures]:
    per: dict[int, dict[int, tuple[str, Decimal, str, datetime, str]]] = defaultdict(dict)
    rows = session.execute(
        select(
            CI.customer_id,
            Order.event_id,
            Order.number,
            Order.currency,
            Order.total,
            Order.refunded,
            Order.financial_status,
            Event.occurred_at,
        )
        .join(EventParticipant, EventParticipant.identity_id == CI.identity_id)
        .join(Order, Order.event_id == EventParticipant.event_id)
        .join(Event, Event.id == Order.event_id)
        .where(CI.customer_id.in_(ids))
    ).all()
    for cid, eid, number, currency, total, refunded, status, at in rows:
        net = Decimal(0)
        if status not in VOID_STATUSES and total is not None:
            net = Decimal(total) - (Decimal(refunded) if refunded is not None else Decimal(0))
        per[cid][eid] = (number, net, currency, at, status)
    out: dict[int, OrderFigures] = {}
    for cid, orders in per.items():
        totals: dict[str, Decimal] = defaultdict(Decimal)
        counts: dict[str, int] = defaultdict(int)
        for _number, net, currency, _at, _status in orders.values():
            totals[currency] += net
            counts[currency] += 1
        ordered = sorted(orders.values(), key=lambda o: o[3])
        out[cid] = OrderFigures(
            count=len(orders),
            totals=dict(totals),
            averages={cur: _average(total, counts[cur]) for cur, total in totals.items()},
            numbers=tuple(o[0] for o in ordered),
            first_order=ordered[0][3] if ordered else None,
            last_order=ordered[-1][3] if ordered else None,
        )
    return out


def customer(session: Session, customer_id: int) -> CustomerRow:
    """One customer's row (following merges).

    Raises:
        NotFoundError: no such customer.
    """
    rows = customers_by_id(session, [survivor_id(session, customer_id)])
    if not rows:
        raise NotFoundError(f"no customer {customer_id}")
    return rows[0]


def resolve_customer(session: Session, ref: str) -> int:
    """The id of the customer ``ref`` names: an id, email, phone, order number or name.

    Raises:
        NotFoundError: nothing matches.
        AmbiguousError: a name matches several customers.
    """
    ref = ref.strip()
    if ref.isdigit() and session.get(Customer, int(ref)) is not None:
        return survivor_id(session, int(ref))
    exact = _exact_matches(session, ref)
    if len(exact) == 1:
        return exact[0]
    names = list(
        session.scalars(
            select(Customer.id).where(
                Customer.merged_into_id.is_(None),
                func.lower(Customer.display_name) == ref.lower(),
            )
        )
    )
    if len(names) == 1:
        return names[0]
    if len(names) > 1 or len(exact) > 1:
        # A number or address several people use: list who, never pick one or pool them.
        shown = ", ".join(
            f"#{row.id} {row.name}" for row in customers_by_id(session, (exact or names)[:10])
        )
        raise AmbiguousError(
            f"{ref!r} matches several customers ({shown}); use an id, email or phone"
        )
    raise NotFoundError(f"no customer matches {ref!r}")


# --- timeline ----------------------------------------------------------------------------


def _customer_events(customer_id: int) -> Select[int]:
    return (
        select(EventParticipant.event_id)
        .join(CI, CI.identity_id == EventParticipant.identity_id)
        .where(CI.customer_id == customer_id)
    )


def fts_query(query: str) -> str:
    """A safe FTS5 query: every word must appear, each as a prefix.

    Repeated words count once and the words are bounded (``query_words``), so
    the cost of a query stays bounded whatever is typed.
    """
    return " ".join(f'"{w}"*' for w in query_words(query))


def _timeline_stmt(
    customer_id: int, channels: Sequence[str] | None, query: str | None
) -> Select[Event]:
    stmt = select(Event).where(Event.id.in_(_customer_events(customer_id)))
    if channels:
        stmt = stmt.where(Event.channel.in_(list(channels)))
    if query and fts_query(query):
        stmt = stmt.where(
            Event.id.in_(
                select(text("rowid"))
                .select_from(text("event_fts"))
                .where(text("event_fts MATCH :q"))
            )
        ).params(q=fts_query(query))
    return stmt


def timeline(
    session: Session,
    customer_id: int,
    *,
    offset: int = 0,
    limit: int = 200,
    channels: Sequence[str] | None = None,
    query: str | None = None,
    oldest_first: bool = False,
) -> list[EventRow]:
    """A page of a customer's events, newest first (or oldest first)."""
    cid = survivor_id(session, customer_id)
    stmt = _timeline_stmt(cid, channels, query)
    order = (
        (Event.occurred_at.asc(), Event.id.asc())
        if oldest_first
        else (Event.occurred_at.desc(), Event.id.desc())
    )
    # Orders and their lines in two queries per page, not one per event.
    stmt = stmt.options(selectinload(Event.order).selectinload(Order.lines))
    events = list(session.scalars(stmt.order_by(*order).offset(offset).limit(limit)))
    return _event_rows(session, events)


def timeline_count(
    session: Session,
    customer_id: int,
    *,
    channels: Sequence[str] | None = None,
    query: str | None = None,
) -> int:
    """How many events ``timeline`` would page through."""
    cid = survivor_id(session, customer_id)
    sub = _timeline_stmt(cid, channels, query).subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


def _event_rows(session: Session, events: Sequence[Event]) -> list[EventRow]:
    ids = [e.id for e in events]
    authors: dict[int, str] = {}
    people: dict[int, list[tuple[str, str, str]]] = {}
    emails = {e.id for e in events if e.channel == "email"}
    if ids:
        for eid, role, name, raw, value in session.execute(
            select(
                EventParticipant.event_id,
                EventParticipant.role,
                EventParticipant.name,
                Identity.raw,
                Identity.value,
            )
            .join(Identity, Identity.id == EventParticipant.identity_id)
            .where(
                EventParticipant.event_id.in_(ids),
                EventParticipant.role.in_(("from", "author", "buyer", "to", "cc")),
            )
            .order_by(EventParticipant.event_id, Identity.id)
        ):
            if role in ("from", "author", "buyer"):
                authors.setdefault(eid, name or raw)
            if eid in emails and role in ("from", "to", "cc"):
                people.setdefault(eid, []).append((role, name or "", raw or value))
    rows = []
    for e in events:
        o = e.order
        order = None
        if o is not None:
            order = OrderRow(
                number=o.number,
                platform=o.platform,
                currency=o.currency,
                total=o.total,
                subtotal=o.subtotal,
                shipping=o.shipping,
                tax=o.tax,
                discount=o.discount,
                refunded=o.refunded,
                financial_status=o.financial_status,
                fulfillment_status=o.fulfillment_status,
                lines=tuple(
                    OrderLineRow(ln.name, ln.sku, ln.quantity, ln.unit_price) for ln in o.lines
                ),
            )
        rows.append(
            EventRow(
                id=e.id,
                channel=e.channel,
                direction=e.direction,
                occurred_at=e.occurred_at,
                title=e.title,
                text=e.body,
                source=e.source,
                locator=e.locator,
                thread_key=e.thread_key,
                author=authors.get(e.id, ""),
                details=dict(e.details or {}),
                order=order,
                people=tuple(people.get(e.id, ())),
            )
        )
    return rows


def event_position(session: Session, customer_id: int, event_id: int) -> int | None:
    """The row of an event in the customer's newest-first timeline, or None."""
    target = session.get(Event, event_id)
    if target is None:
        return None
    cid = survivor_id(session, customer_id)
    newer = session.scalar(
        select(func.count()).select_from(
            _timeline_stmt(cid, None, None)
            .where(
                or_(
                    Event.occurred_at > target.occurred_at,
                    and_(Event.occurred_at == target.occurred_at, Event.id > target.id),
                )
            )
            .subquery()
        )
    )
    return int(newer or 0)


# --- notes -------------------------------------------------------------------------------


def notes(session: Session, customer_id: int) -> list[NoteRow]:
    """A customer's notes, pinned first, then newest first."""
    cid = survivor_id(session, customer_id)
    rows = session.scalars(
        select(Note)
        .where(Note.customer_id == cid)
        .order_by(Note.pinned.desc(), Note.created_at.desc(), Note.id.desc())
    )
    return [
        NoteRow(n.id, n.customer_id, n.body, n.author, n.pinned, n.created_at, n.updated_at)
        for n in rows
    ]


# --- full-text search --------------------------------------------------------------------


def search(
    session: Session, query: str, *, limit: int = 50, customer_id: int | None = None
) -> list[SearchHit]:
    """Events whose title, text or people match every word of ``query`` (best first)."""
    q = fts_query(query)
    if not q or session.get_bind().dialect.name != "sqlite":
        return []
    sql = (
        "SELECT rowid, snippet(event_fts, -1, char(2), char(3), '…', 16) "
        "FROM event_fts WHERE event_fts MATCH :q ORDER BY rank LIMIT :lim"
    )
    params: dict[str, Any] = {"q": q, "lim": limit if customer_id is None else 100000}
    try:
        hits = session.execute(text(sql), params).all()
    except OperationalError as exc:  # FTS5 refuses the query (it should not: words are quoted)
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "refused"
        raise UserFacingError(f"cannot search for that: {reason}") from None
    if customer_id is not None:
        allowed = set(session.scalars(_customer_events(survivor_id(session, customer_id))))
        hits = [h for h in hits if h[0] in allowed][:limit]
    ids = [h[0] for h in hits]
    events = {e.id: e for e in session.scalars(select(Event).where(Event.id.in_(ids)))}
    owners: dict[int, int] = {}
    for eid, cid in session.execute(
        select(EventParticipant.event_id, CI.customer_id)
        .join(CI, CI.identity_id == EventParticipant.identity_id)
        .where(EventParticipant.event_id.in_(ids))
        .order_by(EventParticipant.event_id, CI.identity_id)
    ):
        owners.setdefault(eid, cid)
    survivors = {cid: survivor_id(session, cid) for cid in set(owners.values())}
    names: dict[int, str] = {
        cid: name
        for cid, name in session.execute(
            select(Customer.id, Customer.display_name).where(Customer.id.in_(survivors.values()))
        )
    }
    out: list[SearchHit] = []
    for eid, snippet in hits:
        ev = events.get(eid)
        if ev is None:
            continue
        hit_customer = survivors.get(owners[eid]) if eid in owners else None
        out.append(
            SearchHit(
                eid,
                hit_customer,
                names.get(hit_customer, "") if hit_customer else "",
                ev.channel,
                ev.occurred_at,
                ev.title,
                snippet or "",
            )
        )
    return out
