"""The printable history of one customer as a self-contained HTML document (Qt-free).

``build_html`` reads one customer through ``app.queries`` and writes the whole
history as HTML in the rich-text subset Qt's ``QTextDocument`` understands
(tables, simple paragraphs, one ``<style>`` block of simple selectors, no
external resources): a title, the profile and its figures, the notes, then every
event oldest first, grouped under day headings in the user's time zone. Events
are read page by page, so a customer with tens of thousands of events does not
load them all at once. Money, dates and phone numbers are written by
``app.formatting``, as the GUI and the CLI write them ("£57.51", "3 Mar 2026, 09:15"). With
``redact`` every email address and phone number becomes "[redacted]" and the
customer's name becomes their initials. ``app.export.pdf`` prints the result.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal

from sqlalchemy.orm import Session

from app import brief, formatting, queries
from app.errors import UserFacingError
from app.labels import source_name
from app.queries import CustomerRow, EventRow, NoteRow, OrderRow

CHUNK = 500
"""How many events are read from the database at a time."""

REDACTED = "[redacted]"

DAY_ANCHOR = "day-"
"""Each day heading carries the anchor ``day-YYYY-MM-DD``, so a printer can name the
days a page shows in its running head."""

_CHANNEL_NAMES = {"email": "Email", "chat": "Chat", "order": "Order"}
_CHANNEL_COLOURS = {"email": "#2463a6", "chat": "#23845a", "order": "#a35a12"}

_STYLE = """
body { font-size: 9.5pt; color: #1f2328; }
h1 { font-size: 19pt; font-weight: 600; color: #1f2328; margin-top: 0px; margin-bottom: 2px; }
h2 { font-size: 12.5pt; font-weight: 600; color: #1f2328; margin-top: 20px; margin-bottom: 6px; }
p { margin-top: 0px; margin-bottom: 0px; }
td { vertical-align: top; }
.lead { color: #6b7280; font-weight: 400; }
.meta { font-size: 8.5pt; color: #6b7280; margin-top: 2px; }
.label { font-size: 8.5pt; color: #6b7280; padding-right: 10px; padding-top: 3px; }
.value { padding-right: 18px; }
.empty { color: #6b7280; font-style: italic; margin-top: 4px; }
.note-body { margin-top: 0px; white-space: pre-wrap; }
.note-meta { font-size: 8pt; color: #6b7280; margin-top: 3px; }
.pin { font-size: 7.5pt; font-weight: 700; color: #9a6700; }
.day { font-size: 10.5pt; font-weight: 700; color: #1f2328; background-color: #eef1f5;
       line-height: 135%; margin-top: 16px; margin-bottom: 2px; white-space: pre-wrap; }
.head { margin-top: 9px; white-space: pre-wrap; }
.time { font-weight: 700; color: #1f2328; }
.channel { font-size: 7.5pt; font-weight: 700; }
.who { color: #4b5563; }
.you { font-weight: 700; color: #1f5fa6; }
.via { font-size: 8pt; color: #8a929c; }
.title { font-weight: 700; margin-left: 53px; margin-top: 2px; }
.text { margin-left: 53px; margin-top: 2px; white-space: pre-wrap; }
.status { margin-left: 53px; margin-top: 2px; font-size: 8.5pt; color: #4b5563; }
.lines { margin-left: 53px; margin-top: 4px; border-color: #d0d7de; }
.lines th { font-size: 8pt; font-weight: 700; color: #6b7280; background-color: #f3f5f7; }
.lines td { font-size: 9pt; }
.num { text-align: right; }
.sum { color: #4b5563; }
.total { font-weight: 700; }
.brief { margin-top: 3px; font-size: 10pt; color: #1f2933; }
.details { margin-left: 53px; margin-top: 3px; font-size: 8.5pt; color: #4b5563; }
"""


@dataclass
class ExportOptions:
    """What goes into an export.

    Attributes:
        since: first day to include (in the user's zone), or None for no limit.
        until: last day to include (inclusive, in the user's zone), or None.
        channels: channels to include ("email", "chat", "order"); None means all,
            an empty tuple means none (profile and notes only).
        include_notes: whether the team's notes are printed.
        redact: replace email addresses and phone numbers with "[redacted]"
            and the customer's name with their initials.
    """

    since: date | None = None
    until: date | None = None
    channels: tuple[str, ...] | None = None
    include_notes: bool = True
    redact: bool = False


@dataclass(frozen=True)
class ExportDocument:
    """A built export: the HTML and what a printer needs around it.

    Attributes:
        html: the complete HTML document.
        title: "Customer history — <name>" (the name redacted if asked).
        customer_name: the name as printed (initials when redacted).
        generated: when the export was made, as printed.
        event_count: how many events the document holds.
    """

    html: str
    title: str
    customer_name: str
    generated: str
    event_count: int


# --- formatting --------------------------------------------------------------------------


def _local(value: datetime, tz: tzinfo) -> datetime:
    return formatting.local(value, tz)


def format_date(value: date) -> str:
    """A date written unambiguously in English, e.g. "3 Mar 2026" (``app.formatting``)."""
    return formatting.date_text(value)


def format_day(value: date) -> str:
    """A day heading, e.g. "Tuesday 3 March 2026"."""
    return formatting.day_heading(value)


def format_datetime(value: datetime, tz: tzinfo) -> str:
    """An instant in zone ``tz``, e.g. "3 Mar 2026, 09:15" (naive means UTC)."""
    return formatting.date_time(value, tz)


def format_money(amount: Decimal | None, currency: str) -> str:
    """An exact amount with its currency in the user's locale, e.g. "£57.51" ("" if None)."""
    return formatting.money(amount, currency)


def format_phone(value: str) -> str:
    """An E.164 number written the international way ("+44 7700 900123"), else as given."""
    return formatting.phone(value)


def zone_name(tz: tzinfo, at: datetime) -> str:
    """A readable name of ``tz``: the IANA key when there is one, else its abbreviation."""
    key = getattr(tz, "key", None)
    if isinstance(key, str) and key:
        return key
    return _local(at, tz).tzname() or "UTC"


def _esc(value: str) -> str:
    return html.escape(value, quote=False)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    return _CONTROL.sub("", text)


def _multiline(text: str) -> str:
    """Escaped text whose line breaks survive as ``<br>``."""
    return "<br>".join(_esc(line) for line in _clean(text).strip("\n").split("\n"))


# --- redaction ---------------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_PHONE = re.compile(r"(?<![\w#+/.:,-])\+?\(?\d(?:[ \u00a0().-]{0,2}\d){6,}(?![\w/:-])")
_NOT_PHONE = (
    re.compile(r"\d+[.,]\d{1,2}"),  # an amount of money
    re.compile(r"\d{4}[-.]\d{1,2}[-.]\d{1,2}(?: \d{1,2})?"),  # an ISO date (and hour)
)


def _phone_match(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = sum(ch.isdigit() for ch in found)
    if found.startswith("+"):
        ok = 7 <= digits <= 15
    else:
        ok = 9 <= digits <= 15 and not any(p.fullmatch(found) for p in _NOT_PHONE)
    return REDACTED if ok else found


def redact_contacts(text: str) -> str:
    """``text`` with every email address and phone number replaced by "[redacted]"."""
    return _PHONE.sub(_phone_match, _EMAIL.sub(REDACTED, text))


def initials(name: str) -> str:
    """A name's initials, e.g. "Zoë Müller" → "Z. M." ("" when it has no letters)."""
    letters = [next((ch for ch in word if ch.isalpha()), "") for word in name.split()]
    return " ".join(f"{ch.upper()}." for ch in letters if ch)


class _Redactor:
    """Applies the redact option to names and texts (a no-op when it is off)."""

    def __init__(self, customer: CustomerRow, enabled: bool) -> None:
        self.enabled = enabled
        name = customer.name.strip()
        if not enabled:
            self.name = formatting.customer_name(customer, empty=f"Customer {customer.id}")
            return
        short = initials(name)
        if not short or redact_contacts(name) != name:
            short = f"Customer {customer.id}"
        self.name = short
        words = [w for w in name.split() if len(w) >= 2]
        name_keys = {name.casefold(), *(w.casefold() for w in words)}
        known: set[str] = set()
        for ident in customer.identities:
            for value in (ident.value, ident.raw):
                if len(value) >= 5 and value.casefold() not in name_keys:
                    known.add(value)
        alternatives = "|".join(re.escape(v) for v in sorted(known, key=len, reverse=True))
        self._known = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.I) if known else None
        self._full = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)", re.I) if name else None
        self._parts = [(re.compile(rf"(?<!\w){re.escape(w)}(?!\w)"), initials(w)) for w in words]

    def text(self, value: str) -> str:
        """``value`` with contact details and the customer's name redacted."""
        if not self.enabled or not value:
            return value
        if self._known is not None:
            value = self._known.sub(REDACTED, value)
        value = redact_contacts(value)
        if self._full is not None:
            value = self._full.sub(self.name, value)
        for pattern, short in self._parts:
            value = pattern.sub(short, value)
        return value


# --- reading -----------------------------------------------------------------------------


def _local_day(event: EventRow, tz: tzinfo) -> date:
    return _local(event.occurred_at, tz).date()


def _first_offset(
    session: Session, customer_id: int, channels: Sequence[str] | None, since: date, tz: tzinfo
) -> int:
    """The offset of the first event on or after ``since`` (binary search, oldest first)."""
    lo, hi = 0, queries.timeline_count(session, customer_id, channels=channels)
    while lo < hi:
        mid = (lo + hi) // 2
        rows = queries.timeline(
            session, customer_id, offset=mid, limit=1, channels=channels, oldest_first=True
        )
        if rows and _local_day(rows[0], tz) < since:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _events(
    session: Session,
    customer_id: int,
    tz: tzinfo,
    options: ExportOptions,
    progress: Callable[[int, int], None] | None,
) -> Iterator[EventRow]:
    """Every event the options select, oldest first, read ``CHUNK`` at a time."""
    if options.channels is not None and not options.channels:
        return
    channels = list(options.channels) if options.channels else None
    total = queries.timeline_count(session, customer_id, channels=channels)
    offset = 0
    if options.since is not None:
        offset = _first_offset(session, customer_id, channels, options.since, tz)
    if progress is not None:
        progress(offset, total)
    # Offsets shift if another writer adds or moves events meanwhile; ids keep
    # such a shift from printing an event twice.
    seen: set[int] = set()
    while offset < total:
        rows = queries.timeline(
            session,
            customer_id,
            offset=offset,
            limit=CHUNK,
            channels=channels,
            oldest_first=True,
        )
        if not rows:
            break
        for row in rows:
            if row.id in seen:
                continue
            seen.add(row.id)
            day = _local_day(row, tz)
            if options.since is not None and day < options.since:
                continue
            if options.until is not None and day > options.until:
                if progress is not None:
                    progress(total, total)
                return
            yield row
        offset += len(rows)
        if progress is not None:
            progress(min(offset, total), total)


# --- writing -----------------------------------------------------------------------------


def _kv_table(rows: Sequence[tuple[str, str]]) -> str:
    cells = "".join(
        f'<tr><td class="label">{_esc(label)}</td><td class="value">{value}</td></tr>'
        for label, value in rows
    )
    return f'<table cellspacing="0" cellpadding="2">{cells}</table>'


def _lines(values: Sequence[str]) -> str:
    return "<br>".join(_esc(v) for v in values) if values else '<span class="lead">—</span>'


def _profile(
    customer: CustomerRow,
    tz: tzinfo,
    red: _Redactor,
    other_names: Sequence[str],
    shown: int,
    filtered: bool,
) -> str:
    def contact(value: str) -> str:
        return REDACTED if red.enabled else value

    emails = [contact(v) for v in customer.emails]
    phones = [contact(format_phone(v)) for v in customer.phones]
    handles: list[str] = []
    for ident in customer.identities:
        if ident.kind not in ("handle", "platform_id"):
            continue
        platform = formatting.platform_label(ident.platform) if ident.platform else ""
        value = contact(ident.raw or ident.value)
        if ident.kind == "platform_id":
            handles.append(f"{platform} customer {value}".strip())
        else:
            handles.append(f"{value} ({platform})" if platform else value)
    names = [red.name, *(n for n in other_names if n != red.name)]
    left = [("Name" if len(names) == 1 else "Names", _lines(names))]
    left.append(("Email", _lines(emails)))
    left.append(("Phone", _lines(phones)))
    if handles:
        left.append(("Chat & shop IDs", _lines(handles)))

    def when(value: datetime | None) -> str:
        return _esc(format_datetime(value, tz)) if value is not None else "—"

    events = f"{customer.event_count:,}"
    if filtered:
        events += f' <span class="lead">({shown:,} in this export)</span>'
    figures = customer.orders
    spent = [format_money(v, cur) for cur, v in sorted(figures.totals.items())]
    right = [
        ("First contact", when(customer.first_seen)),
        ("Last contact", when(customer.last_seen)),
        ("Events", events),
        ("Orders", f"{figures.count:,}"),
        ("Spent", _lines(spent)),
    ]
    return (
        "<h2>Profile</h2>"
        '<table width="100%" cellspacing="0" cellpadding="0"><tr>'
        f'<td width="56%">{_kv_table(left)}</td><td width="44%">{_kv_table(right)}</td>'
        "</tr></table>"
    )


def _notes(notes: Sequence[NoteRow], tz: tzinfo, red: _Redactor) -> str:
    out = ["<h2>Notes</h2>"]
    if not notes:
        out.append('<p class="empty">No notes.</p>')
    for note in notes:
        pin = '<span class="pin">PINNED</span>  ' if note.pinned else ""
        stamp = format_datetime(note.created_at, tz)
        if note.updated_at and abs((note.updated_at - note.created_at).total_seconds()) > 60:
            stamp += f" · edited {format_datetime(note.updated_at, tz)}"
        author = note.author or "Unknown author"
        background = "#fff8e6" if note.pinned else "#f6f8fa"
        out.append(
            f'<table width="100%" cellspacing="0" cellpadding="7" bgcolor="{background}" '
            'style="margin-top: 6px;"><tr><td>'
            f'<p class="note-body">{pin}{_multiline(red.text(note.body))}</p>'
            f'<p class="note-meta">{_esc(author)} · {_esc(stamp)}</p>'
            "</td></tr></table>"
        )
    return "".join(out)


def _order(order: OrderRow, red: _Redactor) -> str:
    cur = order.currency
    statuses = [s for s in (order.financial_status, order.fulfillment_status) if s]
    out = []
    if statuses:
        out.append(f'<p class="status">Status: {_esc(" · ".join(statuses))}</p>')
    rows = [
        '<thead><tr><th align="left">Item</th><th align="left">SKU</th><th align="right">Qty</th>'
        '<th align="right">Unit price</th><th align="right">Amount</th></tr></thead>'
    ]
    for line in order.lines:
        amount = line.unit_price * line.quantity if line.unit_price is not None else None
        rows.append(
            f"<tr><td>{_esc(red.text(line.name))}</td><td>{_esc(line.sku)}</td>"
            f'<td align="right">{line.quantity}</td>'
            f'<td align="right">{_esc(format_money(line.unit_price, cur))}</td>'
            f'<td align="right">{_esc(format_money(amount, cur))}</td></tr>'
        )
    sums = [
        ("Subtotal", order.subtotal),
        ("Shipping", order.shipping),
        ("Discount", order.discount),
        ("Tax", order.tax),
        ("Refunded", order.refunded),
    ]
    for label, value in sums:
        if value is not None:
            rows.append(
                f'<tr><td colspan="4" align="right" class="sum">{label}</td>'
                f'<td align="right" class="sum">{_esc(format_money(value, cur))}</td></tr>'
            )
    if order.total is not None:
        rows.append(
            '<tr><td colspan="4" align="right" class="total">Total</td>'
            f'<td align="right" class="total" style="border-top: 1px solid #8c959f;">'
            f"{_esc(format_money(order.total, cur))}</td></tr>"
        )
    if len(rows) > 1:
        out.append(
            '<table class="lines" width="88%" cellspacing="0" cellpadding="3" '
            'style="border-collapse: collapse;">' + "".join(rows) + "</table>"
        )
    return "".join(out)


def _event(event: EventRow, tz: tzinfo, red: _Redactor) -> str:
    local = _local(event.occurred_at, tz)
    channel = _CHANNEL_NAMES.get(event.channel, event.channel.capitalize() or "Event")
    colour = _CHANNEL_COLOURS.get(event.channel, "#57606a")
    source = source_name(event.source)
    author = red.text(event.author)
    if event.direction == "outbound":
        who = '<span class="you">You →</span>'
        if author:
            who += f' <span class="who">({_esc(author)})</span>'
    elif event.direction == "system":
        who = '<span class="who">System message</span>'
    else:
        who = f'<span class="who">{_esc(author or "Unknown sender")}</span>'
    title = red.text(_clean(event.title).strip())
    # A chat's title names the conversation: shown small, and only when it is not
    # simply the person writing.
    chat_title = event.channel == "chat"
    via_parts = []
    if source and source.casefold() != event.channel.casefold():
        via_parts.append(f"via {source}")
    if chat_title and title and event.title.strip() != event.author.strip():
        via_parts.append(f"in {title}")
    via = ""
    if via_parts:
        via = f'  <span class="via">{_esc(" · ".join(via_parts))}</span>'
    out = [
        f'<p class="head"><span class="time">{formatting.time_of_day(local)}</span>   '
        f'<span class="channel" style="color: {colour};">{_esc(channel.upper())}</span>'
        f"   {who}{via}</p>"
    ]
    if event.order is not None:
        heading = title or f"Order {event.order.number}"
        if event.order.number not in heading:
            heading += f" ({event.order.number})"
        out.append(f'<p class="title">{_esc(heading)}</p>')
        out.append(_order(event.order, red))
        for label, value in queries.order_details(event.details, address=False):
            out.append(f'<p class="details">{label}: {_multiline(red.text(value))}</p>')
        if not event.order.lines and event.text.strip():
            out.append(f'<p class="text">{_multiline(red.text(event.text))}</p>')
    else:
        if title and not chat_title:
            out.append(f'<p class="title">{_esc(title)}</p>')
        if event.text.strip():
            out.append(f'<p class="text">{_multiline(red.text(event.text))}</p>')
        if event.channel == "chat":
            for line in formatting.chat_extras(event.details, event.text):
                out.append(f'<p class="details">{_esc(red.text(line))}</p>')
    return "".join(out)


def _filters(options: ExportOptions) -> list[str]:
    parts: list[str] = []
    if options.channels is not None:
        names = [_CHANNEL_NAMES.get(c, c).lower() for c in options.channels]
        parts.append("only " + (", ".join(names) if names else "no events"))
    if options.since and options.until:
        parts.append(f"from {format_date(options.since)} to {format_date(options.until)}")
    elif options.since:
        parts.append(f"from {format_date(options.since)}")
    elif options.until:
        parts.append(f"until {format_date(options.until)}")
    if not options.include_notes:
        parts.append("notes left out")
    if options.redact:
        parts.append("contact details redacted")
    return parts


def build_export(
    session: Session,
    customer_id: int,
    tz: tzinfo,
    options: ExportOptions | None = None,
    now: datetime | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ExportDocument:
    """Build the printable history of one customer.

    Args:
        session: an open session (read only).
        customer_id: the customer (a merged customer's survivor is used).
        tz: the zone dates and times are shown in.
        options: what to include; defaults to everything, unredacted.
        now: when the export is made (aware); defaults to the current time.
        progress: called with (events read, events in the selected channels).

    Returns:
        The document and the names a printer puts in headers and metadata.

    Raises:
        NotFoundError: no such customer.
        UserFacingError: the date range is empty (``since`` after ``until``).
    """
    options = options if options is not None else ExportOptions()
    now = now if now is not None else datetime.now(UTC)
    if options.since and options.until and options.since > options.until:
        raise UserFacingError(
            f"the export starts on {format_date(options.since)}, "
            f"after it ends ({format_date(options.until)})"
        )
    customer = queries.customer(session, customer_id)
    red = _Redactor(customer, options.redact)
    title = f"Customer history — {red.name}"
    generated = format_datetime(now, tz)

    body: list[str] = []
    other_names: dict[str, None] = {}
    shown = 0
    current_day: date | None = None
    for event in _events(session, customer.id, tz, options, progress):
        day = _local_day(event, tz)
        if day != current_day:
            current_day = day
            body.append(
                f'<p class="day"><a name="{DAY_ANCHOR}{day.isoformat()}"></a>'
                f" {_esc(format_day(day))}</p>"
            )
        body.append(_event(event, tz, red))
        shown += 1
        if event.direction == "inbound" and event.author:
            name = red.text(event.author).strip()
            plain = name and redact_contacts(name) == name and REDACTED not in name
            if plain and name.casefold() != red.name.casefold():
                other_names.setdefault(name)
    if not shown:
        body.append('<p class="empty">No events match this export.</p>')

    filters = _filters(options)
    filtered = options.channels is not None or bool(options.since or options.until)
    head = [
        f'<h1><span class="lead">Customer history — </span>{_esc(red.name)}</h1>',
        f'<p class="meta">Generated {_esc(generated)} · times in {_esc(zone_name(tz, now))}'
        f" · {shown:,} event{'s' if shown != 1 else ''}</p>",
    ]
    if filters:
        head.append(f'<p class="meta">Filters: {_esc("; ".join(filters))}</p>')
    if not filtered:
        # The customer in three lines comes first (app.brief), redacted like everything else.
        # A filtered export leaves it out: it would quote what the filters leave out.
        summary = brief.build(session, customer.id, now=now, tz=tz)
        head.append(
            '<div class="brief">'
            + "".join(f'<p class="brief">{_esc(red.text(line))}</p>' for line in summary.lines)
            + "</div>"
        )
    head.append(_profile(customer, tz, red, list(other_names)[:5], shown, filtered))
    if options.include_notes:
        head.append(_notes(queries.notes(session, customer.id), tz, red))
    head.append("<h2>History</h2>")

    document = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{_esc(title)}</title><style>{_STYLE}</style></head><body>"
        + "".join(head)
        + "".join(body)
        + "</body></html>"
    )
    return ExportDocument(
        html=document,
        title=title,
        customer_name=red.name,
        generated=generated,
        event_count=shown,
    )


def build_html(
    session: Session,
    customer_id: int,
    tz: tzinfo,
    options: ExportOptions | None = None,
    now: datetime | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """The printable history of one customer as a complete HTML document.

    Args:
        session: an open session (read only).
        customer_id: the customer (a merged customer's survivor is used).
        tz: the zone dates and times are shown in.
        options: what to include; defaults to everything, unredacted.
        now: when the export is made (aware); defaults to the current time.
        progress: called with (events read, events in the selected channels).

    Returns:
        HTML in the subset Qt's rich text understands, with no external resources.

    Raises:
        NotFoundError: no such customer.
        UserFacingError: the date range is empty.
    """
    return build_export(session, customer_id, tz, options, now, progress=progress).html
