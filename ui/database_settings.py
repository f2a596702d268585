"""Settings → Database: this computer's file, or the team's PostgreSQL server.

The page shows where the data lives now. "Team server" asks for the host, port, database,
user name and password; "Test Connection" signs in on a worker and shows the server's
version and the role found (owner, agent), or the exact reason it failed. "Save and
Reopen" keeps the server's URL without the password (``store.json``, through
``Service.choose_store``), puts the password in the OS keyring, and asks the window to
reopen on the chosen store (``store_chosen``). Nothing here builds SQL or opens a session.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.errors import UserFacingError
from app.paths import data_dir, default_db_path
from app.service import ServerInfo, Service
from ui.safe_text import plain_label
from ui.widgets import muted_label
from ui.workers import Op, show_error

DEFAULT_PORT = 5432
ROLE_WORDS = {
    "owner": "owner (may merge, split, undo and forget)",
    "agent": "agent (reads, imports and writes notes)",
    "administrator": "the database's administrator",
    "none": "no Threadline role yet: ask the administrator to grant threadline_agent or "
    "threadline_owner",
}


class DatabasePage(QWidget):
    """The Database tab of the settings window.

    Signals:
        tested(object): "Test Connection" finished: a ``ServerInfo``, or the exception.
        store_chosen(str): saved: the window should reopen on this file path or server URL.
    """

    tested = Signal(object)
    store_chosen = Signal(str)

    def __init__(self, service: Service, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.setObjectName("databasePage")
        column = QVBoxLayout(self)
        current = service.url if Service.is_server_url(service.url) else service.shown_location()
        self.current_label = plain_label(f"Now open: {current}")
        self.current_label.setWordWrap(True)
        self.current_label.setAccessibleName("Database now open")
        column.addWidget(self.current_label)

        self.local_choice = QRadioButton("This computer (local file)")
        self.local_choice.setObjectName("storeLocal")
        self.server_choice = QRadioButton("Team server (PostgreSQL)")
        self.server_choice.setObjectName("storeServer")
        group = QButtonGroup(self)
        group.addButton(self.local_choice)
        group.addButton(self.server_choice)
        column.addWidget(self.local_choice)
        column.addWidget(self.server_choice)

        self.server_box = QWidget()
        form = QFormLayout(self.server_box)
        form.setContentsMargins(24, 0, 0, 0)
        self.host = self._field("host", "e.g. db.example.lan")
        self.port = QSpinBox()
        self.port.setObjectName("storePort")
        self.port.setAccessibleName("port")
        self.port.setRange(1, 65535)
        self.port.setValue(DEFAULT_PORT)
        self.database = self._field("database", "e.g. threadline")
        self.user = self._field("user", "your own sign-in name")
        self.password = self._field("password", "")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Host:", self.host)
        form.addRow("Port:", self.port)
        form.addRow("Database:", self.database)
        form.addRow("User:", self.user)
        form.addRow("Password:", self.password)
        form.addRow(
            muted_label(
                "The password is kept in this computer's keyring, never in a file. "
                "Each person signs in as themselves."
            )
        )
        column.addWidget(self.server_box)

        self.result = plain_label("")  # a server's reason may hold any text
        self.result.setObjectName("storeTestResult")
        self.result.setAccessibleName("Connection test result")
        self.result.setWordWrap(True)
        column.addWidget(self.result)
        buttons = QHBoxLayout()
        self.test_button = QPushButton("Test Connection")
        self.test_button.setObjectName("storeTest")
        self.test_button.clicked.connect(self.test_connection)
        self.save_button = QPushButton("Save and Reopen")
        self.save_button.setObjectName("storeSave")
        self.save_button.clicked.connect(self.save)
        buttons.addStretch(1)
        buttons.addWidget(self.test_button)
        buttons.addWidget(self.save_button)
        column.addLayout(buttons)
        column.addStretch(1)

        self.server_choice.toggled.connect(self._mode_changed)
        self._fill(service.url)

    def _field(self, name: str, placeholder: str) -> QLineEdit:
        field = QLineEdit()
        field.setObjectName(f"store_{name}")
        field.setAccessibleName(name)
        field.setPlaceholderText(placeholder)
        return field

    def _fill(self, url: str) -> None:
        if Service.is_server_url(url):
            parts = urlsplit(url)
            self.host.setText(parts.hostname or "")
            self.port.setValue(parts.port or DEFAULT_PORT)
            self.database.setText(unquote(parts.path.lstrip("/")))
            self.user.setText(unquote(parts.username or ""))
            self.server_choice.setChecked(True)
            try:
                stored = Service.has_store_password(url)
            except UserFacingError:
                stored = False
            self.password.setPlaceholderText("kept in the keyring" if stored else "")
        else:
            self.local_choice.setChecked(True)
        self._mode_changed()

    def _mode_changed(self) -> None:
        server = self.server_choice.isChecked()
        self.server_box.setEnabled(server)
        self.test_button.setEnabled(server)
        self.result.setText("")

    def url(self) -> str:
        """The server URL the fields describe (no password).

        Raises:
            UserFacingError: host, database or user is missing.
        """
        return Service.server_url(
            self.host.text(), self.port.value(), self.database.text(), self.user.text()
        )

    def test_connection(self) -> Op | None:
        """Sign in to the server on a worker; show its version and our role, or why not."""
        try:
            url = self.url()
        except UserFacingError as exc:
            self._show_failure(exc)
            return None
        password = self.password.text() or None
        self.test_button.setEnabled(False)
        self.result.setText("Connecting…")

        def check() -> ServerInfo:
            return Service.check_store(url, password)

        return (
            Op(self, check)
            .success(self._show_success)
            .failure(self._show_failure)
            .finished(lambda: self.test_button.setEnabled(self.server_choice.isChecked()))
            .run()
        )

    def _show_success(self, info: ServerInfo) -> None:
        role = ROLE_WORDS.get(info.role, info.role)
        self.result.setText(f"✓ Connected to PostgreSQL {info.version} as {info.user}: {role}.")
        self.tested.emit(info)

    def _show_failure(self, exc: BaseException) -> None:
        if not isinstance(exc, UserFacingError):
            show_error(self, exc)
            return
        self.result.setText(f"✗ {exc}")
        self.tested.emit(exc)

    def save(self) -> Op | None:
        """Keep the choice (the password in the keyring), then ask the window to reopen."""
        if self.local_choice.isChecked():
            url: str | None = None
        else:
            try:
                url = self.url()
            except UserFacingError as exc:
                self._show_failure(exc)
                return None
        password = self.password.text() or None

        def keep() -> str:
            chosen = Service.choose_store(url, password)
            if chosen:
                return chosen
            local = default_db_path()  # THREADLINE_DB when it names a file
            return str(local if isinstance(local, Path) else data_dir() / "threadline.db")

        def chosen(target: str) -> None:
            self.password.clear()
            self.store_chosen.emit(target)

        return Op(self, keep).success(chosen).failure(self._show_failure).run()
