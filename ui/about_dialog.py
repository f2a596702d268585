"""Help → About: the version, and the licences of the components shipped with Threadline.

Both come from ``app.about`` (the installed packages' own metadata), shown as
plain text in a read-only, scrollable view.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QPlainTextEdit, QVBoxLayout, QWidget

from app import about
from ui.marks import icon
from ui.safe_text import plain_label
from ui.widgets import muted_label


class AboutDialog(QDialog):
    """Threadline's name, version and purpose, then every bundled component's licence."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Threadline")
        self.setObjectName("aboutDialog")
        self.setAccessibleName("About Threadline")
        self.version = about.version()
        layout = QVBoxLayout(self)
        logo = plain_label()
        size = self.fontMetrics().height() * 3
        logo.setPixmap(icon("logo").pixmap(size, size))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        logo.setAccessibleName("Threadline logo")
        layout.addWidget(logo)
        self.title = plain_label(f"Threadline {self.version}")
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setWeight(QFont.Weight.Bold)
        self.title.setFont(font)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setAccessibleName("Version")
        layout.addWidget(self.title)
        blurb = plain_label(
            "Every email, chat and order from one customer, in one searchable timeline. "
            "Your data stays on this computer."
        )
        blurb.setWordWrap(True)
        blurb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(blurb)
        layout.addWidget(muted_label("Threadline is built on these components:", small=False))
        self.licences = QPlainTextEdit()
        self.licences.setReadOnly(True)
        self.licences.setAccessibleName("Licences of bundled components")
        self.licences.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        text = about.licences_text()
        fonts = about.fonts_licence()
        if fonts:
            text += "\n\n— Noto fonts licence —\n\n" + fonts
        self.licences.setPlainText(text)
        layout.addWidget(self.licences, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)
        em = self.fontMetrics().horizontalAdvance("M")
        self.resize(em * 42, self.fontMetrics().lineSpacing() * 28)
