"""Settings → Database against a real PostgreSQL server: test the connection, save, reopen.

The password typed goes to the (test) keyring, the URL kept has none, and the window
reopens on the server, then back on the local file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from PySide6.QtWidgets import QApplication, QMessageBox

from app.db import Database
from app.paths import data_dir
from tests.dovecot import MemoryKeyring
from tests.postgres import PgServer, run_postgres, server_bin
from tests.test_cli_e2e import DEMO
from tests.test_gui import names
from tests.test_team_roles import PASSWORDS, _use_passwords
from tests.test_ui_models import NOW, seed
from ui import workers
from ui.database_settings import DatabasePage
from ui.main_window import MainWindow

pytestmark = [pytest.mark.gui, pytest.mark.slow]
WAIT = 20000
SHOTS = os.environ.get("THREADLINE_SCREENSHOTS")  # a folder to keep the dialog's picture in


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    if server_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed (Debian package postgresql)")
    with run_postgres() as server:
        _use_passwords(server)
        name = "teamshop"
        server.new_database(name)
        from app.db import open_database

        open_database(server.url(name)).dispose()  # the administrator builds the schema
        server.execute("GRANT threadline_agent TO bob")
        yield server


@pytest.fixture
def window(qtbot, db: Database) -> Iterator[MainWindow]:
    seed(db)
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: bool(names(w)), timeout=WAIT)
    yield w
    workers.manager().wait_for_done()


def _page(w: MainWindow) -> DatabasePage:
    dialog = w.show_settings()
    dialog.tabs.setCurrentWidget(dialog.database_page)
    return dialog.database_page


def _fill(page: DatabasePage, pg: PgServer, password: str) -> None:
    page.server_choice.setChecked(True)
    page.host.setText(pg.host)
    page.port.setValue(pg.port)
    page.database.setText("teamshop")
    page.user.setText("bob")
    page.password.setText(password)


def test_choose_the_team_server_test_it_save_and_reopen(
    qtbot, window: MainWindow, pg: PgServer, memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    page = _page(window)
    assert page.local_choice.isChecked() and not page.server_box.isEnabled()
    _fill(page, pg, "wrong-password-1")
    with qtbot.waitSignal(page.tested, timeout=WAIT) as wrong:
        page.test_button.click()
    assert isinstance(wrong.args[0], Exception)
    assert page.result.text().startswith("✗ the server 127.0.0.1")
    assert "refused the password of bob" in page.result.text()
    assert "wrong-password-1" not in page.result.text()

    page.password.setText(PASSWORDS["bob"])
    with qtbot.waitSignal(page.tested, timeout=WAIT) as right:
        page.test_button.click()
    info = right.args[0]
    assert (info.user, info.role) == ("bob", "agent")
    assert page.result.text().startswith(f"✓ Connected to PostgreSQL {info.version} as bob")
    shot = Path(SHOTS or tmp_path) / "settings-database.png"
    assert page.window().grab().save(str(shot))

    with qtbot.waitSignal(page.store_chosen, timeout=WAIT) as saved:
        page.save_button.click()
    url = pg.url("teamshop", user="bob")
    assert saved.args == [url]
    kept = json.loads((data_dir() / "store.json").read_text())
    assert kept == {"url": url}
    assert PASSWORDS["bob"] not in (data_dir() / "store.json").read_text()
    key = f"store:bob@127.0.0.1:{pg.port}/teamshop"
    assert memory_keyring.secrets[("threadline", key)] == PASSWORDS["bob"]
    qtbot.waitUntil(lambda: window.replaced_by is not None, timeout=WAIT)
    team = window.replaced_by
    assert team is not None
    qtbot.addWidget(team)
    assert team.service.url == url and team.service.team_role() == "agent"

    # bob is an agent: importing works, a merge is refused by the server, in plain words.
    files = [p for p in sorted(DEMO.iterdir()) if p.is_file()]
    assert sum(r.added for r in team.service.import_paths(files)) > 0
    rows = team.service.all_customers()
    team.identity_flow.merge(rows[0], [rows[1]], reason="merged by hand")

    def refusal() -> list[QMessageBox]:
        return [
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, QMessageBox) and w.objectName() == "errorDialog" and w.isVisible()
        ]

    qtbot.waitUntil(lambda: bool(refusal()), timeout=WAIT)
    assert refusal()[0].text().startswith("Only an owner can merge customers")
    refusal()[0].close()
    assert len(team.service.all_customers()) == len(rows)

    # And back to this computer's file.
    back = _page(team)
    assert back.server_choice.isChecked() and back.host.text() == "127.0.0.1"
    assert back.password.placeholderText() == "kept in the keyring"
    back.local_choice.setChecked(True)
    with qtbot.waitSignal(back.store_chosen, timeout=WAIT) as local:
        back.save_button.click()
    assert local.args == [str(data_dir() / "threadline.db")]
    assert json.loads((data_dir() / "store.json").read_text()) == {"url": None}
    qtbot.waitUntil(lambda: team.replaced_by is not None, timeout=WAIT)
    assert team.replaced_by is not None and team.replaced_by.service.path is not None
    qtbot.addWidget(team.replaced_by)
    workers.manager().wait_for_done()


def test_a_saved_server_that_cannot_be_reached_offers_this_computers_file(
    qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.service import Service
    from ui import app as ui_app

    monkeypatch.delenv("THREADLINE_DB", raising=False)
    Service.choose_store("postgresql+psycopg://nobody@127.0.0.1:1/shop")
    shown: list[str] = []

    def use_local(box: QMessageBox) -> int:
        shown.append(box.text())
        for button in box.buttons():
            if button.text() == "Use This Computer's File":
                button.click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", use_local)
    window = ui_app.open_window()
    assert window is not None
    qtbot.addWidget(window)
    assert shown and "no PostgreSQL server answers at 127.0.0.1:1" in shown[0]
    assert window.service.path == data_dir() / "threadline.db"
    assert Service.saved_store() is None
    window.close()
    workers.manager().wait_for_done()
    window.service.close()


def test_an_agent_is_refused_owner_work_in_one_plain_line(
    qtbot, pg: PgServer, memory_keyring: MemoryKeyring
) -> None:
    """bob (an agent) in the window on the team server: a split, forgetting a customer and
    removing a mail account are refused by the server; each refusal is one line in a
    dialog, no traceback, and nothing changed."""
    from app import store_auth
    from app.service import Service
    from ui.accounts_dialog import AccountsDialog

    admin = Service.open(pg.url("teamshop"))  # the administrator sets the shop up
    try:
        admin.configure_many({"region": "GB", "timezone": "Europe/London"})
        admin.import_paths([p for p in sorted(DEMO.iterdir()) if p.is_file()])
        if "shop" not in [a.name for a in admin.accounts()]:
            admin.add_account("shop", host="127.0.0.1", username="x", port=1143, tls="none")
    finally:
        admin.close()
    url = pg.url("teamshop", user="bob")
    store_auth.store_password(url, PASSWORDS["bob"])
    bob = Service.open(url)
    w = MainWindow(bob, now=lambda: NOW)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: bool(names(w)), timeout=WAIT)

    def refused(start: str) -> None:
        def shown() -> list[QMessageBox]:
            return [
                b
                for b in QApplication.topLevelWidgets()
                if isinstance(b, QMessageBox) and b.objectName() == "errorDialog" and b.isVisible()
            ]

        qtbot.waitUntil(lambda: bool(shown()), timeout=WAIT)
        (box,) = shown()
        assert box.text().startswith(start), box.text()
        assert "\n" not in box.text() and "Traceback" not in box.text() + box.detailedText()
        box.close()
        qtbot.waitUntil(lambda: not shown(), timeout=WAIT)

    before = [(c.id, c.identities) for c in bob.all_customers()]
    row = next(c for c in bob.all_customers() if len(c.identities) >= 2)
    w.identity_flow.split(row, row.identities[0])
    refused("Only an owner can split customers")
    w.privacy_flow.forget(bob.erasure_plan(row.id))
    refused("Only an owner can forget customers")
    dialog = AccountsDialog(bob, w)
    qtbot.addWidget(dialog)
    dialog.remove(bob.account("shop"))
    refused("Only an owner can manage mail accounts")
    assert [(c.id, c.identities) for c in bob.all_customers()] == before
    assert [a.name for a in bob.accounts()] == ["shop"]
    workers.manager().wait_for_done()
    w.close()
    bob.close()
