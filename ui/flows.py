"""The long flows behind the menu: importing files, trying the demo, exporting a PDF.

Each flow owns its dialogs and its background ``Op``: imports (after adding
the sender chosen as "you" to the owner settings) run on the serial writer,
with progress and Cancel in the status bar; the demo is loaded into its own
database (never the user's) on the writer; the PDF export renders on a
reader. The main window only starts flows and listens to their signals.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from app.errors import Cancelled, UserFacingError
from app.paths import demo_db_path
from app.service import CustomerRow, Database, Service
from ui import formatting as fmt
from ui import messages
from ui.export_dialog import ExportChoice, ExportDialog, ExportDoneDialog
from ui.import_dialog import ImportDialog, ImportRequest, ImportSummaryDialog
from ui.status import ProgressStatus
from ui.workers import Op, show_error

if TYPE_CHECKING:  # (the import machinery loads when an import starts, not at app start)
    from app.service import FileReport, ImportProgress


class ImportFlow(QObject):
    """Import dialog → background import → summary.

    Signals:
        import_finished(object): the list of ``FileReport``s of a finished (or cancelled) run.
        problems_requested(): the user asked for the problem list from the summary.
    """

    import_finished = Signal(object)
    problems_requested = Signal()

    def __init__(
        self,
        service: Service | Database,
        window: QWidget,
        progress: ProgressStatus,
        default_tz: str,
    ) -> None:
        super().__init__(window)
        self._service = Service.of(service)
        self._window = window
        self._progress = progress
        self.default_tz = default_tz
        self.op: Op | None = None
        self.dialog: ImportDialog | None = None
        self.summary: ImportSummaryDialog | None = None
        self._files: list[str] = []
        self.other_running: Callable[[], bool] = lambda: False  # a sync shares the status bar
        progress.cancel_requested.connect(self.cancel)

    @property
    def running(self) -> bool:
        """Whether an import is under way."""
        return self.op is not None and self.op.running

    def open_dialog(self, paths: Sequence[Path] = ()) -> ImportDialog:
        """Show the import dialog (with ``paths`` already added)."""
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.add_paths(paths)
            self.dialog.raise_()
            return self.dialog
        self.dialog = ImportDialog(
            self._window, default_tz=self.default_tz, paths=paths, service=self._service
        )
        self.dialog.import_requested.connect(self.run)
        self.dialog.open()
        return self.dialog

    def run(self, request: ImportRequest) -> None:
        """Import ``request`` on the writer, reporting progress in the status bar."""
        if self.running or self.other_running():
            messages.warning("An import or sync is already running; try again when it ends.")
            return
        service, tz = self._service, ZoneInfo(request.tz)
        self._files = [str(p) for p in request.paths]

        def work(progress: Any, should_cancel: Any) -> list[FileReport]:
            # The owner settings are saved and applied first, then every file is imported.
            reports = service.import_paths(
                request.paths,
                format=request.format,
                tz=tz,
                date_order=request.date_order,
                mapped={p: (f, m) for p, f, m in request.mapped},
                owner=request.owner,
                progress=progress,
                should_cancel=should_cancel,
            )
            from app.service import FileReport

            for path, why in request.unrecognised:  # left out, but the summary says so
                reports.append(FileReport(str(path), "", status="skipped", error=why))
            return reports

        self._progress.start(f"Importing {fmt_files(self._files)}…")
        self.op = (
            Op(self._window, work, write=True)
            .with_progress(self._report)
            .success(self._done)
            .failure(self._failed)
            .finished(self._progress.finish)
            .run()
        )

    def cancel(self) -> None:
        """Stop the running import after its current batch."""
        if self.op is not None:
            self.op.cancel()

    def _report(self, p: ImportProgress) -> None:
        name = os.path.basename(p.path) or p.path
        position = ""
        if len(self._files) > 1 and p.path in self._files:
            position = f" (file {self._files.index(p.path) + 1} of {len(self._files)})"
        self._progress.update_progress(
            f"Importing {name}{position}… {p.items:,} items, {p.added:,} new",
            p.bytes_done,
            p.bytes_total,
        )

    def _done(self, reports: list[FileReport]) -> None:
        added = sum(r.added for r in reports)
        messages.info(f"Import finished: {added:,} added.")
        self._progress.finish()
        self.import_finished.emit(reports)
        cancelled = self.op is not None and self.op.cancelled
        self.summary = ImportSummaryDialog(reports, self._window, cancelled=cancelled)
        self.summary.problems_requested.connect(self.problems_requested)
        self.summary.open()

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            messages.info("Import cancelled.")
            self.import_finished.emit([])
            return
        self.import_finished.emit([])
        show_error(self._window, exc)


class DemoFlow(QObject):
    """Try the demo: load the demo data into the demo's own database, then hand over its path.

    The user's database is not touched. Loading twice adds nothing, so trying the
    demo again simply reopens it.

    Signals:
        ready(str): the demo database is loaded; its path.
    """

    ready = Signal(str)

    def __init__(self, window: QWidget, progress: ProgressStatus) -> None:
        super().__init__(window)
        self._window = window
        self._progress = progress
        self.op: Op | None = None

    @property
    def running(self) -> bool:
        """Whether the demo is being loaded."""
        return self.op is not None and self.op.running

    def start(self) -> None:
        """Load the demo database on the writer; ``ready`` follows."""
        if self.running:
            return

        def work() -> str:
            path = demo_db_path()
            demo = Service.open(path)
            try:
                reports = demo.load_demo()
            finally:
                demo.close()
            if not any(r.added or r.duplicates for r in reports):
                raise UserFacingError("The demo data could not be loaded.")
            return str(path)

        self._progress.start("Opening the demo…", cancellable=False)
        self.op = (
            Op(self._window, work, write=True)
            .success(self.ready.emit)
            .failure(lambda exc: show_error(self._window, exc))
            .finished(self._progress.finish)
            .run()
        )


def fmt_files(files: Sequence[str]) -> str:
    """ "orders.csv" or "3 files"."""
    if len(files) == 1:
        return os.path.basename(files[0]) or files[0]
    return f"{len(files):,} files"


class ExportFlow(QObject):
    """Options dialog → save path → PDF rendered on a reader → "Open" / "Show in folder".

    Signals:
        export_finished(object): the ``Path`` of a written PDF.
    """

    export_finished = Signal(object)

    def __init__(
        self, service: Service | Database, window: QWidget, progress: ProgressStatus
    ) -> None:
        super().__init__(window)
        self._service = Service.of(service)
        self._window = window
        self._progress = progress
        self.dialog: ExportDialog | None = None
        self.done_dialog: ExportDoneDialog | None = None
        self.customer: CustomerRow | None = None
        self.op: Op | None = None
        progress.cancel_requested.connect(self._cancel_export)

    def start(self, customer: CustomerRow | None) -> None:
        """Ask for the options for ``customer``'s PDF."""
        if customer is None:
            messages.info("Pick a customer to export first.")
            return
        self.customer = customer
        self.dialog = ExportDialog(
            fmt.customer_name(customer),
            self._window,
            first=customer.first_seen.date() if customer.first_seen else None,
            last=customer.last_seen.date() if customer.last_seen else None,
        )
        self.dialog.export_chosen.connect(self.choose_path)
        self.dialog.open()

    def choose_path(self, choice: ExportChoice) -> None:
        """Ask where to save, then export."""
        if self.customer is None:
            return
        suggested = Path.home() / f"{safe_filename(self.customer.name)}.pdf"
        path, _ = QFileDialog.getSaveFileName(
            self._window, "Export PDF", str(suggested), "PDF files (*.pdf)"
        )
        if not path:
            return
        target = Path(path)
        if target.suffix.lower() != ".pdf":
            target = target.with_suffix(".pdf")
        self.run(self.customer.id, target, choice)

    def run(self, customer_id: int, path: Path, choice: ExportChoice) -> None:
        """Render the PDF in the background."""
        service = self._service

        def work(progress: Any, should_cancel: Any) -> int:
            def report(done: int, total: int) -> None:
                if should_cancel():
                    raise Cancelled("export cancelled")
                progress((done, total))

            return service.export_pdf(customer_id, path, choice.to_options(), progress=report)

        def done(pages: int) -> None:
            messages.info(f"Saved {path.name}.")
            self.export_finished.emit(path)
            self.done_dialog = ExportDoneDialog(path, pages, self._window)
            self.done_dialog.open()

        self._progress.start(f"Exporting {path.name}…")
        self.op = (
            Op(self._window, work)
            .with_progress(lambda v: self._progress.update_progress(f"Exporting {path.name}…", *v))
            .success(done)
            .finished(self._progress.finish)
            .run()
        )

    def _cancel_export(self) -> None:
        if self.op is not None and self.op.running:
            self.op.cancel()


def safe_filename(name: str) -> str:
    """A file name made from a customer name."""
    cleaned = "".join(ch if ch.isalnum() or ch in " -_." else "_" for ch in name).strip(" .")
    return cleaned or "customer"
