"""Channel marks and the icon set: an accent per channel, and SVG icons tinted to the palette.

Icons live in ``resources/ui/icons`` as monochrome SVGs drawn with
``currentColor``; they are rendered here at the widget's device pixel ratio, in
the palette's text colour (or a channel's accent), so they follow light and
dark themes and stay sharp at any scaling.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from app.paths import resources_dir


@dataclass(frozen=True)
class ChannelStyle:
    """How one channel is marked: its name, icon and accent for light and dark palettes."""

    key: str
    label: str
    icon: str
    light: str
    dark: str


CHANNELS: dict[str, ChannelStyle] = {
    "email": ChannelStyle("email", "Email", "email", "#2563c9", "#7aa7ff"),
    "chat": ChannelStyle("chat", "Chat", "chat", "#1f8a4c", "#5fcf8c"),
    "order": ChannelStyle("order", "Order", "order", "#b86e00", "#f2b64a"),
}
CHANNEL_ORDER = ("email", "chat", "order")


def icons_dir() -> str:
    """Where the shipped SVG icons live."""
    return str(resources_dir() / "ui" / "icons")


def is_dark(palette: QPalette) -> bool:
    """Whether the palette is a dark theme."""
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def channel_color(channel: str, palette: QPalette) -> QColor:
    """The accent colour of ``channel`` for this palette (muted text for unknown channels)."""
    style = CHANNELS.get(channel)
    if style is None:
        return muted_color(palette)
    return QColor(style.dark if is_dark(palette) else style.light)


def channel_label(channel: str) -> str:
    """ "Email", "Chat", "Order" (or the raw name, capitalised)."""
    style = CHANNELS.get(channel)
    return style.label if style else channel.capitalize()


def muted_color(palette: QPalette) -> QColor:
    """Secondary text: the palette's placeholder colour, else text blended toward the base."""
    color = palette.color(QPalette.ColorRole.PlaceholderText)
    if color.isValid() and color != palette.color(QPalette.ColorRole.Text):
        return color
    text, base = palette.color(QPalette.ColorRole.Text), palette.color(QPalette.ColorRole.Base)
    return QColor(
        (text.red() * 55 + base.red() * 45) // 100,
        (text.green() * 55 + base.green() * 45) // 100,
        (text.blue() * 55 + base.blue() * 45) // 100,
    )


def mix(a: QColor, b: QColor, amount_of_b: float) -> QColor:
    """``a`` blended toward ``b`` (0.0 = a, 1.0 = b)."""
    t = max(0.0, min(1.0, amount_of_b))
    return QColor(
        round(a.red() * (1 - t) + b.red() * t),
        round(a.green() * (1 - t) + b.green() * t),
        round(a.blue() * (1 - t) + b.blue() * t),
    )


@cache
def _svg_source(name: str) -> bytes:
    with open(f"{icons_dir()}/{name}.svg", "rb") as fh:
        return fh.read()


@cache
def _pixmap(name: str, color: str, size: int, dpr: float) -> QPixmap:
    data = _svg_source(name).replace(b"currentColor", color.encode("ascii"))
    renderer = QSvgRenderer(QByteArray(data))
    side = max(1, round(size * dpr))
    pixmap = QPixmap(QSize(side, side))
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, side, side))
    painter.end()
    pixmap.setDevicePixelRatio(dpr)
    return pixmap


def pixmap(name: str, color: QColor, size: int, dpr: float = 1.0) -> QPixmap:
    """The icon ``name`` as a pixmap of ``size`` logical pixels in ``color``."""
    return _pixmap(name, color.name(), size, dpr)


def icon(name: str, palette: QPalette | None = None, color: QColor | None = None) -> QIcon:
    """A themed QIcon: normal in ``color`` (default: the palette's text), disabled muted."""
    pal = palette or QApplication.palette()
    normal = color or pal.color(QPalette.ColorRole.WindowText)
    disabled = pal.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText)
    app = QApplication.instance()
    dpr = app.devicePixelRatio() if isinstance(app, QApplication) else 1.0
    result = QIcon()
    for size in (16, 20, 24, 32, 48):
        result.addPixmap(pixmap(name, normal, size, dpr), QIcon.Mode.Normal)
        result.addPixmap(pixmap(name, disabled, size, dpr), QIcon.Mode.Disabled)
        result.addPixmap(
            pixmap(name, pal.color(QPalette.ColorRole.HighlightedText), size, dpr),
            QIcon.Mode.Selected,
        )
    return result


def channel_icon(channel: str, palette: QPalette | None = None) -> QIcon:
    """The channel's mark as an icon in its accent colour."""
    pal = palette or QApplication.palette()
    style = CHANNELS.get(channel)
    return icon(style.icon if style else "messages", pal, channel_color(channel, pal))
