"""Starting the desktop app: ``main(db_path)`` opens the database and shows the window.

A second launch on the same database (same user) does not open another window:
it brings the running one to the front and exits 0 (``ui.single_instance``).
It sets up logging (``app.logs``: a redacted rotating file), installs the crash handler, opens (and
if needed upgrades) the database — a ``UserFacingError`` there becomes a
clear dialog and exit code 1 — and runs the event loop until the window
closes, then waits for background work to finish.
"""

from __future__ import annotations

import ctypes.util
import logging
import os
import sys
from typing import TYPE_CHECKING

from PySide6.QtCore import QLocale, Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from app import formatting
from app.errors import UserFacingError
from app.logs import setup_logging
from app.paths import default_db_path
from app.service import Service, install_fonts, with_fallbacks

if TYPE_CHECKING:
    from ui.main_window import MainWindow

log = logging.getLogger(__name__)


def paint_on_gui_thread_only() -> None:
    """Keep Qt from splitting a paint over its own helper threads (``QT_NO_GUI_THREADPOOL``).

    Qt's raster painter hands a fill of more than about a hundred lines (a scroll bar's
    gradient groove and handle, a tall background) to a pool of helper threads in slices and
    then waits on a latch for all of them. The GUI thread is blocked until the operating
    system runs every one of those threads: on a busy two-core machine that is one
    scheduling delay after another, and scrolling a long timeline stalled for hundreds of
    milliseconds with the GUI thread itself idle (profiled: ``QLatch::waitInternal`` under
    ``QScrollBar::paintEvent``). Painted on the GUI thread alone, the same fills take well
    under a millisecond. Call before the first paint (Qt reads it when it first needs the
    pool); a value the user set is kept.
    """
    os.environ.setdefault("QT_NO_GUI_THREADPOOL", "1")


def application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once, named "Threadline")."""
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    QApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
    )
    paint_on_gui_thread_only()
    qt_app = QApplication(argv if argv is not None else sys.argv[:1])
    qt_app.setApplicationName("Threadline")
    qt_app.setApplicationDisplayName("Threadline")
    qt_app.setOrganizationName("Threadline")
    use_the_systems_settings(qt_app)
    return qt_app


def use_the_systems_settings(qt_app: QApplication) -> None:
    """What the app takes from the machine once its QApplication exists: the system's
    regional format for money where no ``LANG`` names one (Windows, a macOS app opened from
    the Finder), and the bundled Noto fonts as fallbacks (every script and emoji shows)."""
    formatting.set_system_locale(QLocale.system().name())
    install_fonts()
    qt_app.setFont(with_fallbacks(qt_app.font()))


# Qt's X11 plugin needs these system libraries (Qt aborts the process without them).
_XCB_LIBRARIES = {
    "xcb-cursor": "libxcb-cursor0",
    "xcb-icccm": "libxcb-icccm4",
    "xcb-keysyms": "libxcb-keysyms1",
    "xkbcommon-x11": "libxkbcommon-x11-0",
}


def missing_display_libraries() -> list[str]:
    """Debian/Ubuntu packages Qt's X11 plugin needs but this machine lacks (Linux, X11 only)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return []
    if not os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return []
    return [pkg for lib, pkg in _XCB_LIBRARIES.items() if ctypes.util.find_library(lib) is None]


def main(db_path: str | None = None) -> int:
    """Run the desktop app on ``db_path`` (default: the usual database). Returns the exit code."""
    setup_logging()
    missing = missing_display_libraries()
    if missing:
        print(
            "threadline: the window cannot open: Qt needs these system packages: "
            f"{' '.join(missing)} (on Debian or Ubuntu: sudo apt install {' '.join(missing)})",
            file=sys.stderr,
        )
        return 2
    qt_app = application()
    from ui import crash, workers
    from ui.single_instance import InstanceServer, notify_running, server_name

    name = server_name(db_path or default_db_path())
    if notify_running(name):  # this database is open in a window already: that one comes up
        log.info("Threadline is already open on this database; brought it to the front")
        return 0
    server = InstanceServer()
    server.listen(name)
    crash.install()
    window = open_window(db_path)
    if window is None:
        server.close()
        return 1
    server.activated.connect(lambda: bring_to_front(window))
    try:
        return int(qt_app.exec())
    finally:
        server.close()
        workers.manager().wait_for_done()
        shown: MainWindow | None = window
        while shown is not None:  # File → Try the Demo / Leave Demo replace the window
            shown.service.close()
            shown = shown.replaced_by


def bring_to_front(window: MainWindow) -> MainWindow:
    """Show, un-minimise, raise and activate the window now showing (after any File → Try the
    Demo / Leave Demo / Restore replaced ``window``); returns it."""
    shown = window
    while shown.replaced_by is not None:
        shown = shown.replaced_by
    if shown.isMinimized():
        shown.showNormal()
    shown.show()
    shown.raise_()
    shown.activateWindow()
    shown.raised.emit()
    return shown


def open_window(db_path: str | None = None) -> MainWindow | None:
    """Open the database and show the window; explain a ``UserFacingError`` and return None.

    When the team server chosen in Settings → Database cannot be opened (no server, no
    password), the dialog offers this computer's file instead, so the window still opens
    and the choice can be corrected."""
    try:
        # Every page is checked once the window shows (a big file takes seconds to read).
        service = Service.open(db_path or default_db_path(), check_pages=False)
    except UserFacingError as exc:
        log.error("cannot open the database: %s", exc)
        from ui.safe_text import literal, message_box

        saved = None if db_path or os.environ.get("THREADLINE_DB") else Service.saved_store()
        if saved is None:
            QMessageBox.critical(None, "Threadline cannot start", literal(str(exc)))
            return None
        box = message_box(QMessageBox.Icon.Critical, "Threadline cannot start", str(exc))
        box.setObjectName("storeFailedDialog")
        local = box.addButton("Use This Computer's File", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Close)
        box.exec()
        if box.clickedButton() is not local:
            return None
        Service.choose_store(None)
        return open_window(str(default_db_path()))
    from ui.main_window import MainWindow

    window = MainWindow(service, live=True)
    window.show()
    check_in_background(window)
    return window


def check_in_background(window: MainWindow) -> None:
    """Read every page of the window's database file on a worker; when sound, start the daily
    backups; when damaged, say so as at start-up, close the window and end with code 1
    (a damaged file is never backed up over the good copies)."""
    from ui.safe_text import literal
    from ui.workers import Op

    def checked(problem: str | None) -> None:
        if problem is None:
            window.backup_flow.start_daily()
            return
        log.error("the database is damaged: %s", problem)
        QMessageBox.critical(window, "Threadline cannot go on", literal(problem))
        window.close()
        QApplication.exit(1)

    Op(window, window.service.damage).success(checked).run()
