"""The Qt item models, workers, message bridge, crash hook and text helpers, without a window.

Every model is filled from a seeded SQLite file and checked by
``qtmodeltester`` when loaded, across ``fetchMore`` pages, and after a reset.
``seed`` is shared with ``test_gui.py``.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from PySide6.QtCore import QModelIndex, Qt

from app import settings
from app.db import Database
from app.errors import UserFacingError
from app.ingest import import_items
from app.queries import CustomerRow
from app.records import EventRecord, Item, OrderInfo, OrderLine, Participant, Problem
from ui import formatting as fmt
from ui import messages, workers
from ui.customer_list import CustomerDelegate, CustomerListView
from ui.models import (
    LOADING,
    CustomerListModel,
    DayHeader,
    KindRole,
    Loading,
    ProblemsModel,
    RowRole,
    SearchResultsModel,
    TimelineEntry,
    TimelineModel,
)

NOW = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")
SHOP = "hello@bloom.example"
JANE_PHONE = "+44 7700 900123"


def _at(days: int, hour: int, minute: int) -> datetime:
    day = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=days) + timedelta(hours=hour, minutes=minute)


def mail(mid: str, name: str, sender: str, to: str, subject: str, text: str, at: datetime):
    return EventRecord(
        channel="email",
        source="email",
        external_id=mid,
        occurred_at=at,
        title=subject,
        text=text,
        thread_key=subject.removeprefix("Re: "),
        participants=(Participant("from", name, email=sender), Participant("to", "", email=to)),
        locator=f"mail.mbox:{mid}",
    )


def chat(key: str, author: str, text: str, at: datetime, *, phone: str, chat_name: str = "Jane"):
    mine = author == "Bloom Flowers"
    parts = [
        Participant(
            "author",
            author,
            phone=None if mine else phone,
            handle=author if mine else None,
            platform="whatsapp",
        )
    ]
    if mine:
        parts.append(Participant("member", chat_name, phone=phone, platform="whatsapp"))
    return EventRecord(
        channel="chat",
        source="whatsapp",
        external_id=key,
        occurred_at=at,
        title=chat_name,
        text=text,
        thread_key=f"whatsapp:{chat_name}",
        participants=tuple(parts),
    )


def order(number: str, name: str, email: str, phone: str, at: datetime, lines, **kw):
    subtotal = sum((Decimal(p) * q for _n, q, p in lines), Decimal(0))
    shipping = Decimal("4.99")
    return EventRecord(
        channel="order",
        source="shopify",
        external_id=number,
        occurred_at=at,
        title=f"Order {number}",
        text=", ".join(f"{q} × {n}" for n, q, _p in lines),
        participants=(
            Participant("buyer", name, email=email, phone=phone or None, platform="shopify"),
        ),
        order=OrderInfo(
            number=number,
            currency=kw.get("currency", "GBP"),
            total=subtotal + shipping,
            subtotal=subtotal,
            shipping=shipping,
            financial_status=kw.get("status", "paid"),
            fulfillment_status=kw.get("fulfilment", "fulfilled"),
            lines=tuple(OrderLine(n, q, Decimal(p)) for n, q, p in lines),
        ),
    )


def seed(db: Database, *, fillers: int = 0) -> None:
    """A small shop's customers around ``NOW``: Jane on every channel, and a few others."""
    with db.session() as s:
        settings.set_value(s, "owner_emails", SHOP)
        settings.set_value(s, "owner_names", "Bloom Flowers")
        settings.set_value(s, "user_name", "Sam")
    items: list[Item] = [
        order(
            "#1001",
            "Jane Doe",
            "jane.doe@gmail.com",
            JANE_PHONE,
            _at(3, 18, 4),
            [("Spring bouquet – Large", 1, "45.00"), ("Periwinkle ribbon", 3, "2.50")],
        ),
        mail(
            "m1@jane",
            "Jane Doe",
            "Jane.Doe@gmail.com",
            SHOP,
            "Question about my bouquet",
            "Hello!\n\nCould the ribbon be periwinkle instead of white?\n\nThanks,\nJane",
            _at(2, 9, 15),
        ),
        mail(
            "m2@bloom",
            "Bloom Flowers",
            SHOP,
            "jane.doe@gmail.com",
            "Re: Question about my bouquet",
            "Hi Jane,\n\nOf course — periwinkle it is.\n\nSam",
            _at(2, 11, 0),
        ),
        order(
            "#1007",
            "Jane Doe",
            "jane.doe@gmail.com",
            JANE_PHONE,
            _at(1, 16, 40),
            [("Peony bunch", 2, "28.00"), ("Gift card", 1, "3.50")],
            fulfilment="unfulfilled",
        ),
        chat(
            "c1",
            "Jane Doe",
            "Do you still have the periwinkle ribbons?",
            _at(0, 11, 58),
            phone=JANE_PHONE,
        ),
        chat(
            "c2",
            "Jane Doe",
            "The periwinkle ones, if you still have them",
            _at(0, 12, 2),
            phone=JANE_PHONE,
        ),
        chat(
            "c3",
            "Bloom Flowers",
            "Hi Jane, yes we do! I'll add the peonies.",
            _at(0, 12, 10),
            phone=JANE_PHONE,
        ),
        chat(
            "p1",
            "Priya Patel",
            "Is the shop open on Sunday?",
            _at(1, 10, 5),
            phone="+44 7700 900456",
            chat_name="Priya",
        ),
        order(
            "#1003",
            "Priya Patel",
            "priya.p@example.org",
            "+44 7700 900456",
            _at(5, 14, 0),
            [("Sunflower box", 1, "32.00")],
        ),
        mail(
            "m3@john",
            "John Smith",
            "john.smith@example.com",
            SHOP,
            "Wedding flowers quote",
            "Could you quote for 12 table arrangements in June?",
            _at(0, 8, 40),
        ),
        order(
            "#1002",
            "Kim Lee",
            "kim@example.com",
            "",
            _at(9, 9, 30),
            [("Orchid pot", 1, "40.00")],
            status="refunded",
        ),
        mail(
            "m5@tom",
            "Tom Baker",
            "tom@bakers.example",
            SHOP,
            "Invoice for March",
            "Please send the invoice for the café flowers.",
            _at(20, 15, 0),
        ),
        Problem("orders_export.csv:88", "amount '12,x' is not a number"),
    ]
    for i in range(fillers):
        items.append(
            mail(
                f"f{i}@x",
                f"Customer {i:03d}",
                f"customer{i:03d}@example.net",
                SHOP,
                f"Hello number {i}",
                f"Message body {i}",
                _at(40 + i % 30, 10, i % 60),
            )
        )
    import_items(db, lambda: items, label="seed.csv", format="test")


@pytest.fixture
def seeded(db: Database) -> Database:
    seed(db)
    return db


@pytest.fixture
def many(db: Database) -> Database:
    seed(db, fillers=230)
    return db


@pytest.fixture(autouse=True)
def _no_leftover_work(qapp):
    yield
    workers.manager().wait_for_done()


# --- customers ---------------------------------------------------------------------------


def test_customer_model_pages_and_resets(qtmodeltester, qtbot, many: Database) -> None:
    model = CustomerListModel(many, tz=LONDON, now=lambda: NOW)
    model.set_query("", background=False)
    assert model.total == 235
    assert model.rowCount() == 200
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    assert model.rowCount() == 235
    assert not model.canFetchMore(QModelIndex())
    qtmodeltester.check(model)
    with qtbot.waitSignal(model.rowsInserted, timeout=5000):
        model.set_query("", background=False)  # the tester asks for more during the reset
    assert model.rowCount() == 235
    model.set_query("jane", background=False)
    assert [model.row(i).name for i in range(model.rowCount())] == ["Jane Doe"]
    qtmodeltester.check(model)


def test_customer_model_rows_are_plain_and_recent_first(seeded: Database) -> None:
    model = CustomerListModel(seeded, tz=LONDON, now=lambda: NOW)
    model.set_query("", background=False)
    rows = [model.row(i) for i in range(model.rowCount())]
    assert all(isinstance(r, CustomerRow) for r in rows)
    assert rows[0].name == "Jane Doe"
    assert [r.last_seen for r in rows] == sorted((r.last_seen for r in rows), reverse=True)
    assert model.index(0, 0).data(workers_role()) == "20 min ago"


def workers_role() -> int:
    from ui.models import RelativeTimeRole

    return RelativeTimeRole


def test_customer_model_loads_in_background(qtbot, seeded: Database) -> None:
    model = CustomerListModel(seeded, tz=LONDON, now=lambda: NOW)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_query("900456")
    assert [model.row(i).name for i in range(model.rowCount())] == ["Priya Patel"]


def test_stale_customer_query_is_dropped(qtbot, seeded: Database) -> None:
    model = CustomerListModel(seeded, tz=LONDON, now=lambda: NOW)
    model.set_query("kim")
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_query("tom")
    qtbot.waitUntil(lambda: workers.manager().active == 0)
    assert model.loaded_query == "tom"
    assert [model.row(i).name for i in range(model.rowCount())] == ["Tom Baker"]


# --- timeline ----------------------------------------------------------------------------


def _jane(db: Database) -> int:
    from app import queries

    with db.session() as s:
        return queries.resolve_customer(s, "jane.doe@gmail.com")


def test_timeline_model_days_newest_first_across_pages(qtmodeltester, seeded: Database) -> None:
    model = TimelineModel(seeded, tz=LONDON, now=lambda: NOW, page_size=3)
    model.load(_jane(seeded), background=False)
    assert model.total == 7
    qtmodeltester.check(model)
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
        qtmodeltester.check(model)
    items = [model.item(r) for r in range(model.rowCount())]
    entries = [i for i in items if isinstance(i, TimelineEntry)]
    assert len(entries) == 7
    times = [e.event.occurred_at for e in entries]
    assert times == sorted(times, reverse=True)
    headers = [i.label for i in items if isinstance(i, DayHeader)]
    assert headers[:2] == ["Today", "Yesterday"]
    assert len(headers) == len({e.local_time.date() for e in entries})
    assert isinstance(items[0], DayHeader)
    # chat runs: the second line of Jane's run does not repeat her
    chats = [e for e in entries if e.event.channel == "chat"]
    assert [c.continues for c in chats] == [False, False, True]


def test_timeline_model_filters_and_resets(qtmodeltester, seeded: Database) -> None:
    model = TimelineModel(seeded, tz=LONDON, now=lambda: NOW)
    cid = _jane(seeded)
    model.load(cid, channels=("order",), background=False)
    assert {model.item(r).event.channel for r in model.event_rows()} == {"order"}
    qtmodeltester.check(model)
    model.load(cid, query="periwinkle", background=False)
    assert model.terms == ("periwinkle",)
    assert model.total >= 2
    qtmodeltester.check(model)
    row = model.event_rows()[0]
    model.toggle_expanded(row)
    assert model.item(row).event.id in model.expanded
    model.clear()
    assert model.rowCount() == 0
    qtmodeltester.check(model)


def test_timeline_focus_event_loads_enough_pages(seeded: Database) -> None:
    from app import queries

    cid = _jane(seeded)
    with seeded.session() as s:
        oldest = queries.timeline(s, cid, oldest_first=True, limit=1)[0]
    model = TimelineModel(seeded, tz=LONDON, now=lambda: NOW, page_size=2)
    model.load(cid, focus_event=oldest.id, background=False)
    assert model.row_of_event(oldest.id) is not None


# --- later pages load in the background ----------------------------------------------------


def _placeholder_shown(model) -> bool:
    last = model.rowCount() - 1
    return last >= 0 and model.index(last, 0).data(KindRole) == "loading"


def test_customer_pages_load_in_background_behind_a_placeholder(
    qtmodeltester, qtbot, many: Database
) -> None:
    model = CustomerListModel(many, tz=LONDON, now=lambda: NOW, page_size=60)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_query("")
    assert (model.total, model.rowCount()) == (235, 60)
    pages = 0
    while model.canFetchMore(QModelIndex()):
        shown = model.rowCount()
        model.fetchMore(QModelIndex())
        pages += 1
        assert model.rowCount() == shown + 1  # the placeholder, at once
        assert _placeholder_shown(model)
        last = model.index(shown, 0)
        assert last.data() == "Loading…"
        assert last.data(RowRole) is LOADING
        assert not last.flags() & Qt.ItemFlag.ItemIsSelectable
        model.fetchMore(QModelIndex())  # scrolling on: no second load of the same page
        model.fetchMore(QModelIndex())
        assert model.rowCount() == shown + 1
        assert not model.canFetchMore(QModelIndex())
        qtbot.waitUntil(lambda: not _placeholder_shown(model), timeout=5000)
        assert model.rowCount() > shown
    assert pages == 3
    ids = [model.row(i).id for i in range(model.rowCount())]
    assert len(ids) == 235 == len(set(ids))
    qtmodeltester.check(model)


def test_customer_list_scrolled_to_the_end_shows_every_customer_once(qtbot, many: Database) -> None:
    model = CustomerListModel(many, tz=LONDON, now=lambda: NOW, page_size=40)
    view = CustomerListView()
    view.setItemDelegate(CustomerDelegate(view))
    view.setModel(model)
    qtbot.addWidget(view)
    view.resize(300, 200)
    view.show()
    placeholders: list[int] = []

    def inserted(_parent: QModelIndex, first: int, last: int) -> None:
        placeholders.extend(r for r in range(first, last + 1) if _placeholder_shown(model))

    model.rowsInserted.connect(inserted)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_query("")
    assert model.rowCount() == 40

    def scrolled_to_the_end() -> bool:
        view.scrollToBottom()  # the view asks the model for more, as a user scrolling would
        return model.rowCount() == 235 and not _placeholder_shown(model)

    qtbot.waitUntil(scrolled_to_the_end, timeout=20000)
    assert placeholders  # "Loading…" stood at the end while pages loaded
    ids = [model.row(i).id for i in range(model.rowCount())]
    assert len(set(ids)) == len(ids) == 235


def test_a_page_for_a_stale_query_is_dropped(qtbot, many: Database, monkeypatch) -> None:
    from app import queries

    model = CustomerListModel(many, tz=LONDON, now=lambda: NOW, page_size=60)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_query("")
    gate = threading.Event()
    count = queries.count_customers

    def held_count(session, query):  # the new query's load waits until the old page is in
        if query == "jane":
            gate.wait(10)
        return count(session, query)

    monkeypatch.setattr(queries, "count_customers", held_count)
    model.fetchMore(QModelIndex())
    assert _placeholder_shown(model)
    model.set_query("jane")
    assert not model.canFetchMore(QModelIndex())  # no page of the old query while it loads
    qtbot.waitUntil(lambda: not _placeholder_shown(model), timeout=5000)
    assert model.rowCount() == 60  # the old query's page arrived after "jane" was asked: dropped
    gate.set()
    with qtbot.waitSignal(model.loaded, timeout=5000):
        pass
    assert [model.row(i).name for i in range(model.rowCount())] == ["Jane Doe"]
    # and a page whose rows were replaced before it arrived is dropped too
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_query("")
    model.fetchMore(QModelIndex())
    model.set_query("jane", background=False)
    qtbot.waitUntil(lambda: workers.manager().active == 0, timeout=5000)
    assert [model.row(i).name for i in range(model.rowCount())] == ["Jane Doe"]


def test_timeline_pages_load_in_background_behind_a_placeholder(
    qtmodeltester, qtbot, seeded: Database
) -> None:
    model = TimelineModel(seeded, tz=LONDON, now=lambda: NOW, page_size=2)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.load(_jane(seeded))
    while model.canFetchMore(QModelIndex()):
        shown = model.rowCount()
        model.fetchMore(QModelIndex())
        model.fetchMore(QModelIndex())
        assert model.rowCount() == shown + 1
        assert isinstance(model.item(shown), Loading)
        assert model.index(shown, 0).data() == "Loading…"
        qtbot.waitUntil(lambda: not _placeholder_shown(model), timeout=5000)
    ids = [model.item(r).event.id for r in model.event_rows()]
    assert len(ids) == 7 == len(set(ids))
    qtmodeltester.check(model)


def test_model_tester_asking_for_more_from_its_slots_pages_to_the_end(
    qtmodeltester, qtbot, many: Database
) -> None:
    model = CustomerListModel(many, tz=LONDON, now=lambda: NOW, page_size=30)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_query("")
    qtmodeltester.check(model)  # stays attached: asks for more after every change
    qtbot.waitUntil(
        lambda: model.rowCount() == 235 and not _placeholder_shown(model), timeout=20000
    )
    assert len({model.row(i).id for i in range(235)}) == 235


@pytest.mark.parametrize("which", ["customers", "timeline"])
def test_fetch_more_never_queries_on_the_gui_thread(qtbot, many: Database, which: str) -> None:
    from sqlalchemy import event

    model: CustomerListModel | TimelineModel
    if which == "customers":
        model = CustomerListModel(many, tz=LONDON, now=lambda: NOW, page_size=50)
        with qtbot.waitSignal(model.loaded, timeout=5000):
            model.set_query("")
    else:
        model = TimelineModel(many, tz=LONDON, now=lambda: NOW, page_size=2)
        with qtbot.waitSignal(model.loaded, timeout=5000):
            model.load(_jane(many))
    threads: list[threading.Thread] = []

    def record(*_args: object) -> None:
        threads.append(threading.current_thread())

    event.listen(many.engine, "before_cursor_execute", record)
    try:
        shown = model.rowCount()
        model.fetchMore(QModelIndex())
        qtbot.waitUntil(lambda: not _placeholder_shown(model), timeout=5000)
    finally:
        event.remove(many.engine, "before_cursor_execute", record)
    assert model.rowCount() > shown
    assert threads  # the page was read…
    assert threading.main_thread() not in threads  # …and never on the GUI thread


# --- search and problems -----------------------------------------------------------------


def test_search_results_model(qtmodeltester, qtbot, seeded: Database) -> None:
    model = SearchResultsModel(seeded)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.search("periwinkle")
    assert model.rowCount() >= 2
    assert all(model.hit(r).customer_name == "Jane Doe" for r in range(model.rowCount()))
    qtmodeltester.check(model)
    model.search("", background=False)
    assert model.rowCount() == 0
    qtmodeltester.check(model)


def test_problems_model(qtmodeltester, seeded: Database) -> None:
    model = ProblemsModel(seeded, tz=LONDON)
    model.reload(background=False)
    assert model.rowCount() == 1
    assert model.index(0, 2).data() == "amount '12,x' is not a number"
    qtmodeltester.check(model)


# --- workers -----------------------------------------------------------------------------


def test_op_success_progress_and_writer_is_serial(qtbot) -> None:
    assert workers.manager().writer.maxThreadCount() == 1
    seen: list[object] = []
    results: list[object] = []

    def work(progress, should_cancel):
        progress("half")
        return threading.current_thread() is not threading.main_thread()

    op = workers.Op(None, work, write=True).with_progress(seen.append).success(results.append)
    op.run()
    qtbot.waitUntil(lambda: results != [], timeout=5000)
    assert results == [True]
    assert seen == ["half"]


def test_op_cancel_reaches_the_work(qtbot) -> None:
    gate = threading.Event()
    results: list[object] = []

    def blocker() -> None:
        gate.wait(5)

    workers.Op(None, blocker, write=True).run()
    op = workers.Op(None, lambda progress, should_cancel: should_cancel(), write=True)
    op.with_progress(lambda _v: None).success(results.append).run()
    op.cancel()
    gate.set()
    qtbot.waitUntil(lambda: results != [], timeout=5000)
    assert results == [True]


def test_op_failure_goes_to_callback(qtbot) -> None:
    failures: list[BaseException] = []

    def boom() -> None:
        raise UserFacingError("disk full")

    workers.Op(None, boom).failure(failures.append).run()
    qtbot.waitUntil(lambda: failures != [], timeout=5000)
    assert str(failures[0]) == "disk full"


# --- messages and crashes ----------------------------------------------------------------


def test_message_bridge_queues_until_connected(qtbot) -> None:
    bridge = messages.MessageBridge()
    bridge.post(messages.Level.INFO, "opening database")
    qtbot.waitUntil(lambda: bridge.pending() != [])
    got: list[messages.Message] = []
    bridge.connect_listener(got.append)
    assert [m.text for m in got] == ["opening database"]
    with qtbot.waitSignal(bridge.message_posted):
        bridge.post(messages.Level.ERROR, "later")
    assert [m.text for m in got] == ["opening database", "later"]


def test_crash_handler_shows_each_crash_once(qtbot) -> None:
    from ui.crash import CrashHandler

    handler = CrashHandler()

    def fail() -> None:
        raise RuntimeError("bug")

    for _ in range(3):
        try:
            fail()
        except RuntimeError as exc:
            handler.handle(RuntimeError, exc, exc.__traceback__)
    qtbot.waitUntil(lambda: len(handler.dialogs) == 1)
    dialog = handler.dialogs[0]
    assert "RuntimeError: bug" in dialog.details.toPlainText()
    with qtbot.waitSignal(dialog.details_copied):
        dialog.copy_details()
    dialog.close()


# --- text helpers ------------------------------------------------------------------------


def test_relative_times_and_day_labels() -> None:
    assert fmt.relative_time(NOW - timedelta(seconds=20), NOW, LONDON) == "just now"
    assert fmt.relative_time(NOW - timedelta(minutes=5), NOW, LONDON) == "5 min ago"
    assert fmt.relative_time(NOW - timedelta(hours=2), NOW, LONDON) == "2 h ago"
    assert fmt.relative_time(NOW - timedelta(days=1), NOW, LONDON) == "yesterday"
    assert fmt.relative_time(NOW - timedelta(days=30), NOW, LONDON) == "2 Feb"
    today = date(2026, 3, 4)
    assert fmt.day_label(today, today) == "Today"
    assert fmt.day_label(date(2026, 3, 2), today) == "Monday 2 March"
    assert fmt.day_label(date(2025, 3, 2), today) == "2 March 2025"


def test_money_and_highlights() -> None:
    assert fmt.money(Decimal("171.51"), "GBP") == "£171.51"
    assert fmt.money(Decimal("1500"), "BDT") == "BDT\u00a01,500.00"  # CLDR spacing
    assert fmt.money_totals({"GBP": Decimal("1"), "EUR": Decimal("2")}) == "€2.00 + £1.00"
    html = fmt.snippet_html("the \x02periwinkle\x03 ones", "x")
    assert html == 'the <span style="x">periwinkle</span> ones'
    assert fmt.match_spans("Periwinkle ribbons", ("peri",)) == [(0, 4)]
    assert "<b>" not in fmt.highlight_html("<b>", ("b",), "y")


def test_chat_extras_read_every_connectors_shapes() -> None:
    """The pictures sent with a chat message, its reactions and its edits, from the shapes
    the connectors store them in (a list or one media entry; a string or a list of
    reactions), a file the text already names not repeated."""
    from ui.formatting import chat_extras

    imazing = {
        "media": ({"kind": "photo", "file": "box, opened | side.png"},),
        "reactions": "Loved by you",
        "deleted": "2024-02-02 10:01:00",
    }
    assert chat_extras(imazing, "One corner is dented") == [
        "Photo (not imported): box, opened | side.png",
        "Reactions: Loved by you",
        "Deleted from the conversation after it was sent",
    ]
    whatsapp = {"media": {"kind": "photo", "file": "IMG-2024.jpg"}}
    assert chat_extras(whatsapp, "IMG-2024.jpg (file attached)") == []
    sms = {"media": [{"type": "image/jpeg", "name": "IMG_0001.jpg"}]}
    assert chat_extras(sms, "") == ["Image (not imported): IMG_0001.jpg"]
    messenger = {
        "media": [{"kind": "photo", "uri": "messages/inbox/ann/photos/123.jpg"}],
        "reactions": [{"reaction": "❤", "actor": "Ann Lee"}],
    }
    assert chat_extras(messenger, "(photo)") == [
        "Photo (not imported): 123.jpg",
        "Reactions: ❤ Ann Lee",
    ]
    slack = {"reactions": ({"reaction": "tada", "users": ("Sam", "Kim")},), "edited_at": "x"}
    assert chat_extras(slack, "shipped!") == [
        "Reactions: tada Sam, Kim",
        "Edited after it was sent",
    ]
    assert chat_extras({"media": {"kind": "other", "file": None}}, "<Media omitted>") == []
    assert chat_extras(None, "") == []
