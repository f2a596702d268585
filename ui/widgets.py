"""Small widgets the panes share: muted labels, section headings and search fields.

Secondary text uses the palette's muted colour and a smaller font; search
fields get a leading search icon, a clear button, and accessible names on
both icon buttons.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont, QGuiApplication, QPainter
from PySide6.QtWidgets import QLabel, QLineEdit, QStyleOptionViewItem, QToolButton, QWidget

from ui.marks import icon, muted_color
from ui.safe_text import plain_label, rich_label


def small_font(font: QFont) -> QFont:
    """The font for metadata: a step smaller than body text."""
    small = QFont(font)
    if font.pointSizeF() > 0:
        small.setPointSizeF(font.pointSizeF() * 0.88)
    else:
        small.setPixelSize(max(1, round(font.pixelSize() * 0.88)))
    return small


def bold(font: QFont, weight: QFont.Weight = QFont.Weight.DemiBold) -> QFont:
    """``font`` made bolder."""
    out = QFont(font)
    out.setWeight(weight)
    return out


def paint_placeholder(painter: QPainter, option: QStyleOptionViewItem, text: str) -> None:
    """Paint a list's placeholder row ("Loading…"): small, muted, centred."""
    painter.save()
    painter.setFont(small_font(option.font))
    painter.setPen(muted_color(option.palette))
    painter.drawText(option.rect, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()


def muted_label(text: str = "", *, small: bool = True, rich: bool = False) -> QLabel:
    """A label for secondary text: smaller and in the muted colour.

    Plain text; with ``rich``, HTML the UI writes itself (data escaped with ``esc``).
    """
    label = rich_label(text) if rich else plain_label(text)
    if small:
        label.setFont(small_font(label.font()))
    pal = label.palette()
    pal.setColor(label.foregroundRole(), muted_color(pal))
    label.setPalette(pal)
    return label


def section_heading(text: str) -> QLabel:
    """A small, muted, letter-spaced section title ("PROFILE")."""
    label = plain_label(text.upper())
    font = small_font(label.font())
    font.setWeight(QFont.Weight.DemiBold)
    font.setLetterSpacing(QFont.SpacingType.PercentageSpacing, 108)
    label.setFont(font)
    pal = label.palette()
    pal.setColor(label.foregroundRole(), muted_color(pal))
    label.setPalette(pal)
    label.setAccessibleName(text)
    return label


def search_field(
    placeholder: str, accessible_name: str, parent: QWidget | None = None
) -> QLineEdit:
    """A line edit with a search icon and a clear button, every part named for screen readers."""
    field = QLineEdit(parent)
    field.setPlaceholderText(placeholder)
    field.setAccessibleName(accessible_name)
    field.setClearButtonEnabled(True)
    action = field.addAction(
        icon("search", field.palette()), QLineEdit.ActionPosition.LeadingPosition
    )
    action.setText("Search")
    for button in field.findChildren(QToolButton):
        if button.defaultAction() is action:
            button.setAccessibleName("Search")
        else:
            button.setAccessibleName("Clear")
            button.setToolTip("Clear")
    return field


def fit_to_screen(widget: QWidget, width: int, height: int) -> QSize:
    """``width`` × ``height``, shrunk to the room on ``widget``'s screen (its available
    geometry, less the window manager's title bar): at 150 % scaling a laptop screen is
    about 1280 × 720 logical pixels, and a window must still fit."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        return QSize(width, height)
    room = screen.availableGeometry()
    frame = widget.fontMetrics().lineSpacing() * 2
    return QSize(
        max(1, min(width, room.width() - frame // 2)), max(1, min(height, room.height() - frame))
    )
