"""Opening a database: engine, session factory, schema upgrades, and SQLite's failure modes.

``open_database`` is the one way in. It makes the engine (SQLite with WAL,
foreign keys and a busy timeout; or any SQLAlchemy URL such as a shared
PostgreSQL), checks an existing SQLite file with ``PRAGMA quick_check`` and
refuses a damaged one, upgrades the schema once under SQLite's write lock
(several processes opening a new or old file at once queue; the first one
creates or upgrades, the others find it done), backs the file up first with
SQLite's online backup API, refuses a database written by a newer Threadline,
marks import runs left "running" by a killed process as "interrupted", and
returns a ``Database`` holding one ``sessionmaker``. Services take a
``Session``; callers own its scope.

Every SQLite transaction begins with ``BEGIN IMMEDIATE``: it takes the write
lock up front, waiting for it with the busy timeout. A deferred transaction
that reads first and writes later cannot wait (SQLite answers "database is
locked" at once when a reader wants to become a writer in WAL mode), which is
how concurrent imports used to die. ``Database.read_session`` is the
lock-free alternative for code that only reads. ``retry_when_busy`` re-runs a
whole write transaction with backoff when the wait was not enough, and
``user_error`` turns SQLite's environmental failures (locked, read-only, disk
full, damaged) into one-line ``UserFacingError``s.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import os
import random
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app import backups
from app.errors import DamagedDatabaseError, UserFacingError
from app.paths import owner_only, private_database

if TYPE_CHECKING:  # Alembic is imported only when a schema has to be created or upgraded
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_T = TypeVar("_T")

# SQLite primary result codes (https://www.sqlite.org/rescode.html).
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26
_BUSY = {SQLITE_BUSY, SQLITE_LOCKED}
_ENVIRONMENT = {
    SQLITE_BUSY,
    SQLITE_LOCKED,
    SQLITE_READONLY,
    SQLITE_IOERR,
    SQLITE_CORRUPT,
    SQLITE_FULL,
    SQLITE_CANTOPEN,
    SQLITE_NOTADB,
}

#: How long a write keeps retrying "database is locked" before giving up, in seconds.
BUSY_DEADLINE = 120.0


def damaged_message(where: object, detail: str) -> str:
    """The one line shown for a damaged database."""
    detail = " ".join(detail.split())[:200]
    return (
        f"database {where} is damaged ({detail}); nothing was written to it. "
        "Restore the latest backup with `threadline restore` (`threadline backups` lists them)"
    )


@dataclass
class Database:
    """An open database: its engine and session factory."""

    engine: Engine
    sessions: sessionmaker[Session]
    url: str
    path: Path | None = None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error.

        On SQLite the transaction holds the write lock from its first statement.
        """
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reading only: a consistent snapshot that never waits for writers."""
        reader = sessionmaker(
            self.engine.execution_options(threadline_read=True), expire_on_commit=False
        )
        with reader.begin() as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def user_error(self, exc: BaseException) -> UserFacingError | None:
        """The one-line error for an environmental database failure, else None."""
        return user_error(exc, self.path or self.url)

    def hold_run(self, run_id: int) -> RunLock | None:
        """Mark import run ``run_id`` as alive until the returned lock is released.

        Call inside the transaction that creates the run, so no one can see the
        run without its lock. None for a database that is not a SQLite file.
        """
        if self.path is None:
            return None
        lock = RunLock(_run_lock_path(self.path, run_id))
        return lock if lock.acquire() else None

    def mark_abandoned_runs(self) -> int:
        """Mark runs left "running" by a process that no longer exists; returns how many.

        Looks first without the write lock, so opening a database to read it never waits
        for an import that is running in another process.
        """
        if self.path is None:
            return 0
        from app.models import ImportRun, utcnow

        runs = ImportRun.__table__
        with self.engine.connect() as conn:
            conn.execution_options(threadline_read=True)
            running = conn.scalars(select(runs.c.id).where(runs.c.status == "running")).all()
        if all(RunLock.held(_run_lock_path(self.path, rid)) for rid in running):
            return 0
        with self.session() as session:
            running = session.scalars(
                select(ImportRun.id).where(ImportRun.status == "running")
            ).all()
            dead = [rid for rid in running if not RunLock.held(_run_lock_path(self.path, rid))]
            if dead:
                session.execute(
                    update(ImportRun)
                    .where(ImportRun.id.in_(dead))
                    .values(status="interrupted", finished_at=utcnow())
                )
        for rid in dead:
            with contextlib.suppress(OSError):
                _run_lock_path(self.path, rid).unlink()
        if dead:
            log.info("marked import runs %s as interrupted", dead)
        return len(dead)


# --- run liveness -------------------------------------------------------------------------


def _run_lock_path(db_path: Path, run_id: int) -> Path:
    return db_path.with_name(f".{db_path.name}.runs") / f"{run_id}.lock"


class RunLock:
    """An OS file lock that says "this run's process is alive"; the OS drops it at exit.

    ``flock`` on POSIX (per open file, so two handles in one process conflict
    too), ``msvcrt.locking`` on Windows.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        try:
            self.path.parent.mkdir(exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            log.warning("cannot create the run lock %s: %s", self.path, exc)
            return False
        if not _try_lock(fd):
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        with contextlib.suppress(OSError):
            self.path.unlink()

    @staticmethod
    def held(path: Path) -> bool:
        """Whether a live process holds the lock at ``path``."""
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            return False
        try:
            return not _try_lock(fd)
        finally:
            os.close(fd)


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


# --- errors -------------------------------------------------------------------------------


def sqlite_error_code(exc: BaseException) -> int | None:
    """The primary SQLite result code behind ``exc`` (a DBAPI or SQLAlchemy error), or None."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    code = getattr(orig, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_environmental(exc: BaseException) -> bool:
    """Whether ``exc`` is the database's or the disk's fault rather than the data's."""
    return sqlite_error_code(exc) in _ENVIRONMENT


def user_error(exc: BaseException, where: object) -> UserFacingError | None:
    """One line for SQLite's environmental failures (locked, read-only, full, damaged)."""
    code = sqlite_error_code(exc)
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if code in _BUSY:
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


def retry_when_busy(fn: Callable[[], _T], *, deadline: float = BUSY_DEADLINE) -> _T:
    """Run the write transaction ``fn``, running it again with backoff while SQLite is busy.

    ``fn`` must be a whole transaction (it starts and commits its own), so a
    retry starts from scratch. Other errors, and "busy" after ``deadline``
    seconds, propagate.
    """
    start = time.monotonic()
    delay = 0.05
    while True:
        try:
            return fn()
        except OperationalError as exc:
            if sqlite_error_code(exc) not in _BUSY or time.monotonic() - start > deadline:
                raise
            log.info("database busy; retrying in %.2f s", delay)
        time.sleep(delay * random.uniform(1.0, 2.0))
        delay = min(delay * 2, 2.0)


# --- engine -------------------------------------------------------------------------------


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.M)


def _scanned_head() -> str | None:
    """The head revision read from the migration files' ``revision``/``down_revision`` lines,
    without Alembic: None when the files do not show exactly one plain head (a merge, a
    computed value), and then Alembic decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (_MIGRATIONS / "versions").glob("*.py"):
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


@cache
def head_revision() -> str:
    """The newest schema revision this version of Threadline knows.

    Read from the migration files directly: building Alembic's script directory costs more
    than the rest of opening a database. Alembic's own answer is used when the files are
    not plain (a merge revision); tests/test_db.py checks that the two agree.
    """
    head = _scanned_head()
    if head is None:
        head = _script_directory().get_current_head()
    assert head is not None
    return head


def _script_directory() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config())


def _current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _stored_revisions(conn: Connection) -> list[str]:
    """The revisions in ``alembic_version``, read with one query (none for a new database)."""
    if not inspect(conn).has_table("alembic_version"):
        return []
    return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Transactions are begun by _sqlite_begin, not by the driver's own guesswork
    # (which begins one only before the first INSERT/UPDATE/DELETE).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    if conn.get_execution_options().get("threadline_read"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the settings Threadline relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def url_for(path_or_url: str | Path) -> str:
    """A SQLAlchemy URL for a file path, or the URL itself if one is given."""
    text = str(path_or_url)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def _known_revision(script: ScriptDirectory, revision: str) -> bool:
    from alembic.script.revision import ResolutionError
    from alembic.util import CommandError

    try:
        return script.get_revision(revision) is not None
    except (CommandError, ResolutionError):
        return False


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


def upgrade(engine: Engine, sqlite_path: Path | None = None) -> None:
    """Bring the schema to the newest revision, backing a SQLite file up first.

    Creating and upgrading happen inside one write transaction, so only one
    process does it; the others wait for the lock and then find the schema
    current.

    Raises:
        UserFacingError: the database was written by a newer Threadline.
    """
    head = head_revision()
    with engine.connect() as conn:
        conn.execution_options(threadline_read=True)
        if _stored_revisions(conn) == [head]:
            return  # the common case, answered without Alembic
    from alembic import command

    script = _script_directory()
    with engine.begin() as conn:  # BEGIN IMMEDIATE on SQLite: one upgrader at a time
        current = _current_revision(conn)
        if current == head:
            return
        if current is not None and not _known_revision(script, current):
            raise UserFacingError(
                "this database was written by a newer version of Threadline "
                f"(schema {current}); please update Threadline to open it"
            )
        if current is not None and sqlite_path is not None and sqlite_path.exists():
            # A second connection reads the last committed state (WAL included);
            # our write lock keeps anyone from committing until the upgrade is done.
            backups.make_backup(sqlite_path, current)
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_database(path_or_url: str | Path, *, check_pages: bool = True) -> Database:
    """Open (creating or upgrading as needed) the database at a path or URL.

    A SQLite file is checked first (``quick_check``); with ``check_pages=False`` only its
    header and schema are, and the caller checks every page later (a scan of the whole file:
    seconds for a big one).

    Raises:
        DamagedDatabaseError: the SQLite file fails ``quick_check`` or is not a database.
        UserFacingError: the file cannot be created or opened, is read-only and
            needs an upgrade, the disk is full, or the database is too new.
    """
    url = url_for(path_or_url)
    sqlite_path: Path | None = None
    if url.startswith("sqlite:///") and "?" not in url:  # a file (not a URI with options)
        sqlite_path = Path(url.removeprefix("sqlite:///"))
        try:
            sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserFacingError(f"cannot create the folder for {sqlite_path}: {exc}") from exc
        private_database(sqlite_path)  # 0600: an existing file, its -wal/-shm, its backups
        if sqlite_path.is_file() and sqlite_path.stat().st_size > 0:
            problem = quick_check(sqlite_path, pages=check_pages)
            if problem is not None:
                raise DamagedDatabaseError(damaged_message(sqlite_path, problem))
    engine = make_engine(url)
    db = Database(
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        url=url,
        path=sqlite_path,
    )
    try:
        with owner_only():  # a new file, its -wal/-shm and any backup are created 0600
            retry_when_busy(lambda: upgrade(engine, sqlite_path))
        if sqlite_path is not None:
            try:
                db.mark_abandoned_runs()
            except OperationalError as exc:  # read-only or busy: try again next time
                log.info("could not check for interrupted import runs: %s", exc)
    except (DBAPIError, sqlite3.Error) as exc:
        engine.dispose()
        error = user_error(exc, path_or_url)
        orig = exc.orig if isinstance(exc, DBAPIError) else exc
        raise error or UserFacingError(f"cannot open the database {path_or_url}: {orig}") from exc
    except BaseException:
        engine.dispose()
        raise
    return db
