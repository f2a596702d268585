"""Full garbage collections run on the GUI thread when the app is quiet (``ui.collector``), never
on a reader building a timeline page: Python's thresholds are taken over while held and given
back after, a garbage cycle waits while the user scrolls and goes once quiet (or long overdue),
the window holds the policy while open, scrolling a long timeline starts no full collection
on a reader, and the timeline's rows are gone again once the customer is."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from PySide6.QtCore import QModelIndex

from app.customer_events import customer_events
from app.db import Database
from tests.test_gui_timeline_paging import PAGE, WAIT, _next_page, _pane, jane  # noqa: F401
from ui import workers
from ui.collector import IdleCollector, collector


class Node:
    """An object that refers to itself: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def python_thresholds() -> Iterator[None]:
    """Python's own thresholds while the test runs (whatever a window left open holds)."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


@pytest.fixture
def idle(qtbot: Any, python_thresholds: None) -> Iterator[IdleCollector]:
    policy = IdleCollector(quiet_ms=60_000)
    policy.hold()
    yield policy
    policy.release()
    assert gc.get_threshold() == (700, 10, 10)


def _old_cycle() -> weakref.ref[Node]:
    """A garbage cycle among the oldest objects (generation 2), where young collections never
    look: only a full collection frees it."""
    node = Node()
    gc.collect(1)  # (it lives through a young collection: moved to the oldest generation)
    found = weakref.ref(node)
    del node
    return found


def _young_collections(count: int) -> None:
    for _ in range(count):
        gc.collect(1)


def test_holding_takes_full_collections_from_python_and_the_last_release_gives_them_back(
    qtbot: Any, python_thresholds: None
) -> None:
    before = gc.get_threshold()
    policy = IdleCollector()
    policy.hold()
    policy.hold()  # (two windows)
    assert gc.get_threshold()[:2] == before[:2]  # young collections run as before
    assert gc.get_threshold()[2] > 10**9  # a full one Python never starts
    policy.release()
    assert policy.held and gc.get_threshold()[2] > 10**9
    policy.release()
    assert not policy.held and gc.get_threshold() == before
    policy.release()  # (once more: nothing to give back)
    assert gc.get_threshold() == before


def test_a_garbage_cycle_waits_while_the_user_scrolls_and_goes_once_quiet(
    idle: IdleCollector,
) -> None:
    cycle = _old_cycle()
    threshold = gc.get_count()[2]
    _young_collections(11)  # as many young collections as make a full one due (10 by default)
    assert gc.get_count()[2] > threshold and idle.due()
    assert cycle() is not None  # (young collections never reach it)

    idle.touch()  # a list scrolled just now
    idle.check()
    assert cycle() is not None and idle.collections == 0

    idle.quiet = 0  # quiet since
    assert workers.manager().active == 0
    idle.check()
    assert cycle() is None and idle.collections == 1
    assert not idle.due()
    idle.check()  # nothing due: nothing run
    assert idle.collections == 1


def test_a_long_overdue_collection_runs_even_while_the_user_scrolls(idle: IdleCollector) -> None:
    idle.overdue = 2
    idle.busy_gap = 3600
    cycle = _old_cycle()
    _young_collections(11)
    idle.touch()
    idle.check()
    assert cycle() is not None and idle.collections == 0  # due, not overdue
    _young_collections(11)
    idle.touch()
    idle.check()
    assert cycle() is not None and idle.collections == 0  # overdue, but one ran lately
    idle.busy_gap = 0
    idle.check()
    assert cycle() is None and idle.collections == 1


def test_scrolling_a_long_timeline_starts_no_full_collection_on_a_reader(
    qtbot: Any,
    db: Database,
    jane: int,  # noqa: F811
) -> None:
    """Pages are built on readers; with the policy held, what they allocate starts young
    collections at most, and the full collection that falls due runs on the GUI thread."""
    passes: list[tuple[int, bool]] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            passes.append(
                (info["generation"], threading.current_thread() is threading.main_thread())
            )

    pane, _delegate = _pane(qtbot, db, jane)
    model = pane.model
    policy = collector()
    policy.hold()
    quiet = policy.quiet
    assert gc.get_threshold()[2] > 10**9
    gc.callbacks.append(seen)
    try:
        while model.canFetchMore(QModelIndex()):
            _next_page(qtbot, model)
            _young_collections(3)  # (as a longer history's pages would allocate)
        workers.manager().wait_for_done()
        assert model.total > PAGE * 5 and len(model.event_rows()) == model.total
        assert policy.due()
        policy.quiet = 0
        policy.check()
    finally:
        gc.callbacks.remove(seen)
        policy.quiet = quiet
        policy.release()
    assert (2, True) in passes  # the one that was due, on the GUI thread
    assert not [p for p in passes if p[0] == 2 and not p[1]]


def test_the_window_holds_the_policy_while_open(
    qtbot: Any,
    db: Database,
    jane: int,  # noqa: F811
) -> None:
    from ui.main_window import MainWindow

    policy = collector()
    holders = policy.holders  # (0, unless a window another test left open holds it)
    window = MainWindow(db)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window._warmed, timeout=WAIT)
    workers.manager().wait_for_done()
    assert policy.holders == holders + 1 and gc.get_threshold()[2] > 10**9
    window.close()
    assert policy.holders == holders
    window.close()  # (closed twice: released once)
    assert policy.holders == holders


def test_a_shown_timeline_leaves_nothing_behind_once_cleared(
    qtbot: Any,
    db: Database,
    jane: int,  # noqa: F811
) -> None:
    """Its rows refer to nothing that refers back: once cleared they are freed, no cycle left
    for a collection to find."""
    from app.rows import EventRow
    from ui.models import TimelineEntry

    def rows() -> int:
        return sum(1 for o in gc.get_objects() if isinstance(o, (EventRow, TimelineEntry)))

    gc.collect()
    before = rows()
    pane, _delegate = _pane(qtbot, db, jane)
    model = pane.model
    while model.canFetchMore(QModelIndex()):
        _next_page(qtbot, model)
    workers.manager().wait_for_done()
    assert rows() - before >= 2 * model.total
    model.clear()
    assert rows() == before  # freed as the model let go: no collection needed
    gc.collect()
    assert rows() == before


def test_the_customer_events_rule_leaves_no_garbage_cycles_of_aliases(db: Database) -> None:
    """Each ``aliased()`` is a web of objects referring to each other: made afresh for every
    query, they were some 2,000 objects of cyclic garbage a timeline page."""
    from sqlalchemy.orm.util import AliasedClass, AliasedInsp

    with db.session() as s:
        s.execute(customer_events([1]))  # (the first: caches filled)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        with db.session() as s:
            for customer in (1, 2, 3):
                s.execute(customer_events([customer])).all()
        gc.collect()
        found = [o for o in gc.garbage if isinstance(o, (AliasedClass, AliasedInsp))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert found == []


def test_a_timeline_row_holds_its_details_arrays_as_tuples_out_of_the_collectors_sight(
    qtbot: Any,
    db: Database,
    jane: int,  # noqa: F811
) -> None:
    """A row lives as long as the timeline shows it: an array in its details is a tuple, which
    (holding only strings and numbers) the collector stops tracking, and so the object holding
    it, where a list would be walked by every full collection."""
    from dataclasses import replace
    from datetime import timedelta

    from app.ingest import import_items
    from tests.test_ui_models import NOW, SHOP, mail
    from ui.models import TimelineEntry

    flagged = [
        replace(
            mail(f"f{i}@jane", "Jane Doe", "jane.doe@gmail.com", SHOP, f"Flagged {i}", "Hi", at),
            details={"flags": ["seen", "answered"], "references": [f"r{i}@jane"], "to": []},
        )
        for i, at in enumerate((NOW - timedelta(minutes=2), NOW - timedelta(minutes=3)))
    ]
    import_items(db, lambda: flagged, label="flagged.mbox", format="test")
    pane, _delegate = _pane(qtbot, db, jane)
    model = pane.model
    gc.collect()
    details = [
        i.event.details
        for r in range(model.rowCount())
        if isinstance(i := model.item(r), TimelineEntry) and i.event.channel == "email"
    ]
    arrays = [v for d in details for v in d.values() if isinstance(v, (list, tuple))]
    assert arrays and all(isinstance(v, tuple) for v in arrays)
    assert not any(gc.is_tracked(v) for v in arrays if all(not isinstance(x, dict) for x in v))
    flat = [d for d in details if not any(isinstance(v, dict) for v in d.values())]
    assert flat and not any(gc.is_tracked(d) for d in flat)


def test_scrolling_the_timeline_or_the_customer_list_puts_full_collections_off(
    qtbot: Any,
    db: Database,
    jane: int,  # noqa: F811
) -> None:
    from ui.customer_list import CustomerListPane
    from ui.models import CustomerListModel

    pane, _delegate = _pane(qtbot, db, jane)
    customers = CustomerListPane(CustomerListModel(db))
    qtbot.addWidget(customers)
    policy = collector()
    for view in (pane.view, customers.view):
        bar = view.verticalScrollBar()
        bar.setRange(0, 100)  # (the customer list of one holds no scroll)
        before = policy.touched
        bar.setValue(bar.value() + 10)
        assert policy.touched > before
