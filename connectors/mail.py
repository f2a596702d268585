"""Turn one raw RFC 5322 message into an ``EventRecord``, shared by every email connector.

The mbox, .eml and Maildir readers (and later IMAP) hand the bytes of one
message to ``message_items``, which parses it with the fast ``compat32``
policy, decodes only what is stored (headers in any charset, the plain-text
body, attachment names and sizes) and returns the items to yield: an optional
``OwnerHint`` and the record, or one ``Problem`` with a short reason. It never
raises, whatever the bytes are. Every email uses source ``"email"`` so that a
Message-ID is one event whichever path it came by.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import hashlib
import quopri
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

import charset_normalizer

from app.records import EventRecord, Item, OwnerHint, Participant, Problem, Role

MAX_MESSAGE_BYTES = 25 * 1024 * 1024
MAX_HEADER_BYTES = 1024 * 1024
MAX_MIME_DEPTH = 50
_MAX_HTML_CHARS = 2_000_000
_MAX_ATTACHMENTS = 100

if TYPE_CHECKING:
    _Msg = Message[str, str]
_EARLIEST = datetime(1971, 1, 1, tzinfo=UTC)
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_MSG_ID = re.compile(r"<([^<>]*)>")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_AUTOMATED_LOCALS = ("mailerdaemon", "postmaster", "noreply", "donotreply")
# Declared charsets that real mail mislabels: try a superset instead or as well.
_SUPERSETS: dict[str, tuple[str, ...]] = {
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "shift_jis": ("shift_jis", "cp932"),
    "euc_kr": ("euc_kr", "cp949"),
    "big5": ("big5", "cp950", "big5hkscs"),
    "iso2022_jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2"),
    "iso8859-1": ("cp1252", "latin-1"),
    "ascii": ("ascii",),
}


class MailError(ValueError):
    """A message that cannot become an event; ``str(exc)`` is the short reason."""


def _codecs_for(charset: str | None) -> tuple[str, ...]:
    if not charset:
        return ()
    name = charset.strip().strip("\"'").split("*", 1)[0].lower()
    try:
        canonical = codecs.lookup(name).name
    except (LookupError, ValueError):
        return ()
    return _SUPERSETS.get(canonical, (canonical,))


def _western(data: bytes) -> str | None:
    """``data`` as Windows-1252 if it reads like Western European text, else None."""
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    letters = high = run = 0
    for ch in text[:65536]:
        if ch.isalpha():
            letters += 1
        if ord(ch) < 128:
            run = 0
            continue
        high += 1
        run += 1
        if run >= 3 or not (ch.isalpha() or ch in "\xa0–—‘’‚“”„…•€°«»·©®™"):
            return None
    return text if high * 5 <= letters * 2 else None


def decode_bytes(data: bytes, charset: str | None = None, hints: Sequence[str] = ()) -> str:
    """Decode bytes of unknown quality to text, never failing.

    Valid UTF-8 wins (mail often declares a charset it does not use), then the
    declared charset (gb2312 read as gb18030, Shift_JIS also as cp932, …), then
    charsets declared elsewhere in the same message, then Windows-1252 when the
    text reads as Western European, then charset-normalizer's best guess, then
    Windows-1252 with replacement. UTF-16/32 and 7-bit ISO-2022/UTF-7 declared
    charsets are tried first, since their bytes can look like ASCII.

    Args:
        data: the bytes.
        charset: the declared charset, if any.
        hints: other charsets the message declares.

    Returns:
        The text.
    """
    declared = _codecs_for(charset)
    tries: list[str] = []
    if declared and declared[0].startswith(("utf-16", "utf-32", "iso2022", "utf-7", "hz")):
        tries += declared
    tries += ["ascii", "utf-8", *declared]
    tries += [c for hint in hints for c in _codecs_for(hint)]
    for codec in dict.fromkeys(tries):
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    western = _western(data)
    if western is not None:
        return western
    best = charset_normalizer.from_bytes(data[:65536]).best()
    if best is not None:
        with contextlib.suppress(LookupError):
            return data.decode(best.encoding, errors="replace")
    return data.decode("cp1252", errors="replace")


def _word_bytes(kind: str, payload: str) -> bytes:
    if kind in "bB":
        clean = re.sub(r"[^A-Za-z0-9+/]", "", payload)
        clean = clean[: len(clean) - 1] if len(clean) % 4 == 1 else clean
        try:
            return base64.b64decode(clean + "=" * (-len(clean) % 4))
        except (binascii.Error, ValueError):
            return payload.encode("utf-8", "replace")
    return binascii.a2b_qp(payload.encode("utf-8", "replace"), header=True)


def decode_words(text: str, hints: Sequence[str] = ()) -> str:
    """Decode the RFC 2047 encoded words (``=?charset?B|Q?…?=``) in a header value.

    Whitespace between adjacent encoded words is dropped and adjacent words in
    one charset are joined before decoding, so a character split across two
    words survives. Any charset works; unknown ones fall back as in
    ``decode_bytes``.

    Args:
        text: the header value (already text).
        hints: charsets to try when a word's own charset fails.

    Returns:
        The decoded value.
    """
    if "=?" not in text:
        return text
    out: list[str] = []
    pending: list[tuple[str, bytearray]] = []
    pos = 0

    def flush() -> None:
        out.extend(decode_bytes(bytes(data), cs, hints) for cs, data in pending)
        pending.clear()

    for match in _ENCODED_WORD.finditer(text):
        between = text[pos : match.start()]
        if not pending or between.strip():
            flush()
            out.append(between)
        charset = match.group(1).split("*", 1)[0].lower()
        data = _word_bytes(match.group(2), match.group(3))
        if pending and pending[-1][0] == charset:
            pending[-1][1].extend(data)
        else:
            pending.append((charset, bytearray(data)))
        pos = match.end()
    flush()
    out.append(text[pos:])
    return "".join(out)


class _Headers:
    """The message's headers as raw values, decoded from 8-bit on demand."""

    def __init__(self, msg: _Msg) -> None:
        self._raw: dict[str, list[str]] = {}
        for name, value in msg.raw_items():
            self._raw.setdefault(name.strip().lower(), []).append(value)
        found = _ENCODED_WORD.findall(" ".join(v for vs in self._raw.values() for v in vs))
        hints = [cs for cs, _, _ in found]
        with contextlib.suppress(TypeError, ValueError, LookupError):
            hints.append(msg.get_content_charset() or "")
        self.hints = tuple(dict.fromkeys(h.lower() for h in hints if h))

    def all_raw(self, name: str) -> list[str]:
        """Every value of ``name``, unfolded and 8-bit-decoded, encoded words left alone."""
        return [self._text(v) for v in self._raw.get(name, ())]

    def raw(self, name: str) -> str | None:
        values = self._raw.get(name)
        return self._text(values[0]) if values else None

    def text(self, name: str) -> str:
        value = self.raw(name)
        return " ".join(decode_words(value, self.hints).split()) if value else ""

    def _text(self, value: str) -> str:
        value = _FOLD.sub("", value).replace("\r", "").replace("\n", "")
        if not value.isascii():
            with contextlib.suppress(UnicodeEncodeError):
                value = decode_bytes(value.encode("ascii", "surrogateescape"), None, self.hints)
        return value.strip()


def _valid_address(addr: str) -> bool:
    local, _, domain = addr.rpartition("@")
    return bool(local and domain) and not re.search(r"[\s<>,;:@()\"]", local + domain)


def split_addresses(value: str) -> list[tuple[str, str]]:
    """Split an address-list header into (display name, address) pairs.

    Handles quoted names with commas, comments, group syntax
    (``Team: a@x, b@y;``) and a display name that is itself an address
    (``alice@example.com <bob@example.com>`` is bob). Encoded words are left
    alone, so decode names afterwards: an encoded comma stays inside one name.
    Entries without a usable ``local@domain`` address are skipped.

    Args:
        value: the unfolded header value.

    Returns:
        The (name, address) pairs in order, names not yet decoded.
    """
    result: list[tuple[str, str]] = []
    outside: list[str] = []
    comments: list[str] = []
    angle: list[str] | None = None
    in_quote = in_angle = escape = False
    depth = 0

    def flush() -> None:
        if angle is not None:
            addr, name = "".join(angle), "".join(outside) or "".join(comments)
        else:
            addr, name = "".join(outside), "".join(comments)
        addr = addr.strip()
        if addr.startswith("@") and ":" in addr:  # obsolete source route
            addr = addr.split(":", 1)[1]
        if not _valid_address(addr) and angle is None:  # e.g. an unterminated quote
            match = re.search(r"<([^<>\s]+@[^<>\s]+)>", addr)
            if match:
                addr, name = match.group(1), addr[: match.start()]
        if _valid_address(addr):
            result.append((" ".join(name.split()), addr))

    for ch in value:
        target = angle if in_angle and angle is not None else outside
        if escape:
            (comments if depth else target).append(ch)
            escape = False
        elif ch == "\\" and (in_quote or depth):
            escape = True
        elif in_quote:
            if ch == '"':
                in_quote = False
            else:
                target.append(ch)
        elif depth:
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth:
                comments.append(ch)
        elif ch == '"':
            in_quote = True
        elif ch == "(":
            depth = 1
            comments.append(" ")
        elif in_angle:
            if ch == ">":
                in_angle = False
            else:
                target.append(ch)
        elif ch == "<":
            in_angle, angle = True, []
        elif ch in ",;":
            flush()
            outside, comments, angle = [], [], None
        elif ch == ":" and angle is None:
            outside, comments = [], []  # a group's name
        else:
            outside.append(ch)
    flush()
    return result


def _participants(headers: _Headers) -> list[Participant]:
    roles: tuple[Role, ...] = ("from", "to", "cc", "bcc")
    seen: set[tuple[str, str]] = set()
    people: list[Participant] = []
    for role in roles:
        for value in headers.all_raw(role):
            for name, addr in split_addresses(value):
                key = (role, addr.lower())
                if key in seen:
                    continue
                seen.add(key)
                display = " ".join(decode_words(name, headers.hints).split()).strip("\"' ")
                people.append(Participant(role=role, name=display, email=addr))
    return people


def parse_date(value: str | None) -> datetime | None:
    """An RFC 5322 date as aware UTC, or None if missing, unreadable or impossible.

    Dates without a zone (or ``-0000``) are taken as UTC. Dates before 1971 or
    more than two days in the future (year 3609 spam) count as impossible.

    Args:
        value: the header value.

    Returns:
        The UTC datetime or None.
    """
    if not value or not value.strip():
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        parsed = parsed.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if not _EARLIEST <= parsed <= datetime.now(UTC) + timedelta(days=2):
        return None
    return parsed


def _occurred_at(headers: _Headers) -> tuple[datetime, bool]:
    date = parse_date(headers.raw("date"))
    if date is not None:
        return date, False
    for received in headers.all_raw("received"):  # the top one is the latest hop
        if ";" in received:
            date = parse_date(received.rsplit(";", 1)[1])
            if date is not None:
                return date, True
    raise MailError("no usable date: Date header missing or invalid and no Received date")


class _HtmlText(HTMLParser):
    _SKIP = frozenset({"script", "style", "head", "title", "noscript", "template"})
    _PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "pre"})
    _BLOCK = _PARAGRAPH | {"div", "li", "tr", "blockquote", "hr", "dl", "dt", "dd", "section"}
    _BLOCK |= {"article", "header", "footer", "nav", "aside", "form", "address", "center"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = self._pre = self._newlines = 0

    def _emit(self, text: str) -> None:
        self.parts.append(text)
        stripped = text.rstrip("\n")
        if stripped.strip(" "):
            self._newlines = len(text) - len(stripped)
        else:
            self._newlines += len(text) - len(stripped)

    def _break(self, tag: str) -> None:
        wanted = 2 if tag in self._PARAGRAPH else 1
        if self.parts and self._newlines < wanted:
            self._emit("\n" * (wanted - self._newlines))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "body":
            self._skip = 0  # an unclosed <head> must not hide the body
        elif tag == "br":
            self._emit("\n")
        elif tag in self._BLOCK:
            self._break(tag)
            self._pre += tag == "pre"
            if tag == "li":
                self._emit("- ")
        elif tag in ("td", "th"):
            self._emit(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self._break(tag)
            self._pre = max(0, self._pre - (tag == "pre"))

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._emit(data if self._pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Plain text from HTML, for messages that have no text/plain part.

    Drops script, style and head; starts a new line at block elements and
    ``<br>``; unescapes entities; keeps at most one blank line in a row. Only
    the first two million characters are read, to bound the time spent.

    Args:
        html: the HTML source.

    Returns:
        The text, stripped.
    """
    parser = _HtmlText()
    try:
        parser.feed(html[:_MAX_HTML_CHARS])
        parser.close()
    except (AssertionError, ValueError):  # very malformed markup: keep what was read
        pass
    text = "".join(parser.parts).replace("\xa0", " ")
    lines = [line.strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _unflow(text: str, delsp: bool) -> str:
    """Join the soft line breaks of ``format=flowed`` text (RFC 3676)."""
    out: list[str] = []
    joining = False
    for line in text.split("\n"):
        line = line[1:] if line.startswith(" ") else line
        soft = line.endswith(" ") and line != "-- "
        if soft and delsp:
            line = line[:-1]
        if joining:
            out[-1] += line
        else:
            out.append(line)
        joining = soft
    return "\n".join(out)


def _filename(part: _Msg) -> str | None:
    try:
        return part.get_filename()
    except (TypeError, ValueError, LookupError, UnicodeError):
        return None


def _payload_bytes(part: _Msg) -> bytes:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return b""
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte in ("quoted printable", "quoted_printable", "quotedprintable", "qp"):
        data = quopri.decodestring(data)
    return data


def _part_text(part: _Msg, hints: Sequence[str]) -> str:
    try:
        charset = part.get_content_charset()
    except (TypeError, ValueError, LookupError):
        charset = None
    text = decode_bytes(_payload_bytes(part), charset, hints)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if str(part.get_param("format", "")).lower() == "flowed":
        text = _unflow(text, str(part.get_param("delsp", "")).lower() == "yes")
    return text


class _Body:
    """Walks the MIME tree collecting text parts and attachment descriptions."""

    def __init__(self, hints: Sequence[str]) -> None:
        self.hints = hints
        self.plain: list[str] = []
        self.html: list[str] = []
        self.attachments: list[dict[str, Any]] = []
        self.omitted = 0

    def walk(self, part: _Msg, depth: int = 0) -> None:
        if depth > MAX_MIME_DEPTH:
            raise MailError(f"MIME parts nested more than {MAX_MIME_DEPTH} levels deep")
        ctype = part.get_content_type()
        maintype, _, subtype = ctype.partition("/")
        payload = part.get_payload()
        if maintype == "message":
            self._attach(part, ctype)
        elif maintype == "multipart" and isinstance(payload, list):
            children = [c for c in payload if isinstance(c, Message)]
            if subtype == "alternative":
                self._alternative(children, depth)
            else:
                for child in children:
                    self.walk(child, depth + 1)
        elif maintype == "multipart" or (
            maintype == "text" and subtype in ("plain", "html") and not self._is_attachment(part)
        ):
            text = _part_text(part, self.hints)
            (self.html if subtype == "html" else self.plain).append(text)
        else:
            self._attach(part, ctype)

    def _alternative(self, children: list[_Msg], depth: int) -> None:
        def rank(child: _Msg) -> int:
            ctype = child.get_content_type()
            return {"text/plain": 0, "text/html": 2}.get(ctype, 1 if child.is_multipart() else 3)

        for child in sorted(children, key=rank):
            trial = _Body(self.hints)
            trial.walk(child, depth + 1)
            if any(t.strip() for t in trial.plain + trial.html):
                self.plain += trial.plain
                self.html += trial.html
                self.attachments += trial.attachments
                self.omitted += trial.omitted
                return

    @staticmethod
    def _is_attachment(part: _Msg) -> bool:
        disposition = (part.get_content_disposition() or "").lower()
        return disposition == "attachment" or (
            disposition != "inline" and _filename(part) is not None
        )

    def _attach(self, part: _Msg, ctype: str) -> None:
        if len(self.attachments) >= _MAX_ATTACHMENTS:
            self.omitted += 1
            return
        name = decode_words(_filename(part) or "", self.hints).strip()
        try:
            inner = part.get_payload()
            if not ctype.startswith("message/"):
                size = len(_payload_bytes(part))
            elif isinstance(inner, list):
                size = sum(len(m.as_bytes()) for m in inner if isinstance(m, Message))
            else:
                size = len(str(inner))
        except Exception:  # the size is best effort; the message still imports
            size = 0
        self.attachments.append({"name": name, "type": ctype, "size": size})

    def text(self) -> str:
        plain = "\n\n".join(t.strip("\n") for t in self.plain if t.strip())
        if plain:
            return plain.rstrip()
        return "\n\n".join(html_to_text(h) for h in self.html if h.strip()).strip()


def _first_id(value: str | None) -> str | None:
    if not value:
        return None
    match = _MSG_ID.search(value)
    found = (match.group(1) if match else value).strip()
    return found or None


def _labels(headers: _Headers) -> list[str]:
    labels: list[str] = []
    for value in headers.all_raw("x-gmail-labels"):
        for piece in value.split(","):
            quoted = re.findall(r'"((?:[^"\\]|\\.)*)"', piece)
            for label in quoted or [piece]:
                label = label.replace("\\", "").strip()
                if label:
                    labels.append(label)
    return labels


def _is_automated(headers: _Headers, msg: _Msg, sender: str | None) -> bool:
    if re.fullmatch(r"<\s*>", headers.raw("return-path") or "x"):
        return True
    if msg.get_content_type() == "multipart/report":
        return True
    if sender:
        local = sender.rpartition("@")[0].lower().split("+", 1)[0]
        if re.sub(r"[-_.]", "", local).startswith(_AUTOMATED_LOCALS):
            return True
    auto = headers.raw("auto-submitted")
    if auto is not None and auto.strip().lower().split(" ")[0].rstrip(";") not in ("no", ""):
        return True
    if headers.raw("list-id") is not None or headers.raw("list-unsubscribe") is not None:
        return True
    return (headers.raw("precedence") or "").strip().lower() in ("bulk", "list", "junk")


def _check_limits(raw: bytes) -> None:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MailError(f"message larger than {MAX_MESSAGE_BYTES // (1024 * 1024)} MB; skipped")
    if len(raw) > MAX_HEADER_BYTES:
        head = raw[: MAX_HEADER_BYTES + 4]
        if b"\n\n" not in head and b"\n\r\n" not in head:
            raise MailError("header block larger than 1 MB; skipped")


def parse_message(raw: bytes, locator: str = "") -> EventRecord:
    """Parse one raw RFC 5322 message into an email event.

    Args:
        raw: the message bytes (without an mbox ``From `` line).
        locator: where the message came from, stored on the record.

    Returns:
        The record (direction left None for the ingest path to decide).

    Raises:
        MailError: the message is too large or too deep, or has no usable date.
    """
    _check_limits(raw)
    try:
        msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    except RecursionError as exc:
        raise MailError("MIME parts nested too deeply") from exc
    headers = _Headers(msg)
    occurred_at, from_received = _occurred_at(headers)
    title = headers.text("subject") or "(no subject)"
    body = _Body(headers.hints)
    body.walk(msg)
    text = body.text()
    participants = _participants(headers)
    sender = next((p.email for p in participants if p.role == "from"), None)

    message_id = _first_id(headers.raw("message-id"))
    in_reply_to = _first_id(headers.raw("in-reply-to"))
    refs_value = " ".join(headers.all_raw("references"))
    references = _MSG_ID.findall(refs_value) or refs_value.split()
    references = [r.strip() for r in references if r.strip()]
    if message_id:
        external_id = message_id
    else:
        basis = [" ".join((headers.raw("date") or "").split()), headers.text("from")]
        basis += [headers.text("to"), title, text]
        external_id = "sha256:" + hashlib.sha256("\x1f".join(basis).encode()).hexdigest()
    gmail_thread = headers.raw("x-gm-thrid") or headers.raw("x-gmail-thrid")
    if gmail_thread:
        thread_key = "gmail:" + gmail_thread.strip()
    else:
        thread_key = (references[0] if references else None) or in_reply_to or external_id

    details: dict[str, Any] = {
        "message_id": message_id,
        "in_reply_to": in_reply_to,
        "references": references,
        "attachments": body.attachments,
        "automated": _is_automated(headers, msg, sender),
    }
    if body.omitted:
        details["attachments_omitted"] = body.omitted
    labels = _labels(headers)
    if labels:
        details["labels"] = labels
    if from_received:
        details["date_from"] = "received"
    return EventRecord(
        channel="email",
        source="email",
        external_id=external_id,
        occurred_at=occurred_at,
        title=title,
        text=text,
        participants=tuple(participants),
        thread_key=thread_key,
        details=details,
        locator=locator,
    )


def message_items(raw: bytes, locator: str, owners_seen: set[str]) -> list[Item]:
    """The items one message yields; never raises.

    Returns ``[record]``, or ``[OwnerHint, record]`` when Gmail labelled the
    message "Sent" and its sender was not hinted yet, or ``[Problem]`` with a
    short reason when the message cannot be read.

    Args:
        raw: the message bytes.
        locator: where it came from ("file.mbox:120").
        owners_seen: lower-cased owner addresses already hinted for this file;
            updated in place.

    Returns:
        The items, in the order to yield them.
    """
    try:
        record = parse_message(raw, locator)
    except MailError as exc:
        return [Problem(locator, str(exc))]
    except Exception as exc:  # any input at all must not stop the stream
        reason = f"unreadable message ({type(exc).__name__}: {exc})"
        return [Problem(locator, reason[:200])]
    items: list[Item] = []
    labels = record.details.get("labels") or ()
    sender = next((p.email for p in record.participants if p.role == "from"), None)
    if sender and "Sent" in labels and sender.lower() not in owners_seen:
        owners_seen.add(sender.lower())
        items.append(OwnerHint("email", sender))
    items.append(record)
    return items
