"""The Apple Mail connector: Mail.app's own store, one ``.emlx`` file per message.

Mail.app keeps each mailbox as a folder named after it (``INBOX.mbox``, ``Sent
Messages.mbox``, ``Archive.mbox/2024.mbox`` for a mailbox inside another) under
``~/Library/Mail/V<n>/<account>/``; its messages are ``.emlx`` files in ``Messages``
folders deeper down (``INBOX.mbox/<uuid>/Data/3/1/Messages/12345.emlx``). An ``.emlx``
file is the message's length in bytes on the first line, the RFC 5322 message, then an
XML property list: ``date-received`` (seconds since 1970) and ``flags``, a number whose
bits say read (1), answered (4), flagged (16), draft (64) and forwarded (256). A
``.partial.emlx`` is a message whose attachments Mail.app keeps beside it: the message
imports without them.

A mailbox folder is one source (its ``.emlx`` files outside the mailboxes inside it, which
are sources of their own), like a Maildir; a single ``.emlx`` file is one too. The
mailbox's name is the folder (``details["folder"]``): a Sent mailbox names the owner's
address, a Junk one is left out (``mail.is_spam_folder``). Mail.app's own export of a
mailbox ("Export Mailbox…": ``INBOX.mbox/mbox``) is an mbox file, read by that connector.
"""

from __future__ import annotations

import os
import plistlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

from app.errors import FormatError
from app.records import Channel, Item, Notice, ParseOptions, Problem
from connectors import mail
from connectors.maildir import is_sent_folder

_SUFFIX = ".emlx"
_MAILBOX = ".mbox"
# The flags' bits (jwz.org, "emlx flags"), as the Maildir connector names its flags.
_FLAGS = ((1, "seen"), (4, "replied"), (16, "flagged"), (64, "draft"), (256, "passed"))
_PROGRESS_EVERY = 200


def _is_emlx(name: str) -> bool:
    return name.lower().endswith(_SUFFIX)


def _messages(mailbox: Path) -> Iterator[Path]:
    """The ``.emlx`` files of a mailbox folder, not those of the mailboxes inside it, in
    name order."""
    for root, dirs, files in os.walk(mailbox):
        dirs[:] = sorted(d for d in dirs if not d.lower().endswith(_MAILBOX))
        for name in sorted(files):
            if _is_emlx(name) and not name.startswith("."):
                yield Path(root) / name


def is_mailbox(path: Path) -> bool:
    """Whether ``path`` is a Mail.app mailbox folder holding messages of its own.

    Args:
        path: a folder.
    """
    if not path.name.lower().endswith(_MAILBOX) or not path.is_dir():
        return False
    return next(_messages(path), None) is not None


def mailbox_name(path: Path) -> str:
    """The mailbox a folder holds, as Mail.app names it: ``INBOX``, ``Archive/2024``.

    Args:
        path: the mailbox folder (``X.mbox``) or a message file inside one.
    """
    parts: list[str] = []
    for folder in (path, *path.parents):
        if folder.name.lower().endswith(_MAILBOX):
            parts.append(folder.name[: -len(_MAILBOX)])
        elif parts:
            break
    return "/".join(reversed(parts))


def split_emlx(data: bytes) -> tuple[bytes, dict[str, Any]]:
    """An ``.emlx`` file's message and its property list (empty when unreadable).

    Raises:
        ValueError: the first line is not the message's length.
    """
    first, newline, rest = data.partition(b"\n")
    count = first.strip()
    if not newline or not count.isdigit():
        raise ValueError("not an Apple Mail message (no length on its first line)")
    size = int(count)
    message, tail = rest[:size], rest[size:]
    try:
        found = plistlib.loads(tail) if tail.strip() else {}
    except (plistlib.InvalidFileException, ExpatError, ValueError, TypeError, OverflowError):
        found = {}
    return message, found if isinstance(found, dict) else {}


def _flags(plist: dict[str, Any]) -> list[str]:
    value = plist.get("flags")
    if not isinstance(value, int) or isinstance(value, bool):
        return []
    return sorted(name for bit, name in _FLAGS if value & bit)


def _received(plist: dict[str, Any]) -> datetime | None:
    value = plist.get("date-received")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


class AppleMailConnector:
    """Reads Mail.app's mailbox folders (``X.mbox`` with ``.emlx`` files) and single
    ``.emlx`` files."""

    name = "apple_mail"
    label = "Apple Mail mailbox (.emlx messages)"
    channel: Channel = "email"
    extensions: tuple[str, ...] = (_SUFFIX, _MAILBOX)

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure it is that ``path`` is a Mail.app mailbox folder or message.

        Args:
            path: a folder (``head`` empty) or a file.
            head: the file's first bytes.

        Returns:
            0.95 for a mailbox folder with messages of its own or an ``.emlx`` file that
            starts with its length, else 0.0.
        """
        if not head:
            return 0.95 if is_mailbox(path) else 0.0
        first = head.split(b"\n", 1)[0].strip()
        return 0.95 if _is_emlx(path.name) and first.isdigit() else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield the events of every message of the mailbox (or of the one file).

        Args:
            path: a mailbox folder or an ``.emlx`` file.
            options: progress (in messages) and cancel callbacks are used.

        Yields:
            Owner hints, events, problems, and notices.

        Raises:
            FormatError: ``path`` is neither.
        """
        single = not path.is_dir()
        if single and not _is_emlx(path.name):
            raise FormatError(f"{path.name}: not an Apple Mail message (.emlx)")
        if not single and not is_mailbox(path):
            raise FormatError(f"{path.name}: not an Apple Mail mailbox (no .emlx messages)")
        folder = mailbox_name(path)
        if folder and mail.is_spam_folder(folder):
            yield Notice(f"left out: {folder} is a spam folder (its senders are no customers)")
            return
        files = [path] if single else list(_messages(path))
        reader = mail.MailReader()
        sent = bool(folder) and is_sent_folder(folder)
        base = path.parent if single else path
        for count, file in enumerate(files, 1):
            if options.should_cancel is not None and options.should_cancel():
                return
            locator = file.relative_to(base).as_posix() if not single else file.name
            yield from self._items(reader, file, locator, folder, sent)
            if options.progress is not None and count % _PROGRESS_EVERY == 0:
                options.progress(count, len(files))
        if reader.spam:
            yield mail.spam_notice(reader.spam)
        if options.progress is not None:
            options.progress(len(files), len(files))

    def _items(
        self, reader: mail.MailReader, file: Path, locator: str, folder: str, sent: bool
    ) -> list[Item]:
        try:
            if file.stat().st_size > mail.MAX_MESSAGE_BYTES + 1024 * 1024:
                size_mb = mail.MAX_MESSAGE_BYTES // (1024 * 1024)
                return [Problem(locator, f"message larger than {size_mb} MB; skipped")]
            message, plist = split_emlx(file.read_bytes())
        except OSError as exc:
            return [Problem(locator, f"cannot read: {exc.strerror or exc}")]
        except ValueError as exc:
            return [Problem(locator, str(exc))]
        extra: dict[str, Any] = {"flags": _flags(plist)}
        if folder:
            extra["folder"] = folder
        if file.name.lower().endswith(".partial.emlx"):
            extra["attachments_kept_apart"] = True
        dates: list[mail.DateFallback] = [("date_received", _received(plist))]
        return reader.items(message, locator, extra=extra, sent=sent, fallback_dates=dates)
