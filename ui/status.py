"""Status-bar widgets: progress with Cancel, "N problems ⚠", and "N suggested merges".

The progress widget appears only when an operation lasts more than a moment
(so quick work never flashes a bar), shows what is being done and how far,
and offers Cancel; the main window wires Cancel to the running ``Op``. The
two count buttons hide themselves at zero and open their list when clicked.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QToolButton, QWidget

from ui.marks import icon
from ui.safe_text import plain_label

SHOW_DELAY_MS = 400


class ProgressStatus(QWidget):
    """What a long operation is doing, a bar, and Cancel.

    Signals:
        cancel_requested(): the user pressed Cancel.
    """

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Progress")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = plain_label()
        self.label.setAccessibleName("Progress text")
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Progress bar")
        self.bar.setTextVisible(False)
        em = self.fontMetrics().horizontalAdvance("M")
        self.bar.setFixedWidth(em * 12)
        self.bar.setMaximumHeight(self.fontMetrics().height())
        self.cancel = QPushButton("Cancel")
        self.cancel.setObjectName("cancelOperation")
        self.cancel.setAccessibleName("Cancel the running operation")
        self.cancel.setToolTip("Stop after the current batch; what was read is kept")
        self.cancel.clicked.connect(self._cancel_clicked)
        layout.addWidget(self.label, 1)  # the text takes the room; the button keeps its size
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SHOW_DELAY_MS)
        self._timer.timeout.connect(self.show)
        self.active = False
        self.hide()

    def start(self, text: str, *, cancellable: bool = True) -> None:
        """Begin showing an operation (visible after a short delay)."""
        self.active = True
        self.label.setText(text)
        self.bar.setRange(0, 0)
        self.cancel.setEnabled(cancellable)
        self.cancel.setVisible(cancellable)
        self.cancel.setText("Cancel")
        self._timer.start()

    def update_progress(self, text: str, done: int = 0, total: int = 0) -> None:
        """Say what is happening; a bar when ``total`` is known, else a busy bar."""
        if not self.active:
            return
        self.label.setText(text)
        if total > 0:
            self.bar.setRange(0, 1000)
            self.bar.setValue(round(1000 * min(done, total) / total))
        else:
            self.bar.setRange(0, 0)

    def finish(self) -> None:
        """Hide the widget."""
        self.active = False
        self._timer.stop()
        self.hide()

    def _cancel_clicked(self) -> None:
        self.cancel.setEnabled(False)
        self.cancel.setText("Cancelling…")
        self.label.setText("Stopping after the current batch…")
        self.cancel_requested.emit()


class ProblemsButton(QToolButton):
    """ "N problems ⚠": opens the import problem list; hidden when there are none.

    Signals:
        (clicked, inherited)
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("problemsButton")
        self.setAccessibleName("Show import problems")
        self.setToolTip("Items that imports could not read")
        self.setAutoRaise(True)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.setLayoutDirection(Qt.LayoutDirection.RightToLeft)
        self.setIcon(icon("warning"))
        self.count = 0
        self.set_count(0)

    def set_count(self, count: int, capped: bool = False) -> None:
        """Show ``count`` problems (``capped``: there may be more)."""
        self.count = count
        more = "+" if capped else ""
        self.setText(f"{count:,}{more} problem{'s' if count != 1 else ''}")
        self.setVisible(count > 0)


class SuggestionsButton(QToolButton):
    """ "N suggested merges": opens the merge review; hidden when there are none.

    Signals:
        (clicked, inherited)
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("suggestionsButton")
        self.setAccessibleName("Review suggested merges")
        self.setToolTip("Customers who may be the same person: review them (Ctrl+Shift+M)")
        self.setAutoRaise(True)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.setLayoutDirection(Qt.LayoutDirection.RightToLeft)
        self.setIcon(icon("merge"))
        self.count = 0
        self.set_count(0)

    def set_count(self, count: int) -> None:
        """Show ``count`` suggestions."""
        self.count = count
        self.setText(f"{count:,} suggested merge{'s' if count != 1 else ''}")
        self.setVisible(count > 0)
