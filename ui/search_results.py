"""Full-text search across everyone: a query field and a list of hits with highlighted snippets.

The search runs on a reader (never on the GUI thread). Each hit shows the
customer, the channel mark, the date and the snippet with matches highlighted
(the snippet's \\x02 … \\x03 markers). Opening a hit (Enter, double-click)
emits ``hit_opened``; the main window then opens that customer scrolled to
the event. Esc or "Back to customers" closes the results.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QFontMetrics,
    QKeyEvent,
    QPainter,
    QPalette,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.service import SearchHit
from ui import formatting as fmt
from ui.marks import channel_color, mix, muted_color, pixmap
from ui.models import RowRole, SearchResultsModel
from ui.safe_text import SafeDocument
from ui.timeline_delegate import highlight_style
from ui.widgets import bold, muted_label, search_field, small_font

AnyIndex = QModelIndex | QPersistentModelIndex


class SearchHitDelegate(QStyledItemDelegate):
    """Paints a hit: customer and date, the subject, then a two-line highlighted snippet.

    Signals:
        (only those of QStyledItemDelegate)
    """

    def __init__(self, parent: QObject, tz: tzinfo, now: Callable[[], datetime]) -> None:
        super().__init__(parent)
        self._tz = tz
        self._now = now

    def _parts(self, option: QStyleOptionViewItem) -> tuple[QFontMetrics, QFontMetrics, int, int]:
        fm = QFontMetrics(bold(option.font))
        sfm = QFontMetrics(small_font(option.font))
        em = fm.horizontalAdvance("M")
        return fm, sfm, em, max(3, round(fm.height() * 0.4))

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        fm, sfm, em, pad = self._parts(option)
        return QSize(em * 16, fm.height() + sfm.height() * 3 + pad * 2)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        hit = index.data(RowRole)
        if not isinstance(hit, SearchHit):
            return
        painter.save()
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        if opt.widget is not None:
            opt.widget.style().drawPrimitive(
                QStyle.PrimitiveElement.PE_PanelItemViewItem, opt, painter, opt.widget
            )
        fm, sfm, em, pad = self._parts(option)
        pal = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        text = pal.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        muted = (
            mix(text, pal.color(QPalette.ColorRole.Highlight), 0.25)
            if selected
            else muted_color(pal)
        )
        rect = option.rect.adjusted(round(em * 0.8), pad, -round(em * 0.8), -pad)
        dpr = painter.device().devicePixelRatioF() if painter.device() else 1.0
        size = sfm.height()
        # line 1: mark, customer … date
        color = text if selected else channel_color(hit.channel, pal)
        mark = hit.channel if hit.channel in ("email", "chat", "order") else "messages"
        painter.drawPixmap(
            QPoint(rect.left(), rect.top() + (fm.height() - size) // 2),
            pixmap(mark, color, size, dpr),
        )
        date = fmt.short_date(
            fmt.local(hit.occurred_at, self._tz).date(), fmt.local(self._now(), self._tz).date()
        )
        painter.setFont(small_font(option.font))
        painter.setPen(muted)
        dw = sfm.horizontalAdvance(date)
        painter.drawText(QPoint(rect.right() - dw, rect.top() + fm.ascent()), date)
        painter.setFont(bold(option.font))
        painter.setPen(text)
        x = rect.left() + size + round(em * 0.4)
        painter.drawText(
            QPoint(x, rect.top() + fm.ascent()),
            fm.elidedText(
                fmt.person_name(hit.customer_name) or "Unknown customer",
                Qt.TextElideMode.ElideRight,
                rect.right() - dw - em - x,
            ),
        )
        # line 2: title
        y = rect.top() + fm.height()
        painter.setFont(small_font(option.font))
        painter.setPen(muted)
        painter.drawText(
            QPoint(rect.left(), y + sfm.ascent()),
            sfm.elidedText(hit.title, Qt.TextElideMode.ElideRight, rect.width()),
        )
        y += sfm.height()
        # lines 3-4: snippet
        doc = SafeDocument()
        doc.setDocumentMargin(0)
        doc.setDefaultFont(small_font(option.font))
        doc.setHtml(fmt.snippet_html(hit.snippet, highlight_style(pal)))
        doc.setTextWidth(rect.width())
        painter.setClipRect(QRect(rect.left(), y, rect.width(), sfm.height() * 2))
        painter.translate(rect.left(), y)
        ctx = QAbstractTextDocumentLayout.PaintContext()
        ctx.palette.setColor(QPalette.ColorRole.Text, text)
        doc.documentLayout().draw(painter, ctx)
        painter.restore()


class SearchResultsPane(QWidget):
    """The full-text search field and its results.

    Signals:
        hit_opened(object): the user opened this ``SearchHit``.
        closed(): the user left the results (Esc or "Back to customers").
    """

    hit_opened = Signal(object)
    closed = Signal()

    def __init__(
        self,
        model: SearchResultsModel,
        parent: QWidget | None = None,
        *,
        tz: tzinfo = UTC,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(parent)
        self.model = model
        self._focus_results_when_loaded = False
        self.setAccessibleName("Message search")
        fm = self.fontMetrics()
        layout = QVBoxLayout(self)
        m = round(fm.height() * 0.4)
        layout.setContentsMargins(m, m, m, 0)
        layout.setSpacing(m)
        head = QHBoxLayout()
        self.back = QToolButton()
        self.back.setText("← Customers")
        self.back.setAccessibleName("Back to customers")
        self.back.setToolTip("Back to the customer list (Esc)")
        self.back.setAutoRaise(True)
        self.back.clicked.connect(self.closed)
        head.addWidget(self.back)
        head.addStretch(1)
        layout.addLayout(head)
        self.field = search_field("Search all messages…", "Search all messages")
        self.field.setObjectName("fullTextField")
        self.field.installEventFilter(self)
        layout.addWidget(self.field)
        self.status = muted_label()
        self.status.setAccessibleName("Search status")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.view = QListView()
        self.view.setObjectName("searchResults")
        self.view.setAccessibleName("Search results")
        self.view.setModel(model)
        self.delegate = SearchHitDelegate(self.view, tz, now)
        self.view.setItemDelegate(self.delegate)
        self.view.setUniformItemSizes(True)
        self.view.setFrameShape(QListView.Shape.NoFrame)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.activated.connect(self._open)
        self.view.installEventFilter(self)
        layout.addWidget(self.view, 1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(300)
        self._timer.timeout.connect(self._run)
        self.field.textEdited.connect(self._timer.start)
        self.field.returnPressed.connect(self._run_and_focus)
        model.loaded.connect(self._loaded)

    def set_tz(self, tz: tzinfo) -> None:
        """Show the hits' dates in ``tz`` (after the time zone setting changed)."""
        self.delegate._tz = tz
        self.view.viewport().update()

    def search(self, text: str) -> None:
        """Show results for ``text`` (and put it in the field)."""
        self.field.setText(text)
        self._run()

    def focus_field(self) -> None:
        """Put the cursor in the field."""
        self.field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.field.selectAll()

    def _run(self) -> None:
        self._timer.stop()
        text = self.field.text().strip()
        if not fmt.has_query(text):
            self.status.setText("Type words to find in every email, chat and order.")
            self.model.search("")
            return
        self.status.setText(f"Searching for “{text}”…")
        self.model.search(text)

    def _run_and_focus(self) -> None:
        self._run()
        self._focus_results_when_loaded = True

    def _loaded(self) -> None:
        n = self.model.rowCount()
        q = self.model.query
        if not q:
            return
        if self.model.error:
            self.status.setText(self.model.error[:1].upper() + self.model.error[1:] + ".")
        elif n == 0:
            self.status.setText(f"No message contains “{q}”. Try fewer or shorter words.")
        else:
            more = "+" if n >= self.model.LIMIT else ""
            self.status.setText(f"{n:,}{more} messages match “{q}”. Enter opens one.")
            self.view.setCurrentIndex(self.model.index(0, 0))
            if self._focus_results_when_loaded:
                self.view.setFocus()
        self._focus_results_when_loaded = False

    def _open(self, index: QModelIndex) -> None:
        hit = index.data(RowRole)
        if isinstance(hit, SearchHit):
            self.hit_opened.emit(hit)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() == Qt.Key.Key_Escape:
                self.closed.emit()
                return True
            if watched is self.field and event.key() == Qt.Key.Key_Down and self.model.rowCount():
                self.view.setFocus()
                if not self.view.currentIndex().isValid():
                    self.view.setCurrentIndex(self.model.index(0, 0))
                return True
        return super().eventFilter(watched, event)
