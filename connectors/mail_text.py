"""Text helpers for email: charsets, RFC 2047 encoded words, HTML to text and safe HTML.

Mail lies about its charsets, so ``decode_bytes`` never fails: it tries what
the message declares and what the bytes look like, then lets
``charset-normalizer`` guess. ``html_to_text`` gives the plain text that the
search index and the PDF use; ``sanitize_html`` gives the copy of the HTML
that the app may display: ``nh3`` keeps text formatting, tables and links and
removes everything that could load remote content or run (images, scripts,
style sheets, frames, forms, CSS ``url()``).
"""

from __future__ import annotations

import binascii
import codecs
import contextlib
import html
import re
from collections.abc import Sequence

import charset_normalizer
import nh3

MAX_HTML_CHARS = 1_000_000
"""HTML beyond this many characters is not read (to text) or kept (for display)."""
MAX_SAFE_HTML_BYTES = 200 * 1024
"""Sanitised HTML larger than this (UTF-8) is not kept; the plain text still is."""
_GUESS_BYTES = 16 * 1024
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
_SOFT_BREAK_SPACES = re.compile(rb"=[ \t]+\n")
_SPACES = re.compile(r"\s+")
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
_CODEC_CACHE: dict[str, tuple[str, ...]] = {}
# Declared charsets whose bytes may look like ASCII or UTF-8 but are not.
_SEVEN_BIT_OR_WIDE = ("utf-16", "utf-32", "iso2022", "utf-7", "hz")


def _codecs_for(charset: str | None) -> tuple[str, ...]:
    if not charset:
        return ()
    found = _CODEC_CACHE.get(charset)
    if found is not None:
        return found
    name = charset.strip().strip("\"'").split("*", 1)[0].lower()
    try:
        canonical = codecs.lookup(name).name
    except (LookupError, ValueError):
        found = ()
    else:
        found = _SUPERSETS.get(canonical, (canonical,))
    if len(_CODEC_CACHE) < 1000:  # charset names come from untrusted mail
        _CODEC_CACHE[charset] = found
    return found


def western_text(data: bytes) -> str | None:
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
    text reads as Western European, then charset-normalizer's best guess (from
    the first 16 KiB), then Windows-1252 with replacement. UTF-16/32 and 7-bit
    ISO-2022/UTF-7 declared charsets are tried first, since their bytes can
    look like ASCII.

    Args:
        data: the bytes.
        charset: the declared charset, if any.
        hints: other charsets the message declares.

    Returns:
        The text.
    """
    declared = _codecs_for(charset)
    seven_bit = bool(declared) and declared[0].startswith(_SEVEN_BIT_OR_WIDE)
    if not seven_bit and data.isascii():
        return data.decode("ascii")
    tries: list[str] = list(declared) if seven_bit else []
    tries += ["utf-8", *declared]
    tries += [c for hint in hints for c in _codecs_for(hint)]
    for codec in dict.fromkeys(tries):
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    western = western_text(data)
    if western is not None:
        return western
    best = charset_normalizer.from_bytes(data[:_GUESS_BYTES]).best()
    if best is not None:
        with contextlib.suppress(LookupError):
            return data.decode(best.encoding, errors="replace")
    return data.decode("cp1252", errors="replace")


def lenient_b64decode(data: bytes) -> bytes:
    """Decode base64 as mail clients do: skip stray characters, mend the padding.

    Args:
        data: the encoded bytes (line breaks and junk allowed).

    Returns:
        The decoded bytes (a final lone character is dropped).
    """
    clean = _NOT_BASE64.sub(b"", data)
    clean = clean[: len(clean) - 1] if len(clean) % 4 == 1 else clean
    return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))


def lenient_qp_decode(data: bytes) -> bytes:
    """Decode quoted-printable as mail clients do.

    Any line ending (CRLF, LF or a lone CR) ends a line, and a soft break
    followed by stray spaces still joins the lines (the stdlib decoder drops
    everything after a lone CR). Invalid escapes such as ``=ZZ`` are kept.

    Args:
        data: the encoded bytes.

    Returns:
        The decoded bytes.
    """
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return binascii.a2b_qp(_SOFT_BREAK_SPACES.sub(b"=\n", data))


def _word_bytes(kind: str, payload: str) -> bytes:
    if kind in "bB":
        try:
            return lenient_b64decode(payload.encode("ascii", "replace"))
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


def encoded_word_charsets(text: str) -> list[str]:
    """The charsets named by the encoded words in ``text`` (lower case, in order).

    Args:
        text: header values.

    Returns:
        The charset names, repeats included.
    """
    if "=?" not in text:
        return []
    return [cs.lower() for cs, _, _ in _ENCODED_WORD.findall(text)]


def unflow(text: str, delsp: bool) -> str:
    """Join the soft line breaks of ``format=flowed`` text (RFC 3676).

    Args:
        text: the decoded text, with ``\\n`` line ends.
        delsp: the part says ``delsp=yes`` (the space before a soft break goes too).

    Returns:
        The text with flowed paragraphs joined.
    """
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


_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "pre"})
_BLOCK = _PARAGRAPH | frozenset(
    "div li tr blockquote hr dl dt dd section article header footer nav aside form address "
    "center main figure figcaption details summary caption fieldset".split()
)
_TAG = re.compile(r"<(/?)([a-zA-Z0-9]+)[^>]*>")


class _TextWriter:
    """Builds plain text from the tags and text of well-formed HTML."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self._pre = self._newlines = 0

    def _emit(self, text: str) -> None:
        self.parts.append(text)
        stripped = text.rstrip("\n")
        if stripped.strip(" "):
            self._newlines = len(text) - len(stripped)
        else:
            self._newlines += len(text) - len(stripped)

    def _break(self, tag: str) -> None:
        wanted = 2 if tag in _PARAGRAPH else 1
        if self.parts and self._newlines < wanted:
            self._emit("\n" * (wanted - self._newlines))

    def tag(self, tag: str, end: bool) -> None:
        if tag == "br":
            self._emit("\n")
        elif tag in _BLOCK:
            self._break(tag)
            if tag == "pre":
                self._pre = max(0, self._pre + (-1 if end else 1))
            elif tag == "li" and not end:
                self._emit("- ")
        elif tag in ("td", "th") and not end:
            self._emit(" ")

    def data(self, text: str) -> None:
        if text:
            text = html.unescape(text)
            self._emit(text if self._pre else _SPACES.sub(" ", text))


def html_to_text(markup: str) -> str:
    """Plain text from HTML, for messages that have no text/plain part.

    ``nh3`` first turns the markup, however broken, into well-formed HTML
    without scripts, styles, comments and head content, in linear time (the
    stdlib ``HTMLParser`` is quadratic on some malformed input). Then block
    elements and ``<br>`` start new lines, list items get a dash, entities
    are unescaped and at most one blank line is kept in a row. Only the first
    ``MAX_HTML_CHARS`` characters are read.

    Args:
        markup: the HTML source.

    Returns:
        The text, stripped.
    """
    clean = _TEXT_CLEANER.clean(markup[:MAX_HTML_CHARS])
    writer = _TextWriter()
    pos = 0
    for match in _TAG.finditer(clean):
        writer.data(clean[pos : match.start()])
        writer.tag(match.group(2).lower(), bool(match.group(1)))
        pos = match.end()
    writer.data(clean[pos:])
    text = "".join(writer.parts).replace("\xa0", " ")
    lines = [line.strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_SAFE_TAGS = frozenset(
    "a abbr acronym address b bdi bdo big blockquote br caption center cite code col colgroup "
    "dd del dfn div dl dt em font h1 h2 h3 h4 h5 h6 hr i ins kbd li mark ol p pre q s samp "
    "small span strike strong sub sup table tbody td tfoot th thead tr tt u ul var".split()
)
_SAFE_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"align", "valign", "dir", "lang", "title", "style", "width", "height", "bgcolor"},
    "a": {"href"},
    "font": {"color", "face", "size"},
    "table": {"border", "cellpadding", "cellspacing"},
    "td": {"colspan", "rowspan", "nowrap"},
    "th": {"colspan", "rowspan", "nowrap"},
    "col": {"span"},
    "colgroup": {"span"},
    "ol": {"start", "type"},
    "blockquote": {"cite"},
}
# CSS properties that cannot name a URL (no background-image, list-style, content, cursor …).
_SAFE_STYLES = frozenset(
    "color background-color font font-family font-size font-style font-weight font-variant "
    "text-align text-decoration text-transform text-indent letter-spacing word-spacing "
    "line-height white-space vertical-align direction unicode-bidi width height min-width "
    "max-width min-height max-height margin margin-top margin-right margin-bottom margin-left "
    "padding padding-top padding-right padding-bottom padding-left border border-top "
    "border-right border-bottom border-left border-color border-style border-width "
    "border-collapse border-spacing border-radius display table-layout".split()
)
_DROP_WITH_CONTENT = frozenset(
    "script style title iframe frame frameset object embed applet noscript template svg math "
    "audio video canvas select textarea button".split()
)
_UNSAFE_VALUE = re.compile(r"url\s*\(|expression\s*\(|@import|\\", re.IGNORECASE)


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    del tag
    if attribute != "style":
        return value
    kept = [d for d in value.split(";") if d.strip() and not _UNSAFE_VALUE.search(d)]
    return ";".join(kept) or None


_TEXT_CLEANER = nh3.Cleaner(
    tags=set(_BLOCK | {"br", "td", "th"}),
    clean_content_tags=set(_DROP_WITH_CONTENT),
    attributes={},
    link_rel=None,
)
_CLEANER = nh3.Cleaner(
    tags=set(_SAFE_TAGS),
    clean_content_tags=set(_DROP_WITH_CONTENT),
    attributes=_SAFE_ATTRIBUTES,
    attribute_filter=_attribute_filter,
    url_schemes={"http", "https", "mailto", "tel"},
    url_relative="deny",
    filter_style_properties=set(_SAFE_STYLES),
)


def sanitize_html(markup: str) -> str | None:
    """A copy of ``markup`` that is safe to display and loads nothing remote.

    Keeps text formatting, lists, tables, links (``http``, ``https``,
    ``mailto``, ``tel``; opened only on a click) and harmless inline styles.
    Removes images of every kind (remote, ``cid:`` and ``data:``, so no
    tracking pixel can load), scripts, style sheets, frames, forms, media,
    event handlers, relative links and any CSS ``url()``.

    Args:
        markup: the message's HTML.

    Returns:
        The sanitised HTML, or None if the input is longer than
        ``MAX_HTML_CHARS`` or the result is larger than ``MAX_SAFE_HTML_BYTES``.
    """
    if len(markup) > MAX_HTML_CHARS:
        return None
    safe = _CLEANER.clean(markup).strip()
    if len(safe) > MAX_SAFE_HTML_BYTES or len(safe.encode("utf-8")) > MAX_SAFE_HTML_BYTES:
        return None
    return safe
