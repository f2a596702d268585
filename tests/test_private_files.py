"""Customer data on disk is the owner's only: folders 0700, files 0600 (Linux and macOS).

Each test sets a permissive umask (022, the usual default) first, so a file
created without care would come out group- and world-readable (0644).
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from app import paths
from app.db import _alembic_config, head_revision, open_database
from app.logs import PrivateRotatingFileHandler
from tests.cli_entry import threadline

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")

ROOT = Path(__file__).resolve().parent.parent


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def loose_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_database_and_its_wal_and_shm_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    db = open_database(path)
    try:
        with db.session() as session:
            session.execute(text("CREATE TABLE scratch (x)"))
            session.execute(text("INSERT INTO scratch VALUES (1)"))
        wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
        assert wal.exists() and shm.exists()  # held open by the pooled connection
        assert {p.name: _mode(p) for p in (path, wal, shm)} == {
            "new.db": 0o600,
            "new.db-wal": 0o600,
            "new.db-shm": 0o600,
        }
        probe = tmp_path / "after.txt"
        probe.write_text("x")  # the umask is the caller's again once the database is open
        assert _mode(probe) == 0o644
    finally:
        db.dispose()


def test_loose_files_from_an_older_version_are_tightened_at_open(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    open_database(path).dispose()
    old_backup = tmp_path / "shop-0004-20240101T000000Z.db"
    old_backup.write_bytes(path.read_bytes())
    wal = Path(f"{path}-wal")
    wal.write_bytes(b"")
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("mine")
    for p in (path, old_backup, wal, unrelated):
        p.chmod(0o644)
    open_database(path).dispose()
    assert _mode(path) == _mode(old_backup) == 0o600
    if wal.exists():
        assert _mode(wal) == 0o600
    assert _mode(unrelated) == 0o644  # not Threadline's to change


def test_the_backup_made_before_a_migration_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = open_database(path)
    cfg = _alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "-1")
    db.dispose()
    path.chmod(0o644)  # as an older Threadline left it
    db = open_database(path)
    db.dispose()
    backups = [p for p in tmp_path.glob("old-*.db") if p.is_file()]
    assert len(backups) == 1 and head_revision() not in backups[0].name
    assert _mode(backups[0]) == 0o600
    assert _mode(path) == 0o600


def test_data_and_log_folders_are_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    monkeypatch.setenv("THREADLINE_HOME", str(home))
    assert paths.data_dir() == home and _mode(home) == 0o700
    assert _mode(paths.log_dir()) == 0o700
    monkeypatch.setenv("THREADLINE_HOME", str(tmp_path / "fresh" / "home"))
    assert _mode(paths.data_dir()) == 0o700


def test_log_files_are_owner_only_after_rotation(tmp_path: Path) -> None:
    target = tmp_path / "threadline.log"
    handler = PrivateRotatingFileHandler(target, maxBytes=200, backupCount=2, encoding="utf-8")
    logger = logging.getLogger("tests.private_files")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for n in range(20):
            logger.warning("line %d with enough words to fill the file soon", n)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        handler.close()
    logs = sorted(tmp_path.glob("threadline.log*"))
    assert len(logs) == 3
    assert {p.name: _mode(p) for p in logs} == {p.name: 0o600 for p in logs}


def test_the_cli_leaves_its_database_and_log_owner_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    mail = tmp_path / "one.eml"
    mail.write_bytes(
        b"From: Jane <jane@example.com>\r\nTo: shop@example.org\r\nSubject: Hi\r\n"
        b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <one@x>\r\n\r\nHello\r\n"
    )
    env = {**os.environ, "THREADLINE_HOME": str(home), "TZ": "Europe/London"}
    env.pop("THREADLINE_DB", None)
    result = subprocess.run(
        [threadline(), "import", str(mail)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    db = home / "threadline.db"
    log = home / "logs" / "threadline.log"
    assert _mode(home) == _mode(home / "logs") == 0o700
    assert _mode(db) == _mode(log) == 0o600
    # what lies beside the database: the import runs' liveness locks, the writers' queue
    assert _mode(home / ".threadline.db.runs") == 0o700
    beside = sorted(p.name for p in home.glob(".threadline.db.*") if p.is_file())
    assert {".threadline.db.next", ".threadline.db.turn"} <= set(beside)
    assert {name: _mode(home / name) for name in beside} == dict.fromkeys(beside, 0o600)
