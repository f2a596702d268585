"""Tests for the WhatsApp chat export connector, on real samples and hand-made fixtures."""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import FormatError
from app.records import EventRecord, Item, Notice, OwnerHint, ParseOptions, Problem
from connectors.whatsapp import WhatsAppConnector, normalize_text

FIXTURES = Path(__file__).parent / "fixtures" / "whatsapp"
LONDON = ZoneInfo("Europe/London")
CONNECTOR = WhatsAppConnector()


def parse(path: Path, **options: Any) -> list[Item]:
    options.setdefault("tz", LONDON)
    return list(CONNECTOR.parse(path, ParseOptions(**options)))


def events(items: Sequence[Item]) -> list[EventRecord]:
    return [i for i in items if isinstance(i, EventRecord)]


def authors(records: Sequence[EventRecord]) -> list[str]:
    seen: dict[str, None] = {}
    for r in records:
        for p in r.participants:
            if p.role == "author":
                seen.setdefault(p.name)
    return list(seen)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


LOREM_AUTHORS = ["John Doe", "Jahn Doe", "John-John Doe", "John Doe 🤓", "🤓"]


@pytest.mark.parametrize(
    ("name", "tz", "first", "last"),
    [
        ("whatsapp_android_ddmmyy_24h.txt", "Europe/London", (2019, 1, 1, 11, 25), None),
        (
            "whatsapp_android_mmddyyyy_12h_localized_ampm.txt",
            "Europe/Madrid",
            (2019, 1, 1, 10, 25),
            (2021, 12, 30, 21, 1),
        ),
        ("whatsapp_android_yyyymmdd_24h.txt", "UTC", (2019, 1, 1, 11, 25), None),
        (
            "whatsapp_ios_bracketed_mmddyy_24h.txt",
            "America/New_York",
            (2019, 1, 1, 16, 25),
            (2021, 12, 31, 3, 1),
        ),
    ],
)
def test_lorem_samples(
    name: str, tz: str, first: tuple[int, ...], last: tuple[int, ...] | None
) -> None:
    items = parse(FIXTURES / name, tz=ZoneInfo(tz))
    assert not [i for i in items if not isinstance(i, EventRecord)]  # the file decides the order
    recs = events(items)
    assert len(recs) == 9
    assert authors(recs) == LOREM_AUTHORS
    assert recs[0].occurred_at == utc(*first)
    assert recs[-1].occurred_at == utc(*(last or (2021, 12, 30, 22, 1)))
    assert recs[2].text == "Lorem ipsum dolor sit amet,\nconsectetur adipiscing elit. Duis libero."
    assert recs[-1].text.endswith("Duis libero.")  # last line without a newline
    assert recs[1].text == "."  # "John Doe:." (no space) is still John Doe's message
    assert recs[3].text == "Lorem ipsum : dolor sit amet."
    system = [r for r in recs if r.direction == "system"]
    assert [r.text for r in system] == ['+12 345 578 created group "Groupname"', "You were added"]
    assert all(r.details["group"] == "Groupname" for r in recs)
    assert {p.name for p in system[0].participants} == set(LOREM_AUTHORS)
    assert {p.role for p in system[0].participants} == {"member"}
    assert recs[0].locator == f"{name}:1" and recs[3].locator == f"{name}:5"
    assert all(r.occurred_at.tzinfo == UTC for r in recs)


def test_android_record_fields() -> None:
    recs = events(parse(FIXTURES / "whatsapp_android_ddmmyy_24h.txt"))
    rec = recs[0]
    assert rec.channel == "chat" and rec.source == "whatsapp"
    assert rec.thread_key == "whatsapp:whatsapp_android_ddmmyy_24h"
    assert rec.title == "whatsapp_android_ddmmyy_24h"
    assert rec.direction is None
    author, *members = rec.participants
    assert author.role == "author" and author.name == "John Doe"
    assert author.handle == "John Doe" and author.phone is None and author.platform == "whatsapp"
    assert [m.name for m in members] == LOREM_AUTHORS[1:]
    assert all(m.role == "member" for m in members)
    assert len({r.external_id for r in recs}) == 9


def test_phone_author_is_a_phone() -> None:
    recs = events(parse(FIXTURES / "whatsapp_mixed_variants_testlog.txt"))
    rec = next(r for r in recs if r.text == "Lorem ipsum.")
    author = rec.participants[0]
    assert (author.role, author.phone, author.handle) == ("author", "+12 345 578", None)


def test_mixed_variants() -> None:
    items = parse(FIXTURES / "whatsapp_mixed_variants_testlog.txt", tz=ZoneInfo("UTC"))
    assert not [i for i in items if isinstance(i, Problem | Notice)]
    recs = events(items)
    assert len(recs) == 20
    assert authors(recs) == [
        "John Doe",
        "Jahn Doe",
        "+12 345 578",
        "John-John Doe",
        "John Doe 🤓",
        "🤓",
    ]
    times = {r.text: r.occurred_at for r in recs}
    assert times["Hello world"] == utc(2019, 9, 24, 23, 30)
    assert times["Testing am"] == utc(2019, 9, 24, 11, 30)
    assert times["Testing spacing in pm"] == utc(2019, 12, 24, 23, 30)
    assert times["Testing brackets"] == utc(2022, 9, 10, 22, 37)
    assert times["Testing date dashes"] == utc(2022, 9, 10, 22, 37)
    assert times["Testing dash - in message body"] == utc(2021, 10, 24, 15, 21, 43)
    assert recs[3].text.count("\n") == 5
    system = [r.text for r in recs if r.direction == "system"]
    assert system[0].startswith("Messages and calls are end-to-end encrypted.")
    assert len(system) == 3


def test_nbsp_p_m_sample() -> None:
    items = parse(FIXTURES / "whatsapp_nbsp_in_ampm.txt", tz=ZoneInfo("America/Bogota"))
    recs = events(items)
    assert [r.text for r in recs] == [
        "Testing abnormal unicode",
        "Testing emoji 🤓",
        "Testing emoji 🤓",
    ]
    assert authors(recs) == ["John Doe", "John Doe 🤓", "🤓"]
    # 09/10/22 fits both orders: GB (the default region) reads it as 9 October.
    assert recs[0].occurred_at == utc(2022, 10, 10, 3, 37)
    notices = [i.message for i in items if isinstance(i, Notice)]
    assert notices == [
        "whatsapp_nbsp_in_ampm.txt: dates were ambiguous; read as day/month/year (region GB)"
    ]
    assert recs[1].external_id != recs[2].external_id  # different authors


def test_ios_lrm_crlf_sample() -> None:
    name = "whatsapp_ios_2019_lrm_crlf.txt"
    assert b"\r\n" in (FIXTURES / name).read_bytes()
    items = parse(FIXTURES / name)
    assert not [i for i in items if not isinstance(i, EventRecord)]
    recs = events(items)
    assert len(recs) == 100
    assert authors(recs) == ["Loris", "John", "Emily"]
    assert recs[0].occurred_at == utc(2019, 6, 20, 14, 58, 47)  # BST
    assert recs[-1].occurred_at == utc(2019, 6, 20, 18, 54, 58)
    assert recs[0].direction == "system"
    assert recs[0].text == "Messages to this group are now secured with end-to-end encryption."
    assert [r.text for r in recs[:3] if r.direction == "system"][1:] == [
        "Loris created group “WhatsApp Chat Parser Example”",
        "Loris added you",
    ]
    assert recs[3].details == {"group": "WhatsApp Chat Parser Example"}
    assert not any("\r" in r.text or "\u200e" in r.text for r in recs)
    assert recs[19].text == (
        "It was just a suggestion\nIf you want we can change place\n"
        "Have you ever been to <insert cool place here>?"
    )
    assert recs[-1].text == (
        "Links:\n- https://github.com/Pustur/whatsapp-chat-parser\n"
        "- https://github.com/Pustur/whatsapp-chat-parser-website"
    )
    assert recs[19].locator == f"{name}:20" and recs[20].locator == f"{name}:23"


def test_ios_attached_media() -> None:
    recs = events(parse(FIXTURES / "whatsapp_ios_attached_media.txt"))
    assert len(recs) == 50
    assert len([r for r in recs if r.direction == "system"]) == 4
    media = [(r.text, r.details["media"]) for r in recs if "media" in r.details]
    assert media == [
        (
            "<attached: 00000001-PHOTO-2019-06-20-16-00-15.jpg>",
            {"kind": "photo", "file": "00000001-PHOTO-2019-06-20-16-00-15.jpg"},
        ),
        (
            "<attached: 00000002-VIDEO-2019-06-20-16-01-42.mp4>",
            {"kind": "video", "file": "00000002-VIDEO-2019-06-20-16-01-42.mp4"},
        ),
        (
            "<attached: 00000003-AUDIO-2019-06-20-16-03-55.mp3>",
            {"kind": "audio", "file": "00000003-AUDIO-2019-06-20-16-03-55.mp3"},
        ),
        (
            "<attached: 00000004-whatsapp-chat-parser-example.zip>",
            {"kind": "document", "file": "00000004-whatsapp-chat-parser-example.zip"},
        ),
    ]


ALICE = FIXTURES / "WhatsApp Chat with Alice Smith.txt"


def test_android_one_to_one_chat() -> None:
    items = parse(ALICE)
    assert items[0] == OwnerHint("name", "Bob's Bakery")
    recs = events(items)
    assert len(recs) == 12
    assert {r.title for r in recs} == {"Alice Smith"}
    assert {r.thread_key for r in recs} == {"whatsapp:Alice Smith"}
    assert recs[0].direction == "system"
    assert recs[2].text == "Yes it is: £24 plus shipping."
    assert recs[3].text == "Delivery takes\n2-3 days\n\nLet me know."
    # Bob's outbound message carries Alice as a member, so it reaches her timeline.
    assert [(p.role, p.name) for p in recs[2].participants] == [
        ("author", "Bob's Bakery"),
        ("member", "Alice Smith"),
    ]
    media = {r.locator: r.details.get("media") for r in recs}
    assert media[f"{ALICE.name}:8"] == {"kind": "other", "file": None}
    assert media[f"{ALICE.name}:9"] == {"kind": "photo", "file": "IMG-20240315-WA0001.jpg"}
    assert media[f"{ALICE.name}:11"] == {"kind": "document", "file": "invoice-1042.pdf"}
    assert media[f"{ALICE.name}:13"] == {"kind": "audio", "file": "PTT-20240315-WA0002.opus"}
    assert media[f"{ALICE.name}:14"] == {"kind": "location", "file": None}
    assert recs[5].text == "IMG-20240315-WA0001.jpg (file attached)\nthis is the one"


def test_impossible_date_is_a_problem_and_kept_in_previous_message() -> None:
    items = parse(ALICE)
    problems = [i for i in items if isinstance(i, Problem)]
    line = "31/02/2024, 10:08 - Alice Smith: this header has an impossible date"
    assert len(problems) == 1
    assert problems[0].location == f"{ALICE.name}:15"
    assert "impossible date or time '31/02/2024, 10:08 -'" in problems[0].reason
    location = next(r for r in events(items) if r.locator == f"{ALICE.name}:14")
    assert location.text == "location: https://maps.google.com/?q=51.5007,-0.1246\n" + line


def test_identical_repeats_and_spring_forward_gap() -> None:
    recs = events(parse(ALICE))
    ok1, ok2, shipped = recs[-3:]
    assert ok1.text == ok2.text == "ok" and ok1.occurred_at == ok2.occurred_at
    assert ok1.external_id.endswith(":1") and ok2.external_id.endswith(":2")
    assert ok1.external_id.split(":")[0] == ok2.external_id.split(":")[0]
    # 01:30 does not exist in London on 31 March 2024; it is read with the GMT offset.
    assert shipped.occurred_at == utc(2024, 3, 31, 1, 30)


def test_longer_export_keeps_old_ids(tmp_path: Path) -> None:
    old = events(parse(ALICE))
    longer = tmp_path / ALICE.name
    longer.write_text(
        ALICE.read_text(encoding="utf-8")
        + "01/04/2024, 12:00 - Alice Smith: ok\n01/04/2024, 12:01 - Alice Smith: Got it, thanks!\n",
        encoding="utf-8",
    )
    new = events(parse(longer))
    assert len(new) == len(old) + 2
    assert [r.external_id for r in new[: len(old)]] == [r.external_id for r in old]
    assert len({r.external_id for r in new}) == len(new)


def test_owner_names_suppress_the_hint() -> None:
    items = parse(ALICE, owner_names=("Bob's Bakery",))
    assert not [i for i in items if isinstance(i, OwnerHint)]


def test_no_hint_for_group_or_plain_file_name() -> None:
    items = parse(FIXTURES / "whatsapp_ios_2019_lrm_crlf.txt")
    assert not [i for i in items if isinstance(i, OwnerHint)]


def test_ios_chat_txt_takes_folder_name() -> None:
    path = FIXTURES / "WhatsApp Chat - Carol" / "_chat.txt"
    items = parse(path, tz=ZoneInfo("Europe/Berlin"))
    assert items[0] == OwnerHint("name", "Shop Owner")
    recs = events(items)
    assert len(recs) == 4
    assert {r.thread_key for r in recs} == {"whatsapp:Carol"}
    assert recs[0].occurred_at == utc(2023, 11, 13, 13, 8, 18)
    assert recs[1].text == 'Haben Sie das: Modell "B-2"?'
    assert recs[3].details["media"] == {
        "kind": "photo",
        "file": "00000003-PHOTO-2023-11-14-08-01-02.jpg",
    }


AMBIGUOUS = FIXTURES / "ios_ambiguous_12h_narrow_nbsp.txt"


def test_ambiguous_dates_follow_region() -> None:
    items = parse(AMBIGUOUS, tz=ZoneInfo("America/Toronto"), region="US")
    notices = [i.message for i in items if isinstance(i, Notice)]
    assert notices == [
        f"{AMBIGUOUS.name}: dates were ambiguous; read as month/day/year (region US)"
    ]
    recs = events(items)
    assert len(recs) == 6
    assert recs[1].occurred_at == utc(2023, 1, 5, 0, 2, 10)  # 4 Jan 7:02:10 PM EST
    assert recs[4].occurred_at == utc(2023, 2, 3, 5, 15)  # 12:15 AM is just after midnight


def test_ambiguous_dates_default_region_is_gb() -> None:
    items = parse(AMBIGUOUS)
    notices = [i.message for i in items if isinstance(i, Notice)]
    assert notices == [
        f"{AMBIGUOUS.name}: dates were ambiguous; read as day/month/year (region GB)"
    ]
    assert events(items)[1].occurred_at == utc(2023, 4, 1, 18, 2, 10)  # 1 April, BST


def test_ambiguous_dates_follow_date_order_option() -> None:
    items = parse(AMBIGUOUS, region="GB", date_order="mdy")
    notices = [i.message for i in items if isinstance(i, Notice)]
    assert notices == [
        f"{AMBIGUOUS.name}: dates were ambiguous; read as month/day/year "
        "(as set in the import options)"
    ]
    assert events(items)[1].occurred_at == utc(2023, 1, 4, 19, 2, 10)


def test_file_order_beats_option_with_notice() -> None:
    items = parse(FIXTURES / "whatsapp_android_ddmmyy_24h.txt", date_order="mdy")
    notices = [i.message for i in items if isinstance(i, Notice)]
    assert len(notices) == 1 and "only fit day/month/year" in notices[0]
    assert events(items)[1].occurred_at == utc(2019, 1, 20, 11, 23)


def test_ios_narrow_nbsp_lrm_and_encryption_notice() -> None:
    recs = events(parse(AMBIGUOUS, region="US"))
    assert recs[0].direction == "system"
    assert recs[0].text.startswith("Messages and calls are end-to-end encrypted.")
    assert authors(recs) == ["Dana Lee", "+1 (415) 634-0199"]
    assert recs[3].details["media"] == {"kind": "photo", "file": None}
    assert recs[3].text == "image omitted"
    assert recs[4].details["media"]["kind"] == "sticker"
    assert recs[5].details["media"] == {"kind": "contact", "file": None}
    assert recs[2].participants[0].phone == "+1 (415) 634-0199"


def test_year_first_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_bytes(
        "\ufeff[2024/10/31 15:50:46] 李雷: 你好\r\n"
        "[2024/10/31 15:51:00] 韩梅梅: 好的\r\n第二行".encode()
    )
    items = parse(path, tz=ZoneInfo("Asia/Shanghai"), region="CN")
    assert not [i for i in items if isinstance(i, Notice)]
    recs = events(items)
    assert [r.occurred_at for r in recs] == [
        utc(2024, 10, 31, 7, 50, 46),
        utc(2024, 10, 31, 7, 51),
    ]
    assert authors(recs) == ["李雷", "韩梅梅"]
    assert recs[1].text == "好的\n第二行"


def test_repeated_hour_keeps_time_moving(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_text(
        "27/10/2024, 01:50 - A: before\n27/10/2024, 01:10 - A: after the clocks went back\n",
        encoding="utf-8",
    )
    first, second = events(parse(path))
    assert first.occurred_at == utc(2024, 10, 27, 0, 50)  # BST
    assert second.occurred_at == utc(2024, 10, 27, 1, 10)  # GMT, the second 01:10


def test_text_before_first_message_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_text("stray line\n13/02/2024, 10:00 - A: hi\n", encoding="utf-8")
    items = parse(path)
    assert items[0] == Problem("chat.txt:1", "text before the first message: stray line")


def test_not_whatsapp_raises_format_error() -> None:
    with pytest.raises(FormatError, match="not a WhatsApp chat export"):
        parse(FIXTURES / "not_a_chat.txt")


def test_empty_file_raises_format_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(FormatError):
        parse(path)


def test_sniff() -> None:
    for path in FIXTURES.rglob("*.txt"):
        expected = 0.0 if path.name == "not_a_chat.txt" else 0.9
        assert CONNECTOR.sniff(path, path.read_bytes()[:65536]) == expected, path.name
    assert CONNECTOR.sniff(ALICE, b"") == 0.0
    assert CONNECTOR.sniff(ALICE, b"\x00\xff\xfe garbage") == 0.0


def test_connector_attributes() -> None:
    assert CONNECTOR.name == "whatsapp"
    assert CONNECTOR.label == "WhatsApp chat export (.txt or .zip)"
    assert CONNECTOR.channel == "chat"
    assert CONNECTOR.extensions == (".txt", ".zip")


def test_progress_and_cancel(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text(
        "".join(f"01/02/2024, 10:{i % 60:02d} - A: message {i}\n" for i in range(3000)),
        encoding="utf-8",
    )
    calls: list[tuple[int, int]] = []
    recs = events(parse(path, progress=lambda done, total: calls.append((done, total))))
    assert len(recs) == 3000
    assert calls[-1] == (path.stat().st_size, path.stat().st_size)
    assert len(calls) > 2
    polls = iter(range(100))
    # The first pass (date order, authors) polls 5 times, the second every 500 lines.
    cut = events(parse(path, should_cancel=lambda: next(polls) >= 7))
    assert 0 < len(cut) < 3000
    polls = iter(range(100))
    assert events(parse(path, should_cancel=lambda: next(polls) >= 2)) == []


def test_copying_keeps_chat_key(tmp_path: Path) -> None:
    copy = tmp_path / "WhatsApp Chat with Alice Smith (1).txt"
    shutil.copy(ALICE, copy)
    assert {r.thread_key for r in events(parse(copy))} == {"whatsapp:Alice Smith"}


# --- property test -------------------------------------------------------------------------

_HEADERS = st.sampled_from(
    [
        "{d}/{m}/{y}, {h}:{mi} - ",
        "[{d}/{m}/{y}, {h}:{mi}:00] ",
        "{d}.{m}.{y} {h}:{mi} - ",
        "[{y4}-{m}-{d} {h}:{mi}] ",
        "{d}/{m}/{y}, {h}:{mi}\u202fp. m. - ",
    ]
)
_FREE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
    max_size=40,
).filter(lambda s: not re.match(r"\s*[\[\d]", normalize_text(s)))
_AUTHOR = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
    min_size=1,
    max_size=15,
).filter(lambda s: ": " not in s and ":" not in s[-1:])


@st.composite
def _header_line(draw: st.DrawFn) -> tuple[str, str]:
    fmt = draw(_HEADERS)
    d, m = draw(st.integers(0, 35)), draw(st.integers(0, 14))
    stamp = fmt.format(
        d=d,
        m=m,
        y=draw(st.sampled_from(["19", "2020"])),
        y4=2021,
        h=draw(st.integers(0, 25)),
        mi=f"{draw(st.integers(0, 59)):02d}",
    )
    author = draw(st.one_of(st.none(), _AUTHOR))
    # A system line's text has no colon, or part of it would be read as an author.
    text = draw(_FREE if author is not None else _FREE.filter(lambda s: ":" not in s))
    body = text if author is None else f"{author}: {text}"
    return stamp + body, text


_LINES = st.lists(st.one_of(_header_line(), _FREE.map(lambda s: (s, s))), max_size=25)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=_LINES, region=st.sampled_from(["GB", "US", "CN"]), crlf=st.booleans())
def test_property_never_raises_and_loses_nothing(
    tmp_path: Path, lines: list[tuple[str, str]], region: str, crlf: bool
) -> None:
    path = tmp_path / "WhatsApp Chat with X.txt"
    path.write_bytes(("\r\n" if crlf else "\n").join(raw for raw, _ in lines).encode("utf-8"))
    try:
        items = parse(path, region=region)
    except FormatError:
        return
    blob = "\n".join(
        [r.text for r in events(items)] + [p.reason for p in items if isinstance(p, Problem)]
    )
    for _, fragment in lines:
        wanted = normalize_text(fragment).strip()
        assert wanted in blob


@given(st.text(max_size=300))
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_property_arbitrary_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "chat.txt"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        items = parse(path)
    except FormatError:
        return
    assert all(isinstance(i, EventRecord | Problem | Notice | OwnerHint) for i in items)
    assert CONNECTOR.sniff(path, path.read_bytes()) in (0.0, 0.5, 0.9)


def test_private_use_characters_stay_in_the_messages(tmp_path: Path) -> None:
    # Old iPhones (SoftBank's emoji) wrote smileys as private-use characters, U+E000 up: once
    # taken out of every line with the parser's own marker; a problem line keeps them too.
    path = tmp_path / "WhatsApp Chat with Kenji.txt"
    path.write_text(
        "[14/03/2012, 09:16:00] Kenji: Thanks \ue415\ue000\n"
        "[31/02/2012, 09:17:00] Kenji: \ue056 later\n"
        "[14/03/2012, 09:18:00] Kenji: \u200eimage omitted\n",
        encoding="utf-8",
    )
    items = parse(path)
    recs = events(items)
    assert recs[0].text.startswith("Thanks \ue415\ue000")
    assert recs[0].text.endswith("\ue056 later")  # (the impossible date: kept in its message)
    problem = next(i for i in items if isinstance(i, Problem))
    assert problem.reason.endswith("\ue056 later")
    assert recs[1].direction is None and recs[1].text == "image omitted"
    assert [r.direction for r in recs] == [None, None]
