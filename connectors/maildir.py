"""The Maildir connector: a mail folder kept as one file per message (Dovecot, Courier, mbsync).

A Maildir is a directory with ``cur/`` and ``new/`` (``tmp/`` holds deliveries
in progress: not imported, and the report says how many files it skipped
there). A message file left beside ``cur/`` and ``new/`` (copied in by hand)
is imported with its folder; other files there (not mail server files such as
``dovecot-uidlist``) and plain subfolders that are not Maildirs are named in a
notice. Maildir++ subfolders sit inside it as
dot-directories (``.Sent``, ``.Archive.2024``: a dot separates levels and
non-ASCII names are IMAP modified UTF-7), and the whole tree imports as one
source. The registry hands this connector the directory itself.

Each message file goes through ``connectors.mail``. Its details gain
``folder`` ("INBOX", "Sent", "Archive/2024") and ``flags`` from the file
name's info suffix (``:2,FS``; ``;2,`` and ``!2,`` where ``:`` cannot be used
in file names): draft, flagged, passed, replied, seen, trashed, and Dovecot
keywords (letters ``a``–``z``, named in the folder's ``dovecot-keywords``).
The sender of a message in a Sent folder is hinted as the owner's address.
Locators look like ``Maildir/.Sent/cur/<file>``. Files are read in name
order, which for Maildir names is delivery order. A message whose headers
carry no usable date takes the date of a leading mbox ``From `` line, else
the delivery time at the start of its file name (``1234567890.M20046P2137.host``;
``details["date_from"]`` "mbox_from_line" or "maildir_filename").
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from app.errors import FormatError
from app.records import Channel, Item, Notice, ParseOptions, Problem
from connectors import mail
from connectors.eml import looks_like_headers, split_envelope
from connectors.mail_headers import envelope_date

_INFO = re.compile(r"[:;!]2,([A-Za-z]*)$")
_DELIVERED = re.compile(r"(\d{1,12})\.")
_FLAG_NAMES = {
    "D": "draft",
    "F": "flagged",
    "P": "passed",
    "R": "replied",
    "S": "seen",
    "T": "trashed",
}
_SENT_FOLDERS = frozenset(
    {
        "sent",
        "sent items",
        "sent messages",
        "sent mail",
        "gesendet",
        "gesendete objekte",
        "gesendete elemente",
        "envoyés",
        "éléments envoyés",
        "enviados",
        "elementos enviados",
        "posta inviata",
        "inviati",
        "verzonden",
        "verzonden items",
        "skickat",
        "skickade objekt",
        "sendt",
        "sendte elementer",
        "lähetetyt",
        "wysłane",
        "odeslané",
        "отправленные",
        "已发送",
        "送信済み",
    }
)
_INBOX_NAMES = frozenset({"maildir", "mail", "inbox"})
_PROGRESS_EVERY = 200
# Files a mail server keeps beside cur/new/tmp: indexes, UID lists, subscriptions, quotas.
_SERVER_FILES = frozenset({"subscriptions", "maildirfolder", "maildirsize"})
_SERVER_PREFIXES = ("dovecot", "courier")
_PARTS = frozenset({"cur", "new", "tmp"})
_NOT_MAIL = "not an email message (no mail headers found)"


def is_maildir(path: Path) -> bool:
    """Whether ``path`` is a Maildir: a directory with a ``cur`` or ``new`` folder.

    Args:
        path: any path.

    Returns:
        True for a Maildir (a Maildir++ subfolder is one too).
    """
    return (path / "cur").is_dir() or (path / "new").is_dir()


def _decode_mutf7(name: str) -> str:
    """An IMAP modified UTF-7 folder name (RFC 3501 §5.1.3) as text; bad input is kept."""
    if "&" not in name:
        return name
    out: list[str] = []
    for match in re.finditer(r"&([^-]*)-|[^&]+|&", name):
        if match.group(1) is None:
            out.append(match.group(0))
        elif not match.group(1):
            out.append("&")
        else:
            data = match.group(1).replace(",", "/")
            try:
                out.append(base64.b64decode(data + "=" * (-len(data) % 4)).decode("utf-16-be"))
            except (ValueError, UnicodeDecodeError):
                out.append(match.group(0))
    return "".join(out)


def folder_name(path: Path, root: Path) -> str:
    """The mail folder a Maildir directory holds, as a mail client would name it.

    Args:
        path: the Maildir directory (the root or a Maildir++ subfolder).
        root: the directory being imported.

    Returns:
        "INBOX" for a Dovecot/Courier root (named ``Maildir``, ``mail`` or
        ``INBOX``, or holding Maildir++ subfolders), "Archive/2024" for
        ``.Archive.2024``, else the directory's own name (mbsync and
        offlineimap keep one Maildir per folder).
    """
    if path.name.startswith("."):
        parts = [p for p in path.name[1:].split(".") if p]
        return "/".join(_decode_mutf7(p) for p in parts) or path.name
    if path.name.lower() in _INBOX_NAMES or (path == root and _subfolders(path)):
        return "INBOX"
    return path.name


def _subfolders(root: Path) -> list[Path]:
    try:
        children = sorted(root.iterdir())
    except OSError:
        return []
    return [c for c in children if c.name.startswith(".") and c.name != "." and is_maildir(c)]


def is_sent_folder(folder: str) -> bool:
    """Whether a folder name ("Sent", "INBOX/Sent Items", "Gesendet") is a Sent folder.

    Args:
        folder: the folder name, levels separated by "/".

    Returns:
        True if its last level is a common Sent folder name.
    """
    return folder.rsplit("/", 1)[-1].strip().casefold() in _SENT_FOLDERS


def parse_flags(filename: str, keywords: dict[str, str] | None = None) -> list[str]:
    """The flags in a Maildir file name's info suffix, as words in ASCII order.

    Args:
        filename: the message file's name (``…:2,FS``, ``…;2,S``, ``…!2,RS``).
        keywords: Dovecot keyword names by letter ("a" → "$Forwarded").

    Returns:
        e.g. ["flagged", "seen"]; [] without an info suffix or for ``:1,`` info.
    """
    match = _INFO.search(filename)
    if match is None:
        return []
    found: list[str] = []
    for letter in sorted(set(match.group(1))):
        name = _FLAG_NAMES.get(letter) or (keywords or {}).get(letter)
        if name:
            found.append(name)
    return found


def filename_date(filename: str) -> datetime | None:
    """The delivery time a Maildir file name starts with (epoch seconds), as UTC.

    Args:
        filename: e.g. ``1234567890.M20046P2137.host,S=1234:2,S``.

    Returns:
        The time (not yet checked for being plausible), or None when the name
        does not start with digits and a dot.
    """
    match = _DELIVERED.match(filename)
    if match is None:
        return None
    try:
        return datetime.fromtimestamp(int(match.group(1)), UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _keywords(folder: Path) -> dict[str, str]:
    """Dovecot's keyword letters for a folder, from its ``dovecot-keywords`` file."""
    try:
        text = (folder / "dovecot-keywords").read_text("utf-8", errors="replace")
    except OSError:
        return {}
    found: dict[str, str] = {}
    for line in text.splitlines()[:26]:
        number, _, name = line.partition(" ")
        if number.isdigit() and int(number) < 26 and name.strip():
            found[chr(ord("a") + int(number))] = name.strip()
    return found


class MaildirConnector:
    """Reads a Maildir directory with its Maildir++ subfolders as one source."""

    name = "maildir"
    label = "Maildir folder"
    channel: Channel = "email"
    extensions: tuple[str, ...] = ()

    def sniff(self, path: Path, head: bytes) -> float:
        """Certain for a directory with ``cur``/``new``; never for a file.

        Args:
            path: the file or directory.
            head: its first bytes (empty for a directory).

        Returns:
            0.95 for a Maildir directory, else 0.0.
        """
        if head or not path.is_dir():
            return 0.0
        return 0.95 if is_maildir(path) else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield the events of every message in the Maildir and its subfolders.

        Args:
            path: the Maildir directory.
            options: progress (in bytes of message files) and cancel callbacks are used.

        Yields:
            Owner hints, events and problems, folder by folder in name order.

        Raises:
            FormatError: ``path`` is not a Maildir.
        """
        if not path.is_dir() or not is_maildir(path):
            raise FormatError(f"{path.name}: not a Maildir folder (no cur/ or new/ inside)")
        plan: list[tuple[Path, Path, str, list[str], bool]] = []
        total = 0
        in_tmp = 0
        others: list[str] = []
        spam: dict[str, int] = {}  # spam folders left out, with their messages
        for directory in [path, *_subfolders(path)]:
            folder = folder_name(directory, path)
            if mail.is_spam_folder(folder):
                spam[folder] = sum(len(_listing(directory / sub)[0]) for sub in ("cur", "new"))
                continue
            for sub in ("cur", "new"):
                names, size = _listing(directory / sub)
                if names:
                    plan.append((directory / sub, directory, folder, names, False))
                    total += size
            in_tmp += len(_listing(directory / "tmp")[0])
            strays, size, folders = _strays(directory)
            if strays:
                plan.append((directory, directory, folder, strays, True))
                total += size
            others.extend(_relative(path, directory / name) for name in folders)
        reader = mail.MailReader()
        done = count = 0
        for directory, maildir, folder, names, stray in plan:
            sent = is_sent_folder(folder)
            keywords = _keywords(maildir) if any(_has_keyword(n) for n in names) else {}
            prefix = _relative(path, directory)
            for name in names:
                if options.should_cancel is not None and options.should_cancel():
                    return
                locator = f"{prefix}/{name}"
                if locator in options.known_locators:  # stored before: not read again
                    if options.on_known is not None:
                        options.on_known(1)
                    continue
                extra = {"folder": folder, "flags": parse_flags(name, keywords)}
                envelope, raw, problem = _read(directory / name, locator)
                if problem is not None and stray and problem.reason == _NOT_MAIL:
                    others.append(locator)  # a stray file that is no message: said below
                elif problem is not None:
                    yield problem
                else:
                    dates: list[mail.DateFallback] = [
                        ("mbox_from_line", partial(envelope_date, envelope)),
                        ("maildir_filename", partial(filename_date, name)),
                    ]
                    yield from reader.items(
                        raw, locator, extra=extra, sent=sent, fallback_dates=dates
                    )
                done += len(raw) if problem is None else 0
                count += 1
                if options.progress is not None and count % _PROGRESS_EVERY == 0:
                    options.progress(min(done, total), total)
        if reader.spam:
            yield mail.spam_notice(reader.spam)
        if spam:
            yield mail.spam_folders_notice(spam)
        if in_tmp:
            yield Notice(
                f"skipped {in_tmp} file{'s' if in_tmp != 1 else ''} in tmp/ "
                "(deliveries still being written)"
            )
        if others:
            shown = ", ".join(others[:5]) + (
                f" and {len(others) - 5} more" if len(others) > 5 else ""
            )
            yield Notice(f"skipped what is not a message or a Maildir folder: {shown}")
        if options.progress is not None:
            options.progress(total, total)


def _relative(root: Path, path: Path) -> str:
    """``Maildir/.Sent/cur`` for a path inside the Maildir ``root`` (``Maildir`` for itself)."""
    inner = path.relative_to(root).as_posix()
    return root.name if inner == "." else f"{root.name}/{inner}"


def _strays(directory: Path) -> tuple[list[str], int, list[str]]:
    """What sits in a Maildir beside cur/new/tmp: files that may be messages (sorted),
    their total size, and plain subfolders that are not Maildir++ folders."""
    files: list[str] = []
    folders: list[str] = []
    size = 0
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") or name in _PARTS:
                    continue
                try:
                    if entry.is_dir():
                        # Nested Maildirs import alone; server folders (courierimapkeywords)
                        # hold no mail.
                        if not is_maildir(Path(entry.path)) and not _server_file(name):
                            folders.append(name)
                    elif entry.is_file() and not _server_file(name):
                        files.append(name)
                        size += entry.stat().st_size
                except OSError:
                    continue
    except OSError:
        return [], 0, []
    return sorted(files), size, sorted(folders)


def _server_file(name: str) -> bool:
    lower = name.lower()
    return lower in _SERVER_FILES or lower.startswith(_SERVER_PREFIXES)


def _has_keyword(name: str) -> bool:
    match = _INFO.search(name)
    return match is not None and any(c.islower() for c in match.group(1))


def _listing(directory: Path) -> tuple[list[str], int]:
    """The message file names in ``cur``/``new`` (sorted) and their total size."""
    names: list[str] = []
    size = 0
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_file():
                        names.append(entry.name)
                        size += entry.stat().st_size
                except OSError:
                    names.append(entry.name)  # reading it will report the problem
    except OSError:
        return [], 0
    names.sort()
    return names, size


def _read(path: Path, locator: str) -> tuple[bytes, bytes, Problem | None]:
    """One message file's ``From `` line (or b"") and message bytes, or why it cannot be used."""
    try:
        with open(path, "rb") as fh:
            # Read the size the file has (asking for the limit allocates 25 MB a message);
            # a file still growing is read on, up to the limit.
            size = os.fstat(fh.fileno()).st_size
            raw = fh.read(min(size, mail.MAX_MESSAGE_BYTES) + 1)
            if len(raw) > size and len(raw) <= mail.MAX_MESSAGE_BYTES:
                raw += fh.read(mail.MAX_MESSAGE_BYTES + 1 - len(raw))
    except OSError as exc:
        return b"", b"", Problem(locator, f"cannot read: {exc.strerror or exc}")
    if len(raw) > mail.MAX_MESSAGE_BYTES:
        size_mb = mail.MAX_MESSAGE_BYTES // (1024 * 1024)
        return b"", b"", Problem(locator, f"message larger than {size_mb} MB; skipped")
    envelope, raw = split_envelope(raw)
    if not looks_like_headers(raw[:65536]):
        return b"", b"", Problem(locator, _NOT_MAIL)
    return envelope, raw, None
