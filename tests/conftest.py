"""Shared fixtures: a fresh database per test, isolated data dir, offscreen Qt.

``store`` is a fresh database on each store Threadline runs on: a SQLite file, and a
database on a private PostgreSQL server (started once per session, tests/postgres.py). On
both, each test gets its own database copied from a template migrated once per session
(``sqlite_template``, ``pg_template``). The PostgreSQL case is skipped, with the reason,
where the server binaries are not installed.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from app.db import Database
from tests.postgres import PgServer, run_postgres, server_bin

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Property tests: no per-example deadline (CI machines are slow and shared), and a fixed
# seed under CI so a run is repeatable; locally they explore new examples every run.
hypothesis_settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROOT = FIXTURES.parent.parent
pytest_plugins = ["tests.dovecot"]  # the Dovecot IMAP server and keyring fixtures


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the app's own modules to byte code once, before any test runs.

    Hundreds of tests start ``threadline`` (and other child processes of the app). Where
    PYTHONDONTWRITEBYTECODE is set, as on this project's machines, none of them writes its
    byte code, so each one compiled every app module it imported from source again (a fifth
    of a short command's CPU time); the installed packages were compiled by pip, as a wheel
    install of the app would be. Python still reads byte code that is there and checks it
    against the source's time and size, so an edited module is compiled afresh."""
    import compileall

    for package in ("app", "connectors", "ui"):  # a read-only checkout: only slower tests
        compileall.compile_dir(ROOT / package, quiet=2)


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


_SESSION = {"gui": False}  # whether the tests this process runs include GUI ones


def pytest_collection_finish(session: pytest.Session) -> None:
    _SESSION["gui"] = any(item.get_closest_marker("gui") for item in session.items)


@pytest.fixture(scope="session", autouse=True)
def _qt_application_first(request: pytest.FixtureRequest) -> None:
    """Where GUI tests run, the process's first Qt application is pytest-qt's
    ``QApplication``: a PDF export starts a ``QGuiApplication`` when none runs
    (``app/export/pdf.py``), which cannot hold a window, and a GUI test run after one in
    the same worker aborted the worker (tests/test_pdf_scripts.py, then a window)."""
    if _SESSION["gui"]:
        request.getfixturevalue("qapp")


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


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file that ``open_database`` created and migrated to the newest revision,
    made once per session: ``db`` and ``store`` copy it rather than run every migration
    again for each test (tests/test_db.py creates and upgrades files itself)."""
    from app.db import open_database

    folder = tmp_path_factory.mktemp("sqlite-template")
    with pytest.MonkeyPatch.context() as mp:  # before any test's own home is set
        mp.setenv("THREADLINE_HOME", str(folder / "home"))
        mp.delenv("THREADLINE_DB", raising=False)
        open_database(folder / "template.db").dispose()
    return folder / "template.db"


def fresh_sqlite(template: Path, path: Path) -> Path:
    """A copy of the migrated template at ``path`` (a new file: mode and time its own)."""
    shutil.copyfile(template, path)
    return path


@pytest.fixture
def db(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    from app.db import open_database

    database: Database = open_database(fresh_sqlite(sqlite_template, tmp_path / "test.db"))
    with database.session() as session:
        from app import settings

        settings.set_value(session, "region", "GB")
        settings.set_value(session, "timezone", "Europe/London")
    yield database
    database.dispose()


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


# --- the same tests on both stores ------------------------------------------------------

STORES = ("sqlite", pytest.param("postgresql", marks=pytest.mark.slow))
_databases = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A private PostgreSQL server for the whole session."""
    if server_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed (Debian package postgresql)")
    with run_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer) -> str:
    """A database with the schema at the newest revision, copied for each test."""
    from app.db import open_database

    name = f"template_{os.getpid()}"
    open_database(pg_server.new_database(name)).dispose()
    return name


#: A person's own login role on the session's server, who must give a password over TCP
#: (the administrator is trusted), granted threadline_owner by ``pg_clerk``.
CLERK, CLERK_PASSWORD = "clerk", "Clerk-Pass-4711"


@pytest.fixture(scope="session")
def pg_clerk(pg_server: PgServer, pg_template: str) -> str:
    """The login role ``clerk`` (an owner) on the session's server; its password is
    ``CLERK_PASSWORD``, asked for with scram-sha-256, so a client must bring it (from the
    keyring: tests never put it in a URL)."""
    hba = pg_server.folder / "data" / "pg_hba.conf"
    hba.write_text(f"host all {CLERK} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    pg_server.execute(f"CREATE ROLE {CLERK} LOGIN PASSWORD '{CLERK_PASSWORD}'")
    pg_server.execute(f"GRANT threadline_owner TO {CLERK}")
    pg_server.execute("SELECT pg_reload_conf()")
    return CLERK


@pytest.fixture
def pg_url(pg_server: PgServer, pg_template: str) -> Iterator[str]:
    """The URL of a fresh, migrated database on the session's PostgreSQL server (for a
    test that compares both stores side by side; most tests take ``store`` instead)."""
    name = f"t{os.getpid()}_{next(_databases)}"
    pg_server.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield pg_server.url(name)
    pg_server.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL (or path) of a fresh, migrated database on each store."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        return str(fresh_sqlite(template, tmp_path / "store.db"))
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Database]:
    """A fresh database on each store (SQLite, PostgreSQL), region GB, London time."""
    from app import settings
    from app.db import open_database

    database: Database = open_database(store_url)
    with database.session() as session:
        settings.set_value(session, "region", "GB")
        settings.set_value(session, "timezone", "Europe/London")
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def configured_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file set up once through ``threadline config`` (five runs of the command),
    which tests/test_cli_e2e.py's ``cli`` copies for each test."""
    from tests.test_cli_e2e import CLI, _set_up

    return Path(_set_up(CLI(tmp_path_factory.mktemp("configured"))).db)
