"""One window per user and database: a second launch brings the running window to the front.

The first GUI to open a database listens on a local socket (``QLocalServer``)
named after the user and the database's path. A later launch for the same
user and database connects, sends ``activate`` and exits; the running window
raises itself. The socket accepts only its owner. CLI commands never use it:
they keep working while the window is open.

A socket left behind by a crashed window answers nobody; the next launch
removes it and listens in its place.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
from pathlib import Path

import shiboken6

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QAbstractSocket, QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

ACTIVATE = b"activate\n"
_CONNECT_MS = 1000
_WRITE_MS = 2000


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        import os

        return str(os.getuid()) if hasattr(os, "getuid") else "user"


def server_name(database: str | Path) -> str:
    """The local socket's name for this user and database (a path is resolved first)."""
    text = str(database)
    if "://" not in text:
        text = str(Path(text).expanduser().resolve())
    digest = hashlib.sha256(f"{_user()}\0{text}".encode()).hexdigest()[:24]
    return f"threadline-{digest}"


def notify_running(name: str) -> bool:
    """Ask the window listening on ``name`` to come to the front; False when none listens."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(_CONNECT_MS):
        return False
    socket.write(ACTIVATE)
    socket.flush()
    sent = socket.waitForBytesWritten(_WRITE_MS) or socket.bytesToWrite() == 0
    socket.disconnectFromServer()
    if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
        socket.waitForDisconnected(_WRITE_MS)
    return bool(sent)


class InstanceServer(QObject):
    """Listens for later launches of the same database.

    Signals:
        activated(): a later launch asked this window to come to the front.
    """

    activated = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._accept)
        self._pending: list[QLocalSocket] = []

    def listen(self, name: str) -> bool:
        """Listen on ``name``, replacing a socket a crashed window left behind."""
        if self.server.listen(name):
            return True
        if self.server.serverError() == QAbstractSocket.SocketError.AddressInUseError:
            QLocalServer.removeServer(name)
            if self.server.listen(name):
                return True
        log.warning("cannot listen for other launches on %s: %s", name, self.server.errorString())
        return False

    def close(self) -> None:
        """Stop listening (the socket file is removed) and drop any open connection."""
        for socket in self._pending:
            if shiboken6.isValid(socket):
                socket.readyRead.disconnect()
                socket.disconnected.disconnect()
                socket.abort()
                socket.deleteLater()
        self._pending.clear()
        self.server.close()

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            self._pending.append(socket)
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(lambda s=socket: self._drop(s))
            if socket.bytesAvailable():
                self._read(socket)

    def _read(self, socket: QLocalSocket) -> None:
        while socket.canReadLine():
            line = bytes(socket.readLine().data())
            if line == ACTIVATE:
                log.info("another launch asked for this window")
                self.activated.emit()

    def _drop(self, socket: QLocalSocket) -> None:
        if not shiboken6.isValid(socket):
            return
        if socket.bytesAvailable():
            self._read(socket)
        if socket in self._pending:
            self._pending.remove(socket)
        socket.deleteLater()
