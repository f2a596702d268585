"""The status bar's count of merge suggestions, when the stored list must be built first:
the catch-up runs in a child process (``app.suggestion_child``) while the window goes on
handling events, and closing the window stops the child without storing anything.

The seeded database is small, so the threshold for a child is lowered to it; the child
itself is the real one (spawned, with its own connection), never a stand-in.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from PySide6.QtCore import QTimer

from app import store_auth, suggestion_child, suggestion_store
from app import suggestions as sx
from app.db import Database, open_database
from app.models import SuggestionDirty, SuggestionPair, SuggestionState
from app.service import Service
from tests.conftest import CLERK, CLERK_PASSWORD
from tests.postgres import PgServer
from tests.test_gui_merge import seed_pairs
from tests.test_ui_models import NOW
from ui import workers
from ui.main_window import MainWindow

WAIT = 60000  # a spawned child imports the core first: seconds on a loaded machine


@pytest.fixture(autouse=True)
def _no_leftover_work(qapp: Any) -> Iterator[None]:
    yield
    workers.manager().wait_for_done()


@pytest.fixture
def child_for_any_catch_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """The seeded database's catch-up counts as big: it runs in a child process."""
    monkeypatch.delenv("THREADLINE_SUGGESTION_CHILD", raising=False)
    monkeypatch.setattr(suggestion_child, "CHILD_MIN_CUSTOMERS", 2)


def _stored(s: Session) -> tuple[int, int, int]:
    """Stored pairs, state rows and marked customers."""
    return (
        s.scalar(select(func.count()).select_from(SuggestionPair)) or 0,
        s.scalar(select(func.count()).select_from(SuggestionState)) or 0,
        s.scalar(select(func.count()).select_from(SuggestionDirty)) or 0,
    )


def _window(qtbot: Any, db: Database) -> MainWindow:
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.show()
    return w


def _spy_in_process(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record every catch-up run in this process (and run it)."""
    calls: list[int] = []
    real = suggestion_store.catch_up

    def catch_up(session: Session, **kwargs: Any) -> str:
        calls.append(os.getpid())
        return real(session, **kwargs)

    monkeypatch.setattr(suggestion_store, "catch_up", catch_up)
    return calls


def _running_child() -> Any:
    alive = [p for p in suggestion_child._children if p.is_alive()]
    return alive[0] if len(alive) == 1 else None


@pytest.mark.usefixtures("child_for_any_catch_up")
def test_the_count_arrives_from_a_child_process_while_the_window_handles_events(
    qtbot: Any, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_pairs(db)
    with db.read_session() as s:
        assert suggestion_store.needs_catch_up(s)  # never built: the whole list is pending
        assert suggestion_child.worth_a_child(s)
        expected = len(sx.suggestions(s))
    assert expected == 3
    in_process = _spy_in_process(monkeypatch)
    # The GUI thread's event loop turns a timer; the child's wait is bracketed by its count.
    ticks = [0]
    timer = QTimer()
    timer.setInterval(1)
    timer.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    timer.start()
    waits: list[tuple[int, suggestion_child.ChildResult, int]] = []
    real: Callable[..., suggestion_child.ChildResult] = suggestion_child.catch_up_in_child

    def catch_up_in_child(db: Database, **kwargs: Any) -> suggestion_child.ChildResult:
        before = ticks[0]
        result = real(db, **kwargs)
        waits.append((before, result, ticks[0]))
        return result

    monkeypatch.setattr(suggestion_child, "catch_up_in_child", catch_up_in_child)

    w = _window(qtbot, db)
    with qtbot.waitSignal(w.identity_flow.suggestions_counted, timeout=WAIT) as counted:
        pass
    timer.stop()

    assert counted.args == [expected]
    assert w.suggestions_button.count == expected
    [(before, result, after)] = waits
    assert result.outcome == "rebuilt"
    assert result.pid != os.getpid()  # the work ran in another process …
    assert in_process == []  # … and none of it in this one
    assert after > before  # the window's event loop turned while the child worked
    with db.read_session() as s:
        assert not suggestion_store.needs_catch_up(s)
        assert Service(db).suggestions() == sx.suggestions(s)


@pytest.mark.usefixtures("child_for_any_catch_up")
def test_a_small_catch_up_stays_in_the_process(
    qtbot: Any, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(suggestion_child, "CHILD_MIN_CUSTOMERS", 10_000)
    seed_pairs(db)
    in_process = _spy_in_process(monkeypatch)
    w = _window(qtbot, db)
    with qtbot.waitSignal(w.identity_flow.suggestions_counted, timeout=WAIT) as counted:
        pass
    assert counted.args == [3]
    assert in_process == [os.getpid()]


@pytest.mark.usefixtures("child_for_any_catch_up")
def test_closing_the_window_stops_the_child_and_stores_nothing(
    qtbot: Any, db: Database, tmp_path: Path
) -> None:
    seed_pairs(db)
    assert db.path is not None
    with db.read_session() as s:
        pending = _stored(s)
    assert pending[:2] == (0, 0) and pending[2] > 0
    # The write lock is held here, so the child cannot store anything before it is stopped.
    with closing(sqlite3.connect(db.path, timeout=0, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        w = _window(qtbot, db)
        qtbot.waitUntil(lambda: _running_child() is not None, timeout=WAIT)
        child = _running_child()
        w.close()
        qtbot.waitUntil(lambda: not child.is_alive(), timeout=WAIT)
        workers.manager().wait_for_done()
        qtbot.waitUntil(lambda: workers.manager().active == 0, timeout=WAIT)
        holder.execute("ROLLBACK")
    assert child.exitcode != 0  # stopped, not finished
    assert suggestion_child._children == set()
    assert w.suggestions_button.count == 0  # no count arrived
    with closing(sqlite3.connect(db.path)) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with db.read_session() as s:
        assert _stored(s) == pending
    assert Service(db).suggestion_count() == 3  # the next count builds the list


@pytest.mark.slow
@pytest.mark.usefixtures("child_for_any_catch_up")
def test_on_postgresql_the_child_signs_in_with_the_apps_password_and_a_close_rolls_it_back(
    qtbot: Any,
    pg_url: str,
    pg_server: PgServer,
    pg_clerk: str,
    memory_keyring: Any,
) -> None:
    """The child connects with the password the app took from its keyring (a keyring the
    child cannot read: this one lives in the test's memory), given through a pipe, not on
    its command line; stopped mid-transaction, it leaves the server as it was."""
    url = pg_url.replace(f"//{pg_server.admin}@", f"//{CLERK}@")
    store_auth.store_password(url, CLERK_PASSWORD)
    db = open_database(url)
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        seed_pairs(db)
        with db.read_session() as s:
            pending = _stored(s)
        assert pending[:2] == (0, 0) and pending[2] > 0
        with admin.connect() as holder:
            # Writes to suggestion_state wait (reads do not): the child stops at the end of
            # its rebuild, the pairs written and the marks deleted, before it stores its state.
            holder.execute(text("BEGIN"))
            holder.execute(text("LOCK TABLE suggestion_state IN SHARE MODE"))
            w = _window(qtbot, db)

            def child_waits() -> bool:
                waiting = holder.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE NOT granted"
                        " AND relation = 'suggestion_state'::regclass"
                    )
                ).scalar()
                return bool(waiting)

            qtbot.waitUntil(child_waits, timeout=WAIT)
            child = _running_child()
            assert child is not None
            command_line = Path(f"/proc/{child.pid}/cmdline")
            if command_line.exists():
                assert CLERK_PASSWORD.encode() not in command_line.read_bytes()
            w.close()
            qtbot.waitUntil(lambda: not child.is_alive(), timeout=WAIT)
            workers.manager().wait_for_done()
            holder.execute(text("ROLLBACK"))
        assert child.exitcode != 0
        assert w.suggestions_button.count == 0
        with db.read_session() as s:
            assert _stored(s) == pending  # the child's transaction was rolled back whole
        assert Service(db).suggestion_count() == 3
    finally:
        admin.dispose()
        db.dispose()
