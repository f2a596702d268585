"""Shared fixtures: a fresh database per test, isolated data dir, offscreen Qt."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from app.db import Database

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Property tests: no per-example deadline (CI machines are slow and shared), and a fixed
# seed under CI so a run is repeatable; locally they explore new examples every run.
hypothesis_settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")

FIXTURES = Path(__file__).resolve().parent / "fixtures"
pytest_plugins = ["tests.dovecot"]  # the Dovecot IMAP server and keyring fixtures


# Markers by what a test uses, so ``pytest -m "not gui and not slow"`` is the fast inner loop.
_GUI_FIXTURES = frozenset({"qapp", "qtbot", "qtmodeltester"})  # pytest-qt: a QApplication
_GUI_FILES = ("test_gui", "test_ui_")
# A real Dovecot IMAP server, or the local OAuth 2.0 authorization server (and its Dovecot).
_SLOW_FIXTURES = frozenset({"dovecot_server", "oauth_server_session"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``gui`` every test that needs a Qt application (a pytest-qt fixture, or a file
    named test_gui*/test_ui_*) and ``slow`` every test that starts a Dovecot server or the
    OAuth server; the other slow tests carry ``@pytest.mark.slow`` themselves."""
    for item in items:
        used = frozenset(getattr(item, "fixturenames", ()))
        if used & _GUI_FIXTURES or item.path.name.startswith(_GUI_FILES):
            item.add_marker(pytest.mark.gui)
        if used & _SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("THREADLINE_HOME", str(home))
    monkeypatch.delenv("THREADLINE_DB", raising=False)
    monkeypatch.setenv("TZ", "Europe/London")
    # Money is written in the user's locale (app.formatting): the same for every developer.
    monkeypatch.setenv("THREADLINE_LOCALE", "en_GB")


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
