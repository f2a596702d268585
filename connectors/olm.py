"""The Outlook for Mac connector: an ``.olm`` archive (File › Export in Outlook for Mac).

An ``.olm`` file is a zip archive. Its messages are XML documents, one each, under
``<Local or Accounts/<account>>/com.microsoft.__Messages/<folder>[/<subfolder>…]/
message_00001.xml`` (the contacts, calendar and attachments lie beside them, under other
``com.microsoft.__…`` folders). A message document is ``<emails><email>…`` (or ``<email>``,
in Outlook's namespace ``http://schemas.microsoft.com/outlook/mac/2011`` or none) with
``OPFMessageCopySubject``, ``OPFMessageCopyBody`` (plain text) and ``OPFMessageCopyHTMLBody``,
``OPFMessageCopySentTime`` / ``OPFMessageCopyReceivedTime`` (ISO 8601, UTC when no zone is
written), ``OPFMessageCopyMessageID``, ``OPFMessageCopyInReplyTo``,
``OPFMessageCopyReferences``, ``OPFMessageGetIsRead``, and the addresses
(``OPFMessageCopyFromAddresses``, ``OPFMessageCopySenderAddress``,
``OPFMessageCopyToAddresses``, ``OPFMessageCopyCCAddresses``, ``OPFMessageCopyBCCAddresses``,
``OPFMessageCopyReplyToAddresses``) as ``<emailAddress OPFContactEmailAddressAddress="…"
OPFContactEmailAddressName="…"/>`` (or a plain address as text); the attachments are listed in
``OPFMessageCopyAttachmentList`` (``messageAttachment``: ``OPFAttachmentName``,
``OPFAttachmentContentType``).

Each message is written back as the RFC 5322 message it was (its headers and bodies) and
read as every other mail is (``connectors.mail``): identities, threads, automated senders,
HTML and languages alike. The folder is kept (``details["folder"]``); a Sent folder names
the owner's address; a Junk one is left out. The archive is read in place, as checked
streams (``connectors.archive``); a document declaring a DTD is refused (no entity is ever
expanded).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

from app.errors import FormatError
from app.records import Channel, Item, ParseOptions, Problem
from connectors import mail
from connectors.archive import (
    ArchiveError,
    ArchiveRefused,
    SafeZip,
    looks_like_zip,
    member_names,
)
from connectors.maildir import is_sent_folder

_MESSAGES = "com.microsoft.__Messages/"
_MAX_MESSAGE = 64 * 1024**2  # one message's XML, its attachments inside it included
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_ADDRESS_FIELDS = (
    ("From", "OPFMessageCopyFromAddresses"),
    ("To", "OPFMessageCopyToAddresses"),
    ("Cc", "OPFMessageCopyCCAddresses"),
    ("Bcc", "OPFMessageCopyBCCAddresses"),
    ("Reply-To", "OPFMessageCopyReplyToAddresses"),
)
_PROGRESS_EVERY = 200


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element) -> dict[str, ET.Element]:
    """The element's children by their names without namespace (the first of each)."""
    found: dict[str, ET.Element] = {}
    for child in element:
        found.setdefault(_local(child.tag), child)
    return found


def _text(fields: dict[str, ET.Element], name: str) -> str:
    element = fields.get(name)
    return (element.text or "").strip() if element is not None else ""


def _addresses(element: ET.Element | None) -> list[tuple[str, str]]:
    """(name, address) of each ``emailAddress`` in a field, or of its text."""
    if element is None:
        return []
    found: list[tuple[str, str]] = []
    for child in element.iter():
        if _local(child.tag) != "emailAddress":
            continue
        parts = {_local(k): v for k, v in child.attrib.items()}
        parts.update({_local(g.tag): (g.text or "") for g in child})
        address = (parts.get("OPFContactEmailAddressAddress") or "").strip()
        name = (parts.get("OPFContactEmailAddressName") or "").strip()
        name, address = " ".join(name.split()), "".join(address.split())
        if address or name:
            found.append((name if name != address else "", address))
    if not found and (element.text or "").strip():
        found.append(("", "".join((element.text or "").split())))
    return found


def _when(text: str) -> datetime | None:
    if not text:
        return None
    try:
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def message_bytes(document: bytes) -> tuple[bytes, dict[str, Any]]:
    """An Outlook for Mac message document as the RFC 5322 message it was, and what the
    message's details keep beside it (flags, attachments).

    Raises:
        ValueError: not a message document (unreadable XML, a DTD, no ``email`` element).
    """
    if _DTD.search(document[:4096]):
        raise ValueError("the message's XML declares a DTD; not read")
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise ValueError(f"unreadable message XML ({exc})") from exc
    email = root if _local(root.tag) == "email" else None
    if email is None:
        email = next((e for e in root.iter() if _local(e.tag) == "email"), None)
    if email is None:
        raise ValueError("no email element in the message's XML")
    return _rebuilt(email)


def _rebuilt(email: ET.Element) -> tuple[bytes, dict[str, Any]]:
    fields = _children(email)
    headers: list[tuple[str, str]] = []
    for header, name in _ADDRESS_FIELDS:
        people = _addresses(fields.get(name))
        if header == "From" and not people:
            people = _addresses(fields.get("OPFMessageCopySenderAddress"))
            sender = _text(fields, "OPFMessageCopySenderName")
            if sender and people and not people[0][0]:
                people[0] = (sender, people[0][1])
        if people:
            headers.append((header, ", ".join(formataddr(p) for p in people)))
    when = _when(_text(fields, "OPFMessageCopySentTime")) or _when(
        _text(fields, "OPFMessageCopyReceivedTime")
    )
    if when is not None:
        headers.append(("Date", format_datetime(when)))
    for header, name in (
        ("Subject", "OPFMessageCopySubject"),
        ("Message-ID", "OPFMessageCopyMessageID"),
        ("In-Reply-To", "OPFMessageCopyInReplyTo"),
        ("References", "OPFMessageCopyReferences"),
    ):
        value = " ".join(_text(fields, name).split())
        if value:
            headers.append((header, value))
    plain = _text(fields, "OPFMessageCopyBody")
    html = _text(fields, "OPFMessageCopyHTMLBody")
    details: dict[str, Any] = {}
    if _text(fields, "OPFMessageGetIsRead") in ("1", "true"):
        details["flags"] = ["seen"]
    attachments = [
        {
            "name": (a.get("OPFAttachmentName") or "").strip(),
            "type": (a.get("OPFAttachmentContentType") or "").strip(),
        }
        for a in email.iter()
        if _local(a.tag) == "messageAttachment"
    ]
    if attachments:
        details["attachments"] = attachments
    return mail.rebuilt_message(headers, plain, html), details


def folder_of(member: str) -> str:
    """The mail folder a message member lies in (``Inbox``, ``Inbox/Suppliers``)."""
    inside = member.split(_MESSAGES, 1)[-1]
    return inside.rsplit("/", 1)[0] if "/" in inside else ""


class OlmConnector:
    """Reads Outlook for Mac's ``.olm`` archives: every message, folder by folder."""

    name = "olm"
    label = "Outlook for Mac archive (.olm)"
    channel: Channel = "email"
    extensions: tuple[str, ...] = (".olm", ".zip")

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure it is that ``path`` is an ``.olm`` archive.

        Args:
            path: the file.
            head: its first bytes.

        Returns:
            0.95 for a zip archive holding Outlook for Mac's message folders, else 0.0.
        """
        if not looks_like_zip(head):
            return 0.0
        names = member_names(path)
        return 0.95 if names and any(_MESSAGES in n for n in names) else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield the events of every message in the archive.

        Args:
            path: the ``.olm`` file.
            options: progress (in messages) and cancel callbacks are used.

        Yields:
            Owner hints, events, problems and notices.

        Raises:
            FormatError: not a readable ``.olm`` archive.
        """
        try:
            archive = SafeZip(path)
        except ArchiveError as exc:
            raise FormatError(str(exc)) from exc
        with archive:
            for name, reason in archive.rejected:
                yield Problem(f"{path.name}!{name}", f"set aside: {reason}")
            wanted = [m.name for m in archive if _MESSAGES in m.name and m.name.endswith(".xml")]
            if not wanted:
                raise FormatError(f"{path.name}: not an Outlook for Mac archive (no messages)")
            reader = mail.MailReader()
            spam: dict[str, int] = {}
            for count, member in enumerate(wanted, 1):
                if options.should_cancel is not None and options.should_cancel():
                    return
                folder = folder_of(member)
                if folder and mail.is_spam_folder(folder):
                    spam[folder] = spam.get(folder, 0) + 1
                    continue
                locator = f"{path.name}!{member}"
                try:
                    raw, details = message_bytes(archive.read(member, _MAX_MESSAGE))
                except ArchiveRefused as exc:  # (the archive as a whole: nothing more is read)
                    raise FormatError(str(exc)) from exc
                except (ArchiveError, ValueError) as exc:
                    yield Problem(locator, str(exc).removeprefix(f"{path.name}!{member}: "))
                    continue
                if folder:
                    details["folder"] = folder
                yield from reader.items(raw, locator, extra=details, sent=is_sent_folder(folder))
                if options.progress is not None and count % _PROGRESS_EVERY == 0:
                    options.progress(count, len(wanted))
            if reader.spam:
                yield mail.spam_notice(reader.spam)
            if spam:
                yield mail.spam_folders_notice(spam)
            if options.progress is not None:
                options.progress(len(wanted), len(wanted))
