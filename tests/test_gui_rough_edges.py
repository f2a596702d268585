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


# --- mail sync and accounts --------------------------------------------------------------


def test_a_failed_account_makes_the_sync_summary_say_so(qtbot) -> None:
    from app.sync import AccountReport, FolderReport
    from ui.sync_flow import SyncSummaryDialog

    ok = AccountReport("Home", folders=[FolderReport("INBOX", new=3)])
    bad = AccountReport("Shop", status="failed", error="cannot connect to imap.example.com")
    dialog = SyncSummaryDialog([ok, bad], cancelled=False)
    qtbot.addWidget(dialog)
    assert "failed" in dialog.title.text() and "Shop" in dialog.title.text()
    assert dialog.title.text() != "Sync finished."
    assert "1 account failed" in dialog.totals.text()
    dialog.show()
    shot(dialog, "sync_summary_failed.png")
    only = SyncSummaryDialog([bad], cancelled=False)
    qtbot.addWidget(only)
    assert only.title.text().startswith("Sync failed")


def test_saving_an_account_whose_test_failed_asks_first(
    qtbot, window: MainWindow, db: Database
) -> None:
    import socket

    from app import accounts

    with socket.socket() as s:  # a port nothing listens on: the test cannot connect
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dialog = window.show_accounts()
    qtbot.waitUntil(lambda: dialog.keyring_known, timeout=WAIT)
    dialog.new_account()
    dialog.name.setText("Shop")
    dialog.user.setText("shop@example.com")
    dialog.password.setText("secret-pw")
    dialog.tls.setCurrentIndex(dialog.tls.findData("implicit"))
    dialog.host.setText("127.0.0.1")
    dialog.port.setValue(port)
    with qtbot.waitSignal(dialog.test_finished, timeout=WAIT) as tested:
        dialog.test_button.click()
    assert tested.args == [False]
    assert "Error" not in dialog.test_result.text()  # no exception class names
    dialog.save_button.click()
    box = dialog.save_question
    assert box is not None and box.isVisible()
    assert "connection test failed" in box.text()
    assert "secret-pw" not in box.text()
    shot(box, "save_failed_test.png")
    with db.session() as session:
        assert not [a for a in accounts.list_accounts(session) if a.name == "Shop"]
    save = next(b for b in box.buttons() if b.text() == "Save anyway")
    with qtbot.waitSignal(dialog.saved, timeout=WAIT):
        save.click()
    with db.session() as session:
        assert [a for a in accounts.list_accounts(session) if a.name == "Shop"]
    dialog.reject()


def test_failures_are_told_in_words_not_class_names() -> None:
    from app.errors import in_words

    class ConnectTimeout(OSError):
        pass

    class KeyringLocked(RuntimeError):
        pass

    class SSLError(OSError):
        pass

    assert in_words(ConnectTimeout()) == "no answer in time"
    assert in_words(KeyringLocked()) == "it is locked"
    assert "verified" in in_words(SSLError())
    assert "Error" not in in_words(ValueError())
