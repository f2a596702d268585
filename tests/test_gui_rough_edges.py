"""Rough edges a new user met in the window, each driven like a user and grabbed to a PNG.

Every test builds its own data (``seed`` from ``test_ui_models`` plus what it adds)
and saves ``window.grab()`` under the test's tmp dir so a failure can be looked at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app import settings
from app.db import Database
from tests.test_gui import WAIT, names, type_search
from tests.test_ui_models import NOW, seed
from ui import workers
from ui.main_window import MainWindow

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, db: Database) -> Iterator[MainWindow]:
    seed(db)
    with db.session() as s:
        settings.set_value(s, "region", "GB")
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.resize(1400, 850)
    w.show()
    qtbot.waitUntil(lambda: w.customer_model.loaded_query == "", timeout=WAIT)
    yield w
    workers.manager().wait_for_done()
    qtbot.waitUntil(lambda: workers.manager().active == 0, timeout=WAIT)


def shot(w, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    assert w.grab().save(str(path))
    return path


# --- customer search by a national phone number ------------------------------------------


@pytest.mark.parametrize("typed", ["07700 900123", "07700900123", "0770 0900", "+44 7700 900123"])
def test_search_finds_a_customer_by_national_number(
    qtbot, window: MainWindow, tmp_path: Path, typed: str
) -> None:
    type_search(qtbot, window, typed)
    shot(window, tmp_path, "phone-search")
    assert "Jane Doe" in names(window)
    assert window.customer_model.total >= 1


def test_national_number_matches_in_list_and_count_alike(db: Database) -> None:
    from app import queries

    seed(db)
    with db.session() as s:
        settings.set_value(s, "region", "GB")
    with db.read_session() as s:
        for typed in ("07700 900123", "07700900123", "0770", "0044 7700 900123"):
            rows = queries.list_customers(s, typed)
            assert "Jane Doe" in [r.name for r in rows], typed
            assert queries.count_customers(s, typed) == len(rows), typed
