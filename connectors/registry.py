"""The registry of connectors: lists them, finds one by name, detects a file's format.

Adding a source format means adding one connector module and one line in
``_CONNECTORS`` below; nothing else changes.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

from app.errors import FormatError, UserFacingError
from connectors.base import Connector

# (module, class) of every connector, in the order ties are broken.
_CONNECTORS: tuple[tuple[str, str], ...] = (
    ("connectors.mbox", "MboxConnector"),
    ("connectors.eml", "EmlConnector"),
    ("connectors.whatsapp", "WhatsAppConnector"),
    ("connectors.shopify", "ShopifyConnector"),
)

SNIFF_BYTES = 64 * 1024
_MIN_CONFIDENCE = 0.3


@cache
def all_connectors() -> tuple[Connector, ...]:
    """Every registered connector, instantiated once."""
    found: list[Connector] = []
    for module_name, class_name in _CONNECTORS:
        module = importlib.import_module(module_name)
        found.append(getattr(module, class_name)())
    return tuple(found)


def names() -> list[str]:
    """The format names ``--format`` accepts."""
    return [c.name for c in all_connectors()]


def get(name: str) -> Connector:
    """The connector called ``name``.

    Raises:
        UserFacingError: no connector has that name.
    """
    for connector in all_connectors():
        if connector.name == name:
            return connector
    raise UserFacingError(f"unknown format {name!r}; known formats: {', '.join(names())}")


def read_head(path: Path) -> bytes:
    """The first bytes of ``path`` that sniffing looks at.

    Raises:
        UserFacingError: the file cannot be read.
    """
    try:
        with path.open("rb") as fh:
            return fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise UserFacingError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def detect(path: Path) -> Connector:
    """The connector most sure that ``path`` is its format.

    Raises:
        FormatError: no connector recognises the file.
        UserFacingError: the file cannot be read.
    """
    head = read_head(path)
    best: Connector | None = None
    best_score = 0.0
    for connector in all_connectors():
        score = connector.sniff(path, head)
        if score > best_score:
            best, best_score = connector, score
    if best is None or best_score < _MIN_CONFIDENCE:
        raise FormatError(
            f"{path}: not a format Threadline recognises (supported: {', '.join(names())})"
        )
    return best


def expand(paths: Iterable[Path]) -> Iterator[Path]:
    """Files to import: each file as given, each folder walked recursively.

    Hidden files and folders inside a walked folder are skipped, except for a
    Maildir's ``cur``/``new`` which are ordinary folders.
    """
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if child.is_file():
                    yield child
        else:
            yield path
