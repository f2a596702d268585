"""Tests for the email connectors (mbox, .eml, Maildir), the registry's folder walk
and the shared message converter (threading, automated senders, HTML, limits).

The .eml fixtures are real public test messages (see tests/fixtures/email and
the project's sample sources); ``shop.mbox`` is a hand-written mailbox with a
Takeout-style thread, mboxrd quoting, an HTML-only and a Windows-1252 message,
a newsletter and one deliberately broken message. Maildirs are built in
temporary folders (their file names contain ``:``, which Windows checkouts
cannot hold). The robustness corpus is in ``test_mail_corpus.py``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import Database
from app.errors import FormatError
from app.ingest import import_paths
from app.records import EventRecord, Item, Notice, OwnerHint, ParseOptions, Problem
from connectors import mail, mail_text, registry
from connectors.eml import EmlConnector, looks_like_headers
from connectors.maildir import MaildirConnector, folder_name, is_sent_folder, parse_flags
from connectors.mbox import MboxConnector

EMAIL = Path(__file__).resolve().parent / "fixtures" / "email"
MAILDIR_NAME = "1491941793.M41850P8566V0000000000000015I0000000004F3030E_0.mx1.example.com,S=10956"


def _options(
    progress: Callable[[int, int], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> ParseOptions:
    return ParseOptions(tz=UTC, progress=progress, should_cancel=should_cancel)


def _mbox(path: Path, **kwargs: Callable[..., object]) -> list[Item]:
    return list(MboxConnector().parse(path, _options(**kwargs)))  # type: ignore[arg-type]


def _records(items: list[Item]) -> list[EventRecord]:
    return [item for item in items if isinstance(item, EventRecord)]


def _eml(name: str) -> EventRecord:
    items = list(EmlConnector().parse(EMAIL / name, _options()))
    (record,) = _records(items)
    # (A message delivered to a mailbox names it first as the owner's: ``Delivered-To``.)
    assert all(isinstance(item, OwnerHint) for item in items if item is not record), items
    return record


def _people(record: EventRecord) -> list[tuple[str, str, str | None]]:
    return [(p.role, p.name, p.email) for p in record.participants]


@pytest.fixture(scope="module")
def shop() -> list[Item]:
    return list(MboxConnector().parse(EMAIL / "shop.mbox", _options()))


def _by_id(items: list[Item], external_id: str) -> EventRecord:
    return next(r for r in _records(items) if r.external_id == external_id)


# ----------------------------------------------------------------------------- mbox


def test_mbox_imports_every_message_and_dates_the_broken_one_by_its_from_line(
    shop: list[Item],
) -> None:
    records = _records(shop)
    assert [r.locator for r in records] == [
        "shop.mbox:1",
        "shop.mbox:34",
        "shop.mbox:52",
        "shop.mbox:68",
        "shop.mbox:82",
        "shop.mbox:94",
        "shop.mbox:101",
    ]
    assert not [item for item in shop if isinstance(item, Problem)]
    # No Date and no Received: "From broken@example.com Thu Mar 07 00:00:00 2024".
    broken = records[5]
    assert broken.occurred_at == datetime(2024, 3, 7, tzinfo=UTC)
    assert broken.details["date_from"] == "mbox_from_line"
    assert broken.text == "garbage body without any date"
    assert [r.details["date_from"] for r in records if r is not broken] == ["date"] * 6
    assert all(r.channel == "email" and r.source == "email" for r in records)
    assert all(r.direction is None for r in records)


def test_mbox_customer_message_values_and_mboxrd_unquoting(shop: list[Item]) -> None:
    first = _by_id(shop, "CAF1042.alice@mail.example.org")
    assert first.title == "Order #1042 - wrong size"
    assert first.occurred_at == datetime(2024, 3, 4, 9, 12, tzinfo=UTC)
    assert _people(first) == [
        ("from", "Alice Parker", "alice@example.org"),
        ("to", "Example Shop", "hello@example-shop.co.uk"),
    ]
    # A "From " line that does not follow a blank line stays in the body.
    assert "I checked the parcel again.\nFrom what I can see the label says M." in first.text
    # mboxrd: one ">" comes off every ">+From " line.
    assert "\nFrom the photos on your site the colour is right though.\n" in first.text
    assert "\n>From here on it is quoted twice.\n" in first.text
    assert first.text.endswith("Thanks, Alice")
    assert first.details["attachments"] == [{"name": "label.jpg", "type": "image/jpeg", "size": 24}]
    assert first.details["automated"] is False
    assert first.thread_key == "CAF1042.alice@mail.example.org"


def test_takeout_message_gives_gmail_thread_and_one_owner_hint(shop: list[Item]) -> None:
    hints = [item for item in shop if isinstance(item, OwnerHint)]
    assert hints == [OwnerHint("email", "hello@example-shop.co.uk")]
    hint_at = shop.index(hints[0])
    reply = shop[hint_at + 1]
    assert isinstance(reply, EventRecord)
    assert reply.external_id == "CAB2.shop@mail.gmail.com"
    assert reply.thread_key == "gmail:1792345678901234500"
    assert reply.details["labels"] == ["Sent", "Opened"]
    assert reply.details["in_reply_to"] == "CAF1042.alice@mail.example.org"
    assert reply.details["references"] == ["CAF1042.alice@mail.example.org"]
    assert reply.text.startswith("Hi Alice, sorry about that - a size L is on its way today.")


def test_getmail_style_labels_no_message_id_and_zoneless_date(shop: list[Item]) -> None:
    last = _records(shop)[-1]
    assert last.details["labels"] == ["Sent"]  # X-GMAIL-LABELS: "\\Sent"
    assert last.thread_key == "gmail:1792345678901234500"  # X-GMAIL-THRID
    assert last.occurred_at == datetime(2024, 3, 8, 12, 0, tzinfo=UTC)  # no zone: UTC
    assert last.external_id.startswith("sha256:") and len(last.external_id) == 7 + 64
    again = _records(_mbox(EMAIL / "shop.mbox"))[-1]
    assert again.external_id == last.external_id  # stable hash


def test_html_only_message_with_encoded_word_headers(shop: list[Item]) -> None:
    record = _by_id(shop, "html-only-1043@example.de")
    assert record.title == "Rücksendung für Bestellung #1043"
    assert _people(record)[0] == ("from", "Jörg Müller", "joerg.mueller@example.de")
    assert record.text == (
        "Hallo,\n\nich möchte die Bestellung #1043 zurückschicken.\nViele Grüße\nJörg"
    )
    assert record.occurred_at == datetime(2024, 3, 5, 14, 0, tzinfo=UTC)
    assert record.thread_key == "gmail:1792345678901234999"


def test_windows_1252_body_and_quoted_comma_in_cc(shop: list[Item]) -> None:
    record = _by_id(shop, "cp1252-body@example.fr")
    assert record.text == (
        "Bonjour, pourriez-vous m'envoyer la facture pour 49,90 € ?\nMerci beaucoup – Claire"
    )
    assert ("cc", "Dubois, Marc", "marc@example.fr") in _people(record)


def test_newsletter_is_automated(shop: list[Item]) -> None:
    assert _by_id(shop, "spring-2024@news.example.net").details["automated"] is True


def test_mbox_with_crlf_line_ends_reads_the_same(tmp_path: Path, shop: list[Item]) -> None:
    crlf = tmp_path / "shop.mbox"
    crlf.write_bytes((EMAIL / "shop.mbox").read_bytes().replace(b"\n", b"\r\n"))
    records = _records(_mbox(crlf))
    expected = _records(shop)
    assert [r.title for r in records] == [r.title for r in expected]
    assert [r.text for r in records] == [r.text for r in expected]
    assert [r.locator for r in records] == [r.locator for r in expected]


def _numbered_mbox(path: Path, count: int) -> None:
    with path.open("wb") as fh:
        for n in range(count):
            fh.write(
                f"From x@example.com Mon Jan  1 00:00:00 2024\n"
                f"From: x@example.com\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
                f"Message-ID: <m{n}@example.com>\nSubject: number {n}\n\nbody {n}\n\n".encode()
            )


def test_mbox_reports_progress_every_200_messages(tmp_path: Path) -> None:
    path = tmp_path / "many.mbox"
    _numbered_mbox(path, 450)
    calls: list[tuple[int, int]] = []
    records = _records(_mbox(path, progress=lambda done, total: calls.append((done, total))))
    assert len(records) == 450
    total = path.stat().st_size
    assert len(calls) == 3
    assert calls[-1] == (total, total)
    assert 0 < calls[0][0] < calls[1][0] < total
    assert all(t == total for _, t in calls)


def test_mbox_stops_when_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "many.mbox"
    _numbered_mbox(path, 50)
    polls = iter(range(1000))
    records = _records(_mbox(path, should_cancel=lambda: next(polls) >= 5))
    assert [r.title for r in records] == [f"number {n}" for n in range(5)]


def test_oversized_message_becomes_a_problem_and_the_next_one_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mail, "MAX_MESSAGE_BYTES", 4000)
    path = tmp_path / "big.mbox"
    big = b"From: a@example.com\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\n" + b"x" * 80 + b"\n"
    path.write_bytes(
        b"From a@example.com Mon Jan  1 00:00:00 2024\n"
        + big * 100
        + b"\nFrom b@example.com Mon Jan  1 00:00:00 2024\n"
        + b"From: b@example.com\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nSubject: small\n\nok\n"
    )
    items = _mbox(path)
    assert isinstance(items[0], Problem)
    assert items[0].location == "big.mbox:1" and "larger than" in items[0].reason
    assert [r.title for r in _records(items)] == ["small"]


def test_mbox_rejects_a_file_that_is_not_a_mailbox(tmp_path: Path) -> None:
    path = tmp_path / "notes.mbox"
    path.write_text("Dear diary,\nFrom now on I will keep notes.\n")
    with pytest.raises(FormatError, match=r"notes\.mbox"):
        _mbox(path)


def test_empty_mbox_yields_nothing(tmp_path: Path) -> None:
    path = tmp_path / "Archive.mbox"
    path.write_bytes(b"")
    assert _mbox(path) == []


# ----------------------------------------------------------------------------- sniffing


def test_sniff_prefers_mbox_for_mailboxes_and_eml_for_messages() -> None:
    mbox_head = (EMAIL / "shop.mbox").read_bytes()[:65536]
    eml_path = EMAIL / "multipart_alternative_qp.eml"
    eml_head = eml_path.read_bytes()
    assert MboxConnector().sniff(EMAIL / "shop.mbox", mbox_head) == 0.95
    assert 0.3 <= EmlConnector().sniff(EMAIL / "shop.mbox", mbox_head) < 0.95
    assert EmlConnector().sniff(eml_path, eml_head) == 0.9
    assert MboxConnector().sniff(eml_path, eml_head) == 0.0
    assert EmlConnector().sniff(Path("order.csv"), b"Name,Email\n#1001,a@b.com\n") == 0.0
    whatsapp = b"12/03/2024, 10:15 - Alice: Hi\n12/03/2024, 10:16 - Bob: Hello\n"
    assert not looks_like_headers(whatsapp)


# ----------------------------------------------------------------------------- .eml samples


def test_gb2312_encoded_words_and_body_that_is_really_utf8() -> None:
    record = _eml("encoded_word_gb2312_8bit_body.eml")
    assert record.title == "代开各地增值税发票"
    assert _people(record) == [
        ("from", "张先生", "baoguan@hotmail.com"),
        ("to", "", "danglüe@email.com"),  # raw 8-bit address header
    ]
    assert record.text.startswith("你好！我公司可代开各类增值税发票，17%专用发票")
    assert record.occurred_at == datetime(2018, 5, 13, 4, 32, 22, tzinfo=UTC)
    assert record.external_id.startswith("sha256:")  # no Message-ID


def test_shift_jis_body() -> None:
    record = _eml("shift_jis_8bit_body_docomo.eml")
    assert record.text.splitlines()[0] == "あいうえお"
    assert "このメールはテスト用のメールです。" in record.text
    assert "今後ともよろしくお願い申し上げます！" in record.text
    assert record.occurred_at == datetime(2014, 5, 28, 8, 18, 19, tzinfo=UTC)
    assert record.external_id == "xxxxx@docomo.ne.jp"


def test_cp1251_name_and_year_3609_falls_back_to_latest_received() -> None:
    record = _eml("outlook_express_cp1251_date_year_3609.eml")
    assert _people(record)[0] == ("from", "Атиковa", "yusuf75thu@auracom.net")
    # The top Received header: "Mon, 30 Jun 2008 02:34:00 -0700".
    assert record.occurred_at == datetime(2008, 6, 30, 9, 34, tzinfo=UTC)
    assert record.details["date_from"] == "received"
    assert record.text.startswith("Filter2: This message has been scanned for viruses and")


def test_gb2312_html_only_message() -> None:
    record = _eml("outlook_express_gb2312_html_only.eml")
    assert record.title.startswith("我把镜头拉近些，你们看看这个是什么")
    assert record.text.startswith(
        "http://go2buy.com.cn/ 9065\n\n13:33:39 13:33:39\n\n我把镜头拉近些"
    )
    assert "<" not in record.text and "MSHTML" not in record.text
    assert len([p for p in record.participants if p.role == "to"]) == 21


def test_raw_cp1252_subject(tmp_path: Path) -> None:
    undated = tmp_path / "undated.eml"
    shutil.copy(EMAIL / "raw_8bit_subject_cp1252.eml", undated)
    os.utime(undated, (1_700_000_000, 1_700_000_000))
    items = list(EmlConnector().parse(undated, _options()))
    assert len(items) == 1 and isinstance(items[0], EventRecord)  # no Date, no Received
    assert items[0].occurred_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert items[0].details["date_from"] == "file_mtime"
    dated = tmp_path / "dated.eml"
    raw = (EMAIL / "raw_8bit_subject_cp1252.eml").read_bytes()
    dated.write_bytes(b"Date: Tue, 2 Sep 2014 10:00:00 +0100\r\n" + raw)
    record = _records(list(EmlConnector().parse(dated, _options())))[0]
    assert record.details["date_from"] == "date"
    assert record.title == "Formação FrenetikPolis: Mega Campanha Final Verão | Cursos de Setembro"
    assert _people(record)[0] == ("from", "Formação Frenetikpolis", "info@formacaofrenetik.info")
    assert [p.email for p in record.participants if p.role == "to"] == [
        "martin@internet.ao",
        "iris@internet.ao",
        "support@maxnet.ao",
    ]


def test_encoded_comma_stays_inside_one_display_name() -> None:
    record = _eml("display_name_encoded_comma.eml")
    assert _people(record) == [
        ("from", "LastßlName, FirstName", "comma.name@example.com"),
        ("to", "tony.stark@example.com", "tony.stark@example.com"),
        ("cc", "", "simple@example.net"),
        ("cc", 'John "Johnny" Doe', "john.doe@example.com"),
    ]
    assert record.occurred_at == datetime(2025, 11, 3, 17, 23, tzinfo=UTC)


def test_display_name_that_is_an_address_is_not_the_identity() -> None:
    record = _eml("display_name_is_an_address.eml")
    assert _people(record) == [
        ("from", "alice@example.com", "bob@example.com"),
        ("to", "Charlie Brown", "charlie@example.com"),
        ("to", "", "dave@example.com"),
        ("cc", "eve@example.com", "frank@example.com"),
    ]


def test_bounce_is_automated() -> None:
    record = _eml("bounce_dsn_multipart_report.eml")
    assert record.details["automated"] is True
    assert record.title == "Delivery failure (abh@netpar.com.br)"
    assert "User's mailbox quota exceeded" in record.text
    assert record.external_id == "B0950073156@apus.netpar.com.br"  # "Message-Id" spelling
    assert record.occurred_at == datetime(2016, 8, 22, 9, 23, 36, tzinfo=UTC)
    types = [a["type"] for a in record.details["attachments"]]
    assert types == ["message/delivery-status", "message/rfc822-headers"]
    # The bounced message's own headers are not part of the body.
    assert "Trabajo perfecto" not in record.text


def test_an_attached_message_is_listed_and_its_text_read_as_a_forward() -> None:
    """Apple Mail's "Forward as Attachment": the attached message stays an attachment,
    and its headers and text follow the message's own, below a "Forwarded message" line
    (so that its words find it), not as the forwarder's own words."""
    record = _eml("apple_mail_attached_rfc822_forward.eml")
    assert record.text == (
        "This is the first part.\n\n"
        "---------- Forwarded message ----------\n"
        "From: Test Tester <xxxx@xxxx.com>\n"
        "Date: Tue, 10 May 2005 11:26:39 -0600\n"
        "Subject: Another PDF\n"
        "To: xxxx@xxxx.com, xxxx@xxxx.com\n\n"
        "Just attaching another PDF, here, to see what the message looks like,\n"
        "and to see if I can figure out what is going wrong here."
    )
    assert _people(record) == [("from", "", "foo@example.com"), ("to", "", "blah@example.com")]
    [attachment] = record.details["attachments"]
    assert attachment["name"] == "ForwardedMessage.eml"
    assert attachment["type"] == "message/rfc822"
    assert attachment["size"] > 1000
    assert record.occurred_at == datetime(2005, 6, 6, 20, 21, 22, tzinfo=UTC)


def _forward_as_attachment(inner: bytes, *, html: bool = False, report: bool = False) -> bytes:
    """A message with ``inner`` attached (``message/rfc822``), or returned in a delivery
    report (``report``); its own body in HTML if ``html``."""
    kind = "report; report-type=delivery-status" if report else "mixed"
    own = ("text/html", "<p>See <b>below</b>.</p>") if html else ("text/plain", "See below.")
    return (
        (
            "From: Sam Staff <sam@myshop.example>\r\nTo: owner@myshop.example\r\n"
            "Subject: Fwd: the broken vase\r\nDate: Tue, 2 Jul 2024 10:00:00 +0000\r\n"
            f'MIME-Version: 1.0\r\nContent-Type: multipart/{kind}; boundary="b{len(inner)}"\r\n\r\n'
            f"--b{len(inner)}\r\nContent-Type: {own[0]}; charset=utf-8\r\n\r\n{own[1]}\r\n"
            f"--b{len(inner)}\r\nContent-Type: message/rfc822\r\n"
            "Content-Disposition: attachment\r\n\r\n"
        ).encode()
        + inner
        + f"\r\n--b{len(inner)}--\r\n".encode()
    )


_CUSTOMER_MAIL = (
    b"From: Ann Lee <ann@example.com>\r\nTo: Sam Staff <sam@myshop.example>\r\n"
    b"Subject: The vase arrived broken\r\nDate: Mon, 1 Jul 2024 09:00:00 +0100\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n"
    b"<p>The <i>blue</i> vase of order 1043 came in pieces.</p>\r\n"
)


def test_a_forward_as_attachment_is_shown_in_an_html_message_too() -> None:
    record = mail.parse_message(_forward_as_attachment(_CUSTOMER_MAIL, html=True))
    assert record.text == (
        "See below.\n\n---------- Forwarded message ----------\n"
        "From: Ann Lee <ann@example.com>\nDate: Mon, 1 Jul 2024 09:00:00 +0100\n"
        "Subject: The vase arrived broken\nTo: Sam Staff <sam@myshop.example>\n\n"
        "The blue vase of order 1043 came in pieces."
    )
    shown = record.details["html"]
    assert shown.index("<b>below</b>") < shown.index("Forwarded message")
    assert "From: Ann Lee &lt;ann@example.com&gt;" in shown
    assert "<i>blue</i> vase of order 1043" in shown
    assert _people(record)[0] == ("from", "Sam Staff", "sam@myshop.example")


def test_the_message_a_bounce_returns_is_not_read_as_a_forward() -> None:
    record = mail.parse_message(_forward_as_attachment(_CUSTOMER_MAIL, report=True))
    assert "came in pieces" not in record.text
    assert [a["type"] for a in record.details["attachments"]] == ["message/rfc822"]


def test_a_message_without_an_id_keeps_its_identity_whatever_is_attached() -> None:
    """Its stored identity comes from its own text, as before attached messages were read:
    importing the same mailbox again adds nothing."""
    first = mail.parse_message(_forward_as_attachment(_CUSTOMER_MAIL))
    other = _CUSTOMER_MAIL.replace(b"in pieces", b"in three pieces")
    second = mail.parse_message(_forward_as_attachment(other))
    assert first.external_id.startswith("sha256:")
    assert first.external_id == second.external_id
    assert first.text != second.text


def test_forwards_inside_forwards_are_read_up_to_a_limit() -> None:
    inner = _CUSTOMER_MAIL
    for _ in range(12):
        inner = _forward_as_attachment(inner)
    record = mail.parse_message(inner)
    assert record.text.count("---------- Forwarded message ----------") == 10
    assert "came in pieces" not in record.text  # (the twelfth one down)


def test_quoted_printable_parts_and_a_broken_transfer_encoding_name() -> None:
    record = _eml("multipart_alternative_qp.eml")
    assert record.text.startswith(
        "I am sending you the bills of the goods we delivered to you in the attachment\n"
    )
    assert record.details["automated"] is False
    spam = _eml("cte_quoted_printable_with_space.eml")
    assert "you can't go wrong." in spam.text and "<br>" not in spam.text


def test_multipart_without_parts_and_group_quirk() -> None:
    record = _eml("outlook_express_multipart_without_parts.eml")
    assert record.text == ""
    assert _people(record) == [("from", "SCS_2", "redacted@attglobal.net")]


def test_duplicate_content_type_without_date_takes_the_file_time(tmp_path: Path) -> None:
    path = tmp_path / "duplicate_content_type_headers.eml"
    shutil.copy(EMAIL / "duplicate_content_type_headers.eml", path)
    os.utime(path, (1_600_000_000, 1_600_000_000))
    [record] = _records(list(EmlConnector().parse(path, _options())))
    assert record.occurred_at == datetime(2020, 9, 13, 12, 26, 40, tzinfo=UTC)
    assert record.details["date_from"] == "file_mtime"
    os.utime(path, (0, 0))  # 1970: an impossible date, and there is no other
    assert list(EmlConnector().parse(path, _options())) == [
        Problem(
            "duplicate_content_type_headers.eml",
            "no usable date: Date header missing or invalid and no Received date",
        )
    ]


def test_maildir_message_file(tmp_path: Path) -> None:
    cur = tmp_path / "cur"
    cur.mkdir()
    path = cur / (MAILDIR_NAME + ":2,S")
    shutil.copy(EMAIL / "shift_jis_8bit_body_docomo.eml", path)
    connector = EmlConnector()
    assert connector.sniff(path, path.read_bytes()) == 0.9
    [record] = _records(list(connector.parse(path, _options())))
    assert record.locator == path.name
    assert record.text.startswith("あいうえお")
    junk = cur / (MAILDIR_NAME + ";2,STln")
    junk.write_bytes(b"a\n")  # the stalwart Maildir sample's content
    assert connector.sniff(junk, b"a\n") == 0.0
    with pytest.raises(FormatError, match="not an email message"):
        list(connector.parse(junk, _options()))


def test_eml_rejects_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.eml"
    path.write_bytes(b"")
    with pytest.raises(FormatError):
        list(EmlConnector().parse(path, _options()))


# ----------------------------------------------------------------------------- mail helpers


def _message(headers: str, body: str = "hello") -> bytes:
    return (headers.strip() + "\n\n" + body).encode()


def test_too_deep_mime_nesting_is_a_problem() -> None:
    depth = 60
    parts = ["From: a@example.com\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"]
    for n in range(depth):
        parts.append(f'Content-Type: multipart/mixed; boundary="b{n}"\n\n--b{n}\n')
    parts.append("Content-Type: text/plain\n\ndeep\n")
    parts.extend(f"--b{n}--\n" for n in reversed(range(depth)))
    items = mail.message_items("".join(parts).encode(), "deep.eml", set())
    assert len(items) == 1 and isinstance(items[0], Problem)
    assert "nested" in items[0].reason


def test_huge_header_block_is_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mail, "MAX_HEADER_BYTES", 1000)
    raw = b"Date: Mon, 1 Jan 2024 00:00:00 +0000\n" + b"X-Junk: " + b"y" * 2000 + b"\n\nbody"
    assert mail.message_items(raw, "x.eml:1", set()) == [
        Problem("x.eml:1", "header block larger than 1 MB; skipped")
    ]


def test_attachment_list_is_capped() -> None:
    parts = ["From: a@example.com\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"]
    parts.append('Content-Type: multipart/mixed; boundary="b"\n\n--b\n')
    parts.append("Content-Type: text/plain\n\nSee the photos.\n")
    for n in range(105):
        parts.append(f'--b\nContent-Type: image/png; name="p{n}.png"\n\nxyz\n')
    parts.append("--b--\n")
    record = mail.parse_message("".join(parts).encode())
    assert record.text == "See the photos."
    assert len(record.details["attachments"]) == 100
    assert record.details["attachments"][0] == {"name": "p0.png", "type": "image/png", "size": 3}
    assert record.details["attachments_omitted"] == 5


@pytest.mark.parametrize(
    ("headers", "automated"),
    [
        ("From: Mail Delivery Subsystem <MAILER-DAEMON@example.com>", True),
        ("From: do_not_reply@example.com", True),
        ("From: a@example.com\nAuto-Submitted: auto-replied", True),
        ("From: a@example.com\nAuto-Submitted: no", False),
        ("From: a@example.com\nList-Id: <news.example.com>", True),
        ("From: a@example.com\nPrecedence: junk", True),
        ("From: a@example.com\nReturn-Path: <>", True),
        ("From: a@example.com\nReturn-Path: <a@example.com>", False),
    ],
)
def test_automated_mail(headers: str, automated: bool) -> None:
    raw = _message(headers + "\nDate: Mon, 1 Jan 2024 00:00:00 +0000")
    assert mail.parse_message(raw).details["automated"] is automated


def test_thread_key_prefers_references_then_in_reply_to() -> None:
    date = "Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <own@x>\n"
    refs = mail.parse_message(_message(date + "References: <root@x> <mid@x>\nIn-Reply-To: <mid@x>"))
    assert refs.thread_key == "root@x"
    reply = mail.parse_message(_message(date + "In-Reply-To: <mid@x> (comment)"))
    assert reply.thread_key == "mid@x"
    assert mail.parse_message(_message(date)).thread_key == "own@x"
    assert mail.parse_message(_message(date + "Subject:")).title == "(no subject)"


def test_date_parsing() -> None:
    assert mail.parse_date("Mon, 30 Jun 3609 15:33:50 +0600") is None
    assert mail.parse_date("not a date") is None
    assert mail.parse_date(None) is None
    assert mail.parse_date("Sun, 13 May 2018 12:32:22 +0800") == datetime(
        2018, 5, 13, 4, 32, 22, tzinfo=UTC
    )
    assert mail.parse_date("1 Feb 2020 10:00:00 -0000") == datetime(2020, 2, 1, 10, tzinfo=UTC)


def test_decode_bytes_fallbacks() -> None:
    assert mail.decode_bytes("价格".encode("gb2312"), "gb2312") == "价格"
    assert mail.decode_bytes("你好".encode(), "gb2312") == "你好"  # mislabelled UTF-8
    assert mail.decode_bytes("Grüße".encode("cp1252"), "x-unknown") == "Grüße"
    assert mail.decode_bytes("Привет".encode("cp1251"), None, ["windows-1251"]) == "Привет"
    assert mail.decode_bytes(b"caf\xe9", "base64") == "café"  # not a text codec
    assert mail.decode_words("=?utf-8?B?4oKs?= =?utf-8?Q?_10?=") == "€ 10"
    # One character split across two encoded words.
    assert mail.decode_words("=?utf-8?B?4o==?= =?utf-8?B?gqw=?=") == "€"
    assert mail.decode_words("=?utf-8?B?4oKs") == "=?utf-8?B?4oKs"


def test_split_addresses() -> None:
    assert mail.split_addresses('Team: a@x.com, "B, b" <b@y.com>;, c@z.com (Cee)') == [
        ("", "a@x.com"),
        ("B, b", "b@y.com"),
        ("Cee", "c@z.com"),
    ]
    assert mail.split_addresses("undisclosed-recipients:;") == []
    assert mail.split_addresses("no address here, <@route.example:d@w.com>") == [("", "d@w.com")]


def test_html_to_text() -> None:
    html = (
        "<html><head><title>T</title><style>.a{}</style></head><body>"
        "<h1>Order&nbsp;shipped</h1><p>Tracking:&amp; <b>123</b></p><p></p><p></p>"
        "<ul><li>Jumper</li><li>Socks</li></ul>Line<br>break<script>x()</script></body></html>"
    )
    assert mail.html_to_text(html) == (
        "Order shipped\n\nTracking:& 123\n\n- Jumper\n- Socks\n\nLine\nbreak"
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_any_bytes_give_items_not_exceptions(data: bytes) -> None:
    items = mail.message_items(b"Date: Mon, 1 Jan 2024 00:00:00 +0000\n" + data, "f:1", set())
    assert len(items) == 1 and isinstance(items[0], EventRecord | Problem)
    assert len(mail.message_items(data, "f:1", set())) == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(
            [
                b"From x Mon Jan  1 00:00:00 2024\n",
                b"Date: Mon, 1 Jan 2024 00:00:00 +0000\n",
                b"Content-Type: multipart/mixed; boundary=b\n",
                b"--b\n",
                b">From quoted\n",
                b"\n",
                b"\r\n",
                b"Subject: =?utf-8?B?w6k=?=\n",
                b"\xff\xfe\x00 junk",
            ]
        ),
        max_size=40,
    )
)
def test_mbox_never_crashes(tmp_path_factory: pytest.TempPathFactory, lines: list[bytes]) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f.mbox"
    path.write_bytes(b"From x Mon Jan  1 00:00:00 2024\n" + b"".join(lines))
    items = _mbox(path)
    assert all(isinstance(i, EventRecord | Problem | OwnerHint) for i in items)


# ----------------------------------------------------------------------------- Maildir


def _mail(n: int, sender: str, to: str, subject: str, extra: str = "") -> bytes:
    return (
        f"From: {sender}\nTo: {to}\nDate: Mon, {n} Jan 2024 10:00:00 +0000\n"
        f"Message-ID: <m{n}@example.org>\nSubject: {subject}\n{extra}\nbody {n}\n"
    ).encode()


def _maildir(root: Path) -> Path:
    """A Dovecot-style Maildir++ tree with an INBOX, a Sent folder and nested subfolders."""
    for folder in ("", ".Sent", ".Archive.2024", ".Entw&APw-rfe"):
        for sub in ("cur", "new", "tmp"):
            (root / folder / sub).mkdir(parents=True, exist_ok=True)
    alice, shop = "Alice <alice@example.org>", "Shop <hello@example-shop.co.uk>"
    (root / "cur" / "1700000001.M1P1.host:2,FS").write_bytes(_mail(1, alice, shop, "Order"))
    (root / "new" / "1700000002.M2P1.host").write_bytes(_mail(2, alice, shop, "Another"))
    (root / "tmp" / "1700000003.M3P1.host").write_bytes(_mail(3, alice, shop, "Half written"))
    (root / "cur" / ".hidden").write_bytes(_mail(4, alice, shop, "Hidden"))
    sent = root / ".Sent" / "cur" / "1700000005.M5P1.host!2,RS"  # Windows-safe separator
    sent.write_bytes(_mail(5, shop, alice, "Re: Order"))
    (root / ".Archive.2024" / "cur" / "1700000006.M6P1.host;2,Sa").write_bytes(
        _mail(6, alice, shop, "Old")
    )
    (root / ".Archive.2024" / "dovecot-keywords").write_text("0 $Forwarded\n1 Junk\n")
    (root / ".Entw&APw-rfe" / "cur" / "1700000007.M7P1.host:2,D").write_bytes(b"not a message\n")
    for name in ("dovecot-uidlist", "dovecot.index.log", "subscriptions"):
        (root / name).write_bytes(b"3 V1 N4\n")
    return root


def test_maildir_imports_folders_flags_and_locators(tmp_path: Path) -> None:
    root = _maildir(tmp_path / "Maildir")
    connector = MaildirConnector()
    assert connector.sniff(root, b"") == 0.95
    assert connector.sniff(root / "cur" / "1700000001.M1P1.host:2,FS", b"From: x") == 0.0
    assert connector.sniff(tmp_path, b"") == 0.0
    items = list(connector.parse(root, _options()))
    records = _records(items)
    assert [(r.locator, r.details["folder"], r.details["flags"]) for r in records] == [
        ("Maildir/cur/1700000001.M1P1.host:2,FS", "INBOX", ["flagged", "seen"]),
        ("Maildir/new/1700000002.M2P1.host", "INBOX", []),
        (
            "Maildir/.Archive.2024/cur/1700000006.M6P1.host;2,Sa",
            "Archive/2024",
            ["seen", "$Forwarded"],
        ),
        ("Maildir/.Sent/cur/1700000005.M5P1.host!2,RS", "Sent", ["replied", "seen"]),
    ]
    problems = [i for i in items if isinstance(i, Problem)]
    assert problems == [
        Problem(
            "Maildir/.Entw&APw-rfe/cur/1700000007.M7P1.host:2,D",
            "not an email message (no mail headers found)",
        )
    ]
    # The Sent folder's sender is the owner, hinted once, just before its message.
    hint = items.index(OwnerHint("email", "hello@example-shop.co.uk"))
    assert items[hint + 1] == records[-1]
    # The bare "Re: Order" in Sent joins the thread of "Order" in the INBOX.
    assert records[-1].thread_key == records[0].thread_key == "m1@example.org"


def test_maildir_says_what_it_skipped_and_imports_stray_messages(tmp_path: Path) -> None:
    root = _maildir(tmp_path / "Maildir")
    alice, shop = "Alice <alice@example.org>", "Shop <hello@example-shop.co.uk>"
    (root / "1700000009.M9P1.host").write_bytes(_mail(9, alice, shop, "Copied in by hand"))
    (root / ".Sent" / "stray-reply").write_bytes(_mail(10, shop, alice, "Stray reply"))
    (root / "notes.txt").write_bytes(b"remember the milk\n")
    (root / "attic").mkdir()
    (root / "attic" / "old").write_bytes(_mail(11, alice, shop, "In a plain folder"))
    (root / "courierimapkeywords").mkdir()  # a mail server's own folder: not mentioned
    (root / ".Sent" / "tmp" / "1700000012.M12P1.host").write_bytes(_mail(12, shop, alice, "T"))
    items = list(MaildirConnector().parse(root, _options()))
    records = {r.locator: r for r in _records(items)}
    assert records["Maildir/1700000009.M9P1.host"].details["folder"] == "INBOX"
    assert records["Maildir/.Sent/stray-reply"].details["folder"] == "Sent"
    assert "Half written" not in {r.title for r in records.values()}
    notices = [i.message for i in items if isinstance(i, Notice)]
    assert notices == [
        "skipped 2 files in tmp/ (deliveries still being written)",
        "skipped what is not a message or a Maildir folder: Maildir/attic, Maildir/notes.txt",
    ]
    # Server files (dovecot-uidlist, dovecot.index.log, subscriptions) are neither.
    assert [p.location for p in items if isinstance(p, Problem)] == [
        "Maildir/.Entw&APw-rfe/cur/1700000007.M7P1.host:2,D"
    ]


def test_mbox_with_blank_lines_before_the_first_message(tmp_path: Path) -> None:
    message = _mail(1, "Alice <alice@example.org>", "shop@example.org", "Hello")
    for lead in (b"\n", b"\r\n\r\n", b"\xef\xbb\xbf\n"):
        path = tmp_path / "mail"  # no .mbox ending: the content alone must say so
        path.write_bytes(lead + b"From alice@example.org Mon Jan  1 10:00:00 2024\n" + message)
        assert registry.detect(path).name == "mbox"
        [record] = _records(list(MboxConnector().parse(path, _options())))
        assert record.title == "Hello"


def test_maildir_folder_names_and_flags() -> None:
    assert folder_name(Path("/x/.Entw&APw-rfe"), Path("/x")) == "Entwürfe"
    assert folder_name(Path("/x/.INBOX.Sent Items"), Path("/x")) == "INBOX/Sent Items"
    assert folder_name(Path("/m/Account/INBOX"), Path("/m/Account/INBOX")) == "INBOX"
    assert folder_name(Path("/m/Account/Sent"), Path("/m/Account/Sent")) == "Sent"
    assert is_sent_folder("INBOX/Sent Items") and is_sent_folder("Gesendet")
    assert not is_sent_folder("Sentimental")
    assert parse_flags("123.M1.host:2,TSRPFD") == [
        "draft",
        "flagged",
        "passed",
        "replied",
        "seen",
        "trashed",
    ]
    assert parse_flags("123.M1.host:1,S") == []  # experimental info
    assert parse_flags("123.M1.host") == []
    assert parse_flags("123.M1.host:2,Sb", {"b": "Junk"}) == ["seen", "Junk"]


def test_maildir_reports_progress_and_stops_when_cancelled(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    (root / "cur").mkdir(parents=True)
    for n in range(1, 451):
        (root / "cur" / f"{1700000000 + n}.M{n}.host:2,S").write_bytes(
            _mail(n % 28 + 1, "a@example.org", "b@example.org", f"number {n}")
        )
    total = sum(f.stat().st_size for f in (root / "cur").iterdir())
    calls: list[tuple[int, int]] = []
    items = list(
        MaildirConnector().parse(root, _options(progress=lambda d, t: calls.append((d, t))))
    )
    assert len(_records(items)) == 450
    assert len(calls) == 3 and calls[-1] == (total, total) and 0 < calls[0][0] < calls[1][0]
    polls = iter(range(1000))
    cancelled = list(
        MaildirConnector().parse(root, _options(should_cancel=lambda: next(polls) >= 5))
    )
    assert len(cancelled) == 5


def test_maildir_rejects_a_folder_that_is_not_one(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="not a Maildir"):
        list(MaildirConnector().parse(tmp_path, _options()))


def test_registry_walks_a_mixed_folder_and_keeps_each_maildir_whole(tmp_path: Path) -> None:
    mixed = tmp_path / "mail"
    _maildir(mixed / "Maildir")
    shutil.copy(EMAIL / "shop.mbox", mixed / "shop.mbox")
    (mixed / "saved").mkdir()
    shutil.copy(EMAIL / "shift_jis_8bit_body_docomo.eml", mixed / "saved" / "docomo.eml")
    apple = mixed / "Inbox.mbox"  # an Apple Mail export: a folder holding a file "mbox"
    apple.mkdir()
    shutil.copy(EMAIL / "shop.mbox", apple / "mbox")
    # ... beside the mailbox's own Info.plist and table of contents, which hold no mail
    (apple / "Info.plist").write_text('<?xml version="1.0"?><plist version="1.0"/>\n')
    (apple / "table_of_contents").write_bytes(b"\x00\x01toc")
    # Thunderbird's Local Folders: a mailbox file without a suffix, its summary (.msf)
    thunderbird = mixed / "Local Folders"
    thunderbird.mkdir()
    shutil.copy(EMAIL / "shop.mbox", thunderbird / "Sent")
    (thunderbird / "Sent.msf").write_text('// <!-- <mdb:mork:z v="1.4"/> -->\n')
    (thunderbird / "msgFilterRules.dat").write_text('version="9"\n')
    (mixed / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (mixed / ".git").mkdir()
    (mixed / ".git" / "HEAD").write_text("ref: x\n")
    offlineimap = mixed / "Account" / "INBOX"  # mbsync/offlineimap: one Maildir per folder
    (offlineimap / "cur").mkdir(parents=True)
    (offlineimap / "Sub" / "new").mkdir(parents=True)
    found = list(registry.expand([mixed]))
    assert [p.relative_to(mixed).as_posix() for p in found] == [
        "Account/INBOX",
        "Account/INBOX/Sub",
        "Inbox.mbox/mbox",
        "Local Folders/Sent",
        "Maildir",
        "saved/docomo.eml",
        "shop.mbox",
    ]
    assert [registry.detect(p).name for p in found] == [
        "maildir",
        "maildir",
        "mbox",
        "mbox",
        "maildir",
        "eml",
        "mbox",
    ]
    assert list(registry.expand([mixed / "Maildir"])) == [mixed / "Maildir"]
    # Named on their own, they are still read, and said to be no format Threadline reads.
    assert list(registry.expand([apple / "Info.plist"])) == [apple / "Info.plist"]
    with pytest.raises(FormatError, match="not a format Threadline recognises"):
        registry.detect(apple / "Info.plist")
    with pytest.raises(FormatError, match="not a folder Threadline recognises"):
        registry.detect(mixed / "saved")


def test_a_mixed_folder_imports_through_the_ingest_path(db: Database, tmp_path: Path) -> None:
    mixed = tmp_path / "mail"
    _maildir(mixed / "Maildir")
    shutil.copy(EMAIL / "shop.mbox", mixed / "shop.mbox")
    (mixed / "shop.mbox.msf").write_text('// <!-- <mdb:mork:z v="1.4"/> -->\n')
    (mixed / "desktop.ini").write_text("[.ShellClassInfo]\n")
    reports = import_paths(db, [mixed])
    assert [(Path(r.path).name, r.format, r.status) for r in reports] == [
        ("Maildir", "maildir", "done"),
        ("shop.mbox", "mbox", "done"),
    ]
    assert reports[0].added == 4 and len(reports[0].problems) == 1
    assert reports[1].added == 7
    again = import_paths(db, [mixed])
    assert sum(r.added for r in again) == 0


# ----------------------------------------------------------------------------- threading


@pytest.mark.parametrize(
    ("subject", "normalised", "reply"),
    [
        ("Re: Order #1042", "order #1042", True),
        ("RE: re: Fwd: Order #1042", "order #1042", True),
        ("AW: WG: Bestellung", "bestellung", True),
        ("Re[2]: Order", "order", True),
        ("SV: Tilaus", "tilaus", True),
        ("回复: 订单", "订单", True),
        ("[Shop] Re: Order", "order", True),
        ("Order  #1042 ", "order #1042", False),
        ("[Shop] Order", "order", False),
        ("Regarding: the order", "regarding: the order", False),
    ],
)
def test_normalise_subject(subject: str, normalised: str, reply: bool) -> None:
    assert mail.normalise_subject(subject) == (normalised, reply)


def _threaded(*messages: str) -> list[str | None]:
    reader = mail.MailReader()
    keys: list[str | None] = []
    for n, headers in enumerate(messages):
        items = reader.items(_message(f"Date: Mon, 1 Jan 2024 0{n}:00:00 +0000\n{headers}"), "x")
        record = items[-1]
        assert isinstance(record, EventRecord)
        keys.append(record.thread_key)
    return keys


def test_subject_fallback_only_without_a_message_id_chain() -> None:
    alice_to_shop = "From: alice@example.org\nTo: shop@example.com\n"
    shop_to_alice = "From: shop@example.com\nTo: alice@example.org\n"
    keys = _threaded(
        alice_to_shop + "Message-ID: <root@x>\nSubject: Order 1042",
        shop_to_alice + "Message-ID: <bare@x>\nSubject: Re: Order 1042",  # no chain
        shop_to_alice + "Message-ID: <chain@x>\nIn-Reply-To: <other@x>\nSubject: Re: Order 1042",
        "From: bob@example.org\nTo: shop@example.com\nMessage-ID: <bob@x>\nSubject: Re: Order 1042",
        alice_to_shop + "Message-ID: <new@x>\nSubject: Order 1042",  # not a reply: a new thread
    )
    assert keys[:3] == ["root@x", "root@x", "other@x"]
    assert keys[3] is not None and keys[3].startswith("subject:")  # other people: not joined
    assert keys[4] == "new@x"


def test_bare_replies_without_an_original_share_a_subject_key() -> None:
    headers = "From: alice@example.org\nTo: shop@example.com\nSubject: Re: Vase"
    first = mail.parse_message(_message("Date: Mon, 1 Jan 2024 00:00:00 +0000\n" + headers))
    second = mail.parse_message(_message("Date: Tue, 2 Jan 2024 00:00:00 +0000\n" + headers))
    assert first.thread_key is not None and first.thread_key.startswith("subject:")
    assert first.thread_key == second.thread_key
    assert first.external_id != second.external_id
    no_subject = mail.parse_message(
        _message("Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <a@x>\nSubject: Re:")
    )
    assert no_subject.thread_key == "a@x"


# ----------------------------------------------------------------------------- automated senders


@pytest.mark.parametrize(
    ("sender", "automated"),
    [
        ("Shopify <mailer@shopify.com>", True),
        ("Etsy <transaction@etsy.com>", True),
        ("PayPal <service@intl.paypal.com>", True),
        ("service@paypal.co.uk", True),
        ("Stripe <notifications@stripe.com>", True),
        ("Square <noreply@messaging.squareup.com>", True),
        ("auto-confirm@amazon.co.uk", True),
        ("bounces+12345@sendgrid.example", True),
        ("Notifications <notifications@github.example>", True),
        ("WordPress <wordpress@bloom-shop.example>", True),
        ("Buyer <8x3yq4@marketplace.amazon.co.uk>", False),  # a relayed customer
        ("Jane <jane.doe@gmail.com>", False),
        ("info@florist.example", False),
        ("Shopify Fan <fan@notshopify.example>", False),
    ],
)
def test_platform_notification_senders_are_automated(sender: str, automated: bool) -> None:
    raw = _message(f"From: {sender}\nDate: Mon, 1 Jan 2024 00:00:00 +0000")
    assert mail.parse_message(raw).details["automated"] is automated


def test_list_unsubscribe_and_reports_are_automated() -> None:
    date = "From: a@example.com\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
    assert mail.parse_message(_message(date + "List-Unsubscribe: <mailto:u@x>")).details[
        "automated"
    ]
    report = date + "Content-Type: multipart/report; report-type=delivery-status; boundary=b"
    assert mail.parse_message(_message(report, "--b\n\nx\n--b--\n")).details["automated"]


def test_owner_hint_is_not_given_for_automated_mail_in_a_sent_folder() -> None:
    raw = _message("From: noreply@example.com\nDate: Mon, 1 Jan 2024 00:00:00 +0000")
    items = mail.MailReader().items(raw, "x", sent=True)
    assert len(items) == 1 and isinstance(items[0], EventRecord)


# ----------------------------------------------------------------------------- HTML and limits


def _alternative(html: str, plain: str = "Plain version.") -> bytes:
    return _message(
        "From: a@example.com\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
        'Content-Type: multipart/alternative; boundary="b"',
        f"--b\nContent-Type: text/plain\n\n{plain}\n"
        f"--b\nContent-Type: text/html; charset=utf-8\n\n{html}\n--b--\n",
    )


def test_html_alternative_is_kept_sanitised_and_the_plain_part_is_the_text() -> None:
    record = mail.parse_message(
        _alternative(
            '<p>Hi <b>there</b><img src="https://t.example/p.gif"></p>'
            '<div style="background:url(https://t.example/bg)">x</div><script>x()</script>'
        )
    )
    assert record.text == "Plain version."
    assert record.details["html"] == "<p>Hi <b>there</b></p><div>x</div>"
    assert "html_truncated" not in record.details


def test_html_beyond_the_cap_is_dropped_and_noted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mail_text, "MAX_SAFE_HTML_BYTES", 100)
    record = mail.parse_message(_alternative("<p>" + "word " * 100 + "</p>", plain=""))
    assert "html" not in record.details and record.details["html_truncated"] is True
    assert record.text.startswith("word word")  # the text still comes from the HTML


def test_plain_only_mail_has_no_html() -> None:
    raw = _message("From: a@example.com\nDate: Mon, 1 Jan 2024 00:00:00 +0000")
    assert "html" not in mail.parse_message(raw).details


def test_html_to_text_survives_broken_markup_quickly() -> None:
    assert mail.html_to_text("<p>a</p><!-- unclosed <p>b") == "a"
    assert mail.html_to_text("<div>x</<div>y") == "xy"  # as a browser reads it
    assert mail.html_to_text("<pre>a\nb</pre>after") == "a\nb\n\nafter"
    assert mail.html_to_text("</" * 200_000) == ""


def test_long_text_is_truncated_and_noted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mail, "MAX_TEXT_CHARS", 10)
    raw = _message("From: a@example.com\nDate: Mon, 1 Jan 2024 00:00:00 +0000", "x" * 50)
    record = mail.parse_message(raw)
    assert record.text == "x" * 10 and record.details["text_truncated"] is True


def test_mbox_status_headers_become_flags() -> None:
    raw = _message(
        "From: a@example.com\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nStatus: RO\nX-Status: AF"
    )
    assert mail.parse_message(raw).details["flags"] == ["flagged", "replied", "seen"]
    plain = _message("From: a@example.com\nDate: Mon, 1 Jan 2024 00:00:00 +0000")
    assert "flags" not in mail.parse_message(plain).details


def test_lenient_transfer_decoding() -> None:
    assert mail_text.lenient_b64decode(b"SGVs!bG8\n=") == b"Hello"
    assert mail_text.lenient_qp_decode(b"a=  \r\nb=\rc =ZZ =C3=A9") == "abc =ZZ é".encode()


def test_split_addresses_common_forms() -> None:
    assert mail.split_addresses("Jane  Doe <jane@x.com>") == [("Jane Doe", "jane@x.com")]
    assert mail.split_addresses('"Doe, Jane" <jane@x.com>') == [("Doe, Jane", "jane@x.com")]
    assert mail.split_addresses(" jane@x.com ") == [("", "jane@x.com")]
    assert mail.split_addresses("<jane@x.com>") == [("", "jane@x.com")]
    assert mail.split_addresses("=?utf-8?Q?Zo=C3=AB?= <z@x.com>") == [
        ("=?utf-8?Q?Zo=C3=AB?=", "z@x.com")
    ]


def test_header_lookups_through_the_index_answer_as_the_stdlib_does() -> None:
    from email import message_from_bytes
    from email import policy as email_policy

    raw = (
        b"Received: from a\nreceived: from b\nSubject: first\nSUBJECT: second\n"
        b"Content-Type: text/plain; charset=latin-1\n\nbody\n"
    )
    ours = mail._PARSER.parsebytes(raw)
    plain = message_from_bytes(raw, policy=email_policy.compat32)
    assert ours.get_content_type() == plain.get_content_type() == "text/plain"
    assert ours.get_params() == plain.get_params()
    for msg in (ours, plain):  # the same changes after parsing, each kind of them
        msg.set_type("text/html")
        msg.replace_header("subject", "replaced")
        msg.set_param("charset", "utf-8")
        del msg["received"]
        msg["X-New"] = "added"
        msg.set_raw("X-Raw", "raw")
    for name in ("subject", "Subject", "received", "content-type", "x-new", "x-raw", "nope"):
        assert ours.get(name) == plain.get(name), name
        assert (name in ours) == (name in plain), name
    assert ours.get_content_charset() == "utf-8"
    assert ours.get_content_type() == plain.get_content_type() == "text/html"
    assert ours.get_params() == plain.get_params()
    del ours["content-type"]
    ours.set_default_type("message/rfc822")  # no header: the default type, as it changes
    assert ours.get_content_type() == "message/rfc822"
    assert ours.get_all("subject") == plain.get_all("subject") == ["replaced", "second"]


# ----------------------------------------------------------------------------- spam


def test_what_gmail_marked_as_spam_is_left_out_of_a_takeout(db: Database, tmp_path: Path) -> None:
    # Takeout's "All mail Including Spam and Trash.mbox": the spam's senders would be
    # customers waiting for a reply. Trash stays (deleted is not spam).
    spam = "Dr Win <win@lottery.example>"
    alice, shop = "Alice <alice@example.org>", "Shop <hello@example-shop.co.uk>"
    path = tmp_path / "All mail Including Spam and Trash.mbox"
    path.write_bytes(
        b"".join(
            b"From 1@xxx Mon Jan  1 00:00:00 +0000 2024\n" + message + b"\n"
            for message in (
                _mail(1, alice, shop, "Order", "X-Gmail-Labels: Inbox,Opened"),
                _mail(2, spam, shop, "You won", 'X-Gmail-Labels: Spam,"Category Updates"'),
                _mail(3, spam, shop, "Claim it", "X-Gmail-Labels: Spam"),
                _mail(4, alice, shop, "Old one", "X-Gmail-Labels: Trash,Opened"),
            )
        )
    )
    items = _mbox(path)
    assert [r.title for r in _records(items)] == ["Order", "Old one"]
    assert Notice("left out 2 messages Gmail marked as spam (their senders are no customers)") in (
        items
    )
    (report,) = import_paths(db, [path])
    assert report.added == 2 and report.problems == []
    with db.session() as session:
        from sqlalchemy import select

        from app.models import CustomerIdentity, Identity

        addresses = set(session.scalars(select(Identity.value).join(CustomerIdentity)).all())
    assert "win@lottery.example" not in addresses and "alice@example.org" in addresses


def test_spam_folders_are_left_out_of_a_maildir_and_a_folder_of_mailboxes(
    tmp_path: Path,
) -> None:
    root = _maildir(tmp_path / "Maildir")
    for folder, n in ((".Junk", 8), (".INBOX.Spam", 9)):
        (root / folder / "cur").mkdir(parents=True)
        spam = _mail(n, "Dr Win <win@lottery.example>", "hello@example-shop.co.uk", "Won")
        (root / folder / "cur" / f"17000000{n:02d}.M{n}P1.host:2,S").write_bytes(spam)
    items = list(MaildirConnector().parse(root, _options()))
    assert "Won" not in {r.title for r in _records(items)}
    assert (
        Notice(
            "left out 2 messages in spam folders (INBOX/Spam, Junk): their senders are no customers"
        )
        in items
    )
    # Thunderbird's folder of mailboxes ("Junk" beside "Inbox"), and Apple Mail's export
    # of its Junk mailbox ("Junk.mbox/mbox").
    for name in ("Junk", "Junk.mbox/mbox", "Junk E-mail.mbox"):
        box = tmp_path / "tb" / name
        box.parent.mkdir(parents=True, exist_ok=True)
        box.write_bytes(
            b"From x Mon Jan  1 00:00:00 2024\n" + _mail(1, "w@x.example", "s@y", "Won")
        )
        items = _mbox(box)
        assert _records(items) == [] and len(items) == 1
        assert isinstance(items[0], Notice) and "is a spam folder" in items[0].message
    assert not mail.is_spam_folder("Inbox") and mail.is_spam_folder("[Gmail]/Spam")
    assert mail.is_spam_folder("Courrier indésirable") and not mail.is_spam_folder("Junkyard")


def test_a_sent_mailbox_names_the_owner(tmp_path: Path) -> None:
    # Thunderbird keeps the shop's sent mail in a mailbox file named "Sent" (Apple Mail's
    # export: "Sent Messages.mbox/mbox"); imported alone, its sender is the owner, not a
    # customer who wrote to everyone.
    shop, alice = "Shop <hello@example-shop.co.uk>", "Alice <alice@example.org>"
    for name in ("Sent", "Sent Messages.mbox/mbox", "Gesendet"):
        box = tmp_path / name
        box.parent.mkdir(parents=True, exist_ok=True)
        box.write_bytes(b"From x Mon Jan  1 00:00:00 2024\n" + _mail(1, shop, alice, "Re: Order"))
        items = _mbox(box)
        assert items[0] == OwnerHint("email", "hello@example-shop.co.uk"), name
    inbox = tmp_path / "Inbox"
    inbox.write_bytes(b"From x Mon Jan  1 00:00:00 2024\n" + _mail(2, alice, shop, "Order"))
    assert not [i for i in _mbox(inbox) if isinstance(i, OwnerHint)]
