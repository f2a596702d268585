"""What a message mentions: order numbers, email addresses and phone numbers in its text.

Customers name their orders ("where is my order #1043?"), give an address in a
chat ("it's jane.doe@gmail.com") and sign their emails with a phone number.
When a message from one customer mentions an order, address or number that
belongs to another customer, the two may be one person: that becomes a
reason in the merge suggestions (``app.suggestions``), never an automatic
link, because people also write about a partner's order or a gift.

Mentions are read once, at import, and kept in the ``mention`` table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from app.identity import normalize_email, normalize_phone

KINDS = ("order", "email", "phone")
MAX_PER_KIND = 5  # a message quoting more is a list or a forward, not a customer's own words
MAX_TEXT = 20000  # the head of a long body holds what the customer wrote (and the signature)

_ORDER_RE = re.compile(
    r"(?:\border\s*(?:no\.?|number|nr\.?|num\.?|ref(?:erence)?\.?|id)?\s*[:#]?\s*#?"
    r"|#\s?)"
    r"([A-Z]{0,3}-?\d{3,12})\b",
    re.IGNORECASE,
)
_EMAIL_RE = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE_RE = re.compile(r"(?<![\w+])(\+?\(?\d[\d ().-]{6,18}\d)(?![\w])")


# ``#`` and the ASCII characters ``\s`` matches (those ``str.isspace`` calls spaces).
_DROP = {i: None for i in range(128) if chr(i).isspace() or chr(i) == "#"}


def order_key(number: str) -> str:
    """An order number as mentions and orders are compared: no ``#``, spaces or case."""
    if number.isascii():  # the usual case, without the regular expression
        return number.translate(_DROP).upper()
    return re.sub(r"[\s#]", "", number).upper()


def extract(text: str, region: str) -> Iterator[tuple[str, str]]:
    """The (kind, value) pairs ``text`` mentions, each once, normalised for matching."""
    text = text[:MAX_TEXT]
    seen: set[tuple[str, str]] = set()
    counts = dict.fromkeys(KINDS, 0)

    def take(kind: str, value: str) -> bool:
        if (kind, value) in seen or counts[kind] >= MAX_PER_KIND:
            return False
        seen.add((kind, value))
        counts[kind] += 1
        return True

    for match in _ORDER_RE.finditer(text):
        key = order_key(match.group(1))
        if take("order", key):
            yield "order", key
    if "@" in text:
        for match in _EMAIL_RE.finditer(text):
            email = normalize_email(match.group(0).strip(".'-"))
            if email and take("email", email):
                yield "email", email
    for match in _PHONE_RE.finditer(text):
        raw = match.group(1)
        if sum(ch.isdigit() for ch in raw) < 9:
            continue
        e164 = normalize_phone(raw, region)
        if e164 and take("phone", e164):
            yield "phone", e164


def rows(event_id: int, title: str, body: str, region: str) -> list[dict[str, object]]:
    """The ``mention`` rows for one event."""
    found = extract(f"{title}\n{body}", region)
    return [{"event_id": event_id, "kind": k, "value": v} for k, v in found]
