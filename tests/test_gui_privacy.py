"""File → Export Customer Data… and Customers → Forget… driven like a user."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from PySide6.QtWidgets import QMessageBox

from app.db import Database
from tests.test_gui import WAIT, names, open_customer, window  # noqa: F401
from ui.main_window import MainWindow

pytestmark = pytest.mark.gui


def test_export_data_then_forget_with_a_confirmation(
    qtbot,
    window: MainWindow,  # noqa: F811
    db: Database,
    tmp_path: Path,
) -> None:
    first = names(window)[0]
    open_customer(qtbot, window, first)
    customer = window.timeline_model.customer
    assert customer is not None

    out = tmp_path / "data.json"
    with qtbot.waitSignal(window.privacy_flow.exported, timeout=WAIT):
        window.privacy_flow.export(customer.id, out)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["customer"]["id"] == customer.id and data["events"]

    # Cancel first: nothing changes.
    with qtbot.waitSignal(window.privacy_flow.confirm_shown, timeout=WAIT) as shown:
        window.forget_action.trigger()
    box: QMessageBox = shown.args[0]
    assert f"Forget {customer.name}" in box.text() and "cannot be undone" in box.text()
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
    box.grab().save("/tmp/forget_confirm.png")
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert first in names(window)

    with qtbot.waitSignal(window.privacy_flow.confirm_shown, timeout=WAIT) as shown:
        window.forget_action.trigger()
    box = shown.args[0]
    forget = next(b for b in box.buttons() if b.objectName() == "forgetButton")
    with qtbot.waitSignal(window.privacy_flow.forgotten, timeout=WAIT):
        forget.click()
    qtbot.waitUntil(lambda: first not in names(window), timeout=WAIT)
    assert window.timeline_model.customer_id is None
    assert not window.export_action.isEnabled()
    window.grab().save("/tmp/forgotten.png")
