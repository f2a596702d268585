"""Background operations: ``Op(parent, fn).success(cb).failure(cb).with_progress(cb).run()``.

Every import, export, full-text search and database write runs here, never on
the GUI thread. Writes (``Op(..., write=True)``) share one serial writer pool
(``maxThreadCount`` 1), so SQLite never sees two writers; reads and other work
use a second pool. Results, failures and progress reports hop back to the GUI
thread through one long-lived ``Signal(object)``; callbacks are dropped if
the ``parent`` widget has been destroyed meanwhile. Cancelling sets a
``threading.Event`` that the work polls as ``should_cancel``. By default a
failure goes to :func:`show_error`: a ``UserFacingError`` becomes a short
dialog, ``Cancelled`` a status message, and anything else is a bug for the
crash handler (``sys.excepthook``).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import shiboken6

from PySide6.QtCore import QObject, Qt, QThreadPool, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from app.errors import Cancelled, UserFacingError
from ui import messages
from ui.safe_text import message_box

log = logging.getLogger(__name__)

_PROGRESS_INTERVAL = 0.05  # seconds between progress reports that reach the GUI


class TaskManager(QObject):
    """Owns the two thread pools and the hop back to the GUI thread.

    Signals:
        posted(object): a zero-argument callable to run on the GUI thread.
        idled(): the last running operation finished.
    """

    posted = Signal(object)
    idled = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.writer = QThreadPool()
        self.writer.setMaxThreadCount(1)
        self.reader = QThreadPool()
        self.reader.setMaxThreadCount(4)
        self.active = 0
        self.changed = time.monotonic()  # when an operation last started or finished
        self.posted.connect(self._call)

    def _call(self, fn: Callable[[], None]) -> None:
        fn()

    def started(self) -> None:
        self.active += 1
        self.changed = time.monotonic()

    def stopped(self) -> None:
        self.active -= 1
        self.changed = time.monotonic()
        if self.active == 0:
            self.idled.emit()

    def wait_for_done(self, msecs: int = 30000) -> bool:
        """Block until both pools are idle (for shutdown and test teardown only)."""
        done = self.writer.waitForDone(msecs) and self.reader.waitForDone(msecs)
        return bool(done)


_manager: TaskManager | None = None


def manager() -> TaskManager:
    """The process-wide task manager (created on first use, on the GUI thread)."""
    global _manager
    if _manager is None:
        _manager = TaskManager()
    return _manager


def show_error(parent: QObject | None, exc: BaseException) -> None:
    """Present a failure: a dialog for the environment's fault, a note for a cancel, or a crash."""
    if isinstance(exc, Cancelled):
        messages.info("Cancelled.")
        return
    if isinstance(exc, UserFacingError):
        messages.error(str(exc))
        box = message_box(
            QMessageBox.Icon.Warning,
            "Threadline",
            str(exc),
            QMessageBox.StandardButton.Ok,
            parent if isinstance(parent, QWidget) and shiboken6.isValid(parent) else None,
        )
        box.setObjectName("errorDialog")
        box.setAccessibleName("Error")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return
    sys.excepthook(type(exc), exc, exc.__traceback__)


class Op:
    """One background operation, configured fluently and started with ``run()``.

    ``fn`` is called on a worker thread. With ``with_progress`` it is called
    as ``fn(progress=..., should_cancel=...)``: ``progress(value)`` reports any
    object to the progress callback (throttled), ``should_cancel()`` tells
    whether the user cancelled.
    """

    def __init__(self, parent: QObject | None, fn: Callable[..., Any], *, write: bool = False):
        self._parent = parent
        self._fn = fn
        self._write = write
        self._on_success: Callable[[Any], None] | None = None
        self._on_failure: Callable[[BaseException], None] | None = None
        self._on_progress: Callable[[Any], None] | None = None
        self._on_finished: Callable[[], None] | None = None
        self._cancel = threading.Event()
        self._last_progress = 0.0
        self.running = False

    def success(self, callback: Callable[[Any], None]) -> Op:
        """Call ``callback(result)`` on the GUI thread when ``fn`` returns."""
        self._on_success = callback
        return self

    def failure(self, callback: Callable[[BaseException], None]) -> Op:
        """Call ``callback(exception)`` instead of the default error presenter."""
        self._on_failure = callback
        return self

    def with_progress(self, callback: Callable[[Any], None]) -> Op:
        """Pass ``progress``/``should_cancel`` to ``fn``; reports reach ``callback``."""
        self._on_progress = callback
        return self

    def finished(self, callback: Callable[[], None]) -> Op:
        """Call ``callback()`` after success or failure (to hide progress, re-enable buttons)."""
        self._on_finished = callback
        return self

    def cancel(self) -> None:
        """Ask the operation to stop at its next ``should_cancel()`` check."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        """Whether ``cancel()`` was called."""
        return self._cancel.is_set()

    def run(self) -> Op:
        """Start the operation on the writer or the reader pool."""
        mgr = manager()
        mgr.started()
        self.running = True
        pool = mgr.writer if self._write else mgr.reader
        pool.start(self._work)
        return self

    # --- worker thread -------------------------------------------------------------------

    def _report(self, value: Any) -> None:
        now = time.monotonic()
        if now - self._last_progress < _PROGRESS_INTERVAL:
            return
        self._last_progress = now
        manager().posted.emit(partial(self._deliver_progress, value))

    def _work(self) -> None:
        mgr = manager()
        try:
            if self._on_progress is not None:
                result = self._fn(progress=self._report, should_cancel=self._cancel.is_set)
            else:
                result = self._fn()
        except BaseException as exc:  # every failure is handed to the GUI thread
            mgr.posted.emit(partial(self._deliver_failure, exc))
        else:
            mgr.posted.emit(partial(self._deliver_success, result))

    # --- GUI thread ----------------------------------------------------------------------

    def _alive(self) -> bool:
        return self._parent is None or shiboken6.isValid(self._parent)

    def _deliver_progress(self, value: Any) -> None:
        if self.running and self._on_progress is not None and self._alive():
            self._on_progress(value)

    def _deliver_success(self, result: Any) -> None:
        try:
            if self._on_success is not None and self._alive():
                self._on_success(result)
        finally:
            self._finish()

    def _deliver_failure(self, exc: BaseException) -> None:
        try:
            if not self._alive():
                if not isinstance(exc, (UserFacingError, Cancelled)):
                    log.error("background operation failed", exc_info=exc)
            elif self._on_failure is not None:
                self._on_failure(exc)
            else:
                show_error(self._parent, exc)
        finally:
            self._finish()

    def _finish(self) -> None:
        self.running = False
        try:
            if self._on_finished is not None and self._alive():
                self._on_finished()
        finally:
            manager().stopped()
