"""Shared reading of order exports: CSV dialect and encoding, rows, grouping, order records.

Every order export is a CSV (or tab-separated) file whose columns are matched
by header name. This module reads such a file as a stream, in memory that
does not grow with the file: it detects the encoding (UTF-8 with or without
BOM, UTF-16/32 by their BOM, else Windows-1252 or charset-normalizer's guess
from a bounded sample), the delimiter (``csv.Sniffer`` restricted to
``, ; TAB |``), normalises header names (``order_id``, ``OrderId`` and
``Order ID`` are the same key), and yields rows with their line numbers,
turning unreadable or misshapen rows and physical lines longer than
``MAX_LINE_CHARS`` into ``Problem`` items; it groups an order's consecutive
rows (at most ``MAX_GROUP_ROWS``); and it builds the
one event of an order (title "Order <number>", a readable summary as text)
and its buyer participant, so every platform's orders look alike. Reading
money and dates is in ``connectors.order_values``.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

from app.errors import FormatError
from app.records import (
    EventRecord,
    Notice,
    OrderInfo,
    ParseOptions,
    Participant,
    Problem,
)
from connectors import textfile

BOM = "\ufeff"
DELIMITERS = ",;\t|"
SNIFF_BYTES = 64 * 1024
_PROGRESS_EVERY = 200
_SAMPLE_ROWS = 2000
# One physical line of an export is read up to this many characters; a longer line (no
# real row is: the csv module refuses cells past 131,072 characters) is skipped.
MAX_LINE_CHARS = 1_000_000
# Rows of one order (Shopify writes one per line item); more are skipped with a problem.
MAX_GROUP_ROWS = 10_000


# --------------------------------------------------------------------------- files


def detect_encoding(path: Path) -> str:
    """The encoding to read ``path`` with (see ``connectors.textfile.detect_encoding``).

    The file is streamed, so a large export is not held in memory: ``utf-8-sig`` if it
    all decodes as UTF-8, the BOM's UTF-16/32, else Windows-1252 for Western text or
    charset-normalizer's guess from a bounded sample where the first non-UTF-8 byte is.

    Args:
        path: the file.
    """
    with path.open("rb") as fh:
        return textfile.detect_encoding(fh)


def decode_head(head: bytes) -> str:
    """The first bytes of a file as text: BOM dropped, UTF-16 by its BOM, UTF-8 else Windows-1252.

    A multi-byte character cut off at the end of ``head`` does not count as
    invalid UTF-8.

    Args:
        head: up to the first 64 KiB of a file.
    """
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's "Unicode text"
        return head[: len(head) // 2 * 2].decode("utf-16", errors="replace").lstrip(BOM)
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            return head[: exc.start].decode("utf-8")
        return head.decode("cp1252", errors="replace")


def _first_record(text: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    except csv.Error:
        return []


def sniff_delimiter(text: str) -> str:
    """The delimiter of a CSV text: ``csv.Sniffer`` restricted to ``, ; TAB |``.

    The sniffer's answer is kept when it splits the header row at least as
    finely as any other candidate; otherwise (or when it gives up) the
    candidate that splits the header row into the most cells wins.

    Args:
        text: the start of the file, decoded.
    """
    cut = text.rfind("\n", 0, 16384)
    sample = text[: cut if cut > 0 else 16384]
    counts = {d: len(_first_record(sample, d)) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], -DELIMITERS.index(d)))
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = ""
    if sniffed in counts and counts[sniffed] >= counts[best]:
        return sniffed
    return best if counts[best] > 1 else ","


@lru_cache(maxsize=4096)
def norm(name: str) -> str:
    """A header name reduced to its key: lower case letters and digits only.

    ``order_id``, ``OrderId`` and ``Order ID`` all become ``orderid``.

    Args:
        name: a header cell or a column name as documented.

    Returns:
        The key.
    """
    return "".join(ch for ch in name.replace(BOM, "").replace("ï»¿", "").lower() if ch.isalnum())


def header_cells(head: bytes) -> list[str]:
    """The header row of a CSV file, from its first bytes (empty if unreadable).

    Args:
        head: up to the first 64 KiB of the file.
    """
    return list(_header(head))


@lru_cache(maxsize=4)
def _header(head: bytes) -> tuple[str, ...]:
    """``header_cells``, worked out once per head: detecting a file's format offers the
    same head to every CSV connector, and sniffing the delimiter of a text that is not
    CSV (a mail, a chat) is slow (``csv.Sniffer`` tries every quote pattern)."""
    text = decode_head(head)
    if not text.strip():
        return ()
    return tuple(
        " ".join(cell.replace(BOM, "").split())
        for cell in _first_record(text, sniff_delimiter(text))
    )


def header_keys(head: bytes) -> set[str]:
    """The normalised header keys of a CSV file, from its first bytes.

    Args:
        head: up to the first 64 KiB of the file.

    Returns:
        The keys (see ``norm``); empty if the file has no readable header.
    """
    return {norm(cell) for cell in _header(head)} - {""}


def clean(value: str) -> str:
    """A cell without surrounding blanks, its embedded line ends as ``\\n``.

    Args:
        value: the raw cell.

    Returns:
        The cleaned text.
    """
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


@dataclass(frozen=True)
class Row:
    """One data row: its first line number and its cells by normalised header key."""

    line: int
    values: Mapping[str, str]

    def get(self, *names: str) -> str:
        """The first non-empty cell among the columns ``names`` (any spelling), or ""."""
        for name in names:
            value = self.values.get(norm(name), "")
            if value:
                return value
        return ""


class CsvReader:
    """An open CSV export: encoding, delimiter and header known, rows streamed.

    Use as a context manager. ``rows()`` yields ``Row`` items and ``Problem``
    items for rows it cannot read; it polls ``options.should_cancel`` between
    rows (setting ``cancelled``) and reports progress in bytes.
    """

    def __init__(
        self,
        path: Path,
        options: ParseOptions,
        what: str,
        encoding: str | None = None,
        aliases: Mapping[str, str] | None = None,
        skip_lines: int = 0,
    ) -> None:
        """Open ``path`` and read its header row.

        Args:
            path: the export.
            options: progress and cancel hooks.
            what: the format's name for messages ("a WooCommerce orders export").
            encoding: the file's encoding when already known (else detected).
            aliases: other names of columns (a localized export's), as keys (``norm``)
                → the key the connector reads them by.
            skip_lines: physical lines before the header row (a report's title, blank
                lines), read past unparsed; row numbers count them.

        Raises:
            FormatError: the file is empty or its header cannot be read.
        """
        self.path = path
        self.name = path.name
        self.options = options
        self.what = what
        self.aliases = aliases
        self.cancelled = False
        self.encoding = encoding or detect_encoding(path)
        self.total = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
        if self.encoding.startswith("utf-8"):
            text = decode_head(head)
        else:
            text = head.decode(self.encoding, errors="replace")
        if skip_lines:  # (the delimiter is the header's and the rows', not a title's)
            text = "\n".join(text.splitlines()[skip_lines:])
        self.delimiter = sniff_delimiter(text)
        self._raw = path.open("rb")
        self._text = io.TextIOWrapper(
            self._raw, encoding=self.encoding, errors="replace", newline=""
        )
        self._lines = BoundedLines(self._text, MAX_LINE_CHARS)
        for _ in range(skip_lines):
            next(self._lines, None)
        self._skipped = skip_lines
        # A raw row to leave out silently (a report's footer: "12 record(s) downloaded").
        self.skip_row: Callable[[list[str]], bool] | None = None
        self._reader = csv.reader(self._lines, delimiter=self.delimiter)
        try:
            header = next(self._reader, [])
        except csv.Error as exc:
            self.close()
            raise FormatError(f"{self.name}: not {what} ({exc})") from exc
        self.header = [" ".join(cell.replace(BOM, "").split()) for cell in header]
        if not any(self.header):
            self.close()
            raise FormatError(f"{self.name}: not {what} (the file is empty)")
        self.columns: dict[str, int] = {}
        for position, cell in enumerate(self.header):
            key = norm(cell)
            if key:
                self.columns.setdefault(key if aliases is None else aliases.get(key, key), position)

    def __enter__(self) -> CsvReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._text.close()
        self._raw.close()

    def has(self, *names: str) -> bool:
        """Whether the header has every one of the columns ``names`` (any spelling)."""
        return all(norm(name) in self.columns for name in names)

    def column(self, *names: str) -> str | None:
        """The header cell of the first of ``names`` the file has, or None."""
        for name in names:
            if norm(name) in self.columns:
                return self.header[self.columns[norm(name)]]
        return None

    def fail(self, reason: str) -> FormatError:
        """A one-line ``FormatError`` saying the file is not this format, and why.

        Args:
            reason: what is missing, in a few words.

        Returns:
            The error, for the caller to raise.
        """
        return FormatError(f"{self.name}: not {self.what} ({reason})")

    def sample(self, names: Iterable[str], limit: int = _SAMPLE_ROWS) -> list[str]:
        """Non-empty cells of the columns ``names`` (any spelling) in the first ``limit`` rows.

        Read through a second handle, so the main pass is not disturbed; used
        to infer the file's day/month order or number style first.

        Args:
            names: column names.
            limit: how many rows to look at.

        Returns:
            The cells, row by row.
        """
        return sample_values(self.path, names, limit, self.encoding, self.aliases, self._skipped)

    def records(self) -> Iterator[tuple[int, list[str]] | Problem]:
        """Raw rows as (first line number, cells); blank rows skipped, bad CSV as problems."""
        progress = self.options.progress
        count = 0
        while True:
            if self.options.should_cancel is not None and self.options.should_cancel():
                self.cancelled = True
                return
            start = self._reader.line_num + 1 + self._skipped
            try:
                cells: list[str] = next(self._reader)
            except StopIteration:
                break
            except csv.Error as exc:
                yield from self._lines.skipped(self.name)
                yield Problem(f"{self.name}:{start}", f"unreadable CSV row: {exc}")
                continue
            if self._lines.cut:
                yield from self._lines.skipped(self.name)
            if not any(cell.strip() for cell in cells):
                continue
            count += 1
            if progress is not None and count % _PROGRESS_EVERY == 0:
                progress(min(self._raw.tell(), self.total), self.total)
            yield start, cells
        if progress is not None:
            progress(self.total, self.total)

    def rows(self) -> Iterator[Row | Problem]:
        """Rows by header key; a row with the wrong number of cells becomes a problem."""
        width = len(self.header)
        for record in self.records():
            if isinstance(record, Problem):
                yield record
                continue
            line, cells = record
            if self.skip_row is not None and self.skip_row(cells):
                continue
            if len(cells) > width and not any(cell.strip() for cell in cells[width:]):
                cells = cells[:width]
            if len(cells) != width:
                yield Problem(
                    f"{self.name}:{line}",
                    f"row has {len(cells)} columns but the header has {width}; skipped",
                )
                continue
            yield Row(line, {key: clean(cells[i]) for key, i in self.columns.items()})


class BoundedLines:
    """The physical lines the csv module reads, each at most ``max_chars`` long.

    A longer line is read to its end without being held and handed over as an empty line;
    ``skipped`` turns it into a problem.
    """

    def __init__(self, stream: io.TextIOWrapper, max_chars: int, lines_before: int = 0) -> None:
        """Read ``stream``, whose first line is number ``lines_before + 1``."""
        self._lines = textfile.bounded_lines(stream, max_chars)
        self._max = max_chars
        self.number = lines_before
        self.cut: list[tuple[int, int]] = []  # (line number, its length)

    def __iter__(self) -> BoundedLines:
        return self

    def __next__(self) -> str:
        line, left_out = next(self._lines)
        self.number += 1
        if left_out:
            self.cut.append((self.number, len(line) + left_out))
            return "\n"
        return line

    def skipped(self, name: str) -> Iterator[Problem]:
        """A problem for each line skipped as too long since the last call."""
        for number, length in self.cut:
            yield Problem(
                f"{name}:{number}",
                f"line of {length:,} characters, longer than {self._max:,}; skipped",
            )
        self.cut.clear()


def resolve_columns(
    columns: Mapping[str, int], fields: Mapping[str, tuple[str, ...]]
) -> dict[str, str]:
    """For each field, the key of the first of its column names the file has.

    Args:
        columns: the file's normalised header keys (``CsvReader.columns``).
        fields: field → column names to try, best first (any spelling).

    Returns:
        field → normalised key, for the fields the file has.
    """
    found: dict[str, str] = {}
    for field_name, names in fields.items():
        for name in names:
            if norm(name) in columns:
                found[field_name] = norm(name)
                break
    return found


def mapped_columns(
    header: list[str],
    column_map: Mapping[str, str] | None,
    fields: Iterable[str],
    guess: Callable[[list[str]], dict[str, str]],
    file_name: str,
) -> dict[str, str]:
    """Field → header cell for a file read through a column mapping: the columns guessed
    from their names, with the user's mapping (``--map field=Column``) over them (a column
    the user maps is no longer the one guessed for another field).

    Raises:
        FormatError: the mapping names an unknown field or a column the file lacks.
    """
    known = tuple(fields)
    cells = {norm(cell) for cell in header if norm(cell)}
    mapping = guess(header)
    for field_name, cell in (column_map or {}).items():
        if field_name not in known:
            raise FormatError(
                f"{file_name}: --map names an unknown field {field_name!r}; "
                f"fields: {', '.join(known)}"
            )
        if norm(cell) not in cells:
            raise FormatError(
                f"{file_name}: --map {field_name}={cell}: no such column; "
                f"columns: {', '.join(header)}"
            )
        mapping = {f: c for f, c in mapping.items() if norm(c) != norm(cell)}
        mapping[field_name] = cell
    return mapping


class Fields:
    """Reads named fields from rows through a file's resolved columns."""

    def __init__(self, columns: Mapping[str, int], fields: Mapping[str, tuple[str, ...]]) -> None:
        """Resolve ``fields`` against the file's header keys ``columns``."""
        self.keys = resolve_columns(columns, fields)

    def has(self, *names: str) -> bool:
        """Whether the file has a column for every field in ``names``."""
        return all(name in self.keys for name in names)

    def get(self, row: Row, name: str) -> str:
        """The cell of field ``name`` in ``row`` ("" if the file lacks it)."""
        key = self.keys.get(name)
        return row.values.get(key, "") if key else ""


def sample_values(
    path: Path,
    names: Iterable[str],
    limit: int = _SAMPLE_ROWS,
    encoding: str | None = None,
    aliases: Mapping[str, str] | None = None,
    skip_lines: int = 0,
) -> list[str]:
    """Non-empty cells of the columns ``names`` in the first ``limit`` rows.

    Used to infer a file's day/month order or number style before the real pass.

    Args:
        path: the export.
        names: column names (any spelling).
        limit: how many rows to look at.
        encoding: the file's encoding when already known.
        aliases: other names of columns (``CsvReader``'s).
        skip_lines: lines before the header row (``CsvReader``'s).

    Returns:
        The cells, row by row.
    """
    wanted = [norm(n) for n in names]
    found: list[str] = []
    options = ParseOptions(tz=UTC)
    try:
        with CsvReader(path, options, "a CSV file", encoding, aliases, skip_lines) as reader:
            for n, row in enumerate(reader.rows()):
                if n >= limit:
                    break
                if isinstance(row, Row):
                    found.extend(v for key in wanted if (v := row.values.get(key, "")))
    except FormatError:
        return []
    return found


def group_rows(
    reader: CsvReader, key: Callable[[Row], str], missing: str
) -> Iterator[list[Row] | Problem]:
    """Consecutive rows with the same key, as lists; problems passed through.

    A row without a key becomes a problem (``missing`` says why). A key seen
    again after other keys becomes a problem too: one order's rows must be
    together (exports write them so), and the earlier order has already been
    emitted; the keys seen are kept as 8-byte hashes, so this holds for huge
    files. Rows of one order past ``MAX_GROUP_ROWS`` are problems. The last
    group is dropped when the reader was cancelled.

    Args:
        reader: the open export.
        key: the order number of a row ("" if none).
        missing: the problem text for a row without a key.
    """
    current: list[Row] = []
    current_key = ""
    seen = textfile.KeySet()
    for row in reader.rows():
        if isinstance(row, Problem):
            yield row
            continue
        value = key(row)
        if not value:
            yield Problem(f"{reader.name}:{row.line}", missing)
            continue
        if current and value == current_key:
            if len(current) < MAX_GROUP_ROWS:
                current.append(row)
            else:
                yield too_many_rows(reader.name, row.line, value)
            continue
        if current:
            yield current
        if not seen.add(value):
            yield Problem(
                f"{reader.name}:{row.line}",
                f"order {value} appears again after other orders; this row is skipped "
                "(one order's rows must be together)",
            )
            current, current_key = [], ""
            continue
        current, current_key = [row], value
    if current and not reader.cancelled:
        yield current


def too_many_rows(filename: str, line: int, key: str) -> Problem:
    """The problem for a row of an order that already has ``MAX_GROUP_ROWS`` rows."""
    return Problem(
        f"{filename}:{line}",
        f"order {key} has more than {MAX_GROUP_ROWS:,} rows; this row is skipped",
    )


# --------------------------------------------------------------------------- records


def no_currency_notice(currency: str) -> Notice:
    """The notice for an export that states no currency.

    Args:
        currency: the ISO code the amounts are read in (the ``currency`` setting).

    Returns:
        The notice for the import report.
    """
    return Notice(f"no currency in the file; amounts read as {currency} (setting `currency`)")


def drop_empty(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without empty strings, Nones and empty containers.

    Args:
        values: a details mapping.

    Returns:
        A new dict.
    """
    return {k: v for k, v in values.items() if v not in ("", None, [], {})}


def join_name(*parts: str) -> str:
    """Name parts joined by single spaces, empty parts dropped."""
    return " ".join(" ".join(p.split()) for p in parts if p.strip())


def buyer(
    platform: str,
    *,
    name: str = "",
    email: str = "",
    phone: str = "",
    handle: str = "",
    platform_id: str = "",
) -> tuple[Participant, ...]:
    """The buyer as a one-participant tuple, or () when the export names nobody.

    Args:
        platform: scopes ``handle`` and ``platform_id`` ("etsy", "stripe").
        name: display name ("" if none).
        email: e-mail address ("" if none).
        phone: phone number as written ("" if none).
        handle: platform username ("" if none).
        platform_id: the platform's customer id ("" if none).

    Returns:
        ``(Participant("buyer", …),)`` or ``()``.
    """
    if not (name or email or phone or handle or platform_id):
        return ()
    return (
        Participant(
            "buyer",
            name,
            email or None,
            phone or None,
            handle=handle or None,
            platform=platform,
            platform_id=platform_id or None,
        ),
    )


def summary(info: OrderInfo, details: Mapping[str, Any]) -> str:
    """A readable plain-text summary of an order: description, items, totals, statuses, notes.

    Args:
        info: the order.
        details: its details (``description``, ``shipping_method``, ``notes`` are shown).

    Returns:
        Lines of text, e.g. ``2 × Mug @ 12.00`` and ``Total 24.00 EUR · paid · refunded 5.00 EUR``.
    """
    out: list[str] = []
    if details.get("description"):
        out.append(str(details["description"]))
    for line in info.lines:
        price = f" @ {line.unit_price}" if line.unit_price is not None else ""
        out.append(f"{line.quantity} × {line.name}{price}")
    total = f"Total {info.total} {info.currency}".rstrip() if info.total is not None else ""
    status = [total, info.financial_status, info.fulfillment_status]
    if info.cancelled_at is not None:
        status.append("cancelled")
    if info.refunded:
        status.append(f"refunded {info.refunded} {info.currency}".rstrip())
    out.append(" · ".join(part for part in status if part))
    if details.get("shipping_method"):
        out.append(f"Shipping: {details['shipping_method']}")
    if details.get("notes"):
        out.append(f"Notes: {details['notes']}")
    return "\n".join(line for line in out if line)


def order_event(
    source: str,
    info: OrderInfo,
    occurred_at: datetime,
    participants: tuple[Participant, ...],
    details: Mapping[str, Any],
    locator: str,
    title: str | None = None,
    external_id: str | None = None,
) -> EventRecord:
    """The one event of an order: title "Order <number>", a summary as its text.

    Args:
        source: the platform ("woocommerce"); ``info.number`` is unique within it.
        info: the order details.
        occurred_at: when the order was placed (aware).
        participants: the buyer, if the export names one.
        details: platform extras (billing and shipping addresses, methods, …).
        locator: "file:line" of the order's first row.
        title: another title (refund events use "Refund <number>").
        external_id: the natural key, when it is not the order number.
    """
    clean_details = drop_empty(details)
    return EventRecord(
        channel="order",
        source=source,
        external_id=external_id or info.number,
        occurred_at=occurred_at,
        title=title or f"Order {info.number}",
        text=summary(info, clean_details),
        participants=participants,
        details=clean_details,
        order=info,
        locator=locator,
    )
