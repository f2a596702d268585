"""File → Export PDF…: choose the date range, channels, notes and redaction; then say where it went.

``ExportDialog`` gathers the options (an ``app.export.document.ExportOptions``
is built lazily, so this module loads before the exporter exists);
``ExportDoneDialog`` reports the result with "Open" and "Show in folder".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, QSettings, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QVBoxLayout,
    QWidget,
)

from app.paths import data_dir
from ui.marks import CHANNEL_ORDER, channel_icon, channel_label
from ui.safe_text import esc, plain_label, rich_label


@dataclass(frozen=True)
class ExportChoice:
    """The options as plain values (turned into ``ExportOptions`` by ``to_options``)."""

    since: date | None
    until: date | None
    channels: tuple[str, ...] | None
    include_notes: bool
    redact: bool

    def to_options(self) -> Any:
        """An ``app.export.document.ExportOptions`` (imported here, lazily)."""
        from app.service import ExportOptions

        return ExportOptions(
            since=self.since,
            until=self.until,
            channels=self.channels,
            include_notes=self.include_notes,
            redact=self.redact,
        )


def _qdate(value: date) -> QDate:
    return QDate(value.year, value.month, value.day)


def _pydate(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


class ExportDialog(QDialog):
    """Options for a customer's PDF.

    Signals:
        export_chosen(object): the user pressed Export…; the payload is an ``ExportChoice``.
    """

    export_chosen = Signal(object)

    def __init__(
        self,
        customer_name: str,
        parent: QWidget | None = None,
        *,
        first: date | None = None,
        last: date | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export PDF")
        self.setObjectName("exportDialog")
        self.setAccessibleName("Export PDF")
        layout = QVBoxLayout(self)
        intro = rich_label(f"Export the history of <b>{esc(customer_name)}</b> to a PDF file.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        today = date.today()
        self.all_dates = QCheckBox("&Whole history")
        self.all_dates.setAccessibleName("Whole history")
        self.all_dates.setChecked(True)
        self.since = QDateEdit(_qdate(first or today))
        self.until = QDateEdit(_qdate(last or today))
        for edit, name in ((self.since, "From date"), (self.until, "To date")):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("d MMM yyyy")
            edit.setAccessibleName(name)
            edit.setEnabled(False)
        self.all_dates.toggled.connect(lambda on: self.since.setEnabled(not on))
        self.all_dates.toggled.connect(lambda on: self.until.setEnabled(not on))
        dates = QHBoxLayout()
        dates.addWidget(self.since)
        dates.addWidget(plain_label("to"))
        dates.addWidget(self.until)
        dates.addStretch(1)
        form.addRow("Dates:", self.all_dates)
        form.addRow("", dates)
        chans = QHBoxLayout()
        self.channel_boxes: dict[str, QCheckBox] = {}
        for c in CHANNEL_ORDER:
            box = QCheckBox(channel_label(c) + ("s" if c == "order" else ""))
            box.setIcon(channel_icon(c, self.palette()))
            box.setChecked(True)
            box.setAccessibleName(f"Include {channel_label(c).lower()}")
            self.channel_boxes[c] = box
            chans.addWidget(box)
        chans.addStretch(1)
        form.addRow("Channels:", chans)
        self.include_notes = QCheckBox("Include the team's &notes")
        self.include_notes.setAccessibleName("Include notes")
        self.include_notes.setChecked(True)
        self.redact = QCheckBox("&Redact email addresses, phone numbers and the name")
        self.redact.setAccessibleName("Redact personal details")
        form.addRow("", self.include_notes)
        form.addRow("", self.redact)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = buttons.addButton("&Export…", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setAccessibleName("Choose where to save and export")
        self.export_button.setDefault(True)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._restore()

    @staticmethod
    def _settings() -> QSettings:
        return QSettings(str(data_dir() / "window.ini"), QSettings.Format.IniFormat)

    def _restore(self) -> None:
        """The choices of the last export (channels, notes, redaction; not the dates)."""
        saved = self._settings()
        saved.beginGroup("pdf_export")
        for c, box in self.channel_boxes.items():
            box.setChecked(str(saved.value(f"channel_{c}", "true")).lower() == "true")
        self.include_notes.setChecked(str(saved.value("notes", "true")).lower() == "true")
        self.redact.setChecked(str(saved.value("redact", "false")).lower() == "true")
        saved.endGroup()

    def _remember(self) -> None:
        saved = self._settings()
        saved.beginGroup("pdf_export")
        for c, box in self.channel_boxes.items():
            saved.setValue(f"channel_{c}", "true" if box.isChecked() else "false")
        saved.setValue("notes", "true" if self.include_notes.isChecked() else "false")
        saved.setValue("redact", "true" if self.redact.isChecked() else "false")
        saved.endGroup()
        saved.sync()

    def choice(self) -> ExportChoice:
        """The options as they stand."""
        chosen = tuple(c for c, box in self.channel_boxes.items() if box.isChecked())
        whole = self.all_dates.isChecked()
        return ExportChoice(
            since=None if whole else _pydate(self.since.date()),
            until=None if whole else _pydate(self.until.date()),
            channels=None if len(chosen) == len(self.channel_boxes) else chosen,
            include_notes=self.include_notes.isChecked(),
            redact=self.redact.isChecked(),
        )

    def _accept(self) -> None:
        self._remember()
        self.accept()
        self.export_chosen.emit(self.choice())


class ExportDoneDialog(QDialog):
    """The PDF is written: open it or show it in its folder.

    Signals:
        (none of its own)
    """

    def __init__(self, path: Path, pages: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.setWindowTitle("Export finished")
        self.setObjectName("exportDone")
        self.setAccessibleName("Export finished")
        layout = QVBoxLayout(self)
        label = rich_label(
            f"Saved {pages} page{'s' if pages != 1 else ''} to<br><b>{esc(str(path))}</b>"
        )
        label.setWordWrap(True)
        layout.addWidget(label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.open_button = buttons.addButton("&Open", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.setAccessibleName("Open the PDF")
        self.folder_button = buttons.addButton(
            "Show in &folder", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.folder_button.setAccessibleName("Show the PDF in its folder")
        self.open_button.clicked.connect(self.open_file)
        self.folder_button.clicked.connect(self.show_folder)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def open_file(self) -> None:
        """Open the PDF in the system viewer."""
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.path)))
        self.accept()

    def show_folder(self) -> None:
        """Open the folder holding the PDF."""
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.path.parent)))
        self.accept()
