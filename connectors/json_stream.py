"""Streaming JSON for the big chat exports: one value at a time, memory flat whatever the size.

A Telegram ``result.json``, a Zendesk export or a Meta ``message_N.json`` can be gigabytes;
loading one whole takes several times its size in memory. Connectors read them here instead,
as a stream of ``ijson`` parse events (its C backend ``yajl2_c`` when installed, its pure
Python one otherwise), and ask for the values they care about whole: each message, each
ticket, by its path (``messages.item``, ``chats.list.item.messages.item``).

Numbers arrive as ``int`` or ``float`` (never ``Decimal``). A number the parser cannot hold
(an integer with thousands of digits, ``1e999``), ``NaN``/``Infinity``, or anything else that
is not JSON makes the file fail with a one-line ``FormatError``, never a crash: ``yajl2_c``
is always run with ``use_float``, because without it an integer longer than Python's
4300-digit limit crashes the interpreter.

Exports that are not quite JSON are repaired on the fly when a first read fails (``reader``
with ``repair``): tdesktop's ``\\xNN`` escapes become ``\\u00NN``, raw control characters
(other than tab and line breaks) are escaped, and bytes that are not UTF-8 become U+FFFD. A
UTF-8 byte-order mark is always skipped.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from typing import Any, Protocol

import ijson
from ijson.common import ObjectBuilder

from app.errors import FormatError

try:
    _BACKEND: Any = ijson.get_backend("yajl2_c")
except ImportError:  # pragma: no cover - depends on the wheel installed
    _BACKEND = ijson.get_backend("python")

BACKEND_NAME: str = _BACKEND.backend_name
"""The ``ijson`` backend in use ("yajl2_c" or "python")."""

_CHUNK = 1 << 16
_POLL_CHUNKS = 64  # poll should_cancel every 4 MiB read
_BOM = b"\xef\xbb\xbf"
_X_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\x([0-9A-Fa-f]{2})")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_STARTS = frozenset({"start_map", "start_array"})
_ENDS = frozenset({"end_map", "end_array"})

Event = tuple[str, str, Any]


class BinaryFile(Protocol):
    """What is read here: an open file, a zip member stream."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes; b"" at the end."""
        ...

    def close(self) -> None:
        """Release the file."""
        ...


class JsonError(FormatError):
    """The bytes are not JSON (a one-line reason)."""


class Stopped(Exception):
    """``should_cancel`` said to stop while a file was being read; the parse ends early."""


class Reader:
    """A binary file read in chunks: BOM skipped, bytes counted, optionally repaired.

    Attributes:
        consumed: bytes taken from the underlying file so far (for progress and errors).
    """

    def __init__(
        self,
        raw: BinaryFile,
        *,
        repair: bool = False,
        should_cancel: Callable[[], bool] | None = None,
    ) -> None:
        """Wrap ``raw``; with ``repair``, fix ``\\xNN`` escapes, control characters and bad
        UTF-8 on the way; ``should_cancel`` is polled every few MB (``Stopped`` if True)."""
        self._raw = raw
        self._should_cancel = should_cancel
        self._chunks = 0
        self._repair = repair
        self._started = False
        self._carry = b""
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._eof = False
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        """Up to about ``size`` bytes (repairs may lengthen a chunk); b"" at the end."""
        if size == 0:
            return b""  # ijson asks for nothing to learn whether the file gives bytes
        while True:
            if self._eof:
                out, self._carry = self._carry, b""
                return out
            data = self._raw.read(_CHUNK)
            self.consumed += len(data)
            self._chunks += 1
            poll = self._should_cancel is not None and not self._chunks % _POLL_CHUNKS
            if poll and self._should_cancel is not None and self._should_cancel():
                raise Stopped
            if not self._started:
                more = bool(data)
                data = self._carry + data
                if len(data) < len(_BOM) and more:
                    self._carry = data
                    continue
                self._started = True
                self._carry = b""
                data = data.removeprefix(_BOM)
            if not data:
                self._eof = True
                if self._repair:
                    tail = self._decoder.decode(b"", final=True).encode("utf-8")
                    self._carry = self._fix(self._carry + tail)
                continue
            if not self._repair:
                return data
            text = self._carry + self._decoder.decode(data).encode("utf-8")
            cut = _safe_cut(text)
            self._carry = text[cut:]
            out = self._fix(text[:cut])
            if out:
                return out

    @staticmethod
    def _fix(data: bytes) -> bytes:
        data = _X_ESCAPE.sub(rb"\1\\u00\2", data)
        return _CONTROL.sub(lambda m: b"\\u%04x" % m.group()[0], data)


def _safe_cut(data: bytes) -> int:
    """Where ``data`` may be cut without splitting a run of backslashes or a ``\\xNN``."""
    cut = len(data) - 3
    while cut > 0:
        at = data.rfind(b"\\", max(0, cut - 3), cut)
        if at < 0:
            return cut
        cut = at
    return len(data)  # nothing but backslashes: take it all


def _one_line(exc: BaseException) -> str:
    first = exc.args[0] if exc.args else exc
    if isinstance(first, bytes):
        first = first.decode("utf-8", "replace")
    if isinstance(first, UnicodeDecodeError):
        return "not UTF-8"
    text = str(first).strip().splitlines()
    line = text[0].strip()[:200] if text else type(exc).__name__
    if "integer overflow" in line or "digits" in line:
        return "a number too large, with thousands of digits"
    return line


def events(reader: Reader, where: str) -> Iterator[Event]:
    """The parse events of one JSON document.

    Args:
        reader: the file to read.
        where: the file's name, for the error message.

    Yields:
        ``(prefix, event, value)`` as ``ijson.parse`` gives them.

    Raises:
        JsonError: the bytes are not JSON (one line, with the byte offset).
    """
    try:
        yield from _BACKEND.parse(reader, use_float=True)
    except (ijson.JSONError, ValueError, OverflowError) as exc:
        raise JsonError(
            f"{where}: not valid JSON ({_one_line(exc)}, near byte {reader.consumed})"
        ) from exc


def values(stream: Iterable[Event], wanted: frozenset[str]) -> Iterator[Event]:
    """Pass parse events through, but give each value at a ``wanted`` prefix whole.

    Args:
        stream: parse events.
        wanted: prefixes (``messages.item``) whose values are wanted as Python objects.

    Yields:
        Every other event unchanged, and ``(prefix, "value", value)`` for each wanted value
        (dicts, lists and scalars alike) instead of the events that make it up.
    """
    it = iter(stream)
    for prefix, event, value in it:
        if event == "map_key" or event in _ENDS or prefix not in wanted:
            yield prefix, event, value
            continue
        if event not in _STARTS:
            yield prefix, "value", value
            continue
        builder = ObjectBuilder()
        builder.event(event, value)
        depth = 1
        for _prefix, inner, inner_value in it:
            builder.event(inner, inner_value)
            if inner in _STARTS:
                depth += 1
            elif inner in _ENDS:
                depth -= 1
                if depth == 0:
                    break
        yield prefix, "value", builder.value


def first_try(
    opener: Callable[[], BinaryFile],
    scan: Callable[[Reader], Any],
    where: str,
    should_cancel: Callable[[], bool] | None = None,
) -> tuple[Any, bool]:
    """Run ``scan`` over the file; if it is not JSON, run it again over the repaired bytes.

    Args:
        opener: opens the file afresh (binary).
        scan: reads the whole file through the reader it is given and returns a result.
        where: the file's name, for errors.
        should_cancel: polled while reading (``Stopped`` if it says to stop).

    Returns:
        ``scan``'s result and whether the repaired reading was needed (later passes over the
        same file must then repair too).

    Raises:
        JsonError: the file is not JSON even after the repairs (the first reading's reason).
        FormatError: ``scan`` found the file is not its format.
        OSError: the file cannot be read.
    """
    try:
        with closing(opener()) as fh:
            return scan(Reader(fh, should_cancel=should_cancel)), False
    except JsonError as exc:
        first = exc
    try:
        with closing(opener()) as fh:
            return scan(Reader(fh, repair=True, should_cancel=should_cancel)), True
    except JsonError:
        raise first from None
