"""The notes pane: the team's notes on a customer, pinned first; add, edit in place, pin and delete.

Notes are read with ``Service.notes`` on a reader and written through
the service on the serial writer, then read back, so what is shown is what
was stored. Ctrl+N (wired by the main window) opens the composer; Ctrl+Enter
saves and Esc cancels, in the composer and in a note being edited.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.service import Database, NoteRow, Service
from ui import formatting as fmt
from ui.marks import icon, muted_color
from ui.safe_text import WrapText, plain_label, tip
from ui.widgets import muted_label, section_heading, small_font
from ui.workers import Op


class NoteEditor(QPlainTextEdit):
    """A plain-text note editor: Ctrl+Enter submits, Esc cancels.

    Signals:
        submitted(): Ctrl+Enter was pressed.
        cancelled(): Esc was pressed.
    """

    submitted = Signal()
    cancelled = Signal()

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setTabChangesFocus(True)
        fm = self.fontMetrics()
        self.setMinimumHeight(fm.lineSpacing() * 4)
        self.setMaximumHeight(fm.lineSpacing() * 10)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
            event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.submitted.emit()
            return
        if event.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()
            return
        super().keyPressEvent(event)


def _tool(name: str, tooltip: str, accessible: str) -> QToolButton:
    button = QToolButton()
    button.setIcon(icon(name))
    button.setToolTip(tip(tooltip))
    button.setAccessibleName(accessible)
    button.setAutoRaise(True)
    button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    return button


class NoteCard(QFrame):
    """One note: text, author and time, and its pin/edit/delete buttons.

    Signals:
        pin_toggled(int, bool): pin (True) or unpin this note.
        edit_saved(int, str): new text for this note.
        delete_confirmed(int): delete this note.
    """

    pin_toggled = Signal(int, bool)
    edit_saved = Signal(int, str)
    delete_confirmed = Signal(int)

    def __init__(self, note: NoteRow, meta: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.note = note
        self.setObjectName(f"note_{note.id}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName("Pinned note" if note.pinned else "Note")
        fm = self.fontMetrics()
        pad = round(fm.height() * 0.45)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(pad, pad, round(pad * 0.5), round(pad * 0.5))
        layout.setSpacing(round(pad * 0.4))
        # Wraps at words, else anywhere: a long path or URL never widens the pane.
        self.body = WrapText(note.body)
        self.body.setAccessibleName("Note text")
        self.editor: NoteEditor | None = None
        layout.addWidget(self.body)

        row = QHBoxLayout()
        row.setSpacing(round(pad * 0.4))
        if note.pinned:
            pin_mark = plain_label()
            pin_mark.setPixmap(icon("pin").pixmap(fm.height() - 2, fm.height() - 2))
            pin_mark.setToolTip("Pinned")
            row.addWidget(pin_mark)
        self.meta = WrapText(meta)
        self.meta.setFont(small_font(self.meta.font()))
        self.meta.set_color(muted_color(self.meta.palette()))
        self.meta.setAccessibleName("Author and time")
        row.addWidget(self.meta, 1)
        self.pin_button = _tool(
            "pin",
            "Unpin" if note.pinned else "Pin to top",
            "Unpin note" if note.pinned else "Pin note",
        )
        self.pin_button.clicked.connect(lambda: self.pin_toggled.emit(note.id, not note.pinned))
        self.edit_button = _tool("edit", "Edit", "Edit note")
        self.edit_button.clicked.connect(self.start_edit)
        self.delete_button = _tool("delete", "Delete", "Delete note")
        self.delete_button.clicked.connect(self._ask_delete)
        for b in (self.pin_button, self.edit_button, self.delete_button):
            row.addWidget(b)
        layout.addLayout(row)

        self.confirm = QWidget()
        confirm_row = QHBoxLayout(self.confirm)
        confirm_row.setContentsMargins(0, 0, 0, 0)
        confirm_row.addWidget(plain_label("Delete this note?"), 1)
        self.confirm_delete = QPushButton("Delete")
        self.confirm_delete.setAccessibleName("Confirm delete")
        self.confirm_delete.clicked.connect(lambda: self.delete_confirmed.emit(note.id))
        keep = QPushButton("Keep")
        keep.setAccessibleName("Keep note")
        keep.clicked.connect(lambda: self.confirm.setVisible(False))
        confirm_row.addWidget(self.confirm_delete)
        confirm_row.addWidget(keep)
        self.confirm.setVisible(False)
        layout.addWidget(self.confirm)

    def start_edit(self) -> None:
        """Swap the text for an editor, in place."""
        if self.editor is not None:
            self.editor.setFocus()
            return
        self.editor = NoteEditor(self.note.body)
        self.editor.setAccessibleName("Edit note text")
        self.editor.submitted.connect(self._save)
        self.editor.cancelled.connect(self.cancel_edit)
        lay = self.layout()
        assert isinstance(lay, QVBoxLayout)
        lay.insertWidget(1, self.editor)
        self.body.setVisible(False)
        self.editor.setFocus(Qt.FocusReason.OtherFocusReason)
        self.editor.selectAll()

    def cancel_edit(self) -> None:
        """Drop the editor and show the text again."""
        if self.editor is not None:
            self.editor.deleteLater()
            self.editor = None
        self.body.setVisible(True)

    def _save(self) -> None:
        if self.editor is not None:
            self.edit_saved.emit(self.note.id, self.editor.toPlainText())

    def _ask_delete(self) -> None:
        self.confirm.setVisible(True)
        self.confirm_delete.setFocus()


class NotesPane(QWidget):
    """The notes of the shown customer.

    Signals:
        loaded(): notes for the current customer were (re)loaded.
        notes_changed(): a note was added, edited, pinned or deleted and read back.
    """

    loaded = Signal()
    notes_changed = Signal()

    def __init__(
        self,
        db: Service | Database,
        parent: QWidget | None = None,
        *,
        tz: tzinfo = UTC,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(parent)
        self._service = Service.of(db)
        self._tz = tz
        self._now = now
        self.customer_id: int | None = None
        self.notes: list[NoteRow] = []
        self.cards: list[NoteCard] = []
        self._generation = 0
        self.setAccessibleName("Notes")
        fm = self.fontMetrics()
        m = round(fm.height() * 0.6)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(m, m, m, m)
        layout.setSpacing(round(fm.height() * 0.35))

        head = QHBoxLayout()
        head.addWidget(section_heading("Notes"))
        head.addStretch(1)
        self.add_button = _tool("add", "New note (Ctrl+N)", "New note")
        self.add_button.clicked.connect(self.start_new)
        head.addWidget(self.add_button)
        layout.addLayout(head)

        self.composer = QWidget()
        self.composer.setAccessibleName("New note")
        comp = QVBoxLayout(self.composer)
        comp.setContentsMargins(0, 0, 0, 0)
        self.editor = NoteEditor()
        self.editor.setObjectName("newNoteEditor")
        self.editor.setPlaceholderText("Write a note… (Ctrl+Enter saves, Esc cancels)")
        self.editor.setAccessibleName("New note text")
        self.editor.submitted.connect(self.save_new)
        self.editor.cancelled.connect(self.cancel_new)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel new note")
        self.cancel_button.clicked.connect(self.cancel_new)
        self.save_button = QPushButton("Save note")
        self.save_button.setAccessibleName("Save note")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save_new)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.save_button)
        comp.addWidget(self.editor)
        comp.addLayout(buttons)
        self.composer.setVisible(False)
        layout.addWidget(self.composer)

        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        # Never sideways: the cards take the pane's width and their text wraps to it.
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setAccessibleName("Note list")
        self.list_widget = QWidget()
        self.list_layout = QVBoxLayout(self.list_widget)
        self.list_layout.setContentsMargins(0, 0, 0, 0)
        self.list_layout.setSpacing(round(fm.height() * 0.4))
        self.list_layout.addStretch(1)
        self.scroll_area.setWidget(self.list_widget)
        layout.addWidget(self.scroll_area, 1)
        self.empty = muted_label("")
        self.empty.setWordWrap(True)
        self.list_layout.insertWidget(0, self.empty)
        self.show_customer(None)

    # --- reading ------------------------------------------------------------------------

    def show_customer(self, customer_id: int | None) -> None:
        """Show ``customer_id``'s notes (or none)."""
        if customer_id != self.customer_id:
            self.cancel_new()
        self.customer_id = customer_id
        self.add_button.setEnabled(customer_id is not None)
        if customer_id is None:
            self._show([])
            return
        self.reload()

    @property
    def editing(self) -> bool:
        """Whether a note is being edited in place (a reload would drop the edit)."""
        return any(card.editor is not None for card in self.cards)

    def reload(self) -> None:
        """Read the notes again."""
        cid = self.customer_id
        if cid is None:
            return
        self._generation += 1
        generation = self._generation

        def fetch() -> list[NoteRow]:
            return self._service.notes(cid)

        def done(rows: list[NoteRow]) -> None:
            if generation == self._generation and cid == self.customer_id:
                self._show(rows)
                self.loaded.emit()

        Op(self, fetch).success(done).run()

    def _show(self, rows: list[NoteRow]) -> None:
        self.notes = rows
        for card in self.cards:
            card.hide()
            card.deleteLater()
        self.cards = []
        for i, note in enumerate(rows):
            card = NoteCard(note, self._meta(note))
            card.pin_toggled.connect(self.set_pinned)
            card.edit_saved.connect(self.save_edit)
            card.delete_confirmed.connect(self.delete)
            self.list_layout.insertWidget(1 + i, card)
            card.show()
            self.cards.append(card)
        if self.customer_id is None:
            self.empty.setText("")
        elif not rows:
            self.empty.setText("No notes yet. Press Ctrl+N to add one.")
        self.empty.setVisible(not rows and self.customer_id is not None)

    def _meta(self, note: NoteRow) -> str:
        when = fmt.when(note.created_at, self._now(), self._tz)
        edited = " · edited" if (note.updated_at - note.created_at).total_seconds() > 1 else ""
        return fmt.join_nonempty((note.author or "Someone", when)) + edited

    # --- writing ------------------------------------------------------------------------

    def start_new(self) -> None:
        """Open the composer and put the cursor in it."""
        if self.customer_id is None:
            return
        self.composer.setVisible(True)
        self.editor.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def cancel_new(self) -> None:
        """Close the composer, dropping its text."""
        self.editor.clear()
        self.composer.setVisible(False)

    def save_new(self) -> None:
        """Store the composer's text as a new note."""
        cid, body = self.customer_id, self.editor.toPlainText()
        if cid is None or not body.strip():
            return

        def write() -> NoteRow:
            return self._service.add_note(cid, body)

        self.save_button.setEnabled(False)

        def saved(_row: NoteRow) -> None:
            self.cancel_new()
            self._written()

        Op(self, write, write=True).success(saved).finished(
            lambda: self.save_button.setEnabled(True)
        ).run()

    def save_edit(self, note_id: int, body: str) -> None:
        """Replace a note's text."""

        def write() -> NoteRow:
            return self._service.edit_note(note_id, body)

        Op(self, write, write=True).success(lambda _r: self._written()).run()

    def set_pinned(self, note_id: int, pinned: bool) -> None:
        """Pin or unpin a note."""

        def write() -> NoteRow:
            return self._service.set_pinned(note_id, pinned)

        Op(self, write, write=True).success(lambda _r: self._written()).run()

    def delete(self, note_id: int) -> None:
        """Delete a note."""

        def write() -> None:
            self._service.delete_note(note_id)

        Op(self, write, write=True).success(lambda _r: self._written()).run()

    def _written(self) -> None:
        self.loaded.connect(self._announce_change, Qt.ConnectionType.SingleShotConnection)
        self.reload()

    def _announce_change(self) -> None:
        self.notes_changed.emit()
