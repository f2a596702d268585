"""Merging, splitting, "not the same person" and undo: the writes behind them and their dialogs.

Every change runs on the serial writer through ``app.merges``; when it is
done the flow emits ``changed`` with an ``Outcome`` that says what happened
in words, and the main window refreshes the customer list, the profile, the
timeline and the notes. The flow also counts merge suggestions on a reader
(one count of the stored list, ``app.suggestion_store``, brought up to date first: in a
child process when that is big work, ``app.suggestion_child``) for the status bar,
and owns the dialogs that ask for a change: the merge review, the merge
confirmation, the customer picker and the change history.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from app.errors import Cancelled, NotFoundError
from app.service import Change, CustomerRow, Database, IdentityRow, Service
from ui import messages
from ui.identity_models import change_text, quoted
from ui.profile import identity_text
from ui.safe_text import message_box
from ui.workers import Op, show_error

if TYPE_CHECKING:
    from ui.identity_dialogs import CustomerPickerDialog, HistoryDialog, MergeConfirmDialog
    from ui.merge_review import MergeReviewDialog

SUGGESTION_DEBOUNCE_MS = 250


@dataclass(frozen=True)
class Outcome:
    """What a finished identity change did.

    Attributes:
        action: "merge", "split", "undo" or "reject".
        message: the status-bar sentence.
        customers: the customers it touched (ids as they were before the change).
        change_ids: the audit entries written (for undo).
        show: a customer the window should show now, if any.
    """

    action: str
    message: str
    customers: tuple[int, ...] = ()
    change_ids: tuple[int, ...] = ()
    show: int | None = None


class IdentityFlow(QObject):
    """The writes and dialogs of identity changes.

    Signals:
        changed(object): an ``Outcome`` of a finished change.
        suggestions_counted(int): how many merge suggestions there are now.
    """

    changed = Signal(object)
    suggestions_counted = Signal(int)

    def __init__(
        self,
        service: Service | Database,
        window: QWidget,
        *,
        tz: tzinfo,
        now: Callable[[], datetime],
    ) -> None:
        super().__init__(window)
        self.service = Service.of(service)
        self.window = window
        self.tz = tz
        self.now = now
        self.suggestion_count = 0
        self._count_generation = 0
        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(SUGGESTION_DEBOUNCE_MS)
        self._count_timer.timeout.connect(self._count_suggestions)
        self._closing = threading.Event()
        self.count_op: Op | None = None  # the latest count of the suggestions
        self.review: MergeReviewDialog | None = None
        self.history: HistoryDialog | None = None
        self.merge_dialog: MergeConfirmDialog | None = None
        self.picker: CustomerPickerDialog | None = None
        self.confirm: QMessageBox | None = None

    # --- writes ------------------------------------------------------------------------

    def merge(
        self,
        keep: CustomerRow,
        others: Sequence[CustomerRow],
        *,
        reason: str,
        done: Callable[[Outcome], None] | None = None,
    ) -> Op:
        """Merge ``others`` into ``keep`` (one audit entry each, all in one transaction).

        Merging several at once first makes an automatic ``merge`` backup (rotated like
        the daily ones); when that fails nothing is merged."""
        service, keep_id, other_ids = self.service, keep.id, [o.id for o in others]

        def work() -> list[int]:  # a bulk merge backs the data up first
            return service.merge(keep_id, other_ids, reason=reason)

        if len(others) == 1:
            message = f"Merged {quoted(others[0].name)} into {quoted(keep.name)}."
        else:
            message = (
                f"Merged {len(others)} customers into {quoted(keep.name)}. "
                "Ctrl+Z undoes one merge at a time."
            )

        def success(change_ids: list[int]) -> None:
            self._finish(
                Outcome("merge", message, (keep_id, *other_ids), tuple(change_ids), keep_id), done
            )

        return Op(self.window, work, write=True).success(success).run()

    def split(
        self,
        customer: CustomerRow,
        identity: IdentityRow,
        *,
        into: CustomerRow | None = None,
        done: Callable[[Outcome], None] | None = None,
    ) -> Op:
        """Move one contact point out of ``customer`` to a new customer (or to ``into``)."""
        service, cid, iid = self.service, customer.id, identity.id
        target = into.id if into is not None else None

        def work() -> tuple[int, int, str]:
            moved_to, change, row = service.split(cid, [iid], into=target)
            return moved_to, change, row.name

        def success(result: tuple[int, int, str]) -> None:
            moved_to, change, name = result
            where = f"a new customer {quoted(name)}" if into is None else quoted(name)
            message = f"Moved {identity_text(identity)} to {where}."
            self._finish(Outcome("split", message, (cid, moved_to), (change,)), done)

        return Op(self.window, work, write=True).success(success).run()

    def reject(
        self,
        a: CustomerRow,
        b: CustomerRow,
        *,
        done: Callable[[Outcome], None] | None = None,
    ) -> Op:
        """Remember that ``a`` and ``b`` are different people (never suggested again)."""
        service, ids = self.service, (a.id, b.id)

        def work() -> None:
            service.reject(*ids)

        message = f"Noted: {quoted(a.name)} and {quoted(b.name)} are different people."
        return (
            Op(self.window, work, write=True)
            .success(lambda _r: self._finish(Outcome("reject", message, ids), done))
            .run()
        )

    def undo(
        self, change_id: int | None = None, *, done: Callable[[Outcome], None] | None = None
    ) -> Op:
        """Undo a merge or split (the latest one when ``change_id`` is None)."""
        service = self.service

        def work() -> Change:
            return service.undo(change_id)

        def success(change: Change) -> None:
            d = change.details
            touched = tuple(int(d[k]) for k in ("survivor", "merged", "from", "to") if d.get(k))
            message = f"Undone: {change_text(change, capital=False)}."
            self._finish(Outcome("undo", message, touched, (change.id,)), done)

        def failure(exc: BaseException) -> None:
            if isinstance(exc, NotFoundError) and change_id is None:
                messages.info("Nothing to undo: no merge or split is left to reverse.")
                return
            show_error(self.window, exc)

        return Op(self.window, work, write=True).success(success).failure(failure).run()

    def _finish(self, outcome: Outcome, done: Callable[[Outcome], None] | None) -> None:
        messages.info(outcome.message)
        if done is not None:
            done(outcome)
        self.changed.emit(outcome)
        self.refresh_suggestions()

    # --- suggestions -------------------------------------------------------------------

    def refresh_suggestions(self, *, at_once: bool = False) -> None:
        """Count the merge suggestions again, soon (bursts of changes are counted once), or
        ``at_once`` (an import or a sync has just finished: one change, and the one the
        user then looks for in the count)."""
        if at_once:
            self._count_timer.stop()
            self._count_suggestions()
        else:
            self._count_timer.start()

    def shutdown(self) -> None:
        """Stop counting suggestions (the window is closing): a catch-up running in a child
        process for the count is stopped, and stores nothing."""
        self._count_timer.stop()
        self._count_generation += 1
        self._closing.set()
        self._closing = threading.Event()  # (for counts after the window shows again)

    def closing(self) -> Callable[[], bool]:
        """What work for the window polls as ``should_cancel``: true once it closes."""
        return self._closing.is_set

    def _count_suggestions(self) -> None:
        self._count_generation += 1
        generation, service, closing = self._count_generation, self.service, self.closing()

        def count() -> int:
            # A big catch-up runs in a child process: this one (the window's) stays free of
            # its objects and of the collections they would cause while the user scrolls.
            return service.suggestion_count(apart=True, should_cancel=closing)

        def done(n: int) -> None:
            if generation == self._count_generation:
                self.suggestion_count = n
                self.suggestions_counted.emit(n)
            # The catch-up's commit left the database's log as it was: copied into the file
            # now, in the background, rather than while the count was awaited.
            Op(self, service.checkpoint).failure(self.unless_closing).run()

        self.count_op = Op(self, count).success(done).failure(self.unless_closing).run()

    def unless_closing(self, exc: BaseException) -> None:
        """Present a failure of work for the window, unless the window's closing cancelled it."""
        if not isinstance(exc, Cancelled):
            show_error(self.window, exc)

    # --- dialogs -----------------------------------------------------------------------

    def open_review(self) -> MergeReviewDialog:
        """Customers → Review Suggestions…: the queue of suggested pairs."""
        from ui.merge_review import MergeReviewDialog

        if self.review is not None and self.review.isVisible():
            self.review.raise_()
            return self.review
        review = MergeReviewDialog(self, self.window)
        review.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        review.destroyed.connect(lambda: setattr(self, "review", None))
        self.review = review
        review.open()
        return review

    def open_history(self) -> HistoryDialog:
        """Customers → Change History…: every change, with Undo on those that can be undone."""
        from ui.identity_dialogs import HistoryDialog

        if self.history is None:
            self.history = HistoryDialog(self, self.window)
        history = self.history
        history.reload()
        history.open()
        return history

    def ask_merge(self, rows: Sequence[CustomerRow]) -> MergeConfirmDialog | None:
        """Confirm merging the selected customers, naming who is merged into whom."""
        from ui.identity_dialogs import MergeConfirmDialog

        if len(rows) < 2:
            messages.info("Select two or more customers (Ctrl-click or Shift-click) to merge.")
            return None
        dialog = MergeConfirmDialog(list(rows), self.window)
        dialog.merge_chosen.connect(
            lambda keep, others: self.merge(keep, others, reason="merged by hand")
        )
        self.merge_dialog = dialog
        dialog.open()
        return dialog

    def ask_move_to_new(self, customer: CustomerRow, identity: IdentityRow) -> QMessageBox:
        """Confirm moving a contact point out to a new customer."""
        shown = identity_text(identity)
        box = message_box(
            QMessageBox.Icon.Question,
            "Move to a new customer",
            f"Move {shown} out of {quoted(customer.name)} to a new customer?",
            QMessageBox.StandardButton.Cancel,
            self.window,
            informative="Every email, chat and order of this contact point moves with it. "
            "Edit → Undo (Ctrl+Z) puts it back.",
        )
        box.setObjectName("moveToNewDialog")
        box.setAccessibleName("Move to a new customer")
        move = box.addButton("&Move", QMessageBox.ButtonRole.AcceptRole)
        move.setObjectName("moveButton")
        box.setDefaultButton(move)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        move.clicked.connect(lambda: self.split(customer, identity))
        self.confirm = box
        box.open()
        return box

    def ask_move_to_other(
        self, customer: CustomerRow, identity: IdentityRow
    ) -> CustomerPickerDialog:
        """Pick a customer (searching as the toolbar does) and move the contact point there."""
        from ui.identity_dialogs import CustomerPickerDialog

        picker = CustomerPickerDialog(
            self.service,
            self.window,
            exclude=customer.id,
            title=f"Move {identity_text(identity)} to…",
            tz=self.tz,
            now=self.now,
        )
        picker.customer_picked.connect(lambda target: self.split(customer, identity, into=target))
        self.picker = picker
        picker.open()
        return picker
