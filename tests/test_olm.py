"""Outlook for Mac's ``.olm`` archive: a zip of one XML document per message, in the shape
other projects' readers of it document (``com.microsoft.__Messages/<folder>/message_N.xml``,
``OPFMessageCopy…`` elements, ``emailAddress`` attributes)."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from app.db import Database
from app.ingest import import_paths
from app.models import Event
from app.records import EventRecord, Notice, OwnerHint, ParseOptions, Problem
from connectors import registry
from connectors.olm import OlmConnector, folder_of

NS = "http://schemas.microsoft.com/outlook/mac/2011"


def _address(field: str, name: str, address: str) -> str:
    return (
        f'<{field}><emailAddress OPFContactEmailAddressAddress="{address}" '
        f'OPFContactEmailAddressName="{name}" OPFContactEmailAddressType="0"/></{field}>'
    )


def _message(*parts: str, root: str = "emails") -> bytes:
    body = "".join(parts)
    inner = f'<email xmlns="{NS}">{body}</email>'
    document = inner if root == "email" else f"<{root}>{inner}</{root}>"
    return f'<?xml version="1.0" encoding="UTF-8"?>{document}'.encode()


ORDER = _message(
    _address("OPFMessageCopyFromAddresses", "Alice Smith", "alice@example.org"),
    _address("OPFMessageCopyToAddresses", "Bloom &amp; Branch", "hello@bloomandbranch.co.uk"),
    "<OPFMessageCopySubject>Order #1001 – is it on its way?</OPFMessageCopySubject>",
    "<OPFMessageCopySentTime>2024-03-14T09:16:02</OPFMessageCopySentTime>",
    "<OPFMessageCopyMessageID>&lt;a1@example.org&gt;</OPFMessageCopyMessageID>",
    "<OPFMessageCopyHTMLBody>&lt;p&gt;Hello! Where is my &lt;b&gt;teapot&lt;/b&gt;?&lt;/p&gt;"
    "</OPFMessageCopyHTMLBody>",
    "<OPFMessageGetIsRead>1</OPFMessageGetIsRead>",
    '<OPFMessageCopyAttachmentList><messageAttachment OPFAttachmentName="receipt.pdf" '
    'OPFAttachmentContentType="application/pdf" OPFAttachmentURL="x"/>'
    "</OPFMessageCopyAttachmentList>",
)
REPLY = _message(
    "<OPFMessageCopySenderAddress>hello@bloomandbranch.co.uk</OPFMessageCopySenderAddress>",
    "<OPFMessageCopySenderName>Bloom &amp; Branch</OPFMessageCopySenderName>",
    _address("OPFMessageCopyToAddresses", "Alice Smith", "alice@example.org"),
    "<OPFMessageCopySubject>Re: Order #1001 – is it on its way?</OPFMessageCopySubject>",
    "<OPFMessageCopySentTime>2024-03-14T10:00:00Z</OPFMessageCopySentTime>",
    "<OPFMessageCopyMessageID>&lt;b2@bloomandbranch.co.uk&gt;</OPFMessageCopyMessageID>",
    "<OPFMessageCopyInReplyTo>&lt;a1@example.org&gt;</OPFMessageCopyInReplyTo>",
    "<OPFMessageCopyBody>It left today, Alice.\nBob</OPFMessageCopyBody>",
    root="email",
)
SPAM = _message(
    _address("OPFMessageCopyFromAddresses", "Dr Win", "win@lottery.example"),
    "<OPFMessageCopySubject>You won</OPFMessageCopySubject>",
    "<OPFMessageCopySentTime>2024-03-15T10:00:00</OPFMessageCopySentTime>",
)
BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE email [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><email><OPFMessageCopySubject>&b;'
    b"</OPFMessageCopySubject></email>"
)


def _olm(path: Path) -> Path:
    messages = "Local/com.microsoft.__Messages"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{messages}/Inbox/message_00001.xml", ORDER)
        zf.writestr(f"{messages}/Sent Items/message_00002.xml", REPLY)
        zf.writestr(f"{messages}/Junk Email/message_00003.xml", SPAM)
        zf.writestr(f"{messages}/Inbox/message_00004.xml", b"<emails><email><OPFMess")
        zf.writestr(f"{messages}/Inbox/message_00005.xml", BOMB)
        zf.writestr("Local/com.microsoft.__Contacts/Contacts/contact_00001.xml", b"<contacts/>")
        zf.writestr("Local/com.microsoft.__Attachments/1/receipt.pdf", b"%PDF-1.4")
    return path


def test_an_olm_archive_reads_as_mail(tmp_path: Path) -> None:
    path = _olm(tmp_path / "Outlook for Mac Archive.olm")
    assert registry.detect(path).name == "olm"
    items = list(OlmConnector().parse(path, ParseOptions(tz=UTC)))
    records = [i for i in items if isinstance(i, EventRecord)]
    assert [r.title for r in records] == [
        "Order #1001 – is it on its way?",
        "Re: Order #1001 – is it on its way?",
    ]
    order, reply = records
    assert order.occurred_at == datetime(2024, 3, 14, 9, 16, 2, tzinfo=UTC)  # no zone: UTC
    assert order.text == "Hello! Where is my teapot?"
    assert [(p.role, p.name, p.email) for p in order.participants][:2] == [
        ("from", "Alice Smith", "alice@example.org"),
        ("to", "Bloom & Branch", "hello@bloomandbranch.co.uk"),
    ]
    assert order.details["folder"] == "Inbox" and order.details["flags"] == ["seen"]
    assert order.details["attachments"] == [{"name": "receipt.pdf", "type": "application/pdf"}]
    assert reply.details["folder"] == "Sent Items" and reply.thread_key == order.thread_key
    assert reply.text == "It left today, Alice.\nBob"
    assert OwnerHint("email", "hello@bloomandbranch.co.uk") in items  # its Sent folder
    problems = {p.location.rsplit("/", 1)[1]: p.reason for p in items if isinstance(p, Problem)}
    assert set(problems) == {"message_00004.xml", "message_00005.xml"}
    assert problems["message_00004.xml"].startswith("unreadable message XML")
    assert problems["message_00005.xml"] == "the message's XML declares a DTD; not read"
    assert (
        Notice("left out 1 message in spam folders (Junk Email): their senders are no customers")
        in items
    )
    assert (
        folder_of("Accounts/x/com.microsoft.__Messages/Inbox/Suppliers/m.xml") == "Inbox/Suppliers"
    )


def test_an_olm_imports_once_and_again_adds_nothing(db: Database, tmp_path: Path) -> None:
    path = _olm(tmp_path / "archive.olm")
    (report,) = import_paths(db, [path])
    assert (report.format, report.status, report.added, len(report.problems)) == (
        "olm",
        "done",
        2,
        2,
    )
    with db.session() as session:
        assert set(session.scalars(select(Event.title))) == {
            "Order #1001 – is it on its way?",
            "Re: Order #1001 – is it on its way?",
        }
    path.touch()  # (read again: its content is the same)
    (again,) = import_paths(db, [path])
    assert (again.added, again.duplicates) == (0, 2)
