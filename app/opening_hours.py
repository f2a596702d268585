"""Opening hours ("Mon-Fri 09:00-17:30; Sat 10:00-14:00") and time counted within them.

The owner's ``opening_hours`` setting says when the business answers; a wait is then
also measured in working time (an email sent on Friday evening and answered on Monday
at opening has waited no working time). Hours are local wall-clock times in the
configured zone. Empty text means no hours are set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from itertools import pairwise

from app.errors import UserFacingError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = {
    "mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4, "friday": 4, "sat": 5,
    "saturday": 5, "sun": 6, "sunday": 6,
}  # fmt: skip
_SPAN = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")

_MONDAY = date(2000, 1, 3)
Interval = tuple[int, int]  # minutes from midnight: [open, close)


@dataclass(frozen=True)
class OpeningHours:
    """Open intervals per weekday (Monday = 0), in minutes from local midnight."""

    days: tuple[tuple[Interval, ...], ...]

    @property
    def weekly_seconds(self) -> int:
        """Open seconds in one week."""
        return sum((b - a) * 60 for day in self.days for a, b in day)

    def __bool__(self) -> bool:
        return any(self.days)

    def text(self) -> str:
        """The canonical text form ("Mon-Fri 09:00-17:30; Sat 10:00-14:00")."""
        parts: list[str] = []
        i = 0
        while i < 7:
            if not self.days[i]:
                i += 1
                continue
            j = i
            while j + 1 < 7 and self.days[j + 1] == self.days[i]:
                j += 1
            label = DAYS[i].title() if i == j else f"{DAYS[i].title()}-{DAYS[j].title()}"
            spans = ", ".join(f"{_hm(a)}-{_hm(b)}" for a, b in self.days[i])
            parts.append(f"{label} {spans}")
            i = j + 1
        return "; ".join(parts)

    def working_seconds(self, start: datetime, end: datetime, tz: tzinfo) -> int:
        """Seconds between two aware instants that fall within the opening hours.

        Counted on the local wall clock (opening hours are wall-clock times), in constant
        time however long the span: open seconds since a fixed Monday, end minus start.
        """
        if end <= start or not self:
            return 0
        opened = self.open_seconds_at(end.astimezone(tz)) - self.open_seconds_at(
            start.astimezone(tz)
        )
        return max(0, opened)

    def open_seconds_at(self, local: datetime) -> int:
        """Open seconds from a fixed Monday (2000-01-03) to a local wall-clock time."""
        days = (local.date() - _MONDAY).days
        weeks, weekday = divmod(days, 7)
        total = weeks * self.weekly_seconds + sum(
            (b - a) * 60 for day in self.days[:weekday] for a, b in day
        )
        sec = local.hour * 3600 + local.minute * 60 + local.second
        for a, b in self.days[weekday]:
            if sec > a * 60:
                total += min(sec, b * 60) - a * 60
        return total


def _hm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _days(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip().lower()
        if not part:
            continue
        if "-" in part:
            a, _, b = part.partition("-")
            if a.strip() not in _DAY_NAMES or b.strip() not in _DAY_NAMES:
                raise UserFacingError(f"{part!r} is not a range of days (e.g. Mon-Fri)")
            i, j = _DAY_NAMES[a.strip()], _DAY_NAMES[b.strip()]
            out.extend((i + k) % 7 for k in range((j - i) % 7 + 1))
        elif part in _DAY_NAMES:
            out.append(_DAY_NAMES[part])
        else:
            raise UserFacingError(f"{part!r} is not a day (Mon, Tue, … Sun)")
    return out


def _span(text: str) -> Interval:
    m = _SPAN.match(text.strip())
    if not m:
        raise UserFacingError(f"{text.strip()!r} is not a time span (e.g. 09:00-17:30)")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise UserFacingError(f"{text.strip()!r} has a time that does not exist")
    a, b = h1 * 60 + m1, h2 * 60 + m2
    if b <= a:
        raise UserFacingError(f"{text.strip()!r} closes before it opens")
    return a, b


def parse(text: str) -> OpeningHours:
    """Read opening hours: "Mon-Fri 09:00-17:30; Sat 10:00-14:00" (day ranges, several spans).

    Raises:
        UserFacingError: the text cannot be read, or spans of one day overlap.
    """
    days: list[list[Interval]] = [[] for _ in range(7)]
    for group in re.split(r"[;\n]", text):
        group = group.strip()
        if not group:
            continue
        m = re.match(r"^([A-Za-z,\-\s]+?)\s+(\d.*)$", group)
        if not m:
            raise UserFacingError(f"{group!r}: say days then hours, e.g. Mon-Fri 09:00-17:30")
        spans = [_span(s) for s in m.group(2).split(",") if s.strip()]
        for d in _days(m.group(1)):
            days[d].extend(spans)
    for i, spans in enumerate(days):
        spans.sort()
        for (_a1, b1), (a2, _b2) in pairwise(spans):
            if a2 < b1:
                raise UserFacingError(f"the hours given for {DAYS[i].title()} overlap")
    return OpeningHours(tuple(tuple(s) for s in days))


def validate(text: str) -> str:
    """The setting's validator: the canonical form, or "" for no hours."""
    return parse(text).text()
