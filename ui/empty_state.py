"""The first-run panel: what Threadline does and how to start — Import…, a mailbox, or the demo.

Shown instead of the three panes while the database has no customers. On a
database nobody has set up yet it also holds the welcome's questions
(``show_welcome``); each button then saves the answers before it acts.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, SignalInstance
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from ui.marks import CHANNEL_ORDER, channel_color, icon, pixmap
from ui.safe_text import plain_label
from ui.welcome import WelcomeForm
from ui.widgets import muted_label


class EmptyState(QWidget):
    """ "Import your mail, chats and orders" with the buttons that do it.

    Signals:
        import_clicked(): the user wants to import files.
        mailbox_clicked(): the user wants to connect a mail account.
        demo_clicked(): the user wants to try the demo (it opens in its own database).
    """

    import_clicked = Signal()
    mailbox_clicked = Signal()
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
        self.title = title
        self.welcome: WelcomeForm | None = None
        self._column = column
        body = muted_label(
            "Threadline puts everything one customer sent or bought — email, WhatsApp chats, "
            "Shopify orders — into one timeline you can search. Everything stays on this computer.",
            small=False,
        )
        body.setWordWrap(True)
        body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column.addWidget(body)
        self.body = body
        hint = muted_label(
            "Supported: mail (mbox, .eml, Maildir, Outlook .pst, .msg and .olm, Apple Mail), "
            "chats (WhatsApp, Messenger, Instagram, Telegram, LINE, Slack, Zendesk), an Android "
            "phone's texts and calls (SMS Backup & Restore, Google Voice), an iPhone's texts "
            "(iMazing, imessage-exporter), orders (Shopify, Squarespace, WooCommerce, Etsy, "
            "eBay, Stripe, PayPal, Square, Amazon, any orders CSV) and address books (.vcf; "
            "Google Contacts, Outlook and Thunderbird .csv; Shopify's customers), also zipped "
            "as they download. You can also drop files anywhere on this window."
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
        self.import_button.clicked.connect(lambda: self._go(self.import_clicked))
        self.mailbox_button = QPushButton(icon("server", self.palette()), "Connect a Mailbox…")
        self.mailbox_button.setObjectName("emptyMailbox")
        self.mailbox_button.setAccessibleName("Connect a mailbox")
        self.mailbox_button.setToolTip("Add an email account; its mail is fetched with Sync")
        self.mailbox_button.clicked.connect(lambda: self._go(self.mailbox_clicked))
        self.demo_button = QPushButton(icon("sparkle", self.palette()), "Try the demo")
        self.demo_button.setObjectName("emptyDemo")
        self.demo_button.setAccessibleName("Try the demo")
        self.demo_button.setToolTip(
            "Opens a sample flower shop in its own database; your data is not touched. "
            "File → Leave Demo comes back here."
        )
        self.demo_button.clicked.connect(lambda: self._go(self.demo_clicked))
        pad = round(fm.height() * 0.4)
        for b in (self.import_button, self.mailbox_button, self.demo_button):
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

    def show_welcome(self, form: WelcomeForm) -> None:
        """Ask the welcome's questions above the buttons (first run only)."""
        self.welcome = form
        self.title.setText("Welcome to Threadline")
        self.body.setText(
            "Tell Threadline who you are: messages from your own addresses, numbers and "
            "chat names are yours, never a customer's. Then bring in your mail, chats and orders."
        )
        self._column.insertWidget(self._column.indexOf(self.body) + 1, form)
        form.saved.connect(self._welcomed)

    def _welcomed(self) -> None:
        if self.welcome is not None:
            self.welcome.hide()
        self.title.setText("Import your mail, chats and orders")

    def _go(self, signal: SignalInstance) -> None:
        if self.welcome is not None and self.welcome.isVisible():
            self.welcome.save(signal.emit)
        else:
            signal.emit()
