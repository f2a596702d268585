"""Automatic backups: which copies rotate away, when the daily one is due, and that
copies are the owner's only. Every database here is built by the test."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app import backups


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    con = sqlite3.connect(path)
    con.execute("create table note (id integer primary key, body text)")
    con.executemany("insert into note (body) values (?)", [(f"note {i}",) for i in range(50)])
    con.commit()
    con.close()
    return path


def copy_as(shop: Path, label: str, when: datetime) -> Path:
    """A real backup of ``shop`` renamed as if it had been made at ``when``."""
    made = backups.make_backup(shop, label)
    target = shop.with_name(f"{shop.stem}-{label}-{when:%Y%m%dT%H%M%S%fZ}{shop.suffix}")
    shutil.move(made, target)
    return target


T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def test_rotation_keeps_the_newest_automatic_copies_and_every_manual_and_upgrade_one(
    shop: Path,
) -> None:
    daily = [copy_as(shop, backups.DAILY, T0 + timedelta(days=i)) for i in range(10)]
    merge = [copy_as(shop, backups.BEFORE_MERGE, T0 + timedelta(hours=i)) for i in range(9)]
    manual = [copy_as(shop, backups.MANUAL, T0 - timedelta(days=400 + i)) for i in range(12)]
    upgrade = [copy_as(shop, "0007", T0 - timedelta(days=900 + i)) for i in range(3)]
    replaced = shop.with_name("shop-replaced-20200101T000000Z.db")
    shutil.copy(shop, replaced)

    removed = backups.rotate(shop)

    assert sorted(removed) == sorted(daily[:3] + merge[:2])
    left = {b.path for b in backups.list_backups(shop)}
    assert left == set(daily[3:] + merge[2:] + manual + upgrade)
    assert replaced.exists()  # a file set aside by a restore is not a backup
    assert backups.rotate(shop) == []


def test_automatic_backup_rotates_after_copying(shop: Path) -> None:
    for i in range(7):
        copy_as(shop, backups.DAILY, T0 + timedelta(days=i))
    made = backups.automatic_backup(shop, backups.DAILY)
    kept = [b.path for b in backups.list_backups(shop) if b.label == backups.DAILY]
    assert len(kept) == 7 and kept[0] == made
    assert backups.check_file(made) is None
    con = sqlite3.connect(made)
    assert con.execute("select count(*) from note").fetchone() == (50,)
    con.close()


def test_the_daily_backup_is_made_only_when_the_newest_copy_is_a_day_old(shop: Path) -> None:
    assert backups.backup_due(shop)  # no backup yet
    assert not backups.backup_due(shop.with_name("absent.db"))  # nothing to copy
    copy_as(shop, backups.MANUAL, T0)
    assert not backups.backup_due(shop, now=T0 + timedelta(hours=23, minutes=59))
    assert backups.daily_backup(shop, now=T0 + timedelta(hours=23)) is None
    assert backups.backup_due(shop, now=T0 + timedelta(hours=24))
    made = backups.daily_backup(shop, now=T0 + timedelta(days=2))
    assert made is not None and backups.list_backups(shop)[0].label == backups.DAILY


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_every_backup_is_owner_only_whatever_the_umask(shop: Path) -> None:
    previous = os.umask(0o022)
    try:
        made = backups.make_backup(shop, backups.MANUAL)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(made.stat().st_mode) == 0o600


def test_backups_piped_into_a_reader_that_stops_is_not_an_error(tmp_path: Path) -> None:
    """`threadline backups --json | head -1`: the reader leaves early, no traceback."""
    import subprocess

    from tests.cli_entry import threadline

    env = {**os.environ, "THREADLINE_HOME": str(tmp_path / "home")}
    env.pop("THREADLINE_DB", None)
    db = tmp_path / "shop.db"
    made = subprocess.run(
        [threadline(), "--db", str(db), "customers"], env=env, capture_output=True, check=False
    )
    assert made.returncode == 0, made.stderr
    for _ in range(3):
        made = subprocess.run(
            [threadline(), "--db", str(db), "backup"], env=env, capture_output=True, check=False
        )
        assert made.returncode == 0, made.stderr
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written
    try:
        done = subprocess.run(
            [threadline(), "--db", str(db), "backups", "--json"],
            env=env,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
    assert done.returncode == 0
