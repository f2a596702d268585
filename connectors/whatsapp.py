"""Connector for WhatsApp "Export chat" text files (``WhatsApp Chat with X.txt``, ``_chat.txt``).

A message starts with a timestamp header, ``<ts> - <author>: <text>`` on Android or
``[<ts>] <author>: <text>`` on iOS; a header without ``<author>: `` is a system line, and
so is an iOS line whose text starts with a left-to-right mark (iOS writes its notices in
every language that way, as if the contact wrote them; media placeholders carry the mark
too and stay the sender's). WhatsApp's own notices (encryption, security code) belong to
nobody; Android writes them without the mark, so there they are read by their words (the
encryption notice in English, German, Spanish, French, Italian, Portuguese and Dutch, the
languages whose chat file names are read). Any other line continues the previous message.
The timestamp layout depends on the phone's locale (day/month order, separators, 12/24-hour
clock, localised AM/PM, optional seconds, right-to-left marks and the Arabic comma,
Arabic-Indic digits), so the file is streamed twice, never held: the first pass keeps only
the evidence for the day/month order of the whole file (falling back on the import options
and telling the user with a ``Notice``), the authors and the group's name; the second pass
turns each message into an ``EventRecord``, collecting at most ``MAX_TEXT_CHARS`` of it and
counting the rest (``text_cut``). The encoding is UTF-8 unless a BOM or the bytes say
otherwise (``connectors.textfile``). Timestamps carry no zone; they are read in
``options.tz`` and stored as UTC. Nothing is dropped: a header with an impossible date is
reported as a ``Problem`` and its line is kept in the previous message.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, BinaryIO

from app.errors import FormatError
from app.records import (
    MAX_TEXT_CHARS,
    Channel,
    EventRecord,
    Item,
    Notice,
    OwnerHint,
    ParseOptions,
    Participant,
    Problem,
    Role,
)
from connectors.archive import SafeZip, looks_like_zip, member_names
from connectors.chat_common import StableIds
from connectors.textfile import SAMPLE_BYTES, bounded_lines, detect_encoding

_SOURCE = "whatsapp"
_SNIFF_LINES = 50
_PROGRESS_EVERY = 500
_MAX_AUTHOR = 80
_MAX_PLACEHOLDER = 1000
# Distinct authors remembered (a WhatsApp group has at most 1,024 members); more are
# still authors of their messages, only not listed as members of every message.
_MAX_AUTHORS = 5000
# A line is held up to the text bound (plus room for its header); the rest is counted.
_MAX_LINE_CHARS = MAX_TEXT_CHARS + 1000
# Stands for the left-to-right mark iOS writes after ``Name: `` (see ``_line_text``): a lone
# surrogate, which no decoded text holds (the file is decoded with errors="replace"). A
# private-use character such as U+E000 would be taken out of the messages too, and old
# iPhones wrote their emoji in that range.
_SYSTEM_MARK = "\udfff"

# Invisible marks are dropped; the odd spaces WhatsApp puts around AM/PM become plain spaces.
_INVISIBLE = {0x200E: None, 0x200F: None, 0xFEFF: None, 0x202F: " ", 0x00A0: " ", 0x2009: " "}
_INVISIBLE.update({cp: None for cp in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})

_HEADER = re.compile(
    r"(?P<open>\[)?"
    r"(?P<d1>\d{4}|\d{1,2})(?P<sep>[./-])\s?(?P<d2>\d{1,2})(?P=sep)\s?(?P<d3>\d{4}|\d{1,2})\.?"
    r"[,،]?\s*(?:klo\s+)?(?:(?P<pre>上午|下午|오전|오후)\s*)?"
    r"(?P<h>\d{1,2})[:.](?P<mi>\d{2})(?:[:.](?P<s>\d{2}))?"
    r"(?:\s*(?P<ampm>[AaPp]\.?\s?[Mm]\.?|上午|下午|오전|오후|ص|م))?"
    r"(?(open)\](?:\s|$)|\s[-–](?:\s|$))"
    r"(?P<rest>.*)",
    re.DOTALL,
)
_ENCRYPTION = re.compile(
    r"(?:Messages and calls are end-to-end encrypted|Messages to this (?:group|chat) are now "
    r"secured|Messages you send to this (?:group|chat) are now secured)",
    re.IGNORECASE,
)
# The encryption notice of an Android export in the languages whose chat file names are
# read (``_CHAT_FILE``): a system line (no author) that says its chat is end-to-end
# encrypted. ("Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt.", "Los mensajes y
# las llamadas están cifrados de extremo a extremo.", "Les messages et les appels sont
# chiffrés de bout en bout.", "I messaggi e le chiamate sono crittografati end-to-end.",
# "As mensagens e as chamadas são protegidas com a criptografia de ponta a ponta.",
# "Berichten en oproepen worden end-to-end versleuteld.")
_ENCRYPTED_ANY = re.compile(
    r"\b(?:end-to-end|Ende-zu-Ende|de extremo a extremo|de bout en bout|de ponta a ponta)\b",
    re.IGNORECASE,
)
# WhatsApp's own notices in English (any language when iOS marks them, see ``_split_notice``).
_NOTICE = re.compile(
    f"(?:{_ENCRYPTION.pattern}|(?:Your|.{{1,80}}'s) security code with .{{1,80}} changed)",
    re.IGNORECASE,
)
_SYSTEM_AUTHOR = re.compile(
    r"\b(?:created group|changed the subject|changed this group|changed the group)\b", re.I
)
_GROUP_CREATED = re.compile(r"created group [\"“”«](?P<name>.+?)[\"“”»]\s*$")
_CHAT_FILE = re.compile(
    r"(?:WhatsApp Chat with|WhatsApp Chat -|WhatsApp-Chat mit|Chat de WhatsApp con|"
    r"Conversa do WhatsApp com|Discussion WhatsApp avec|Chat WhatsApp con|WhatsApp-chat met)"
    r"\s+(?P<name>.+?)(?:\s\(\d+\))?",
    re.IGNORECASE,
)
_PHONE = re.compile(r"\+?[\d\s().-]+")

_ATTACHED = re.compile(
    r"<(?:attached|adjunto|anexo|Anhang|allegato|pièce jointe|bijlage|附件|添付ファイル)"
    r"\s*[:：]\s*(?P<file>[^>]+)>",
    re.IGNORECASE,
)
_FILE_ATTACHED = re.compile(
    r"(?P<file>.+?)\s\((?:file attached|archivo adjunto|arquivo anexado|Datei angehängt|"
    r"file allegato|fichier joint|bestand bijgevoegd)\)",
    re.IGNORECASE,
)
# iOS without the media: "image omitted", and in other languages "Bild weggelassen",
# "image omise", "imagen omitida", "immagine omessa", "imagem oculta" or "imagem não
# revelada" (the noun first, then the word for omitted).
_OMITTED = re.compile(
    r"(?:(?P<file>.+?)\s•\s.*)?"
    r"(?P<kind>image|video|audio|GIF|sticker|Contact card|document|Bild|Dokument|Kontaktkarte|"
    r"vidéo|imagen|vídeo|documento|immagine|imagem|áudio)"
    r"\s+(?:omitted|weggelassen|ausgelassen|omise?|omitid[oa]|omess[oa]|ocult[oa]|"
    r"ocultad[oa]|não revelad[oa])",
    re.IGNORECASE,
)
_MEDIA_OMITTED = re.compile(
    r"<(?:Media omitted|Medien ausgeschlossen|Multimedia omitido|Mídia oculta|Arquivo de mídia "
    r"oculto|Médias omis|Media weggelaten|Media omessi)>",
    re.IGNORECASE,
)
_LOCATION = re.compile(
    r"(?:location|ubicación|localização|Standort|posizione|position|locatie)\s*:\s*https?://",
    re.IGNORECASE,
)
_NAMED_FILE = re.compile(
    r"(?:\d+-(?P<ios>PHOTO|VIDEO|AUDIO|GIF|STICKER|CONTACT)-|(?P<android>IMG|VID|PTT|AUD|GIF|STK)-)",
    re.IGNORECASE,
)
_NAME_KINDS = {
    "PHOTO": "photo",
    "IMG": "photo",
    "VIDEO": "video",
    "VID": "video",
    "AUDIO": "audio",
    "PTT": "audio",
    "AUD": "audio",
    "GIF": "gif",
    "STICKER": "sticker",
    "STK": "sticker",
    "CONTACT": "contact",
}
_EXT_KINDS = {
    **dict.fromkeys(("jpg", "jpeg", "png", "heic", "bmp"), "photo"),
    **dict.fromkeys(("mp4", "mov", "3gp", "avi", "mkv", "webm"), "video"),
    **dict.fromkeys(("opus", "mp3", "m4a", "ogg", "aac", "amr", "wav"), "audio"),
    "webp": "sticker",
    "gif": "gif",
    "vcf": "contact",
}
_WORD_KINDS = {
    "image": "photo",
    "contact card": "contact",
    "bild": "photo",
    "imagen": "photo",
    "immagine": "photo",
    "imagem": "photo",
    "vidéo": "video",
    "vídeo": "video",
    "áudio": "audio",
    "dokument": "document",
    "documento": "document",
    "kontaktkarte": "contact",
}

_ORDER_WORDS = {"dmy": "day/month/year", "mdy": "month/day/year", "ymd": "year/month/day"}
_MDY_REGIONS = frozenset({"US", "PH", "CA", "FM", "MH", "PW", "GU", "PR", "AS", "VI", "MP", "UM"})
_YMD_REGIONS = frozenset({"CN", "JP", "KR", "HU", "TW", "MN", "LT", "IR"})


def normalize_text(text: str) -> str:
    """Drop the invisible marks WhatsApp adds and turn its odd spaces into ASCII spaces.

    Args:
        text: one line (or more) of an export.

    Returns:
        The text without U+200E/U+200F (and other bidi controls or a BOM), with U+202F,
        U+00A0 and U+2009 replaced by a space.
    """
    return text.translate(_INVISIBLE)


@dataclass(frozen=True)
class _Head:
    """A line that starts with a timestamp header, and the dates it can stand for."""

    year_first: bool
    dates: dict[str, datetime]  # order ("dmy", "mdy", "ymd") -> naive local time
    rest: str
    stamp: str  # the header as written, for problem reports


@dataclass
class _Msg:
    """A message being collected, line by line, up to ``MAX_TEXT_CHARS`` (the rest counted)."""

    line_no: int
    local: datetime
    when: datetime
    author: str | None
    lines: list[str] = field(default_factory=list)
    notice: bool = False  # WhatsApp's own notice (encryption, security code)
    size: int = 0
    cut: int = 0

    def add(self, line: str, cut: int = 0) -> None:
        """Add one line (``cut`` characters of it already left out)."""
        joint = 1 if self.lines else 0  # the line break before it
        room = MAX_TEXT_CHARS + 1 - self.size - joint
        if room < 0:
            self.cut += joint + len(line) + cut
            return
        if len(line) > room:
            self.cut += len(line) - room
            line = line[:room]
        self.lines.append(line)
        self.size += joint + len(line)
        self.cut += cut


def _year(digits: str) -> int:
    return 2000 + int(digits) if len(digits) <= 2 else int(digits)


def _clock(m: re.Match[str]) -> tuple[int, int, int] | None:
    hour, minute, second = int(m["h"]), int(m["mi"]), int(m["s"] or 0)
    marker = (m["ampm"] or m["pre"] or "").lower().replace(".", "").replace(" ", "")
    if marker and hour <= 12:
        pm = marker in ("pm", "下午", "오후", "م")
        hour = hour % 12 + (12 if pm else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour, minute, second


def _date(year: int, month: int, day: int, clock: tuple[int, int, int]) -> datetime | None:
    if not 1900 <= year <= 2199:
        return None
    try:
        return datetime(year, month, day, *clock)
    except ValueError:
        return None


def _head(line: str) -> _Head | None:
    m = _HEADER.match(line)
    if m is None:
        return None
    d1, d2, d3 = m["d1"], m["d2"], m["d3"]
    stamp = line[: m.start("rest")].strip()
    clock = _clock(m)
    dates: dict[str, datetime | None] = {}
    year_first = len(d1) == 4
    if clock is not None and year_first and len(d3) <= 2:
        dates["ymd"] = _date(int(d1), int(d2), int(d3), clock)
    elif clock is not None and not year_first and len(d3) in (2, 4):
        dates["dmy"] = _date(_year(d3), int(d2), int(d1), clock)
        dates["mdy"] = _date(_year(d3), int(d1), int(d2), clock)
    valid = {k: v for k, v in dates.items() if v is not None}
    return _Head(year_first, valid, m["rest"], stamp)


def _split(rest: str, known: tuple[str, ...]) -> tuple[str | None, str]:
    """The author (None for a system line) and the text of a header line's remainder."""
    author, text, _notice = _split_notice(rest, known)
    return author, text


def _split_notice(rest: str, known: tuple[str, ...]) -> tuple[str | None, str, bool]:
    """The author (None for a system line), the text, and whether it is WhatsApp's own notice.

    ``known`` (longest first) are authors seen elsewhere; ``Name:text`` without the space
    after the colon is read as a message only for them. On iOS a system line names the
    chat or contact like an author, but its text starts with a left-to-right mark
    (``_SYSTEM_MARK`` here), whatever the language: such a line is a system line unless it
    is a media placeholder (which iOS marks the same way). WhatsApp's own notices (the
    end-to-end encryption and security-code lines) are nobody's event.
    """
    author, sep, text = rest.partition(": ")
    if not sep:
        rest = rest.replace(_SYSTEM_MARK, "")
        for name in known:
            if rest.startswith(name + ":"):
                return name, rest[len(name) + 1 :].removeprefix(" "), False
        text = rest.strip()
        return None, text, bool(_NOTICE.match(text) or _ENCRYPTED_ANY.search(text))
    author = author.strip().replace(_SYSTEM_MARK, "")
    marked = text.startswith(_SYSTEM_MARK)
    text = text.replace(_SYSTEM_MARK, "")
    if _NOTICE.match(text.lstrip()):
        return None, text.strip(), True
    if marked and _media(text) is None:
        return None, text.strip(), True
    if not author or len(author) > _MAX_AUTHOR or _SYSTEM_AUTHOR.search(author):
        return None, rest.replace(_SYSTEM_MARK, "").strip(), False
    return author, text, False


def _kind_of_file(name: str) -> str:
    m = _NAMED_FILE.match(name)
    if m is not None:
        return _NAME_KINDS[(m["ios"] or m["android"]).upper()]
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return "other"
    return _EXT_KINDS.get(ext.lower(), "document")


def _media(text: str) -> dict[str, str | None] | None:
    """The media placeholder a message's first line holds, if any."""
    first = text.partition("\n")[0].strip()
    if len(first) > _MAX_PLACEHOLDER:
        return None  # a placeholder is a file name and a few words; this is someone's text
    if m := _ATTACHED.fullmatch(first):
        name = m["file"].strip()
        return {"kind": _kind_of_file(name), "file": name}
    if m := _FILE_ATTACHED.fullmatch(first):
        name = m["file"].strip()
        return {"kind": _kind_of_file(name), "file": name}
    if _MEDIA_OMITTED.fullmatch(first):
        return {"kind": "other", "file": None}
    if m := _OMITTED.fullmatch(first):
        word = m["kind"].lower()
        file = m["file"].strip() if m["file"] else None
        return {"kind": _WORD_KINDS.get(word, word), "file": file}
    if _LOCATION.match(first):
        return {"kind": "location", "file": None}
    return None


def _chat_name(path: Path) -> tuple[str, bool]:
    """The chat's name, and whether it came from WhatsApp's own file (or folder) name."""
    for candidate in (path.stem, path.parent.name if path.name == "_chat.txt" else ""):
        if m := _CHAT_FILE.fullmatch(candidate.strip()):
            return m["name"].strip(), True
    if path.name == "_chat.txt" and path.parent.name:
        return path.parent.name, False
    return path.stem, False


def _chat_member(names: list[str]) -> str | None:
    """The chat text inside a zip export: ``_chat.txt`` or ``WhatsApp Chat with ….txt``."""
    found = [
        n
        for n in names
        if n.rsplit("/", 1)[-1] == "_chat.txt"
        or (n.endswith(".txt") and _CHAT_FILE.fullmatch(n.rsplit("/", 1)[-1][:-4].strip()))
    ]
    return min(found, key=lambda n: (n.count("/"), n)) if found else None


def _person(role: Role, name: str) -> Participant:
    is_phone = bool(_PHONE.fullmatch(name)) and sum(c.isdigit() for c in name) >= 5
    return Participant(
        role=role,
        name=name,
        phone=name if is_phone else None,
        handle=None if is_phone else name,
        platform=_SOURCE,
    )


def _to_utc(local: datetime, tz: tzinfo, previous: datetime | None) -> datetime:
    """``local`` read in ``tz``, as UTC; in a repeated hour, the reading that keeps time going."""
    first = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = local.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if previous is not None and first < previous <= second:
        return second
    return first


def _decode(raw: bytes) -> list[str]:
    """The lines of the start of a file (for sniffing), normalised."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16", errors="replace")
    else:
        text = raw.decode("utf-8-sig", errors="replace")
    if "\n" not in text:
        text = text.replace("\r", "\n")
    return [_line_text(line.removesuffix("\r")) for line in text.split("\n")]


def _line_text(raw: str) -> str:
    """One line as the parser reads it: invisible marks dropped, odd spaces made plain.

    The left-to-right mark iOS puts right after ``Name: `` (it opens system notices and
    media placeholders in every language) becomes ``_SYSTEM_MARK``, so ``_split`` can
    tell a notice from what the person wrote.
    """
    if "\u200e" in raw:
        raw = raw.replace(": \u200e", ": " + _SYSTEM_MARK, 1)
    return normalize_text(raw)


def _region_order(region: str) -> tuple[str, str]:
    """The day/month order a region writes, and the reason to give for using it."""
    code = region.strip().upper() or "unknown"
    if code in _MDY_REGIONS:
        return "mdy", f"region {code}"
    if code in _YMD_REGIONS:
        return "dmy", f"region {code} writes the year first, which this file does not"
    return "dmy", f"region {code}"


@dataclass
class _Evidence:
    """What the first pass learns from the whole file, without holding its lines."""

    only: Counter[str] = field(default_factory=Counter)  # dates that fit one order only
    ambiguous: bool = False
    authors: dict[str, set[str]] = field(default_factory=dict)  # author -> date keys seen
    groups: list[tuple[str, frozenset[str]]] = field(default_factory=list)

    def add(self, h: _Head) -> None:
        if not h.year_first:
            if len(h.dates) == 1:
                self.only[next(iter(h.dates))] += 1
            elif len(h.dates) == 2:
                self.ambiguous = True
        if not h.dates:
            return
        author, text = _split(h.rest, ())
        if author is not None:
            keys = self.authors.get(author)
            if keys is not None:
                keys.update(h.dates)
            elif len(self.authors) < _MAX_AUTHORS:
                self.authors[author] = set(h.dates)
        elif len(self.groups) < _MAX_AUTHORS and (g := _GROUP_CREATED.search(text)):
            self.groups.append((g["name"], frozenset(h.dates)))


def _decide_order(evidence: _Evidence, options: ParseOptions, where: str) -> tuple[str, list[str]]:
    """The day/month order for the file's non-year-first dates, and notices about the choice."""
    only = evidence.only
    ambiguous = evidence.ambiguous
    asked = options.date_order
    if only["dmy"] and only["mdy"]:
        order = "dmy" if only["dmy"] >= only["mdy"] else "mdy"
        other = "mdy" if order == "dmy" else "dmy"
        return order, [
            f"{where}: dates disagree ({only[order]} lines only fit {_ORDER_WORDS[order]}, "
            f"{only[other]} only fit {_ORDER_WORDS[other]}); read as {_ORDER_WORDS[order]} "
            "and reported the others as problems"
        ]
    if only["dmy"] or only["mdy"]:
        order = "dmy" if only["dmy"] else "mdy"
        notes = []
        if asked in ("dmy", "mdy") and asked != order:
            notes.append(
                f"{where}: the import options ask for {_ORDER_WORDS[asked]}, but the file's "
                f"dates only fit {_ORDER_WORDS[order]}; read as {_ORDER_WORDS[order]}"
            )
        return order, notes
    if not ambiguous:
        return "dmy", []
    if asked in ("dmy", "mdy"):
        order, why = asked, "as set in the import options"
    else:
        order, why = _region_order(options.region)
    return order, [f"{where}: dates were ambiguous; read as {_ORDER_WORDS[order]} ({why})"]


class WhatsAppConnector:
    """Reads a WhatsApp "Export chat" text file into chat events.

    Attributes:
        name: "whatsapp".
        label: description for dialogs.
        channel: "chat".
        extensions: (".txt",).
    """

    name: str = "whatsapp"
    label: str = "WhatsApp chat export (.txt or .zip)"
    channel: Channel = "chat"
    extensions: tuple[str, ...] = (".txt", ".zip")

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure this connector is that ``head`` starts a WhatsApp chat export.

        Args:
            path: the file (a zip's member list is read to find the chat text).
            head: the first bytes of the file.

        Returns:
            0.9 if the first line and at least one more line (or the only line) are message
            headers, or for a zip holding ``_chat.txt`` or ``WhatsApp Chat with ….txt``; 0.5
            if several later lines are headers; 0.0 otherwise.
        """
        if looks_like_zip(head):
            names = member_names(path)
            return 0.9 if names is not None and _chat_member(names) is not None else 0.0
        lines = [line for line in _decode(head) if line.strip()][:_SNIFF_LINES]
        hits = [_HEADER.match(line) is not None for line in lines]
        if not hits:
            return 0.0
        if hits[0] and (sum(hits) >= 2 or len(lines) == 1):
            return 0.9
        return 0.5 if sum(hits) >= 3 else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield owner hints and notices, then one event per message and problems on the way.

        The file is streamed twice (first for the date order, authors and group name, then
        for the messages), so memory stays flat whatever its size; a message is collected
        up to ``MAX_TEXT_CHARS`` and the rest only counted.

        Args:
            path: the exported ``.txt`` file.
            options: zone of the timestamps, date order or region, owner names, progress
                and cancel hooks.

        Yields:
            ``OwnerHint`` (for a one-to-one chat named after the other person), ``Notice``
            (the date order assumed), then ``EventRecord`` and ``Problem`` items in file order.

        Raises:
            FormatError: the file cannot be read or is not a WhatsApp chat export.
        """
        try:
            with path.open("rb") as fh:
                zipped = looks_like_zip(fh.read(4))
            size = path.stat().st_size
        except OSError as exc:
            raise FormatError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        if zipped:
            yield from self._zip(path, options)
            return

        def opener() -> BinaryIO:
            try:
                return path.open("rb")
            except OSError as exc:
                raise FormatError(f"{path}: cannot read: {exc.strerror or exc}") from exc

        yield from self._text(opener, size, path.name, _chat_name(path), options, {})

    def _zip(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """A ``.zip`` export: the chat text read from the archive, its media listed by reference."""
        with SafeZip(path) as archive:
            for name, why in archive.rejected:
                yield Problem(f"{path.name}!{name}", f"archive member skipped: {why}")
            member = _chat_member(list(archive.members))
            if member is None:
                rejected = [n for n, _ in archive.rejected if _chat_member([n.replace("\\", "/")])]
                why = f" (rejected: {dict(archive.rejected)[rejected[0]]})" if rejected else ""
                raise FormatError(f"{path.name}: no WhatsApp chat text in the archive{why}")
            raw = archive.read(member)
            media = {m.basename: m for m in archive if m.name != member}
        base = member.rsplit("/", 1)[-1]
        named = _chat_name(Path(base) if base != "_chat.txt" else path)
        where = f"{path.name}!{member}"
        yield from self._text(
            lambda: io.BytesIO(raw),
            len(raw),
            where,
            named,
            options,
            {k: (v.name, v.size) for k, v in media.items()},
        )

    def _text(
        self,
        opener: Callable[[], BinaryIO],
        size: int,
        where: str,
        named: tuple[str, bool],
        options: ParseOptions,
        media: dict[str, tuple[str, int]],
    ) -> Iterator[Item]:
        """Parse the text of an export; ``where`` prefixes locators, ``media`` is the zip's."""
        with opener() as fh:
            encoding, newline = _text_layout(fh)
        evidence = _Evidence()
        with opener() as fh:
            nonblank = 0
            found = False
            for index, (line, _cut) in enumerate(_lines(fh, encoding, newline)):
                if index % _PROGRESS_EVERY == 0 and found:
                    if options.should_cancel is not None and options.should_cancel():
                        return
                    if options.progress is not None:  # the first pass is the first half
                        options.progress(min(fh.tell(), size) // 2, size)
                h = _head(line)
                if not found and line.strip():
                    nonblank += 1
                    found = h is not None
                    if not found and nonblank >= _SNIFF_LINES:
                        break
                if h is not None:
                    evidence.add(h)
            if not found:
                raise FormatError(
                    f"{where}: not a WhatsApp chat export (no line starts with a date and time)"
                )
        order, notes = _decide_order(evidence, options, where)
        chat, from_file_name = named

        def valid(keys: Collection[str]) -> bool:
            return "ymd" in keys or order in keys

        authors = [a for a, keys in evidence.authors.items() if valid(keys)]
        group = next((name for name, keys in evidence.groups if valid(keys)), None)
        known = set(authors)
        if (
            from_file_name
            and not known & set(options.owner_names)
            and len(known) == 2
            and chat in known
        ):
            yield OwnerHint("name", next(a for a in authors if a != chat))
        for note in notes:
            yield Notice(note)
        with opener() as fh:
            lines = _lines(fh, encoding, newline)
            yield from self._messages(
                where, fh, size, lines, order, options, chat, group, authors, media
            )

    def _messages(
        self,
        where_file: str,
        fh: BinaryIO,
        total: int,
        lines: Iterator[tuple[str, int]],
        order: str,
        options: ParseOptions,
        chat: str,
        group: str | None,
        names: list[str],
        archived: dict[str, tuple[str, int]],
    ) -> Iterator[Item]:
        """The second pass: group lines into messages and turn them into records."""
        known = tuple(sorted(names, key=len, reverse=True))
        everyone = tuple(_person("member", a) for a in names)
        people: dict[str, tuple[Participant, ...]] = {}

        def speakers(author: str) -> tuple[Participant, ...]:
            found = people.get(author)
            if found is None:
                found = (_person("author", author), *(p for p in everyone if p.name != author))
                if len(people) < _MAX_AUTHORS:
                    people[author] = found
            return found

        ids = StableIds(chat)
        current: _Msg | None = None
        previous: datetime | None = None

        def record(msg: _Msg) -> EventRecord:
            text = "\n".join(msg.lines).rstrip()
            external_id = ids.next(msg.local.isoformat(), msg.author or "", text)
            details: dict[str, Any] = {}
            if group is not None:
                details["group"] = group
            if msg.author is not None and (media := _media(text)) is not None:
                found = archived.get(media["file"] or "")
                details["media"] = (
                    media
                    if found is None
                    else {**media, "archive_member": found[0], "size": found[1]}
                )
            if msg.author is not None:
                participants = speakers(msg.author)
            elif msg.notice:
                participants = ()  # WhatsApp's own notice is nobody's event
            else:
                participants = everyone
            return EventRecord(
                channel="chat",
                source=_SOURCE,
                external_id=external_id,
                occurred_at=msg.when,
                title=chat,
                text=text,
                participants=participants,
                direction="system" if msg.author is None else None,
                thread_key=f"{_SOURCE}:{chat}",
                details=details,
                locator=f"{where_file}:{msg.line_no}",
                text_cut=msg.cut,
            )

        for index, (line, cut) in enumerate(lines):
            if index % _PROGRESS_EVERY == 0:
                if options.should_cancel is not None and options.should_cancel():
                    return
                if options.progress is not None:
                    options.progress((total + min(fh.tell(), total)) // 2, total)
            h = _head(line)
            local = None if h is None else (h.dates.get("ymd") or h.dates.get(order))
            if h is not None and local is not None:
                if current is not None:
                    yield record(current)
                author, text, notice = _split_notice(h.rest, known)
                previous = _to_utc(local, options.tz, previous)
                current = _Msg(index + 1, local, previous, author, [], notice=notice)
                current.add(text, cut)
                continue
            line = line.replace(_SYSTEM_MARK, "")  # only a header line has a system mark
            where = f"{where_file}:{index + 1}"
            if h is not None:
                kept = "kept in the previous message" if current else "no message before it"
                yield Problem(
                    where, f"impossible date or time {h.stamp!r}; line {kept}: {line[:200]}"
                )
            elif current is None and line.strip():
                yield Problem(where, f"text before the first message: {line[:200]}")
            if current is not None:
                current.add(line, cut)
        if current is not None:
            yield record(current)
        if options.progress is not None:
            options.progress(total, total)


def _text_layout(fh: BinaryIO) -> tuple[str, str]:
    """The encoding of an export and the line end that splits it (``\\r`` in old Mac files)."""
    encoding = detect_encoding(fh)
    sample = fh.read(SAMPLE_BYTES).decode(encoding, errors="replace")
    fh.seek(0)
    newline = "\r" if "\n" not in sample and "\r" in sample else "\n"
    return encoding, newline


def _lines(fh: BinaryIO, encoding: str, newline: str) -> Iterator[tuple[str, int]]:
    """The lines of an export, normalised, each cut at ``_MAX_LINE_CHARS`` (and how much)."""
    stream = io.TextIOWrapper(fh, encoding=encoding, errors="replace", newline=newline)
    for line, cut in bounded_lines(stream, _MAX_LINE_CHARS):
        yield _line_text(line.removesuffix("\n").removesuffix("\r")), cut
