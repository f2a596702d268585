"""An iPhone's texts and WhatsApp chats as iMazing exports them (one CSV per chat)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from app.records import EventRecord, ParseOptions, Problem
from connectors import registry
from connectors.imazing import IMazingConnector

FIX = Path(__file__).resolve().parent / "fixtures" / "chat" / "imazing"
PRIYA = FIX / "Messages - Priya Shah.csv"
ROBIN = FIX / "Messages - Robin Example.csv"
GROUP = FIX / "Messages - Alice Example & Bob Example.csv"
TOM = FIX / "WhatsApp - Tom Okafor.csv"
OLD_HEADER = (
    "Chat Session,Message Date,Delivered Date,Read Date,Edited Date,Service,Type,Sender ID,"
    "Sender Name,Status,Replying to,Subject,Text,Attachment,Attachment type"
)


def _items(path: Path, tz: str = "Europe/London") -> list[object]:
    return list(IMazingConnector().parse(path, ParseOptions(tz=ZoneInfo(tz), region="GB")))


def _events(path: Path, tz: str = "Europe/London") -> list[EventRecord]:
    items = _items(path, tz)
    assert not [i for i in items if isinstance(i, Problem)]
    return [i for i in items if isinstance(i, EventRecord)]


def test_every_layout_is_recognised_and_other_chat_csvs_are_not_taken() -> None:
    for path in (PRIYA, ROBIN, GROUP, TOM):
        assert registry.detect(path).name == "imazing", path
    chats = Path(__file__).resolve().parent / "fixtures" / "chat"
    for other in sorted(chats.glob("*.csv")):
        assert IMazingConnector().sniff(other, other.read_bytes()[:65536]) == 0.0, other


def test_a_conversation_with_its_pictures_replies_and_an_sms() -> None:
    events = _events(PRIYA, "America/New_York")
    assert [e.direction for e in events] == [
        "inbound",
        "outbound",
        "inbound",
        "outbound",
        "inbound",
    ]
    first, reply, picture, sms, last = events
    # The phone's local time (read in the zone given), stored in UTC.
    assert first.occurred_at == datetime(2024, 3, 5, 14, 12, 44, tzinfo=UTC)
    assert first.source == "imessage" and first.title == "Priya Shah"
    (author,) = first.participants
    assert (author.role, author.name, author.phone) == ("author", "Priya Shah", "+447700900123")
    # An outgoing row names nobody: it goes to the chat's other party.
    (to,) = reply.participants
    assert (to.role, to.phone) == ("member", "+447700900123")
    # The picture's row and the text's row (same time) are one message.
    assert picture.text == "This one, with the chip on the rim?"
    assert picture.details["media"] == [{"kind": "photo", "file": "IMG_4821.HEIC"}]
    # A text that went as SMS is on the source "sms"; its lines are kept.
    assert sms.source == "sms" and sms.details["service"] == "SMS"
    assert sms.text.splitlines()[1] == "Yours has no chip, I'll send a photo tonight."
    assert last.details["edited"] == "2024-03-06 18:04:01"
    assert len({e.thread_key for e in events}) == 1
    assert len({e.external_id for e in events}) == 5


def test_the_newer_layout_with_ids_bom_crlf_reactions_and_a_deleted_message() -> None:
    shipped, thanks, dented, deleted = _events(ROBIN)
    (robin,) = thanks.participants
    assert (robin.name, robin.email, robin.phone) == ("Robin Example", "robin@example.org", None)
    assert shipped.participants[0].email == "robin@example.org"
    assert thanks.details["reactions"] == "Loved by you"
    assert dented.text == "One corner is dented though"
    assert dented.details["media"] == [{"kind": "photo", "file": "box, opened | side.png"}]
    assert deleted.details["deleted"] == "2024-02-02 10:01:00"


def test_an_export_without_ids_gives_the_same_ids(tmp_path: Path) -> None:
    """The 15-column layout of the same messages: the same events, so importing one after
    the other adds nothing."""
    newer = _events(ROBIN)
    lines = ROBIN.read_text(encoding="utf-8-sig").splitlines()[1:]
    old = [OLD_HEADER]
    for line in lines:
        cells = next(csv.reader([line]))
        chat, _id, date, delivered, read, edited, _deleted, service, kind, sid, name, status = (
            cells[:12]
        )
        replying, subject, text, _reactions, attachment, attachment_type = cells[12:]
        row = [chat, date, delivered, read, edited, service, kind, sid, name, status, replying]
        row += [subject, text, attachment, attachment_type]
        old.append(",".join(f'"{c}"' for c in row))
    path = tmp_path / "Messages - Robin Example.csv"
    path.write_text("\n".join(old) + "\n")
    assert [e.external_id for e in _events(path)] == [e.external_id for e in newer]


def test_a_group_chat_names_everyone() -> None:
    alice, bob, mine = _events(GROUP)
    assert alice.details["group"] == "Alice Example & Bob Example"
    assert [(p.role, p.name) for p in alice.participants] == [
        ("author", "Alice Example"),
        ("member", "Bob Example"),
    ]
    assert bob.participants[0].phone == "+447700900987"
    assert {p.phone for p in mine.participants} == {"+447700900654", "+447700900987"}
    assert all(p.role == "member" for p in mine.participants)


def test_whatsapp_chats_saved_by_imazing() -> None:
    question, answer, voice = _events(TOM)
    assert {e.source for e in (question, answer, voice)} == {"whatsapp"}
    assert answer.participants[0].phone == "+447700900321"
    assert voice.text == "(audio)"
    assert voice.details["media"] == [{"kind": "audio", "file": "voice-note.opus"}]


def test_a_chat_with_only_my_messages_is_known_by_its_name_or_number(tmp_path: Path) -> None:
    named = tmp_path / "Messages - Sam Lee.csv"
    named.write_text(
        f"{OLD_HEADER}\nSam Lee,2024-01-02 10:00:00,,,,iMessage,Outgoing,,,Sent,,,Hello Sam,,\n"
    )
    (event,) = _events(named)
    (sam,) = event.participants
    assert (sam.name, sam.handle, sam.platform, sam.phone) == (
        "Sam Lee",
        "Sam Lee",
        "imessage",
        None,
    )
    number = tmp_path / "Messages - +44 7700 900999.csv"
    number.write_text(
        f"{OLD_HEADER}\n+44 7700 900999,2024-01-02 10:00:00,,,,SMS,Outgoing,,,Sent,,,Hi,,\n"
    )
    (event,) = _events(number)
    assert event.participants[0].phone == "+44 7700 900999"


def test_a_bad_date_is_a_problem_at_its_line_and_the_rest_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "Messages - Priya Shah.csv"
    path.write_text(PRIYA.read_text().replace("2024-03-05 09:20:02", "sometime", 1))
    items = _items(path)
    (problem,) = [i for i in items if isinstance(i, Problem)]
    assert problem.location == "Messages - Priya Shah.csv:3"
    assert "Message Date" in problem.reason
    assert len([i for i in items if isinstance(i, EventRecord)]) == 4


def test_through_the_cli_each_person_is_one_customer_and_importing_again_adds_nothing(
    tmp_path: Path,
) -> None:
    from tests.test_cli_e2e import CLI

    tool = CLI(tmp_path)  # (the installed ``threadline`` command)
    reports = tool.json("import", str(FIX))["files"]
    # (the folder's README is met and skipped, as the pictures beside an export are)
    assert {(r["format"], r["status"]) for r in reports if r["format"] != "imazing"} == {
        ("", "skipped")
    }
    assert sum(r["added"] for r in reports) == 15
    names = sorted(c["name"] for c in tool.json("customers"))
    assert names == ["Alice Example", "Bob Example", "Priya Shah", "Robin Example", "Tom Okafor"]
    shown = tool.run("show", "+447700900123")
    assert "writes by iMessage" in shown.stdout
    reports = tool.json("import", str(FIX))["files"]
    assert (sum(r["added"] for r in reports), sum(r["duplicates"] for r in reports)) == (0, 15)


def test_a_file_of_several_chats_keeps_each_to_itself(tmp_path: Path) -> None:
    """Rows of two chats in one file: each outgoing row goes to its own chat's person, and
    neither chat is taken for a group."""
    path = tmp_path / "Messages.csv"
    path.write_text(
        f"{OLD_HEADER}\n"
        "Ann,2024-01-02 10:00:00,,,,iMessage,Incoming,+447700900111,Ann,Read,,,Hi from Ann,,\n"
        "Ann,2024-01-02 10:01:00,,,,iMessage,Outgoing,,,Sent,,,Hi Ann,,\n"
        "Ben,2024-01-02 10:00:00,,,,iMessage,Incoming,+447700900222,Ben,Read,,,Hi from Ben,,\n"
        "Ben,2024-01-02 10:02:00,,,,iMessage,Outgoing,,,Sent,,,Hi Ben,,\n"
    )
    ann_in, ann_out, ben_in, ben_out = _events(path)
    assert [p.phone for p in ann_out.participants] == ["+447700900111"]
    assert [p.phone for p in ben_out.participants] == ["+447700900222"]
    assert "group" not in ann_in.details and "group" not in ben_in.details
    assert ann_in.thread_key != ben_in.thread_key
