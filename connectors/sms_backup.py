"""Text messages and calls from Android phones, as the app SMS Backup & Restore saves them.

SMS Backup & Restore (SyncTech) is how Android phones export their texts and call log: an
``sms-<date>.xml`` and a ``calls-<date>.xml``, to the phone, Google Drive, Dropbox or
email. The shop's own mobile is where many customers text and call, so these are a
customer's history as much as their mail and chats.

``<smses>`` holds ``<sms>`` elements (``address``: the other party's number; ``date``:
epoch milliseconds, UTC; ``type``: 1 received, 2 sent, 3 draft, 4 outbox, 5 failed, 6
queued; ``body``; ``contact_name``, "(Unknown)" for none) and ``<mms>`` elements
(``msg_box``: 1 received, 2 sent; ``address``: the conversation's other numbers joined by
``~``; ``<parts>``: ``text/plain`` parts carry the text in ``text``, pictures and videos
their bytes in ``data``; ``<addrs>``: each number with its role, 137 the sender, 151 and
130 the recipients, the owner's own among them). ``<calls>`` holds ``<call>`` elements
(``number``, ``duration`` in seconds, ``date``, ``type``: 1 incoming, 2 outgoing, 3
missed, 4 voicemail, 5 rejected, 6 blocked).

Each message or call becomes one event (texts on the source "sms", calls on "calls"),
its thread the conversation's numbers. Messages from a short code or a named sender
("DHL", "12345": a business's notifications) are automated: their senders are no
customers. A sent MMS names the owner's own number (its sender): an owner hint. Drafts are
left out, and calls from a withheld number (nothing to link).

What the app writes that XML does not allow, as real files show: an emoji as two character
references, one per UTF-16 half (``&#55357;&#56832;``), which XML parsers refuse; they are
joined into the character before parsing, and a reference to no character (half an emoji) is
read as the replacement character, ``�``. Pictures and videos (``data``, base64, up to
hundreds of MB in one attribute) are skipped unread, so a backup of any size is read in
bounded memory; the parts are listed by type and name. A file cut short or damaged gives the
messages before the damage, and a problem at its line. A document that declares a DTD is
refused (no entity is ever expanded).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError, XMLPullParser

from app.errors import FormatError
from app.records import (
    Channel,
    Direction,
    EventRecord,
    Item,
    Notice,
    OwnerHint,
    ParseOptions,
    Participant,
    Problem,
    Role,
)
from connectors.chat_common import duration_text, is_phone

_SMS_SOURCE = "sms"
_CALLS_SOURCE = "calls"
_CHUNK = 1024 * 1024
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_ROOT = re.compile(rb"<(smses|calls)[\s>]")
_DATA = b' data="'
# A numeric character reference: a UTF-16 surrogate pair written as two, or any one.
_PAIR = re.compile(rb"&#(5[5-6]\d{3});&#(5[6-7]\d{3});")
_REF = re.compile(rb"&#(x[0-9a-fA-F]+|-?\d+);")
_SENT_SMS = {"2": "sent", "4": "outbox", "5": "failed", "6": "queued"}
_FROM, _TO, _CC = "137", "151", "130"
_CALLS: dict[str, tuple[str, Direction]] = {
    "1": ("Incoming call", "inbound"),
    "2": ("Outgoing call", "outbound"),
    "3": ("Missed call", "inbound"),
    "4": ("Voicemail", "inbound"),
    "5": ("Rejected call", "inbound"),
    "6": ("Blocked call", "inbound"),
    "7": ("Call answered on another device", "inbound"),
}
_NULL = ("", "null", "(unknown)")
_PROGRESS_EVERY = 500


class SmsBackupConnector:
    """SMS, MMS and call logs saved by SMS Backup & Restore (``.xml``)."""

    name = "sms_backup"
    label = "Texts and calls (SMS Backup & Restore .xml)"
    channel: Channel = "chat"
    extensions: tuple[str, ...] = (".xml",)

    def sniff(self, path: Path, head: bytes) -> float:
        """0.95 when the document's root is ``<smses>`` or ``<calls>`` (after the XML
        declaration and the app's comment), else 0.0."""
        del path
        found = _ROOT.search(head[:4096])
        if found is None or b"<" in _between_prologue(head[: found.start()]):
            return 0.0
        return 0.95

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield an event per message or call, owner hints, problems and notices.

        Raises:
            FormatError: no ``<smses>`` or ``<calls>`` document, or one declaring a DTD.
        """
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(4096)
            if _DTD.search(head):
                raise FormatError(f"{path.name}: the XML declares a DTD; not read")
            if self.sniff(path, head) == 0.0:
                raise FormatError(f"{path.name}: not an SMS Backup & Restore file")
            fh.seek(0)
            reader = _Reader(path.name, options)
            yield from reader.read(fh, size)
        if reader.drafts:
            yield Notice(f"{path.name}: {reader.drafts} drafts left out (never sent)")
        if reader.withheld:
            yield Notice(
                f"{path.name}: {reader.withheld} calls from a withheld number left out "
                "(nothing to link them to)"
            )


def _between_prologue(text: bytes) -> bytes:
    """What stands before the root element once the XML declaration and comments are
    taken out (nothing, in the app's files)."""
    text = re.sub(rb"<\?xml.*?\?>", b"", text, flags=re.DOTALL)
    return re.sub(rb"<!--.*?-->", b"", text, flags=re.DOTALL).strip()


class _Reader:
    """Reads one file's elements as they end, counting what it leaves out."""

    def __init__(self, file_name: str, options: ParseOptions) -> None:
        self.file_name = file_name
        self.options = options
        self.drafts = 0
        self.withheld = 0
        self.owner_hinted: set[str] = set()
        self.repeats: dict[str, int] = {}

    def read(self, fh: IO[bytes], size: int) -> Iterator[Item]:
        parser: XMLPullParser[Element] = XMLPullParser(events=("start", "end"))
        root: Element | None = None
        done = 0
        for chunk in _cleaned(fh):
            try:
                parser.feed(chunk)
                events = list(parser.read_events())
            except ParseError as exc:
                line = exc.position[0] if exc.position else 0
                yield Problem(
                    f"{self.file_name}:{line}",
                    f"the file is damaged or cut short here ({exc}); what comes before was read",
                )
                return
            except LookupError as exc:  # (a damaged declaration names no encoding)
                yield Problem(f"{self.file_name}:1", f"the file cannot be read ({exc})")
                return
            for found in events:
                event, element = found[0], found[-1]
                if not isinstance(element, Element):
                    continue
                if event == "start":
                    if root is None:
                        root = element
                    continue
                if element.tag not in ("sms", "mms", "call"):
                    continue
                done += 1
                if done % _PROGRESS_EVERY == 0:
                    if self.options.should_cancel is not None and self.options.should_cancel():
                        return
                    if self.options.progress is not None:
                        self.options.progress(min(fh.tell(), size), size)
                yield from self._element(element, done)
                element.clear()
                if root is not None and len(root) > 64:
                    del root[:]  # (the elements read: nothing holds them any more)
        try:
            parser.close()
        except ParseError as exc:
            line = exc.position[0] if exc.position else 0
            yield Problem(
                f"{self.file_name}:{line}",
                f"the file ends before its last element ({exc}); what comes before was read",
            )
        if self.options.progress is not None:
            self.options.progress(size, size)

    def _element(self, element: Element, index: int) -> Iterator[Item]:
        where = f"{self.file_name}#{index}"
        try:
            if element.tag == "sms":
                found = self._sms(element.attrib, where)
            elif element.tag == "mms":
                found = self._mms(element, where)
            else:
                found = self._call(element.attrib, where)
        except (ValueError, OverflowError) as exc:
            yield Problem(where, f"unreadable {element.tag}: {exc}")
            return
        yield from found

    def _sms(self, attrs: dict[str, str], where: str) -> list[Item]:
        kind = attrs.get("type", "1")
        if kind == "3":
            self.drafts += 1
            return []
        address = _value(attrs.get("address"))
        if not address:
            return [Problem(where, "a text message without a number")]
        when = _time(attrs.get("date"))
        body = attrs.get("body", "")
        body = "" if body == "null" else body
        status = _SENT_SMS.get(kind)
        name = _name(attrs.get("contact_name"))
        person = _person("member" if status else "author", name, address)
        details: dict[str, Any] = {"automated": True} if _automated(address) and not status else {}
        if status and status != "sent":
            details["status"] = status
        return [
            EventRecord(
                channel="chat",
                source=_SMS_SOURCE,
                external_id=self._id("sms", address, attrs.get("date", ""), kind, body),
                occurred_at=when,
                title=name or address,
                text=body,
                participants=(person,),
                direction="outbound" if status else "inbound",
                thread_key=self._thread([address]),
                details=details,
                locator=where,
            )
        ]

    def _mms(self, element: Element, where: str) -> list[Item]:
        attrs = element.attrib
        sent = attrs.get("msg_box") == "2"
        if attrs.get("msg_box") == "3":
            self.drafts += 1
            return []
        roles: dict[str, str] = {}
        for addr in element.iter("addr"):
            number = _value(addr.get("address"))
            if number and number != "insert-address-token":
                roles.setdefault(number, addr.get("type", ""))
        others = [n for n in (_value(a) for a in attrs.get("address", "").split("~")) if n]
        if not others:  # (an older backup: the numbers from the address rows)
            others = [n for n, role in roles.items() if role in (_FROM, _TO, _CC)]
        items: list[Item] = []
        sender = next((n for n, role in roles.items() if role == _FROM), "")
        if sent and sender and sender not in others and sender not in self.owner_hinted:
            self.owner_hinted.add(sender)  # (a sent message's sender is the owner's number)
            items.append(OwnerHint("phone", sender))
            others = [n for n in others if n != sender]
        if not others:
            return [*items, Problem(where, "a picture message without a number")]
        texts: list[str] = []
        media: list[dict[str, str]] = []
        for part in element.iter("part"):
            kind = part.get("ct", "")
            if kind == "text/plain":
                text = part.get("text", "")
                if text and text != "null":
                    texts.append(text)
            elif kind != "application/smil":
                label = next(
                    (_value(part.get(k)) for k in ("name", "cl", "fn") if _value(part.get(k))), ""
                )
                media.append({"type": kind, "name": label})
        names = [s.strip() for s in attrs.get("contact_name", "").split(",")]
        people: list[Participant] = []
        for i, number in enumerate(others):
            role: Role = "author" if not sent and number == sender else "member"
            name = _name(names[i]) if len(names) == len(others) else ""
            people.append(_person(role, name, number))
        if not sent and sender and sender not in others:
            people.insert(0, _person("author", "", sender))
        people.sort(key=lambda p: p.role != "author")
        text = "\n".join(texts)
        details: dict[str, Any] = {"media": media} if media else {}
        if len(others) > 1:
            details["group"] = ", ".join(others)
        elif not sent and _automated(others[0]):
            details["automated"] = True
        title = _name(attrs.get("contact_name")) or ", ".join(others)
        stamp = attrs.get("date", "")
        key = attrs.get("m_id") or text
        items.append(
            EventRecord(
                channel="chat",
                source=_SMS_SOURCE,
                external_id=self._id("mms", "~".join(others), stamp, attrs.get("msg_box", ""), key),
                occurred_at=_time(stamp),
                title=title,
                text=text,
                participants=tuple(people),
                direction="outbound" if sent else "inbound",
                thread_key=self._thread(others),
                details=details,
                locator=where,
            )
        )
        return items

    def _call(self, attrs: dict[str, str], where: str) -> list[Item]:
        number = _value(attrs.get("number"))
        if not number or number.startswith("-"):  # (-1, -2: withheld, unknown, payphone)
            self.withheld += 1
            return []
        kind = attrs.get("type", "")
        what, direction = _CALLS.get(kind, ("Call", "inbound"))
        seconds = int(attrs.get("duration", "0") or "0")
        text = f"{what}, {duration_text(seconds)}" if seconds > 0 else what
        name = _name(attrs.get("contact_name"))
        role: Role = "member" if direction == "outbound" else "author"
        return [
            EventRecord(
                channel="chat",
                source=_CALLS_SOURCE,
                external_id=self._id("call", number, attrs.get("date", ""), kind, str(seconds)),
                occurred_at=_time(attrs.get("date")),
                title=name or number,
                text=text,
                participants=(_person(role, name, number),),
                direction=direction,
                thread_key=self._thread([number]),
                details={"call": {"type": what, "seconds": seconds}},
                locator=where,
            )
        ]

    def _thread(self, numbers: list[str]) -> str:
        """A conversation's key: its numbers in E.164 (read in the owner's region), so that
        "07700 900789" and "+44 7700 900789" are one conversation, and its texts and calls
        one thread."""
        import phonenumbers

        keys = set()
        for number in numbers:
            try:
                parsed = phonenumbers.parse(number, self.options.region)
                keys.add(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
            except phonenumbers.NumberParseException:
                keys.add(number)
        return f"{_SMS_SOURCE}:{'~'.join(sorted(keys))}"

    def _id(self, *parts: str) -> str:
        """A message's id: a digest of what it is (the app gives none), numbered for an
        identical repeat in the file (the same text sent twice in one millisecond)."""
        digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
        seen = self.repeats.get(digest, 0)
        self.repeats[digest] = seen + 1
        return digest[:40] if seen == 0 else f"{digest[:40]}-{seen}"


def _cleaned(fh: IO[bytes]) -> Iterator[bytes]:
    """The file's bytes as the XML parser gets them: every ``data`` attribute's value left
    out (base64 of a picture or video: never read), and the app's numeric character
    references made valid (a surrogate pair joined into its character; a reference to no
    character read as ``�``). A tag is passed on whole, so no reference is split."""
    pending = bytearray()  # (the text since the last ">", a tag not yet ended)
    skipping = False
    while True:
        block = fh.read(_CHUNK)
        if not block:
            break
        at = 0
        while at < len(block):
            if skipping:  # (inside a data attribute: up to its closing quote)
                quote = block.find(b'"', at)
                if quote < 0:
                    at = len(block)
                    break
                skipping = False
                at = quote
                continue
            end = block.find(b">", at)
            piece = block[at:] if end < 0 else block[at : end + 1]
            start = max(0, len(pending) - len(_DATA) + 1)  # (one split by the last block)
            pending += piece
            found = pending.find(_DATA, start)
            if found >= 0:  # (the rest of this attribute is skipped)
                consumed = found + len(_DATA) - (len(pending) - len(piece))
                del pending[found + len(_DATA) :]
                skipping = True
                at += consumed
                continue
            if end < 0:
                at = len(block)
                continue
            yield _references(bytes(pending))
            pending.clear()
            at = end + 1
    if pending:
        yield _references(bytes(pending))


def _references(text: bytes) -> bytes:
    """``text`` with the app's surrogate-pair references joined and every reference to
    no XML character read as ``�``."""
    if b"&#" not in text:
        return text
    text = _PAIR.sub(_joined, text)
    return _REF.sub(_valid, text)


def _joined(found: re.Match[bytes]) -> bytes:
    high, low = int(found.group(1)), int(found.group(2))
    if 0xD800 <= high <= 0xDBFF and 0xDC00 <= low <= 0xDFFF:
        return b"&#%d;" % (0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    return found.group(0)


def _valid(found: re.Match[bytes]) -> bytes:
    raw = found.group(1)
    try:
        code = int(raw[1:], 16) if raw[:1] in (b"x", b"X") else int(raw)
    except ValueError:
        code = -1
    allowed = (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )
    return found.group(0) if allowed else "\N{REPLACEMENT CHARACTER}".encode()


def _value(text: str | None) -> str:
    text = (text or "").strip()
    return "" if text.lower() in _NULL else text


def _name(text: str | None) -> str:
    """A contact name as the phone shows it ("" for none: "(Unknown)", "null")."""
    return " ".join(_value(text).split())


def _time(value: str | None) -> datetime:
    """An epoch time in milliseconds (or seconds, as some older backups write MMS times).

    Raises:
        ValueError: no time, or not a number.
    """
    stamp = int((value or "").strip())
    if stamp <= 0:
        raise ValueError("no time")
    seconds = stamp / 1000 if stamp > 10**11 else float(stamp)
    return datetime.fromtimestamp(seconds, tz=UTC)


def _automated(address: str) -> bool:
    """Whether a sender is a business's notifications: a name ("DHL") or a short code."""
    digits = sum(c.isdigit() for c in address)
    return not is_phone(address) or digits < 7


def _person(role: Role, name: str, address: str) -> Participant:
    """The other party: their number (or the sender's name, on the platform "sms")."""
    if is_phone(address):
        return Participant(role=role, name=name, phone=address)
    return Participant(role=role, name=name or address, handle=address, platform="sms")
