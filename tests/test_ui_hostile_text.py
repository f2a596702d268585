"""Imported text is shown as text everywhere in the UI, never as HTML, and never opens a file.

A chat participant named ``<img src="/dev/zero">`` once made the customer's
header read ``/dev/zero`` (labels, tooltips and message boxes guess HTML).
Here every kind of imported or typed text — names, subjects, handles, message
text and snippets, notes and their authors, order items, SKUs and statuses,
attachment names, locators, import problems, file names, account user names
and server messages — is hostile markup naming bait files in the test's
folder. The test drives the whole window (customer list, header, profile,
expanded timeline events, an HTML email, search inside and across customers,
notes, merge review, merge, move, picker, history, export, problems, import
preview and report, accounts, the sync password prompt) and after each step
walks every live widget: no label, tooltip or item tooltip may be rendered as
HTML while holding the hostile tags, and no bait file may have been read
(its access time is watched). A screenshot is saved to
``/tmp/ui_hostile.png``.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import shiboken6

from PySide6.QtCore import QAbstractItemModel, QAbstractListModel, QModelIndex, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QInputDialog,
    QLabel,
    QMessageBox,
)

from app import accounts, notes, queries, settings
from app.db import Database
from app.errors import UserFacingError
from app.ingest import import_items
from app.records import EventRecord, Item, OrderInfo, OrderLine, Participant, Problem
from ui import workers
from ui.email_view import EmailBodyView, SafeTextBrowser
from ui.main_window import MainWindow
from ui.merge_review import MergeReviewDialog
from ui.safe_text import SafeDocument, literal, plain_label, rich_label

pytestmark = pytest.mark.gui

WAIT = 15000
NOW = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)
SHOP = "hello@bloom.example"
# What rich text would act on: an image tag, a link, bold text. Our own markup has none of these.
MARKERS = ("<img", "<a href", "<b>bold</b>")
# The UI's own markup: seen as text, it means HTML went into a plain-text label.
OWN_MARKUP = ("<span style", "<br>", "<table", "<ul", "<i>", "<p>")


@dataclass(frozen=True)
class Bait:
    """Hostile strings naming files the UI must never read."""

    folder: Path

    @property
    def files(self) -> list[Path]:
        return [self.folder / n for n in ("bait.png", "bait2.png", "bait3.png")]

    @property
    def img(self) -> str:  # an absolute path, like /dev/zero
        return f'<img src="{self.files[0]}">'

    @property
    def img_url(self) -> str:  # a file: URL
        return f'<img src="file://{self.files[1]}">'

    @property
    def img_rel(self) -> str:  # relative to the working directory
        return "<img src=bait3.png>"

    @property
    def name(self) -> str:
        """The customer's name: an image relative to the working directory (the bait
        folder), since an absolute path's digits (the temporary folder's numbers) may make
        a name read as a number, which the import does not keep as a name."""
        return self.img_rel

    link = '<a href="file:///etc/passwd">passwd</a>'
    bold = "<b>BOLD</b> & Co"


def _make_bait(folder: Path) -> Bait:
    bait = Bait(folder)
    image = QImage(300, 200, QImage.Format.Format_RGB32)
    image.fill(QColor("red"))
    for path in bait.files:
        assert image.save(str(path))
    _age(bait.files)
    return bait


def _age(paths: list[Path]) -> None:
    """Set the access time far before the modification time, so any read moves it (relatime)."""
    for path in paths:
        st = path.stat()
        os.utime(path, (st.st_mtime - 10 * 86400, st.st_mtime))


def _atimes(paths: list[Path]) -> dict[Path, float]:
    return {p: p.stat().st_atime for p in paths}


@pytest.fixture
def atime_works(tmp_path: Path) -> bool:
    """Whether this file system records reads in access times (then the bait check is real)."""
    probe = tmp_path / "probe.bin"
    probe.write_bytes(b"x" * 64)
    _age([probe])
    before = probe.stat().st_atime
    probe.read_bytes()
    return probe.stat().st_atime != before


def _at(days: int, hour: int) -> datetime:
    return NOW.replace(hour=hour, minute=0) - timedelta(days=days)


def hostile_items(b: Bait) -> list[Item]:
    """A small shop's data in which every imported string is hostile markup."""
    name = b.name  # the customer's name, as a chat export or a mail header gives it
    return [
        EventRecord(
            channel="email",
            source="email",
            external_id="h1@evil",
            occurred_at=_at(2, 9),
            title=f"{b.bold} {b.img_url} periwinkle",
            text=f"Hello {b.link}\nperiwinkle {b.img_rel} {b.bold}",
            thread_key="hostile",
            participants=(
                Participant("from", name, email="evil@example.com"),
                Participant("to", "", email=SHOP),
            ),
            details={"attachments": [{"name": b.img, "type": b.bold, "size": 1200}]},
            locator=f"mail.mbox:{b.img_rel}",
        ),
        EventRecord(
            channel="email",
            source="email",
            external_id="h2@evil",
            occurred_at=_at(1, 10),
            title=b.img_url,
            text=f"HTML mail {b.img}",
            participants=(
                Participant("from", name, email="evil@example.com"),
                Participant("to", "", email=SHOP),
            ),
            details={
                "html": "<p>Formatted <b>text</b> and periwinkle</p>",
                "attachments": [{"name": b.link, "type": "text/html", "size": 10}],
            },
        ),
        EventRecord(
            channel="order",
            source="shopify",
            external_id="#<b>BOLD</b>9",
            occurred_at=_at(3, 14),
            title="Order #<b>BOLD</b>9",
            text=f"1 × {b.img}",
            participants=(
                Participant(
                    "buyer",
                    name,
                    email="evil@example.com",
                    phone="+44 7700 900999",
                    platform="shopify",
                ),
            ),
            order=OrderInfo(
                number="#<b>BOLD</b>9",
                currency="<b>bold</b>",
                total=Decimal("5.99"),
                subtotal=Decimal("1.00"),
                shipping=Decimal("4.99"),
                financial_status=b.link,
                fulfillment_status=b.bold,
                lines=(OrderLine(b.img, 1, Decimal("1.00"), sku=b.img_url),),
            ),
        ),
        EventRecord(
            channel="chat",
            source="telegram",
            external_id="t1",
            occurred_at=_at(0, 11),
            title=b.bold,
            text=f"Chat about periwinkle {b.img} {b.link}",
            thread_key=f"telegram:{b.bold}",
            participants=(
                Participant("author", name, handle=b.img_rel, platform="telegram"),
                Participant("member", "Bloom Flowers", handle="bloom", platform="telegram"),
            ),
        ),
        # the same name from another address: a suggested merge
        EventRecord(
            channel="email",
            source="email",
            external_id="h3@evil",
            occurred_at=_at(5, 9),
            title=b.bold,
            text="periwinkle again",
            participants=(
                Participant("from", name, email="other@example.org"),
                Participant("to", "", email=SHOP),
            ),
        ),
        # a pair the suggestions find ("same name", "the address spells the name")
        *(
            EventRecord(
                channel="email",
                source="email",
                external_id=f"m{i}@evil",
                occurred_at=_at(6 + i, 9),
                title=f"Centrepieces {b.img_rel}",
                text=b.link,
                participants=(
                    Participant("from", f'Maria "{b.img_rel}" Garcia', email=address),
                    Participant("to", "", email=SHOP),
                ),
            )
            for i, address in enumerate(("maria.garcia@example.com", "mgarcia77@example.net"))
        ),
        Problem(location=b.img, reason=f"{b.bold} {b.link}"),
    ]


def seed_hostile(db: Database, b: Bait) -> None:
    with db.session() as s:
        settings.set_value(s, "owner_emails", SHOP)
        settings.set_value(s, "owner_names", "Bloom Flowers")
        settings.set_value(s, "user_name", b.bold)
    import_items(db, lambda: hostile_items(b), label=b.img, format="test")
    with db.session() as s:
        cid = queries.resolve_customer(s, "evil@example.com")
        notes.add_note(s, cid, f"{b.img}\n{b.link}\n{b.bold}", pinned=True)
        notes.add_note(s, cid, b.img_url, author=b.img_rel)


# --- the check --------------------------------------------------------------------------------


def _rich(text: str, fmt: Qt.TextFormat) -> bool:
    """Whether Qt renders ``text`` as HTML in a place with text format ``fmt``."""
    if fmt == Qt.TextFormat.RichText:
        return True
    return fmt == Qt.TextFormat.AutoText and GuiQt.mightBeRichText(text)


def _acts_on_markup(text: str, fmt: Qt.TextFormat) -> bool:
    return _rich(text, fmt) and any(m in text.lower() for m in MARKERS)


def _shown(text: str, fmt: Qt.TextFormat) -> str:
    """What the user reads (rendered without loading anything)."""
    if not _rich(text, fmt):
        return text
    doc = SafeDocument()
    doc.setHtml(text)
    return doc.toPlainText()


def _model_tooltips(
    model: QAbstractItemModel, parent: QModelIndex, depth: int = 0
) -> Iterator[str]:
    try:
        columns = model.columnCount(parent)
    except TypeError:  # a list model hides columnCount: one column
        columns = 1
    for row in range(min(model.rowCount(parent), 300)):
        for col in range(columns):
            index = model.index(row, col, parent)
            value = index.data(Qt.ItemDataRole.ToolTipRole)
            if isinstance(value, str):
                yield value
            if depth < 3 and col == 0 and not isinstance(model, QAbstractListModel):
                yield from _model_tooltips(model, index, depth + 1)


class Walker:
    """Walks every live widget; remembers what was shown and what was interpreted."""

    def __init__(self, bait: Bait, atime_works: bool) -> None:
        self.bait = bait
        self.atime_works = atime_works
        self.before = _atimes(bait.files)
        self.shown: list[str] = []
        self.steps: list[str] = []

    def check(self, qtbot, step: str) -> None:
        self.steps.append(step)
        widgets = [w for w in QApplication.allWidgets() if shiboken6.isValid(w)]
        for top in QApplication.topLevelWidgets():  # lay out and paint everything shown
            if shiboken6.isValid(top) and top.isVisible():
                top.grab()
        bad: list[str] = []
        for w in widgets:
            where = f"{step}: {type(w).__name__} {w.objectName() or ''}".strip()
            if isinstance(w, QLabel):
                text, fmt = w.text(), w.textFormat()
                if _acts_on_markup(text, fmt):
                    bad.append(f"{where} renders {text!r} as HTML")
                if not _rich(text, fmt) and any(m in text for m in OWN_MARKUP):
                    bad.append(f"{where} shows its own markup as text: {text!r}")
                self.shown.append(_shown(text, fmt))
            tip_text = w.toolTip()
            if tip_text and _acts_on_markup(tip_text, Qt.TextFormat.AutoText):
                bad.append(f"{where} tooltip {tip_text!r} is HTML")
            if isinstance(w, QAbstractItemView) and w.model() is not None:
                for value in _model_tooltips(w.model(), QModelIndex()):
                    if _acts_on_markup(value, Qt.TextFormat.AutoText):
                        bad.append(f"{where} item tooltip {value!r} is HTML")
            if isinstance(w, SafeTextBrowser):
                self.shown.append(w.toPlainText())
        assert bad == [], "\n".join(bad)
        if self.atime_works:
            read = [p.name for p, t in _atimes(self.bait.files).items() if t != self.before[p]]
            assert read == [], f"{step}: the UI read {read} named in imported text"


# --- driving the window -------------------------------------------------------------------------


@pytest.fixture
def bait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bait:
    folder = tmp_path / "bait"
    folder.mkdir()
    monkeypatch.chdir(folder)  # where a relative src would be looked for
    return _make_bait(folder)


@pytest.fixture
def window(qtbot, db: Database, bait: Bait, memory_keyring: object) -> Iterator[MainWindow]:
    seed_hostile(db, bait)
    w = MainWindow(db, now=lambda: NOW)
    qtbot.addWidget(w)
    w.resize(1400, 850)
    w.show()
    qtbot.waitUntil(lambda: w.customer_model.loaded_query == "", timeout=WAIT)
    yield w
    workers.manager().wait_for_done()
    qtbot.waitUntil(lambda: workers.manager().active == 0, timeout=WAIT)


def _settle(qtbot) -> None:
    workers.manager().wait_for_done()
    qtbot.waitUntil(lambda: workers.manager().active == 0, timeout=WAIT)


def _row_of(w: MainWindow, email: str) -> int:
    with w.service.database.session() as s:
        cid = queries.resolve_customer(s, email)
    m = w.customer_model
    return next(i for i in range(m.rowCount()) if m.row(i).id == cid)


def test_hostile_text_is_shown_literally_across_the_ui(
    qtbot, window: MainWindow, bait: Bait, atime_works: bool, tmp_path: Path
) -> None:
    walk = Walker(bait, atime_works)
    w = window
    walk.check(qtbot, "customer list")

    # the customer: header, profile, notes
    with qtbot.waitSignal(w.customer_opened, timeout=WAIT):
        w.customers.select_row(_row_of(w, "evil@example.com"))
    qtbot.waitUntil(lambda: w.notes.customer_id == w.timeline_model.customer_id, timeout=WAIT)
    qtbot.waitUntil(lambda: len(w.notes.cards) == 2, timeout=WAIT)
    assert w.timeline.name_label.text() == bait.name
    assert w.timeline.name_label.textFormat() == Qt.TextFormat.PlainText
    walk.check(qtbot, "customer shown")

    # every event expanded (the HTML email gets its own view)
    view, m = w.timeline.view, w.timeline_model
    for row in m.event_rows():
        view.setCurrentIndex(m.index(row, 0))
        view.setFocus()
        qtbot.keyClick(view, Qt.Key.Key_Right)
    assert len(w.timeline.expanded_rows()) == len(m.event_rows())
    bodies = [w.timeline.email_view(r) for r in m.event_rows()]
    assert any(isinstance(b, EmailBodyView) for b in bodies)
    walk.check(qtbot, "timeline expanded")
    assert w.grab().save("/tmp/ui_hostile_timeline.png")
    docs = list(w.timeline.delegate._docs.values())
    assert docs and all(isinstance(d, SafeDocument) and d.refused == [] for d in docs)
    expanded = "\n".join(d.toPlainText() for d in docs)
    assert bait.img in expanded and bait.link in expanded and bait.img_url in expanded
    assert "<B>BOLD</B> 1.00" in expanded  # the order's currency, as the export gave it

    # search inside the customer, then across everyone
    with qtbot.waitSignal(m.loaded, timeout=WAIT):
        qtbot.keyClicks(w.timeline.search, "periwinkle")
    walk.check(qtbot, "search inside")
    with qtbot.waitSignal(w.search_model.loaded, timeout=WAIT):
        w.search_all("periwinkle")
    assert w.search_model.rowCount() >= 3
    walk.check(qtbot, "full-text search")
    w.close_results(focus=False)

    # contact point menu: move to a new customer (a message box), and to another (the picker)
    row = w.profile.customer
    assert row is not None
    ident = next(i for i in row.identities if i.kind == "email")
    menu = w.profile.identity_menu(ident)
    next(a for a in menu.actions() if a.text().startswith("Move to a &New")).trigger()
    box = w.identity_flow.confirm
    assert box is not None and box.isVisible()
    assert bait.name in box.text()
    walk.check(qtbot, "move to a new customer")
    box.reject()
    w.profile.move_to_other_requested.emit(row, ident)
    picker = w.identity_flow.picker
    assert picker is not None
    qtbot.waitUntil(lambda: picker.proxy.rowCount() > 0, timeout=WAIT)
    walk.check(qtbot, "customer picker")
    picker.reject()

    # merge review of the two customers with the same (hostile) name
    w.review_action.trigger()
    review = w.identity_flow.review
    assert isinstance(review, MergeReviewDialog)
    qtbot.waitUntil(lambda: review.current is not None, timeout=WAIT)
    walk.check(qtbot, "merge review")
    assert review.grab().save("/tmp/ui_hostile_review.png")
    review.reject()

    # merge chosen by hand, then the history of changes
    w.customers.select_row(_row_of(w, "evil@example.com"))
    view = w.customers.view
    rect = view.visualRect(w.customer_model.index(_row_of(w, "other@example.org"), 0))
    qtbot.mouseClick(
        view.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.ControlModifier,
        rect.center(),
    )
    w.merge_selected()
    merge = w.identity_flow.merge_dialog
    assert merge is not None and merge.isVisible()
    assert all("&&" in r.text() or "&" not in r.text() for r in merge.radios)
    walk.check(qtbot, "merge dialog")
    with qtbot.waitSignal(w.identity_flow.changed, timeout=WAIT):
        merge.merge_button.click()
    _settle(qtbot)
    w.history_action.trigger()
    history = w.identity_flow.history
    assert history is not None
    qtbot.waitUntil(lambda: bool(history.undo_buttons), timeout=WAIT)
    walk.check(qtbot, "change history")
    history.reject()

    # export, problems
    w.export_action.trigger()
    assert w.export_flow.dialog is not None and w.export_flow.dialog.isVisible()
    walk.check(qtbot, "export dialog")
    w.export_flow.dialog.reject()
    w.show_problems()
    qtbot.waitUntil(lambda: w.problems_model.rowCount() > 0, timeout=WAIT)
    walk.check(qtbot, "problems")
    assert w.problems_dialog is not None
    w.problems_dialog.reject()

    # an error whose message names a hostile file (the shared error presenter)
    workers.show_error(w, UserFacingError(f"{bait.img}: cannot read {bait.link}"))
    error = w.findChild(QMessageBox, "errorDialog")
    assert error is not None and bait.img in error.text()
    walk.check(qtbot, "error dialog")
    error.reject()

    # import: a chat export whose file name, authors and text are hostile
    chat = tmp_path / f"WhatsApp Chat with {bait.img_rel}.txt"
    chat.write_text(
        f"14/03/2024, 09:16 - {bait.img_rel}: Hi {bait.link} {bait.bold}\n"
        f"14/03/2024, 09:17 - {bait.bold}: {bait.img_rel}\n"
        "not a line of the chat <b>BOLD</b>\n",
        encoding="utf-8",
    )
    dialog = w.import_flow.open_dialog()
    with qtbot.waitSignal(dialog.preview_updated, timeout=WAIT):
        dialog.add_paths([chat])
    walk.check(qtbot, "import preview")
    with qtbot.waitSignal(w.import_flow.import_finished, timeout=WAIT):
        dialog.import_button.click()
    _settle(qtbot)
    walk.check(qtbot, "import report")
    assert w.import_flow.summary is not None
    w.import_flow.summary.reject()

    # accounts: a server that answers with markup, and a user name that is markup
    with w.service.database.session() as s:
        accounts.add_account(s, bait.img_rel, host="127.0.0.1", username=bait.bold, port=1)
    dialog_a = w.show_accounts()
    qtbot.waitUntil(lambda: dialog_a.keyring_known, timeout=WAIT)
    dialog_a.new_account()
    dialog_a.host.setText(bait.img_rel)
    dialog_a.tls.setCurrentIndex(dialog_a.tls.findData("none"))
    assert dialog_a.tls_note.isVisible() and "Not allowed for" in dialog_a.tls_note.text()
    walk.check(qtbot, "accounts: plain text refused for a hostile host")
    dialog_a.tls.setCurrentIndex(dialog_a.tls.findData("implicit"))
    dialog_a.host.setText("127.0.0.1")
    dialog_a.port.setValue(1)
    dialog_a.user.setText(bait.img_rel)
    with qtbot.waitSignal(dialog_a.test_finished, timeout=WAIT):
        dialog_a.test_button.click()
    walk.check(qtbot, "accounts")
    dialog_a.reject()
    with qtbot.waitSignal(w.sync_flow.password_asked, timeout=WAIT) as asked:
        w.sync_mail()
    prompt = asked.args[0]
    assert isinstance(prompt, QInputDialog)
    assert bait.bold in prompt.labelText()
    walk.check(qtbot, "sync password prompt")
    prompt.reject()
    _settle(qtbot)

    # what the user read: the hostile strings, literally
    seen = "\n".join(walk.shown)
    for text in (bait.img, bait.img_url, bait.img_rel, bait.link, bait.bold):
        assert text in seen, f"{text!r} was never shown literally"
    assert len(walk.steps) >= 15

    # a picture of the main window with the customer shown
    w.customers.select_row(_row_of(w, "evil@example.com"))
    qtbot.waitUntil(lambda: w.timeline.name_label.text() == bait.name, timeout=WAIT)
    walk.check(qtbot, "screenshot")
    assert w.grab().save("/tmp/ui_hostile.png")


# --- the helpers themselves ----------------------------------------------------------------------


def test_helpers_show_markup_literally_and_load_nothing(
    qtbot, bait: Bait, atime_works: bool
) -> None:
    before = _atimes(bait.files)
    label = plain_label(bait.img)
    qtbot.addWidget(label)
    label.show()
    label.grab()
    assert label.textFormat() == Qt.TextFormat.PlainText and label.text() == bait.img
    rich = rich_label(f"<b>{bait.bold.replace('<', '&lt;')}</b>")
    qtbot.addWidget(rich)
    assert rich.textFormat() == Qt.TextFormat.RichText
    for text in (bait.img, "a < b", "plain", f"two\nlines {bait.link}"):
        shown = literal(text)
        assert _shown(shown, Qt.TextFormat.AutoText).replace("\u2029", "\n") == text
    doc = SafeDocument()
    doc.setHtml(f"{bait.img}{bait.img_url}{bait.img_rel}<table background='{bait.files[0]}'>")
    doc.setTextWidth(600)
    assert doc.size().height() < 100  # blank images, not the 300×200 bait
    assert len(doc.refused) >= 3
    browser = SafeTextBrowser()
    qtbot.addWidget(browser)
    browser.setHtml(f"{bait.img}{bait.img_url}")
    browser.document().setTextWidth(600)
    assert browser.document().size().height() < 100
    if atime_works:
        assert _atimes(bait.files) == before


# --- the rule, kept: every place that could guess HTML goes through ui/safe_text.py -------------


UI = Path(__file__).resolve().parent.parent / "ui"
_GUESSING_BOXES = ("critical", "warning", "information", "question")


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _safe_text_arg(node: ast.expr, helpers: tuple[str, ...]) -> bool:
    """A literal written in the code, or a value passed through one of ``helpers``."""
    if isinstance(node, ast.Constant):
        return True
    return isinstance(node, ast.Call) and _name(node.func) in helpers


def ui_violations(source: str, filename: str) -> list[str]:
    """Places in ``source`` that could show data as HTML without going through ``safe_text``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name, where = _name(node.func), f"{filename}:{node.lineno}"
        if name in ("QLabel", "QMessageBox", "QTextDocument", "setTextFormat"):
            found.append(f"{where}: {name}(…) outside ui/safe_text.py")
        elif name == "setToolTip" and node.args and not _safe_text_arg(node.args[-1], ("tip",)):
            found.append(f"{where}: setToolTip(…) without tip()")
        elif name == "showText" and len(node.args) > 1:
            if not _safe_text_arg(node.args[1], ("tip",)):
                found.append(f"{where}: QToolTip.showText(…) without tip()")
        elif (
            name in _GUESSING_BOXES
            and isinstance(node.func, ast.Attribute)
            and _name(node.func.value) == "QMessageBox"
            and not (len(node.args) > 2 and _safe_text_arg(node.args[2], ("literal",)))
        ):
            found.append(f"{where}: QMessageBox.{name}(…) without literal()")
    return found


def test_every_ui_module_goes_through_safe_text() -> None:
    found = [
        v
        for path in sorted(UI.glob("*.py"))
        if path.name != "safe_text.py"
        for v in ui_violations(path.read_text(encoding="utf-8"), path.name)
    ]
    assert found == []


def test_the_rule_catches_what_it_should() -> None:
    bad = (
        "QLabel(name)\n"
        "w.setToolTip(row.name)\n"
        "QToolTip.showText(pos, row.name, view)\n"
        "QMessageBox.critical(None, 'x', str(exc))\n"
        "QMessageBox(icon, 'x', text)\n"
        "doc = QTextDocument()\n"
        "label.setTextFormat(Qt.TextFormat.AutoText)\n"
    )
    assert len(ui_violations(bad, "bad.py")) == 7
    good = (
        "plain_label(name)\n"
        "w.setToolTip(tip(row.name))\n"
        "w.setToolTip('Clear')\n"
        "QToolTip.showText(pos, tip(row.name), view)\n"
        "QMessageBox.critical(None, 'x', literal(str(exc)))\n"
        "doc = SafeDocument()\n"
    )
    assert ui_violations(good, "good.py") == []
