"""Import → Map columns…: a generic CSV nobody recognises is mapped, previewed, saved and imported.

The fixture is a chat widget's CSV whose headers no connector guesses
("Stamp, Person, Words, Contact"). The import dialog offers "Map columns…";
the dialog presets nothing, marks the required fields, previews the rows as
they would import, saves the mapping on OK, and the import uses it. A second
file with the same headers opens the dialog preset from the saved mapping
(and imports without mapping at all).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from PySide6.QtWidgets import QDialogButtonBox

from app import mappings, queries
from app.db import Database
from connectors import registry
from tests.test_ui_models import NOW
from ui import workers
from ui.import_dialog import ImportDialog
from ui.main_window import MainWindow
from ui.mapping_dialog import ColumnMappingDialog

WAIT = 10000
HEADER = "Stamp,Person,Words,Contact\n"
ROWS = (
    "2026-03-01 10:00,Jane Doe,Do you ship to Leeds?,jane.doe@gmail.com\n"
    "2026-03-01 10:05,Bloom Flowers,Yes we do!,\n"
    "2026-03-01 10:07,Jane Doe,Lovely - thank you,jane.doe@gmail.com\n"
)


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


def widget_csv(folder: Path, name: str, rows: str = ROWS) -> Path:
    path = folder / name
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def open_import(qtbot, w: MainWindow, path: Path) -> ImportDialog:
    dialog = w.import_flow.open_dialog([path])
    qtbot.waitSignal(dialog.detection_finished, timeout=WAIT).wait()
    qtbot.waitUntil(lambda: "Map columns" in dialog.preview.placeholder.text(), timeout=WAIT)
    return dialog


def open_mapping(qtbot, dialog: ImportDialog) -> ColumnMappingDialog:
    qtbot.waitUntil(dialog.map_button.isEnabled, timeout=WAIT)
    mapping = dialog.map_columns()
    assert mapping is not None
    qtbot.waitUntil(lambda: bool(mapping.combos), timeout=WAIT)
    return mapping


def choose(dialog: ColumnMappingDialog, field: str, header: str | None) -> None:
    combo = dialog.combos[field]
    combo.setCurrentIndex(combo.findData(header))


def test_map_a_generic_chat_csv_then_reuse_the_mapping(
    qtbot, window: MainWindow, db: Database, tmp_path: Path
) -> None:
    first = widget_csv(tmp_path, "widget-march.csv")
    dialog = open_import(qtbot, window, first)
    assert not dialog.import_button.isEnabled()  # nothing recognised yet
    mapping = open_mapping(qtbot, dialog)
    assert mapping.format_name == "chat_csv"
    assert mapping.headers == ["Stamp", "Person", "Words", "Contact"]
    assert mapping.mapping() == {}  # nothing to guess from these headers
    assert not mapping.ok_button.isEnabled()
    assert "Message text" in mapping.missing.text()
    assert "(required)" in mapping.combos["text"].accessibleName()
    choose(mapping, "time", "Stamp")
    choose(mapping, "author", "Person")
    with qtbot.waitSignal(mapping.preview_updated, timeout=WAIT):
        choose(mapping, "text", "Words")
    qtbot.waitUntil(lambda: mapping.preview_model.rowCount() == 3, timeout=WAIT)
    assert mapping.ok_button.isEnabled()
    model = mapping.preview_model
    assert model.item(0).text == "Do you ship to Leeds?"
    assert model.item(0).author == "Jane Doe"
    choose(mapping, "email", "Contact")
    with qtbot.waitSignal(mapping.mapping_chosen, timeout=WAIT):
        mapping.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    with db.session() as session:
        saved = mappings.saved(session, "chat_csv", registry.read_headers(first))
    assert saved == {"time": "Stamp", "author": "Person", "text": "Words", "email": "Contact"}
    # the import dialog now knows the file and previews it with the mapping
    assert "columns mapped" in dialog.files.topLevelItem(0).text(1)
    qtbot.waitUntil(lambda: dialog.preview_model.rowCount() == 3, timeout=WAIT)
    request = dialog.request()
    assert request.mapped == ((first, "chat_csv", saved),)
    assert dialog.import_button.isEnabled()
    with qtbot.waitSignal(window.import_flow.import_finished, timeout=WAIT) as done:
        dialog.import_button.click()
    reports = done.args[0]
    assert [(r.format, r.added, r.status) for r in reports] == [("chat_csv", 3, "done")]
    window.import_flow.summary.close()
    with db.session() as session:
        jane = queries.list_customers(session, "jane")
    assert jane and jane[0].name == "Jane Doe"

    # a later export with the same columns: the dialog opens preset from the saved mapping
    second = widget_csv(
        tmp_path, "widget-april.csv", "2026-04-02 09:00,Jane Doe,Back again!,jane.doe@gmail.com\n"
    )
    dialog2 = window.import_flow.open_dialog([second])
    qtbot.waitSignal(dialog2.detection_finished, timeout=WAIT).wait()
    # ingest recognises the header set by its saved mapping, so the preview works at once
    qtbot.waitUntil(lambda: dialog2.preview_model.rowCount() == 1, timeout=WAIT)
    qtbot.waitUntil(dialog2.map_button.isEnabled, timeout=WAIT)
    mapping2 = dialog2.map_columns()
    assert mapping2 is not None
    qtbot.waitUntil(lambda: bool(mapping2.combos), timeout=WAIT)
    assert mapping2.mapping() == saved
    mapping2.reject()
    dialog2.reject()


def test_orders_csv_mapping_lists_the_order_fields(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    path = tmp_path / "shop.csv"
    path.write_text("Ref;Placed;Sum;Buyer\nA-1;2026-03-01;12.50;kim@example.com\n")
    dialog = open_import(qtbot, window, path)
    mapping = open_mapping(qtbot, dialog)
    with qtbot.waitSignal(mapping.headers_loaded, timeout=WAIT):
        mapping.format_combo.setCurrentIndex(mapping.format_combo.findData("orders_csv"))
    assert set(mapping.combos) >= {"number", "date", "total", "email"}
    assert not mapping.ok_button.isEnabled()
    choose(mapping, "number", "Ref")
    choose(mapping, "date", "Placed")
    choose(mapping, "total", "Sum")
    with qtbot.waitSignal(mapping.preview_updated, timeout=WAIT):
        choose(mapping, "email", "Buyer")
    qtbot.waitUntil(lambda: mapping.preview_model.rowCount() == 1, timeout=WAIT)
    assert "Order A-1" in mapping.preview_model.item(0).text
    mapping.reject()
    dialog.reject()


def test_a_list_of_customers_maps_as_contacts_and_imports(
    qtbot, window: MainWindow, db: Database, tmp_path: Path
) -> None:
    """A spreadsheet of customers (no address book program wrote it): "Map columns…",
    "Contacts", the columns guessed from their names, the preview showing contact cards,
    then the import links each one's address and number."""
    path = tmp_path / "customers.csv"
    path.write_text(
        "Customer,Email,WhatsApp,Last order\n"
        "Priya Shah,priya@example.org,+44 7700 900456,2026-02-14\n"
        "Ann Lee,ann@example.com,,2026-01-03\n",
        encoding="utf-8",
    )
    dialog = open_import(qtbot, window, path)
    mapping = open_mapping(qtbot, dialog)
    with qtbot.waitSignal(mapping.headers_loaded, timeout=WAIT):
        mapping.format_combo.setCurrentIndex(mapping.format_combo.findData("contacts_csv"))
    assert mapping.mapping() == {"name": "Customer", "email": "Email", "phone": "WhatsApp"}
    qtbot.waitUntil(lambda: mapping.preview_model.rowCount() == 2, timeout=WAIT)
    assert mapping.ok_button.isEnabled()
    assert mapping.preview_model.item(0).channel == "contact"
    mapping.grab().save(str(tmp_path / "map-contacts.png"))
    choose(mapping, "email", None)
    with qtbot.waitSignal(mapping.preview_updated, timeout=WAIT):
        choose(mapping, "phone", None)
    assert not mapping.ok_button.isEnabled()
    assert "Email or Phone number" in mapping.missing.text()
    choose(mapping, "email", "Email")
    with qtbot.waitSignal(mapping.preview_updated, timeout=WAIT):
        choose(mapping, "phone", "WhatsApp")
    with qtbot.waitSignal(mapping.mapping_chosen, timeout=WAIT):
        mapping.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    with qtbot.waitSignal(window.import_flow.import_finished, timeout=WAIT) as done:
        dialog.import_button.click()
    reports = done.args[0]
    assert [(r.format, r.added, r.status) for r in reports] == [("contacts_csv", 2, "done")]
    window.import_flow.summary.close()
    with db.session() as session:
        priya = queries.list_customers(session, "900456")
    assert [c.name for c in priya] == ["Priya Shah"]
