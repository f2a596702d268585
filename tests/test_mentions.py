"""Mentions: a message that names another customer's order, address or number is a reason
to suggest the two as one person, never an automatic link."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, select

from app import db as app_db
from app import merges
from app import suggestions as sx
from app.db import Database, open_database
from app.ingest import import_items
from app.mentions import extract, order_key
from app.models import Mention
from app.records import EventRecord, OrderInfo, Participant
from app.suggestions import DEFAULT_MIN_SCORE, suggestions

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def test_order_numbers_addresses_and_numbers_are_found() -> None:
    text = (
        "Hi, where is my order #1043? Also Order No: 1044 and order number W-2210.\n"
        "Write to Jane.Doe@Example.com please.\n--\nJane Doe\nMobile: 07700 900123\n"
        "Call me before 12 on 3/4, flat 2."
    )
    found = set(extract(text, "GB"))
    assert ("order", "1043") in found
    assert ("order", "1044") in found
    assert ("order", "W-2210") in found
    assert ("email", "jane.doe@example.com") in found
    assert ("phone", "+447700900123") in found
    assert len([k for k, _ in found if k == "phone"]) == 1


def test_short_numbers_and_plain_prose_mention_nothing() -> None:
    assert list(extract("Room #12, 3 roses for 25 pounds, see you at 10:30", "GB")) == []
    assert order_key("# 1043") == order_key("1043") == "1043"


def test_a_message_quoting_many_orders_keeps_only_the_first_few() -> None:
    text = " ".join(f"#{n}" for n in range(1000, 1020))
    assert len(list(extract(text, "GB"))) == 5


def _chat(phone: str, name: str, text: str, n: int) -> EventRecord:
    return EventRecord(
        channel="chat",
        source="whatsapp",
        external_id=f"c{n}",
        occurred_at=T0 + timedelta(minutes=n),
        title="",
        text=text,
        participants=(Participant("author", name, phone=phone, platform="whatsapp"),),
    )


def _mail(name: str, email: str, text: str, n: int) -> EventRecord:
    return EventRecord(
        channel="email",
        source="email",
        external_id=f"m{n}",
        occurred_at=T0 + timedelta(minutes=n),
        title="Question",
        text=text,
        participants=(Participant("from", name, email=email),),
    )


def _order(number: str, name: str, email: str, n: int) -> EventRecord:
    return EventRecord(
        channel="order",
        source="shopify",
        external_id=number,
        occurred_at=T0 + timedelta(minutes=n),
        title=f"Order {number}",
        text="",
        participants=(Participant("buyer", name, email=email, platform="shopify"),),
        order=OrderInfo(number=number, currency="GBP", total=Decimal("40.00")),
    )


def _pair_reasons(
    db: Database, items: list[EventRecord]
) -> dict[frozenset[str], tuple[float, tuple[str, ...]]]:
    """Import ``items``; every scored pair by its two names."""
    import_items(db, lambda: items, label="t", format="t")
    with db.session() as s:
        return {
            frozenset((x.name_a, x.name_b)): (x.score, x.reasons + x.against)
            for x in suggestions(s, min_score=0.0)
        }


def test_a_nameless_chat_about_an_order_is_suggested_with_its_buyer(db: Database) -> None:
    items = [
        _order("#1043", "Jane Doe", "jane@example.com", 1),
        _chat("+44 7700 900555", "", "Hi, any news on order 1043? Thanks", 2),
        _mail("Sam Lee", "sam@example.org", "Hello, a question about opening hours", 3),
    ]
    found = _pair_reasons(db, items)
    score, reasons = found[frozenset(("Jane Doe", ""))]
    assert "one mentions the other's order #1043" in reasons
    assert score >= 0.5
    with db.session() as s:
        # a suggestion only: the chat stays its own customer until someone merges it
        (pair,) = [x for x in suggestions(s) if "Jane Doe" in (x.name_a, x.name_b)]
        assert pair.customer_a != pair.customer_b
        assert not any("Sam Lee" in (x.name_a, x.name_b) for x in suggestions(s))


def test_an_address_given_in_a_chat_and_a_number_in_a_signature(db: Database) -> None:
    items = [
        _mail("Priya Shah", "priya.shah@example.com", "Hello", 1),
        _chat("+44 7700 900666", "", "my email is priya.shah@example.com", 2),
        _mail("P. Shah", "pshah@work.example", "Thanks\n--\nPriya\nM: +44 7700 900666", 3),
    ]
    found = _pair_reasons(db, items)
    _, chat_reasons = found[frozenset(("Priya Shah", ""))]
    assert "one gives the other's address priya.shah@example.com" in chat_reasons
    _, sig_reasons = found[frozenset(("P. Shah", ""))]
    assert "one gives the other's number +447700900666" in sig_reasons


def test_writing_about_a_family_members_order_is_not_enough(db: Database) -> None:
    items = [
        _order("#2001", "Jane Doe", "jane@example.com", 1),
        _mail("Tom Doe", "tom@example.net", "Has my wife's order #2001 shipped?", 2),
    ]
    score, reasons = _pair_reasons(db, items)[frozenset(("Jane Doe", "Tom Doe"))]
    assert "names differ" in reasons
    assert score < DEFAULT_MIN_SCORE  # below the review list, whatever the calibration
    with db.session() as s:
        assert suggestions(s) == []


def test_a_rejected_mention_pair_stays_rejected(db: Database) -> None:
    items = [
        _order("#3001", "Ann Bell", "ann@example.com", 1),
        _chat("+44 7700 900777", "", "order #3001 please", 2),
    ]
    import_items(db, lambda: items, label="t", format="t")
    with db.session() as s:
        (pair,) = suggestions(s)
        merges.reject(s, pair.customer_a, pair.customer_b)
    with db.session() as s:
        assert suggestions(s, min_score=0.0) == []


def test_upgrading_an_older_database_reads_its_messages_once(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    cfg = app_db._alembic_config()
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
    engine.dispose()
    con = sqlite3.connect(path)
    con.execute(
        "INSERT INTO event (id, channel, source, external_id, occurred_at, direction, title, "
        "body, details, content_hash, locator, created_at) VALUES (1, 'chat', 'whatsapp', "
        "'x1', '2026-05-01 09:00:00', 'inbound', '', 'about order #1043', '{}', '', '', "
        "'2026-05-01 09:00:00')"
    )
    con.commit()
    con.close()
    db = open_database(path)
    with db.session() as s:
        rows = s.execute(select(Mention.event_id, Mention.kind, Mention.value)).all()
    db.dispose()
    assert rows == [(1, "order", "1043")]


def test_order_key_reads_every_character_as_the_regular_expression_does() -> None:
    import re

    # The ASCII fast path drops what ``[\s#]`` matches, no more, no less.
    texts = ["".join(chr(i) for i in range(128)), "# 10 43", "ab-12\t3\n", "#1043\xa0x", "ß12"]
    texts += [f"{chr(i)}1{chr(i)}2" for i in range(256)]
    for text in texts:
        assert order_key(text) == re.sub(r"[\s#]", "", text).upper(), repr(text)


def test_the_catch_up_finds_orders_whose_numbers_sql_cannot_key(store: Database) -> None:
    # The catch-up finds a mentioned order by an index of its number's key as SQL spells
    # it (spaces and "#" dropped, capitals): right for numbers of printable ASCII alone.
    # A tab, a no-break space or full-width digits in a number are keyed as ``order_key``
    # keys them, so the mentions kept up to date still equal a recount.
    from app import suggestion_store
    from app.models import SuggestionCustomer

    numbers = ["ab 1043", "cd\t2044", "#\uff13\uff10\uff14\uff15", "ef\xa03046", "#gh-4047"]
    buyers = [("Jane Doe", "jane"), ("Ann Smith", "ann"), ("Tom Brown", "tom")]
    buyers += [("Priya Shah", "priya"), ("Omar Khan", "omar")]
    orders = [
        _order(number, name, f"{user}@example.com", n)
        for n, (number, (name, user)) in enumerate(zip(numbers, buyers, strict=True))
    ]
    import_items(store, lambda: orders, label="orders", format="t")
    with store.session() as s:
        suggestion_store.rebuild(s)
    asked = ["AB1043", "CD2044", "#\uff13\uff10\uff14\uff15", "EF3046", "GH-4047"]
    chats = [
        _chat(f"+44 7700 90{n:04d}", "", f"Hi, any news on order {key}? Thanks", 10 + n)
        for n, key in enumerate(asked)
    ]
    import_items(store, lambda: chats, label="chats", format="t")
    with store.session() as s:
        assert suggestion_store.catch_up(s, small=0, drift=100.0) == "updated"
        state = suggestion_store._state(s)
        assert state is not None
        known = set(s.scalars(select(SuggestionCustomer.customer_id)))
        assert state.mentions == sx._mentions(s, known)
        said = sorted(word for words in state.mentions.values() for word in words)
    keys = [order_key(number) for number in numbers]
    assert keys == ["AB1043", "CD2044", "\uff13\uff10\uff14\uff15", "EF3046", "GH-4047"]
    assert said == sorted(f"one mentions the other's order #{key}" for key in keys)
