"""Print one customer's history to a PDF file (the one core module that uses Qt).

``export_customer_pdf`` builds the HTML with ``app.export.document`` in one
database session, lays it out in a ``QTextDocument`` on A4 pages and paints it
page by page through ``QPdfWriter`` with a header line and a
"<name> — page N of M" footer on every page. It needs only QtGui: from the CLI,
with no window system, it starts an offscreen ``QGuiApplication`` itself. The
file is written to a temporary name in the target folder and moved into place
when complete, so a failed or cancelled export never leaves half a PDF behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QMarginsF, QPointF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QFontMetricsF,
    QGuiApplication,
    QImage,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QPen,
    QTextDocument,
    QTextOption,
)

from app import settings
from app.db import Database
from app.errors import UserFacingError
from app.export.document import (
    DAY_ANCHOR,
    ExportDocument,
    ExportOptions,
    build_export,
    format_date,
)
from app.paths import resources_dir

RESOLUTION = 96
"""Dots per inch of the layout. The PDF is vector output either way; at 96 dpi one
device pixel is one CSS pixel, which Qt's rich text needs: it scales table margins
and paddings from 96 dpi to the device but takes paragraph margins as device pixels."""

_MARGIN_MM = (18.0, 22.0, 18.0, 20.0)  # left, top, right, bottom (body area)
_HEADER_MM = 11.0  # baseline area of the header line, from the top edge
_FOOTER_MM = 11.0  # from the bottom edge
_BODY_PT = 9.5
_SMALL_PT = 7.5
_MUTED = QColor("#6b7280")
_RULE = QColor("#d0d7de")

_app: QGuiApplication | None = None


def ensure_gui_application() -> QGuiApplication:
    """The running ``QGuiApplication``, creating an offscreen one when there is none.

    On Linux without a display (no ``DISPLAY`` or ``WAYLAND_DISPLAY``) and with
    ``QT_QPA_PLATFORM`` unset, the offscreen platform is chosen first, so the
    CLI works on a headless server.

    Raises:
        RuntimeError: a non-GUI ``QCoreApplication`` is already running.
    """
    global _app
    existing = QCoreApplication.instance()
    if isinstance(existing, QGuiApplication):
        return existing
    if existing is not None:
        raise RuntimeError("PDF export needs a QGuiApplication, but a QCoreApplication runs")
    if (
        sys.platform.startswith("linux")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
        and not os.environ.get("QT_QPA_PLATFORM")
    ):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    _app = QGuiApplication(["threadline"])
    return _app


def _mm(value: float) -> float:
    return value / 25.4 * RESOLUTION


_FAMILIES = ("Segoe UI", "Noto Sans", "DejaVu Sans", "Liberation Sans", "Arial", "Helvetica")
"""Preferred text families, first installed one wins: common, complete, and
licensed for embedding (a font that may not be embedded would be printed as
outlines, and its text could no longer be copied or searched)."""

FALLBACK_FAMILIES = (
    "Noto Sans",
    "Noto Sans Arabic",
    "Noto Sans Hebrew",
    "Noto Sans Thai",
    "Noto Sans CJK SC",
)
"""The bundled fonts (``resources/fonts``, SIL Open Font License) tried in this order for
any character the text family lacks: Latin, Greek and Cyrillic; Arabic; Hebrew; Thai;
Chinese, Japanese kana and kanji, and Hangul. Emoji come from ``EMOJI_FAMILY``."""

EMOJI_FAMILY = "Noto Color Emoji"

_fonts_installed: list[str] | None = None


def install_fonts() -> list[str]:
    """Register the bundled fonts with Qt once, and make the emoji font Qt's emoji font.

    Needs a running ``QGuiApplication``. The window and the PDF export call it, so
    every script prints and shows on a machine that has none of these fonts installed.

    Returns:
        The families registered from ``resources/fonts`` (empty if none could be read).
    """
    global _fonts_installed
    if _fonts_installed is not None:
        return _fonts_installed
    families: list[str] = []
    folder = resources_dir() / "fonts"
    for file in sorted(folder.glob("*.[ot]tf")):
        font_id = QFontDatabase.addApplicationFont(str(file))
        if font_id >= 0:
            families.extend(QFontDatabase.applicationFontFamilies(font_id))
    if EMOJI_FAMILY in families:
        QFontDatabase.addApplicationEmojiFontFamily(EMOJI_FAMILY)
    _fonts_installed = families
    return families


def with_fallbacks(font: QFont) -> QFont:
    """``font`` followed by the bundled fallback families, for text in any script."""
    first = font.families() or [font.family()]
    font.setFamilies(first + [f for f in FALLBACK_FAMILIES if f not in first])
    return font


def _body_font() -> QFont:
    install_fonts()
    installed = set(QFontDatabase.families())
    family = next((f for f in _FAMILIES if f in installed), None)
    if family is not None:
        font = QFont(family)
    else:
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.GeneralFont)
    font.setPointSizeF(_BODY_PT)
    font.setStyleHint(QFont.StyleHint.SansSerif)
    # No ligatures: copied or extracted text should read "fi", not "ﬁ".
    for tag in ("liga", "clig", "dlig"):
        font.setFeature(QFont.Tag(tag), 0)
    return with_fallbacks(font)


class InertDocument(QTextDocument):
    """A text document that loads nothing: no file, no network, whatever its HTML names.

    ``app.export.document`` escapes every imported string, so no ``<img>`` of a
    customer's should ever reach the layout; this is the second wall. Qt reads an
    image's ``src`` as a file path when ``loadResource`` gives nothing back, so every
    resource is answered with a blank 1×1 image.
    """

    def loadResource(self, kind: int, name: object) -> object:
        del kind, name
        blank = QImage(1, 1, QImage.Format.Format_ARGB32)
        blank.fill(0)
        return blank


def _temp_file(path: Path) -> Path:
    """An empty file next to ``path`` to write into, or a one-line error."""
    folder = path.parent
    if path.is_dir():
        raise UserFacingError(f"cannot write the PDF to {path}: it is a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UserFacingError(f"cannot write the PDF to {path}: {reason}") from None
    os.close(fd)
    temp = Path(name)
    with contextlib.suppress(OSError):  # mkstemp makes it private; a PDF is an ordinary file
        os.chmod(temp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
    return temp


def _day_marks(doc: QTextDocument) -> list[tuple[float, date]]:
    """Where each day heading sits (document y) and its day, top to bottom."""
    layout = doc.documentLayout()
    marks: list[tuple[float, date]] = []
    block = doc.begin()
    while block.isValid():
        fragments = block.begin()
        if not fragments.atEnd():
            for name in fragments.fragment().charFormat().anchorNames():
                if name.startswith(DAY_ANCHOR):
                    with contextlib.suppress(ValueError):
                        day = date.fromisoformat(name.removeprefix(DAY_ANCHOR))
                        marks.append((layout.blockBoundingRect(block).top(), day))
        block = block.next()
    return marks


def _running_heads(marks: list[tuple[float, date]], pages: int, page_h: float) -> list[str]:
    """Per page, the days its events belong to ("Tue 3 Mar 2026 – Wed 4 Mar 2026"), or ""."""
    heads: list[str] = []
    index = 0
    current: date | None = None
    for page in range(pages):
        top, bottom = page * page_h, (page + 1) * page_h
        while index < len(marks) and marks[index][0] <= top + 1:
            current = marks[index][1]
            index += 1
        first = current
        while index < len(marks) and marks[index][0] < bottom:
            current = marks[index][1]
            first = first or current
            index += 1
        if first is None or current is None:
            heads.append("")
        elif first == current:
            heads.append(format_date(first))
        else:
            heads.append(f"{format_date(first)} – {format_date(current)}")
    return heads


_CMAP_BLOCK = re.compile(rb"begin(bfrange|bfchar)(.*?)end\1", re.S)
_CMAP_TOKEN = re.compile(rb"<[0-9A-Fa-f]+>|\[[^\]]*\]")
_TAB, _SPACE = b"<0009>", b"<0020>"


def _fix_space_mapping(data: bytes) -> bytes:
    """The PDF with its space glyphs mapped back to U+0020 for copying and searching.

    Qt's font engines draw a tab with the space glyph, and Qt's PDF writer maps
    each glyph to the lowest character that uses it, so every space would be
    copied (and extracted) as a tab. This patches the uncompressed ToUnicode
    maps in place, without changing any length or offset.
    """
    out = bytearray(data)
    for block in _CMAP_BLOCK.finditer(data):
        size = 3 if block.group(1) == b"bfrange" else 2
        tokens = list(_CMAP_TOKEN.finditer(data, block.start(2), block.end(2)))
        for first in range(0, len(tokens) - size + 1, size):
            target = tokens[first + size - 1]
            value = target.group(0)
            if value.startswith(b"["):
                fixed = value.replace(_TAB, _SPACE)
            elif value == _TAB and tokens[first].group(0) == tokens[first + size - 2].group(0):
                fixed = _SPACE
            else:
                continue
            out[target.start() : target.end()] = fixed
    return bytes(out)


def _render(
    content: ExportDocument,
    target: Path,
    shown: Path,
    progress: Callable[[int, int], None] | None,
) -> int:
    """Lay ``content`` out on A4 and paint it into ``target``; returns the page count.

    ``shown`` is the path named in errors (``target`` is a temporary file).
    """
    writer = QPdfWriter(str(target))
    writer.setResolution(RESOLUTION)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(0, 0, 0, 0),
            QPageLayout.Unit.Millimeter,
        )
    )
    writer.setTitle(content.title)
    writer.setCreator("Threadline")

    page_w, page_h = float(writer.width()), float(writer.height())
    left, top, right, bottom = (_mm(v) for v in _MARGIN_MM)
    body_w, body_h = page_w - left - right, page_h - top - bottom

    doc = InertDocument()
    doc.documentLayout().setPaintDevice(writer)
    doc.setUseDesignMetrics(True)
    doc.setDefaultFont(_body_font())
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    doc.setDefaultTextOption(option)
    doc.setDocumentMargin(0)
    doc.setPageSize(QSizeF(body_w, body_h))
    doc.setHtml(content.html)
    pages = max(1, doc.pageCount())
    heads = _running_heads(_day_marks(doc), pages, body_h)

    small = _body_font()
    small.setPointSizeF(_SMALL_PT)
    painter = QPainter()
    if not painter.begin(writer):
        raise UserFacingError(f"cannot write the PDF to {shown}")
    try:
        metrics = QFontMetricsF(small, writer)
        rule = QPen(_RULE)
        rule.setWidthF(_mm(0.2))
        header_y = _mm(_HEADER_MM)
        footer_y = page_h - _mm(_FOOTER_MM)
        half = body_w / 2 - _mm(4)
        header_left = metrics.elidedText(content.title, Qt.TextElideMode.ElideRight, half)
        generated = f"Generated {content.generated}"
        name = metrics.elidedText(content.customer_name, Qt.TextElideMode.ElideRight, half)
        for index in range(pages):
            if index:
                writer.newPage()
            painter.save()
            painter.translate(left, top - index * body_h)
            doc.drawContents(painter, QRectF(0, index * body_h, body_w, body_h))
            painter.restore()

            painter.setFont(small)
            painter.setPen(_MUTED)
            painter.drawText(QPointF(left, header_y), header_left)
            header_right = heads[index] or generated
            painter.drawText(
                QPointF(left + body_w - metrics.horizontalAdvance(header_right), header_y),
                header_right,
            )
            footer = f"{name} — page {index + 1} of {pages}"
            painter.drawText(
                QPointF(left + body_w - metrics.horizontalAdvance(footer), footer_y), footer
            )
            painter.drawText(QPointF(left, footer_y), "Threadline")
            painter.setPen(rule)
            line_y = header_y + metrics.descent() + _mm(1.5)
            painter.drawLine(QPointF(left, line_y), QPointF(left + body_w, line_y))
            line_y = footer_y - metrics.ascent() - _mm(1.5)
            painter.drawLine(QPointF(left, line_y), QPointF(left + body_w, line_y))
            if progress is not None:
                progress(index + 1, pages)
    finally:
        painter.end()
    return pages


def export_customer_pdf(
    db: Database,
    customer_id: int,
    path: Path,
    options: ExportOptions | None = None,
    *,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write one customer's history to a PDF file.

    Safe to call from a worker thread once a ``QGuiApplication`` exists (the
    GUI creates it; the CLI gets one created here). ``progress`` may raise
    (for example ``app.errors.Cancelled``) to stop: nothing is written then.

    Args:
        db: the open database.
        customer_id: the customer to export.
        path: where the PDF goes; an existing file is replaced when the new one
            is complete.
        options: what to include; defaults to everything, unredacted.
        now: the time printed as "generated"; defaults to the current time.
        progress: called with (done, total): first over the events as they are
            read, then over the pages as they are painted.

    Returns:
        How many pages the PDF has.

    Raises:
        UserFacingError: the file cannot be written, the customer does not
            exist (``NotFoundError``) or the date range is empty.
    """
    ensure_gui_application()
    path = Path(path).expanduser()
    now = now if now is not None else datetime.now(UTC)
    temp = _temp_file(path)
    try:
        with db.session() as session:
            tz = settings.zone(session)
            content = build_export(session, customer_id, tz, options, now, progress=progress)
        pages = _render(content, temp, path, progress)
        temp.write_bytes(_fix_space_mapping(temp.read_bytes()))
        if temp.stat().st_size == 0:
            raise UserFacingError(f"cannot write the PDF to {path}: nothing was written")
        try:
            os.replace(temp, path)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if isinstance(exc, PermissionError):
                reason += " (is the file open in another program?)"
            raise UserFacingError(f"cannot write the PDF to {path}: {reason}") from None
    finally:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
    return pages
