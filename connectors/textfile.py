"""Reading text exports as a stream: the encoding from a bounded sample, lines of bounded length.

A chat export or an order CSV can be gigabytes, and a hostile one may hold one line of
gigabytes. The connectors that read lines (WhatsApp, every CSV) read through here, so
memory stays flat whatever the file's size: ``detect_encoding`` checks the whole file as
UTF-8 through an incremental decoder (a BOM decides at once) and, when it is not UTF-8,
guesses the charset from a bounded sample taken where the first non-UTF-8 byte is; and
``bounded_lines`` hands out one line at a time, never more than a set number of
characters of one line, telling the caller how much of a longer line it left out.
"""

from __future__ import annotations

import codecs
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from heapq import merge
from typing import BinaryIO, TextIO

import charset_normalizer

from connectors.mail_text import western_text

SAMPLE_BYTES = 1 << 20
_CHUNK = 1 << 20
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def guess_encoding(sample: bytes) -> str:
    """The encoding of a sample of text that is not UTF-8 (no BOM).

    Windows-1252 when the sample reads as Western European text, else charset-normalizer's
    best guess, else Windows-1252.

    Args:
        sample: up to ``SAMPLE_BYTES`` of the file, around its first non-UTF-8 byte.
    """
    if western_text(sample) is not None:
        return "cp1252"
    best = charset_normalizer.from_bytes(sample).best()
    if best is None or best.encoding in ("ascii", "utf_8"):
        return "cp1252"
    try:
        return codecs.lookup(best.encoding).name
    except LookupError:
        return "cp1252"


def detect_encoding(fh: BinaryIO) -> str:
    """The encoding to read a file with, its whole content streamed once.

    A BOM decides (``utf-8-sig``, ``utf-16``, ``utf-32``); a file that is UTF-8 throughout
    is ``utf-8-sig`` (which reads UTF-8 with or without a BOM); otherwise the encoding is
    guessed from a bounded sample starting shortly before the first byte that is not
    UTF-8. The file position is left at the start.

    Args:
        fh: the file, opened in binary mode and seekable.
    """
    fh.seek(0)
    head = fh.read(4)
    fh.seek(0)
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    bad: int | None = None
    while chunk := fh.read(_CHUNK):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            bad = max(offset + exc.start - 3, 0)
            break
        offset += len(chunk)
    else:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            bad = max(offset - 3, 0)
    if bad is None:
        fh.seek(0)
        return "utf-8-sig"
    fh.seek(max(bad - 4096, 0))
    sample = fh.read(SAMPLE_BYTES)
    fh.seek(0)
    return guess_encoding(sample)


def bounded_lines(stream: TextIO, max_chars: int) -> Iterator[tuple[str, int]]:
    """The lines of a text stream, each with its line end, none longer than ``max_chars``.

    A longer line is cut: the first ``max_chars`` characters are given, and the rest of it
    is read and counted, never held.

    Args:
        stream: the text, opened with the newline mode the format needs.
        max_chars: the most characters of one line to hand out (at least 1).

    Yields:
        (line, left_out): the line (with its line end, unless it was cut or is the last)
        and how many characters of it were left out.
    """
    limit = max(max_chars, 1)
    while line := stream.readline(limit + 1):
        if len(line) <= limit or line[-1] in "\r\n":
            yield line, 0
            continue
        left_out = len(line) - limit
        line = line[:limit]
        while rest := stream.readline(_CHUNK):
            if rest[-1] in "\r\n":
                left_out += len(rest.rstrip("\r\n"))
                break
            left_out += len(rest)
        yield line, left_out


class KeySet:
    """A set of strings that keeps 8 bytes per member, for "seen before?" over huge files.

    Members are kept as their 64-bit hashes in sorted arrays merged as they grow, so
    telling a repeated order number or message id costs about 8 bytes per distinct key
    instead of a Python string each. Two different keys share a hash with a chance of
    about n²/2⁶⁵ for n keys (one in a million for six million keys).
    """

    _PENDING = 1 << 18
    _SORT_IN_MEMORY = 1 << 22
    _SLOTS = (1 << 26) - 1  # an 8 MB bit filter in front of the arrays

    def __init__(self) -> None:
        """An empty set."""
        self._pending: set[int] = set()
        self._runs: list[array[int]] = []
        self._filter = bytearray()  # one bit per hash slot of the arrays' members

    @staticmethod
    def _hash(key: str) -> int:
        # Python's own string hash: 64 bits on 64-bit builds, and the set lives in one process.
        return hash(key)

    def _has(self, value: int) -> bool:
        if value in self._pending:
            return True
        if not self._filter:
            return False
        slot = value & self._SLOTS
        if not self._filter[slot >> 3] & (1 << (slot & 7)):
            return False
        for run in self._runs:
            at = bisect_left(run, value)
            if at < len(run) and run[at] == value:
                return True
        return False

    def add(self, key: str) -> bool:
        """Add ``key``; True if it was not there before."""
        value = self._hash(key)
        if self._has(value):
            return False
        self._pending.add(value)
        if len(self._pending) >= self._PENDING:
            if not self._filter:
                self._filter = bytearray((self._SLOTS + 1) >> 3)
            for member in self._pending:
                slot = member & self._SLOTS
                self._filter[slot >> 3] |= 1 << (slot & 7)
            self._runs.append(array("q", sorted(self._pending)))
            self._pending.clear()
            while len(self._runs) > 1 and len(self._runs[-2]) <= len(self._runs[-1]):
                last, before = self._runs.pop(), self._runs.pop()
                if len(before) + len(last) <= self._SORT_IN_MEMORY:
                    self._runs.append(array("q", sorted(before + last)))
                else:  # a large merge stays lazy, so it never holds Python ints for all
                    self._runs.append(array("q", merge(before, last)))
        return True

    def __contains__(self, key: str) -> bool:
        return self._has(self._hash(key))
