"""The centre pane: a customer's header, channel chips, a search inside them, and the timeline.

The header says who this is (name large; contact points; order figures).
Chips filter by channel; the search field narrows the timeline to events
matching its words (``queries.timeline(query=...)``) and highlights them. The
list shows ``TimelineModel`` through ``TimelineDelegate``; Enter, Space or a
click expands an event in place, Left/Right collapse and expand, Ctrl+C
copies an event's text.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QFont,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QPalette,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemDelegate,
    QAbstractItemView,
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QSizePolicy,
    QStackedWidget,
    QStyleOptionViewItem,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.service import CustomerRow
from ui import formatting as fmt
from ui.collector import watch_scrolling
from ui.email_view import EmailBodyView, reads_in_view
from ui.marks import channel_icon, muted_color
from ui.models import (
    SHAPE_EXPANDED,
    SHAPE_LINE,
    SHAPE_LOADING,
    ExpandedRole,
    RowRole,
    TermsRole,
    TimelineEntry,
    TimelineModel,
)
from ui.safe_text import WrapText
from ui.timeline_delegate import TimelineDelegate
from ui.widgets import muted_label, search_field

FILTERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("all", "All", ()),
    ("email", "Email", ("email",)),
    ("chat", "Chat", ("chat",)),
    ("order", "Orders", ("order",)),
)


def identities_text(row: CustomerRow) -> str:
    """The contact points line under a name."""
    return fmt.join_nonempty(tuple(fmt.contact_points(row)))


def fmt_phone(value: str) -> str:
    """A phone number in one international format (+44 7700 900123); others unchanged."""
    return fmt.phone(value)


def figures_text(row: CustomerRow, total_events: int) -> str:
    """The figures line: orders, spend, last order, how much history."""
    o = row.orders
    parts = [fmt.plural(row.event_count or total_events, "event")]
    if o.count:
        parts.append(fmt.plural(o.count, "order"))
        if o.totals:
            parts.append(f"{fmt.money_totals(o.totals)} spent")
    return fmt.join_nonempty(parts)


class TimelineView(QTableView):
    """The event list with keyboard expansion and copy: one column, one row per model row.

    A table rather than a list view because of row heights: a ``QListView`` lays every row
    out again (asking each one's size of the delegate, in Python) whenever rows arrive or a
    row changes height, which on a history of ten thousand rows stalls each page. Here each
    row's height is a section of the hidden vertical header, set once when the row arrives
    (from its shape, ``TimelineModel.row_shape``; only rows that differ from a one-line event
    are set at all) and again only when that row expands, collapses or its body resizes; a
    page adds its rows without touching the others.

    Signals:
        toggle_requested(QModelIndex): Enter, Space or a click asked to flip an event.
        expand_requested(QModelIndex, bool): Right (True) or Left (False) was pressed.
    """

    toggle_requested = Signal(QModelIndex)
    expand_requested = Signal(QModelIndex, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setCornerButtonEnabled(False)
        self.setTabKeyNavigation(False)  # Tab leaves the list, as it does a list view
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        top = self.horizontalHeader()
        top.hide()
        top.setStretchLastSection(True)  # the one column is as wide as the view
        side = self.verticalHeader()
        side.hide()
        side.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        side.setMinimumSectionSize(1)
        self._pending: set[int] = set()  # expanded rows to measure once the event loop turns
        self._pending_timer = QTimer(self)
        self._pending_timer.setSingleShot(True)
        self._pending_timer.setInterval(0)
        self._pending_timer.timeout.connect(self._measure_pending)
        self._synced_width = 0
        self.height_sets = 0  # rows whose height was set (for tests: a page sets only its own)
        watch_scrolling(self)  # (no full garbage collection while the user scrolls)

    def setModel(self, model: QAbstractItemModel | None) -> None:
        super().setModel(model)
        if isinstance(model, TimelineModel):
            model.modelReset.connect(self.sync_rows)
            model.rowsInserted.connect(
                lambda _parent, first, last: self.sync_rows(first, last, fresh=True)
            )

    def setItemDelegate(self, delegate: QAbstractItemDelegate) -> None:
        super().setItemDelegate(delegate)
        delegate.sizeHintChanged.connect(self._size_changed)

    def _size_changed(self, index: QModelIndex) -> None:
        """A row expanded, collapsed or its email view resized: measured at once, and again
        on the next turn of the event loop, when its email view has settled (it may hide a
        note or load images after saying its size changed)."""
        self._measure({index.row()})
        self._pending.add(index.row())
        self._pending_timer.start()

    # --- row heights --------------------------------------------------------------------

    def initViewItemOption(self, option: QStyleOptionViewItem) -> None:
        super().initViewItemOption(option)
        # A table fills a selected row with the highlight colour under the delegate (which
        # draws its own softer band); a list does not.
        option.showDecorationSelected = False

    def _row_option(self) -> QStyleOptionViewItem:
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        return option

    def sync_rows(self, first: int = 0, last: int = -1, *, fresh: bool = False) -> None:
        """Give rows ``first``..``last`` (all by default) the heights their shapes say.

        A collapsed row's height is a lookup by shape; an expanded row is measured on the
        next turn of the event loop (by then an HTML email has its own view over the row).
        ``fresh`` rows were just inserted, one line high: only other shapes are set.
        """
        model = self.model()
        if not isinstance(model, TimelineModel):
            return
        side = self.verticalHeader()
        count = min(model.rowCount(), side.count())
        last = count - 1 if last < 0 else min(last, count - 1)
        if first > last:
            return
        delegate = self.itemDelegate()
        if not isinstance(delegate, TimelineDelegate):
            return
        option = self._row_option()
        heights = delegate.shape_heights(option)
        line = heights[SHAPE_LINE]
        if side.defaultSectionSize() != line:  # (this sets every row to it: set all again)
            side.setDefaultSectionSize(line)
            first, last, fresh = 0, count - 1, False
        size, resize = side.sectionSize, side.resizeSection
        shapes = model.row_shapes(first, last)
        if len(shapes) < last - first + 1:  # the LOADING row
            shapes += bytes((SHAPE_LOADING,))
        sets = 0
        for row, kind in enumerate(shapes, first):
            if kind == SHAPE_EXPANDED:
                self._pending.add(row)
                continue
            height = heights[kind]
            if fresh and height == line:
                continue
            if size(row) != height:
                resize(row, height)
                sets += 1
        self.height_sets += sets
        if self._pending:
            self._pending_timer.start()

    def _measure_pending(self) -> None:
        rows, self._pending = self._pending, set()
        self._measure(rows)

    def _measure(self, rows: set[int]) -> None:
        model = self.model()
        if not isinstance(model, TimelineModel):
            return
        option = self._row_option()
        delegate = self.itemDelegate()
        side = self.verticalHeader()
        for row in sorted(rows):
            if row >= min(model.rowCount(), side.count()):
                continue
            if model.row_shape(row) != SHAPE_EXPANDED:
                self.sync_rows(row, row)
                continue
            height = delegate.sizeHint(option, model.index(row, 0)).height()
            if side.sectionSize(row) != height:
                side.resizeSection(row, height)
                self.height_sets += 1

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self.sync_rows()  # (the delegate forgot its sizes in its event filter)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        width = self.viewport().width()
        if width != self._synced_width:  # expanded rows wrap to the width
            self._synced_width = width
            model = self.model()
            if isinstance(model, TimelineModel):
                for row in model.expanded_rows():
                    self._pending.add(row)
                if self._pending:
                    self._pending_timer.start()

    # --- keys ---------------------------------------------------------------------------

    def moveCursor(
        self, cursorAction: QAbstractItemView.CursorAction, modifiers: Qt.KeyboardModifier
    ) -> QModelIndex:
        if cursorAction in (
            QAbstractItemView.CursorAction.MoveHome,
            QAbstractItemView.CursorAction.MoveEnd,
        ):  # Home and End go to the first and last event, as in a list (a table stays in the row)
            modifiers |= Qt.KeyboardModifier.ControlModifier
        return super().moveCursor(cursorAction, modifiers)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        index = self.currentIndex()
        key = event.key()
        if index.isValid() and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.toggle_requested.emit(index)
            return
        if index.isValid() and key in (Qt.Key.Key_Right, Qt.Key.Key_Left):
            self.expand_requested.emit(index, key == Qt.Key.Key_Right)
            return
        if index.isValid() and event.matches(QKeySequence.StandardKey.Copy):
            item = index.data(RowRole)
            if isinstance(item, TimelineEntry):
                e = item.event
                QGuiApplication.clipboard().setText(
                    fmt.join_nonempty((e.title if e.channel == "email" else "", e.text), "\n\n")
                )
            return
        super().keyPressEvent(event)


class TimelinePane(QWidget):
    """Header, filters and the timeline of one customer.

    Signals:
        customer_loaded(object): the shown customer's ``CustomerRow`` arrived.
        filters_changed(): a chip or the inside-search changed.
    """

    customer_loaded = Signal(object)
    filters_changed = Signal()

    def __init__(self, model: TimelineModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        self.setAccessibleName("Timeline")
        self.setBackgroundRole(QPalette.ColorRole.Base)
        self.setAutoFillBackground(True)
        layout = QVBoxLayout(self)
        fm = self.fontMetrics()
        m = round(fm.height() * 0.6)
        layout.setContentsMargins(m, m, m, 0)
        layout.setSpacing(round(fm.height() * 0.25))

        # header
        # Name and contact points wrap (anywhere, for one long unbroken name or address)
        # rather than widen the pane.
        self.name_label = WrapText()
        self.name_label.setObjectName("customerName")
        font = QFont(self.name_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.55)
        font.setWeight(QFont.Weight.Bold)
        self.name_label.setFont(font)
        self.name_label.setAccessibleName("Customer name")
        self.identities_label = WrapText()
        self.identities_label.set_color(muted_color(self.identities_label.palette()))
        self.identities_label.setAccessibleName("Contact points")
        self.figures_label = muted_label(small=False)
        self.figures_label.setAccessibleName("Figures")
        layout.addWidget(self.name_label)
        layout.addWidget(self.identities_label)
        layout.addWidget(self.figures_label)
        layout.addSpacing(round(fm.height() * 0.3))

        # chips and inside search
        bar = QHBoxLayout()
        bar.setSpacing(round(fm.horizontalAdvance("M") * 0.35))
        self.chip_group = QButtonGroup(self)
        self.chip_group.setExclusive(True)
        self.chips: dict[str, QToolButton] = {}
        for key, label, _channels in FILTERS:
            chip = QToolButton()
            chip.setText(label)
            chip.setCheckable(True)
            chip.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            if key != "all":
                chip.setIcon(channel_icon(key, self.palette()))
            chip.setAccessibleName(f"Show {label.lower()}" if key != "all" else "Show everything")
            chip.setObjectName(f"chip_{key}")
            chip.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            self.chip_group.addButton(chip)
            self.chips[key] = chip
            bar.addWidget(chip)
        self.chips["all"].setChecked(True)
        self.chip_group.buttonToggled.connect(self._chip_toggled)
        self.count_label = muted_label()
        self.count_label.setAccessibleName("Event count")
        bar.addSpacing(fm.horizontalAdvance("M"))
        bar.addWidget(self.count_label)
        bar.addStretch(1)
        self.search = search_field("Search this customer…", "Search this customer's messages")
        self.search.setObjectName("timelineSearch")
        # as wide as its placeholder when there is room; narrower in a small window (800 × 600)
        self.search.setMaximumWidth(
            fm.horizontalAdvance(self.search.placeholderText()) + fm.height() * 4
        )
        self.search.setMinimumWidth(fm.horizontalAdvance("M") * 9)
        self.search.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        bar.addWidget(self.search, 1)
        layout.addLayout(bar)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(250)
        self._search_timer.timeout.connect(self._apply_filters)
        self.search.textChanged.connect(self._search_timer.start)
        self.search.returnPressed.connect(self._search_now)
        self.search.installEventFilter(self)

        # list and its empty state
        self.stack = QStackedWidget()
        self.view = TimelineView()
        self.view.setObjectName("timelineView")
        self.view.setAccessibleName("Events")
        self.view.setModel(model)
        self.delegate = TimelineDelegate(self.view)
        self.view.setItemDelegate(self.delegate)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setMouseTracking(True)
        self.view.setFrameShape(QFrame.Shape.NoFrame)
        self.view.verticalScrollBar().setSingleStep(fm.height())
        self.view.toggle_requested.connect(self._toggle)
        self.view.expand_requested.connect(self._expand)
        self.view.clicked.connect(self._toggle)
        self.empty = muted_label(small=False)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setAccessibleName("Timeline message")
        self.stack.addWidget(self.view)
        self.stack.addWidget(self.empty)
        layout.addWidget(self.stack, 1)

        model.loaded.connect(self._loaded)
        model.modelReset.connect(self.delegate.clear_cache)
        self.show_nobody()

    # --- public -------------------------------------------------------------------------

    def show_customer(
        self, customer_id: int, *, focus_event: int | None = None, highlight: str = ""
    ) -> None:
        """Show ``customer_id``; with ``focus_event``, filters are cleared and it is scrolled to."""
        if focus_event is not None or customer_id != self.model.customer_id:
            self._set_filters_quietly("all", "")
        self.model.load(
            customer_id,
            channels=self.channels(),
            query=self.search.text(),
            focus_event=focus_event,
            highlight=highlight,
        )

    def show_nobody(self, text: str = "Pick a customer on the left to see their timeline.") -> None:
        """Clear the pane and say why it is empty."""
        self.model.clear()
        self.name_label.setText("")
        self.identities_label.setText("")
        self.figures_label.setText("")
        self.count_label.setText("")
        self.empty.setText(text)
        self.stack.setCurrentWidget(self.empty)
        self._set_enabled(False)

    def channels(self) -> tuple[str, ...]:
        """The channels the chips select (empty: all)."""
        for key, _label, channels in FILTERS:
            if self.chips[key].isChecked():
                return channels
        return ()

    def set_filter(self, key: str) -> None:
        """Check the chip ``key`` ("all", "email", "chat", "order")."""
        self.chips[key].setChecked(True)

    def focus_search(self) -> None:
        """Put the cursor in the inside-search field."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def focus_events(self) -> None:
        """Move the keyboard into the event list (first event if none is current)."""
        if not self.view.currentIndex().isValid():
            rows = self.model.event_rows()
            if rows:
                self.view.setCurrentIndex(self.model.index(rows[0], 0))
        self.view.setFocus(Qt.FocusReason.OtherFocusReason)

    # --- internals ----------------------------------------------------------------------

    def _set_enabled(self, enabled: bool) -> None:
        for chip in self.chips.values():
            chip.setEnabled(enabled)
        self.search.setEnabled(enabled)

    def _set_filters_quietly(self, key: str, text: str) -> None:
        self.chip_group.blockSignals(True)
        self.chips[key].setChecked(True)
        self.chip_group.blockSignals(False)
        self.search.blockSignals(True)
        self.search.setText(text)
        self.search.blockSignals(False)
        self._search_timer.stop()

    def _chip_toggled(self, _button: QToolButton, checked: bool) -> None:
        if checked:
            self._apply_filters()

    def _search_now(self) -> None:
        self._search_timer.stop()
        self._apply_filters()
        self.focus_events()

    def _apply_filters(self) -> None:
        if self.model.customer_id is None:
            return
        self.model.load(self.model.customer_id, channels=self.channels(), query=self.search.text())
        self.filters_changed.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.search and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() == Qt.Key.Key_Escape and self.search.text():
                self.search.clear()
                return True
            if event.key() == Qt.Key.Key_Down:
                self.focus_events()
                return True
        return super().eventFilter(watched, event)

    def _loaded(self, focus_event: int | None) -> None:
        row = self.model.customer
        if row is None:
            return
        self._set_enabled(True)
        self.name_label.setText(fmt.customer_name(row))
        self.identities_label.setText(identities_text(row))
        self.figures_label.setText(figures_text(row, self.model.total))
        self._update_count()
        if self.model.rowCount() == 0:
            self.empty.setText(self._empty_text())
            self.stack.setCurrentWidget(self.empty)
        else:
            self.stack.setCurrentWidget(self.view)
        target = self.model.row_of_event(focus_event) if focus_event is not None else None
        if target is not None:
            index = self.model.index(target, 0)
            self.model.set_expanded(target, True)
            self._update_body(target)
            self.delegate.sizeHintChanged.emit(index)
            self.view.setCurrentIndex(index)
            QTimer.singleShot(
                0, lambda: self.view.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
            )
        else:
            self.view.scrollToTop()
            rows = self.model.event_rows()
            if rows:
                self.view.setCurrentIndex(self.model.index(rows[0], 0))
        self._restore_bodies()
        self.customer_loaded.emit(row)

    def _update_count(self) -> None:
        total = self.model.total
        if self.model.query:
            self.count_label.setText(fmt.plural(total, "match", "matches"))
        elif self.model.channels:
            self.count_label.setText(fmt.plural(total, "event"))
        else:
            self.count_label.setText("")

    def _empty_text(self) -> str:
        labels = {"email": "emails", "chat": "chat messages", "order": "orders"}
        chans = self.channels()
        what = labels.get(chans[0], "events") if chans else "events"
        if self.model.query:
            return f"No {what} match “{self.model.query}”."
        return f"No {what} for this customer yet."

    def _toggle(self, index: QModelIndex) -> None:
        if not index.isValid() or not isinstance(self.model.item(index.row()), TimelineEntry):
            return
        self.model.toggle_expanded(index.row())
        self._update_body(index.row())
        self.delegate.sizeHintChanged.emit(index)

    def _expand(self, index: QModelIndex, expanded: bool) -> None:
        if not index.isValid():
            return
        self.model.set_expanded(index.row(), expanded)
        self._update_body(index.row())
        self.delegate.sizeHintChanged.emit(index)

    def email_view(self, row: int) -> EmailBodyView | None:
        """The HTML view over ``row``, when that row is an expanded HTML email."""
        widget = self.view.indexWidget(self.model.index(row, 0))
        return widget if isinstance(widget, EmailBodyView) else None

    def _update_body(self, row: int) -> None:
        """Put an HTML email's own view over its row when expanded; remove it when collapsed."""
        item = self.model.item(row)
        index = self.model.index(row, 0)
        wanted = (
            isinstance(item, TimelineEntry)
            and reads_in_view(item.event)
            and bool(index.data(ExpandedRole))
        )
        if not wanted:
            if self.email_view(row) is not None:
                # Qt removes the widget when given None; PySide6's stub leaves None out.
                self.view.setIndexWidget(index, None)  # type: ignore[arg-type]
            return
        if self.email_view(row) is not None or not isinstance(item, TimelineEntry):
            return
        top, left, right = self.delegate.body_margins()
        body = EmailBodyView(
            item.event,
            top=top,
            left=left,
            right=right,
            tz=self.model.tz,
            terms=tuple(index.data(TermsRole) or ()),
        )
        persistent = QPersistentModelIndex(index)
        body.height_changed.connect(lambda: self._body_resized(persistent))
        body.header_clicked.connect(lambda: self._toggle(self.model.index(persistent.row(), 0)))
        self.view.setIndexWidget(index, body)

    def _body_resized(self, index: QPersistentModelIndex) -> None:
        if index.isValid():
            self.delegate.sizeHintChanged.emit(self.model.index(index.row(), 0))

    def _restore_bodies(self) -> None:
        """After a reload, put the views back over HTML emails that stayed expanded."""
        for row in self.model.event_rows():
            if self.model.data(self.model.index(row, 0), ExpandedRole):
                self._update_body(row)

    def expanded_rows(self) -> Sequence[int]:
        """Rows currently expanded (for tests and state)."""
        return [
            r
            for r in self.model.event_rows()
            if self.model.data(self.model.index(r, 0), ExpandedRole)
        ]
