"""How Threadline writes money, dates, durations, phone numbers and names for people to read.

One module for every human output: the GUI (``ui/``), the CLI's text output, the
brief, the waiting list and the PDF export all write through it, so they agree
("£107.48" everywhere, never "107.48 GBP" in one place and "£107.48" in another).
The CLI's JSON is a contract of its own and is not written here.

- Money: an exact ``Decimal`` with its currency, in the user's locale (CLDR
  patterns through Babel): "£107.48", "107,48 €" (de_DE), "¥1,500" (no decimals
  for yen), "-£12.00" for a refund. Digits beyond the currency's usual ones are
  kept, never rounded away. The locale is the user's (``LC_ALL``, ``LC_MONETARY``
  or ``LANG``, else the system's regional setting as the window reads it), else
  English; see :func:`user_locale`.
- Dates and times: in the zone the caller passes (the ``timezone`` setting),
  written in English, day before month, 24-hour clock: "4 Mar 2026, 09:15".
- Durations: "7 min", "5 h 10 min", "3 d 4 h"; coarse ages "3 h", "2 days".
- Phone numbers: one international format ("+44 7700 900123").
- Names: a customer's name, else a contact point as people read it (an
  address, a formatted number, a chat name), never a raw identifier such as
  "whatsapp:Tom Okafor" or a bare E.164 number.

Importing this module is cheap (the CLI's start time counts): Babel and
phonenumbers are imported on first use. Nothing here touches the database or Qt.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from threading import get_ident
from typing import TYPE_CHECKING, Any

from app.labels import PROGRAM_NAMES
from app.labels import source_name as source_name  # (where a record came from: "eBay")

if TYPE_CHECKING:
    from app.queries import CustomerRow, IdentityRow, OrderRow

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
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

log = logging.getLogger(__name__)

FALLBACK_LOCALE = "en"
"""The locale when the user's cannot be told (a "C" locale, or one Babel does not know)."""

NO_NAME = "Unnamed customer"


# --- locale -----------------------------------------------------------------------------------


_system_locale: str | None = None


def set_system_locale(name: str | None) -> None:
    """The operating system's own locale ("de_DE"), for when the environment names none.

    Windows and a macOS app started from the Finder set no ``LANG``: the window tells the
    system's regional setting here (Qt's ``QLocale.system()``), so money reads as the user
    set it there. None forgets it.
    """
    global _system_locale
    _system_locale = name or None


def user_locale(environ: Mapping[str, str] | None = None, system: str | None = None) -> str:
    """The user's locale for money, as Babel names it ("en_GB", "de_DE"), from the environment.

    ``THREADLINE_LOCALE`` decides when set; otherwise the first of ``LC_ALL``,
    ``LC_MONETARY`` and ``LANG`` that is set (as the C library reads them); then the
    system's locale (``set_system_locale``); "C" and "POSIX" mean no preference. A locale
    Babel does not know falls back to English as written in the same country ("en_DE":
    the bundled app ships English locale data only), then to plain English.

    Args:
        environ: the environment to read (default: ``os.environ``).
        system: the system's locale (default: the one set with ``set_system_locale``,
            when the environment is the process's).

    Returns:
        A locale identifier Babel can load.
    """
    env = os.environ if environ is None else environ
    for var in ("THREADLINE_LOCALE", "LC_ALL", "LC_MONETARY", "LANG"):
        value = env.get(var, "")
        if value:
            return _known_locale(value)
    fallback = system if system is not None else (_system_locale if environ is None else None)
    if fallback:
        return _known_locale(fallback)
    return FALLBACK_LOCALE


@lru_cache(maxsize=32)
def _known_locale(value: str) -> str:
    name = value.split(".")[0].split("@")[0].replace("-", "_").strip()
    if not name or name.upper() in ("C", "POSIX"):
        return FALLBACK_LOCALE
    cache = _cache()
    known = cache.locales.get(name)
    if known is None:
        known = _resolve_locale(name)
        cache.locales[name] = known
        cache.save()
    return known


def _resolve_locale(name: str) -> str:
    from babel import Locale, UnknownLocaleError

    candidates = [name]
    if "_" in name:
        candidates.append(f"en_{name.rsplit('_', 1)[1]}")
    for candidate in candidates:
        try:
            return str(Locale.parse(candidate))
        except (ValueError, UnknownLocaleError):
            continue
    return FALLBACK_LOCALE


# --- money ------------------------------------------------------------------------------------

# CLDR's currency spacing: a symbol made of letters ("BDT", "CHF") is kept apart from the digits.
_LETTERS_THEN_DIGIT = re.compile(r"^(-?)([^\W\d_]+)(?=\d)")
_DIGIT_THEN_LETTERS = re.compile(r"(?<=\d)([^\W\d_]+)$")


def money(amount: Decimal | None, currency: str, locale: str | None = None) -> str:
    """An exact amount with its currency in the user's locale: "£171.51", "107,48 €".

    Args:
        amount: the amount (None gives "").
        currency: ISO 4217 code of the amount.
        locale: a Babel locale ("de_DE"); default :func:`user_locale`.

    Returns:
        The amount as people read it. Digits are never dropped: "$0.125" stays exact.
    """
    if amount is None:
        return ""
    code = currency.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():  # not an ISO code: as given
        sign = "-" if amount < 0 else ""
        return f"{sign}{code} {abs(amount):,f}".strip()
    loc = locale or user_locale()
    cache = _cache()
    key = f"{loc} {code}"
    recipe = cache.money.get(key)
    if recipe is None:
        recipe = _money_recipe(loc, code)
        cache.money[key] = recipe
        cache.save()
    text = _apply(recipe, Decimal(amount))
    text = _LETTERS_THEN_DIGIT.sub(lambda m: f"{m.group(1)}{m.group(2)}\u00a0", text)
    return _DIGIT_THEN_LETTERS.sub(lambda m: f"\u00a0{m.group(1)}", text)


# Babel takes some 100 ms to load its CLDR data, more than a whole CLI command may take. What a
# locale needs to write one currency (the pattern's parts with the symbol filled in, the
# separators, the currency's digits) is asked of Babel once and kept in a small file, so later
# runs write money without importing Babel at all. The file is a cache: it may be deleted at any
# time, and a different Babel (another CLDR) starts it afresh.

_QUOTED = re.compile(r"'([^']*)'")


def _money_recipe(locale: str, code: str) -> dict[str, Any]:
    """What Babel's ``format_currency(…, decimal_quantization=False)`` does, as plain data."""
    from babel import Locale, UnknownLocaleError
    from babel.numbers import (
        get_currency_precision,
        get_currency_symbol,
        get_decimal_symbol,
        get_group_symbol,
    )

    try:
        loc = Locale.parse(locale)
    except (ValueError, UnknownLocaleError):  # a locale Babel does not know: English
        loc = Locale.parse(FALLBACK_LOCALE)
    pattern = loc.currency_formats["standard"]
    symbol = get_currency_symbol(code, loc)

    def fill(text: str) -> str:
        text = text.replace("¤¤¤", code).replace("¤¤", code).replace("¤", symbol)
        return _QUOTED.sub(lambda m: m.group(1) or "'", text)

    return {
        "prefix": [fill(p) for p in pattern.prefix],
        "suffix": [fill(p) for p in pattern.suffix],
        "grouping": list(pattern.grouping),
        "min_int": int(pattern.int_prec[0]),
        "decimal": get_decimal_symbol(loc),
        "group": get_group_symbol(loc),
        "digits": int(get_currency_precision(code)),
    }


def _apply(recipe: dict[str, Any], amount: Decimal) -> str:
    negative = int(amount.is_signed())
    value = abs(amount).normalize()
    natural = max(0, -int(value.as_tuple().exponent))
    digits = int(recipe["digits"])
    places = max(digits, natural)
    whole, _, frac = f"{value.quantize(Decimal(1).scaleb(-places)):f}".partition(".")
    whole = whole.rjust(int(recipe["min_int"]), "0")
    first, then = (int(g) for g in recipe["grouping"])
    grouped, size = "", first
    while len(whole) > size:
        grouped = recipe["group"] + whole[-size:] + grouped
        whole, size = whole[:-size], then
    number = whole + grouped
    frac = frac.ljust(digits, "0")
    if places and not (digits == 0 and int(frac or "0") == 0):
        while len(frac) > digits and frac.endswith("0"):
            frac = frac[:-1]
        number += recipe["decimal"] + frac
    return f"{recipe['prefix'][negative]}{number}{recipe['suffix'][negative]}"


class _Cache:
    """Babel's answers kept between runs (``<data dir>/cache/formats.json``)."""

    def __init__(self, path: Path | None, stamp: str) -> None:
        self.path = path
        self.stamp = stamp
        self.locales: dict[str, str] = {}
        self.money: dict[str, dict[str, Any]] = {}
        if path is None:
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and data.get("babel") == stamp:
            self.locales = dict(data.get("locales") or {})
            self.money = dict(data.get("money") or {})

    def save(self) -> None:
        if self.path is None:
            return
        data = {"babel": self.stamp, "locales": self.locales, "money": self.money}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            spare = self.path.with_name(f"{self.path.name}.{os.getpid()}.{get_ident()}.tmp")
            spare.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            os.replace(spare, self.path)
        except OSError:  # a read-only data folder: Babel is asked again next time
            log.debug("cannot keep the formats cache in %s", self.path, exc_info=True)


_caches: dict[str, _Cache] = {}


def _cache() -> _Cache:
    """The formats cache of the current data folder (``THREADLINE_HOME`` moves it)."""
    from importlib.util import find_spec

    home = os.environ.get("THREADLINE_HOME", "")
    cache = _caches.get(home)
    if cache is None:
        spec = find_spec("babel")
        origin = Path(spec.origin) if spec is not None and spec.origin else None
        try:
            stamp = f"{origin}:{origin.stat().st_mtime_ns}" if origin else ""
        except OSError:
            stamp = ""
        from app.paths import data_dir

        try:
            path: Path | None = data_dir() / "cache" / "formats.json"
        except OSError:
            path = None
        cache = _caches[home] = _Cache(path, stamp)
    return cache


def money_totals(totals: Mapping[str, Decimal], locale: str | None = None, sep: str = " + ") -> str:
    """Several currencies joined, in code order: "£171.51 + €20.00"."""
    return sep.join(money(v, cur, locale) for cur, v in sorted(totals.items()))


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


# --- dates and times --------------------------------------------------------------------------


def local(value: datetime, tz: tzinfo | None) -> datetime:
    """``value`` in the user's zone (None: this computer's; a naive value is taken as UTC)."""
    if value.tzinfo is None:
        from datetime import UTC

        value = value.replace(tzinfo=UTC)
    return value.astimezone(tz)


def date_text(day: date) -> str:
    """A date, unambiguous: "4 Mar 2026"."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def date_time(value: datetime | None, tz: tzinfo | None, empty: str = "—") -> str:
    """An instant in the user's zone: "4 Mar 2026, 09:15" (``empty`` for None).

    Args:
        value: an aware instant (naive means UTC), or None.
        tz: the user's zone (the ``timezone`` setting); None for this computer's zone,
            where no database says (a backup file's time).
        empty: what None is written as.
    """
    if value is None:
        return empty
    lv = local(value, tz)
    return f"{date_text(lv.date())}, {time_of_day(lv)}"


def short_date(day: date, today: date) -> str:
    """ "4 Mar" this year, "4 Mar 2024" otherwise."""
    text = f"{day.day} {_MONTHS[day.month - 1]}"
    return text if day.year == today.year else f"{text} {day.year}"


def long_date(day: date) -> str:
    """ "4 March 2026"."""
    return f"{day.day} {_MONTHS_LONG[day.month - 1]} {day.year}"


def day_heading(day: date) -> str:
    """A day heading in print, where "today" means nothing: "Tuesday 3 March 2026"."""
    return f"{_WEEKDAYS[day.weekday()]} {long_date(day)}"


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
    """A point in time on screen: "today 12:02", "yesterday 09:15", else :func:`date_time`."""
    if value is None:
        return "—"
    lv = local(value, tz)
    today = local(now, tz).date()
    if lv.date() == today:
        return f"today {time_of_day(lv)}"
    if lv.date() == today - timedelta(days=1):
        return f"yesterday {time_of_day(lv)}"
    return date_time(value, tz)


def duration(seconds: int) -> str:
    """A wait to the minute: "7 min", "5 h 10 min", "3 d 4 h"."""
    days, rest = divmod(max(0, seconds), 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {rest // 60} min"
    return f"{rest // 60} min"


def age(seconds: int) -> str:
    """A coarse age for prose: "5 min", "3 h" (under two days), "2 days"."""
    if seconds < 3600:
        return f"{max(1, seconds // 60)} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


# --- counts and sizes -------------------------------------------------------------------------


def plural(count: int, one: str, many: str | None = None) -> str:
    """ "1 order", "3 orders", "1,204 messages"."""
    word = one if count == 1 else (many or f"{one}s")
    return f"{count:,} {word}"


def by_kind(paths: Iterable[str], most: int = 6) -> str:
    """How many files of each kind, most first: "30 .jpeg, 1 .json" (an export's files
    left out of an import)."""
    kinds: dict[str, int] = {}
    for path in paths:
        kind = Path(path).suffix.lower() or "no extension"
        kinds[kind] = kinds.get(kind, 0) + 1
    ranked = sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{n:,} {kind}" for kind, n in ranked[:most])
    return shown + (", …" if len(ranked) > most else "")


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


# --- phone numbers, contact points and names --------------------------------------------------


def phone(value: str) -> str:
    """A phone number in one international format ("+44 7700 900123"); other text unchanged."""
    text = value.strip()
    if not text.startswith("+"):
        return value
    import phonenumbers

    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return value
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


def chat_extras(details: object, text: str) -> list[str]:
    """What a chat message's details add to its text, one line each: the pictures and files
    sent with it (their names; the files themselves are not imported), its reactions, and
    whether it was edited or deleted. A file the text already names (WhatsApp's placeholder)
    is not repeated."""
    if not isinstance(details, dict):
        return []
    lines: list[str] = []
    media = details.get("media")
    for item in (
        [media] if isinstance(media, dict) else media if isinstance(media, (list, tuple)) else []
    ):
        if not isinstance(item, dict):
            continue
        name = item.get("file") or item.get("name") or str(item.get("uri") or "").rpartition("/")[2]
        if not isinstance(name, str) or not name or name in text:
            continue
        kind = str(item.get("kind") or item.get("type") or "file").partition("/")[0]
        lines.append(f"{kind[:1].upper()}{kind[1:]} (not imported): {name}")
    reactions = details.get("reactions")
    if isinstance(reactions, str) and reactions:
        lines.append(f"Reactions: {reactions}")
    elif isinstance(reactions, (list, tuple)):
        said = []
        for r in reactions:
            if isinstance(r, dict) and r.get("reaction"):
                users = r.get("users")
                who = r.get("actor") or (
                    ", ".join(map(str, users)) if isinstance(users, (list, tuple)) else ""
                )
                said.append(join_nonempty((str(r["reaction"]), str(who or "")), " "))
        if said:
            lines.append("Reactions: " + ", ".join(said))
    if details.get("edited") or details.get("edited_at"):
        lines.append("Edited after it was sent")
    if details.get("deleted"):
        lines.append("Deleted from the conversation after it was sent")
    return lines


def platform_label(platform: str) -> str:
    """ "WhatsApp" for "whatsapp"; an unknown platform capitalised."""
    return PROGRAM_NAMES.get(platform.lower(), platform[:1].upper() + platform[1:])


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


def person_name(name: str) -> str:
    """A stored name as shown: a number standing in for a name is written the one way."""
    return phone(name) if name.strip().startswith("+") else name


def customer_name(row: CustomerRow, empty: str = NO_NAME) -> str:
    """A customer's name as shown: their name, else a formatted number, else a handle.

    ``CustomerRow.name`` falls back to a contact point as stored when nobody gave a
    name; that is written as people read it here (a number formatted, a chat handle
    as its name, never "whatsapp:Tom Okafor").
    """
    name = row.name.strip()
    for ident in row.identities:
        if name and name in (ident.raw, ident.value):
            if ident.kind == "phone":
                return phone(ident.value)
            if ident.kind in ("handle", "platform_id"):
                return phone(ident.raw or ident.value)
            break
    if name:
        return person_name(name)
    if row.phones:
        return phone(row.phones[0])
    handles = [i for i in row.identities if i.kind == "handle"]
    if handles:
        return phone(handles[0].raw or handles[0].value)
    return row.emails[0] if row.emails else empty
