"""An inbox alone tells whose mail it is: the mailbox a message was delivered to (its
``Delivered-To`` header, added by the receiving server) is the owner's address, so the
owner does not become a customer holding every message when no Sent mail is imported."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from app import ingest
from app.db import Database
from app.models import Event
from app.records import MAILBOX_MESSAGES, OwnerHint
from app.service import Service
from connectors.mail import MAX_MAILBOX_HINTS, MailReader, delivered_to


def _message(sender: str, number: int, delivered: str | None) -> bytes:
    head = f"Delivered-To: {delivered}\n" if delivered else ""
    head += (
        f"From: {sender}\nTo: Bloom & Branch <hello@shop.example>\n"
        f"Subject: Order {number}\nDate: Sat, 0{number} Mar 2025 10:00:00 +0000\n"
        f"Message-ID: <m{number}@customer.example>\n\n"
    )
    return (head + f"About order {number}.\n").encode()


def _mbox(path: Path, delivered: str | None, count: int = 3) -> Path:
    senders = ["Jane Doe <jane@customer.example>", "Tom Baker <tom@bakers.example>"]
    with path.open("wb") as out:
        for number, sender in enumerate([*senders, senders[0]][:count], start=1):
            out.write(b"From MAILER-DAEMON Sat Mar  1 10:00:00 2025\n")
            out.write(_message(sender, number, delivered) + b"\n")
    return path


def test_delivered_to_reads_the_topmost_header_of_the_message_itself() -> None:
    # Gmail and Postfix add one at each delivery: the topmost is the mailbox it reached.
    forwarded = (
        b"Delivered-To: owner@gmail.example\r\nDelivered-To: hello@shop.example\r\n"
        b"From: jane@customer.example\r\n\r\nHi"
    )
    assert delivered_to(forwarded) == "owner@gmail.example"
    assert delivered_to(b"From: a@b.example\nDELIVERED-TO: Shop <hello@shop.example>\n\nx") == (
        "hello@shop.example"
    )
    # Not the body's, nor an attached message's, nor another header's; an address or none.
    assert delivered_to(b"From: a@b.example\n\nDelivered-To: me@else.example\n") is None
    assert delivered_to(b"X-Delivered-To: me@else.example\nFrom: a@b.example\n\nx") is None
    assert delivered_to(b"Delivered-To: nobody in particular\n\nx") is None
    # A copy delivered to the list itself (an archive of the list) names no one's mailbox.
    archived = (
        b"Delivered-To: notmuch@notmuchmail.org\nList-Post: <mailto:notmuch@notmuchmail.org>\n"
    )
    assert delivered_to(archived + b"\nx") is None
    assert delivered_to(b"Delivered-To: mailing list dev@tika.apache.org\n\nx") is None
    subscribed = b"Delivered-To: hello@shop.example\nList-Post: <mailto:news@list.example>\n"
    assert delivered_to(subscribed + b"\nx") == "hello@shop.example"
    assert delivered_to(b"From: a@b.example\n\nx") is None


def test_an_inbox_alone_makes_its_mailbox_the_owners(db: Database, tmp_path: Path) -> None:
    report = ingest.import_file(db, _mbox(tmp_path / "Inbox", "hello@shop.example"))
    assert (report.added, report.notices) == (
        3,
        ["recognised hello@shop.example as your own email"],
    )
    customers = Service(db).all_customers()
    assert sorted((c.name, c.emails, c.event_count) for c in customers) == [
        ("Jane Doe", ("jane@customer.example",), 2),
        ("Tom Baker", ("tom@bakers.example",), 1),
    ]
    with db.session() as session:
        assert set(session.scalars(select(Event.direction))) == {"inbound"}


def test_without_the_header_the_mailbox_stays_unknown(db: Database, tmp_path: Path) -> None:
    # (Then the owner's address is a customer until File → Settings names it as yours.)
    report = ingest.import_file(db, _mbox(tmp_path / "Inbox", None))
    assert (report.added, report.notices) == (3, [])
    emails = sorted(e for c in Service(db).all_customers() for e in c.emails)
    assert emails == ["hello@shop.example", "jane@customer.example", "tom@bakers.example"]


def test_one_source_names_a_few_mailboxes_at_most() -> None:
    # A mailbox has an address or two; a source whose messages name many (a forged header
    # on top where the server adds none) hints only the first few, each as often as the
    # import needs to take it for the owner's, so an import never re-marks every contact
    # point once per message.
    reader = MailReader()
    hints = []
    for number in range(1, 8):
        raw = _message("Jane Doe <jane@customer.example>", number, f"box{number}@shop.example")
        for copy in range(3):
            items = reader.items(raw, f"m{number}.{copy}")
            hints += [(i.value, i.delivered) for i in items if isinstance(i, OwnerHint)]
    mailboxes = [f"box{n}@shop.example" for n in range(1, MAX_MAILBOX_HINTS + 1)]
    assert hints == [(box, True) for box in mailboxes for _ in range(MAILBOX_MESSAGES)]


def test_one_message_delivered_to_a_mailbox_does_not_make_it_the_owners(
    db: Database, tmp_path: Path
) -> None:
    # A message saved as a file was often delivered to someone else: a customer's mail they
    # sent on, a colleague's. Its mailbox is a person like any other, not the owner.
    report = ingest.import_file(db, _mbox(tmp_path / "One", "hello@shop.example", count=1))
    assert (report.added, report.notices) == (1, [])
    emails = sorted(e for c in Service(db).all_customers() for e in c.emails)
    assert emails == ["hello@shop.example", "jane@customer.example"]
    assert Service(db).owner_contacts().emails == ()


def test_single_message_files_each_delivered_elsewhere_name_no_owner(
    db: Database, tmp_path: Path
) -> None:
    # A folder of .eml files from here and there (each a message to its own mailbox).
    folder = tmp_path / "saved"
    folder.mkdir()
    for number, box in enumerate(["ann@one.example", "bob@two.example", "cy@three.example"], 1):
        (folder / f"m{number}.eml").write_bytes(
            _message(f"Sender {number} <s{number}@else.example>", number, box)
        )
    reports = ingest.import_paths(db, [folder])
    assert [(r.added, r.notices) for r in reports] == [(1, [])] * 3
    assert Service(db).owner_contacts().emails == ()
    emails = sorted(e for c in Service(db).all_customers() for e in c.emails)
    assert emails == [
        "hello@shop.example",
        "s1@else.example",
        "s2@else.example",
        "s3@else.example",
    ]


def test_message_files_delivered_to_one_mailbox_make_it_the_owners(
    db: Database, tmp_path: Path
) -> None:
    # Messages saved from one's own inbox, a file each: the second names the mailbox again,
    # and the first file's message is then the owner's too (its contact points re-marked).
    folder = tmp_path / "saved"
    folder.mkdir()
    senders = ["Jane Doe <jane@customer.example>", "Tom Baker <tom@bakers.example>"]
    for number, sender in enumerate(senders, 1):
        (folder / f"m{number}.eml").write_bytes(_message(sender, number, "hello@shop.example"))
    reports = ingest.import_paths(db, [folder])
    assert [(r.added, r.notices) for r in reports] == [
        (1, []),
        (1, ["recognised hello@shop.example as your own email"]),
    ]
    assert Service(db).owner_contacts().emails == ("hello@shop.example",)
    customers = Service(db).all_customers()
    assert sorted((c.name, c.emails) for c in customers) == [
        ("Jane Doe", ("jane@customer.example",)),
        ("Tom Baker", ("tom@bakers.example",)),
    ]
