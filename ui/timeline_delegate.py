"""Painting the timeline: day headers, one-line events, chat runs, and events expanded in place.

A collapsed event is one line — channel mark, local time, who ("You" for
outbound), and the first line of text — plus, for orders, a muted line of
items. Outbound events sit on a tinted band so "you" is visible at a glance;
a chat line that continues a run leaves out the mark and the name. An
expanded event adds its full text (or the order's line items, totals and
statuses) below, laid out by a cached ``QTextDocument``. All sizes come from
font metrics; all colours from the palette, except the small channel marks.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from datetime import UTC, tzinfo
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    QSize,
    Qt,
)
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QFont,
    QFontMetrics,
    QHelpEvent,
    QPainter,
    QPalette,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
)

from app.service import EventRow, OrderRow, order_details
from ui import formatting as fmt
from ui.email_view import EmailBodyView, attachments_of, headers_html, reads_in_view
from ui.marks import channel_color, channel_label, is_dark, mix, muted_color, pixmap
from ui.models import (
    SHAPE_DAY,
    SHAPE_EXPANDED,
    SHAPE_ITEMS,
    SHAPE_LINE,
    SHAPE_LOADING,
    DayHeader,
    ExpandedRole,
    Loading,
    RowRole,
    TermsRole,
    ThreadRole,
    TimelineEntry,
    TimelineModel,
    summary,
)
from ui.safe_text import SafeDocument, esc, tip
from ui.widgets import bold, paint_placeholder, small_font

AnyIndex = QModelIndex | QPersistentModelIndex
_DOC_CACHE = 300


def highlight_style(palette: QPalette) -> str:
    """CSS for a search match: the highlight colour, softened."""
    bg = mix(
        palette.color(QPalette.ColorRole.Base), palette.color(QPalette.ColorRole.Highlight), 0.35
    )
    return f"background-color: {bg.name()}; font-weight: 600;"


# Rows ask for no width: the list lays each one out across the viewport, and a width
# measured before a vertical scroll bar appeared would leave a sideways scroll bar.
_NARROW = 1


class TimelineDelegate(QStyledItemDelegate):
    """Paints timeline rows and measures them (expanded rows depend on the view's width).

    Signals:
        (only those of QStyledItemDelegate; ``sizeHintChanged`` is emitted by the pane
        when a row expands or collapses)
    """

    def __init__(self, view: QAbstractItemView) -> None:
        super().__init__(view)
        self._view = view
        self._docs: OrderedDict[tuple[Any, ...], QTextDocument] = OrderedDict()
        self._who: tuple[tuple[Any, ...], int] | None = None
        self._measured: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self._heights: tuple[str, dict[int, QSize]] | None = None
        view.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._heights = None  # row sizes follow the view's font
        return super().eventFilter(watched, event)

    # --- metrics ------------------------------------------------------------------------

    def _metrics(self, option: QStyleOptionViewItem) -> dict[str, Any]:
        """Fonts and sizes for a row; the same for every row until the font, the view's
        width or the names shown change (painting asks once per row shown)."""
        font = option.font
        model = self._view.model()
        key = (
            font.key(),
            self._width(),
            getattr(model, "who_version", None),
            getattr(model, "customer_id", None),
            id(model),
        )
        if self._measured is not None and self._measured[0] == key:
            return self._measured[1]
        font = QFont(font)  # a copy: the option's own font dies with the option
        fm = QFontMetrics(font)
        sfont = small_font(font)
        sfm = QFontMetrics(sfont)
        em = fm.horizontalAdvance("M")
        lh = fm.height()
        measured = {
            "font": font,
            "fm": fm,
            "small": sfont,
            "sfm": sfm,
            "em": em,
            "lh": lh,
            "pad_v": max(2, round(lh * 0.3)),
            "pad_h": round(em * 0.7),
            "icon": round(lh * 0.95),
            "time_w": sfm.horizontalAdvance("00:00") + round(em * 0.9),
            "who_w": self.who_width(font),
            "gap": round(em * 0.6),
        }
        self._measured = (key, measured)
        return measured

    def who_width(self, font: QFont) -> int:
        """The width of the "who" column: the widest name shown, within limits.

        At least 6.5 em; at most 14 em or a quarter of the view, so a long name
        is cut only when it could not fit beside its text.
        """
        fm = QFontMetrics(font)
        em = fm.horizontalAdvance("M")
        model = self._view.model()
        version = getattr(model, "who_version", None)
        rows = model.rowCount() if model is not None and version is None else 0
        key = (
            version,
            rows,
            getattr(model, "customer_id", None),
            font.key(),
            self._width(),
            id(model),
        )
        if self._who is not None and self._who[0] == key:
            return self._who[1]
        names: set[str] = set()
        if isinstance(model, TimelineModel):  # the model keeps them as its rows arrive
            names = model.who_names
        else:
            for r in range(rows):
                item = model.index(r, 0).data(RowRole)
                if isinstance(item, TimelineEntry) and item.who:
                    names.add(item.who)
        wfm = QFontMetrics(bold(font))
        widest = max((wfm.horizontalAdvance(n) for n in names), default=0) + 2
        floor = round(em * 6.5)
        cap = max(floor, min(round(em * 14), self._width() // 4))
        width = max(floor, min(widest, cap))
        self._who = (key, width)
        return width

    def _row_heights(self, option: QStyleOptionViewItem) -> dict[int, QSize]:
        """The size of a row of each shape but an expanded one, for the view's font (every
        row's option has it; measured again after a font or style change, ``eventFilter``)."""
        if self._heights is not None:
            return self._heights[1]
        key = option.font.key()
        fm = QFontMetrics(option.font)
        sfm = QFontMetrics(small_font(option.font))
        lh = fm.height()
        pad_v = max(2, round(lh * 0.3))
        line = lh + pad_v * 2
        heights = {
            SHAPE_DAY: QSize(_NARROW, sfm.height() + pad_v * 2 + round(lh * 0.6)),
            SHAPE_LOADING: QSize(_NARROW, line),
            SHAPE_LINE: QSize(_NARROW, line),
            SHAPE_ITEMS: QSize(_NARROW, line + sfm.height()),
        }
        self._heights = (key, heights)
        return heights

    def shape_heights(self, option: QStyleOptionViewItem) -> dict[int, int]:
        """The height of a row of each shape but an expanded one, for ``option``'s font."""
        return {shape: size.height() for shape, size in self._row_heights(option).items()}

    def _shape(self, index: AnyIndex) -> int:
        model = index.model()
        if isinstance(model, TimelineModel):
            return model.row_shape(index.row())
        item = index.data(RowRole)
        if isinstance(item, DayHeader):
            return SHAPE_DAY
        if not isinstance(item, TimelineEntry):
            return SHAPE_LOADING
        if self._expanded(index):
            return SHAPE_EXPANDED
        order = item.event.order
        return SHAPE_ITEMS if order is not None and order.lines else SHAPE_LINE

    def _width(self) -> int:
        return max(1, self._view.viewport().width())

    def _content_left(self, m: dict[str, Any], rect: QRect) -> int:
        left: int = rect.left() + m["pad_h"] + m["icon"] + m["gap"] + m["time_w"]
        return left

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        # The timeline view asks this only of expanded rows (it sets collapsed rows' heights
        # from ``shape_heights``); a list view would ask it of every row at every relayout, so
        # a collapsed row's size is one lookup by its shape; only an expanded row is measured.
        model = index.model()
        shape = (  # kept by the model: no call into Qt per row
            model.row_shape(index.row()) if isinstance(model, TimelineModel) else self._shape(index)
        )
        if shape != SHAPE_EXPANDED:
            return self._row_heights(option)[shape]
        item = index.data(RowRole)
        assert isinstance(item, TimelineEntry)
        m = self._metrics(option)
        width = self._width()
        height = m["lh"] + m["pad_v"] * 2
        if item.event.order is not None and item.event.order.lines:
            height += m["sfm"].height()
        body = self._view.indexWidget(index)
        if isinstance(body, EmailBodyView):  # an HTML email: its own view covers the row
            return QSize(_NARROW, max(height, body.height_for(width)))
        doc = self._document(item, index, option, width)
        height += round(doc.size().height()) + m["pad_v"]
        return QSize(_NARROW, height)

    def body_margins(self) -> tuple[int, int, int]:
        """(top, left, right) margins that put an ``EmailBodyView`` under a row's summary."""
        option = QStyleOptionViewItem()
        option.font = self._view.font()
        m = self._metrics(option)
        rect = QRect(0, 0, self._width(), 1)
        return (
            m["lh"] + m["pad_v"] * 2,
            self._content_left(m, rect) - rect.left(),
            m["pad_h"] * 2 + m["icon"],
        )

    def _expanded(self, index: AnyIndex) -> bool:
        return bool(index.data(ExpandedRole))

    # --- painting -----------------------------------------------------------------------

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        item = index.data(RowRole)
        painter.save()
        try:
            if isinstance(item, DayHeader):
                self._paint_header(painter, option, item)
            elif isinstance(item, TimelineEntry):
                self._paint_entry(painter, option, index, item)
            elif isinstance(item, Loading):
                paint_placeholder(painter, option, item.label)
        finally:
            painter.restore()

    def _paint_header(
        self, painter: QPainter, option: QStyleOptionViewItem, item: DayHeader
    ) -> None:
        m = self._metrics(option)
        pal = option.palette
        rect = option.rect
        painter.setFont(bold(m["small"]))
        fm = QFontMetrics(painter.font())
        text = item.label
        tw = fm.horizontalAdvance(text)
        baseline_y = rect.bottom() - m["pad_v"] - fm.descent()
        mid_y = baseline_y - fm.ascent() // 2 + fm.descent() // 2
        cx = rect.left() + rect.width() // 2
        painter.setPen(
            mix(pal.color(QPalette.ColorRole.Base), pal.color(QPalette.ColorRole.Text), 0.18)
        )
        gap = m["em"]
        painter.drawLine(rect.left() + m["pad_h"], mid_y, cx - tw // 2 - gap, mid_y)
        painter.drawLine(cx + tw // 2 + gap, mid_y, rect.right() - m["pad_h"], mid_y)
        painter.setPen(muted_color(pal))
        painter.drawText(QPoint(cx - tw // 2, baseline_y), text)

    def _paint_entry(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: AnyIndex,
        item: TimelineEntry,
    ) -> None:
        m = self._metrics(option)
        pal = option.palette
        rect = option.rect
        event = item.event
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        outbound = event.direction == "outbound"
        # Selection is a soft tint with an accent bar, so text keeps its colours and marks.
        text_color = pal.color(QPalette.ColorRole.Text)
        muted = muted_color(pal)
        base = pal.color(QPalette.ColorRole.Base)
        accent = pal.color(QPalette.ColorRole.Highlight)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        band = rect.adjusted(round(m["pad_h"] * 0.4), 1, -round(m["pad_h"] * 0.4), -1)
        radius = m["lh"] * 0.35
        fill = None
        if selected:
            focused = bool(option.state & QStyle.StateFlag.State_HasFocus)
            fill = mix(base, accent, 0.26 if focused else 0.16)
        elif outbound:
            fill = mix(base, accent, 0.09)
        elif option.state & QStyle.StateFlag.State_MouseOver:
            fill = pal.color(QPalette.ColorRole.AlternateBase)
        if fill is not None:
            painter.setBrush(fill)
            painter.drawRoundedRect(QRectF(band), radius, radius)
        if selected:
            bar = QRectF(band.left(), band.top(), max(2.0, m["em"] * 0.22), band.height())
            painter.setBrush(accent)
            painter.drawRoundedRect(bar, bar.width() / 2, bar.width() / 2)

        top = rect.top() + m["pad_v"]
        fm: QFontMetrics = m["fm"]
        baseline = top + fm.ascent()
        x = rect.left() + m["pad_h"]
        thread = index.data(ThreadRole)
        in_thread = thread is not None and thread[0] > 0
        # mark (a thread's later messages get a connecting line instead)
        if in_thread:
            painter.setPen(mix(base, channel_color(event.channel, pal), 0.55))
            cx = x + m["icon"] // 2
            painter.drawLine(
                cx,
                rect.top(),
                cx,
                rect.bottom() if thread[0] < thread[1] - 1 else top + m["lh"] // 2,
            )
            painter.drawLine(cx, top + m["lh"] // 2, cx + m["icon"] // 2, top + m["lh"] // 2)
        elif not item.continues:
            dpr = painter.device().devicePixelRatioF() if painter.device() else 1.0
            color = channel_color(event.channel, pal)
            pm = pixmap(_icon_for(event.channel), color, m["icon"], dpr)
            painter.drawPixmap(QPoint(x, top + (m["lh"] - m["icon"]) // 2), pm)
        x += m["icon"] + m["gap"]
        # time
        painter.setFont(m["small"])
        sfm: QFontMetrics = m["sfm"]
        painter.setPen(muted)
        painter.drawText(QPoint(x, baseline), fmt.time_of_day(item.local_time))
        x += m["time_w"]
        # who
        right = rect.right() - m["pad_h"] - m["icon"] - m["gap"]
        name = item.who
        if not item.continues and name:
            wfont = bold(m["font"])
            painter.setFont(wfont)
            if outbound:
                painter.setPen(pal.color(QPalette.ColorRole.Link))
            else:
                painter.setPen(text_color)
            wfm = QFontMetrics(wfont)
            painter.drawText(
                QPoint(x, baseline), wfm.elidedText(name, Qt.TextElideMode.ElideRight, m["who_w"])
            )
        x += m["who_w"] + m["gap"]
        if thread is not None and thread[0] == 0:  # the newest message heads the thread
            painter.setFont(m["small"])
            label = f"{thread[1]} messages"
            pill_w = sfm.horizontalAdvance(label) + m["em"]
            pill = QRectF(
                right - pill_w, top + (m["lh"] - sfm.height()) / 2 - 1, pill_w, sfm.height() + 2
            )
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(mix(base, channel_color(event.channel, pal), 0.16))
            painter.drawRoundedRect(pill, pill.height() / 2, pill.height() / 2)
            painter.setPen(muted)
            painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, label)
            right -= round(pill_w + m["gap"])
        elif in_thread:
            x += round(m["em"] * 0.8)
        # summary
        font = QFont(m["font"])
        if event.direction == "system":
            font.setItalic(True)
        painter.setFont(font)
        sfm_body = QFontMetrics(font)
        line = sfm_body.elidedText(summary(event), Qt.TextElideMode.ElideRight, max(0, right - x))
        terms = index.data(TermsRole) or ()
        if terms:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(
                mix(
                    pal.color(QPalette.ColorRole.Base),
                    pal.color(QPalette.ColorRole.Highlight),
                    0.35,
                )
            )
            for start, end in fmt.match_spans(line, terms):
                x0 = x + sfm_body.horizontalAdvance(line[:start])
                w = sfm_body.horizontalAdvance(line[start:end])
                painter.drawRoundedRect(QRectF(x0 - 1, top, w + 2, m["lh"]), 2, 2)
        painter.setPen(muted if event.direction == "system" else text_color)
        painter.drawText(QPoint(x, baseline), line)
        # chevron
        expanded = self._expanded(index)
        chev = pixmap(
            "chevron-down" if expanded else "chevron-right",
            muted,
            round(m["icon"] * 0.8),
            painter.device().devicePixelRatioF() if painter.device() else 1.0,
        )
        painter.drawPixmap(
            QPoint(rect.right() - m["pad_h"] - round(m["icon"] * 0.8), top + m["lh"] // 10), chev
        )
        y = top + m["lh"]
        # order items preview
        if event.order is not None and event.order.lines:
            painter.setFont(m["small"])
            painter.setPen(muted)
            items = ", ".join(f"{ln.name} ×{ln.quantity}" for ln in event.order.lines)
            painter.drawText(
                QPoint(x, y + sfm.ascent()),
                sfm.elidedText(items, Qt.TextElideMode.ElideRight, max(0, right - x)),
            )
            y += sfm.height()
        # expanded content (an HTML email draws its own view over this part)
        if expanded and not reads_in_view(event):
            doc = self._document(item, index, option, self._width())
            left = self._content_left(m, rect)
            painter.translate(left, y + m["pad_v"] // 2)
            ctx = QAbstractTextDocumentLayout.PaintContext()
            ctx.palette.setColor(QPalette.ColorRole.Text, text_color)
            doc.documentLayout().draw(painter, ctx)

    # --- expanded documents -------------------------------------------------------------

    def _document(
        self, item: TimelineEntry, index: AnyIndex, option: QStyleOptionViewItem, width: int
    ) -> QTextDocument:
        m = self._metrics(option)
        pal = option.palette
        terms = tuple(index.data(TermsRole) or ())
        text_width = max(
            m["em"] * 10,
            width - self._content_left(m, QRect(0, 0, width, 1)) - m["pad_h"] * 2 - m["icon"],
        )
        key = (item.event.id, text_width, terms, is_dark(pal), option.font.key())
        doc = self._docs.get(key)
        if doc is not None:
            self._docs.move_to_end(key)
            return doc
        doc = SafeDocument()
        doc.setDocumentMargin(0)
        doc.setDefaultFont(option.font)
        doc.setHtml(event_html(item.event, terms, pal, getattr(index.model(), "tz", UTC)))
        doc.setTextWidth(text_width)
        self._docs[key] = doc
        while len(self._docs) > _DOC_CACHE:
            self._docs.popitem(last=False)
        return doc

    def clear_cache(self) -> None:
        """Forget laid-out documents and sizes (after a palette or font change)."""
        self._docs.clear()
        self._heights = None

    def helpEvent(
        self,
        event: QHelpEvent,
        view: QAbstractItemView,
        option: QStyleOptionViewItem,
        index: AnyIndex,
    ) -> bool:
        item = index.data(RowRole)
        if isinstance(item, TimelineEntry) and event.type() == event.Type.ToolTip:
            m = self._metrics(option)
            mark = QRect(
                option.rect.left() + m["pad_h"],
                option.rect.top(),
                m["icon"],
                m["lh"] + m["pad_v"] * 2,
            )
            if mark.contains(event.pos()):
                QToolTip.showText(event.globalPos(), tip(channel_label(item.event.channel)), view)
                return True
        return super().helpEvent(event, view, option, index)


def _icon_for(channel: str) -> str:
    return channel if channel in ("email", "chat", "order") else "messages"


def event_html(event: EventRow, terms: tuple[str, ...], palette: QPalette, tz: tzinfo = UTC) -> str:
    """The expanded content of an event as HTML (escaped; matches highlighted)."""
    hl = highlight_style(palette)
    muted = muted_color(palette).name()
    parts: list[str] = []
    if event.order is not None:
        parts.append(order_html(event.order, event, muted))
    else:
        if event.channel == "email" and event.title:
            title = fmt.highlight_html(event.title, terms, hl)
            parts.append(f"<p style='margin-bottom:6px'><b>{title}</b></p>")
        if event.channel == "email":
            parts.append(headers_html(event, muted, tz) + "<p style='margin:0'></p>")
        body = event.text.strip() or "(no text)"
        parts.append(
            f"<div style='white-space: pre-wrap'>{fmt.highlight_html(body, terms, hl)}</div>"
        )
        extras = fmt.chat_extras(event.details, event.text) if event.channel == "chat" else []
        if extras:
            lines = "<br>".join(html.escape(line) for line in extras)
            parts.append(f"<p style='color:{muted}; margin-top:6px'>{lines}</p>")
        found = attachments_of(event)
        if found:
            items = "<br>".join(html.escape(fmt.attachment_text(a)) for a in found)
            parts.append(
                f"<p style='color:{muted}; margin-top:6px'>"
                f"{fmt.plural(len(found), 'attachment')} (recorded, not downloaded):<br>{items}</p>"
            )
    where = fmt.join_nonempty((fmt.source_name(event.source), event.locator))
    if where:
        style = f"color:{muted}; font-size: small; margin-top:6px"
        parts.append(f"<p style='{style}'>Source: {html.escape(where)}</p>")
    return "".join(parts)


def order_html(order: OrderRow, event: EventRow, muted: str) -> str:
    """An order's items, totals and statuses as an HTML table."""
    cur = order.currency
    rows = []
    for ln in order.lines:
        line_total = ln.unit_price * ln.quantity if ln.unit_price is not None else None
        rows.append(
            "<tr>"
            f"<td>{html.escape(ln.name)}"
            + (f" <span style='color:{muted}'>{html.escape(ln.sku)}</span>" if ln.sku else "")
            + f"</td><td align='right' style='color:{muted}'>×{ln.quantity}</td>"
            f"<td align='right'>{esc(fmt.money(line_total, cur))}</td></tr>"
        )
    figures = [
        ("Subtotal", order.subtotal),
        ("Shipping", order.shipping),
        ("Tax", order.tax),
        ("Discount", -order.discount if order.discount else None),
        ("Refunded", -order.refunded if order.refunded else None),
    ]
    for label, value in figures:
        if value is not None and value != 0:
            rows.append(
                f"<tr><td colspan='2' align='right' style='color:{muted}'>{label}</td>"
                f"<td align='right'>{esc(fmt.money(value, cur))}</td></tr>"
            )
    rows.append(
        "<tr><td colspan='2' align='right'><b>Total</b></td>"
        f"<td align='right'><b>{esc(fmt.money(order.total, cur))}</b></td></tr>"
    )
    status = fmt.join_nonempty(
        (
            f"Payment: {order.financial_status}" if order.financial_status else "",
            f"Fulfilment: {order.fulfillment_status}" if order.fulfillment_status else "",
        )
    )
    details = event.details if isinstance(event.details, dict) else {}
    prev = details.get("previous")
    change = fmt.order_change(order, prev)
    extras = "".join(
        f"<p style='margin-top:2px; white-space: pre-wrap'>"
        f"<span style='color:{muted}'>{html.escape(label)}:</span> {html.escape(value)}</p>"
        for label, value in order_details(details)
    )
    return (
        "<table width='66%' cellspacing='0' cellpadding='2'>"
        + "".join(rows)
        + "</table>"
        + (f"<p style='margin-top:4px'>{html.escape(status)}</p>" if status else "")
        + (
            f"<p style='margin-top:2px'><b>Changed by a newer export:</b> {html.escape(change)}</p>"
            if change
            else ""
        )
        + extras
    )
