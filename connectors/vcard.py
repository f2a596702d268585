"""Address books as vCard files (``.vcf``): who owns which email address and phone number.

What the phone, Google Contacts ("Export › vCard"), iCloud, macOS Contacts, Outlook,
Thunderbird and Evolution write: ``BEGIN:VCARD`` … ``END:VCARD`` blocks of content lines
(RFC 2426 for vCard 3.0, RFC 6350 for 4.0, and the older vCard 2.1 that Android and
Outlook still write). Each card becomes a ``ContactCard``: its name (``FN``, else ``N``,
else ``ORG``), its email addresses and its voice and mobile numbers (fax and pager
numbers are no one's chat). The ingest path puts them on one customer, so that a
WhatsApp number and an email address the owner's address book ties together are one
person's history.

Read line by line (``connectors.textfile``: a file of any size, a line of any length), the
encoding detected for the whole file. What the writers do that the standards do not
say, as their files show (ez-vcard's test files, written by each of those programs):
vCard 2.1's bare parameters (``TEL;CELL;PREF``) beside 3.0's ``type=cell`` and 4.0's
``TYPE="cell,voice"``; quoted-printable values with their own ``CHARSET`` and soft line
breaks (Android, Outlook); Apple's ``item1.`` groups; 4.0's ``tel:`` URIs; base64 photos
and keys folded over hundreds of lines, which are skipped unread. A card that is cut short
still gives what it holds, with a problem at its line; one whose value cannot be decoded
loses that value only. The ``vobject`` library refuses a whole file over one such photo
(Android's export) and over Lotus Notes' cards, so it is not used.
"""

from __future__ import annotations

import io
import quopri
import re
from collections.abc import Iterator
from email.utils import parseaddr
from pathlib import Path
from typing import TextIO

from app.errors import FormatError
from app.records import Channel, ContactCard, Item, Notice, ParseOptions, Problem
from connectors.textfile import bounded_lines, detect_encoding

MAX_LINE_CHARS = 64 * 1024  # a content line's characters kept (a photo's are skipped)
MAX_VALUES = 50  # email addresses or phone numbers of one card kept
# Properties whose values are binary (base64) or never a contact point: not decoded.
_SKIPPED = frozenset({"PHOTO", "LOGO", "SOUND", "KEY", "AGENT"})
_NAME = re.compile(r"^(?:[A-Za-z0-9-]+\.)?([A-Za-z0-9-]+)")
_NOT_VOICE = frozenset({"FAX", "PAGER", "MODEM", "BBS", "TEXTPHONE", "MINITEL"})
_BEGIN = re.compile(r"^BEGIN\s*:\s*VCARD\s*$", re.IGNORECASE)
_END = re.compile(r"^END\s*:\s*VCARD\s*$", re.IGNORECASE)
_AGENT = re.compile(r"^(?:[A-Za-z0-9-]+\.)?AGENT(?:;[^:]*)?:\s*$", re.IGNORECASE)  # a card follows


class VCardConnector:
    """Contact cards (``.vcf``): one ``ContactCard`` per card."""

    name = "vcard"
    label = "Address book (vCard .vcf)"
    channel: Channel = "chat"  # (no events: the cards link contact points)
    extensions: tuple[str, ...] = (".vcf", ".vcard")

    def sniff(self, path: Path, head: bytes) -> float:
        """0.95 when the file starts with ``BEGIN:VCARD`` (after a BOM and blank lines); 0.9
        when a card begins further on; 0.4 for a ``.vcf`` without one in its first bytes
        (a damaged address book, which the reader then names as such)."""
        text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
        if text[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16
            text = text.decode("utf-16", errors="ignore").encode("ascii", errors="ignore")
            text = text.lstrip()
        if text[:11].upper() == b"BEGIN:VCARD":
            return 0.95
        if b"\nBEGIN:VCARD" in text.upper():
            return 0.9
        return 0.4 if path.suffix.lower() in self.extensions else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield the file's cards, problems, and a notice for cards with nothing to link.

        Raises:
            FormatError: the file holds no vCard.
        """
        size = path.stat().st_size
        with path.open("rb") as fh:
            stream = io.TextIOWrapper(fh, encoding=detect_encoding(fh), errors="replace")
            cards = empty = 0
            for item in _cards(stream, path.name, options):
                if isinstance(item, ContactCard):
                    cards += 1
                    if options.progress is not None and cards % 500 == 0:
                        options.progress(min(fh.tell(), size), size)
                    if not item.emails and not item.phones:
                        empty += 1
                        continue
                yield item
            if options.progress is not None:
                options.progress(size, size)
        if cards == 0:
            raise FormatError(f"{path.name}: no contact card in the file (no BEGIN:VCARD)")
        if empty:
            yield Notice(
                f"{empty} of {cards} contacts have no email address or phone number: "
                "nothing to link"
            )


def _cards(stream: TextIO, name: str, options: ParseOptions) -> Iterator[Item]:
    """The cards of a text stream (``ContactCard`` and ``Problem`` items)."""
    card: _Card | None = None
    for number, line in _logical_lines(stream):
        if options.should_cancel is not None and options.should_cancel():
            return
        if _BEGIN.match(line):
            if card is not None:
                if card.agent or card.depth:  # (a card inside this one: vCard 2.1's AGENT)
                    card.depth += 1
                    card.agent = False
                    continue
                yield Problem(f"{name}:{card.line}", "card without END:VCARD: read up to the next")
                yield card.made(name)
            card = _Card(number)
            continue
        if card is None:
            continue  # (text between cards)
        if _END.match(line):
            if card.depth:
                card.depth -= 1
                continue
            yield card.made(name)
            card = None
            continue
        if card.depth == 0:
            card.agent = _AGENT.match(line) is not None
            problem = card.read(line)
            if problem:
                yield Problem(f"{name}:{number}", problem)
    if card is not None:
        yield Problem(f"{name}:{card.line}", "card without END:VCARD: the file ends inside it")
        yield card.made(name)


def _logical_lines(stream: TextIO) -> Iterator[tuple[int, str]]:
    """The content lines, unfolded, each with the number of its first physical line.

    A line starting with a space or a tab continues the one before (RFC 6350 folding); a
    quoted-printable value ending in ``=`` continues on the next line (vCard 2.1). The
    lines of a skipped property (a photo) are not joined: only its first one is given.
    """
    current: str | None = None
    start = 0
    skipping = False
    for number, (raw, _cut) in enumerate(bounded_lines(stream, MAX_LINE_CHARS), 1):
        line = raw.rstrip("\r\n")
        if current is not None and line[:1] in (" ", "\t"):
            if not skipping and len(current) < MAX_LINE_CHARS:
                current += line[1:]
            continue
        if current is not None and not skipping and _soft_break(current):
            if len(current) < MAX_LINE_CHARS:
                current = current[:-1] + line
            continue
        if current is not None:
            yield start, current
        current, start = line, number
        found = _NAME.match(line)
        skipping = found is not None and found.group(1).upper() in _SKIPPED
    if current is not None:
        yield start, current


def _soft_break(line: str) -> bool:
    """Whether ``line`` is a quoted-printable value that goes on on the next line."""
    if not line.endswith("="):
        return False
    head = line.split(":", 1)[0].upper()
    return "QUOTED-PRINTABLE" in head


class _Card:
    """What one card says so far."""

    def __init__(self, line: int) -> None:
        self.line = line
        self.depth = 0  # cards inside it (vCard 2.1's AGENT) not ended yet
        self.agent = False  # the last line was an AGENT property whose card follows
        self.formatted = ""
        self.structured = ""
        self.organization = ""
        self.emails: dict[str, None] = {}
        self.phones: dict[str, None] = {}

    def read(self, line: str) -> str:
        """Take one content line; returns a problem's reason, or ""."""
        head, colon, value = _split(line)
        if not colon:
            return ""  # (not a content line: ignored, as readers do)
        found = _NAME.match(head)
        if found is None:
            return ""
        prop = found.group(1).upper()
        if prop not in ("FN", "N", "ORG", "EMAIL", "TEL"):
            return ""
        params = _params(head[found.end() :])
        try:
            text = _decoded(value, params)
        except (ValueError, LookupError, UnicodeError):
            return f"{prop}: a value that cannot be decoded ({params.get('ENCODING', '')})"
        if prop == "FN":
            self.formatted = self.formatted or _unescaped(text).strip()
        elif prop == "N":
            self.structured = self.structured or _structured_name(text)
        elif prop == "ORG":
            self.organization = self.organization or _unescaped(text.split(";")[0]).strip()
        elif prop == "EMAIL":
            address = _unescaped(text).strip().removeprefix("mailto:").strip()
            if "<" in address:  # ("Ann Lee <ann@example.org>", as some programs write it)
                address = parseaddr(address)[1] or address
            if "@" in address and len(self.emails) < MAX_VALUES:
                self.emails.setdefault(address, None)
        elif prop == "TEL" and not (_types(params) & _NOT_VOICE):
            number = _unescaped(text).strip()
            number = number.removeprefix("tel:").split(";", 1)[0].strip()
            if sum(ch.isdigit() for ch in number) >= 5 and len(self.phones) < MAX_VALUES:
                self.phones.setdefault(number, None)
        return ""

    def made(self, file_name: str) -> ContactCard:
        name = self.formatted or self.structured or self.organization
        return ContactCard(
            name=" ".join(name.split()),
            emails=tuple(self.emails),
            phones=tuple(self.phones),
            organization=self.organization,
            locator=f"{file_name}:{self.line}",
        )


def _split(line: str) -> tuple[str, str, str]:
    """A content line's name and parameters, its colon, and its value: the first colon
    outside a quoted parameter value (``TYPE="voice:work"`` does not end the name)."""
    head, colon, value = line.partition(":")
    if '"' not in head:
        return head, colon, value  # (most lines: nothing quoted before the first colon)
    quoted = False
    for at, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return line[:at], ":", line[at + 1 :]
    return line, "", ""


def _params(text: str) -> dict[str, str]:
    """A property's parameters (``;TYPE=cell;PREF`` → {"TYPE": "CELL,PREF"}), upper case;
    vCard 2.1's bare ones (``CELL``, ``QUOTED-PRINTABLE``) filed under their kind."""
    found: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        key, equals, value = part.partition("=")
        if not equals:
            bare = key.upper()
            if bare in ("QUOTED-PRINTABLE", "BASE64", "8BIT", "7BIT", "B"):
                key, value = "ENCODING", bare
            else:
                key, value = "TYPE", bare
        key, value = key.strip().upper(), value.strip().strip('"').upper()
        found[key] = f"{found[key]},{value}" if key in found else value
    return found


def _types(params: dict[str, str]) -> set[str]:
    return {t.strip() for t in params.get("TYPE", "").split(",") if t.strip()}


def _decoded(value: str, params: dict[str, str]) -> str:
    """The value with its encoding undone (quoted-printable, in the value's charset)."""
    if params.get("ENCODING") != "QUOTED-PRINTABLE":
        return value
    data = quopri.decodestring(value.encode("ascii", errors="strict"))
    charset = params.get("CHARSET", "UTF-8").split(",")[0].lower()
    try:
        return data.decode(charset)
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


_ESCAPES = re.compile(r"\\(.)")


def _unescaped(text: str) -> str:
    r"""A text value with its escapes undone (``\,`` → ``,``, ``\n`` → a line break)."""
    return _ESCAPES.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), text)


def _structured_name(text: str) -> str:
    """``N``'s family;given;additional;prefix;suffix as "given additional family"."""
    parts = [_unescaped(p).replace(",", " ").strip() for p in re.split(r"(?<!\\);", text)]
    parts += [""] * (5 - len(parts))
    family, given, additional = parts[0], parts[1], parts[2]
    return " ".join(p for p in (given, additional, family) if p)
