"""Mail Accounts → Sign in with …: the browser sign-in driven from the dialog like a user,
against the real OAuth server and Dovecot of ``tests.oauth_server``. Qt's own URL handler
hook plays the system browser; background work is awaited with signals, never sleeps."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices

from app import accounts
from app.db import Database
from tests.dovecot import Dovecot, MemoryKeyring, message
from tests.oauth_server import CLIENT_ID, OAuthServer, browse
from tests.test_gui_accounts import WAIT, open_accounts, window  # noqa: F401
from tests.test_oauth import deliver
from ui.main_window import MainWindow

pytest_plugins = ["tests.oauth_server"]
pytestmark = pytest.mark.gui


class Browser(QObject):
    """Receives the URLs the app asks the desktop to open, and follows them (or not)."""

    def __init__(self, follow: bool = True) -> None:
        super().__init__()
        self.follow = follow
        self.opened: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.opened.append(url.toString())
        if self.follow:
            threading.Thread(target=browse, args=(url.toString(),), daemon=True).start()


@pytest.fixture
def browser() -> Iterator[Browser]:
    handler = Browser()
    QDesktopServices.setUrlHandler("http", handler, "open")
    QDesktopServices.setUrlHandler("https", handler, "open")
    yield handler
    QDesktopServices.unsetUrlHandler("http")
    QDesktopServices.unsetUrlHandler("https")


def _issuer_account(db: Database, server: Dovecot, oauth_server: OAuthServer) -> None:
    with db.session() as session:
        accounts.add_account(
            session,
            "Shop",
            host=server.host,
            username=server.user,
            port=server.port,
            tls="none",
            oauth_provider=oauth_server.url,
            oauth_client_id=CLIENT_ID,
        )


def test_gmail_offers_sign_in_with_google_instead_of_a_password(
    qtbot,
    window: MainWindow,  # noqa: F811
    memory_keyring: MemoryKeyring,
) -> None:
    dialog = open_accounts(qtbot, window)
    dialog.user.setText("owner@gmail.com")
    dialog.user.editingFinished.emit()
    assert dialog.oauth_key == "google"
    assert dialog.sign_in_button.isVisible() and not dialog.password.isVisible()
    assert dialog.sign_in_button.text() == "Sign in with Google"
    dialog.grab().save("/tmp/accounts_google.png")
    # No client id configured: the user is told exactly what is missing.
    dialog.name.setText("Gmail")
    with qtbot.waitSignal(dialog.accounts_changed, timeout=WAIT):
        dialog.sign_in()
    qtbot.waitUntil(lambda: "client id" in dialog.test_result.text(), timeout=WAIT)
    assert "THREADLINE_GOOGLE_CLIENT_ID" in dialog.test_result.text()
    # "Use a password instead" brings the password field back (an app password).
    dialog.new_account()
    dialog.preset.setCurrentIndex(dialog.preset.findData("gmail"))
    assert dialog.sign_in_button.isVisible()
    dialog.use_password.click()
    assert dialog.password.isVisible() and not dialog.sign_in_button.isVisible()


def test_sign_in_again_from_the_dialog_then_sync(
    qtbot,
    window: MainWindow,  # noqa: F811
    db: Database,
    oauth_dovecot: Dovecot,
    oauth_server: OAuthServer,
    memory_keyring: MemoryKeyring,
    browser: Browser,
) -> None:
    _issuer_account(db, oauth_dovecot, oauth_server)
    deliver(oauth_dovecot, message(301))
    dialog = open_accounts(qtbot, window)
    qtbot.waitUntil(lambda: dialog.current is not None, timeout=WAIT)
    assert dialog.sign_in_button.text() == "Sign in with 127.0.0.1"
    assert "Not signed in yet" in dialog.sign_in_note.text()
    dialog.grab().save("/tmp/accounts_again.png")
    with qtbot.waitSignal(dialog.signed_in, timeout=WAIT) as signal:
        dialog.sign_in_button.click()
    assert signal.args == [True], dialog.test_result.text()
    assert browser.opened and browser.opened[0].startswith(oauth_server.url)
    assert "Signed in" in dialog.test_result.text()
    (stored,) = memory_keyring.secrets.values()
    assert stored in oauth_server.issued_secrets()
    with qtbot.waitSignal(dialog.test_finished, timeout=WAIT) as tested:
        dialog.test_button.click()
    assert tested.args == [True], dialog.test_result.text()

    # Access withdrawn at the provider: the sync fails, and the dialog asks to sign in again.
    with qtbot.waitSignal(window.sync_flow.sync_finished, timeout=WAIT):
        window.sync_mail()
    oauth_server.revoke_all()
    with qtbot.waitSignal(window.sync_flow.sync_finished, timeout=WAIT):
        window.sync_mail()
    dialog.reload()
    qtbot.waitUntil(lambda: "no longer has access" in dialog.sign_in_note.text(), timeout=WAIT)
    assert dialog.sign_in_button.text() == "Sign in again with 127.0.0.1"
    assert memory_keyring.secrets == {}  # the dead grant is not kept


def test_declined_and_cancelled_sign_ins_say_so(
    qtbot,
    window: MainWindow,  # noqa: F811
    db: Database,
    oauth_dovecot: Dovecot,
    oauth_server: OAuthServer,
    memory_keyring: MemoryKeyring,
    browser: Browser,
) -> None:
    _issuer_account(db, oauth_dovecot, oauth_server)
    dialog = open_accounts(qtbot, window)
    qtbot.waitUntil(lambda: dialog.current is not None, timeout=WAIT)
    oauth_server.decision = "deny"
    with qtbot.waitSignal(dialog.signed_in, timeout=WAIT) as signal:
        dialog.sign_in_button.click()
    assert signal.args == [False]
    assert "consent declined" in dialog.test_result.text()

    browser.follow = False  # the user closes the tab: the redirect never comes
    with qtbot.waitSignal(dialog.signed_in, timeout=WAIT) as signal:
        dialog.sign_in_button.click()
        qtbot.waitUntil(dialog.cancel_sign_in.isVisible, timeout=WAIT)
        qtbot.waitUntil(lambda: "Waiting for you" in dialog.sign_in_note.text(), timeout=WAIT)
        dialog.cancel_sign_in.click()
    assert signal.args == [False]
    assert "Sign-in cancelled" in dialog.test_result.text()
    assert not dialog.cancel_sign_in.isVisible() and dialog.sign_in_button.isEnabled()
    assert memory_keyring.secrets == {}
