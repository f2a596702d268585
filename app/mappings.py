"""Column mappings for generic CSV imports, remembered per header set.

A generic chat or orders CSV says nothing about which column is which. The
user maps them once (in the import dialog or with ``--map``); the mapping is
stored under the file's header row, so the next export with the same columns
imports without asking.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ColumnMapping, utcnow
from connectors import registry


def header_key(headers: list[str]) -> str:
    """A key for a header row that ignores case, spacing and column order."""
    cells = sorted(" ".join(h.split()).casefold() for h in headers if h.strip())
    return hashlib.sha256("\x1f".join(cells).encode("utf-8")).hexdigest()


def saved(session: Session, format_name: str, headers: list[str]) -> dict[str, str] | None:
    """The mapping saved for this format and header set, if any still fits the headers."""
    row = session.scalar(
        select(ColumnMapping).where(
            ColumnMapping.format == format_name, ColumnMapping.header_key == header_key(headers)
        )
    )
    if row is None:
        return None
    present = {" ".join(h.split()).casefold(): h for h in headers}
    result: dict[str, str] = {}
    for field, column in row.mapping.items():
        cell = present.get(" ".join(str(column).split()).casefold())
        if cell is not None:
            result[str(field)] = cell
    return result


def suggest(session: Session, format_name: str, headers: list[str]) -> dict[str, str]:
    """Field → header: the saved mapping for these headers, else the format's guess."""
    remembered = saved(session, format_name, headers)
    if remembered is not None:
        return remembered
    spec = registry.mapping_spec(format_name)
    return spec.guess(headers) if spec is not None else {}


def save(
    session: Session, format_name: str, headers: list[str], mapping: Mapping[str, str]
) -> None:
    """Remember ``mapping`` (field → header) for this format and header set."""
    key = header_key(headers)
    row = session.scalar(
        select(ColumnMapping).where(
            ColumnMapping.format == format_name, ColumnMapping.header_key == key
        )
    )
    if row is None:
        row = ColumnMapping(format=format_name, header_key=key)
        session.add(row)
    row.headers = list(headers)
    row.mapping = {field: column for field, column in mapping.items() if column}
    row.updated_at = utcnow()
    session.flush()


def remembered_format(session: Session, headers: list[str]) -> str | None:
    """The generic format a mapping was saved under for this header set, if any."""
    return session.scalar(
        select(ColumnMapping.format)
        .where(ColumnMapping.header_key == header_key(headers))
        .order_by(ColumnMapping.updated_at.desc())
        .limit(1)
    )
