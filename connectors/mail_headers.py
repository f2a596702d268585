"""Header helpers for email: address lists, dates, automated senders, subject threading.

These read header values that ``connectors.mail`` has already unfolded and
turned into text. They never raise for bad input: an unusable address is
skipped, an unreadable date is None.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from app.records import EventRecord

_EARLIEST = datetime(1971, 1, 1, tzinfo=UTC)
_BAD_ADDRESS_CHAR = re.compile(r"[\s<>,;:@()\"]")
_ADDR = r"[^\s<>,;:@()\"\\\[\]]+@[^\s<>,;:@()\"\\\[\]]+"
_SIMPLE_ADDRESS = re.compile(
    rf'\s*(?:(?:"([^"\\]*)"|([^"<>,;:()\\@\[\]]*?))\s*<({_ADDR})>|({_ADDR}))\s*'
)
_AUTOMATED_PREFIXES = ("mailerdaemon", "noreply", "donotreply")
_AUTOMATED_LOCALS = frozenset(
    "postmaster bounce bounces notification notifications notify alert alerts newsletter "
    "newsletters mailer automailer autoreply autoconfirm wordpress".split()
)
# Mailing-list machinery (RFC 2142/2369 conventions of Mailman, Google Groups, Sympa,
# majordomo, ezmlm) and envelope rewriting: ``list+owner@``, ``list-owner@``,
# ``owner-list@``, ``list-request@``, ``list-bounces@``, ``list-bounces+user=host@`` and
# its VERP form, ``bounce-123-456@``, SRS (``SRS0=…``) and BATV (``prvs=…``).
_LIST_ADMIN_OR_VERP = re.compile(
    r"[+\-](?:owner|request|bounces?|admin|confirm|unsubscribe|subscribe|leave|join)(?:$|[+=])"
    r"|^owner-"
    r"|^(?:srs[01]|prvs|btv1|msprvs1)[=+]",
)
# Platform notification senders: shop, marketplace and payment platforms write
# from their own domains; a buyer's message relayed by a marketplace comes
# from a relay address (``…@marketplace.amazon.co.uk``) and stays a customer.
_NOTIFICATION_SENDER = re.compile(
    r"@(?:[\w-]+\.)*(?:shopify|shopifyemail|etsy|etsymail|paypal|stripe|squareup|sumup"
    r"|zettle|izettle|klarna|facebookmail|bigcommerce)\.[a-z.]+$"
    r"|^(?:auto-confirm|ship-confirm|shipment-tracking|order-update|payments-messages)"
    r"@(?:[\w-]+\.)*amazon\.[a-z.]+$"
    r"|^ebay@(?:[\w-]+\.)*ebay\.[a-z.]+$",
    re.IGNORECASE,
)
_ENVELOPE_DATE = re.compile(
    r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+)?"
    r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\s+(\d{1,2}),?\s+"
    r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s+"
    r"(?:([+-]\d{4}|[a-z]{1,5})\s+)?(\d{4})(?:\s+([+-]\d{4}))?\b",
    re.IGNORECASE,
)
_REPLY_PREFIX = re.compile(
    r"\s*(?:(re|aw|sv|vs|antw|antwort|odp|ynt|rif|wg|fw|fwd|tr|enc|rv|doorst|vl"
    r"|απ|σχετ|回复|回覆|答复|转发|轉寄|返信|転送)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]"
    r"|\[[^\]]{0,60}\])\s*",
    re.IGNORECASE,
)


def _valid_address(addr: str) -> bool:
    local, _, domain = addr.rpartition("@")
    return bool(local and domain) and not _BAD_ADDRESS_CHAR.search(local + domain)


def split_addresses(value: str) -> list[tuple[str, str]]:
    """Split an address-list header into (display name, address) pairs.

    Handles quoted names with commas, comments, group syntax
    (``Team: a@x, b@y;``) and a display name that is itself an address
    (``alice@example.com <bob@example.com>`` is bob). Encoded words are left
    alone, so decode names afterwards: an encoded comma stays inside one name.
    Entries without a usable ``local@domain`` address are skipped.

    Args:
        value: the unfolded header value.

    Returns:
        The (name, address) pairs in order, names not yet decoded.
    """
    if "@" not in value:
        return []
    simple = _SIMPLE_ADDRESS.fullmatch(value)
    if simple is not None:  # the common "Name <a@b>", "\"Name\" <a@b>" and "a@b": no parsing
        name = simple.group(1) if simple.group(1) is not None else simple.group(2) or ""
        return [(" ".join(name.split()), simple.group(3) or simple.group(4))]
    result: list[tuple[str, str]] = []
    outside: list[str] = []
    comments: list[str] = []
    angle: list[str] | None = None
    in_quote = in_angle = escape = False
    depth = 0

    def flush() -> None:
        if angle is not None:
            addr, name = "".join(angle), "".join(outside) or "".join(comments)
        else:
            addr, name = "".join(outside), "".join(comments)
        addr = addr.strip()
        if addr.startswith("@") and ":" in addr:  # obsolete source route
            addr = addr.split(":", 1)[1]
        if not _valid_address(addr) and angle is None:  # e.g. an unterminated quote
            match = re.search(r"<([^<>\s]+@[^<>\s]+)>", addr)
            if match:
                addr, name = match.group(1), addr[: match.start()]
        if _valid_address(addr):
            result.append((" ".join(name.split()), addr))

    for ch in value:
        target = angle if in_angle and angle is not None else outside
        if escape:
            (comments if depth else target).append(ch)
            escape = False
        elif ch == "\\" and (in_quote or depth):
            escape = True
        elif in_quote:
            if ch == '"':
                in_quote = False
            else:
                target.append(ch)
        elif depth:
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth:
                comments.append(ch)
        elif ch == '"':
            in_quote = True
        elif ch == "(":
            depth = 1
            comments.append(" ")
        elif in_angle:
            if ch == ">":
                in_angle = False
            else:
                target.append(ch)
        elif ch == "<":
            in_angle, angle = True, []
        elif ch in ",;":
            flush()
            outside, comments, angle = [], [], None
        elif ch == ":" and angle is None:
            outside, comments = [], []  # a group's name
        else:
            outside.append(ch)
    flush()
    return result


def parse_date(value: str | None) -> datetime | None:
    """An RFC 5322 date as aware UTC, or None if missing, unreadable or impossible.

    Dates without a zone (or ``-0000``) are taken as UTC. Dates before 1971 or
    more than two days in the future (year 3609 spam) count as impossible.

    Args:
        value: the header value.

    Returns:
        The UTC datetime or None.
    """
    if not value or not value.strip():
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return plausible_date(parsed)


def plausible_date(value: datetime | None) -> datetime | None:
    """A date as aware UTC, or None when it is missing or impossible.

    A naive date is taken as UTC. Dates before 1971 or more than two days in
    the future count as impossible, as in ``parse_date``.

    Args:
        value: the date, from a header or a fallback (file name, server, file time).

    Returns:
        The UTC datetime or None.
    """
    if value is None:
        return None
    try:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    if not _EARLIEST <= value <= datetime.now(UTC) + timedelta(days=2):
        return None
    return value


def envelope_date(line: bytes | str | None) -> datetime | None:
    """The date of an mbox ``From `` separator line, or None if it has no usable one.

    Reads the asctime form (``From a@b Mon Jan  1 00:00:00 2026``), with a
    zone before or after the year (Google Takeout writes
    ``From 1792…@xxx Fri Mar 08 12:00:00 +0000 2024``). Without a zone the
    time is taken as UTC. Impossible dates are None, as in ``parse_date``.

    Args:
        line: the whole ``From `` line, with or without its line break.

    Returns:
        The UTC datetime or None.
    """
    if not line:
        return None
    if isinstance(line, bytes):
        line = line.decode("ascii", "replace")
    match = _ENVELOPE_DATE.search(line, 5 if line.startswith("From ") else 0)
    if match is None:
        return None
    month, day, hour, minute, second, zone, year, zone_after = match.groups()
    offset = zone_after or zone or "+0000"
    return parse_date(f"{day} {month[:3]} {year} {hour}:{minute}:{second or '00'} {offset}")


def is_automated_sender(address: str) -> bool:
    """Whether an address belongs to a machine: no-reply, bounces, platform notifications.

    Args:
        address: the sender's address.

    Returns:
        True for no-reply/mailer-daemon/notification local parts and the
        notification senders of shop, marketplace and payment platforms
        (Shopify, Etsy, PayPal, Stripe, Square, Amazon order mail, …).
    """
    full_local = address.strip().rpartition("@")[0].lower()
    if _LIST_ADMIN_OR_VERP.search(full_local):
        return True
    local = full_local.split("+", 1)[0]
    squashed = re.sub(r"[-_.\d]", "", local)
    if squashed.startswith(_AUTOMATED_PREFIXES) or squashed in _AUTOMATED_LOCALS:
        return True
    return _NOTIFICATION_SENDER.search(address.strip()) is not None


def normalise_subject(subject: str) -> tuple[str, bool]:
    """A subject without reply/forward prefixes and list tags, for subject threading.

    Args:
        subject: the decoded subject.

    Returns:
        (the case-folded subject with single spaces, whether a reply or
        forward prefix such as ``Re:``, ``AW:``, ``Fwd:`` or ``Re[2]:`` was removed).
    """
    text = " ".join(subject.split())
    reply = False
    while True:
        match = _REPLY_PREFIX.match(text)
        if match is None or match.end() == 0:
            break
        reply = reply or match.group(1) is not None
        text = text[match.end() :]
    return text.casefold(), reply


class SubjectThreads:
    """Per-source memory of thread keys by normalised subject and addresses.

    This is rule 3 of the threading rule in ``connectors.mail``.

    It holds the latest ``limit`` subjects (about 150 bytes each), so memory
    stays bounded however large the source.
    """

    def __init__(self, limit: int = 20_000) -> None:
        self._keys: OrderedDict[bytes, str] = OrderedDict()
        self._limit = limit

    @staticmethod
    def digest(subject: str, addresses: Sequence[str]) -> bytes:
        """The key of a normalised subject among a set of addresses (16 bytes)."""
        basis = "\x1f".join([subject, *sorted({a.lower() for a in addresses})])
        return hashlib.blake2b(basis.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def thread_key(self, record: EventRecord, chained: bool) -> str | None:
        """The record's thread key under rule 3, remembering it for later messages.

        Args:
            record: the parsed message (its ``thread_key`` follows rules 1, 2 and 4).
            chained: it had a Gmail thread id or a Message-ID chain.

        Returns:
            The thread key to use.
        """
        subject, reply = normalise_subject(record.title)
        if not subject or subject == "(no subject)" or record.thread_key is None:
            return record.thread_key
        key = self.digest(subject, [p.email for p in record.participants if p.email])
        if chained or not reply:
            found = record.thread_key
        else:
            found = self._keys.get(key) or "subject:" + key.hex()
        self._keys[key] = found
        self._keys.move_to_end(key)
        if len(self._keys) > self._limit:
            self._keys.popitem(last=False)
        return found
