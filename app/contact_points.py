"""Contact points as people type them: an email address or a phone number, normalised.

Plain functions (no database, no SQLAlchemy; the numbering tables of ``phonenumbers``
load when a number is first read), shared by identity resolution (``app.identity``),
the queries and the CLI's lean read path.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from app.lazy import LazyModule

if TYPE_CHECKING:
    import phonenumbers
else:  # the numbering tables load when a number is first read (a search for a name needs none)
    phonenumbers = LazyModule("phonenumbers")

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(raw: str) -> str | None:
    """A lower-cased address, or None if ``raw`` is not an address."""
    value = raw.strip().strip("<>").strip().lower()
    if value.startswith("mailto:"):
        value = value[7:]
    return value if _EMAIL_RE.match(value) else None


_RUNS = "01234567890123456789"


def _made_up_digits(digits: str) -> bool:
    """Digits nobody dials: one digit repeated, or a counting run (1234567890, 9876543210).

    One digit may differ (``+1 000 000 0000`` keeps its country code, ``07000 000000``
    its leading 7).
    """
    if len(digits) < 7:
        return False
    if max(digits.count(d) for d in set(digits)) >= len(digits) - 1:
        return True
    for runs in (_RUNS, _RUNS[::-1]):
        for cut in (digits, digits[1:], digits[:-1]):
            if len(cut) >= 7 and cut in runs:
                return True
    return False


def is_placeholder_phone(raw: str, region: str = "") -> bool:
    """True for numbers that forms and films use instead of a real one.

    North America's fictional 555-01xx lines, directory assistance (555-1212), the
    unassigned area code 555 (``555-123-4567``), a bare seven-digit ``555-xxxx``,
    one digit repeated (``0000000000``, ``11111111111``) and counting runs
    (``1234567890``), also after a country code or trunk prefix (``+44 1234 567890``,
    ``07123 456789``). Such a number is typed by buyers who do not want to give
    theirs, so several strangers share it: it is never anyone's identity.
    (Ofcom's drama range ``+44 7700 900xxx`` is a possible number and stays one.)
    """
    digits = "".join(ch for ch in raw if ch.isdigit())
    if _made_up_digits(digits):
        return True
    try:
        number = phonenumbers.parse(raw, region.upper() or None)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and _made_up_digits(phonenumbers.national_significant_number(number)):
        return True
    if len(digits) == 7 and digits.startswith("555"):
        return True
    nanp = _north_american(raw, digits, region)
    if nanp:
        area, exchange, line = nanp[:3], nanp[3:6], nanp[6:]
        if area == "555" or (exchange == "555" and (line.startswith("01") or line == "1212")):
            return True
    return False


def _north_american(raw: str, digits: str, region: str) -> str:
    """The ten digits of ``raw`` read as a North American number, or "" if it is not one.

    Written with ``+1``, or at home in North America, or as ten digits without the
    trunk 0 where national numbers start with one (``555-123-4567`` typed in the UK).
    """
    text = raw.lstrip()
    if text.startswith(("+", "00")):
        dialled = digits[2:] if text.startswith("00") else digits
        return dialled[1:] if dialled.startswith("1") and len(dialled) == 11 else ""
    home = phonenumbers.country_code_for_region(region.upper()) if region else 1
    if len(digits) == 11 and digits[0] == "1" and home == 1:
        return digits[1:]
    if len(digits) != 10 or digits[0] in "01":
        return ""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper()) if region else None
    if home == 1 or metadata is None or metadata.national_prefix == "0":
        return digits
    return ""


@lru_cache(maxsize=8192)
def normalize_phone(raw: str, region: str) -> str | None:
    """E.164 form of ``raw`` read with the default ``region``, or None.

    Numbers that are possible (right length for the country) are kept even if
    the library's tables do not list their range as valid; extensions are
    dropped. Placeholder numbers (``is_placeholder_phone``) are None. Remembered: a
    chat export names the same number in every message's title and participant.
    """
    text = raw.strip()
    if not text or sum(ch.isdigit() for ch in text) < 5:
        return None
    try:
        number = phonenumbers.parse(text, region.upper() or None)
    except phonenumbers.NumberParseException:
        return None
    number.extension = None
    # IS_POSSIBLE only: a "local only" length (7 digits under +1) cannot be dialled as given.
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    e164 = str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return None if is_placeholder_phone(text, region) or is_placeholder_phone(e164) else e164


def phone_search_digits(query: str, region: str) -> list[str]:
    """Digit runs to look for in stored phone numbers (E.164 digits) for a typed ``query``.

    The digits as typed, plus, when they start with the home ``region``'s trunk
    prefix (``07700 900123`` in the UK) or an international call prefix
    (``0044 7700…``), the same digits as they sit in an E.164 number
    (``447700900123``). Works for partial numbers (``0770``) too.
    """
    digits = "".join(ch for ch in query if ch.isdigit())
    if not digits:
        return []
    found = [digits]
    text = query.lstrip()
    if text.startswith("+"):
        return found
    if text.startswith("00") and len(digits) > 2:
        found.append(digits[2:])
        return list(dict.fromkeys(found))
    code = region.upper()
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(code) if code else None
    prefix = metadata.national_prefix if metadata is not None else None
    if metadata is not None and prefix and digits.startswith(prefix) and len(digits) > len(prefix):
        found.append(f"{metadata.country_code}{digits[len(prefix) :]}")
    return list(dict.fromkeys(found))
