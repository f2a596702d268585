"""Apple Mail's own store: mailbox folders of ``.emlx`` messages, read where Mail.app keeps
them (``~/Library/Mail/V10``), beside its index and settings files."""

from __future__ import annotations

import plistlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db import Database
from app.ingest import import_paths
from app.models import Event
from app.records import EventRecord, Notice, OwnerHint, ParseOptions, Problem
from connectors import registry
from connectors.apple_mail import AppleMailConnector, mailbox_name, split_emlx

SHOP = "Bloom & Branch <hello@bloomandbranch.co.uk>"
ALICE = "Alice Smith <alice@example.org>"


def _mail(n: int, sender: str, to: str, subject: str, date: bool = True) -> bytes:
    when = f"Date: Mon, {n} Jan 2024 10:00:00 +0000\n" if date else ""
    return (
        f"From: {sender}\nTo: {to}\n{when}Message-ID: <m{n}@example.org>\n"
        f"Subject: {subject}\n\nbody {n}\n"
    ).encode()


def _emlx(message: bytes, flags: int = 0, received: float = 1704103200.0) -> bytes:
    plist = plistlib.dumps({"date-received": received, "flags": flags})
    return f"{len(message)}\n".encode() + message + plist


def _put(mailbox: Path, name: str, data: bytes) -> Path:
    messages = mailbox / "6F2B9C1A-33A1-4C5E-9A7E-0123456789AB" / "Data" / "3" / "Messages"
    messages.mkdir(parents=True, exist_ok=True)
    (messages / name).write_bytes(data)
    return messages / name


def _library(root: Path) -> Path:
    """A Mail.app store: an account with INBOX, Sent Messages, Archive (with 2024 inside)
    and Junk, beside Mail.app's index and settings files."""
    account = root / "V10" / "0C9B0AA6-5F54-4C0B-8B0A-5D2E0A1B2C3D"
    _put(account / "INBOX.mbox", "101.emlx", _emlx(_mail(1, ALICE, SHOP, "Order"), flags=1))
    _put(account / "INBOX.mbox", "102.partial.emlx", _emlx(_mail(2, ALICE, SHOP, "Photo"), 5))
    _put(account / "INBOX.mbox", "103.emlx", _emlx(_mail(3, ALICE, SHOP, "Undated", False)))
    _put(account / "INBOX.mbox", "104.emlx", b"not an apple mail message\n")
    _put(account / "Sent Messages.mbox", "201.emlx", _emlx(_mail(4, SHOP, ALICE, "Re: Order")))
    _put(account / "Archive.mbox", "301.emlx", _emlx(_mail(5, ALICE, SHOP, "Old")))
    _put(account / "Archive.mbox" / "2024.mbox", "401.emlx", _emlx(_mail(6, ALICE, SHOP, "2024")))
    spam = "Dr Win <win@lottery.example>"
    _put(account / "Junk.mbox", "501.emlx", _emlx(_mail(7, spam, SHOP, "You won")))
    (account / "INBOX.mbox" / "Info.plist").write_bytes(plistlib.dumps({"IMAPMailboxName": "x"}))
    (root / "V10" / "MailData").mkdir()
    (root / "V10" / "MailData" / "Envelope Index").write_bytes(b"SQLite format 3\x00" + b"\0" * 90)
    return root / "V10"


def test_a_mail_app_store_imports_mailbox_by_mailbox(db: Database, tmp_path: Path) -> None:
    library = _library(tmp_path / "Mail")
    reports = import_paths(db, [library])
    done = {Path(r.path).name: r for r in reports if r.status == "done"}
    assert set(done) == {
        "INBOX.mbox",
        "Sent Messages.mbox",
        "Archive.mbox",
        "2024.mbox",
        "Junk.mbox",
    }
    assert {r.format for r in done.values()} == {"apple_mail"}
    assert done["INBOX.mbox"].added == 3
    assert [p.reason for p in done["INBOX.mbox"].problems] == [
        "not an Apple Mail message (no length on its first line)"
    ]
    assert done["Junk.mbox"].added == 0
    assert done["Junk.mbox"].notices == [
        "left out: Junk is a spam folder (its senders are no customers)"
    ]
    skipped = sorted(Path(r.path).name for r in reports if r.status == "skipped")
    assert skipped == ["Envelope Index"]  # (Info.plist is never even looked at)
    with db.session() as session:
        rows = session.execute(select(Event.title, Event.details)).all()
    by_title = {title: details for title, details in rows}
    assert set(by_title) == {"Order", "Photo", "Undated", "Re: Order", "Old", "2024"}
    assert by_title["Order"]["folder"] == "INBOX" and by_title["Order"]["flags"] == ["seen"]
    assert by_title["Photo"]["flags"] == ["replied", "seen"]
    assert by_title["Photo"]["attachments_kept_apart"] is True
    assert by_title["Undated"]["date_from"] == "date_received"
    assert by_title["2024"]["folder"] == "Archive/2024"
    # Once more: nothing new.
    again = import_paths(db, [library])
    assert sum(r.added for r in again) == 0


def test_the_sent_mailbox_names_the_owner_and_a_single_message_file_reads_alone(
    tmp_path: Path,
) -> None:
    library = _library(tmp_path / "Mail")
    (sent,) = library.glob("*/Sent Messages.mbox")
    items = list(AppleMailConnector().parse(sent, ParseOptions(tz=UTC)))
    assert items[0] == OwnerHint("email", "hello@bloomandbranch.co.uk")
    (message,) = library.glob("*/INBOX.mbox/*/Data/3/Messages/103.emlx")
    assert registry.detect(message).name == "apple_mail"
    (record,) = [
        i
        for i in AppleMailConnector().parse(message, ParseOptions(tz=UTC))
        if isinstance(i, EventRecord)
    ]
    assert record.occurred_at == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)  # its date received
    assert record.details["folder"] == "INBOX"
    assert mailbox_name(message) == "INBOX"


def test_an_emlx_file_in_pieces(tmp_path: Path) -> None:
    message = _mail(1, ALICE, SHOP, "Order")
    assert split_emlx(_emlx(message, 1)) == (message, {"date-received": 1704103200.0, "flags": 1})
    assert split_emlx(f"{len(message)}\n".encode() + message + b"<plist>broken") == (message, {})
    with pytest.raises(ValueError, match="no length"):
        split_emlx(b"From: a@b\n\nhi")
    box = tmp_path / "Notes.mbox"
    box.mkdir()
    assert AppleMailConnector().sniff(box, b"") == 0.0  # no messages: not a mailbox
    junk = tmp_path / "x.emlx"
    junk.write_bytes(b"not a message")
    items = list(AppleMailConnector().parse(junk, ParseOptions(tz=UTC)))
    assert items == [Problem("x.emlx", "not an Apple Mail message (no length on its first line)")]
    assert not [i for i in items if isinstance(i, Notice)]
