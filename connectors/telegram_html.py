"""Connector for Telegram Desktop's "Export chat history" in HTML, the exporter's default.

One chat's export is a folder (``ChatExport_2024-05-01``) of pages, ``messages.html``,
``messages2.html``, …, beside ``photos/``, ``files/``, ``css/`` and ``js/``. A page names the
chat in its header (``<div class="page_header">…<div class="text bold">Name</div>``) and
holds the messages in order:

- ``<div class="message default clearfix" id="message123">``: a message, with a ``body``
  holding ``<div class="pull_right date details" title="05.12.2018 10:39:10 UTC+03:00">``
  (older exports leave out the offset: the time is the exporting computer's), the sender's
  ``<div class="from_name">``, the text (``<div class="text">``, lines broken by ``<br>``),
  and media (``media_wrap``: a ``photo_wrap`` link, or a ``media`` block whose class names
  the kind, ``media_video``, ``media_voice_message``, ``media_file``…, with a ``title bold``,
  a ``description`` saying when the file was not downloaded, and ``status details``: its
  length and size). A message
  ``joined`` to the one before (the same sender, soon after) has no ``from_name``. A
  forwarded message's original sender is in a nested ``forwarded body``; a reply names the
  message it answers in ``reply_to details`` (``GoToMessage(12)``).
- ``<div class="message service" id="message-1">``: a day's heading when its id is
  negative, else a service message (``body details``: "Alice created group «Shop»").

The folder is one source, read page by page in their number order (a page may begin with a
message joined to the last one of the page before); a single page is one too. A message's
id is the chat's name and its number: ids are kept however often the chat is exported
again (as the JSON export's are, whose ids name the chat by its number instead: the two
exports of one chat are two threads).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from app.errors import FormatError
from app.records import Channel, EventRecord, Item, OwnerHint, ParseOptions, Problem
from connectors.chat_common import Cast, media_text, person

_SOURCE = "telegram"
_PAGE = re.compile(r"messages(\d*)\.html", re.IGNORECASE)
_DATE = re.compile(
    r"(\d{2})\.(\d{2})\.(\d{4}) (\d{2}):(\d{2}):(\d{2})(?: UTC([+-])(\d{2}):(\d{2}))?"
)
_GO_TO = re.compile(r"GoToMessage\((\d+)\)")
_MARKS = (b'class="page_wrap"', b'class="history"', b"pull_right date details")
# A media block's class → its kind (anything else is a "file").
_KINDS = (
    ("photo_wrap", "photo"),
    ("media_photo", "photo"),
    ("sticker", "sticker"),
    ("animated_wrap", "gif"),
    ("media_animation", "gif"),
    ("media_video", "video"),
    ("video_file_wrap", "video"),
    ("media_voice_message", "audio"),
    ("media_audio_file", "audio"),
    ("media_call", "call"),
    ("media_location", "location"),
    ("media_contact", "contact"),
    ("media_poll", "poll"),
    ("media_file", "file"),
)
_MAX_PAGE_BYTES = 64 * 1024**2  # tdesktop writes 1,000 messages a page: a few MB


@dataclass
class _Message:
    """One message as a page shows it."""

    number: int | None  # its id; None for a day's heading
    service: bool
    joined: bool
    line: int
    sender: str = ""
    date: str = ""
    text: list[str] = field(default_factory=list)
    media: list[dict[str, str]] = field(default_factory=list)
    forwarded_from: str = ""
    reply_to: str = ""


class _Page(HTMLParser):
    """Reads one ``messages*.html`` page: the chat's name and its messages, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: list[str] = []
        self.messages: list[_Message] = []
        self._stack: list[tuple[str, frozenset[str]]] = []  # open divs, links, spans: classes
        self._current: _Message | None = None
        self._into: list[str] | None = None  # where text goes now
        self._role = ""  # what it is: "text", "title", "sender", "forwarded", "media_…"
        self._into_depth = 0

    def _inside(self, name: str) -> bool:
        return any(name in classes for _tag, classes in self._stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "br":
            if self._into is not None:
                self._into.append("\n")
            return
        if tag not in ("div", "a", "span"):
            return
        classes = frozenset((found.get("class") or "").split())
        message = self._current
        if tag == "div" and "message" in classes and not self._inside("message"):
            ident = found.get("id") or ""
            number = int(ident[7:]) if ident.startswith("message") and ident[7:].isdigit() else None
            message = self._current = _Message(
                number, "service" in classes, "joined" in classes, self.getpos()[0]
            )
            self.messages.append(message)
        elif message is not None:
            self._open(tag, classes, found, message)
        elif tag == "div" and "text" in classes and self._inside("page_header"):
            self._take(self.title, "title")
        self._stack.append((tag, classes))

    def _open(
        self, tag: str, classes: frozenset[str], found: dict[str, str | None], message: _Message
    ) -> None:
        forwarded = self._inside("forwarded")
        media = self._inside("media_wrap") or "media_wrap" in classes
        if "date" in classes and "details" in classes and not forwarded:
            message.date = message.date or (found.get("title") or "")
        elif "from_name" in classes and not self._inside("reply_to"):
            if forwarded and not message.forwarded_from:
                self._take([], "forwarded")
            elif not forwarded and not message.sender:
                self._take([], "sender")
        elif tag == "a" and self._inside("reply_to") and not forwarded:
            # (a forwarded message's own reply names a message of the chat it came from)
            link = (found.get("onclick") or "") + " " + (found.get("href") or "")
            go = _GO_TO.search(link) or re.search(r"go_to_message(\d+)", link)
            message.reply_to = message.reply_to or (go.group(1) if go else "")
        elif message.service and "body" in classes and "details" in classes:
            self._take(message.text, "text")
        elif media:
            kind = next((k for name, k in _KINDS if name in classes), None)
            if kind is not None:
                entry = {"kind": kind}
                if found.get("href"):
                    entry["uri"] = found.get("href") or ""
                message.media.append(entry)
            elif message.media and "title" in classes and "bold" in classes:
                self._take([], "media_title")
            elif message.media and (
                "description" in classes or ("status" in classes and "details" in classes)
            ):
                self._take([], "media_status")  # ("Not included, …", then "0:07, 12.4 KB")
        elif "text" in classes and "bold" not in classes and not self._inside("reply_to"):
            self._take(message.text, "text")

    def _take(self, into: list[str], role: str) -> None:
        if self._into is None:  # (text inside text: the outer one keeps it)
            self._into, self._role = into, role
            self._into_depth = len(self._stack) + 1

    def handle_endtag(self, tag: str) -> None:
        if tag not in ("div", "a", "span") or not self._stack:
            return
        while self._stack:
            open_tag, _classes = self._stack.pop()
            if open_tag == tag:
                break
        if self._into is not None and len(self._stack) < self._into_depth:
            self._finish()
        if self._current is not None and not self._inside("message"):
            self._current = None

    def _finish(self) -> None:
        message, into, role = self._current, self._into, self._role
        self._into, self._role = None, ""
        if message is None or into is None:
            return
        text = " ".join("".join(into).split())
        if role == "sender":
            message.sender = text
        elif role == "forwarded":
            message.forwarded_from = text
        elif role == "media_title" and message.media:
            message.media[-1]["title"] = text
        elif role == "media_status" and message.media and text:
            status = message.media[-1].get("status")
            message.media[-1]["status"] = f"{status} · {text}" if status else text

    def handle_data(self, data: str) -> None:
        if self._into is not None:
            if self._role in ("sender", "forwarded") and self._inside("date"):
                return  # (a forwarded message's date, beside its sender's name)
            self._into.append(data)


def _when(title: str, options: ParseOptions) -> datetime | None:
    """A message's time from its date's title (with an offset, or in ``options.tz``)."""
    found = _DATE.search(title)
    if found is None:
        return None
    day, month, year, hour, minute, second = (int(found.group(i)) for i in range(1, 7))
    try:
        if found.group(7):
            sign = 1 if found.group(7) == "+" else -1
            offset = timedelta(hours=int(found.group(8)), minutes=int(found.group(9)))
            zone: Any = timezone(sign * offset)
        else:
            zone = options.tz
        return datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except (ValueError, OverflowError):
        return None


def _pages(path: Path) -> list[Path]:
    """A chat folder's pages in their number order (``messages.html`` first)."""
    found = [(int(m.group(1) or 1), p) for p in path.iterdir() if (m := _PAGE.fullmatch(p.name))]
    return [p for _n, p in sorted(found)]


def _looks_telegram(head: bytes) -> bool:
    return all(mark in head for mark in _MARKS[:2]) or (
        b'class="message ' in head and _MARKS[2] in head
    )


class TelegramHtmlConnector:
    """Reads Telegram Desktop's HTML chat exports: a chat folder, or one of its pages."""

    name = "telegram_html"
    label = "Telegram chat export (HTML)"
    channel: Channel = "chat"
    extensions: tuple[str, ...] = (".html",)

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure it is that ``path`` is a Telegram HTML export (a page or its folder).

        Args:
            path: a ``messages*.html`` file, or a folder (``head`` empty).
            head: the file's first bytes.

        Returns:
            0.95 for a page in the exporter's markup, or a folder holding ``messages.html``
            in it; else 0.0.
        """
        if not head:
            page = path / "messages.html"
            if not path.is_dir() or not page.is_file():
                return 0.0
            try:
                with page.open("rb") as fh:
                    return 0.95 if _looks_telegram(fh.read(64 * 1024)) else 0.0
            except OSError:
                return 0.0
        return 0.95 if path.suffix.lower() in (".html", ".htm") and _looks_telegram(head) else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield an owner hint (a one-to-one chat), then the chat's messages in order.

        Args:
            path: a chat folder, or one page.
            options: zone (for dates without an offset), owner names, progress, cancel.

        Yields:
            ``OwnerHint``, ``EventRecord`` and ``Problem`` items.

        Raises:
            FormatError: not a Telegram HTML export.
        """
        pages = _pages(path) if path.is_dir() else [path]
        if not pages:
            raise FormatError(f"{path.name}: not a Telegram chat export (no messages.html)")
        read: list[tuple[Path, _Page]] = []
        for page in pages:
            if options.should_cancel is not None and options.should_cancel():
                return
            try:
                if page.stat().st_size > _MAX_PAGE_BYTES:
                    yield Problem(page.name, "page larger than 64 MB; skipped")
                    continue
                text = page.read_bytes().decode("utf-8", errors="replace")
            except OSError as exc:
                raise FormatError(f"{page.name}: cannot read: {exc.strerror or exc}") from exc
            parsed = _Page()
            parsed.feed(text)
            parsed.close()
            if not read and not parsed.messages and not _looks_telegram(text[:65536].encode()):
                raise FormatError(f"{page.name}: not a Telegram chat export")
            read.append((page, parsed))
        title = next((" ".join("".join(p.title).split()) for _f, p in read if p.title), "")
        title = title or (path.name if path.is_dir() else path.parent.name)
        senders: dict[str, None] = {}
        for _file, parsed in read:
            for message in parsed.messages:
                if message.sender and not message.service:
                    senders.setdefault(message.sender)
        cast = Cast((name, person("member", name, _SOURCE)) for name in senders)
        people = list(senders)
        one_to_one = len(people) == 2 and people.count(title) == 1
        if one_to_one and not set(people) & set(options.owner_names):
            yield OwnerHint("name", next(p for p in people if p != title))
        total = sum(len(p.messages) for _f, p in read)
        done = 0
        sender = ""
        last: datetime | None = None  # (a service message has no time: the one before's)
        for file, parsed in read:
            for message in parsed.messages:
                done += 1
                if options.progress is not None and done % 500 == 0:
                    options.progress(done, total)
                if message.number is None:
                    continue  # a day's heading
                locator = f"{file.name}:{message.line}"
                when = _when(message.date, options) or (last if message.service else None)
                if message.service:
                    if when is not None:  # (one before any message: no time to give it)
                        yield self._record(message, when, title, "", cast, locator)
                    continue
                last = when or last
                sender = message.sender or (sender if message.joined else "")
                if when is None:
                    yield Problem(locator, f"no usable date ({message.date[:60]!r})")
                    continue
                if not sender:
                    yield Problem(locator, "no sender (joined to a message of an earlier page)")
                    continue
                yield self._record(message, when, title, sender, cast, locator)
        if options.progress is not None:
            options.progress(total, total)

    def _record(
        self,
        message: _Message,
        when: datetime,
        title: str,
        sender: str,
        cast: Cast,
        locator: str,
    ) -> EventRecord:
        text = "".join(message.text).strip()
        details: dict[str, Any] = {}
        if message.media:
            details["media"] = message.media
        if message.forwarded_from:
            details["forwarded_from"] = message.forwarded_from
        if message.reply_to:
            details["reply_to"] = message.reply_to
        if not text and message.media:
            text = media_text(m["kind"] for m in message.media)
        system = message.service
        return EventRecord(
            channel="chat",
            source=_SOURCE,
            external_id=f"html:{title}:{message.number}",
            occurred_at=when,
            title=title,
            text=text,
            participants=cast.everyone() if system or sender not in cast else cast.speaking(sender),
            direction="system" if system else None,
            thread_key=f"{_SOURCE}:html:{title}",
            details=details,
            locator=locator,
        )
