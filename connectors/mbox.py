"""The mbox connector: a mailbox file of concatenated messages (Thunderbird, Google Takeout).

The file is streamed in binary, line by line, so multi-gigabyte Takeout
exports never sit in memory. A message starts at a line beginning ``From ``
at the start of the file or after a blank line; ``>From `` quoting (mboxrd and
mboxo) loses one ``>``. Each message goes through ``connectors.mail`` and
becomes an email event, an owner hint plus an event, or a ``Problem`` with the
locator ``file.mbox:LINE`` of its ``From `` line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from app.errors import FormatError
from app.records import Channel, Item, ParseOptions, Problem
from connectors import mail
from connectors.eml import looks_like_headers

_QUOTED_FROM = re.compile(rb">+From ")
_MAX_LINE = 1024 * 1024
_PROGRESS_EVERY = 200


@dataclass
class RawMessage:
    """One message as split from an mbox file.

    Attributes:
        line: the 1-based line number of its ``From `` line.
        chunks: its lines, un-quoted, without the ``From `` line.
        size: bytes seen, even past the size limit.
        too_big: it exceeded ``mail.MAX_MESSAGE_BYTES`` (chunks were dropped).
    """

    line: int
    chunks: list[bytes]
    size: int = 0
    too_big: bool = False

    def add(self, chunk: bytes) -> None:
        """Append a line (or part of a long line), dropping everything past the limit."""
        self.size += len(chunk)
        if self.size > mail.MAX_MESSAGE_BYTES:
            self.too_big, self.chunks = True, []
        elif not self.too_big:
            self.chunks.append(chunk)

    def data(self) -> bytes:
        """The message bytes, without the blank line that separates it from the next."""
        data = b"".join(self.chunks)
        if data.endswith(b"\r\n\r\n"):  # the blank line before the next From_ line
            return data[:-2]
        return data[:-1] if data.endswith(b"\n\n") else data


def split_mbox(fh: BinaryIO, name: str) -> Iterator[tuple[RawMessage, int]]:
    """Split an open mbox file into raw messages, streaming.

    Args:
        fh: the file, opened in binary mode at its start.
        name: the file name, for the error message.

    Yields:
        (message, bytes read so far) for each message, in file order.

    Raises:
        FormatError: the file has content before its first ``From `` line.
    """
    current: RawMessage | None = None
    line_no = done = 0
    at_line_start = prev_blank = True
    first = True
    while chunk := fh.readline(_MAX_LINE):
        done += len(chunk)
        if first:
            chunk, first = chunk.removeprefix(b"\xef\xbb\xbf"), False
        starts_line, at_line_start = at_line_start, chunk.endswith(b"\n")
        line_no += starts_line
        if starts_line and prev_blank and chunk.startswith(b"From "):
            if current is not None:
                yield current, done - len(chunk)
            current = RawMessage(line_no, [])
            prev_blank = False
            while not at_line_start and (chunk := fh.readline(_MAX_LINE)):  # long From_ line
                done += len(chunk)
                at_line_start = chunk.endswith(b"\n")
            continue
        blank = starts_line and chunk in (b"\n", b"\r\n")
        prev_blank = blank
        if current is None:
            if blank:
                continue
            raise FormatError(f"{name}: not an mbox file (it does not start with a 'From ' line)")
        if starts_line and chunk[:1] == b">" and _QUOTED_FROM.match(chunk):
            chunk = chunk[1:]
        current.add(chunk)
    if current is not None:
        yield current, done


class MboxConnector:
    """Reads ``.mbox`` mailbox files, including Google Takeout mail exports."""

    name = "mbox"
    label = "Mailbox file (.mbox)"
    channel: Channel = "email"
    extensions: tuple[str, ...] = (".mbox", ".mbx", "")

    def sniff(self, path: Path, head: bytes) -> float:
        """High confidence if the file starts with a ``From `` line followed by headers.

        Args:
            path: the file.
            head: its first bytes.

        Returns:
            0.95 for a ``From `` line then headers, less for weaker signs.
        """
        head = head.removeprefix(b"\xef\xbb\xbf")
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
        owners_seen: set[str] = set()
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
                    yield from mail.message_items(raw.data(), locator, owners_seen)
                count += 1
                if options.progress is not None and count % _PROGRESS_EVERY == 0:
                    options.progress(done, total)
        if options.progress is not None:
            options.progress(total, total)
