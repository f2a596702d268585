"""View → Waiting for reply (Ctrl+2): customers whose latest message is unanswered.

A table of who waits, on which channel, for how long (and how long in opening hours
when the owner set them), and the first line of what they wrote. Opening a row
(Enter, double-click) opens the customer. "Mark as answered" and "Snooze" act on the
selected row on the writer thread; "Undo" takes the latest of them back. All
imported text is shown as plain text (item data, never HTML).

Signals are listed on each class.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QMenu,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.service import Database, MarkRow, Service, WaitingRow
from ui import formatting as fmt
from ui.models import RowRole, _Loader
from ui.safe_text import plain_label, tip
from ui.widgets import muted_label, section_heading
from ui.workers import Op

AnyIndex = QModelIndex | QPersistentModelIndex

COLUMNS = ("Customer", "Channel", "Waiting", "First line")
SNOOZES: tuple[tuple[str, timedelta], ...] = (
    ("1 hour", timedelta(hours=1)),
    ("4 hours", timedelta(hours=4)),
    ("1 day", timedelta(days=1)),
    ("2 days", timedelta(days=2)),
    ("1 week", timedelta(weeks=1)),
)


def waited_text(seconds: int) -> str:
    """ "3 d 4 h", "5 h 10 min", "7 min" (``app.formatting.duration``)."""
    return fmt.duration(seconds)


class WaitingModel(QAbstractTableModel):
    """The waiting list (``app.waiting``), loaded on a reader.

    Signals:
        loaded(): a fresh list is in.
    """

    loaded = Signal()
    LIMIT = 2000  # the longest list a person reads; the rest waits behind --older-than

    def __init__(
        self,
        db: Service | Database,
        parent: QObject | None = None,
        *,
        tz: tzinfo = UTC,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(parent)
        self._service = Service.of(db)
        self._tz = tz
        self._now = now
        self.sort_by = "newest"
        self.rows: list[WaitingRow] = []
        self._loader = _Loader(self)

    def now(self) -> datetime:
        """The model's clock."""
        return self._now()

    def reload(self, *, background: bool = True) -> None:
        """Read the list again (on a reader unless ``background`` is False)."""
        now, sort, limit = self._now(), self.sort_by, self.LIMIT

        def fetch() -> list[WaitingRow]:
            return self._service.waiting(now=now, sort=sort, limit=limit)

        self._loader.start(fetch, self._apply, background=background)

    def _apply(self, rows: list[WaitingRow]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()
        self.loaded.emit()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(COLUMNS)
        ):
            return COLUMNS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        row = self.rows[index.row()]
        col = index.column()
        if role == RowRole:
            return row
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return fmt.person_name(row.customer_name)
            if col == 1:
                return row.channel_label
            if col == 2:
                text = waited_text(row.waited_seconds)
                if row.waited_working_seconds is not None:
                    text += f" ({waited_text(row.waited_working_seconds)} open)"
                return text
            if col == 3:
                return row.first_line
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            since = fmt.when(row.waiting_since, self._now(), self._tz)
            return tip(
                f"{fmt.person_name(row.customer_name)}: waiting since {since} on "
                f"{row.channel_label} "
                f"({row.message_count} unanswered)\n{row.first_line}"
            )
        return None


class WaitingPane(QWidget):
    """The waiting list with its actions.

    Signals:
        customer_opened(int): open this customer.
        marked(object): a ``MarkRow`` was stored (or undone).
    """

    customer_opened = Signal(int)
    marked = Signal(object)

    def __init__(
        self, model: WaitingModel, db: Service | Database, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.model = model
        self._service = Service.of(db)
        self.setAccessibleName("Waiting for reply")
        self.last_mark: MarkRow | None = None
        layout = QVBoxLayout(self)
        head = QHBoxLayout()
        head.addWidget(section_heading("Waiting for reply"))
        head.addStretch(1)
        self.sort_box = QComboBox()
        self.sort_box.addItem("Newest wait first", "newest")
        self.sort_box.addItem("Longest wait first", "longest")
        self.sort_box.setAccessibleName("Order")
        self.sort_box.currentIndexChanged.connect(self._sort_changed)
        head.addWidget(self.sort_box)
        layout.addLayout(head)
        self.table = QTableView()
        self.table.setModel(model)
        self.table.setAccessibleName("Customers waiting for a reply")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.activated.connect(self._activated)
        layout.addWidget(self.table, 1)
        self.empty = muted_label("Nobody is waiting for a reply.", small=False)
        layout.addWidget(self.empty)
        buttons = QHBoxLayout()
        self.answered_button = QPushButton("Mark as &answered")
        self.answered_button.setToolTip(tip("Answered elsewhere (by phone, in the shop)"))
        self.answered_button.clicked.connect(self.mark_answered)
        self.snooze_button = QPushButton("&Snooze…")
        self.snooze_menu = QMenu(self.snooze_button)
        self.snooze_actions: list[QAction] = []
        for label, delta in SNOOZES:
            action = self.snooze_menu.addAction(f"For {label}")
            action.triggered.connect(lambda _c=False, d=delta: self.snooze(d))
            self.snooze_actions.append(action)
        self.snooze_button.setMenu(self.snooze_menu)
        self.undo_button = QPushButton("&Undo")
        self.undo_button.setToolTip(tip("Take back the latest mark or snooze"))
        self.undo_button.clicked.connect(self.undo)
        self.undo_button.setEnabled(False)
        for b in (self.answered_button, self.snooze_button, self.undo_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.status = plain_label("")
        buttons.addWidget(self.status)
        layout.addLayout(buttons)
        model.loaded.connect(self._loaded)
        model.modelReset.connect(self._update_buttons)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self._update_buttons()

    # --- reading -----------------------------------------------------------------------------

    def _sort_changed(self, _index: int) -> None:
        self.model.sort_by = str(self.sort_box.currentData())
        self.model.reload()

    def _loaded(self) -> None:
        n = len(self.model.rows)
        self.empty.setVisible(n == 0)
        self.table.setVisible(n > 0)
        self.status.setText(f"{n:,} waiting" if n else "")
        if n and not self.table.selectionModel().hasSelection():
            self.table.selectRow(0)
        self.table.resizeColumnsToContents()

    def selected(self) -> WaitingRow | None:
        """The selected row, or None."""
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        value = self.model.data(rows[0], RowRole)
        return value if isinstance(value, WaitingRow) else None

    def _update_buttons(self) -> None:
        has = self.selected() is not None
        self.answered_button.setEnabled(has)
        self.snooze_button.setEnabled(has)

    def _activated(self, index: QModelIndex) -> None:
        row = self.model.data(index, RowRole)
        if isinstance(row, WaitingRow):
            self.customer_opened.emit(row.customer_id)

    def focus_list(self) -> None:
        """Put the keyboard in the table."""
        self.table.setFocus()

    # --- writing -----------------------------------------------------------------------------

    def _write(self, fn: Callable[[Service], MarkRow], *, background: bool = True) -> None:
        service = self._service

        def work() -> MarkRow:
            return fn(service)

        if not background:
            self._done(work())
            return
        Op(self, work, write=True).success(self._done).run()

    def _done(self, mark: MarkRow) -> None:
        self.last_mark = None if mark.undone_at is not None else mark
        self.undo_button.setEnabled(self.last_mark is not None)
        self.marked.emit(mark)
        self.model.reload()

    def mark_answered(self, *, background: bool = True) -> None:
        """Mark the selected customer as answered."""
        row = self.selected()
        if row is not None:
            self._write(lambda s: s.mark_answered(row.customer_id), background=background)

    def snooze(self, delta: timedelta, *, background: bool = True) -> None:
        """Snooze the selected customer for ``delta``."""
        row = self.selected()
        if row is not None:
            now = self.model.now()
            until = now + delta
            self._write(lambda s: s.snooze(row.customer_id, until, now=now), background=background)

    def undo(self, *, background: bool = True) -> None:
        """Take back the latest mark made here."""
        mark = self.last_mark
        if mark is not None:
            self._write(lambda s: s.undo_mark(mark.customer_id, mark.kind), background=background)
