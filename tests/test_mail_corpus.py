"""Robustness: every message of two corpora imports or becomes a problem, in bounded time,
and no message is lost for want of a Date header (the fallback dates are tested at the end).

The corpora are the CPython email test messages (``fixtures/email/stdlib_corpus``)
and hand-written broken mail (``fixtures/email/broken``), plus pathological
messages generated here because they are large (a 2 MB header line, 200- and
1000-deep MIME nesting, thousands of parts, quadratic-HTML traps, random
bytes). See ``fixtures/email/SOURCES.md``.

pytest-timeout is not installed, so each message is timed with
``time.perf_counter`` against a generous budget; the per-message limits in
``connectors.mail`` keep the pathological ones far below it. A parse that
hangs outright would still hang the test run, which a CI job timeout catches.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.db import Database
from app.ingest import import_file
from app.records import EventRecord, Item, OwnerHint, ParseOptions, Problem
from connectors import mail
from connectors.mail_headers import envelope_date
from connectors.mail_text import MAX_SAFE_HTML_BYTES
from connectors.maildir import MaildirConnector, filename_date
from connectors.mbox import MboxConnector

EMAIL = Path(__file__).resolve().parent / "fixtures" / "email"
STDLIB = sorted((EMAIL / "stdlib_corpus").glob("msg_*.txt"))
BROKEN = sorted((EMAIL / "broken").glob("*.eml"))
_HEAD = b"From: a@example.com\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nSubject: x\n"


def _nested(depth: int) -> bytes:
    parts = [_HEAD]
    for n in range(depth):
        parts.append(b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (n, n))
    parts.append(b"Content-Type: text/plain\n\ndeep\n")
    parts.extend(b"--b%d--\n" % n for n in reversed(range(depth)))
    return b"".join(parts)


def _random(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _generated() -> dict[str, bytes]:
    html = b"Content-Type: text/html\n\n"
    return {
        "header_line_2mb": _HEAD + b"X-Long: " + b"a" * 2_000_000 + b"\n\nbody\n",
        "nested_200": _nested(200),
        "nested_1000": _nested(1000),
        "parts_6000": _HEAD
        + b'Content-Type: multipart/mixed; boundary="b"\n\n'
        + b"--b\n\nx\n" * 6000
        + b"--b--\n",
        "parts_4000_large": _HEAD
        + b'Content-Type: multipart/mixed; boundary="b"\n\n'
        + (b"--b\nContent-Type: text/plain\n\n" + b"y" * 3000 + b"\n") * 4000
        + b"--b--\n",
        "message_rfc822_nested_50k": _HEAD + b"Content-Type: message/rfc822\n\n" * 50_000,
        "cr_only_1mb_body": (_HEAD + b"\n" + b"line\n" * 300_000).replace(b"\n", b"\r"),
        "html_end_tag_opens": _HEAD + html + b"</" * 900_000,
        "html_less_than_signs": _HEAD + html + b"<" * 1_000_000,
        "html_unclosed_comment": _HEAD + html + b"<p>x<!--" + b"a" * 1_900_000,
        "addresses_40k": _HEAD.replace(
            b"Subject: x", b"To: " + b", ".join(b"u%d@example.com" % n for n in range(40_000))
        )
        + b"\n\nx\n",
        "encoded_words_60k": _HEAD.replace(
            b"Subject: x", b"Subject: " + b"=?utf-8?B?w6k=?= " * 60_000
        )
        + b"\n\nx\n",
        "header_lines_140k": _HEAD + b"X-A: b\n" * 140_000 + b"\nbody\n",
        "random_1mb": _random(1, 1_000_000),
        "random_after_headers": _HEAD + b"\n" + _random(2, 2_000_000),
        "random_unknown_charset": _HEAD
        + b"Content-Type: text/plain; charset=x-unknown\n\n"
        + _random(3, 500_000),
    }


GENERATED = _generated()
CASES = (
    [(f"stdlib_corpus/{p.name}", p) for p in STDLIB]
    + [(f"broken/{p.name}", p) for p in BROKEN]
    + [(f"generated/{name}", None) for name in GENERATED]
)


def _raw(name: str, path: Path | None) -> bytes:
    return path.read_bytes() if path is not None else GENERATED[name.split("/", 1)[1]]


def _check_record(record: EventRecord) -> None:
    assert record.occurred_at.tzinfo is not None
    assert record.occurred_at.utcoffset() is not None
    for value in (record.title, record.text, record.external_id, record.thread_key or ""):
        assert "\x00" not in value
    assert len(record.text) <= mail.MAX_TEXT_CHARS
    assert len(record.participants) <= mail.MAX_PARTICIPANTS
    assert all(p.email and "@" in p.email and "\x00" not in p.name for p in record.participants)
    json.dumps(dict(record.details))  # stored as JSON
    html = record.details.get("html")
    if html is not None:
        assert len(html.encode()) <= MAX_SAFE_HTML_BYTES
        lowered = html.lower()
        assert "<img" not in lowered and "<script" not in lowered and "url(" not in lowered


def _parse_timed(raw: bytes, locator: str) -> tuple[list[Item], float]:
    start = time.perf_counter()
    items = mail.MailReader().items(raw, locator)
    return items, time.perf_counter() - start


def _by_name(name: str) -> Item:
    path = EMAIL / name if not name.startswith("generated/") else None
    items, _ = _parse_timed(_raw(name, path), name)
    return items[-1]


@pytest.mark.parametrize(("name", "path"), CASES, ids=[c[0] for c in CASES])
def test_every_message_imports_or_becomes_a_problem_in_bounded_time(
    name: str, path: Path | None
) -> None:
    # How long it may take is the import's own bound (a message past it becomes a problem:
    # app.parse_worker); timing it here would only measure how busy the machine is.
    items, _elapsed = _parse_timed(_raw(name, path), name)
    assert 1 <= len(items) <= 2
    *hints, last = items
    assert all(isinstance(h, OwnerHint) for h in hints)
    if isinstance(last, Problem):
        assert last.location == name and last.reason and len(last.reason) <= 200
    else:
        assert isinstance(last, EventRecord)
        _check_record(last)


def test_the_corpora_are_all_there() -> None:
    assert len(STDLIB) == 48
    assert len(BROKEN) >= 25


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("generated/header_line_2mb", "header block larger than 1 MB"),
        ("generated/nested_200", "nested more than 50 levels"),
        ("generated/nested_1000", "nested"),
        ("generated/parts_6000", "MIME boundary lines"),
        ("generated/message_rfc822_nested_50k", "nested"),
        ("generated/random_1mb", "no usable date"),
        ("broken/binary_garbage.eml", "no usable date"),
        ("broken/empty.eml", "no usable date"),
    ],
)
def test_pathological_messages_are_problems_with_a_reason(name: str, reason: str) -> None:
    item = _by_name(name)
    assert isinstance(item, Problem) and reason in item.reason


def _record(name: str) -> EventRecord:
    item = _by_name(name)
    assert isinstance(item, EventRecord), item
    return item


def test_broken_mail_keeps_what_can_be_read() -> None:
    assert _record("broken/truncated_multipart.eml").text == (
        "The parcel arrived damaged, see photo."
    )
    assert "Order #1042 has not arrived." in _record("broken/missing_boundary.eml").text
    assert _record("broken/invalid_base64.eml").text == "Hello, where is my order?"
    assert "Gr\xfc\xdfe" in _record("broken/bad_qp_soft_breaks.eml").text
    nul = _record("broken/nul_bytes.eml")
    assert nul.title == "NUL bytes" and "Body with  NUL  bytes." in nul.text
    assert _record("broken/mixed_line_endings.eml").text == "CRLF, LF\nand CR"
    assert _record("broken/cr_only_line_endings.eml").text == "line one\nline two"
    dates = _record("broken/garbage_dates.eml")
    assert dates.details["date_from"] == "received"
    weird = _record("broken/weird_transfer_encodings.eml")
    assert weird.text.startswith("Hello there")  # "BASE64 " with a trailing space
    japanese = _record("broken/raw_shift_jis_headers.eml")
    assert (japanese.title, japanese.participants[0].name) == ("お問い合わせ", "山田 太郎")
    assert japanese.text == "こんにちは"


def test_unknown_and_lying_charsets_fall_back() -> None:
    unknown = _record("broken/unknown_charset.eml")
    assert unknown.title == "Rücksendung and café"
    assert unknown.text == "Grüße aus München, die Bestellung ist angekommen."
    lies = _record("broken/charset_lies.eml").text
    assert "café crème brûlée" in lies and "ありがとう" in lies
    guessed = _record("generated/random_unknown_charset")  # charset-normalizer's guess
    assert guessed.text


def test_attachment_names_are_data() -> None:
    names = [
        a["name"]
        for a in _record("broken/attachment_path_traversal_name.eml").details["attachments"]
    ]
    assert names[0] == "../../../etc/passwd"
    assert all("\x00" not in n for n in names)


def test_hostile_html_is_sanitised_and_its_text_indexed() -> None:
    record = _record("broken/html_hostile.eml")
    html = record.details["html"]
    assert "evil.example" not in html and "tracker.example" not in html
    assert "javascript:" not in html and "alert" not in html
    assert '<a href="https://shop.example/track?n=1"' in html
    assert "<b>Alice</b>" in html and "color:red" in html
    assert record.text == "Hello Alice,\n\nyour order shipped.\n\nItem Qty\n\nclick Track"


def _mbox_bytes(messages: list[bytes]) -> bytes:
    out = bytearray()
    for raw in messages:
        out += b"From corpus@example.com Mon Jan  1 00:00:00 2024\n"
        for line in raw.splitlines(keepends=True):
            out += b">" + line if line.lstrip(b">").startswith(b"From ") else line
        out += b"\n" if not raw.endswith(b"\n") else b""
        out += b"\n"
    return bytes(out)


def _all_messages() -> list[bytes]:
    return [_raw(name, path) for name, path in CASES]


@pytest.mark.slow
def test_the_whole_corpus_as_one_mbox(tmp_path: Path) -> None:
    messages = _all_messages()
    path = tmp_path / "corpus.mbox"
    path.write_bytes(_mbox_bytes(messages))
    items = list(MboxConnector().parse(path, ParseOptions(tz=UTC)))
    results = [i for i in items if isinstance(i, EventRecord | Problem)]
    assert len(results) == len(messages)
    for item in results:
        if isinstance(item, EventRecord):
            _check_record(item)
    # The 18 stdlib messages with neither a Date nor a dated Received header take the
    # From line's date instead of becoming problems.
    stdlib = results[: len(STDLIB)]
    assert all(isinstance(r, EventRecord) for r in stdlib)
    sources = Counter(r.details["date_from"] for r in stdlib if isinstance(r, EventRecord))
    assert sources == {"date": 29, "received": 1, "mbox_from_line": 18}
    assert all(
        r.occurred_at == datetime(2024, 1, 1, tzinfo=UTC)
        for r in stdlib
        if isinstance(r, EventRecord) and r.details["date_from"] == "mbox_from_line"
    )


@pytest.mark.slow
def test_the_whole_corpus_as_a_maildir(tmp_path: Path) -> None:
    messages = _all_messages()
    cur = tmp_path / "Maildir" / "cur"
    cur.mkdir(parents=True)
    (tmp_path / "Maildir" / "new").mkdir()
    for n, raw in enumerate(messages):
        (cur / f"{1700000000 + n}.M{n}P1.host:2,S").write_bytes(raw)
    items = list(MaildirConnector().parse(tmp_path / "Maildir", ParseOptions(tz=UTC)))
    results = [i for i in items if isinstance(i, EventRecord | Problem)]
    assert len(results) == len(messages)
    records = [i for i in results if isinstance(i, EventRecord)]
    assert records and all(r.details["flags"] == ["seen"] for r in records)
    # Only files that do not start with headers are problems (msg_19.txt starts with its
    # body): no message is lost for want of a date, the file name's time stands in.
    problems = [r for r in results if isinstance(r, Problem)]
    assert not [p for p in problems if "date" in p.reason]
    stdlib = results[: len(STDLIB)]
    not_mail = [r for r in stdlib if isinstance(r, Problem)]
    assert len(not_mail) == 2 and all(p.reason.startswith("not an email") for p in not_mail)
    by_name = [
        r
        for r in stdlib
        if isinstance(r, EventRecord) and r.details["date_from"] == "maildir_filename"
    ]
    assert len(by_name) == 16  # the 18 without a date, less the 2 that are not mail
    for record in by_name:  # the delivery time at the start of the file name
        seconds = int(record.locator.rsplit("/", 1)[1].split(".", 1)[0])
        assert record.occurred_at == datetime.fromtimestamp(seconds, UTC)


@pytest.mark.slow
def test_the_corpus_imports_into_the_database(db: Database, tmp_path: Path) -> None:
    messages = _all_messages()
    path = tmp_path / "corpus.mbox"
    path.write_bytes(_mbox_bytes(messages))
    report = import_file(db, path)
    assert report.status == "done"
    assert report.added + report.duplicates + len(report.problems) == len(messages)
    assert report.added > 50
    again = import_file(db, path)
    assert again.added == 0


# ----------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"From a@b Mon Jan 01 00:00:00 2026", datetime(2026, 1, 1, tzinfo=UTC)),
        (b"From a@b Mon Jan  1 09:05:03 2024\r", datetime(2024, 1, 1, 9, 5, 3, tzinfo=UTC)),
        (  # Google Takeout
            b"From 1792345678901235000@xxx Fri Mar 08 12:00:00 +0000 2024",
            datetime(2024, 3, 8, 12, tzinfo=UTC),
        ),
        (b"From x@y Tue Mar  5 10:00:00 2024 -0500", datetime(2024, 3, 5, 15, tzinfo=UTC)),
        (b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970", None),  # impossible: before 1971
        (b"From a@b Mon Jan 01 00:00:00 3609", None),  # impossible: the future
        (b"From a@b", None),
        (b"", None),
    ],
)
def test_mbox_from_line_dates(line: bytes, expected: datetime | None) -> None:
    assert envelope_date(line) == expected


def test_maildir_file_name_dates() -> None:
    assert filename_date("1234567890.M20046P2137.host,S=1234:2,S") == datetime(
        2009, 2, 13, 23, 31, 30, tzinfo=UTC
    )
    assert filename_date("msg.1.host") is None
    assert filename_date("99999999999999999999.M1.host") is None


_UNDATED = b"From: a@example.com\nSubject: no date\nMessage-ID: <u@x>\n\nbody\n"
_FROM_LINE = datetime(2024, 5, 1, tzinfo=UTC)
_FILE_NAME = datetime(2023, 11, 14, tzinfo=UTC)


def _dated(raw: bytes, fallbacks: list[mail.DateFallback]) -> tuple[datetime, str]:
    [item] = mail.MailReader().items(raw, "x", fallback_dates=fallbacks)
    assert isinstance(item, EventRecord), item
    return item.occurred_at, item.details["date_from"]


def test_fallback_dates_come_after_the_headers_and_in_a_fixed_order() -> None:
    both: list[mail.DateFallback] = [
        ("maildir_filename", _FILE_NAME),
        ("mbox_from_line", lambda: _FROM_LINE),
    ]
    assert _dated(_UNDATED, both) == (_FROM_LINE, "mbox_from_line")
    impossible: list[mail.DateFallback] = [
        ("mbox_from_line", datetime(3609, 1, 1, tzinfo=UTC)),
        ("maildir_filename", datetime(1970, 1, 1, tzinfo=UTC)),
        ("imap_internaldate", None),
        ("file_mtime", _FILE_NAME),
    ]
    assert _dated(_UNDATED, impossible) == (_FILE_NAME, "file_mtime")
    dated = b"Date: Tue, 2 Jan 2024 00:00:00 +0000\n" + _UNDATED
    assert _dated(dated, both) == (datetime(2024, 1, 2, tzinfo=UTC), "date")
    year_3609 = b"Date: Tue, 2 Jan 3609 00:00:00 +0000\n" + _UNDATED
    assert _dated(year_3609, both) == (_FROM_LINE, "mbox_from_line")
    received = b"Received: from x by y; Wed, 3 Jan 2024 00:00:00 +0000\n" + year_3609
    assert _dated(received, both) == (datetime(2024, 1, 3, tzinfo=UTC), "received")
    [problem] = mail.MailReader().items(_UNDATED, "x", fallback_dates=impossible[:3])
    assert isinstance(problem, Problem) and "no usable date" in problem.reason


def test_a_maildir_file_prefers_its_from_line_to_its_name(tmp_path: Path) -> None:
    cur = tmp_path / "Maildir" / "cur"
    cur.mkdir(parents=True)
    (cur / "1700000000.M1P1.host:2,S").write_bytes(_UNDATED)
    envelope = b"From a@example.com Wed May  1 00:00:00 2024\n"
    (cur / "1700000001.M2P1.host:2,S").write_bytes(envelope + _UNDATED.replace(b"<u@", b"<v@"))
    (cur / "no-time-here:2,S").write_bytes(_UNDATED.replace(b"<u@", b"<w@"))
    items = list(MaildirConnector().parse(tmp_path / "Maildir", ParseOptions(tz=UTC)))
    first, second, problem = items
    assert isinstance(first, EventRecord) and isinstance(second, EventRecord)
    assert (first.occurred_at, first.details["date_from"]) == (
        datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        "maildir_filename",
    )
    assert (second.occurred_at, second.details["date_from"]) == (_FROM_LINE, "mbox_from_line")
    assert isinstance(problem, Problem) and "no usable date" in problem.reason
