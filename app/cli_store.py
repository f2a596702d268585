"""``threadline migrate-store``: copy the whole store to a team server, or back to a file;
``threadline store-password``: keep a team server's password in the OS keyring."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.service import Service


AddCommand = Callable[[str, str], argparse.ArgumentParser]


def cmd_migrate_store(svc: Service, args: argparse.Namespace) -> int:
    from app.terminal import safe_print

    last = [""]

    def progress(table: str, done: int, total: int) -> None:
        if not args.json and sys.stderr.isatty() and table != last[0]:
            last[0] = table
            print(f"copying {table} ({total:,} rows)…", file=sys.stderr)

    report = svc.copy_store(args.to, progress=progress)
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


def _read_password(url: str) -> str:
    """The password typed at a prompt (not echoed), or the first line of stdin."""
    if sys.stdin is not None and sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"Password for {url}: ")
    line = sys.stdin.readline() if sys.stdin is not None else ""
    return line.rstrip("\r\n")


def cmd_store_password(location: object, args: argparse.Namespace) -> int:
    """``store-password [URL]``: read the password (prompt or stdin) into the keyring."""
    from app.errors import UserFacingError
    from app.service import Service
    from app.terminal import safe_print

    url = args.url or (location if isinstance(location, str) else None)
    if not url or not Service.is_server_url(url):
        raise UserFacingError(
            "name the team server: threadline store-password postgresql+psycopg://USER@HOST/DB"
        )
    shown = Service.public_url(url)
    key = Service.store_key(url)
    if args.delete:
        removed = Service.delete_store_password(url)
        if args.json:
            import json

            print(json.dumps({"url": shown, "key": key, "deleted": removed}))
        else:
            safe_print(f"{'removed' if removed else 'no'} stored password for {shown}")
        return 0
    password = _read_password(shown)
    Service.store_password(url, password)
    if args.json:
        import json

        print(json.dumps({"url": shown, "key": key, "stored": True}))
    else:
        safe_print(f"stored the password for {shown} in the keyring ({key})")
    return 0


def register(add: AddCommand) -> None:
    """Add ``migrate-store`` and ``store-password`` to the CLI's parser."""
    p = add(
        "migrate-store",
        "copy the whole database to another store and verify every count: a PostgreSQL "
        "server for a team (postgresql+psycopg://user@host/db), or a local file "
        "(sqlite:///PATH); the target must be new and empty",
    )
    p.add_argument("--to", required=True, metavar="URL", help="where to copy the database")
    p.set_defaults(func=cmd_migrate_store)

    p = add(
        "store-password",
        "keep a team server's password in the OS keyring (asked for, or read from stdin), "
        "so URLs never carry it",
    )
    p.add_argument(
        "url",
        nargs="?",
        metavar="URL",
        help="postgresql+psycopg://USER@HOST[:PORT]/DATABASE (default: --db / THREADLINE_DB)",
    )
    p.add_argument("--delete", action="store_true", help="remove the stored password instead")
    p.set_defaults(func=cmd_store_password, no_store=True)
