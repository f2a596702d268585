"""An HTML email expanded in the timeline: the sanitised HTML, a plain-text toggle, attachments.

Email from HTML mail carries ``details["html"]``: HTML already sanitised by
the importer (``nh3``), with no scripts. It is shown in ``SafeTextBrowser``,
a ``QTextBrowser`` that never fetches anything: links do not open by
themselves, and ``loadResource`` returns nothing for every URL that is not a
``data:`` URL, so tracking pixels and remote images stay unloaded (each
refused URL is kept in ``refused``). "Show plain text" swaps in the text the
index and the PDF use. Attachments are listed by name, type and size (they
are recorded, not downloaded).

Above the body: From, To, Cc and the date. Remote images stay blocked
("Remote images blocked"); "Show images once" fetches the message's own
``http(s)`` images through Qt's network stack (``QNetworkAccessManager``,
no redirect to a less safe scheme, a size cap) into this view only: they are
kept by the view, never stored, and gone when the row collapses. Nothing
else is ever loaded — no file, no relative URL, no other scheme. Search
matches are highlighted inside the HTML too, and a message taller than
``MAX_LINES`` lines is collapsed with "Show more".

``EmailBodyView`` sits over an expanded timeline row (``setIndexWidget``):
its top margin leaves the row's one-line summary, painted by the delegate,
visible; a click there collapses the row like a click on any other row.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, tzinfo
from typing import Any

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QDesktopServices,
    QFont,
    QImage,
    QMouseEvent,
    QPalette,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtNetwork import QNetworkAccessManager, QNetworkReply, QNetworkRequest
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QTextBrowser,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.service import EventRow
from ui import formatting as fmt
from ui.marks import mix, muted_color
from ui.safe_text import blank_resource, esc, inline_resource, rich_label
from ui.widgets import muted_label

log = logging.getLogger(__name__)

MAX_LINES = 28  # taller mail is collapsed to this many lines, with "Show more"
LONG_TEXT_LINES = 60  # plain mail longer than this reads in the view too (to be collapsed)
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # a remote image larger than this is not shown
MAX_IMAGES = 40  # remote images fetched for one message at most
_LINK_SCHEMES = ("http", "https", "mailto")
_REMOTE = re.compile(r"""(?:src|background)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
_REMOTE_URL = re.compile(
    r"""(?:src|background)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+))""", re.IGNORECASE
)
_ROLES = (("from", "From"), ("to", "To"), ("cc", "Cc"))


def html_of(event: EventRow) -> str | None:
    """The sanitised HTML of an email event, or None for plain mail and other events."""
    if event.channel != "email" or not isinstance(event.details, dict):
        return None
    value = event.details.get("html")
    return value if isinstance(value, str) and value.strip() else None


def reads_in_view(event: EventRow) -> bool:
    """Whether an expanded email reads in its own ``EmailBodyView``: HTML mail, and plain
    mail long enough to be collapsed with "Show more" (short plain mail is painted in place)."""
    if event.channel != "email":
        return False
    return html_of(event) is not None or event.text.count("\n") >= LONG_TEXT_LINES


def person_text(name: str, address: str) -> str:
    """ "Jane Doe <jane@example.com>", or just the address when there is no other name."""
    name = " ".join(name.split())
    if not name or name.lower() == address.lower():
        return address
    return f"{name} <{address}>" if address else name


def header_rows(event: EventRow, tz: tzinfo = UTC) -> list[tuple[str, str]]:
    """From, To, Cc (those present) and Date of an email, as (label, text)."""
    rows: list[tuple[str, str]] = []
    for role, label in _ROLES:
        who = [person_text(name, address) for r, name, address in event.people if r == role]
        if who:
            rows.append((label, ", ".join(who)))
    rows.append(("Date", fmt.date_time(event.occurred_at, tz)))
    return rows


def headers_html(event: EventRow, muted: str, tz: tzinfo = UTC) -> str:
    """The header rows as an HTML table the UI writes (every value escaped)."""
    cells = "".join(
        f"<tr><td style='color:{muted}; padding-right:8px'>{esc(label)}:</td>"
        f"<td>{esc(text)}</td></tr>"
        for label, text in header_rows(event, tz)
    )
    return f"<table cellspacing='0' cellpadding='0'>{cells}</table>"


def remote_image_urls(html: str) -> list[str]:
    """The ``http(s)`` image URLs an HTML body names (protocol-relative ones as https)."""
    found: list[str] = []
    for match in _REMOTE_URL.finditer(html):
        raw = next(g for g in match.groups() if g is not None).strip()
        url = _remote_key(QUrl(raw))
        if url and url not in found:
            found.append(url)
    return found[:MAX_IMAGES]


def _remote_key(url: QUrl) -> str | None:
    """The absolute http(s) URL a reference stands for, or None (files, relative, others)."""
    if url.scheme() == "" and url.host():  # //host/path
        url = QUrl("https:" + url.toString())
    if url.scheme().lower() not in ("http", "https") or not url.host():
        return None
    return url.toString(QUrl.ComponentFormattingOption.FullyEncoded)


class RemoteImages(QObject):
    """Fetches one message's remote images once, over http(s) only, into memory.

    Signals:
        finished(): every request has answered (or failed); ``images`` holds what came.
    """

    finished = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.images: dict[str, QImage] = {}
        self.failed: list[str] = []
        self._net = QNetworkAccessManager(self)
        self._net.setRedirectPolicy(QNetworkRequest.RedirectPolicy.NoLessSafeRedirectPolicy)
        self._net.setAutoDeleteReplies(True)
        self._pending = 0

    def fetch(self, urls: Sequence[str]) -> None:
        """Ask for each URL (http and https only); ``finished`` when all have answered."""
        wanted = [u for u in urls if _remote_key(QUrl(u)) == u]
        self._pending = len(wanted)
        if not wanted:
            self.finished.emit()
            return
        for url in wanted:
            request = QNetworkRequest(QUrl(url))
            request.setMaximumRedirectsAllowed(5)
            reply = self._net.get(request)
            reply.finished.connect(lambda r=reply, u=url: self._done(r, u))

    def _done(self, reply: QNetworkReply, url: str) -> None:
        final = reply.url().scheme().lower()
        data = bytes(reply.read(MAX_IMAGE_BYTES + 1).data())
        image = QImage()
        ok = (
            reply.error() == QNetworkReply.NetworkError.NoError
            and final in ("http", "https")
            and len(data) <= MAX_IMAGE_BYTES
            and image.loadFromData(data)
        )
        if ok:
            self.images[url] = image
        else:
            self.failed.append(url)
        self._pending -= 1
        if self._pending <= 0:
            self.finished.emit()


def attachments_of(event: EventRow) -> list[dict[str, Any]]:
    """The attachments recorded on an event (name, type, size), as stored."""
    found = event.details.get("attachments") if isinstance(event.details, dict) else None
    return [a for a in found if isinstance(a, dict)] if isinstance(found, (list, tuple)) else []


class SafeTextBrowser(QTextBrowser):
    """A text browser that loads no resource except inline ``data:`` URLs.

    Signals:
        (only those of QTextBrowser)
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.refused: list[str] = []
        self.remote: dict[str, QImage] = {}  # images fetched for this message ("show once")
        self.setOpenExternalLinks(False)
        self.setOpenLinks(False)
        self.setSearchPaths([])
        self.anchorClicked.connect(self._link_clicked)

    def loadResource(self, type: int, name: QUrl | str) -> Any:
        name = QUrl(name)  # Qt passes a QUrl; the binding also accepts a string
        if name.scheme().lower() == "data":
            return inline_resource(type, name)
        key = _remote_key(name)
        if (
            key is not None
            and key in self.remote
            and type
            in (
                QTextDocument.ResourceType.ImageResource,
                QTextDocument.ResourceType.ImageResource.value,
            )
        ):
            return self.remote[key]
        self.refused.append(name.toString())
        log.debug("refused to load a %s resource", name.scheme() or "relative")
        # never None: Qt would then read the URL as a local file path itself
        return blank_resource(type)

    def _link_clicked(self, url: QUrl) -> None:
        """A link the user clicked opens in their browser or mail program (never by itself)."""
        if url.scheme().lower() in _LINK_SCHEMES:
            QDesktopServices.openUrl(url)


class EmailBodyView(QWidget):
    """The expanded part of an email row (HTML mail, and long plain mail).

    Signals:
        height_changed(): the view wants another height (plain text, images, show more).
        header_clicked(): the row's summary line (above the body) was clicked.
        images_loaded(): the remote images asked for with "Show images once" have come.
    """

    height_changed = Signal()
    header_clicked = Signal()
    images_loaded = Signal()

    def __init__(
        self,
        event: EventRow,
        *,
        top: int,
        left: int,
        right: int,
        tz: tzinfo = UTC,
        terms: Sequence[str] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.email = event
        self.terms = tuple(terms)
        self.matches = 0  # search matches highlighted in the body
        self.full = False  # "Show more" was pressed
        self.setObjectName("emailBody")
        self.setAccessibleName(f"Email: {event.title or '(no subject)'}")
        self._top = top
        self._html = html_of(event)
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
        self.toggle.setVisible(self._html is not None)
        bar.addWidget(self.subject, 1)
        bar.addWidget(self.toggle)
        layout.addLayout(bar)
        self.headers = rich_label(headers_html(event, muted_color(self.palette()).name(), tz))
        self.headers.setObjectName("emailHeaders")
        self.headers.setAccessibleName("From, to, cc and date")
        self.headers.setWordWrap(True)
        self.headers.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.headers)
        self.browser = SafeTextBrowser()
        self.browser.setObjectName("emailBrowser")
        self.browser.setAccessibleName("Message")
        self.browser.setFrameShape(QFrame.Shape.StyledPanel)
        self.browser.document().setDocumentMargin(round(fm.height() * 0.4))
        remote_bar = QHBoxLayout()
        self.remote_note = muted_label(
            "Remote images blocked: they can tell the sender when you read a message."
        )
        self.remote_note.setObjectName("remoteNote")
        self.remote_note.setWordWrap(True)
        self.show_images = QToolButton()
        self.show_images.setObjectName("showImagesOnce")
        self.show_images.setText("Show images once")
        self.show_images.setAccessibleName("Show images once")
        self.show_images.setToolTip(
            "Load this message's remote images now, this once (the sender may see it)"
        )
        self.show_images.setAutoRaise(True)
        self.show_images.clicked.connect(self.load_remote_images)
        remote_bar.addWidget(self.remote_note, 1)
        remote_bar.addWidget(self.show_images)
        self._remote_urls = remote_image_urls(self._html or "")
        self._remote = bool(self._remote_urls) or bool(_REMOTE.search(self._html or ""))
        self.fetcher: RemoteImages | None = None
        layout.addLayout(remote_bar)
        layout.addWidget(self.browser)
        self.more = QToolButton()
        self.more.setObjectName("showMore")
        self.more.setText("Show more")
        self.more.setAccessibleName("Show more")
        self.more.setAutoRaise(True)
        self.more.clicked.connect(self._toggle_more)
        self.more.hide()
        layout.addWidget(self.more, 0, Qt.AlignmentFlag.AlignLeft)
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
        loaded = self.fetcher is not None
        self.remote_note.setVisible(self._remote and not plain and not loaded)
        self.show_images.setVisible(self._remote and not plain and not loaded)
        if plain or self._html is None:
            self.browser.setPlainText(self.email.text or "(no text)")
        else:
            self.browser.setHtml(self._html)
        self._highlight()
        self.height_changed.emit()

    def load_remote_images(self) -> None:
        """ "Show images once": fetch this message's http(s) images, then show them here."""
        if self.fetcher is not None:
            return
        self.fetcher = RemoteImages(self)
        self.fetcher.finished.connect(self._images_came)
        self.remote_note.setText("Loading remote images…")
        self.show_images.hide()
        self.fetcher.fetch(self._remote_urls)

    def _images_came(self) -> None:
        fetcher = self.fetcher
        if fetcher is None:
            return
        self.browser.remote = dict(fetcher.images)
        self.remote_note.hide()
        if not self.toggle.isChecked():
            self.show_plain(False)  # lay the HTML out again, now with the images
        self.images_loaded.emit()

    def _highlight(self) -> None:
        """Mark the search terms inside the message (HTML or plain) without changing it."""
        doc = self.browser.document()
        text = doc.toPlainText()
        pal = self.palette()
        style = QTextCharFormat()
        style.setBackground(
            QBrush(
                mix(
                    pal.color(QPalette.ColorRole.Base),
                    pal.color(QPalette.ColorRole.Highlight),
                    0.35,
                )
            )
        )
        style.setFontWeight(QFont.Weight.DemiBold)
        marks: list[QTextEdit.ExtraSelection] = []
        for start, end in fmt.match_spans(text, self.terms):
            mark = QTextEdit.ExtraSelection()
            cursor = QTextCursor(doc)
            cursor.setPosition(start)
            cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
            mark.cursor = cursor
            mark.format = style
            marks.append(mark)
        self.browser.setExtraSelections(marks)
        self.matches = len(marks)

    def highlight_color(self) -> QColor:
        """The background a search match gets (for tests and the style sheet)."""
        pal = self.palette()
        return mix(
            pal.color(QPalette.ColorRole.Base), pal.color(QPalette.ColorRole.Highlight), 0.35
        )

    def _toggle_more(self) -> None:
        self.full = not self.full
        self.more.setText("Show less" if self.full else "Show more")
        self.height_changed.emit()

    def height_for(self, width: int) -> int:
        """The height this view needs at ``width`` (the body collapsed to ``MAX_LINES``)."""
        layout = self.layout()
        assert layout is not None  # set in __init__
        margins = layout.contentsMargins()
        inner = max(1, width - margins.left() - margins.right())
        frame = self.browser.frameWidth() * 2
        doc: QTextDocument = self.browser.document()  # never a clone: it would load resources
        doc.setTextWidth(
            max(1, inner - frame - self.browser.verticalScrollBar().sizeHint().width())
        )
        cap = self.fontMetrics().lineSpacing() * MAX_LINES
        whole = round(doc.size().height()) + frame + 2
        long = whole > cap
        self.more.setVisible(long)
        body = whole if (self.full or not long) else cap
        self.browser.setVerticalScrollBarPolicy(
            Qt.ScrollBarPolicy.ScrollBarAlwaysOff if long else Qt.ScrollBarPolicy.ScrollBarAsNeeded
        )
        if long and not self.full:
            self.browser.verticalScrollBar().setValue(0)
        self.browser.setFixedHeight(body)
        spacing = layout.spacing()
        height = margins.top() + margins.bottom() + body + spacing
        height += self.subject.heightForWidth(inner - self.toggle.sizeHint().width())
        height += spacing + self.headers.heightForWidth(inner)
        if not self.remote_note.isHidden():
            height += spacing + max(
                self.remote_note.heightForWidth(inner - self.show_images.sizeHint().width()),
                self.show_images.sizeHint().height(),
            )
        if not self.more.isHidden():
            height += spacing + self.more.sizeHint().height()
        if not self.attachments.isHidden():
            height += spacing + self.attachments.heightForWidth(inner)
        layout.invalidate()
        return max(height, self.heightForWidth(width)) + spacing

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.position().y() < self._top:
            self.header_clicked.emit()
            event.accept()
            return
        super().mousePressEvent(event)
