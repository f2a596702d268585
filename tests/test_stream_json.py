"""Big and hostile JSON exports (issue 15, items 2, 3 and 14).

* Telegram, Zendesk, Meta and Slack exports are streamed: a child process parses a file of a
  few hundred MB, built here, and its peak memory stays far below the file's size.
* A Slack zip of many 1 MiB members that compress to almost nothing is refused at once, in
  one line, with bounded memory; the zip reader counts the bytes that really come out.
* A number the parser cannot hold, ``NaN`` and ``Infinity`` make the file fail in one line.
* Slack bots are automated senders named by their name with their attachment text; an
  Instagram shared post keeps its link and text; a Zendesk requester's ``via`` name is used.
"""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.db import Database
from app.errors import FormatError
from app.ingest import import_paths
from app.models import CustomerIdentity, Identity
from app.records import EventRecord, Item, ParseOptions, Problem
from connectors import registry
from connectors.archive import ArchiveError, ArchiveRefused, SafeZip, ZipLimits
from connectors.chat_common import load_json
from connectors.json_stream import Reader, Stopped
from connectors.meta_dyi import InstagramConnector, MessengerConnector
from connectors.slack import SlackConnector
from connectors.telegram import TelegramConnector
from connectors.zendesk import ZendeskConnector

needs_proc = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="peak memory is read from /proc"
)
MIB = 1024 * 1024
BIG = 200 * MIB
# What a parse may add to a child's peak memory, whatever the file's size.
HEADROOM_KIB = 80 * 1024

_CHILD = """
import json, resource, sys
from pathlib import Path
from zoneinfo import ZoneInfo
from app.records import EventRecord, ParseOptions, Problem
from connectors import registry

path = Path(sys.argv[1])
found = {"events": 0, "problems": 0, "error": "", "format": ""}
try:
    connector = registry.detect(path)
    found["format"] = connector.name
    for item in connector.parse(path, ParseOptions(tz=ZoneInfo("UTC"))):
        found["events"] += isinstance(item, EventRecord)
        found["problems"] += isinstance(item, Problem)
except Exception as exc:
    found["error"] = f"{type(exc).__name__}: {exc}"
# VmHWM is this process's own peak since exec; ru_maxrss would carry over the peak of
# the pytest process it was forked from.
with open("/proc/self/status") as status:
    hwm = [line.split()[1] for line in status if line.startswith("VmHWM:")]
found["peak_kib"] = int(hwm[0]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(found))
"""


def run_child(path: Path) -> dict[str, Any]:
    """Parse ``path`` in a fresh interpreter; what it found and its own peak RSS (KiB)."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def baseline(tmp_path: Path) -> int:
    """The peak RSS of a child that parses a tiny Telegram export."""
    small = tmp_path / "small" / "result.json"
    small.parent.mkdir()
    write_telegram(small, 10_000)
    found = run_child(small)
    assert found["events"] > 0 and not found["error"]
    return int(found["peak_kib"])


def fill(path: Path, head: str, item: str, tail: str, size: int) -> int:
    """Write ``head``, then ``item % n`` joined by commas until ``size`` bytes, then ``tail``."""
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write(head)
        written = len(head)
        while written < size:
            block = ",".join(item % {"n": count + i} for i in range(500))
            if count:
                fh.write(",")
            fh.write(block)
            written += len(block) + 1
            count += 500
        fh.write(tail)
    return count


_WORDS = "Is the lemon cake still available for Saturday? We need two dozen, thanks! " * 25


def write_telegram(path: Path, size: int) -> int:
    item = json.dumps(
        {
            "id": 0,
            "type": "message",
            "date": "2024-03-01T10:00:00",
            "date_unixtime": "1709287200",
            "from": "Alice Smith",
            "from_id": "user77",
            "text": _WORDS,
        }
    ).replace('"id": 0', '"id": %(n)d')
    head = '{"name": "Alice Smith", "type": "personal_chat", "id": 77, "messages": ['
    return fill(path, head, item, "]}", size)


def write_zendesk(path: Path, size: int) -> int:
    item = json.dumps(
        {
            "id": 0,
            "created_at": "2024-03-01T10:00:00Z",
            "subject": "Cake order",
            "description": _WORDS,
            "requester_id": 9001,
            "via": {"channel": "email"},
        }
    ).replace('"id": 0', '"id": %(n)d')
    tail = '], "users": [{"id": 9001, "name": "Alice Smith", "email": "alice@example.com"}]}'
    return fill(path, '{"tickets": [', item, tail, size)


def write_messenger(path: Path, size: int) -> int:
    item = json.dumps(
        {"sender_name": "Alice Smith", "timestamp_ms": 1709287200000, "content": _WORDS}
    ).replace("1709287200000", "1709%(n)09d")
    head = '{"participants": [{"name": "Alice Smith"}, {"name": "Bob"}], "messages": ['
    tail = '], "title": "Alice Smith", "thread_type": "Regular", "thread_path": "inbox/alice_1"}'
    return fill(path, head, item, tail, size)


@needs_proc
@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "writer", "file_name"),
    [
        ("telegram", write_telegram, "result.json"),
        ("zendesk", write_zendesk, "tickets.json"),
        ("messenger", write_messenger, "message_1.json"),
    ],
)
def test_big_json_export_streams_with_flat_memory(
    tmp_path: Path, name: str, writer: Any, file_name: str
) -> None:
    base = baseline(tmp_path)
    path = tmp_path / "inbox" / "alice_1" / file_name
    path.parent.mkdir(parents=True)
    count = writer(path, BIG)
    assert path.stat().st_size >= BIG
    found = run_child(path)
    path.unlink()
    assert found["format"] == name and not found["error"]
    assert found["events"] == count
    # Loading it whole took several times the file's size; streamed, it adds a few MB.
    assert found["peak_kib"] < base + HEADROOM_KIB, (found["peak_kib"], base)


def slack_zip(path: Path, days: dict[str, bytes], *, level: int = 6) -> Path:
    users = [{"id": "U1", "name": "alice", "real_name": "Alice Smith"}]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        zf.writestr("users.json", json.dumps(users))
        zf.writestr("channels.json", json.dumps([{"id": "C1", "name": "orders"}]))
        for name, data in days.items():
            zf.writestr(name, data)
    return path


def day_names(count: int) -> list[str]:
    first = date(2020, 1, 1)
    return [f"orders/{first + timedelta(days=i)}.json" for i in range(count)]


@needs_proc
@pytest.mark.slow
def test_big_slack_channel_is_read_one_day_at_a_time(tmp_path: Path) -> None:
    base = baseline(tmp_path)
    message = '{"type": "message", "user": "U1", "text": "order %(n)d: %(words)s", "ts": "%(ts)s"}'
    noise = random.Random(15)
    pool = [noise.randbytes(1000).hex() for _ in range(64)]  # compresses about 2:1
    days: dict[str, bytes] = {}
    total = 0
    for index, name in enumerate(day_names(100)):
        stamp = 1577836800 + index * 86400
        rows = [
            message % {"n": n, "words": pool[(n * 7 + index) % 64], "ts": f"{stamp + n}.000100"}
            for n in range(800)
        ]
        days[name] = ("[" + ",".join(rows) + "]").encode()
        total += len(days[name])
    path = slack_zip(tmp_path / "export.zip", days, level=1)
    del days, rows
    assert total > 150 * MIB and path.stat().st_size * 200 > total
    found = run_child(path)
    assert found["format"] == "slack" and not found["error"]
    assert found["events"] == 100 * 800
    # The old reader held the whole channel (150 MB of JSON as Python objects).
    assert found["peak_kib"] < base + HEADROOM_KIB, (found["peak_kib"], base)


@needs_proc
def test_zip_of_many_small_bombs_is_refused_at_once(tmp_path: Path) -> None:
    base = baseline(tmp_path)
    day = b"[" + b" " * (MIB - 2) + b"]"  # exactly 1 MiB: under the per-member check
    path = slack_zip(tmp_path / "export.zip", dict.fromkeys(day_names(300), day), level=9)
    assert path.stat().st_size < 2 * MIB
    with pytest.raises(ArchiveRefused, match="possible zip bomb") as caught:
        SafeZip(path)
    assert "\n" not in str(caught.value)
    # Still recognised for what it claims to be, then refused in one line when imported.
    assert registry.detect(path).name == "slack"
    with pytest.raises(FormatError, match=r"^export\.zip: refused: .*possible zip bomb"):
        list(SlackConnector().parse(path, ParseOptions(tz=ZoneInfo("UTC"))))
    found = run_child(path)
    assert found["events"] == 0 and "possible zip bomb" in found["error"]
    assert found["peak_kib"] < base + 32 * 1024


def test_zip_reader_counts_what_comes_out(tmp_path: Path) -> None:
    noise = random.Random(15)
    members = {f"m{i}.txt": noise.randbytes(MIB) for i in range(4)}  # do not compress
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with SafeZip(path, ZipLimits(max_read_total=3 * MIB)) as archive:
        for name in ("m0.txt", "m1.txt", "m2.txt"):
            with archive.open(name) as stream:
                assert len(stream.read()) == MIB
        with archive.open("m3.txt") as stream, pytest.raises(ArchiveRefused, match="more than"):
            while stream.read(65536):
                pass
    with SafeZip(path) as archive:
        with archive.open("m0.txt", max_bytes=MIB) as stream:
            assert stream.read(10) == members["m0.txt"][:10]
        with pytest.raises(ArchiveError, match="more than the 100 allowed"):
            archive.open("m1.txt", max_bytes=100)


# --- numbers the parser cannot hold ---------------------------------------------------------

_HUGE = "1" + "0" * 5000


def _telegram(extra: str) -> str:
    return (
        '{"name": "A", "type": "personal_chat", "id": 1, "messages": [{"id": 1, '
        '"type": "message", "date_unixtime": "1709287200", "from": "A", "from_id": "user1", '
        f'"text": "hi", "x": {extra}}}]}}'
    )


def _zendesk(extra: str) -> str:
    return (
        '{"ticket": {"id": 1, "created_at": "2024-03-01T10:00:00Z", "requester_id": 2, '
        f'"via": {{"channel": "web"}}, "size": {extra}}}}}'
    )


def _meta(extra: str) -> str:
    return (
        '{"participants": [{"name": "A"}], "messages": [{"sender_name": "A", '
        f'"timestamp_ms": 1709287200000, "content": "hi", "x": {extra}}}]}}'
    )


def _slack(extra: str) -> str:
    return f'[{{"type": "message", "user": "U1", "ts": "1709287200.1", "x": {extra}}}]'


@pytest.mark.parametrize("number", [_HUGE, "-" + _HUGE, "NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize(
    ("connector", "shape"),
    [
        (TelegramConnector(), _telegram),
        (ZendeskConnector(), _zendesk),
        (MessengerConnector(), _meta),
        (SlackConnector(), _slack),
    ],
)
def test_numbers_the_parser_cannot_hold_fail_in_one_line(
    tmp_path: Path, connector: Any, shape: Any, number: str
) -> None:
    path = tmp_path / "chan" / "2024-03-01.json"
    path.parent.mkdir()
    path.write_text(shape(number), encoding="utf-8")
    try:
        found: list[Item] = list(connector.parse(path, ParseOptions(tz=ZoneInfo("UTC"))))
    except FormatError as exc:
        assert "\n" not in str(exc) and "not valid JSON" in str(exc)
    else:  # a Slack day file fails alone, as a problem
        assert isinstance(connector, SlackConnector)
        (problem,) = [i for i in found if isinstance(i, Problem)]
        assert "not valid JSON" in problem.reason and "\n" not in problem.reason
        assert not [i for i in found if isinstance(i, EventRecord)]


def test_bad_number_fails_its_file_only(db: Database, tmp_path: Path) -> None:
    bad = tmp_path / "bad" / "result.json"
    bad.parent.mkdir()
    bad.write_text(_telegram(_HUGE), encoding="utf-8")
    good = tmp_path / "good" / "result.json"
    good.parent.mkdir()
    good.write_text(_telegram("1"), encoding="utf-8")
    reports = {Path(r.path).parent.name: r for r in import_paths(db, [bad, good])}
    assert reports["bad"].status == "failed" and "\n" not in reports["bad"].error
    assert "not valid JSON" in reports["bad"].error
    assert reports["good"].status == "done" and reports["good"].added == 1


def test_repairs_survive_chunk_boundaries() -> None:
    # tdesktop's \xNN escapes, raw control characters and a BOM, cut at every chunk boundary.
    body = '"a\\x0Bb", "C:\\\\x1F", "\x01"'
    for pad in range(65536 - 40, 65536 + 8):
        raw = b'\xef\xbb\xbf["' + b"p" * pad + b'", ' + body.encode() + b"]"
        value = load_json(raw, "f")
        assert value[1:] == ["a\x0bb", "C:\\x1F", "\x01"], pad
    reader = Reader(io.BytesIO(b"[1]"))
    assert reader.read(0) == b"" and reader.read(100) == b"[1]" and reader.read(100) == b""


# --- item 14: bots, shared posts, requester names ---------------------------------------------


def _slack_folder(tmp_path: Path, messages: list[dict[str, Any]]) -> Path:
    root = tmp_path / "export"
    (root / "orders").mkdir(parents=True)
    users = [
        {"id": "U1", "name": "alice", "real_name": "Alice Smith"},
        {"id": "U9", "name": "deploybot", "real_name": "Deploy Bot", "is_bot": True},
    ]
    (root / "users.json").write_text(json.dumps(users))
    (root / "channels.json").write_text(json.dumps([{"id": "C1", "name": "orders"}]))
    (root / "orders" / "2024-03-01.json").write_text(json.dumps(messages))
    return root


BOT_MESSAGES: list[dict[str, Any]] = [
    {"type": "message", "user": "U1", "text": "Any news on #1042?", "ts": "1709287200.000100"},
    {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0JL6RASU",
        "text": "",
        "ts": "1709287260.000100",
        "attachments": [
            {
                "fallback": "Order #1042 shipped - ZX9",
                "pretext": "New shipment",
                "title": "Order #1042",
                "text": "Shipped with <https://track.example/ZX9|ZX9>",
                "fields": [{"title": "Carrier", "value": "DHL", "short": True}],
            }
        ],
    },
    {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0SHIP001",
        "bot_profile": {"id": "B0SHIP001", "name": "ShipBot"},
        "text": "Parcel status",
        "ts": "1709287320.000100",
        "attachments": [{"fallback": "Out for delivery"}],
    },
    {"type": "message", "user": "U9", "text": "deployed v2", "ts": "1709287380.000100"},
    {
        "type": "message",
        "user": "U1",
        "text": "see this",
        "ts": "1709287440.000100",
        "attachments": [{"title": "Cake shop", "text": "An unfurled page", "fallback": "x"}],
    },
]


def test_slack_bots_are_named_automated_senders_with_their_attachment_text(
    tmp_path: Path,
) -> None:
    root = _slack_folder(tmp_path, BOT_MESSAGES)
    items = list(SlackConnector().parse(root, ParseOptions(tz=ZoneInfo("UTC"))))
    recs = {r.external_id.split(":")[1]: r for r in items if isinstance(r, EventRecord)}
    human, shipped, parcel, deploy, unfurl = (recs[m["ts"]] for m in BOT_MESSAGES)
    assert shipped.text == "New shipment\nOrder #1042\nShipped with ZX9\nCarrier: DHL"
    assert parcel.text == "Parcel status\nOut for delivery"
    assert unfurl.text == "see this"  # a person's link preview adds nothing
    for bot in (shipped, parcel, deploy):
        assert bot.details["automated"] is True
    assert "automated" not in human.details and "automated" not in unfurl.details
    names = {r.participants[0].name for r in (shipped, parcel, deploy)}
    assert names == {"Slack app", "ShipBot", "Deploy Bot"}
    assert not any(p.name.startswith("B0") for r in recs.values() for p in r.participants)
    assert shipped.participants[0].platform_id == "B0JL6RASU"


def test_slack_bots_do_not_become_customers(db: Database, tmp_path: Path) -> None:
    root = _slack_folder(tmp_path, BOT_MESSAGES)
    (report,) = import_paths(db, [root])
    assert report.added == len(BOT_MESSAGES)
    with db.session() as session:
        rows = session.execute(
            select(Identity.value, func.count(CustomerIdentity.customer_id))
            .outerjoin(CustomerIdentity, CustomerIdentity.identity_id == Identity.id)
            .where(Identity.kind == "platform_id", Identity.platform == "slack")
            .group_by(Identity.value)
        ).all()
    customers = {value: count for value, count in rows}
    # Alice is a customer; the bots are kept as senders but belong to no customer.
    assert customers == {"U1": 1, "B0JL6RASU": 0, "B0SHIP001": 0, "U9": 0}


def test_instagram_shared_post_keeps_link_and_text(tmp_path: Path) -> None:
    path = tmp_path / "your_instagram_activity" / "messages" / "inbox" / "a_1" / "message_1.json"
    path.parent.mkdir(parents=True)
    data = {
        "participants": [{"name": "alice"}, {"name": "bakery"}],
        "messages": [
            {
                "sender_name": "alice",
                "timestamp_ms": 1709287200000,
                "share": {
                    "link": "https://www.instagram.com/p/C4abc/",
                    "share_text": "Lemon cake \u00e2\u009d\u00a4\u00ef\u00b8\u008f",
                },
            },
            {"sender_name": "bakery", "timestamp_ms": 1709287100000, "content": "hi"},
        ],
        "title": "alice",
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    assert registry.detect(path).name == "instagram"
    items = list(InstagramConnector().parse(path, ParseOptions(tz=ZoneInfo("UTC"))))
    shared = [i for i in items if isinstance(i, EventRecord)][-1]
    assert shared.text == "Lemon cake ❤️\nhttps://www.instagram.com/p/C4abc/"
    assert shared.details["share"]["link"] == "https://www.instagram.com/p/C4abc/"


def test_zendesk_requester_name_from_via(tmp_path: Path) -> None:
    path = tmp_path / "ticket.json"
    ticket = {
        "ticket": {
            "id": 35436,
            "created_at": "2024-03-01T10:00:00Z",
            "subject": "Where is my cake?",
            "description": "Ordered on Monday.",
            "requester_id": 20978392,
            "submitter_id": 20978392,
            "via": {
                "channel": "email",
                "source": {
                    "from": {"address": "jane@example.com", "name": "Jane Doe"},
                    "to": {"address": "help@bakery.example", "name": "Bakery"},
                },
            },
        }
    }
    path.write_text(json.dumps(ticket), encoding="utf-8")
    items = list(ZendeskConnector().parse(path, ParseOptions(tz=ZoneInfo("UTC"))))
    (record,) = [i for i in items if isinstance(i, EventRecord)]
    requester = record.participants[0]
    assert (requester.name, requester.email, requester.handle) == (
        "Jane Doe",
        "jane@example.com",
        None,
    )


def test_cancel_is_polled_while_a_big_file_is_read(tmp_path: Path) -> None:
    calls: list[int] = []

    def stop() -> bool:
        calls.append(1)
        return True

    reader = Reader(io.BytesIO(b" " * (8 * MIB) + b"[]"), should_cancel=stop)
    with pytest.raises(Stopped):
        while reader.read(65536):
            pass
    assert calls == [1] and reader.consumed <= 4 * MIB
    path = tmp_path / "result.json"
    write_telegram(path, 8 * MIB)
    # Stopped in the first reading, before anything is yielded (or found not to be its format).
    options = ParseOptions(tz=ZoneInfo("UTC"), should_cancel=stop)
    for connector in (TelegramConnector(), ZendeskConnector(), MessengerConnector()):
        assert list(connector.parse(path, options)) == []
