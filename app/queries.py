"""Read-side queries: customers, profiles, timeline pages, notes and full-text search.

Every function takes a ``Session`` and returns plain frozen rows (never ORM
objects), so the UI and the CLI can hold them after the session closes and on
any thread.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, and_, bindparam, column, exists, func, or_, select, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from app import dialect, lookup_sql, rows, search_syntax, summary
from app.customer_events import customer_events
from app.errors import AmbiguousError, NotFoundError, UserFacingError
from app.identity import normalize_email, normalize_phone, phone_search_digits
from app.merged import survivor_id as survivor_id
from app.models import (
    Customer,
    Event,
    EventParticipant,
    Identity,
    Note,
    Order,
    OrderLine,
    UTCDateTime,
)
from app.models import CustomerIdentity as CI
from app.settings import get as get_setting
from app.summary import VOID_STATUSES as VOID_STATUSES

# The rows and the bounds of a query live in app.rows (no SQLAlchemy: the CLI's lean read
# path builds them too); they are still read from here.
HL_END = rows.HL_END
HL_START = rows.HL_START
MAX_QUERY_CHARS = rows.MAX_QUERY_CHARS
MAX_QUERY_WORDS = rows.MAX_QUERY_WORDS
CustomerRow = rows.CustomerRow
EventRow = rows.EventRow
IdentityRow = rows.IdentityRow
NoteRow = rows.NoteRow
OrderFigures = rows.OrderFigures
OrderLineRow = rows.OrderLineRow
OrderRow = rows.OrderRow
SearchHit = rows.SearchHit
check_query = rows.check_query
excerpt = rows.excerpt
order_details = rows.order_details
query_words = rows.query_words

# --- customers ---------------------------------------------------------------------------


def _digit_runs(session: Session, q: str) -> list[str]:
    """The digit runs a query that is mostly digits stands for (a phone in any form)."""
    digits = re.sub(r"\D", "", q)
    if len(digits) >= 3 and len(digits) >= len(q.replace(" ", "")) // 2:
        # "07700 900123" with region GB is stored as 447700900123: look for both forms.
        return phone_search_digits(q, get_setting(session, "region"))
    return []


LOOKUP_IDENTITY, LOOKUP_CUSTOMER, LOOKUP_ORDER = (
    dialect.LOOKUP_IDENTITY,
    dialect.LOOKUP_CUSTOMER,
    dialect.LOOKUP_ORDER,
)


def lookup_match(session: Session, fragment: str) -> dialect.Lookup | None:
    """What a typed fragment looks for, or None (nothing to find).

    Three characters or more: any substring (trigram table or index), with a phone's
    other written forms (``07700`` also as ``447700``); fewer: a word prefix.
    """
    q = fragment.strip()[:MAX_QUERY_CHARS]
    if not re.search(r"\w", q):
        return None
    if len(q) >= 3:
        alternatives = dict.fromkeys(
            [q, *(run for run in _digit_runs(session, q) if len(run) >= 3)]
        )
        return dialect.Lookup("fragment", tuple(alternatives))
    if not dialect.tokens(q):
        return None  # "_": no word to start
    return dialect.Lookup("prefix", (q,))


def _lookup_customers_sql(store: dialect.StoreDialect, found: dialect.Lookup, param: str) -> str:
    """SQL: the customers (merged ones included) whose name, contact point or order matches."""
    return (
        "SELECT ci.customer_id FROM customer_identity ci WHERE ci.identity_id IN ("
        f"{store.lookup_sql(found, LOOKUP_IDENTITY, param)}) "
        f"UNION {store.lookup_sql(found, LOOKUP_CUSTOMER, param)} "
        "UNION SELECT ci.customer_id FROM event_participant ep "
        "JOIN customer_identity ci ON ci.identity_id = ep.identity_id "
        f"WHERE ep.event_id IN ({store.lookup_sql(found, LOOKUP_ORDER, param)})"
    )


def _customer_select(session: Session, query: str) -> Select[int] | None:
    """Customers matching ``query``; None when the query cannot match anyone."""
    stmt = select(Customer.id).where(
        Customer.merged_into_id.is_(None),
        exists().where(CI.customer_id == Customer.id),
    )
    if not query.strip():
        return stmt
    found = lookup_match(session, query)
    if found is None:
        return None
    store = dialect.for_bind(session)
    candidates = (
        text(_lookup_customers_sql(store, found, "m"))
        .bindparams(m=store.lookup_value(found))
        .columns(column("cid", Integer))
    )
    return stmt.where(Customer.id.in_(candidates))


def _sqlite_lookup(session: Session, query: str) -> tuple[str, dict[str, Any]] | None:
    """SQLite: the lookup table and bound MATCH of ``query`` (``app.lookup_sql``)."""
    found = lookup_match(session, query)
    if found is None:
        return None
    table = "lookup_fts" if found.mode == "fragment" else "lookup_words"
    return table, {"m": dialect.for_bind(session).lookup_value(found)}


def _many(session: Session, table: str, params: dict[str, Any]) -> bool:
    """Whether more than ``lookup_sql.FEW`` lookup rows match (counted no further)."""
    return int(session.scalar(text(lookup_sql.few_sql(table)), params) or 0) > lookup_sql.FEW


def count_customers(session: Session, query: str = "") -> int:
    """How many customers match ``query`` (all when empty)."""
    if query.strip() and dialect.for_bind(session).name == "sqlite":
        looked = _sqlite_lookup(session, query)
        if looked is None:
            return 0
        table, params = looked
        return int(session.scalar(text(lookup_sql.count_sql(table)), params) or 0)
    stmt = _customer_select(session, query)
    if stmt is None:
        return 0
    sub = stmt.subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


def list_customers(
    session: Session, query: str = "", *, offset: int = 0, limit: int = 100
) -> list[CustomerRow]:
    """Customers matching ``query`` by name, email, phone digits or order number.

    Most recent contact first; exact contact-point matches rank first. On SQLite the page
    comes from ``app.lookup_sql``, which stops at the page's end when thousands match.
    """
    q = query.strip()[:MAX_QUERY_CHARS]
    if q and dialect.for_bind(session).name == "sqlite":
        looked = _sqlite_lookup(session, query)
        if looked is None:
            return []
        table, params = looked
        many = _many(session, table, params)
        ids = list(
            session.scalars(
                text(lookup_sql.page_sql(table, many=many)),
                {**params, "limit": limit, "offset": offset},
            )
        )
    else:
        stmt = _customer_select(session, query)
        if stmt is None:
            return []
        ids = list(
            session.scalars(
                stmt.order_by(Customer.last_seen.desc().nulls_last(), Customer.id.desc())
                .offset(offset)
                .limit(limit)
            )
        )
    exact: list[int] = []
    if q and offset == 0:
        exact = _exact_matches(session, q)
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
    # Plain rows, not ORM objects: a page of 200 customers stays within a few ms.
    customers = {
        c.id: c
        for c in session.execute(
            select(
                Customer.id,
                Customer.display_name,
                Customer.event_count,
                Customer.first_seen,
                Customer.last_seen,
                Customer.profile,
            ).where(Customer.id.in_(ids))
        )
    }
    idents: dict[int, list[Any]] = defaultdict(list)
    for ident in session.execute(
        select(
            CI.customer_id,
            Identity.id,
            Identity.kind,
            Identity.platform,
            Identity.value,
            Identity.raw,
            Identity.first_seen_source,
        )
        .join(Identity, Identity.id == CI.identity_id)
        .where(CI.customer_id.in_(ids))
        .order_by(Identity.id)
    ):
        idents[ident.customer_id].append(ident)
    figures = summary.profiles(session, customers)  # stored, or counted when not yet
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
                channels=figures[cid].channels,
                orders=figures[cid].orders,
            )
        )
    return rows


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
    theirs = customer_events([customer_id]).subquery()
    return select(theirs.c.event_id)


def fts_query(query: str) -> str:
    """A safe FTS5 query: every word must appear, each as a prefix.

    Repeated words count once and the words are bounded (``query_words``), so
    the cost of a query stays bounded whatever is typed.
    """
    return dialect.StoreDialect().words_value(query_words(query))


def _timeline_stmt(
    store: dialect.StoreDialect,
    customer_id: int,
    channels: Sequence[str] | None,
    query: str | None,
) -> Select[Event]:
    stmt = select(Event).where(Event.id.in_(_customer_events(customer_id)))
    if channels:
        stmt = stmt.where(Event.channel.in_(list(channels)))
    words = query_words(query or "")
    if words:
        stmt = stmt.where(
            Event.id.in_(text(store.match_sql("q")).columns(column("id", Integer)))
        ).params(q=store.words_value(words))
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
    stmt = _timeline_stmt(dialect.for_bind(session), cid, channels, query)
    order = (
        (Event.occurred_at.asc(), Event.id.asc())
        if oldest_first
        else (Event.occurred_at.desc(), Event.id.desc())
    )
    # Plain rows (Core), not ORM objects: a page is read on a reader thread while the GUI
    # thread scrolls, and every moment that reader spends in Python holds the interpreter
    # lock the GUI thread needs to paint. Building ORM instances (identity map, instance
    # state, relationship loading) cost about three times what the rows themselves do.
    page = stmt.with_only_columns(*_EVENT_COLUMNS).order_by(*order).offset(offset).limit(limit)
    return _event_rows(session, session.execute(page).all())


# What a timeline row reads of an event, in ``_event_rows``'s order.
_EVENT_COLUMNS = (
    Event.id,
    Event.channel,
    Event.direction,
    Event.occurred_at,
    Event.title,
    Event.body,
    Event.source,
    Event.locator,
    Event.thread_key,
    Event.details,
)


def timeline_count(
    session: Session,
    customer_id: int,
    *,
    channels: Sequence[str] | None = None,
    query: str | None = None,
) -> int:
    """How many events ``timeline`` would page through."""
    cid = survivor_id(session, customer_id)
    sub = _timeline_stmt(dialect.for_bind(session), cid, channels, query).subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


def _orders_of(session: Session, ids: Sequence[int]) -> dict[int, OrderRow]:
    """The orders (with their lines, in order) of those of ``ids`` that are orders."""
    if not ids:
        return {}
    lines: dict[int, list[OrderLineRow]] = defaultdict(list)
    found = session.execute(
        select(
            Order.event_id,
            Order.number,
            Order.platform,
            Order.currency,
            Order.total,
            Order.subtotal,
            Order.shipping,
            Order.tax,
            Order.discount,
            Order.refunded,
            Order.financial_status,
            Order.fulfillment_status,
        ).where(Order.event_id.in_(ids))
    ).all()
    if found:
        for oid, name, sku, quantity, price in session.execute(
            select(
                OrderLine.order_event_id,
                OrderLine.name,
                OrderLine.sku,
                OrderLine.quantity,
                OrderLine.unit_price,
            )
            .where(OrderLine.order_event_id.in_([o[0] for o in found]))
            .order_by(OrderLine.order_event_id, OrderLine.position)
        ):
            lines[oid].append(OrderLineRow(name, sku, quantity, price))
    return {
        eid: OrderRow(
            number=number,
            platform=platform,
            currency=currency,
            total=total,
            subtotal=subtotal,
            shipping=shipping,
            tax=tax,
            discount=discount,
            refunded=refunded,
            financial_status=financial,
            fulfillment_status=fulfillment,
            lines=tuple(lines.get(eid, ())),
        )
        for (
            eid,
            number,
            platform,
            currency,
            total,
            subtotal,
            shipping,
            tax,
            discount,
            refunded,
            financial,
            fulfillment,
        ) in found
    }


def _event_rows(session: Session, events: Sequence[Any]) -> list[EventRow]:
    """``EventRow``s of rows of ``_EVENT_COLUMNS``: who wrote each, an email's people and
    an order's figures and lines in one query each for the whole page."""
    ids = [e[0] for e in events]
    authors: dict[int, str] = {}
    people: dict[int, list[tuple[str, str, str]]] = {}
    emails = {e[0] for e in events if e[1] == "email"}
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
    orders = _orders_of(session, ids)
    return [
        EventRow(
            id=eid,
            channel=channel,
            direction=direction,
            occurred_at=occurred_at,
            title=title,
            text=body,
            source=source,
            locator=locator,
            thread_key=thread_key,
            author=authors.get(eid, ""),
            details=rows.event_details(details),
            order=orders.get(eid),
            people=tuple(people.get(eid, ())),
        )
        for (
            eid,
            channel,
            direction,
            occurred_at,
            title,
            body,
            source,
            locator,
            thread_key,
            details,
        ) in events
    ]


def event_position(session: Session, customer_id: int, event_id: int) -> int | None:
    """The row of an event in the customer's newest-first timeline, or None."""
    target = session.get(Event, event_id)
    if target is None:
        return None
    cid = survivor_id(session, customer_id)
    newer = session.scalar(
        select(func.count()).select_from(
            _timeline_stmt(dialect.for_bind(session), cid, None, None)
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


_CHANNEL_ALIASES = {"mail": "email", "emails": "email", "chats": "chat", "orders": "order"}
_SENDER_ROLES = "('from', 'author', 'buyer')"


@dataclass
class _SearchSQL:
    """The WHERE conditions over ``event e`` that a parsed query asks for, with parameters."""

    conds: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return name


def _search_conditions(
    session: Session, parsed: search_syntax.SearchQuery, customer_id: int | None
) -> _SearchSQL | None:
    """SQL conditions for the filters and number fragments; None: nothing can match."""
    out = _SearchSQL()
    store = dialect.for_bind(session)
    for term in parsed.terms:
        fragment = term.fragment
        if not fragment:
            continue
        # Words with digits: also inside phone and order numbers (trigram lookup).
        found = lookup_match(session, fragment)
        words = out.param(store.match_value((term,)))
        parts = [store.match_sql(words)]
        if found is not None:
            m = out.param(store.lookup_value(found))
            parts.append(
                "SELECT ep.event_id FROM event_participant ep WHERE ep.identity_id IN ("
                f"{store.lookup_sql(found, LOOKUP_IDENTITY, m)})"
            )
            parts.append(store.lookup_sql(found, LOOKUP_ORDER, m))
        out.conds.append(f"e.id IN ({' UNION '.join(parts)})")
    for sender in parsed.senders:
        found = lookup_match(session, sender)
        if found is None:
            return None
        m = out.param(store.lookup_value(found))
        out.conds.append(
            "e.id IN (SELECT ep.event_id FROM event_participant ep "
            f"WHERE ep.role IN {_SENDER_ROLES} AND ep.identity_id IN ("
            f"{store.lookup_sql(found, LOOKUP_IDENTITY, m)} UNION "
            "SELECT ci.identity_id FROM customer_identity ci WHERE ci.customer_id IN ("
            f"{store.lookup_sql(found, LOOKUP_CUSTOMER, m)})))"
        )
    if parsed.channels:
        channels = [_CHANNEL_ALIASES.get(c, c) for c in parsed.channels]
        kinds = [c for c in channels if c in search_syntax.CHANNELS]
        sources = [c for c in channels if c not in search_syntax.CHANNELS]
        for source in sources:
            known = session.execute(
                text("SELECT 1 FROM event WHERE source = :s LIMIT 1"), {"s": source}
            ).first()
            if known is None:
                raise search_syntax.SearchSyntaxError(
                    f"channel:{source} is not a channel: use email, chat, order or the "
                    "source of an import (whatsapp, shopify, …)"
                )
        either = []
        if kinds:
            either.append(f"e.channel IN :{out.param(kinds)}")
        if sources:
            either.append(f"e.source IN :{out.param(sources)}")
        out.conds.append("(" + " OR ".join(either) + ")")
    if parsed.after is not None:
        out.conds.append(f"e.occurred_at >= :{out.param(parsed.after)}")
    if parsed.before is not None:
        out.conds.append(f"e.occurred_at < :{out.param(parsed.before)}")
    for number in parsed.orders:
        found = lookup_match(session, number)
        if found is None:
            return None
        m = out.param(store.lookup_value(found))
        orders = store.lookup_sql(found, LOOKUP_ORDER, m)
        # the order itself, and the messages that name it (``mention``, keyed by order_key)
        out.conds.append(
            f"e.id IN ({orders} UNION SELECT mn.event_id FROM mention mn "
            "WHERE mn.kind = 'order' AND mn.value IN (SELECT upper(replace(replace("
            f"oi.number, '#', ''), ' ', '')) FROM order_info oi WHERE oi.event_id IN ({orders})))"
        )
    if parsed.excluded and not any(not t.fragment for t in parsed.terms):
        # no ranked words to hang "NOT" on: leave the excluded words' events out
        x = out.param(store.any_value(parsed.excluded))
        out.conds.append(f"e.id NOT IN ({store.match_sql(x)})")
    if customer_id is not None:
        theirs = customer_events([survivor_id(session, customer_id)])
        sql = theirs.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        out.conds.append(f"e.id IN (SELECT theirs.event_id FROM ({sql}) AS theirs)")
    return out


# Ranking reads every match's statistics: past this many matches (a common word in a big
# database), the newest-stored ones are ranked, so the first page stays fast at any size.
RANK_WINDOW = 1000


def _search_statement(
    store: dialect.StoreDialect,
    parsed: search_syntax.SearchQuery,
    where: _SearchSQL,
    limit: int,
    *,
    whole: bool = False,
) -> tuple[Any, bool]:
    """The SQL of the candidates of one page, and whether they are to be ranked.

    Ranked: (id, 0) of the newest-stored ``RANK_WINDOW`` matches;
    else (id, 0) of one page, newest first.
    """
    words = tuple(t for t in parsed.terms if not t.fragment)
    conds = list(where.conds)
    params = dict(where.params)
    if words:
        params["q"] = store.match_value(words, parsed.excluded, whole=whole)
        params["lim"] = max(limit, RANK_WINDOW)
        sql = store.candidates_sql("q", conds)
        ranked = True
    else:
        params["lim"] = limit
        sql = (
            "SELECT e.id, 0 FROM event e"
            + (" WHERE " + " AND ".join(conds) if conds else "")
            + " ORDER BY e.occurred_at DESC, e.id DESC LIMIT :lim"
        )
        ranked = False
    expanding = [k for k, v in params.items() if isinstance(v, list)]
    dates = [k for k, v in params.items() if isinstance(v, datetime)]
    stmt = text(sql).bindparams(
        *(bindparam(k, expanding=True) for k in expanding),
        *(bindparam(k, type_=UTCDateTime()) for k in dates),
    )
    return stmt.params(**params), ranked


def _ranked_page(
    session: Session,
    parsed: search_syntax.SearchQuery,
    where: _SearchSQL,
    limit: int,
    *,
    whole: bool,
) -> list[tuple[int, str]]:
    """(event id, snippet) of one page, best first (or newest first without words)."""
    store = dialect.for_bind(session)
    stmt, ranked = _search_statement(store, parsed, where, limit, whole=whole)
    found = [int(r[0]) for r in session.execute(stmt)]
    if not ranked:
        return [(eid, "") for eid in found[:limit]]
    words = tuple(t for t in parsed.terms if not t.fragment)
    # Ranked (bm25 on SQLite, ts_rank_cd on PostgreSQL) over the single words: a phrase's
    # own statistics would make FTS5 find every occurrence of the phrase in the whole
    # index first. Phrases alone are precise enough: newest first (as found).
    loose = tuple(t for t in words if not t.phrase)
    if loose:
        scores = store.scores(session, store.match_value(loose, whole=whole), found)
        found.sort(key=lambda eid: (scores.get(eid, 0.0), -eid))  # lower is better
    found = found[:limit]
    match = store.match_value(words, parsed.excluded, whole=whole)
    snippets = store.snippets(session, match, found)
    return [(eid, snippets.get(eid, "")) for eid in found]


def survivors(session: Session, customer_ids: Sequence[int] | set[int]) -> dict[int, int]:
    """``survivor_id`` of many customers at once (one query per step of merge chains)."""
    out = {cid: cid for cid in customer_ids}
    for _ in range(64):  # a chain longer than this is a loop: stop where we are
        current = set(out.values())
        if not current:
            break
        moved: dict[int, int] = {
            cid: into
            for cid, into in session.execute(
                select(Customer.id, Customer.merged_into_id).where(
                    Customer.id.in_(current), Customer.merged_into_id.is_not(None)
                )
            )
            if into is not None
        }
        if not moved:
            break
        out = {cid: moved.get(now, now) for cid, now in out.items()}
    return out


def search(
    session: Session,
    query: str,
    *,
    limit: int = 50,
    customer_id: int | None = None,
    now: datetime | None = None,
) -> list[SearchHit]:
    """Events matching ``query`` in the search syntax of ``app.search_syntax`` (best first).

    Words rank by relevance (bm25 on SQLite, ts_rank_cd on PostgreSQL: ``app.dialect``)
    with the matches marked in the snippet (when more than ``RANK_WINDOW`` events
    match, the newest-stored of them are ranked; a search of phrases alone lists the
    newest-stored first).
    Messages with the whole words come first; when they are fewer than ``limit``,
    messages with words starting with them follow. A query of filters and number
    fragments alone lists the newest first.

    Raises:
        SearchSyntaxError: the query cannot be read (one line, fit to show).
    """
    parsed = search_syntax.parse(query, now=now)
    if parsed.empty:
        return []
    where = _search_conditions(session, parsed, customer_id)
    if where is None:
        return []
    words = tuple(t for t in parsed.terms if not t.fragment)
    try:
        # Whole words first: a prefix makes FTS5 read every match of every word it
        # expands to, which at a million messages costs more than the whole page.
        hits = _ranked_page(session, parsed, where, limit, whole=True)
        if words and len(hits) < limit and search_syntax.has_prefixes(words):
            seen = {eid for eid, _ in hits}
            more = _ranked_page(session, parsed, where, limit, whole=False)
            hits += [h for h in more if h[0] not in seen][: limit - len(hits)]
    except (OperationalError, ProgrammingError) as exc:  # refused (it should not be: quoted)
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "refused"
        raise UserFacingError(f"cannot search for that: {reason}") from None
    ids = [h[0] for h in hits]
    events = {e.id: e for e in session.scalars(select(Event).where(Event.id.in_(ids)))}
    owners: dict[int, int] = {}
    # Whose event: by the one rule of app.customer_events (a message through a shared
    # contact point that is plainly someone else's is not the other customers').
    theirs = customer_events(event_ids=ids).subquery("theirs")
    for eid, cid in session.execute(
        select(EventParticipant.event_id, CI.customer_id)
        .join(CI, CI.identity_id == EventParticipant.identity_id)
        .join(
            theirs,
            and_(
                theirs.c.customer_id == CI.customer_id,
                theirs.c.event_id == EventParticipant.event_id,
            ),
        )
        .where(EventParticipant.event_id.in_(ids))
        .order_by(EventParticipant.event_id, CI.identity_id)
    ):
        owners.setdefault(eid, cid)
    alive = survivors(session, set(owners.values()))
    names: dict[int, str] = {
        cid: name
        for cid, name in session.execute(
            select(Customer.id, Customer.display_name).where(Customer.id.in_(alive.values()))
        )
    }
    marks = [w for t in parsed.terms for w in t.words]
    out: list[SearchHit] = []
    for eid, snippet in hits:
        ev = events.get(eid)
        if ev is None:
            continue
        hit_customer = alive.get(owners[eid]) if eid in owners else None
        if not snippet:
            snippet = excerpt(ev.body or ev.title, marks)
        out.append(
            SearchHit(
                eid,
                hit_customer,
                names.get(hit_customer, "") if hit_customer else "",
                ev.channel,
                ev.occurred_at,
                ev.title,
                snippet,
            )
        )
    return out
