"""A read-only CLI command imports only what it needs.

``threadline --version``, ``customers``, ``search`` and ``show`` are run through the
installed entry point under ``python -X importtime -v``, and every module they import is
checked: never the GUI (PySide6), the IMAP client, the keyring, the OAuth stack, Alembic
(the schema is current: a revision read from the database is compared with the newest
one in the migration files), or any connector. On a SQLite file they do not import
SQLAlchemy or the ORM models either (app.readpath reads the file with ``sqlite3``), and
``--version`` imports nothing of the app beyond the CLI module. Nothing here is timed:
``python -m tests.bench.bench_cli`` measures.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app import ingest
from app.db import open_database
from tests.cli_entry import threadline

# Top-level packages no read-only command may import.
NEVER = ("PySide6", "shiboken6", "ui", "imapclient", "keyring", "authlib", "requests", "alembic")
CONNECTORS = "connectors"
# Nor, on a SQLite file, SQLAlchemy (and so the ORM) or the modules built on it.
ORM = ("sqlalchemy", "app.models", "app.queries", "app.db", "app.brief", "app.summary")

_IMPORTTIME = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", re.M)
_VERBOSE = re.compile(r"^import '([\w.]+)' #", re.M)  # also modules loaded by importlib

MAIL = (
    "From jane@example.com Mon Jan  1 10:00:00 2024\n"
    "From: Jane Doe <jane.doe@example.com>\n"
    "To: shop@example.org\n"
    "Subject: Peonies for the wedding\n"
    "Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
    "Message-ID: <peonies@example.com>\n"
    "\n"
    "Could you deliver white peonies on Saturday?\n"
)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("imports")
    mbox = folder / "mail.mbox"
    mbox.write_text(MAIL, encoding="utf-8")
    path = folder / "t.db"
    db = open_database(path)
    try:
        (report,) = ingest.import_paths(db, [mbox])
        assert report.added == 1, report
    finally:
        db.dispose()
    return path


def imported(database: Path, *args: str) -> tuple[set[str], str]:
    """The modules the installed ``threadline`` imports for ``args``, and its stdout."""
    env = {**os.environ, "THREADLINE_HOME": str(database.parent / "home"), "TZ": "UTC"}
    env.pop("THREADLINE_DB", None)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-v", threadline(), "--db", str(database), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = set(_IMPORTTIME.findall(done.stderr)) | set(_VERBOSE.findall(done.stderr))
    assert "argparse" in names  # the output was read
    return names, done.stdout


def forbidden(names: set[str], also: tuple[str, ...] = ()) -> list[str]:
    """The modules of ``names`` in a banned top-level package or in ``also`` (or below)."""

    def banned(name: str) -> bool:
        if name.split(".")[0] in (*NEVER, CONNECTORS):
            return True
        return any(name == b or name.startswith(f"{b}.") for b in also)

    return sorted(n for n in names if banned(n))


@pytest.mark.parametrize(
    "args",
    [
        ("customers", "--json"),
        ("customers", "jane", "--json"),
        ("customers", "jane.doe@example.com", "--json"),
        ("search", "peonies", "--json"),
        ("search", "from:jane channel:email after:2023-12-01 peonies", "--json"),
        ("show", "jane.doe@example.com", "--json"),
        ("show", "1"),
    ],
    ids=[
        "customers",
        "customers-query",
        "customers-email",
        "search",
        "search-fields",
        "show",
        "show-text",
    ],
)
def test_a_read_only_command_imports_no_gui_imap_keyring_alembic_connector_or_orm(
    database: Path, args: tuple[str, ...]
) -> None:
    names, out = imported(database, *args)
    assert "Jane Doe" in out or "peonies" in out.lower()  # it did its work
    assert "app.readpath" in names
    assert forbidden(names, also=ORM) == []


def test_a_read_only_command_on_a_new_file_takes_the_full_path(tmp_path: Path) -> None:
    # Nothing to read yet: the database is created (through Alembic), as by any command.
    names, out = imported(tmp_path / "new.db", "customers", "--json")
    assert json.loads(out) == []
    assert {"sqlalchemy", "app.models", "alembic"} <= names


def test_version_imports_nothing_but_the_cli(database: Path) -> None:
    names, out = imported(database, "--version")
    assert out.startswith("threadline ")
    app_modules = sorted(n for n in names if n.split(".")[0] == "app")
    assert app_modules == ["app", "app.cli", "app.errors", "app.lazy"]
    assert forbidden(names, also=("sqlalchemy", "zoneinfo", "logging")) == []


def test_the_check_sees_what_a_command_imports(tmp_path: Path) -> None:
    # A command that needs a connector is seen importing it, though the registry imports
    # connectors through importlib, which -X importtime alone does not report.
    mail = tmp_path / "one.eml"
    mail.write_text(MAIL.split("\n", 1)[1], encoding="utf-8")
    names, out = imported(tmp_path / "other.db", "import", str(mail), "--json")
    assert json.loads(out)["files"][0]["added"] == 1
    assert {"connectors.registry", "connectors.eml", "alembic"} <= set(names)
    assert forbidden(names)
