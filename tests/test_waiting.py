"""Who waits for a reply: conversations across channels, automated and system lines,
marks and snoozes with their undo, opening hours, and the customer brief."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app import brief, cli, opening_hours, queries, settings, waiting
from app.db import Database
from app.demo import load_demo
from app.errors import NotFoundError, UserFacingError
from app.ingest import import_items
from app.records import EventRecord, Item, OrderInfo, OrderLine, Participant

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
NOW = T0 + timedelta(days=3)
SHOP = "hello@shop.example"
JANE_MAIL, JANE_PHONE = "jane@example.com", "+44 7700 900123"


def mail(key: str, sender: str, to: str, body: str, at: datetime, **details: object) -> EventRecord:
    return EventRecord(
        channel="email",
        source="email",
        external_id=key,
        occurred_at=at,
        title=f"Re: {key}",
        text=body,
        participants=(Participant("from", "", email=sender), Participant("to", "", email=to)),
        details=details,
    )


def wa(key: str, author: str, body: str, at: datetime, *, system: bool = False) -> EventRecord:
    """A WhatsApp line in the chat with Jane (her number, the shop's name as owner)."""
    jane = Participant("author", "Jane", phone=JANE_PHONE, platform="whatsapp")
    shop = Participant("author", "Shop", handle="Shop", platform="whatsapp")
    speaker = shop if author == "shop" else jane
    others = (Participant("member", "Jane", phone=JANE_PHONE, platform="whatsapp"),)
    return EventRecord(
        channel="chat",
        source="whatsapp",
        external_id=key,
        occurred_at=at,
        title="Jane",
        text=body,
        participants=others if system else (speaker, *others),
        direction="system" if system else None,
        thread_key="whatsapp:Jane",
    )


def order(number: str, at: datetime, *, notes: str | None = None, **state: str) -> EventRecord:
    return EventRecord(
        channel="order",
        source="shopify",
        external_id=number,
        occurred_at=at,
        title=f"Order {number}",
        text="",
        participants=(
            Participant("buyer", "Jane Doe", email=JANE_MAIL, phone=JANE_PHONE, platform="shopify"),
        ),
        details={"notes": notes},
        order=OrderInfo(
            number=number,
            currency="GBP",
            total=Decimal("42.50"),
            financial_status=state.get("financial", "paid"),
            fulfillment_status=state.get("fulfillment", ""),
            refunded=Decimal(state["refunded"]) if "refunded" in state else None,
            lines=(OrderLine("Tulips", 2, Decimal("21.25")), OrderLine("Card", 1, Decimal(0))),
        ),
    )


def put(db: Database, *items: Item) -> None:
    import_items(db, lambda: list(items), label="test", format="test", owner_hints=False)


@pytest.fixture
def shop(store: Database) -> Database:
    """Jane's shop, on each store (SQLite, PostgreSQL)."""
    db = store
    with db.session() as session:
        settings.set_value(session, "owner_emails", SHOP)
        settings.set_value(session, "owner_names", "Shop")
    # Jane's order ties her email and her phone together: one customer on every channel.
    put(db, order("#1001", T0 - timedelta(days=30)))
    return db


def listed(db: Database, **kw: object) -> list[waiting.WaitingRow]:
    with db.session() as session:
        return waiting.waiting(session, now=NOW, **kw)  # type: ignore[arg-type]


def jane(db: Database) -> int:
    with db.session() as session:
        return queries.resolve_customer(session, JANE_MAIL)


def test_question_by_mail_answered_on_whatsapp_clears_it(shop: Database) -> None:
    put(shop, mail("q1", JANE_MAIL, SHOP, "Hi,\nDo you deliver on Sunday?\nJane", T0))
    rows = listed(shop)
    assert [(r.customer_id, r.channel, r.first_line) for r in rows] == [
        (jane(shop), "email", "Do you deliver on Sunday?")
    ]
    assert rows[0].waiting_since == T0 and rows[0].waited_seconds == 3 * 86400
    put(shop, wa("a1", "shop", "Yes, we do!", T0 + timedelta(hours=2)))
    assert listed(shop) == []


def test_chat_question_answered_by_mail_and_newest_message_shown(shop: Database) -> None:
    put(
        shop,
        wa("w1", "jane", "Are the tulips in?", T0),
        wa("w2", "jane", "Hello??", T0 + timedelta(hours=1)),
    )
    (row,) = listed(shop, channel="whatsapp")
    assert row.waiting_since == T0  # the wait began with the first unanswered line
    assert (row.first_line, row.message_count, row.source) == ("Hello??", 2, "whatsapp")
    assert listed(shop, channel="email") == []
    assert len(listed(shop, channel="chat")) == 1
    put(shop, mail("r1", SHOP, JANE_MAIL, "They are.", T0 + timedelta(hours=3)))
    assert listed(shop) == []
    put(shop, wa("w3", "jane", "Great, I'll come by", T0 + timedelta(hours=4)))
    (again,) = listed(shop)
    assert again.waiting_since == T0 + timedelta(hours=4)


def test_reply_imported_before_the_question_does_not_clear_it(shop: Database) -> None:
    put(shop, mail("r0", SHOP, JANE_MAIL, "Thanks for your order", T0 - timedelta(days=1)))
    put(shop, mail("q2", JANE_MAIL, SHOP, "Where is it?", T0))
    assert len(listed(shop)) == 1


def test_automated_and_system_lines_never_count(shop: Database) -> None:
    put(shop, mail("q3", JANE_MAIL, SHOP, "Can I change the card text?", T0))
    # An automated "we got your mail" sent from the shop's address is no answer …
    put(
        shop, mail("auto", SHOP, JANE_MAIL, "Auto-reply", T0 + timedelta(minutes=1), automated=True)
    )
    # … and a chat system line is neither a question nor an answer.
    put(
        shop,
        wa("sys", "", "Messages are end-to-end encrypted", T0 + timedelta(hours=1), system=True),
    )
    (row,) = listed(shop)
    assert row.first_line == "Can I change the card text?"
    # An automated mail *from* a customer address never makes anyone wait.
    put(shop, mail("r3", SHOP, JANE_MAIL, "Sure", T0 + timedelta(hours=2)))
    put(
        shop,
        mail("bounce", JANE_MAIL, SHOP, "Out of office", T0 + timedelta(hours=3), automated=True),
    )
    assert listed(shop) == []


def test_order_note_after_the_question_clears_it(shop: Database) -> None:
    put(shop, mail("q4", JANE_MAIL, SHOP, "Please gift wrap it?", T0))
    put(shop, order("#1002", T0 + timedelta(hours=1)))  # an order without a note: still waiting
    assert len(listed(shop)) == 1
    put(shop, order("#1003", T0 + timedelta(hours=2), notes="gift wrapped as asked"))
    assert listed(shop) == []


def test_mark_answered_and_its_undo(shop: Database) -> None:
    put(shop, mail("q5", JANE_MAIL, SHOP, "Call me back please", T0))
    cid = jane(shop)
    with shop.session() as session:
        waiting.mark_answered(session, cid, now=NOW)
    assert listed(shop) == []
    with shop.session() as session:
        assert [m.kind for m in waiting.marks(session, cid)] == ["answered"]
        waiting.undo_mark(session, cid, "answered", now=NOW)
    assert [r.customer_id for r in listed(shop)] == [cid]
    with shop.session() as session, pytest.raises(NotFoundError):
        waiting.undo_mark(session, cid, "answered", now=NOW)
    # A mark covers what was written before it; a new message waits again.
    with shop.session() as session:
        waiting.mark_answered(session, cid, now=NOW)
    put(shop, wa("w5", "jane", "One more thing", NOW + timedelta(minutes=5)))
    with shop.session() as session:
        rows = waiting.waiting(session, now=NOW + timedelta(hours=1))
    assert [r.first_line for r in rows] == ["One more thing"]


def test_snooze_hides_until_then_or_until_they_write_again(shop: Database) -> None:
    put(shop, mail("q6", JANE_MAIL, SHOP, "Any news?", T0))
    cid = jane(shop)
    with shop.session() as session:
        with pytest.raises(UserFacingError):
            waiting.snooze(session, cid, NOW - timedelta(hours=1), now=NOW)
        waiting.snooze(session, cid, NOW + timedelta(days=1), now=NOW)
    assert listed(shop) == []
    assert len(listed(shop, include_snoozed=True)) == 1
    with shop.session() as session:
        assert len(waiting.waiting(session, now=NOW + timedelta(days=2))) == 1  # expired
        waiting.undo_mark(session, cid, "snooze", now=NOW)
    assert len(listed(shop)) == 1
    with shop.session() as session:
        waiting.snooze(session, cid, NOW + timedelta(days=1), now=NOW)
    put(shop, wa("w6", "jane", "Hello?", NOW - timedelta(minutes=1)))
    assert [r.first_line for r in listed(shop)] == ["Hello?"]


def test_owner_address_set_after_import_turns_its_mails_into_replies(db: Database) -> None:
    put(db, order("#1001", T0 - timedelta(days=30)))
    put(db, mail("q9", JANE_MAIL, SHOP, "Is it in stock?", T0))
    put(db, mail("r9", SHOP, JANE_MAIL, "Yes", T0 + timedelta(hours=1)))
    assert {r.customer_name for r in listed(db)} >= {"Jane Doe"}  # the shop is a customer too
    from app import identity

    with db.session() as session:
        settings.set_value(session, "owner_emails", SHOP)
        identity.apply_owner_settings(session)
    assert listed(db) == []


def test_sort_and_older_than(shop: Database) -> None:
    put(
        shop,
        mail("old", "ann@example.com", SHOP, "Old question", T0),
        mail("new", "bob@example.com", SHOP, "New question", NOW - timedelta(hours=1)),
    )
    assert [r.first_line for r in listed(shop)] == ["New question", "Old question"]
    assert [r.first_line for r in listed(shop, sort="longest")] == ["Old question", "New question"]
    assert [r.first_line for r in listed(shop, older_than=waiting.parse_duration("2d"))] == [
        "Old question"
    ]
    with pytest.raises(UserFacingError):
        waiting.parse_duration("two days")


def test_merge_carries_the_wait_and_the_reply(shop: Database) -> None:
    # A question from an address nobody linked to Jane yet; the answer went to Jane's phone.
    put(shop, mail("q7", "jane.work@example.com", SHOP, "Invoice please?", T0))
    put(shop, wa("a7", "shop", "Sent!", T0 + timedelta(hours=1)))
    assert len(listed(shop)) == 1
    survivor = jane(shop)  # read before the write below: one writer at a time
    with shop.session() as session:
        other = queries.resolve_customer(session, "jane.work@example.com")
        from app import merges

        merges.merge_customers(session, survivor, other, reason="test")
    assert listed(shop) == []


def day_by_day(
    hours: opening_hours.OpeningHours, day: date, start: datetime, end: datetime, tz: ZoneInfo
) -> int:
    """Open seconds of one day within [start, end], counted the plain way."""
    acc = 0
    for a, b in hours.days[day.weekday()]:
        lo = max(datetime.combine(day, time(a // 60, a % 60), tzinfo=tz), start)
        hi = min(datetime.combine(day, time(b // 60, b % 60), tzinfo=tz), end)
        acc += max(0, int((hi - lo).total_seconds()))
    return acc


def test_opening_hours_count_only_working_time(shop: Database) -> None:
    hours = opening_hours.parse("Mon-Fri 09:00-17:30; Sat 10:00-14:00")
    assert hours.text() == "Mon-Fri 09:00-17:30; Sat 10:00-14:00"
    tz = ZoneInfo("Europe/London")
    fri_evening = datetime(2026, 3, 6, 18, 0, tzinfo=tz)
    mon_ten = datetime(2026, 3, 9, 10, 0, tzinfo=tz)
    assert hours.working_seconds(fri_evening, mon_ten, tz) == 4 * 3600 + 3600  # Sat + Mon
    # Long spans take the whole-week shortcut and agree with day-by-day counting.
    start, end = datetime(2026, 1, 5, 12, 0, tzinfo=tz), datetime(2026, 3, 20, 12, 0, tzinfo=tz)
    weekly = 5 * 8.5 * 3600 + 4 * 3600
    assert hours.working_seconds(start, end, tz) == sum(
        day_by_day(hours, start.date() + timedelta(days=i), start, end, tz) for i in range(75)
    )
    assert hours.weekly_seconds == weekly
    for bad in (
        "Mon-Fri 9-5",
        "Funday 09:00-10:00",
        "Mon 10:00-09:00",
        "Mon 09:00-12:00, 11:00-13:00",
    ):
        with pytest.raises(UserFacingError):
            opening_hours.parse(bad)
    put(shop, mail("q8", JANE_MAIL, SHOP, "Hello?", T0))
    assert listed(shop)[0].waited_working_seconds is None
    with shop.session() as session:
        settings.set_value(session, "opening_hours", "mon-fri 09:00-17:00")
    # Monday 09:00 UTC (09:00 London) to Thursday 09:00: three working days.
    assert listed(shop)[0].waited_working_seconds == 3 * 8 * 3600


def test_language_is_stored_once_at_import(shop: Database) -> None:
    put(
        shop,
        mail(
            "de", JANE_MAIL, SHOP, "Hallo, wann kommt meine Bestellung? Ich warte schon lange.", T0
        ),
        mail("short", JANE_MAIL, SHOP, "ok", T0 + timedelta(minutes=1)),
    )
    from sqlalchemy import select

    from app.models import Event

    with shop.session() as session:
        langs = dict(session.execute(select(Event.external_id, Event.language)).all())
    assert langs["de"] == "de" and langs["short"] is None and langs["#1001"] is None
    put(shop, mail("fr", "ann@example.com", SHOP, "Bonjour, livrez-vous le dimanche à Paris ?", T0))
    assert [r.first_line for r in listed(shop, language="fr")] == [
        "Bonjour, livrez-vous le dimanche à Paris ?"
    ]
    assert listed(shop, language="de") == []  # Jane's latest message ("ok") has none


# --- the brief ------------------------------------------------------------------------------


def test_brief_across_channels(shop: Database) -> None:
    put(
        shop,
        order("#1002", T0 + timedelta(days=1), fulfillment="fulfilled", refunded="42.50"),
        wa("b1", "jane", "Hi! Where is my order? It was a birthday present for my mum.", T0),
        wa("b2", "shop", "On its way", T0 + timedelta(hours=1)),
        mail(
            "b3",
            JANE_MAIL,
            SHOP,
            "Hello,\nThe tulips arrived wilted. Can I have a refund?\n> quoted old text?",
            NOW - timedelta(hours=5),
        ),
    )
    with shop.session() as session:
        b = brief.build(session, jane(shop), now=NOW)
    first, second, third = b.lines
    assert first.startswith("Jane Doe · customer since 31 Jan 2026 · 2 orders, £42.50")
    assert "writes by" in first and "in English" in first
    assert b.language == "en" and b.order_count == 2
    assert second.startswith("Last contact 5 Mar 2026, 04:00 by email (from them).")
    assert "“Can I have a refund?”" in second
    assert b.waiting is not None and b.waiting["quote"] == "Can I have a refund?"
    assert third == (
        "Last bought 2 × Tulips and 1 more (#1002, £42.50) on 3 Mar 2026: refunded, fulfilled."
    )
    # show --json keeps the lines' wording as it always was (a contract); the GUI, the PDF
    # and the CLI's text write them through app.formatting.
    json_first, json_second, json_third = b.as_json()["lines"]
    assert json_first.startswith("Jane Doe · customer since 31 Jan 2026 · 2 orders, 42.50 GBP")
    assert json_second.startswith("Last contact 5 Mar 2026 04:00 by email (from them).")
    assert json_third == (
        "Last bought 2 × Tulips and 1 more (#1002, 42.50 GBP) on 3 Mar 2026: refunded, fulfilled."
    )
    # Deterministic: the same data gives the same brief.
    with shop.session() as session:
        assert brief.build(session, jane(shop), now=NOW) == b


def test_brief_with_nothing_waiting_and_no_orders(shop: Database) -> None:
    put(shop, mail("x1", "ann@example.com", SHOP, "Thanks so much for the flowers", T0))
    put(shop, mail("x2", SHOP, "ann@example.com", "You are welcome", T0 + timedelta(hours=1)))
    with shop.session() as session:
        cid = queries.resolve_customer(session, "ann@example.com")
        b = brief.build(session, cid, now=NOW)
    assert b.lines[1] == "Last contact 2 Mar 2026, 10:00 by email (from you). Nothing unanswered."
    assert b.lines[2] == "Has bought nothing yet."
    assert b.waiting is None and b.last_order is None


def test_brief_on_the_demo(
    db: Database, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    load_demo(db)
    with db.session() as session:
        zoe = queries.resolve_customer(session, "zoe.mueller@example.de")
        b = brief.build(session, zoe, now=datetime(2026, 3, 8, 12, 0, tzinfo=UTC))
        jane_b = brief.build(session, queries.resolve_customer(session, "jane.doe@gmail.com"))
    assert b.lines[0] == (
        "Zoë Müller · customer since 6 Mar 2026 · 1 order, €51.00 · writes by email · in German"
    )
    assert "liefern Sie auch nach München?" in b.lines[1]
    assert (
        b.lines[2]
        == "Last bought Pressed flower frame (#1005, €51.00) on 7 Mar 2026: paid, fulfilled."
    )
    assert jane_b.order_count == 2 and len(jane_b.lines) == 3


def test_cli_waiting_and_show_brief(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    load_demo(db)
    url = db.url.removeprefix("sqlite:///")
    db.dispose()
    assert cli.main(["--db", url, "waiting", "--json", "--sort", "longest"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and set(rows[0]) >= {
        "customer_id", "customer_name", "channel", "waiting_since", "waited_seconds",
        "first_line", "event_id",
    }  # fmt: skip
    assert [r["waiting_since"] for r in rows] == sorted(r["waiting_since"] for r in rows)
    cid = str(rows[0]["customer_id"])
    assert cli.main(["--db", url, "answered", cid]) == 0
    assert cli.main(["--db", url, "waiting", "--json"]) == 0
    assert cid not in {
        str(r["customer_id"]) for r in json.loads(capsys.readouterr().out.split("\n", 1)[1])
    }
    assert cli.main(["--db", url, "answered", cid, "--undo"]) == 0
    assert cli.main(["--db", url, "snooze", cid, "--until", "2d", "--json"]) == 0
    capsys.readouterr()
    assert cli.main(["--db", url, "waiting", "--json"]) == 0
    assert cid not in {str(r["customer_id"]) for r in json.loads(capsys.readouterr().out)}
    assert cli.main(["--db", url, "snooze", cid, "--undo"]) == 0
    assert cli.main(["--db", url, "waiting", "--older-than", "soon"]) == 2
    capsys.readouterr()
    assert cli.main(["--db", url, "show", cid, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert set(shown) == {"customer", "events", "notes", "brief"}
    assert len(shown["brief"]["lines"]) == 3 and shown["brief"]["waiting"] is not None


def test_upgrade_fills_the_waiting_list_and_languages(tmp_path: object) -> None:
    """A database written before revision 0010 answers at once after the upgrade."""
    from pathlib import Path

    from alembic import command
    from sqlalchemy import create_engine, text

    from app.db import _alembic_config, open_database

    path = Path(str(tmp_path)) / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0009")
        conn.execute(
            text(
                "INSERT INTO customer (id, display_name, event_count, created_at)"
                " VALUES (1, 'Ann', 1, '2026-03-02 09:00:00.000000')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO identity (id, kind, platform, value, raw, match_key, search_digits,"
                " display_name, is_own, shared, line_type, first_seen_source)"
                " VALUES (1, 'email', '', 'ann@example.com', '', '', '', '', 0, 0, '', '')"
            )
        )
        conn.execute(text("INSERT INTO customer_identity VALUES (1, 1)"))
        conn.execute(
            text(
                "INSERT INTO event (id, channel, source, external_id, occurred_at, direction,"
                " title, body, details, content_hash, locator, created_at) VALUES (1, 'email',"
                " 'email', 'm1', '2026-03-02 09:00:00.000000', 'inbound', 'Frage',"
                " 'Guten Tag, können Sie die Blumen morgen nach Berlin liefern?', '{}', '', '',"
                " '2026-03-02 09:00:00.000000')"
            )
        )
        conn.execute(text("INSERT INTO event_participant VALUES (1, 1, 'from', 'Ann')"))
    engine.dispose()
    db = open_database(path)
    try:
        with db.session() as session:
            (row,) = waiting.waiting(session, now=NOW)
            assert (row.customer_id, row.event_id) == (1, 1)
            lang = session.execute(text("SELECT language FROM event WHERE id = 1")).scalar()
            assert lang == "de"
    finally:
        db.dispose()
