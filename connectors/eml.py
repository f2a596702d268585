"""The .eml connector: one message per file, as saved by mail clients or kept in a Maildir.

A ``.eml`` file, or a Maildir message file (no extension; its name may end in
an info suffix such as ``:2,S`` or ``;2,S``), holds one RFC 5322 message. It
is recognised by its header block and converted by ``connectors.mail`` into
an email event, or into a ``Problem`` naming the file when it cannot be read.
A message whose headers carry no usable date takes the date of a leading mbox
``From `` line, else the file's modification time (``details["date_from"]``
"mbox_from_line" or "file_mtime").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from app.errors import FormatError
from app.records import Channel, Item, ParseOptions, Problem
from connectors import mail
from connectors.mail_headers import envelope_date

_MAILDIR_NAME = re.compile(r"[:;!]2,[A-Za-z]*$")
_HEADER_LINE = re.compile(rb"([\x21-\x39\x3b-\x7e]+):")
_KEY_HEADERS = frozenset(
    {b"from", b"date", b"subject", b"message-id", b"received", b"return-path", b"mime-version"}
)


def looks_like_headers(head: bytes) -> bool:
    """Whether ``head`` starts with RFC 5322 header lines.

    An optional mbox ``From `` line is skipped. The first line must be a
    ``Name: value`` header, and the block (up to a blank or non-header line)
    must include From, Date, Subject, Message-ID, Received, Return-Path or
    MIME-Version.

    Args:
        head: the first bytes of a file.

    Returns:
        True if it looks like the start of a message.
    """
    lines = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 200)[:200]
    if lines and lines[0].startswith(b"From "):
        lines = lines[1:]
    names: list[bytes] = []
    for line in lines:
        line = line.rstrip(b"\r")
        if not line:
            break
        if line[:1] in (b" ", b"\t"):
            if not names:
                return False
            continue
        match = _HEADER_LINE.match(line)
        if match is None:
            break
        names.append(match.group(1).lower())
    return bool(names) and not _KEY_HEADERS.isdisjoint(names)


def split_envelope(raw: bytes) -> tuple[bytes, bytes]:
    """A message file's mbox ``From `` line (or b"") and the message after it.

    A UTF-8 byte order mark is dropped too.

    Args:
        raw: the file's bytes.

    Returns:
        (the ``From `` line without its line break, the message from its first header).
    """
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    if not raw.startswith(b"From "):
        return b"", raw
    line, _, rest = raw.partition(b"\n")  # an mbox-style From_ line before the headers
    return line.rstrip(b"\r"), rest


def file_mtime(path: Path) -> datetime | None:
    """A file's modification time as UTC, or None when it cannot be read.

    Args:
        path: the file.

    Returns:
        The time (not yet checked for being plausible).
    """
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except (OSError, OverflowError, ValueError):
        return None


class EmlConnector:
    """Reads a single message file (``.eml`` or a Maildir ``cur``/``new`` file)."""

    name = "eml"
    label = "Email message (.eml)"
    channel: Channel = "email"
    extensions: tuple[str, ...] = (".eml", "")

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure it is that ``path`` holds one message.

        Args:
            path: the file (a ``.eml`` name or a Maildir name raises confidence).
            head: its first bytes.

        Returns:
            0.9 for headers in a ``.eml`` or Maildir file, 0.7 with no
            extension, 0.5 otherwise, and 0.6 at most when the file starts
            with an mbox ``From `` line (the mbox connector claims those).
        """
        if not looks_like_headers(head):
            return 0.0
        if head.removeprefix(b"\xef\xbb\xbf").startswith(b"From "):
            return 0.6
        if path.suffix.lower() == ".eml" or _MAILDIR_NAME.search(path.name):
            return 0.9
        return 0.7 if not path.suffix else 0.5

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield the message's event (with an owner hint if Gmail labelled it Sent).

        Args:
            path: the message file.
            options: the progress callback is used.

        Yields:
            An ``EventRecord`` (maybe after an ``OwnerHint``) or one ``Problem``.

        Raises:
            FormatError: the file is not an email message.
        """
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(64 * 1024)
            if not looks_like_headers(head):
                raise FormatError(f"{path.name}: not an email message (no mail headers found)")
            if size > mail.MAX_MESSAGE_BYTES:
                size_mb = mail.MAX_MESSAGE_BYTES // (1024 * 1024)
                yield Problem(path.name, f"message larger than {size_mb} MB; skipped")
                return
            envelope, raw = split_envelope(head + fh.read())
        dates: list[mail.DateFallback] = [
            ("mbox_from_line", partial(envelope_date, envelope)),
            ("file_mtime", partial(file_mtime, path)),
        ]
        reader = mail.MailReader()
        yield from reader.items(raw, path.name, fallback_dates=dates)
        if reader.spam:
            yield mail.spam_notice(reader.spam)
        if options.progress is not None:
            options.progress(size, size)
