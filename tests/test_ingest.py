"""The write path: idempotence, identity linking across channels, owners, problems, updates."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from app import identity, queries, settings
from app.db import Database
from app.ingest import import_items
from app.records import (
    EventRecord,
    Item,
    OrderInfo,
    OrderLine,
    OwnerHint,
    Participant,
    Problem,
)

T0 = datetime(2026, 3, 1, 9, 15, tzinfo=UTC)


def mail(msg_id: str, sender: str, to: str, subject: str, at: datetime = T0) -> EventRecord:
    return EventRecord(
        channel="email",
        source="email",
        external_id=msg_id,
        occurred_at=at,
        title=subject,
        text=f"Body of {subject}",
        participants=(
            Participant("from", "Jane Doe", email=sender),
            Participant("to", "Shop", email=to),
        ),
        locator=f"mail.mbox:{msg_id}",
    )


def chat(key: str, author: str, phone: str | None, text: str, at: datetime = T0) -> EventRecord:
    return EventRecord(
        channel="chat",
        source="whatsapp",
        external_id=key,
        occurred_at=at,
        title="Jane",
        text=text,
        participants=(
            Participant(
                "author", author, phone=phone, handle=None if phone else author, platform="whatsapp"
            ),
        ),
    )


def order(number: str, email: str, phone: str, total: str, status: str = "paid") -> EventRecord:
    return EventRecord(
        channel="order",
        source="shopify",
        external_id=number,
        occurred_at=T0,
        title=f"Order {number}",
        text="1 × Bouquet",
        participants=(
            Participant("buyer", "Jane Doe", email=email, phone=phone, platform="shopify"),
        ),
        order=OrderInfo(
            number=number,
            currency="GBP",
            total=Decimal(total),
            financial_status=status,
            lines=(OrderLine("Bouquet", 1, Decimal(total)),),
        ),
    )


def run(db: Database, items: list[Item]) -> tuple[int, int, int, int]:
    report = import_items(db, lambda: items, label="test", format="test")
    return report.added, report.duplicates, report.updated, len(report.problems)


def test_same_person_across_channels_is_one_customer(db: Database) -> None:
    with db.session() as s:
        settings.set_value(s, "owner_emails", "hello@bloom.example")
    items: list[Item] = [
        mail("a@x", "Jane.Doe@Gmail.com", "hello@bloom.example", "Question about my order"),
        chat("c1", "Jane", "+44 7700 900123", "Hi, is it ready?"),
        order("#1001", "jane.doe@gmail.com", "07700 900123", "57.51"),
    ]
    assert run(db, items) == (3, 0, 0, 0)
    with db.session() as s:
        customers = queries.list_customers(s)
        assert len(customers) == 1
        jane = customers[0]
        assert jane.name == "Jane Doe"
        assert jane.emails == ("jane.doe@gmail.com",)
        assert jane.phones == ("+447700900123",)
        assert jane.event_count == 3
        assert jane.orders.count == 1
        assert jane.orders.totals == {"GBP": Decimal("57.51")}
        assert {e.channel for e in queries.timeline(s, jane.id)} == {"email", "chat", "order"}


def test_reimport_adds_nothing(db: Database) -> None:
    items: list[Item] = [mail("a@x", "jane@example.com", "shop@example.com", "Hello")]
    assert run(db, items) == (1, 0, 0, 0)
    assert run(db, items) == (0, 1, 0, 0)


def test_owner_address_never_links_two_customers(db: Database) -> None:
    with db.session() as s:
        settings.set_value(s, "owner_emails", "shop@example.com")
    run(
        db,
        [
            mail("1@x", "jane@example.com", "shop@example.com", "A"),
            mail("2@x", "bob@example.com", "shop@example.com", "B"),
        ],
    )
    with db.session() as s:
        assert queries.count_customers(s) == 2


def test_owner_set_after_import_fixes_directions_and_customers(db: Database) -> None:
    run(
        db,
        [
            EventRecord(
                channel="email",
                source="email",
                external_id="3@x",
                occurred_at=T0,
                title="Re: A",
                text="Thanks!",
                participants=(
                    Participant("from", "Shop", email="shop@example.com"),
                    Participant("to", "Jane", email="jane@example.com"),
                ),
            ),
            mail("4@x", "bob@example.com", "shop@example.com", "B"),
        ],
    )
    with db.session() as s:
        # Both messages share shop@ but in different participants: still two + the shop.
        assert queries.count_customers(s) == 3
        settings.set_value(s, "owner_emails", "shop@example.com")
        identity.apply_owner_settings(s)
    with db.session() as s:
        names = sorted(c.emails[0] for c in queries.list_customers(s))
        assert names == ["bob@example.com", "jane@example.com"]
        jane = queries.resolve_customer(s, "jane@example.com")
        assert [e.direction for e in queries.timeline(s, jane)] == ["outbound"]


def test_owner_hint_seeds_settings_and_marks_outbound(db: Database) -> None:
    items: list[Item] = [
        OwnerHint("name", "Bloom Shop"),
        chat("k1", "Bloom Shop", None, "Your order shipped"),
        chat("k2", "Jane", None, "Thanks"),
    ]
    run(db, items)
    with db.session() as s:
        assert settings.get_list(s, "owner_names") == ["Bloom Shop"]
        assert queries.count_customers(s) == 1


def test_name_alone_never_merges(db: Database) -> None:
    run(
        db,
        [
            mail("5@x", "jane1@example.com", "s@example.com", "A"),
            mail("6@x", "jane2@example.com", "s@example.com", "B"),
        ],
    )
    with db.session() as s:
        # Same display name "Jane Doe", different addresses: two Janes (+ s@example.com).
        janes = [c for c in queries.list_customers(s) if c.name == "Jane Doe"]
        assert len(janes) == 2


def test_problems_are_recorded_and_rest_goes_on(db: Database) -> None:
    items: list[Item] = [
        Problem("orders.csv:7", "amount '12,x' is not a number"),
        order("#1002", "kim@example.com", "", "10.00"),
        EventRecord(
            channel="email",
            source="email",
            external_id="naive",
            title="x",
            text="",
            occurred_at=datetime(2026, 1, 1),
        ),  # naive: refused, recorded
    ]
    added, _dups, _upd, problems = run(db, items)
    assert added == 1
    assert problems == 2


def test_changed_order_is_updated_not_duplicated(db: Database) -> None:
    run(db, [order("#2001", "kim@example.com", "", "40.00", status="paid")])
    assert run(db, [order("#2001", "kim@example.com", "", "40.00", status="refunded")]) == (
        0,
        0,
        1,
        0,
    )
    with db.session() as s:
        kim = queries.resolve_customer(s, "kim@example.com")
        (event,) = queries.timeline(s, kim)
        assert event.order is not None and event.order.financial_status == "refunded"
        assert event.details["previous"]["financial_status"] == "paid"


def test_search_finds_text_and_order_numbers(db: Database) -> None:
    run(
        db,
        [
            mail("7@x", "jane@example.com", "s@example.com", "Periwinkle ribbons"),
            order("#3001", "jane@example.com", "", "12.00"),
        ],
    )
    with db.session() as s:
        hits = queries.search(s, "periwink")
        assert [h.title for h in hits] == ["Periwinkle ribbons"]
        assert "\x02Periwinkle\x03" in hits[0].snippet or "\x02" in hits[0].snippet
        assert queries.list_customers(s, "3001")[0].emails == ("jane@example.com",)
        assert queries.list_customers(s, "#3001")[0].emails == ("jane@example.com",)
        assert queries.search(s, "3001")[0].channel == "order"


def test_preview_reads_without_writing(db: Database, tmp_path: object) -> None:
    from pathlib import Path

    from app.ingest import preview_file

    chat = Path(str(tmp_path)) / "WhatsApp Chat with Jane.txt"
    chat.write_text(
        "01/03/2026, 17:58 - Jane: Hi there\n"
        "01/03/2026, 18:02 - Bloom: Hello Jane\n"
        "02/03/2026, 09:00 - Jane: Thanks!\n",
        encoding="utf-8",
    )
    preview = preview_file(db, chat, limit=2)
    assert preview.format == "whatsapp"
    assert [r.text for r in preview.records] == ["Hi there", "Hello Jane"]
    assert preview.authors == ["Jane", "Bloom"]
    assert [h.value for h in preview.owner_hints] == ["Bloom"]
    with db.session() as s:
        assert queries.count_customers(s) == 0
        assert settings.get_list(s, "owner_names") == []


def test_owner_hints_can_be_ignored(db: Database) -> None:
    items: list[Item] = [OwnerHint("name", "Jane"), chat("h1", "Jane", None, "Hello")]
    import_items(db, lambda: items, label="t", format="t", owner_hints=False)
    with db.session() as s:
        assert settings.get_list(s, "owner_names") == []
        assert queries.count_customers(s) == 1


def test_automated_senders_are_not_customers_unless_asked(db: Database) -> None:
    def notice(key: str) -> EventRecord:
        return EventRecord(
            channel="email",
            source="email",
            external_id=key,
            occurred_at=T0,
            title="Your parcel",
            text="Tracking…",
            participants=(Participant("from", "Courier", email="no-reply@courier.example"),),
            details={"automated": True},
        )

    run(db, [notice("n1")])
    with db.session() as s:
        assert queries.count_customers(s) == 0
        settings.set_value(s, "automated_customers", "yes")
        assert identity.link_unlinked(s) == 1  # what was imported before joins too
    run(db, [notice("n2")])
    with db.session() as s:
        (courier,) = queries.list_customers(s)
        assert courier.emails == ("no-reply@courier.example",) and courier.event_count == 2
