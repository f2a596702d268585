"""The timeline of a long history pages without laying out again what it already shows: a page
adds its rows and sets only their heights, the rows on screen stay put, the first page paints,
and PageDown, End and the wheel walk the list."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from PySide6.QtCore import QModelIndex, QPoint, QPointF, QSize, Qt
from PySide6.QtGui import QPalette, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QStyleOptionViewItem

from app import queries, settings
from app.db import Database
from app.ingest import import_items
from tests.test_gui_long_timeline import _history
from tests.test_ui_models import LONDON, NOW, SHOP
from ui import workers
from ui.models import DayHeader, Loading, TimelineEntry, TimelineModel
from ui.timeline import TimelinePane
from ui.timeline_delegate import TimelineDelegate

EVENTS = 500
PAGE = 40
WAIT = 20000


class CountingDelegate(TimelineDelegate):
    """The timeline's delegate, counting the sizes asked of it and the rows painted."""

    def __init__(self, view: Any) -> None:
        super().__init__(view)
        self.asked: list[int] = []
        self.painted: list[int] = []

    def sizeHint(self, option: QStyleOptionViewItem, index: Any) -> QSize:
        self.asked.append(index.row())
        return super().sizeHint(option, index)

    def paint(self, painter: Any, option: QStyleOptionViewItem, index: Any) -> None:
        self.painted.append(index.row())
        super().paint(painter, option, index)


@pytest.fixture
def jane(db: Database) -> int:
    with db.session() as s:
        settings.set_value(s, "owner_emails", SHOP)
        settings.set_value(s, "owner_names", "Bloom Flowers")
    items = _history(EVENTS)
    import_items(db, lambda: items, label="years.mbox", format="test")
    with db.session() as s:
        return queries.resolve_customer(s, "jane.doe@gmail.com")


def _pane(qtbot: Any, db: Database, customer: int) -> tuple[TimelinePane, CountingDelegate]:
    model = TimelineModel(db, tz=LONDON, now=lambda: NOW, page_size=PAGE)
    pane = TimelinePane(model)
    delegate = CountingDelegate(pane.view)
    pane.view.setItemDelegate(delegate)
    pane.delegate = delegate
    qtbot.addWidget(pane)
    pane.resize(900, 600)
    pane.show()
    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        pane.show_customer(customer)
    QTest.qWait(0)  # (one turn: the expanded rows' heights are measured on the next)
    return pane, delegate


def _next_page(qtbot: Any, model: TimelineModel) -> None:
    """Ask for the next page as the view does at the bottom, and wait until it is in."""
    rows = len(model.event_rows())
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    qtbot.waitUntil(
        lambda: (
            len(model.event_rows()) > rows
            and not isinstance(model.item(model.rowCount() - 1), Loading)
        ),
        timeout=WAIT,
    )
    QTest.qWait(0)


def _assert_laid_out(pane: TimelinePane) -> None:
    model, view = pane.model, pane.view
    rects = [view.visualRect(model.index(r, 0)) for r in range(model.rowCount())]
    assert all(r.height() > 0 and r.width() > 0 for r in rects)
    # one under another: no row overlaps another or leaves a gap
    assert all(b.top() == a.bottom() + 1 for a, b in itertools.pairwise(rects))
    items = [model.item(r) for r in range(model.rowCount())]
    line = {
        rects[r].height()
        for r, i in enumerate(items)
        if isinstance(i, TimelineEntry)
        and i.event.order is None
        and i.event.id not in model.expanded
    }
    day = {rects[r].height() for r, i in enumerate(items) if isinstance(i, DayHeader)}
    assert len(line) == len(day) == 1  # a collapsed row is one line, however long its text


def test_a_page_adds_its_rows_without_asking_the_shown_rows_sizes_again(
    qtbot: Any, db: Database, jane: int
) -> None:
    pane, delegate = _pane(qtbot, db, jane)
    model, view = pane.model, pane.view
    first = model.event_rows()[0]
    pane._toggle(model.index(first, 0))  # an expanded row: measured once, not per page
    QTest.qWait(0)
    one = view.visualRect(model.index(model.event_rows()[1], 0)).height()
    assert view.visualRect(model.index(first, 0)).height() > one
    for _ in range(3):
        shown = model.rowCount()
        delegate.asked.clear()
        sets = getattr(view, "height_sets", 0)
        _next_page(qtbot, model)
        # Nothing shown before was measured again; of the page, only rows that are not one
        # line high (day headers, orders with items) got a height of their own.
        assert [r for r in delegate.asked if r < shown] == []
        new = range(shown, model.rowCount())
        taller = [
            r
            for r in new
            if not isinstance(i := model.item(r), TimelineEntry) or i.event.order is not None
        ]
        assert 0 < view.height_sets - sets <= len(taller)
    _assert_laid_out(pane)


def test_the_rows_on_screen_stay_put_when_a_page_arrives(
    qtbot: Any, db: Database, jane: int
) -> None:
    pane, _delegate = _pane(qtbot, db, jane)
    model, view = pane.model, pane.view
    _next_page(qtbot, model)
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)  # somewhere in the middle, reading
    QTest.qWait(0)
    top = view.indexAt(QPoint(5, 5))
    where = view.visualRect(top)
    value = bar.value()
    _next_page(qtbot, model)
    assert bar.value() == value
    assert view.indexAt(QPoint(5, 5)) == top
    assert view.visualRect(top) == where
    assert bar.maximum() > value


def test_the_first_page_paints_at_once(qtbot: Any, db: Database, jane: int) -> None:
    pane, delegate = _pane(qtbot, db, jane)
    model, view = pane.model, pane.view
    delegate.painted.clear()
    image = view.viewport().grab().toImage()
    first = model.event_rows()[0]
    assert first in delegate.painted and 0 in delegate.painted  # the day header above it too
    rect = view.visualRect(model.index(first, 0))
    assert view.viewport().rect().contains(rect)
    colours = {image.pixel(x, rect.center().y()) for x in range(rect.left(), rect.right())}
    assert len(colours) > 2  # its mark, time, name and text are drawn
    # it is the current row: selected with the delegate's soft band, not a highlight fill
    # around it (the corner outside the band's rounding is the list's background)
    assert view.currentIndex().row() == first
    base = view.palette().color(QPalette.ColorRole.Base).rgb()
    assert image.pixel(rect.left(), rect.top()) == base
    assert image.pixel(rect.right(), rect.bottom()) == base
    _assert_laid_out(pane)


def test_page_down_end_and_the_wheel_walk_the_timeline(qtbot: Any, db: Database, jane: int) -> None:
    pane, _delegate = _pane(qtbot, db, jane)
    model, view = pane.model, pane.view
    bar = view.verticalScrollBar()
    view.setFocus()
    page = view.viewport().height()
    for _ in range(3):  # each PageDown moves a screenful down, past day headers
        row, value = view.currentIndex().row(), bar.value()
        QTest.keyClick(view, Qt.Key.Key_PageDown)
        assert view.currentIndex().row() > row
        assert isinstance(model.item(view.currentIndex().row()), TimelineEntry)
        assert bar.value() > value
    assert bar.value() >= page
    value = bar.value()
    centre = QPointF(view.viewport().rect().center())
    wheel = QWheelEvent(
        centre,
        QPointF(view.viewport().mapToGlobal(centre.toPoint())),
        QPoint(0, 0),
        QPoint(0, -120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), wheel)
    assert bar.value() > value
    # End goes to the last event shown; the pages behind it load until the history ends
    root = QModelIndex()
    while model.canFetchMore(root) or isinstance(model.item(model.rowCount() - 1), Loading):
        rows = model.rowCount()
        QTest.keyClick(view, Qt.Key.Key_End)
        qtbot.waitUntil(lambda rows=rows: model.rowCount() != rows, timeout=WAIT)
    workers.manager().wait_for_done()
    QTest.keyClick(view, Qt.Key.Key_End)
    assert view.currentIndex().row() == model.event_rows()[-1]
    assert len(model.event_rows()) == model.total
    assert bar.value() == bar.maximum()
    QTest.keyClick(view, Qt.Key.Key_Home)
    assert view.currentIndex().row() == model.event_rows()[0]
    assert view.viewport().rect().contains(view.visualRect(view.currentIndex()))
    _assert_laid_out(pane)


def test_rows_follow_a_larger_font_and_the_width(qtbot: Any, db: Database, jane: int) -> None:
    pane, _delegate = _pane(qtbot, db, jane)
    model, view = pane.model, pane.view
    _next_page(qtbot, model)
    entries = {r: model.item(r) for r in model.event_rows()}
    mail = next(
        r
        for r, i in entries.items()
        if i.event.channel == "email" and i.event.text.count("\n") > 5  # type: ignore[union-attr]
    )
    plain = next(
        r
        for r, i in entries.items()
        if i.event.order is None and r != mail  # type: ignore[union-attr]
    )
    before = view.visualRect(model.index(plain, 0)).height()
    font = view.font()
    font.setPointSizeF(font.pointSizeF() * 1.6)
    view.setFont(font)
    assert view.visualRect(model.index(plain, 0)).height() > before
    _assert_laid_out(pane)
    # an expanded message wraps again when the pane narrows: its row grows to hold it
    pane._toggle(model.index(mail, 0))
    wide = view.visualRect(model.index(mail, 0)).height()
    assert wide > view.visualRect(model.index(plain, 0)).height() * 3
    pane.resize(500, 600)
    qtbot.waitUntil(lambda: view.visualRect(model.index(mail, 0)).height() > wide, timeout=WAIT)
    _assert_laid_out(pane)
