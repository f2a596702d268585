"""Connector for WhatsApp "Export chat" text files (``WhatsApp Chat with X.txt``, ``_chat.txt``).

A message starts with a timestamp header, ``<ts> - <author>: <text>`` on Android or
``[<ts>] <author>: <text>`` on iOS; a header without ``<author>: `` is a system line, and
any other line continues the previous message. The timestamp layout depends on the phone's
locale (day/month order, separators, 12/24-hour clock, localised AM/PM, optional seconds),
so the file is read twice: the first pass collects every header and infers the day/month
order from the whole file (falling back on the import options and telling the user with a
``Notice``), the second pass turns each message into an ``EventRecord``. Timestamps carry no
zone; they are read in ``options.tz`` and stored as UTC. Nothing is dropped: a header with an
impossible date is reported as a ``Problem`` and its line is kept in the previous message.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from app.errors import FormatError
from app.records import (
    Channel,
    EventRecord,
    Item,
    Notice,
    OwnerHint,
    ParseOptions,
    Participant,
    Problem,
    Role,
)
from connectors.archive import SafeZip, looks_like_zip, member_names

_SOURCE = "whatsapp"
_SNIFF_LINES = 50
_PROGRESS_EVERY = 500
_MAX_AUTHOR = 80

# Invisible marks are dropped; the odd spaces WhatsApp puts around AM/PM become plain spaces.
_INVISIBLE = {0x200E: None, 0x200F: None, 0xFEFF: None, 0x202F: " ", 0x00A0: " ", 0x2009: " "}
_INVISIBLE.update({cp: None for cp in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})

_HEADER = re.compile(
    r"(?P<open>\[)?"
    r"(?P<d1>\d{4}|\d{1,2})(?P<sep>[./-])\s?(?P<d2>\d{1,2})(?P=sep)\s?(?P<d3>\d{4}|\d{1,2})\.?"
    r",?\s*(?:klo\s+)?(?:(?P<pre>上午|下午|오전|오후)\s*)?"
    r"(?P<h>\d{1,2})[:.](?P<mi>\d{2})(?:[:.](?P<s>\d{2}))?"
    r"(?:\s*(?P<ampm>[AaPp]\.?\s?[Mm]\.?|上午|下午|오전|오후))?"
    r"(?(open)\](?:\s|$)|\s[-–](?:\s|$))"
    r"(?P<rest>.*)",
    re.DOTALL,
)
_ENCRYPTION = re.compile(
    r"(?:Messages and calls are end-to-end encrypted|Messages to this (?:group|chat) are now "
    r"secured|Messages you send to this (?:group|chat) are now secured)",
    re.IGNORECASE,
)
_SYSTEM_AUTHOR = re.compile(
    r"\b(?:created group|changed the subject|changed this group|changed the group)\b", re.I
)
_GROUP_CREATED = re.compile(r"created group [\"“”«](?P<name>.+?)[\"“”»]\s*$")
_CHAT_FILE = re.compile(
    r"(?:WhatsApp Chat with|WhatsApp Chat -|WhatsApp-Chat mit|Chat de WhatsApp con|"
    r"Conversa do WhatsApp com|Discussion WhatsApp avec|Chat WhatsApp con|WhatsApp-chat met)"
    r"\s+(?P<name>.+?)(?:\s\(\d+\))?",
    re.IGNORECASE,
)
_PHONE = re.compile(r"\+?[\d\s().-]+")

_ATTACHED = re.compile(
    r"<(?:attached|adjunto|anexo|Anhang|allegato|pièce jointe|bijlage|附件|添付ファイル)"
    r"\s*[:：]\s*(?P<file>[^>]+)>",
    re.IGNORECASE,
)
_FILE_ATTACHED = re.compile(
    r"(?P<file>.+?)\s\((?:file attached|archivo adjunto|arquivo anexado|Datei angehängt|"
    r"file allegato|fichier joint|bestand bijgevoegd)\)",
    re.IGNORECASE,
)
_OMITTED = re.compile(
    r"(?:(?P<file>.+?)\s•\s.*)?(?P<kind>image|video|audio|GIF|sticker|Contact card|document)"
    r"\s+omitted",
    re.IGNORECASE,
)
_MEDIA_OMITTED = re.compile(
    r"<(?:Media omitted|Medien ausgeschlossen|Multimedia omitido|Mídia oculta|Arquivo de mídia "
    r"oculto|Médias omis|Media weggelaten|Media omessi)>",
    re.IGNORECASE,
)
_LOCATION = re.compile(
    r"(?:location|ubicación|localização|Standort|posizione|position|locatie)\s*:\s*https?://",
    re.IGNORECASE,
)
_NAMED_FILE = re.compile(
    r"(?:\d+-(?P<ios>PHOTO|VIDEO|AUDIO|GIF|STICKER|CONTACT)-|(?P<android>IMG|VID|PTT|AUD|GIF|STK)-)",
    re.IGNORECASE,
)
_NAME_KINDS = {
    "PHOTO": "photo",
    "IMG": "photo",
    "VIDEO": "video",
    "VID": "video",
    "AUDIO": "audio",
    "PTT": "audio",
    "AUD": "audio",
    "GIF": "gif",
    "STICKER": "sticker",
    "STK": "sticker",
    "CONTACT": "contact",
}
_EXT_KINDS = {
    **dict.fromkeys(("jpg", "jpeg", "png", "heic", "bmp"), "photo"),
    **dict.fromkeys(("mp4", "mov", "3gp", "avi", "mkv", "webm"), "video"),
    **dict.fromkeys(("opus", "mp3", "m4a", "ogg", "aac", "amr", "wav"), "audio"),
    "webp": "sticker",
    "gif": "gif",
    "vcf": "contact",
}
_WORD_KINDS = {"image": "photo", "contact card": "contact"}

_ORDER_WORDS = {"dmy": "day/month/year", "mdy": "month/day/year", "ymd": "year/month/day"}
_MDY_REGIONS = frozenset({"US", "PH", "CA", "FM", "MH", "PW", "GU", "PR", "AS", "VI", "MP", "UM"})
_YMD_REGIONS = frozenset({"CN", "JP", "KR", "HU", "TW", "MN", "LT", "IR"})


def normalize_text(text: str) -> str:
    """Drop the invisible marks WhatsApp adds and turn its odd spaces into ASCII spaces.

    Args:
        text: one line (or more) of an export.

    Returns:
        The text without U+200E/U+200F (and other bidi controls or a BOM), with U+202F,
        U+00A0 and U+2009 replaced by a space.
    """
    return text.translate(_INVISIBLE)


@dataclass(frozen=True)
class _Head:
    """A line that starts with a timestamp header, and the dates it can stand for."""

    year_first: bool
    dates: dict[str, datetime]  # order ("dmy", "mdy", "ymd") -> naive local time
    rest: str
    stamp: str  # the header as written, for problem reports


@dataclass
class _Msg:
    """A message being collected, line by line."""

    line_no: int
    local: datetime
    when: datetime
    author: str | None
    lines: list[str] = field(default_factory=list)


def _year(digits: str) -> int:
    return 2000 + int(digits) if len(digits) <= 2 else int(digits)


def _clock(m: re.Match[str]) -> tuple[int, int, int] | None:
    hour, minute, second = int(m["h"]), int(m["mi"]), int(m["s"] or 0)
    marker = (m["ampm"] or m["pre"] or "").lower().replace(".", "").replace(" ", "")
    if marker and hour <= 12:
        pm = marker in ("pm", "下午", "오후")
        hour = hour % 12 + (12 if pm else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour, minute, second


def _date(year: int, month: int, day: int, clock: tuple[int, int, int]) -> datetime | None:
    if not 1900 <= year <= 2199:
        return None
    try:
        return datetime(year, month, day, *clock)
    except ValueError:
        return None


def _head(line: str) -> _Head | None:
    m = _HEADER.match(line)
    if m is None:
        return None
    d1, d2, d3 = m["d1"], m["d2"], m["d3"]
    stamp = line[: m.start("rest")].strip()
    clock = _clock(m)
    dates: dict[str, datetime | None] = {}
    year_first = len(d1) == 4
    if clock is not None and year_first and len(d3) <= 2:
        dates["ymd"] = _date(int(d1), int(d2), int(d3), clock)
    elif clock is not None and not year_first and len(d3) in (2, 4):
        dates["dmy"] = _date(_year(d3), int(d2), int(d1), clock)
        dates["mdy"] = _date(_year(d3), int(d1), int(d2), clock)
    valid = {k: v for k, v in dates.items() if v is not None}
    return _Head(year_first, valid, m["rest"], stamp)


def _split(rest: str, known: tuple[str, ...]) -> tuple[str | None, str]:
    """The author (None for a system line) and the text of a header line's remainder.

    ``known`` (longest first) are authors seen elsewhere; ``Name:text`` without the space
    after the colon is read as a message only for them.
    """
    author, sep, text = rest.partition(": ")
    if not sep:
        for name in known:
            if rest.startswith(name + ":"):
                return name, rest[len(name) + 1 :].removeprefix(" ")
        return None, rest.strip()
    author = author.strip()
    if _ENCRYPTION.match(text.lstrip()):
        return None, text.strip()
    if not author or len(author) > _MAX_AUTHOR or _SYSTEM_AUTHOR.search(author):
        return None, rest.strip()
    return author, text


def _kind_of_file(name: str) -> str:
    m = _NAMED_FILE.match(name)
    if m is not None:
        return _NAME_KINDS[(m["ios"] or m["android"]).upper()]
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return "other"
    return _EXT_KINDS.get(ext.lower(), "document")


def _media(text: str) -> dict[str, str | None] | None:
    """The media placeholder a message's first line holds, if any."""
    first = text.split("\n", 1)[0].strip()
    if m := _ATTACHED.fullmatch(first):
        name = m["file"].strip()
        return {"kind": _kind_of_file(name), "file": name}
    if m := _FILE_ATTACHED.fullmatch(first):
        name = m["file"].strip()
        return {"kind": _kind_of_file(name), "file": name}
    if _MEDIA_OMITTED.fullmatch(first):
        return {"kind": "other", "file": None}
    if m := _OMITTED.fullmatch(first):
        word = m["kind"].lower()
        file = m["file"].strip() if m["file"] else None
        return {"kind": _WORD_KINDS.get(word, word), "file": file}
    if _LOCATION.match(first):
        return {"kind": "location", "file": None}
    return None


def _chat_name(path: Path) -> tuple[str, bool]:
    """The chat's name, and whether it came from WhatsApp's own file (or folder) name."""
    for candidate in (path.stem, path.parent.name if path.name == "_chat.txt" else ""):
        if m := _CHAT_FILE.fullmatch(candidate.strip()):
            return m["name"].strip(), True
    if path.name == "_chat.txt" and path.parent.name:
        return path.parent.name, False
    return path.stem, False


def _chat_member(names: list[str]) -> str | None:
    """The chat text inside a zip export: ``_chat.txt`` or ``WhatsApp Chat with ….txt``."""
    found = [
        n
        for n in names
        if n.rsplit("/", 1)[-1] == "_chat.txt"
        or (n.endswith(".txt") and _CHAT_FILE.fullmatch(n.rsplit("/", 1)[-1][:-4].strip()))
    ]
    return min(found, key=lambda n: (n.count("/"), n)) if found else None


def _person(role: Role, name: str) -> Participant:
    is_phone = bool(_PHONE.fullmatch(name)) and sum(c.isdigit() for c in name) >= 5
    return Participant(
        role=role,
        name=name,
        phone=name if is_phone else None,
        handle=None if is_phone else name,
        platform=_SOURCE,
    )


def _to_utc(local: datetime, tz: tzinfo, previous: datetime | None) -> datetime:
    """``local`` read in ``tz``, as UTC; in a repeated hour, the reading that keeps time going."""
    first = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = local.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if previous is not None and first < previous <= second:
        return second
    return first


def _decode(raw: bytes) -> list[str]:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16", errors="replace")
    else:
        text = raw.decode("utf-8-sig", errors="replace")
    if "\n" not in text:
        text = text.replace("\r", "\n")
    return [normalize_text(line.removesuffix("\r")) for line in text.split("\n")]


def _region_order(region: str) -> tuple[str, str]:
    """The day/month order a region writes, and the reason to give for using it."""
    code = region.strip().upper() or "unknown"
    if code in _MDY_REGIONS:
        return "mdy", f"region {code}"
    if code in _YMD_REGIONS:
        return "dmy", f"region {code} writes the year first, which this file does not"
    return "dmy", f"region {code}"


def _decide_order(heads: list[_Head], options: ParseOptions, where: str) -> tuple[str, list[str]]:
    """The day/month order for the file's non-year-first dates, and notices about the choice."""
    only = Counter(next(iter(h.dates)) for h in heads if not h.year_first and len(h.dates) == 1)
    ambiguous = any(not h.year_first and len(h.dates) == 2 for h in heads)
    asked = options.date_order
    if only["dmy"] and only["mdy"]:
        order = "dmy" if only["dmy"] >= only["mdy"] else "mdy"
        other = "mdy" if order == "dmy" else "dmy"
        return order, [
            f"{where}: dates disagree ({only[order]} lines only fit {_ORDER_WORDS[order]}, "
            f"{only[other]} only fit {_ORDER_WORDS[other]}); read as {_ORDER_WORDS[order]} "
            "and reported the others as problems"
        ]
    if only["dmy"] or only["mdy"]:
        order = "dmy" if only["dmy"] else "mdy"
        notes = []
        if asked in ("dmy", "mdy") and asked != order:
            notes.append(
                f"{where}: the import options ask for {_ORDER_WORDS[asked]}, but the file's "
                f"dates only fit {_ORDER_WORDS[order]}; read as {_ORDER_WORDS[order]}"
            )
        return order, notes
    if not ambiguous:
        return "dmy", []
    if asked in ("dmy", "mdy"):
        order, why = asked, "as set in the import options"
    else:
        order, why = _region_order(options.region)
    return order, [f"{where}: dates were ambiguous; read as {_ORDER_WORDS[order]} ({why})"]


class WhatsAppConnector:
    """Reads a WhatsApp "Export chat" text file into chat events.

    Attributes:
        name: "whatsapp".
        label: description for dialogs.
        channel: "chat".
        extensions: (".txt",).
    """

    name: str = "whatsapp"
    label: str = "WhatsApp chat export (.txt or .zip)"
    channel: Channel = "chat"
    extensions: tuple[str, ...] = (".txt", ".zip")

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure this connector is that ``head`` starts a WhatsApp chat export.

        Args:
            path: the file (a zip's member list is read to find the chat text).
            head: the first bytes of the file.

        Returns:
            0.9 if the first line and at least one more line (or the only line) are message
            headers, or for a zip holding ``_chat.txt`` or ``WhatsApp Chat with ….txt``; 0.5
            if several later lines are headers; 0.0 otherwise.
        """
        if looks_like_zip(head):
            names = member_names(path)
            return 0.9 if names is not None and _chat_member(names) is not None else 0.0
        lines = [line for line in _decode(head) if line.strip()][:_SNIFF_LINES]
        hits = [_HEADER.match(line) is not None for line in lines]
        if not hits:
            return 0.0
        if hits[0] and (sum(hits) >= 2 or len(lines) == 1):
            return 0.9
        return 0.5 if sum(hits) >= 3 else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield owner hints and notices, then one event per message and problems on the way.

        Args:
            path: the exported ``.txt`` file.
            options: zone of the timestamps, date order or region, owner names, progress
                and cancel hooks.

        Yields:
            ``OwnerHint`` (for a one-to-one chat named after the other person), ``Notice``
            (the date order assumed), then ``EventRecord`` and ``Problem`` items in file order.

        Raises:
            FormatError: the file cannot be read or is not a WhatsApp chat export.
        """
        try:
            with path.open("rb") as fh:
                zipped = looks_like_zip(fh.read(4))
            raw = b"" if zipped else path.read_bytes()
        except OSError as exc:
            raise FormatError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        if zipped:
            yield from self._zip(path, options)
        else:
            yield from self._text(raw, path.name, _chat_name(path), options, {})

    def _zip(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """A ``.zip`` export: the chat text read in memory, its media listed by reference."""
        with SafeZip(path) as archive:
            for name, why in archive.rejected:
                yield Problem(f"{path.name}!{name}", f"archive member skipped: {why}")
            member = _chat_member(list(archive.members))
            if member is None:
                rejected = [n for n, _ in archive.rejected if _chat_member([n.replace("\\", "/")])]
                why = f" (rejected: {dict(archive.rejected)[rejected[0]]})" if rejected else ""
                raise FormatError(f"{path.name}: no WhatsApp chat text in the archive{why}")
            raw = archive.read(member)
            media = {m.basename: m for m in archive if m.name != member}
        base = member.rsplit("/", 1)[-1]
        named = _chat_name(Path(base) if base != "_chat.txt" else path)
        where = f"{path.name}!{member}"
        yield from self._text(
            raw, where, named, options, {k: (v.name, v.size) for k, v in media.items()}
        )

    def _text(
        self,
        raw: bytes,
        where: str,
        named: tuple[str, bool],
        options: ParseOptions,
        media: dict[str, tuple[str, int]],
    ) -> Iterator[Item]:
        """Parse the text of an export; ``where`` prefixes locators, ``media`` is the zip's."""
        lines = _decode(raw)
        first = [line for line in lines if line.strip()][:_SNIFF_LINES]
        if not any(_HEADER.match(line) for line in first):
            raise FormatError(
                f"{where}: not a WhatsApp chat export (no line starts with a date and time)"
            )
        heads = [_head(line) for line in lines]
        order, notes = _decide_order([h for h in heads if h], options, where)
        chat, from_file_name = named

        authors: dict[str, None] = {}
        group: str | None = None
        for h in heads:
            if h is None or not (h.dates.get("ymd") or h.dates.get(order)):
                continue
            author, text = _split(h.rest, ())
            if author is not None:
                authors.setdefault(author)
            elif group is None and (g := _GROUP_CREATED.search(text)):
                group = g["name"]
        known = set(authors)
        if (
            from_file_name
            and not known & set(options.owner_names)
            and len(known) == 2
            and chat in known
        ):
            yield OwnerHint("name", next(a for a in authors if a != chat))
        for note in notes:
            yield Notice(note)
        yield from self._messages(
            where, raw, lines, heads, order, options, chat, group, list(authors), media
        )

    def _messages(
        self,
        where_file: str,
        raw: bytes,
        lines: list[str],
        heads: list[_Head | None],
        order: str,
        options: ParseOptions,
        chat: str,
        group: str | None,
        names: list[str],
        archived: dict[str, tuple[str, int]],
    ) -> Iterator[Item]:
        """The second pass: group lines into messages and turn them into records."""
        known = tuple(sorted(names, key=len, reverse=True))
        people = {
            a: (_person("author", a), *(_person("member", b) for b in names if b != a))
            for a in names
        }
        everyone = tuple(_person("member", a) for a in names)

        def speakers(author: str) -> tuple[Participant, ...]:
            if author not in people:
                people[author] = (_person("author", author), *everyone)
            return people[author]

        seen: Counter[str] = Counter()
        current: _Msg | None = None
        previous: datetime | None = None
        total = len(raw)

        def record(msg: _Msg) -> EventRecord:
            text = "\n".join(msg.lines).rstrip()
            key = "\x1f".join((chat, msg.local.isoformat(), msg.author or "", text))
            digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
            seen[digest] += 1
            details: dict[str, Any] = {}
            if group is not None:
                details["group"] = group
            if msg.author is not None and (media := _media(text)) is not None:
                found = archived.get(media["file"] or "")
                details["media"] = (
                    media
                    if found is None
                    else {**media, "archive_member": found[0], "size": found[1]}
                )
            return EventRecord(
                channel="chat",
                source=_SOURCE,
                external_id=f"{digest}:{seen[digest]}",
                occurred_at=msg.when,
                title=chat,
                text=text,
                participants=everyone if msg.author is None else speakers(msg.author),
                direction="system" if msg.author is None else None,
                thread_key=f"{_SOURCE}:{chat}",
                details=details,
                locator=f"{where_file}:{msg.line_no}",
            )

        for index, (line, h) in enumerate(zip(lines, heads, strict=True)):
            if index % _PROGRESS_EVERY == 0:
                if options.should_cancel is not None and options.should_cancel():
                    return
                if options.progress is not None:
                    options.progress(total * index // max(len(lines), 1), total)
            where = f"{where_file}:{index + 1}"
            local = None if h is None else (h.dates.get("ymd") or h.dates.get(order))
            if h is not None and local is not None:
                if current is not None:
                    yield record(current)
                author, text = _split(h.rest, known)
                previous = _to_utc(local, options.tz, previous)
                current = _Msg(index + 1, local, previous, author, [text])
                continue
            if h is not None:
                kept = "kept in the previous message" if current else "no message before it"
                yield Problem(where, f"impossible date or time {h.stamp!r}; line {kept}: {line}")
            elif current is None and line.strip():
                yield Problem(where, f"text before the first message: {line}")
            if current is not None:
                current.lines.append(line)
        if current is not None:
            yield record(current)
        if options.progress is not None:
            options.progress(total, total)
