"""A customer with thousands of events: the timeline pages to its end with every row laid out,
and the window opens a big file at once, checking its pages in the background."""

from __future__ import annotations

import itertools
import random
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from app import queries, settings
from app.db import Database
from app.ingest import import_items
from app.records import EventRecord, OrderInfo, OrderLine, Participant
from tests.conftest import fresh_sqlite
from tests.test_ui_models import LONDON, NOW, SHOP, chat, mail
from ui import workers
from ui.models import DayHeader, Loading, TimelineEntry, TimelineModel
from ui.timeline import TimelinePane

EVENTS = 3000
WAIT = 20000


def _history(count: int) -> list[EventRecord]:
    """Jane's years with the shop: mail (some long), WhatsApp lines, orders with items."""
    rng = random.Random(16)
    items: list[EventRecord] = []
    at = NOW - timedelta(minutes=5)
    for i in range(count):
        at -= timedelta(minutes=rng.choice((3, 20, 90, 600, 1500)))
        kind = i % 5
        if kind in (0, 1):
            lines = rng.randint(1, 40)
            text = "\n".join(
                f"Line {n} of message {i}: the peonies, the ribbon." for n in range(lines)
            )
            items.append(
                mail(f"m{i}@jane", "Jane Doe", "jane.doe@gmail.com", SHOP, f"About {i}", text, at)
            )
        elif kind in (2, 3):
            items.append(chat(f"c{i}", "Jane Doe", f"Chat line {i}", at, phone="+44 7700 900123"))
        else:
            items.append(
                EventRecord(
                    channel="order",
                    source="shopify",
                    external_id=f"#{5000 + i}",
                    occurred_at=at,
                    title=f"Order #{5000 + i}",
                    text="",
                    participants=(
                        Participant(
                            "buyer", "Jane Doe", email="jane.doe@gmail.com", platform="shopify"
                        ),
                    ),
                    order=OrderInfo(
                        number=f"#{5000 + i}",
                        currency="GBP",
                        total=Decimal("12.50"),
                        lines=(OrderLine("Peony stems", 5, Decimal("2.50")),),
                    ),
                )
            )
    return items


@pytest.fixture(scope="module")
def history_file(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> tuple[Path, int]:
    """A database set up as conftest's ``db`` with Jane's long history imported, made once
    for this module (the import is the slow part): the file, and Jane's id."""
    from app.db import open_database

    folder = tmp_path_factory.mktemp("history")
    with pytest.MonkeyPatch.context() as mp:  # as conftest's _isolated_home, for the import
        mp.setenv("THREADLINE_HOME", str(folder / "home"))
        mp.setenv("TZ", "Europe/London")
        mp.setenv("THREADLINE_LOCALE", "en_GB")
        db = open_database(fresh_sqlite(sqlite_template, folder / "history.db"))
        try:
            with db.session() as s:
                settings.set_value(s, "region", "GB")
                settings.set_value(s, "timezone", "Europe/London")
                settings.set_value(s, "owner_emails", SHOP)
                settings.set_value(s, "owner_names", "Bloom Flowers")
            items = _history(EVENTS)
            import_items(db, lambda: items, label="years.mbox", format="test")
            with db.session() as s:
                jane = queries.resolve_customer(s, "jane.doe@gmail.com")
        finally:
            db.dispose()
    return folder / "history.db", jane


@pytest.fixture
def db(tmp_path: Path, history_file: tuple[Path, int]) -> Iterator[Database]:
    """conftest's ``db``, holding a copy of ``history_file`` (every test here reads it)."""
    from app.db import open_database

    database = open_database(fresh_sqlite(history_file[0], tmp_path / "test.db"))
    yield database
    database.dispose()


@pytest.fixture
def long_history(db: Database, history_file: tuple[Path, int]) -> int:
    """Jane's id in ``db``: thousands of mails, chats and orders."""
    return history_file[1]


def test_a_long_timeline_pages_to_its_end_with_every_row_laid_out(
    qtbot, db: Database, long_history: int
) -> None:
    model = TimelineModel(db, tz=LONDON, now=lambda: NOW)
    pane = TimelinePane(model)
    qtbot.addWidget(pane)
    pane.resize(900, 600)
    pane.show()
    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        pane.show_customer(long_history)
    assert model.total == EVENTS * 3 // 5  # her mail and orders (the chats are her phone's)
    view = pane.view
    view.setFocus()
    root = QModelIndex()
    while model.canFetchMore(root) or isinstance(model.item(model.rowCount() - 1), Loading):
        rows = model.rowCount()
        QTest.keyClick(view, Qt.Key.Key_End)  # to the last row, as a user would
        QTest.keyClick(view, Qt.Key.Key_PageDown)
        qtbot.waitUntil(lambda rows=rows: model.rowCount() != rows, timeout=WAIT)
    workers.manager().wait_for_done()

    count = model.rowCount()
    items = [model.item(r) for r in range(count)]
    assert not any(isinstance(i, Loading) for i in items)  # the placeholder row is gone
    assert len(model.event_rows()) == model.total
    rects = [view.visualRect(model.index(r, 0)) for r in range(count)]
    assert all(r.height() > 0 and r.width() > 0 for r in rects)
    # one after another down the list: no row overlaps or leaves a gap under another
    assert all(b.top() == a.bottom() + 1 for a, b in itertools.pairwise(rects))
    line = view.fontMetrics().height()

    def heights(test: object) -> set[int]:
        return {rects[r].height() for r in range(count) if test(items[r])}

    day = heights(lambda i: isinstance(i, DayHeader))
    plain = heights(lambda i: isinstance(i, TimelineEntry) and i.event.order is None)
    ordered = heights(lambda i: isinstance(i, TimelineEntry) and i.event.order is not None)
    assert len(day) == len(plain) == len(ordered) == 1  # a collapsed row is one line, long or not
    assert line <= day.pop() < plain.pop() + line
    (one,) = {rects[r].height() for r in model.event_rows() if items[r].event.order is None}
    assert ordered.pop() > one  # an order shows a line of its items under its summary

    # the longest message near the end opens in place to its full height; rows below move down
    last_mails = [r for r in model.event_rows()[-60:] if items[r].event.channel == "email"]
    row = max(last_mails, key=lambda r: items[r].event.text.count("\n"))
    assert items[row].event.text.count("\n") >= 10
    index = model.index(row, 0)
    view.scrollTo(index)
    pane._toggle(index)
    qtbot.waitUntil(lambda: view.visualRect(index).height() > one * 8, timeout=WAIT)
    below = view.visualRect(model.index(row + 1, 0))
    assert below.top() == view.visualRect(index).bottom() + 1
    pane._toggle(index)
    qtbot.waitUntil(lambda: view.visualRect(index).height() == one, timeout=WAIT)


def _damage_middle(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("pragma wal_checkpoint(truncate)")
    con.close()
    data = bytearray(path.read_bytes())
    pages = len(data) // 4096
    rnd = random.Random(15)
    for page in range(pages // 3, 2 * pages // 3):
        data[page * 4096 + rnd.randrange(100, 4096)] ^= 0xFF
        data[page * 4096 + rnd.randrange(1, 8)] ^= 0xFF
    path.write_bytes(bytes(data))


def test_the_window_opens_at_once_and_checks_every_page_behind_it(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.db import open_database
    from ui import app as ui_app

    path = tmp_path / "shop.db"
    db = open_database(path)
    items = _history(600)
    import_items(db, lambda: items, label="years.mbox", format="test")
    db.dispose()

    sound = ui_app.open_window(str(path))  # a sound file: the daily backups start once checked
    assert sound is not None
    qtbot.addWidget(sound)
    qtbot.waitUntil(sound.backup_flow.timer.isActive, timeout=WAIT)
    workers.manager().wait_for_done()
    sound.close()
    sound.service.close()

    for leftover in path.parent.glob("*.backup*"):
        leftover.unlink()
    _damage_middle(path)
    shown: list[str] = []
    ended: list[int] = []
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(lambda *a: shown.append(a[2])))
    monkeypatch.setattr(QApplication, "exit", staticmethod(lambda code=0: ended.append(code)))
    window = ui_app.open_window(str(path))  # the header and schema are sound: it opens…
    assert window is not None
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: bool(shown), timeout=WAIT)  # …and the page scan finds the damage
    workers.manager().wait_for_done()
    assert "is damaged" in shown[0] and "threadline restore" in shown[0]
    assert ended == [1]
    assert not window.isVisible()
    assert not window.backup_flow.timer.isActive()  # a damaged file is never backed up
    window.service.close()


def test_a_timeline_page_is_read_as_plain_rows(db: Database, long_history: int) -> None:
    """A page is read on a reader while the GUI thread scrolls, and the reader's Python holds
    the interpreter lock the GUI thread needs: it builds no ORM objects (no identity map, no
    instance state), only the rows the timeline shows, orders and their lines included."""
    from sqlalchemy import event

    from app.models import Event, Order, OrderLine

    loaded: list[object] = []

    def count(target: object, _context: object) -> None:
        loaded.append(target)

    for entity in (Event, Order, OrderLine):
        event.listen(entity, "load", count)
    try:
        with db.read_session() as s:
            page = queries.timeline(s, long_history, offset=3, limit=40)
    finally:
        for entity in (Event, Order, OrderLine):
            event.remove(entity, "load", count)
    assert loaded == []
    assert len(page) == 40
    orders = [e.order for e in page if e.order is not None]
    assert orders and all(o.lines and o.lines[0].name == "Peony stems" for o in orders)
    assert all(e.author for e in page)


def test_the_window_keeps_what_lives_long_out_of_full_collections(
    qtbot, db: Database, long_history: int
) -> None:
    """A full garbage collection walks every object it tracks with the interpreter lock held
    (about 100 ms of CPU with a long timeline shown, started by whichever thread allocates,
    often a reader): once the window is up, what exists then is frozen out of its sight."""
    import gc

    from ui.main_window import MainWindow

    gc.unfreeze()
    window = MainWindow(db)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window._warmed, timeout=WAIT)
    workers.manager().wait_for_done()
    assert gc.get_freeze_count() > 0
