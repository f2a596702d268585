"""The write path: idempotence, identity linking across channels, owners, problems, updates."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from app import identity, queries, settings
from app.db import Database
from app.errors import UserFacingError
from app.ingest import import_file, import_items, import_paths, preview_file
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


# --- one bad file never stops the rest ---------------------------------------------------

_MBOX = (
    b"From jane@example.com Mon Jan  1 00:00:00 2024\n"
    b"From: Jane <jane@example.com>\nTo: shop@example.com\nSubject: %s\n"
    b"Message-ID: <%s@example.com>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nHello\n"
)


def _mbox(path: Path, key: bytes) -> Path:
    path.write_bytes(_MBOX % (key, key))
    return path


def _telegram(number: str) -> str:
    message = {
        "id": "NUMBER",
        "type": "message",
        "date": "2024-01-01T10:00:00",
        "date_unixtime": "NUMBER",
        "from": "Jane",
        "from_id": "user7",
        "text": "hi",
    }
    chat = {"name": "Jane", "type": "personal_chat", "id": 7, "messages": [message]}
    return json.dumps(chat).replace('"NUMBER"', number)  # numbers, not strings


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("1" * 5000, "a number too large"),  # past Python's 4,300 digits
        ("9" * 400, "a number too large"),  # an epoch time no float can hold
    ],
)
def test_a_number_no_parser_takes_fails_its_file_alone(
    db: Database, tmp_path: Path, number: str, reason: str
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_result.json").write_text(_telegram(number), encoding="utf-8")
    _mbox(folder / "b.mbox", b"after")
    reports = import_paths(db, [folder])
    by_name = {Path(r.path).name: r for r in reports}
    bad = by_name["a_result.json"]
    assert bad.status == "failed"
    assert bad.error is not None and reason in bad.error
    assert "\n" not in bad.error and "set_int_max_str_digits" not in bad.error
    assert by_name["b.mbox"].added == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_a_fifo_is_never_opened(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    os.mkfifo(folder / "pipe.mbox")  # opening it would block for ever
    _mbox(folder / "ok.mbox", b"ok")
    reports = import_paths(db, [folder])  # met on the walk: said, not a failure
    assert [(Path(r.path).name, r.status) for r in reports] == [
        ("ok.mbox", "done"),
        ("pipe.mbox", "skipped"),
    ]
    assert reports[1].error is not None and "named pipe" in reports[1].error
    reports = import_paths(db, [folder / "pipe.mbox"])  # named by the user: a failure
    assert [r.status for r in reports] == ["failed"]
    with pytest.raises(UserFacingError, match="not a regular file"):
        import_file(db, folder / "pipe.mbox", format="mbox")
    with pytest.raises(UserFacingError, match="not a regular file"):
        preview_file(db, folder / "pipe.mbox")


def test_a_file_no_format_recognises_is_left_out_of_a_folder(db: Database, tmp_path: Path) -> None:
    # An export's photos, or any other file beside the data: met on the walk, left out and
    # said (status "skipped"); named by the user, a failure.
    folder = tmp_path / "in"
    folder.mkdir()
    _mbox(folder / "a.mbox", b"kept")
    (folder / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)))
    reports = import_paths(db, [folder])
    assert [(Path(r.path).name, r.status) for r in reports] == [
        ("a.mbox", "done"),
        ("b.jpg", "skipped"),
    ]
    assert "not a format Threadline recognises" in (reports[1].error or "")
    assert reports[0].added == 1
    reports = import_paths(db, [folder / "b.jpg"])
    assert [r.status for r in reports] == ["failed"]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero on this system")
def test_a_device_is_not_read(db: Database, tmp_path: Path) -> None:
    _mbox(tmp_path / "ok.mbox", b"dev")
    reports = import_paths(db, [Path("/dev/zero"), tmp_path / "ok.mbox"])
    assert reports[0].status == "failed" and "character device" in (reports[0].error or "")
    assert reports[1].added == 1


def test_a_file_name_that_is_not_utf8(db: Database, tmp_path: Path) -> None:
    try:
        bad = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9 \xff.mbox"))
        _mbox(bad, b"one")
    except (OSError, UnicodeError):
        pytest.skip("this file system takes only valid UTF-8 names")
    chat = Path(os.fsdecode(os.fsencode(tmp_path) + b"/WhatsApp Chat with J\xff.txt"))
    chat.write_text("01/02/2024, 10:00 - Jane: hello\n", encoding="utf-8")
    _mbox(tmp_path / "z.mbox", b"two")
    maildir = tmp_path / "Maildir"
    cur = Path(os.fsdecode(os.fsencode(maildir) + b"/.Ar\xffchive/cur"))
    cur.mkdir(parents=True)
    (maildir / "cur").mkdir()
    (cur / os.fsdecode(b"17000.M1.h\xfe:2,S")).write_bytes(_MBOX.split(b"\n", 1)[1] % (b"m", b"m"))
    reports = import_paths(db, [bad, chat, tmp_path / "z.mbox", maildir])
    assert [r.status for r in reports] == ["done", "done", "done", "done"]
    assert reports[0].path.endswith("caf\\xe9 \\xff.mbox")
    assert [r.added for r in reports] == [1, 1, 1, 1]
    json.dumps([r.as_json() for r in reports], ensure_ascii=False).encode("utf-8")
    with db.session() as session:
        texts = session.execute(text("SELECT path FROM import_run")).scalars().all()
        texts += session.execute(text("SELECT locator FROM event")).scalars().all()
        texts += session.execute(text("SELECT title FROM event")).scalars().all()
        texts += session.execute(text("SELECT details FROM event")).scalars().all()
        names = session.execute(text("SELECT name FROM event_participant")).scalars().all()
    for value in texts:
        value.encode("utf-8")  # storable and printable, no lone surrogates
    assert any(v.startswith("caf\\xe9 \\xff.mbox:") for v in texts)  # the mbox locator
    assert "Maildir/.Ar\\xffchive/cur/17000.M1.h\\xfe:2,S" in texts
    assert [str(n).encode("utf-8") for n in names]


def test_search_terms_are_deduplicated_and_bounded(db: Database) -> None:
    run(db, [mail("<q@x>", "jane@example.com", "shop@example.com", "Periwinkle ribbon")])
    assert queries.fts_query("ribbon Ribbon " * 300) == '"ribbon"*'
    assert len(queries.query_words(" ".join(f"w{n}" for n in range(500)))) == 32
    assert len(" ".join(queries.query_words("a" * 50_000 + " b"))) <= 1000
    with db.session() as session:
        assert len(queries.search(session, "periwinkle " * 5000)) == 1
        assert queries.list_customers(session, "j" * 50_000) == []


def test_a_partial_order_update_keeps_what_it_does_not_say(db: Database) -> None:
    """A later export that knows only part of an order (no buyer, no items, no address:
    an items file, a status report) changes what it says and nothing else: the order
    keeps its items, address and text, and is still found by its buyer."""
    from dataclasses import replace

    from sqlalchemy import select

    from app.models import Event

    full = replace(
        order("#1001", "ann.lee@example.com", "", "57.51"),
        text="1 × Bouquet @ 57.51\nTotal 57.51 GBP · paid",
        details={"shipping": {"street": "1 Rose Lane", "zip": "BS6 5AB"}, "notes": "Ring twice"},
    )
    later = EventRecord(
        channel="order",
        source="shopify",
        external_id="#1001",
        occurred_at=T0,
        title="Order #1001",
        text="Total GBP · paid · fulfilled",
        details={"shipping_method": "Courier"},
        order=OrderInfo(
            number="#1001",
            currency="GBP",
            total=None,
            financial_status="paid",
            fulfillment_status="fulfilled",
        ),
    )
    assert run(db, [full]) == (1, 0, 0, 0)
    assert run(db, [later]) == (0, 0, 1, 0)
    with db.session() as s:
        event = s.scalars(select(Event)).one()
        assert event.details["shipping"] == {"street": "1 Rose Lane", "zip": "BS6 5AB"}
        assert event.details["notes"] == "Ring twice"
        assert event.details["shipping_method"] == "Courier"
        assert event.body.splitlines() == [
            "1 × Bouquet @ 57.51",
            "Total 57.51 GBP · paid · fulfilled",
            "Shipping: Courier",
            "Notes: Ring twice",
        ]
        assert event.order is not None and event.order.fulfillment_status == "fulfilled"
        for query in ("ann.lee@example.com", "Lee", "bouquet", "twice"):
            assert [h.event_id for h in queries.search(s, query)] == [event.id], query
    # The same partial export again: nothing new, a duplicate.
    assert run(db, [later]) == (0, 1, 0, 0)


def test_what_an_unfinished_zip_import_left_is_deleted_by_the_next(
    db: Database, tmp_path: Path
) -> None:
    # An import killed while it read a zip left the files it took out in the data folder;
    # the next zip import deletes them (a day old), not another's (taken out just now).
    import time
    import zipfile

    from app.paths import data_dir

    base = data_dir() / "unzipping"
    old, fresh = base / "unzipped-old", base / "unzipped-running"
    for folder in (old, fresh):
        (folder / "messages").mkdir(parents=True)
        (folder / "messages" / "chat.json").write_text("{}", encoding="utf-8")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    download = tmp_path / "orders.zip"
    with zipfile.ZipFile(download, "w") as zf:
        zf.writestr("a.mbox", _MBOX % (b"zip", b"zip"))
    reports = import_paths(db, [download])
    assert [(r.path, r.status, r.added) for r in reports] == [(f"{download}/a.mbox", "done", 1)]
    assert sorted(p.name for p in base.iterdir()) == ["unzipped-running"]


def test_a_takeout_tgz_imports_its_mailbox_without_the_spam(db: Database, tmp_path: Path) -> None:
    # Google Takeout offers .tgz beside .zip: the mailbox inside is read as if unpacked,
    # and what Gmail labelled spam stays out of it.
    import io
    import tarfile

    mailbox = (_MBOX % (b"takeout", b"takeout")).replace(
        b"Subject:", b"X-Gmail-Labels: Inbox,Opened\nSubject:", 1
    )
    spam = (_MBOX % (b"spam", b"spam")).replace(b"Subject:", b"X-Gmail-Labels: Spam\nSubject:", 1)
    download = tmp_path / "takeout-20240101T000000Z-001.tgz"
    with tarfile.open(download, "w:gz") as tar:
        data = mailbox + b"\n" + spam
        info = tarfile.TarInfo("Takeout/Mail/All mail Including Spam and Trash.mbox")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    reports = import_paths(db, [download])
    assert [(Path(r.path).name, r.format, r.status, r.added) for r in reports] == [
        ("All mail Including Spam and Trash.mbox", "mbox", "done", 1)
    ]
    assert reports[0].path == f"{download}/Takeout/Mail/All mail Including Spam and Trash.mbox"
    assert any("Gmail marked as spam" in n for n in reports[0].notices)
