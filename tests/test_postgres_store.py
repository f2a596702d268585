"""A team's store on a real PostgreSQL server: the same migrations, and a verified copy.

The fixture starts a private PostgreSQL server on 127.0.0.1 (tests/postgres.py); `.ci/run`
installs Debian's package, so CI always runs these.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from app.db import open_database
from app.models import Base
from tests.postgres import PgServer, run_postgres, server_bin
from tests.test_cli_e2e import CLI, DEMO, ROOT

pytestmark = pytest.mark.slow
_names = itertools.count()


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    if server_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed (Debian package postgresql)")
    with run_postgres() as server:
        yield server


def _database(pg: PgServer) -> str:
    return pg.new_database(f"t{os.getpid()}_{next(_names)}")


def test_migrations_build_every_table_on_postgresql(pg: PgServer) -> None:
    url = _database(pg)
    db = open_database(url)
    try:
        found = inspect(db.engine)
        for table in Base.metadata.sorted_tables:
            columns = {c["name"] for c in found.get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
    finally:
        db.dispose()
    again = open_database(url)  # a second open finds the schema current
    again.dispose()


def _demo(tmp_path: Path) -> CLI:
    local = CLI(tmp_path)
    for key, value in (("region", "GB"), ("timezone", "Europe/London")):
        assert local.run("config", key, value).returncode == 0
    files = [str(p) for p in sorted(DEMO.iterdir()) if p.is_file()]
    local.json("import", *files)
    customers = local.json("customers")
    assert len(customers) >= 2
    merged = local.run("merge", str(customers[0]["id"]), str(customers[1]["id"]))
    assert merged.returncode == 0, merged.stderr
    assert local.run("note", str(customers[0]["id"]), "Prefers ribbons, £12 budget").returncode == 0
    return local


def _on(tmp_path: Path, url: str) -> CLI:
    server = CLI(tmp_path)
    server.db = url  # type: ignore[assignment]  # the CLI takes a URL where a path goes
    return server


def test_migrate_store_to_a_server_and_back_keeps_every_answer(
    pg: PgServer, tmp_path: Path
) -> None:
    local = _demo(tmp_path)
    url = _database(pg)
    copied = local.json("migrate-store", "--to", url)
    assert copied["verified"] is True and copied["rows"] > 100
    assert all(t["source"] == t["target"] for t in copied["tables"])
    server = _on(tmp_path, url)
    assert server.json("customers") == local.json("customers")
    jane = max(local.json("customers"), key=lambda c: c["event_count"])
    shown_local, shown_server = (
        local.json("show", str(jane["id"])),
        server.json("show", str(jane["id"])),
    )
    assert shown_server["events"] == shown_local["events"]
    assert shown_server["notes"] == shown_local["notes"]
    # New rows on the server get new ids (its sequences were moved past the copied ones).
    added = server.run("note", str(jane["id"]), "Called back on Tuesday")
    assert added.returncode == 0, added.stderr
    assert len(server.json("show", str(jane["id"]))["notes"]) == len(shown_local["notes"]) + 1
    # And back to a new local file, full-text search included.
    back_path = tmp_path / "back.db"
    back = server.json("migrate-store", "--to", f"sqlite:///{back_path}")
    assert back["verified"] is True
    restored = CLI(tmp_path)
    restored.db = back_path
    assert restored.json("customers") == server.json("customers")
    assert restored.json("search", "tulips") == local.json("search", "tulips") != []


def test_migrate_store_refuses_a_target_that_holds_data(pg: PgServer, tmp_path: Path) -> None:
    local = _demo(tmp_path)
    url = _database(pg)
    assert local.json("migrate-store", "--to", url)["verified"] is True
    before = _on(tmp_path, url).json("customers")
    again = local.run("migrate-store", "--to", url)
    assert again.returncode == 2
    assert "already holds data" in again.stderr and "Traceback" not in again.stderr
    assert _on(tmp_path, url).json("customers") == before


def test_a_server_url_is_never_taken_for_a_file_name(tmp_path: Path) -> None:
    """--db with a URL that cannot be reached fails in one line and creates no file."""
    work = tmp_path / "cwd"
    work.mkdir()
    env = {**os.environ, "THREADLINE_HOME": str(tmp_path / "home")}
    env.pop("THREADLINE_DB", None)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(ROOT)!r}); from app.cli import main; "
            "sys.exit(main())",
            "--db",
            "postgresql+psycopg://nobody@127.0.0.1:1/shop",
            "customers",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("threadline: ") and "Traceback" not in done.stderr
    assert list(work.iterdir()) == []
    env["THREADLINE_DB"] = "postgresql+psycopg://nobody@127.0.0.1:1/shop"
    via_env = subprocess.run(
        [sys.executable, "-m", "app.cli", "customers"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert via_env.returncode == 2 and "Traceback" not in via_env.stderr
    assert not (ROOT / "postgresql+psycopg:").exists()
