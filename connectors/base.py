"""The connector interface every source format implements.

A connector recognises its format from a file's first bytes (``sniff``) and
turns the file into a stream of ``app.records`` items (``parse``). It never
touches the database and never raises for one bad item: that item becomes a
``Problem`` and the stream goes on. A file that is not the format at all
raises ``FormatError`` with a one-line reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from app.records import Channel, Item, ParseOptions


class Connector(Protocol):
    """A source format.

    Attributes:
        name: the stable format name used by ``--format`` ("mbox", "whatsapp").
        label: a human description for dialogs and reports.
        channel: the channel its events belong to.
        extensions: file endings it usually has (lower case, with dot).
    """

    name: str
    label: str
    channel: Channel
    extensions: tuple[str, ...]

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure (0.0–1.0) this connector is that ``path`` is its format.

        Args:
            path: the file (its name may help).
            head: up to the first 64 KiB of the file.
        """
        ...

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield the file's events, problems, owner hints and notices.

        Raises:
            FormatError: the file is not this format at all.
        """
        ...


@dataclass(frozen=True)
class MappingSpec:
    """What a generic CSV format needs mapped: its fields and how to guess them.

    Attributes:
        fields: every field the format reads, in display order.
        required: the fields an import cannot do without.
        labels: a human label for each field.
        guess: header row → {field: header cell} from common header names.
        any_of: fields of which at least one must have a column (an address book's
            email or phone), beside ``required``.
    """

    fields: tuple[str, ...]
    required: tuple[str, ...]
    labels: Mapping[str, str]
    guess: Callable[[list[str]], dict[str, str]]
    any_of: tuple[str, ...] = ()
