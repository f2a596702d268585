"""Logging: a rotating file in the log folder, a bounded in-memory tail, and redaction.

Passwords, tokens and message bodies must never reach a log. The redaction
filter masks anything that looks like a secret assignment or an email
address before a record is written.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import re
from collections import deque

from app.paths import log_dir

_SECRET_RE = re.compile(r"(?i)\b(password|passwd|pass|token|secret|api[_-]?key)\b(\s*[=:]\s*)\S+")
_EMAIL_RE = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")


def redact(text: str) -> str:
    """``text`` with secrets and email local parts masked."""
    text = _SECRET_RE.sub(r"\1\2***", text)
    return _EMAIL_RE.sub(r"\1***@\2", text)


class RedactingFilter(logging.Filter):
    """Masks secrets and addresses in every record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


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
            logging.handlers.RotatingFileHandler(
                log_dir() / "threadline.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
            )
        )
    for handler in handlers:
        handler.setFormatter(fmt)
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
