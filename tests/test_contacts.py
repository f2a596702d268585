"""Address books (vCard ``.vcf``): the cards real programs write, and what a card links."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.db import Database
from app.errors import FormatError
from app.ingest import import_paths, preview_file
from app.models import CustomerIdentity, Identity
from app.records import ContactCard, Notice, ParseOptions, Problem
from app.service import Service
from connectors import registry
from connectors.vcard import VCardConnector
from tests.test_cli_e2e import CLI

FIX = Path(__file__).resolve().parent / "fixtures" / "contacts"
OPTIONS = ParseOptions(tz=ZoneInfo("Europe/London"))


def _items(path: Path) -> list[object]:
    return list(VCardConnector().parse(path, OPTIONS))


def _cards(path: Path) -> list[ContactCard]:
    return [i for i in _items(path) if isinstance(i, ContactCard)]


def test_every_export_is_recognised_as_contacts() -> None:
    for path in sorted(FIX.glob("*.vcf")):
        assert registry.detect(path).name == "vcard", path.name


def test_android_quoted_printable_names_and_a_broken_photo() -> None:
    """Android's vCard 2.1: names in quoted-printable UTF-8 over soft line breaks, bare
    parameters, a photo that is not valid base64 (skipped unread); cards without a name
    show their address, cards without an address or number are counted in a notice."""
    items = _items(FIX / "John_Doe_ANDROID.vcf")
    cards = [i for i in items if isinstance(i, ContactCard)]
    assert [(c.name, c.emails, c.phones) for c in cards] == [
        ("", ("john.doe@company.com",), ()),
        ("", ("jane.doe@company.com",), ()),
        ("Ñ Ñ Ñ Ñ Ñ", (), ("123456789",)),
        ("Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ", (), ("123456", "234567", "3456789", "45678901")),
        ("Ñ Ñ Ñ Ñ", ("bob@company.com",), ("123456",)),
        ("ÑÑÑÑ", ("henry@company.com",), ("55556666",)),
    ]
    assert cards[2].locator == "John_Doe_ANDROID.vcf:11"
    assert not [i for i in items if isinstance(i, Problem | Notice)]


def test_iphone_groups_types_and_fax_numbers() -> None:
    """Apple's ``item1.EMAIL`` groups and ``type=`` lists; fax and pager numbers left out."""
    (card,) = _cards(FIX / "John_Doe_IPHONE.vcf")
    assert card.name == "Mr. John Richter James Doe Sr."
    assert card.organization == "IBM"
    assert card.emails == ("john.doe@ibm.com",)
    assert card.phones == ("905-555-1234", "905-666-1234", "905-777-1234", "905-222-1234")


def test_outlook_and_lotus_notes_and_vcard_4() -> None:
    (outlook,) = _cards(FIX / "outlook-2007.vcf")  # 2.1, a folded base64 key, a QP note
    assert outlook.name == "Mr. Michael Angstadt Jr."
    assert outlook.emails == ("mike.angstadt@gmail.com",)
    assert outlook.phones == ("(111) 555-1111", "(111) 555-2222", "(111) 555-4444")
    (old,) = _cards(FIX / "outlook-2003.vcf")  # "BusinessPhone" where numbers go
    assert (old.name, old.emails, old.phones) == ("John Doe III", ("jdoe@hotmail.com",), ())
    (notes,) = _cards(FIX / "John_Doe_LOTUS_NOTES.vcf")
    assert notes.emails == ("john.doe@ibm.com", "billy_bob@gmail.com")
    (four,) = _cards(FIX / "rfc6350-example.vcf")  # tel: URIs with an extension
    assert four.phones == ("+1-418-656-9254", "+1-418-262-6501")
    assert [c.name for c in _cards(FIX / "gmail-list.vcf")] == [
        "Arnold Smith",
        "Chris Beatle",
        "Doug White",
    ]


def test_a_card_cut_short_and_a_bad_value_lose_only_themselves(tmp_path: Path) -> None:
    path = tmp_path / "cut.vcf"
    path.write_text(
        "BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Ann Lee\r\n"
        "EMAIL;ENCODING=QUOTED-PRINTABLE:ann=C3=A9@example.org\r\n"
        "TEL;CELL:+44 7700 900111\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bo Ray\r\nEMAIL:bo@example.org\r\n"
        "NOTE;ENCODING=QUOTED-PRINTABLE:caf=E9\r\n"
        "EMAIL;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:=FF=FE@example.org\r\n",
        encoding="utf-8",
    )
    items = _items(path)
    problems = [i for i in items if isinstance(i, Problem)]
    assert [(p.location, p.reason) for p in problems] == [
        ("cut.vcf:1", "card without END:VCARD: read up to the next"),
        ("cut.vcf:6", "card without END:VCARD: the file ends inside it"),
    ]
    cards = [i for i in items if isinstance(i, ContactCard)]
    assert [(c.name, c.emails, c.phones) for c in cards] == [
        ("Ann Lee", ("anné@example.org",), ("+44 7700 900111",)),
        ("Bo Ray", ("bo@example.org", "ÿþ@example.org"), ()),
    ]


def test_a_colon_inside_a_quoted_parameter_does_not_end_the_name(tmp_path: Path) -> None:
    path = tmp_path / "quoted.vcf"
    path.write_text(
        "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ann Lee\r\n"
        'TEL;TYPE="voice:work";PREF=1:tel:+44-7700-900111\r\n'
        'EMAIL;LABEL="home: main":ann@example.org\r\n'
        "EMAIL;TYPE=work:Ann Lee <ann@work.example>\r\nEND:VCARD\r\n",
        encoding="utf-8",
    )
    (card,) = _cards(path)
    assert card.emails == ("ann@example.org", "ann@work.example")
    assert card.phones == ("+44-7700-900111",)


def test_not_a_card_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.vcf"
    path.write_text("just some notes\n", encoding="utf-8")
    with pytest.raises(FormatError, match="no contact card"):
        _items(path)


def _linked(db: Database) -> dict[int, set[str]]:
    with db.session() as session:
        rows = session.execute(
            select(CustomerIdentity.customer_id, Identity.value).join(
                Identity, Identity.id == CustomerIdentity.identity_id
            )
        )
        found: dict[int, set[str]] = {}
        for customer, value in rows:
            found.setdefault(customer, set()).add(value)
    return found


_MAIL = (
    "From: Priya Shah <priya@example.org>\r\nTo: hello@myshop.example\r\n"
    "Subject: Wedding flowers\r\nDate: Mon, 4 Mar 2024 10:00:00 +0000\r\n"
    "Message-ID: <priya-1@example.org>\r\n\r\nCan you do peonies in June?\r\n"
)
_CHAT = (
    "05/03/2024, 09:16 - +44 7700 900456: Hi, it's Priya about the peonies\n"
    "05/03/2024, 09:20 - My Shop: Yes, we can!\n"
)
_CARD = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Shah;Priya;;;\r\nFN:Priya Shah\r\n"
    "EMAIL;TYPE=INTERNET:priya@example.org\r\nTEL;TYPE=CELL:07700 900456\r\n"
    "TEL;TYPE=FAX:020 7946 0000\r\nEND:VCARD\r\n"
)


def _sources(tmp_path: Path) -> tuple[Path, Path, Path]:
    mail = tmp_path / "priya.eml"
    mail.write_text(_MAIL, encoding="utf-8")
    chat = tmp_path / "WhatsApp Chat with +44 7700 900456.txt"
    chat.write_text(_CHAT, encoding="utf-8")
    card = tmp_path / "contacts.vcf"
    card.write_text(_CARD, encoding="utf-8")
    return mail, chat, card


def _one_card(path: Path, line: str) -> Path:
    """An address book of one card, Priya Shah's, with this one content line."""
    path.write_text(f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Priya Shah\r\n{line}\r\nEND:VCARD\r\n")
    return path


def _configured(db: Database) -> None:
    from app import settings

    with db.session() as session:
        settings.set_value(session, "owner_emails", "hello@myshop.example")
        settings.set_value(session, "owner_names", "My Shop")


def test_a_card_joins_a_customers_mail_and_whatsapp(store: Database, tmp_path: Path) -> None:
    """Her mail and her WhatsApp number were two customers; her card in the address book
    makes them one, with both histories (the merge is in the change history); importing
    the address book again changes nothing."""
    _configured(store)
    mail, chat, card = _sources(tmp_path)
    reports = import_paths(store, [mail, chat])
    assert [r.added for r in reports] == [1, 2]
    assert sorted(_linked(store).values(), key=sorted) == [{"+447700900456"}, {"priya@example.org"}]

    (report,) = import_paths(store, [card])
    assert (report.format, report.added, report.duplicates) == ("vcard", 1, 0)
    assert list(_linked(store).values()) == [{"priya@example.org", "+447700900456"}]
    svc = Service(store)
    (priya,) = svc.customers("")
    assert (priya.name, priya.event_count) == ("Priya Shah", 3)
    assert any(c.action == "merge" for c in svc.history())

    (again,) = import_paths(store, [card])
    assert (again.added, again.duplicates) == (0, 1)
    assert len(svc.customers("")) == 1

    merge = next(c for c in svc.history() if c.action == "merge")  # the owner disagrees
    svc.undo(merge.id)
    assert len(svc.customers("")) == 2


def test_a_card_first_then_the_chat_lands_on_its_customer(db: Database, tmp_path: Path) -> None:
    _configured(db)
    mail, chat, card = _sources(tmp_path)
    (report,) = import_paths(db, [card])
    assert report.added == 1
    svc = Service(db)
    (priya,) = svc.customers("07700 900456")
    assert (priya.name, priya.event_count) == ("Priya Shah", 0)
    import_paths(db, [chat, mail])
    (priya,) = svc.customers("")
    assert priya.event_count == 3
    assert list(_linked(db).values()) == [{"priya@example.org", "+447700900456"}]


def test_a_forgotten_customers_card_stays_forgotten(db: Database, tmp_path: Path) -> None:
    _configured(db)
    mail, _chat, card = _sources(tmp_path)
    import_paths(db, [mail])
    svc = Service(db)
    (priya,) = svc.customers("")
    svc.forget(priya.id)
    (report,) = import_paths(db, [card])
    assert (report.added, report.suppressed) == (0, 1)
    assert svc.customers("") == []


def test_the_preview_shows_the_cards(db: Database) -> None:
    preview = preview_file(db, FIX / "gmail-list.vcf")
    assert preview.format == "vcard"
    assert [c.name for c in preview.cards] == ["Arnold Smith", "Chris Beatle", "Doug White"]


def test_contacts_through_the_cli(tmp_path: Path) -> None:
    """``threadline import contacts.vcf`` as a script runs it: the JSON report, then the
    customers the cards made (with their numbers in E.164)."""
    tool = CLI(tmp_path)
    assert tool.run("config", "region", "US").returncode == 0
    (report,) = tool.json("import", str(FIX / "rfc6350-example.vcf"))["files"]
    assert (report["format"], report["added"], report["problems"]) == ("vcard", 1, [])
    (customer,) = tool.json("customers")
    assert customer["name"] == "Simon Perreault"
    assert customer["emails"] == ["simon.perreault@viagenie.ca"]
    assert customer["phones"] == ["+14186569254", "+14182626501"]
    assert json.dumps(customer)  # (plain JSON)


def test_a_card_names_a_customer_known_only_by_an_address(db: Database, tmp_path: Path) -> None:
    """Mail from a bare address made a nameless customer: the card gives the name."""
    _configured(db)
    mail = tmp_path / "bare.eml"
    mail.write_text(_MAIL.replace("Priya Shah <priya@example.org>", "priya@example.org"))
    import_paths(db, [mail])
    svc = Service(db)
    assert [c.name for c in svc.customers("")] == ["priya@example.org"]
    card = _one_card(tmp_path / "contacts.vcf", "EMAIL:priya@example.org")
    (report,) = import_paths(db, [card])
    assert (report.added, report.duplicates) == (1, 0)
    assert [c.name for c in svc.customers("")] == ["Priya Shah"]


def test_a_big_address_book_reports_its_progress(tmp_path: Path) -> None:
    """Cards are read as a stream: progress is told as they come, and a photo of any size
    is skipped unread."""
    photo = "PHOTO;ENCODING=b;TYPE=JPEG:" + "A" * 70 + "\r\n" + (" " + "B" * 74 + "\r\n") * 20000
    path = tmp_path / "book.vcf"
    with path.open("w", encoding="utf-8") as out:
        for n in range(1200):
            out.write(f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Person {n}\r\n")
            out.write(f"EMAIL:p{n}@example.org\r\n{photo if n == 7 else ''}END:VCARD\r\n")
    seen: list[tuple[int, int]] = []
    options = ParseOptions(
        tz=ZoneInfo("UTC"), progress=lambda done, total: seen.append((done, total))
    )
    cards = [i for i in VCardConnector().parse(path, options) if isinstance(i, ContactCard)]
    assert len(cards) == 1200 and cards[7].emails == ("p7@example.org",)
    size = path.stat().st_size
    assert len(seen) == 3 and seen[-1] == (size, size)
    assert 0 < seen[0][0] < seen[1][0] < size


def test_a_card_names_a_whatsapp_number_and_says_when_the_region_cannot_read_it(
    db: Database, tmp_path: Path
) -> None:
    """A chat known only by its number is named by the card that holds the number; a
    number written the national way that the region cannot read is said so."""
    from app import settings

    _configured(db)
    _mail, chat, _card = _sources(tmp_path)
    import_paths(db, [chat])
    svc = Service(db)
    assert [c.name for c in svc.customers("")] == ["+44 7700 900456"]
    local = _one_card(tmp_path / "local.vcf", "TEL;TYPE=CELL:07700 900456")
    with db.session() as session:
        settings.set_value(session, "region", "US")
    (report,) = import_paths(db, [local])
    assert (report.added, report.duplicates) == (0, 0)
    assert report.notices == [
        "1 contact(s) with no email address and no number that reads as a phone number in "
        "your region (US): nothing to link (threadline config region XX, then import again)"
    ]
    with db.session() as session:
        settings.set_value(session, "region", "GB")
    (report,) = import_paths(db, [local])
    assert (report.added, report.notices) == (1, [])
    assert [c.name for c in svc.customers("")] == ["Priya Shah"]


def test_a_damaged_address_book_is_read_as_one(tmp_path: Path) -> None:
    """A first line damaged: the cards after it are still read; a ``.vcf`` with no card at
    all is refused by name, not as an unknown format."""
    path = tmp_path / "book.vcf"
    path.write_bytes(
        b"BEG\x00N:VCARD\r\nFN:Lost\r\nEND:VCARD\r\n" + (FIX / "gmail-list.vcf").read_bytes()
    )
    assert registry.detect(path).name == "vcard"
    assert [c.name for c in _cards(path)] == ["Arnold Smith", "Chris Beatle", "Doug White"]
    empty = tmp_path / "empty.vcf"
    empty.write_bytes(b"\x00garbage\r\n")
    assert registry.detect(empty).name == "vcard"
    with pytest.raises(FormatError, match=r"empty\.vcf: no contact card in the file"):
        _items(empty)


def test_a_card_under_another_name_does_not_make_an_address_shared(
    db: Database, tmp_path: Path
) -> None:
    """The owner names a contact as they like (a maiden name, "Mum"): the card still puts
    its number on the customer its address belongs to, and the address is not taken for
    one that several people share."""
    _configured(db)
    mail, _chat, _card = _sources(tmp_path)
    import_paths(db, [mail])
    card = tmp_path / "maiden.vcf"
    card.write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Priya Mehta\r\nEMAIL:priya@example.org\r\n"
        "TEL;TYPE=CELL:07700 900456\r\nEND:VCARD\r\n"
    )
    (report,) = import_paths(db, [card])
    assert report.added == 1
    assert list(_linked(db).values()) == [{"priya@example.org", "+447700900456"}]
    with db.session() as session:
        shared = session.scalar(
            select(Identity.shared).where(Identity.value == "priya@example.org")
        )
    assert shared is False
    assert [c.name for c in Service(db).customers("")] == ["Priya Shah"]


def test_a_card_of_another_person_at_one_family_address_is_a_household(
    db: Database, tmp_path: Path
) -> None:
    """John wrote from the family's address; Mary's card gives that address and her
    mobile: her number is not put on John, and the address is one they share."""
    _configured(db)
    mail = tmp_path / "john.eml"
    mail.write_text(
        _MAIL.replace("Priya Shah <priya@example.org>", "John Smith <smiths@example.org>")
    )
    import_paths(db, [mail])
    card = _one_card(tmp_path / "mary.vcf", "EMAIL:smiths@example.org")
    card.write_text(
        card.read_text().replace("FN:Priya Shah", "FN:Mary Smith\r\nTEL;TYPE=CELL:07700 900789")
    )
    (report,) = import_paths(db, [card])
    assert report.added == 1
    linked = _linked(db)
    (john,) = [c for c, points in linked.items() if points == {"smiths@example.org"}]
    assert "+447700900789" not in linked[john]
    with db.session() as session:
        shared = session.scalar(
            select(Identity.shared).where(Identity.value == "smiths@example.org")
        )
    assert shared is True


_SHARED_CHAT = {
    "android": (
        "WhatsApp Chat with +44 7700 900456.txt",
        "05/03/2024, 09:16 - +44 7700 900456: Here is the plumber I told you about\n"
        "05/03/2024, 09:17 - +44 7700 900456: Bob Plumber.vcf (file attached)\n"
        "05/03/2024, 09:20 - My Shop: Thanks!\n",
        "Bob Plumber.vcf",
    ),
    "ios": (
        "_chat.txt",
        "[05/03/2024, 09:16:02] Priya Shah: Here is the plumber I told you about\n"
        "[05/03/2024, 09:17:40] Priya Shah: \u200e<attached: 00000012-Bob Plumber.vcf>\n"
        "[05/03/2024, 09:20:11] My Shop: Thanks!\n",
        "00000012-Bob Plumber.vcf",
    ),
}


@pytest.mark.parametrize("phone", ["android", "ios"])
def test_a_card_shared_in_a_whatsapp_chat_is_not_the_owners_address_book(
    db: Database, tmp_path: Path, phone: str
) -> None:
    """An unzipped WhatsApp export holds the contact cards shared in the chat beside it
    (a plumber the customer recommends): a folder import leaves them out and says why,
    and so does the import dialog; the card itself, imported on its own, is read."""
    from ui.import_dialog import detect_files

    _configured(db)
    chat_name, chat, card_name = _SHARED_CHAT[phone]
    folder = tmp_path / "WhatsApp Chat - Priya"
    folder.mkdir()
    (folder / chat_name).write_text(chat, encoding="utf-8")
    card = _one_card(folder / card_name, "TEL;TYPE=CELL:+44 7700 900999")
    card.write_text(card.read_text().replace("Priya Shah", "Bob Plumber"))
    reports = {Path(r.path).name: r for r in import_paths(db, [folder])}
    assert reports[chat_name].status == "done"
    skipped = reports[card_name]
    assert (skipped.status, skipped.added) == ("skipped", 0)
    assert registry.SHARED_CARD in (skipped.error or "")
    names = [c.name for c in Service(db).customers("")]
    assert len(names) == 1 and "Bob Plumber" not in names  # (the chat's customer alone)
    assert not Service(db).customers("900999")
    _formats, found = detect_files([folder])
    (detected,) = [d for d in found if d.path == card]
    assert (detected.format, detected.reason) == (None, registry.SHARED_CARD)
    (alone,) = import_paths(db, [card])
    assert (alone.format, alone.added) == ("vcard", 1)
    (bob,) = Service(db).customers("900999")
    assert bob.name == "Bob Plumber"


def test_an_address_book_beside_a_chat_that_does_not_name_it_is_read(
    db: Database, tmp_path: Path
) -> None:
    chat_name, chat, _card = _SHARED_CHAT["android"]
    (tmp_path / chat_name).write_text(chat, encoding="utf-8")
    _one_card(tmp_path / "contacts.vcf", "TEL;TYPE=CELL:+44 7700 900456")
    reports = {Path(r.path).name: r for r in import_paths(db, [tmp_path])}
    assert (reports["contacts.vcf"].format, reports["contacts.vcf"].status) == ("vcard", "done")


def test_a_card_shared_in_a_telegram_chat_is_not_the_owners_address_book(
    db: Database, tmp_path: Path
) -> None:
    """Telegram Desktop's export keeps a shared contact in its ``contacts/`` folder, named by
    the chat's ``result.json`` ("contact_vcard": "contacts/contact_1.vcard")."""
    export = tmp_path / "ChatExport_2024-03-05"
    (export / "contacts").mkdir(parents=True)
    (export / "result.json").write_text(
        '{"name": "Priya Shah", "type": "personal_chat", "id": 1, "messages": ['
        '{"id": 1, "type": "message", "date": "2024-03-05T09:16:02", "from": "Priya Shah",'
        ' "from_id": "user2", "text": "", "contact_information": {"first_name": "Bob",'
        ' "last_name": "Plumber", "phone_number": "+447700900999"},'
        ' "contact_vcard": "contacts/contact_1.vcard", "contact_vcard_file_size": 80}]}',
        encoding="utf-8",
    )
    card = _one_card(export / "contacts" / "contact_1.vcard", "TEL;TYPE=CELL:+44 7700 900999")
    reports = {Path(r.path).name: r for r in import_paths(db, [tmp_path])}
    assert reports["contact_1.vcard"].status == "skipped"
    assert registry.SHARED_CARD in (reports["contact_1.vcard"].error or "")
    assert registry.shared_in_chat(card)
    assert not registry.shared_in_chat(_one_card(export / "mine.vcf", "EMAIL:me@example.org"))
