"""IMAP sync against a real Dovecot server: first, incremental and resumed syncs, UIDVALIDITY
changes, TLS, bad passwords, dropped connections, big folders, and mbox/IMAP deduplication."""

from __future__ import annotations

import datetime as dt
import mailbox
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import accounts, ingest, settings
from app.db import Database
from app.models import Event, SyncState
from app.sync import SyncProgress, check_account, sync_account
from connectors import imap
from tests.dovecot import PASSWORD, SENT, UNICODE_PASSWORD, Dovecot, MemoryKeyring, message


def _add(
    db: Database,
    server: Dovecot,
    name: str = "shop",
    *,
    tls: str = "none",
    port: int | None = None,
    ca_file: str | None = None,
    folders: tuple[str, ...] = (),
    user: str | None = None,
) -> accounts.AccountInfo:
    with db.session() as session:
        return accounts.add_account(
            session,
            name,
            host=server.host,
            username=user or server.user,
            port=port or server.port,
            tls=tls,
            ca_file=ca_file,
            folders=folders,
        )


def _events(db: Database) -> list[Event]:
    with db.session() as session:
        return list(session.scalars(select(Event).order_by(Event.id)))


def _event_count(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Event)) or 0)


def _state(db: Database, folder: str = "INBOX") -> SyncState:
    with db.session() as session:
        row = session.scalar(select(SyncState).where(SyncState.folder == folder))
        assert row is not None
        return row


def test_first_incremental_and_new_message(
    db: Database, dovecot: Dovecot, memory_keyring: MemoryKeyring
) -> None:
    dovecot.append("INBOX", *(message(i) for i in range(1, 6)))
    dovecot.append(
        SENT,
        message(100, sender="Bloom & Branch <hello@shop.example>", to="jane.doe@example.com"),
    )
    info = _add(db, dovecot)
    accounts.set_password(info, PASSWORD)  # from the keyring from now on

    seen: list[SyncProgress] = []
    first = sync_account(db, "shop", progress=seen.append)
    assert first.status == "done", first.error
    by_folder = {f.folder: f for f in first.folders}
    assert list(by_folder) == ["INBOX", SENT]
    assert (by_folder["INBOX"].new, by_folder[SENT].new) == (5, 1)
    assert all(f.duplicates == 0 and not f.problems for f in first.folders)
    assert {p.folder for p in seen} == {"INBOX", SENT}
    assert seen[-1].done == seen[-1].total == 1
    events = _events(db)
    assert [e.locator for e in events[:2]] == ["shop/INBOX:UID 1", "shop/INBOX:UID 2"]
    assert events[-1].locator == f"shop/{SENT}:UID 1"
    assert {e.source for e in events} == {"email"}
    assert events[0].external_id == "msg-1@test.example"
    state = _state(db)
    assert state.last_uid == 5 and state.uidvalidity
    assert state.highestmodseq is not None  # Dovecot offers CONDSTORE

    again = sync_account(db, "shop")
    assert [(f.new, f.duplicates, f.status) for f in again.folders] == [(0, 0, "done")] * 2

    dovecot.append("INBOX", message(6, subject="A new order question"))
    third = sync_account(db, "shop")
    assert [(f.folder, f.new, f.duplicates) for f in third.folders] == [
        ("INBOX", 1, 0),
        (SENT, 0, 0),
    ]
    assert _state(db).last_uid == 6
    assert _event_count(db) == 7


def test_sent_folder_found_by_special_use_and_its_sender_is_the_owner(
    db: Database, dovecot: Dovecot
) -> None:
    shop = "Bloom & Branch <hello@shop.example>"
    dovecot.append(SENT, message(1, sender=shop, to="Jane Doe <jane.doe@example.com>"))
    dovecot.append("Sent", message(2))  # a decoy without the \Sent flag
    _add(db, dovecot)
    check = check_account(db, "shop", password=PASSWORD)
    assert check.sent_folder == SENT
    assert check.to_sync == ("INBOX", SENT)
    assert {"INBOX", SENT, "Sent", "Archive"} <= set(check.folders)

    report = sync_account(db, "shop", password=PASSWORD)
    assert [f.folder for f in report.folders] == ["INBOX", SENT]
    (event,) = _events(db)
    assert event.direction == "outbound"
    with db.session() as session:
        assert settings.get_list(session, "owner_emails") == ["hello@shop.example"]


def test_chosen_folders_and_a_missing_one(db: Database, dovecot: Dovecot) -> None:
    dovecot.append("Archive", message(1), message(2))
    _add(db, dovecot, folders=("Archive", "No Such Folder"))
    report = sync_account(db, "shop", password=PASSWORD)
    archive, missing = report.folders
    assert (archive.folder, archive.new, archive.status) == ("Archive", 2, "done")
    assert missing.status == "failed" and "No Such Folder" in (missing.error or "")
    assert report.status == "failed"


def test_uidvalidity_change_rescans_without_duplicates(db: Database, dovecot: Dovecot) -> None:
    dovecot.append("INBOX", *(message(i) for i in range(1, 5)))
    _add(db, dovecot)
    assert sync_account(db, "shop", password=PASSWORD).folders[0].new == 4
    before = _state(db).uidvalidity

    dovecot.set_uidvalidity("INBOX", 12345)
    report = sync_account(db, "shop", password=PASSWORD)
    inbox = report.folders[0]
    assert inbox.rescanned and inbox.status == "done"
    assert (inbox.new, inbox.duplicates) == (0, 4)
    assert _event_count(db) == 4
    state = _state(db)
    assert state.uidvalidity == 12345 != before and state.last_uid == 4

    dovecot.append("INBOX", message(5))
    after = sync_account(db, "shop", password=PASSWORD).folders[0]
    assert (after.new, after.duplicates, after.rescanned) == (1, 0, False)


def test_wrong_password_is_one_clear_line(db: Database, dovecot: Dovecot) -> None:
    _add(db, dovecot)
    wrong = "not-the-password-123"
    report = sync_account(db, "shop", password=wrong)
    assert report.status == "failed"
    assert report.error is not None
    assert "rejected the user name or password" in report.error
    assert wrong not in report.error and "\n" not in report.error
    with pytest.raises(imap.AuthenticationFailed) as caught:
        check_account(db, "shop", password=wrong)
    assert wrong not in str(caught.value)
    with db.session() as session:
        assert "rejected" in accounts.get_account(session, "shop").last_error


def test_non_ascii_password_logs_in(db: Database, dovecot: Dovecot) -> None:
    dovecot.append("INBOX", message(1))
    _add(db, dovecot, user="unicode")
    report = sync_account(db, "shop", password=UNICODE_PASSWORD)
    assert report.status == "done", report.error


def test_unreachable_host_is_one_clear_line(db: Database, dovecot: Dovecot) -> None:
    with dovecot.client() as probe:  # a port we know is closed: bind one and close it
        probe.noop()
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    _add(db, dovecot, port=closed)
    report = sync_account(db, "shop", password=PASSWORD)
    assert report.status == "failed"
    assert report.error == f"cannot reach 127.0.0.1:{closed}: connection refused"


def test_tls_with_ca_file_starttls_and_untrusted_certificate(
    db: Database, dovecot: Dovecot
) -> None:
    dovecot.append("INBOX", message(1))
    ca = str(dovecot.ca_file)
    _add(db, dovecot, "implicit", tls="implicit", port=dovecot.tls_port, ca_file=ca)
    assert sync_account(db, "implicit", password=PASSWORD).folders[0].new == 1

    _add(db, dovecot, "starttls", tls="starttls", port=dovecot.port, ca_file=ca)
    check = check_account(db, "starttls", password=PASSWORD)
    assert check.to_sync == ("INBOX", SENT)

    _add(db, dovecot, "untrusted", tls="implicit", port=dovecot.tls_port)
    report = sync_account(db, "untrusted", password=PASSWORD)
    assert report.status == "failed"
    assert report.error is not None
    assert report.error.startswith("the certificate of 127.0.0.1 is not trusted")
    assert "--ca-file" in report.error

    config = imap.ServerConfig("localhost", dovecot.tls_port, "implicit", dovecot.user)
    with pytest.raises(imap.CertificateProblem, match="not trusted"):
        imap.connect(config, PASSWORD)
    mismatch = imap.ServerConfig(
        "127.0.0.2", dovecot.tls_port, "implicit", dovecot.user, str(dovecot.ca_file)
    )
    with pytest.raises(imap.ImapError):  # 127.0.0.2 is not in the certificate (or not served)
        imap.connect(mismatch, PASSWORD)

    with pytest.raises(imap.InsecureConnection, match="refusing a plain-text connection"):
        imap.connect(imap.ServerConfig("imap.example.com", 143, "none", "u"), PASSWORD)


def test_connection_dropped_mid_sync_keeps_what_was_committed(
    db: Database, dovecot: Dovecot
) -> None:
    total = 450
    dovecot.deliver(*(message(i) for i in range(1, total + 1)))
    _add(db, dovecot, folders=("INBOX",))
    dropped: list[int] = []

    def drop_after_first_batch(p: SyncProgress) -> None:
        if p.added and not dropped:
            dropped.append(dovecot.kill_sessions())

    report = sync_account(
        db, "shop", password=PASSWORD, progress=drop_after_first_batch, batch_size=100
    )
    assert dropped == [1]
    assert report.status == "failed"
    assert report.error is not None and "connection" in report.error
    committed = _event_count(db)
    assert 100 <= committed < total
    # The stored position is exactly what was committed: UIDs 1..N are N events.
    assert _state(db).last_uid == committed

    resumed = sync_account(db, "shop", password=PASSWORD, batch_size=100)
    assert resumed.status == "done", resumed.error
    assert resumed.folders[0].new == total - committed
    assert resumed.folders[0].duplicates == 0
    with db.session() as session:
        ids = list(session.scalars(select(Event.external_id)))
    assert len(ids) == len(set(ids)) == total
    assert _state(db).last_uid == total


def test_cancel_mid_sync_then_resume(db: Database, dovecot: Dovecot) -> None:
    dovecot.deliver(*(message(i) for i in range(1, 301)))
    _add(db, dovecot)
    progress: list[SyncProgress] = []
    report = sync_account(
        db,
        "shop",
        password=PASSWORD,
        progress=progress.append,
        should_cancel=lambda: any(p.added for p in progress),
        batch_size=100,
    )
    assert report.status == "cancelled"
    assert report.folders[0].status == "cancelled"
    assert report.folders[1].status == "skipped"
    assert _state(db).last_uid == _event_count(db) < 300
    resumed = sync_account(db, "shop", password=PASSWORD)
    assert resumed.status == "done"
    assert _event_count(db) == 300


def test_a_folder_with_thousands_of_messages(db: Database, dovecot: Dovecot) -> None:
    count = 3000
    dovecot.deliver(*(message(i) for i in range(1, count + 1)))
    _add(db, dovecot, folders=("INBOX",))
    report = sync_account(db, "shop", password=PASSWORD)
    assert report.folders[0].new == count, report.error
    assert _state(db).last_uid == count
    again = sync_account(db, "shop", password=PASSWORD)
    assert again.folders[0].new == 0


def test_the_same_message_via_mbox_and_imap_is_one_event(
    db: Database, dovecot: Dovecot, tmp_path: Path
) -> None:
    shared = message(1, subject="Wedding flowers", message_id="<shared-1@jane.example>")
    box = mailbox.mbox(str(tmp_path / "export.mbox"))
    box.add(shared)
    box.close()
    imported = ingest.import_file(db, tmp_path / "export.mbox")
    assert imported.added == 1

    dovecot.append("INBOX", shared, message(2))
    _add(db, dovecot)
    inbox = sync_account(db, "shop", password=PASSWORD).folders[0]
    assert (inbox.new, inbox.duplicates) == (1, 1)
    assert _event_count(db) == 2
    with db.session() as session:
        query = select(Event).where(Event.external_id == "shared-1@jane.example")
        (event,) = session.scalars(query)
        assert event.locator.startswith("export.mbox")


def test_large_message_gets_text_and_attachment_list_only(
    db: Database, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imap, "FULL_FETCH_LIMIT", 20_000)
    attachment = ("QUJD" * 19 + "\r\n") * 600  # ~47 kB of base64
    big = (
        "From: Jane Doe <jane.doe@example.com>\r\nTo: hello@shop.example\r\n"
        "Subject: Photos of the venue\r\nDate: Sat, 01 Mar 2025 10:00:00 +0000\r\n"
        "Message-ID: <big-1@jane.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
        "--outer\r\n"
        'Content-Type: multipart/alternative; boundary="inner"\r\n\r\n'
        "--inner\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        "Here are the photos of the venue, caf=C3=A9 included.\r\n"
        "--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        "<p>Here are the photos of the venue</p>\r\n"
        "--inner--\r\n"
        "--outer\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename*=utf-8''venue%20caf%C3%A9.jpg\r\n\r\n"
        f"{attachment}"
        "--outer--\r\n"
    ).encode()
    single = (
        "From: Jane Doe <jane.doe@example.com>\r\nTo: hello@shop.example\r\n"
        "Subject: Scan\r\nDate: Sat, 01 Mar 2025 11:00:00 +0000\r\n"
        "Message-ID: <big-2@jane.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: application/pdf; name="scan.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{attachment}"
    ).encode()
    dovecot.append("INBOX", big, single, message(3))
    _add(db, dovecot)
    report = sync_account(db, "shop", password=PASSWORD)
    assert report.folders[0].new == 3, report.folders[0].problems
    first, second, small = _events(db)
    assert first.body == "Here are the photos of the venue, café included."
    assert first.details["attachments_downloaded"] is False
    (photo,) = first.details["attachments"]
    assert photo["name"] == "venue café.jpg" and photo["type"] == "image/jpeg"
    assert 34_000 < photo["size"] < 36_000  # 600 lines of 57 bytes decoded
    assert second.title == "Scan" and second.body == ""
    assert [a["name"] for a in second.details["attachments"]] == ["scan.pdf"]
    assert "attachments_downloaded" not in small.details


def test_a_message_without_a_date_takes_its_internaldate(db: Database, dovecot: Dovecot) -> None:
    no_date = b"From: someone@example.com\r\nSubject: no date at all\r\n\r\nbody\r\n"
    received = dt.datetime(2024, 6, 1, 12, 30, tzinfo=dt.UTC)
    dovecot.append("INBOX", message(1))
    dovecot.append("INBOX", no_date, msg_time=received)
    dovecot.append("INBOX", message(3))
    _add(db, dovecot)
    inbox = sync_account(db, "shop", password=PASSWORD).folders[0]
    assert inbox.new == 3 and not inbox.problems
    first, undated, third = _events(db)
    assert undated.locator == "shop/INBOX:UID 2" and undated.title == "no date at all"
    assert undated.occurred_at == received
    assert undated.details["date_from"] == "imap_internaldate"
    assert first.details["date_from"] == third.details["date_from"] == "date"
    assert _state(db).last_uid == 3


def test_an_unreadable_message_becomes_a_problem(db: Database, dovecot: Dovecot) -> None:
    nested = "".join(
        f'Content-Type: multipart/mixed; boundary="b{n}"\r\n\r\n--b{n}\r\n' for n in range(60)
    )
    deep = message(2, body="").replace(b"Content-Type: text/plain; charset=utf-8\r\n\r\n", b"")
    dovecot.append("INBOX", message(1), deep + nested.encode() + b"\r\ndeep\r\n", message(3))
    _add(db, dovecot)
    inbox = sync_account(db, "shop", password=PASSWORD).folders[0]
    assert inbox.new == 2
    (problem,) = inbox.problems
    assert problem.location == "shop/INBOX:UID 2"
    assert "nested" in problem.reason
    assert _state(db).last_uid == 3


def test_bare_replies_thread_by_subject_across_the_folders_of_a_sync(
    db: Database, dovecot: Dovecot
) -> None:
    jane, shop = "Jane Doe <jane.doe@example.com>", "Bloom & Branch <hello@shop.example>"
    dovecot.append(
        "INBOX",
        message(1, subject="Bouquet for Saturday", sender=jane, to=shop),
        message(2, subject="Re: Bouquet for Saturday", sender=jane, to=shop),  # no References
        message(3, subject="Re: Opening hours", sender=jane, to=shop),  # no original
    )
    dovecot.append(SENT, message(4, subject="RE: Bouquet for Saturday", sender=shop, to=jane))
    _add(db, dovecot)
    report = sync_account(db, "shop", password=PASSWORD)
    assert report.status == "done", report.error
    original, reply, orphan, answer = _events(db)
    assert answer.locator == f"shop/{SENT}:UID 1"
    # As in an mbox file: the bare replies join the original's thread, in INBOX and in Sent.
    assert original.thread_key == reply.thread_key == answer.thread_key == "msg-1@test.example"
    assert orphan.thread_key is not None and orphan.thread_key.startswith("subject:")


def test_bodystructure_parts_and_names_without_a_server() -> None:
    from imapclient.response_types import BodyData

    from connectors import imap_parts

    structure = BodyData.create(
        (
            (b"text", b"plain", (b"charset", b"utf-8"), None, None, b"7bit", 10, 1, None, None),
            (
                b"application",
                b"pdf",
                (b"name*0*", b"utf-8''Rechnung%20f%C3%BCr", b"name*1", b" M\xc3\xa4rz.pdf"),
                None,
                None,
                b"base64",
                7800,
                None,
                (b"attachment", None),
                None,
            ),
            (b"message", b"rfc822", None, None, None, b"7bit", 500, None, None, 12),
            (b"broken",),
            b"mixed",
        )
    )
    parts = list(imap_parts.leaves(structure))
    assert [p.section for p in parts] == ["1", "2", "3", "4"]
    assert [p.is_text for p in parts] == [True, False, False, False]
    assert parts[1].attachment() == {
        "name": "Rechnung für März.pdf",
        "type": "application/pdf",
        "size": 5700,
    }
    assert parts[2].type == "message/rfc822"
    assert parts[3].type == "application/octet-stream"
    header = b"Subject: x\r\nContent-Type: multipart/mixed;\r\n boundary=b\r\nTo: y\r\n\r\n"
    assert imap_parts.strip_mime_headers(header) == b"Subject: x\r\nTo: y\r\n"
    assert imap_parts.section_bytes({b"BODY[1]<0>": b"abc"}, "1") == b"abc"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
        ("imap.example.com", False),
    ],
)
def test_plain_text_only_to_loopback(host: str, loopback: bool) -> None:
    assert imap.is_loopback(host) is loopback
