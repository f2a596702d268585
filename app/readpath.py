"""The lean read path: customers, one customer and search straight from a SQLite file.

A read-only CLI command (``customers``, ``show``, ``search``) should answer at once, and
importing SQLAlchemy and the ORM models costs several times more than the query itself.
``Reader`` asks the same questions as ``app.queries`` and ``app.brief`` with the standard
``sqlite3`` module, in one read transaction, and builds the same rows (``app.rows``), so
the JSON is byte for byte what the full path writes (tests/test_readpath.py compares the
two on the same database).

It answers only what it can answer exactly. ``Fallback`` is raised where it cannot (a
profile whose figures were never stored) and the caller, ``app.service.LeanService``,
then asks the full path: the ``Service`` methods it inherits, on a database opened
through ``app.db`` on first use. A server URL, a file that does not exist yet, and a
schema that is not the newest (it would need an upgrade) never take the lean path.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from app import lookup_sql, rows, settings
from app.brief_lines import Brief, LastContact, LastOrder, Wait, compose
from app.contact_points import normalize_email, normalize_phone, phone_search_digits
from app.dbfile import check_file, scanned_head, user_error
from app.errors import AmbiguousError, NotFoundError, UserFacingError
from app.rows import (
    MAX_QUERY_CHARS,
    CustomerRow,
    EventRow,
    IdentityRow,
    NoteRow,
    OrderFigures,
    OrderLineRow,
    OrderRow,
    SearchHit,
)

if TYPE_CHECKING:
    from app import search_syntax

#: Rows read per query when a command wants everything (as ``app.service`` reads them).
_CHUNK = 500
# Kinds of lookup rows (rowid = id * 4 + kind), kept by the triggers of migration 0011.
LOOKUP_IDENTITY, LOOKUP_CUSTOMER, LOOKUP_ORDER = 0, 1, 2
# Ranking reads every match's statistics: as app.queries.RANK_WINDOW.
RANK_WINDOW = 1000
_CHANNEL_ALIASES = {"mail": "email", "emails": "email", "chats": "chat", "orders": "order"}
_SENDER_ROLES = "('from', 'author', 'buyer')"


class Fallback(Exception):
    """The lean path cannot answer this exactly: the full path will."""


def sqlite_file(path_or_url: str | Path) -> Path | None:
    """The SQLite file a path or URL names (as ``app.db.url_for`` reads it), else None."""
    text = str(path_or_url)
    if "://" not in text:
        return Path(text).expanduser().resolve()
    if text.startswith("sqlite:///") and "?" not in text:
        return Path(text.removeprefix("sqlite:///"))
    return None


# --- stored values, as the ORM's column types read them ----------------------------------


def _time(value: Any) -> datetime | None:
    """A ``UTCDateTime`` column: naive UTC text, aware UTC out."""
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _when(value: Any) -> datetime:
    moment = _time(value)
    if moment is None:
        raise Fallback("a required time is missing")
    return moment


def _stored_time(value: datetime) -> str:
    """A ``UTCDateTime`` parameter as SQLAlchemy's SQLite dialect writes it."""
    return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _decimal(value: Any) -> Decimal | None:
    """A ``DecimalText`` column."""
    return None if value is None else Decimal(value)


def _details(value: Any) -> dict[str, Any]:
    """A ``JSONText`` column, as ``rows.event_details(e.details)`` reads it."""
    if value is None:
        return {}
    loaded = json.loads(value)
    return rows.event_details(loaded if isinstance(loaded, dict) else {"value": loaded})


def _in(values: Sequence[Any]) -> str:
    """Placeholders for ``IN (…)``."""
    return "(" + ", ".join("?" * len(values)) + ")" if values else "(NULL)"


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _lookup_rows(table: str, kind: int, param: str = "m") -> str:
    return f"SELECT rowid / 4 FROM {table} WHERE {table} MATCH :{param} AND rowid % 4 = {kind}"


# The one rule of a customer's own events (app.customer_events), for the customers in ?s.
_CUSTOMER_EVENTS = """
SELECT DISTINCT ci.customer_id, ep.event_id
FROM customer_identity AS ci
JOIN event_participant AS ep ON ep.identity_id = ci.identity_id
JOIN customer AS me ON me.id = ci.customer_id
WHERE (
    NOT EXISTS (SELECT identity.id FROM identity
                WHERE identity.id = ci.identity_id AND identity.shared IS 1)
    OR (
        NOT EXISTS (
            SELECT other_ci.customer_id FROM customer_identity AS other_ci
            JOIN customer AS other ON other.id = other_ci.customer_id
            WHERE other_ci.identity_id = ci.identity_id
              AND other_ci.customer_id != ci.customer_id
              AND ep.name != ''
              AND lower(other.display_name) = lower(ep.name)
              AND lower(me.display_name) != lower(ep.name))
        AND NOT EXISTS (
            SELECT other_ep.identity_id FROM event_participant AS other_ep
            JOIN identity AS own ON own.id = other_ep.identity_id
            JOIN customer_identity AS other_ci ON other_ci.identity_id = own.id
            WHERE other_ep.event_id = ep.event_id
              AND other_ep.role = ep.role
              AND ep.role IN ('from', 'author', 'buyer')
              AND own.shared IS 0
              AND own.is_own IS 0
              AND other_ci.customer_id != ci.customer_id)))
  AND ci.customer_id IN {ids}
"""


class Reader:
    """Read-only questions to one SQLite file, in one read transaction (a snapshot)."""

    def __init__(self, path: Path, con: sqlite3.Connection) -> None:
        self.path = path
        self._con = con

    @classmethod
    def open(cls, path: Path) -> Reader | None:
        """A reader on ``path``; None when the lean path does not apply (a file that does not
        exist yet, or whose schema is not the newest).

        Raises:
            DamagedDatabaseError: the file fails ``quick_check``.
            UserFacingError: the file cannot be opened.
        """
        if not path.is_file() or path.stat().st_size == 0:
            return None
        from app.paths import private_database

        private_database(path)
        check_file(path)
        head = scanned_head()
        try:
            con = sqlite3.connect(path, timeout=10, isolation_level=None)
        except sqlite3.Error as exc:
            raise UserFacingError(f"cannot open the database {path}: {exc}") from exc
        try:
            con.execute("PRAGMA query_only=ON")
            con.execute("BEGIN")
            try:
                stored = [r[0] for r in con.execute("SELECT version_num FROM alembic_version")]
            except sqlite3.OperationalError:
                stored = []
        except sqlite3.Error as exc:
            con.close()
            raise user_error(exc, path) or UserFacingError(
                f"cannot open the database {path}: {exc}"
            ) from exc
        if head is None or stored != [head]:
            con.close()
            return None
        return cls(path, con)

    def close(self) -> None:
        self._con.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's failures (damaged, busy) as the one line the full path shows."""
        try:
            yield
        except sqlite3.Error as exc:
            error = user_error(exc, self.path)
            if error is None:
                raise
            raise error from None

    def _all(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        return self._con.execute(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        return self._con.execute(sql, params).fetchone()

    # --- settings ------------------------------------------------------------------------

    def setting(self, key: str) -> str:
        declared = settings.spec(key)
        row = self._one("SELECT value FROM setting WHERE key = ?", (key,))
        return str(row[0]) if row is not None else declared.default()

    def zone(self) -> ZoneInfo:
        with self._errors():
            return ZoneInfo(self.setting("timezone"))

    # --- customers -----------------------------------------------------------------------

    def survivor_id(self, customer_id: int) -> int:
        seen: set[int] = set()
        current = customer_id
        while current not in seen:
            seen.add(current)
            row = self._one("SELECT merged_into_id FROM customer WHERE id = ?", (current,))
            merged = row[0] if row is not None else None
            if merged is None:
                return current
            current = merged
        return current

    def _digit_runs(self, q: str) -> list[str]:
        digits = re.sub(r"\D", "", q)
        if len(digits) >= 3 and len(digits) >= len(q.replace(" ", "")) // 2:
            return phone_search_digits(q, self.setting("region"))
        return []

    def lookup_match(self, fragment: str) -> tuple[str, str] | None:
        q = fragment.strip()[:MAX_QUERY_CHARS]
        if not re.search(r"\w", q):
            return None
        if len(q) >= 3:
            alternatives = dict.fromkeys(
                [q, *(run for run in self._digit_runs(q) if len(run) >= 3)]
            )
            return "lookup_fts", " OR ".join(_quoted(a) for a in alternatives)
        return "lookup_words", _quoted(q) + "*"

    def _exact_matches(self, ref: str) -> list[int]:
        region = self.setting("region")
        values: list[tuple[str, str]] = []
        email = normalize_email(ref)
        if email:
            values.append(("email", email))
        phone = normalize_phone(ref, region)
        if phone:
            values.append(("phone", phone))
        found: list[int] = []
        for kind, value in values:
            for (cid,) in self._all(
                "SELECT customer_identity.customer_id FROM customer_identity "
                "JOIN identity ON identity.id = customer_identity.identity_id "
                "WHERE identity.kind = ? AND identity.value = ?",
                (kind, value),
            ):
                found.append(self.survivor_id(cid))
        number = ref if ref.startswith("#") else f"#{ref}"
        for num in dict.fromkeys((ref, number)):
            for (cid,) in self._all(
                "SELECT customer_identity.customer_id FROM customer_identity "
                "JOIN event_participant "
                "ON event_participant.identity_id = customer_identity.identity_id "
                "JOIN order_info ON order_info.event_id = event_participant.event_id "
                "WHERE order_info.number = ?",
                (num,),
            ):
                found.append(self.survivor_id(cid))
        return list(dict.fromkeys(found))

    def list_customers(
        self, query: str = "", *, offset: int = 0, limit: int = 100
    ) -> list[CustomerRow]:
        page = {"limit": limit, "offset": offset}
        if query.strip():
            found = self.lookup_match(query)
            if found is None:
                return []
            table, match = found
            many = self._one(lookup_sql.few_sql(table), {"m": match})[0] > lookup_sql.FEW
            sql = lookup_sql.page_sql(table, many=many)
            ids = [r[0] for r in self._all(sql, {"m": match, **page})]
        else:
            sql = (
                "SELECT customer.id FROM customer WHERE customer.merged_into_id IS NULL AND "
                "EXISTS (SELECT * FROM customer_identity "
                "WHERE customer_identity.customer_id = customer.id) "
                f"ORDER BY {lookup_sql.ORDER} LIMIT :limit OFFSET :offset"
            )
            ids = [r[0] for r in self._all(sql, page)]
        q = query.strip()[:MAX_QUERY_CHARS]
        exact: list[int] = []
        if q and offset == 0:
            exact = self._exact_matches(q)
        ordered = exact + [i for i in ids if i not in exact]
        return self.customers_by_id(ordered[:limit]) if ordered else []

    def all_customers(self, query: str = "") -> list[CustomerRow]:
        found: list[CustomerRow] = []
        with self._errors():
            while True:
                page = self.list_customers(query, offset=len(found), limit=_CHUNK)
                found.extend(page)
                if len(page) < _CHUNK:
                    return found

    def _profile(self, stored: Any) -> tuple[frozenset[str], OrderFigures, dict[str, Any]]:
        """A stored profile (``app.summary``'s JSON): channels, order figures, the brief's."""
        data = json.loads(stored) if stored else None
        if not isinstance(data, dict) or "orders" not in data or "brief" not in data:
            raise Fallback("figures not stored yet: the full path counts them")
        o = data["orders"]
        figures = OrderFigures(
            count=int(o["count"]),
            totals={cur: Decimal(v) for cur, v in o["totals"].items()},
            averages={cur: Decimal(v) for cur, v in o["averages"].items()},
            numbers=tuple(o["numbers"]),
            first_order=datetime.fromisoformat(o["first"]) if o["first"] else None,
            last_order=datetime.fromisoformat(o["last"]) if o["last"] else None,
        )
        return frozenset(data.get("channels", ())), figures, data["brief"]

    def customers_by_id(self, ids: Sequence[int]) -> list[CustomerRow]:
        if not ids:
            return []
        wanted = list(ids)
        customers = {
            r[0]: r
            for r in self._all(
                "SELECT id, display_name, event_count, first_seen, last_seen, profile "
                f"FROM customer WHERE id IN {_in(wanted)}",
                wanted,
            )
        }
        idents: dict[int, list[Any]] = defaultdict(list)
        for r in self._all(
            "SELECT customer_identity.customer_id, identity.id, identity.kind, "
            "identity.platform, identity.value, identity.raw, identity.first_seen_source "
            "FROM customer_identity JOIN identity ON identity.id = customer_identity.identity_id "
            f"WHERE customer_identity.customer_id IN {_in(wanted)} ORDER BY identity.id",
            wanted,
        ):
            idents[r[0]].append(r[1:])
        found: list[CustomerRow] = []
        for cid in wanted:
            c = customers.get(cid)
            if c is None:
                continue
            channels, orders, _brief = self._profile(c[5])
            mine = idents.get(cid, [])
            # (id, kind, platform, value, raw, first_seen_source)
            fallback = next((i[4] or i[3] for i in mine if i[1] != "platform_id"), "")
            found.append(
                CustomerRow(
                    id=c[0],
                    name=c[1] or fallback,
                    emails=tuple(i[3] for i in mine if i[1] == "email"),
                    phones=tuple(i[3] for i in mine if i[1] == "phone"),
                    handles=tuple(
                        f"{i[2]}:{i[4] or i[3]}" if i[2] else (i[4] or i[3])
                        for i in mine
                        if i[1] in ("handle", "platform_id")
                    ),
                    identities=tuple(IdentityRow(*i) for i in mine),
                    event_count=c[2],
                    first_seen=_time(c[3]),
                    last_seen=_time(c[4]),
                    channels=channels,
                    orders=orders,
                )
            )
        return found

    def customer(self, customer_id: int) -> CustomerRow:
        found = self.customers_by_id([self.survivor_id(customer_id)])
        if not found:
            raise NotFoundError(f"no customer {customer_id}")
        return found[0]

    def resolve_customer(self, ref: str) -> int:
        ref = ref.strip()
        if ref.isdigit() and self._one("SELECT id FROM customer WHERE id = ?", (int(ref),)):
            return self.survivor_id(int(ref))
        exact = self._exact_matches(ref)
        if len(exact) == 1:
            return exact[0]
        names = [
            r[0]
            for r in self._all(
                "SELECT customer.id FROM customer WHERE customer.merged_into_id IS NULL "
                "AND lower(customer.display_name) = ?",
                (ref.lower(),),
            )
        ]
        if len(names) == 1:
            return int(names[0])
        if len(names) > 1 or len(exact) > 1:
            shown = ", ".join(
                f"#{row.id} {row.name}" for row in self.customers_by_id((exact or names)[:10])
            )
            raise AmbiguousError(
                f"{ref!r} matches several customers ({shown}); use an id, email or phone"
            )
        raise NotFoundError(f"no customer matches {ref!r}")

    # --- one customer --------------------------------------------------------------------

    def timeline(self, customer_id: int) -> list[EventRow]:
        """A customer's whole timeline, newest first."""
        cid = self.survivor_id(customer_id)
        theirs = _CUSTOMER_EVENTS.format(ids="(?)")
        events = self._all(
            "SELECT id, channel, direction, occurred_at, title, body, source, locator, "
            f"thread_key, details FROM event WHERE id IN (SELECT event_id FROM ({theirs})) "
            "ORDER BY occurred_at DESC, id DESC",
            (cid,),
        )
        ids = [e[0] for e in events]
        authors: dict[int, str] = {}
        people: dict[int, list[tuple[str, str, str]]] = {}
        orders: dict[int, Any] = {}
        lines: dict[int, list[OrderLineRow]] = defaultdict(list)
        emails = {e[0] for e in events if e[1] == "email"}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            for eid, role, name, raw, value in self._all(
                "SELECT event_participant.event_id, event_participant.role, "
                "event_participant.name, identity.raw, identity.value FROM event_participant "
                "JOIN identity ON identity.id = event_participant.identity_id "
                f"WHERE event_participant.event_id IN {_in(chunk)} AND event_participant.role "
                "IN ('from', 'author', 'buyer', 'to', 'cc') "
                "ORDER BY event_participant.event_id, identity.id",
                chunk,
            ):
                if role in ("from", "author", "buyer"):
                    authors.setdefault(eid, name or raw)
                if eid in emails and role in ("from", "to", "cc"):
                    people.setdefault(eid, []).append((role, name or "", raw or value))
            for o in self._all(
                "SELECT event_id, number, platform, currency, total, subtotal, shipping, tax, "
                "discount, refunded, financial_status, fulfillment_status FROM order_info "
                f"WHERE event_id IN {_in(chunk)}",
                chunk,
            ):
                orders[o[0]] = o
            found = [eid for eid in chunk if eid in orders]
            for eid, name, sku, quantity, price in self._all(
                "SELECT order_event_id, name, sku, quantity, unit_price FROM order_line "
                f"WHERE order_event_id IN {_in(found)} ORDER BY position",
                found,
            ):
                lines[eid].append(OrderLineRow(name, sku, quantity, _decimal(price)))
        out: list[EventRow] = []
        for eid, channel, direction, at, title, body, source, locator, thread, details in events:
            o = orders.get(eid)
            order = None
            if o is not None:
                order = OrderRow(
                    number=o[1],
                    platform=o[2],
                    currency=o[3],
                    total=_decimal(o[4]),
                    subtotal=_decimal(o[5]),
                    shipping=_decimal(o[6]),
                    tax=_decimal(o[7]),
                    discount=_decimal(o[8]),
                    refunded=_decimal(o[9]),
                    financial_status=o[10],
                    fulfillment_status=o[11],
                    lines=tuple(lines.get(eid, ())),
                )
            out.append(
                EventRow(
                    id=eid,
                    channel=channel,
                    direction=direction,
                    occurred_at=_when(at),
                    title=title,
                    text=body,
                    source=source,
                    locator=locator,
                    thread_key=thread,
                    author=authors.get(eid, ""),
                    details=_details(details),
                    order=order,
                    people=tuple(people.get(eid, ())),
                )
            )
        return out

    def notes(self, customer_id: int) -> list[NoteRow]:
        cid = self.survivor_id(customer_id)
        return [
            NoteRow(r[0], r[1], r[2], r[3], bool(r[4]), _when(r[5]), _when(r[6]))
            for r in self._all(
                "SELECT id, customer_id, body, author, pinned, created_at, updated_at FROM note "
                "WHERE customer_id = ? ORDER BY pinned DESC, created_at DESC, id DESC",
                (cid,),
            )
        ]

    def brief(self, customer_id: int, *, now: datetime | None = None) -> Brief:
        now = now or datetime.now(UTC)
        tz = ZoneInfo(self.setting("timezone"))
        cid = self.survivor_id(customer_id)
        person = self._one(
            "SELECT display_name, first_seen, profile FROM customer WHERE id = ?", (cid,)
        )
        if person is None:
            raise NotFoundError(f"no customer {customer_id}")
        _channels, orders, figures = self._profile(person[2])
        who = person[0] or self._fallback_name(cid) or f"Customer #{cid}"
        last = None
        if figures["last_contact_event_id"] is not None:
            row = self._one(
                "SELECT id, channel, source, direction, occurred_at FROM event WHERE id = ?",
                (figures["last_contact_event_id"],),
            )
            if row is not None:
                last = LastContact(row[0], row[1], row[2], row[3], _when(row[4]))
        wait = None
        row = self._one(
            "SELECT since, event_id, channel, source, first_line, snoozed_until FROM waiting "
            "WHERE customer_id = ?",
            (cid,),
        )
        if row is not None:
            body = self._one("SELECT body FROM event WHERE id = ?", (row[1],))
            wait = Wait(
                _when(row[0]),
                row[1],
                row[2],
                row[3],
                row[4],
                _time(row[5]),
                (body[0] if body is not None else None) or "",
            )
        order = None
        if figures["last_order_event_id"] is not None:
            row = self._one(
                "SELECT o.event_id, o.number, o.currency, o.total, o.refunded, "
                "o.financial_status, o.fulfillment_status, e.occurred_at FROM order_info o "
                "JOIN event e ON e.id = o.event_id WHERE o.event_id = ?",
                (figures["last_order_event_id"],),
            )
            if row is not None:
                items = [
                    (str(n), int(q))
                    for n, q in self._all(
                        "SELECT name, quantity FROM order_line WHERE order_event_id = ? "
                        "ORDER BY position",
                        (row[0],),
                    )
                ]
                order = LastOrder(
                    row[0],
                    row[1],
                    row[2],
                    _decimal(row[3]),
                    _decimal(row[4]),
                    row[5],
                    row[6],
                    _when(row[7]),
                    items,
                )
        return compose(
            who=who,
            first_seen=_time(self._one("SELECT first_seen FROM customer WHERE id = ?", (cid,))[0]),
            order_count=orders.count,
            totals=orders.totals,
            sources={(str(c), str(s)): int(n) for c, s, n in figures["sources"]},
            languages={str(k): int(v) for k, v in figures["languages"].items()},
            last=last,
            wait=wait,
            order=order,
            now=now,
            tz=tz,
        )

    def _fallback_name(self, cid: int) -> str:
        row = self._one(
            "SELECT identity.raw, identity.value FROM identity JOIN customer_identity "
            "ON customer_identity.identity_id = identity.id "
            "WHERE customer_identity.customer_id = ? AND identity.kind != 'platform_id' "
            "ORDER BY identity.id LIMIT 1",
            (cid,),
        )
        return str(row[0] or row[1]) if row is not None else ""

    def open_customer(
        self, ref: str
    ) -> tuple[CustomerRow, tuple[EventRow, ...], tuple[NoteRow, ...], Brief]:
        """A customer by reference: profile, whole timeline, notes and brief."""
        with self._errors():
            cid = self.resolve_customer(ref)
            row = self.customer(cid)
            events = self.timeline(cid)
            notes = self.notes(cid)
            summary = self.brief(cid)
        return row, tuple(events), tuple(notes), summary

    # --- search --------------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 50) -> list[SearchHit]:
        from app import search_syntax

        with self._errors():
            parsed = search_syntax.parse(query)
            if parsed.empty:
                return []
            where = self._search_conditions(parsed)
            if where is None:
                return []
            words = tuple(t for t in parsed.terms if not t.fragment)
            try:
                hits = self._ranked_page(parsed, where, limit, whole=True)
                if words and len(hits) < limit and search_syntax.has_prefixes(words):
                    seen = {eid for eid, _ in hits}
                    more = self._ranked_page(parsed, where, limit, whole=False)
                    hits += [h for h in more if h[0] not in seen][: limit - len(hits)]
            except sqlite3.OperationalError as exc:
                reason = str(exc).splitlines()[0] if str(exc) else "refused"
                raise UserFacingError(f"cannot search for that: {reason}") from None
            return self._hits(parsed, hits)

    def _search_conditions(
        self, parsed: search_syntax.SearchQuery
    ) -> tuple[list[str], dict[str, Any]] | None:
        from app import search_syntax

        conds: list[str] = []
        params: dict[str, Any] = {}

        def param(value: Any) -> str:
            name = f"p{len(params)}"
            params[name] = value
            return name

        for term in parsed.terms:
            fragment = term.fragment
            if not fragment:
                continue
            found = self.lookup_match(fragment)
            words = param(search_syntax.fts_match((term,)))
            parts = [f"SELECT rowid FROM event_fts WHERE event_fts MATCH :{words}"]
            if found is not None:
                table, match = found
                m = param(match)
                parts.append(
                    "SELECT ep.event_id FROM event_participant ep WHERE ep.identity_id IN ("
                    f"{_lookup_rows(table, LOOKUP_IDENTITY, m)})"
                )
                parts.append(_lookup_rows(table, LOOKUP_ORDER, m))
            conds.append(f"e.id IN ({' UNION '.join(parts)})")
        for sender in parsed.senders:
            found = self.lookup_match(sender)
            if found is None:
                return None
            table, match = found
            m = param(match)
            conds.append(
                "e.id IN (SELECT ep.event_id FROM event_participant ep "
                f"WHERE ep.role IN {_SENDER_ROLES} AND ep.identity_id IN ("
                f"{_lookup_rows(table, LOOKUP_IDENTITY, m)} UNION "
                "SELECT ci.identity_id FROM customer_identity ci WHERE ci.customer_id IN ("
                f"{_lookup_rows(table, LOOKUP_CUSTOMER, m)})))"
            )
        if parsed.channels:
            channels = [_CHANNEL_ALIASES.get(c, c) for c in parsed.channels]
            kinds = [c for c in channels if c in search_syntax.CHANNELS]
            sources = [c for c in channels if c not in search_syntax.CHANNELS]
            for source in sources:
                if self._one("SELECT 1 FROM event WHERE source = ? LIMIT 1", (source,)) is None:
                    raise search_syntax.SearchSyntaxError(
                        f"channel:{source} is not a channel: use email, chat, order or the "
                        "source of an import (whatsapp, shopify, …)"
                    )
            either = []
            if kinds:
                either.append("e.channel IN (" + ", ".join(f":{param(k)}" for k in kinds) + ")")
            if sources:
                either.append("e.source IN (" + ", ".join(f":{param(s)}" for s in sources) + ")")
            conds.append("(" + " OR ".join(either) + ")")
        if parsed.after is not None:
            conds.append(f"e.occurred_at >= :{param(_stored_time(parsed.after))}")
        if parsed.before is not None:
            conds.append(f"e.occurred_at < :{param(_stored_time(parsed.before))}")
        for number in parsed.orders:
            found = self.lookup_match(number)
            if found is None:
                return None
            table, match = found
            m = param(match)
            orders = _lookup_rows(table, LOOKUP_ORDER, m)
            conds.append(
                f"e.id IN ({orders} UNION SELECT mn.event_id FROM mention mn "
                "WHERE mn.kind = 'order' AND mn.value IN (SELECT upper(replace(replace("
                f"oi.number, '#', ''), ' ', '')) FROM order_info oi "
                f"WHERE oi.event_id IN ({orders})))"
            )
        if parsed.excluded and not any(not t.fragment for t in parsed.terms):
            x = param(" OR ".join(search_syntax.fts_match((t,)) for t in parsed.excluded))
            conds.append(f"e.id NOT IN (SELECT rowid FROM event_fts WHERE event_fts MATCH :{x})")
        return conds, params

    def _ranked_page(
        self,
        parsed: search_syntax.SearchQuery,
        where: tuple[list[str], dict[str, Any]],
        limit: int,
        *,
        whole: bool,
    ) -> list[tuple[int, str]]:
        from app import search_syntax

        conds, params = list(where[0]), dict(where[1])
        words = tuple(t for t in parsed.terms if not t.fragment)
        if words:
            params["q"] = search_syntax.fts_match(words, parsed.excluded, whole=whole)
            params["lim"] = max(limit, RANK_WINDOW)
            sql = (
                "SELECT event_fts.rowid, 0 "
                "FROM event_fts JOIN event e ON e.id = event_fts.rowid "
                "WHERE event_fts MATCH :q"
                + "".join(f" AND {c}" for c in conds)
                + " ORDER BY event_fts.rowid DESC LIMIT :lim"
            )
        else:
            params["lim"] = limit
            sql = (
                "SELECT e.id, 0 FROM event e"
                + (" WHERE " + " AND ".join(conds) if conds else "")
                + " ORDER BY e.occurred_at DESC, e.id DESC LIMIT :lim"
            )
        found = [int(r[0]) for r in self._all(sql, params)]
        if not words:
            return [(eid, "") for eid in found[:limit]]
        loose = tuple(t for t in words if not t.phrase)
        if loose:
            scores = self._per_event(
                "bm25(event_fts)", search_syntax.fts_match(loose, whole=whole), found
            )
            found.sort(key=lambda eid: (float(scores.get(eid) or 0), -eid))
        found = found[:limit]
        match = search_syntax.fts_match(words, parsed.excluded, whole=whole)
        snippets = self._per_event(
            "snippet(event_fts, -1, char(2), char(3), '…', 16)", match, found
        )
        return [(eid, str(snippets.get(eid) or "")) for eid in found]

    def _per_event(self, expr: str, match: str, ids: Sequence[int]) -> dict[int, Any]:
        if not ids:
            return {}
        found = self._all(
            f"SELECT rowid, {expr} FROM event_fts "
            "WHERE event_fts MATCH :q AND rowid >= :lo AND rowid <= :hi "
            f"AND +rowid IN ({','.join(str(int(i)) for i in ids)})",
            {"q": match, "lo": min(ids), "hi": max(ids)},
        )
        return {int(r[0]): r[1] for r in found}

    def _survivors(self, customer_ids: set[int]) -> dict[int, int]:
        out = {cid: cid for cid in customer_ids}
        for _ in range(64):
            current = sorted(set(out.values()))
            if not current:
                break
            moved = {
                cid: into
                for cid, into in self._all(
                    "SELECT customer.id, customer.merged_into_id FROM customer "
                    f"WHERE customer.id IN {_in(current)} "
                    "AND customer.merged_into_id IS NOT NULL",
                    current,
                )
                if into is not None
            }
            if not moved:
                break
            out = {cid: moved.get(now, now) for cid, now in out.items()}
        return out

    def _hits(
        self, parsed: search_syntax.SearchQuery, hits: list[tuple[int, str]]
    ) -> list[SearchHit]:
        ids = [h[0] for h in hits]
        events = {
            r[0]: r
            for r in self._all(
                "SELECT event.id, event.channel, event.occurred_at, event.title, event.body "
                f"FROM event WHERE event.id IN {_in(ids)}",
                ids,
            )
        }
        owners: dict[int, int] = {}
        for eid, cid in self._all(
            "SELECT event_participant.event_id, customer_identity.customer_id "
            "FROM event_participant JOIN customer_identity "
            "ON customer_identity.identity_id = event_participant.identity_id "
            f"WHERE event_participant.event_id IN {_in(ids)} "
            "ORDER BY event_participant.event_id, customer_identity.identity_id",
            ids,
        ):
            owners.setdefault(eid, cid)
        alive = self._survivors(set(owners.values()))
        living = sorted(set(alive.values()))
        names: dict[int, str] = {
            cid: name
            for cid, name in self._all(
                f"SELECT customer.id, customer.display_name FROM customer "
                f"WHERE customer.id IN {_in(living)}",
                living,
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
                snippet = rows.excerpt(ev[4] or ev[3], marks)
            out.append(
                SearchHit(
                    eid,
                    hit_customer,
                    names.get(hit_customer, "") if hit_customer else "",
                    ev[1],
                    _when(ev[2]),
                    ev[3],
                    snippet,
                )
            )
        return out
