"""Where Threadline keeps its files: the database, logs and the cache; and who may read them.

Everything resolves under ``THREADLINE_HOME`` when it is set (tests and
support use it), else under the platform's user data directory.

Files and folders that hold customer data are the owner's alone on Linux and
macOS: folders 0700, files 0600 (the database with its ``-wal``, ``-shm`` and
``-journal``, the backups made before a migration, the logs). New ones are
created that way, existing ones are tightened when they are opened. On Windows
the user profile's ACLs already keep them private, and these calls do nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import platformdirs

APP_NAME = "Threadline"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_POSIX = os.name == "posix"
_SIDE_FILES = ("-wal", "-shm", "-journal")

log = logging.getLogger(__name__)


def _tighten(path: Path, mode: int) -> None:
    """Drop group and other permissions from ``path`` (never add any); quiet if not ours."""
    if not _POSIX:
        return
    try:
        current = stat.S_IMODE(path.stat().st_mode)
        if current & 0o077:
            path.chmod(current & mode)
    except FileNotFoundError:
        return
    except OSError as exc:  # not our file (a shared folder): leave it, say so in the log
        log.warning("cannot make %s private: %s", path, exc.strerror or exc)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) if needed, and make it the owner's only (0700).

    Args:
        path: a folder that holds customer data.

    Returns:
        ``path``.
    """
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    _tighten(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Make ``path`` the owner's only (0600), creating it empty when it does not exist.

    Creating it here, with mode 0600 from the first byte, means no other
    user can open it in the moment before its content is written.

    Args:
        path: a file that holds customer data.

    Returns:
        ``path``.
    """
    if _POSIX:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
        except FileExistsError:
            pass
        except OSError as exc:  # an unwritable folder: whoever opens it next says so
            log.debug("cannot create %s: %s", path, exc.strerror or exc)
            return path
    _tighten(path, PRIVATE_FILE)
    return path


def private_database(path: Path) -> None:
    """Make an existing SQLite database file, its companions and its backups the owner's only.

    The file itself, its ``-wal``, ``-shm`` and ``-journal``, and the backups
    made before migrations (``<name>-*`` next to it) are tightened to 0600.
    A new database is created inside ``owner_only``; SQLite gives the
    companions it makes later the database file's mode.

    Args:
        path: the database file.
    """
    _tighten(path, PRIVATE_FILE)
    for suffix in _SIDE_FILES:
        _tighten(path.with_name(path.name + suffix), PRIVATE_FILE)
    for backup in path.parent.glob(f"{_glob_escape(path.stem)}-*{_glob_escape(path.suffix)}"):
        if backup.is_file():
            _tighten(backup, PRIVATE_FILE)


def _glob_escape(text: str) -> str:
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in text)


@contextlib.contextmanager
def owner_only() -> Iterator[None]:
    """Inside, every file and folder the process creates is its owner's only (umask 077).

    The umask is per process: use it around short steps that create data
    files, such as a schema upgrade and its backup.
    """
    if not _POSIX:
        yield
        return
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def data_dir() -> Path:
    """The folder for the database and other data (created on demand, owner only)."""
    home = os.environ.get("THREADLINE_HOME")
    path = Path(home) if home else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    return private_dir(path)


def cache_dir() -> Path:
    """The folder for files the app can always make again (derived model tables): the
    user's cache folder, shared by every data folder, so tests and demos that each bring
    their own ``THREADLINE_HOME`` do not each write it again."""
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    """The folder for log files (created on demand, owner only)."""
    home = os.environ.get("THREADLINE_HOME")
    path = (
        Path(home) / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
    )
    return private_dir(path)


def store_location(text: str) -> Path | str:
    """What ``--db`` or ``THREADLINE_DB`` names: a server URL as it is, else a file path.

    A URL (``postgresql+psycopg://user@host/db``, ``sqlite:///PATH``) is never taken for a
    file name: that would quietly make a SQLite file named after the URL.
    """
    if "://" in text:
        return text
    return Path(text).expanduser()


def default_db_path() -> Path | str:
    """The database used when ``--db`` names none: ``THREADLINE_DB``, else the team server
    chosen in Settings → Database (``store.json``, see app.store_auth), else the data
    folder's file."""
    env = os.environ.get("THREADLINE_DB")
    if env:
        return store_location(env)
    saved = saved_store()
    if saved:
        return saved
    return data_dir() / "threadline.db"


STORE_FILE = "store.json"


def saved_store() -> str | None:
    """The team server chosen in Settings → Database: its URL without password (in
    ``store.json`` in the data folder), or None for the local file."""
    import json

    try:
        data = json.loads((data_dir() / STORE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = data.get("url") if isinstance(data, dict) else None
    if isinstance(url, str) and url.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "postgres"):
        return url
    return None


def write_saved_store(url: str | None) -> None:
    """Keep the store the window opens (a server URL without password, or None for the
    local file) in ``store.json``, private to the user."""
    import json

    path = data_dir() / STORE_FILE
    tmp = path.with_name(path.name + ".tmp")
    with owner_only():
        tmp.write_text(json.dumps({"url": url}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def demo_db_path() -> Path:
    """The demo's own database, beside the user's in the data folder (never the user's)."""
    return data_dir() / "demo.db"


RESOURCES_PACKAGE = "threadline_resources"


def resources_dir() -> Path:
    """The shipped resources folder (demo data, self-test samples, icons).

    The top-level ``resources/`` folder is installed as the package ``threadline_resources``
    (see pyproject.toml), so importlib finds it in a wheel and in an editable install. A
    PyInstaller bundle unpacks it as the folder ``threadline_resources`` beside its modules
    (``sys._MEIPASS``). Run straight from a source checkout (nothing installed), it is the
    ``resources/`` folder beside ``app/``.
    """
    import importlib.resources  # here: every CLI run imports this module, few need resources

    try:
        found = importlib.resources.files(RESOURCES_PACKAGE)
    except ModuleNotFoundError:
        found = None
    if isinstance(found, Path) and found.is_dir():
        return found
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen and (Path(frozen) / RESOURCES_PACKAGE).is_dir():
        return Path(frozen) / RESOURCES_PACKAGE
    return Path(__file__).resolve().parent.parent / "resources"
