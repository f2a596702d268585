"""Messages exported as HTML by the free ``imessage-exporter`` (``-f html``).

The same conversations as its text export (``connectors.imessage_txt``), one ``.html`` per
chat, written by ``imessage-exporter/src/exporters/html.rs`` (as its example page,
``resources/example.html``, shows it):

    <div class="message">
        <div class="sent iMessage">            (or <div class="received">)
            <p><span class="timestamp">Jul 17, 2022  5:04:04 PM (Read by …)</span>
               <span class="sender">Me</span></p>
            <p>Subject: <span class="subject">…</span></p>
            <hr><div class="message_part"><span class="bubble">the text</span></div>
            <div class="message_part"><img src="attachments/bella.jpeg"></div>
            <div class="reactions"><p>Reactions:</p>
                <div class="reaction"><span><b>Loved</b> by +15558675309</span></div></div>
            <div class="replies"><div class="reply">…a reply's copy…</div></div>
        </div>
    </div>
    <div class="announcement"><p><span class="timestamp">…</span> You renamed …</p></div>

A sent message's second class names its service (``iMessage``, ``SMS``): an SMS is on the
source "sms". A deleted message carries ``<span class="deleted">``, a reply
``<span class="reply_context">``; an app's message (a shared link) gives its link and
captions as text. The copies of replies under the message they answer are skipped (each
reply is written on its own too). Everything else is read as the text export is.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from app.records import Channel, Item, ParseOptions, Problem
from connectors.imessage_txt import Message, chat_events, media_entry

__all__ = ["IMessageHtmlConnector"]

_CHUNK = 64 * 1024
_MARKS = (b'class="message"', b'class="timestamp"', b'class="sender"')
_VOID = frozenset({"img", "br", "hr", "meta", "link", "source", "input", "wbr"})
_CAPTURED = frozenset({"timestamp", "sender", "subject", "bubble"})
_MEDIA_TAGS = frozenset({"img", "audio", "video", "source", "embed"})


class IMessageHtmlConnector:
    """Reads the ``.html`` files of ``imessage-exporter`` (one conversation each)."""

    name: str = "imessage_html"
    label: str = "iMessage chats exported with imessage-exporter (.html)"
    channel: Channel = "chat"
    extensions: tuple[str, ...] = (".html",)

    def sniff(self, path: Path, head: bytes) -> float:
        """0.9 if the page holds the exporter's message, timestamp and sender classes."""
        del path
        return 0.9 if all(mark in head for mark in _MARKS) else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield one chat event per message, and a problem per message that cannot be read."""
        reader = _Reader()
        total = path.stat().st_size
        done = 0
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            while chunk := fh.read(_CHUNK):
                if options.should_cancel is not None and options.should_cancel():
                    return
                reader.feed(chunk)
                done += len(chunk)  # (characters: near enough the bytes for progress)
                if options.progress is not None:
                    options.progress(min(done, total), total)
        reader.close()
        found: list[Message | Problem] = list(reader.messages)
        if not found:
            found.append(Problem(path.name, "no message found in the page"))
        yield from chat_events(path, found, options)


class _Reader(HTMLParser):
    """The page's top-level messages and notices, as ``Message`` items."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.messages: list[Message] = []
        self._divs: list[set[str]] = []  # the classes of each open div
        self._spans: list[set[str]] = []
        self._current: Message | None = None
        self._depth = 0  # the open divs when the current message began
        self._skip_from: int | None = None  # inside a reply's copy: its depth
        self._field = ""  # the captured span ("timestamp", "sender", …)
        self._buffer: list[str] = []
        self._reaction: list[str] | None = None
        self._app: list[str] | None = None
        self._notice_text: list[str] | None = None

    # --- tags -----------------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = set((dict(attrs).get("class") or "").replace(",", " ").split())
        if tag == "div":
            self._divs.append(classes)
            self._div_opened(classes)
        elif tag == "span":
            self._spans.append(classes)
            if self._skip_from is None and self._current is not None:
                if classes & _CAPTURED and not self._field:
                    self._field = next(iter(classes & _CAPTURED))
                    self._buffer = []
                if "deleted" in classes:
                    self._current.deleted = True
                if "reply_context" in classes:
                    self._current.reply = True
        elif tag == "br" and self._field == "bubble":
            self._buffer.append("\n")
        elif tag in _MEDIA_TAGS and self._in_part():
            source = dict(attrs).get("src") or ""
            if source and self._current is not None:
                self._current.media.append(media_entry(source))
        elif tag == "a" and self._app is not None:
            href = dict(attrs).get("href") or ""
            if href.startswith(("http://", "https://")):
                self._app.append(href)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            self.handle_starttag(tag, attrs)
        else:  # (<div/> in a page: opened and closed)
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._spans:
            self._spans.pop()
            if self._field and not any(s & _CAPTURED for s in self._spans):
                self._captured(self._field, "".join(self._buffer))
                self._field = ""
        elif tag == "div" and self._divs:
            classes = self._divs.pop()
            self._div_closed(classes)

    def handle_data(self, data: str) -> None:
        if self._skip_from is not None or self._current is None:
            return
        if self._field:
            self._buffer.append(data)
        elif self._reaction is not None:
            self._reaction.append(data)
        elif self._app is not None:
            self._app.append(data)
        elif self._notice_text is not None:
            self._notice_text.append(data)

    # --- structure ------------------------------------------------------------------------

    def _div_opened(self, classes: set[str]) -> None:
        depth = len(self._divs)
        if self._skip_from is not None:
            return
        if "replies" in classes and self._current is not None:
            self._skip_from = depth
            return
        if self._current is None and ("message" in classes or "announcement" in classes):
            line = self.getpos()[0]
            self._current = Message(line, "", "", notice="announcement" in classes)
            self._depth = depth
            if self._current.notice:
                self._notice_text = []
            return
        if self._current is None:
            return
        if "sent" in classes:
            others = sorted(classes - {"sent"})
            self._current.service = others[0] if others else ""
        elif "reaction" in classes:
            self._reaction = []
        elif "app" in classes:
            self._app = []

    def _div_closed(self, classes: set[str]) -> None:
        depth = len(self._divs) + 1  # (the depth it had while open)
        if self._skip_from is not None:
            if depth == self._skip_from:
                self._skip_from = None
            return
        current = self._current
        if current is None:
            return
        if "reaction" in classes and self._reaction is not None:
            said = " ".join("".join(self._reaction).split())
            if said:
                current.reactions.append(said)
            self._reaction = None
        elif "app" in classes and self._app is not None:
            said = " ".join(" ".join(self._app).split())
            if said:
                current.texts.append(said)
            self._app = None
        if depth == self._depth:
            if current.notice and self._notice_text is not None:
                words = " ".join("".join(self._notice_text).split())
                current.texts.append(words)
                self._notice_text = None
            if current.stamp:
                self.messages.append(current)
            self._current = None

    def _captured(self, field: str, text: str) -> None:
        current = self._current
        if current is None:
            return
        if field == "timestamp" and not current.stamp:
            current.stamp = " ".join(text.split(" (Read by ")[0].split())
        elif field == "sender" and not current.sender:
            current.sender = " ".join(text.split())
        elif field == "subject":
            current.texts.insert(0, text.strip())
        elif field == "bubble":
            lines = text.strip("\n")
            if lines.strip():
                current.texts.append(lines)

    def _in_part(self) -> bool:
        """Inside a message's own part (not a reaction's sticker, not a reply's copy)."""
        return (
            self._current is not None
            and self._skip_from is None
            and self._reaction is None
            and not self._current.notice
        )
