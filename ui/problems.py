"""The import problem list: every item an import could not read, with the file, where, and why.

Opened from the status bar's "N problems" button or the import summary. The
list is read by ``ProblemsModel`` on a reader; "Copy" puts it on the
clipboard as tab-separated text for a support request.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ui.models import ProblemsModel
from ui.safe_text import plain_label


class ProblemsDialog(QDialog):
    """Shows ``ProblemsModel`` in a table.

    Signals:
        (none; the model's ``loaded`` says when the list is in)
    """

    def __init__(self, model: ProblemsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setWindowTitle("Import problems")
        self.setObjectName("problemsDialog")
        self.setAccessibleName("Import problems")
        layout = QVBoxLayout(self)
        self.summary = plain_label()
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.table = QTableView()
        self.table.setAccessibleName("Problem list")
        self.table.setModel(model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        # the Reason column is what the user reads: it gets the room and wraps; the
        # file and place columns are capped (their full text is in the tooltip)
        self.table.setWordWrap(True)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        fm = self.fontMetrics()
        self._em = fm.horizontalAdvance("M")
        self.table.setMinimumSize(self._em * 70, fm.lineSpacing() * 14)
        layout.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("&Copy list", QDialogButtonBox.ButtonRole.ActionRole)
        copy.setAccessibleName("Copy problem list")
        copy.clicked.connect(self.copy)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        model.loaded.connect(self._loaded)
        self._loaded()

    def _loaded(self) -> None:
        n = self.model.rowCount()
        for col, cap in ((0, 18), (1, 12)):  # narrow columns never squeeze the reason
            self.table.resizeColumnToContents(col)
            self.table.setColumnWidth(col, min(self.table.columnWidth(col), self._em * cap))
        self.summary.setText(
            "No import problems. Everything imported so far was read."
            if n == 0
            else f"{n:,} item{'s' if n != 1 else ''} could not be read. The rest of each "
            "file was imported; fix the file and import it again to add what is missing."
        )

    def copy(self) -> None:
        """Put the problems on the clipboard, one per line, tab-separated."""
        lines = [
            "\t".join((path, where, reason, at.isoformat()))
            for path, where, reason, at in self.model.problems()
        ]
        QGuiApplication.clipboard().setText("\n".join(lines))
