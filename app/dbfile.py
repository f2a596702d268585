"""A SQLite database file looked at without SQLAlchemy: is it sound, which schema, what failed.

``app.db`` opens a database through SQLAlchemy and the CLI's lean read path
(``app.readpath``) reads one through the standard ``sqlite3`` module; both check a file
and word SQLite's failures here, so they refuse the same files with the same line.

Soundness is SQLite's ``PRAGMA quick_check``, which reads every page: about 0.13 s of CPU
per 100 MB. A file found sound gets a stamp beside it (``.NAME.checked``: the size,
modification and change times and inode of the file and of its ``-wal``), and the check is
not repeated while the file and its WAL are exactly as stamped. Any write (ours, another
program's, a restore that swaps the file) changes them, so a damaged file is still found
before anything reads or writes it. A file changed less than ``_SETTLE`` seconds before it
was checked gets no stamp (a file system's clock may be coarser than its writes).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import sqlite3
import time
from pathlib import Path

from app.errors import DamagedDatabaseError, UserFacingError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# SQLite primary result codes (https://www.sqlite.org/rescode.html).
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26
BUSY = {SQLITE_BUSY, SQLITE_LOCKED}
ENVIRONMENT = {
    SQLITE_BUSY,
    SQLITE_LOCKED,
    SQLITE_READONLY,
    SQLITE_IOERR,
    SQLITE_CORRUPT,
    SQLITE_FULL,
    SQLITE_CANTOPEN,
    SQLITE_NOTADB,
}

_SETTLE = 2.0  # seconds a file must have been left alone before its check is remembered


def damaged_message(where: object, detail: str) -> str:
    """The one line shown for a damaged database."""
    detail = " ".join(detail.split())[:200]
    return (
        f"database {where} is damaged ({detail}); nothing was written to it. "
        "Restore the latest backup with `threadline restore` (`threadline backups` lists them)"
    )


def _driver_error(exc: BaseException) -> object:
    """The driver's own exception behind ``exc`` (SQLAlchemy wraps it as ``orig``)."""
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, BaseException) else exc


def sqlite_error_code(exc: BaseException) -> int | None:
    """The primary SQLite result code behind ``exc`` (a DBAPI or SQLAlchemy error), or None."""
    code = getattr(_driver_error(exc), "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_environmental(exc: BaseException) -> bool:
    """Whether ``exc`` is the database's or the disk's fault rather than the data's."""
    return sqlite_error_code(exc) in ENVIRONMENT


def user_error(exc: BaseException, where: object) -> UserFacingError | None:
    """One line for SQLite's environmental failures (locked, read-only, full, damaged)."""
    code = sqlite_error_code(exc)
    orig = _driver_error(exc)
    if code in BUSY:
        return UserFacingError(
            f"database {where} is busy: another program kept it locked for too long; "
            "nothing was written, try again when it has finished"
        )
    if code == SQLITE_READONLY:
        return UserFacingError(
            f"database {where} is read-only ({orig}); nothing was written. "
            "Check the permissions of the file and its folder"
        )
    if code == SQLITE_FULL:
        return UserFacingError(
            f"the disk holding {where} is full; nothing was half-written. "
            "Free some space and try again"
        )
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return DamagedDatabaseError(damaged_message(where, str(orig)))
    if code in (SQLITE_IOERR, SQLITE_CANTOPEN):
        return UserFacingError(f"cannot read or write the database {where}: {orig}")
    return None


def _lenient_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def quick_check(path: Path, *, pages: bool = True) -> str | None:
    """None when SQLite's ``quick_check`` finds the file sound, else what it found.

    ``pages=False`` reads only the header and the schema (instant at any size): it finds a
    file that is not a database or whose first pages are damaged, not a damaged page deeper
    in (the window checks those in the background once it shows, ``Service.damage``).

    Raises:
        UserFacingError: the file cannot be opened at all (permissions, a folder).
    """
    try:
        con = sqlite3.connect(path, timeout=10)
    except sqlite3.Error as exc:
        raise UserFacingError(f"cannot open the database {path}: {exc}") from exc
    try:
        # As bytes: a damaged page's text, quoted in the report, may not be UTF-8.
        sql = (
            "SELECT CAST(quick_check AS BLOB) FROM pragma_quick_check"
            if pages
            else "SELECT CAST('ok' AS BLOB) WHERE (SELECT count(*) FROM sqlite_schema) >= 0"
        )
        rows = [(_lenient_text(r[0]),) for r in con.execute(sql)]
    except UnicodeDecodeError:  # SQLite's own message quoted damaged bytes
        return "database disk image is malformed"
    except sqlite3.Error as exc:
        if sqlite_error_code(exc) in (SQLITE_CORRUPT, SQLITE_NOTADB):
            return str(exc)
        error = user_error(exc, path)
        raise error or UserFacingError(f"cannot open the database {path}: {exc}") from exc
    finally:
        con.close()
    if rows == [("ok",)]:
        return None
    return "; ".join(str(r[0]) for r in rows[:2])


# --- the stamp of a checked file --------------------------------------------------------------


def _stamp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.checked")


def _state(path: Path) -> list[int] | None:
    """What changes whenever a file's bytes change (None: there is no such file)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _states(path: Path) -> list[list[int] | None]:
    return [_state(path), _state(path.with_name(path.name + "-wal"))]


def check_file(path: Path, *, pages: bool = True) -> None:
    """Refuse a damaged SQLite file, running ``quick_check`` unless the stamp shows it sound.

    ``pages=False`` checks only the header and the schema (``quick_check``), and remembers
    nothing: the caller checks every page later.

    Raises:
        DamagedDatabaseError: the file fails ``quick_check`` or is not a database.
        UserFacingError: the file cannot be opened at all.
    """
    if not pages:
        problem = quick_check(path, pages=False)
        if problem is not None:
            raise DamagedDatabaseError(damaged_message(path, problem))
        return
    before = _states(path)
    stamp = _stamp_path(path)
    try:
        if json.loads(stamp.read_text(encoding="ascii")) == before:
            return
    except (OSError, ValueError):
        pass
    problem = quick_check(path)
    if problem is not None:
        with contextlib.suppress(OSError):
            stamp.unlink()
        raise DamagedDatabaseError(damaged_message(path, problem))
    after = _states(path)
    if after != before or after[0] is None:
        return  # it changed while being checked (a checkpoint): check again next time
    settled = time.time_ns() - int(_SETTLE * 1e9)
    if any(s is not None and max(s[1], s[2]) > settled for s in after):
        return
    with contextlib.suppress(OSError):
        fd = os.open(stamp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(json.dumps(after))


# --- the schema revision ----------------------------------------------------------------------


_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.M)


def scanned_head(migrations: Path = MIGRATIONS) -> str | None:
    """The head revision read from the migration files' ``revision``/``down_revision`` lines,
    without Alembic: None when the files do not show exactly one plain head (a merge, a
    computed value), and then Alembic decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (migrations / "versions").glob("*.py"):
        values = dict(_REVISION_LINE.findall(script.read_text(encoding="utf-8")))
        revision, parent = values.get("revision"), values.get("down_revision")
        if revision is None or parent is None:
            return None
        try:
            revision_value, parent_value = ast.literal_eval(revision), ast.literal_eval(parent)
        except (ValueError, SyntaxError):
            return None
        if not isinstance(revision_value, str):
            return None
        revisions.add(revision_value)
        if isinstance(parent_value, str):
            parents.add(parent_value)
        elif parent_value is not None:
            return None  # a merge revision names several parents
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None
