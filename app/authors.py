"""Who wrote a note or made a change: filled in as the row is inserted, on every write path.

On a team server (PostgreSQL) the author is the signed-in login role (``current_user``),
which the server also stamps itself (``app.team_grants``), so nobody writes under another
name. On a local file it is the "Your name" setting (``user_name``), whose default is the
operating system's user name. A row that names its author already keeps it (a copy from
another store, an erasure recorded ``by`` someone).
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection

_CACHE_KEY = "threadline_author"


def author_of(conn: Connection) -> str:
    """The author of what ``conn`` writes now: the login role on a server, else the setting."""
    if conn.dialect.name == "postgresql":
        cached = conn.info.get(_CACHE_KEY)  # per pooled connection: its role never changes
        if cached is None:
            cached = str(conn.execute(text("SELECT current_user")).scalar_one())
            conn.info[_CACHE_KEY] = cached
        return str(cached)
    stored = conn.execute(
        text("SELECT value FROM setting WHERE key = 'user_name'")
    ).scalar_one_or_none()
    if stored:
        return str(stored).strip()
    # The setting's default (app.settings, which cannot be imported from the models).
    return os.environ.get("USER", "") or os.environ.get("USERNAME", "")


def _stamp(_mapper: Any, conn: Connection, target: Any) -> None:
    if not getattr(target, "author", ""):
        target.author = author_of(conn)


def register(*classes: type) -> None:
    """Fill ``author`` of these mapped classes' new rows when it is empty."""
    for cls in classes:
        event.listen(cls, "before_insert", _stamp)
