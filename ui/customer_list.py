"""The left pane: customers, most recent contact first, and what to say when a search finds no one.

Each row shows the name (body size, bold), the best contact point and the
time of last contact (small, muted), and small channel marks with tooltips,
painted by ``CustomerDelegate``. Ctrl/Shift-click (or Shift+arrows) selects
several customers for "Merge selected…" (also in the list's context menu).
When the search box matches nobody, the pane says what was searched and
offers a full-text search across all messages.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QAction, QFontMetrics, QHelpEvent, QKeyEvent, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QMenu,
    QPushButton,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from app.service import CustomerRow
from ui import formatting as fmt
from ui.collector import watch_scrolling
from ui.marks import CHANNEL_ORDER, channel_color, channel_label, icon, mix, muted_color, pixmap
from ui.models import CustomerListModel, Loading, RelativeTimeRole, RowRole
from ui.safe_text import no_mnemonic, plain_label, tip
from ui.widgets import bold, paint_placeholder, section_heading, small_font

AnyIndex = QModelIndex | QPersistentModelIndex


class CustomerDelegate(QStyledItemDelegate):
    """Paints a customer row: name and last contact, then contact point and channel marks.

    Signals:
        (only those of QStyledItemDelegate)
    """

    def _metrics(self, option: QStyleOptionViewItem) -> tuple[QFontMetrics, QFontMetrics, int, int]:
        fm = QFontMetrics(bold(option.font))
        sfm = QFontMetrics(small_font(option.font))
        em = fm.horizontalAdvance("M")
        pad = max(3, round(fm.height() * 0.45))
        return fm, sfm, em, pad

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        fm, sfm, em, pad = self._metrics(option)
        return QSize(em * 16, fm.height() + sfm.height() + pad * 2 + round(pad * 0.3))

    def _marks_rects(
        self, option: QStyleOptionViewItem, row: CustomerRow
    ) -> list[tuple[str, QRect]]:
        fm, sfm, em, pad = self._metrics(option)
        size = sfm.height()
        gap = round(em * 0.3)
        channels = [c for c in CHANNEL_ORDER if c in row.channels]
        x = option.rect.right() - round(em * 0.8) - len(channels) * (size + gap) + gap
        y = option.rect.top() + pad + fm.height() + round(pad * 0.3)
        rects = []
        for c in channels:
            rects.append((c, QRect(x, y, size, size)))
            x += size + gap
        return rects

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        row = index.data(RowRole)
        if isinstance(row, Loading):
            paint_placeholder(painter, option, row.label)
        if not isinstance(row, CustomerRow):
            return
        painter.save()
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget else None
        if style is not None:
            style.drawPrimitive(
                QStyle.PrimitiveElement.PE_PanelItemViewItem, opt, painter, opt.widget
            )
        fm, sfm, em, pad = self._metrics(option)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        pal = option.palette
        text = pal.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        muted = (
            mix(text, pal.color(QPalette.ColorRole.Highlight), 0.25)
            if selected
            else muted_color(pal)
        )
        rect = option.rect.adjusted(round(em * 0.8), pad, -round(em * 0.8), -pad)
        # line 1: name … relative time
        when = index.data(RelativeTimeRole) or ""
        painter.setFont(small_font(option.font))
        when_w = sfm.horizontalAdvance(when)
        painter.setPen(muted)
        painter.drawText(QPoint(rect.right() - when_w, rect.top() + fm.ascent()), when)
        painter.setFont(bold(option.font))
        painter.setPen(text)
        name_w = rect.width() - when_w - em
        painter.drawText(
            QPoint(rect.left(), rect.top() + fm.ascent()),
            fm.elidedText(fmt.customer_name(row), Qt.TextElideMode.ElideRight, name_w),
        )
        # line 2: best identity … channel marks
        marks = self._marks_rects(option, row)
        marks_left = marks[0][1].left() if marks else rect.right()
        painter.setFont(small_font(option.font))
        painter.setPen(muted)
        y2 = rect.top() + fm.height() + round(pad * 0.3) + sfm.ascent()
        painter.drawText(
            QPoint(rect.left(), y2),
            sfm.elidedText(
                fmt.best_contact(row), Qt.TextElideMode.ElideMiddle, marks_left - rect.left() - em
            ),
        )
        dpr = painter.device().devicePixelRatioF() if painter.device() else 1.0
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for channel, r in marks:
            color = text if selected else channel_color(channel, pal)
            painter.drawPixmap(r.topLeft(), pixmap(_icon(channel), color, r.height(), dpr))
        painter.restore()

    def helpEvent(
        self,
        event: QHelpEvent,
        view: QAbstractItemView,
        option: QStyleOptionViewItem,
        index: AnyIndex,
    ) -> bool:
        row = index.data(RowRole)
        if isinstance(row, CustomerRow) and event.type() == event.Type.ToolTip:
            for channel, rect in self._marks_rects(option, row):
                if rect.adjusted(-2, -2, 2, 2).contains(event.pos()):
                    QToolTip.showText(
                        event.globalPos(), tip(f"Has {channel_label(channel).lower()}"), view
                    )
                    return True
        return super().helpEvent(event, view, option, index)


def _icon(channel: str) -> str:
    return channel if channel in CHANNEL_ORDER else "messages"


class CustomerListView(QListView):
    """The customer list; Enter activates, Up on the first row goes back to the search box.

    Signals:
        activated_by_key(QModelIndex): Enter or Return was pressed on a row.
        left_at_top(): Up was pressed on the first row.
    """

    activated_by_key = Signal(QModelIndex)
    left_at_top = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        index = self.currentIndex()
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and index.isValid():
            self.activated_by_key.emit(index)
            return
        if event.key() == Qt.Key.Key_Up and (not index.isValid() or index.row() == 0):
            self.left_at_top.emit()
            return
        super().keyPressEvent(event)


class CustomerListPane(QWidget):
    """The customer list with its no-match state.

    Signals:
        customer_selected(int): the current row changed to this customer.
        customer_activated(int): Enter was pressed on (or a row double-clicked for) a customer.
        full_text_requested(str): the user asked to search all messages for this text.
        search_box_requested(): keyboard focus should go back to the search box.
        merge_requested(object): merge these ``CustomerRow``s (the selected rows).
        selection_changed(int): this many customers are selected now.
    """

    customer_selected = Signal(int)
    customer_activated = Signal(int)
    full_text_requested = Signal(str)
    search_box_requested = Signal()
    merge_requested = Signal(object)
    selection_changed = Signal(int)

    def __init__(self, model: CustomerListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self._quiet = False
        self.setAccessibleName("Customers")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        fm = self.fontMetrics()
        self.heading = section_heading("Customers")
        self.heading.setContentsMargins(
            round(fm.horizontalAdvance("M") * 0.8),
            round(fm.height() * 0.6),
            0,
            round(fm.height() * 0.3),
        )
        layout.addWidget(self.heading)
        self.stack = QStackedWidget()
        self.view = CustomerListView()
        watch_scrolling(self.view)  # (no full garbage collection while the user scrolls)
        self.view.setObjectName("customerList")
        self.view.setAccessibleName("Customer list")
        self.view.setModel(model)
        self.view.setItemDelegate(CustomerDelegate(self.view))
        self.view.setUniformItemSizes(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setFrameShape(QListView.Shape.NoFrame)
        self.view.setMouseTracking(True)
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self.view.selectionModel().selectionChanged.connect(
            lambda _s, _d: self._selection_changed()
        )
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.activated_by_key.connect(self._activate)
        self.view.doubleClicked.connect(self._activate)
        self.view.left_at_top.connect(self.search_box_requested)

        self.no_match = QWidget()
        self.no_match.setAccessibleName("No customer found")
        nm = QVBoxLayout(self.no_match)
        em = self.fontMetrics().horizontalAdvance("M")
        nm.setContentsMargins(em, em * 2, em, em)
        self.no_match_title = plain_label()
        self.no_match_title.setWordWrap(True)
        self.no_match_title.setFont(bold(self.no_match_title.font()))
        self.no_match_hint = plain_label(
            "Searched names, email addresses, phone numbers and order numbers."
        )
        self.no_match_hint.setWordWrap(True)
        self.no_match_hint.setFont(small_font(self.no_match_hint.font()))
        hint_pal = self.no_match_hint.palette()
        hint_pal.setColor(self.no_match_hint.foregroundRole(), muted_color(hint_pal))
        self.no_match_hint.setPalette(hint_pal)
        self.full_text_button = QPushButton(icon("messages", self.palette()), "Search all messages")
        self.full_text_button.setObjectName("fullTextButton")
        self.full_text_button.setAccessibleName("Search all messages for this text")
        self.full_text_button.clicked.connect(lambda: self.full_text_requested.emit(model.query))
        nm.addWidget(self.no_match_title)
        nm.addWidget(self.no_match_hint)
        nm.addSpacing(em // 2)
        nm.addWidget(self.full_text_button, 0, Qt.AlignmentFlag.AlignLeft)
        nm.addStretch(1)

        self.stack.addWidget(self.view)
        self.stack.addWidget(self.no_match)
        layout.addWidget(self.stack)
        model.loaded.connect(self._loaded)

    def _heading(self) -> None:
        total = self.model.total
        chosen = len(self.view.selectionModel().selectedRows())
        if chosen > 1:
            self.heading.setText(f"{chosen:,} SELECTED · CTRL+M MERGES")
        elif self.model.query:
            self.heading.setText(f"{total:,} MATCHING" if total else "NO MATCH")
        else:
            self.heading.setText(f"CUSTOMERS · {total:,}")

    def _selection_changed(self) -> None:
        self._heading()
        self.selection_changed.emit(len(self.selected_customers()))

    def _loaded(self) -> None:
        self._heading()
        if self.model.query_changed:  # a new filter starts at its first match
            self.view.scrollToTop()
        if self.model.rowCount() == 0 and self.model.query:
            self.no_match_title.setText(f"No customer matches “{self.model.query}”.")
            self.full_text_button.setText(
                no_mnemonic(f"Search all messages for “{self.model.query}”")
            )
            self.stack.setCurrentWidget(self.no_match)
        else:
            self.stack.setCurrentWidget(self.view)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = current.data(RowRole)
        if isinstance(row, CustomerRow) and not self._quiet:
            self.customer_selected.emit(row.id)

    def _activate(self, index: QModelIndex) -> None:
        row = index.data(RowRole)
        if isinstance(row, CustomerRow):
            self.customer_activated.emit(row.id)

    def select_row(self, row: int) -> bool:
        """Make ``row`` current (and so shown); False if there is no such row."""
        if not 0 <= row < self.model.rowCount():
            return False
        self.view.setCurrentIndex(self.model.index(row, 0))
        return True

    def select_customer(self, customer_id: int, *, scroll: bool = True) -> bool:
        """Select ``customer_id`` if it is in the list (without re-emitting if already current).

        ``scroll``: bring it into view (False keeps the list where it is).
        """
        row = self.model.row_of(customer_id)
        if row is None:
            self.view.selectionModel().clearSelection()
            return False
        index = self.model.index(row, 0)
        if self.view.currentIndex() != index:
            self._quiet = True
            auto = self.view.hasAutoScroll()
            self.view.setAutoScroll(auto and scroll)  # a current row is scrolled to otherwise
            try:
                self.view.setCurrentIndex(index)
            finally:
                self._quiet = False
                self.view.setAutoScroll(auto)
        if scroll:
            self.view.scrollTo(index)
        return True

    def focus_list(self) -> None:
        """Move the keyboard into the list (first row if none is current)."""
        if not self.view.currentIndex().isValid():
            self.select_row(0)
        self.view.setFocus(Qt.FocusReason.OtherFocusReason)

    def selected_customers(self) -> list[CustomerRow]:
        """The selected rows' customers, in list order."""
        rows = sorted(i.row() for i in self.view.selectionModel().selectedRows())
        return [self.model.row(r) for r in rows if 0 <= r < self.model.rowCount()]

    def context_menu(self) -> QMenu:
        """The list's context menu for the current selection."""
        menu = QMenu(self)
        menu.setAccessibleName("Customer actions")
        chosen = self.selected_customers()
        merge = QAction(
            f"&Merge {len(chosen)} Selected Customers…" if len(chosen) > 1 else "&Merge Selected…",
            menu,
        )
        merge.setEnabled(len(chosen) > 1)
        merge.triggered.connect(lambda: self.merge_requested.emit(chosen))
        menu.addAction(merge)
        return menu

    def _context_menu(self, pos: QPoint) -> None:
        menu = self.context_menu()
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(self.view.viewport().mapToGlobal(pos))

    def current_customer(self) -> int | None:
        """The id of the current row's customer."""
        row = self.view.currentIndex().data(RowRole)
        return row.id if isinstance(row, CustomerRow) else None
