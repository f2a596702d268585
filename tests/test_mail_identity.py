"""When two emails are one message: the same message by any transport is one event; a
different message that reuses a Message-ID is kept as its own; old databases learn it too."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, select

from app import ingest
from app.db import Database, _alembic_config, make_engine, open_database, url_for
from app.models import Event, EventParticipant
from app.sync import sync_account
from connectors import imap
from tests.dovecot import PASSWORD, Dovecot
from tests.test_imap_sync import _add

MID = "<order-42@jane.example>"


def _message(
    *,
    sender: str = "Jane Doe <Jane.Doe@Example.com>",
    date: str = "Sat, 01 Mar 2025 10:00:00 +0000",
    body: str = "Hello,\r\n\r\nFrom the garden: can you do peonies?\r\n>From your list, maybe.\r\n",
    extra: str = "",
    eol: str = "\r\n",
) -> bytes:
    head = (
        f"From: {sender}\r\nTo: Bloom & Branch <hello@shop.example>\r\n"
        f"Subject: Wedding flowers\r\nDate: {date}\r\nMessage-ID: {MID}\r\n{extra}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    return (head + body).replace("\r\n", eol).encode()


def _mboxrd(*messages: bytes) -> bytes:
    """An mboxrd file as a mail client writes it: LF ends, ``>From `` quoted, Status kept."""
    out = b""
    for raw in messages:
        lines = raw.split(b"\n")
        quoted = [b">" + line if line.lstrip(b">").startswith(b"From ") else line for line in lines]
        out += b"From jane.doe@example.com Sat Mar  1 10:00:00 2025\n" + b"\n".join(quoted)
        out += b"\n\n"
    return out


def _events(db: Database) -> list[Event]:
    with db.session() as session:
        return list(session.scalars(select(Event).order_by(Event.id)))


def test_the_same_message_by_every_transport_is_one_event(
    db: Database, dovecot: Dovecot, tmp_path: Path
) -> None:
    eml = tmp_path / "saved.eml"
    eml.write_bytes(_message())
    first = ingest.import_file(db, eml)
    assert (first.added, first.notices) == (1, [])

    mbox = tmp_path / "export.mbox"
    mbox.write_bytes(_mboxrd(_message(extra="Status: RO\r\nX-Status: A\r\n", eol="\n")))
    via_mbox = ingest.import_file(db, mbox)
    assert (via_mbox.added, via_mbox.duplicates, via_mbox.notices) == (0, 1, [])

    root = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    name = "1740823200.M1P1.host:2,RS"
    (root / "cur" / name).write_bytes(
        _message(extra="X-Keywords: $Forwarded\r\nDelivered-To: hello@shop.example\r\n", eol="\n")
    )
    via_maildir = ingest.import_file(db, root)
    assert (via_maildir.added, via_maildir.duplicates) == (0, 1)

    dovecot.append("INBOX", _message())
    _add(db, dovecot)
    inbox = sync_account(db, "shop", password=PASSWORD).folders[0]
    assert (inbox.new, inbox.duplicates) == (0, 1)

    (event,) = _events(db)
    assert event.external_id == MID.strip("<>")
    assert len(event.fingerprint) == 64

    # A different message with that Message-ID on the server is new, and the sync says so.
    dovecot.append("INBOX", _message(body="Please cancel my order.\r\n"))
    inbox = sync_account(db, "shop", password=PASSWORD).folders[0]
    assert (inbox.new, inbox.duplicates) == (1, 0)
    assert [n.endswith("both are kept") for n in inbox.as_json()["notices"]] == [True]


def test_a_reused_message_id_keeps_each_different_message(db: Database, tmp_path: Path) -> None:
    original = _message()
    other_body = _message(body="Please cancel my order.\r\n")
    other_sender = _message(sender="Tom Baker <tom@bakers.example>")
    other_date = _message(date="Sun, 02 Mar 2025 10:00:00 +0000")
    mbox = tmp_path / "reused.mbox"
    mbox.write_bytes(
        _mboxrd(*(m.replace(b"\r\n", b"\n") for m in (original, other_body, other_sender)))
    )
    report = ingest.import_file(db, mbox)
    assert (report.added, report.duplicates) == (3, 0)
    assert len(report.notices) == 2
    assert all(
        f"Message-ID {MID.strip('<>')}" in n and "both are kept" in n for n in report.notices
    )
    eml = tmp_path / "later.eml"
    eml.write_bytes(other_date)
    assert ingest.import_file(db, eml).added == 1

    events = _events(db)
    assert len({e.external_id for e in events}) == 4
    assert events[0].external_id == MID.strip("<>")
    assert all(e.external_id.startswith(MID.strip("<>") + "#") for e in events[1:])
    assert [e.thread_key for e in events] == [e.external_id for e in events]  # own threads
    assert {e.body.split("\n")[0] for e in events} == {"Hello,", "Please cancel my order."}

    # Importing everything again adds nothing, and says nothing about reused ids.
    again = ingest.import_file(db, mbox)
    assert (again.added, again.duplicates, again.notices) == (0, 3, [])
    assert ingest.import_file(db, eml).added == 0
    assert len(_events(db)) == 4


def test_an_older_database_gets_fingerprints_for_its_mail(tmp_path: Path) -> None:
    """A database at the revision before fingerprints, with mail in it, upgraded."""
    path = tmp_path / "old.db"
    db = open_database(path)
    eml = tmp_path / "m.eml"
    eml.write_bytes(_message())
    assert ingest.import_file(db, eml).added == 1
    db.dispose()
    engine = make_engine(url_for(path))
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008")
    engine.dispose()
    with sqlite3.connect(path) as con:
        columns = [row[1] for row in con.execute("PRAGMA table_info(event)")]
        assert "fingerprint" not in columns

    db = open_database(path)  # upgrades, computing the fingerprint from what is stored
    try:
        (event,) = _events(db)
        assert len(event.fingerprint) == 64
        with db.session() as session:  # nothing lost on the way down and up
            assert session.scalar(select(func.count()).select_from(EventParticipant)) == 2
        assert ingest.import_file(db, eml).added == 0  # the same message: still one event
        other = tmp_path / "other.eml"
        other.write_bytes(_message(body="Please cancel my order.\r\n"))
        assert ingest.import_file(db, other).added == 1
        with db.session() as session:
            assert session.scalar(select(func.count()).select_from(Event)) == 2
    finally:
        db.dispose()


def test_a_large_message_fetched_in_parts_is_still_the_same_message(
    db: Database, dovecot: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IMAP fetches a large message as header and text parts only; still one event."""
    monkeypatch.setattr(imap, "FULL_FETCH_LIMIT", 20_000)
    attachment = ("QUJD" * 19 + "\r\n") * 600  # ~47 kB of base64
    big = (
        "From: Jane Doe <jane.doe@example.com>\r\nTo: hello@shop.example\r\n"
        f"Subject: Photos of the venue\r\nDate: Sat, 01 Mar 2025 10:00:00 +0000\r\n"
        f"Message-ID: {MID}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
        "--outer\r\n"
        'Content-Type: multipart/alternative; boundary="inner"\r\n\r\n'
        "--inner\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        "Here are the photos of the venue, caf=C3=A9 included.\r\n"
        "From the terrace too.\r\n"
        "--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        "<p>Here are the photos of the venue</p>\r\n"
        "--inner--\r\n"
        "--outer\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename=venue.jpg\r\n\r\n"
        f"{attachment}"
        "--outer--\r\n"
    ).encode()
    mbox = tmp_path / "big.mbox"
    mbox.write_bytes(_mboxrd(big.replace(b"\r\n", b"\n")))
    assert ingest.import_file(db, mbox).added == 1
    dovecot.append("INBOX", big)
    _add(db, dovecot)
    inbox = sync_account(db, "shop", password=PASSWORD).folders[0]
    assert (inbox.new, inbox.duplicates) == (0, 1)
    assert len(_events(db)) == 1
