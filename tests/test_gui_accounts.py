"""Settings → Mail Accounts and Sync ⟳, driven like a user against a real Dovecot server.

The keyring is the in-memory backend of ``tests.dovecot`` (a real keyring
backend, as in ``test_accounts.py``), or ``keyring.backends.fail`` for "no
usable keyring". Background work is awaited with signals, never sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from PySide6.QtWidgets import QInputDialog

from app import accounts
from app.db import Database
from tests.dovecot import PASSWORD, Dovecot, MemoryKeyring, message
from tests.test_ui_models import NOW
from ui import workers
from ui.accounts_dialog import AccountsDialog
from ui.main_window import MainWindow
from ui.sync_flow import SyncSummaryDialog

WAIT = 20000


@pytest.fixture
def window(qtbot, db: Database) -> Iterator[MainWindow]:
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitUntil(lambda: w.customer_model.loaded_query == "", timeout=WAIT)
    yield w
    workers.manager().wait_for_done()
    qtbot.waitUntil(lambda: workers.manager().active == 0, timeout=WAIT)


def open_accounts(qtbot, w: MainWindow) -> AccountsDialog:
    dialog = w.show_accounts()
    qtbot.waitUntil(lambda: dialog.keyring_known, timeout=WAIT)
    return dialog


def fill(dialog: AccountsDialog, server: Dovecot, password: str) -> None:
    dialog.new_account()
    dialog.name.setText("Shop")
    dialog.user.setText(server.user)
    dialog.password.setText(password)
    dialog.tls.setCurrentIndex(dialog.tls.findData("starttls"))
    dialog.host.setText("localhost")
    dialog.port.setValue(server.port)
    dialog.ca_file.setText(str(server.ca_file))


def test_add_test_and_save_an_account_keeps_the_password_in_the_keyring(
    qtbot, window: MainWindow, db: Database, dovecot: Dovecot, memory_keyring: MemoryKeyring
) -> None:
    dialog = open_accounts(qtbot, window)
    assert dialog.keyring_reason is None and not dialog.keyring_note.isVisible()
    fill(dialog, dovecot, "not-the-password")
    with qtbot.waitSignal(dialog.test_finished, timeout=WAIT) as failed:
        dialog.test_button.click()
    assert failed.args == [False]
    assert "rejected the user name or password" in dialog.test_result.text()
    dialog.password.setText(PASSWORD)
    with qtbot.waitSignal(dialog.test_finished, timeout=WAIT) as ok:
        dialog.test_button.click()
    assert ok.args == [True]
    assert "Connected" in dialog.test_result.text()
    folders = [dialog.folders.item(i).text() for i in range(dialog.folders.count())]
    assert "INBOX" in folders and "Archive" in folders
    with qtbot.waitSignal(dialog.saved, timeout=WAIT):
        dialog.save_button.click()
    with db.session() as session:
        info = accounts.get_account(session, "Shop")
    assert (info.host, info.port, info.tls, info.username) == (
        "localhost",
        dovecot.port,
        "starttls",
        dovecot.user,
    )
    assert memory_keyring.secrets == {("threadline", info.secret_key): PASSWORD}
    db.dispose()
    raw = Path(str(db.engine.url.database)).read_bytes()
    assert PASSWORD.encode() not in raw
    assert dialog.password.text() == ""
    qtbot.waitUntil(lambda: dialog.list.count() == 1, timeout=WAIT)


def test_plain_text_to_a_remote_host_is_explained_inline(
    qtbot, window: MainWindow, memory_keyring: MemoryKeyring
) -> None:
    dialog = open_accounts(qtbot, window)
    dialog.host.setText("imap.example.com")
    dialog.tls.setCurrentIndex(dialog.tls.findData("none"))
    assert dialog.tls_note.isVisibleTo(dialog)
    assert "Not allowed for imap.example.com" in dialog.tls_note.text()
    dialog.host.setText("127.0.0.1")
    assert "Not allowed" not in dialog.tls_note.text()
    dialog.preset.setCurrentIndex(dialog.preset.findData("gmail"))
    assert (dialog.host.text(), dialog.port.value(), dialog.tls.currentData()) == (
        "imap.gmail.com",
        993,
        "implicit",
    )
    assert "app password" in dialog.preset_note.text()


def add_account(db: Database, server: Dovecot) -> accounts.AccountInfo:
    with db.session() as session:
        return accounts.add_account(
            session,
            "shop",
            host=server.host,
            username=server.user,
            port=server.port,
            tls="none",
        )


def test_sync_imports_with_progress_and_the_customer_list_updates(
    qtbot, window: MainWindow, db: Database, dovecot: Dovecot, memory_keyring: MemoryKeyring
) -> None:
    dovecot.append("INBOX", *(message(i) for i in range(1, 4)))
    dovecot.append("INBOX", message(9, sender="Priya Patel <priya@example.org>"))
    info = add_account(db, dovecot)
    accounts.set_password(info, PASSWORD)
    seen: list[str] = []
    window.progress.bar.valueChanged.connect(lambda _v: seen.append(window.progress.label.text()))
    with qtbot.waitSignal(window.sync_flow.sync_finished, timeout=WAIT) as done:
        window.sync_action.trigger()
    reports = done.args[0]
    assert [(r.account, r.status, r.new) for r in reports] == [("shop", "done", 4)]
    assert any("Syncing shop · INBOX" in text for text in seen)
    summary = window.sync_flow.summary
    assert isinstance(summary, SyncSummaryDialog)
    top = summary.tree.topLevelItem(0)
    assert (top.text(0), top.text(1)) == ("shop", "4")
    assert top.child(0).text(0) == "INBOX" and top.child(0).text(1) == "4"
    assert "4 new" in summary.totals.text()

    def names() -> set[str]:
        model = window.customer_model
        return {model.row(i).name for i in range(model.rowCount())}

    qtbot.waitUntil(lambda: {"Jane Doe", "Priya Patel"} <= names(), timeout=WAIT)
    assert window.central.currentWidget() is window.splitter  # no longer the empty state
    summary.close()
    # a second sync adds nothing
    with qtbot.waitSignal(window.sync_flow.sync_finished, timeout=WAIT) as again:
        window.sync_action.trigger()
    assert again.args[0][0].new == 0


def test_without_a_keyring_the_dialog_says_so_and_sync_asks_for_the_password(
    qtbot, window: MainWindow, db: Database, dovecot: Dovecot, memory_keyring: MemoryKeyring
) -> None:
    keyring.set_keyring(fail.Keyring())
    dialog = open_accounts(qtbot, window)
    assert dialog.keyring_reason is not None
    assert "No usable keyring" in dialog.keyring_note.text()
    assert "each sync asks for it" in dialog.keyring_note.text()
    dialog.close()
    dovecot.append("INBOX", message(1))
    add_account(db, dovecot)
    with qtbot.waitSignal(window.sync_flow.password_asked, timeout=WAIT) as asked:
        window.sync_mail()
    prompt = asked.args[0]
    assert isinstance(prompt, QInputDialog)
    assert "no usable keyring" in prompt.labelText()
    with qtbot.waitSignal(window.sync_flow.sync_finished, timeout=WAIT) as done:
        prompt.setTextValue(PASSWORD)
        prompt.accept()
    assert done.args[0][0].new == 1
    assert memory_keyring.secrets == {}


def test_cancel_stops_the_sync_and_keeps_what_was_stored(
    qtbot, window: MainWindow, db: Database, dovecot: Dovecot, memory_keyring: MemoryKeyring
) -> None:
    dovecot.deliver(*(message(i) for i in range(1, 601)))
    info = add_account(db, dovecot)
    accounts.set_password(info, PASSWORD)

    def cancel_once_started(value: int) -> None:  # after the first batch is stored
        if value > 0 and window.progress.cancel.isEnabled():
            window.progress.cancel.click()

    window.progress.bar.valueChanged.connect(cancel_once_started)
    with qtbot.waitSignal(window.sync_flow.sync_finished, timeout=WAIT * 3) as done:
        window.sync_action.trigger()
    report = done.args[0][0]
    assert report.status == "cancelled"
    assert 0 < report.new < 600
    summary = window.sync_flow.summary
    assert summary is not None and "Sync cancelled" in summary.title.text()
