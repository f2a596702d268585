"""Outlook's messages as MAPI properties (an ``.pst``/``.ost`` file read with libpff, an
``.msg`` file read with olefile), written back as the RFC 5322 message each was.

Outlook keeps a message as properties, not as internet text. One that came in over the
internet keeps its header block as received (``PR_TRANSPORT_MESSAGE_HEADERS``); one
written in Outlook (sent mail, drafts) only its properties: the sender
(``PR_SENDER_SMTP_ADDRESS``, or an SMTP ``PR_SENDER_EMAIL_ADDRESS``; an Exchange address,
``/o=…``, is no email address and is left out), the recipients (``PR_SMTP_ADDRESS`` or an
SMTP ``PR_EMAIL_ADDRESS``, by ``PR_RECIPIENT_TYPE``), the time it was sent
(``PR_CLIENT_SUBMIT_TIME``, else delivered or made), ``PR_INTERNET_MESSAGE_ID``,
``PR_IN_REPLY_TO_ID`` and ``PR_INTERNET_REFERENCES``. The mailbox it was delivered to
(``PR_RECEIVED_BY_SMTP_ADDRESS``; for an Exchange mailbox, the recipient whose address
spells ``PR_RECEIVED_BY_NAME``) is written as its ``Delivered-To``: the owner's address.
The bodies are ``PR_BODY`` and ``PR_HTML`` (in the message's code page,
``PR_INTERNET_CPID``); a message that keeps neither (Outlook's RTF editor, older Exchange)
gets its text from its RTF body (``rtf_text``: Word's own RTF, plain text or HTML that
Outlook wrapped in RTF, in the code pages it names), read only then. Each store's
reader gives its messages as ``Message`` (its properties through ``Properties``), and
``message_bytes`` writes them back; they are then read as every other mail is
(``connectors.mail``).
"""

from __future__ import annotations

import logging
import re
import struct
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import format_datetime, formataddr, getaddresses
from typing import Any, Protocol

from app.records import ContactCard, EventRecord, Item
from connectors import mail

log = logging.getLogger(__name__)

# MAPI property tags (MS-OXPROPS)
MESSAGE_CLASS = 0x001A
SUBJECT = 0x0037
TRANSPORT_HEADERS = 0x007D
_SENT_REPRESENTING_NAME = 0x0042
_SENT_REPRESENTING_ADDRTYPE = 0x0064
_SENT_REPRESENTING_EMAIL = 0x0065
_SENDER_NAME = 0x0C1A
_SENDER_ADDRTYPE = 0x0C1E
_SENDER_EMAIL = 0x0C1F
_SENDER_SMTP = 0x5D01
_SENT_REPRESENTING_SMTP = 0x5D02
_RECEIVED_BY_NAME = 0x0040
_RECEIVED_BY_ADDRTYPE = 0x0075
_RECEIVED_BY_EMAIL = 0x0076
_RECEIVED_BY_SMTP = 0x5D07
CLIENT_SUBMIT_TIME = 0x0039
DELIVERY_TIME = 0x0E06
_CREATION_TIME = 0x3007
_MESSAGE_FLAGS = 0x0E07
_INTERNET_MESSAGE_ID = 0x1035
_IN_REPLY_TO = 0x1042
_REFERENCES = 0x1039
INTERNET_CPID = 0x3FDE
MESSAGE_CODEPAGE = 0x3FFD
BODY = 0x1000
HTML = 0x1013
RTF_COMPRESSED = 0x1009  # PR_RTF_COMPRESSED (binary)
DISPLAY_NAME = 0x3001
_ADDRTYPE = 0x3002
_EMAIL_ADDRESS = 0x3003
_SMTP_ADDRESS = 0x39FE
_RECIPIENT_TYPE = 0x0C15
_ATTACH_LONG_FILENAME = 0x3707
_ATTACH_FILENAME = 0x3704
_ATTACH_MIME_TAG = 0x370E
ATTACH_SIZE = 0x0E20
ATTACH_DATA = 0x3701

_COMPANY_NAME = 0x3A16
# A contact's voice numbers (MS-OXOCNTC): primary, mobile, business, business 2, home,
# home 2, other, car, callback, assistant. Fax and pager numbers are not read.
_PHONES = (0x3A1A, 0x3A1C, 0x3A08, 0x3A1B, 0x3A09, 0x3A2F, 0x3A1F, 0x3A1E, 0x3A02, 0x3A2E)
# A contact's email addresses are named properties of PSETID_Address: (the LID of the
# address, the LID of its type) for Email1, Email2 and Email3.
ADDRESS_SET = "00062004-0000-0000-c000-000000000046"
CONTACT_EMAILS = ((0x8083, 0x8082), (0x8093, 0x8092), (0x80A3, 0x80A2))

_RECIPIENT_HEADERS = {1: "To", 2: "Cc", 3: "Bcc"}
_READ, _UNSENT = 0x01, 0x08  # PR_MESSAGE_FLAGS bits
# The message classes that are mail (compared in lower case, with their sub-classes)
_MAIL_CLASSES = ("ipm.note", "ipm.schedule.meeting", "report.ipm.note")
# What the other common classes are, in a report's words
_KINDS = {
    "ipm.contact": "contact",
    "ipm.distlist": "contact group",
    "ipm.appointment": "calendar item",
    "ipm.task": "task",
    "ipm.stickynote": "note",
    "ipm.activity": "journal entry",
    "ipm.post": "folder post",
}
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


class Properties(Protocol):
    """A MAPI object's properties, as its store keeps them."""

    def text(self, tag: int) -> str:
        """A string property with its whitespace collapsed ("" if it has none)."""

    def number(self, tag: int) -> int | None:
        """An integer property, or None."""

    def time(self, tag: int) -> datetime | None:
        """A time property (aware, UTC; None if absent or before 1971)."""


@dataclass
class Message:
    """One message as a store gives it: its own properties, its bodies (text, or bytes as
    stored: the HTML one in the code page ``PR_INTERNET_CPID`` names; empty when absent),
    the header block it arrived with, its recipients' and attachments' properties."""

    props: Properties
    plain: bytes | str = b""
    html: bytes | str = b""
    received: str = ""
    subject: str = ""
    recipients: Sequence[Properties] = field(default_factory=list)
    attachments: Sequence[Properties] = field(default_factory=list)
    rtf: Callable[[], bytes] | None = None  # the RTF body, uncompressed: read if needed
    # The mail attached to it as messages (Outlook's "Forward as attachment"): read if needed
    embedded: Callable[[], Sequence[Message]] | None = None


MAX_EMBEDDED_DEPTH = 10  # messages attached to attached messages are read this far down


MAX_RTF_BYTES = 32 * 1024 * 1024  # an RTF body past this (pictures, mostly) is not read


def rtf_text(data: bytes) -> str:
    """The text of an RTF body: Word's RTF, or the plain text or HTML that Outlook keeps
    wrapped in RTF (``\\fromtext``, ``\\fromhtml1``: the tags are left out, their text
    kept), its characters in the code pages the RTF names (``striprtf``). "" for a body
    that is no RTF, or too big to read."""
    from striprtf.striprtf import rtf_to_text

    data = data.rstrip(b"\0")
    if not data.lstrip().startswith(b"{\\rtf") or len(data) > MAX_RTF_BYTES:
        return ""
    # RTF is 7-bit text; a byte past 127 (a writer's slip) stays one character.
    try:
        text = rtf_to_text(data.decode("latin-1"), errors="replace")  # type: ignore[no-untyped-call]
    except (LookupError, ValueError, IndexError, TypeError, RecursionError):
        # A code page no codec reads, a damaged escape (striprtf raises TypeError on a
        # \\u with no number): the message keeps no text, as before.
        return ""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def _charset(code_page: int | None) -> str | None:
    """The codec name of a Windows code page (None for none)."""
    return _CODE_PAGES.get(code_page, f"cp{code_page}") if code_page else None


def decoded(data: bytes | str, code_page: int | None) -> str:
    """A stored text in its code page (valid UTF-8 wins: ``mail.decode_bytes``)."""
    if isinstance(data, str):
        return data.rstrip("\0")
    return mail.decode_bytes(data.rstrip(b"\0"), _charset(code_page)) if data else ""


def utc(value: Any) -> datetime | None:
    """A stored time (a FILETIME: UTC, naive as stores give it) if it is a likely one."""
    if not isinstance(value, datetime) or not 1971 <= value.year <= 9999:
        return None
    return value.replace(tzinfo=UTC)


def is_mail(message_class: str) -> bool:
    """Whether a message class is mail (``IPM.Note``, ``IPM.Note.SMIME``, a meeting request
    or reply, a delivery report); an item without one is taken as mail."""
    kind = message_class.casefold()
    return not kind or any(kind == c or kind.startswith(c + ".") for c in _MAIL_CLASSES)


def kind_of(message_class: str) -> str:
    """What an item that is not mail is, in a report's words ("contact", "calendar item")."""
    kind = message_class.casefold()
    for prefix, words in _KINDS.items():
        if kind == prefix or kind.startswith(prefix + "."):
            return words
    return f"item ({message_class})"


def is_contact(message_class: str) -> bool:
    """Whether a message class is a contact (``IPM.Contact`` and its sub-classes)."""
    kind = message_class.casefold()
    return kind == "ipm.contact" or kind.startswith("ipm.contact.")


def named_ids(guids: bytes, entries: bytes) -> dict[tuple[str, int], int]:
    """A store's numeric named properties: (property set GUID, LID) → the property id
    they are stored under, from its name-to-id map's GUID stream and entry stream (the
    same in an ``.msg``, MS-OXMSG 2.2.3, and a ``.pst``, MS-PST 2.4.7: each entry 8 bytes,
    the LID, the GUID's index and the kind, the property's index past 0x8000)."""
    known = [str(uuid.UUID(bytes_le=guids[i : i + 16])) for i in range(0, len(guids) - 15, 16)]
    found: dict[tuple[str, int], int] = {}
    for at in range(0, len(entries) - 7, 8):
        lid, index_kind, index = struct.unpack_from("<IHH", entries, at)
        guid_index = index_kind >> 1
        if index_kind & 1 or not 3 <= guid_index < len(known) + 3:
            continue  # (a named property by string, or of PS_MAPI / PS_PUBLIC_STRINGS)
        found.setdefault((known[guid_index - 3], lid), 0x8000 + index)
    return found


def contact_emails(props: Properties, ids: dict[tuple[str, int], int]) -> list[tuple[str, str]]:
    """A contact's Email1 to Email3 as (address, address type), read from its named
    properties through the store's map ``ids`` (``named_ids``)."""
    emails = []
    for address_lid, type_lid in CONTACT_EMAILS:
        address = ids.get((ADDRESS_SET, address_lid))
        if address is not None:
            kind = ids.get((ADDRESS_SET, type_lid))
            emails.append((props.text(address), props.text(kind) if kind is not None else ""))
    return emails


def contact_card(props: Properties, emails: Sequence[tuple[str, str]], locator: str) -> ContactCard:
    """The address book card an Outlook contact is: its display name, company, voice
    numbers, and ``emails`` ((address, address type) of Email1 to Email3, read from the
    named properties by the caller: an Exchange one, ``/o=…``, is left out)."""
    addresses = [address for address, kind in emails if _smtp(address.strip(), kind)]
    phones = [props.text(tag) for tag in _PHONES]
    return ContactCard(
        name=props.text(DISPLAY_NAME),
        emails=tuple(dict.fromkeys(a.strip() for a in addresses)),
        phones=tuple(dict.fromkeys(p for p in phones if sum(c.isdigit() for c in p) >= 5)),
        organization=props.text(_COMPANY_NAME),
        locator=locator,
    )


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


def _sender(props: Properties) -> str:
    address = (
        props.text(_SENDER_SMTP)
        or props.text(_SENT_REPRESENTING_SMTP)
        or _smtp(props.text(_SENDER_EMAIL), props.text(_SENDER_ADDRTYPE))
        or _smtp(props.text(_SENT_REPRESENTING_EMAIL), props.text(_SENT_REPRESENTING_ADDRTYPE))
    )
    name = props.text(_SENDER_NAME) or props.text(_SENT_REPRESENTING_NAME)
    return _person(name, address)


def _recipient_address(props: Properties) -> str:
    return props.text(_SMTP_ADDRESS) or _smtp(props.text(_EMAIL_ADDRESS), props.text(_ADDRTYPE))


def _recipients(recipients: Sequence[Properties]) -> dict[str, list[str]]:
    """The recipients' addresses by header ("To", "Cc", "Bcc")."""
    found: dict[str, list[str]] = {}
    for props in recipients:
        address = _recipient_address(props)
        person = _person(props.text(DISPLAY_NAME), address)
        if person:
            header = _RECIPIENT_HEADERS.get(props.number(_RECIPIENT_TYPE) or 1, "To")
            found.setdefault(header, []).append(person)
    return found


def _attachments(attachments: Sequence[Properties]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for props in attachments:
        name = (
            props.text(_ATTACH_LONG_FILENAME)
            or props.text(_ATTACH_FILENAME)
            or props.text(DISPLAY_NAME)
        )
        attachment: dict[str, Any] = {"name": name, "type": props.text(_ATTACH_MIME_TAG)}
        size = props.number(ATTACH_SIZE)
        if size is not None and size >= 0:
            attachment["size"] = size
        found.append(attachment)
    return found


# A To or Cc field of a header block, its folded lines with it
_TO_OR_CC = re.compile(r"^(?:to|cc):(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


def _letters(text: str) -> str:
    return "".join(c for c in text.casefold() if c.isalnum())


def _spelled_recipient(name: str, message: Message, received: str) -> str:
    """The recipient whose address spells the name of the mailbox the message was
    delivered to (``PR_RECEIVED_BY_NAME``; an Exchange mailbox has no email address of its
    own in the store): "Hong-Thai Nguyen" is ``hong-thai.nguyen@…`` or
    ``nguyen.hongthai@…``; "" when none or several do."""
    words = name.split()
    if len(words) < 2:
        return ""
    spellings = {_letters(name), _letters(" ".join([*words[1:], words[0]]))}
    if received:
        values = [" ".join(m.group(1).split()) for m in _TO_OR_CC.finditer(received)]
        addresses = [address for _name, address in getaddresses(values)]
    else:
        addresses = [_recipient_address(props) for props in message.recipients]
    found = {a for a in addresses if "@" in a and _letters(a.rsplit("@", 1)[0]) in spellings}
    return found.pop() if len(found) == 1 else ""


def message_bytes(message: Message) -> tuple[bytes, dict[str, Any], bool]:
    """A message as the RFC 5322 message it was, what its details keep beside it (flags,
    attachments), and whether it was written on the owner's side: a draft, or it came by no
    internet server and its sender has an Exchange address, no email address (the owner's
    own mail, or a colleague's).
    """
    props = message.props
    code_page = props.number(INTERNET_CPID)
    plain = decoded(message.plain, 65001)  # (UTF-16 or UTF-8 as the stores give it)
    html = decoded(message.html, code_page)
    if not plain.strip() and not html.strip() and message.rtf is not None:
        plain = rtf_text(message.rtf())
    received = message.received if message.received.strip() else ""
    headers: list[tuple[str, str]] = []
    inside = False
    if not received:
        sender = _sender(props)
        if sender:
            headers.append(("From", sender))
        else:
            inside = bool(props.text(_SENDER_EMAIL) or props.text(_SENT_REPRESENTING_EMAIL))
        for header, people in _recipients(message.recipients).items():
            headers.append((header, ", ".join(people)))
        when = (
            props.time(CLIENT_SUBMIT_TIME)
            or props.time(DELIVERY_TIME)
            or props.time(_CREATION_TIME)
        )
        if when is not None:
            headers.append(("Date", format_datetime(when)))
        subject = " ".join(message.subject.split())
        if subject:
            headers.append(("Subject", subject))
        for header, tag in (
            ("Message-ID", _INTERNET_MESSAGE_ID),
            ("In-Reply-To", _IN_REPLY_TO),
            ("References", _REFERENCES),
        ):
            value = props.text(tag)
            if value:
                headers.append((header, value))
    # The mailbox it was delivered to is the owner's (``mail.delivered_to`` hints it): the
    # header a receiving server adds, which Outlook's store keeps as a property instead.
    mailbox = (
        props.text(_RECEIVED_BY_SMTP)
        or _smtp(props.text(_RECEIVED_BY_EMAIL), props.text(_RECEIVED_BY_ADDRTYPE))
        or _spelled_recipient(props.text(_RECEIVED_BY_NAME), message, received)
    )
    if mailbox:
        if received:
            received = f"Delivered-To: {mailbox}\r\n{received}"
        else:
            headers.insert(0, ("Delivered-To", mailbox))
    details: dict[str, Any] = {}
    flags = props.number(_MESSAGE_FLAGS) or 0
    inside = inside or bool(flags & _UNSENT)  # (a draft: the owner's, often without a sender)
    marks = [word for bit, word in ((_UNSENT, "draft"), (_READ, "seen")) if flags & bit]
    if marks:
        details["flags"] = marks
    attachments = _attachments(message.attachments)
    if attachments:
        details["attachments"] = attachments
    raw = mail.rebuilt_message(
        headers, plain, html, received=received, attached=_embedded_bytes(message)
    )
    return raw, details, inside


def _embedded_bytes(message: Message) -> list[bytes]:
    """The messages attached to ``message`` as items, each written back as it was; one
    that cannot be read is left out (it stays listed by name), the message is kept."""
    if message.embedded is None:
        return []
    found: list[bytes] = []
    for inner in message.embedded():
        try:
            found.append(message_bytes(inner)[0])
        except Exception as exc:  # (a store's reader raises many kinds on a damaged part)
            log.info("an attached message cannot be read: %r", str(exc))
    return found


def owners_side(item: Item, inside: bool, sent: bool) -> Item:
    """The item as the reader gave it, or a record without a sender turned to the owner's
    side when it was written inside the organisation or sits in a Sent folder."""
    if (
        (inside or sent)
        and isinstance(item, EventRecord)
        and not any(p.role == "from" for p in item.participants)
    ):
        return replace(item, direction="outbound")
    return item
