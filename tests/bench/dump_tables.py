"""Every table of a SQLite database as text, rows ordered by primary key, to diff two stores.

Run on demand:

    python -m tests.bench.dump_tables DB OUT [--mask REGEX]

It writes one line per table (``== name, rows``) followed by its rows (``repr`` of the
tuple, ids included), ordered by the primary key (the rowid for a table without one),
full-text shadow tables included. ``--mask`` replaces what the regular expression matches
in a row's text by ``<masked>``: the times an import stamps with the clock (an event's
``created_at``, a run's start), which two imports of the same file never share. Two
imports of the same corpus by two versions of the write path should give the same file
(with the parse worker off, ``THREADLINE_PARSE_WORKER=0``: its batches follow the
timing of two processes, and the full-text index's segments the batches).
"""

from __future__ import annotations

import argparse
import re
import sqlite3
from pathlib import Path


def dump(db: Path, out: Path, mask: re.Pattern[str] | None = None) -> int:
    """Write ``db``'s tables to ``out``; returns how many rows were written."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    written = 0
    try:
        tables = [
            str(r[0])
            for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        ]
        with out.open("w", encoding="utf-8") as fh:
            for table in tables:
                info = con.execute(f'PRAGMA table_info("{table}")').fetchall()
                key = [str(c[1]) for c in sorted(info, key=lambda c: int(c[5])) if c[5]]
                order = ", ".join(f'"{c}"' for c in key) if key else "rowid"
                try:
                    rows = con.execute(f'SELECT * FROM "{table}" ORDER BY {order}').fetchall()
                except sqlite3.OperationalError:  # a virtual table without a rowid to sort by
                    rows = con.execute(f'SELECT * FROM "{table}"').fetchall()
                fh.write(f"== {table}, {len(rows)} rows\n")
                for row in rows:
                    line = repr(row)
                    fh.write((mask.sub("<masked>", line) if mask else line) + "\n")
                written += len(rows)
    finally:
        con.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--mask", help="a regular expression for the clock's times")
    args = parser.parse_args()
    count = dump(args.db, args.out, re.compile(args.mask) if args.mask else None)
    print(f"{count:,} rows written to {args.out}")


if __name__ == "__main__":
    main()
