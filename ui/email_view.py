"""An HTML email expanded in the timeline: the sanitised HTML, a plain-text toggle, attachments.

Email from HTML mail carries ``details["html"]``: HTML already sanitised by
the importer (``nh3``), with no scripts. It is shown in ``SafeTextBrowser``,
a ``QTextBrowser`` that never fetches anything: links do not open by
themselves, and ``loadResource`` returns nothing for every URL that is not a
``data:`` URL, so tracking pixels and remote images stay unloaded (each
refused URL is kept in ``refused``). "Show plain text" swaps in the text the
index and the PDF use. Attachments are listed by name, type and size (they
are recorded, not downloaded).

``EmailBodyView`` sits over an expanded timeline row (``setIndexWidget``):
its top margin leaves the row's one-line summary, painted by the delegate,
visible; a click there collapses the row like a click on any other row.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices, QMouseEvent, QTextDocument
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.queries import EventRow
from ui import formatting as fmt
from ui.marks import muted_color
from ui.safe_text import blank_resource, esc, inline_resource, rich_label
from ui.widgets import muted_label

log = logging.getLogger(__name__)

MAX_LINES = 28  # taller mail scrolls inside its own view
_LINK_SCHEMES = ("http", "https", "mailto")
_REMOTE = re.compile(r"""(?:src|background)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def html_of(event: EventRow) -> str | None:
    """The sanitised HTML of an email event, or None for plain mail and other events."""
    if event.channel != "email" or not isinstance(event.details, dict):
        return None
    value = event.details.get("html")
    return value if isinstance(value, str) and value.strip() else None


def attachments_of(event: EventRow) -> list[dict[str, Any]]:
    """The attachments recorded on an event (name, type, size), as stored."""
    found = event.details.get("attachments") if isinstance(event.details, dict) else None
    return [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []


class SafeTextBrowser(QTextBrowser):
    """A text browser that loads no resource except inline ``data:`` URLs.

    Signals:
        (only those of QTextBrowser)
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.refused: list[str] = []
        self.setOpenExternalLinks(False)
        self.setOpenLinks(False)
        self.setSearchPaths([])
        self.anchorClicked.connect(self._link_clicked)

    def loadResource(self, type: int, name: QUrl) -> Any:
        if name.scheme().lower() == "data":
            return inline_resource(type, name)
        self.refused.append(name.toString())
        log.debug("refused to load a %s resource", name.scheme() or "relative")
        # never None: Qt would then read the URL as a local file path itself
        return blank_resource(type)

    def _link_clicked(self, url: QUrl) -> None:
        """A link the user clicked opens in their browser or mail program (never by itself)."""
        if url.scheme().lower() in _LINK_SCHEMES:
            QDesktopServices.openUrl(url)


class EmailBodyView(QWidget):
    """The expanded part of an HTML email row.

    Signals:
        height_changed(): the view wants another height (plain text toggled).
        header_clicked(): the row's summary line (above the body) was clicked.
    """

    height_changed = Signal()
    header_clicked = Signal()

    def __init__(
        self, event: EventRow, *, top: int, left: int, right: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.email = event
        self.setObjectName("emailBody")
        self.setAccessibleName(f"Email: {event.title or '(no subject)'}")
        self._top = top
        layout = QVBoxLayout(self)
        fm = self.fontMetrics()
        layout.setContentsMargins(left, top, right, round(fm.height() * 0.3))
        layout.setSpacing(round(fm.height() * 0.25))
        bar = QHBoxLayout()
        self.subject = rich_label(f"<b>{esc(event.title or '(no subject)')}</b>")
        self.subject.setAccessibleName("Subject")
        self.subject.setWordWrap(True)
        self.toggle = QToolButton()
        self.toggle.setObjectName("plainTextToggle")
        self.toggle.setText("Show plain text")
        self.toggle.setAccessibleName("Show plain text")
        self.toggle.setToolTip("Show the message as plain text instead of formatted")
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.toggled.connect(self.show_plain)
        bar.addWidget(self.subject, 1)
        bar.addWidget(self.toggle)
        layout.addLayout(bar)
        self.browser = SafeTextBrowser()
        self.browser.setObjectName("emailBrowser")
        self.browser.setAccessibleName("Message")
        self.browser.setFrameShape(QFrame.Shape.StyledPanel)
        self.browser.document().setDocumentMargin(round(fm.height() * 0.4))
        self.remote_note = muted_label(
            "Remote images were not loaded: they can tell the sender when you read a message."
        )
        self.remote_note.setObjectName("remoteNote")
        self.remote_note.setWordWrap(True)
        self._remote = bool(_REMOTE.search(html_of(event) or ""))
        layout.addWidget(self.remote_note)
        layout.addWidget(self.browser)
        self.attachments = muted_label(rich=True)
        self.attachments.setObjectName("emailAttachments")
        self.attachments.setAccessibleName("Attachments")
        self.attachments.setWordWrap(True)
        found = attachments_of(event)
        if found:
            color = muted_color(self.palette()).name()
            lines = "<br>".join(esc(fmt.attachment_text(a)) for a in found)
            self.attachments.setText(
                f"<span style='color:{color}'>{fmt.plural(len(found), 'attachment')} "
                f"(recorded, not downloaded):<br>{lines}</span>"
            )
        self.attachments.setVisible(bool(found))
        layout.addWidget(self.attachments)
        self.show_plain(False)

    def show_plain(self, plain: bool) -> None:
        """Show the plain text (True) or the formatted HTML (False)."""
        self.toggle.setText("Show formatted" if plain else "Show plain text")
        self.remote_note.setVisible(self._remote and not plain)
        if plain:
            self.browser.setPlainText(self.email.text or "(no text)")
        else:
            self.browser.setHtml(html_of(self.email) or esc(self.email.text))
        self.height_changed.emit()

    def height_for(self, width: int) -> int:
        """The height this view needs at ``width`` (the body is capped at ``MAX_LINES``)."""
        margins = self.layout().contentsMargins()
        inner = max(1, width - margins.left() - margins.right())
        frame = self.browser.frameWidth() * 2
        doc: QTextDocument = self.browser.document()  # never a clone: it would load resources
        doc.setTextWidth(
            max(1, inner - frame - self.browser.verticalScrollBar().sizeHint().width())
        )
        cap = self.fontMetrics().lineSpacing() * MAX_LINES
        body = min(cap, round(doc.size().height()) + frame + 2)
        self.browser.setFixedHeight(body)
        spacing = self.layout().spacing()
        height = margins.top() + margins.bottom() + body + spacing
        height += self.subject.heightForWidth(inner - self.toggle.sizeHint().width())
        for label in (self.attachments, self.remote_note):
            if not label.isHidden():
                height += spacing + label.heightForWidth(inner)
        self.layout().invalidate()
        return max(height, self.heightForWidth(width)) + spacing

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.position().y() < self._top:
            self.header_clicked.emit()
            event.accept()
            return
        super().mousePressEvent(event)
