"""Opening a database: engine, session factory, schema upgrades, and SQLite's failure modes.

``open_database`` is the one way in. It makes the engine (SQLite with WAL,
foreign keys and a busy timeout; or any SQLAlchemy URL such as a shared
PostgreSQL), checks an existing SQLite file with ``PRAGMA quick_check`` (skipped
while the file is unchanged since it last passed: ``app.dbfile``) and
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
full, damaged) into one-line ``UserFacingError``s. The busy timeout's wait is a poll, not
a queue: a writer that commits and at once begins again can keep the lock from one that
waits. Import batches, which do exactly that, take turns (``writers_queue``: a turnstile
of two file locks beside the file, ``app.turnstile``); other writers (notes, merges) only
wait with the busy timeout.

On PostgreSQL several people write at once, so every write transaction runs
``SERIALIZABLE``: the server aborts one of two transactions whose interleaving
no serial order could produce (two imports inserting the same Message-ID, an
import linking a contact point to a customer that a colleague is merging away,
two merges of one customer) with ``serialization_failure`` or
``deadlock_detected``, and ``retrying`` (``Database.write``, ``retry_when_busy``)
runs the whole transaction again. The select-then-insert logic of the write path
is therefore race-free without locks of its own: whatever commits is what one
writer after another would have written. Import batches, which nearly always meet
the same customers, take turns (``writers_queue``) instead of aborting each other;
parsing still runs side by side. A batch that finds another waiting for its turn
(``writers_waiting``) leaves its customers' figures marked "not counted" for the waiting
one to recount (``app.ingest``), so a queue recounts them once. Read sessions run
``REPEATABLE READ`` (a snapshot that never aborts and never makes a writer abort). A committed write
announces itself with ``NOTIFY`` (``app.live``) so other windows refresh.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, select, text, update
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app import backups, turnstile
from app.dbfile import BUSY as _BUSY
from app.dbfile import SQLITE_BUSY as SQLITE_BUSY
from app.dbfile import SQLITE_CANTOPEN as SQLITE_CANTOPEN
from app.dbfile import SQLITE_CORRUPT as SQLITE_CORRUPT
from app.dbfile import SQLITE_FULL as SQLITE_FULL
from app.dbfile import SQLITE_IOERR as SQLITE_IOERR
from app.dbfile import SQLITE_LOCKED as SQLITE_LOCKED
from app.dbfile import SQLITE_NOTADB as SQLITE_NOTADB
from app.dbfile import SQLITE_READONLY as SQLITE_READONLY
from app.dbfile import check_file, scanned_head
from app.dbfile import damaged_message as damaged_message
from app.dbfile import is_environmental as is_environmental
from app.dbfile import quick_check as quick_check
from app.dbfile import sqlite_error_code as sqlite_error_code
from app.dbfile import user_error as _file_user_error
from app.errors import UserFacingError
from app.paths import owner_only, private_database
from app.redact import redact

if TYPE_CHECKING:  # Alembic is imported only when a schema has to be created or upgraded
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_T = TypeVar("_T")

#: Advisory lock keys: processes upgrading one PostgreSQL database, import batches.
_UPGRADE_LOCK = 0x7468726C
_WRITERS_LOCK = 0x74687277

#: How long a write keeps retrying "database is locked" before giving up, in seconds.
BUSY_DEADLINE = 120.0


@dataclass
class Database:
    """An open database: its engine and session factory."""

    engine: Engine
    sessions: sessionmaker[Session]
    url: str
    path: Path | None = None
    #: Tells this process's own change announcements from a colleague's (``app.live``).
    origin: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: Whether import batches on this SQLite file take turns through its lock files (off
    #: once they could not be created or locked, or a turn did not come in time).
    file_queue: bool = field(default=True, init=False, repr=False)

    @contextmanager
    def session(self, *, checkpoint: bool = True) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error.

        On SQLite the transaction holds the write lock from its first statement. On
        PostgreSQL it is ``SERIALIZABLE``: run it inside ``write`` (or ``retrying``) so a
        serialization failure re-runs it; a transaction that wrote announces itself with
        ``NOTIFY threadline_changes`` on commit (``app.live``).

        ``checkpoint=False`` (SQLite): its commit leaves the write-ahead log as it is, for
        ``checkpoint()`` to copy into the file once what waits for the transaction has
        been shown (by default SQLite does that in the commit of a transaction that grew
        the log past ``AUTOCHECKPOINT_PAGES``: for the catch-up of the suggestions after
        an import, 0.08 s of its 0.1 s commit).
        """
        from app import live

        sessions = self.sessions
        if not checkpoint and not self.is_server:
            engine = self.engine.execution_options(**{_NO_CHECKPOINT: True})
            sessions = sessionmaker(engine, expire_on_commit=False)
        with sessions.begin() as session:
            if self.is_server:
                live.track(session)
            yield session
            if self.is_server:
                live.announce(session, self.origin)

    @property
    def is_server(self) -> bool:
        """Whether this is a PostgreSQL server (several writers) rather than a SQLite file."""
        return self.engine.dialect.name == "postgresql"

    def write(self, fn: Callable[[Session], _T]) -> _T:
        """Run ``fn`` in one write transaction (``session``) and return what it returns.

        On PostgreSQL the whole transaction runs again when the server aborted it for a
        concurrent writer (``retrying``); on SQLite it runs once, as ``session`` does.
        """

        def attempt() -> _T:
            with self.session() as session:
                return fn(session)

        return self.retried(attempt)

    @contextmanager
    def writers_queue(self) -> Iterator[None]:
        """Take turns with the other holders (import batches) for the block.

        Two import batches nearly always meet the same customers (whose figures both
        refresh) and contact points, so under ``SERIALIZABLE`` all but one of them would
        be aborted and run again, burning the time of a whole batch each. Queueing them
        instead is what SQLite's write lock does: parsing still runs side by side, the
        batches' transactions one after the other. The lock is a session advisory lock on
        a connection of its own (a lock taken inside the transaction would come after its
        snapshot); the server drops it if the process dies. Merges, notes and the rest do
        not queue here.

        On a SQLite file the write lock lets one batch in at a time but not in turn (a
        waiting writer polls; a writer that commits and begins its next batch at once can
        win every time until the waiting one gives up): the batches queue at a turnstile of
        two OS file locks beside the file (``app.turnstile``), where the writer next in
        line always goes before the one that just let the turn go (the writers behind it
        race to be next in line: see there). Where those locks
        cannot be had (a read-only folder, Windows, no turn within ``BUSY_DEADLINE``), this
        database's batches write without the queue from then on, as they did before.
        """
        if not self.is_server:
            if self.path is None or not self.file_queue:
                yield
                return
            with turnstile.turn(self.path, deadline=BUSY_DEADLINE) as queued:
                if not queued:
                    self.file_queue = False  # said once (logged); ask no more
                yield
            return
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _WRITERS_LOCK})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _WRITERS_LOCK})

    def writers_waiting(self, session: Session) -> bool:
        """Whether another import batch waits at ``writers_queue`` right now (PostgreSQL;
        always False on SQLite, where each import recounts its own customers).

        An import hands the recount of its customers' figures to the batch that waits (see
        ``app.ingest``): under a steady queue the figures are counted once, by the last
        writer, instead of by every batch over the same customers' whole history.
        """
        if not self.is_server:
            return False
        waiting = session.scalar(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                "AND NOT granted AND classid = CAST(:hi AS oid) AND objid = CAST(:lo AS oid) "
                "AND objsubid = 1 "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
            ),
            {"hi": _WRITERS_LOCK >> 32, "lo": _WRITERS_LOCK & 0xFFFFFFFF},
        )
        return bool(waiting)

    def retried(self, transaction: Callable[[], _T]) -> _T:
        """Run ``transaction`` (which opens and commits its own session): on PostgreSQL
        again while the server aborts it for a concurrent writer (``retrying``), on
        SQLite once."""
        return retrying(transaction) if self.is_server else transaction()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reading only: a consistent snapshot that never waits for writers."""
        options: dict[str, Any] = {"threadline_read": True}
        if self.is_server:  # a plain snapshot: never aborts, never makes a writer abort
            options["isolation_level"] = "REPEATABLE READ"
        reader = sessionmaker(self.engine.execution_options(**options), expire_on_commit=False)
        with reader.begin() as session:
            yield session

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file as far as no reader needs it
        (SQLite's passive checkpoint: it waits for no one); nothing on PostgreSQL."""
        if self.is_server:
            return
        try:
            raw = self.engine.raw_connection()
            try:
                raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                raw.close()
        except (sqlite3.Error, OperationalError) as exc:
            # Housekeeping only: a file that cannot be written (opened read-only) keeps its
            # log, and the next commit (or the last connection's close) copies it.
            log.warning("checkpoint of %s not done: %s", self.path or self.url, exc)

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
            self.path.parent.mkdir(mode=0o700, exist_ok=True)  # the owner's, as the database
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
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


def user_error(exc: BaseException, where: object) -> UserFacingError | None:
    """One line for SQLite's environmental failures (locked, read-only, full, damaged:
    ``app.dbfile``), for a server's refusal (permission, sign-in) and for a server
    transaction that kept losing against other writers."""
    if must_retry(exc):
        return UserFacingError(
            f"database {where} is busy: other people's changes kept colliding with this one; "
            "nothing was written, try again in a moment"
        )
    if sqlite_error_code(exc) is None:  # a server's refusal (PostgreSQL)
        from app import store_auth

        url = str(where)
        return store_auth.permission_error(exc) or (
            store_auth.connection_error(exc, url) if store_auth.is_server(url) else None
        )
    return _file_user_error(exc, where)


#: PostgreSQL's answers to a transaction that lost against a concurrent one
#: (SQLSTATE serialization_failure, deadlock_detected): run it again and it goes through.
PG_RETRY_STATES = frozenset({"40001", "40P01"})
#: A key that a concurrent transaction inserted first (unique_violation, exclusion_violation)
#: surfaces as these, not as a serialization failure, when this transaction never read that
#: the key was free (PostgreSQL's manual advises retrying them too). Run again a few times:
#: the second run sees the colleague's row; a duplicate of our own making fails every time.
PG_MAYBE_CONCURRENT = frozenset({"23505", "23P01"})
PG_MAYBE_CONCURRENT_TRIES = 5


def pg_state(exc: BaseException) -> str | None:
    """The SQLSTATE behind ``exc`` from PostgreSQL (a DBAPI or SQLAlchemy error), or None."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    state = getattr(orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def must_retry(exc: BaseException) -> bool:
    """Whether PostgreSQL aborted the transaction for a concurrent writer (run it again)."""
    return pg_state(exc) in PG_RETRY_STATES


def retrying(fn: Callable[[], _T], *, deadline: float = BUSY_DEADLINE) -> _T:
    """Run the whole transaction ``fn`` again while PostgreSQL aborts it for a concurrent
    writer (``serialization_failure``, ``deadlock_detected``; a key a colleague inserted
    first a few times, ``PG_MAYBE_CONCURRENT``), with a short random backoff
    so the writers that collided do not collide again. Other errors propagate, and so does
    the abort after ``deadline`` seconds."""
    start = time.monotonic()
    delay = 0.01
    key_clashes = 0
    while True:
        try:
            return fn()
        except DBAPIError as exc:
            if pg_state(exc) in PG_MAYBE_CONCURRENT:
                key_clashes += 1
                if key_clashes >= PG_MAYBE_CONCURRENT_TRIES:
                    raise
            elif not must_retry(exc):
                raise
            if time.monotonic() - start > deadline:
                raise
            log.debug("concurrent write (%s); running the transaction again", pg_state(exc))
        time.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(delay * 2, 0.5)


def retry_when_busy(fn: Callable[[], _T], *, deadline: float = BUSY_DEADLINE) -> _T:
    """Run the write transaction ``fn``, running it again with backoff while SQLite is busy
    (and, on PostgreSQL, while ``retrying`` would: a concurrent writer won).

    ``fn`` must be a whole transaction (it starts and commits its own), so a
    retry starts from scratch. Other errors, and "busy" after ``deadline``
    seconds, propagate.
    """
    start = time.monotonic()
    delay = 0.05
    while True:
        try:
            return retrying(fn, deadline=deadline)
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


def _scanned_head() -> str | None:
    """The head revision read from the migration files without Alembic (None: ask Alembic)."""
    return scanned_head(_MIGRATIONS)


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


def _sqlite_pragmas(dbapi_conn: Any, record: Any) -> None:
    # Transactions are begun by _sqlite_begin, not by the driver's own guesswork
    # (which begins one only before the first INSERT/UPDATE/DELETE).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA wal_autocheckpoint={int(AUTOCHECKPOINT_PAGES)}")
    record.info[_AUTOCHECKPOINT] = AUTOCHECKPOINT_PAGES  # (as ``_sqlite_begin`` finds it)
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    if options.get("threadline_read"):
        conn.exec_driver_sql("BEGIN")
    else:
        # The log's automatic checkpoint, off for a session that leaves it to
        # ``Database.checkpoint`` and on again for the connection's next transaction.
        pages = 0 if options.get(_NO_CHECKPOINT) else AUTOCHECKPOINT_PAGES
        held = conn.connection.info
        if held.get(_AUTOCHECKPOINT) != pages:
            conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={int(pages)}")
            held[_AUTOCHECKPOINT] = pages
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    # The rows the connection had changed when the transaction began (``wrote_nothing``).
    raw = conn.connection.dbapi_connection
    if raw is not None:
        conn.info[_CHANGES_AT_BEGIN] = raw.total_changes


_CHANGES_AT_BEGIN = "threadline_changes_at_begin"
_NO_CHECKPOINT = "threadline_no_checkpoint"  # (a session's execution option)
_AUTOCHECKPOINT = "threadline_autocheckpoint"  # (a connection's setting, as last made)
#: Pages of write-ahead log past which a commit copies it into the file (SQLite's default).
AUTOCHECKPOINT_PAGES = 1000


def wrote_nothing(conn: Connection) -> bool:
    """Whether this SQLite connection's transaction has changed no row so far (then
    another connection reads what this one would: the last committed state)."""
    raw = conn.connection.dbapi_connection
    begun = conn.info.get(_CHANGES_AT_BEGIN)
    return raw is not None and begun is not None and raw.total_changes == begun


def make_engine(url: str | URL) -> Engine:
    """An engine for ``url`` with the settings Threadline relies on."""
    # A server URL may come as a URL object carrying the keyring's password.
    backend = url.get_backend_name() if isinstance(url, URL) else url.split(":", 1)[0]
    if backend.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend.startswith("postgresql"):
        return create_engine(url, pool_pre_ping=True, isolation_level="SERIALIZABLE")
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


@contextmanager
def _upgrader(conn: Connection) -> Iterator[None]:
    """The upgrade's transaction, held by one process at a time: ``BEGIN IMMEDIATE`` on
    SQLite; on PostgreSQL an advisory lock, read committed so that a process that waited
    for it sees the schema the first one built."""
    if conn.dialect.name == "postgresql":
        conn.execution_options(isolation_level="READ COMMITTED")
    with conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
        yield


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
        try:
            stored = _stored_revisions(conn)
        except DBAPIError as exc:  # a team member not granted a Threadline role yet
            from app import store_auth

            if not store_auth.is_permission_error(exc):
                raise
            raise UserFacingError(
                "your sign-in may not read this team database: ask the administrator to "
                "grant your login role threadline_agent or threadline_owner"
            ) from None
        if stored == [head]:
            return  # the common case, answered without Alembic
    from alembic import command

    script = _script_directory()
    with engine.connect() as conn, _upgrader(conn):  # one upgrader at a time
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
        try:
            command.upgrade(cfg, "head")
        except DBAPIError as exc:
            from app import store_auth

            if not store_auth.is_permission_error(exc):
                raise
            raise UserFacingError(
                f"this database needs its schema brought up to date ({current or 'new'} → "
                f"{head}), which only the database's owner can do: ask your administrator to "
                "open it once with Threadline signed in as the owner"
            ) from None


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
    from app import store_auth

    url = url_for(path_or_url)
    shown = store_auth.public_url(url)  # a password typed in the URL is never shown or kept
    sqlite_path: Path | None = None
    if url.startswith("sqlite:///") and "?" not in url:  # a file (not a URI with options)
        sqlite_path = Path(url.removeprefix("sqlite:///"))
        try:
            sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserFacingError(f"cannot create the folder for {sqlite_path}: {exc}") from exc
        private_database(sqlite_path)  # 0600: an existing file, its -wal/-shm, its backups
        if sqlite_path.is_file() and sqlite_path.stat().st_size > 0:
            # quick_check, unless unchanged since it last passed (pages=False: header only)
            check_file(sqlite_path, pages=check_pages)
    engine = make_engine(store_auth.connect_url(url))  # the keyring's password, if any
    db = Database(
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        url=shown,
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
        where = shown if store_auth.is_server(url) else path_or_url
        error = store_auth.connection_error(exc, url) or user_error(exc, where)
        orig = exc.orig if isinstance(exc, DBAPIError) else exc
        detail = redact(str(orig))
        raise error or UserFacingError(f"cannot open the database {where}: {detail}") from exc
    except BaseException:
        engine.dispose()
        raise
    return db
