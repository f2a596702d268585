"""Backups of a SQLite database file: make one, list them, check one, restore one.

A backup is a self-contained copy made with SQLite's online backup API, so it
holds every committed row, including rows still in the write-ahead log, and it
is consistent even while another program writes. Backups sit next to the
database as ``<stem>-<label>-<UTC stamp><suffix>`` (``label`` is the schema
revision for the copy made before an upgrade, ``manual`` for ``threadline
backup``). Restoring never deletes anything: the current file (with its WAL)
is renamed aside first.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.errors import UserFacingError

log = logging.getLogger(__name__)

_STAMP = "%Y%m%dT%H%M%S%fZ"
_SIDE_FILES = ("-wal", "-shm")


@dataclass(frozen=True)
class Backup:
    """One backup file of a database."""

    path: Path
    label: str
    taken_at: datetime
    size: int

    def as_json(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "label": self.label,
            "taken_at": self.taken_at.isoformat(),
            "size": self.size,
        }


def _stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime(_STAMP)


def _pattern(db_path: Path) -> re.Pattern[str]:
    return re.compile(
        re.escape(db_path.stem)
        + r"-(?P<label>[0-9A-Za-z_]+)-(?P<stamp>\d{8}T\d{6}\d*Z)"
        + re.escape(db_path.suffix)
        + "$"
    )


def _parse_stamp(text: str) -> datetime:
    fmt = _STAMP if len(text) > len("20240101T000000Z") else "%Y%m%dT%H%M%SZ"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


def make_backup(db_path: Path, label: str) -> Path:
    """Copy the database at ``db_path`` with the online backup API; returns the copy's path.

    The copy is written under a temporary name and renamed into place once
    complete, and is switched to a rollback journal so it is one file.

    Raises:
        sqlite3.Error: the database could not be read or the copy not written.
    """
    target = db_path.with_name(f"{db_path.stem}-{label}-{_stamp()}{db_path.suffix}")
    partial = target.with_name(target.name + ".partial")
    source = sqlite3.connect(db_path)
    try:
        dest = sqlite3.connect(partial)
        try:
            source.backup(dest)
            dest.execute("PRAGMA journal_mode=DELETE")
        finally:
            dest.close()
    finally:
        source.close()
    os.replace(partial, target)
    log.info("backed up %s to %s", db_path, target)
    return target


def list_backups(db_path: Path) -> list[Backup]:
    """The backups of ``db_path`` found next to it, newest first (files set aside by a
    restore are not backups and are left out)."""
    pattern = _pattern(db_path)
    found: list[Backup] = []
    folder = db_path.parent
    if not folder.is_dir():
        return found
    for entry in folder.iterdir():
        match = pattern.match(entry.name)
        if match is None or match["label"] == "replaced" or not entry.is_file():
            continue
        found.append(
            Backup(
                path=entry,
                label=match["label"],
                taken_at=_parse_stamp(match["stamp"]),
                size=entry.stat().st_size,
            )
        )
    found.sort(key=lambda b: b.taken_at, reverse=True)
    return found


def _lenient_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def check_file(path: Path) -> str | None:
    """None when ``path`` is a healthy SQLite database, else what is wrong, in a few words."""
    if not path.is_file():
        return "no such file"
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        # As bytes: a damaged page's text, quoted in the report, may not be UTF-8.
        rows = [
            (_lenient_text(r[0]),)
            for r in con.execute("SELECT CAST(integrity_check AS BLOB) FROM pragma_integrity_check")
        ]
    except UnicodeDecodeError:  # SQLite's own message quoted damaged bytes
        return "database disk image is malformed"
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        con.close()
    if rows == [("ok",)]:
        return None
    return "; ".join(str(r[0]) for r in rows[:3])


def restore(db_path: Path, backup: Path | None = None) -> tuple[Path, Path | None]:
    """Put a backup (the newest when none is named) in place of the database.

    The backup is checked with ``integrity_check`` first. The current file and
    its WAL are renamed aside (``<stem>-replaced-<stamp>``), never deleted.

    Returns:
        The backup used, and where the replaced database now is (None if there was none).

    Raises:
        UserFacingError: no backup, the backup is damaged, or a file cannot be moved.
    """
    if backup is None:
        backups = list_backups(db_path)
        if not backups:
            raise UserFacingError(f"there are no backups of {db_path} next to it")
        backup = backups[0].path
    problem = check_file(backup)
    if problem is not None:
        raise UserFacingError(f"the backup {backup} cannot be used ({problem})")
    partial = db_path.with_name(f"{db_path.name}.restoring")
    try:
        source = sqlite3.connect(f"{backup.resolve().as_uri()}?mode=ro", uri=True)
        dest = sqlite3.connect(partial)
        try:
            source.backup(dest)
            dest.execute("PRAGMA journal_mode=DELETE")
        finally:
            dest.close()
            source.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise UserFacingError(f"cannot copy the backup {backup}: {exc}") from exc
    kept: Path | None = None
    try:
        if db_path.exists():
            kept = db_path.with_name(f"{db_path.stem}-replaced-{_stamp()}{db_path.suffix}")
            os.replace(db_path, kept)
            for side in _SIDE_FILES:
                extra = Path(str(db_path) + side)
                if extra.exists():
                    os.replace(extra, Path(str(kept) + side))
        os.replace(partial, db_path)
    except OSError as exc:
        raise UserFacingError(
            f"cannot put the backup in place of {db_path} ({exc}); "
            "close every Threadline window using it and try again"
        ) from exc
    log.info("restored %s from %s; the replaced file is %s", db_path, backup, kept)
    return backup, kept
