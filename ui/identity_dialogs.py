"""The small dialogs of identity changes: confirm a merge, pick a customer, the change history.

``MergeConfirmDialog`` names who is merged into whom and lets the user choose
whose name is kept. ``CustomerPickerDialog`` finds a customer with the same
search as the toolbar (names, emails, phone fragments, order numbers) for
"Move to another customer…". ``HistoryDialog`` lists every change with an
Undo button on each merge or split that can still be undone. None of them
writes: they hand their choice to ``IdentityFlow``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QModelIndex, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.service import CustomerRow, Database, Service
from ui import formatting as fmt
from ui.customer_list import CustomerDelegate, CustomerListView
from ui.identity_models import ChangeHistoryModel, ExcludingProxy, quoted, undoable
from ui.marks import icon
from ui.models import CustomerListModel, RowRole
from ui.safe_text import no_mnemonic, plain_label, tip
from ui.widgets import bold, muted_label, search_field

if TYPE_CHECKING:
    from ui.identity_flow import IdentityFlow

SEARCH_DEBOUNCE_MS = 150


def customer_line(row: CustomerRow) -> str:
    """ "jane@x.com · 7 events · 2 orders" — what tells two customers apart at a glance."""
    return fmt.join_nonempty(
        (
            fmt.best_contact(row),
            fmt.plural(row.event_count, "event"),
            fmt.plural(row.orders.count, "order") if row.orders.count else "",
        )
    )


class MergeConfirmDialog(QDialog):
    """ "Merge these customers into …?" with a choice of whose name stays.

    Signals:
        merge_chosen(object, object): the kept ``CustomerRow`` and the list merged into it.
    """

    merge_chosen = Signal(object, object)

    def __init__(self, rows: Sequence[CustomerRow], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows = list(rows)
        self.setWindowTitle("Merge customers")
        self.setObjectName("mergeConfirmDialog")
        self.setAccessibleName("Merge customers")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        em = self.fontMetrics().horizontalAdvance("M")
        layout = QVBoxLayout(self)
        title = plain_label(f"Merge {len(self.rows)} customers into one?")
        title.setFont(bold(title.font()))
        layout.addWidget(title)
        layout.addWidget(plain_label("Keep the name of:"))
        self.group = QButtonGroup(self)
        self.radios: list[QRadioButton] = []
        default = max(range(len(self.rows)), key=lambda i: (self.rows[i].event_count, -i))
        for i, row in enumerate(self.rows):
            radio = QRadioButton(no_mnemonic(fmt.customer_name(row)))
            radio.setAccessibleName(f"Keep {row.name}")
            radio.setChecked(i == default)
            self.group.addButton(radio, i)
            self.radios.append(radio)
            layout.addWidget(radio)
            detail = muted_label(customer_line(row))
            detail.setContentsMargins(round(em * 1.8), 0, 0, 0)
            layout.addWidget(detail)
        self.summary = plain_label()
        self.summary.setObjectName("mergeSummary")
        self.summary.setWordWrap(True)
        self.summary.setMinimumWidth(em * 34)
        layout.addSpacing(em // 2)
        layout.addWidget(self.summary)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.merge_button = self.buttons.addButton("&Merge", QDialogButtonBox.ButtonRole.AcceptRole)
        self.merge_button.setObjectName("confirmMerge")
        self.merge_button.setIcon(icon("merge", self.palette()))
        self.merge_button.setDefault(True)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.group.idToggled.connect(lambda _i, _c: self._update())
        self._update()

    def keep(self) -> CustomerRow:
        """The customer whose name is kept."""
        return self.rows[max(0, self.group.checkedId())]

    def others(self) -> list[CustomerRow]:
        """The customers merged into ``keep()``."""
        keep = self.keep()
        return [r for r in self.rows if r.id != keep.id]

    def _update(self) -> None:
        keep, others = self.keep(), self.others()
        names = ", ".join(quoted(o.name) for o in others)
        self.summary.setText(
            f"{names} will be merged into {quoted(keep.name)}: their contact points, emails, "
            "chats, orders and notes will show as one customer. Nothing is deleted, and "
            "Edit → Undo (Ctrl+Z) reverses it."
        )
        name = no_mnemonic(keep.name)
        self.merge_button.setText(f"&Merge into {name}" if len(name) <= 30 else "&Merge")

    def _accept(self) -> None:
        keep, others = self.keep(), self.others()
        self.accept()
        self.merge_chosen.emit(keep, others)


class CustomerPickerDialog(QDialog):
    """Find and pick a customer, with the toolbar's search.

    Signals:
        customer_picked(object): the chosen ``CustomerRow``.
    """

    customer_picked = Signal(object)

    def __init__(
        self,
        db: Service | Database,
        parent: QWidget | None = None,
        *,
        exclude: int | None = None,
        title: str = "Pick a customer",
        tz: tzinfo,
        now: Callable[[], datetime],
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("customerPicker")
        self.setAccessibleName("Pick a customer")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        fm = self.fontMetrics()
        em = fm.horizontalAdvance("M")
        layout = QVBoxLayout(self)
        self.field = search_field("Find a customer, email, phone, order #…", "Find a customer")
        self.field.setObjectName("pickerSearch")
        self.field.installEventFilter(self)
        layout.addWidget(self.field)
        self.model = CustomerListModel(db, self, tz=tz, now=now)
        self.proxy = ExcludingProxy(exclude, self)
        self.proxy.setSourceModel(self.model)
        self.stack = QStackedWidget()
        self.view = CustomerListView()
        self.view.setObjectName("pickerList")
        self.view.setAccessibleName("Customers to pick from")
        self.view.setModel(self.proxy)
        self.view.setItemDelegate(CustomerDelegate(self.view))
        self.view.setUniformItemSizes(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setMinimumSize(em * 40, fm.lineSpacing() * 16)
        self.view.activated_by_key.connect(self._pick)
        self.view.doubleClicked.connect(self._pick)
        self.view.left_at_top.connect(lambda: self.field.setFocus())
        self.none = muted_label("No other customer matches.", small=False)
        self.none.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack.addWidget(self.view)
        self.stack.addWidget(self.none)
        layout.addWidget(self.stack, 1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.pick_button = self.buttons.addButton(
            "&Move Here", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.pick_button.setObjectName("pickButton")
        self.pick_button.setDefault(True)
        self.buttons.accepted.connect(lambda: self._pick(self.view.currentIndex()))
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._timer.timeout.connect(lambda: self.model.set_query(self.field.text()))
        self.field.textChanged.connect(lambda _t: self._timer.start())
        self.field.returnPressed.connect(self._pick_top)
        self.model.loaded.connect(self._loaded)
        self.view.selectionModel().currentChanged.connect(lambda _c, _p: self._update())
        self.model.reload()
        self._update()

    def _loaded(self) -> None:
        empty = self.proxy.rowCount() == 0
        self.stack.setCurrentWidget(self.none if empty else self.view)
        if not empty and not self.view.currentIndex().isValid():
            self.view.setCurrentIndex(self.proxy.index(0, 0))
        self._update()

    def _update(self) -> None:
        self.pick_button.setEnabled(self.view.currentIndex().isValid())

    def _pick_top(self) -> None:
        if self._timer.isActive() or self.model.loaded_query != self.field.text().strip():
            self._timer.stop()
            self.model.loaded.connect(self._pick_after_load)
            self.model.set_query(self.field.text())
            return
        self._pick(self.proxy.index(0, 0))

    def _pick_after_load(self) -> None:
        self.model.loaded.disconnect(self._pick_after_load)
        self._pick(self.proxy.index(0, 0))

    def _pick(self, index: QModelIndex) -> None:
        row = index.data(RowRole) if index.isValid() else None
        if isinstance(row, CustomerRow):
            self.accept()
            self.customer_picked.emit(row)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.field and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() == Qt.Key.Key_Down:
                if not self.view.currentIndex().isValid() and self.proxy.rowCount():
                    self.view.setCurrentIndex(self.proxy.index(0, 0))
                self.view.setFocus()
                return True
        return super().eventFilter(watched, event)


class HistoryDialog(QDialog):
    """Every identity change, newest first, with Undo on each merge or split still undoable.

    Signals:
        (none; the model's ``loaded`` says when the list is in)
    """

    def __init__(self, flow: IdentityFlow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.flow = flow
        self.setWindowTitle("Change history")
        self.setObjectName("historyDialog")
        self.setAccessibleName("Change history")
        fm = self.fontMetrics()
        em = fm.horizontalAdvance("M")
        layout = QVBoxLayout(self)
        intro = plain_label(
            "Merges, splits and “not the same person” answers, newest first. "
            "Merges and splits can be undone; undoing one puts every contact point, "
            "event and note back where it was."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.model = ChangeHistoryModel(flow.service, self, tz=flow.tz, now=flow.now)
        self.table = QTableView()
        self.table.setObjectName("historyTable")
        self.table.setAccessibleName("Changes")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setAccessibleName("Column headings")
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumSize(em * 64, fm.lineSpacing() * 14)
        self.empty = muted_label("No merges or splits yet.", small=False)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.table)
        self.pages.addWidget(self.empty)
        layout.addWidget(self.pages, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.undo_selected = buttons.addButton(
            "&Undo Selected Change", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.undo_selected.setObjectName("undoSelected")
        self.undo_selected.setIcon(icon("undo", self.palette()))
        self.undo_selected.clicked.connect(self._undo_current)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.undo_buttons: dict[int, QPushButton] = {}
        self.model.loaded.connect(self._loaded)
        self.table.selectionModel().currentRowChanged.connect(lambda _c, _p: self._update())
        flow.changed.connect(lambda _o: self.reload())
        self._loaded()

    def reload(self) -> None:
        """Read the history again."""
        self.model.reload()

    def _loaded(self) -> None:
        self.undo_buttons = {}
        for row, change in enumerate(self.model.changes()):
            if not undoable(change):
                continue
            button = QPushButton(icon("undo", self.palette()), "Undo")
            button.setObjectName(f"undoChange_{change.id}")
            button.setAccessibleName(f"Undo change {change.id}")
            button.setToolTip(tip(change.blocked_by or "Reverse this change"))
            button.setEnabled(not change.blocked_by)  # a later change depends on it
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the table is the keyboard path
            button.clicked.connect(lambda _c=False, cid=change.id: self.undo(cid))
            self.table.setIndexWidget(self.model.index(row, 2), button)
            self.undo_buttons[change.id] = button
        empty = self.model.rowCount() == 0
        self.pages.setCurrentWidget(self.empty if empty else self.table)
        if not empty and not self.table.currentIndex().isValid():
            self.table.setCurrentIndex(self.model.index(0, 1))
        self._update()

    def _update(self) -> None:
        index = self.table.currentIndex()
        change = self.model.change(index.row()) if index.isValid() else None
        ok = change is not None and undoable(change) and not change.blocked_by
        self.undo_selected.setEnabled(ok)
        self.undo_selected.setToolTip(tip(change.blocked_by if change is not None else ""))

    def _undo_current(self) -> None:
        index = self.table.currentIndex()
        if index.isValid():
            self.undo(self.model.change(index.row()).id)

    def undo(self, change_id: int) -> None:
        """Undo one change (its button turns off while that runs)."""
        button = self.undo_buttons.get(change_id)
        if button is not None:
            button.setEnabled(False)
        self.flow.undo(change_id).finished(self.reload)  # a failure turns the button back on
