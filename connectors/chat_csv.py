"""Connector for chat transcripts in CSV (Intercom, LiveChat, Tawk.to and other widgets).

Every tool names its columns differently, so a column mapping says which column holds each
field: ``time``, ``author``, ``text`` (needed), ``email``, ``phone``, ``conversation`` and
``id`` (optional). The mapping comes from ``ParseOptions.column_map`` (the CLI's
``--map time=Created at,author=Author,text=Message``); fields it leaves out are guessed from
common header names ("Created at", "Timestamp", "Author", "Sender", "Message", "Body",
"Email", "Conversation ID", …). A ``platform=NAME`` entry (a name, not a column) names the
tool; events get the source ``chat_csv:<platform>`` ("chat_csv:generic" without one). When
the needed fields cannot be found the file is refused with a ``FormatError`` that lists the
headers and shows the ``--map`` to pass.

Times with a zone or offset are exact; times without one are read in ``options.tz`` (or UTC
when the column's header says UTC/GMT) and a notice says so. Numeric dates that fit both
day/month orders (03/04/2024) are settled by the whole file, as for WhatsApp: any date that
fits only one order decides; otherwise ``options.date_order``, else the region's convention,
with a notice saying what was assumed. The email and phone columns are the author's contact
points; on a row written by the owner (``options.owner_names``) they belong to the
conversation's other party when there is exactly one.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path

from dateutil import parser as date_parser

from app.errors import FormatError
from app.records import Channel, EventRecord, Item, Notice, ParseOptions, Participant, Problem
from connectors.base import MappingSpec
from connectors.chat_common import Cast, StableIds, Ticker, from_epoch, person
from connectors.csv_common import MAX_LINE_CHARS, BoundedLines, detect_encoding
from connectors.textfile import KeySet, bounded_lines

FIELDS = ("time", "date", "author", "text", "email", "phone", "conversation", "id")
_GUESSES: dict[str, tuple[str, ...]] = {
    "time": (
        "time", "timestamp", "date", "datetime", "date time", "created at", "created",
        "sent at", "sent", "message time", "time sent", "posted at", "message date",
        "message created at", "date sent",
    ),
    "author": (
        "author", "author name", "sender", "sender name", "from", "from name", "user",
        "user name", "username", "name", "speaker", "participant", "visitor name", "by",
    ),
    "text": (
        "message", "text", "body", "content", "message text", "message body", "message content",
        "chat message", "comment", "msg",
    ),
    "email": (
        "email", "e mail", "email address", "author email", "sender email", "user email",
        "from email", "visitor email", "customer email", "contact email",
    ),
    "phone": (
        "phone", "phone number", "mobile", "telephone", "author phone", "sender phone",
        "user phone", "visitor phone", "customer phone", "contact phone",
    ),
    "conversation": (
        "conversation id", "conversation", "chat id", "thread id", "thread", "ticket id",
        "session id", "chat", "room",
    ),
    "id": ("message id", "msg id", "event id", "part id", "id"),
}  # fmt: skip
_DELIMITERS = (",", ";", "\t", "|")
_PAREN = re.compile(r"\(([^)]*)\)")
_UTC_HEADER = re.compile(r"\b(?:utc|gmt)\b", re.IGNORECASE)
_NUMERIC = re.compile(
    r"(?P<a>\d{1,4})[./-](?P<b>\d{1,2})[./-](?P<c>\d{1,4})"
    r"(?:(?:[ T]|,\s*)(?P<h>\d{1,2})[:.](?P<mi>\d{2})(?:[:.](?P<s>\d{2})(?:[.,]\d+)?)?"
    r"\s*(?P<ampm>[AaPp]\.?\s?[Mm]\.?)?)?"
    r"\s*(?P<zone>Z|UTC|GMT|(?:UTC|GMT)?[+-]\d{1,2}(?::?\d{2})?)?"
)
_EPOCH = re.compile(r"\d{9,10}(?:\.\d+)?|\d{12,13}")
_MDY_REGIONS = frozenset({"US", "PH", "CA", "FM", "MH", "PW", "GU", "PR", "AS", "VI", "MP", "UM"})
_ORDER_WORDS = {"dmy": "day/month/year", "mdy": "month/day/year"}
_MAX_BAD_LINES = 1000
_MAX_MEMBERS = 5000  # authors listed as members of one conversation


def _norm(header: str) -> str:
    """A header compared loosely: lower case, ``_``/``-`` as spaces, brackets dropped."""
    text = _PAREN.sub(" ", header.replace("\ufeff", "")).lower()
    return " ".join(re.sub(r"[_\-./]+", " ", text).split())


def guess_columns(headers: list[str]) -> dict[str, int]:
    """Which column holds each field, from common header names.

    Args:
        headers: the CSV header row.

    Returns:
        Field name → column index, for the fields that could be recognised; a column is
        given to one field at most.
    """
    names = [_norm(h) for h in headers]
    found: dict[str, int] = {}
    taken: set[int] = set()
    for name, aliases in _GUESSES.items():
        for alias in aliases:
            index = next((i for i, n in enumerate(names) if n == alias and i not in taken), None)
            if index is not None:
                found[name] = index
                taken.add(index)
                break
    if "time" in found and names[found["time"]] == "time" and "date" in names:
        found["date"] = names.index("date")  # separate Date and Time columns
    return found


def guess_by_name(headers: list[str]) -> dict[str, str]:
    """Like ``guess_columns``, as field → header cell (for the mapping dialog)."""
    return {field: headers[index] for field, index in guess_columns(headers).items()}


MAPPING = MappingSpec(
    fields=FIELDS,
    required=("time", "author", "text"),
    labels={
        "time": "Time (or date and time)",
        "date": "Date (when time is a separate column)",
        "author": "Author",
        "text": "Message text",
        "email": "Author's email",
        "phone": "Author's phone",
        "conversation": "Conversation id",
        "id": "Message id",
    },
    guess=guess_by_name,
)


def _missing(found: Mapping[str, int]) -> list[str]:
    missing = [f for f in ("time", "text") if f not in found]
    if not any(f in found for f in ("author", "email", "phone")):
        missing.append("author")
    return missing


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _decode(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16", errors="replace")
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", errors="replace")
    return text.lstrip("\ufeff").replace("\x00", "")


def _header_of(text: str) -> list[str]:
    first = text.split("\n", 1)[0].rstrip("\r")
    try:
        row = next(csv.reader([first], delimiter=_delimiter(first)), [])
    except csv.Error:
        return []
    return [cell.strip() for cell in row]


@dataclass
class _Stamp:
    """A time cell read as far as the cell alone allows."""

    exact: datetime | None = None  # aware, when the cell says everything
    naive: dict[str, datetime] = field(default_factory=dict)  # "dmy"/"mdy"/"ymd" → local
    zone: tzinfo | None = None  # an offset written in the cell


def _offset(text: str) -> tzinfo | None:
    m = re.fullmatch(r"(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?", text)
    if m is None:
        return UTC if text in ("Z", "UTC", "GMT") else None
    minutes = int(m[2]) * 60 + int(m[3] or 0)
    if minutes > 18 * 60:
        return None
    return timezone((-1 if m[1] == "-" else 1) * timedelta(minutes=minutes))


def _clock(m: re.Match[str]) -> tuple[int, int, int] | None:
    hour, minute, second = int(m["h"] or 0), int(m["mi"] or 0), int(m["s"] or 0)
    marker = (m["ampm"] or "").lower().replace(".", "").replace(" ", "")
    if marker and 1 <= hour <= 12:
        hour = hour % 12 + (12 if marker == "pm" else 0)
    return (hour, minute, second) if hour < 24 and minute < 60 and second < 60 else None


def _naive(year: int, month: int, day: int, clock: tuple[int, int, int]) -> datetime | None:
    if year < 100:
        year += 2000
    if not 1970 <= year <= 2199:
        return None
    try:
        return datetime(year, month, day, *clock)
    except ValueError:
        return None


def read_time(text: str) -> _Stamp | None:
    """Read one time cell.

    Args:
        text: the cell.

    Returns:
        A ``_Stamp`` (exact, or the local times each day/month order gives), or None.
    """
    value = " ".join(text.split())
    if not value:
        return None
    if _EPOCH.fullmatch(value):
        when = from_epoch(value, millis=len(value) >= 12 and "." not in value)
        return _Stamp(exact=when) if when else None
    iso = re.sub(r"\s?(?:Z|UTC|GMT)$", "+00:00", value)
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        parsed = None
    if parsed is not None and 1970 <= parsed.year <= 2199:
        if parsed.tzinfo is not None:
            return _Stamp(exact=parsed.astimezone(UTC))
        return _Stamp(naive={"ymd": parsed})
    m = _NUMERIC.fullmatch(value)
    if m is not None:
        clock = _clock(m)
        zone = _offset(m["zone"]) if m["zone"] else None
        if clock is None or (m["zone"] and zone is None):
            return None
        a, b, c = m["a"], m["b"], m["c"]
        options: dict[str, datetime | None] = {}
        if len(a) == 4:
            options["ymd"] = _naive(int(a), int(b), int(c), clock)
        elif len(a) <= 2 and len(c) in (2, 4):
            options["dmy"] = _naive(int(c), int(b), int(a), clock)
            options["mdy"] = _naive(int(c), int(a), int(b), clock)
        found = {k: v for k, v in options.items() if v is not None}
        return _Stamp(naive=found, zone=zone) if found else None
    if not re.search(r"[A-Za-z]{3,}", value):
        return None
    try:
        parsed = date_parser.parse(value)
    except (ValueError, OverflowError, TypeError):
        return None
    if not 1970 <= parsed.year <= 2199:
        return None
    if parsed.tzinfo is not None and parsed.utcoffset() is not None:
        return _Stamp(exact=parsed.astimezone(UTC))
    return _Stamp(naive={"ymd": parsed.replace(tzinfo=None)})


def _decide_order(
    only: Counter[str], ambiguous: bool, options: ParseOptions, where: str
) -> tuple[str, list[str]]:
    """The day/month order for the file's numeric dates, and notices about the choice.

    Args:
        only: how many dates fit only "dmy", and only "mdy".
        ambiguous: some date fits both.
        options: the asked order and the region.
        where: the file name, for the notices.
    """
    if only["dmy"] and only["mdy"]:
        order = "dmy" if only["dmy"] >= only["mdy"] else "mdy"
        other = "mdy" if order == "dmy" else "dmy"
        return order, [
            f"{where}: dates disagree ({only[order]} rows only fit {_ORDER_WORDS[order]}, "
            f"{only[other]} only fit {_ORDER_WORDS[other]}); read as {_ORDER_WORDS[order]} "
            "and reported the others as problems"
        ]
    if only["dmy"] or only["mdy"]:
        order = "dmy" if only["dmy"] else "mdy"
        asked = options.date_order
        if asked in ("dmy", "mdy") and asked != order:
            return order, [
                f"{where}: the import options ask for {_ORDER_WORDS[asked]}, but the file's "
                f"dates only fit {_ORDER_WORDS[order]}; read as {_ORDER_WORDS[order]}"
            ]
        return order, []
    if not ambiguous:
        return "dmy", []
    if options.date_order in ("dmy", "mdy"):
        order, why = options.date_order, "as set in the import options"
    else:
        code = options.region.strip().upper() or "unknown"
        order, why = ("mdy" if code in _MDY_REGIONS else "dmy"), f"region {code}"
    return order, [f"{where}: dates were ambiguous; read as {_ORDER_WORDS[order]} ({why})"]


@dataclass
class _Row:
    line: int
    cells: dict[str, str]
    stamp: _Stamp | None


class ChatCsvConnector:
    """Reads a chat transcript CSV through a column mapping into chat events.

    Attributes:
        name: "chat_csv".
        label: description for dialogs.
        channel: "chat".
        extensions: (".csv", ".tsv", ".txt").
    """

    name: str = "chat_csv"
    label: str = "Chat transcript CSV (Intercom, LiveChat, Tawk.to, …)"
    channel: Channel = "chat"
    extensions: tuple[str, ...] = (".csv", ".tsv", ".txt")

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure this connector is that ``head`` starts a chat transcript CSV.

        Args:
            path: the file (unused; the header decides).
            head: up to the first 64 KiB of the file.

        Returns:
            0.6 if the header row names a time, a text and an author (or email/phone)
            column, 0.0 otherwise; dedicated connectors score higher.
        """
        del path
        text = _decode(head)
        if text.lstrip()[:1] in ("{", "[", "<"):
            return 0.0
        headers = _header_of(text)
        if len(headers) < 2:
            return 0.0
        return 0.6 if not _missing(guess_columns(headers)) else 0.0

    def _mapping(
        self, path: Path, headers: list[str], options: ParseOptions
    ) -> tuple[dict[str, int], str, list[str]]:
        """Field → column index, the platform name, and notices about the mapping."""
        found = guess_columns(headers)
        notes: list[str] = []
        platform = "generic"
        lookup = {h.strip().casefold(): i for i, h in reversed(list(enumerate(headers)))}
        for key, column in (options.column_map or {}).items():
            name = key.strip().lower()
            if name in ("platform", "source"):
                platform = re.sub(r"[^a-z0-9_.-]+", "_", column.strip().lower()) or platform
                continue
            if name not in FIELDS:
                notes.append(f"{path.name}: --map field {key!r} is not used for chat CSV")
                continue
            index = lookup.get(column.strip().casefold())
            if index is None:
                raise FormatError(
                    f"{path.name}: --map {_listing([key])}={_listing([column])}: no such column "
                    f"(columns: {_listing(headers)})"
                )
            found = {f: i for f, i in found.items() if i != index}
            found[name] = index
        missing = _missing(found)
        if missing:
            raise FormatError(
                f"{path.name}: cannot tell which column holds {' and '.join(missing)} "
                f"(columns: {_listing(headers) or 'none'}); pass "
                "--map time=COLUMN,author=COLUMN,text=COLUMN (also email=, phone=, "
                "conversation=, id=)"
            )
        return found, platform, notes

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield notices (mapping, zone, date order), then one event per row, and problems.

        The file is streamed twice: first for what the whole file decides (the day/month
        order, who is in each conversation with which contact points, whether the id
        column is unique), then for the messages; rows are never all held.

        Args:
            path: the CSV file.
            options: column mapping, zone, date order or region, owner names, progress and
                cancel hooks.

        Yields:
            ``Notice``, ``EventRecord`` and ``Problem`` items.

        Raises:
            FormatError: the file cannot be read, or its columns cannot be mapped.
        """
        try:
            encoding = detect_encoding(path)
        except OSError as exc:
            raise FormatError(f"{path.name}: cannot read: {exc.strerror or exc}") from exc
        with _Reader(path, encoding) as reader:
            headers = reader.headers
        columns, platform, notes = self._mapping(path, headers, options)
        yield from (Notice(n) for n in notes)
        source = f"chat_csv:{platform}"
        owners = {n.casefold() for n in options.owner_names}
        survey = _Survey(owners, "id" in columns)
        cancel = options.should_cancel
        with _Reader(path, encoding) as reader:
            for row in reader.rows(columns):
                if isinstance(row, _Row):
                    survey.add(row)
                    if cancel is not None and survey.rows % 1000 == 0 and cancel():
                        return
        yield from self._records(path, encoding, headers, columns, source, survey, options)

    def _records(
        self,
        path: Path,
        encoding: str,
        headers: list[str],
        columns: dict[str, int],
        source: str,
        survey: _Survey,
        options: ParseOptions,
    ) -> Iterator[Item]:
        order, notes = _decide_order(survey.only, survey.ambiguous, options, path.name)
        zone_header = headers[columns["time"]]
        local_tz: tzinfo = UTC if _UTC_HEADER.search(zone_header) else options.tz
        if survey.zoneless:
            notes.append(
                f"{path.name}: times without a zone were read in "
                f"{'UTC (the column says so)' if local_tz is UTC else local_tz}"
            )
        yield from (Notice(n) for n in notes)
        use_ids = "id" in columns and survey.ids_unique
        if "id" in columns and not use_ids:
            yield Notice(
                f"{path.name}: the id column {headers[columns['id']]!r} repeats values, so it "
                "is not a message id; messages are told apart by time, author and text"
            )
        platform = source.split(":", 1)[1]
        casts, shared = survey.casts(platform)
        if shared:
            yield Notice(
                f"{path.name}: the same email or phone appears on several authors' rows of a "
                "conversation; it was read as the contact of the conversation's first author "
                "who is not you"
            )
        ids: dict[str, StableIds] = {}
        ticker = Ticker(options, survey.rows)
        done = 0
        with _Reader(path, encoding) as reader:
            for row in reader.rows(columns):
                if isinstance(row, Problem):
                    yield row
                    continue
                done += 1
                if not ticker.step(done):
                    return
                where = f"{path.name}:{row.line}"
                stamp = row.stamp
                local = None if stamp is None else stamp.naive.get("ymd") or stamp.naive.get(order)
                if stamp is None or (stamp.exact is None and local is None):
                    yield Problem(where, f"unreadable time {row.cells['time'][:200]!r}")
                    continue
                when = stamp.exact or (
                    local.replace(tzinfo=stamp.zone or local_tz) if local else None
                )
                assert when is not None
                when = when.astimezone(UTC)
                cells = row.cells
                conv = cells.get("conversation", "")
                author = _author(cells)
                text = cells["text"]
                message_id = cells.get("id", "") if use_ids else ""
                if message_id:
                    external_id = f"{conv}:{message_id}" if conv else message_id
                else:
                    scope = ids.setdefault(conv, StableIds(f"{source}:{conv}"))
                    external_id = scope.next(when.isoformat(), author, text)
                cast = casts[conv]
                if author in cast:
                    participants = cast.speaking(author)
                elif author:  # one of too many authors to list as members
                    participants = (replace(_person(author, platform, {}), role="author"),)
                else:
                    participants = cast.everyone()
                yield EventRecord(
                    channel="chat",
                    source=source,
                    external_id=external_id,
                    occurred_at=when,
                    title=f"Conversation {conv}" if conv else path.stem,
                    text=text,
                    participants=participants,
                    thread_key=f"{source}:{conv or path.stem}",
                    details={"conversation": conv} if conv else {},
                    locator=where,
                )
        ticker.finish()


class _Reader:
    """One streamed read of a chat CSV: its header, then its rows by field."""

    def __init__(self, path: Path, encoding: str) -> None:
        self.name = path.name
        try:
            self._raw = path.open("rb")
        except OSError as exc:
            raise FormatError(f"{path.name}: cannot read: {exc.strerror or exc}") from exc
        self._text = io.TextIOWrapper(self._raw, encoding=encoding, errors="replace", newline="")
        first, _cut = next(bounded_lines(self._text, MAX_LINE_CHARS), ("", 0))
        first = first.lstrip("\ufeff").replace("\x00", "").rstrip("\r\n")
        if not first.strip():
            self.close()
            raise FormatError(f"{path.name}: empty file, not a chat CSV")
        self._bounded = BoundedLines(self._text, MAX_LINE_CHARS, lines_before=1)
        self._lines = (line.replace("\x00", "") for line in self._bounded)
        self._delimiter = _delimiter(first)
        try:
            self.headers = [
                cell.strip() for cell in next(csv.reader([first], delimiter=self._delimiter))
            ]
        except (csv.Error, StopIteration) as exc:
            self.close()
            raise FormatError(f"{path.name}: not a readable CSV header ({exc})") from exc

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._text.close()
        self._raw.close()

    def rows(self, columns: dict[str, int]) -> Iterator[_Row | Problem]:
        """Non-blank rows (line numbers count the header as 1), unreadable ones as problems."""
        reader = csv.reader(self._lines, delimiter=self._delimiter)
        bad = 0
        while True:
            line = reader.line_num + 2
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield from self._bounded.skipped(self.name)
                yield Problem(f"{self.name}:{line}", f"unreadable CSV row: {exc}")
                bad += 1
                if bad > _MAX_BAD_LINES:
                    return
                continue
            if self._bounded.cut:
                yield from self._bounded.skipped(self.name)
            if not any(cell.strip() for cell in cells):
                continue
            values = {f: cells[i].strip() if i < len(cells) else "" for f, i in columns.items()}
            if values.get("date"):
                values["time"] = f"{values['date']} {values['time']}".strip()
            yield _Row(line, values, read_time(values["time"]))


class _Survey:
    """What the first pass learns from the whole file, in memory that grows with its people.

    Counts the dates that fit one day/month order only, notes ambiguous and zone-less
    times, keeps each conversation's authors and which authors carry each email or phone,
    and checks that the id column is unique (8 bytes per row, ``KeySet``).
    """

    def __init__(self, owners: set[str], has_ids: bool) -> None:
        self.owners = owners
        self.rows = 0
        self.only: Counter[str] = Counter()
        self.ambiguous = False
        self.zoneless = False
        self.ids_unique = True
        self._ids = KeySet() if has_ids else None
        self.authors: dict[str, dict[str, None]] = {}
        self.carriers: dict[tuple[str, str, str], dict[str, None]] = {}

    def add(self, row: _Row) -> None:
        """Take one row into account."""
        self.rows += 1
        stamp = row.stamp
        if stamp is not None and stamp.exact is None:
            self.zoneless = self.zoneless or stamp.zone is None
            if "ymd" not in stamp.naive:
                if len(stamp.naive) == 1:
                    self.only[next(iter(stamp.naive))] += 1
                elif len(stamp.naive) == 2:
                    self.ambiguous = True
        conv, author = row.cells.get("conversation", ""), _author(row.cells)
        if self._ids is not None and self.ids_unique:
            self.ids_unique = self._ids.add(f"{conv}\x1f{row.cells.get('id', '')}")
        members = self.authors.setdefault(conv, {})
        if author and len(members) < _MAX_MEMBERS:
            members.setdefault(author)
        for key in ("email", "phone"):
            if value := row.cells.get(key, ""):
                who = self.carriers.setdefault((conv, key, value), {})
                if author and author.casefold() not in self.owners and len(who) < _MAX_MEMBERS:
                    who.setdefault(author)

    def casts(self, platform: str) -> tuple[dict[str, Cast], bool]:
        """Everyone in each conversation with their email and phone; True if any was shared.

        A contact value seen on the rows of one author (not the owner) is theirs. A value
        seen only on the owner's rows, or on several authors' rows (a per-conversation
        column), belongs to the first author in the conversation who is not the owner.
        """
        owners = self.owners
        points: dict[tuple[str, str], dict[str, str]] = {}
        shared = False
        for (conv, key, value), who in self.carriers.items():
            customers = [a for a in self.authors[conv] if a.casefold() not in owners]
            if len(who) == 1:
                holder = next(iter(who))
            elif customers:
                holder, shared = customers[0], shared or len(who) > 1
            else:
                continue
            points.setdefault((conv, holder), {}).setdefault(key, value)
        casts: dict[str, Cast] = {}
        for conv, names in self.authors.items():
            casts[conv] = Cast(
                (name, _person(name, platform, points.get((conv, name), {}))) for name in names
            )
        return casts, shared


def _listing(headers: list[str]) -> str:
    """Headers for a one-line message."""
    return ", ".join(" ".join(h.split()) for h in headers)


def _author(cells: dict[str, str]) -> str:
    return cells.get("author") or cells.get("email") or cells.get("phone") or ""


def _person(name: str, platform: str, points: dict[str, str]) -> Participant:
    email = points.get("email") if "@" in points.get("email", "") else None
    phone = points.get("phone")
    found = person("member", name, f"chat_csv:{platform}", email=email, phone=phone)
    if name in (email, phone):  # no author column: the contact point is the name
        return Participant(
            role="member", name=name, email=email, phone=phone, platform=found.platform
        )
    return found
