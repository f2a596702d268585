"""The fast import path: a parse worker process, re-imports that skip what is stored,
and the per-message time budget. Results must be the same as the plain path's."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app import ingest, parse_worker
from app.db import Database, open_database
from app.ingest import import_file
from app.models import Event, ImportProblem
from connectors import mail

FIXTURES = Path(__file__).parent / "fixtures"

NAMES = ["Jane Doe", "Zoë Müller", "Łukasz Nowak", "佐藤 花子"]
TEXTS = [
    "Hello, could you deliver the peonies on Friday morning please? Thank you so much.",
    "Guten Tag, die Blumen sind leider beschädigt angekommen. Können Sie mir helfen?",
    "Bonjour, je voudrais commander un bouquet de roses pour samedi, s'il vous plaît.",
]


def _message(n: int, sender: str) -> bytes:
    name = NAMES[n % len(NAMES)]
    return (
        f"Message-ID: <m{n}@example.com>\nDate: Mon, 1 Jan 2024 10:{n % 60:02d}:00 +0000\n"
        f"From: {name} <{sender}>\nTo: Shop <shop@example.com>\nSubject: Order {n}\n"
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
        f"Content-Transfer-Encoding: 8bit\n\n{TEXTS[n % len(TEXTS)]}\n"
    ).encode()


def _maildir(root: Path, count: int) -> Path:
    for folder in (root, root / ".Sent"):
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
    for n in range(count):
        sent = n % 5 == 4
        folder = root / ".Sent" if sent else root
        sender = "shop@example.com" if sent else f"c{n % 7}@example.com"
        (folder / "cur" / f"{1700000000 + n}.M{n}P1.host:2,S").write_bytes(_message(n, sender))
    (root / "cur" / "1800000000.M9P1.host:2,S").write_bytes(b"\x00\x01 not mail at all")
    return root


def _stored(db: Database) -> list[tuple[str, str, str, str | None, str]]:
    with db.session() as s:
        return [
            (e.external_id, e.title, e.direction, e.language, e.locator)
            for e in s.scalars(select(Event).order_by(Event.external_id))
        ]


def _problems(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        return sorted((p.location, p.reason) for p in s.scalars(select(ImportProblem)))


def _fresh(tmp_path: Path, name: str) -> Database:
    return open_database(tmp_path / f"{name}.db")


@pytest.fixture
def worker_always(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse_worker, "MIN_FILES", 1)
    monkeypatch.setattr(parse_worker, "MIN_BYTES", 1)
    monkeypatch.setattr(parse_worker, "CHUNK", 7)  # several chunks through the queue


def test_the_parse_worker_stores_what_the_plain_path_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _maildir(tmp_path / "Maildir", 40)
    plain = _fresh(tmp_path, "plain")
    monkeypatch.setenv("THREADLINE_PARSE_WORKER", "0")
    expected = import_file(plain, source)
    monkeypatch.delenv("THREADLINE_PARSE_WORKER")
    monkeypatch.setattr(parse_worker, "MIN_FILES", 1)
    monkeypatch.setattr(parse_worker, "CHUNK", 7)
    assert parse_worker.worth_a_worker(source)
    fast = _fresh(tmp_path, "fast")
    got = import_file(fast, source, batch_size=9)
    assert (got.added, got.duplicates, got.status) == (expected.added, 0, "done") == (40, 0, "done")
    assert [p.location for p in got.problems] == [p.location for p in expected.problems]
    assert got.notices == expected.notices
    assert _stored(fast) == _stored(plain)
    assert {row[3] for row in _stored(fast)} >= {"en", "de", "fr"}  # detected in the worker
    assert _problems(fast) == _problems(plain)
    assert not multiprocessing.active_children()


def test_cancelling_stops_the_worker(tmp_path: Path, worker_always: None) -> None:
    source = _maildir(tmp_path / "Maildir", 60)
    db = _fresh(tmp_path, "cancel")
    stored: list[int] = []

    def cancel() -> bool:  # once a batch is stored
        return bool(stored) and stored[-1] > 0

    report = import_file(
        db, source, should_cancel=cancel, progress=lambda p: stored.append(p.added), batch_size=5
    )
    assert report.status == "cancelled"
    assert 0 < report.added < 60
    assert len(_stored(db)) == report.added  # whole batches only
    assert not multiprocessing.active_children()


@pytest.mark.parametrize("worker", [False, True])
def test_a_second_import_of_a_maildir_skips_the_stored_files_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, worker: bool
) -> None:
    if worker:
        monkeypatch.setattr(parse_worker, "MIN_FILES", 1)
    else:
        monkeypatch.setenv("THREADLINE_PARSE_WORKER", "0")
    source = _maildir(tmp_path / "Maildir", 12)
    db = _fresh(tmp_path, "again")
    first = import_file(db, source)
    assert (first.added, len(first.problems)) == (12, 1)
    # A stored file is never read again: garbage under its name changes nothing ...
    stored = sorted((source / "cur").glob("1700000000.*"))[0]
    stored.write_bytes(b"garbage that would be a problem if it were read")
    # ... while a new delivery is read.
    (source / "new" / "1900000000.M1P1.host").write_bytes(_message(99, "new@example.com"))
    again = import_file(db, source)
    assert (again.added, again.duplicates) == (1, 12)
    assert [p.location for p in again.problems] == [p.location for p in first.problems]
    assert len(_stored(db)) == 13


_MBOX_MESSAGE = (
    "From c@example.com Mon Jan  1 00:00:00 2024\n"
    "From: Jane <c{n}@example.com>\nTo: shop@example.com\nSubject: s{n}\n"
    "Message-ID: <mb{n}@example.com>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nHello {n}\n\n"
)


def test_an_unchanged_mbox_is_not_read_again_and_a_changed_one_is(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "UNCHANGED_FOR", timedelta(0))  # no waiting in a test
    path = tmp_path / "mail.mbox"
    path.write_text("".join(_MBOX_MESSAGE.format(n=n) for n in range(5)), encoding="utf-8")
    assert import_file(db, path).added == 5
    again = import_file(db, path)
    assert (again.added, again.duplicates, again.status) == (0, 5, "done")
    assert any("not read again" in n for n in again.notices)
    with path.open("a", encoding="utf-8") as fh:  # mail arrives: the file changed
        fh.write(_MBOX_MESSAGE.format(n=5))
    later = time.time() + 60  # the file system's clock ticks coarsely: make "later" plain
    os.utime(path, (later, later))
    third = import_file(db, path)
    assert (third.added, third.duplicates) == (1, 5)
    assert not any("not read again" in n for n in third.notices)


@pytest.mark.parametrize(
    "fixture",
    ["orders/shopify_orders_export_redacted.csv", "whatsapp/whatsapp_android_ddmmyy_24h.txt"],
)
def test_any_unchanged_file_is_not_read_again_and_a_folder_always_is(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch, fixture: str
) -> None:
    """An orders export or a chat export imported before and untouched since is not read
    again (what it holds is stored); once changed, or with options chosen, it is."""
    monkeypatch.setattr(ingest, "UNCHANGED_FOR", timedelta(0))  # no waiting in a test
    path = tmp_path / Path(fixture).name
    shutil.copyfile(FIXTURES / fixture, path)
    first = import_file(db, path)
    held = first.added + first.duplicates + first.updated
    assert first.added > 0
    again = import_file(db, path)
    assert (again.added, again.duplicates, again.status) == (0, held, "done")
    assert any("not read again" in n for n in again.notices) and not again.problems
    chosen = import_file(db, path, tz=ZoneInfo("UTC"))  # an option chosen: read
    assert not any("not read again" in n for n in chosen.notices)
    later = time.time() + 60  # changed (the clock ticks coarsely: make "later" plain)
    os.utime(path, (later, later))
    third = import_file(db, path)
    assert (third.added, third.duplicates) == (0, held)
    assert not any("not read again" in n for n in third.notices)
    # A folder (here a Maildir) is always read, untouched or not: its files have their own rules.
    box = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    message = FIXTURES / "email" / "multipart_alternative_qp.eml"
    shutil.copyfile(message, box / "cur" / "1700000001.M1P1.host:2,S")
    assert import_file(db, box).added == 1
    folder_again = import_file(db, box)
    assert (folder_again.added, folder_again.duplicates) == (0, 1)
    assert not any("not read again" in n for n in folder_again.notices)


def test_a_message_past_its_time_budget_becomes_a_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What the parse worker sets up: SIGPROF ends a message that takes too much CPU (not
    # wall time: on a busy machine an ordinary message may wait for a core).
    def endless(raw: bytes, *args: object) -> Iterator[None]:
        while True:
            pass

    monkeypatch.setattr(mail, "parse_message", endless)
    monkeypatch.setattr(mail, "time_budget", 0.05)
    previous = signal.signal(signal.SIGPROF, parse_worker._too_slow)
    try:
        items = mail.MailReader().items(b"Subject: x\n\nbody\n", "big.mbox:1")
    finally:
        signal.signal(signal.SIGPROF, previous)
    (problem,) = items
    assert problem.location == "big.mbox:1"  # type: ignore[union-attr]
    assert "took longer than" in problem.reason  # type: ignore[union-attr]


def test_the_writer_writes_what_it_holds_while_the_producer_has_nothing_ready(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A parse worker that has nothing more ready (``Produced.idle``): the writer stores the
    # items it holds meanwhile instead of waiting for a whole batch, so both processes work
    # and the last batch, written after the worker is done, is small.
    monkeypatch.setattr(ingest, "IDLE_BATCH_SIZE", 3)
    produced = parse_worker.Produced()
    records = [
        item
        for n in range(10)
        for item in mail.message_items(_message(n, f"c{n}@example.com"), f"m{n}", set())
    ]
    stored_when: list[int] = []

    def items() -> Iterator[object]:
        for n, record in enumerate(records):
            produced.idle = n in (1, 4, 5)  # nothing else ready after these
            yield record
            produced.idle = False

    report = ingest.import_items(
        db,
        items,  # type: ignore[arg-type]
        label="worker",
        format="eml",
        batch_size=100,
        progress=lambda p: stored_when.append(p.added),
        produced=produced,
    )
    assert report.added == 10
    # 2 held after the 2nd item (fewer than 3: kept), 5 after the 5th (written), 1 after
    # the 6th (kept), the rest at the end.
    assert stored_when == [5, 10]


def test_a_maildir_message_is_read_whole_up_to_the_size_limit(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THREADLINE_PARSE_WORKER", "0")
    source = _maildir(tmp_path / "Maildir", 1)
    body = _message(1, "c1@example.com")
    limit = len(body) + 5
    monkeypatch.setattr(mail, "MAX_MESSAGE_BYTES", limit)
    (source / "cur" / "1700000000.M0P1.host:2,S").write_bytes(body + b"x" * 5)  # at the limit
    (source / "new" / "1900000001.M1P1.host").write_bytes(_message(2, "c2@example.com") * 2)
    report = import_file(db, source)
    assert report.added == 1
    with db.session() as s:
        (text,) = s.scalars(select(Event.body))
    assert text.endswith("xxxxx")  # the last bytes too
    reasons = {p.location.rsplit("/", 1)[-1]: p.reason for p in report.problems}
    assert reasons["1900000001.M1P1.host"].startswith("message larger than")
