"""The crash handler: an excepthook that logs unexpected errors and shows each distinct one once.

``install()`` replaces ``sys.excepthook`` and ``threading.excepthook``. A crash
is written to the log with its traceback, then shown in a dialog that says
the data is safe and offers "Copy details". Crashes are grouped by exception
type and the code locations in their traceback, so a bug that fires on every
repaint shows one dialog, not hundreds. Errors raised on a worker thread are
hopped to the GUI thread before any dialog is shown.
"""

from __future__ import annotations

import hashlib
import logging
import platform
import sys
import threading
import traceback
from types import TracebackType

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

import app
from ui.safe_text import plain_label

log = logging.getLogger(__name__)

_LOG_LINES = 30


def crash_key(exc_type: type[BaseException], tb: TracebackType | None) -> str:
    """A digest that is equal for two crashes of the same bug."""
    frames = traceback.extract_tb(tb)
    where = "|".join(f"{f.filename}:{f.name}:{f.lineno}" for f in frames)
    return hashlib.sha1(f"{exc_type.__qualname__}|{where}".encode()).hexdigest()


def details_text(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> str:
    """The text behind "Copy details": versions and the traceback."""
    from PySide6 import __version__ as pyside_version

    from app.logs import TAIL

    lines = [
        f"Threadline {app.__version__}",
        f"Python {platform.python_version()} · PySide6 {pyside_version} · {platform.platform()}",
        "",
        *traceback.format_exception(exc_type, exc, tb),
    ]
    recent = list(TAIL.lines)[-_LOG_LINES:]
    if recent:
        lines += ["", "Recent log:", *recent]
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


class CrashDialog(QDialog):
    """Tells the user Threadline hit a bug, with the details to copy into a report.

    Signals:
        details_copied(): the details were put on the clipboard.
    """

    details_copied = Signal()

    def __init__(self, details: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Threadline hit a problem")
        self.setAccessibleName("Crash report")
        self.setObjectName("crashDialog")
        layout = QVBoxLayout(self)
        title = plain_label("Something went wrong inside Threadline.")
        font = title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        title.setFont(font)
        body = plain_label(
            "Your data is safe: imports are saved in small batches and the database stays "
            "consistent. The details below were also written to the log. Please copy them "
            "into a bug report."
        )
        body.setWordWrap(True)
        self.details = QPlainTextEdit(details)
        self.details.setReadOnly(True)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details.setAccessibleName("Crash details")
        em = self.fontMetrics().horizontalAdvance("M")
        self.details.setMinimumSize(em * 50, self.fontMetrics().lineSpacing() * 12)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = QPushButton("&Copy details")
        copy.setAccessibleName("Copy details")
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(self.copy_details)
        buttons.rejected.connect(self.reject)
        layout.addWidget(title)
        layout.addWidget(body)
        layout.addWidget(self.details, 1)
        layout.addWidget(buttons)

    def copy_details(self) -> None:
        """Put the details on the clipboard."""
        QGuiApplication.clipboard().setText(self.details.toPlainText())
        self.details_copied.emit()


class CrashHandler(QObject):
    """The installed excepthook: logs, deduplicates and shows crash dialogs.

    Signals:
        crash_reported(str, str): a crash's key and details, hopped to the GUI thread.
    """

    crash_reported = Signal(str, str)

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()
        self.dialogs: list[CrashDialog] = []
        self._previous_hook = sys.excepthook
        self._previous_thread_hook = threading.excepthook
        self.crash_reported.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def install(self) -> None:
        """Become ``sys.excepthook`` and ``threading.excepthook``."""
        sys.excepthook = self.handle
        threading.excepthook = self._thread_hook

    def uninstall(self) -> None:
        """Restore the hooks that were there before."""
        sys.excepthook = self._previous_hook
        threading.excepthook = self._previous_thread_hook

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            self.handle(args.exc_type, args.exc_value, args.exc_traceback)

    def handle(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        """Log the crash and show it once per distinct bug."""
        if issubclass(exc_type, KeyboardInterrupt):
            QApplication.quit()
            return
        log.error("unexpected error", exc_info=(exc_type, exc, tb))
        key = crash_key(exc_type, tb)
        details = details_text(exc_type, exc, tb)
        self.crash_reported.emit(key, details)

    def _show(self, key: str, details: str) -> None:
        if key in self.seen:
            return
        self.seen.add(key)
        app_instance = QApplication.instance()
        if not isinstance(app_instance, QApplication) or QThread.currentThread() is not (
            app_instance.thread()
        ):
            return
        dialog = CrashDialog(details, QApplication.activeWindow())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _result, d=dialog: self._forget(d))
        self.dialogs.append(dialog)
        dialog.open()

    def _forget(self, dialog: CrashDialog) -> None:
        if dialog in self.dialogs:
            self.dialogs.remove(dialog)


_handler: CrashHandler | None = None


def install() -> CrashHandler:
    """Install the crash handler once per process and return it."""
    global _handler
    if _handler is None:
        _handler = CrashHandler()
        _handler.install()
    return _handler


def uninstall() -> None:
    """Put the previous hooks back (tests, embedding)."""
    global _handler
    if _handler is not None:
        _handler.uninstall()
        _handler = None
