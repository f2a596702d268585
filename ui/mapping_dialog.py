"""Import → Map columns…: say which column of a generic CSV holds what, with a live preview.

Generic chat transcripts (Intercom, LiveChat, Tawk.to, …) and generic order
exports have no fixed columns. The dialog lists each field of the chosen
format (``connectors.registry.mapping_spec``) with a combo of the file's
header cells (``registry.read_headers``), preset from ``app.mappings.suggest``
(the mapping saved for this header set, else the format's guess). Required
fields are marked. Every change re-reads the first rows on a reader
(``load_preview`` with the mapping), so the user sees the rows as they would
import. OK saves the mapping for this header set (``app.mappings.save``, on
the writer) and hands it back to the import dialog.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QVBoxLayout,
    QWidget,
)

from app.errors import UserFacingError
from app.records import DateOrder
from app.service import Database, Service
from connectors import registry
from ui.import_preview import PreviewData, PreviewModel, PreviewPane, load_preview
from ui.safe_text import rich_label
from ui.widgets import muted_label, section_heading
from ui.workers import Op, show_error

MAPPED_FORMATS: tuple[tuple[str, str], ...] = (
    ("chat_csv", "Chat messages (one row per message)"),
    ("orders_csv", "Orders (one row per order or per item)"),
    ("contacts_csv", "Contacts (one row per person: name, email, phone)"),
)
PREVIEW_DEBOUNCE_MS = 200
_NOT_IN_FILE = "— not in this file —"


@dataclass(frozen=True)
class MappingChoice:
    """What the user mapped: the format and field → header cell."""

    format: str
    mapping: dict[str, str]


@dataclass(frozen=True)
class _Suggested:
    headers: list[str]
    mapping: dict[str, str]


class ColumnMappingDialog(QDialog):
    """Maps a generic CSV's columns to a format's fields.

    Signals:
        mapping_chosen(object): OK was pressed and the mapping saved; a ``MappingChoice``.
        preview_updated(): the preview shows the current mapping.
        headers_loaded(): the file's header row and the suggestion are in.
    """

    mapping_chosen = Signal(object)
    preview_updated = Signal()
    headers_loaded = Signal()

    def __init__(
        self,
        db: Service | Database,
        path: Path,
        parent: QWidget | None = None,
        *,
        format_name: str | None = None,
        tz_name: str = "UTC",
        date_order: DateOrder | None = None,
    ) -> None:
        super().__init__(parent)
        self._service = Service.of(db)
        self.path = path
        self._tz = tz_name
        self._date_order = date_order
        self.headers: list[str] = []
        self.combos: dict[str, QComboBox] = {}
        self._generation = 0
        self.setWindowTitle(f"Map columns — {path.name}")
        self.setObjectName("mappingDialog")
        self.setAccessibleName("Map columns")
        fm = self.fontMetrics()
        em = fm.horizontalAdvance("M")
        layout = QVBoxLayout(self)
        intro = rich_label(
            f"Tell Threadline which column of <b>{html.escape(path.name)}</b> holds what. "
            "Fields marked <b>*</b> are needed. The mapping is remembered for files with "
            "the same columns."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        top = QFormLayout()
        self.format_combo = QComboBox()
        self.format_combo.setObjectName("mappingFormat")
        self.format_combo.setAccessibleName("What the file holds")
        for key, label in MAPPED_FORMATS:
            self.format_combo.addItem(label, key)
        if format_name is not None:
            self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(format_name)))
        self.format_combo.currentIndexChanged.connect(lambda _i: self.load())
        top.addRow("The file &holds:", self.format_combo)
        layout.addLayout(top)
        layout.addWidget(section_heading("Columns"))
        self.fields_box = QWidget()
        self.fields = QFormLayout(self.fields_box)
        self.fields.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.fields_box)
        self.missing = muted_label()
        self.missing.setObjectName("mappingMissing")
        self.missing.setAccessibleName("Missing fields")
        self.missing.setWordWrap(True)
        layout.addWidget(self.missing)
        self.preview_model = PreviewModel(self, tz=_zone(tz_name))
        self.preview = PreviewPane(self.preview_model)
        self.preview.heading.setText("PREVIEW")
        layout.addWidget(self.preview, 1)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("&Use These Columns")
        self.ok_button.setObjectName("mappingOk")
        self.ok_button.setAccessibleName("Use these columns")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREVIEW_DEBOUNCE_MS)
        self._timer.timeout.connect(self.refresh_preview)
        self.resize(em * 64, fm.lineSpacing() * 44)
        self.load()

    # --- fields -------------------------------------------------------------------------

    @property
    def format_name(self) -> str:
        """The chosen generic format ("chat_csv" or "orders_csv")."""
        return str(self.format_combo.currentData())

    def load(self) -> None:
        """Read the header row and the suggested mapping (on a reader), then build the combos."""
        service, path, name = self._service, self.path, self.format_name
        self.ok_button.setEnabled(False)

        def work() -> _Suggested:
            headers = registry.read_headers(path)
            return _Suggested(headers, service.suggest_mapping(name, headers))

        def done(found: _Suggested) -> None:
            if name != self.format_name:
                return
            self.headers = found.headers
            self._build(found.mapping)
            self.headers_loaded.emit()

        Op(self, work).success(done).run()

    def _build(self, suggested: dict[str, str]) -> None:
        spec = registry.mapping_spec(self.format_name)
        while self.fields.rowCount():
            self.fields.removeRow(0)
        self.combos = {}
        if spec is None:
            return
        for field in spec.fields:
            combo = QComboBox()
            combo.setObjectName(f"map_{field}")
            label = spec.labels.get(field, field)
            needed = field in spec.required
            combo.setAccessibleName(f"{label}{' (required)' if needed else ''}")
            combo.addItem(_NOT_IN_FILE, None)
            for header in self.headers:
                combo.addItem(header or "(unnamed column)", header)
            chosen = suggested.get(field)
            if chosen in self.headers:
                combo.setCurrentIndex(self.headers.index(chosen) + 1)
            combo.currentIndexChanged.connect(lambda _i: self._changed())
            shown = html.escape(label, quote=False)
            text = rich_label(f"<b>{shown} *</b>" if needed else shown)
            text.setBuddy(combo)
            if needed:
                text.setToolTip("Required")
            self.fields.addRow(text, combo)
            self.combos[field] = combo
        self._changed()

    def mapping(self) -> dict[str, str]:
        """Field → header cell, for the fields that have a column."""
        return {f: c.currentData() for f, c in self.combos.items() if c.currentData() is not None}

    def missing_fields(self) -> list[str]:
        """Labels of required fields without a column."""
        spec = registry.mapping_spec(self.format_name)
        if spec is None:
            return []
        chosen = self.mapping()
        missing = [spec.labels.get(f, f) for f in spec.required if f not in chosen]
        if spec.any_of and not any(f in chosen for f in spec.any_of):
            missing.append(" or ".join(spec.labels.get(f, f) for f in spec.any_of))
        return missing

    def _changed(self) -> None:
        missing = self.missing_fields()
        self.missing.setText(f"⚠ Choose a column for: {', '.join(missing)}." if missing else "")
        self.missing.setVisible(bool(missing))
        self.ok_button.setEnabled(not missing)
        self._timer.start()

    # --- preview ------------------------------------------------------------------------

    def refresh_preview(self) -> None:
        """Read the first rows again with the current mapping (on a reader)."""
        self._timer.stop()
        self._generation += 1
        generation = self._generation
        service, path, name, mapping = self._service, self.path, self.format_name, self.mapping()
        tz, order = self._tz, self._date_order
        self.preview.show_message(f"Reading {path.name}…")

        def work() -> PreviewData:
            return load_preview(
                service, path, format=name, tz_name=tz, date_order=order, column_map=mapping
            )

        def done(data: PreviewData) -> None:
            if generation == self._generation:
                self.preview.show_preview(data, data.known_owners)
                self.preview_updated.emit()

        def failed(exc: BaseException) -> None:
            if generation != self._generation:
                return
            if not isinstance(exc, UserFacingError):
                show_error(self, exc)
                return
            text = str(exc).removeprefix(f"{path.name}: ")
            self.preview.show_message(f"With these columns the file cannot be read: {text}")
            self.preview_updated.emit()

        Op(self, work).success(done).failure(failed).run()

    # --- OK -----------------------------------------------------------------------------

    def _accept(self) -> None:
        if self.missing_fields():
            return
        service, name = self._service, self.format_name
        headers, mapping = list(self.headers), self.mapping()

        def work() -> None:
            service.save_mapping(name, headers, mapping)

        def done(_r: object) -> None:
            self.accept()
            self.mapping_chosen.emit(MappingChoice(name, mapping))

        self.ok_button.setEnabled(False)
        Op(self, work, write=True).success(done).finished(
            lambda: self.ok_button.setEnabled(not self.missing_fields())
        ).run()


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def is_mappable(path: Path, format_name: str | None, reason: str = "") -> bool:
    """Whether "Map columns…" applies: a generic CSV format, or a CSV nobody recognised."""
    if format_name is not None:
        return registry.mapping_spec(format_name) is not None
    return path.suffix.lower() in (".csv", ".tsv") or "--map" in reason
