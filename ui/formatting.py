"""Pure text helpers the panes share: local times, relative times, day labels, money, highlights.

Nothing here touches the database or needs a running ``QApplication``; every
function takes the clock and zone it needs, so tests can pin them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers

from app.service import HL_END, HL_START, CustomerRow, IdentityRow, OrderRow, Service

_SYMBOLS = {
    "GBP": "£",
    "USD": "$",
    "EUR": "€",
    "JPY": "¥",
    "INR": "₹",
    "AUD": "A$",
    "CAD": "C$",
    "NZD": "NZ$",
    "CHF": "CHF ",
}
_MONTHS = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_MONTHS_LONG = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def local(value: datetime, tz: tzinfo) -> datetime:
    """``value`` (aware) in the user's zone."""
    return value.astimezone(tz)


def short_date(day: date, today: date) -> str:
    """ "4 Mar" this year, "4 Mar 2024" otherwise."""
    text = f"{day.day} {_MONTHS[day.month - 1]}"
    return text if day.year == today.year else f"{text} {day.year}"


def long_date(day: date) -> str:
    """ "4 March 2026"."""
    return f"{day.day} {_MONTHS_LONG[day.month - 1]} {day.year}"


def time_of_day(value: datetime) -> str:
    """ "09:05" (24-hour clock, the value's own zone)."""
    return f"{value.hour:02d}:{value.minute:02d}"


def day_label(day: date, today: date) -> str:
    """A timeline day header: Today, Yesterday, "Monday 2 March", or "2 March 2025"."""
    if day == today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    if day.year == today.year:
        return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS_LONG[day.month - 1]}"
    return long_date(day)


def relative_time(value: datetime | None, now: datetime, tz: tzinfo) -> str:
    """How long ago, for lists: "just now", "5 min ago", "2 h ago", "yesterday", "4 Mar"."""
    if value is None:
        return ""
    delta = now - value
    seconds = delta.total_seconds()
    if seconds < 0:
        return short_date(local(value, tz).date(), local(now, tz).date())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    day, today = local(value, tz).date(), local(now, tz).date()
    if day == today:
        return f"{int(seconds // 3600)} h ago"
    if day == today - timedelta(days=1):
        return "yesterday"
    if (today - day).days < 7:
        return _WEEKDAYS[day.weekday()][:3]
    return short_date(day, today)


def when(value: datetime | None, now: datetime, tz: tzinfo) -> str:
    """A point in time for the profile: "today 12:02", "yesterday 09:15", "2 Mar 2026 18:04"."""
    if value is None:
        return "—"
    lv = local(value, tz)
    today = local(now, tz).date()
    if lv.date() == today:
        return f"today {time_of_day(lv)}"
    if lv.date() == today - timedelta(days=1):
        return f"yesterday {time_of_day(lv)}"
    return f"{lv.day} {_MONTHS[lv.month - 1]} {lv.year}, {time_of_day(lv)}"


def money(amount: Decimal | None, currency: str) -> str:
    """An exact amount with its currency: "£171.51", "BDT 1,500.00"."""
    if amount is None:
        return ""
    sign = "-" if amount < 0 else ""
    text = f"{abs(amount):,.2f}"
    symbol = _SYMBOLS.get(currency.upper())
    if symbol is None:
        return f"{sign}{currency.upper()} {text}".strip()
    return f"{sign}{symbol}{text}"


def money_totals(totals: dict[str, Decimal]) -> str:
    """Several currencies joined: "£171.51 + €20.00"."""
    return " + ".join(money(v, cur) for cur, v in sorted(totals.items()))


def order_change(order: OrderRow, previous: Any) -> str:
    """What a newer export changed on an order: "paid → refunded · refunded €40.00".

    Args:
        order: the order as it is now.
        previous: ``EventRow.details["previous"]`` (statuses and refunded amount
            before the update), or anything else when the order never changed.

    Returns:
        The changes joined with a middle dot, or "" when nothing visible changed.
    """
    if not isinstance(previous, dict):
        return ""
    parts: list[str] = []
    for key, now in (
        ("financial_status", order.financial_status),
        ("fulfillment_status", order.fulfillment_status),
    ):
        was = previous.get(key)
        if was and now and was != now:
            parts.append(f"{was} → {now}")
    before = _decimal(previous.get("refunded")) or Decimal(0)
    after = order.refunded or Decimal(0)
    if after > before:
        parts.append(f"refunded {money(after - before, order.currency)}")
    return join_nonempty(parts)


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def plural(count: int, one: str, many: str | None = None) -> str:
    """ "1 order", "3 orders", "1,204 messages"."""
    word = one if count == 1 else (many or f"{one}s")
    return f"{count:,} {word}"


def first_line(text: str) -> str:
    """The first non-empty line of ``text``, whitespace collapsed."""
    for line in text.splitlines():
        stripped = " ".join(line.split())
        if stripped and not stripped.startswith(">"):
            return stripped
    return ""


def query_terms(query: str) -> tuple[str, ...]:
    """The words of a search to highlight, as the full-text index sees them (prefixes).

    Fields (``from:jane``, ``channel:email``, ``after:7d``) and left-out words
    (``-cancelled``) are not highlighted; a query the syntax cannot read still
    highlights its words.
    """
    return Service.search_terms(query)


def has_query(query: str) -> bool:
    """Whether a search box holds anything to search for (a word, a field)."""
    return re.search(r"\w", query, flags=re.UNICODE) is not None


def match_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """Where in ``text`` a word starts with one of ``terms`` (sorted, non-overlapping)."""
    if not terms or not text:
        return []
    pattern = re.compile(
        r"\b(?:" + "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)) + ")",
        re.IGNORECASE | re.UNICODE,
    )
    return [(m.start(), m.end()) for m in pattern.finditer(text)]


def highlight_html(text: str, terms: Sequence[str], style: str) -> str:
    """``text`` as HTML (escaped, newlines kept) with matches wrapped in a styled span."""
    out: list[str] = []
    pos = 0
    for start, end in match_spans(text, terms):
        out.append(html.escape(text[pos:start]))
        out.append(f'<span style="{style}">{html.escape(text[start:end])}</span>')
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out).replace("\n", "<br>")


def snippet_html(snippet: str, style: str) -> str:
    """A search snippet (matches between \\x02 and \\x03) as HTML with styled matches."""
    parts: list[str] = []
    for i, chunk in enumerate(re.split(f"[{HL_START}{HL_END}]", snippet)):
        text = html.escape(re.sub(r"\s+", " ", chunk))
        parts.append(f'<span style="{style}">{text}</span>' if i % 2 else text)
    return "".join(parts)


def snippet_plain(snippet: str) -> str:
    """A search snippet without its match markers (for tooltips and screen readers)."""
    return " ".join(snippet.replace(HL_START, "").replace(HL_END, "").split())


def join_nonempty(parts: Iterable[str], sep: str = " · ") -> str:
    """Non-empty parts joined with a middle dot."""
    return sep.join(p for p in parts if p)


def file_size(size: int | None) -> str:
    """ "820 bytes", "12 KB", "3.4 MB" (empty when unknown)."""
    if size is None or size < 0:
        return ""
    if size < 1024:
        return plural(size, "byte")
    for unit in ("KB", "MB", "GB"):
        size_f = size / 1024
        if size_f < 1024 or unit == "GB":
            return f"{size_f:.1f} {unit}" if size_f < 10 else f"{size_f:,.0f} {unit}"
        size = round(size_f)
    return ""


def attachment_text(attachment: dict[str, object]) -> str:
    """ "invoice.pdf · application/pdf · 120 KB" for one ``details["attachments"]`` entry."""
    name = str(attachment.get("name") or "(unnamed attachment)")
    kind = str(attachment.get("type") or "")
    raw = attachment.get("size")
    size = file_size(raw if isinstance(raw, int) else None)
    return join_nonempty((name, kind, size))


# --- contact points as people read them (never "whatsapp:Tom Okafor" or a bare E.164) -------

_PLATFORMS = {
    "whatsapp": "WhatsApp",
    "telegram": "Telegram",
    "signal": "Signal",
    "slack": "Slack",
    "messenger": "Messenger",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "shopify": "Shopify",
    "amazon": "Amazon",
    "etsy": "Etsy",
    "ebay": "eBay",
    "paypal": "PayPal",
    "square": "Square",
    "stripe": "Stripe",
    "woocommerce": "WooCommerce",
    "zendesk": "Zendesk",
    "sms": "SMS",
}


def phone(value: str) -> str:
    """A phone number in one international format ("+44 7700 900123"); other text unchanged."""
    text = value.strip()
    if not text.startswith("+"):
        return value
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return value
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


def platform_label(platform: str) -> str:
    """ "WhatsApp" for "whatsapp"; an unknown platform capitalised."""
    return _PLATFORMS.get(platform.lower(), platform[:1].upper() + platform[1:])


def identity_text(ident: IdentityRow) -> str:
    """One contact point as people read it: an address, a formatted number, "Tom on WhatsApp",
    "Amazon customer B0…" (a shop's id always says whose id it is)."""
    value = ident.raw or ident.value
    if ident.kind == "phone":
        return phone(ident.value)
    if ident.kind == "email":
        return ident.value
    if ident.kind == "platform_id":
        return f"{platform_label(ident.platform)} customer {value}" if ident.platform else value
    if ident.platform:
        return f"{phone(value)} on {platform_label(ident.platform)}"
    return value


def contact_points(row: CustomerRow) -> list[str]:
    """A customer's addresses, numbers and chat handles as shown (shop ids left out)."""
    shown = [*row.emails, *(phone(p) for p in row.phones)]
    shown += [identity_text(i) for i in row.identities if i.kind == "handle"]
    return shown


def best_contact(row: CustomerRow) -> str:
    """The contact point to show under a name: an address, else a number, else a handle."""
    points = contact_points(row)
    if points:
        return points[0]
    ids = [identity_text(i) for i in row.identities if i.kind == "platform_id"]
    return ids[0] if ids else ""
