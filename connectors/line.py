"""Connector for LINE's "Export chat history" (``[LINE] Chat with ….txt``).

LINE writes a chat as text: a first line ``[LINE] Chat history with <name>`` (in the app's
language: ``[LINE] <name>とのトーク履歴``, ``[LINE] ประวัติการแชทกับ <name>``, …), a "Saved
on" line, then for each day a heading and the day's messages, one a line, tab-separated:

    2024/01/15(Mon)
    10:30<TAB>Priya Shah<TAB>Is my order ready?
    10:31<TAB>Bloom & Branch<TAB>[Sticker]
    10:32<TAB>Priya Shah joined the group        (two columns: a notice)

as public readers of the format show it in its variants: the heading as ``2024/01/15(Mon)``,
``2015/12/25 Fri``, ``2024.02.01 Thursday`` (year first: certain), or ``Mon, 11/03/2025`` and
``Sun, 26/04/2026`` (month and day in the order of the phone's region: decided by the whole
file, else by the region setting); times on a 24-hour clock (``07:33``) or with AM/PM
(``8:15AM``, ``10:00 AM``). A message of several lines is written in double quotes
(``"first line`` … ``last line"``), and a line that begins no message continues the one
before. Media are placeholders (``[Photo]``, ``[Sticker]``), kept as the text.

People are LINE display names (handles on "line"); times are read in the zone you choose (the
file has none). A one-to-one chat names the other person: the other name in it is the
owner's (an owner hint). A message's id is a digest of the chat, its time, author and text,
numbered for an identical repeat.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from app.errors import FormatError
from app.records import Channel, EventRecord, Item, Notice, OwnerHint, ParseOptions, Participant
from connectors.chat_common import StableIds
from connectors.textfile import bounded_lines, detect_encoding

_SOURCE = "line"
_MAX_LINE = 64 * 1024
_HEADER = re.compile(r"^\ufeff?\[LINE\]\s*(.+?)\s*$")
# The chat's name in the header, as the languages write it.
_CHAT_NAME = (
    re.compile(r"^Chat history with (.+)$", re.IGNORECASE),
    re.compile(r"^(.+?)とのトーク履歴$"),
    re.compile(r"^ประวัติการ(?:แชท|สนทนา)กับ\s*(.+)$"),
    re.compile(r"^與(.+?)的聊天記錄$"),
    re.compile(r"^与(.+?)的聊天记录$"),
)
_YMD = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})(?:\s*\(?[^\d\t]*\)?)?\s*$")
_NUMERIC = re.compile(r"^(?:[^\d\s,]+,\s*)?(\d{1,2})/(\d{1,2})/(\d{4})\s*$")
_MESSAGE = re.compile(r"^(\d{1,2}):(\d{2})\s*([AaPp][Mm])?\t(.*)$")
_PROGRESS_EVERY = 2000


class LineConnector:
    """LINE's chat history exports (``.txt``)."""

    name = "line"
    label = "LINE chat history (.txt)"
    channel: Channel = "chat"
    extensions: tuple[str, ...] = (".txt",)

    def sniff(self, path: Path, head: bytes) -> float:
        """0.95 when the file begins with LINE's ``[LINE]`` header and a dated message
        follows, else 0.0."""
        del path
        text = head.decode("utf-8", errors="ignore")
        lines = text.splitlines()
        if not lines or _HEADER.match(lines[0]) is None:
            return 0.0
        return 0.95 if any(_MESSAGE.match(line) for line in lines[1:200]) else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield an owner hint (a one-to-one chat), notices, then the chat's messages.

        Raises:
            FormatError: no ``[LINE]`` header.
        """
        with path.open("rb") as fh:
            encoding = detect_encoding(fh)
        order = _order(_dates(path, encoding), options)
        with path.open("rb") as fh:
            stream = io.TextIOWrapper(fh, encoding=encoding, errors="replace", newline=None)
            lines = (line.rstrip("\n") for line, _cut in bounded_lines(stream, _MAX_LINE))
            first = next(lines, "")
            header = _HEADER.match(first)
            if header is None:
                raise FormatError(f"{path.name}: not a LINE chat history (no [LINE] header)")
            chat = _chat_name(header.group(1))
            messages = list(_messages(lines, order, options.tz))
        if order == "dmy-assumed":
            yield Notice(
                f"{path.name}: day and month could not be told apart; read as day/month "
                f"(region {options.region})"
            )
        authors = sorted({m.author for m in messages if m.author})
        if chat in authors and len(authors) == 2 and chat not in options.owner_names:
            yield OwnerHint("name", next(a for a in authors if a != chat))
        ids = StableIds(f"{_SOURCE}:{chat}")
        for message in messages:
            text = "\n".join(message.lines).strip()
            if len(text) > 1 and text.startswith('"') and text.endswith('"') and "\n" in text:
                text = text[1:-1]  # (LINE quotes a message of several lines)
            yield EventRecord(
                channel="chat",
                source=_SOURCE,
                external_id=ids.next(message.local.isoformat(), message.author, text),
                occurred_at=message.when,
                title=chat,
                text=text,
                participants=(
                    (
                        Participant(
                            "author", message.author, handle=message.author, platform=_SOURCE
                        ),
                    )
                    if message.author
                    else ()
                ),
                direction=None if message.author else "system",
                thread_key=f"{_SOURCE}:{chat}",
                locator=f"{path.name}:{message.line}",
            )


@dataclass
class _Message:
    line: int
    local: datetime
    when: datetime
    author: str
    lines: list[str] = field(default_factory=list)


def _chat_name(header: str) -> str:
    for pattern in _CHAT_NAME:
        found = pattern.match(header)
        if found is not None:
            return found.group(1).strip()
    return header.strip()


def _dates(path: Path, encoding: str) -> list[tuple[int, int]]:
    """The (first, second) fields of every numeric day heading (``Mon, 11/03/2025``)."""
    found = []
    with path.open(encoding=encoding, errors="replace", newline=None) as stream:
        for line, _cut in bounded_lines(stream, _MAX_LINE):
            numeric = _NUMERIC.match(line.strip())
            if numeric is not None:
                found.append((int(numeric.group(1)), int(numeric.group(2))))
    return found


def _order(dates: list[tuple[int, int]], options: ParseOptions) -> str:
    """ "mdy" or "dmy" for the numeric headings: what the file's days show, else the region's
    ("dmy-assumed" when that had to be assumed)."""
    if any(first > 12 for first, _second in dates):
        return "dmy"
    if any(second > 12 for _first, second in dates):
        return "mdy"
    if not dates:
        return "mdy"
    if options.date_order in ("dmy", "mdy"):
        return options.date_order
    return "mdy" if options.region in ("US", "PH", "CA") else "dmy-assumed"


def _messages(lines: Iterator[str], order: str, tz: tzinfo) -> Iterator[_Message]:
    """The messages, each with its lines (continuations joined), oldest first."""
    day: datetime | None = None
    current: _Message | None = None
    for number, line in enumerate(lines, 2):
        stripped = line.strip()
        heading = _heading(stripped, order)
        if heading is not None:
            if current is not None:
                yield current
                current = None
            day = heading
            continue
        found = _MESSAGE.match(line)
        if found is not None and day is not None:
            if current is not None:
                yield current
            hour, minute, half, rest = found.groups()
            hours = int(hour)
            if half:  # (12:05 AM is 00:05, 12:05 PM 12:05)
                hours = hours % 12 + (12 if half.lower() == "pm" else 0)
            if hours > 23 or int(minute) > 59:
                continue
            local = day.replace(hour=hours, minute=int(minute))
            author, _tab, text = rest.partition("\t")
            if not _tab:  # (two columns: a notice of LINE's)
                author, text = "", rest
            when = local.replace(tzinfo=tz).astimezone(UTC)
            current = _Message(number, local, when, author.strip(), [text])
            continue
        if current is not None:
            current.lines.append(line)  # (a message's next line; before the first day, the
            # "Saved on" line and such are no message's)
    if current is not None:
        yield current


def _heading(line: str, order: str) -> datetime | None:
    """The day a heading line names, or None."""
    found = _YMD.match(line)
    if found is not None:
        year, month, day = (int(g) for g in found.groups())
    else:
        numeric = _NUMERIC.match(line)
        if numeric is None:
            return None
        first, second, year = (int(g) for g in numeric.groups())
        month, day = (second, first) if order.startswith("dmy") else (first, second)
    try:
        return datetime(year, month, day)
    except ValueError:
        return None
