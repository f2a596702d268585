"""Data-protection requests from the window: File → Export Customer Data… and Customer → Forget….

Export writes everything stored about the shown customer (``Service.export_data``) as JSON or
as a zip of CSV files, in the background. Forget first works out what would go
(``Service.erasure_plan``), names it in a confirmation whose default is Cancel, and only then
erases on the writer; the window then shows no customer, and a warning lists the backups
that were made before and still hold the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from app.service import CustomerRow, Database, ErasurePlan, ErasureReport, Service
from ui import messages
from ui.safe_text import message_box
from ui.workers import Op

_JSON = "Everything, as JSON (*.json)"
_ZIP = "Spreadsheet files, as a zip of CSV files (*.zip)"


class PrivacyFlow(QObject):
    """Export a customer's data, or forget them, for a data-protection request.

    Signals:
        exported(str): a data export was written to this path.
        forgotten(int): this customer was erased.
        confirm_shown(object): the forget confirmation (a ``QMessageBox``) is open.
    """

    exported = Signal(str)
    forgotten = Signal(int)
    confirm_shown = Signal(object)

    def __init__(self, db: Service | Database, window: QWidget) -> None:
        super().__init__(window)
        self._service = Service.of(db)
        self._window = window
        self.confirm: QMessageBox | None = None

    # --- export -------------------------------------------------------------------------

    def ask_export(self, customer: CustomerRow | None) -> None:
        """Ask where to save, then export everything stored about ``customer``."""
        if customer is None:
            messages.info("Pick a customer first, then export their data.")
            return
        name = "".join(c for c in customer.name if c.isalnum() or c in " -_").strip()
        suggested = str(Path.home() / f"{name or 'customer'} - data.json")
        path, chosen = QFileDialog.getSaveFileName(
            self._window, f"Export everything stored about {customer.name}", suggested,
            f"{_JSON};;{_ZIP}",
        )  # fmt: skip
        if path:
            as_zip = chosen == _ZIP or path.lower().endswith(".zip")
            self.export(customer.id, Path(path), as_zip=as_zip)

    def export(self, customer_id: int, path: Path, *, as_zip: bool = False) -> None:
        """Write the export in the background and say where it went."""
        service = self._service

        def work() -> dict[str, Any]:
            return service.export_data(customer_id, path, zipped=as_zip)

        def done(data: dict[str, Any]) -> None:
            events = len(data["events"])
            messages.info(f"Exported everything about {data['customer']['name']} "
                          f"({events:,} events) to {path}.")  # fmt: skip
            self.exported.emit(str(path))

        Op(self._window, work).success(done).run()

    # --- forget -------------------------------------------------------------------------

    def ask_forget(self, customer: CustomerRow | None) -> None:
        """Work out what forgetting ``customer`` removes, then ask before doing it."""
        if customer is None:
            messages.info("Pick a customer first.")
            return
        service = self._service

        def work() -> ErasurePlan:
            return service.erasure_plan(customer.id)

        Op(self._window, work).success(self._confirm).run()

    def _confirm(self, plan: ErasurePlan) -> None:
        box = message_box(
            QMessageBox.Icon.Warning,
            "Forget customer",
            plan.summary(),
            QMessageBox.StandardButton.Cancel,
            self._window,
            informative=(
                "Use this for a request to erase their data. Their contact points are kept "
                "only as a one-way code, so later imports and syncs leave them out. Export "
                "their data first if they also asked for a copy."
            ),
        )
        box.setObjectName("forgetConfirm")
        forget = box.addButton("Forget", QMessageBox.ButtonRole.DestructiveRole)
        forget.setObjectName("forgetButton")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(lambda b: self.forget(plan) if b is forget else None)
        self.confirm = box
        box.open()
        self.confirm_shown.emit(box)

    def forget(self, plan: ErasurePlan) -> None:
        """Erase the planned customer on the writer."""
        service = self._service

        def work() -> ErasureReport:
            return service.forget(plan.customer_id)

        def done(report: ErasureReport) -> None:
            messages.info(
                f"Forgot {plan.name}: {len(plan.events):,} events, {plan.notes:,} notes and "
                f"{len(plan.identities):,} contact points removed."
            )
            if report.backups:
                listed = "\n".join(report.backups)
                warning = message_box(
                    QMessageBox.Icon.Warning,
                    "Older backups still hold this customer",
                    "These backups were made before and still hold the forgotten data. "
                    "Delete them, or keep them out of use:",
                    QMessageBox.StandardButton.Ok,
                    self._window,
                    informative=listed,
                )
                warning.setObjectName("backupsWarning")
                warning.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
                warning.open()
            self.forgotten.emit(plan.customer_id)

        Op(self._window, work, write=True).success(done).run()
