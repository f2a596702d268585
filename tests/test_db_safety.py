"""Damaged, read-only, full and busy databases: one line each, nothing lost or half-written.

Every database and mail file here is built by the test itself. Concurrency and
kills use real processes running the real CLI or import path.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, func, select

from app import backups, cli, ingest
from app.db import _alembic_config, make_engine, open_database, url_for, user_error
from app.errors import DamagedDatabaseError, UserFacingError
from app.models import Event, ImportRun, Note
from app.records import Item
from tests.cli_entry import threadline

ROOT = Path(__file__).resolve().parent.parent


def write_mbox(path: Path, count: int, tag: str, *, start: int = 0) -> Path:
    """An mbox of ``count`` messages; senders repeat across files so customers overlap."""
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as f:
        for i in range(start, start + count):
            when = t0 + timedelta(minutes=i)
            f.write(f"From p{i % 40}@example.com {when:%a %b %d %H:%M:%S %Y}\n")
            f.write(f"From: Person {i % 40} <p{i % 40}@example.com>\n")
            f.write("To: shop@myshop.example\n")
            f.write(f"Subject: question {tag} {i}\n")
            f.write(f"Message-ID: <{tag}-{i}@example.com>\n")
            f.write(f"Date: {format_datetime(when)}\n\n")
            f.write(f"Hello, this is message {i} of {tag}.\n\n")
    return path


def run_cli(*args: str | Path) -> tuple[int, str, str]:
    """The CLI in-process; returns (exit code, stdout, stderr)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def cli_process(*args: str | Path) -> subprocess.Popen[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.Popen(
        [threadline(), *[str(a) for a in args]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def counts(path: Path) -> tuple[int, int]:
    """(events, distinct external ids) read straight from the file."""
    con = sqlite3.connect(path)
    try:
        row = con.execute("select count(*), count(distinct source || external_id) from event")
        return tuple(row.fetchone())  # type: ignore[return-value]
    finally:
        con.close()


def run_statuses(path: Path) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return [r[0] for r in con.execute("select status from import_run order by id")]
    finally:
        con.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """A database with 300 events, checkpointed into the main file (no WAL)."""
    path = tmp_path / "shop.db"
    code, _out, err = run_cli("--db", path, "import", write_mbox(tmp_path / "m.mbox", 300, "m"))
    assert code == 0, err
    con = sqlite3.connect(path)
    con.execute("pragma wal_checkpoint(truncate)")
    con.close()
    return path


# --- damaged files -------------------------------------------------------------------------


def test_truncated_database_is_one_line_and_offers_restore(filled: Path) -> None:
    with filled.open("r+b") as f:
        f.truncate(filled.stat().st_size // 3)
    before = digest(filled)
    code, out, err = run_cli("--db", filled, "customers", "--json")
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "is damaged" in err and "threadline restore" in err
    assert json.loads(out)["error"].startswith(f"database {filled} is damaged")
    code, _out, err = run_cli("--db", filled, "note", "1", "still here?")
    assert code == 2 and "is damaged" in err
    assert digest(filled) == before


def test_flipped_bytes_fail_quick_check_and_writes_are_refused(filled: Path) -> None:
    data = bytearray(filled.read_bytes())
    pages = len(data) // 4096
    rnd = random.Random(15)
    for page in range(pages // 3, 2 * pages // 3):
        data[page * 4096 + rnd.randrange(100, 4096)] ^= 0xFF
        data[page * 4096 + rnd.randrange(1, 8)] ^= 0xFF  # the b-tree page header itself
    filled.write_bytes(bytes(data))
    before = digest(filled)
    with pytest.raises(DamagedDatabaseError, match="is damaged"):
        open_database(filled)
    code, _out, err = run_cli("--db", filled, "note", "1", "a write")
    assert code == 2
    assert err.count("\n") == 1 and "is damaged (" in err
    assert digest(filled) == before


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is a shopping list, not SQLite\n" * 200)
    code, out, err = run_cli("--db", path, "search", "x", "--json")
    assert code == 2 and err.count("\n") == 1
    assert "is damaged (file is not a database)" in json.loads(out)["error"]


def test_restore_brings_back_the_backup_and_keeps_the_replaced_file(filled: Path) -> None:
    code, out, err = run_cli("--db", filled, "backup", "--json")
    assert code == 0, err
    made = Path(json.loads(out)["backup"])
    assert backups.check_file(made) is None
    for i in range(3):
        assert run_cli("--db", filled, "note", "1", f"after the backup {i}")[0] == 0
    code, out, _err = run_cli("--db", filled, "backups", "--json")
    assert [b["path"] for b in json.loads(out)["backups"]] == [str(made)]

    code, out, err = run_cli("--db", filled, "restore", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["restored_from"] == str(made)
    kept = Path(result["replaced_file_kept_as"])
    db = open_database(filled)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Note)) == 0
        assert s.scalar(select(func.count()).select_from(Event)) == 300
    db.dispose()
    con = sqlite3.connect(kept)  # the replaced file still has everything written after it
    assert con.execute("select count(*) from note").fetchone() == (3,)
    con.close()


def test_restore_repairs_a_damaged_database_and_refuses_a_damaged_backup(filled: Path) -> None:
    assert run_cli("--db", filled, "backup")[0] == 0
    good = backups.list_backups(filled)[0].path
    bad = filled.with_name("shop-manual-20200101T000000Z.db")
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    filled.write_bytes(filled.read_bytes()[:8192])
    code, _out, err = run_cli("--db", filled, "restore", bad)
    assert code == 2 and "cannot be used" in err and err.count("\n") == 1
    code, _out, err = run_cli("--db", filled, "restore")
    assert code == 0, err
    assert counts(filled) == (300, 300)


# --- read-only and full --------------------------------------------------------------------


def test_read_only_database_refuses_writes_in_one_line(filled: Path, tmp_path: Path) -> None:
    """SQLite's read-only mode (as root, chmod does not stop writes, so a URI asks for it)."""
    db = open_database(f"sqlite:///file:{filled}?mode=ro&uri=true")
    before = digest(filled)
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 300
    (report,) = ingest.import_paths(db, [write_mbox(tmp_path / "more.mbox", 10, "more")])
    assert report.status == "failed" and report.error is not None
    assert "is read-only" in report.error and "\n" not in report.error
    with pytest.raises(Exception) as caught, db.session() as s:
        s.add(Note(customer_id=1, body="hello"))
    error = db.user_error(caught.value)
    assert error is not None and "is read-only" in str(error)
    db.dispose()
    assert digest(filled) == before


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else False, reason="root")
def test_read_only_file_permissions(filled: Path) -> None:
    """chmod 0444 (skipped as root, who may write to it anyway)."""
    filled.chmod(0o444)
    filled.parent.chmod(0o555)
    try:
        code, _out, err = run_cli("--db", filled, "note", "1", "hello")
        assert code == 2 and err.count("\n") == 1
        assert "read-only" in err or "cannot" in err
    finally:
        filled.parent.chmod(0o755)
        filled.chmod(0o644)


@pytest.fixture
def tiny_disk() -> Iterator[None]:
    """Every new SQLite connection may grow its file by only a few pages: a real SQLITE_FULL."""

    def limit(dbapi_conn: Any, _record: Any) -> None:
        pages = dbapi_conn.execute("pragma page_count").fetchone()[0]
        dbapi_conn.execute(f"pragma max_page_count={pages + 40}")

    event.listen(Engine, "connect", limit)
    yield
    event.remove(Engine, "connect", limit)


def test_disk_full_is_one_line_with_json_and_nothing_half_written(
    filled: Path, tmp_path: Path, tiny_disk: None
) -> None:
    big = write_mbox(tmp_path / "big.mbox", 3000, "big")
    code, out, err = run_cli("--db", filled, "import", big, "--json")
    assert code == 2
    assert "Traceback" not in err
    (report,) = json.loads(out)["files"]
    assert report["status"] == "failed" and "is full" in report["error"]
    events, distinct = counts(filled)
    assert events == distinct
    assert (events - 300) % ingest.BATCH_SIZE == 0  # whole batches only
    assert "running" not in run_statuses(filled)


# --- backups before an upgrade --------------------------------------------------------------


def test_backup_before_upgrade_holds_rows_still_in_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    cfg = _alembic_config()
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    previous = ScriptDirectory.from_config(cfg).get_revision(head).down_revision
    assert isinstance(previous, str)
    engine = make_engine(url_for(path))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, previous)
    engine.dispose()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("pragma journal_mode=wal")
    writer.execute("pragma wal_autocheckpoint=0")
    writer.execute("pragma wal_checkpoint(truncate)")
    writer.executemany(
        "insert into setting(key, value) values (?, ?)", [(f"k{i}", "v") for i in range(50)]
    )
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size > 0  # the rows are committed, but only in the WAL
    try:
        open_database(path).dispose()
    finally:
        writer.close()
    (backup,) = backups.list_backups(path)
    assert backup.label == previous
    con = sqlite3.connect(backup.path)
    assert con.execute("select count(*) from setting where key like 'k%'").fetchone() == (50,)
    assert con.execute("select version_num from alembic_version").fetchone() == (previous,)
    con.close()


# --- busy writers ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_four_concurrent_imports_all_succeed(tmp_path: Path, existing: bool) -> None:
    path = tmp_path / "busy.db"
    if existing:
        open_database(path).dispose()
    files = [write_mbox(tmp_path / f"{t}.mbox", 1500, t) for t in "abcd"]
    procs = [cli_process("--db", path, "import", f, "--json") for f in files]
    results = [(p.wait(), *p.communicate()) for p in procs]
    for code, out, err in results:
        assert code == 0, err
        (report,) = json.loads(out)["files"]
        assert report["status"] == "done" and report["added"] == 1500
        assert report["problems"] == []
    assert counts(path) == (6000, 6000)
    assert run_statuses(path) == ["done"] * 4
    con = sqlite3.connect(path)
    assert con.execute("select count(*) from alembic_version").fetchone() == (1,)
    con.close()


_KILLABLE = """
import sys
from pathlib import Path
from app import ingest
from app.db import open_database

db = open_database(sys.argv[1])
seen = []

def progress(p):
    if not seen and p.added:
        seen.append(p)
        print("committed", p.added, flush=True)
        sys.stdin.read()  # hold still until killed

ingest.import_file(db, Path(sys.argv[2]), progress=progress)
"""


@pytest.mark.slow
def test_a_killed_import_is_marked_interrupted_and_a_reimport_completes(tmp_path: Path) -> None:
    path = tmp_path / "kill.db"
    mbox = write_mbox(tmp_path / "big.mbox", 3000, "big")
    open_database(path).dispose()
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLABLE, str(path), str(mbox)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("committed"), line
    # While it is alive, opening the database leaves its run alone.
    open_database(path).dispose()
    assert run_statuses(path) == ["running"]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.stdin is not None
    proc.stdin.close()
    proc.stdout.close()
    events_before, _ = counts(path)
    assert 0 < events_before < 3000

    db = open_database(path)
    with db.session() as s:
        (run,) = s.scalars(select(ImportRun)).all()
        assert run.status == "interrupted" and run.finished_at is not None
    db.dispose()
    code, out, err = run_cli("--db", path, "import", mbox, "--json")
    assert code == 0, err
    (report,) = json.loads(out)["files"]
    assert report["added"] == 3000 - events_before
    assert report["duplicates"] == events_before
    assert counts(path) == (3000, 3000)
    assert run_statuses(path) == ["interrupted", "done"]


def test_a_run_that_fails_with_a_bug_is_marked_failed(tmp_path: Path) -> None:
    db = open_database(tmp_path / "bug.db")

    def items() -> Iterator[Item]:
        raise RuntimeError("a bug in a connector")
        yield  # pragma: no cover

    with pytest.raises(RuntimeError):
        ingest.import_items(db, items, label="x", format="mbox")
    with db.session() as s:
        assert s.scalars(select(ImportRun.status)).all() == ["failed"]
    db.dispose()


def test_read_session_does_not_take_the_write_lock(filled: Path) -> None:
    db = open_database(filled)
    holder = sqlite3.connect(filled, isolation_level=None)
    holder.execute("begin immediate")
    try:
        with db.read_session() as s:
            assert s.scalar(select(func.count()).select_from(Event)) == 300
    finally:
        holder.execute("rollback")
        holder.close()
        db.dispose()


def test_errors_name_the_database(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.db"
    folder.mkdir()
    with pytest.raises(UserFacingError):
        open_database(folder)


def test_a_database_kept_busy_is_one_line(filled: Path) -> None:
    """SQLite's own "database is locked" (a writer that cannot wait) becomes one clear line."""
    holder = sqlite3.connect(filled, isolation_level=None)
    holder.execute("begin immediate")
    impatient = sqlite3.connect(filled, isolation_level=None, timeout=0)
    try:
        with pytest.raises(sqlite3.OperationalError) as caught:
            impatient.execute("begin immediate")
    finally:
        impatient.close()
        holder.execute("rollback")
        holder.close()
    error = user_error(caught.value, filled)
    assert error is not None
    assert str(error).startswith(f"database {filled} is busy") and "\n" not in str(error)
