"""A read-only CLI command imports only what it needs.

``threadline --version``, ``customers``, ``search`` and ``show`` are run through the
installed entry point under ``python -X importtime -v``, and every module they import is
checked: never the GUI (PySide6), the IMAP client, the keyring, the OAuth stack, Alembic
(the schema is current: a revision read from the database is compared with the newest
one in the migration files), or any connector. ``--version`` does not even import
SQLAlchemy. Nothing here is timed: ``python -m tests.bench.bench_cli`` measures.
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
    banned = (*NEVER, CONNECTORS, *also)
    return sorted(n for n in names if n.split(".")[0] in banned)


@pytest.mark.parametrize(
    "args",
    [
        ("customers", "--json"),
        ("customers", "jane", "--json"),
        ("search", "peonies", "--json"),
        ("show", "jane.doe@example.com", "--json"),
        ("show", "1"),
    ],
    ids=["customers", "customers-query", "search", "show", "show-text"],
)
def test_a_read_only_command_imports_no_gui_imap_keyring_alembic_or_connector(
    database: Path, args: tuple[str, ...]
) -> None:
    names, out = imported(database, *args)
    assert "Jane Doe" in out or "peonies" in out.lower()  # it did its work
    assert forbidden(names) == []


def test_version_does_not_even_import_sqlalchemy(database: Path) -> None:
    names, out = imported(database, "--version")
    assert out.startswith("threadline ")
    assert forbidden(names, also=("sqlalchemy",)) == []


def test_the_check_sees_what_a_command_imports(tmp_path: Path) -> None:
    # A command that needs a connector is seen importing it, though the registry imports
    # connectors through importlib, which -X importtime alone does not report.
    mail = tmp_path / "one.eml"
    mail.write_text(MAIL.split("\n", 1)[1], encoding="utf-8")
    names, out = imported(tmp_path / "other.db", "import", str(mail), "--json")
    assert json.loads(out)["files"][0]["added"] == 1
    assert {"connectors.registry", "connectors.eml", "alembic"} <= set(names)
    assert forbidden(names)
