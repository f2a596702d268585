"""Item models and plain rows for identity changes: the change history and the merge review.

``ChangeHistoryModel`` lists ``Service.history`` (newest first) as a
table: when, what changed in words, and whether it was undone. Only merges,
splits, "not the same person" answers and shared contact points are listed:
an undo shows as "Undone" on the change it reversed, and the "new customer"
entries that every import writes would drown the rest. The review
rows (``ReviewSide``) are what the merge review shows of each customer of a
suggested pair, read on a worker by ``load_sides``. Like every model in
``ui/``, these hold frozen rows from the core, never ORM objects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont

from app.service import UNDOABLE, Change, CustomerRow, Database, EventRow, Service
from ui import formatting as fmt
from ui.models import HeaderTableModel, RowRole, _Loader
from ui.safe_text import tip

AnyIndex = QModelIndex | QPersistentModelIndex
HISTORY_LIMIT = 300
SHOWN_ACTIONS = ("merge", "split", "reject", "shared", "list")
LATEST_EVENTS = 3


def change_text(change: Change, *, capital: bool = True) -> str:
    """A change's description for people: without the merge reason or ids, capitalised."""
    text = change.description
    reason = change.details.get("reason") if isinstance(change.details, dict) else None
    if reason:
        text = text.removesuffix(f": {reason}")
    text = re.sub(r" \(#\d+\)", "", text)
    return text[:1].upper() + text[1:] if capital else text


def quoted(name: str) -> str:
    """A customer name in quotes (or a stand-in for a nameless one)."""
    return f"“{name or 'unnamed customer'}”"


def undoable(change: Change) -> bool:
    """Whether Undo applies to ``change`` (a merge or split not undone yet)."""
    return change.action in UNDOABLE and not change.undone


class ChangeHistoryModel(HeaderTableModel):
    """The latest identity changes, newest first: when, what, whether undone, and by whom.

    Signals:
        loaded(): the list was read (again).
    """

    loaded = Signal()
    HEADERS = ("When", "Change", "", "By")

    def __init__(
        self,
        db: Service | Database,
        parent: QObject | None = None,
        *,
        tz: tzinfo = UTC,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(parent)
        self._service = Service.of(db)
        self._tz = tz
        self._now = now
        self._rows: list[Change] = []
        self._loader = _Loader(self)

    def reload(self, *, background: bool = True) -> None:
        """Read the history again."""

        def fetch() -> list[Change]:
            rows = self._service.history(limit=HISTORY_LIMIT * 10)
            # An "undo" entry says no more than the "Undone" mark on the change it
            # reversed, and "new customer" entries (one per import) drown the rest.
            return [c for c in rows if c.action in SHOWN_ACTIONS][:HISTORY_LIMIT]

        self._loader.start(fetch, self._apply, background=background)

    @property
    def loading(self) -> bool:
        """Whether a load is under way."""
        return self._loader.busy

    def _apply(self, rows: list[Change]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()
        self.loaded.emit()

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        change = self._rows[index.row()]
        col = index.column()
        if role == RowRole:
            return change
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if col == 0:
                return fmt.when(change.at, self._now(), self._tz)
            if col == 1:
                return change_text(change)
            if col == 2:
                if change.undone:
                    return "Undone"
                return "" if role == Qt.ItemDataRole.DisplayRole or not undoable(change) else "Undo"
            if col == 3:
                return change.author  # who made it (a team server: the signed-in person)
        if role == Qt.ItemDataRole.ToolTipRole and col == 1:
            reason = change.details.get("reason") if isinstance(change.details, dict) else None
            return tip(
                fmt.join_nonempty(
                    (change_text(change), f"Why: {reason}" if reason else "", change.blocked_by),
                    "\n",
                )
            )
        if role == Qt.ItemDataRole.FontRole and change.undone:
            font = QFont()
            font.setStrikeOut(col == 1)
            font.setItalic(col == 2)
            return font
        return None

    def change(self, row: int) -> Change:
        """The change at ``row``."""
        return self._rows[row]

    def changes(self) -> list[Change]:
        """Every change as loaded."""
        return list(self._rows)


class ExcludingProxy(QSortFilterProxyModel):
    """Hides one customer from a customer list (the one a contact point moves away from).

    Signals:
        (only those of QSortFilterProxyModel)
    """

    def __init__(self, exclude: int | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.exclude = exclude

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        source = self.sourceModel()
        if source is None:
            return False
        row = source.index(source_row, 0, source_parent).data(RowRole)
        return not (isinstance(row, CustomerRow) and row.id == self.exclude)


@dataclass(frozen=True)
class ReviewSide:
    """One customer of a suggested pair, as the merge review shows them.

    Attributes:
        customer: the customer's row (figures, contact points with sources).
        latest: the newest few events.
    """

    customer: CustomerRow
    latest: tuple[EventRow, ...]


def load_sides(service: Service, customer_ids: Iterable[int]) -> dict[int, ReviewSide]:
    """Read what the review shows of each customer (runs on a worker).

    Returns:
        One ``ReviewSide`` per asked id (merged customers give their survivor's
        row; ids that no longer exist are left out).
    """
    found = service.latest_events(customer_ids, LATEST_EVENTS)
    return {cid: ReviewSide(row, latest) for cid, (row, latest) in found.items()}
