"""Turn one raw RFC 5322 message into an ``EventRecord``, shared by every email connector.

The mbox, .eml and Maildir readers (and IMAP) hand the bytes of one message to
a ``MailReader`` (or ``message_items``), which parses it with the fast
``compat32`` policy, decodes only what is stored (headers in any charset, the
plain-text body, a sanitised copy of the HTML, attachment names and sizes) and
returns the items to yield: an optional ``OwnerHint`` and the record, or one
``Problem`` with a short reason. It never raises, whatever the bytes are.
Every email uses source ``"email"`` so that a Message-ID is one event
whichever path it came by.

Threading rule (``thread_key``), first match wins:

1. a Gmail thread id (``X-GM-THRID``, ``X-GMAIL-THRID``): ``gmail:<id>``;
2. the Message-ID chain: the first ``References`` id (the thread's root),
   else the ``In-Reply-To`` id;
3. only when there is no chain at all and the subject starts with a reply or
   forward prefix (``Re:``, ``AW:``, ``Fwd:``, ``WG:``, ``SV:``, ``回复:`` …):
   the thread of the latest message read from the same source with the same
   normalised subject and the same set of addresses (so an original and a
   client's bare "Re:" reply join), else ``subject:<digest of the normalised
   subject and the addresses>`` (so bare replies in different files still
   join each other);
4. otherwise the message's own id: it starts a thread.

The record's ``details``: ``message_id``, ``in_reply_to``, ``references``,
``attachments`` (name, type, size; names are data, never paths),
``automated`` (no-reply and mailer-daemon senders, platform notifications,
``Auto-Submitted``, ``List-Id``/``List-Unsubscribe``, ``Precedence: bulk``,
reports and bounces), ``lists`` (a mailing list's own addresses, from ``List-Post`` and
``List-Id``, and the people's addresses at a host that serves only lists, such as
``googlegroups.com`` or ``lists.*``: no customers, then or later) and ``via_list``
(nothing but the list's headers made it automated: mail to a group that is the owner's own
address, a support@ Google Group, is a person's), and when they apply ``html`` (sanitised,
nothing remote; see ``mail_text.sanitize_html``) or ``html_truncated``, ``labels``
(Gmail), ``flags`` (mbox ``Status``/``X-Status``, Maildir file names),
``folder`` (Maildir), ``text_truncated``, ``attachments_omitted`` and
``participants_omitted``.

``occurred_at`` is the Date header; when it is missing or impossible (before
1971, more than two days ahead), the latest dated ``Received`` header; else
the first usable fallback date the reader was given (``DATE_FALLBACKS``
order: the mbox ``From `` line, the Maildir file name, the IMAP
INTERNALDATE, Apple Mail's date received, a single file's modification time).
``details["date_from"]`` names the one used ("date", "received", "mbox_from_line",
"maildir_filename", "imap_internaldate", "date_received", "file_mtime"). Only a message with
none of them is a ``Problem``.

Per-message limits (``MAX_MESSAGE_BYTES``, ``MAX_HEADER_BYTES``,
``MAX_MIME_DEPTH``, ``MAX_MIME_PARTS``) turn pathological messages into
problems before the parser can stall on them; ``MAX_TEXT_CHARS`` and
``MAX_PARTICIPANTS`` cap what one message may store.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import html as htmllib
import re
import signal
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import TYPE_CHECKING, Any, TypeAlias

from app.records import (
    MAILBOX_MESSAGES,
    EventRecord,
    Item,
    Notice,
    OwnerHint,
    Participant,
    Problem,
    Role,
)
from connectors.mail_headers import (
    SubjectThreads,
    is_automated_sender,
    normalise_subject,
    parse_date,
    plausible_date,
    split_addresses,
)
from connectors.mail_text import (
    decode_bytes,
    decode_words,
    encoded_word_charsets,
    html_to_text,
    lenient_b64decode,
    lenient_qp_decode,
    sanitize_html,
    unflow,
)

__all__ = [
    "DATE_FALLBACKS",
    "MAX_HEADER_BYTES",
    "MAX_MESSAGE_BYTES",
    "MAX_MIME_DEPTH",
    "MAX_MIME_PARTS",
    "MAX_PARTICIPANTS",
    "MAX_TEXT_CHARS",
    "DateFallback",
    "MailError",
    "MailReader",
    "MessageTooSlowError",
    "decode_bytes",
    "decode_words",
    "html_to_text",
    "is_automated_sender",
    "message_items",
    "normalise_subject",
    "parse_date",
    "parse_message",
    "rebuilt_message",
    "split_addresses",
]

MAX_MESSAGE_BYTES = 25 * 1024 * 1024
MAX_HEADER_BYTES = 1024 * 1024
MAX_MIME_DEPTH = 50
MAX_MIME_PARTS = 5000
MAX_PARTICIPANTS = 500
MAX_TEXT_CHARS = 1_000_000
_MAX_ATTACHMENTS = 100
# Messages attached to a message ("Forward as attachment") whose text is read into its own;
# past these, they are listed as attachments only.
_MAX_FORWARDED = 10
_FORWARDED = "---------- Forwarded message ----------"
_FORWARDED_HEADERS = (("From", "from"), ("Date", "date"), ("Subject", "subject"), ("To", "to"))
# Where a date may come from when the headers have none, in the order they are tried.
DATE_FALLBACKS = (
    "mbox_from_line",
    "maildir_filename",
    "imap_internaldate",
    "date_received",  # Apple Mail's (``connectors.apple_mail``)
    "file_mtime",
)
# (a ``DATE_FALLBACKS`` name, the date, None, or a function giving it only when needed)
DateFallback: TypeAlias = tuple[str, datetime | Callable[[], datetime | None] | None]

if TYPE_CHECKING:
    _Msg = Message[str, str]


class _IndexedMessage(Message):
    """A ``compat32`` message whose header look-ups go through an index.

    The stdlib scans every header, lower-casing each name, on each ``get`` and ``in``;
    the parser and the reader look a message's headers up dozens of times (the content
    type alone about ten), so that scan was a good part of reading a message. The index
    is rebuilt whenever the header list is replaced, grows (``set_raw``, as the parser
    adds each header), or is changed in place.
    """

    # (id and length of the header list, first header by lower-cased name, values derived
    # from the headers: the content type, each header's parameters)
    _index: tuple[int, int, dict[str, tuple[str, Any]], dict[str, Any]] | None = None

    def _current(self) -> tuple[int, int, dict[str, tuple[str, Any]], dict[str, Any]]:
        headers = self._headers  # type: ignore[attr-defined]
        index = self._index
        if index is None or index[0] != id(headers) or index[1] != len(headers):
            found: dict[str, tuple[str, Any]] = {}
            for key, value in headers:
                found.setdefault(key.lower(), (key, value))
            index = self._index = (id(headers), len(headers), found, {})
        return index

    def _lookup(self) -> dict[str, tuple[str, Any]]:
        return self._current()[2]

    def get_content_type(self) -> str:
        derived = self._current()[3]
        ctype = derived.get("")
        if ctype is None:
            ctype = super().get_content_type()
            if "content-type" in self._lookup():  # else the default type, which may change
                derived[""] = ctype
        return str(ctype)

    def _get_params_preserve(self, failobj: Any, header: str) -> Any:
        name = header.lower()
        derived = self._current()[3]
        params = derived.get(name)
        if params is None:
            params = super()._get_params_preserve(failobj, header)  # type: ignore[misc]
            if name in self._lookup():
                derived[name] = params
        return params

    def get(self, name: str, failobj: Any = None) -> Any:
        found = self._lookup().get(name.lower())
        if found is None:
            return failobj
        return self.policy.header_fetch_parse(*found)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def __setitem__(self, name: str, value: Any) -> None:
        self._index = None
        super().__setitem__(name, value)

    def __delitem__(self, name: str) -> None:
        self._index = None
        super().__delitem__(name)

    def replace_header(self, _name: str, _value: Any) -> None:
        self._index = None
        super().replace_header(_name, _value)


_PARSER = BytesParser(_class=_IndexedMessage, policy=policy.compat32)
_MSG_ID = re.compile(r"<([^<>]*)>")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_CTE_ALIASES = {
    "quoted printable": "quoted-printable",
    "quoted_printable": "quoted-printable",
    "quotedprintable": "quoted-printable",
    "qp": "quoted-printable",
    "base-64": "base64",
}
_MBOX_FLAGS = {"R": "seen", "A": "replied", "F": "flagged", "D": "trashed", "T": "draft"}


class MailError(ValueError):
    """A message that cannot become an event; ``str(exc)`` is the short reason."""


class _Headers:
    """The message's headers as raw values, decoded from 8-bit on demand."""

    def __init__(self, msg: _Msg) -> None:
        self._raw: dict[str, list[str]] = {}
        for name, value in msg.raw_items():
            self._raw.setdefault(name.strip().lower(), []).append(value)
        hints = [
            cs
            for name in ("subject", "from", "to", "cc")
            for value in self._raw.get(name, ())
            for cs in encoded_word_charsets(value)
        ]
        with contextlib.suppress(TypeError, ValueError, LookupError):
            hints.append(msg.get_content_charset() or "")
        self.hints = tuple(dict.fromkeys(h for h in hints if h))

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
        if "\n" in value or "\r" in value:
            value = _FOLD.sub("", value).replace("\r", "").replace("\n", "")
        if not value.isascii():
            with contextlib.suppress(UnicodeEncodeError):
                value = decode_bytes(value.encode("ascii", "surrogateescape"), None, self.hints)
        return value.replace("\x00", "").strip()


def _participants(headers: _Headers) -> tuple[list[Participant], int]:
    """The From/To/Cc/Bcc people (at most ``MAX_PARTICIPANTS``) and how many were left out."""
    roles: tuple[Role, ...] = ("from", "to", "cc", "bcc")
    seen: set[tuple[str, str]] = set()
    people: list[Participant] = []
    omitted = 0
    for role in roles:
        for value in headers.all_raw(role):
            for name, addr in split_addresses(value):
                key = (role, addr.lower())
                if key in seen:
                    continue
                seen.add(key)
                if len(people) >= MAX_PARTICIPANTS:
                    omitted += 1
                    continue
                display = " ".join(decode_words(name, headers.hints).split()).strip("\"' ")
                people.append(Participant(role=role, name=display, email=addr))
    return people, omitted


def _occurred_at(headers: _Headers, fallbacks: Sequence[DateFallback]) -> tuple[datetime, str]:
    """The message's date and where it came from (``details["date_from"]``)."""
    date = parse_date(headers.raw("date"))
    if date is not None:
        return date, "date"
    for received in headers.all_raw("received"):  # the top one is the latest hop
        if ";" in received:
            date = parse_date(received.rsplit(";", 1)[1])
            if date is not None:
                return date, "received"
    rank = {name: n for n, name in enumerate(DATE_FALLBACKS)}
    for name, value in sorted(fallbacks, key=lambda f: rank.get(f[0], len(rank))):
        date = plausible_date(value() if callable(value) else value)
        if date is not None:
            return date, name
    raise MailError("no usable date: Date header missing or invalid and no Received date")


def _filename(part: _Msg) -> str | None:
    try:
        return part.get_filename()
    except (TypeError, ValueError, LookupError, UnicodeError):
        return None


def _cte(part: _Msg) -> tuple[str, bool]:
    """The part's transfer encoding, normalised, and whether the stdlib decodes that spelling."""
    declared = str(part.get("content-transfer-encoding", "")).lower()
    value = declared.split(";", 1)[0].strip()
    value = _CTE_ALIASES.get(value, value)
    return value, value == declared


def _payload_bytes(part: _Msg) -> bytes:
    cte, stdlib_decodes = _cte(part)
    if cte == "quoted-printable" or (cte == "base64" and not stdlib_decodes):
        payload = part.get_payload()  # "BASE64 ", "quoted printable": decoded here
        if not isinstance(payload, str):
            return b""
        data = payload.encode("utf-8", "surrogateescape")
        return lenient_b64decode(data) if cte == "base64" else lenient_qp_decode(data)
    decoded = part.get_payload(decode=True)
    return decoded if isinstance(decoded, bytes) else b""


def _payload_size(part: _Msg) -> int:
    """The decoded size of a leaf part, without decoding base64 (which is most of the bytes)."""
    payload = part.get_payload()
    if isinstance(payload, str) and _cte(part)[0] == "base64":
        body = payload.encode("ascii", "surrogateescape")
        data = len(body) - sum(body.count(c) for c in (b"\n", b"\r", b" ", b"\t"))
        pad = len(body.rstrip()) - len(body.rstrip().rstrip(b"="))
        return max(0, (data - pad) * 3 // 4)
    return len(_payload_bytes(part))


def _part_text(part: _Msg, hints: Sequence[str]) -> str:
    try:
        charset = part.get_content_charset()
    except (TypeError, ValueError, LookupError):
        charset = None
    text = decode_bytes(_payload_bytes(part), charset, hints).replace("\x00", "")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "flowed" in str(part.get("content-type", "")).lower() and (
        str(part.get_param("format", "")).lower() == "flowed"
    ):
        text = unflow(text, str(part.get_param("delsp", "")).lower() == "yes")
    return text


@dataclasses.dataclass(frozen=True)
class _Forwarded:
    """A message attached to this one: its header lines ("From: …"), its text, and its
    HTML for display (if any)."""

    headers: tuple[str, ...]
    text: str
    html: str

    def block(self) -> str:
        """The message as text, below a "Forwarded message" line, as mail programs quote
        a forward."""
        head = "\n".join((_FORWARDED, *self.headers))
        return f"{head}\n\n{self.text}" if self.text else head

    def html_block(self) -> str:
        """The same as HTML (its own HTML, else its text), for a message shown as HTML."""
        head = "<br>".join(htmllib.escape(line) for line in (_FORWARDED, *self.headers))
        shown = self.html or (f"<pre>{htmllib.escape(self.text)}</pre>" if self.text else "")
        return f"<hr><p>{head}</p>{shown}"


class _Body:
    """Walks the MIME tree collecting text parts, attachment descriptions and the messages
    attached to it (``forwarded``: their text is read as part of this one's, below a
    "Forwarded message" line, so that a forward as attachment is found by its words)."""

    def __init__(self, hints: Sequence[str]) -> None:
        self.hints = hints
        self.plain: list[str] = []
        self.html: list[str] = []
        self.shown_html: list[str] = []  # HTML for display, also when plain text wins
        self.attachments: list[dict[str, Any]] = []
        self.forwarded: list[_Forwarded] = []
        self.omitted = 0
        self.report = False  # inside a delivery report: its returned message is no forward

    def walk(self, part: _Msg, depth: int = 0) -> None:
        if depth > MAX_MIME_DEPTH:
            raise MailError(f"MIME parts nested more than {MAX_MIME_DEPTH} levels deep")
        ctype = part.get_content_type()
        maintype, _, subtype = ctype.partition("/")
        payload = part.get_payload()
        if maintype == "message":
            self._attach(part, ctype)
            if subtype in ("rfc822", "global") and not self.report:
                self._forward(payload, depth)
        elif maintype == "multipart" and isinstance(payload, list):
            children = [c for c in payload if isinstance(c, Message)]
            if subtype == "alternative":
                self._alternative(children, depth)
            else:
                report, self.report = self.report, self.report or subtype == "report"
                for child in children:
                    self.walk(child, depth + 1)
                self.report = report
        elif maintype == "multipart" or (
            maintype == "text" and subtype in ("plain", "html") and not self._is_attachment(part)
        ):
            text = _part_text(part, self.hints)
            if subtype == "html":
                self.html.append(text)
                self.shown_html.append(text)
            else:
                self.plain.append(text)
        else:
            self._attach(part, ctype)

    def _alternative(self, children: list[_Msg], depth: int) -> None:
        def rank(child: _Msg) -> int:
            ctype = child.get_content_type()
            return {"text/plain": 0, "text/html": 2}.get(ctype, 1 if child.is_multipart() else 3)

        chosen = shown = False
        for child in sorted(children, key=rank):
            trial = _Body(self.hints)
            trial.report = self.report
            trial.walk(child, depth + 1)
            if not chosen and any(t.strip() for t in trial.plain + trial.html):
                chosen = True
                self.plain += trial.plain
                self.html += trial.html
                self.attachments += trial.attachments
                self.forwarded += trial.forwarded
                self.omitted += trial.omitted
            if not shown and any(h.strip() for h in trial.shown_html):
                shown = True
                self.shown_html += trial.shown_html
            if chosen and shown:
                return

    @staticmethod
    def _is_attachment(part: _Msg) -> bool:
        if (
            "content-disposition" not in part
            and "name" not in str(part.get("content-type", "")).lower()
        ):
            return False  # no disposition and no file name: the common inline text part
        disposition = (part.get_content_disposition() or "").lower()
        return disposition == "attachment" or (
            disposition != "inline" and _filename(part) is not None
        )

    def _attach(self, part: _Msg, ctype: str) -> None:
        if len(self.attachments) >= _MAX_ATTACHMENTS:
            self.omitted += 1
            return
        name = decode_words(_filename(part) or "", self.hints).replace("\x00", "").strip()
        try:
            inner = part.get_payload()
            if not name and isinstance(inner, list) and inner and isinstance(inner[0], Message):
                name = _Headers(inner[0]).text("subject")  # (a message without a file name)
            if not ctype.startswith("message/"):
                size = _payload_size(part)
            elif isinstance(inner, list):
                size = sum(len(m.as_bytes()) for m in inner if isinstance(m, Message))
            else:
                size = len(str(inner))
        except Exception:  # the size is best effort; the message still imports
            size = 0
        self.attachments.append({"name": name, "type": ctype, "size": size})

    def _forward(self, payload: Any, depth: int) -> None:
        """Read the message a ``message/rfc822`` part holds, as a forward."""
        if not isinstance(payload, list) or not payload or not isinstance(payload[0], Message):
            return
        if len(self.forwarded) >= _MAX_FORWARDED:
            return
        inner = payload[0]
        headers = _Headers(inner)
        body = _Body(headers.hints or self.hints)
        body.walk(inner, depth + 1)
        lines = tuple(
            f"{label}: {value}"
            for label, name in _FORWARDED_HEADERS
            if (value := headers.text(name))
        )
        html = "\n".join(h for h in body.shown_html if h.strip())
        # Its own text only: the messages attached to it follow it here, each once.
        self.forwarded.append(_Forwarded(lines, body.own_text(), html))
        self.forwarded += body.forwarded[: _MAX_FORWARDED - len(self.forwarded)]

    def own_text(self) -> str:
        """The text of the message's own parts (without the messages attached to it)."""
        plain = "\n\n".join(t.strip("\n") for t in self.plain if t.strip())
        if plain:
            return plain.rstrip()
        return "\n\n".join(html_to_text(h) for h in self.html if h.strip()).strip()

    def text(self, own: str | None = None) -> str:
        """The message's text (``own``, if worked out already), then each message attached
        to it."""
        blocks = [self.own_text() if own is None else own, *(f.block() for f in self.forwarded)]
        return "\n\n".join(b for b in blocks if b)

    def shown(self) -> str:
        """The HTML to show (with the attached messages below it), or "" for plain mail."""
        shown = "\n".join(h for h in self.shown_html if h.strip())
        if not shown:
            return ""
        return "\n".join((shown, *(f.html_block() for f in self.forwarded)))


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


def _mbox_flags(headers: _Headers) -> list[str] | None:
    """Flags from mbox ``Status``/``X-Status`` headers, or None when there are none."""
    status = (headers.raw("status") or "") + (headers.raw("x-status") or "")
    if not status:
        return None
    return sorted({_MBOX_FLAGS[c] for c in status if c in _MBOX_FLAGS})


def _automated(headers: _Headers, msg: _Msg, sender: str | None) -> str | None:
    """Why a message is a machine's ("bounce", "sender", "auto-submitted", "list", "bulk"),
    or None for a person's: "list" when only its mailing list's headers say so."""
    if re.fullmatch(r"<\s*>", headers.raw("return-path") or "x"):
        return "bounce"
    if msg.get_content_type() == "multipart/report":
        return "bounce"
    if sender and is_automated_sender(sender):
        return "sender"
    auto = headers.raw("auto-submitted")
    if auto is not None and auto.strip().lower().split(" ")[0].rstrip(";") not in ("no", ""):
        return "auto-submitted"
    if headers.raw("list-id") is not None or headers.raw("list-unsubscribe") is not None:
        return "list"
    if (headers.raw("precedence") or "").strip().lower() in ("bulk", "list", "junk"):
        return "bulk"
    return None


_MAILTO = re.compile(r"<\s*mailto:([^>?\s]+@[^>?\s]+)", re.IGNORECASE)
_LIST_ID = re.compile(r"<\s*([^.<>@\s]+)\.([^<>@\s]+\.[^<>@\s]+?)\s*>")


def _list_addresses(headers: _Headers) -> list[str]:
    """The mailing list's own addresses a message names: ``List-Post``'s ``mailto:`` (RFC
    2369), and the address its ``List-Id`` spells (RFC 2919: ``<linux-kernel.vger.kernel.org>``
    is the list ``linux-kernel@vger.kernel.org`` on Mailman, ezmlm, vger and Google Groups
    alike). The list is no customer, whoever writes to it."""
    found = {address.lower() for address in _MAILTO.findall(headers.raw("list-post") or "")}
    named = _LIST_ID.search(headers.raw("list-id") or "")
    if named is not None:
        found.add(f"{named.group(1)}@{named.group(2)}".lower())
    return sorted(found)


# Hosts that serve mailing lists and nothing else: an address there is a list's, also on
# a message without its headers (a cross-post, the owner's sent copy of a post). Not
# "list." (list.ru is a personal mail provider), nor an archive's (gmane writes people's
# addresses there too).
_LIST_HOSTS = frozenset({"googlegroups.com", "groups.io", "vger.kernel.org", "freelists.org"})
_LIST_HOST_STARTS = ("lists.", "mailman.")


# Second-level labels of country domains (``co.uk``): ``lists.co.uk`` is a domain of its
# own, whoever owns it, not a list host of a domain.
_SECOND_LEVELS = frozenset({"co", "com", "org", "net", "ac", "gov", "edu", "or", "ne", "go"})


def _hosted_lists(people: Sequence[Participant]) -> set[str]:
    """The addresses of ``people`` at a host that serves only mailing lists: one of
    ``_LIST_HOSTS``, or ``lists.``/``mailman.`` before a domain (``lists.debian.org``,
    not ``lists.com`` nor ``lists.co.uk``)."""
    found: set[str] = set()
    for person in people:
        address = (person.email or "").lower()
        local, _, host = address.rpartition("@")
        if not local:
            continue
        if host in _LIST_HOSTS:
            found.add(address)
        elif host.startswith(_LIST_HOST_STARTS):
            domain = host.partition(".")[2]
            if "." in domain and domain.partition(".")[0] not in _SECOND_LEVELS:
                found.add(address)
    return found


def _original_sender(headers: _Headers, people: list[Participant]) -> list[Participant]:
    """The people, with a list's rewritten sender given back: a list forwarding mail from a
    domain that forbids it (DMARC) writes ``From: "Jane via Support" <support@…>`` and
    keeps the writer in ``X-Original-From`` (Google Groups, Mailman 3)."""
    if not people or people[0].role != "from" or headers.raw("x-original-from") is None:
        return people
    if (people[0].email or "").lower() not in _list_addresses(headers):
        return people
    original = split_addresses(headers.raw("x-original-from") or "")
    if not original or not original[0][1]:
        return people
    name = " ".join(decode_words(original[0][0], headers.hints).split()).strip("\"' ")
    return [Participant(role="from", name=name, email=original[0][1]), *people[1:]]


def _check_limits(raw: bytes) -> None:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MailError(f"message larger than {MAX_MESSAGE_BYTES // (1024 * 1024)} MB; skipped")
    if len(raw) > MAX_HEADER_BYTES:
        head = raw[: MAX_HEADER_BYTES + 4]
        if b"\n\n" not in head and b"\n\r\n" not in head and b"\r\r" not in head:
            raise MailError("header block larger than 1 MB; skipped")
    if raw.count(b"\n--") + raw.count(b"\r--") > MAX_MIME_PARTS:
        raise MailError(f"more than {MAX_MIME_PARTS} MIME boundary lines; skipped")


def parse_message(
    raw: bytes,
    locator: str = "",
    threads: SubjectThreads | None = None,
    fallback_dates: Sequence[DateFallback] = (),
) -> EventRecord:
    """Parse one raw RFC 5322 message into an email event.

    Args:
        raw: the message bytes (without an mbox ``From `` line).
        locator: where the message came from, stored on the record.
        threads: the source's subject-thread memory (rule 3 of the module
            docstring); without it a bare reply gets its ``subject:`` key.
        fallback_dates: dates the source knows, used when the headers give
            none (tried in ``DATE_FALLBACKS`` order; impossible ones skipped).

    Returns:
        The record (direction left None for the ingest path to decide).

    Raises:
        MailError: the message is too large or too deep, or has no usable date
            (none in its headers and no usable fallback).
    """
    _check_limits(raw)
    try:
        msg = _PARSER.parsebytes(raw)
    except RecursionError as exc:
        raise MailError("MIME parts nested too deeply") from exc
    headers = _Headers(msg)
    occurred_at, date_from = _occurred_at(headers, fallback_dates)
    title = headers.text("subject") or "(no subject)"
    body = _Body(headers.hints)
    body.walk(msg)
    own = body.own_text()
    text = body.text(own)
    text_truncated = len(text) > MAX_TEXT_CHARS
    if text_truncated:
        text = text[:MAX_TEXT_CHARS]
    participants, people_omitted = _participants(headers)
    participants = _original_sender(headers, participants)
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
        # (its own text: a message imported before its attached ones were read keeps its
        # identity)
        basis += [headers.text("to"), title, own[:MAX_TEXT_CHARS]]
        external_id = "sha256:" + hashlib.sha256("\x1f".join(basis).encode()).hexdigest()
    gmail_thread = (headers.raw("x-gm-thrid") or headers.raw("x-gmail-thrid") or "").strip()
    chain = (references[0] if references else None) or in_reply_to
    thread_key = "gmail:" + gmail_thread if gmail_thread else chain or external_id

    details: dict[str, Any] = {
        "message_id": message_id,
        "in_reply_to": in_reply_to,
        "references": references,
        "attachments": body.attachments,
        "automated": (automated := _automated(headers, msg, sender)) is not None,
        "date_from": date_from,
    }
    if body.omitted:
        details["attachments_omitted"] = body.omitted
    if text_truncated:
        details["text_truncated"] = True
    if people_omitted:
        details["participants_omitted"] = people_omitted
    lists = sorted({*_list_addresses(headers), *_hosted_lists(participants)})
    if lists:
        details["lists"] = lists
        if automated == "list":  # (only its list says so: a group of the owner's may be)
            details["via_list"] = True
    labels = _labels(headers)
    if labels:
        details["labels"] = labels
    flags = _mbox_flags(headers)
    if flags is not None:
        details["flags"] = flags
    shown = body.shown()
    if shown:
        safe = sanitize_html(shown)
        if safe is None:
            details["html_truncated"] = True
        elif safe:
            details["html"] = safe
    record = EventRecord(
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
    key = (threads or SubjectThreads(1)).thread_key(record, bool(gmail_thread or chain))
    if key != thread_key:
        record = dataclasses.replace(record, thread_key=key)
    return record


# Seconds of CPU one message may take to parse, set in a parse worker process (whose SIGPROF
# handler raises ``MessageTooSlowError``); None: no budget (signals need the main thread).
# CPU time, not wall time: on a busy machine an ordinary message may wait seconds for a
# core, and it must not become a problem (a later import would then add it after all).
time_budget: float | None = None


class MessageTooSlowError(Exception):
    """A message took longer than ``time_budget`` to parse: it becomes a problem."""


_DELIVERED_TO = re.compile(rb"^Delivered-To:[ \t]*([^\r\n]*)", re.IGNORECASE | re.MULTILINE)
_LIST_POST = re.compile(rb"^List-Post:[ \t]*<mailto:([^>?\s]+)", re.IGNORECASE | re.MULTILINE)
# A mailbox is delivered to under an address or two (an alias, a forwarding); more in one
# source are not hinted: each taken for the owner's would re-mark every stored contact
# point, and a server that adds no header of its own leaves a sender's forged one on top.
MAX_MAILBOX_HINTS = 3

# The folders where mail programs keep what they took for spam (Gmail's "[Gmail]/Spam",
# Outlook's "Junk E-mail", Yahoo's "Bulk Mail", Thunderbird's and Apple Mail's "Junk", and
# Outlook's names in other languages): their senders are nobody's customers.
_SPAM_FOLDERS = frozenset(
    {
        "junk",
        "spam",
        "junk e-mail",
        "junk email",
        "junk mail",
        "bulk",
        "bulk mail",
        "junk-e-mail",
        "spamverdacht",
        "courrier indésirable",
        "correo no deseado",
        "posta indesiderata",
        "lixo eletrônico",
        "ongewenste e-mail",
        "skräppost",
    }
)
SPAM_LABEL = "Spam"  # Gmail's label for it, as a Takeout mailbox's X-Gmail-Labels writes it


def is_spam_folder(name: str) -> bool:
    """Whether a mail folder ("Junk", "INBOX/Spam", "Junk E-mail", Apple Mail's
    "Junk.mbox") is where a mail program keeps spam.

    Args:
        name: the folder's name, levels separated by "/".
    """
    last = name.replace("\\", "/").rsplit("/", 1)[-1].strip().casefold()
    return last.removesuffix(".mbox").removesuffix(".sbd").strip() in _SPAM_FOLDERS


def spam_folders_notice(left: Mapping[str, int]) -> Notice:
    """What the report says of the spam folders left out (each with its messages)."""
    count = sum(left.values())
    return Notice(
        f"left out {count:,} message{'s' if count != 1 else ''} in spam folders"
        f" ({', '.join(sorted(left))}): their senders are no customers"
    )


def spam_notice(count: int) -> Notice:
    """What the report says of the messages marked as spam that were left out."""
    many = "messages" if count != 1 else "message"
    return Notice(
        f"left out {count:,} {many} Gmail marked as spam (their senders are no customers)"
    )


def delivered_to(raw: bytes) -> str | None:
    """The address of the mailbox a message was delivered to, or None: its topmost
    ``Delivered-To`` header, which the receiving server adds at the final delivery
    (Gmail, Postfix, Dovecot, Exim; a forwarding leaves its earlier ones below). A copy
    delivered to a mailing list itself (a list's archive: the list's posting address, or
    ezmlm's "mailing list" form) names no one's mailbox."""
    ends = [at for at in (raw.find(b"\n\n"), raw.find(b"\r\n\r\n")) if at >= 0]
    end = min(ends) if ends else len(raw)
    found = _DELIVERED_TO.search(raw, 0, end)
    if found is None:
        return None
    value = found.group(1).decode("ascii", "replace")
    if value.lstrip().lower().startswith("mailing list "):
        return None
    addresses = split_addresses(value)
    if not addresses:
        return None
    address = addresses[0][1]
    posting = _LIST_POST.search(raw, 0, end)
    if posting is not None and posting.group(1).decode("ascii", "replace").lower() == (
        address.lower()
    ):
        return None
    return address


_HEADER_FIELD = re.compile(r"[!-9;-~]+:")
_BOUNDARY = "=_threadline_alternative_="  # (base64 parts never hold "=_")


def _base64_part(subtype: str, text: str) -> str:
    payload = base64.encodebytes(text.encode("utf-8", "replace")).decode("ascii")
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\n'
        f"Content-Transfer-Encoding: base64\n\n{payload}"
    )


def rebuilt_message(
    headers: Iterable[tuple[str, str]],
    plain: str,
    html: str,
    *,
    received: str = "",
    attached: Sequence[bytes] = (),
) -> bytes:
    """A message whose store keeps its headers and bodies apart (Outlook's ``.olm``,
    ``.pst`` and ``.msg``), written back as the RFC 5322 message it was: the header block as
    it was received (``received``, its own MIME headers left out: the bodies are written
    anew) or else ``headers`` (each value on one line), then the plain body with the HTML
    one as its alternative (each in UTF-8, base64: no line of them can end the part), then
    the messages ``attached`` to it (each a ``message/rfc822`` part, as a forward as
    attachment is sent)."""
    kept: list[str] = []
    if received:
        keep = False
        for line in received.replace("\r\n", "\n").split("\n"):
            if line[:1] in (" ", "\t"):  # (a folded line goes with its field)
                if keep:
                    kept.append(line)
                continue
            name = line.split(":", 1)[0].strip().lower()
            # (Outlook's "Microsoft Mail Internet Headers Version 2.0" line is no field)
            keep = bool(_HEADER_FIELD.match(line)) and not (
                name.startswith("content-") or name == "mime-version"
            )
            if keep:
                kept.append(line)
    else:
        kept = [f"{name}: {' '.join(value.split())}" for name, value in headers]
    kept.append("MIME-Version: 1.0")
    if html:
        body = (
            f'Content-Type: multipart/alternative; boundary="{_BOUNDARY}"\n\n'
            f"--{_BOUNDARY}\n{_base64_part('plain', plain)}"
            f"\n--{_BOUNDARY}\n{_base64_part('html', html)}\n--{_BOUNDARY}--\n"
        )
    else:
        body = _base64_part("plain", plain or "\n")
    if attached:
        # A boundary of its own (from what it holds: an attached message's own is another).
        digest = hashlib.sha256(b"".join(attached)).hexdigest()[:24]
        mixed = f"=_threadline_mixed_{digest}_="
        parts = [f"--{mixed}\n{body}"]
        for inner in attached:
            text = inner.decode("utf-8", "replace").replace("\r\n", "\n")
            parts.append(
                f"--{mixed}\nContent-Type: message/rfc822\n"
                f"Content-Disposition: attachment\n\n{text}"
            )
        body = (
            f'Content-Type: multipart/mixed; boundary="{mixed}"\n\n'
            + "\n".join(parts)
            + f"\n--{mixed}--\n"
        )
    text = "\n".join(kept) + "\n" + body
    return text.encode("utf-8", "replace")


class MailReader:
    """Converts the messages of one source (a file, a Maildir, a folder) in order.

    It remembers, across the source's messages, which owner addresses were
    already hinted and the subject threads of rule 3.

    Args:
        owners_seen: lower-cased owner addresses already hinted (shared, updated).
    """

    def __init__(self, owners_seen: set[str] | None = None) -> None:
        self.owners_seen: set[str] = set() if owners_seen is None else owners_seen
        self.threads = SubjectThreads()
        # Owner hints made from ``delivered_to``, by lower-cased mailbox: how many
        # (``MAILBOX_MESSAGES`` at most, for ``MAX_MAILBOX_HINTS`` mailboxes at most).
        self.mailboxes: dict[str, int] = {}
        self.spam = 0  # messages left out: Gmail labelled them spam (``spam_notice``)

    def items(
        self,
        raw: bytes,
        locator: str,
        *,
        extra: Mapping[str, Any] | None = None,
        sent: bool = False,
        fallback_dates: Sequence[DateFallback] = (),
    ) -> list[Item]:
        """The items one message yields; never raises.

        Returns ``[]`` for a message Gmail labelled spam (counted in ``spam``), else
        ``[record]``, or ``[OwnerHint, record]`` when the message was
        sent by the owner (Gmail labelled it "Sent", or ``sent`` says it sits
        in a Sent folder) and its sender was not hinted yet, or when it was
        delivered to a mailbox (``delivered_to``) hinted fewer than
        ``MAILBOX_MESSAGES`` times: a mailbox that messages of an import were
        delivered to is the owner's (``OwnerHint.delivered``), so an inbox alone
        tells whose mail it is (``MAX_MAILBOX_HINTS`` mailboxes from one source
        at most). Or ``[Problem]`` with a short reason when the message cannot
        be read.

        Args:
            raw: the message bytes.
            locator: where it came from ("file.mbox:120").
            extra: details to add to the record (Maildir flags and folder).
            sent: the source says the owner sent it.
            fallback_dates: dates to use when the headers have none, e.g.
                ``[("mbox_from_line", date)]`` (see ``parse_message``).

        Returns:
            The items, in the order to yield them.
        """
        try:
            if time_budget is not None:  # a parse worker's SIGPROF ends a pathological one
                signal.setitimer(signal.ITIMER_PROF, time_budget)
            try:
                record = parse_message(raw, locator, self.threads, fallback_dates)
            finally:
                if time_budget is not None:
                    signal.setitimer(signal.ITIMER_PROF, 0)
        except (MailError, MessageTooSlowError) as exc:
            return [Problem(locator, str(exc))]
        except Exception as exc:  # any input at all must not stop the stream
            reason = f"unreadable message ({type(exc).__name__}: {exc})"
            return [Problem(locator, reason[:200])]
        if extra:
            record = dataclasses.replace(record, details={**record.details, **extra})
        items: list[Item] = []
        labels = record.details.get("labels") or ()
        if SPAM_LABEL in labels:
            self.spam += 1
            return items
        sender = next((p.email for p in record.participants if p.role == "from"), None)
        hint = sender and (sent or "Sent" in labels) and not record.details.get("automated")
        if sender and hint and sender.lower() not in self.owners_seen:
            self.owners_seen.add(sender.lower())
            items.append(OwnerHint("email", sender))
        elif not hint and (mailbox := self._mailbox(raw)) is not None:
            items.append(OwnerHint("email", mailbox, delivered=True))
        items.append(record)
        return items

    def _mailbox(self, raw: bytes) -> str | None:
        """The mailbox the message was delivered to (``delivered_to``), if it is to be
        hinted: one of the source's first ``MAX_MAILBOX_HINTS`` mailboxes, hinted fewer
        than ``MAILBOX_MESSAGES`` times, and not hinted as a sender."""
        seen = self.mailboxes
        if len(seen) >= MAX_MAILBOX_HINTS and min(seen.values()) >= MAILBOX_MESSAGES:
            return None  # (none left to hint: the header is not looked for)
        mailbox = delivered_to(raw)
        if mailbox is None or (key := mailbox.lower()) in self.owners_seen:
            return None
        met = seen.get(key, 0)
        if met >= MAILBOX_MESSAGES or (not met and len(seen) >= MAX_MAILBOX_HINTS):
            return None
        seen[key] = met + 1
        return mailbox


def message_items(raw: bytes, locator: str, owners_seen: set[str]) -> list[Item]:
    """The items one message yields, without subject threading memory; never raises.

    Same as ``MailReader(owners_seen).items(raw, locator)``.

    Args:
        raw: the message bytes.
        locator: where it came from ("file.mbox:120").
        owners_seen: lower-cased owner addresses already hinted; updated in place.

    Returns:
        The items, in the order to yield them.
    """
    return MailReader(owners_seen).items(raw, locator)
