"""Rough edges a new user met: import report, email reading, names on screen, sync messages.

Each test builds its own odd input and saves a screenshot under /tmp/rb/ to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.db import Database
from app.ingest import FileReport
from app.records import Problem
from tests.test_ui_models import NOW, seed
from ui import workers
from ui.main_window import MainWindow

pytestmark = pytest.mark.gui
WAIT = 10000
SHOTS = Path("/tmp/rb")


def shot(widget, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    widget.grab().save(str(SHOTS / name))


@pytest.fixture
def window(qtbot, db: Database) -> Iterator[MainWindow]:
    seed(db)
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.resize(1400, 850)
    w.show()
    qtbot.waitUntil(lambda: w.customer_model.loaded_query == "", timeout=WAIT)
    yield w
    workers.manager().wait_for_done()
    qtbot.waitUntil(lambda: workers.manager().active == 0, timeout=WAIT)


# --- import report -----------------------------------------------------------------------


def test_file_picker_offers_json_and_zip() -> None:
    from ui.import_dialog import FILE_FILTER

    default = FILE_FILTER.split(";;")[0]
    assert "*.json" in default and "*.zip" in default


def test_a_file_with_nothing_added_and_problems_is_not_plain_done(qtbot) -> None:
    from ui.import_dialog import ImportSummaryDialog

    bad = FileReport(
        "/x/orders.csv",
        "shopify",
        problems=[Problem(f"row {i}", "no order number") for i in (2, 3)],
    )
    fine = FileReport("/x/chat.txt", "whatsapp", added=4)
    dialog = ImportSummaryDialog([bad, fine])
    qtbot.addWidget(dialog)
    from PySide6.QtWidgets import QTreeWidget

    tree = dialog.findChild(QTreeWidget)
    results = [tree.topLevelItem(i).text(5) for i in range(tree.topLevelItemCount())]
    assert results[0] != "Done" and "Nothing imported" in results[0]
    assert results[1] == "Done"
    dialog.show()
    shot(dialog, "import_summary_problems.png")


def test_an_unrecognised_file_appears_in_the_summary(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    good = tmp_path / "WhatsApp Chat with Ada Lovelace.txt"
    good.write_text(
        "12/03/2024, 09:15 - Ada Lovelace: Hello, is the blue vase still available?\n"
        "12/03/2024, 09:20 - Shop: Yes it is!\n",
        encoding="utf-8",
    )
    junk = tmp_path / "holiday notes.txt"
    junk.write_text("just some notes, nothing to import\n", encoding="utf-8")
    dialog = window.import_flow.open_dialog()
    with qtbot.waitSignal(dialog.detection_finished, timeout=WAIT):
        dialog.add_paths([good, junk])
    assert [d.format is not None for d in dialog.detected] == [True, False]
    with qtbot.waitSignal(window.import_flow.import_finished, timeout=WAIT) as done:
        dialog.import_button.click()
    reports = done.args[0]
    assert [Path(r.path).name for r in reports] == [good.name, junk.name]
    assert reports[1].status == "skipped"
    summary = window.import_flow.summary
    assert summary is not None and summary.isVisible()
    assert "1 file not imported" in summary.summary.text()
    from PySide6.QtWidgets import QTreeWidget

    tree = summary.findChild(QTreeWidget)
    assert tree.topLevelItemCount() == 2
    assert tree.topLevelItem(1).text(5).startswith("Not imported")
    shot(summary, "import_summary_unrecognised.png")
    summary.reject()


def test_problem_reasons_are_readable(qtbot, db: Database) -> None:
    from ui.models import ProblemsModel
    from ui.problems import ProblemsDialog

    model = ProblemsModel(db)
    reason = (
        "the Total column holds “twelve pounds”, which is not an amount; "
        "the row was left out and the rest of the file was imported"
    )
    long_name = "/data/exports/" + "very_long_export_file_name_" * 4 + ".csv"
    model._apply([(long_name, "row 18", reason, NOW)])
    dialog = ProblemsDialog(model)
    qtbot.addWidget(dialog)
    dialog.resize(900, 400)
    dialog.show()
    qtbot.waitExposed(dialog)
    table = dialog.table
    em = table.fontMetrics().horizontalAdvance("M")
    assert table.columnWidth(0) <= em * 18
    assert table.columnWidth(2) >= em * 30
    text_width = table.fontMetrics().horizontalAdvance(reason)
    lines_needed = -(-text_width // max(1, table.columnWidth(2) - em))
    assert table.rowHeight(0) >= table.fontMetrics().lineSpacing() * lines_needed
    shot(dialog, "problems_reason.png")
