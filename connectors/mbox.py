"""The mbox connector: a mailbox file of concatenated messages (Thunderbird, Google Takeout).

The file is streamed in binary, block by block, so multi-gigabyte Takeout
exports never sit in memory. A message starts at a line beginning ``From ``
at the start of the file or after a blank line; ``>From `` quoting (mboxrd and
mboxo) loses one ``>``. Each message goes through ``connectors.mail`` and
becomes an email event, an owner hint plus an event, or a ``Problem`` with the
locator ``file.mbox:LINE`` of its ``From `` line. ``Status``/``X-Status``
headers become ``details["flags"]``. A message whose headers carry no usable
date takes the ``From `` line's date (``details["date_from"]`` is
"mbox_from_line").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

from app.errors import FormatError
from app.records import Channel, Item, Notice, ParseOptions, Problem
from connectors import mail
from connectors.eml import looks_like_headers
from connectors.mail_headers import envelope_date
from connectors.maildir import is_sent_folder

_SEPARATOR = re.compile(rb"\n\r?\nFrom ")  # a From_ line after a blank line
_LEADING_BLANK_LINES = re.compile(rb"^(?:\r?\n)+")
_QUOTED_FROM = re.compile(rb"^>(>*From )", re.MULTILINE)
_BLOCK = 1024 * 1024
_MAX_LINE = 1024 * 1024
_PROGRESS_EVERY = 200
_MAX_ENVELOPE = 4096  # a longer From_ line is not kept for its date


@dataclass
class RawMessage:
    """One message as split from an mbox file.

    Attributes:
        line: the 1-based line number of its ``From `` line.
        chunks: its bytes, un-quoted, without the ``From `` line.
        size: bytes seen, even past the size limit.
        too_big: it exceeded ``mail.MAX_MESSAGE_BYTES`` (its bytes were dropped).
        envelope: its ``From `` line without the line break (b"" when too long).
    """

    line: int
    chunks: list[bytes]
    size: int = 0
    too_big: bool = False
    envelope: bytes = b""

    def data(self) -> bytes:
        """The message bytes, without the blank line that separates it from the next."""
        data = b"".join(self.chunks)
        if data.endswith(b"\r\n\r\n"):  # the blank line before the next From_ line
            return data[:-2]
        return data[:-1] if data.endswith(b"\n\n") else data


class _Buffer:
    """A window on the file: ``data`` starts at file offset ``offset`` and line ``line``."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.data = bytearray()
        self.offset = 0
        self.line = 1
        self.eof = False

    def fill(self) -> bool:
        """Read one more block; False at the end of the file."""
        block = self.fh.read(_BLOCK)
        if not block:
            self.eof = True
            return False
        self.data += block
        return True

    def drop(self, count: int) -> None:
        """Forget the first ``count`` bytes (cheap: bytearray deletes from the front in place)."""
        self.line += self.data.count(b"\n", 0, count)
        self.offset += count
        del self.data[:count]


def split_mbox(fh: BinaryIO, name: str) -> Iterator[tuple[RawMessage, int]]:
    """Split an open mbox file into raw messages, streaming.

    The file is read in 1 MiB blocks and scanned for blank-line-then-``From ``
    separators with one regular expression, so the cost per message does not
    grow with its number of lines. A message longer than
    ``mail.MAX_MESSAGE_BYTES`` is skipped over without being kept in memory.

    Args:
        fh: the file, opened in binary mode at its start.
        name: the file name, for the error message.

    Yields:
        (message, bytes read up to its end) for each message, in file order.

    Raises:
        FormatError: the file has content before its first ``From `` line.
    """
    buf = _Buffer(fh)
    while len(buf.data) < 5 and buf.fill():
        pass
    if buf.data.startswith(b"\xef\xbb\xbf"):
        buf.drop(3)
        buf.line = 1
    while not buf.data.startswith(b"From "):  # blank lines may come first
        while len(buf.data) < 5 and buf.fill():
            pass
        if buf.data.startswith(b"From "):
            break
        if not buf.data:
            return
        blank = 1 if buf.data.startswith(b"\n") else 2 if buf.data.startswith(b"\r\n") else 0
        if not blank:
            raise FormatError(f"{name}: not an mbox file (it does not start with a 'From ' line)")
        buf.drop(blank)
    while True:
        message = RawMessage(buf.line, [])
        while (end_of_from := buf.data.find(b"\n")) < 0 and not buf.eof:
            if len(buf.data) > _MAX_LINE:  # an absurdly long From_ line: skip it
                buf.drop(len(buf.data) - 1)
            buf.fill()
        if end_of_from < 0:
            yield message, buf.offset + len(buf.data)
            return
        if end_of_from <= _MAX_ENVELOPE and buf.data.startswith(b"From "):
            message.envelope = bytes(buf.data[:end_of_from]).rstrip(b"\r")
        buf.drop(end_of_from)  # keep the From_ line's newline: a blank line may follow
        message.size, search = -1, 0
        while (found := _SEPARATOR.search(buf.data, search)) is None and not buf.eof:
            search = max(0, len(buf.data) - 7)  # a separator may straddle two blocks
            if message.size + len(buf.data) > mail.MAX_MESSAGE_BYTES:
                message.too_big = True
                message.size += search
                buf.drop(search)
                search = 0
            buf.fill()
        end = found.end() - 5 if found is not None else len(buf.data)
        message.size += end
        if message.size > mail.MAX_MESSAGE_BYTES:
            message.too_big = True
        if not message.too_big:
            raw = bytes(buf.data[1:end])
            if b">From " in raw:
                raw = _QUOTED_FROM.sub(rb"\1", raw)
            message.chunks.append(raw)
        buf.drop(end)
        yield message, buf.offset
        if found is None:
            return


class MboxConnector:
    """Reads ``.mbox`` mailbox files, including Google Takeout mail exports."""

    name = "mbox"
    label = "Mailbox file (.mbox)"
    channel: Channel = "email"
    extensions: tuple[str, ...] = (".mbox", ".mbx", "")

    def sniff(self, path: Path, head: bytes) -> float:
        """High confidence if the file starts with a ``From `` line followed by headers.

        Blank lines before the first ``From `` line are allowed (``split_mbox``
        skips them too).

        Args:
            path: the file.
            head: its first bytes.

        Returns:
            0.95 for a ``From `` line then headers, less for weaker signs.
        """
        if not head and path.is_dir():
            return 0.0  # e.g. an Apple Mail export folder "Inbox.mbox": its files are walked
        head = _LEADING_BLANK_LINES.sub(b"", head.removeprefix(b"\xef\xbb\xbf"))
        suffix = path.suffix.lower()
        if head.startswith(b"From "):
            return 0.95 if looks_like_headers(head) else 0.35
        if not head.strip() and suffix in (".mbox", ".mbx"):
            return 0.5  # an empty mailbox
        return 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield the mailbox's events, problems and owner hints.

        Args:
            path: the mbox file.
            options: progress and cancel callbacks are used.

        Yields:
            Items in file order.

        Raises:
            FormatError: the file is not an mbox file.
        """
        total = path.stat().st_size
        folder = path.parent.name if path.name.lower() == "mbox" else path.name  # (Apple Mail)
        if mail.is_spam_folder(folder):
            yield Notice(f"left out: {folder} is a spam folder (its senders are no customers)")
            return
        # Thunderbird's "Sent", Apple Mail's "Sent Messages.mbox/mbox": the owner's mail.
        sent = is_sent_folder(folder.removesuffix(".mbox").removesuffix(".mbx"))
        reader = mail.MailReader()
        count = 0
        with path.open("rb") as fh:
            for raw, done in split_mbox(fh, path.name):
                if options.should_cancel is not None and options.should_cancel():
                    return
                locator = f"{path.name}:{raw.line}"
                if raw.too_big:
                    size_mb = mail.MAX_MESSAGE_BYTES // (1024 * 1024)
                    yield Problem(locator, f"message larger than {size_mb} MB; skipped")
                else:
                    dates = [("mbox_from_line", partial(envelope_date, raw.envelope))]
                    yield from reader.items(raw.data(), locator, sent=sent, fallback_dates=dates)
                count += 1
                if options.progress is not None and count % _PROGRESS_EVERY == 0:
                    options.progress(done, total)
        if reader.spam:
            yield mail.spam_notice(reader.spam)
        if options.progress is not None:
            options.progress(total, total)
