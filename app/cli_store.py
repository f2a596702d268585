"""``threadline migrate-store``: copy the whole store to a team server, or back to a file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from app.db import Database

AddCommand = Callable[[str, str], argparse.ArgumentParser]


def cmd_migrate_store(db: Database, args: argparse.Namespace) -> int:
    from app.store_copy import copy_store
    from app.terminal import safe_print

    last = [""]

    def progress(table: str, done: int, total: int) -> None:
        if not args.json and sys.stderr.isatty() and table != last[0]:
            last[0] = table
            print(f"copying {table} ({total:,} rows)…", file=sys.stderr)

    report = copy_store(db, args.to, progress=progress)
    if args.json:
        import json

        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
        return 0
    for t in report.tables:
        if t.source:
            safe_print(f"{t.table:<20} {t.target:>10,}")
    safe_print(
        f"copied {report.rows:,} rows from {report.source} to {report.target}; "
        "every table's count verified"
    )
    return 0


def register(add: AddCommand) -> None:
    """Add ``migrate-store`` to the CLI's parser."""
    p = add(
        "migrate-store",
        "copy the whole database to another store and verify every count: a PostgreSQL "
        "server for a team (postgresql+psycopg://user@host/db), or a local file "
        "(sqlite:///PATH); the target must be new and empty",
    )
    p.add_argument("--to", required=True, metavar="URL", help="where to copy the database")
    p.set_defaults(func=cmd_migrate_store)
