"""Opening a database: engine, session factory, and schema upgrades through Alembic.

``open_database`` is the one way in. It makes the engine (SQLite with WAL,
foreign keys and a busy timeout; or any SQLAlchemy URL such as a shared
PostgreSQL), copies an existing SQLite file aside before upgrading its schema,
refuses a database written by a newer Threadline, and returns a ``Database``
holding one ``sessionmaker``. Services take a ``Session``; callers own its scope.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util import CommandError
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.errors import UserFacingError
from app.paths import owner_only, private_database

log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@dataclass
class Database:
    """An open database: its engine and session factory."""

    engine: Engine
    sessions: sessionmaker[Session]
    url: str

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest schema revision this version of Threadline knows."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the settings Threadline relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def url_for(path_or_url: str | Path) -> str:
    """A SQLAlchemy URL for a file path, or the URL itself if one is given."""
    text = str(path_or_url)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def _backup_sqlite(path: Path, revision: str | None) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    backup = path.with_name(f"{path.stem}-{revision or 'base'}-{stamp}{path.suffix}")
    shutil.copy2(path, backup)
    log.info("backed up %s to %s before upgrading", path, backup)
    return backup


def _known_revision(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except (CommandError, ResolutionError):
        return False


def upgrade(engine: Engine, sqlite_path: Path | None = None) -> None:
    """Bring the schema to the newest revision, backing a SQLite file up first.

    Raises:
        UserFacingError: the database was written by a newer Threadline.
    """
    head = head_revision()
    script = ScriptDirectory.from_config(_alembic_config())
    with engine.connect() as conn:
        current = _current_revision(conn)
    if current == head:
        return
    if current is not None and not _known_revision(script, current):
        raise UserFacingError(
            "this database was written by a newer version of Threadline "
            f"(schema {current}); please update Threadline to open it"
        )
    if current is not None and sqlite_path is not None and sqlite_path.exists():
        _backup_sqlite(sqlite_path, current)
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_database(path_or_url: str | Path) -> Database:
    """Open (creating or upgrading as needed) the database at a path or URL.

    Raises:
        UserFacingError: the file cannot be created or opened, or is too new.
    """
    url = url_for(path_or_url)
    sqlite_path: Path | None = None
    if url.startswith("sqlite:///"):
        sqlite_path = Path(url.removeprefix("sqlite:///"))
        try:
            sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserFacingError(f"cannot create the folder for {sqlite_path}: {exc}") from exc
        private_database(sqlite_path)  # 0600: an existing file, its -wal/-shm, its backups
    engine = make_engine(url)
    try:
        with owner_only():  # a new file, its -wal/-shm and any backup are created 0600
            upgrade(engine, sqlite_path)
    except OperationalError as exc:
        engine.dispose()
        raise UserFacingError(f"cannot open the database {path_or_url}: {exc.orig}") from exc
    return Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False), url=url)
