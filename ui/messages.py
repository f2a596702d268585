"""The message bridge: ``info``/``warning``/``error`` from anywhere, shown in the status bar.

Any code in ``ui`` (and any thread) may call these functions. Messages sent
before a window connects (for example while the database is being opened)
are queued and delivered, in order, once a listener connects.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class Level(Enum):
    """How serious a message is."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Message:
    """One message for the user."""

    level: Level
    text: str


class MessageBridge(QObject):
    """Carries messages to the window; queues them until someone listens.

    Signals:
        message_posted(Message): a message to show (emitted on the GUI thread).
    """

    message_posted = Signal(object)
    _queued_post = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._queue: list[Message] = []
        self._connected = False
        self._queued_post.connect(self._deliver)

    def post(self, level: Level, text: str) -> None:
        """Send a message (any thread)."""
        log.log(
            {Level.INFO: logging.INFO, Level.WARNING: logging.WARNING}.get(level, logging.ERROR),
            "message: %s",
            text,
        )
        self._queued_post.emit(Message(level, text))

    def _deliver(self, message: Message) -> None:
        with self._lock:
            if not self._connected:
                self._queue.append(message)
                return
        self.message_posted.emit(message)

    def connect_listener(self, listener: Callable[[Message], None]) -> None:
        """Connect ``listener`` and hand it every queued message."""
        self.message_posted.connect(listener)
        with self._lock:
            self._connected = True
            queued, self._queue = self._queue, []
        for message in queued:
            listener(message)

    def disconnect_listener(self, listener: Callable[[Message], None]) -> None:
        """Stop sending to ``listener``; later messages queue again."""
        with contextlib.suppress(RuntimeError, TypeError):
            self.message_posted.disconnect(listener)
        with self._lock:
            self._connected = False

    def pending(self) -> list[Message]:
        """Messages waiting for a listener."""
        with self._lock:
            return list(self._queue)


_bridge: MessageBridge | None = None


def bridge() -> MessageBridge:
    """The process-wide bridge (created on first use, on the GUI thread)."""
    global _bridge
    if _bridge is None:
        _bridge = MessageBridge()
    return _bridge


def info(text: str) -> None:
    """Tell the user something in passing."""
    bridge().post(Level.INFO, text)


def warning(text: str) -> None:
    """Warn the user."""
    bridge().post(Level.WARNING, text)


def error(text: str) -> None:
    """Tell the user something failed."""
    bridge().post(Level.ERROR, text)
