"""Where Threadline keeps its files: the database, logs and the cache.

Everything resolves under ``THREADLINE_HOME`` when it is set (tests and
support use it), else under the platform's user data directory.
"""

from __future__ import annotations

import importlib.resources
import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "Threadline"


def data_dir() -> Path:
    """The folder for the database and other data (created on demand)."""
    home = os.environ.get("THREADLINE_HOME")
    path = Path(home) if home else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_dir() -> Path:
    """The folder for log files (created on demand)."""
    home = os.environ.get("THREADLINE_HOME")
    path = (
        Path(home) / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
    )
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_db_path() -> Path:
    """The database used when neither ``--db`` nor ``THREADLINE_DB`` names one."""
    env = os.environ.get("THREADLINE_DB")
    if env:
        return Path(env).expanduser()
    return data_dir() / "threadline.db"


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
