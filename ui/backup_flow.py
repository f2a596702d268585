"""Backups from the window: the daily automatic copy, File → Back Up Now and File → Restore….

Every copy is made on the writer (``app.backups``, SQLite's online backup API),
so it never races a write of this window. While the window runs, a timer
checks every hour (and once at start) whether the newest backup is a day old
and makes a ``daily`` one when it is; old automatic copies rotate away.

Restore lists the backups beside the database (or takes any file), checks the
chosen one with ``integrity_check``, asks, then — exactly as ``threadline
restore`` does — puts it in place and keeps the current file aside. The window
then reopens the database the way File → Leave Demo does (a new window takes
this one's place).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.errors import UserFacingError
from app.service import BEFORE_MERGE, DAILY, MANUAL, BackupFailed, Database, Service
from ui import formatting as fmt
from ui import messages
from ui.safe_text import message_box, plain_label, tip
from ui.workers import Op, show_error

log = logging.getLogger(__name__)

CHECK_EVERY_MS = 60 * 60 * 1000  # the daily backup's age is checked every hour

_KINDS = {
    MANUAL: "Made by you",
    DAILY: "Daily (automatic)",
    BEFORE_MERGE: "Before merging customers",
}


def kind_text(label: str) -> str:
    """What a backup's label means, for people."""
    return _KINDS.get(label, "Before an upgrade")


def size_text(size: int) -> str:
    """1,234 bytes as "1.2 KB" (decimal units, as file managers show)."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value):,} {unit}" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1000
    return f"{size:,} bytes"  # pragma: no cover


def when_text(moment: datetime) -> str:
    """A backup's time in this computer's time zone."""
    return fmt.date_time(moment, None)


class RestoreDialog(QDialog):
    """Pick a backup from the list (newest first) or a file.

    Signals:
        chosen(str): the file to restore from.
    """

    chosen = Signal(str)

    def __init__(self, db_path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("restoreDialog")
        self.setWindowTitle("Restore a Backup")
        self.setAccessibleName("Restore a backup")
        self.found = Service.list_backups(db_path)
        layout = QVBoxLayout(self)
        intro = plain_label(
            "Pick the backup to put in place of your data. Your current data is not "
            "deleted: it is kept beside it as a file named “…-replaced-…”."
            if self.found
            else "There are no backups beside your data yet. Choose a backup file instead."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.tree = QTreeWidget()
        self.tree.setObjectName("backupList")
        self.tree.setAccessibleName("Backups")
        self.tree.setRootIsDecorated(False)
        self.tree.setHeaderLabels(["Made", "Kind", "Size"])
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for b in self.found:
            item = QTreeWidgetItem([when_text(b.taken_at), kind_text(b.label), size_text(b.size)])
            item.setData(0, Qt.ItemDataRole.UserRole, str(b.path))
            item.setToolTip(0, tip(str(b.path)))
            item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.tree.addTopLevelItem(item)
        self.tree.headerItem().setTextAlignment(
            2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        )
        for column in range(3):
            self.tree.resizeColumnToContents(column)
        self.tree.itemDoubleClicked.connect(lambda _item, _col: self._accept())
        layout.addWidget(self.tree, 1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.file_button = QPushButton("Choose a &File…")
        self.file_button.setObjectName("restoreFromFile")
        self.buttons.addButton(self.file_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.restore_button = QPushButton("&Restore…")
        self.restore_button.setObjectName("restoreButton")
        self.buttons.addButton(self.restore_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.restore_button.setEnabled(bool(self.found))
        self.file_button.clicked.connect(self._pick_file)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        first = self.tree.topLevelItem(0)
        if first is not None:
            self.tree.setCurrentItem(first)
        fm = self.fontMetrics()
        self.resize(fm.horizontalAdvance("M") * 48, fm.lineSpacing() * 20)

    def selected(self) -> str | None:
        """The path of the highlighted backup, if any."""
        item = self.tree.currentItem()
        return None if item is None else str(item.data(0, Qt.ItemDataRole.UserRole))

    def _accept(self) -> None:
        path = self.selected()
        if path is None:
            return
        self.accept()
        self.chosen.emit(path)

    def _pick_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Restore from a file", "", "Threadline data (*.db *.sqlite);;All files (*)"
        )
        if path:
            self.accept()
            self.chosen.emit(path)


class BackupFlow(QObject):
    """The daily backup, Back Up Now and Restore for one window's database.

    Signals:
        backed_up(str): a backup was written to this path.
        restored(str): the database was replaced by this backup; the window reopens it.
        confirm_shown(object): the restore confirmation (a ``QMessageBox``) is open.
    """

    backed_up = Signal(str)
    restored = Signal(str)
    confirm_shown = Signal(object)

    def __init__(
        self,
        db: Service | Database,
        window: QWidget,
        *,
        busy: Callable[[], bool],
        reopen: Callable[[str], object],
    ) -> None:
        """``busy()`` tells whether an import or sync runs; ``reopen(path)`` shows the
        restored database in a new window (``MainWindow.switch_database``)."""
        super().__init__(window)
        self._service = Service.of(db)
        self._window = window
        self._busy = busy
        self._reopen = reopen
        self.timer = QTimer(self)
        self.timer.setInterval(CHECK_EVERY_MS)
        self.timer.timeout.connect(self.check_daily)
        self.dialog: RestoreDialog | None = None
        self.confirm: QMessageBox | None = None
        self.op: Op | None = None

    @property
    def path(self) -> Path | None:
        """The database file (None for a database that is not a local SQLite file)."""
        return self._service.path

    @property
    def daily(self) -> bool:
        """Whether the daily automatic backup runs in this window."""
        return self.timer.isActive()

    # --- the daily backup ---------------------------------------------------------------

    def start_daily(self) -> None:
        """Check now and every hour whether a daily backup is due, and make it then."""
        if self.path is None:
            return
        self.timer.start()
        self.check_daily()

    def check_daily(self) -> Op | None:
        """Make the daily backup on the writer when the newest backup is a day old."""
        path = self.path
        if path is None or self.running:
            return None

        def made(result: Path | None) -> None:
            if result is not None:
                self.backed_up.emit(str(result))

        def failed(exc: BaseException) -> None:
            if not isinstance(exc, BackupFailed):
                show_error(self._window, exc)
                return
            log.warning("the daily backup failed: %s", exc)
            messages.error(f"The daily backup could not be made: {exc}")

        self.op = (
            Op(self._window, self._service.daily_backup, write=True)
            .success(made)
            .failure(failed)
            .run()
        )
        return self.op

    @property
    def running(self) -> bool:
        """Whether a backup or restore runs."""
        return self.op is not None and self.op.running

    # --- File → Back Up Now ---------------------------------------------------------------

    def back_up_now(self) -> Op | None:
        """Copy the database now (a ``manual`` backup, never rotated away)."""
        path = self.path
        if path is None:
            messages.info("Backups are made only of a database file on this computer.")
            return None
        if self.running:
            messages.info("A backup is being made already.")
            return None

        service = self._service

        def work() -> Path:
            return service.backup_now(MANUAL)

        def made(result: Path) -> None:
            messages.info(f"Backed up to {result.name}.")
            self.backed_up.emit(str(result))

        self.op = Op(self._window, work, write=True).success(made).run()
        return self.op

    # --- File → Restore… ------------------------------------------------------------------

    def ask_restore(self) -> RestoreDialog | None:
        """Show the backups to pick one (or a file) to restore."""
        path = self.path
        if path is None:
            messages.info("Only a database file on this computer can be restored.")
            return None
        if self._busy() or self.running:
            messages.info("Wait for the import, sync or backup to finish, then restore.")
            return None
        dialog = RestoreDialog(path, self._window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.chosen.connect(self.check_chosen)
        self.dialog = dialog
        dialog.open()
        return dialog

    def check_chosen(self, chosen: str) -> Op:
        """Check the chosen file on a reader, then ask before restoring it."""

        def checked(problem: str | None) -> None:
            if problem is not None:
                show_error(
                    self._window,
                    UserFacingError(f"{chosen} cannot be restored: {problem}."),
                )
                return
            self.ask_confirm(chosen)

        return Op(self._window, lambda: Service.check_backup(Path(chosen))).success(checked).run()

    def ask_confirm(self, chosen: str) -> QMessageBox:
        """Confirm replacing the database with ``chosen`` (Cancel is the default)."""
        listed = self._service.backups()
        match = next((b for b in listed if str(b.path) == chosen), None)
        what = (
            f"the backup made {when_text(match.taken_at)}"
            if match is not None
            else Path(chosen).name
        )
        box = message_box(
            QMessageBox.Icon.Question,
            "Restore a Backup",
            f"Replace your data with {what}?",
            QMessageBox.StandardButton.Cancel,
            self._window,
            informative="Anything added or changed since then will no longer show. Your "
            "current data is not deleted: it is kept beside it as a file named “…-replaced-…”.",
        )
        box.setObjectName("restoreConfirm")
        box.setAccessibleName("Restore a backup")
        restore = box.addButton("&Restore", QMessageBox.ButtonRole.AcceptRole)
        restore.setObjectName("restoreConfirmButton")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        restore.clicked.connect(lambda: self.restore(chosen))
        self.confirm = box
        box.open()
        self.confirm_shown.emit(box)
        return box

    def restore(self, chosen: str) -> Op | None:
        """Put ``chosen`` in place of the database on the writer, then reopen the database."""
        path, service = self.path, self._service
        if path is None:
            return None
        if self._busy() or self.running:
            messages.info("Wait for the import, sync or backup to finish, then restore.")
            return None

        def work() -> str:
            return str(service.restore_backup(Path(chosen)))

        def done(restored: str) -> None:
            messages.info(f"Restored your data from {Path(chosen).name}.")
            self.restored.emit(chosen)
            self._reopen(restored)

        self.op = Op(self._window, work, write=True).success(done).run()
        return self.op
