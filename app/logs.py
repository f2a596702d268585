"""Logging: a rotating file in the log folder, a bounded in-memory tail, and redaction.

Passwords, tokens and message bodies must never reach a log. The redaction
filter runs every record's final text, its traceback included, through
``app.redact`` (the passwords of the connections in progress and every
credential shape: ``LOGIN user pass``, ``Bearer …``, ``password=…``) and masks
email addresses, before any handler writes it. The log files are the owner's
only (0600, in a 0700 folder), rotated ones too.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import re
from collections import deque
from io import TextIOWrapper
from pathlib import Path

from app import redact as credentials
from app.paths import log_dir, private_file

_EMAIL_RE = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")


def redact(text: str) -> str:
    """``text`` with credentials (``app.redact``) and email local parts masked."""
    return _EMAIL_RE.sub(r"\1***@\2", credentials.redact(text))


class RedactingFilter(logging.Filter):
    """Masks secrets and addresses in every record's final message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            record.exc_info = None  # no later formatter writes the raw traceback again
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose files are created 0600 (and tightened if they exist)."""

    def _open(self) -> TextIOWrapper:
        private_file(Path(self.baseFilename))
        return super()._open()


class TailHandler(logging.Handler):
    """Keeps the last lines in memory for an in-app "View log" window."""

    def __init__(self, capacity: int = 2000) -> None:
        super().__init__()
        self.lines: deque[str] = deque(maxlen=capacity)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


TAIL = TailHandler()
_configured = False


def setup_logging(level: int = logging.INFO) -> None:
    """Send logs to a rotating file and the in-memory tail (once per process)."""
    global _configured
    if _configured:
        return
    _configured = True
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(level)
    handlers: list[logging.Handler] = [TAIL]
    with contextlib.suppress(OSError):  # a read-only home: keep the in-memory tail only
        handlers.append(
            PrivateRotatingFileHandler(
                log_dir() / "threadline.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
            )
        )
    for handler in handlers:
        handler.setFormatter(fmt)
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
