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
  loads nothing: no file, no network, whatever its HTML names.

Qt's own fallback matters here: when a document's ``loadResource`` returns
nothing for an ``<img>``, Qt reads the ``src`` as a file path itself. Only
returning an image stops that, which ``blank_resource`` does.
"""

from __future__ import annotations

import base64
import binascii
import html
from typing import Any
from urllib.parse import unquote_to_bytes

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QColor, QImage, QTextDocument
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget


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

    def loadResource(self, type: int, name: QUrl) -> Any:
        self.refused.append(name.toString())
        return blank_resource(type)


def _type_value(type_: Any) -> int:
    """The resource type as an int (PySide passes an int or the enum)."""
    return int(getattr(type_, "value", type_))
