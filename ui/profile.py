"""The right-hand profile: contact points with where each was seen, and the customer's figures.

Shows first and last contact, how many events and orders, what was spent per
currency (net of refunds), the average order value per currency, the first
and last order, and every identity (email, phone, chat handle, shop customer
id) with its source. Each contact point has a "⋯" button (and a context
menu) to move it out to a new or another customer; the pane only asks for
that through its signals. It only displays a ``CustomerRow`` handed to it;
it never reads the database itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from decimal import Decimal

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.service import CustomerRow, IdentityRow
from ui import formatting as fmt
from ui.marks import icon, muted_color
from ui.safe_text import plain_label, tip
from ui.widgets import muted_label, section_heading

_KIND_ICON = {"email": "email", "phone": "phone"}
_KIND_LABEL = {"email": "Email", "phone": "Phone", "handle": "Chat", "platform_id": "Shop id"}


def identity_text(ident: IdentityRow) -> str:
    """A contact point as people read it: formatted numbers, the platform of a handle."""
    return fmt.identity_text(ident)


def kind_label(kind: str) -> str:
    """ "Email", "Phone", "Chat", "Shop id"."""
    return _KIND_LABEL.get(kind, kind.capitalize())


def kind_icon(kind: str) -> str:
    """The icon name for a kind of contact point."""
    return _KIND_ICON.get(kind, "person")


def money_lines(amounts: Mapping[str, Decimal]) -> str:
    """One amount per currency, one per line."""
    return "\n".join(fmt.money(v, c) for c, v in sorted(amounts.items()))


class ProfilePane(QScrollArea):
    """Figures and contact points of the shown customer.

    Signals:
        move_to_new_requested(object, object): move this ``IdentityRow`` of this
            ``CustomerRow`` out to a new customer.
        move_to_other_requested(object, object): move it to a customer the user picks.
    """

    move_to_new_requested = Signal(object, object)
    move_to_other_requested = Signal(object, object)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        tz: tzinfo = UTC,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(parent)
        self._tz = tz
        self._now = now
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAccessibleName("Profile")
        self.body = QWidget()
        self.body.setAccessibleName("Profile details")
        self.setWidget(self.body)
        fm = self.fontMetrics()
        m = round(fm.height() * 0.6)
        self.layout_ = QVBoxLayout(self.body)
        self.layout_.setContentsMargins(m, m, m, m)
        self.layout_.setSpacing(round(fm.height() * 0.3))
        # The customer in three lines (app.brief), shown first; plain text, never HTML.
        self.brief_heading = section_heading("In three lines")
        self.layout_.addWidget(self.brief_heading)
        self.brief_lines: list[QLabel] = []
        for i in range(3):
            line = plain_label("")
            line.setWordWrap(True)
            line.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            line.setAccessibleName(("Who", "Last contact", "Last bought")[i])
            self.brief_lines.append(line)
            self.layout_.addWidget(line)
        self.layout_.addSpacing(round(fm.height() * 0.4))
        self.layout_.addWidget(section_heading("Profile"))
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(fm.horizontalAdvance("M"))
        self.grid.setVerticalSpacing(round(fm.height() * 0.2))
        self.grid.setColumnStretch(1, 1)
        self.layout_.addLayout(self.grid)
        self.layout_.addSpacing(round(fm.height() * 0.4))
        self.layout_.addWidget(section_heading("Contact points"))
        self.identities = QVBoxLayout()
        self.identities.setSpacing(round(fm.height() * 0.25))
        self.layout_.addLayout(self.identities)
        self.layout_.addStretch(1)
        self.values: dict[str, QLabel] = {}
        self.identity_buttons: dict[int, QToolButton] = {}
        self.customer: CustomerRow | None = None
        self.show_customer(None)

    def show_customer(self, row: CustomerRow | None) -> None:
        """Show ``row`` (or the empty state)."""
        _clear(self.grid)
        _clear(self.identities)
        self.values = {}
        self.identity_buttons = {}
        if row is None or self.customer is None or row.id != self.customer.id:
            self.show_brief(None)
        self.customer = row
        if row is None:
            self.identities.addWidget(muted_label("No customer selected."))
            return
        now = self._now()
        o = row.orders
        figures: list[tuple[str, str]] = [
            ("First contact", fmt.when(row.first_seen, now, self._tz)),
            ("Last contact", fmt.when(row.last_seen, now, self._tz)),
            ("Events", f"{row.event_count:,}"),
            ("Orders", f"{o.count:,}"),
        ]
        if o.totals:
            figures.append(("Spent", money_lines(o.totals)))
        if o.averages:
            figures.append(("Average order", money_lines(o.averages)))
        if o.first_order is not None and o.count > 1:
            figures.append(("First order", fmt.when(o.first_order, now, self._tz)))
        if o.last_order is not None:
            figures.append(("Last order", fmt.when(o.last_order, now, self._tz)))
        tips = {
            "Spent": "Order totals per currency, less refunds; cancelled orders count as nothing",
            "Average order": "What an order came to on average, per currency, less refunds",
        }
        for r, (label, value) in enumerate(figures):
            name = muted_label(label, small=False)
            val = plain_label(value)
            val.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            val.setAccessibleName(label)
            val.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            name.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            if label in tips:
                name.setToolTip(tip(tips[label]))
                val.setToolTip(tip(tips[label]))
            self.grid.addWidget(name, r, 0)
            self.grid.addWidget(val, r, 1)
            name.show()
            val.show()
            self.values[label] = val
        if not row.identities:
            self.identities.addWidget(muted_label("None recorded."))
        for ident in row.identities:
            widget = self._identity_widget(row, ident)
            self.identities.addWidget(widget)
            widget.show()

    def show_brief(self, lines: Sequence[str] | None) -> None:
        """Show the customer's three-line brief (hidden when None)."""
        texts = list(lines or ())[:3]
        self.brief_heading.setVisible(bool(texts))
        for i, label in enumerate(self.brief_lines):
            label.setText(texts[i] if i < len(texts) else "")
            label.setVisible(i < len(texts))

    def identity_menu(self, ident: IdentityRow) -> QMenu:
        """The actions on one contact point of the shown customer."""
        row = self.customer
        menu = QMenu(self)
        menu.setAccessibleName(f"Actions for {identity_text(ident)}")
        to_new = QAction("Move to a &New Customer…", menu)
        to_other = QAction("Move to &Another Customer…", menu)
        only_one = row is None or len(row.identities) < 2
        to_new.setEnabled(not only_one)
        if only_one:
            to_new.setToolTip("This is the customer's only contact point")
        menu.setToolTipsVisible(True)
        if row is not None:
            to_new.triggered.connect(lambda: self.move_to_new_requested.emit(row, ident))
            to_other.triggered.connect(lambda: self.move_to_other_requested.emit(row, ident))
        menu.addAction(to_new)
        menu.addAction(to_other)
        return menu

    def _identity_widget(self, row: CustomerRow, ident: IdentityRow) -> QWidget:
        box = QWidget()
        box.setAccessibleName(f"{kind_label(ident.kind)} {identity_text(ident)}")
        lay = QHBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        fm = self.fontMetrics()
        lay.setSpacing(round(fm.horizontalAdvance("M") * 0.5))
        mark = plain_label()
        size = fm.height()
        mark.setPixmap(
            icon(kind_icon(ident.kind), self.palette(), muted_color(self.palette())).pixmap(
                size, size
            )
        )
        mark.setAlignment(Qt.AlignmentFlag.AlignTop)
        mark.setToolTip(tip(kind_label(ident.kind)))
        text = QVBoxLayout()
        text.setSpacing(0)
        value = plain_label(identity_text(ident))
        value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        value.setWordWrap(True)
        value.setAccessibleName(kind_label(ident.kind))
        text.addWidget(value)
        if ident.source:
            text.addWidget(muted_label(f"from {fmt.source_name(ident.source)}"))
        more = QToolButton()
        more.setObjectName(f"identityActions_{ident.id}")
        more.setIcon(icon("more", self.palette(), muted_color(self.palette())))
        more.setAutoRaise(True)
        more.setToolTip("Move this contact point to a new or another customer")
        more.setAccessibleName(f"Actions for {identity_text(ident)}")
        more.clicked.connect(lambda _c=False, b=more, i=ident: self._button_menu(b, i))
        self.identity_buttons[ident.id] = more
        box.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        box.customContextMenuRequested.connect(
            lambda pos, b=box, i=ident: self._context_menu(b, i, pos)
        )
        lay.addWidget(mark, 0, Qt.AlignmentFlag.AlignTop)
        lay.addLayout(text, 1)
        lay.addWidget(more, 0, Qt.AlignmentFlag.AlignTop)
        return box

    def _button_menu(self, button: QToolButton, ident: IdentityRow) -> None:
        menu = self.identity_menu(ident)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(button.mapToGlobal(button.rect().bottomLeft()))

    def _context_menu(self, box: QWidget, ident: IdentityRow, pos: QPoint) -> None:
        menu = self.identity_menu(ident)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(box.mapToGlobal(pos))


def _clear(layout: QGridLayout | QVBoxLayout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        widget = item.widget() if item is not None else None
        if widget is not None:
            widget.hide()
            widget.deleteLater()
