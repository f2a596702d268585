"""The import dialog's preview: the first items of a file as they will be stored.

``load_preview`` runs ``app.ingest.preview_file`` on a reader (it parses the
start of the file and writes nothing) and turns its records into plain rows:
when (shown in the user's zone, as the timeline will show it), who, which
way, and the text. It also lists the senders with their contact points, so
the dialog can ask "Which one is you?", and says which of them the owner
settings or the file's own hints already mark as the business. The direction
is worked out here from that choice, so changing it re-labels the rows
without parsing the file again. ``PreviewPane`` shows it all: the detected
format, notices such as the date order assumed, and the rows.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.records import DateOrder, EventRecord, OwnerHint, Participant
from app.service import Database, Service, normalize_email, normalize_phone
from ui import formatting as fmt
from ui.marks import muted_color
from ui.models import HeaderTableModel, RowRole
from ui.safe_text import rich_label, tip
from ui.widgets import muted_label, section_heading

PREVIEW_LIMIT = 20
AUTHOR_ROLES = ("from", "author", "buyer")
AnyIndex = QModelIndex | QPersistentModelIndex
_ORDER_WORDS = {"day/month/year": "dmy", "month/day/year": "mdy", "year/month/day": "ymd"}


@dataclass(frozen=True)
class Author:
    """One sender seen in a preview, with the contact points they showed."""

    label: str
    handles: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()

    def owner_settings(self) -> tuple[tuple[str, str], ...]:
        """The (setting, value) pairs that make this sender "you" on import."""
        pairs = [("owner_emails", e) for e in self.emails]
        pairs += [("owner_phones", p) for p in self.phones]
        pairs += [("owner_names", h) for h in self.handles]
        if not pairs:
            pairs.append(("owner_names", self.label))
        return tuple(pairs)


@dataclass(frozen=True)
class PreviewItem:
    """One record of the preview, as the timeline will show it (or an address book's card:
    channel "contact", no time)."""

    when: datetime | None
    channel: str
    system: bool
    author: str
    text: str
    sent: bool = False  # the file says the business sent it (a phone's sent texts)


@dataclass(frozen=True)
class PreviewData:
    """What ``load_preview`` read of a file.

    Attributes:
        path: the file.
        format: the connector's name; ``label`` its description.
        items: the first records.
        notices: what the import report will say (date order assumed, …).
        problems: lines that could not be read, with where.
        authors: the senders seen, in order of appearance.
        known_owners: labels of senders the owner settings already mark as "you".
        suggested_owner: the sender to preset as "you" (settings first, then the file's hints).
        directed: the file itself says which messages the business sent (a phone's
            backup, iMazing): there is no "which one is you" to ask.
    """

    path: Path
    format: str
    label: str
    items: tuple[PreviewItem, ...]
    notices: tuple[str, ...]
    problems: tuple[str, ...]
    authors: tuple[Author, ...]
    known_owners: frozenset[str]
    suggested_owner: str | None
    directed: bool = False


def author_label(p: Participant) -> str:
    """How ``preview_file`` names a sender in ``Preview.authors``."""
    return p.name or p.email or p.phone or p.handle or ""


def _record_author(record: EventRecord) -> Participant | None:
    return next((p for p in record.participants if p.role in AUTHOR_ROLES), None)


def _record_text(record: EventRecord) -> str:
    if record.order is not None:
        o = record.order
        return fmt.join_nonempty(
            (f"Order {o.number}", fmt.money(o.total, o.currency), o.financial_status)
        )
    body = fmt.first_line(record.text)
    if record.channel == "email":
        title = record.title or "(no subject)"
        return f"{title} — {body}" if body else title
    return body or record.title


def collect_authors(records: Iterable[EventRecord], order: Iterable[str]) -> list[Author]:
    """Every sender of ``records`` with their contact points, in ``order`` first."""
    found: dict[str, dict[str, dict[str, None]]] = {}
    for record in records:
        for p in record.participants:
            if p.role not in AUTHOR_ROLES:
                continue
            label = author_label(p)
            if not label:
                continue
            slot = found.setdefault(label, {"handles": {}, "emails": {}, "phones": {}})
            if p.handle:
                slot["handles"][p.handle] = None
            if p.email:
                slot["emails"][p.email] = None
            if p.phone:
                slot["phones"][p.phone] = None
    labels = [a for a in order if a in found] + [a for a in found if a not in set(order)]
    return [
        Author(
            label,
            tuple(found[label]["handles"]),
            tuple(found[label]["emails"]),
            tuple(found[label]["phones"]),
        )
        for label in labels
    ]


@dataclass(frozen=True)
class OwnerKeys:
    """The owner's contact points, normalised the way ingest compares them."""

    names: frozenset[str]
    emails: frozenset[str]
    phones: frozenset[str]
    region: str

    def owns(self, author: Author) -> bool:
        """Whether ``author`` is the business by these keys."""
        if any(h.casefold() in self.names for h in author.handles):
            return True
        if any(normalize_email(e) in self.emails for e in author.emails):
            return True
        return any(normalize_phone(p, self.region) in self.phones for p in author.phones)

    def hinted(self, author: Author, hint: OwnerHint) -> bool:
        """Whether the file's ``hint`` points at ``author``."""
        if hint.kind == "name":
            names = {author.label.casefold(), *(h.casefold() for h in author.handles)}
            return hint.value.casefold() in names
        if hint.kind == "email":
            return normalize_email(hint.value) in {normalize_email(e) for e in author.emails}
        hinted = normalize_phone(hint.value, self.region)
        return bool(hinted) and hinted in {normalize_phone(p, self.region) for p in author.phones}


def load_preview(
    service: Service | Database,
    path: Path,
    *,
    format: str | None,
    tz_name: str,
    date_order: DateOrder | None,
    limit: int = PREVIEW_LIMIT,
    column_map: Mapping[str, str] | None = None,
) -> PreviewData:
    """Read the start of ``path`` as the import would (runs on a worker; writes nothing).

    ``column_map`` (field → header) maps a generic CSV's columns; None uses the
    mapping saved for its header set, if any.

    Raises:
        UserFacingError: the file cannot be read or is not a format we know.
    """
    service = Service.of(service)
    preview = service.preview_file(
        path,
        format=format,
        tz=ZoneInfo(tz_name),
        date_order=date_order,
        column_map=column_map,
        limit=limit,
    )
    owner = service.owner_contacts()
    keys = OwnerKeys(
        names=frozenset(n.casefold() for n in owner.names),
        emails=frozenset(owner.emails),
        phones=frozenset(owner.phones),
        region=owner.region,
    )
    authors = collect_authors(preview.records, preview.authors)
    known = frozenset(a.label for a in authors if keys.owns(a))
    suggested = next(iter(a.label for a in authors if a.label in known), None)
    if suggested is None:
        for hint in preview.owner_hints:
            suggested = next((a.label for a in authors if keys.hinted(a, hint)), None)
            if suggested is not None:
                break
    items = []
    for record in preview.records:
        author = _record_author(record)
        items.append(
            PreviewItem(
                when=record.occurred_at,
                channel=record.channel,
                system=record.direction == "system",
                author=author_label(author) if author is not None else "",
                text=_record_text(record),
                sent=record.direction == "outbound",
            )
        )
    for card in preview.cards:
        items.append(
            PreviewItem(
                when=None,
                channel="contact",
                system=False,
                author=card.name or next(iter(card.emails + card.phones), ""),
                text=", ".join((*card.emails, *card.phones)),
            )
        )
    prefix = f"{path.name}: "
    return PreviewData(
        path=path,
        format=preview.format,
        label=preview.label.replace("; --map)", ")"),
        items=tuple(items),
        notices=tuple(n.removeprefix(prefix) for n in preview.notices),
        problems=tuple(problem_text(p.location, p.reason, path.name) for p in preview.problems),
        authors=tuple(authors),
        known_owners=known,
        suggested_owner=suggested,
        directed=any(r.channel == "chat" for r in preview.records)
        and all(r.direction is not None for r in preview.records if r.channel == "chat"),
    )


def problem_text(location: str, reason: str, name: str, limit: int = 90) -> str:
    """ "line 15: impossible date or time '31/02/2024…'" — short enough for one line."""
    where = location.removeprefix(f"{name}:")
    where = f"line {where}" if where.isdigit() else location
    short = reason if len(reason) <= limit else reason[: limit - 1].rstrip() + "…"
    return f"{where}: {short}"


def assumed_order(notices: Iterable[str]) -> DateOrder | None:
    """The date order a notice says was assumed ("… read as day/month/year …"), if any."""
    for notice in notices:
        m = re.search(r"read as (day/month/year|month/day/year|year/month/day)", notice)
        if m:
            order: DateOrder = _ORDER_WORDS[m.group(1)]  # type: ignore[assignment]
            return order
    return None


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


class PreviewModel(HeaderTableModel):
    """The preview rows: time, who ("You" for the business), direction, text.

    Signals:
        (only those of QAbstractTableModel)
    """

    HEADERS = ("Time", "Who", "Direction", "Text")

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        tz: tzinfo = UTC,
        now: Any = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(parent)
        self.tz = tz
        self._now = now
        self._rows: list[PreviewItem] = []
        self.owners: frozenset[str] = frozenset()

    def set_preview(self, data: PreviewData | None, owners: Iterable[str] = ()) -> None:
        """Show ``data`` (or nothing), with ``owners`` as "you"."""
        self.beginResetModel()
        self._rows = list(data.items) if data is not None else []
        self.owners = frozenset(owners)
        self.endResetModel()

    def set_owners(self, owners: Iterable[str]) -> None:
        """Re-label who is "you" without reading the file again."""
        self.owners = frozenset(owners)
        if self._rows:
            self.dataChanged.emit(
                self.index(0, 1), self.index(len(self._rows) - 1, 2), [Qt.ItemDataRole.DisplayRole]
            )

    def direction(self, item: PreviewItem) -> str:
        """ "System", "Sent by you" or "Received"."""
        if item.system:
            return "System"
        if item.channel == "contact":
            return "Contact card"
        return "Sent by you" if item.sent or item.author in self.owners else "Received"

    def who(self, item: PreviewItem) -> str:
        """ "You" for the business, else the sender as the file names them."""
        if item.system:
            return ""
        if item.channel == "contact":
            return item.author
        return "You" if item.sent or item.author in self.owners else item.author

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        item = self._rows[index.row()]
        col = index.column()
        if role == RowRole:
            return item
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return "" if item.when is None else fmt.when(item.when, self._now(), self.tz)
            if col == 1:
                return self.who(item)
            if col == 2:
                return self.direction(item)
            if col == 3:
                return item.text
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 1 and item.author:
                return tip(item.author)
            if col == 3:
                return tip(item.text)
        if role == Qt.ItemDataRole.FontRole and item.system:
            font = QFont()
            font.setItalic(True)
            return font
        return None

    def item(self, row: int) -> PreviewItem:
        """The record at ``row``."""
        return self._rows[row]


class PreviewPane(QWidget):
    """The detected format, notices and the first items of the chosen file.

    Signals:
        (none; the dialog fills it)
    """

    def __init__(self, model: PreviewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setAccessibleName("Import preview")
        fm = self.fontMetrics()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(round(fm.height() * 0.25))
        self.heading = section_heading("Preview")
        layout.addWidget(self.heading)
        self.title = rich_label()
        self.title.setObjectName("previewTitle")
        self.title.setAccessibleName("Detected format")
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
        self.notices = rich_label()
        self.notices.setObjectName("previewNotices")
        self.notices.setAccessibleName("Notices")
        self.notices.setWordWrap(True)
        layout.addWidget(self.notices)
        self.stack = QStackedWidget()
        self.table = QTableView()
        self.table.setObjectName("previewTable")
        self.table.setAccessibleName("First items as they will be imported")
        self.table.setModel(model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(round(fm.lineSpacing() * 1.5))
        header = self.table.horizontalHeader()
        header.setAccessibleName("Column headings")
        for col in (0, 1, 2):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(fm.lineSpacing() * 11)
        self.placeholder = muted_label("", small=False)
        self.placeholder.setObjectName("previewPlaceholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.placeholder)
        layout.addWidget(self.stack, 1)
        self.data: PreviewData | None = None
        self.show_message("Add a file to see what will be imported.")

    def show_message(self, text: str) -> None:
        """Show a sentence in place of the rows (nothing chosen, reading, cannot read)."""
        self.data = None
        self.model.set_preview(None)
        self.title.setText("")
        self.notices.setText("")
        self.notices.hide()
        self.placeholder.setText(text)
        self.stack.setCurrentWidget(self.placeholder)

    def show_preview(
        self, data: PreviewData, owners: Iterable[str], *, ask_owner: bool = False
    ) -> None:
        """Show what ``load_preview`` read (``ask_owner``: say that "you" is not known yet)."""
        self.data = data
        self.model.set_preview(data, owners)
        shown = fmt.plural(len(data.items), "item")
        self.title.setText(
            f"<b>{html.escape(data.label)}</b> · first {shown} of {html.escape(data.path.name)}"
        )
        warn = muted_color(self.palette()).name()
        lines = [f"⚠ {html.escape(_sentence(n))}" for n in data.notices]
        if assumed_order(data.notices):
            lines[-1] += " If that is wrong, choose the order under <i>Dates</i>."
        if ask_owner:
            lines.append(
                "Which sender is your business? Choose it under <i>Which one is you?</i> "
                "so its messages show as sent by you."
            )
        if data.problems:
            first = data.problems[0]
            more = f" (and {len(data.problems) - 1:,} more)" if len(data.problems) > 1 else ""
            lines.append(
                f"<span style='color:{warn}'>{fmt.plural(len(data.problems), 'line')} "
                f"could not be read and will be listed as problems ({html.escape(first)}{more})"
                "</span>"
            )
        self.notices.setText("<br>".join(lines))
        self.notices.setVisible(bool(lines))
        if data.items:
            self.stack.setCurrentWidget(self.table)
        else:
            self.placeholder.setText("Nothing to import was found at the start of this file.")
            self.stack.setCurrentWidget(self.placeholder)
