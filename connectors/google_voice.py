"""Google Voice texts, calls and voicemails, as Google Takeout saves them.

A Takeout of Voice holds ``Voice/Calls/`` with one HTML page per conversation or call,
named ``<name or number> - <kind> - <UTC time>.html`` (kinds ``Text``, ``Group
Conversation``, ``Received``, ``Placed``, ``Missed``, ``Voicemail``), and ``Voice/Phones.vcf``,
the account's own numbers. A business on a Google Voice number keeps its customers' texts
and calls there.

A conversation page (``<div class="hChatLog hfeed">``) holds its messages in order, each
``<div class="message">`` with ``<abbr class="dt" title="2011-12-15T20:08:08.451-05:00">``
(the time, with its offset), the sender ``<cite class="sender vcard"><a class="tel"
href="tel:+12125551234">`` with its name in ``class="fn"`` (for the owner, whose number this
names, an ``abbr`` saying "Me"), the text in ``<q>`` (lines broken by ``<br>``) and a
picture as ``<img alt="Image MMS Attachment">``; a group conversation names its people in
``<div class="participants">``. A call's page (``<div class="haudio">``) says what it was in
its ``contributor vcard`` ("Received call from", "Placed call to", "Missed call from",
"Voicemail from") with the number, when in ``<abbr class="published" title="…">``, how long
in ``<abbr class="duration" title="PT1M4S">``, and a voicemail's transcription in ``<span
class="full-text">``. ``Phones.vcf`` gives owner hints, not an address book card: these are
the owner's own numbers.

Each message, call or voicemail is one event (the source "google_voice"), its thread the
conversation's numbers; the owner's lines are the owner's side. A message's id is a digest
of the numbers, time, sender and text, the same however often the account is exported.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

from app.errors import FormatError
from app.records import (
    Channel,
    Direction,
    EventRecord,
    Item,
    Notice,
    OwnerHint,
    ParseOptions,
    Participant,
    Problem,
    Role,
)
from connectors.chat_common import duration_text

_SOURCE = "google_voice"
_MAX_PAGE = 64 * 1024 * 1024  # (a page is one conversation: a few MB at most)
_CHAT_MARK = b'class="hChatLog hfeed"'
_CALL_MARK = b'class="haudio"'
_DURATION = re.compile(r"^P(?:T)?(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")
_CALLS: tuple[tuple[str, str, Direction], ...] = (
    ("voicemail", "Voicemail", "inbound"),
    ("missed", "Missed call", "inbound"),
    ("placed", "Outgoing call", "outbound"),
    ("received", "Incoming call", "inbound"),
)
_TEL = re.compile(r"^(?:[A-Za-z0-9-]+\.)?TEL[^:]*:(.+)$", re.IGNORECASE | re.MULTILINE)


class GoogleVoiceConnector:
    """Google Voice's pages in a Takeout (``Voice/Calls/*.html``), and its ``Phones.vcf``."""

    name = "google_voice"
    label = "Google Voice (Takeout: texts, calls, voicemail)"
    channel: Channel = "chat"
    extensions: tuple[str, ...] = (".html", ".vcf")

    def sniff(self, path: Path, head: bytes) -> float:
        """0.97 for the ``Calls`` folder (all its pages are one source), a conversation or
        call page, and ``Phones.vcf`` beside ``Calls/`` (above an address book's 0.95: the
        owner's own numbers); else 0.0."""
        if not head and path.is_dir():
            return 0.97 if path.name == "Calls" and _first_page(path) is not None else 0.0
        if path.name.lower() == "phones.vcf" and (path.parent / "Calls").is_dir():
            return 0.97
        if path.suffix.lower() != ".html":
            return 0.0
        return 0.97 if _CHAT_MARK in head or _CALL_MARK in head else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield the pages' events (and the owner's number), or the owner's numbers.

        Raises:
            FormatError: neither a Google Voice page (or their folder) nor ``Phones.vcf``.
        """
        spam: list[Path] = []  # (pages Google Voice marked as spam: left out)
        if path.is_dir():
            pages = sorted(p for p in path.iterdir() if p.suffix.lower() == ".html")
            for done, page in enumerate(pages):
                if options.should_cancel is not None and options.should_cancel():
                    return
                if options.progress is not None:
                    options.progress(done, len(pages))
                try:
                    yield from self._page(page, f"{path.name}/{page.name}", spam)
                except FormatError:
                    continue  # (a page of something else: nothing of Google Voice)
                except OSError as exc:
                    yield Problem(f"{path.name}/{page.name}", f"cannot read the page: {exc}")
            if options.progress is not None:
                options.progress(len(pages), len(pages))
        else:
            yield from self._page(path, path.name, spam)
        if spam:
            yield Notice(
                f"{path.name}: {len(spam)} conversations Google Voice marked as spam left out"
            )

    def _page(self, path: Path, label: str, spam: list[Path]) -> Iterator[Item]:
        """One page's items, or ``Phones.vcf``'s owner hints (a page marked as spam is
        added to ``spam`` instead)."""
        data = path.read_bytes()[:_MAX_PAGE]
        if path.suffix.lower() == ".vcf":
            for number in dict.fromkeys(
                m.strip() for m in _TEL.findall(data.decode("utf-8", "replace"))
            ):
                if sum(c.isdigit() for c in number) >= 5:
                    yield OwnerHint("phone", number.removeprefix("tel:"))
            return
        if _CHAT_MARK not in data and _CALL_MARK not in data:
            raise FormatError(f"{path.name}: not a Google Voice page")
        page = _Page()
        page.feed(data.decode("utf-8", "replace"))
        page.close()
        if "spam" in page.labels:  # (Google Voice took it for spam: its sender is no one's)
            spam.append(path)
            return
        yield from _items(page, label)


def _first_page(folder: Path) -> Path | None:
    """A Google Voice page of the folder (the first few looked at), or None."""
    try:
        pages = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".html")[:5]
    except OSError:
        return None
    for page in pages:
        try:
            with page.open("rb") as fh:
                head = fh.read(64 * 1024)
        except OSError:
            continue
        if _CHAT_MARK in head or _CALL_MARK in head:
            return page
    return None


@dataclass
class _Message:
    when: str = ""
    number: str = ""
    name: str = ""
    owner: bool = False
    text: list[str] = field(default_factory=list)
    media: int = 0


class _Page(HTMLParser):
    """What one page holds, read with the standard library's HTML parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.messages: list[_Message] = []
        self.people: dict[str, str] = {}  # a group's numbers → names
        self.call = ""  # the contributor line ("Received call from")
        self.call_number = ""
        self.call_name = ""
        self.published = ""
        self.duration = ""
        self.transcript: list[str] = []
        self.labels: set[str] = set()  # the page's labels ("inbox", "sms", "spam", …)
        self._current: _Message | None = None
        self._in_fn = self._in_q = self._in_contributor = self._in_transcript = False
        self._in_participants = False
        self._fn_abbr = False
        self._tel = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        if tag == "div" and "message" in classes:
            self._current = _Message()
            self.messages.append(self._current)
        elif tag == "div" and "participants" in classes:
            self._in_participants = True
        elif tag == "div" and "contributor" in classes:
            self._in_contributor = True
        elif tag == "abbr" and "dt" in classes and self._current is not None:
            self._current.when = found.get("title") or ""
        elif tag == "abbr" and "published" in classes:
            self.published = found.get("title") or ""
        elif tag == "abbr" and "duration" in classes:
            self.duration = found.get("title") or ""
        elif tag == "a" and "tel" in classes:
            self._tel = (found.get("href") or "").removeprefix("tel:").strip()
            if self._current is not None and not self._in_participants:
                self._current.number = self._tel
            elif self._in_contributor:
                self.call_number = self._tel
        elif "fn" in classes:
            self._in_fn = True
            # (the owner's name is an abbr, "Me" in the exporter's language; others' a span)
            self._fn_abbr = tag == "abbr"
        elif tag == "q":
            self._in_q = True
        elif tag == "br" and self._in_q and self._current is not None:
            self._current.text.append("\n")
        elif tag == "img" and self._current is not None:
            self._current.media += 1
        elif tag == "span" and "full-text" in classes:
            self._in_transcript = True
        elif tag == "a" and found.get("rel") == "tag":
            self.labels.add((found.get("href") or "").rpartition("#")[2].lower())

    def handle_endtag(self, tag: str) -> None:
        if tag in ("span", "abbr") and self._in_fn:
            self._in_fn = False
        elif tag == "q":
            self._in_q = False
        elif tag == "div" and self._in_participants:
            self._in_participants = False
        elif tag == "div" and self._in_contributor:
            self._in_contributor = False
        elif tag == "span" and self._in_transcript:
            self._in_transcript = False

    def handle_data(self, data: str) -> None:
        if self._in_fn:
            name = " ".join(data.split())
            if self._in_participants:
                self.people[self._tel] = name
            elif self._current is not None:
                self._current.name = name
                self._current.owner = self._fn_abbr or name == "Me"
            elif self._in_contributor:
                self.call_name = name
        elif self._in_q and self._current is not None:
            self._current.text.append(data)
        elif self._in_transcript:
            self.transcript.append(data)
        elif self._in_contributor and not self.call:
            self.call = " ".join(data.split())


def _items(page: _Page, file_name: str) -> Iterator[Item]:
    """The page's events: its messages, or its call."""
    hinted: set[str] = set()
    if page.messages:
        names = {m.number: m.name for m in page.messages if m.number and m.name and not m.owner}
        names.update(page.people)
        others = sorted(
            {m.number for m in page.messages if m.number and not m.owner} | set(page.people)
        )
        for index, message in enumerate(page.messages, 1):
            where = f"{file_name}#{index}"
            if message.owner and message.number and message.number not in hinted:
                hinted.add(message.number)
                yield OwnerHint("phone", message.number)
            when = _time(message.when)
            if when is None:
                yield Problem(where, "a message without a time")
                continue
            text = "".join(message.text).strip()
            if message.media:
                note = "[picture]" if message.media == 1 else f"[{message.media} pictures]"
                text = f"{text}\n{note}" if text else note
            people = _people(message, others, names)
            yield EventRecord(
                channel="chat",
                source=_SOURCE,
                external_id=_id("text", "~".join(others), message.when, message.number, text),
                occurred_at=when,
                title=message.name if not message.owner else _title(others, names),
                text=text,
                participants=people,
                direction="outbound" if message.owner else None,
                thread_key=f"{_SOURCE}:{'~'.join(others)}",
                details={"group": ", ".join(others)} if len(others) > 1 else {},
                locator=where,
            )
        return
    lowered = page.call.lower()
    what, direction = next(((w, d) for k, w, d in _CALLS if k in lowered), ("Call", "inbound"))
    when = _time(page.published)
    if when is None or not page.call_number:
        yield Problem(f"{file_name}#1", "a call without a time or a number")
        return
    seconds = _seconds(page.duration)
    text = f"{what}, {duration_text(seconds)}" if seconds else what
    transcript = " ".join("".join(page.transcript).split())
    if transcript:
        text = f"{text}\n{transcript}"
    role: Role = "member" if direction == "outbound" else "author"
    yield EventRecord(
        channel="chat",
        source=_SOURCE,
        external_id=_id("call", page.call_number, page.published, what, str(seconds)),
        occurred_at=when,
        title=page.call_name or page.call_number,
        text=text,
        participants=(Participant(role, page.call_name, phone=page.call_number),),
        direction=direction,
        thread_key=f"{_SOURCE}:{page.call_number}",
        details={"call": {"type": what, "seconds": seconds}},
        locator=f"{file_name}#1",
    )


def _people(message: _Message, others: list[str], names: dict[str, str]) -> tuple[Participant, ...]:
    """The message's people: its sender as author (unless the owner), the others as
    members."""
    people: list[Participant] = []
    if not message.owner and message.number:
        people.append(Participant("author", message.name, phone=message.number))
    for number in others:
        if number != message.number or message.owner:
            people.append(Participant("member", names.get(number, ""), phone=number))
    return tuple(people)


def _title(others: list[str], names: dict[str, str]) -> str:
    return ", ".join(names.get(n) or n for n in others)


def _time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _seconds(value: str) -> int:
    found = _DURATION.match(value.strip())
    if found is None:
        return 0
    hours, minutes, seconds = (float(g) if g else 0.0 for g in found.groups())
    return int(hours * 3600 + minutes * 60 + seconds)


def _id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:40]
