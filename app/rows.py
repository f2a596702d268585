"""The read side's plain rows: what a query returns, free of SQLAlchemy.

Customers, events, orders, notes, search hits and their JSON shapes (the CLI's public
contract), the bounds on a query, and the order figures of a profile. ``app.queries``
(SQLAlchemy, any database) and ``app.readpath`` (SQLite read straight, for the CLI's
read-only commands) both build these, so ``import app.rows`` costs no more than the
standard library.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.errors import UserFacingError


@dataclass(frozen=True)
class OrderFigures:
    """How many orders a customer placed and what they spent, per currency."""

    count: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)
    numbers: tuple[str, ...] = ()
    first_order: datetime | None = None
    last_order: datetime | None = None
    averages: dict[str, Decimal] = field(default_factory=dict)


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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


def event_details(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """An event's ``details`` as its row holds them: the stored JSON object, its arrays read as
    tuples. A row lives as long as the timeline showing it, and a list, however short, is an
    object the garbage collector walks in every full collection, while a tuple of strings and
    numbers drops out of its sight at the next collection (and so does an object holding only
    such values): an email's flags, references and attachments, three lists and the object
    holding them, were four objects a row for every full collection to walk.
    """
    return {key: _tuples(item) for key, item in (value or {}).items()}


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(item) for item in value)
    if isinstance(value, dict):
        return {key: _tuples(item) for key, item in value.items()}
    return value


@dataclass(frozen=True, slots=True)
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
    details: dict[str, Any]  # (``event_details``: its arrays as tuples)
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


def excerpt(body: str, needles: Sequence[str], width: int = 120) -> str:
    """A one-line excerpt of ``body`` around the first of ``needles`` found, marked."""
    flat = " ".join(body.split())
    lowered = flat.casefold()
    spots = [(lowered.find(n.casefold()), n) for n in needles if n]
    found = [(pos, n) for pos, n in spots if pos >= 0]
    if not found:
        return flat[:width] + ("…" if len(flat) > width else "")
    pos, needle = min(found)
    start = max(0, pos - width // 3)
    end = min(len(flat), start + width)
    head = "…" if start else ""
    tail = "…" if end < len(flat) else ""
    hit_end = pos + len(needle)
    return f"{head}{flat[start:pos]}{HL_START}{flat[pos:hit_end]}{HL_END}{flat[hit_end:end]}{tail}"
