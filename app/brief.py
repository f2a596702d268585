"""The customer in three lines: a summary built by rules from stored data, never invented.

Line 1, who: name, customer since, how many orders and how much, preferred channel and
the language their messages are written in. Line 2, what happened last: the last
contact and its channel, and the question still waiting for an answer, quoted. Line 3,
what they bought last and its state (paid, fulfilled, refunded). Dates are in the
configured zone. The same inputs always give the same text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import formatting, language, queries, settings, summary, waiting
from app.errors import NotFoundError
from app.models import Customer, Event, Identity, Order, OrderLine, Waiting
from app.models import CustomerIdentity as CI

_QUOTE = 90


@dataclass(frozen=True)
class Brief:
    """Three lines and the figures they were made from."""

    lines: tuple[str, str, str]
    name: str
    customer_since: datetime | None
    order_count: int
    totals: dict[str, Decimal]
    preferred_channel: str | None
    language: str | None
    last_contact: dict[str, Any] | None
    waiting: dict[str, Any] | None
    last_order: dict[str, Any] | None = field(default=None)
    json_lines: tuple[str, str, str] | None = field(default=None)
    """The lines as ``show --json`` has always written them ("42.50 GBP", "5 Mar 2026 04:00");
    ``lines`` are written by ``app.formatting``, as the GUI and the PDF show them."""

    def as_json(self) -> dict[str, Any]:
        return {
            "lines": list(self.json_lines or self.lines),
            "name": self.name,
            "customer_since": self.customer_since.isoformat() if self.customer_since else None,
            "order_count": self.order_count,
            "totals": {cur: str(v) for cur, v in sorted(self.totals.items())},
            "preferred_channel": self.preferred_channel,
            "language": self.language,
            "last_contact": self.last_contact,
            "waiting": self.waiting,
            "last_order": self.last_order,
        }


# The JSON's own wording (kept as it always was: the CLI's JSON is a contract).
def _day(value: datetime, tz: tzinfo) -> str:
    local = value.astimezone(tz)
    return f"{local.day} {local:%b %Y}"


def _when(value: datetime, tz: tzinfo) -> str:
    local = value.astimezone(tz)
    return f"{local.day} {local:%b %Y %H:%M}"


def _money(totals: dict[str, Decimal]) -> str:
    return " + ".join(f"{v} {cur}" for cur, v in sorted(totals.items()))


@dataclass(frozen=True)
class _Style:
    """How the lines write names, money and dates."""

    name: Callable[[str], str]
    totals: Callable[[dict[str, Decimal]], str]
    money: Callable[[Decimal, str], str]
    day: Callable[[datetime, tzinfo], str]
    when: Callable[[datetime, tzinfo], str]


_SHOWN = _Style(
    name=formatting.person_name,
    totals=lambda totals: formatting.money_totals(totals),
    money=lambda amount, currency: formatting.money(amount, currency),
    day=lambda value, tz: formatting.date_text(formatting.local(value, tz).date()),
    when=lambda value, tz: formatting.date_time(value, tz),
)
_AS_JSON = _Style(
    name=lambda name: name,
    totals=_money,
    money=lambda amount, currency: f"{amount} {currency}",
    day=_day,
    when=_when,
)


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _QUOTE else text[: _QUOTE - 1].rstrip() + "…"


def order_state(financial: str, fulfillment: str, refunded: Decimal | None) -> str:
    """Paid / fulfilled / refunded in words ("paid, fulfilled", "refunded", "pending")."""
    fin = (financial or "").lower().replace("_", " ")
    ful = (fulfillment or "").lower().replace("_", " ")
    words: list[str] = []
    if "refund" in fin or (refunded is not None and refunded > 0):
        words.append("partly refunded" if "partial" in fin else "refunded")
    elif fin:
        words.append(fin)
    if ful in ("fulfilled", "shipped", "delivered", "completed", "complete"):
        words.append(ful)
    elif ful in ("", "unfulfilled", "pending", "null", "none"):
        if fin and "refund" not in fin and fin not in ("voided", "cancelled", "canceled"):
            words.append("not yet fulfilled")
    else:
        words.append(ful)
    return ", ".join(dict.fromkeys(words)) or "state unknown"


def build(
    session: Session,
    customer_id: int,
    *,
    now: datetime | None = None,
    tz: tzinfo | None = None,
) -> Brief:
    """The brief of one customer (following merges), dates in ``tz`` (default: the setting).

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
    # Preferred channel and language: what they themselves write with, lately.
    sources: Counter[str] = Counter()
    for (chan, source), n in figures.sources.items():
        sources[waiting.source_label(chan, source)] += n
    langs = Counter(figures.languages)
    preferred = min(sources.items(), key=lambda kv: (-kv[1], kv[0]))[0] if sources else None
    lang_code = min(langs.items(), key=lambda kv: (-kv[1], kv[0]))[0] if langs else None

    who = person.display_name or _fallback_name(session, cid) or f"Customer #{cid}"
    first_seen = person.first_seen
    count, totals, latest_order = figures.order_count, figures.totals, figures.last_order_event_id

    def line1(style: _Style) -> str:
        parts = [style.name(who)]
        if first_seen:
            parts.append(f"customer since {style.day(first_seen, tz)}")
        if count:
            parts.append(f"{count} order{'s' if count != 1 else ''}, {style.totals(totals)}")
        else:
            parts.append("no orders")
        if preferred:
            parts.append(f"writes by {preferred}")
        if lang_code:
            parts.append(f"in {language.name(lang_code)}")
        return " · ".join(parts)

    last = (
        session.execute(
            select(Event.id, Event.channel, Event.source, Event.direction, Event.occurred_at).where(
                Event.id == figures.last_contact_event_id
            )
        ).first()
        if figures.last_contact_event_id is not None
        else None
    )
    last_contact: dict[str, Any] | None = None
    contact: tuple[datetime, str] | None = None  # when, and "by …" with its full stop
    if last is not None:
        label = waiting.source_label(last.channel, last.source)
        verb = {"inbound": "from them", "outbound": "from you"}.get(last.direction, "")
        if last.channel == "order":
            label, verb = "an order", ""
        last_contact = {
            "event_id": last.id,
            "at": last.occurred_at.isoformat(),
            "channel": last.channel,
            "source": last.source,
            "direction": last.direction,
        }
        contact = (last.occurred_at, f" by {label}" + (f" ({verb})." if verb else "."))
    wait = session.get(Waiting, cid)
    waiting_json: dict[str, Any] | None = None
    if wait is not None:
        quote = _quote(_question(session, wait.event_id) or wait.first_line)
        waited = max(0, int((now - wait.since).total_seconds()))
        waiting_json = {
            "since": wait.since.isoformat(),
            "event_id": wait.event_id,
            "channel": wait.channel,
            "source": wait.source,
            "quote": quote,
            "waited_seconds": waited,
            "snoozed_until": wait.snoozed_until.isoformat() if wait.snoozed_until else None,
        }
        wait_text = (
            f" Waiting {formatting.age(waited)} for an answer on "
            f"{waiting.source_label(wait.channel, wait.source)}: “{quote}”"
        )
    else:
        wait_text = " Nothing unanswered."

    def line2(style: _Style) -> str:
        if contact is None:
            return "No contact yet." + wait_text
        return f"Last contact {style.when(contact[0], tz)}{contact[1]}{wait_text}"

    order = (
        session.execute(
            select(Order, Event.occurred_at)
            .join(Event, Event.id == Order.event_id)
            .where(Order.event_id == latest_order)
        ).first()
        if latest_order is not None
        else None
    )
    last_order: dict[str, Any] | None = None
    bought: tuple[str, str, Decimal | None, str, datetime, str] | None = None
    if order is not None:
        o, at = order
        items = list(
            session.execute(
                select(OrderLine.name, OrderLine.quantity)
                .where(OrderLine.order_event_id == o.event_id)
                .order_by(OrderLine.position)
            )
        )
        state = order_state(o.financial_status, o.fulfillment_status, o.refunded)
        names = [f"{q} × {n}" if q != 1 else n for n, q in items]
        what = names[0] if names else "an order"
        if len(names) > 1:
            what += f" and {len(names) - 1} more"
        bought = (what, o.number, o.total, o.currency, at, state)
        last_order = {
            "event_id": o.event_id,
            "number": o.number,
            "at": at.isoformat(),
            "currency": o.currency,
            "total": str(o.total) if o.total is not None else None,
            "refunded": str(o.refunded) if o.refunded is not None else None,
            "items": [{"name": n, "quantity": q} for n, q in items],
            "financial_status": o.financial_status,
            "fulfillment_status": o.fulfillment_status,
            "state": state,
        }

    def line3(style: _Style) -> str:
        if bought is None:
            return "Has bought nothing yet."
        what, number, amount, currency, at, state = bought
        total = f", {style.money(amount, currency)}" if amount is not None else ""
        return f"Last bought {what} ({number}{total}) on {style.day(at, tz)}: {state}."

    return Brief(
        lines=(line1(_SHOWN), line2(_SHOWN), line3(_SHOWN)),
        json_lines=(line1(_AS_JSON), line2(_AS_JSON), line3(_AS_JSON)),
        name=who,
        customer_since=first_seen,
        order_count=count,
        totals=totals,
        preferred_channel=preferred,
        language=lang_code,
        last_contact=last_contact,
        waiting=waiting_json,
        last_order=last_order,
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


def _question(session: Session, event_id: int) -> str:
    """The first sentence with a question mark in a message, if it asks one."""
    body = session.scalar(select(Event.body).where(Event.id == event_id)) or ""
    kept = [ln.strip() for ln in body.splitlines() if ln.strip() and not ln.strip().startswith(">")]
    if len(kept) > 1 and waiting.is_salutation(kept[0]):
        kept = kept[1:]
    text = " ".join(" ".join(kept).split())
    if "?" not in text:
        return ""
    end = text.index("?") + 1
    start = max(text.rfind(". ", 0, end), text.rfind("! ", 0, end))
    sentence = text[start + 2 if start >= 0 else 0 : end]
    return sentence
