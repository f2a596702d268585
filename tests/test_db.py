"""Opening databases: migrations create the schema, upgrades back up first, newer DBs refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app import settings
from app.db import head_revision, open_database
from app.errors import UserFacingError
from app.logs import redact


def test_new_database_is_at_head_with_fts(tmp_path: Path) -> None:
    db = open_database(tmp_path / "a.db")
    db.dispose()
    con = sqlite3.connect(tmp_path / "a.db")
    assert con.execute("select version_num from alembic_version").fetchone() == (head_revision(),)
    tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    assert {
        "customer",
        "identity",
        "event",
        "event_participant",
        "order_info",
        "note",
        "import_run",
        "import_problem",
        "setting",
        "audit_log",
        "event_fts",
    } <= tables
    assert con.execute("pragma journal_mode").fetchone() == ("wal",)


def test_reopening_keeps_data_and_makes_no_backup(tmp_path: Path) -> None:
    db = open_database(tmp_path / "a.db")
    with db.session() as s:
        settings.set_value(s, "region", "DE")
    db.dispose()
    db = open_database(tmp_path / "a.db")
    with db.session() as s:
        assert settings.get(s, "region") == "DE"
    db.dispose()
    assert sorted(p.name for p in tmp_path.glob("a-*.db")) == []


def test_newer_database_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    open_database(path).dispose()
    con = sqlite3.connect(path)
    con.execute("update alembic_version set version_num = 'fffffffffff'")
    con.commit()
    con.close()
    with pytest.raises(UserFacingError, match="newer version of Threadline"):
        open_database(path)


def test_unwritable_location_is_a_user_facing_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserFacingError):
        open_database(blocker / "sub" / "db.sqlite")


def test_settings_validate_and_normalise(db: object) -> None:
    from app.db import Database

    assert isinstance(db, Database)
    with db.session() as s:
        assert settings.set_value(s, "region", " gb ") == "GB"
        assert settings.set_value(s, "owner_emails", "a@x.com,  b@y.com ,") == "a@x.com, b@y.com"
        assert settings.get_list(s, "owner_emails") == ["a@x.com", "b@y.com"]
        with pytest.raises(UserFacingError):
            settings.set_value(s, "region", "Atlantis")
        with pytest.raises(UserFacingError):
            settings.set_value(s, "timezone", "Europe/Nowhere")
        with pytest.raises(UserFacingError):
            settings.get(s, "no_such_setting")


def test_log_redaction_masks_secrets_and_addresses() -> None:
    line = redact("login jane.doe@gmail.com password=hunter2 token: abc123")
    assert "hunter2" not in line and "abc123" not in line
    assert "jane.doe@" not in line and "gmail.com" in line


# --- opening cheaply ----------------------------------------------------------------------


def test_head_revision_read_from_the_files_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    from app import db as app_db

    assert app_db._scanned_head() is not None  # the fast path is taken for our migrations
    alembic_head = ScriptDirectory.from_config(app_db._alembic_config()).get_current_head()
    assert head_revision() == alembic_head


def _migration(folder: Path, name: str, text: str) -> None:
    (folder / "versions").mkdir(parents=True, exist_ok=True)
    (folder / "versions" / f"{name}.py").write_text(text, encoding="utf-8")


def test_scanning_the_migrations_finds_the_one_head_or_leaves_it_to_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import db as app_db

    monkeypatch.setattr(app_db, "_MIGRATIONS", tmp_path)
    _migration(tmp_path, "a", '"""Revision ID: a"""\nrevision = "a"\ndown_revision = None\n')
    _migration(tmp_path, "b", 'revision: str = "b"\ndown_revision: str | None = "a"\n')
    _migration(tmp_path, "c", "revision = 'c'\ndown_revision = 'b'  # the newest\n")
    assert app_db._scanned_head() == "c"
    # Two heads, a merge revision or a computed value: Alembic has to decide.
    _migration(tmp_path, "d", 'revision = "d"\ndown_revision = "b"\n')
    assert app_db._scanned_head() is None
    _migration(tmp_path, "d", 'revision = "d"\ndown_revision = ("b", "c")\n')
    assert app_db._scanned_head() is None
    _migration(tmp_path, "d", 'revision = "d"\ndown_revision = "c"\n')
    assert app_db._scanned_head() == "d"
    _migration(tmp_path, "e", 'revision = make_id()\ndown_revision = "d"\n')
    assert app_db._scanned_head() is None


def test_opening_to_read_does_not_wait_for_a_writer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "a.db"
    open_database(path).dispose()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process importing holds the write lock
    try:
        with caplog.at_level("INFO", logger="app.db"):
            db = open_database(path)
            with db.read_session() as session:
                assert settings.get(session, "currency") == "USD"
            db.dispose()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert "could not check for interrupted import runs" not in caplog.text
