"""File → Import…: pick files and folders, see each one's format and first items, then import.

Detection runs on a reader (``connectors.registry.detect`` reads each file's
first bytes): a file that no connector recognises, or that cannot be read,
shows the reason instead of a format. The selected file is previewed on a
reader too (``ui.import_preview``): its first items as they will be stored,
the detected format and any notices. The time zone, the date order and
"Which one is you?" refresh the preview when changed. The dialog only gathers
the choices and emits an ``ImportRequest``; the main window runs
``app.ingest.import_paths`` on the writer (after adding the chosen "you" to
the owner settings) and, at the end, shows ``ImportSummaryDialog`` with what
each file added, skipped as duplicates, and could not read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from PySide6.QtCore import QStringListModel, Qt, QTimer, Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.errors import FormatError, UserFacingError
from app.records import DateOrder
from app.service import FileReport, Service
from connectors import registry
from ui import formatting as fmt
from ui.import_preview import (
    Author,
    PreviewData,
    PreviewModel,
    PreviewPane,
    assumed_order,
    load_preview,
)
from ui.mapping_dialog import ColumnMappingDialog, MappingChoice, is_mappable
from ui.marks import icon, muted_color
from ui.safe_text import plain_label, tip
from ui.widgets import muted_label
from ui.workers import Op, show_error

PREVIEW_DEBOUNCE_MS = 200
_MAPPED_LABELS = {
    "chat_csv": "Chat CSV",
    "orders_csv": "Orders CSV",
}


@dataclass(frozen=True)
class Detected:
    """One file to import and what was recognised in it."""

    path: Path
    format: str | None
    label: str
    reason: str = ""


@dataclass(frozen=True)
class ImportRequest:
    """What the user chose: files, a format override (or None), a zone name, a date order.

    ``mapped`` holds (file, generic format, field → column) for each file whose
    columns the user mapped; those files import with that format and mapping.
    ``owner`` holds the (setting, value) pairs that make the sender chosen under
    "Which one is you?" the business; they are added to the owner settings
    before the import runs.
    """

    paths: tuple[Path, ...]
    format: str | None
    tz: str
    date_order: DateOrder | None = None
    owner: tuple[tuple[str, str], ...] = ()
    mapped: tuple[tuple[Path, str, dict[str, str]], ...] = ()
    unrecognised: tuple[tuple[Path, str], ...] = ()  # (file, why) left out of the import


FILE_FILTER = (
    "Mail, chats, orders and contacts (*.mbox *.mbx *.eml *.emlx *.olm *.pst *.ost *.msg *.txt"
    " *.csv *.tsv *.json *.html *.xml *.zip *.tgz *.vcf *.vcard);;"
    "Mail (*.mbox *.mbx *.eml *.emlx *.olm *.pst *.ost *.msg);;"
    "Chats, texts and calls (*.txt *.json *.html *.xml *.csv *.zip);;"
    "Orders (*.csv *.tsv *.txt *.json);;Contacts (*.vcf *.vcard *.csv);;"
    "All files (*)"
)


ZIP = "zip"  # an archive of exports (``registry.export_archive``): read on import
ZIP_LABEL = "Archive of exports (the files in it)"


def detect_files(
    paths: Iterable[Path], service: Service | None = None
) -> tuple[list[tuple[str, str]], list[Detected]]:
    """Expand folders and detect every file's format (runs on a worker).

    A CSV that no connector recognises but whose header set has a saved column
    mapping (``Service.save_mapping``) is that mapping's format, as the import will read it.

    Returns:
        The known formats as (name, label), and one ``Detected`` per file.
    """
    formats = [(c.name, c.label) for c in registry.all_connectors()]
    found: list[Detected] = []
    paths = list(paths)
    given = set(paths)
    for path in registry.expand(paths):
        if path not in given and registry.shared_in_chat(path):
            found.append(Detected(path, None, "", registry.SHARED_CARD))
            continue
        try:
            connector = registry.detect(path)
        except FormatError as exc:
            known = _remembered(service, path)
            if known is None and registry.export_archive(path):
                found.append(Detected(path, ZIP, ZIP_LABEL))
            elif known is None:
                reason = str(exc)
                found.append(Detected(path, None, "", reason.removeprefix(f"{path}: ")))
            else:
                label = f"{_MAPPED_LABELS.get(known, known)} (saved column mapping)"
                found.append(Detected(path, known, label))
        except UserFacingError as exc:
            reason = str(exc)
            prefix = f"{path}: "
            found.append(Detected(path, None, "", reason.removeprefix(prefix)))
        else:
            found.append(Detected(path, connector.name, connector.label))
    return formats, found


def _remembered(service: Service | None, path: Path) -> str | None:
    """The generic format a column mapping was saved under for this CSV's headers."""
    if service is None or path.is_dir() or path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        return None
    try:
        headers = registry.read_headers(path)
    except UserFacingError:
        return None
    return service.remembered_format(headers)


class ImportDialog(QDialog):
    """Chooses what to import and how.

    Signals:
        import_requested(object): the user pressed Import; the payload is an ``ImportRequest``.
        detection_finished(): the listed files' formats are known.
        preview_updated(): the preview shows the chosen file with the current choices.
    """

    import_requested = Signal(object)
    detection_finished = Signal()
    preview_updated = Signal()

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        default_tz: str,
        paths: Sequence[Path] = (),
        service: Service | None = None,
    ) -> None:
        super().__init__(parent)
        self._service = service
        self._display_tz = default_tz
        self.setWindowTitle("Import")
        self.setObjectName("importDialog")
        self.setAccessibleName("Import")
        self._paths: list[Path] = []
        self.detected: list[Detected] = []
        self.mapped: dict[Path, MappingChoice] = {}
        # "Which one is you?" per file: the label chosen (None: "None of these") and the
        # owner settings it stands for, kept while other files are previewed.
        self.owner_choices: dict[Path, tuple[str | None, tuple[tuple[str, str], ...]]] = {}
        self._owner_path: Path | None = None
        self._owner_authors: tuple[Author, ...] = ()
        self.mapping_dialog: ColumnMappingDialog | None = None
        self._preview_error = ""
        fm = self.fontMetrics()
        em = fm.horizontalAdvance("M")
        layout = QVBoxLayout(self)
        intro = plain_label(
            "Add mail, chat exports, a phone's texts and calls (SMS Backup & Restore .xml, "
            "an iPhone's chats saved by iMazing or imessage-exporter), shop order exports and "
            "address books (.vcf, the .csv of Google Contacts, Outlook or Thunderbird, or "
            "Shopify's customers). "
            "Folders are searched for files. "
            "Importing the same file again adds nothing."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)

        self.files = QTreeWidget()
        self.files.setObjectName("importFiles")
        self.files.setAccessibleName("Files to import")
        self.files.setHeaderLabels(["File", "Format"])
        self.files.setRootIsDecorated(False)
        self.files.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.files.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.files.header().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.files.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.files.header().setAccessibleName("Column headings")
        self.files.setMinimumSize(em * 64, fm.lineSpacing() * 5)
        self.files.currentItemChanged.connect(lambda _c, _p: self._current_changed())
        layout.addWidget(self.files, 1)

        row = QHBoxLayout()
        self.add_files_button = QPushButton(icon("file"), "Add &files…")
        self.add_files_button.setAccessibleName("Add files")
        self.add_files_button.clicked.connect(self._choose_files)
        self.add_folder_button = QPushButton(icon("folder"), "Add f&older…")
        self.add_folder_button.setAccessibleName("Add folder")
        self.add_folder_button.clicked.connect(self._choose_folder)
        self.map_button = QPushButton(icon("columns"), "Map &columns…")
        self.map_button.setObjectName("mapColumnsButton")
        self.map_button.setAccessibleName("Map the columns of the chosen CSV file")
        self.map_button.setToolTip(
            "Say which column holds the time, author, text, order number, email, phone…"
        )
        self.map_button.clicked.connect(self.map_columns)
        self.map_button.setEnabled(False)
        self.remove_button = QPushButton("Re&move")
        self.remove_button.setAccessibleName("Remove selected files")
        self.remove_button.clicked.connect(self._remove_selected)
        self.status = muted_label()
        self.status.setAccessibleName("Detection status")
        row.addWidget(self.add_files_button)
        row.addWidget(self.add_folder_button)
        row.addWidget(self.map_button)
        row.addWidget(self.remove_button)
        row.addSpacing(em)
        row.addWidget(self.status, 1)
        layout.addLayout(row)

        form = QFormLayout()
        self.format_combo = QComboBox()
        self.format_combo.setObjectName("formatCombo")
        self.format_combo.setAccessibleName("Format")
        self.format_combo.addItem("Detect automatically", None)
        self.format_combo.currentIndexChanged.connect(self._update_state)
        self.tz_combo = QComboBox()
        self.tz_combo.setObjectName("tzCombo")
        self.tz_combo.setAccessibleName("Time zone")
        self.tz_combo.setEditable(True)
        self.tz_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        line = self.tz_combo.lineEdit()
        if line is not None:
            line.setAccessibleName("Time zone name")
        zones = sorted(available_timezones())
        self.tz_combo.addItems(zones)
        completer = QCompleter(QStringListModel(zones, self), self)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.tz_combo.setCompleter(completer)
        self.tz_combo.setCurrentText(default_tz)
        self.date_combo = QComboBox()
        self.date_combo.setObjectName("dateOrderCombo")
        self.date_combo.setAccessibleName("Date order")
        for label, value in (
            ("Detect from the file", None),
            ("Day first (31/12/2026)", "dmy"),
            ("Month first (12/31/2026)", "mdy"),
            ("Year first (2026/12/31)", "ymd"),
        ):
            self.date_combo.addItem(label, value)
        self.owner_combo = QComboBox()
        self.owner_combo.setObjectName("ownerCombo")
        self.owner_combo.setAccessibleName("Which one is you")
        self.owner_combo.setToolTip(
            "The sender who is your business: their messages show as sent by you"
        )
        self.owner_combo.addItem("None of these", None)
        self.owner_combo.setEnabled(False)
        tz_hint = muted_label(
            "Used for chat exports, which do not say their time zone or date order."
        )
        tz_hint.setWordWrap(True)
        form.addRow("Fo&rmat:", self.format_combo)
        form.addRow("&Time zone:", self.tz_combo)
        form.addRow("&Dates:", self.date_combo)
        form.addRow("Which one is &you?", self.owner_combo)
        form.addRow("", tz_hint)

        self.preview_model = PreviewModel(self, tz=_zone(default_tz))
        self.preview = PreviewPane(self.preview_model)
        self.preview.setVisible(service is not None)
        if service is not None:
            self.resize(em * 74, fm.lineSpacing() * 46)
        layout.addWidget(self.preview, 2)
        layout.addLayout(form)
        self._preview_generation = 0
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_DEBOUNCE_MS)
        self._preview_timer.timeout.connect(self.refresh_preview)
        self.format_combo.currentIndexChanged.connect(lambda _i: self._preview_soon())
        self.date_combo.currentIndexChanged.connect(lambda _i: self._preview_soon())
        self.tz_combo.currentTextChanged.connect(self._tz_changed)
        self.owner_combo.currentIndexChanged.connect(lambda _i: self._owner_changed())

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.addButton(
            "&Import", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.import_button.setObjectName("importButton")
        self.import_button.setAccessibleName("Start import")
        self.import_button.setDefault(True)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._pending = 0
        self._update_state()
        if paths:
            self.add_paths(paths)

    # --- files --------------------------------------------------------------------------

    def add_paths(self, paths: Iterable[Path]) -> None:
        """Add files or folders and detect their formats in the background."""
        new = [Path(p) for p in paths if Path(p) not in self._paths]
        if not new:
            return
        self._paths.extend(new)
        self._redetect()

    def _redetect(self) -> None:
        self._pending += 1
        self.status.setText("Looking at the files…")
        paths = list(self._paths)
        self._update_state()

        def done(result: tuple[list[tuple[str, str]], list[Detected]]) -> None:
            if paths != self._paths:
                return
            formats, found = result
            self._fill_formats(formats)
            self.detected = found
            self._fill_files()
            self._select_first_recognised()
            self.detection_finished.emit()

        def end() -> None:
            self._pending -= 1
            self._update_state()

        service = self._service
        Op(self, lambda: detect_files(paths, service)).success(done).finished(end).run()

    def _fill_formats(self, formats: list[tuple[str, str]]) -> None:
        if self.format_combo.count() > 1:
            return
        for name, label in formats:
            self.format_combo.addItem(label, name)

    def _fill_files(self) -> None:
        # The files to import first, then those left out (an export's photos and other
        # files, found in its folders), each in the walk's order.
        self.detected.sort(key=lambda d: not (d.format or d.path in self.mapped))
        self.files.clear()
        warn = icon("warning", self.palette(), muted_color(self.palette()))
        for d in self.detected:
            label = d.label or _short_reason(d.reason)
            if d.path in self.mapped:
                label = f"{_MAPPED_LABELS.get(self.mapped[d.path].format, label)} (columns mapped)"
            item = QTreeWidgetItem([d.path.name, label])
            item.setToolTip(0, tip(str(d.path)))
            item.setData(0, Qt.ItemDataRole.UserRole, str(d.path))
            if d.format is None and d.path not in self.mapped:
                item.setIcon(1, warn)
                item.setToolTip(1, tip(d.reason))
                item.setForeground(1, QBrush(muted_color(self.palette())))
            self.files.addTopLevelItem(item)
        ok = sum(1 for d in self.detected if d.format or d.path in self.mapped)
        bad = len(self.detected) - ok
        self.status.setText(
            fmt.join_nonempty(
                (
                    fmt.plural(ok, "file") + " ready",
                    f"{bad:,} not recognised (left out)" if bad else "",
                )
            )
        )

    def _select_first_recognised(self) -> None:
        first = next(
            (i for i, d in enumerate(self.detected) if d.format or d.path in self.mapped), 0
        )
        item = self.files.topLevelItem(first) if self.files.topLevelItemCount() else None
        if item is not None:
            self.files.setCurrentItem(item)
        self._preview_soon()

    def _choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Add files to import",
            str(Path.home()),
            FILE_FILTER,
        )
        self.add_paths(Path(f) for f in files)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to import", str(Path.home()))
        if folder:
            self.add_paths([Path(folder)])

    def _remove_selected(self) -> None:
        chosen = {Path(i.data(0, Qt.ItemDataRole.UserRole)) for i in self.files.selectedItems()}
        if not chosen:
            return
        self.detected = [d for d in self.detected if d.path not in chosen]
        self._paths = [d.path for d in self.detected]
        self._fill_files()
        self._select_first_recognised()
        self._update_state()

    # --- choices ------------------------------------------------------------------------

    def request(self) -> ImportRequest:
        """The choices as they stand."""
        fmt_name = self.format_combo.currentData()
        unrecognised: tuple[tuple[Path, str], ...] = ()
        if fmt_name:
            paths = tuple(d.path for d in self.detected)
        else:
            paths = tuple(d.path for d in self.detected if d.format or d.path in self.mapped)
            unrecognised = tuple(
                (d.path, _short_reason(d.reason) or "Format not recognised")
                for d in self.detected
                if not d.format and d.path not in self.mapped
            )
        mapped = tuple(
            (p, self.mapped[p].format, dict(self.mapped[p].mapping))
            for p in paths
            if p in self.mapped
        )
        pairs: list[tuple[str, str]] = []
        for path in paths:
            pairs.extend(self.owner_choices.get(path, (None, ()))[1])
        owner = tuple(dict.fromkeys(pairs))
        return ImportRequest(
            paths,
            fmt_name,
            self.tz_combo.currentText().strip(),
            self.date_combo.currentData(),
            owner,
            mapped,
            unrecognised,
        )

    def _update_state(self) -> None:
        req_ok = bool(self.detected) and (
            self.format_combo.currentData() is not None
            or any(d.format or d.path in self.mapped for d in self.detected)
        )
        self.import_button.setEnabled(self._pending == 0 and req_ok)
        current = self._current_detected()
        self.map_button.setEnabled(
            self._service is not None
            and current is not None
            and not current.path.is_dir()
            and is_mappable(
                current.path,
                self.mapped[current.path].format if current.path in self.mapped else current.format,
                current.reason + self._preview_error,
            )
        )

    def _current_detected(self) -> Detected | None:
        item = self.files.currentItem()
        if item is None:
            return None
        path = Path(item.data(0, Qt.ItemDataRole.UserRole))
        return next((d for d in self.detected if d.path == path), None)

    def _current_changed(self) -> None:
        self._preview_error = ""
        self._update_state()
        self._preview_soon()

    # --- column mapping -----------------------------------------------------------------

    def map_columns(self) -> ColumnMappingDialog | None:
        """Open "Map columns…" for the chosen file."""
        current = self._current_detected()
        if current is None or self._service is None:
            return None
        chosen = self.mapped.get(current.path)
        fmt_name = chosen.format if chosen else current.format or self.format_combo.currentData()
        tz = self.tz_combo.currentText().strip()
        self.mapping_dialog = ColumnMappingDialog(
            self._service,
            current.path,
            self,
            format_name=fmt_name if fmt_name in _MAPPED_LABELS else None,
            tz_name=tz if tz in available_timezones() else self._display_tz,
            date_order=self.date_combo.currentData(),
        )
        self.mapping_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        path = current.path
        self.mapping_dialog.mapping_chosen.connect(lambda c: self._mapped(path, c))
        self.mapping_dialog.open()
        return self.mapping_dialog

    def _mapped(self, path: Path, choice: MappingChoice) -> None:
        self.mapped[path] = choice
        self._preview_error = ""
        self._fill_files()
        row = next((i for i, d in enumerate(self.detected) if d.path == path), 0)
        item = self.files.topLevelItem(row)
        if item is not None:
            self.files.setCurrentItem(item)
        self._update_state()
        self.refresh_preview()

    # --- preview ------------------------------------------------------------------------

    def previewed_path(self) -> Path | None:
        """The file the preview is about: the current row, if its format is known."""
        item = self.files.currentItem()
        if item is None:
            return None
        path = Path(item.data(0, Qt.ItemDataRole.UserRole))
        d = next((d for d in self.detected if d.path == path), None)
        if d is None or not (d.format or self.format_combo.currentData() or path in self.mapped):
            return None
        return path

    def _preview_soon(self) -> None:
        if self._service is not None:
            self._preview_timer.start()

    def _tz_changed(self, text: str) -> None:
        if text.strip() in available_timezones():
            self._preview_soon()

    def refresh_preview(self) -> None:
        """Read the chosen file's first items again with the current choices (on a reader)."""
        self._preview_timer.stop()
        service = self._service
        if service is None:
            return
        self._preview_generation += 1
        generation = self._preview_generation
        path = self.previewed_path()
        if path is not None and any(d.path == path and d.format == ZIP for d in self.detected):
            self.preview.show_message(
                f"{path.name} is an archive. When you import, Threadline reads the mail, "
                "chats and orders in it, as in a folder (photos and other files stay in it)."
            )
            self._fill_owners(None, None)
            self.preview_updated.emit()
            return
        if path is None:
            item = self.files.currentItem()
            self.preview.show_message(
                "This file's format is not recognised. If it is a chat or order export in "
                "CSV form, press “Map columns…” to say which column holds what."
                if self.map_button.isEnabled()
                else "Choose a file whose format is recognised to see what will be imported."
                if item is not None
                else "Add a file to see what will be imported."
            )
            self._fill_owners(None, None)
            self.preview_updated.emit()
            return
        tz = self.tz_combo.currentText().strip()
        if tz not in available_timezones():
            tz = self._display_tz
        fmt_name = self.format_combo.currentData()
        column_map = None
        if path in self.mapped:
            fmt_name, column_map = self.mapped[path].format, self.mapped[path].mapping
        order = self.date_combo.currentData()
        self.preview.show_message(f"Reading {path.name}…")

        def work() -> PreviewData:
            return load_preview(
                service,
                path,
                format=fmt_name,
                tz_name=tz,
                date_order=order,
                column_map=column_map,
            )

        def done(data: PreviewData) -> None:
            if generation != self._preview_generation:
                return
            self._fill_owners(data, path)
            ask = self.owner_combo.isEnabled() and not self._owners(data) and not data.directed
            self.preview.show_preview(data, self._owners(data), ask_owner=ask)
            self._show_assumed_order(data)
            self.preview_updated.emit()

        def failed(exc: BaseException) -> None:
            if generation != self._preview_generation:
                return
            if not isinstance(exc, UserFacingError):
                show_error(self, exc)
                return
            self._preview_error = str(exc)
            self._update_state()
            hint = (
                " Press “Map columns…” to choose them."
                if self.map_button.isEnabled() and "--map" in str(exc)
                else ""
            )
            self.preview.show_message(f"Cannot preview {path.name}: {_without_map(exc)}{hint}")
            self._fill_owners(None, None)
            self.preview_updated.emit()

        Op(self, work).success(done).failure(failed).run()

    def _fill_owners(self, data: PreviewData | None, path: Path | None) -> None:
        current = self.owner_combo.currentData()
        self._owner_path = path if data is not None else None
        self._owner_authors = tuple(data.authors) if data is not None else ()
        self.owner_combo.blockSignals(True)
        self.owner_combo.clear()
        self.owner_combo.addItem("None of these", None)
        authors = data.authors if data is not None else ()
        for author in authors:
            self.owner_combo.addItem(author.label, author.label)
        labels = [a.label for a in authors]
        if path is not None and path in self.owner_choices:
            keep = self.owner_choices[path][0]  # this file's own choice, never reset
        else:
            keep = current if current in labels else (data.suggested_owner if data else None)
        self.owner_combo.setCurrentIndex(labels.index(keep) + 1 if keep in labels else 0)
        self.owner_combo.setEnabled(
            bool(authors)
            and data is not None
            and any(i.channel != "order" for i in data.items)
            and not data.directed  # (the file says what was sent: nothing to choose)
        )
        self.owner_combo.blockSignals(False)
        self._remember_owner()

    def _remember_owner(self) -> None:
        """Keep what "Which one is you?" shows as the previewed file's choice."""
        path = self._owner_path
        if path is None or not self.owner_combo.isEnabled():
            return
        label = self.owner_combo.currentData()
        pairs = next((a.owner_settings() for a in self._owner_authors if a.label == label), ())
        self.owner_choices[path] = (label, pairs)

    def _owners(self, data: PreviewData) -> set[str]:
        chosen = self.owner_combo.currentData()
        return set(data.known_owners) | ({chosen} if chosen else set())

    def _owner_changed(self) -> None:
        data = self.preview.data
        self._remember_owner()
        if data is not None:
            self.preview_model.set_owners(self._owners(data))
            self.preview_updated.emit()

    def _show_assumed_order(self, data: PreviewData) -> None:
        assumed = assumed_order(data.notices) if self.date_combo.currentData() is None else None
        words = {"dmy": "day first", "mdy": "month first", "ymd": "year first"}
        self.date_combo.setItemText(
            0,
            f"Detect from the file (read as {words[assumed]})"
            if assumed
            else "Detect from the file",
        )

    def _accept(self) -> None:
        if self.tz_combo.currentText().strip() not in available_timezones():
            self.status.setText(f"“{self.tz_combo.currentText()}” is not a time zone name.")
            self.tz_combo.setFocus()
            return
        request = self.request()
        if not request.paths:
            return
        self.accept()
        self.import_requested.emit(request)


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _without_map(exc: BaseException) -> str:
    """The error without the CLI's ``--map …`` advice (the dialog offers a button instead)."""
    text = str(exc)
    for marker in ("; import it with --format", "; pass --map", "; pass\n--map"):
        text = text.split(marker, 1)[0]
    return text


def _short_reason(reason: str) -> str:
    """The reason without the list of supported formats (that stays in the tooltip)."""
    short = reason.split(" (supported:", 1)[0]
    return short[:1].upper() + short[1:]


def file_result(report: FileReport) -> str:
    """The Result column for one file: never a plain "Done" when nothing was added and
    something went wrong."""
    result = {
        "done": "Done",
        "cancelled": "Cancelled",
        "failed": "Failed",
        "skipped": "Not imported",
    }.get(report.status, report.status)
    if report.status == "done" and report.problems:
        n = fmt.plural(len(report.problems), "item")
        if report.added == 0 and report.duplicates == 0 and report.updated == 0:
            result = f"Nothing imported: {n} could not be read"
        else:
            result = f"Done, but {n} could not be read"
    if report.status == "skipped":
        result = f"{result}: {left_out_reason(report)}"
    elif report.error:
        result = f"{result}: {report.error}"
    return result


def left_out_reason(report: FileReport) -> str:
    """Why a file was not imported, without its path (the File column has it) or the
    list of formats."""
    reason = report.reason()
    return reason[:1].upper() + reason[1:] if reason else "Format not recognised"


def _left_out_row(group: Sequence[FileReport]) -> tuple[list[str], str]:
    """One row for many files left out for one reason (an export's photos): the cells,
    and the tooltip naming them."""
    cells = [
        f"{len(group):,} files",
        "",
        "0",
        "0",
        "0",
        f"Not imported: {left_out_reason(group[0])} ({fmt.by_kind(r.path for r in group)})",
    ]
    names = [r.path for r in group[:_LISTED]]
    if len(group) > _LISTED:
        names.append(f"… and {len(group) - _LISTED:,} more")
    return cells, "\n".join(names)


_LISTED = 40  # files a grouped row's tooltip names


class ImportSummaryDialog(QDialog):
    """What an import did, file by file.

    Signals:
        problems_requested(): the user wants the problem list.
    """

    problems_requested = Signal()

    def __init__(
        self,
        reports: Sequence[FileReport],
        parent: QWidget | None = None,
        *,
        cancelled: bool = False,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import finished")
        self.setObjectName("importSummary")
        self.setAccessibleName("Import summary")
        self.reports = list(reports)
        added = sum(r.added for r in reports)
        dups = sum(r.duplicates for r in reports)
        updated = sum(r.updated for r in reports)
        problems = sum(len(r.problems) for r in reports)
        failed = [r for r in reports if r.status == "failed"]
        left_out = [r for r in reports if r.status == "skipped"]
        cancelled = cancelled or any(r.status == "cancelled" for r in reports)
        layout = QVBoxLayout(self)
        title = plain_label(
            "Import cancelled — what was read so far is saved." if cancelled else "Import finished."
        )
        self.title = title
        font = title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        title.setFont(font)
        layout.addWidget(title)
        self.summary = plain_label(
            fmt.join_nonempty(
                (
                    f"{added:,} added",
                    f"{dups:,} already there (skipped)",
                    f"{updated:,} updated" if updated else "",
                    fmt.plural(problems, "problem") if problems else "no problems",
                    f"{len(failed):,} file{'s' if len(failed) != 1 else ''} failed"
                    if failed
                    else "",
                    f"{fmt.plural(len(left_out), 'file')} not imported" if left_out else "",
                )
            )
        )
        self.summary.setObjectName("importSummaryText")
        self.summary.setAccessibleName("Import totals")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        table = QTreeWidget()
        table.setAccessibleName("Import results per file")
        table.setRootIsDecorated(False)
        table.setHeaderLabels(["File", "Format", "Added", "Duplicates", "Problems", "Result"])
        # Files left out for one reason (an export's photos) share one row.
        grouped: dict[str, list[FileReport]] = {}
        for r in left_out:
            grouped.setdefault(left_out_reason(r), []).append(r)
        rows: list[tuple[list[str], str]] = []
        for r in reports:
            group = grouped.get(left_out_reason(r), []) if r.status == "skipped" else [r]
            if len(group) > 1:
                if r is group[0]:
                    rows.append(_left_out_row(group))
                continue
            cells = [
                os.path.basename(r.path) or r.path,
                r.format,
                f"{r.added:,}",
                f"{r.duplicates:,}",
                f"{len(r.problems):,}",
                file_result(r),
            ]
            rows.append((cells, r.path))
        for cells, names in rows:
            item = QTreeWidgetItem(cells)
            item.setToolTip(0, tip(names))
            item.setToolTip(5, tip(cells[5]))
            for col in (2, 3, 4):
                item.setTextAlignment(
                    col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                )
            table.addTopLevelItem(item)
        table.header().setStretchLastSection(True)
        for col in range(6):
            table.resizeColumnToContents(col)
        em = self.fontMetrics().horizontalAdvance("M")
        table.setMinimumWidth(min(em * 90, sum(table.columnWidth(c) for c in range(6)) + em * 3))
        table.setMinimumHeight(self.fontMetrics().lineSpacing() * (min(len(rows), 10) + 3))
        layout.addWidget(table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        if problems:
            show = buttons.addButton("Show &problems", QDialogButtonBox.ButtonRole.ActionRole)
            show.setAccessibleName("Show problems")
            show.clicked.connect(self.problems_requested)
            show.clicked.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)
