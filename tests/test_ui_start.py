"""Starting the app on a Linux desktop that lacks Qt's X11 libraries says what to install."""

from __future__ import annotations

import ctypes.util

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
