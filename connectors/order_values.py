"""Exact money and aware dates from the cells of order exports.

Shared by the order connectors so every platform reads values the same way:
money as exact ``Decimal`` — plain (``1400.00``), or with the thousands
separators, currency symbols and decimal comma a format uses (``$1,234.56``,
``1.234,56 €``, ``-$0.95``, ``(5.00)``) — never float; dates to aware UTC from
ISO forms with offsets, numeric local dates in a given day/month order with
12- or 24-hour times, English month names and Excel serial day numbers; and
zone names (IANA, ``GMT+01:00``, ``PDT``) to ``tzinfo``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Literal
from zoneinfo import ZoneInfo

from app.records import DateOrder, Notice, ParseOptions

NumberStyle = Literal["dot", "comma"]


class BadValue(ValueError):
    """A cell that should hold an amount, a count or a date holds something else."""


# --------------------------------------------------------------------------- money

_PLAIN_AMOUNT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_SYMBOL = r"(?:[A-Z]{3}|[A-Za-z]{0,3}[$€£¥￥₹₩₽₺₪₱฿₫₴₦]|kr\.?|zł|Kč|Fr\.)"
_MONEY = re.compile(
    rf"(?P<s1>[-+−]?)\s*(?:{_SYMBOL}\s*)?(?P<s2>[-+−]?)\s*"
    rf"(?P<num>\d[\d.,'\u00a0\u202f ]*)\s*(?:{_SYMBOL})?\s*(?P<s3>-?)"
)
_SPACE_GROUPS = re.compile(r"\d{1,3}(?:['\u00a0\u202f ]\d{3})+(?:[.,]\d+)?")


def parse_amount(text: str) -> Decimal | None:
    """Read a plain decimal money cell exactly (``1400.00``; no symbols, no grouping).

    Args:
        text: the cell.

    Returns:
        The amount as ``Decimal`` (its decimal places kept), or None if empty.

    Raises:
        ValueError: the cell is not a plain decimal number.
    """
    value = text.strip()
    if not value:
        return None
    if not _PLAIN_AMOUNT.fullmatch(value):
        raise BadValue(f"{text!r} is not an amount")
    try:
        return Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already checked it
        raise BadValue(f"{text!r} is not an amount") from exc


def _digits(number: str) -> str:
    number = number.strip()
    if any(ch in number for ch in "'\u00a0\u202f "):
        if not _SPACE_GROUPS.fullmatch(number):
            raise ValueError(number)
        number = re.sub(r"['\u00a0\u202f ]", "", number)
    return number


def parse_money(text: str, style: NumberStyle = "dot") -> Decimal | None:
    """Read a formatted money cell exactly: ``$1,234.56``, ``-$0.95``, ``1.234,56 €``, ``(5.00)``.

    A currency symbol or ISO code before or after the number is ignored (the
    currency comes from elsewhere). Thousands separators must group by three.

    Args:
        text: the cell.
        style: "dot" for ``1,234.56``; "comma" for ``1.234,56`` (a decimal comma).

    Returns:
        The amount, or None if the cell is empty.

    Raises:
        ValueError: the cell is not an amount in that style.
    """
    value = text.strip()
    if not value:
        return None
    negative = False
    if value.startswith("(") and value.endswith(")"):
        negative, value = True, value[1:-1].strip()
    match = _MONEY.fullmatch(value)
    if not match:
        raise BadValue(f"{text!r} is not an amount")
    signs = match["s1"] + match["s2"] + match["s3"]
    negative = negative or "-" in signs or "−" in signs
    try:
        number = _digits(match["num"])
    except ValueError:
        raise BadValue(f"{text!r} is not an amount") from None
    group, point = (",", ".") if style == "dot" else (".", ",")
    if group in number:
        if not re.fullmatch(
            rf"\d{{1,3}}(?:{re.escape(group)}\d{{3}})+(?:{re.escape(point)}\d+)?", number
        ):
            raise BadValue(f"{text!r} is not an amount")
        number = number.replace(group, "")
    number = number.replace(point, ".")
    if not re.fullmatch(r"\d+(?:\.\d+)?", number):
        raise BadValue(f"{text!r} is not an amount")
    amount = Decimal(number)
    return -amount if negative else amount


def detect_number_style(samples: Iterable[str], default: NumberStyle = "dot") -> NumberStyle:
    """Whether a file writes ``1,234.56`` ("dot") or ``1.234,56`` ("comma"), by majority.

    Cells that cannot tell (``1,500``, ``1500``) do not vote; with no votes the
    ``default`` holds.

    Args:
        samples: money cells of the file.
        default: the answer when the cells cannot tell.
    """
    votes = {"dot": 0, "comma": 0}
    for sample in samples:
        match = _MONEY.fullmatch(sample.strip().strip("()"))
        if not match:
            continue
        try:
            number = _digits(match["num"])
        except ValueError:
            continue
        dot, comma = number.rfind("."), number.rfind(",")
        if dot >= 0 and comma >= 0:
            votes["dot" if dot > comma else "comma"] += 1
        elif comma >= 0 or dot >= 0:
            mark = "," if comma >= 0 else "."
            if number.count(mark) > 1:
                votes["comma" if mark == "." else "dot"] += 1
            elif len(number) - number.rfind(mark) - 1 != 3:
                votes["comma" if mark == "," else "dot"] += 1
    if votes["dot"] == votes["comma"]:
        return default
    return "dot" if votes["dot"] > votes["comma"] else "comma"


def parse_quantity(text: str) -> int:
    """A line item quantity: ``2``, ``2.0`` or ``2,00``; 1 if empty.

    Args:
        text: the cell.

    Returns:
        The quantity.

    Raises:
        ValueError: the cell is not a whole number.
    """
    value = text.strip()
    if not value:
        return 1
    match = re.fullmatch(r"(\d+)(?:[.,]0+)?", value)
    if not match:
        raise BadValue(f"{text!r} is not a quantity")
    return int(match[1])


def unit_price(line_total: Decimal | None, quantity: int) -> Decimal | None:
    """The unit price behind a line total, when it divides exactly at the total's precision.

    Args:
        line_total: the line's total (price × quantity), or None.
        quantity: the quantity.

    Returns:
        ``51.00`` / 2 → ``25.50``; None when there is no total or the division is not exact.
    """
    if line_total is None or quantity <= 0:
        return None
    if quantity == 1:
        return line_total
    exponent = line_total.as_tuple().exponent
    step = Decimal(1).scaleb(exponent if isinstance(exponent, int) else 0)
    price = (line_total / quantity).quantize(step)
    return price if price * quantity == line_total else None


_SYMBOLS = (("€", "EUR"), ("£", "GBP"), ("¥", "JPY"), ("￥", "JPY"), ("₹", "INR"), ("₩", "KRW"))


def currency_from_symbols(samples: Iterable[str]) -> str | None:
    """The currency the money cells' symbol names unambiguously (``€`` → EUR), or None.

    ``$`` names no currency on its own (USD, CAD, AUD, … all use it).

    Args:
        samples: money cells of the file.

    Returns:
        An ISO code, or None.
    """
    values = list(samples)
    for symbol, code in _SYMBOLS:
        if any(symbol in value for value in values):
            return code
    return None


def currency_code(text: str) -> str:
    """An ISO 4217 code, upper-cased.

    Args:
        text: the cell (``usd``, ``EUR``).

    Returns:
        The code.

    Raises:
        ValueError: the cell is not three letters.
    """
    value = text.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise BadValue(f"{text!r} is not a currency code")
    return value


# --------------------------------------------------------------------------- dates

_ISO_LIKE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
    r"\s*(?:(Z|UTC|GMT)|([+-])(\d{2}):?(\d{2}))?"
)
_NUMERIC_DATE = re.compile(
    r"(?P<a>\d{1,4})(?P<sep>[/.\-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{2,4})\.?"
    r"(?:[ T,]+(?P<H>\d{1,2})[:.](?P<M>\d{2})(?:[:.](?P<S>\d{2})(?:\.\d+)?)?"
    r"\s*(?P<ampm>[AaPp]\.?\s?[Mm]\.?)?)?"
    r"\s*(?P<zone>Z|UTC|GMT|[+-]\d{2}:?\d{2})?"
)
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_NAMED_DATE = re.compile(
    r"(?:(?P<m1>[A-Za-z]{3,9})\.? (?P<d1>\d{1,2}),? (?P<y1>\d{4})"
    r"|(?P<d2>\d{1,2})[ -](?P<m2>[A-Za-z]{3,9})\.?[ -](?P<y2>\d{2,4}))"
    r"(?:[ ,T]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?\s*(?P<ampm>[AaPp]\.?\s?[Mm]\.?)?)?"
)
_EXCEL_SERIAL = re.compile(r"\d{1,7}(?:\.\d+)?")
_EXCEL_EPOCH = datetime(1899, 12, 30)


def _offset_zone(sign: str, hours: str, minutes: str) -> tzinfo:
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    return timezone(-offset if sign == "-" else offset)


def _zone_of(text: str | None, tz: tzinfo) -> tzinfo:
    if not text:
        return tz
    if text in ("Z", "UTC", "GMT"):
        return UTC
    digits = text[1:].replace(":", "")
    return _offset_zone(text[0], digits[:2], digits[2:])


def _year(text: str) -> int:
    year = int(text)
    if len(text) <= 2:
        year += 2000 if year < 69 else 1900
    return year


def _clock(
    hour: str | None, minute: str | None, second: str | None, ampm: str | None
) -> tuple[int, int, int]:
    h, m, s = int(hour or 0), int(minute or 0), int(second or 0)
    if ampm:
        pm = ampm.strip().lower().startswith("p")
        if not 1 <= h <= 12:
            raise ValueError("hour")
        h = (h % 12) + (12 if pm else 0)
    return h, m, s


def parse_date(text: str, tz: tzinfo) -> datetime | None:
    """Read an ISO-like date cell as an aware UTC datetime.

    Accepts ``YYYY-MM-DD HH:MM:SS ±HHMM`` (Shopify's form), ISO 8601, and
    Excel serial day numbers such as ``45384.34789351852`` (days since
    1899-12-30, which lost their offset, so they are read in ``tz``).

    Args:
        text: the cell.
        tz: zone for dates without an offset.

    Returns:
        The datetime in UTC, or None if the cell is empty.

    Raises:
        ValueError: the cell is not a date.
    """
    value = text.strip()
    if not value:
        return None
    match = _ISO_LIKE.fullmatch(value)
    try:
        if match:
            year, month, day, hour, minute, second, utc, sign, off_h, off_m = match.groups()
            zone = UTC if utc else _offset_zone(sign, off_h, off_m) if sign else tz
            naive = datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second or 0)
            )
            return naive.replace(tzinfo=zone).astimezone(UTC)
        if _EXCEL_SERIAL.fullmatch(value) and 1 <= Decimal(value) < 2958466:
            serial = Decimal(value)
            days = int(serial)
            seconds = int(((serial - days) * 86400).to_integral_value())
            naive = _EXCEL_EPOCH + timedelta(days=days, seconds=seconds)
            return naive.replace(tzinfo=tz).astimezone(UTC)
        parsed = datetime.fromisoformat(value)
    except (ValueError, OverflowError) as exc:
        raise BadValue(f"{text!r} is not a date") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


def parse_datetime(text: str, tz: tzinfo, order: DateOrder = "mdy") -> datetime | None:
    """Read a date cell in any of the forms exports use, as an aware UTC datetime.

    Besides what ``parse_date`` reads: numeric dates with ``/``, ``.`` or ``-``
    (``5/31/2016 0:37``, ``31.05.2016``, ``12/31/21``) in the given day/month
    order — a four-digit first field always means year first — with an optional
    12- or 24-hour time; and English month names (``Jan 25, 2025 12:45 PM``,
    ``10-Dec-25``). A date without a time is midnight in ``tz``.

    Args:
        text: the cell.
        tz: zone for dates without an offset.
        order: day/month order of numeric dates ("dmy", "mdy" or "ymd").

    Returns:
        The datetime in UTC, or None if the cell is empty.

    Raises:
        ValueError: the cell is not a date.
    """
    value = " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())
    if not value:
        return None
    try:
        return parse_date(value, tz)
    except BadValue:
        pass
    try:
        if match := _NUMERIC_DATE.fullmatch(value):
            a, b, c = match["a"], match["b"], match["c"]
            if len(a) == 4 or order == "ymd":
                year, month, day = _year(a), int(b), int(c)
            elif order == "dmy":
                day, month, year = int(a), int(b), _year(c)
            else:
                month, day, year = int(a), int(b), _year(c)
            clock = _clock(match["H"], match["M"], match["S"], match["ampm"])
            zone = _zone_of(match["zone"], tz)
        elif (named := _NAMED_DATE.fullmatch(value)) and (
            (mon := _MONTHS.get((named["m1"] or named["m2"]).lower())) is not None
        ):
            month, day = mon, int(named["d1"] or named["d2"])
            year = _year(named["y1"] or named["y2"])
            clock = _clock(named["H"], named["M"], named["S"], named["ampm"])
            zone = tz
        else:
            raise ValueError(value)
        naive = datetime(year, month, day, *clock)
    except (ValueError, OverflowError) as exc:
        raise BadValue(f"{text!r} is not a date") from exc
    return naive.replace(tzinfo=zone).astimezone(UTC)


def infer_date_order(samples: Iterable[str]) -> DateOrder | None:
    """The day/month order the numeric dates of a file imply, or None if they cannot tell.

    A first field above 12 means day first; a second field above 12 means
    month first. Year-first dates say nothing.

    Args:
        samples: date cells of the file.

    Returns:
        "dmy", "mdy", or None when the dates cannot tell (or disagree).
    """
    seen: set[DateOrder] = set()
    for sample in samples:
        match = _NUMERIC_DATE.fullmatch(" ".join(sample.split()))
        if not match or len(match["a"]) == 4:
            continue
        if int(match["a"]) > 12:
            seen.add("dmy")
        elif int(match["b"]) > 12:
            seen.add("mdy")
    return seen.pop() if len(seen) == 1 else None


def region_date_order(region: str) -> DateOrder:
    """The usual numeric date order of a country: month first in the US, else day first.

    Args:
        region: ISO country code (the ``region`` setting).

    Returns:
        "mdy" or "dmy".
    """
    return (
        "mdy" if region.upper() in ("US", "PH", "FM", "MH", "PW", "AS", "GU", "PR", "VI") else "dmy"
    )


def choose_date_order(
    options: ParseOptions, samples: Iterable[str], default: DateOrder
) -> tuple[DateOrder, Notice | None]:
    """The day/month order to read a file with, and a notice when it had to be assumed.

    The user's choice (``options.date_order``) wins, then what the file's dates
    imply, then day first for dotted dates (``03.02.2026``), then ``default``;
    only ambiguous ``/`` or ``-`` dates make a notice.

    Args:
        options: the parse options.
        samples: the file's date cells.
        default: the format's usual order.
    """
    if options.date_order is not None:
        return options.date_order, None
    values = list(samples)
    inferred = infer_date_order(values)
    if inferred is not None:
        return inferred, None
    matches = [m for v in values if (m := _NUMERIC_DATE.fullmatch(" ".join(v.split())))]
    ambiguous = [m for m in matches if len(m["a"]) < 4]
    if not ambiguous:
        return default, None
    if all(m["sep"] == "." for m in ambiguous):
        return "dmy", None  # dotted numeric dates are day first wherever they are used
    label = {"dmy": "day/month/year", "mdy": "month/day/year", "ymd": "year/month/day"}[default]
    return default, Notice(
        f"dates could be day/month or month/day; read as {label} (use --date-order to change)"
    )


_ABBREVIATIONS = {
    "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 60, "BST": 60, "CET": 60, "CEST": 120,
    "MET": 60, "MEST": 120, "MEZ": 60, "MESZ": 120, "EET": 120, "EEST": 180, "MSK": 180,
    "EST": -300, "EDT": -240,
    "CST": -360, "CDT": -300, "MST": -420, "MDT": -360, "PST": -480, "PDT": -420,
    "AKST": -540, "AKDT": -480, "HST": -600, "AST": -240, "ADT": -180, "NST": -210,
    "NDT": -150, "JST": 540, "KST": 540, "HKT": 480, "SGT": 480, "AWST": 480,
    "ACST": 570, "ACDT": 630, "AEST": 600, "AEDT": 660, "NZST": 720, "NZDT": 780,
}  # fmt: skip


def zone_named(text: str) -> tzinfo | None:
    """The zone a cell or column name names, or None if it names none.

    Understands IANA names (``Europe/Berlin``), ``UTC``/``GMT`` with an
    optional offset (``GMT+01:00``, ``UTC-5``), and common abbreviations
    (``EST``, ``PDT``, ``CEST``; an abbreviation is a fixed offset).

    Args:
        text: the name.

    Returns:
        The zone, or None.
    """
    value = text.strip()
    if not value:
        return None
    upper = value.upper()
    if upper in _ABBREVIATIONS:
        return timezone(timedelta(minutes=_ABBREVIATIONS[upper])) if _ABBREVIATIONS[upper] else UTC
    offset = re.fullmatch(r"(?:UTC|GMT)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?", upper)
    if offset:
        return _offset_zone(offset[1], offset[2], offset[3] or "0")
    if "/" in value:
        try:
            return ZoneInfo(value)
        except (ValueError, KeyError, OSError):
            return None
    return None
