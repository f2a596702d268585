"""Address books exported as CSV (Google Contacts, Outlook, Thunderbird): read as the
programs write them, and linked as a vCard's cards are."""

from __future__ import annotations

import csv
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.db import Database
from app.errors import FormatError, UnrecognisedFormat
from app.ingest import import_paths, preview_file
from app.records import ContactCard, Notice, ParseOptions, Problem
from app.service import Service
from connectors import registry
from connectors.contacts_csv import ContactsCsvConnector
from tests.test_cli_e2e import CLI
from tests.test_contacts import _configured, _linked

FIX = Path(__file__).resolve().parent / "fixtures" / "contacts"
OPTIONS = ParseOptions(tz=ZoneInfo("Europe/London"))


def _items(path: Path) -> list[object]:
    return list(ContactsCsvConnector().parse(path, OPTIONS))


def _cards(path: Path) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    return [(c.name, c.emails, c.phones) for c in _items(path) if isinstance(c, ContactCard)]


def test_every_export_is_recognised_as_contacts() -> None:
    for path in sorted(FIX.glob("*.csv")):
        assert registry.detect(path).name == "contacts_csv", path.name


def test_google_contacts_current_layout() -> None:
    """Several addresses or numbers of one label in one cell (``:::``), a fax and a pager
    left out, a quoted address over four lines (the next contact's line is right), a
    contact known by nickname or by company only, and one with nothing to link."""
    items = _items(FIX / "google-contacts.csv")
    assert _cards(FIX / "google-contacts.csv") == [
        (
            "Priya Shah",
            ("priya@shah-studio.example", "priya.shah@example.org"),
            ("+44 7700 900123",),
        ),
        ("Zoë Anne Müller", (), ("07700 900456", "07700 900457")),
        ("Harbour Books", ("orders@harbourbooks.example",), ("+1 212 555 0142",)),
        ("Mum", ("ruth.shah@example.net",), ("+44 20 7946 0123",)),
    ]
    cards = [i for i in items if isinstance(i, ContactCard)]
    assert [c.locator for c in cards] == [
        "google-contacts.csv:2",
        "google-contacts.csv:6",
        "google-contacts.csv:7",
        "google-contacts.csv:9",
    ]
    assert cards[0].organization == "Shah Studio"
    assert Notice("1 of 5 contacts have no email address or phone number: nothing to link") in (
        items
    )


def test_google_contacts_earlier_layout() -> None:
    assert _cards(FIX / "google-contacts-2019.csv") == [
        (
            "Priya Shah",
            ("priya@shah-studio.example", "priya.shah@example.org"),
            ("+44 7700 900123",),
        ),
        ("Zoë Müller", (), ("07700 900456",)),
        ("Harbour Books", ("orders@harbourbooks.example",), ()),
    ]


def test_outlook_export_in_windows_1252() -> None:
    """Outlook for Windows: every cell quoted, the code page's accents, an Exchange user's
    ``/o=…`` path that is no address, fax and pager numbers left out."""
    assert _cards(FIX / "outlook-contacts.csv") == [
        ("José García", ("jose@garciacafe.example",), ("+34 600 000 001", "+34 910 000 000")),
        ("Ann Lee", ("ann.lee@example.com",), ("(212) 555-0175",)),
        ("Northwind Traders", ("sales@northwind.example",), ("+1 206 555 0100",)),
    ]


def test_thunderbird_export() -> None:
    """Thunderbird's own test file, as its address book exports."""
    assert _cards(FIX / "thunderbird-basic.csv") == [
        ("John Doe", ("john@doe.invalid",), ()),
        ("Jane Doe", ("jane@doe.invalid",), ()),
    ]


def test_a_broken_row_is_a_problem_and_the_rest_goes_on(tmp_path: Path) -> None:
    lines = (FIX / "thunderbird-basic.csv").read_text().splitlines()
    path = tmp_path / "contacts.csv"
    path.write_text("\n".join([lines[0], "Ann,Lee,Ann Lee,,ann@example.com", lines[2]]) + "\n")
    items = _items(path)
    assert [i for i in items if isinstance(i, Problem)] == [
        Problem("contacts.csv:2", "row has 5 columns but the header has 37; skipped")
    ]
    assert _cards(path) == [("Jane Doe", ("jane@doe.invalid",), ())]


def test_an_export_without_contacts_says_so(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text((FIX / "google-contacts.csv").read_text().splitlines()[0] + "\n")
    assert _items(path) == [Notice("contacts.csv: the Google Contacts export lists no contacts")]


@pytest.mark.parametrize(
    "header",
    [
        "Name,Email,Phone",  # a mailing list or a shop's customers: not an address book
        "First Name,Last Name,Email,Phone,Total Spent",
        "Order,Date,Email,Name,Total",
    ],
)
def test_other_lists_of_people_are_not_taken_for_an_address_book(
    tmp_path: Path, header: str
) -> None:
    path = tmp_path / "list.csv"
    path.write_text(f"{header}\n" + ",".join("x" for _ in header.split(",")) + "\n")
    assert ContactsCsvConnector().sniff(path, path.read_bytes()) == 0.0
    try:
        found = registry.detect(path).name
    except UnrecognisedFormat:
        found = None
    assert found != "contacts_csv"


def test_a_google_export_joins_a_customers_mail_and_whatsapp(db: Database, tmp_path: Path) -> None:
    """The card in Google's CSV does what a vCard's does: her mail and her WhatsApp number
    become one customer, named as the address book names her; importing it again adds
    nothing."""
    from tests.test_contacts import _sources

    _configured(db)
    mail, chat, _card = _sources(tmp_path)
    import_paths(db, [mail, chat])
    assert len(_linked(db)) == 2
    header = (FIX / "google-contacts.csv").read_text().splitlines()[0].split(",")
    row = dict.fromkeys(header, "")
    row.update(
        {
            "First Name": "Priya",
            "Last Name": "Shah",
            "E-mail 1 - Label": "* Home",
            "E-mail 1 - Value": "priya@example.org",
            "Phone 1 - Label": "Mobile",
            "Phone 1 - Value": "07700 900456",
            "Phone 2 - Label": "Home Fax",
            "Phone 2 - Value": "020 7946 0000",
        }
    )
    export = tmp_path / "contacts.csv"
    with export.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, header)
        writer.writeheader()
        writer.writerow(row)
    (report,) = import_paths(db, [export])
    assert (report.format, report.added, report.duplicates) == ("contacts_csv", 1, 0)
    assert list(_linked(db).values()) == [{"priya@example.org", "+447700900456"}]
    svc = Service(db)
    (priya,) = svc.customers("")
    assert (priya.name, priya.event_count) == ("Priya Shah", 3)
    (again,) = import_paths(db, [export])
    assert (again.added, again.duplicates) == (0, 1)


def test_the_preview_shows_the_contacts(db: Database) -> None:
    preview = preview_file(db, FIX / "outlook-contacts.csv")
    assert preview.format == "contacts_csv"
    assert [c.name for c in preview.cards] == ["José García", "Ann Lee", "Northwind Traders"]


def test_contacts_csv_through_the_cli(tmp_path: Path) -> None:
    """``threadline import contacts.csv``: the JSON report, the customers it made (numbers
    in E.164, the national ones read in the region set), and the note about the contact
    with nothing to link."""
    tool = CLI(tmp_path)
    assert tool.run("config", "region", "GB").returncode == 0
    (report,) = tool.json("import", str(FIX / "google-contacts.csv"))["files"]
    assert (report["format"], report["added"], report["problems"]) == ("contacts_csv", 4, [])
    assert report["notices"] == [
        "1 of 5 contacts have no email address or phone number: nothing to link"
    ]
    customers = {c["name"]: c for c in tool.json("customers")}
    assert sorted(customers) == ["Harbour Books", "Mum", "Priya Shah", "Zoë Anne Müller"]
    assert customers["Zoë Anne Müller"]["phones"] == ["+447700900456", "+447700900457"]
    assert sorted(customers["Priya Shah"]["emails"]) == [
        "priya.shah@example.org",
        "priya@shah-studio.example",
    ]
    (found,) = tool.json("customers", "900457")
    assert found["name"] == "Zoë Anne Müller"


_OUTLOOK_COM = (  # Outlook.com › People › Manage contacts › Export contacts
    "First Name,Middle Name,Last Name,Title,Suffix,Nickname,Given Yomi,Surname Yomi,"
    "E-mail Address,E-mail 2 Address,E-mail 3 Address,Home Phone,Home Phone 2,Business Phone,"
    "Business Phone 2,Mobile Phone,Car Phone,Other Phone,Primary Phone,Pager,Business Fax,"
    "Home Fax,Other Fax,Company Main Phone,Callback,Radio Phone,Telex,TTY/TDD Phone,IMAddress,"
    "Job Title,Department,Company,Office Location,Manager's Name,Assistant's Name,"
    "Assistant's Phone,Company Yomi,Business Street,Business City,Business State,"
    "Business Postal Code,Business Country/Region,Home Street,Home City,Home State,"
    "Home Postal Code,Home Country/Region,Other Street,Other City,Other State,Other Postal Code,"
    "Other Country/Region,Personal Web Page,Spouse,Schools,Hobby,Location,Web Page,Birthday,"
    "Anniversary,Notes"
)
_GOOGLE_AS_OUTLOOK = (  # Google Contacts › Export › Outlook CSV
    "First Name,Middle Name,Last Name,Title,Suffix,Web Page,Birthday,Anniversary,Notes,"
    "E-mail Address,E-mail 2 Address,E-mail 3 Address,Primary Phone,Home Phone,Home Phone 2,"
    "Mobile Phone,Pager,Home Fax,Home Address,Home Street,Home Street 2,Home Street 3,"
    "Home Address PO Box,Home City,Home State,Home Postal Code,Home Country,Spouse,Children,"
    "Manager's Name,Assistant's Name,Referred By,Company Main Phone,Business Phone,"
    "Business Phone 2,Business Fax,Assistant's Phone,Company,Job Title,Department,"
    "Business Address,Business Street,Business Street 2,Business Street 3,"
    "Business Address PO Box,Business City,Business State,Business Postal Code,"
    "Business Country,Other Phone,Other Fax,Other Address,Other Street,Other Street 2,"
    "Other Street 3,Other Address PO Box,Other City,Other State,Other Postal Code,Other Country,"
    "Callback,Car Phone,ISDN,Radio Phone,TTY/TDD Phone,Telex,Categories"
)


@pytest.mark.parametrize(
    "header", [_OUTLOOK_COM, _GOOGLE_AS_OUTLOOK], ids=["outlook.com", "google"]
)
def test_the_other_outlook_layouts(tmp_path: Path, header: str) -> None:
    """Outlook.com's export, and Google's "Outlook CSV", name the same columns in another
    order (and a contact may have an address and no name)."""
    columns = header.split(",")
    rows = [
        {
            "First Name": "Svein",
            "Last Name": "Heimdal",
            "Mobile Phone": "+47 901 06 000",
            "Business Fax": "+47 22 00 00 00",
            "E-mail Address": "svein@example.no",
        },
        {"E-mail Address": "mail@example.com"},
    ]
    path = tmp_path / "contacts.csv"
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.DictWriter(fh, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    assert registry.detect(path).name == "contacts_csv"
    assert _cards(path) == [
        ("Svein Heimdal", ("svein@example.no",), ("+47 901 06 000",)),
        ("", ("mail@example.com",), ()),
    ]


# A real German Outlook export's header, as its owner posted it (92 columns and two empty
# ones Excel added), and the French names of Outlook's columns; both saved in Windows-1252.
_GERMAN = (
    "Anrede,Vorname,Weitere Vornamen,Nachname,Suffix,Firma,Abteilung,Position,"
    "Straße geschäftlich,Straße geschäftlich 2,Straße geschäftlich 3,Ort geschäftlich,"
    "Region geschäftlich,Postleitzahl geschäftlich,Land/Region geschäftlich,Straße privat,"
    "Straße privat 2,Straße privat 3,Ort privat,Bundesland/Kanton privat,Postleitzahl privat,"
    "Land/Region privat,Weitere Straße,Weitere Straße 2,Weitere Straße 3,Weiterer Ort,"
    "Weiteres/r Bundesland/Kanton,Weitere Postleitzahl,Weiteres/e Land/Region,"
    "Telefon Assistent,Fax geschäftlich,Telefon geschäftlich,Telefon geschäftlich 2,"
    "Rückmeldung,Autotelefon,Telefon Firma,Fax privat,Telefon (privat),Telefon (privat 2),ISDN,"
    "Mobiltelefon,Weiteres Fax,Weiteres Telefon,Pager,Haupttelefon,Mobiltelefon 2,"
    "Telefon für Hörbehinderte,Telex,Abrechnungsinformation,Assistent(in),Benutzer 1,"
    "Benutzer 2,Benutzer 3,Benutzer 4,Beruf,Büro,E-Mail-Adresse,E-Mail-Typ,"
    "E-Mail: Angezeigter Name,E-Mail 2: Adresse,E-Mail 2: Typ,E-Mail 2: Angezeigter Name,"
    "E-Mail 3: Adresse,E-Mail 3: Typ,E-Mail 3: Angezeigter Name,Empfohlen von,Geburtstag,"
    "Geschlecht,Hobby,Initialen,Internet Frei/Gebucht,Jahrestag,Kategorien,Kinder,Konto,"
    "Name des/r Vorgesetzten,Notizen,Organisationsnr.,Ort,Partner,Postfach geschäftlich,"
    "Postfach privat,Priorität,Privat,Reisekilometer,Sozialversicherungsnr.,Sprache,"
    "Stichwörter,Vertraulichkeit,Verzeichnisserver,Webseite,Weiteres Postfach,Spalte1,Spalte2"
)
_FRENCH = (
    "Prénom,Deuxième prénom,Nom,Suffixe,Société,Service,Titre,Téléphone (bureau),"
    "Télécopie (bureau),Téléphone (domicile),Tél. mobile,Récepteur de radiomessagerie,"
    "Adresse de messagerie,Type de messagerie,Adresse de messagerie 2,Catégories"
)


@pytest.mark.parametrize(
    ("header", "row", "card"),
    [
        (
            _GERMAN,
            {
                "Vorname": "Jürgen",
                "Nachname": "Groß",
                "Firma": "Bäckerei Groß",
                "Mobiltelefon": "+49 151 00000001",
                "Fax geschäftlich": "+49 30 0000002",
                "Telefon (privat)": "+49 30 0000003",
                "E-Mail-Adresse": "juergen@baeckerei.example",
                "E-Mail-Typ": "SMTP",
                "E-Mail 2: Adresse": "j.gross@example.de",
            },
            (
                "Jürgen Groß",
                ("juergen@baeckerei.example", "j.gross@example.de"),
                ("+49 151 00000001", "+49 30 0000003"),
            ),
        ),
        (
            _FRENCH,
            {
                "Prénom": "Hélène",
                "Nom": "Lefèvre",
                "Société": "Fleurs & Cie",
                "Téléphone (bureau)": "+33 1 00 00 00 01",
                "Télécopie (bureau)": "+33 1 00 00 00 02",
                "Tél. mobile": "+33 6 00 00 00 03",
                "Adresse de messagerie": "helene@fleurs.example",
            },
            (
                "Hélène Lefèvre",
                ("helene@fleurs.example",),
                ("+33 6 00 00 00 03", "+33 1 00 00 00 01"),
            ),
        ),
    ],
    ids=["german", "french"],
)
def test_outlook_in_german_and_french(
    tmp_path: Path, header: str, row: dict[str, str], card: tuple[object, ...]
) -> None:
    """Outlook names its columns in its own language, and saves in the Windows code page."""
    columns = header.split(",")
    path = tmp_path / "Kontakte.csv"
    with path.open("w", newline="", encoding="cp1252") as fh:
        writer = csv.DictWriter(fh, columns, restval="", quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerow(row)
    assert registry.detect(path).name == "contacts_csv"
    assert _cards(path) == [card]


_CUSTOMERS = (
    "Kunde;E-Mail;WhatsApp;Notiz\n"
    "Priya Shah;priya@example.org;07700 900456;bride, June\n"
    "Tom Okafor;tom@example.com, t.okafor@example.net;;\n"
    "Nur Name;;;\n"
)


def test_a_list_of_customers_is_read_through_its_columns(db: Database, tmp_path: Path) -> None:
    """A shop's own spreadsheet of customers, saved from Excel (semicolons): not taken for
    an address book by itself, but read as one when the owner says so, its columns guessed
    from their German names; two addresses in one cell are both read."""
    path = tmp_path / "Kunden.csv"
    path.write_text(_CUSTOMERS, encoding="cp1252")
    with pytest.raises(UnrecognisedFormat):
        registry.detect(path)
    assert ContactsCsvConnector().sniff(path, path.read_bytes()) == 0.0
    from connectors.contacts_csv import guess_columns

    assert guess_columns(["Kunde", "E-Mail", "WhatsApp", "Notiz"]) == {
        "name": "Kunde",
        "email": "E-Mail",
        "phone": "WhatsApp",
    }
    (report,) = import_paths(db, [path], format="contacts_csv")
    assert (report.format, report.status, report.added) == ("contacts_csv", "done", 2)
    assert report.notices == [
        "1 of 3 contacts have no email address or phone number: nothing to link"
    ]
    linked = sorted(sorted(points) for points in _linked(db).values())
    assert linked == [
        ["+447700900456", "priya@example.org"],
        ["t.okafor@example.net", "tom@example.com"],
    ]


def test_a_list_without_an_address_or_number_column_says_how_to_map_it(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("Who,Where\nAnn,Leeds\n", encoding="utf-8")
    options = ParseOptions(tz=ZoneInfo("UTC"))
    with pytest.raises(FormatError, match="--map name=<column>,email=<column>,phone=<column>"):
        list(ContactsCsvConnector().parse(path, options))
    mapped = ParseOptions(tz=ZoneInfo("UTC"), column_map={"name": "Who", "phone": "Where"})
    assert [i for i in ContactsCsvConnector().parse(path, mapped)] == [
        Notice("1 of 1 contacts have no email address or phone number: nothing to link")
    ]
    with pytest.raises(FormatError, match="no such column"):
        bad = ParseOptions(tz=ZoneInfo("UTC"), column_map={"email": "Mail"})
        list(ContactsCsvConnector().parse(path, bad))


def test_a_list_of_customers_through_the_cli_with_a_mapping(tmp_path: Path) -> None:
    """``threadline import list.csv --format contacts_csv --map …``: the mapping wins over
    the guesses, and is remembered for the next file with these columns."""
    path = tmp_path / "vip.csv"
    path.write_text(
        "Customer,Phone,Mobile (WhatsApp)\nAnn Lee,020 7946 0000,07700 900111\n",
        encoding="utf-8",
    )
    tool = CLI(tmp_path)
    assert tool.run("config", "region", "GB").returncode == 0
    args = ("import", str(path), "--format", "contacts_csv", "--map", "phone=Mobile (WhatsApp)")
    (report,) = tool.json(*args)["files"]
    assert (report["format"], report["added"]) == ("contacts_csv", 1)
    (ann,) = tool.json("customers")
    assert (ann["name"], ann["phones"]) == ("Ann Lee", ["+447700900111"])
    later = tmp_path / "vip-2.csv"  # (the next export: recognised by its columns)
    later.write_text(
        "Customer,Phone,Mobile (WhatsApp)\nBo Chen,020 7946 0001,07700 900222\n",
        encoding="utf-8",
    )
    (again,) = tool.json("import", str(later))["files"]
    assert (again["format"], again["added"]) == ("contacts_csv", 1)
    phones = {c["name"]: c["phones"] for c in tool.json("customers")}
    assert phones["Bo Chen"] == ["+447700900222"]


# --- Shopify's customers export ------------------------------------------------------------


def test_shopify_customers_export_both_layouts() -> None:
    """The shop's record of each customer: the name from First and Last Name, the email,
    the customer's and the default address's numbers (the ``'`` Shopify puts before them
    taken off), the company; a customer with neither an address nor a number, and one who
    never ordered, are counted."""
    items = _items(FIX / "shopify-customers.csv")
    cards = [i for i in items if isinstance(i, ContactCard)]
    assert [(c.name, c.emails, c.phones, c.organization) for c in cards] == [
        ("Priya Shah", ("priya.shah@example.org",), ("+447700900123",), ""),
        ("Tom Okafor", ("tom@example.net",), ("+441225900456",), "Okafor Florists Ltd"),
    ]
    assert cards[0].locator == "shopify-customers.csv:2"
    assert Notice("1 of 4 contacts have no email address or phone number: nothing to link") in items
    # (Ann never ordered: a newsletter sign-up, not a customer with a history)
    assert (
        Notice("1 of 4 customers never ordered (newsletter and account sign-ups): left out")
        in items
    )
    assert _cards(FIX / "shopify-customers-2021.csv") == [
        ("Zoë Müller", ("zoe@example.de",), ("+49 1512 3456789",))
    ]


def test_shopify_customers_join_a_whatsapp_number_to_the_orders(
    db: Database, tmp_path: Path
) -> None:
    """A WhatsApp chat known only by its number and an order known only by its email were
    two customers; the shop's customers export says they are one person."""
    from tests.test_contacts import _sources

    _configured(db)
    _mail, chat, _card = _sources(tmp_path)  # (Priya's WhatsApp: +44 7700 900456)
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "Name,Email,Financial Status,Paid at,Currency,Total,Created at,Lineitem quantity,"
        "Lineitem name,Lineitem price,Billing Name\n"
        "#1001,priya@example.org,paid,2026-03-02 10:00:00 +0000,GBP,24.00,"
        "2026-03-02 10:00:00 +0000,1,Tulips,24.00,Priya Shah\n"
    )
    import_paths(db, [chat, orders])
    assert len(_linked(db)) == 2
    export = tmp_path / "customers_export.csv"
    header = (FIX / "shopify-customers.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    export.write_text(
        f"{header}\n'1,Priya,Shah,priya@example.org,yes,,,,,,,,,'07700 900456,no,24.00,1,,no,,,\n"
    )
    (report,) = import_paths(db, [export])
    assert (report.format, report.added) == ("contacts_csv", 1)
    assert list(_linked(db).values()) == [{"priya@example.org", "+447700900456"}]
    (priya,) = Service(db).customers("")
    assert priya.orders.count == 1 and priya.event_count >= 2
