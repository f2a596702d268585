"""Sync ⟳ (F5): fetch what is new in every mail account, in the background, then say what came.

``SyncFlow.start`` lists the accounts on a reader. An account whose password
is not in the keyring (or every account, when no usable keyring exists) gets
a password prompt first, one at a time; the answers are handed to
``Service.sync_accounts`` for this run only and never stored. The sync runs
on the serial writer (it stores messages) with per-folder progress and Cancel
in the status bar. At the end ``SyncSummaryDialog`` lists each account and
folder with new messages, duplicates and problems, and ``sync_finished``
tells the main window to read its lists again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QInputDialog,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app import redact
from app.service import Database, Service
from ui import formatting as fmt
from ui import messages
from ui.safe_text import plain_label, plain_texts, tip
from ui.status import ProgressStatus
from ui.workers import Op, show_error

if TYPE_CHECKING:  # (types only: the sync machinery loads when a sync starts, not at app start)
    from app.service import AccountInfo, AccountReport, SyncProgress


class SyncFlow(QObject):
    """Password prompts → background sync → summary.

    Signals:
        sync_finished(object): the list of ``AccountReport``s (empty when nothing ran).
        accounts_needed(): there is no account yet; the window should offer to add one.
        password_asked(object): a password prompt (a ``QInputDialog``) is open.
    """

    sync_finished = Signal(object)
    accounts_needed = Signal()
    password_asked = Signal(object)

    def __init__(self, db: Service | Database, window: QWidget, progress: ProgressStatus) -> None:
        super().__init__(window)
        self._service = Service.of(db)
        self._window = window
        self._progress = progress
        self.op: Op | None = None
        self.summary: SyncSummaryDialog | None = None
        self.prompt: QInputDialog | None = None
        self._passwords: dict[str, str] = {}
        self._starting = False
        self.keyring_reason: str | None = None
        progress.cancel_requested.connect(self.cancel)

    @property
    def running(self) -> bool:
        """Whether a sync (or its password prompts) is under way."""
        return self._starting or (self.op is not None and self.op.running)

    def start(self) -> None:
        """Sync every account (asking for the passwords the keyring does not hold)."""
        if self.running:
            messages.info("A sync is already running.")
            return
        self._starting = True
        service = self._service

        def work() -> tuple[str | None, list[tuple[AccountInfo, bool]]]:
            found = service.accounts()
            reason = Service.keyring_problem()
            return reason, [(a, Service.has_password(a)) for a in found]

        def done(result: tuple[str | None, list[tuple[AccountInfo, bool]]]) -> None:
            self.keyring_reason, found = result
            if not found:
                self._starting = False
                messages.info("No mail account yet: add one under File → Mail Accounts….")
                self.accounts_needed.emit()
                return
            self._passwords = {}
            # Accounts that sign in with OAuth never ask for a password: without a sign-in
            # their sync fails with "sign in again", which the summary shows.
            pending = [a for a, stored in found if not stored and not a.uses_oauth]
            self._ask(pending, [a.name for a, _s in found])

        def failed(exc: BaseException) -> None:
            self._starting = False
            show_error(self._window, exc)

        Op(self._window, work).success(done).failure(failed).run()

    def _ask(self, pending: list[AccountInfo], names: list[str]) -> None:
        """Ask for each pending account's password in turn, then run."""
        if not pending:
            self._run(names)
            return
        info, rest = pending[0], pending[1:]
        why = (
            "There is no usable keyring on this computer, so Threadline does not store it."
            if self.keyring_reason
            else "It is not stored in the keyring (add it under File → Mail Accounts…)."
        )
        dialog = QInputDialog(self._window)
        dialog.setObjectName("syncPasswordPrompt")
        dialog.setWindowTitle(f"Password for {info.name}")
        dialog.setLabelText("")
        plain_texts(dialog)
        dialog.setLabelText(
            f"Password for {info.username} on {info.host}:\n{why}\nLeave it empty to skip "
            "this account."
        )
        dialog.setTextEchoMode(QLineEdit.EchoMode.Password)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setOkButtonText("Sync")
        self.prompt = dialog

        def answered(text: str) -> None:
            if text:
                self._passwords[info.name] = text
            self.prompt = None
            self._ask(rest, names)

        def skipped() -> None:
            self.prompt = None
            self._starting = False
            self._passwords = {}
            messages.info("Sync cancelled.")

        dialog.textValueSelected.connect(answered)
        dialog.rejected.connect(skipped)
        dialog.open()
        self.password_asked.emit(dialog)

    def _run(self, names: list[str]) -> None:
        service = self._service
        given = dict(self._passwords)
        self._passwords = {}

        def work(progress: Callable[[Any], None], should_cancel: Callable[[], bool]) -> Any:
            return service.sync_accounts(
                names,
                passwords=lambda info: given.get(info.name),
                progress=progress,
                should_cancel=should_cancel,
            )

        def finished() -> None:
            given.clear()
            self._progress.finish()

        self._starting = False
        self._progress.start(f"Syncing {fmt.plural(len(names), 'mail account')}…")
        self.op = (
            Op(self._window, work, write=True)
            .with_progress(self._report)
            .success(self._done)
            .failure(self._failed)
            .finished(finished)
            .run()
        )

    def cancel(self) -> None:
        """Stop after the current batch (what was stored stays; the next sync resumes)."""
        if self.op is not None and self.op.running:
            self.op.cancel()

    def _report(self, p: SyncProgress) -> None:
        where = f"{p.account} · {p.folder}"
        if p.folder_count > 1:
            where += f" (folder {p.folder_index + 1} of {p.folder_count})"
        counts = f"{p.done:,} / {p.total:,}, {p.added:,} new" if p.total else "checking…"
        self._progress.update_progress(f"Syncing {where}… {counts}", p.done, p.total)

    def _done(self, reports: list[AccountReport]) -> None:
        new = sum(r.new for r in reports)
        failed = [r for r in reports if r.status == "failed"]
        messages.info(
            fmt.join_nonempty(
                (
                    f"Sync finished: {new:,} new messages",
                    f"{len(failed):,} account{'s' if len(failed) != 1 else ''} failed"
                    if failed
                    else "",
                )
            )
            + "."
        )
        self._progress.finish()
        self.sync_finished.emit(reports)
        cancelled = self.op is not None and self.op.cancelled
        self.summary = SyncSummaryDialog(reports, self._window, cancelled=cancelled)
        self.summary.open()

    def _failed(self, exc: BaseException) -> None:
        self.sync_finished.emit([])
        show_error(self._window, exc)


_RESULTS = {"done": "Done", "cancelled": "Cancelled", "failed": "Failed", "skipped": "Skipped"}


class SyncSummaryDialog(QDialog):
    """What a sync did: per account, per folder, new messages, duplicates and problems.

    Signals:
        (only those of QDialog)
    """

    def __init__(
        self, reports: list[AccountReport], parent: QWidget | None = None, *, cancelled: bool
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sync finished")
        self.setObjectName("syncSummary")
        self.setAccessibleName("Sync summary")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.reports = reports
        cancelled = cancelled or any(r.status == "cancelled" for r in reports)
        failed = [r for r in reports if r.status == "failed"]
        failed_folders = sum(
            1 for r in reports if r.status != "failed" for f in r.folders if f.status == "failed"
        )
        layout = QVBoxLayout(self)
        if cancelled:
            heading = "Sync cancelled — what was fetched so far is saved; the next sync resumes."
        elif failed and len(failed) == len(reports):
            heading = (
                f"Sync failed: {failed[0].account} could not be synced."
                if len(failed) == 1
                else f"Sync failed: none of the {len(failed)} accounts could be synced."
            )
        elif failed:
            names = ", ".join(r.account for r in failed)
            heading = f"Sync finished, but {fmt.plural(len(failed), 'account')} failed: {names}."
        elif failed_folders:
            heading = f"Sync finished, but {fmt.plural(failed_folders, 'folder')} failed."
        else:
            heading = "Sync finished."
        title = plain_label(heading)
        self.title = title
        font = title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        title.setFont(font)
        title.setWordWrap(True)
        layout.addWidget(title)
        new = sum(r.new for r in reports)
        dups = sum(f.duplicates for r in reports for f in r.folders)
        problems = sum(r.problem_count for r in reports)
        self.totals = plain_label(
            fmt.join_nonempty(
                (
                    f"{new:,} new",
                    f"{dups:,} already there",
                    fmt.plural(problems, "problem") if problems else "no problems",
                    f"{fmt.plural(len(failed), 'account')} failed" if failed else "",
                )
            )
        )
        self.totals.setObjectName("syncTotals")
        self.totals.setAccessibleName("Sync totals")
        layout.addWidget(self.totals)
        self.tree = QTreeWidget()
        self.tree.setObjectName("syncResults")
        self.tree.setAccessibleName("Sync results per account and folder")
        self.tree.setHeaderLabels(["Account / folder", "New", "Duplicates", "Problems", "Result"])
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for report in reports:
            result = _RESULTS.get(report.status, report.status)
            top = QTreeWidgetItem(
                [
                    report.account,
                    f"{report.new:,}",
                    f"{sum(f.duplicates for f in report.folders):,}",
                    f"{report.problem_count:,}",
                    result,
                ]
            )
            top.setToolTip(4, tip(result))
            font = top.font(0)
            font.setBold(True)
            top.setFont(0, font)
            for folder in report.folders:
                text = _RESULTS.get(folder.status, folder.status)
                if folder.error:
                    text = f"{text}: {redact.redact(folder.error)}"
                child = QTreeWidgetItem(
                    [
                        folder.folder,
                        f"{folder.new:,}",
                        f"{folder.duplicates:,}",
                        f"{len(folder.problems):,}",
                        text,
                    ]
                )
                child.setToolTip(4, tip(text))
                for col in (1, 2, 3):
                    child.setTextAlignment(col, right)
                top.addChild(child)
            for col in (1, 2, 3):
                top.setTextAlignment(col, right)
            self.tree.addTopLevelItem(top)
            top.setExpanded(True)
            if report.error:  # the reason in full, on its own line under the account
                error = redact.redact(report.error)  # a server may have echoed the password
                reason = QTreeWidgetItem([f"⚠ {error}"])
                reason.setFirstColumnSpanned(True)
                reason.setToolTip(0, tip(error))
                top.addChild(reason)
                reason.setFirstColumnSpanned(True)
        for col in range(5):
            self.tree.resizeColumnToContents(col)
        self.tree.setCurrentIndex(QModelIndex())  # no current row
        em = self.fontMetrics().horizontalAdvance("M")
        self.tree.setMinimumWidth(em * 64)
        self.tree.setWordWrap(True)
        self.tree.header().setStretchLastSection(True)
        rows = len(reports) + sum(len(r.folders) for r in reports)
        self.tree.setMinimumHeight(self.fontMetrics().lineSpacing() * (min(rows, 12) + 3))
        layout.addWidget(self.tree, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)
