"""Full garbage collections on the GUI thread while no background work runs.

Python's cyclic garbage collector runs a collection on whichever thread happens to allocate
when a threshold is crossed. A full (generation-2) collection walks every object the collector
tracks, holding the interpreter lock throughout; while a long timeline scrolled, the reader
building its next page allocated the most, so that is where full collections ran, and the GUI
thread could not paint until each was over (some 30 ms of CPU at 100,000 events, several
hundred milliseconds of wall time on a busy machine).

While the policy is held (``collector().hold()``; the main window holds it from when its
customer list first shows until it closes), Python still runs its young collections
(generations 0 and 1: they walk only what was allocated lately, a few thousand objects at
most) wherever they fall, but not full ones. Instead a timer on the GUI thread runs a full
collection once one is due by Python's count (``gc.get_count()[2]`` past the third
threshold; Python would also wait for the long-lived objects to grow by a quarter, which
the collector cannot see) and nothing happened for ``quiet_ms``: no
background operation ran and no list scrolled (a view says so with ``touch``), the user is
reading, not scrolling or waiting for a page. If the app stays busy that long, a collection
``overdue`` times late runs on the GUI thread anyway, at most once every ``busy_gap_s``
(a long background job, such as counting the merge suggestions of a new million-event file,
can hold some 350,000 objects while it runs: each full collection then costs a few hundred
milliseconds and finds next to nothing), so garbage cycles are always collected in the end.
Releasing the last hold restores Python's thresholds.
"""

from __future__ import annotations

import gc
import logging
import time

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QAbstractScrollArea

from ui import workers

log = logging.getLogger(__name__)

# A third threshold no count reaches: Python itself never starts a full collection.
_NEVER = 2**31 - 1


class IdleCollector(QObject):
    """Runs the full garbage collections on the GUI thread at quiet moments (see the module).

    Attributes:
        collections: how many full collections it ran.
        last_ms: how long the latest one took (milliseconds of wall time).
        touched: when a watched view last scrolled (``time.monotonic``).
    """

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        check_ms: int = 500,
        quiet_ms: int = 1500,
        overdue: int = 20,
        busy_gap_s: float = 30,
    ) -> None:
        super().__init__(parent)
        self.quiet = quiet_ms / 1000
        self.overdue = overdue
        self.busy_gap = busy_gap_s
        self._last = time.monotonic()  # when the latest full collection ran (or the start)
        self.collections = 0
        self.last_ms = 0.0
        self._holds = 0
        self.touched = 0.0
        self._saved: tuple[int, int, int] | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(check_ms)
        self._timer.timeout.connect(self.check)

    @property
    def held(self) -> bool:
        """Whether the policy is in force (Python starts no full collection itself)."""
        return self._holds > 0

    @property
    def holders(self) -> int:
        """How many hold it (``hold`` calls not yet released)."""
        return self._holds

    def hold(self) -> None:
        """Take the full collections over (once per holder; call ``release`` as often)."""
        self._holds += 1
        if self._holds == 1:
            young, older, full = gc.get_threshold()
            self._saved = (young, older, full)
            gc.set_threshold(young, older, _NEVER)
            self._timer.start()

    def release(self) -> None:
        """Give them back to Python once the last holder lets go."""
        if self._holds == 0:
            return
        self._holds -= 1
        if self._holds == 0 and self._saved is not None:
            self._timer.stop()
            young, older, _ = gc.get_threshold()
            gc.set_threshold(young, older, self._saved[2])  # (the young ones as they are now)
            self._saved = None

    def touch(self) -> None:
        """Say the user is at it (a list scrolled): no collection for ``quiet_ms`` from now."""
        self.touched = time.monotonic()

    def due(self) -> bool:
        """Whether Python would have started a full collection by now."""
        return self._saved is not None and gc.get_count()[2] > self._saved[2]

    def check(self) -> None:
        """Run the full collection that is due, if the app is quiet (or it is long overdue)."""
        if self._saved is None or not self.due():
            return
        mgr = workers.manager()
        last = max(mgr.changed, self.touched)
        quiet = mgr.active == 0 and time.monotonic() - last >= self.quiet
        overdue = gc.get_count()[2] > self._saved[2] * self.overdue
        if quiet or (overdue and time.monotonic() - self._last >= self.busy_gap):
            self.collect()

    def collect(self) -> int:
        """A full collection now, on this thread; how many unreachable objects it found."""
        start = time.perf_counter()
        found = gc.collect()
        self._last = time.monotonic()
        self.last_ms = (time.perf_counter() - start) * 1000
        self.collections += 1
        log.debug("full garbage collection: %d found, %.1f ms", found, self.last_ms)
        return found


def watch_scrolling(view: QAbstractScrollArea) -> None:
    """Put off full collections while ``view`` scrolls (``IdleCollector.touch``)."""
    view.verticalScrollBar().valueChanged.connect(lambda _value: collector().touch())


_collector: IdleCollector | None = None


def collector() -> IdleCollector:
    """The process-wide collector (created on first use, on the GUI thread)."""
    global _collector
    if _collector is None:
        _collector = IdleCollector()
    return _collector
