"""The brief's three lines, written from figures already read (no database here).

``app.brief.build`` reads the figures through SQLAlchemy and the CLI's lean read path
(``app.readpath``) reads them straight from SQLite; both write the lines here, so the
two agree word for word.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any, NamedTuple

from app import formatting
from app.labels import is_salutation, language_name, source_label

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


class LastContact(NamedTuple):
    """The customer's latest event that is not a system line."""

    id: int
    channel: str
    source: str
    direction: str
    occurred_at: datetime


class Wait(NamedTuple):
    """The customer's row of the waiting list, and the text of the message they wait on."""

    since: datetime
    event_id: int
    channel: str
    source: str
    first_line: str
    snoozed_until: datetime | None
    body: str


class LastOrder(NamedTuple):
    """The customer's latest order and its lines as (name, quantity)."""

    event_id: int
    number: str
    currency: str
    total: Decimal | None
    refunded: Decimal | None
    financial_status: str
    fulfillment_status: str
    occurred_at: datetime
    items: Sequence[tuple[str, int]]


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


def question(body: str) -> str:
    """The first sentence with a question mark in a message, if it asks one."""
    kept = [ln.strip() for ln in body.splitlines() if ln.strip() and not ln.strip().startswith(">")]
    if len(kept) > 1 and is_salutation(kept[0]):
        kept = kept[1:]
    text = " ".join(" ".join(kept).split())
    if "?" not in text:
        return ""
    end = text.index("?") + 1
    start = max(text.rfind(". ", 0, end), text.rfind("! ", 0, end))
    sentence = text[start + 2 if start >= 0 else 0 : end]
    return sentence


def compose(
    *,
    who: str,
    first_seen: datetime | None,
    order_count: int,
    totals: dict[str, Decimal],
    sources: Mapping[tuple[str, str], int],
    languages: Mapping[str, int],
    last: LastContact | None,
    wait: Wait | None,
    order: LastOrder | None,
    now: datetime,
    tz: tzinfo,
) -> Brief:
    """The brief of a customer from its figures (``who`` is the name already chosen)."""
    # Preferred channel and language: what they themselves write with, lately.
    by_label: Counter[str] = Counter()
    for (chan, source), n in sources.items():
        by_label[source_label(chan, source)] += n
    langs = Counter(languages)
    preferred = min(by_label.items(), key=lambda kv: (-kv[1], kv[0]))[0] if by_label else None
    lang_code = min(langs.items(), key=lambda kv: (-kv[1], kv[0]))[0] if langs else None

    def line1(style: _Style) -> str:
        parts = [style.name(who)]
        if first_seen:
            parts.append(f"customer since {style.day(first_seen, tz)}")
        if order_count:
            parts.append(
                f"{order_count} order{'s' if order_count != 1 else ''}, {style.totals(totals)}"
            )
        else:
            parts.append("no orders")
        if preferred:
            parts.append(f"writes by {preferred}")
        if lang_code:
            parts.append(f"in {language_name(lang_code)}")
        return " · ".join(parts)

    last_contact: dict[str, Any] | None = None
    contact: tuple[datetime, str] | None = None  # when, and "by …" with its full stop
    if last is not None:
        label = source_label(last.channel, last.source)
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
    waiting_json: dict[str, Any] | None = None
    if wait is not None:
        quote = _quote(question(wait.body) or wait.first_line)
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
            f"{source_label(wait.channel, wait.source)}: “{quote}”"
        )
    else:
        wait_text = " Nothing unanswered."

    def line2(style: _Style) -> str:
        if contact is None:
            return "No contact yet." + wait_text
        return f"Last contact {style.when(contact[0], tz)}{contact[1]}{wait_text}"

    last_order: dict[str, Any] | None = None
    bought: tuple[str, str, Decimal | None, str, datetime, str] | None = None
    if order is not None:
        state = order_state(order.financial_status, order.fulfillment_status, order.refunded)
        names = [f"{q} × {n}" if q != 1 else n for n, q in order.items]
        what = names[0] if names else "an order"
        if len(names) > 1:
            what += f" and {len(names) - 1} more"
        bought = (what, order.number, order.total, order.currency, order.occurred_at, state)
        last_order = {
            "event_id": order.event_id,
            "number": order.number,
            "at": order.occurred_at.isoformat(),
            "currency": order.currency,
            "total": str(order.total) if order.total is not None else None,
            "refunded": str(order.refunded) if order.refunded is not None else None,
            "items": [{"name": n, "quantity": q} for n, q in order.items],
            "financial_status": order.financial_status,
            "fulfillment_status": order.fulfillment_status,
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
        order_count=order_count,
        totals=totals,
        preferred_channel=preferred,
        language=lang_code,
        last_contact=last_contact,
        waiting=waiting_json,
        last_order=last_order,
    )
