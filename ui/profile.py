"""The right-hand profile: contact points with where each was seen, and the customer's figures.

Shows first and last contact, how many events and orders, what was spent per
currency, and every identity (email, phone, chat handle, shop customer id)
with its source. It only displays a ``CustomerRow`` handed to it; it never
reads the database itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.queries import CustomerRow, IdentityRow
from ui import formatting as fmt
from ui.marks import icon, muted_color
from ui.timeline import fmt_phone
from ui.widgets import muted_label, section_heading

_KIND_ICON = {"email": "email", "phone": "phone"}
_KIND_LABEL = {"email": "Email", "phone": "Phone", "handle": "Chat", "platform_id": "Shop id"}


class ProfilePane(QScrollArea):
    """Figures and contact points of the shown customer.

    Signals:
        (none of its own)
    """

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
        self.show_customer(None)

    def show_customer(self, row: CustomerRow | None) -> None:
        """Show ``row`` (or the empty state)."""
        _clear(self.grid)
        _clear(self.identities)
        self.values = {}
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
            figures.append(
                ("Spent", "\n".join(fmt.money(v, c) for c, v in sorted(o.totals.items())))
            )
        if o.last_order is not None:
            figures.append(("Last order", fmt.when(o.last_order, now, self._tz)))
        for r, (label, value) in enumerate(figures):
            name = muted_label(label, small=False)
            val = QLabel(value)
            val.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            val.setAccessibleName(label)
            val.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            name.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            self.grid.addWidget(name, r, 0)
            self.grid.addWidget(val, r, 1)
            name.show()
            val.show()
            self.values[label] = val
        if not row.identities:
            self.identities.addWidget(muted_label("None recorded."))
        for ident in row.identities:
            widget = self._identity_widget(ident)
            self.identities.addWidget(widget)
            widget.show()

    def _identity_widget(self, ident: IdentityRow) -> QWidget:
        box = QWidget()
        lay = QHBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        fm = self.fontMetrics()
        lay.setSpacing(round(fm.horizontalAdvance("M") * 0.5))
        mark = QLabel()
        size = fm.height()
        mark.setPixmap(
            icon(
                _KIND_ICON.get(ident.kind, "person"), self.palette(), muted_color(self.palette())
            ).pixmap(size, size)
        )
        mark.setAlignment(Qt.AlignmentFlag.AlignTop)
        mark.setToolTip(_KIND_LABEL.get(ident.kind, ident.kind))
        text = QVBoxLayout()
        text.setSpacing(0)
        shown = fmt_phone(ident.value) if ident.kind == "phone" else (ident.raw or ident.value)
        if ident.platform and ident.kind in ("handle", "platform_id"):
            shown = f"{shown} ({ident.platform})"
        value = QLabel(shown)
        value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        value.setWordWrap(True)
        value.setAccessibleName(_KIND_LABEL.get(ident.kind, ident.kind))
        source = muted_label(f"from {ident.source}" if ident.source else "")
        text.addWidget(value)
        if ident.source:
            text.addWidget(source)
        lay.addWidget(mark, 0, Qt.AlignmentFlag.AlignTop)
        lay.addLayout(text, 1)
        return box


def _clear(layout: QGridLayout | QVBoxLayout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        widget = item.widget() if item is not None else None
        if widget is not None:
            widget.hide()
            widget.deleteLater()
