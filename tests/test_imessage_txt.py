"""The text export of imessage-exporter (a Mac's or an iPhone backup's Messages)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from app.records import EventRecord, ParseOptions, Problem
from connectors import registry
from connectors.imessage_txt import IMessageTxtConnector
from tests.test_cli_e2e import CLI

FIX = Path(__file__).resolve().parent / "fixtures" / "chat" / "imessage_exporter"
ONE = FIX / "+447700900888.txt"
GROUP = FIX / "Saturday market - 7.txt"


def _items(path: Path, tz: str = "Europe/London") -> list[object]:
    return list(IMessageTxtConnector().parse(path, ParseOptions(tz=ZoneInfo(tz))))


def _events(path: Path, tz: str = "Europe/London") -> list[EventRecord]:
    items = _items(path, tz)
    assert not [i for i in items if isinstance(i, Problem)]
    return [i for i in items if isinstance(i, EventRecord)]


def test_the_exports_are_recognised_and_no_other_text_file_is_taken() -> None:
    assert registry.detect(ONE).name == registry.detect(GROUP).name == "imessage_txt"
    for other in sorted((FIX.parent).rglob("*.txt")):
        if other.parent != FIX:
            assert IMessageTxtConnector().sniff(other, other.read_bytes()[:65536]) == 0.0, other


def test_a_conversation_with_a_picture_a_reaction_a_deletion_and_a_reply() -> None:
    events = _events(ONE, "America/New_York")
    assert [(e.direction, e.text.splitlines()[0]) for e in events] == [
        ("inbound", "Hi, do you have the blue vase in stock?"),
        ("outbound", "Yes! Shall I put one aside?"),
        ("inbound", "Please do."),
        ("outbound", "Sorry, wrong chat"),
        ("inbound", "Will it arrive by Friday?"),  # (its reply's indented copy left out)
        ("outbound", "Yes, it ships today"),
    ]
    first, answer, please, deleted, question, reply = events
    # The Mac's local time ("%l": the hour padded with a space), read in the zone given.
    assert first.occurred_at == datetime(2022, 5, 17, 21, 29, 42, tzinfo=UTC)
    assert question.occurred_at == datetime(2022, 5, 18, 14, 5, 45, tzinfo=UTC)
    (priya,) = first.participants
    assert (priya.role, priya.phone) == ("author", "+447700900888")
    assert [(p.role, p.phone) for p in answer.participants] == [("member", "+447700900888")]
    assert answer.details["reactions"] == "Loved by +447700900888"
    assert "Loved" not in answer.text
    # A text over paragraphs keeps them; the picture is listed, not read as text.
    assert please.text == "Please do.\n\nIt is for my mother's birthday on Saturday."
    assert please.details["media"] == [{"kind": "photo", "file": "IMG_2041.HEIC"}]
    assert deleted.details["deleted"] is True and deleted.text == "Sorry, wrong chat"
    assert reply.details["reply"] is True and reply.text == "Yes, it ships today"
    assert {e.source for e in events} == {"imessage"}
    assert len({e.thread_key for e in events}) == 1
    assert len({e.external_id for e in events}) == 6


def test_a_named_group_with_its_notice() -> None:
    renamed, first, second, mine = _events(GROUP)
    assert (renamed.direction, renamed.text) == (
        "system",
        "You renamed the conversation to Saturday market",
    )
    assert first.title == "Saturday market" and first.details["group"] == "Saturday market"
    assert [(p.role, p.phone, p.email) for p in second.participants] == [
        ("author", None, "ann@example.org"),
        ("member", "+447700900888", None),
    ]
    assert {p.phone or p.email for p in mine.participants} == {"+447700900888", "ann@example.org"}


def test_a_chat_of_only_my_messages_goes_to_the_number_its_file_is_named_after(
    tmp_path: Path,
) -> None:
    path = tmp_path / "+447700900777.txt"
    path.write_text("May 17, 2022  5:29:42 PM\nMe\nYour parcel is on its way\n\n")
    (event,) = _events(path)
    assert event.direction == "outbound"
    assert [p.phone for p in event.participants] == ["+447700900777"]


def test_an_unreadable_time_is_a_problem_and_the_rest_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "+447700900888.txt"
    path.write_text(ONE.read_text().replace("May 18, 2022 10:02:00 AM", "May 32, 2022 10:02:00 AM"))
    items = _items(path)
    (problem,) = [i for i in items if isinstance(i, Problem)]
    assert problem.location == "+447700900888.txt:18"
    assert len([i for i in items if isinstance(i, EventRecord)]) == 5


def test_through_the_cli_one_customer_and_importing_again_adds_nothing(tmp_path: Path) -> None:
    """The folder of text and HTML exports through the installed command: each number and
    address one customer, importing it again adds nothing."""
    tool = CLI(tmp_path)
    tool.run("config", "region", "GB")
    reports = [r for r in tool.json("import", str(FIX))["files"] if r["format"]]
    assert sorted((r["format"], r["added"], len(r["problems"])) for r in reports) == [
        ("imessage_html", 6, 0),
        ("imessage_txt", 4, 0),
        ("imessage_txt", 6, 0),
    ]
    customers = tool.json("customers")
    assert sorted(c["phones"][0] if c["phones"] else c["emails"][0] for c in customers) == [
        "+447700900555",
        "+447700900888",
        "ann@example.org",
    ]
    again = [r for r in tool.json("import", str(FIX))["files"] if r["format"]]
    assert sorted((r["added"], r["duplicates"]) for r in again) == [(0, 4), (0, 6), (0, 6)]


def test_a_sender_known_by_name_is_left_to_the_owner_settings(tmp_path: Path) -> None:
    """Exported with ``--custom-name Jane``, the owner's lines read "Jane": a name alone
    could be the owner, so the owner settings decide (a number or address never is)."""
    path = tmp_path / "Ann Lee.txt"
    path.write_text(
        "May 17, 2022  5:29:42 PM\nAnn Lee\nHello\n\nMay 17, 2022  5:30:00 PM\nJane\nHi Ann\n\n"
    )
    ann, jane = _events(path)
    assert ann.direction is None and jane.direction is None
    assert (ann.participants[0].name, ann.participants[0].handle) == ("Ann Lee", "Ann Lee")


# --- the HTML export (-f html) ---------------------------------------------------------------

PAGE = FIX / "+447700900555, ann@example.org.html"


def test_the_html_export_reads_as_the_text_one() -> None:
    """Each message of the page, its notice, reactions, picture, subject, shared link and
    deletion; the reply's copy under the message it answers is skipped; an SMS is on "sms"."""
    from connectors.imessage_html import IMessageHtmlConnector

    assert registry.detect(PAGE).name == "imessage_html"
    items = list(IMessageHtmlConnector().parse(PAGE, ParseOptions(tz=ZoneInfo("UTC"))))
    assert not [i for i in items if isinstance(i, Problem)]
    events = [i for i in items if isinstance(i, EventRecord)]
    assert [(e.direction, e.source, e.text) for e in events] == [
        ("system", "imessage", "You renamed the conversation to Wedding flowers 💐"),
        ("inbound", "imessage", "Can you do peonies & roses for 12 tables?"),
        ("outbound", "imessage", "Yes, we can."),
        ("inbound", "imessage", "Colours\nSomething like this, please"),
        ("outbound", "sms", "https://example.com/quote/1042 Quote #1042"),
        ("inbound", "imessage", "Ignore that"),
    ]
    _notice, question, answer, colours, quote, ignored = events
    assert question.occurred_at == datetime(2022, 7, 17, 17, 4, 4, tzinfo=UTC)
    assert question.details["reactions"] == "Liked by Me"
    assert question.participants[0].phone == "+447700900555"
    assert answer.details["reply"] is True
    assert {p.phone or p.email for p in answer.participants} == {
        "+447700900555",
        "ann@example.org",
    }
    assert colours.participants[0].email == "ann@example.org"
    assert colours.details["media"] == [{"kind": "photo", "file": "IMG_0412.jpeg"}]
    assert quote.details["service"] == "SMS"
    assert ignored.details["deleted"] is True
    assert len({e.thread_key for e in events}) == 1


def test_an_html_page_of_no_messages_says_so(tmp_path: Path) -> None:
    from connectors.imessage_html import IMessageHtmlConnector

    path = tmp_path / "+447700900555.html"
    path.write_text('<html><div class="message"></div></html>')
    (problem,) = IMessageHtmlConnector().parse(path, ParseOptions(tz=ZoneInfo("UTC")))
    assert problem == Problem("+447700900555.html", "no message found in the page")


def test_a_file_that_is_not_an_export_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("".join(f"line {i}\n" for i in range(500)))
    (problem,) = _items(path)
    assert problem == Problem("notes.txt:1", "text before the first message; skipped")
