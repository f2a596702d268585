"""Settings → Accounts…: add, edit, test and remove IMAP mail accounts.

The left list holds the accounts; the form on the right edits one of them: a
provider preset (which fills in the server, port and security), the server,
the security mode (plain text only to this computer, said inline), a CA file
for a server with its own certificate authority, the user name, the password
and the folders to sync (Inbox and Sent by default, or folders picked from the
list the server gave at the last successful Test).

The password goes to the OS keyring through ``Service.set_password`` and
nowhere else. When there is no usable keyring the dialog says so plainly, and
the password typed here is used for Test only: each sync asks for it.

Test logs in with what the form says (saved or not) on a reader and shows one
line: connected with N folders, or why not (bad password, unreachable host,
certificate problem). Saving and removing run on the serial writer.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app import redact
from app.errors import UserFacingError
from app.service import (
    DEFAULT_PORTS,
    OAUTH_PRESETS,
    PRESETS,
    AccountInfo,
    Database,
    ServerCheck,
    ServerConfig,
    Service,
    SignInCancelled,
    find_preset,
    is_loopback,
)
from ui.marks import channel_color, icon, muted_color
from ui.safe_text import esc, message_box, plain_label, rich_label, tip
from ui.widgets import muted_label, section_heading
from ui.workers import Op, show_error

TLS_CHOICES: tuple[tuple[str, str], ...] = (
    ("implicit", "SSL/TLS (port 993)"),
    ("starttls", "STARTTLS (port 143)"),
    ("none", "None: plain text, this computer only"),
)
_NEW = "New account"


def _tls_index(mode: str) -> int:
    return next((i for i, (key, _label) in enumerate(TLS_CHOICES) if key == mode), 0)


def _store_account(
    service: Service,
    current: AccountInfo | None,
    name: str,
    user: str,
    config: ServerConfig,
    folders: tuple[str, ...],
    **how: Any,
) -> AccountInfo:
    """Add the form's account, or change ``current`` to what the form says (on the writer).

    ``how`` passes ``oauth_provider`` for an account that signs in with OAuth.
    """
    if current is None:
        return service.add_account(
            name,
            host=config.host,
            username=user,
            port=config.port,
            tls=config.tls,
            ca_file=config.ca_file,
            folders=folders,
            **how,
        )
    return service.update_account(
        current.name,
        new_name=name,
        host=config.host,
        port=config.port,
        tls=config.tls,
        ca_file=config.ca_file,
        username=user,
        folders=folders,
        **how,
    )


class AccountsDialog(QDialog):
    """The mail accounts and the form for one of them.

    Signals:
        accounts_changed(): an account was saved or removed.
        keyring_checked(): whether a usable keyring exists is known (see ``keyring_reason``).
        test_finished(bool): a Test ended; True if it logged in.
        saved(): the form was saved.
        signed_in(bool): a browser sign-in ended; True if it worked.
    """

    accounts_changed = Signal()
    keyring_checked = Signal()
    test_finished = Signal(bool)
    saved = Signal()
    signed_in = Signal(bool)

    def __init__(self, db: Service | Database, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._service = Service.of(db)
        self.setWindowTitle("Mail Accounts")
        self.setObjectName("accountsDialog")
        self.setAccessibleName("Mail accounts")
        self.accounts: list[AccountInfo] = []
        self.current: AccountInfo | None = None
        self.keyring_reason: str | None = None
        self.keyring_known = False
        self._stored: dict[str, bool] = {}
        self._test_generation = 0
        self._failed_test: tuple[tuple[object, ...], str] | None = None  # form, why
        self.save_question: QMessageBox | None = None
        fm = self.fontMetrics()
        em = fm.horizontalAdvance("M")
        outer = QVBoxLayout(self)
        self.keyring_note = rich_label()
        self.keyring_note.setObjectName("keyringNote")
        self.keyring_note.setAccessibleName("Keyring status")
        self.keyring_note.setWordWrap(True)
        self.keyring_note.hide()
        outer.addWidget(self.keyring_note)
        body = QHBoxLayout()
        outer.addLayout(body, 1)

        # the list
        left = QVBoxLayout()
        left.addWidget(section_heading("Accounts"))
        self.list = QListWidget()
        self.list.setObjectName("accountList")
        self.list.setAccessibleName("Mail accounts")
        self.list.setMinimumWidth(em * 14)
        self.list.currentRowChanged.connect(self._row_changed)
        left.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.add_button = QPushButton(icon("add"), "&Add")
        self.add_button.setAccessibleName("Add an account")
        self.add_button.clicked.connect(self.new_account)
        self.remove_button = QPushButton(icon("delete"), "&Remove…")
        self.remove_button.setAccessibleName("Remove the selected account")
        self.remove_button.clicked.connect(self.ask_remove)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        left.addLayout(row)
        body.addLayout(left, 1)

        # the form
        right = QVBoxLayout()
        self.form_title = section_heading(_NEW)
        right.addWidget(self.form_title)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.preset = QComboBox()
        self.preset.setObjectName("presetCombo")
        self.preset.setAccessibleName("Mail provider")
        self.preset.addItem("Other: enter the server below", None)
        for p in PRESETS:
            self.preset.addItem(p.label, p.key)
        self.preset.currentIndexChanged.connect(self._preset_chosen)
        self.preset_note = muted_label()
        self.preset_note.setWordWrap(True)
        self.preset_note.hide()
        self.name = QLineEdit()
        self.name.setObjectName("accountName")
        self.name.setAccessibleName("Account name")
        self.name.setPlaceholderText("A short name, e.g. Shop mail")
        self.user = QLineEdit()
        self.user.setObjectName("accountUser")
        self.user.setAccessibleName("User name")
        self.user.setPlaceholderText("Usually your email address")
        self.user.editingFinished.connect(self._user_entered)
        self.password = QLineEdit()
        self.password.setObjectName("accountPassword")
        self.password.setAccessibleName("Password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_note = muted_label()
        # Sign in with Google / Microsoft (or an OAuth issuer) instead of a password.
        self.oauth_key: str | None = None
        self.sign_in_button = QPushButton(icon("server"), "Sign in")
        self.sign_in_button.setObjectName("signInButton")
        self.sign_in_button.clicked.connect(self.sign_in)
        self.use_password = QPushButton("Use a password instead")
        self.use_password.setObjectName("usePasswordButton")
        self.use_password.setFlat(True)
        self.use_password.clicked.connect(lambda: self._set_oauth(None))
        self.cancel_sign_in = QPushButton("Cancel")
        self.cancel_sign_in.setObjectName("cancelSignIn")
        self.cancel_sign_in.setAccessibleName("Cancel the sign-in")
        self.cancel_sign_in.hide()
        self.sign_in_note = muted_label()
        self.sign_in_note.setObjectName("signInNote")
        self.sign_in_note.setWordWrap(True)
        self._sign_in_op: Op | None = None
        sign_in_row = QHBoxLayout()
        sign_in_row.addWidget(self.sign_in_button)
        sign_in_row.addWidget(self.cancel_sign_in)
        sign_in_row.addWidget(self.use_password)
        sign_in_row.addStretch(1)
        self.sign_in_widget = QWidget()
        self.sign_in_widget.setLayout(sign_in_row)
        sign_in_row.setContentsMargins(0, 0, 0, 0)
        self.host = QLineEdit()
        self.host.setObjectName("accountHost")
        self.host.setAccessibleName("Server")
        self.host.setPlaceholderText("imap.example.com")
        self.host.textChanged.connect(lambda _t: self._tls_changed())
        self.port = QSpinBox()
        self.port.setObjectName("accountPort")
        self.port.setAccessibleName("Port")
        self.port.setRange(1, 65535)
        self.port.setValue(993)
        self.tls = QComboBox()
        self.tls.setObjectName("tlsCombo")
        self.tls.setAccessibleName("Security")
        for key, label in TLS_CHOICES:
            self.tls.addItem(label, key)
        self.tls.currentIndexChanged.connect(self._tls_picked)
        self.tls_note = muted_label(rich=True)
        self.tls_note.setObjectName("tlsNote")
        self.tls_note.setWordWrap(True)
        self.tls_note.hide()
        server_row = QHBoxLayout()
        server_row.addWidget(self.host, 3)
        server_row.addWidget(plain_label("Port:"))
        server_row.addWidget(self.port)
        self.ca_file = QLineEdit()
        self.ca_file.setObjectName("caFile")
        self.ca_file.setAccessibleName("CA certificate file")
        self.ca_file.setPlaceholderText("None: trust the system's certificates")
        self.ca_button = QPushButton("Choose…")
        self.ca_button.setAccessibleName("Choose a CA certificate file")
        self.ca_button.clicked.connect(self._choose_ca)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_file, 1)
        ca_row.addWidget(self.ca_button)
        ca_label = plain_label("CA &file:")
        ca_label.setBuddy(self.ca_file)
        form.addRow("&Provider:", self.preset)
        form.addRow("", self.preset_note)
        form.addRow("&Name:", self.name)
        form.addRow("&User name:", self.user)
        form.addRow("Pass&word:", self.password)
        form.addRow("", self.password_note)
        form.addRow("Sign-in:", self.sign_in_widget)
        form.addRow("", self.sign_in_note)
        self._form = form
        server_label = plain_label("&Server:")
        server_label.setBuddy(self.host)
        form.addRow(server_label, server_row)
        form.addRow("Se&curity:", self.tls)
        form.addRow("", self.tls_note)
        form.addRow(ca_label, ca_row)
        right.addLayout(form)

        right.addWidget(section_heading("Folders to sync"))
        self.default_folders = QRadioButton("&Inbox and the Sent folder (found automatically)")
        self.default_folders.setAccessibleName("Sync the inbox and the Sent folder")
        self.chosen_folders = QRadioButton("&These folders:")
        self.chosen_folders.setAccessibleName("Sync only the folders ticked below")
        group = QButtonGroup(self)
        group.addButton(self.default_folders)
        group.addButton(self.chosen_folders)
        self.default_folders.setChecked(True)
        self.folders = QListWidget()
        self.chosen_folders.toggled.connect(lambda on: self.folders.setEnabled(on))
        self.folders.setObjectName("folderList")
        self.folders.setAccessibleName("Folders on the server")
        self.folders.setEnabled(False)
        self.folders.setMinimumHeight(fm.lineSpacing() * 5)
        self.folders_hint = muted_label("Press Test to list the server's folders.")
        self.folders_hint.setWordWrap(True)
        right.addWidget(self.default_folders)
        right.addWidget(self.chosen_folders)
        right.addWidget(self.folders, 1)
        right.addWidget(self.folders_hint)

        test_row = QHBoxLayout()
        self.test_button = QPushButton(icon("server"), "&Test")
        self.test_button.setObjectName("testButton")
        self.test_button.setAccessibleName("Test the connection")
        self.test_button.setToolTip("Log in with these settings and list the folders")
        self.test_button.clicked.connect(self.test)
        self.test_result = rich_label()
        self.test_result.setObjectName("testResult")
        self.test_result.setAccessibleName("Test result")
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        test_row.addWidget(self.test_button, 0, Qt.AlignmentFlag.AlignTop)
        test_row.addWidget(self.test_result, 1)
        right.addLayout(test_row)
        self.save_button = QPushButton(icon("check"), "&Save Account")
        self.save_button.setObjectName("saveAccount")
        self.save_button.setAccessibleName("Save the account")
        self.save_button.clicked.connect(lambda: self.save())
        self.save_button.setDefault(True)
        save_row = QHBoxLayout()
        save_row.addStretch(1)
        save_row.addWidget(self.save_button)
        right.addLayout(save_row)
        body.addLayout(right, 3)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        outer.addWidget(buttons)
        self.resize(em * 68, fm.lineSpacing() * 38)
        self.new_account()
        self._check_keyring()
        self.reload()

    # --- loading ------------------------------------------------------------------------

    def _check_keyring(self) -> None:
        def work() -> str | None:
            return Service.keyring_problem()

        def done(reason: str | None) -> None:
            self.keyring_reason = reason
            self.keyring_known = True
            if reason is not None:
                self.keyring_note.setText(
                    "<b>No usable keyring on this computer</b>, so Threadline will not store "
                    f"mail passwords ({esc(reason)}). The password you type here is "
                    "used for Test only; each sync asks for it."
                )
                self.keyring_note.show()
            self._password_hint()
            self.keyring_checked.emit()

        Op(self, work).success(done).run()

    def reload(self, select: str | None = None) -> None:
        """Read the accounts again (and whether each has a stored password)."""
        service = self._service

        def work() -> tuple[list[AccountInfo], dict[str, bool]]:
            found = service.accounts()
            return found, {a.name: Service.has_password(a) for a in found}

        def done(result: tuple[list[AccountInfo], dict[str, bool]]) -> None:
            self.accounts, self._stored = result
            self.list.blockSignals(True)
            self.list.clear()
            for a in self.accounts:
                item = QListWidgetItem(icon("email"), a.name)
                item.setToolTip(tip(f"{a.username} at {a.host}:{a.port}"))
                self.list.addItem(item)
            self.list.blockSignals(False)
            names = [a.name for a in self.accounts]
            wanted = select or (self.current.name if self.current else None)
            if wanted in names:
                self.list.setCurrentRow(names.index(wanted))
            elif self.accounts and self.current is None and not self.name.text():
                self.list.setCurrentRow(0)
            self.remove_button.setEnabled(self.current is not None)

        Op(self, work).success(done).run()

    def _row_changed(self, row: int) -> None:
        if 0 <= row < len(self.accounts):
            self.show_account(self.accounts[row])

    # --- the form -----------------------------------------------------------------------

    def new_account(self) -> None:
        """Clear the form for a new account."""
        self.list.blockSignals(True)
        self.list.clearSelection()
        self.list.setCurrentRow(-1)
        self.list.blockSignals(False)
        self.current = None
        self.form_title.setText(_NEW.upper())
        self.preset.setCurrentIndex(0)
        for field in (self.name, self.user, self.password, self.host, self.ca_file):
            field.clear()
        self.tls.setCurrentIndex(0)
        self.port.setValue(993)
        self._set_folders((), ())
        self.test_result.clear()
        self.remove_button.setEnabled(False)
        self._set_oauth(None)
        self._password_hint()
        self.name.setFocus()

    def show_account(self, info: AccountInfo) -> None:
        """Fill the form with ``info``."""
        same = self.current is not None and self.current.uid == info.uid
        self.current = info
        self.form_title.setText(info.name.upper())
        self.preset.blockSignals(True)
        preset = next((i for i, p in enumerate(PRESETS) if p.host == info.host), None)
        self.preset.setCurrentIndex(preset + 1 if preset is not None else 0)
        self.preset.blockSignals(False)
        self._show_preset_note()
        self.name.setText(info.name)
        self.user.setText(info.username)
        self.password.clear()
        self.host.setText(info.host)
        self.tls.blockSignals(True)
        self.tls.setCurrentIndex(_tls_index(info.tls))
        self.tls.blockSignals(False)
        self.port.setValue(info.port)
        self.ca_file.setText(info.ca_file or "")
        self._set_folders(info.folders, info.folders)
        if not same:  # the same account read again (after a save) keeps what was said
            self.test_result.clear()
        self.remove_button.setEnabled(True)
        self._tls_changed()
        self._set_oauth(info.oauth_provider if info.uses_oauth else None)
        self._password_hint()

    def _provider_label(self, key: str) -> str:
        preset = OAUTH_PRESETS.get(key)
        return preset.label if preset is not None else (QUrl(key).host() or key)

    def _set_oauth(self, key: str | None) -> None:
        """Show "Sign in with …" for an OAuth provider, or the password field (None)."""
        self.oauth_key = key
        self._form.setRowVisible(self.password, key is None)
        self._form.setRowVisible(self.password_note, key is None)
        self._form.setRowVisible(self.sign_in_widget, key is not None)
        self._form.setRowVisible(self.sign_in_note, key is not None)
        if key is None:
            return
        label = self._provider_label(key)
        current = self.current
        signed_in = (
            current is not None and current.uses_oauth and self._stored.get(current.name, False)
        )
        if current is not None and current.uses_oauth and not signed_in and current.last_sync_at:
            self.sign_in_button.setText(f"Sign in again with {label}")
            self.sign_in_note.setText(
                f"Threadline no longer has access to this mailbox at {label}: sign in again. "
                "The mail already synced stays."
            )
        elif current is not None and current.uses_oauth and not signed_in:
            self.sign_in_button.setText(f"Sign in with {label}")
            self.sign_in_note.setText(
                f"Not signed in yet. Opens {label}'s sign-in page in your browser; your "
                "password is never typed into Threadline."
            )
        elif signed_in:
            self.sign_in_button.setText(f"Sign in again with {label}")
            self.sign_in_note.setText(
                f"Signed in at {label}. Your password is never typed into Threadline; "
                "the sign-in is kept in your system keyring."
            )
        else:
            self.sign_in_button.setText(f"Sign in with {label}")
            self.sign_in_note.setText(
                f"Opens {label}'s sign-in page in your browser. Your password is never typed "
                "into Threadline."
            )
        self.sign_in_button.setAccessibleName(self.sign_in_button.text())
        self.use_password.setVisible(current is None or not current.uses_oauth)

    def _password_hint(self) -> None:
        stored = self.current is not None and self._stored.get(self.current.name, False)
        if self.keyring_reason is not None:
            self.password.setPlaceholderText("Used for Test only; not stored")
            self.password_note.setText("Asked for at each sync (no usable keyring).")
        elif stored:
            self.password.setPlaceholderText("Stored in the keyring; type to replace it")
            self.password_note.setText("Kept in your system keyring, never in Threadline's files.")
        else:
            self.password.setPlaceholderText("Your password or app password")
            self.password_note.setText("Kept in your system keyring, never in Threadline's files.")

    def _set_folders(self, folders: tuple[str, ...], checked: tuple[str, ...]) -> None:
        self.folders.clear()
        for name in folders:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked if name in checked else Qt.CheckState.Unchecked
            )
            self.folders.addItem(item)
        self.chosen_folders.setChecked(bool(checked))
        self.default_folders.setChecked(not checked)
        self.folders_hint.setVisible(not folders)

    def chosen_folder_names(self) -> tuple[str, ...]:
        """The ticked folders (empty when syncing the defaults)."""
        if not self.chosen_folders.isChecked():
            return ()
        return tuple(
            self.folders.item(i).text()
            for i in range(self.folders.count())
            if self.folders.item(i).checkState() == Qt.CheckState.Checked
        )

    def _preset_chosen(self, _index: int) -> None:
        key = self.preset.currentData()
        self._show_preset_note()
        preset = next((p for p in PRESETS if p.key == key), None)
        if preset is None:
            self._set_oauth(None)
            return
        self._set_oauth(preset.oauth or None)
        self.host.setText(preset.host)
        self.tls.setCurrentIndex(_tls_index(preset.tls))
        self.port.setValue(preset.port)
        if not self.name.text().strip():
            self.name.setText(preset.label.split(" /")[0])

    def _show_preset_note(self) -> None:
        preset = next((p for p in PRESETS if p.key == self.preset.currentData()), None)
        note = preset.note if preset is not None else ""
        self.preset_note.setText(f"{note[:1].upper()}{note[1:]}." if note else "")
        self.preset_note.setVisible(bool(note))

    def _user_entered(self) -> None:
        """An address at a known provider picks its preset when no server is set yet."""
        if self.host.text().strip() or self.current is not None:
            return
        preset = find_preset(self.user.text()) if "@" in self.user.text() else None
        if preset is not None:
            self.preset.setCurrentIndex(PRESETS.index(preset) + 1)

    def _tls_picked(self, _index: int) -> None:
        self.port.setValue(DEFAULT_PORTS[self.tls.currentData()])
        self._tls_changed()

    def _tls_changed(self) -> None:
        if self.tls.currentData() != "none":
            self.tls_note.hide()
            self.ca_file.setEnabled(True)
            self.ca_button.setEnabled(True)
            return
        host = self.host.text().strip()
        self.ca_file.setEnabled(False)
        self.ca_button.setEnabled(False)
        if host and not is_loopback(host):
            color = muted_color(self.palette()).name()
            self.tls_note.setText(
                f"<span style='color:{color}'>⚠ Not allowed for {html.escape(host)}: the "
                "password would cross the network unencrypted. Plain text is only for a mail "
                "server on this computer (localhost).</span>"
            )
        else:
            self.tls_note.setText(
                "Plain text is only allowed to a mail server on this computer (localhost)."
            )
        self.tls_note.show()

    def _choose_ca(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Choose the server's CA certificate",
            str(Path.home()),
            "Certificates (*.pem *.crt *.cer);;All files (*)",
        )
        if path:
            self.ca_file.setText(path)

    def server_config(self) -> ServerConfig:
        """The server the form describes."""
        return ServerConfig(
            self.host.text().strip(),
            self.port.value(),
            self.tls.currentData(),
            self.user.text().strip(),
            self.ca_file.text().strip() or None,
        )

    # --- test ---------------------------------------------------------------------------

    def _say(self, ok: bool, text: str, *known: str) -> None:
        text = redact.redact(text, *known)  # a server may have echoed the password
        color = channel_color("chat" if ok else "order", self.palette()).name()
        mark = "✓" if ok else "⚠"
        self.test_result.setText(f"<span style='color:{color}'>{mark}</span> {esc(text)}")
        self.test_result.setToolTip(tip(text))

    def test(self) -> None:
        """Log in with the form's settings on a reader and say what happened."""
        config = self.server_config()
        if not config.host or not config.username:
            self._say(False, "Enter the server and the user name first.")
            self.test_finished.emit(False)
            return
        typed = self.password.text()
        current = self.current
        self._test_generation += 1
        generation = self._test_generation
        self.test_button.setEnabled(False)
        self.test_result.setText(esc(f"Connecting to {config.where}…"))

        oauth_key = self.oauth_key
        service = self._service

        def work() -> ServerCheck:
            if oauth_key is not None:
                if current is None or not current.uses_oauth:
                    raise UserFacingError("Sign in first, then test the connection.")
                check = service.check_account(current.name)
                return ServerCheck(check.folders, check.sent_folder)
            password = typed
            if not password and current is not None:
                password = Service.stored_password(current) or ""
            if not password:
                raise UserFacingError("Type the password to test the connection.")
            return Service.check_server(config, password)

        def done(found: ServerCheck) -> None:
            if generation != self._test_generation:
                return
            checked = self.chosen_folder_names() or (
                ("INBOX",) + ((found.sent,) if found.sent and found.sent != "INBOX" else ())
            )
            was_chosen = self.chosen_folders.isChecked()
            self._set_folders(found.folders, checked)
            self.chosen_folders.setChecked(was_chosen)
            self.default_folders.setChecked(not was_chosen)
            sent = f"; Sent folder: {found.sent}" if found.sent else "; no Sent folder found"
            self._say(True, f"Connected: {len(found.folders)} folders{sent}.")
            self._failed_test = None
            self.test_finished.emit(True)

        def failed(exc: BaseException) -> None:
            if generation != self._test_generation:
                return
            if not isinstance(exc, UserFacingError):
                show_error(self, exc)
                self.test_finished.emit(False)
                return
            self._say(False, str(exc), typed)
            self._failed_test = (tested, redact.redact(str(exc), typed))
            self.test_finished.emit(False)

        tested = self._form_key()
        Op(self, work).success(done).failure(failed).finished(
            lambda: self.test_button.setEnabled(True)
        ).run()

    # --- save and remove ----------------------------------------------------------------

    def _form_key(self) -> tuple[object, ...]:
        """What a connection test depends on, to tell whether the form changed since."""
        return (self.server_config(), self.user.text().strip(), self.password.text())

    def save(self, *, confirmed: bool = False) -> None:
        """Add or change the account on the writer, then store the typed password.

        An account that signs in with OAuth and has no sign-in yet is saved by signing in.
        When the last connection test of these very settings failed, the user is asked
        first (``confirmed`` skips the question).
        """
        failed_test = self._failed_test
        if not confirmed and failed_test is not None and failed_test[0] == self._form_key():
            self._ask_save_untested(failed_test[1])
            return
        current_signed_in = self.current is not None and self._stored.get(self.current.name)
        if self.oauth_key is not None and not current_signed_in:
            self.sign_in()
            return
        service = self._service
        current = self.current
        name = self.name.text().strip()
        user = self.user.text().strip()
        config = self.server_config()
        folders = self.chosen_folder_names()
        typed = self.password.text() if self.oauth_key is None else ""
        keep_password = self.keyring_reason is None and bool(typed)
        if not name or not user or not config.host:
            self._say(False, "An account needs a name, a user name and a server.")
            return

        def work() -> AccountInfo:
            info = _store_account(service, current, name, user, config, folders)
            if keep_password:
                Service.set_password(info, typed)
            return info

        def done(info: AccountInfo) -> None:
            self.current = info
            self.password.clear()
            stored = " Password stored in the keyring." if keep_password else ""
            self._say(True, f"Saved {info.name}.{stored}")
            self.reload(select=info.name)
            self.accounts_changed.emit()
            self.saved.emit()

        def failed(exc: BaseException) -> None:
            if not isinstance(exc, UserFacingError):
                show_error(self, exc)
                return
            self._say(False, str(exc), typed)

        Op(self, work, write=True).success(done).failure(failed).run()

    def _ask_save_untested(self, why: str) -> None:
        box = message_box(
            QMessageBox.Icon.Warning,
            "Save account",
            f"The connection test failed: {why}\n\nSave the account anyway? Its sync "
            "will fail until the settings are right.",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setObjectName("saveFailedTestBox")
        save = box.addButton("Save anyway", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(lambda b: self.save(confirmed=True) if b is save else None)
        self.save_question = box
        box.open()

    def sign_in(self) -> None:
        """Save the form as an account that signs in with OAuth, then sign in in the browser."""
        key = self.oauth_key
        if key is None or self._sign_in_op is not None:
            return
        service = self._service
        current = self.current
        name = self.name.text().strip()
        user = self.user.text().strip()
        config = self.server_config()
        folders = self.chosen_folder_names()
        if not name or not user or not config.host:
            self._say(False, "An account needs a name, a user name and a server.")
            return
        if self.keyring_reason is not None:
            self._say(
                False,
                "There is no usable keyring on this computer, so a sign-in could not be kept "
                f"({self.keyring_reason}).",
            )
            return

        def work() -> AccountInfo:
            return _store_account(service, current, name, user, config, folders, oauth_provider=key)

        def failed(exc: BaseException) -> None:
            if not isinstance(exc, UserFacingError):
                show_error(self, exc)
                return
            self._say(False, str(exc))

        Op(self, work, write=True).success(self._browser_sign_in).failure(failed).run()

    def _browser_sign_in(self, info: AccountInfo) -> None:
        """Run the browser sign-in of a saved account, with progress and Cancel."""
        self.current = info
        self.reload(select=info.name)
        self.accounts_changed.emit()
        service = self._service
        label = self._provider_label(info.oauth_provider or "")

        def work(progress: Any, should_cancel: Any) -> AccountInfo:
            service.sign_in(info, open_url=progress, should_cancel=should_cancel)
            return info

        def opened(url: object) -> None:
            text = str(url)
            if QDesktopServices.openUrl(QUrl(text)):
                self.sign_in_note.setText(
                    f"Waiting for you to sign in at {label} in your browser… "
                    "Come back here when the page says you can close it."
                )
            else:
                self.sign_in_note.setText(
                    f"No browser could be opened. Open this address to sign in at {label}:\n" + text
                )
            self.sign_in_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        def done(signed: AccountInfo) -> None:
            self._stored[signed.name] = True
            self._say(True, f"Signed in at {label}. Sync Mail (F5) fetches the mail.")
            self.reload(select=signed.name)
            self.accounts_changed.emit()
            self.saved.emit()
            self.signed_in.emit(True)

        def failed(exc: BaseException) -> None:
            if isinstance(exc, SignInCancelled):
                self._say(False, "Sign-in cancelled.")
            elif isinstance(exc, UserFacingError):
                self._say(False, str(exc))
            else:
                show_error(self, exc)
            self.signed_in.emit(False)

        def finished() -> None:
            self._sign_in_op = None
            self.cancel_sign_in.hide()
            self.sign_in_button.setEnabled(True)
            self.save_button.setEnabled(True)
            self._set_oauth(self.oauth_key)

        op = Op(self, work).with_progress(opened).success(done).failure(failed)
        op.finished(finished)
        self._sign_in_op = op
        self.sign_in_button.setEnabled(False)
        self.save_button.setEnabled(False)
        self.cancel_sign_in.show()
        self.cancel_sign_in.clicked.connect(op.cancel)
        self.sign_in_note.setText(f"Opening {label}'s sign-in page…")
        op.run()

    def ask_remove(self) -> None:
        """Confirm, then remove the shown account and its stored password."""
        info = self.current
        if info is None:
            return
        box = message_box(
            QMessageBox.Icon.Question,
            "Remove account",
            f"Remove the account “{info.name}” and its stored password? The mail already "
            "imported stays in Threadline.",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setObjectName("removeAccountBox")
        remove = box.addButton("Remove", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(lambda b: self.remove(info) if b is remove else None)
        box.open()

    def remove(self, info: AccountInfo) -> None:
        """Remove ``info`` (and its keyring secret) on the writer."""
        service = self._service

        def work() -> None:
            service.remove_account(info.name)  # revoking an OAuth sign-in first

        def done(_r: object) -> None:
            self.new_account()
            self.reload()
            self.accounts_changed.emit()

        Op(self, work, write=True).success(done).run()
