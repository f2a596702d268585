"""The main window: wires the panes, the toolbar, the menus, the status bar and the flows together.

Left: customers (or full-text results); centre: the timeline; right: profile
and notes. The toolbar's search box filters customers as you type (Enter
opens the top hit, Down moves into the list, Esc clears). Files dropped
anywhere start an import. Customers → Merge Selected / Review Suggestions /
Change History and Edit → Undo go to ``IdentityFlow``; after every change the
list, profile, timeline and notes are read again. The panes and flows do the
work; this module only connects them.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeyEvent,
    QKeySequence,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QToolButton,
    QWidget,
)

from app.errors import NotFoundError, UserFacingError
from app.paths import default_db_path, demo_db_path, store_location
from app.service import CustomerRow, Database, LiveChange, SearchHit, Service
from ui import messages
from ui.backup_flow import BackupFlow
from ui.collector import collector
from ui.customer_list import CustomerListPane
from ui.empty_state import EmptyState
from ui.flows import DemoFlow, ExportFlow, ImportFlow
from ui.identity_flow import IdentityFlow, Outcome
from ui.live import LiveUpdates
from ui.marks import icon
from ui.messages import Level, Message
from ui.models import CustomerListModel, ProblemsModel, SearchResultsModel, TimelineModel
from ui.notes import NotesPane
from ui.privacy_flow import PrivacyFlow
from ui.problems import ProblemsDialog
from ui.profile import ProfilePane
from ui.safe_text import message_box
from ui.search_results import SearchResultsPane
from ui.status import ProblemsButton, ProgressStatus, SuggestionsButton
from ui.sync_flow import SyncFlow
from ui.timeline import FILTERS, TimelinePane
from ui.waiting_view import WaitingModel, WaitingPane
from ui.welcome import WelcomeForm
from ui.widgets import fit_to_screen, search_field
from ui.workers import Op, show_error

if TYPE_CHECKING:  # dialogs load when first opened: the first window needs none of them
    from ui.about_dialog import AboutDialog
    from ui.accounts_dialog import AccountsDialog
    from ui.settings_dialog import SettingsDialog

SEARCH_DEBOUNCE_MS = 150
_PROBLEM_CAP = 1000


class MainWindow(QMainWindow):
    """Threadline's window.

    Signals:
        customer_opened(int): a customer is now shown in the centre.
        counts_refreshed(): the import problem count was read again.
    """

    customer_opened = Signal(int)
    counts_refreshed = Signal()
    raised = Signal()  # brought to the front by a second launch (ui.app.bring_to_front)

    def __init__(
        self,
        db: Service | Database,
        *,
        now: Callable[[], datetime] | None = None,
        home: str | None = None,
        live: bool = False,
    ) -> None:
        """``home`` is the user's database, reopened by File → Leave Demo (default: ``db``'s
        file, or the usual database when ``db`` is the demo's). ``live``: show what other
        writers commit (a colleague's note, merge or import) as it happens (``ui.live``)."""
        super().__init__()
        self.service = service = Service.of(db)
        clock = now or (lambda: datetime.now(UTC))
        self._now = clock
        tz_name, welcome = service.start_settings()
        tz = ZoneInfo(tz_name)
        shown_file = str(service.path) if service.path is not None else ""  # a local file
        self.is_demo = bool(shown_file) and Path(shown_file).resolve() == demo_db_path().resolve()
        self.home_db = home or (
            str(default_db_path()) if self.is_demo or not shown_file else shown_file
        )
        self.replaced_by: MainWindow | None = None  # the window that took over (demo in/out)
        self.setWindowTitle("Threadline — Demo" if self.is_demo else "Threadline")
        self.setObjectName("mainWindow")
        self.setAccessibleName("Threadline")
        self.setWindowIcon(icon("logo"))
        self.setAcceptDrops(True)

        # models
        self.customer_model = CustomerListModel(service, self, tz=tz, now=clock)
        self.timeline_model = TimelineModel(service, self, tz=tz, now=clock)
        self.search_model = SearchResultsModel(service, self)
        self.problems_model = ProblemsModel(service, self, tz=tz)

        # panes
        self.customers = CustomerListPane(self.customer_model)
        self.results = SearchResultsPane(self.search_model, tz=tz, now=clock)
        self.left = QStackedWidget()
        self.left.setAccessibleName("Customers and search results")
        self.left.addWidget(self.customers)
        self.left.addWidget(self.results)
        self.waiting_model = WaitingModel(service, self, tz=tz, now=clock)
        self.waiting = WaitingPane(self.waiting_model, service)
        self.left.addWidget(self.waiting)
        # The pages' own minimum (the waiting list's buttons) must not take a small window's
        # room from the profile: the list gives way instead.
        self.left.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 14)
        self.timeline = TimelinePane(self.timeline_model)
        self.profile = ProfilePane(tz=tz, now=clock)
        self.notes = NotesPane(service, tz=tz, now=clock)
        self.right = QSplitter(Qt.Orientation.Vertical)
        self.right.setAccessibleName("Profile and notes")
        self.right.addWidget(self.profile)
        self.right.addWidget(self.notes)
        self.right.setStretchFactor(0, 1)
        self.right.setStretchFactor(1, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.setAccessibleName("Panes")
        self.splitter.addWidget(self.left)
        self.splitter.addWidget(self.timeline)
        self.splitter.addWidget(self.right)
        self.splitter.setChildrenCollapsible(False)
        self._sized_by_user = False
        self.splitter.splitterMoved.connect(self._splitter_moved)
        self.right.splitterMoved.connect(self._splitter_moved)
        for i, stretch in enumerate((1, 2, 1)):
            self.splitter.setStretchFactor(i, stretch)
        self.empty = EmptyState()
        if welcome and not self.is_demo:
            self.empty.show_welcome(WelcomeForm(service))
        self.central = QStackedWidget()
        self.central.addWidget(self.empty)
        self.central.addWidget(self.splitter)
        self.central.setCurrentWidget(self.splitter)
        self.setCentralWidget(self.central)

        # status bar
        self.progress = ProgressStatus()
        self.problems_button = ProblemsButton()
        self.suggestions_button = SuggestionsButton()
        self.statusBar().addWidget(self.progress, 1)
        self.statusBar().addPermanentWidget(self.suggestions_button)
        self.statusBar().addPermanentWidget(self.problems_button)
        self.problems_button.clicked.connect(self.show_problems)
        if self.is_demo:
            self.leave_demo_button = QPushButton("Leave Demo")
            self.leave_demo_button.setObjectName("leaveDemo")
            self.leave_demo_button.setToolTip("This is sample data. Go back to your own data.")
            self.leave_demo_button.clicked.connect(self.leave_demo)
            self.statusBar().addPermanentWidget(self.leave_demo_button)

        # flows
        self.import_flow = ImportFlow(service, self, self.progress, tz_name)
        self.export_flow = ExportFlow(service, self, self.progress)
        self.privacy_flow = PrivacyFlow(service, self)
        self.privacy_flow.forgotten.connect(self._forgotten)
        self.identity_flow = IdentityFlow(service, self, tz=tz, now=clock)
        self.sync_flow = SyncFlow(service, self, self.progress)
        self.demo_flow = DemoFlow(self, self.progress)
        self.backup_flow = BackupFlow(
            service,
            self,
            busy=lambda: self.import_flow.running or self.sync_flow.running,
            reopen=self.switch_database,
        )
        self.import_flow.other_running = lambda: self.sync_flow.running
        self.accounts_dialog: AccountsDialog | None = None
        self.settings_dialog: SettingsDialog | None = None
        self.problems_dialog: ProblemsDialog | None = None

        self._build_toolbar()
        self._build_menus()
        self._connect()
        self._tab_order()
        messages.bridge().connect_listener(self._show_message)

        fm = self.fontMetrics()  # 110 × 48 characters, or what the screen has room for
        self.resize(fit_to_screen(self, fm.horizontalAdvance("M") * 110, fm.lineSpacing() * 48))
        self._size_panes()
        self.customer_model.reload()
        self.refresh_counts()
        self.identity_flow.refresh_suggestions()
        self.live: LiveUpdates | None = None
        if live:
            self.live = LiveUpdates(service, self)
            self.live.changed.connect(self.show_change)

    # --- construction -------------------------------------------------------------------

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main toolbar")
        bar.setObjectName("mainToolbar")
        bar.setAccessibleName("Main toolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(bar)
        self.search_box = search_field("Find a customer, email, phone, order #…", "Find a customer")
        self.search_box.setObjectName("customerSearch")
        self.search_box.setToolTip("Filter customers (Ctrl+F). Enter opens the top one.")
        em = self.fontMetrics().horizontalAdvance("M")
        self.search_box.setMinimumWidth(em * 26)
        self.search_box.setMaximumWidth(em * 40)
        self.search_box.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.search_box.installEventFilter(self)
        bar.addWidget(self.search_box)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bar.addWidget(spacer)

        self.import_action = QAction(icon("import"), "&Import…", self)
        self.import_action.setShortcut(QKeySequence("Ctrl+O"))
        self.import_action.setToolTip("Import mail, chats and orders (Ctrl+O)")
        self.export_action = QAction(icon("export"), "&Export PDF…", self)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.setToolTip("Export this customer's history to a PDF (Ctrl+E)")
        self.export_action.setEnabled(False)
        self.sync_action = QAction(icon("sync"), "S&ync Mail", self)
        self.sync_action.setShortcut(QKeySequence("F5"))
        self.sync_action.setToolTip("Fetch new mail from your accounts (F5)")
        self.accounts_action = QAction(icon("server"), "Mail &Accounts…", self)
        self.accounts_action.setToolTip("Add, test and remove IMAP mail accounts")
        self.full_text_action = QAction(icon("messages"), "Search All &Messages…", self)
        self.full_text_action.setShortcut(QKeySequence("Ctrl+Shift+F"))
        self.full_text_action.setToolTip("Full-text search across everyone (Ctrl+Shift+F)")
        for action, name in (
            (self.import_action, "Import"),
            (self.sync_action, "Sync mail"),
            (self.full_text_action, "Search all messages"),
            (self.export_action, "Export PDF"),
        ):
            bar.addAction(action)
            button = bar.widgetForAction(action)
            if isinstance(button, QToolButton):
                button.setAccessibleName(name)
        self.toolbar = bar

    def _action(self, text: str, shortcut: str | None, slot: Callable[[], object]) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _build_menus(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        file_menu.addAction(self.import_action)
        if self.is_demo:
            self.demo_action = self._action("&Leave Demo", None, self.leave_demo)
            self.demo_action.setToolTip("Close the demo and go back to your own data")
        else:
            self.demo_action = self._action("Try the &Demo", None, self.try_demo)
            self.demo_action.setToolTip("Open a sample shop in its own database; yours is kept")
        file_menu.addAction(self.demo_action)
        file_menu.addAction(self.export_action)
        self.export_data_action = self._action(
            "Export Customer &Data…",
            None,
            lambda: self.privacy_flow.ask_export(self.timeline_model.customer),
        )
        self.export_data_action.setToolTip(
            "Everything stored about this customer, as JSON or spreadsheet files"
        )
        file_menu.addAction(self.export_data_action)
        file_menu.addSeparator()
        self.backup_action = self._action("&Back Up Now", None, self.backup_flow.back_up_now)
        self.restore_action = self._action("&Restore…", None, self.backup_flow.ask_restore)
        self.restore_action.setToolTip("Put a backup in place of your data; the current is kept")
        file_menu.addAction(self.backup_action)
        file_menu.addAction(self.restore_action)
        file_menu.addSeparator()
        file_menu.addAction(self.sync_action)
        file_menu.addAction(self.accounts_action)
        file_menu.addSeparator()
        self.problems_action = self._action("Import &Problems…", None, self.show_problems)
        file_menu.addAction(self.problems_action)
        file_menu.addSeparator()
        quit_action = self._action("&Quit", None, self.close)
        quit_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Quit))
        if quit_action.shortcut().isEmpty():
            quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        file_menu.addAction(quit_action)

        edit = mb.addMenu("&Edit")
        self.undo_action = self._action("&Undo Last Merge or Split", None, self.undo)
        self.undo_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Undo))
        if self.undo_action.shortcut().isEmpty():
            self.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
        self.undo_action.setIcon(icon("undo"))
        edit.addAction(self.undo_action)
        edit.addSeparator()
        self.find_action = self._action("&Find Customer", "Ctrl+F", self.focus_search)
        edit.addAction(self.find_action)
        edit.addAction(self.full_text_action)
        self.inside_action = self._action(
            "Search &This Customer", "Ctrl+I", self.timeline.focus_search
        )
        edit.addAction(self.inside_action)
        edit.addSeparator()
        self.new_note_action = self._action("&New Note", "Ctrl+N", self.new_note)
        edit.addAction(self.new_note_action)
        edit.addSeparator()
        self.settings_action = self._action("&Settings…", None, self.show_settings)
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.settings_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Preferences))
        if self.settings_action.shortcut().isEmpty():
            self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        edit.addAction(self.settings_action)

        customers = mb.addMenu("&Customers")
        self.merge_action = self._action("&Merge Selected…", "Ctrl+M", self.merge_selected)
        self.merge_action.setIcon(icon("merge"))
        self.review_action = self._action(
            "&Review Suggestions…", "Ctrl+Shift+M", self.identity_flow.open_review
        )
        self.history_action = self._action(
            "Change &History…", None, self.identity_flow.open_history
        )
        self.history_action.setIcon(icon("history"))
        for action in (self.merge_action, self.review_action):
            customers.addAction(action)
        customers.addSeparator()
        customers.addAction(self.history_action)
        customers.addSeparator()
        self.forget_action = self._action(
            "&Forget Customer…",
            None,
            lambda: self.privacy_flow.ask_forget(self.timeline_model.customer),
        )
        customers.addAction(self.forget_action)
        self.customers_menu = customers

        view = mb.addMenu("&View")
        self.filter_actions: dict[str, QAction] = {}
        view.addAction(self._action("Customer &List", "Ctrl+1", self.show_customer_list))
        view.addAction(self._action("&Waiting for Reply", "Ctrl+2", self.show_waiting))
        view.addSeparator()
        # Timeline filters on Ctrl+5 … Ctrl+8 (Ctrl+1/Ctrl+2 pick the list on the left).
        for i, (key, label, _c) in enumerate(FILTERS, start=5):
            action = self._action(
                f"Show {label}" if key != "all" else "Show Everything",
                f"Ctrl+{i}",
                partial(self.timeline.set_filter, key),
            )
            view.addAction(action)
            self.filter_actions[key] = action
        view.addSeparator()
        view.addAction(self._action("&Customers", "Alt+1", self.customers.focus_list))
        view.addAction(self._action("&Timeline", "Alt+2", self.timeline.focus_events))
        view.addAction(self._action("&Notes", "Alt+3", self.notes.start_new))

        help_menu = mb.addMenu("&Help")
        help_menu.addAction(self._action("&Keyboard Shortcuts", "F1", self.show_shortcuts))
        help_menu.addAction(self._action("&About Threadline", None, self.show_about))

    def _connect(self) -> None:
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self._apply_search)
        self.search_box.textChanged.connect(lambda _t: self._search_timer.start())
        self.search_box.returnPressed.connect(self.open_top_hit)
        self._open_top_pending = False
        self._warmed = False
        self._holds_collector = False
        self.customer_model.loaded.connect(self._customers_loaded)

        self.customers.customer_selected.connect(self.open_customer)
        self.customers.customer_activated.connect(self._activate_customer)
        self.customers.full_text_requested.connect(self.search_all)
        self.customers.search_box_requested.connect(self.focus_search)
        self.results.hit_opened.connect(self.open_hit)
        self.results.closed.connect(self.close_results)
        self.waiting.customer_opened.connect(self._activate_customer)
        self.waiting.marked.connect(lambda _m: self._load_brief())
        self.timeline.customer_loaded.connect(self._customer_loaded)
        self.customers.merge_requested.connect(self.identity_flow.ask_merge)
        self.profile.move_to_new_requested.connect(self.identity_flow.ask_move_to_new)
        self.profile.move_to_other_requested.connect(self.identity_flow.ask_move_to_other)
        self.identity_flow.changed.connect(self._identity_changed)
        self.identity_flow.suggestions_counted.connect(self.suggestions_button.set_count)
        self.suggestions_button.clicked.connect(self.identity_flow.open_review)

        self.import_action.triggered.connect(lambda: self.import_flow.open_dialog())
        self.export_action.triggered.connect(
            lambda: self.export_flow.start(self.timeline_model.customer)
        )
        self.full_text_action.triggered.connect(lambda: self.search_all(None))
        self.sync_action.triggered.connect(self.sync_mail)
        self.accounts_action.triggered.connect(self.show_accounts)
        self.sync_flow.sync_finished.connect(self._imported)
        self.sync_flow.accounts_needed.connect(self.show_accounts)
        self.import_flow.import_finished.connect(self._imported)
        self.import_flow.problems_requested.connect(self.show_problems)
        self.empty.import_clicked.connect(lambda: self.import_flow.open_dialog())
        self.empty.demo_clicked.connect(self.try_demo)
        self.empty.mailbox_clicked.connect(self.show_accounts)
        self.demo_flow.ready.connect(self.switch_database)

    def _tab_order(self) -> None:
        chain: list[QWidget] = [
            self.search_box,
            self.customers.view,
            *self.timeline.chips.values(),
            self.timeline.search,
            self.timeline.view,
            self.notes.add_button,
        ]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

    def _apply_icons(self) -> None:
        pal = self.palette()
        self.undo_action.setIcon(icon("undo", pal))
        self.merge_action.setIcon(icon("merge", pal))
        self.history_action.setIcon(icon("history", pal))
        self.suggestions_button.setIcon(icon("merge", pal))
        self.import_action.setIcon(icon("import", pal))
        self.export_action.setIcon(icon("export", pal))
        self.full_text_action.setIcon(icon("messages", pal))
        self.setWindowIcon(icon("logo", pal))

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_icons()
            self.timeline.delegate.clear_cache()

    def _size_panes(self) -> None:
        total = max(self.width(), 4)
        em = self.fontMetrics().horizontalAdvance("M")
        if total >= em * 100:
            left = right = total // 4
        else:  # a small window: the profile keeps a readable width, the list gives way
            right = min(max(total // 4, em * 22), total * 3 // 10)
            left = min(max(total // 5, em * 14), total // 4)
        self.splitter.setSizes([left, total - left - right, right])
        height = max(self.height(), 4)
        self.right.setSizes([height * 2 // 5, height * 3 // 5])

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if not self._sized_by_user:
            self._size_panes()

    def _splitter_moved(self, _pos: int, _index: int) -> None:
        self._sized_by_user = True

    # --- customer search ----------------------------------------------------------------

    def focus_search(self) -> None:
        """Ctrl+F: back to the customer list and into the search box."""
        self.close_results(focus=False)
        self.search_box.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_box.selectAll()

    def _apply_search(self) -> None:
        self._search_timer.stop()
        self.close_results(focus=False)
        self.customer_model.set_query(self.search_box.text())

    def open_top_hit(self) -> None:
        """Enter in the search box: open the first customer that matches."""
        if self._search_timer.isActive() or self.customer_model.loaded_query != (
            self.search_box.text().strip()
        ):
            self._open_top_pending = True
            self._apply_search()
            return
        self._open_top_row()

    def _open_top_row(self) -> None:
        if self.customers.select_row(0):
            self.timeline.focus_events()
        elif self.customer_model.query:
            self.search_all(self.customer_model.query)

    def _customers_loaded(self) -> None:
        model = self.customer_model
        if not self._warmed:  # after the list has painted (on the event loop's next turn)
            QTimer.singleShot(0, self, self._warm_reads)
        # The first-run panel gives way as soon as anyone exists, whatever the search box holds.
        showing_empty = model.all_total == 0
        self.central.setCurrentWidget(self.empty if showing_empty else self.splitter)
        if not model.query:
            self.export_action.setEnabled(self.timeline_model.customer is not None)
        if self._open_top_pending:
            self._open_top_pending = False
            self._open_top_row()
            return
        if self.timeline_model.customer_id is not None:
            # A new filter shows its first matches; a reload keeps the open customer in view.
            scroll = not model.query_changed
            self.customers.select_customer(self.timeline_model.customer_id, scroll=scroll)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.search_box and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() == Qt.Key.Key_Escape:
                self.search_box.clear()
                return True
            if event.key() == Qt.Key.Key_Down:
                if self._search_timer.isActive():
                    self._apply_search()
                self.customers.focus_list()
                return True
        return super().eventFilter(watched, event)

    # --- opening customers --------------------------------------------------------------

    def open_customer(
        self, customer_id: int, *, focus_event: int | None = None, highlight: str = ""
    ) -> None:
        """Show ``customer_id`` in the timeline, profile and notes."""
        self.timeline.show_customer(customer_id, focus_event=focus_event, highlight=highlight)
        self.notes.show_customer(customer_id)

    def _activate_customer(self, customer_id: int) -> None:
        if self.timeline_model.customer_id != customer_id:
            self.open_customer(customer_id)
        self.timeline.focus_events()

    def _customer_loaded(self, row: CustomerRow) -> None:
        self.profile.show_customer(row)
        if self.notes.customer_id != row.id:
            self.notes.show_customer(row.id)
        self.export_action.setEnabled(True)
        self.customers.select_customer(row.id)
        self._load_brief()
        self.customer_opened.emit(row.id)

    def new_note(self) -> None:
        """Ctrl+N: start a note on the shown customer."""
        if self.notes.customer_id is None:
            messages.info("Pick a customer first, then press Ctrl+N to add a note.")
            return
        self.notes.start_new()

    # --- merges, splits, undo -------------------------------------------------------------

    def merge_selected(self) -> None:
        """Customers → Merge Selected (Ctrl+M): confirm, naming who is merged into whom."""
        self.identity_flow.ask_merge(self.customers.selected_customers())

    def undo(self) -> None:
        """Edit → Undo (Ctrl+Z): reverse the latest merge or split."""
        self.identity_flow.undo()

    def _forgotten(self, customer_id: int) -> None:
        self.customer_model.reload()
        self.refresh_counts()
        self.identity_flow.refresh_suggestions()
        if self.timeline_model.customer_id == customer_id:
            self.export_action.setEnabled(False)
            self.timeline.show_nobody("The customer was forgotten.")
            self.notes.show_customer(None)
            self.profile.show_customer(None)

    def _identity_changed(self, outcome: Outcome) -> None:
        self.customer_model.reload()
        shown = self.timeline_model.customer_id
        if shown is None:
            return
        if outcome.show is not None and shown in outcome.customers:
            self.open_customer(outcome.show)
            return
        self.timeline_model.reload()
        self.notes.reload()

    def show_change(self, change: LiveChange) -> None:
        """Show what another writer committed: the list, counts and suggestions, and the
        open customer's timeline, profile and notes when the change concerns them (a
        customer merged away is replaced by the one it went into)."""
        self.customer_model.reload()
        self.refresh_counts()
        self.identity_flow.refresh_suggestions()
        if self.left.currentWidget() is self.waiting:
            self.waiting_model.reload()
        shown = self.timeline_model.customer_id
        if shown is None or not change.concerns(shown):
            return
        service = self.service

        def current() -> int | None:
            try:
                return service.customer(shown).id
            except NotFoundError:
                return None

        def done(now_shown: int | None) -> None:
            if self.timeline_model.customer_id != shown:
                return  # the user opened someone else meanwhile
            if now_shown is not None and now_shown != shown:
                self.open_customer(now_shown)
                return
            self.timeline_model.reload()
            if not self.notes.editing:
                self.notes.reload()

        Op(self, current).success(done).run()

    # --- full-text search ---------------------------------------------------------------

    def search_all(self, text: str | None) -> None:
        """Show the full-text results pane (searching ``text`` if given)."""
        self.left.setCurrentWidget(self.results)
        if text is None:
            if not self.results.field.text() and self.search_box.text().strip():
                self.results.search(self.search_box.text())
            self.results.focus_field()
            return
        self.results.search(text)
        self.results.focus_field()

    def open_hit(self, hit: SearchHit) -> None:
        """Open a hit's customer scrolled to its event."""
        if hit.customer_id is None:
            messages.info("That message is not linked to a customer.")
            return
        self.open_customer(
            hit.customer_id, focus_event=hit.event_id, highlight=self.search_model.query
        )

    def close_results(self, focus: bool = True) -> None:
        """Back from the results to the customer list."""
        if self.left.currentWidget() is self.results:
            self.left.setCurrentWidget(self.customers)
            if focus:
                self.customers.focus_list()

    def show_customer_list(self) -> None:
        """View → Customer List (Ctrl+1)."""
        self.left.setCurrentWidget(self.customers)
        self.customers.focus_list()

    def show_waiting(self) -> None:
        """View → Waiting for Reply (Ctrl+2): who waits for an answer, on any channel."""
        self.left.setCurrentWidget(self.waiting)
        self.waiting_model.reload()
        self.waiting.focus_list()

    def _warm_reads(self) -> None:
        """Once the customer list first shows: read the top customer's timeline, brief and
        notes on a reader and drop them, so the first customer opened does not also pay for
        preparing those queries (about 80 ms of a reader's time at 100,000 events)."""
        if self._warmed or self.customer_model.rowCount() == 0:
            return
        self._warmed = True
        # What exists now (modules, classes, Qt's wrappers, caches: some 100,000 objects) lives
        # as long as the app: out of the garbage collector's sight. A full collection walks
        # every object it tracks holding the interpreter lock, and while a long timeline
        # scrolled one took about 100 ms of CPU (460 ms on a busy machine) started by a
        # reader, with the GUI thread unable to paint. (What is garbage in a cycle right now
        # stays: measured at start on the 1M database, 240 objects; once a process.)
        if gc.get_freeze_count() == 0:
            gc.freeze()
        # Nor does a full collection run on a reader any more, while a page is built: the GUI
        # thread runs them, when no background work has run for a moment (``ui.collector``).
        if not self._holds_collector:
            collector().hold()
            self._holds_collector = True
        cid, service, when = self.customer_model.row(0).id, self.service, self._now()

        def warm() -> None:
            service.timeline_start(cid, limit=1)
            service.brief(cid, now=when)
            service.notes(cid)

        # (a failure says nothing the customer's own opening would not say again)
        Op(self, warm).failure(lambda _exc: None).run()

    def _load_brief(self) -> None:
        """The shown customer in three lines, read on a reader, shown at the top of the profile."""
        cid, service, when = self.timeline_model.customer_id, self.service, self._now()
        if cid is None:
            return

        def build() -> tuple[int, tuple[str, ...]]:
            return cid, service.brief(cid, now=when).lines

        def done(result: tuple[int, tuple[str, ...]]) -> None:
            if result[0] == self.timeline_model.customer_id:
                self.profile.show_brief(result[1])

        Op(self, build).success(done).run()

    # --- imports, problems, messages ----------------------------------------------------

    def _imported(self, _reports: object, *, at_once: bool = True) -> None:
        """An import or a sync finished (or a setting changed: not ``at_once``): show the
        lists and counts again, and count the suggestions now rather than after a pause."""
        self.customer_model.reload()
        self.timeline_model.reload()
        if self.left.currentWidget() is self.waiting:
            self.waiting_model.reload()
        self.refresh_counts()
        self.identity_flow.refresh_suggestions(at_once=at_once)

    def sync_mail(self) -> None:
        """Sync ⟳ (F5): fetch new mail from every account in the background."""
        if self.import_flow.running:
            messages.info("Wait for the import to finish, then sync.")
            return
        self.sync_flow.start()

    def show_accounts(self) -> AccountsDialog:
        """File → Mail Accounts…: add, edit, test and remove IMAP accounts."""
        if self.accounts_dialog is None:
            from ui.accounts_dialog import AccountsDialog

            self.accounts_dialog = AccountsDialog(self.service, self)
        self.accounts_dialog.open()
        return self.accounts_dialog

    def refresh_counts(self) -> None:
        """Read the number of import problems again (in the background)."""
        service = self.service

        def count() -> int:
            return len(service.problems(limit=_PROBLEM_CAP))

        def done(n: int) -> None:
            self.problems_button.set_count(n, capped=n >= _PROBLEM_CAP)
            self.counts_refreshed.emit()

        Op(self, count).success(done).run()

    def show_problems(self) -> None:
        """Open the import problem list."""
        if self.problems_dialog is None:
            self.problems_dialog = ProblemsDialog(self.problems_model, self)
        self.problems_model.reload()
        self.problems_dialog.open()

    def _show_message(self, message: Message) -> None:
        timeout = {Level.INFO: 5000, Level.WARNING: 10000}.get(message.level, 15000)
        prefix = {Level.WARNING: "⚠ ", Level.ERROR: "⚠ "}.get(message.level, "")
        self.statusBar().showMessage(prefix + message.text, timeout)

    def show_shortcuts(self) -> None:
        """Help → Keyboard Shortcuts."""
        rows = [
            ("Ctrl+F", "Find a customer (Enter opens the top one, Down moves into the list)"),
            ("Ctrl+Shift+F", "Search all messages"),
            ("Ctrl+I", "Search this customer's messages"),
            ("Ctrl+1 / Ctrl+2", "Show the customer list / who is waiting for a reply"),
            ("Ctrl+5 … Ctrl+8", "Show everything, email, chat, orders"),
            ("Enter / Space", "Expand or collapse the selected event"),
            ("Ctrl+N", "New note (Ctrl+Enter saves, Esc cancels)"),
            ("Ctrl+M", "Merge the selected customers (Ctrl/Shift-click to select several)"),
            ("Ctrl+Shift+M", "Review suggested merges (M merge, N not the same, S skip)"),
            ("Ctrl+Z", "Undo the last merge or split"),
            ("Ctrl+O", "Import files"),
            ("F5", "Sync mail from your accounts"),
            ("Ctrl+E", "Export the customer to PDF"),
            ("Alt+1 / Alt+2 / Alt+3", "Go to customers, timeline, notes"),
        ]
        text = (
            "<table cellspacing='6'>"
            + "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows)
            + "</table>"
        )
        box = message_box(
            QMessageBox.Icon.NoIcon, "Keyboard shortcuts", text, parent=self, rich=True
        )
        box.setAccessibleName("Keyboard shortcuts")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def show_about(self) -> AboutDialog:
        """Help → About: the version and the bundled components' licences."""
        from ui.about_dialog import AboutDialog

        dialog = AboutDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def show_settings(self) -> SettingsDialog:
        """Edit → Settings… (Preferences on macOS, Ctrl+,)."""
        if self.settings_dialog is None:
            from ui.settings_dialog import SettingsDialog

            self.settings_dialog = SettingsDialog(self.service, self)
            self.settings_dialog.changed.connect(self._setting_changed)
            self.settings_dialog.store_chosen.connect(self._store_chosen)
        else:
            self.settings_dialog.reload()
        self.settings_dialog.open()
        return self.settings_dialog

    def _setting_changed(self, key: str) -> None:
        """A setting took effect: show the lists, profiles and dates it changes again."""
        if key == "timezone" and self.settings_dialog is not None:
            tz = ZoneInfo(self.settings_dialog.values[key])
            self.customer_model._tz = tz
            self.timeline_model.tz = tz
            self.problems_model._tz = tz
            self.results.set_tz(tz)
            self.profile._tz = tz
            self.notes._tz = tz
            self.identity_flow.tz = tz
        self._imported(None, at_once=False)
        self.notes.reload()

    def _store_chosen(self, target: str) -> None:
        """Settings → Database saved another store: reopen the window on it."""
        if self.settings_dialog is not None:
            self.settings_dialog.close()
        self.switch_database(target)

    # --- the demo -------------------------------------------------------------------------

    def try_demo(self) -> None:
        """Try the Demo: load the demo's own database, then show it in place of this one."""
        if self.import_flow.running or self.sync_flow.running:
            messages.info("Wait for the import or sync to finish, then try the demo.")
            return
        self.demo_flow.start()

    def leave_demo(self) -> None:
        """File → Leave Demo: back to the user's own database."""
        self.switch_database(self.home_db)

    def switch_database(self, path: str) -> MainWindow | None:
        """Open ``path`` in a new window that takes this one's place; None if it cannot open."""
        try:
            service = Service.open(store_location(path))  # a file, or a server's URL
        except UserFacingError as exc:
            show_error(self, exc)
            return None
        window = MainWindow(service, now=self._now, home=self.home_db, live=self.live is not None)
        window.setGeometry(self.geometry())
        if self.isMaximized():
            window.showMaximized()
        else:
            window.show()
        if self.backup_flow.daily:
            window.backup_flow.start_daily()
        self.replaced_by = window
        self.close()
        self.service.close()
        return window

    # --- drops and closing ----------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if urls and all(u.isLocalFile() for u in urls):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.import_flow.open_dialog(paths)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.live is not None:
            self.live.stop()
        self.import_flow.cancel()
        self.sync_flow.cancel()
        self.identity_flow.shutdown()
        self.backup_flow.timer.stop()
        messages.bridge().disconnect_listener(self._show_message)
        if self._holds_collector:
            self._holds_collector = False
            collector().release()
        super().closeEvent(event)
