"""The first-run welcome: your business, your name, your own addresses, and where you are.

Shown inside the empty state (``ui/empty_state.py``) while the database has
no setting saved at all (``settings.needs_welcome``). Region, time zone and
currency are proposed from the OS locale (``QLocale()``, which is the system
locale unless a default was set), never a fixed country. Whatever the user
then picks — Import, Connect a mailbox, Try the demo — saves the answers first
(with ``welcomed = yes``), through ``Service.configure_many`` like the settings
window, so the welcome does not come back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import available_timezones

import phonenumbers

from PySide6.QtCore import QLocale, QTimeZone, Signal
from PySide6.QtWidgets import QFormLayout, QLineEdit, QWidget

from app import service as core
from app.service import Database, Service
from ui.settings_dialog import LIST_HINT, currency_field, region_combo, set_region, zone_combo
from ui.workers import Op


@dataclass(frozen=True)
class Proposal:
    """What the OS locale suggests; "" where it says nothing usable."""

    region: str
    timezone: str
    currency: str


def locale_proposal(locale: QLocale | None = None) -> Proposal:
    """Region, time zone and currency from ``locale`` (default: ``QLocale()``) and the OS zone."""
    loc = locale if locale is not None else QLocale()
    region = ""
    territory = loc.territory()
    if territory != QLocale.Country.AnyTerritory:
        region = QLocale.territoryToCode(territory).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        name = loc.name()  # "en_GB"
        region = name.split("_")[1].upper() if "_" in name else ""
    if region not in phonenumbers.SUPPORTED_REGIONS:
        region = ""
    zone = bytes(QTimeZone.systemTimeZoneId().data()).decode("ascii", "replace")
    if zone not in available_timezones():
        zone = core.machine_zone()
    currency = loc.currencySymbol(QLocale.CurrencySymbolFormat.CurrencyIsoCode).upper()
    if len(currency) != 3 or not currency.isalpha():
        currency = ""
    return Proposal(region, zone, currency)


class WelcomeForm(QWidget):
    """The welcome's questions; ``save(then)`` stores the answers and calls ``then()``.

    Signals:
        saved(): the answers were stored (``welcomed`` is now yes).
    """

    saved = Signal()

    def __init__(
        self,
        db: Service | Database,
        proposal: Proposal | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.service = Service.of(db)
        self.setObjectName("welcomeForm")
        self.setAccessibleName("Welcome")
        self.proposal = proposal or locale_proposal()
        self.fields: dict[str, QLineEdit] = {}
        form = QFormLayout(self)
        for key, label, hint in (
            ("business_name", "Business name:", "e.g. Bloom & Branch"),
            ("user_name", "Your name:", "signs your notes"),
            ("owner_emails", "Your email addresses:", LIST_HINT),
            ("owner_phones", "Your phone numbers:", LIST_HINT),
            ("owner_names", "Your chat names:", LIST_HINT),
        ):
            field = QLineEdit()
            field.setObjectName(f"welcome_{key}")
            field.setAccessibleName(label.rstrip(":"))
            field.setPlaceholderText(hint)
            self.fields[key] = field
            form.addRow(label, field)
        self.region = region_combo()
        self.region.setAccessibleName("Country")
        set_region(self.region, self.proposal.region)
        form.addRow("Country:", self.region)
        self.zone = zone_combo()
        self.zone.setAccessibleName("Time zone")
        self.zone.setCurrentText(self.proposal.timezone)
        form.addRow("Time zone:", self.zone)
        self.currency = currency_field()
        self.currency.setAccessibleName("Currency")
        self.currency.setText(self.proposal.currency)
        form.addRow("Currency:", self.currency)

    def answers(self) -> dict[str, str]:
        """The non-empty answers, by setting key (``welcomed`` included)."""
        found = {key: field.text().strip() for key, field in self.fields.items()}
        found["region"] = str(self.region.currentData() or "")
        found["timezone"] = self.zone.currentText().strip()
        found["currency"] = self.currency.text().strip()
        answered = {key: value for key, value in found.items() if value}
        answered["welcomed"] = "yes"
        return answered

    def save(self, then: Callable[[], None] | None = None) -> None:
        """Store the answers in one transaction (in the background), then call ``then``.

        An invalid answer (a mistyped time zone) is shown and nothing is stored.
        """
        service = self.service
        answers = self.answers()

        def write() -> None:
            service.configure_many(answers)  # one transaction, each with its side effects

        def done(_result: None) -> None:
            self.saved.emit()
            if then is not None:
                then()

        Op(self, write, write=True).success(done).run()
