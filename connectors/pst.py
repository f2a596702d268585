"""The Outlook data file connector: a ``.pst`` (Outlook for Windows' archive and export,
File › Open & Export › Import/Export › Export to a file) or an ``.ost`` (its offline copy
of an Exchange or Microsoft 365 mailbox).

The file is read with libpff (``pypff``, the ``libpff-python`` wheels), folder by folder.
Its messages are not stored as RFC 5322 text but as MAPI properties; a message that came
in over the internet keeps its header block as received (``PR_TRANSPORT_MESSAGE_HEADERS``),
one written in Outlook (sent mail, drafts) only its properties: the sender
(``PR_SENDER_SMTP_ADDRESS``, or an SMTP ``PR_SENDER_EMAIL_ADDRESS``; an Exchange address
is no email address and is left out), the recipients (``PR_SMTP_ADDRESS`` or an SMTP
``PR_EMAIL_ADDRESS``, by ``PR_RECIPIENT_TYPE``), the time it was sent
(``PR_CLIENT_SUBMIT_TIME``, else delivered or made), ``PR_INTERNET_MESSAGE_ID``,
``PR_IN_REPLY_TO_ID`` and ``PR_INTERNET_REFERENCES``. The bodies are ``PR_BODY`` and
``PR_HTML`` (in the message's code page, ``PR_INTERNET_CPID``); a message with an RTF body
alone keeps an empty one.

Each message is written back as the RFC 5322 message it was (``mail.rebuilt_message``)
and read as every other mail is (``connectors.mail``): identities, threads, automated
senders, HTML and languages alike. Only mail is read (``IPM.Note`` and its kinds, meeting
requests and replies, delivery reports); contacts, calendar items, tasks and notes are
left out. The folder is kept (``details["folder"]``, below the file's top folder); a Sent
folder names the owner's address; a Junk one is left out. A message that cannot be read
is a problem with its folder and number; the rest goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

from app.errors import FormatError
from app.records import Channel, EventRecord, Item, ParseOptions, Problem
from connectors import mail
from connectors.maildir import is_sent_folder

log = logging.getLogger(__name__)

_MAGIC = b"!BDN"
_PROGRESS_EVERY = 200

# MAPI property tags (MS-OXPROPS)
_MESSAGE_CLASS = 0x001A
_SENT_REPRESENTING_NAME = 0x0042
_SENT_REPRESENTING_ADDRTYPE = 0x0064
_SENT_REPRESENTING_EMAIL = 0x0065
_SENDER_NAME = 0x0C1A
_SENDER_ADDRTYPE = 0x0C1E
_SENDER_EMAIL = 0x0C1F
_SENDER_SMTP = 0x5D01
_SENT_REPRESENTING_SMTP = 0x5D02
_CLIENT_SUBMIT_TIME = 0x0039
_DELIVERY_TIME = 0x0E06
_CREATION_TIME = 0x3007
_MESSAGE_FLAGS = 0x0E07
_INTERNET_MESSAGE_ID = 0x1035
_IN_REPLY_TO = 0x1042
_REFERENCES = 0x1039
_INTERNET_CPID = 0x3FDE
_DISPLAY_NAME = 0x3001
_ADDRTYPE = 0x3002
_EMAIL_ADDRESS = 0x3003
_SMTP_ADDRESS = 0x39FE
_RECIPIENT_TYPE = 0x0C15
_ATTACH_LONG_FILENAME = 0x3707
_ATTACH_FILENAME = 0x3704
_ATTACH_MIME_TAG = 0x370E
_ATTACH_SIZE = 0x0E20

_STRING_TYPES = (0x001F, 0x001E)  # PT_UNICODE, PT_STRING8
_TIME_TYPE = 0x0040  # PT_SYSTIME
_INTEGER_TYPES = (0x0002, 0x0003, 0x0014)
_RECIPIENT_HEADERS = {1: "To", 2: "Cc", 3: "Bcc"}
_READ, _UNSENT = 0x01, 0x08  # PR_MESSAGE_FLAGS bits
# The message classes that are mail (compared in lower case, with their sub-classes)
_MAIL_CLASSES = ("ipm.note", "ipm.schedule.meeting", "report.ipm.note")
# Windows code pages that Python names otherwise (else "cp<number>")
_CODE_PAGES = {
    65001: "utf-8",
    20127: "us-ascii",
    50220: "iso-2022-jp",
    50221: "iso-2022-jp",
    50222: "iso-2022-jp",
    51932: "euc-jp",
    51949: "euc-kr",
    54936: "gb18030",
    20866: "koi8-r",
    21866: "koi8-u",
    **{28590 + n: f"iso-8859-{n}" for n in range(1, 16)},
}


def _properties(item: Any) -> dict[int, Any]:
    """The item's MAPI properties by tag (its first record set), the first entry of each."""
    found: dict[int, Any] = {}
    if item.number_of_record_sets < 1:
        return found
    for entry in item.get_record_set(0).entries:
        found.setdefault(entry.entry_type, entry)
    return found


def _text(props: dict[int, Any], tag: int) -> str:
    entry = props.get(tag)
    if entry is None or entry.value_type not in _STRING_TYPES:
        return ""
    try:
        value = entry.data_as_string
    except (OSError, ValueError):
        return ""
    return " ".join((value or "").split())


def _number(props: dict[int, Any], tag: int) -> int | None:
    entry = props.get(tag)
    if entry is None or entry.value_type not in _INTEGER_TYPES:
        return None
    try:
        return int(entry.data_as_integer)
    except (OSError, ValueError, TypeError):
        return None


def _time(props: dict[int, Any], tag: int) -> datetime | None:
    entry = props.get(tag)
    if entry is None or entry.value_type != _TIME_TYPE:
        return None
    try:
        value = entry.data_as_datetime
    except (OSError, ValueError, OverflowError):
        return None
    if not isinstance(value, datetime) or not 1971 <= value.year <= 9999:
        return None
    return value.replace(tzinfo=UTC)  # (a FILETIME: UTC)


def _smtp(address: str, kind: str) -> str:
    """The address if it is an email address (an Exchange one, ``/o=…``, is not)."""
    if kind and kind.upper() != "SMTP":
        return ""
    return address if "@" in address and not address.startswith("/") else ""


def _person(name: str, address: str) -> str:
    name = name.strip("'\"").strip()
    if name.casefold() == address.casefold():
        name = ""
    return formataddr((name, address)) if address else ""


def _sender(props: dict[int, Any]) -> str:
    address = (
        _text(props, _SENDER_SMTP)
        or _text(props, _SENT_REPRESENTING_SMTP)
        or _smtp(_text(props, _SENDER_EMAIL), _text(props, _SENDER_ADDRTYPE))
        or _smtp(_text(props, _SENT_REPRESENTING_EMAIL), _text(props, _SENT_REPRESENTING_ADDRTYPE))
    )
    name = _text(props, _SENDER_NAME) or _text(props, _SENT_REPRESENTING_NAME)
    return _person(name, address)


def _recipients(message: Any) -> dict[str, list[str]]:
    """The recipients' addresses by header ("To", "Cc", "Bcc")."""
    found: dict[str, list[str]] = {}
    holder = message.recipients
    if holder is None:
        return found
    for index in range(holder.number_of_record_sets):
        props: dict[int, Any] = {}
        for entry in holder.get_record_set(index).entries:
            props.setdefault(entry.entry_type, entry)
        address = _text(props, _SMTP_ADDRESS) or _smtp(
            _text(props, _EMAIL_ADDRESS), _text(props, _ADDRTYPE)
        )
        person = _person(_text(props, _DISPLAY_NAME), address)
        if person:
            header = _RECIPIENT_HEADERS.get(_number(props, _RECIPIENT_TYPE) or 1, "To")
            found.setdefault(header, []).append(person)
    return found


def _attachments(message: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for index in range(message.number_of_attachments):
        props = _properties(message.get_attachment(index))
        name = (
            _text(props, _ATTACH_LONG_FILENAME)
            or _text(props, _ATTACH_FILENAME)
            or _text(props, _DISPLAY_NAME)
        )
        attachment: dict[str, Any] = {"name": name, "type": _text(props, _ATTACH_MIME_TAG)}
        size = _number(props, _ATTACH_SIZE)
        if size is not None and size >= 0:
            attachment["size"] = size
        found.append(attachment)
    return found


def _decoded(data: bytes | None, code_page: int | None) -> str:
    if not data:
        return ""
    charset = _CODE_PAGES.get(code_page or 0, f"cp{code_page}") if code_page else None
    return mail.decode_bytes(data.rstrip(b"\0"), charset)


def is_mail(message_class: str) -> bool:
    """Whether a message class is mail (``IPM.Note``, ``IPM.Note.SMIME``, a meeting request
    or reply, a delivery report); an item without one is taken as mail."""
    kind = message_class.casefold()
    return not kind or any(kind == c or kind.startswith(c + ".") for c in _MAIL_CLASSES)


def message_bytes(message: Any, props: dict[int, Any]) -> tuple[bytes, dict[str, Any], bool]:
    """An Outlook message as the RFC 5322 message it was, what its details keep beside it
    (flags, attachments), and whether it was written inside the owner's organisation: it
    came by no internet server and its sender has an Exchange address, no email address
    (the owner's own mail, or a colleague's).

    Raises:
        ValueError: a header no message may hold, or a part libpff cannot read.
    """
    code_page = _number(props, _INTERNET_CPID)
    plain = _decoded(message.plain_text_body, 65001)  # (libpff gives it in UTF-8)
    html = _decoded(message.html_body, code_page)
    received = message.transport_headers or ""
    headers: list[tuple[str, str]] = []
    inside = False
    if not received.strip():
        received = ""
        sender = _sender(props)
        if sender:
            headers.append(("From", sender))
        else:
            inside = bool(_text(props, _SENDER_EMAIL) or _text(props, _SENT_REPRESENTING_EMAIL))
        for header, people in _recipients(message).items():
            headers.append((header, ", ".join(people)))
        when = (
            _time(props, _CLIENT_SUBMIT_TIME)
            or _time(props, _DELIVERY_TIME)
            or _time(props, _CREATION_TIME)
        )
        if when is not None:
            headers.append(("Date", format_datetime(when)))
        subject = " ".join((message.subject or "").split())
        if subject:
            headers.append(("Subject", subject))
        for header, tag in (
            ("Message-ID", _INTERNET_MESSAGE_ID),
            ("In-Reply-To", _IN_REPLY_TO),
            ("References", _REFERENCES),
        ):
            value = _text(props, tag)
            if value:
                headers.append((header, value))
    details: dict[str, Any] = {}
    flags = _number(props, _MESSAGE_FLAGS) or 0
    marks = [word for bit, word in ((_UNSENT, "draft"), (_READ, "seen")) if flags & bit]
    if marks:
        details["flags"] = marks
    attachments = _attachments(message)
    if attachments:
        details["attachments"] = attachments
    try:
        return mail.rebuilt_message(headers, plain, html, received=received), details, inside
    except (ValueError, TypeError, LookupError) as exc:  # (a header no message may hold)
        raise ValueError(f"cannot rebuild the message ({exc})") from exc


def _folders(root: Any) -> Iterator[tuple[str, Any]]:
    """Every folder with its path below the file's top folders ("Inbox", "Inbox/Suppliers";
    "" for a top folder itself), depth first in the file's order."""
    stack: list[tuple[list[str], Any]] = [([], root)]
    while stack:
        names, folder = stack.pop()
        yield "/".join(names[1:]), folder
        subfolders = [folder.get_sub_folder(i) for i in range(folder.number_of_sub_folders)]
        for sub in reversed(subfolders):
            stack.append(([*names, (sub.name or "").replace("/", "∕")], sub))


class PstConnector:
    """Reads Outlook data files (``.pst``, ``.ost``): every mail message, folder by folder."""

    name = "pst"
    label = "Outlook data file (.pst, .ost)"
    channel: Channel = "email"
    extensions: tuple[str, ...] = (".pst", ".ost")

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure it is that ``path`` is an Outlook data file.

        Args:
            path: the file.
            head: its first bytes.

        Returns:
            0.95 when it starts with the Outlook data file's signature, else 0.0.
        """
        return 0.95 if head[:4] == _MAGIC else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield the events of every mail message in the file.

        Args:
            path: the ``.pst`` or ``.ost`` file.
            options: progress (in messages) and cancel callbacks are used.

        Yields:
            Owner hints, events, problems and notices.

        Raises:
            FormatError: not a readable Outlook data file.
        """
        import pypff

        store = pypff.file()
        try:
            store.open(str(path))
        except OSError as exc:
            log.info("libpff cannot open %s: %s", path, exc)  # (a paragraph of its steps)
            raise FormatError(
                f"{path.name}: not a readable Outlook data file (damaged, cut short, or not one)"
            ) from exc
        try:
            yield from self._read(store, path, options)
        finally:
            store.close()

    def _read(self, store: Any, path: Path, options: ParseOptions) -> Iterator[Item]:
        try:
            folders = list(_folders(store.get_root_folder()))
        except OSError as exc:
            log.info("libpff cannot read the folders of %s: %s", path, exc)
            raise FormatError(f"{path.name}: its folders cannot be read (damaged)") from exc
        total = sum(folder.number_of_sub_messages for _name, folder in folders)
        reader = mail.MailReader()
        spam: dict[str, int] = {}
        done = 0
        for name, folder in folders:
            for index in range(folder.number_of_sub_messages):
                if options.should_cancel is not None and options.should_cancel():
                    return
                done += 1
                if options.progress is not None and done % _PROGRESS_EVERY == 0:
                    options.progress(done, total)
                locator = f"{path.name}!{name or '(top)'}#{index + 1}"
                try:
                    message = folder.get_sub_message(index)
                    props = _properties(message)
                    if not is_mail(_text(props, _MESSAGE_CLASS)):
                        continue  # (a contact, a calendar item, a task, a note)
                    if name and mail.is_spam_folder(name):
                        spam[name] = spam.get(name, 0) + 1
                        continue
                    raw, details, inside = message_bytes(message, props)
                except OSError as exc:  # (libpff: a damaged part of the file)
                    log.info("libpff cannot read %s: %s", locator, exc)
                    yield Problem(locator, "cannot read the message (damaged in the file)")
                    continue
                except ValueError as exc:
                    yield Problem(locator, str(exc))
                    continue
                if name:
                    details["folder"] = name
                when = _time(props, _DELIVERY_TIME) or _time(props, _CLIENT_SUBMIT_TIME)
                sent = is_sent_folder(name)
                for item in reader.items(
                    raw,
                    locator,
                    extra=details,
                    sent=sent,
                    fallback_dates=[("date_received", when)],
                ):
                    if (
                        (inside or sent)
                        and isinstance(item, EventRecord)
                        and not any(p.role == "from" for p in item.participants)
                    ):
                        item = replace(item, direction="outbound")  # (the owner's side)
                    yield item
        if reader.spam:
            yield mail.spam_notice(reader.spam)
        if spam:
            yield mail.spam_folders_notice(spam)
        if options.progress is not None:
            options.progress(total, total)
