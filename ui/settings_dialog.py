"""Edit → Settings…: who you are, where you are, your data folder and its backups, and
which database to use (this computer's file or a team server: ``ui.database_settings``).

Every field saves as soon as it is left (or picked) and takes effect at once
through ``Service.configure`` — the same path as ``threadline config`` — so an
owner address added here stops being a customer straight away. ``changed(key)``
tells the window to read its lists and profiles again. Reads and writes run on
the workers (``Op``); backups are taken on the writer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from zoneinfo import available_timezones

import phonenumbers

from PySide6.QtCore import QLocale, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.service import Backup, Database, Service, setting_spec
from ui import formatting as fmt
from ui import messages
from ui.database_settings import DatabasePage
from ui.safe_text import plain_label, tip
from ui.widgets import muted_label
from ui.workers import Op, show_error

LIST_HINT = "separate several with commas"


def note(text: str) -> QLabel:
    """A muted explanation that wraps to the form's width."""
    label = muted_label(text)
    label.setWordWrap(True)
    return label


def region_combo() -> QComboBox:
    """Countries by name, each holding its ISO code; the first item is "choose" (no code)."""
    combo = QComboBox()
    combo.addItem("Choose your country…", "")
    named = []
    for code in phonenumbers.SUPPORTED_REGIONS:
        territory = QLocale.codeToTerritory(code)
        name = QLocale.territoryToString(territory) if territory.value else code
        named.append((name, code))
    for name, code in sorted(named, key=lambda item: item[0].casefold()):
        combo.addItem(f"{name} ({code})", code)
    combo.setMaxVisibleItems(20)
    return combo


def zone_combo() -> QComboBox:
    """Every IANA time zone, typed or picked (with completion)."""
    combo = QComboBox()
    combo.setEditable(True)
    combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
    combo.addItems(sorted(available_timezones()))
    completer = combo.completer()
    if completer is not None:
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
    combo.setMaxVisibleItems(20)
    return combo


def currency_field() -> QLineEdit:
    """A three-letter ISO currency code."""
    field = QLineEdit()
    field.setMaxLength(3)
    field.setPlaceholderText("e.g. EUR")
    return field


def set_region(combo: QComboBox, code: str) -> None:
    """Select ``code`` in a ``region_combo`` (the "choose" item when unknown)."""
    index = combo.findData(code.upper())
    combo.setCurrentIndex(max(index, 0))


class SettingsDialog(QDialog):
    """The settings window; changes save and apply as they are made.

    Signals:
        changed(str): setting ``key`` was saved (the window reloads what shows it).
        loaded(): the current values were read into the fields.
        backups_listed(): the backups list was read again.
        store_chosen(str): Database: reopen the window on this file path or server URL.
    """

    changed = Signal(str)
    store_chosen = Signal(str)
    loaded = Signal()
    backups_listed = Signal()

    def __init__(self, db: Service | Database, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = Service.of(db)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.setAccessibleName("Settings")
        self.values: dict[str, str] = {}
        self.fields: dict[str, QWidget] = {}

        tabs = QTabWidget()
        tabs.setAccessibleName("Settings sections")
        tabs.addTab(self._you_tab(), "You")
        tabs.addTab(self._region_tab(), "Region")
        tabs.addTab(self._data_tab(), "Data and Backups")
        tabs.addTab(self._advanced_tab(), "Sign-in Apps")
        self.database_page = DatabasePage(self.service)
        self.database_page.store_chosen.connect(self.store_chosen)
        tabs.addTab(self.database_page, "Database")
        self.tabs = tabs
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        close.accepted.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(note("Changes are saved and take effect as soon as you leave a field."))
        layout.addWidget(close)
        em = self.fontMetrics().horizontalAdvance("M")
        self.resize(em * 56, self.fontMetrics().lineSpacing() * 26)
        self.reload()

    # --- construction -------------------------------------------------------------------

    def _line(self, key: str, placeholder: str = "") -> QLineEdit:
        field = QLineEdit()
        field.setObjectName(f"setting_{key}")
        field.setAccessibleName(key.replace("_", " "))
        field.setPlaceholderText(placeholder)
        field.setToolTip(tip(setting_spec(key).help))
        field.editingFinished.connect(lambda: self.save(key, field.text()))
        self.fields[key] = field
        return field

    def _you_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.addRow("Your name:", self._line("user_name", "signs your notes"))
        form.addRow("Business name:", self._line("business_name", "e.g. Bloom & Branch"))
        form.addRow(
            note(
                "Your own addresses, numbers and chat names: messages from them are yours, "
                "and they never become customers."
            )
        )
        form.addRow("Your email addresses:", self._line("owner_emails", LIST_HINT))
        form.addRow("Your phone numbers:", self._line("owner_phones", LIST_HINT))
        form.addRow("Your chat names:", self._line("owner_names", LIST_HINT))
        automated = QCheckBox("Make automated senders customers too (no-reply, lists, notices)")
        automated.setObjectName("setting_automated_customers")
        automated.setAccessibleName("automated customers")
        automated.toggled.connect(
            lambda on: self.save("automated_customers", "yes" if on else "no")
        )
        self.fields["automated_customers"] = automated
        form.addRow(automated)
        return page

    def _region_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        region = region_combo()
        region.setObjectName("setting_region")
        region.setAccessibleName("region")
        region.setToolTip(tip(setting_spec("region").help))
        region.activated.connect(lambda _i: self._save_region())
        self.fields["region"] = region
        form.addRow("Country:", region)
        zone = zone_combo()
        zone.setObjectName("setting_timezone")
        zone.setAccessibleName("time zone")
        zone.setToolTip(tip(setting_spec("timezone").help))
        zone.activated.connect(lambda _i: self.save("timezone", zone.currentText()))
        line = zone.lineEdit()
        if line is not None:
            line.editingFinished.connect(lambda: self.save("timezone", zone.currentText()))
        self.fields["timezone"] = zone
        form.addRow("Time zone:", zone)
        currency = currency_field()
        currency.setObjectName("setting_currency")
        currency.setAccessibleName("currency")
        currency.setToolTip(tip(setting_spec("currency").help))
        currency.editingFinished.connect(lambda: self.save("currency", currency.text()))
        self.fields["currency"] = currency
        form.addRow("Currency:", currency)
        form.addRow(
            note(
                "The country reads phone numbers written without +country code; the time "
                "zone dates chats that state none; the currency prices orders that state none."
            )
        )
        return page

    def _data_tab(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        path = self.service.path
        folder = path.parent if path is not None else None
        row = QHBoxLayout()
        self.folder_label = plain_label(str(folder) if folder else self.service.url)
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder_label.setWordWrap(True)
        self.folder_label.setAccessibleName("Data folder")
        row.addWidget(self.folder_label, 1)
        self.show_folder_button = QPushButton("Show in Folder")
        self.show_folder_button.setAccessibleName("Show the data folder")
        self.show_folder_button.setEnabled(folder is not None)
        self.show_folder_button.clicked.connect(self.show_folder)
        row.addWidget(self.show_folder_button)
        column.addWidget(plain_label("Your data folder:"))
        column.addLayout(row)
        column.addSpacing(self.fontMetrics().height() // 2)
        column.addWidget(plain_label("Backups (kept next to the database):"))
        self.backup_list = QListWidget()
        self.backup_list.setAccessibleName("Backups")
        column.addWidget(self.backup_list, 1)
        buttons = QHBoxLayout()
        self.backup_button = QPushButton("Back Up Now")
        self.backup_button.setAccessibleName("Back up now")
        self.backup_button.setEnabled(path is not None)
        self.backup_button.clicked.connect(self.back_up_now)
        buttons.addStretch(1)
        buttons.addWidget(self.backup_button)
        column.addLayout(buttons)
        return page

    def _advanced_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.addRow(
            note(
                "For Sign in with Google or Microsoft, this installation's app registration. "
                "Leave empty unless you registered your own."
            )
        )
        form.addRow("Google client id:", self._line("google_client_id"))
        form.addRow("Google client secret:", self._line("google_client_secret"))
        form.addRow("Microsoft client id:", self._line("microsoft_client_id"))
        return page

    # --- values -------------------------------------------------------------------------

    def reload(self) -> None:
        """Read every setting (in the background) into the fields, then the backups."""
        service = self.service

        def read() -> dict[str, str]:
            return service.settings()

        Op(self, read).success(self._fill).run()
        self.list_backups()

    def _fill(self, values: dict[str, str]) -> None:
        self.values = dict(values)
        for key in values:
            self._show_value(key)
        self.loaded.emit()

    def _show_value(self, key: str) -> None:
        field = self.fields.get(key)
        value = self.values.get(key, "")
        if field is None:
            return
        field.blockSignals(True)
        try:
            if isinstance(field, QLineEdit):
                field.setText(value)
            elif isinstance(field, QCheckBox):
                field.setChecked(value == "yes")
            elif isinstance(field, QComboBox) and key == "region":
                set_region(field, value)
            elif isinstance(field, QComboBox):
                field.setCurrentText(value)
        finally:
            field.blockSignals(False)

    def _save_region(self) -> None:
        code = self.fields["region"]
        assert isinstance(code, QComboBox)
        if code.currentData():
            self.save("region", str(code.currentData()))

    def save(self, key: str, value: str, then: Callable[[str], None] | None = None) -> None:
        """Store ``key`` (in the background) unless unchanged; applies it at once."""
        if self.values.get(key) == value.strip() or key not in self.values:
            return
        service = self.service

        def write() -> str:
            return service.configure(key, value)

        def saved(stored: str) -> None:
            self.values[key] = stored
            self._show_value(key)
            messages.info("Settings saved.")
            self.changed.emit(key)
            if then is not None:
                then(stored)

        def failed(exc: BaseException) -> None:
            self._show_value(key)  # back to what is stored
            show_error(self, exc)

        Op(self, write, write=True).success(saved).failure(failed).run()

    # --- data folder and backups ----------------------------------------------------------

    def show_folder(self) -> None:
        """Open the data folder in the file manager."""
        if self.service.path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.service.path.parent)))

    def list_backups(self) -> None:
        """Read the backups next to the database again (in the background)."""
        service = self.service
        if service.path is None:
            self.backup_list.clear()
            self.backup_list.addItem("Backups are made only for a database file.")
            return

        def read() -> list[Backup]:
            return service.backups()

        Op(self, read).success(self._show_backups).run()

    def _show_backups(self, found: list[Backup]) -> None:
        self.backup_list.clear()
        if not found:
            self.backup_list.addItem("No backups yet.")
        for backup in found:
            when = fmt.date_time(backup.taken_at, None)
            size = f"{backup.size / 1_000_000:.1f} MB"
            self.backup_list.addItem(f"{when} — {backup.label} — {size} — {backup.path.name}")
        self.backups_listed.emit()

    def back_up_now(self) -> None:
        """Back Up Now: copy the database (on the writer, so no write is half done)."""
        service = self.service
        if service.path is None:
            return
        self.backup_button.setEnabled(False)

        def copy() -> Path:
            return service.backup_now("manual")

        def done(made: Path) -> None:
            messages.info(f"Backed up to {made.name}.")
            self.list_backups()

        Op(self, copy, write=True).success(done).finished(
            lambda: self.backup_button.setEnabled(True)
        ).run()
