"""``threadline backup``, ``backups`` and ``restore``: copies of the database file.

These commands work on the SQLite file itself and do not open it through
``open_database``, so they still work when the database is damaged (that is
when ``restore`` is needed). ``main`` calls ``run`` for them with the path.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import UserFacingError
from app.lazy import LazyModule

if TYPE_CHECKING:
    from app import service
else:  # the service (SQLAlchemy) only when one of these commands runs
    service = LazyModule("app.service")

AddCommand = Callable[..., argparse.ArgumentParser]


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _sqlite_file(db_path: Path) -> Path:
    if "://" in str(db_path):
        raise UserFacingError("backups are only made of a local database file, not a server")
    return db_path.expanduser().resolve()


def cmd_backup(db_path: Path, args: argparse.Namespace) -> int:
    path = _sqlite_file(db_path)
    made = service.Service.backup_file(path, "manual")
    if args.json:
        _print_json({"database": str(path), "backup": str(made)})
    else:
        print(f"backed up {path} to {made}")
    return 0


def cmd_backups(db_path: Path, args: argparse.Namespace) -> int:
    path = _sqlite_file(db_path)
    found = service.Service.list_backups(path)
    if args.json:
        _print_json({"database": str(path), "backups": [b.as_json() for b in found]})
        return 0
    if not found:
        print(f"no backups of {path}")
    for b in found:
        print(f"{b.taken_at:%Y-%m-%d %H:%M:%S} UTC  {b.label:<14} {b.size:>12,} bytes  {b.path}")
    return 0


def cmd_restore(db_path: Path, args: argparse.Namespace) -> int:
    path = _sqlite_file(db_path)
    used, kept = service.Service.restore(path, Path(args.file).expanduser() if args.file else None)
    if args.json:
        _print_json(
            {
                "database": str(path),
                "restored_from": str(used),
                "replaced_file_kept_as": str(kept) if kept else None,
            }
        )
    else:
        print(f"restored {path} from {used}")
        if kept:
            print(f"  the file it replaced is kept as {kept}")
    return 0


def register(add: AddCommand) -> None:
    """Add ``backup``, ``backups`` and ``restore`` to the CLI's parser.

    Args:
        add: ``build_parser``'s helper that adds one command (with ``--json``).
    """
    p = add("backup", "copy the database now (safe while it is in use)")
    p.set_defaults(func=cmd_backup, needs_db=False)
    p = add("backups", "list the backups of the database, newest first")
    p.set_defaults(func=cmd_backups, needs_db=False)
    p = add(
        "restore",
        "replace the database with a backup (the newest when no FILE is given); "
        "the replaced file is kept",
    )
    p.add_argument("file", nargs="?", metavar="FILE", help="a backup file (see `backups`)")
    p.set_defaults(func=cmd_restore, needs_db=False)
