"""Live updates in the window: another writer's changes, as a Qt signal on the GUI thread.

The watching itself (LISTEN/NOTIFY on PostgreSQL, ``PRAGMA data_version`` on a SQLite
file) is ``app.live.Watcher``'s, on a thread of its own; this adapter only turns its
callback into a queued signal, and gathers the changes that arrive close together into
one, so a colleague's import of a thousand messages refreshes the window a few times,
not a thousand.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from app.service import LiveChange as Change
from app.service import Service

#: Changes arriving within this many milliseconds of the first are shown together.
GATHER_MS = 200


class LiveUpdates(QObject):
    """Watches the service's database for other writers while it exists.

    Signals:
        arrived(object): a ``Change`` from the watcher's thread (queued to this thread).
        changed(object): the ``Change`` to show: those of the last moments taken together.
    """

    arrived = Signal(object)
    changed = Signal(object)

    def __init__(self, service: Service, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._gathered: list[Change] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(GATHER_MS)
        self._timer.timeout.connect(self._flush)
        self.arrived.connect(self._gather)
        self._watcher = service.watch_changes(self.arrived.emit)

    def stop(self) -> None:
        """Stop watching (the window is closing)."""
        self._timer.stop()
        self._watcher.stop()

    def _gather(self, change: Change) -> None:
        self._gathered.append(change)
        if not self._timer.isActive():
            self._timer.start()

    def _flush(self) -> None:
        changes, self._gathered = self._gathered, []
        if not changes:
            return
        kinds = tuple(dict.fromkeys(k for c in changes for k in c.kinds))
        customers: frozenset[int] | None = frozenset()
        for c in changes:
            if customers is None or c.customers is None:
                customers = None
            else:
                customers |= c.customers
        self.changed.emit(Change(kinds, customers))
