"""The first-run panel: what Threadline does and how to start — Import…, or try the demo.

Shown instead of the three panes while the database has no customers.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from ui.marks import CHANNEL_ORDER, channel_color, icon, pixmap
from ui.safe_text import plain_label
from ui.widgets import muted_label


class EmptyState(QWidget):
    """ "Import your mail, chats and orders" with the buttons that do it.

    Signals:
        import_clicked(): the user wants to import files.
        demo_clicked(): the user wants to try the demo (it opens in its own database).
    """

    import_clicked = Signal()
    demo_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        self.setAccessibleName("Getting started")
        fm = self.fontMetrics()
        em = fm.horizontalAdvance("M")
        outer = QVBoxLayout(self)
        outer.addStretch(2)
        holder = QWidget()
        holder.setMaximumWidth(em * 42)
        holder.setMinimumWidth(em * 30)
        column = QVBoxLayout(holder)
        column.setSpacing(round(fm.height() * 0.6))

        marks = QHBoxLayout()
        marks.addStretch(1)
        size = fm.height() * 2
        for channel in CHANNEL_ORDER:
            mark = plain_label()
            mark.setPixmap(
                pixmap(
                    channel, channel_color(channel, self.palette()), size, self.devicePixelRatioF()
                )
            )
            mark.setAccessibleName(f"{channel} icon")
            marks.addWidget(mark)
            marks.addSpacing(em)
        marks.addStretch(1)
        column.addLayout(marks)

        title = plain_label("Import your mail, chats and orders")
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 1.7)
        font.setWeight(QFont.Weight.Bold)
        title.setFont(font)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column.addWidget(title)
        body = muted_label(
            "Threadline puts everything one customer sent or bought — email, WhatsApp chats, "
            "Shopify orders — into one timeline you can search. Everything stays on this computer.",
            small=False,
        )
        body.setWordWrap(True)
        body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column.addWidget(body)
        hint = muted_label(
            "Supported: mbox and .eml mail, WhatsApp chat exports (.txt), Shopify order "
            "exports (.csv). You can also drop files anywhere on this window."
        )
        hint.setWordWrap(True)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column.addWidget(hint)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.import_button = QPushButton(icon("import", self.palette()), "Import…")
        self.import_button.setObjectName("emptyImport")
        self.import_button.setAccessibleName("Import files")
        self.import_button.setDefault(True)
        self.import_button.setAutoDefault(True)
        self.import_button.clicked.connect(self.import_clicked)
        self.demo_button = QPushButton(icon("sparkle", self.palette()), "Try the demo")
        self.demo_button.setObjectName("emptyDemo")
        self.demo_button.setAccessibleName("Try the demo")
        self.demo_button.setToolTip(
            "Opens a sample flower shop in its own database; your data is not touched. "
            "File → Leave Demo comes back here."
        )
        self.demo_button.clicked.connect(self.demo_clicked)
        pad = round(fm.height() * 0.4)
        for b in (self.import_button, self.demo_button):
            b.setMinimumHeight(fm.height() + pad * 3)
            b.setMinimumWidth(em * 11)
            buttons.addWidget(b)
        buttons.addStretch(1)
        column.addSpacing(pad)
        column.addLayout(buttons)
        centred = QHBoxLayout()
        centred.addStretch(1)
        centred.addWidget(holder, 4)
        centred.addStretch(1)
        outer.addLayout(centred)
        outer.addStretch(3)
