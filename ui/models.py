"""Qt item models over the read queries: customers, a timeline, search hits, import problems.

Every model holds plain frozen rows from ``app.queries`` (never ORM objects).
A new query or filter loads its first page on a background reader (the GUI
thread never waits for it) and resets the model; later pages arrive through
``canFetchMore``/``fetchMore`` in pages of ``PAGE_SIZE`` (a timeline's grow
with what it shows, up to ``MAX_TIMELINE_PAGE``), also read on a background
reader while a ``LOADING`` row stands at the end of the list (a timeline
page's rows, with their day headers, chat runs and thread runs, are built on
that reader too: the GUI thread only adds them). A result that arrives after
a newer query was asked for is dropped.
``background=False`` loads inline (and so its later pages), for tests and for
callers that are already off the GUI thread.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractListModel,
    QAbstractTableModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)

from app.service import CustomerRow, Database, EventRow, SearchHit, SearchSyntaxError, Service
from ui import formatting as fmt
from ui.marks import CHANNEL_ORDER, channel_label
from ui.safe_text import tip
from ui.workers import Op, show_error

PAGE_SIZE = 200
# A timeline's later pages grow (each as large as what is shown, up to this): each page is a
# query whose cost grows with its offset, so a long history is read in about 8 pages, not 60.
# (The view adds a page's rows without laying out those shown: ``ui.timeline.TimelineView``.)
MAX_TIMELINE_PAGE = 2000
RowRole = Qt.ItemDataRole.UserRole + 1
KindRole = Qt.ItemDataRole.UserRole + 2
ExpandedRole = Qt.ItemDataRole.UserRole + 3
TermsRole = Qt.ItemDataRole.UserRole + 4
RelativeTimeRole = Qt.ItemDataRole.UserRole + 5
ThreadRole = Qt.ItemDataRole.UserRole + 6

AnyIndex = QModelIndex | QPersistentModelIndex
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Loading:
    """The placeholder row at the end of a list while its next page loads (``RowRole``)."""

    label: str = "Loading…"


LOADING = Loading()


class _Loader:
    """Runs a model's loads in the background (or inline) and drops stale results.

    A load (``start``) replaces what the model shows; a page (``page``) adds to
    it. While a page loads, the model shows one ``LOADING`` row after its rows
    (``placeholder``); only one page loads at a time, and a page that arrives
    after a newer load was asked for is dropped. Pages load the way the shown
    rows were loaded: in the background, or inline after ``background=False``.
    """

    def __init__(self, owner: QAbstractItemModel, shown: Callable[[], int] = lambda: 0) -> None:
        self.owner = owner
        self._shown = shown  # how many real rows the model shows (the placeholder goes after)
        self.generation = 0  # the latest load asked for
        self.applied = 0  # the load whose rows are shown
        self.background = True
        self.op: Op | None = None
        self.placeholder: int | None = None  # the page whose LOADING row is shown
        self._pages = 0
        self._stalled = False  # a page failed: ask no more until the next load
        self._changing = False

    def start(
        self, fn: Callable[[], Any], apply: Callable[[Any], None], *, background: bool
    ) -> None:
        self.generation += 1
        generation = self.generation
        self.background = background
        if not background:
            self._applying(generation)
            apply(fn())
            return

        def done(result: Any) -> None:
            if generation == self.generation:
                self._applying(generation)
                apply(result)

        self.op = Op(self.owner, fn).success(done).run()

    def _applying(self, generation: int) -> None:
        self.applied = generation
        self._stalled = False

    def reset(self) -> None:
        """Drop the LOADING row (call inside the model's reset, which shows new rows)."""
        self.placeholder = None

    def invalidate(self) -> None:
        """Forget loads and pages under way (call inside the model's reset to show nothing)."""
        self.generation += 1
        self._applying(self.generation)
        self.reset()

    @property
    def busy(self) -> bool:
        return self.op is not None and self.op.running

    @property
    def can_page(self) -> bool:
        """No page is loading, none failed, and the rows shown are the latest asked for."""
        return self.placeholder is None and not self._stalled and self.applied == self.generation

    @property
    def extra_rows(self) -> int:
        """1 while the LOADING row is shown, else 0."""
        return 0 if self.placeholder is None else 1

    def is_placeholder(self, row: int) -> bool:
        """Whether ``row`` is the LOADING row."""
        return self.placeholder is not None and row == self._shown()

    def page(self, fn: Callable[[], Any], apply: Callable[[Any], None]) -> None:
        """Load a further page with ``fn`` (on a reader) and hand it to ``apply``.

        ``apply`` inserts the page's rows after the rows shown (before the LOADING row,
        which is removed right after it). A page asked for when one is still loading
        is not asked again.
        """
        if not self.can_page:
            return
        if self._changing:  # asked from a slot while the LOADING row comes or goes: ask again
            QTimer.singleShot(0, self.owner, lambda: self.owner.fetchMore(QModelIndex()))
            return
        if not self.background:
            apply(fn())
            return
        generation = self.generation
        self._pages += 1
        token = self._pages
        row = self._shown()
        self._changing = True
        try:
            self.owner.beginInsertRows(QModelIndex(), row, row)
            self.placeholder = token
            self.owner.endInsertRows()
        finally:
            self._changing = False

        def done(result: Any) -> None:
            if self.placeholder != token:  # a reset came first: the page is of rows gone
                return
            if generation == self.generation:
                apply(result)
            self._remove_placeholder()

        def failed(exc: BaseException) -> None:
            if self.placeholder == token:
                self._stalled = True
                self._remove_placeholder()
            show_error(self.owner, exc)

        Op(self.owner, fn).success(done).failure(failed).run()

    def _remove_placeholder(self) -> None:
        row = self._shown()
        self._changing = True
        try:
            self.owner.beginRemoveRows(QModelIndex(), row, row)
            self.placeholder = None
            self.owner.endRemoveRows()
        finally:
            self._changing = False


def _placeholder_data(role: int) -> Any:
    """What the LOADING row shows."""
    if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
        return LOADING.label
    if role == RowRole:
        return LOADING
    if role == KindRole:
        return "loading"
    return None


# --- customers ---------------------------------------------------------------------------


class CustomerListModel(QAbstractListModel):
    """Customers matching the search box, most recent contact first, paged.

    Signals:
        loaded(): a new query's first page is in (``total`` says how many match,
            ``all_total`` how many customers there are whatever the query, and
            ``query_changed`` whether the query differs from the one loaded before).
    """

    loaded = Signal()

    def __init__(
        self,
        db: Service | Database,
        parent: QObject | None = None,
        *,
        tz: tzinfo = UTC,
        now: Clock = _utcnow,
        page_size: int = PAGE_SIZE,
    ) -> None:
        super().__init__(parent)
        self._service = Service.of(db)
        self._tz = tz
        self._now = now
        self._page = page_size
        self._rows: list[CustomerRow] = []
        self._ids: set[int] = set()
        self._offset = 0
        self.total = 0
        self.all_total = 0
        self.query_changed = False
        self.query = ""
        self.loaded_query: str | None = None
        self._loader = _Loader(self, lambda: len(self._rows))
        self._resetting = False

    # loading

    def set_query(self, query: str, *, background: bool = True) -> None:
        """Show the customers matching ``query`` (all when empty)."""
        self.query = query.strip()
        self.reload(background=background)

    def reload(self, *, background: bool = True) -> None:
        """Load the current query's first page again (after an import, a merge…)."""
        query, page = self.query, self._page

        def fetch() -> tuple[str, int, int, list[CustomerRow]]:
            total, everyone, rows = self._service.customer_page(query, page)
            return query, total, everyone, rows

        self._loader.start(fetch, self._apply, background=background)

    @property
    def loading(self) -> bool:
        """Whether a load is under way."""
        return self._loader.busy

    def _apply(self, result: tuple[str, int, int, list[CustomerRow]]) -> None:
        query, total, everyone, rows = result
        self.query_changed = query != self.loaded_query
        self._resetting = True
        try:
            self.beginResetModel()
            self._loader.reset()
            self._rows = list(rows)
            self._ids = {r.id for r in rows}
            self._offset = self._page
            self.total = total
            self.all_total = everyone
            self.loaded_query = query
            self.endResetModel()
        finally:
            self._resetting = False
        self.loaded.emit()

    # Qt model API

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows) + self._loader.extra_rows

    def canFetchMore(self, parent: AnyIndex) -> bool:
        return not parent.isValid() and self._loader.can_page and self._offset < self.total

    def fetchMore(self, parent: AnyIndex) -> None:
        """Load the next page on a reader, showing a LOADING row until it arrives."""
        if not self.canFetchMore(parent):
            return
        if self._resetting:  # asked from a modelReset handler: insert once the reset is over
            QTimer.singleShot(0, lambda: self.fetchMore(QModelIndex()))
            return
        query, offset, page = self.query, self._offset, self._page
        service = self._service

        def fetch() -> tuple[int, list[CustomerRow]]:
            return offset, service.customers(query, offset=offset, limit=page)

        self._loader.page(fetch, self._add_page)

    def _add_page(self, result: tuple[int, list[CustomerRow]]) -> None:
        offset, rows = result
        self._offset = offset + self._page
        new = [r for r in rows if r.id not in self._ids]
        if not new:
            return
        start = len(self._rows)
        self.beginInsertRows(QModelIndex(), start, start + len(new) - 1)
        self._rows.extend(new)
        self._ids.update(r.id for r in new)
        self.endInsertRows()

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if index.isValid() and self._loader.is_placeholder(index.row()):
            return Qt.ItemFlag.NoItemFlags
        return super().flags(index)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if index.isValid() and self._loader.is_placeholder(index.row()):
            return _placeholder_data(role)
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.name
        if role == RowRole:
            return row
        if role == RelativeTimeRole:
            return fmt.relative_time(row.last_seen, self._now(), self._tz)
        if role == Qt.ItemDataRole.ToolTipRole:
            return tip(fmt.join_nonempty((fmt.customer_name(row), fmt.best_contact(row)), "\n"))
        if role == Qt.ItemDataRole.AccessibleTextRole:
            channels = ", ".join(channel_label(c) for c in CHANNEL_ORDER if c in row.channels)
            last = fmt.relative_time(row.last_seen, self._now(), self._tz)
            return fmt.join_nonempty(
                (
                    fmt.customer_name(row),
                    fmt.best_contact(row),
                    f"last contact {last}" if last else "",
                    channels,
                ),
                ", ",
            )
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        names[RowRole] = QByteArray(b"row")
        names[RelativeTimeRole] = QByteArray(b"relativeTime")
        return names

    # helpers

    def row(self, i: int) -> CustomerRow:
        """The customer shown at row ``i``."""
        return self._rows[i]

    def row_of(self, customer_id: int) -> int | None:
        """The row showing ``customer_id``, if it is loaded."""
        for i, r in enumerate(self._rows):
            if r.id == customer_id:
                return i
        return None


# --- timeline ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayHeader:
    """A day separator in the timeline."""

    day: date
    label: str


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One event as the timeline shows it.

    Attributes:
        event: the event row.
        local_time: when it happened, in the user's zone.
        continues: a chat line that continues the run of the row above (same
            conversation, same person, minutes apart), drawn without repeating who.
        thread_first: for an email that follows others of its thread, the row of
            the run's first (newest) message; -1 otherwise.
        thread_pos: its place in that run (1 for the second message, …).

    Slotted, as the rows it holds (``app.rows``): a long timeline holds tens of thousands.
    """

    event: EventRow
    local_time: datetime
    continues: bool = False
    who: str = ""
    thread_first: int = -1
    thread_pos: int = 0


TimelineItem = DayHeader | TimelineEntry

# What a timeline row's height depends on (``TimelineModel.row_shape``): the delegate keeps one
# size per shape for the font shown, so laying out ten thousand rows costs no per-row measuring.
SHAPE_DAY, SHAPE_LINE, SHAPE_ITEMS, SHAPE_EXPANDED, SHAPE_LOADING = range(5)
_CONTACT_LIKE = re.compile(r"[+\d\s().-]{5,}")
_RUN_GAP = timedelta(minutes=15)


@dataclass(frozen=True)
class _TimelinePage:
    customer: CustomerRow
    total: int
    rows: _Rows


@dataclass
class _Rows:
    """A page's rows as the timeline shows them, built on the reader that read the page (the
    GUI thread only adds them to what it shows: ``TimelineModel._take``)."""

    events: int  # how many events the page had
    items: list[TimelineItem]
    shapes: bytearray
    by_event: dict[int, int]  # event id → row
    thread_sizes: dict[int, int]  # first row of an email thread run → its size so far
    names: set[str]  # the "who" of its entries


def _build_rows(
    events: Sequence[EventRow],
    *,
    last: TimelineItem | None,
    last_first: int,
    start: int,
    customer_name: str,
    expanded: frozenset[int],
    tz: tzinfo,
    today: date,
) -> _Rows:
    """The rows ``events`` add after row ``start - 1`` (``last``, whose email thread run
    starts at row ``last_first``): day headers, chat runs and email thread runs go on from it.
    """
    rows = _Rows(len(events), [], bytearray(), {}, {}, set())
    items, shapes, by_event, sizes = rows.items, rows.shapes, rows.by_event, rows.thread_sizes
    row = start
    before = last if isinstance(last, TimelineEntry) else None
    before_first = last_first
    for event in events:
        when = fmt.local(event.occurred_at, tz)
        prev = before
        if prev is None or prev.local_time.date() != when.date():
            items.append(DayHeader(when.date(), fmt.day_label(when.date(), today)))
            shapes.append(SHAPE_DAY)
            row += 1
            prev = None
        continues = (
            prev is not None
            and event.channel == "chat"
            and prev.event.channel == "chat"
            and prev.event.thread_key == event.thread_key
            and prev.event.direction == event.direction
            and prev.event.author == event.author
            and prev.local_time - when <= _RUN_GAP
        )
        first, pos = -1, 0
        if (  # consecutive messages of one email thread read as a thread (across days)
            before is not None
            and event.channel == "email" == before.event.channel
            and event.thread_key
            and event.thread_key == before.event.thread_key
        ):
            first = before_first
            pos = before.thread_pos + 1
            sizes[first] = pos + 1
        entry = TimelineEntry(event, when, continues, who(event, customer_name), first, pos)
        if entry.who:
            rows.names.add(entry.who)
        by_event[event.id] = row
        items.append(entry)
        if event.id in expanded:
            shapes.append(SHAPE_EXPANDED)
        else:
            order = event.order
            shapes.append(SHAPE_ITEMS if order is not None and order.lines else SHAPE_LINE)
        before, before_first = entry, first if first >= 0 else row
        row += 1
    return rows


class TimelineModel(QAbstractListModel):
    """One customer's events, newest first, under day headers in the user's zone.

    Signals:
        loaded(object): a customer (or filter) finished loading; the payload is
            the event id asked to be focused, or None.
    """

    loaded = Signal(object)

    def __init__(
        self,
        db: Service | Database,
        parent: QObject | None = None,
        *,
        tz: tzinfo = UTC,
        now: Clock = _utcnow,
        page_size: int = PAGE_SIZE,
    ) -> None:
        super().__init__(parent)
        self._service = Service.of(db)
        self.tz = tz
        self._now = now
        self._page = page_size
        self._items: list[TimelineItem] = []
        self._rows_by_event: dict[int, int] = {}
        self._thread_sizes: dict[int, int] = {}  # first row of an email thread run → size
        self._shapes = bytearray()  # each row's SHAPE_*, kept as rows arrive and expand
        self.who_names: set[str] = set()  # every "who" shown, for the width of that column
        self.who_version = 0  # changes whenever who_names does
        self._fetching = False
        self.expanded: set[int] = set()
        self.customer: CustomerRow | None = None
        self.customer_id: int | None = None
        self.channels: tuple[str, ...] = ()
        self.query = ""
        self.terms: tuple[str, ...] = ()
        self.total = 0
        self._offset = 0
        self._loader = _Loader(self, lambda: len(self._items))
        self._resetting = False

    # loading

    def load(
        self,
        customer_id: int,
        *,
        channels: Sequence[str] = (),
        query: str = "",
        focus_event: int | None = None,
        highlight: str = "",
        background: bool = True,
    ) -> None:
        """Show ``customer_id``'s events (filtered), optionally paging until ``focus_event``.

        Args:
            customer_id: whose timeline.
            channels: only these channels (all when empty).
            query: only events matching these words (all when empty).
            focus_event: load enough pages to include this event.
            highlight: words to highlight when ``query`` is empty.
            background: load on a worker (True) or inline.
        """
        if customer_id != self.customer_id:
            self.expanded = set()
        self.customer_id = customer_id
        self.channels = tuple(channels)
        self.query = query.strip()
        self.terms = fmt.query_terms(self.query or highlight)
        page = self._page
        chans = list(self.channels) or None
        q = self.query or None

        expanded = frozenset(self.expanded)
        tz, today = self.tz, fmt.local(self._now(), self.tz).date()

        def fetch() -> tuple[_TimelinePage, int | None]:
            row, total, events = self._service.timeline_start(
                customer_id, limit=page, channels=chans, query=q, focus_event=focus_event
            )
            rows = _build_rows(
                events,
                last=None,
                last_first=-1,
                start=0,
                customer_name=row.name,
                expanded=expanded,
                tz=tz,
                today=today,
            )
            # (the figures line formats money: its first use reads the formats cache, here)
            fmt.money_totals(row.orders.totals)
            return _TimelinePage(row, total, rows), focus_event

        self._loader.start(fetch, self._apply, background=background)

    def reload(self, *, background: bool = True) -> None:
        """Load the current customer again with the same filters."""
        if self.customer_id is not None:
            self.load(
                self.customer_id,
                channels=self.channels,
                query=self.query,
                background=background,
            )

    def clear(self) -> None:
        """Show nobody."""
        self._resetting = True
        try:
            self.beginResetModel()
            self._loader.invalidate()
            self._items, self._rows_by_event, self._thread_sizes = [], {}, {}
            self._shapes = bytearray()
            self._forget_names()
            self.customer = self.customer_id = None
            self.total = self._offset = 0
            self.endResetModel()
        finally:
            self._resetting = False

    @property
    def loading(self) -> bool:
        """Whether a load is under way."""
        return self._loader.busy

    def _apply(self, result: tuple[_TimelinePage, int | None]) -> None:
        page, focus = result
        self._resetting = True
        try:
            self.beginResetModel()
            self._loader.reset()
            self.customer = page.customer
            self.customer_id = page.customer.id
            self.total = page.total
            self._items, self._rows_by_event, self._thread_sizes = [], {}, {}
            self._shapes = bytearray()
            self._forget_names()
            self._offset = 0
            self._take(page.rows)
            self.endResetModel()
        finally:
            self._resetting = False
        self.loaded.emit(focus)

    def _take(self, rows: _Rows) -> None:
        """Add rows built by ``_build_rows`` after the rows shown (inside an insert or reset)."""
        self._items.extend(rows.items)
        self._shapes.extend(rows.shapes)
        self._rows_by_event.update(rows.by_event)
        self._thread_sizes.update(rows.thread_sizes)
        if not rows.names <= self.who_names:
            self.who_names |= rows.names
            self.who_version += 1
        self._offset += rows.events

    def _rows_after(self) -> Callable[[Sequence[EventRow]], _Rows]:
        """What builds, on a reader, the rows a page of events adds after those shown now."""
        last = self._items[-1] if self._items else None
        first = -1
        if isinstance(last, TimelineEntry):
            first = last.thread_first if last.thread_first >= 0 else len(self._items) - 1
        start, name = len(self._items), self.customer.name if self.customer else ""
        expanded, tz = frozenset(self.expanded), self.tz
        today = fmt.local(self._now(), tz).date()

        def build(events: Sequence[EventRow]) -> _Rows:
            return _build_rows(
                events,
                last=last,
                last_first=first,
                start=start,
                customer_name=name,
                expanded=expanded,
                tz=tz,
                today=today,
            )

        return build

    def _forget_names(self) -> None:
        self.who_names = set()
        self.who_version += 1

    # Qt model API

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items) + self._loader.extra_rows

    def canFetchMore(self, parent: AnyIndex) -> bool:
        return (
            not parent.isValid()
            and self.customer_id is not None
            and self._loader.can_page
            and self._offset < self.total
        )

    def fetchMore(self, parent: AnyIndex) -> None:
        """Load the next page on a reader, showing a LOADING row until it arrives."""
        if not self.canFetchMore(parent) or self.customer_id is None or self._fetching:
            return  # (re-entrant: a model tester's slot may ask again mid-insert)
        if self._resetting:  # asked from a modelReset handler: insert once the reset is over
            QTimer.singleShot(0, lambda: self.fetchMore(QModelIndex()))
            return
        cid, offset = self.customer_id, self._offset
        page = min(max(self._page, offset), max(self._page, MAX_TIMELINE_PAGE))
        chans, q = list(self.channels) or None, self.query or None
        service, build = self._service, self._rows_after()

        def fetch() -> _Rows:
            return build(service.timeline(cid, offset=offset, limit=page, channels=chans, query=q))

        self._loader.page(fetch, self._add_page)

    def _add_page(self, rows: _Rows) -> None:
        if not rows.events:
            self._offset = self.total
            return
        start = len(self._items)
        self._fetching = True
        try:
            self.beginInsertRows(QModelIndex(), start, start + len(rows.items) - 1)
            self._take(rows)
            self.endInsertRows()
        finally:
            self._fetching = False
        for row in rows.thread_sizes:  # a thread that went on into this page: say its size
            if row < start:
                self.dataChanged.emit(self.index(row, 0), self.index(row, 0), [ThreadRole])

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid() or self._loader.is_placeholder(index.row()):
            return Qt.ItemFlag.NoItemFlags
        if isinstance(self._items[index.row()], DayHeader):
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if index.isValid() and self._loader.is_placeholder(index.row()):
            return _placeholder_data(role)
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == RowRole:
            return item
        if role == KindRole:
            return "day" if isinstance(item, DayHeader) else "event"
        if role == TermsRole:
            return self.terms
        if isinstance(item, DayHeader):
            if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
                return item.label
            return None
        if role == ExpandedRole:
            return item.event.id in self.expanded
        if role == ThreadRole:
            return self.thread_of(index.row())
        if role == Qt.ItemDataRole.DisplayRole:
            return fmt.join_nonempty((item.who, summary(item.event)), "  ")
        if role == Qt.ItemDataRole.ToolTipRole:
            return tip(
                fmt.join_nonempty(
                    (
                        fmt.date_time(item.local_time, item.local_time.tzinfo),
                        f"from {fmt.source_name(item.event.source)}" if item.event.source else "",
                    )
                )
            )
        if role == Qt.ItemDataRole.AccessibleTextRole:
            e = item.event
            thread = self.thread_of(index.row())
            where = (
                ""
                if thread is None
                else f", {thread[1]} messages in this thread"
                if thread[0] == 0
                else f", message {thread[0] + 1} of the thread"
            )
            return (
                f"{channel_label(e.channel)} {'from' if e.direction != 'outbound' else 'by'} "
                f"{item.who} at {fmt.time_of_day(item.local_time)}: {summary(e)}{where}"
            )
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        names.update(
            {
                RowRole: QByteArray(b"row"),
                KindRole: QByteArray(b"kind"),
                ExpandedRole: QByteArray(b"expanded"),
            }
        )
        names[ThreadRole] = QByteArray(b"thread")
        return names

    def row_shape(self, row: int) -> int:
        """What the height of ``row`` depends on: one of the ``SHAPE_*`` values (the LOADING
        row's past the rows). Kept as rows arrive and expand, not worked out: the view sets each
        row's height from it (``ui.timeline.TimelineView.sync_rows``).
        """
        return self._shapes[row] if row < len(self._shapes) else SHAPE_LOADING

    def row_shapes(self, first: int, last: int) -> bytes:
        """``row_shape`` of rows ``first``..``last`` (of real rows; not the LOADING row's)."""
        return bytes(self._shapes[first : last + 1])

    def _shape_of(self, item: TimelineItem) -> int:
        if isinstance(item, DayHeader):
            return SHAPE_DAY
        if item.event.id in self.expanded:
            return SHAPE_EXPANDED
        order = item.event.order
        return SHAPE_ITEMS if order is not None and order.lines else SHAPE_LINE

    def thread_of(self, row: int) -> tuple[int, int] | None:
        """(place, size) of the email thread run ``row`` is in (place 0 is the newest), or None."""
        item = self._items[row]
        if not isinstance(item, TimelineEntry):
            return None
        if item.thread_first >= 0:
            return item.thread_pos, self._thread_sizes[item.thread_first]
        size = self._thread_sizes.get(row)
        return (0, size) if size else None

    # helpers

    def item(self, row: int) -> TimelineItem | Loading:
        """The header or entry at ``row`` (or the LOADING row while a page loads)."""
        return LOADING if self._loader.is_placeholder(row) else self._items[row]

    def row_of_event(self, event_id: int) -> int | None:
        """The row of ``event_id``, if loaded."""
        return self._rows_by_event.get(event_id)

    def event_rows(self) -> list[int]:
        """Rows that hold events (not day headers)."""
        return sorted(self._rows_by_event.values())

    def expanded_rows(self) -> list[int]:
        """Rows of the events shown expanded."""
        rows = self._rows_by_event
        return sorted(rows[e] for e in self.expanded if e in rows)

    def set_expanded(self, row: int, expanded: bool) -> None:
        """Expand or collapse the event at ``row`` in place."""
        item = self.item(row)
        if not isinstance(item, TimelineEntry):
            return
        if expanded:
            self.expanded.add(item.event.id)
        else:
            self.expanded.discard(item.event.id)
        self._shapes[row] = self._shape_of(item)
        idx = self.index(row, 0)
        self.dataChanged.emit(idx, idx, [ExpandedRole])

    def toggle_expanded(self, row: int) -> None:
        """Flip the event at ``row`` between one line and its full content."""
        item = self.item(row)
        if isinstance(item, TimelineEntry):
            self.set_expanded(row, item.event.id not in self.expanded)


def who(event: EventRow, customer_name: str = "") -> str:
    """Who an event is from, as the timeline says it: "You" for outbound.

    An inbound author known only by a phone number or an address is shown by
    the customer's name, which is what the timeline is about.
    """
    if event.direction == "outbound":
        return "You"
    if event.direction == "system":
        return ""
    author = event.author or ""
    if customer_name and (not author or "@" in author or _CONTACT_LIKE.fullmatch(author)):
        return customer_name
    return author


def summary(event: EventRow) -> str:
    """The one-line summary of an event."""
    if event.order is not None:
        o = event.order
        change = fmt.order_change(o, event.details.get("previous"))
        if change:  # a newer export changed it: say what changed instead of the plain status
            return fmt.join_nonempty((f"Order {o.number}", fmt.money(o.total, o.currency), change))
        parts = [
            f"Order {o.number}",
            fmt.money(o.total, o.currency),
            o.financial_status,
            o.fulfillment_status if o.fulfillment_status not in ("", "unfulfilled") else "",
        ]
        return fmt.join_nonempty(parts)
    body = fmt.first_line(event.text)
    if event.channel == "email":
        title = event.title or "(no subject)"
        return f"{title} — {body}" if body else title
    return body or event.title


# --- full-text search --------------------------------------------------------------------


class SearchResultsModel(QAbstractListModel):
    """Full-text hits across everyone's messages, best first.

    Signals:
        loaded(): results for the latest query are in.
    """

    loaded = Signal()
    LIMIT = 200

    def __init__(self, db: Service | Database, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._service = Service.of(db)
        self._hits: list[SearchHit] = []
        self.query = ""
        # why the latest query could not run ("" when it did): an unbalanced quote, a bad date
        self.error = ""
        self._loader = _Loader(self)

    def search(self, query: str, *, background: bool = True) -> None:
        """Run a full-text search (never on the GUI thread unless ``background`` is False)."""
        self.query = query.strip()
        q, limit = self.query, self.LIMIT

        def fetch() -> list[SearchHit] | str:
            if not fmt.has_query(q):
                return []
            try:
                return self._service.search(q, limit=limit)
            except SearchSyntaxError as exc:  # shown under the search box, in one line
                return str(exc)

        self._loader.start(fetch, self._apply, background=background)

    @property
    def loading(self) -> bool:
        """Whether a search is under way."""
        return self._loader.busy

    def _apply(self, hits: list[SearchHit] | str) -> None:
        self.error = hits if isinstance(hits, str) else ""
        self.beginResetModel()
        self._hits = [] if isinstance(hits, str) else list(hits)
        self.endResetModel()
        self.loaded.emit()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._hits)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._hits):
            return None
        hit = self._hits[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return fmt.person_name(hit.customer_name) or "Unknown customer"
        if role == RowRole:
            return hit
        if role == TermsRole:
            return fmt.query_terms(self.query)
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            text = fmt.join_nonempty(
                (
                    fmt.person_name(hit.customer_name) or "Unknown customer",
                    channel_label(hit.channel),
                    fmt.long_date(hit.occurred_at.date()),
                    fmt.snippet_plain(hit.snippet),
                ),
                ", ",
            )
            return tip(text) if role == Qt.ItemDataRole.ToolTipRole else text
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        names[RowRole] = QByteArray(b"row")
        return names

    def hit(self, row: int) -> SearchHit:
        """The hit at ``row``."""
        return self._hits[row]


# --- import problems ---------------------------------------------------------------------


class HeaderTableModel(QAbstractTableModel):
    """A flat table of plain rows under fixed column headers (``HEADERS``, ``_rows``)."""

    HEADERS: tuple[str, ...] = ()
    _rows: Sequence[Any]

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(self.HEADERS)
        ):
            return self.HEADERS[section]
        return None


class ProblemsModel(HeaderTableModel):
    """Recent import problems: file, where in it, why, and when.

    Signals:
        loaded(): the list is (re)loaded.
    """

    loaded = Signal()
    HEADERS = ("File", "Where", "Reason", "When")

    def __init__(self, db: Service | Database, parent: QObject | None = None, *, tz: tzinfo = UTC):
        super().__init__(parent)
        self._service = Service.of(db)
        self._tz = tz
        self._rows: list[tuple[str, str, str, datetime]] = []
        self._loader = _Loader(self)

    def reload(self, *, background: bool = True) -> None:
        """Read the problem list again."""

        def fetch() -> list[tuple[str, str, str, datetime]]:
            return self._service.problems()

        self._loader.start(fetch, self._apply, background=background)

    def _apply(self, rows: list[tuple[str, str, str, datetime]]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()
        self.loaded.emit()

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        path, where, reason, at = self._rows[index.row()]
        col = index.column()
        if role == RowRole:
            return self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return os.path.basename(path) or path
            if col == 1:
                return where
            if col == 2:
                return reason
            if col == 3:
                return fmt.date_time(at, self._tz)
        if role == Qt.ItemDataRole.ToolTipRole:
            shown = {0: path, 1: where, 2: reason}.get(col)
            return None if shown is None else tip(shown)
        return None

    def problems(self) -> list[tuple[str, str, str, datetime]]:
        """The rows as loaded."""
        return list(self._rows)
