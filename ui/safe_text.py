"""Showing imported text as text: plain labels, escaped markup, safe tooltips, inert documents.

Every name, subject, handle, snippet, note and file name the UI shows came
from someone else's export, and Qt guesses whether a string is HTML: a
``QLabel`` (``Qt.AutoText``), a tooltip, a ``QMessageBox`` or a
``QInputDialog`` label renders ``<img src="/dev/zero">`` as an image and
reads that file while laying it out. So, everywhere in ``ui/``:

- labels come from ``plain_label`` (``Qt.PlainText``); ``rich_label`` is
  only for markup the UI writes itself, with every piece of data passed
  through ``esc`` first (``tests/test_ui_hostile_text.py`` forbids a bare
  ``QLabel(`` elsewhere);
- tooltips go through ``tip`` (shown literally whatever they contain);
- message boxes come from ``message_box`` (plain unless told otherwise);
- button and menu texts holding data go through ``no_mnemonic`` (a ``&``
  in a name stays an ampersand);
- a ``QTextDocument`` the UI lays out itself is a ``SafeDocument``, which
  loads nothing: no file, no network, whatever its HTML names;
- text that may hold a long unbroken run (a note, a name, a path, an address)
  goes in a ``WrapText``: plain text that wraps at words, else anywhere, so it
  never widens its pane.

Qt's own fallback matters here: when a document's ``loadResource`` returns
nothing for an ``<img>``, Qt reads the ``src`` as a file path itself. Only
returning an image stops that, which ``blank_resource`` does.
"""

from __future__ import annotations

import base64
import binascii
import html
import math
from typing import Any
from urllib.parse import unquote_to_bytes

from PySide6.QtCore import QEvent, QSize, Qt, QUrl
from PySide6.QtGui import QColor, QImage, QPalette, QResizeEvent, QTextDocument, QTextOption
from PySide6.QtWidgets import QFrame, QLabel, QMessageBox, QSizePolicy, QTextEdit, QWidget


def esc(text: object) -> str:
    """``text`` escaped for inclusion in HTML the UI builds (``&``, ``<``, ``>``, quotes)."""
    return html.escape(str(text), quote=True)


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A label that shows ``text`` exactly as written, never as HTML."""
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    return label


def rich_label(markup: str = "", parent: QWidget | None = None) -> QLabel:
    """A label for HTML the UI writes itself; any data in ``markup`` must have gone through ``esc``.

    Links are not opened by the label itself.
    """
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setOpenExternalLinks(False)
    label.setText(markup)
    return label


def literal(text: str) -> str:
    """``text`` for a place that guesses HTML (``Qt.AutoText``), made to show literally.

    Text without ``<`` is never taken for HTML and stays as it is; anything else
    becomes an escaped paragraph, which Qt then renders back to the same characters.
    """
    if "<" not in text:
        return text
    return "<p>" + esc(text).replace("\n", "<br>") + "</p>"


def tip(text: str) -> str:
    """``text`` as a tooltip that Qt shows literally (tooltips guess HTML like labels do)."""
    return literal(text)


def no_mnemonic(text: str) -> str:
    """``text`` for a button, radio button or menu item: a ``&`` stays a ``&``."""
    return text.replace("&", "&&")


def plain_texts(widget: QWidget) -> None:
    """Make every label inside ``widget`` (a Qt dialog's own labels) show plain text.

    Call it before putting data into those labels.
    """
    for label in widget.findChildren(QLabel):
        label.setTextFormat(Qt.TextFormat.PlainText)


def message_box(
    icon: QMessageBox.Icon,
    title: str,
    text: str,
    buttons: QMessageBox.StandardButton = QMessageBox.StandardButton.NoButton,
    parent: QWidget | None = None,
    *,
    informative: str = "",
    rich: bool = False,
) -> QMessageBox:
    """A message box whose texts are shown as plain text (``rich=True``: HTML the UI wrote)."""
    box = QMessageBox(icon, title, "", buttons, parent)
    box.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    box.setText(text)
    if informative:
        box.setInformativeText(informative)
    if not rich:
        plain_texts(box)
    return box


class WrapText(QTextEdit):
    """Read-only plain text that wraps at word boundaries, else anywhere; as tall as its text.

    A ``QLabel`` only breaks between words, so one long name, path or URL makes
    it as wide as that word and pushes its pane sideways. This shows the same
    text (selectable, copied without any inserted characters) and asks for no
    width of its own. ``text``/``setText`` mirror ``QLabel``'s.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setAcceptRichText(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setLineWrapMode(QTextEdit.LineWrapMode.WidgetWidth)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.document().setDocumentMargin(0)
        self.viewport().setAutoFillBackground(False)
        self.setAutoFillBackground(False)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def text(self) -> str:
        """The text as given."""
        return self.toPlainText()

    def textFormat(self) -> Qt.TextFormat:
        """Always plain text, as ``QLabel.textFormat`` would say."""
        return Qt.TextFormat.PlainText

    def setText(self, text: str) -> None:
        """Show ``text`` literally."""
        self.setPlainText(text)
        self._fit()

    def set_color(self, color: QColor) -> None:
        """Draw the whole text in ``color`` (a palette change, kept across ``setText``)."""
        pal = self.palette()
        pal.setColor(QPalette.ColorRole.Text, color)
        self.setPalette(pal)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self.document().setDefaultFont(self.font())
            self._fit()

    def minimumSizeHint(self) -> QSize:
        return QSize(0, self._height_for(max(self.width(), 1)))

    def sizeHint(self) -> QSize:
        return QSize(self.fontMetrics().averageCharWidth() * 20, self._height_for(self.width()))

    def _height_for(self, width: int) -> int:
        doc = self.document()
        doc.setTextWidth(max(width - 2 * self.frameWidth(), 1))
        return math.ceil(doc.size().height()) + 2 * self.frameWidth()

    def _fit(self) -> None:
        height = self._height_for(self.width())
        if height != self.height() or self.minimumHeight() != height:
            self.setFixedHeight(height)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()


def blank_image() -> QImage:
    """A 1×1 transparent image: what an inert document shows for any ``<img>``."""
    image = QImage(1, 1, QImage.Format.Format_ARGB32)
    image.fill(QColor(0, 0, 0, 0))
    return image


def blank_resource(type_: int) -> Any:
    """The stand-in for a refused resource: an image for images (so Qt reads no file), else ""."""
    if _type_value(type_) == QTextDocument.ResourceType.ImageResource.value:
        return blank_image()
    return ""


def inline_resource(type_: int, name: QUrl) -> Any:
    """The payload of a ``data:`` URL, decoded here (an image, blank when it is not one)."""
    header, _, payload = name.toString(QUrl.ComponentFormattingOption.FullyEncoded).partition(",")
    raw = unquote_to_bytes(payload)
    if header.lower().endswith(";base64"):
        try:
            raw = base64.b64decode(raw)
        except (binascii.Error, ValueError):
            raw = b""
    if _type_value(type_) == QTextDocument.ResourceType.ImageResource.value:
        image = QImage.fromData(raw)
        return blank_image() if image.isNull() else image
    return raw.decode("utf-8", "replace")


class SafeDocument(QTextDocument):
    """A text document that loads no resource at all: every ``src``/``href`` gets a blank.

    ``refused`` keeps the URLs it was asked for (tests read it).
    """

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.refused: list[str] = []

    def loadResource(self, type: int, name: QUrl | str) -> Any:
        self.refused.append(QUrl(name).toString())
        return blank_resource(type)


def _type_value(type_: Any) -> int:
    """The resource type as an int (PySide passes an int or the enum)."""
    return int(getattr(type_, "value", type_))
