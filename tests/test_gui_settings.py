"""Edit → Settings…, the first-run welcome and Help → About, driven like a user.

Settings save as a field is left and take effect at once (an owner address
stops being a customer, as ``threadline config owner_emails`` does); the
welcome proposes region, time zone and currency from the locale and is shown
only on a database nobody has set up; About shows the installed version.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from PySide6.QtCore import QLocale
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit

from app import about, backups, settings
from app.db import Database, open_database
from app.ingest import import_items
from tests.test_gui import names, open_customer
from tests.test_ui_models import NOW, SHOP, mail, seed
from ui import workers
from ui.main_window import MainWindow
from ui.settings_dialog import SettingsDialog, set_region
from ui.welcome import locale_proposal

pytestmark = pytest.mark.gui
WAIT = 10000


def _settle(qtbot) -> None:
    workers.manager().wait_for_done()
    qtbot.waitUntil(lambda: workers.manager().active == 0, timeout=WAIT)


@pytest.fixture
def window(qtbot, db: Database) -> Iterator[MainWindow]:
    seed(db)
    pat = mail("pat@1", "Pat Lee", "pat.lee@example.org", SHOP, "Hours", "Open on Sunday?", NOW)
    import_items(db, lambda: [pat], label="pat.mbox", format="test")
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: "Pat Lee" in names(w), timeout=WAIT)
    yield w
    _settle(qtbot)


@pytest.fixture
def locale_default() -> Iterator[None]:
    before = QLocale()
    yield
    QLocale.setDefault(before)


def _open_settings(qtbot, w: MainWindow) -> SettingsDialog:
    w.settings_action.trigger()
    dialog = w.settings_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: bool(dialog.values), timeout=WAIT)
    return dialog


def _shown_emails(w: MainWindow) -> tuple[str, ...]:
    row = w.timeline_model.customer
    return row.emails if row is not None else ()


def _type(qtbot, dialog: SettingsDialog, key: str, text: str) -> None:
    field = dialog.fields[key]
    assert isinstance(field, QLineEdit)
    field.setText(text)
    with qtbot.waitSignal(dialog.changed, timeout=WAIT):
        field.editingFinished.emit()


def _stored(db: Database) -> dict[str, str]:
    with db.read_session() as session:
        return settings.get_all(session)


def test_settings_is_in_the_edit_menu_with_the_preferences_role(window: MainWindow) -> None:
    action = window.settings_action
    assert action.menuRole() == action.MenuRole.PreferencesRole
    assert not action.shortcut().isEmpty()


def test_an_owner_address_added_in_settings_stops_being_a_customer(
    qtbot, window: MainWindow, db: Database
) -> None:
    open_customer(qtbot, window, "Pat Lee")  # shown while the address becomes the owner's
    dialog = _open_settings(qtbot, window)
    emails = dialog.fields["owner_emails"]
    assert isinstance(emails, QLineEdit) and emails.text() == SHOP
    _type(qtbot, dialog, "owner_emails", f"{SHOP}, Pat.Lee@example.org")
    qtbot.waitUntil(lambda: "Pat Lee" not in names(window), timeout=WAIT)
    assert "Jane Doe" in names(window)
    # the shown profile is read again: the address is no longer the customer's
    qtbot.waitUntil(lambda: "pat.lee@example.org" not in _shown_emails(window), timeout=WAIT)
    assert _stored(db)["owner_emails"] == f"{SHOP}, Pat.Lee@example.org"


def test_every_setting_saves_and_takes_effect(qtbot, window: MainWindow, db: Database) -> None:
    dialog = _open_settings(qtbot, window)
    typed = {
        "user_name": "Alex Morgan",
        "business_name": "Bloom & Branch <Ltd>",
        "owner_phones": "+44 7700 900999",
        "owner_names": "Bloom Flowers, Alex",
        "currency": "eur",
        "google_client_id": "id-123.apps.googleusercontent.com",
        "google_client_secret": "not-a-secret",
        "microsoft_client_id": "00000000-1111-2222-3333-444444444444",
    }
    for key, text in typed.items():
        _type(qtbot, dialog, key, text)
    region = dialog.fields["region"]
    assert isinstance(region, QComboBox)
    set_region(region, "IE")
    with qtbot.waitSignal(dialog.changed, timeout=WAIT):
        region.activated.emit(region.currentIndex())
    zone = dialog.fields["timezone"]
    assert isinstance(zone, QComboBox)
    zone.setCurrentText("Asia/Tokyo")
    with qtbot.waitSignal(dialog.changed, timeout=WAIT):
        zone.activated.emit(zone.currentIndex())
    automated = dialog.fields["automated_customers"]
    assert isinstance(automated, QCheckBox)
    with qtbot.waitSignal(dialog.changed, timeout=WAIT):
        automated.setChecked(True)

    stored = _stored(db)
    assert stored["currency"] == "EUR"  # normalised, and shown normalised
    assert dialog.fields["currency"].text() == "EUR"  # type: ignore[attr-defined]
    for key in ("user_name", "business_name", "owner_names", "google_client_id"):
        assert stored[key] == typed[key]
    assert stored["region"] == "IE" and stored["timezone"] == "Asia/Tokyo"
    assert stored["automated_customers"] == "yes"
    assert window.timeline_model.tz == ZoneInfo("Asia/Tokyo")  # the window's dates follow
    assert window.results.delegate._tz == ZoneInfo("Asia/Tokyo")  # and the search hits' dates


def test_an_invalid_value_is_refused_and_the_stored_one_shown(
    qtbot, window: MainWindow, db: Database, monkeypatch
) -> None:
    shown: list[str] = []
    monkeypatch.setattr("ui.settings_dialog.show_error", lambda _p, exc: shown.append(str(exc)))
    dialog = _open_settings(qtbot, window)
    field = dialog.fields["currency"]
    assert isinstance(field, QLineEdit)
    before = field.text()
    field.setText("E1")
    field.editingFinished.emit()
    qtbot.waitUntil(lambda: bool(shown), timeout=WAIT)
    assert "currency" in shown[0] and field.text() == before
    assert _stored(db)["currency"] == before


def test_back_up_now_lists_the_new_backup(qtbot, window: MainWindow, db: Database) -> None:
    dialog = _open_settings(qtbot, window)
    assert db.path is not None
    assert dialog.folder_label.text() == str(db.path.parent)
    with qtbot.waitSignal(dialog.backups_listed, timeout=WAIT):
        dialog.backup_button.click()
    made = backups.list_backups(db.path)
    assert [b.label for b in made] == ["manual"]
    assert made[0].path.name in dialog.backup_list.item(0).text()


# --- the first-run welcome -----------------------------------------------------------------


def test_the_proposal_comes_from_the_locale_never_a_fixed_country(locale_default) -> None:
    QLocale.setDefault(QLocale("de_DE"))
    proposal = locale_proposal()
    assert (proposal.region, proposal.currency) == ("DE", "EUR")
    assert locale_proposal(QLocale("en_GB")).region == "GB"
    assert locale_proposal(QLocale("ja_JP")).currency == "JPY"
    unknown = locale_proposal(QLocale("C"))
    assert unknown.region == ""  # the user is asked, not told "US"


def test_first_run_welcome_asks_and_saves_then_imports(
    qtbot, tmp_path: Path, locale_default
) -> None:
    QLocale.setDefault(QLocale("fr_FR"))
    db = open_database(tmp_path / "fresh.db")
    try:
        w = MainWindow(db, now=lambda: NOW)  # closed here, before the database is disposed
        w.show()
        qtbot.waitUntil(lambda: w.central.currentWidget() is w.empty, timeout=WAIT)
        form = w.empty.welcome
        assert form is not None and form.isVisible()
        assert form.region.currentData() == "FR" and form.currency.text() == "EUR"
        form.fields["business_name"].setText("Fleurs & Co")
        form.fields["user_name"].setText("Camille")
        form.fields["owner_emails"].setText("bonjour@fleurs.example")
        w.empty.import_button.click()
        qtbot.waitUntil(
            lambda: w.import_flow.dialog is not None and w.import_flow.dialog.isVisible(),
            timeout=WAIT,
        )
        w.import_flow.dialog.reject()
        stored = _stored(db)
        assert stored["business_name"] == "Fleurs & Co" and stored["user_name"] == "Camille"
        assert stored["owner_emails"] == "bonjour@fleurs.example"
        assert (stored["region"], stored["currency"], stored["welcomed"]) == ("FR", "EUR", "yes")
        assert not form.isVisible()
        w.close()
        _settle(qtbot)

        again = MainWindow(db, now=lambda: NOW)  # set up now: no welcome the next time
        assert again.empty.welcome is None
        again.close()
        _settle(qtbot)
    finally:
        db.dispose()


def test_a_configured_database_gets_no_welcome(qtbot, db: Database) -> None:
    w = MainWindow(db, now=lambda: NOW)  # the fixture set region and time zone
    qtbot.addWidget(w)
    assert w.empty.welcome is None
    assert w.empty.mailbox_button.text().startswith("Connect")


def test_needs_welcome_until_a_setting_is_saved(tmp_path: Path) -> None:
    db = open_database(tmp_path / "new.db")
    try:
        with db.session() as session:
            assert settings.needs_welcome(session)
            settings.set_value(session, "currency", "GBP")
        with db.session() as session:
            assert not settings.needs_welcome(session)
    finally:
        db.dispose()


# --- About ---------------------------------------------------------------------------------


def test_about_shows_the_version_and_the_licences(qtbot, window: MainWindow) -> None:
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    expected = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    assert about.version() == expected
    dialog = window.show_about()
    assert dialog.isVisible()
    assert expected in dialog.title.text()
    text = dialog.licences.toPlainText()
    for needle in ("SQLAlchemy", "MIT", "LGPL", "phonenumbers", "Noto fonts", "Open Font"):
        assert needle in text
    dialog.close()
