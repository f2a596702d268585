"""Where Threadline keeps its files: the database, logs and the cache.

Everything resolves under ``THREADLINE_HOME`` when it is set (tests and
support use it), else under the platform's user data directory.
"""

from __future__ import annotations

import os
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


def resources_dir() -> Path:
    """The shipped resources folder (demo data, style sheets, icons)."""
    return Path(__file__).resolve().parent.parent / "resources"
