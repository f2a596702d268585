"""Copy a whole Threadline store to another one: a local file to a team server, or back.

``threadline migrate-store --to URL`` moves a shop from its local SQLite file to a shared
PostgreSQL server (or makes a local copy of a server, ``--to sqlite:///PATH``). The target
is built by the same Alembic migrations, must be empty, and is written in one transaction:
either every row arrives or nothing does. Every table is then counted on both sides and the
copy is reported as verified only when all counts agree.

Rows travel through SQLAlchemy Core with the models' own column types, so times, exact
decimals and JSON details arrive as they left. A table that points at itself
(``customer.merged_into_id``) is written first without those links, then the links are set,
so the order of rows never trips a foreign key. Derived search indexes are not copied: the
lookup ones are built by the target's own triggers (SQLite) or indexes (PostgreSQL), and the
full-text index is filled from the copied events (``app.dialect.fill_index``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, Table, func, select, text, update
from sqlalchemy.engine import Connection

from app.db import Database, open_database
from app.dialect import fill_index
from app.errors import UserFacingError
from app.models import Base

_CHUNK = 2000

Progress = Callable[[str, int, int], None]  # table, rows copied, rows in all


@dataclass(frozen=True)
class TableCount:
    table: str
    source: int
    target: int

    @property
    def ok(self) -> bool:
        return self.source == self.target


@dataclass(frozen=True)
class CopyReport:
    """What was copied where, table by table, and whether every count agrees."""

    source: str
    target: str
    tables: list[TableCount] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return all(t.ok for t in self.tables)

    @property
    def rows(self) -> int:
        return sum(t.target for t in self.tables)

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "verified": self.verified,
            "rows": self.rows,
            "tables": [
                {"table": t.table, "source": t.source, "target": t.target} for t in self.tables
            ],
        }


def _tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)


def _self_links(table: Table) -> list[str]:
    """Columns of ``table`` that reference ``table`` itself."""
    return [
        fk.parent.name
        for fk in table.foreign_keys
        if fk.column.table is table and fk.parent.nullable
    ]


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def copy_store(
    source: Database, target_url: str, *, progress: Progress | None = None
) -> CopyReport:
    """Copy every row of ``source`` into the empty store at ``target_url``, and verify it.

    Raises:
        UserFacingError: the target is the source, cannot be opened, or already holds data.
    """
    target = open_database(target_url)
    try:
        if target.url == source.url:
            raise UserFacingError("the target is the database being copied")
        tables = _tables()
        with source.engine.connect() as src, target.engine.begin() as dst:
            busy = [t.name for t in tables if _count(dst, t)]
            if busy:
                raise UserFacingError(
                    f"{_safe(target_url)} already holds data (tables {', '.join(busy[:5])}); "
                    "copy into a new, empty database"
                )
            totals = {t.name: _count(src, t) for t in tables}
            for table in tables:
                _copy_table(src, dst, table, totals[table.name], progress)
            _after_copy(dst)
            counts = [TableCount(t.name, totals[t.name], _count(dst, t)) for t in tables]
            report = CopyReport(_safe(source.url), _safe(target_url), counts)
            if not report.verified:
                wrong = [t.table for t in counts if not t.ok]
                raise UserFacingError(
                    f"the copy does not match the source in {', '.join(wrong)}; nothing was kept"
                )
        return report
    finally:
        target.dispose()


def _copy_table(
    src: Connection, dst: Connection, table: Table, total: int, progress: Progress | None
) -> None:
    links = _self_links(table)
    keys = list(table.primary_key.columns)
    stmt = select(table).order_by(*keys)
    done = 0
    pending_links: list[dict[str, Any]] = []
    result = src.execution_options(stream_results=True, yield_per=_CHUNK).execute(stmt)
    for chunk in result.mappings().partitions(_CHUNK):
        rows = [dict(r) for r in chunk]
        if links:
            for row in rows:
                wanted = {c: row[c] for c in links if row[c] is not None}
                if wanted:
                    pending_links.append({**{k.name: row[k.name] for k in keys}, **wanted})
                    for c in links:
                        row[c] = None
        dst.execute(table.insert(), rows)
        done += len(rows)
        if progress is not None:
            progress(table.name, done, total)
    for link in pending_links:
        where = [k == link[k.name] for k in keys]
        values = {c: link[c] for c in links if c in link}
        dst.execute(update(table).where(*where).values(**values))


def _after_copy(dst: Connection) -> None:
    """What the target needs beyond the rows: sequences past the copied ids, search index."""
    if dst.dialect.name == "postgresql":
        for table in _tables():
            pk = list(table.primary_key.columns)
            if len(pk) != 1 or not isinstance(pk[0].type, Integer):
                continue
            if not _has_sequence(dst, table.name, pk[0].name):
                continue
            dst.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence(:t, :c), "
                    f'COALESCE((SELECT MAX("{pk[0].name}") FROM "{table.name}"), 0) + 1, false)'
                ).bindparams(t=table.name, c=pk[0].name)
            )
    fill_index(dst)


def _has_sequence(dst: Connection, table: str, column: str) -> bool:
    found = dst.execute(
        text("SELECT pg_get_serial_sequence(:t, :c)").bindparams(t=table, c=column)
    ).scalar()
    return found is not None


def _safe(url: str) -> str:
    """A URL as it may be shown: without a password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url
