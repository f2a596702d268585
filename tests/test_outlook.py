"""Outlook's own files: data files (``.pst``, ``.ost``) read with libpff and messages
(``.msg``) read with olefile. Real files from other projects' tests
(``fixtures/email/SOURCES.md``), imported as a user would, and what goes wrong with one
that is damaged or is no Outlook file."""

from __future__ import annotations

import gzip
import os
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app import parse_worker
from app.db import Database
from app.errors import FormatError
from app.ingest import import_paths
from app.models import Event
from app.records import ContactCard, EventRecord, OwnerHint, ParseOptions, Problem
from connectors import mail, mapi, registry
from connectors.msg import MsgConnector
from connectors.pst import PstConnector
from tests.test_cli_e2e import CLI, cli  # noqa: F401

OUTLOOK = Path(__file__).resolve().parent / "fixtures" / "email" / "outlook"


def _unpacked(name: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    path = into / name
    with gzip.open(OUTLOOK / f"{name}.gz") as packed, path.open("wb") as out:
        shutil.copyfileobj(packed, out)
    return path


def _records(path: Path) -> tuple[list[EventRecord], list[Problem]]:
    items = list(PstConnector().parse(path, ParseOptions(tz=UTC)))
    records = [i for i in items if isinstance(i, EventRecord)]
    return records, [i for i in items if isinstance(i, Problem)]


def test_a_pst_reads_its_mail_with_the_internet_headers_it_came_with(tmp_path: Path) -> None:
    path = _unpacked("testPST.pst", tmp_path)
    assert registry.detect(path).name == "pst"
    records, problems = _records(path)
    assert problems == []
    by_title = {r.title: r for r in records}
    assert len(records) == 7
    reply = by_title["Re: Feature Generators"]
    assert reply.occurred_at == datetime(2014, 2, 26, 7, 50, 4, tzinfo=UTC)
    assert reply.details["date_from"] == "date"
    assert reply.text.startswith("Hello,\n\nthe PreviousMapFeatureGenerator remebers")
    assert reply.participants[0].role == "from"
    assert reply.participants[0].name == "Jörn Kottmann"
    assert reply.thread_key == by_title["Feature Generators"].thread_key  # (References)
    assert reply.details["automated"]  # a mailing list's copy (List-Id)
    assert "folder" not in reply.details  # (the file's top folder)
    webinar = by_title['[WEBINAR] - "Introducing Couchbase Server 2.5"']
    assert "Couchbase" in webinar.details["html"]
    # The mailbox is an Exchange one (no email address in the store): the one recipient
    # whose address spells its name ("Hong-Thai Nguyen") is hinted as the owner's address.
    items = list(PstConnector().parse(path, ParseOptions(tz=UTC)))
    hints = [i for i in items if isinstance(i, OwnerHint)]
    assert hints == [OwnerHint("email", "hong-thai.nguyen@polyspot.com", delivered=True)]


def test_mail_written_in_outlook_is_rebuilt_from_its_properties(tmp_path: Path) -> None:
    records, _problems = _records(_unpacked("testPST.pst", tmp_path))
    (forward,) = [r for r in records if r.title == "FW: First email"]
    # No internet headers: the sender is an Exchange address (no email address), so the
    # message is the owner's side; its recipient and ids come from the properties.
    assert forward.direction == "outbound"
    assert [(p.role, p.name, p.email) for p in forward.participants] == [
        ("to", "", "lfcnassif@gmail.com")
    ]
    assert forward.occurred_at == datetime(2020, 11, 26, 22, 18, 29, tzinfo=UTC)
    assert forward.text == "Forwarding mail…"
    assert forward.details["message_id"] == "2915856a7d3449e68529f3e61b8d26bc@pf.gov.br"
    assert forward.details["in_reply_to"] == "3148510c2360443396a78d35e0888de9@pf.gov.br"
    assert forward.details["flags"] == ["seen"]
    assert [a["name"] for a in forward.details["attachments"]] == ["First email"]


def test_folders_below_the_top_one_are_kept_and_other_items_left_out(tmp_path: Path) -> None:
    path = _unpacked("testPST_variousBodyTypes.pst", tmp_path)
    records, problems = _records(path)
    assert problems == []
    # The mailbox they were delivered to (PR_RECEIVED_BY_SMTP_ADDRESS) is the owner's (once
    # two messages of the import name it).
    items = list(PstConnector().parse(path, ParseOptions(tz=UTC)))
    assert items[0] == OwnerHint("email", "tallison@mitre.org", delivered=True)
    assert [r.details["folder"] for r in records] == ["Inbox/tmp"] * 4
    assert [r.title for r in records] == ["original email"] + ["FW: original email"] * 3
    assert all(r.text for r in records)  # (the RTF one keeps its plain body)
    # A contact, a distribution list, a calendar item and free/busy data: no mail at all.
    records, problems = _records(_unpacked("dist-list.pst", tmp_path))
    assert (records, problems) == ([], [])
    assert mapi.is_mail("IPM.Note") and mapi.is_mail("IPM.Note.SMIME") and mapi.is_mail("")
    assert mapi.is_mail("IPM.Schedule.Meeting.Request") and mapi.is_mail("REPORT.IPM.Note.NDR")
    assert not mapi.is_mail("IPM.Contact") and not mapi.is_mail("IPM.Appointment")
    assert not mapi.is_mail("IPM.DistList") and not mapi.is_mail("IPM.Notebook")


@pytest.mark.skipif(sys.platform != "linux", reason="a file name that is no text: Linux's")
def test_a_pst_whose_name_libpff_cannot_pass_on_is_read_through_python(tmp_path: Path) -> None:
    odd = tmp_path / os.fsdecode(b"Archiv \xff.pst")  # (bytes no encoding reads)
    _unpacked("testPST.pst", tmp_path).rename(odd)
    records, problems = _records(odd)
    assert (len(records), problems) == (7, [])


def test_a_contact_in_a_pst_is_an_address_book_card(
    tmp_path: Path,
    cli: CLI,  # noqa: F811
) -> None:
    """The contact of java-libpst's test file: its Email1 is a named property, found
    through the file's own name-to-id map (the other property that holds the same address,
    its display form, is not read as one); the distribution list, the appointment and the
    free/busy data beside it add nothing."""
    path = _unpacked("dist-list.pst", tmp_path)
    items = list(PstConnector().parse(path, ParseOptions(tz=UTC)))
    assert items == [
        ContactCard(
            name="contact name 1",
            emails=("contact1@rjohnson.id.au",),
            locator="dist-list.pst!Contacts#2",
        )
    ]
    (done,) = cli.json("import", str(path))["files"]
    assert (done["format"], done["status"], done["added"]) == ("pst", "done", 1)
    (customer,) = cli.json("customers")
    assert (customer["name"], customer["emails"]) == ("contact name 1", ["contact1@rjohnson.id.au"])


def test_a_damaged_or_false_pst_is_one_clear_error(tmp_path: Path) -> None:
    false = tmp_path / "archive.pst"
    false.write_bytes(b"!BDN" + bytes(range(256)) * 64)
    with pytest.raises(FormatError, match=r"archive\.pst: not a readable Outlook data file"):
        list(PstConnector().parse(false, ParseOptions(tz=UTC)))
    whole = _unpacked("testPST.pst", tmp_path).read_bytes()
    cut = tmp_path / "cut.pst"
    cut.write_bytes(whole[: len(whole) // 3])
    try:
        records, problems = _records(cut)
    except FormatError as exc:
        assert str(exc).startswith("cut.pst: ")
    else:  # what could be read is, each message that could not is a problem
        assert len(records) + len(problems) <= 7
        assert all(p.location.startswith("cut.pst!") for p in problems)


@pytest.mark.parametrize(
    ("offset", "value", "damaged"),
    [
        (66160, 0x4C, "tmp#1"),  # a byte of the first message's data
        (32003, 0xB2, "tmp"),  # a byte of the folder's table of messages
    ],
)
def test_a_damaged_message_or_folder_is_a_problem_and_the_rest_is_read(
    tmp_path: Path, offset: int, value: int, damaged: str
) -> None:
    path = _unpacked("testPST_variousBodyTypes.pst", tmp_path)
    data = bytearray(path.read_bytes())
    data[offset] = value
    path.write_bytes(bytes(data))
    records, problems = _records(path)
    if problems:  # (libpff found the damage: what it could not read is a problem)
        (problem,) = problems
        assert problem.location == f"testPST_variousBodyTypes.pst!Inbox/{damaged}"
        kind = "message" if "#" in damaged else "folder"
        assert problem.reason == f"cannot read the {kind} (damaged in the file)"
        assert len(records) == (3 if kind == "message" else 0)
    else:  # (a later libpff may read past it)
        assert len(records) == 4


def test_the_rebuilt_message_keeps_the_received_headers_and_drops_their_mime_ones() -> None:
    received = (
        "Microsoft Mail Internet Headers Version 2.0\r\n"
        "Received: from a.example ([10.0.0.1]) by\r\n b.example; Tue, 5 Mar 2024 10:00:00 +0000\r\n"
        "From: Alice Smith <alice@example.org>\r\nSubject: Order 1043\r\n"
        'Content-Type: multipart/related;\r\n\tboundary="x"\r\nMIME-Version: 1.0\r\n'
        "Date: Tue, 5 Mar 2024 10:00:00 +0000\r\n\r\n"
    )
    raw = mail.rebuilt_message([], "Where is it?", "<p>Where is <b>it</b>?</p>", received=received)
    head = raw.split(b"\n\n", 1)[0].decode()
    assert "Microsoft Mail" not in head and 'boundary="x"' not in head
    assert "Received: from a.example ([10.0.0.1]) by\n b.example;" in head
    assert head.count("Content-Type:") == 1 and "multipart/alternative" in head
    (record,) = mail.message_items(raw, "x", set())
    assert isinstance(record, EventRecord)
    assert (record.title, record.text) == ("Order 1043", "Where is it?")


def test_a_pst_imports_once_through_the_cli_and_again_adds_nothing(
    db: Database,
    tmp_path: Path,
    cli: CLI,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = _unpacked("testPST.pst", tmp_path)
    report = cli.json("import", str(path))
    (done,) = report["files"]
    assert (done["format"], done["status"], done["added"], done["problems"]) == (
        "pst",
        "done",
        7,
        [],
    )
    again = cli.json("import", str(path))
    assert (again["files"][0]["added"], again["files"][0]["duplicates"]) == (0, 7)
    # Another owner address, from another file: the owner's mail without a sender stays
    # the owner's side (directions are refreshed from senders; it has none).
    assert cli.json("import", str(_unpacked("testPST_variousBodyTypes.pst", tmp_path)))
    shown = cli.json("customers", "lfcnassif")
    assert [c["emails"] for c in shown] == [["lfcnassif@gmail.com"]]
    (event,) = cli.json("show", str(shown[0]["id"]))["events"]
    assert (event["title"], event["direction"]) == ("FW: First email", "outbound")
    # A data file of some size is read in the parse worker (libpff in a process of its own).
    monkeypatch.setattr(parse_worker, "MIN_BYTES", 1)
    various = _unpacked("testPST_variousBodyTypes.pst", tmp_path / "again")
    assert parse_worker.worth_a_worker(various)
    (report,) = import_paths(db, [various])
    assert (report.format, report.added) == ("pst", 4)
    with db.session() as session:
        assert set(session.scalars(select(Event.title))) == {
            "original email",
            "FW: original email",
        }


def test_a_real_apple_mail_message_reads(tmp_path: Path) -> None:
    path = OUTLOOK / "testEMLX.emlx"
    assert registry.detect(path).name == "apple_mail"
    items = list(registry.get("apple_mail").parse(path, ParseOptions(tz=UTC)))
    (record,) = [i for i in items if isinstance(i, EventRecord)]
    assert record.title == "[jira] Commented: (TIKA-461) RFC822 messages not parsed"
    assert record.participants[0].email == "jira@apache.org"
    assert record.text.rstrip().endswith("to add a comment to the issue online.")


def _msg(name: str, into: Path) -> list[object]:
    return list(MsgConnector().parse(_unpacked(name, into), ParseOptions(tz=UTC)))


def test_an_outlook_message_file_reads_as_the_mail_it_was(tmp_path: Path) -> None:
    path = _unpacked("testMSG.msg", tmp_path)
    assert registry.detect(path).name == "msg"
    (received,) = _msg("testMSG.msg", tmp_path)
    assert isinstance(received, EventRecord)
    # Received mail: its internet headers as they came (8-bit strings, Outlook's
    # "Microsoft Mail Internet Headers Version 2.0" line before them).
    assert received.title == "MIME registry use cases"
    assert received.occurred_at == datetime(2009, 1, 29, 19, 16, 40, tzinfo=UTC)
    assert [(p.role, p.name, p.email) for p in received.participants] == [
        ("from", "Jukka Zitting", "jukka.zitting@gmail.com"),
        ("to", "", "tika-dev@lucene.apache.org"),
    ]
    assert received.text.startswith("Hi,\n\nAs discussed, I've been working on making")
    assert received.details["automated"]  # (a mailing list's copy)
    # Written in Outlook (no internet headers, an Exchange sender): the owner's side, in
    # Unicode strings, with its HTML body in the message's code page.
    (written,) = _msg("testMSG_chinese.msg", tmp_path)
    assert isinstance(written, EventRecord)
    assert written.title == "Alfresco MSG format testing ( MSG 格式測試 )"
    assert written.direction == "outbound"
    assert [(p.role, p.name, p.email) for p in written.participants] == [
        ("to", "Tests Chang@FT (張毓倫)", "tests.chang@fengttt.com")
    ]
    assert written.occurred_at == datetime(2011, 3, 29, 8, 52, 48, tzinfo=UTC)
    assert "中文測試" in written.text and "中文測試" in written.details["html"]
    assert (
        written.details["message_id"] == "EBB9951D34EA4B41B70AB946CF3FB6EC1A297D98@ftm02.FT.FTG.COM"
    )
    # Attachments by name, with their sizes (an attached message by its subject).
    hint, attached = _msg("testMSG_att_msg.msg", tmp_path)
    # (the mailbox's name)
    assert hint == OwnerHint("email", "nick.booth@pof.com.au", delivered=True)
    assert isinstance(attached, EventRecord)
    assert attached.details["attachments"] == [
        {"name": "Test Attachment", "type": ""},
        {"name": "smbprn.00009008.KdcPjl.pdf", "type": "", "size": 13539},
    ]


def test_an_outlook_contact_is_a_card_and_a_false_message_file_is_said_so(
    tmp_path: Path,
    cli: CLI,  # noqa: F811
) -> None:
    """A contact dragged out of Outlook is an address book card: its name, its Email1 (a
    named property of the file's own numbering) and its voice numbers, not its fax; the
    other named address in it (the account that last saved it) is not the contact's."""
    contact = _unpacked("testMSG_Contact.msg", tmp_path)
    report = cli.json("import", str(contact))
    (done,) = report["files"]
    assert (done["format"], done["status"], done["added"]) == ("msg", "done", 1)
    assert done["notices"] == []
    (fox,) = cli.json("customers")
    assert fox["name"] == "Dr Quick Brown Fox Jr"
    assert fox["emails"] == ["quickbrown@gmail.com"]
    assert fox["phones"] == []  # (counting runs, 123-456-7890: placeholders, no one's)
    assert fox["event_count"] == 0
    (card,) = MsgConnector().parse(contact, ParseOptions(tz=UTC))
    assert isinstance(card, ContactCard)
    assert (card.organization, card.locator) == ("Fence Co", "testMSG_Contact.msg")
    assert card.phones == ("(456) 789-0123", "(123) 456-7890", "(234) 567-8901")  # no fax
    false = tmp_path / "letter.msg"  # (an OLE compound file's signature, nothing more)
    false.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 8)
    result = cli.run("import", "--format", "msg", str(false))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "letter.msg: not a readable Outlook message" in result.stderr
    unforced = cli.run("import", str(false))
    assert unforced.returncode == 2 and "not a format Threadline recognises" in unforced.stderr
    message = _unpacked("testMSG.msg", tmp_path)
    assert cli.json("import", str(message))["files"][0]["added"] == 1
    again = cli.json("import", str(message))["files"][0]
    assert (again["added"], again["duplicates"]) == (0, 1)


class _Props:
    """A MAPI object's properties as a plain table (what a store's reader gives)."""

    def __init__(self, **values: object) -> None:
        self.values = {int(k.removeprefix("x"), 16): v for k, v in values.items()}

    def text(self, tag: int) -> str:
        value = self.values.get(tag)
        return " ".join(value.split()) if isinstance(value, str) else ""

    def number(self, tag: int) -> int | None:
        value = self.values.get(tag)
        return value if isinstance(value, int) else None

    def time(self, tag: int) -> datetime | None:
        value = self.values.get(tag)
        return value if isinstance(value, datetime) else None


def test_a_draft_without_a_sender_is_the_owners_side() -> None:
    to_alice = _Props(x3001="Alice Smith", x39FE="alice@example.org", x0C15=1)
    draft = mapi.Message(
        _Props(x0E07=0x08, x0039=datetime(2024, 3, 5, 10, 0, tzinfo=UTC)),
        plain="Your order is on its way.",
        subject="Order 1043",
        recipients=[to_alice],
    )
    raw, details, inside = mapi.message_bytes(draft)
    assert inside and details["flags"] == ["draft"]
    (record,) = [i for i in mail.message_items(raw, "x", set()) if isinstance(i, EventRecord)]
    assert [(p.role, p.email) for p in record.participants] == [("to", "alice@example.org")]
    assert mapi.owners_side(record, inside, False).direction == "outbound"
    # Sent by a customer from the internet, kept without its headers: not the owner's side,
    # and the mailbox it reached is hinted as the owner's (a mailbox: ``delivered``).
    sent = mapi.Message(
        _Props(
            x0C1A="Alice Smith",
            x0C1E="SMTP",
            x0C1F="alice@example.org",
            x5D07="hello@shop.example",
            x0039=datetime(2024, 3, 5, 11, 0, tzinfo=UTC),
        ),
        plain="Thanks!",
        subject="Re: Order 1043",
    )
    raw, details, inside = mapi.message_bytes(sent)
    assert not inside and "flags" not in details
    items = mail.message_items(raw, "y", set())
    assert items[0] == OwnerHint("email", "hello@shop.example", delivered=True)
    assert isinstance(items[1], EventRecord)
    assert items[1].participants[0].email == "alice@example.org"


def _rtf_only(name: str, into: Path) -> Path:
    """A real ``.msg`` whose plain and HTML bodies are blanked in place (their streams
    zeroed, so the file's layout stays), leaving its RTF body alone: as Outlook's RTF
    editor and older Exchange servers keep a message."""
    import olefile

    path = _unpacked(name, into)
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        for entry in ole.listdir():
            stream = "/".join(entry)
            if len(entry) == 1 and entry[0][:16] in ("__substg1.0_1000", "__substg1.0_1013"):
                ole.write_stream(stream, b"\0" * ole.get_size(stream))
    return path


@pytest.mark.parametrize(
    ("name", "kind", "begins"),
    [
        ("testMSG.msg", b"\\fromtext", "Hi,\n\nAs discussed, I've been working on making the"),
        ("testMSG_att_msg.msg", b"\\fromhtml1", "Test email with 1 msg attachment, 1 pdf"),
        ("testMSG_chinese.msg", b"\\ansicpg950", "Alfresco MSG format testing ( MSG 格式測試 )"),
    ],
)
def test_a_message_kept_as_rtf_alone_reads_its_text(
    tmp_path: Path, name: str, kind: bytes, begins: str
) -> None:
    """Plain text and HTML that Outlook wrapped in RTF, and Word's own RTF in a Chinese code
    page: the text read from the RTF body is the text of the plain body Outlook kept
    beside it (these files have both; its first 500 characters); with the plain and HTML
    bodies gone, the message still imports with it."""
    import olefile

    from connectors import msg

    with olefile.OleFileIO(str(_unpacked(name, tmp_path / "whole"))) as ole:
        message, _kind = msg.read_message(ole)
        assert message.rtf is not None
        rtf = message.rtf()
        plain = mapi.decoded(message.plain, 65001)
    assert kind in rtf[:200]
    # (Word's numbered lists and tables are set out otherwise in its plain body: the rest
    # of the Chinese message differs in list numbers and cell marks.)
    assert " ".join(mapi.rtf_text(rtf).split())[:500] == " ".join(plain.split())[:500]

    items = list(MsgConnector().parse(_rtf_only(name, tmp_path), ParseOptions(tz=UTC)))
    (record,) = [i for i in items if isinstance(i, EventRecord)]
    assert record.text.startswith(begins)
    assert "html" not in record.details


def test_a_pst_message_kept_as_rtf_alone_reads_its_text(tmp_path: Path) -> None:
    """Word's RTF in a ``.pst`` (Tika's forward "with an RTF body"), through libpff: with
    its plain body gone, its text comes from the RTF."""
    from dataclasses import replace

    import pypff

    from connectors import pst

    store = pypff.file()
    store.open(str(_unpacked("testPST_variousBodyTypes.pst", tmp_path)))
    try:

        def messages(folder: Any) -> Iterator[Any]:
            for i in range(folder.number_of_sub_messages):
                yield folder.get_sub_message(i)
            for i in range(folder.number_of_sub_folders):
                yield from messages(folder.get_sub_folder(i))

        (item,) = [m for m in messages(store.root_folder) if m.rtf_body]
        message = pst._message(item, pst._Properties(item))
        raw, _details, _inside = mapi.message_bytes(replace(message, plain=b"", html=b""))
    finally:
        store.close()
    text = mail.parse_message(raw).text
    assert "This is the original email (html)" in text
    assert "Forwarded RTF" in text


def test_an_rtf_body_that_is_damaged_or_none_gives_no_text() -> None:
    assert mapi.rtf_text(b"") == ""
    assert mapi.rtf_text(b"not rtf at all") == ""
    assert mapi.rtf_text(b"{\\rtf1\\ansi\\ansicpg99999 \\u}") == ""
    assert mapi.rtf_text(b"{\\rtf1\\ansi Hello {\\b world}\\par}\0\0") == "Hello world"


def test_a_message_attached_to_an_outlook_message_is_read_as_a_forward(tmp_path: Path) -> None:
    """Tika's message with an Outlook message attached ("Test Attachment", embedded as an
    object, MS-OXMSG 2.2.2.1): it stays listed as an attachment, and its sender, date and
    text follow the message's own, below a "Forwarded message" line."""
    _hint, record = _msg("testMSG_att_msg.msg", tmp_path)
    assert isinstance(record, EventRecord)
    assert record.text == (
        "Test email with 1 msg attachment, 1 pdf\n\n"
        "---------- Forwarded message ----------\n"
        "From: Nick Booth <nick.booth@pof.com.au>\n"
        "Date: Fri, 18 Jun 2010 09:52:19 +1000\n"
        "Subject: Test Attachment\n"
        "To: Nick Booth <nick.booth@pof.com.au>\n\n"
        "Blah blah blah"
    )
    assert [a["name"] for a in record.details["attachments"]] == [
        "Test Attachment",
        "smbprn.00009008.KdcPjl.pdf",
    ]
    # The message itself: its own subject and time (the attached one was sent earlier).
    assert (record.title, record.occurred_at) == (
        "test email",
        datetime(2010, 6, 17, 23, 54, 19, tzinfo=UTC),
    )
