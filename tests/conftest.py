"""Shared fixtures: a fresh database per test, isolated data dir, offscreen Qt."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.db import Database

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("THREADLINE_HOME", str(home))
    monkeypatch.delenv("THREADLINE_DB", raising=False)
    monkeypatch.setenv("TZ", "Europe/London")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    from app.db import open_database

    database: Database = open_database(tmp_path / "test.db")
    with database.session() as session:
        from app import settings

        settings.set_value(session, "region", "GB")
        settings.set_value(session, "timezone", "Europe/London")
    yield database
    database.dispose()


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
