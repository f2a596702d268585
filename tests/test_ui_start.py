"""Starting the app on a Linux desktop that lacks Qt's X11 libraries says what to install."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys

import pytest

from ui import app as ui_app


def test_missing_x11_libraries_are_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(ui_app.sys, "platform", "linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    real = ctypes.util.find_library
    monkeypatch.setattr(
        ui_app.ctypes.util,
        "find_library",
        lambda name: None if name == "xcb-cursor" else real(name),
    )
    assert "libxcb-cursor0" in ui_app.missing_display_libraries()
    assert ui_app.main("/nonexistent/never-opened.db") == 2
    assert "sudo apt install" in capsys.readouterr().err


def test_nothing_is_missing_offscreen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert ui_app.missing_display_libraries() == []


_PAINT_A_TALL_SCROLL_BAR = """
import os
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QScrollBar, QStyleFactory
from ui.app import application

qt_app = application([])
qt_app.setStyle(QStyleFactory.create("Fusion"))  # its groove and handle are gradient fills
bar = QScrollBar(Qt.Orientation.Vertical)
bar.resize(16, 1200)
bar.setRange(0, 10000)
for value in range(0, 10000, 2000):
    bar.setValue(value)
    bar.grab()
tasks = "/proc/self/task"
print(sorted(open(f"{tasks}/{t}/comm").read().strip() for t in os.listdir(tasks)))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task")
def test_painting_never_waits_on_qt_helper_threads() -> None:
    """Qt's painter hands a tall fill to helper threads and blocks the GUI thread until the
    system has run them all (a scrolling timeline stalled for hundreds of milliseconds on a busy
    machine): the app paints on the GUI thread alone, so painting starts no helper thread."""
    env = {k: v for k, v in os.environ.items() if k != "QT_NO_GUI_THREADPOOL"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    done = subprocess.run(
        [sys.executable, "-c", _PAINT_A_TALL_SCROLL_BAR],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    threads = done.stdout.strip().splitlines()[-1]
    assert "pooled" not in threads, threads
