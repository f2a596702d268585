"""Address books exported as CSV: Google Contacts, Outlook, Thunderbird, and Shopify's customers.

Google Contacts' Export offers "Google CSV" first, and Outlook.com and Outlook for Windows
export contacts as CSV only (a ``.vcf`` holds one contact there), so an owner who exports
their address book often holds one of these rather than a vCard file. Each row becomes a
``ContactCard``, as a vCard's card does (``connectors.vcard``): its name, its email addresses
and its voice and mobile numbers (fax and pager numbers are no one's chat).

The layouts, told apart by their header rows (as the programs write them; column names
are matched whatever their case and punctuation, ``csv_common.norm``):

- Google Contacts since 2023: ``First Name``, ``Middle Name``, ``Last Name``, …,
  ``Nickname``, ``File As``, ``Organization Name``, …, ``Labels``, then numbered pairs
  ``E-mail 1 - Label``/``E-mail 1 - Value``, ``Phone 1 - Label``/``Phone 1 - Value``, …
  (as many as the contact with the most has). Google's earlier layout: ``Name``,
  ``Given Name``, ``Additional Name``, ``Family Name``, …, ``Group Membership``,
  ``E-mail 1 - Type``/``E-mail 1 - Value``, ``Phone 1 - Type``/``Phone 1 - Value``,
  ``Organization 1 - Name``. In both, one cell holds several values of one label joined
  by `` ::: `` ("+1 415 555 0134 ::: +1 415 555 0135"), and a label names a fax
  ("Work Fax") or a pager in words.
- Outlook (Outlook for Windows' Import/Export wizard, Outlook.com's Export contacts):
  ``First Name``, ``Middle Name``, ``Last Name``, ``Company``, ``E-mail Address``,
  ``E-mail 2 Address``, ``E-mail 3 Address`` (an Exchange user's is an ``/o=…`` path, no
  address), and a column per kind of number (``Mobile Phone``, ``Business Phone``,
  ``Home Fax``, ``Pager``, …). Outlook for Windows writes the file in the system's
  code page (Windows-1252 in western Europe), which the reader detects, and names the
  columns in its own language: the German, French and Spanish names are read too.
- Thunderbird's address book export: ``First Name``, ``Last Name``, ``Display Name``,
  ``Nickname``, ``Primary Email``, ``Secondary Email``, ``Work Phone``, ``Home Phone``,
  ``Fax Number``, ``Pager Number``, ``Mobile Number``.
- Shopify's customers export (Customers › Export): ``Customer ID``, ``First Name``,
  ``Last Name``, ``Email``, ``Accepts Email Marketing``, ``Default Address Company``, …,
  ``Default Address Phone``, ``Phone``, ``Accepts SMS Marketing``, ``Total Spent``,
  ``Total Orders``, ``Note``, ``Tax Exempt``, ``Tags`` (before 2023: ``Company``,
  ``Address1``, …, ``Phone`` without ``Default Address``; earlier still ``Accepts
  Marketing``), with the shop's own columns after them; numbers may start with the ``'``
  that keeps a spreadsheet from reading them as numbers. The shop's record of a customer
  ties their email address to their number, as an order does. A customer who never
  ordered (``Total Orders`` 0: Shopify keeps every newsletter and account sign-up as a
  customer) is left out and counted: a list of subscribers would fill the customer list
  with people who have no history.

Any other list of people (a spreadsheet of customers, another program's export) is read
through a column mapping (``MAPPING``: the import dialog's "Map columns…", ``--map
name=Customer,phone=WhatsApp``, remembered per header row), the fields not mapped guessed
from common column names in English, German, French and Spanish; such a file is never
taken for an address book by itself. A cell may hold several addresses or numbers
(separated by ``;``, ``,``, a line break or Google's `` ::: ``).

Read as a stream (``csv_common.CsvReader``: any size, the encoding and delimiter
detected); a row the csv module cannot read, or with the wrong number of cells, is a
problem at its line and the rest goes on.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path

from app.errors import FormatError
from app.records import Channel, ContactCard, Item, Notice, ParseOptions, Problem
from connectors.base import MappingSpec
from connectors.csv_common import CsvReader, Row, header_keys, mapped_columns, norm

MAX_VALUES = 50  # email addresses or phone numbers of one contact kept (as connectors.vcard)
_WHAT = "an address book export (contacts CSV)"
# Several values in one cell: Google's " ::: ", and a list's ";", "," or line breaks.
_SEPARATORS = re.compile(r":::|[;,\n]")
# Google's numbered columns, as normalised keys: "E-mail 2 - Value" → "email2value".
_GOOGLE = re.compile(r"^(email|phone)(\d+)(value|label|type)$")
_NOT_VOICE = re.compile(r"fax|pager|telex|tty|tdd", re.IGNORECASE)  # (a label's words)


@dataclass(frozen=True)
class _Layout:
    """How one program's export names a contact's name, addresses and numbers."""

    program: str
    names: tuple[tuple[str, ...], ...]  # each: columns joined into a name; the first wins
    emails: tuple[str, ...] = ()  # columns holding an address
    phones: tuple[str, ...] = ()  # columns holding a voice or mobile number
    organization: tuple[str, ...] = ()
    numbered: bool = False  # Google's "E-mail N - Value" and "Phone N - Value" pairs
    # A column whose 0 leaves the row out (Shopify's Total Orders: a newsletter sign-up).
    none_if_zero: str = ""


_GOOGLE_LAYOUT = _Layout(
    "Google Contacts",
    names=(
        ("Name",),  # (the earlier layout's whole name)
        ("First Name", "Middle Name", "Last Name"),
        ("Given Name", "Additional Name", "Family Name"),
        ("Nickname",),
        ("File As",),
    ),
    organization=("Organization Name", "Organization 1 - Name"),
    numbered=True,
)
_OUTLOOK_LAYOUT = _Layout(
    "Outlook",
    names=(("First Name", "Middle Name", "Last Name"), ("Nickname",)),
    emails=("E-mail Address", "E-mail 2 Address", "E-mail 3 Address"),
    phones=(
        "Mobile Phone",
        "Primary Phone",
        "Home Phone",
        "Home Phone 2",
        "Business Phone",
        "Business Phone 2",
        "Company Main Phone",
        "Other Phone",
        "Car Phone",
        "Callback",
        "Radio Phone",
        "ISDN",
        "Assistant's Phone",
    ),  # (not Business Fax, Home Fax, Other Fax, Pager, Telex or TTY/TDD Phone)
    organization=("Company",),
)
_THUNDERBIRD_LAYOUT = _Layout(
    "Thunderbird",
    names=(("Display Name",), ("First Name", "Last Name"), ("Nickname",)),
    emails=("Primary Email", "Secondary Email"),
    phones=("Mobile Number", "Work Phone", "Home Phone"),  # (not Fax Number, Pager Number)
    organization=("Organization",),
)
_SHOPIFY_CUSTOMERS_LAYOUT = _Layout(
    "Shopify customers",
    names=(("First Name", "Last Name"),),
    emails=("Email",),
    phones=("Phone", "Default Address Phone", "Address Phone"),
    organization=("Default Address Company", "Company"),
    none_if_zero="Total Orders",
)


# Outlook for Windows names its columns in the language it runs in: the German, French and
# Spanish names of the columns read here (as Exchange's importer of these files lists them,
# and as real German and French exports show them; the Spanish Outlook leaves some in
# English), each → the English name.
_LOCALIZED = {
    # German
    "Vorname": "First Name",
    "Weitere Vornamen": "Middle Name",
    "Nachname": "Last Name",
    "Firma": "Company",
    "E-Mail-Adresse": "E-mail Address",
    "E-Mail 2: Adresse": "E-mail 2 Address",
    "E-Mail 3: Adresse": "E-mail 3 Address",
    "Mobiltelefon": "Mobile Phone",
    "Haupttelefon": "Primary Phone",
    "Telefon privat": "Home Phone",  # (also written "Telefon (privat)": the same key)
    "Telefon privat 2": "Home Phone 2",
    "Telefon geschäftlich": "Business Phone",
    "Telefon geschäftlich 2": "Business Phone 2",
    "Telefon Firma": "Company Main Phone",
    "Weiteres Telefon": "Other Phone",
    "Autotelefon": "Car Phone",
    "Rückmeldung": "Callback",
    "Mobiltelefon 2": "Radio Phone",
    "Telefon Assistent": "Assistant's Phone",
    # French
    "Prénom": "First Name",
    "Deuxième prénom": "Middle Name",
    "Nom": "Last Name",
    "Société": "Company",
    "Adresse de messagerie": "E-mail Address",
    "Adresse de messagerie 2": "E-mail 2 Address",
    "Adresse de messagerie 3": "E-mail 3 Address",
    "Tél. mobile": "Mobile Phone",
    "Téléphone principal": "Primary Phone",
    "Téléphone (domicile)": "Home Phone",
    "Téléphone 2 (domicile)": "Home Phone 2",
    "Téléphone (bureau)": "Business Phone",
    "Téléphone 2 (bureau)": "Business Phone 2",
    "Téléphone société": "Company Main Phone",
    "Téléphone (autre)": "Other Phone",
    "Téléphone (voiture)": "Car Phone",
    "Rappel": "Callback",
    "Radio téléphone": "Radio Phone",
    "RNIS": "ISDN",
    "Téléphone de l'assistant(e)": "Assistant's Phone",
    # Spanish
    "Nombre": "First Name",
    "Segundo nombre": "Middle Name",
    "Apellidos": "Last Name",
    "Organización": "Company",
    "Dirección de correo electrónico 2": "E-mail 2 Address",
    "Dirección del correo electrónico 3": "E-mail 3 Address",
    "Teléfono principal": "Primary Phone",
    "Particular": "Home Phone",
    "Teléfono del trabajo": "Business Phone",
    "Número de centralita de la organización": "Company Main Phone",
    "Otro teléfono": "Other Phone",
    "Devolución de llamada": "Callback",
    "Radioteléfono": "Radio Phone",
}
_ALIASES = {norm(k): norm(v) for k, v in _LOCALIZED.items()}


def _english(keys: Collection[str]) -> set[str]:
    """A header's normalised keys, Outlook's German, French and Spanish names in English."""
    return {_ALIASES.get(k, k) for k in keys}


def _layout(keys: Collection[str]) -> _Layout | None:
    """The layout whose header these normalised keys are, or None."""
    keys = _english(keys)
    if not keys & {"name", "firstname", "lastname", "givenname", "familyname", "displayname"}:
        return None
    if any((m := _GOOGLE.match(k)) is not None and m.group(3) == "value" for k in keys):
        return _GOOGLE_LAYOUT
    if "primaryemail" in keys and ("displayname" in keys or "firstname" in keys):
        return _THUNDERBIRD_LAYOUT
    if (
        {"firstname", "lastname", "email"} <= keys
        and keys & {"acceptsemailmarketing", "acceptsmarketing"}
        and keys & {"totalspent", "totalorders"}
    ):
        return _SHOPIFY_CUSTOMERS_LAYOUT
    if ("emailaddress" in keys or "email2address" in keys) and (
        "firstname" in keys or "lastname" in keys
    ):
        return _OUTLOOK_LAYOUT
    return None


class ContactsCsvConnector:
    """Contacts exported as CSV by Google Contacts, Outlook, Thunderbird or Shopify (its
    customers): one ``ContactCard`` per row."""

    name = "contacts_csv"
    label = "Address book (contacts .csv)"
    channel: Channel = "chat"  # (no events: the cards link contact points)
    extensions: tuple[str, ...] = (".csv",)

    def sniff(self, path: Path, head: bytes) -> float:
        """0.95 when the header row is one of the layouts above, else 0.0 (a generic CSV
        with a name and an email column is some other list: a customers or orders
        export)."""
        del path
        return 0.95 if _layout(header_keys(head)) is not None else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield a card per contact, problems, and a notice for contacts with nothing to
        link.

        Raises:
            FormatError: the header is none of the layouts, and no column mapping (given,
                or guessed from the column names) says where the addresses or numbers are.
        """
        with CsvReader(path, options, _WHAT, aliases=_ALIASES) as reader:
            layout = None if options.column_map else _layout(reader.columns.keys())
            if layout is None:  # (a list of people: its columns mapped, or guessed)
                layout = _mapped_layout(reader.header, options.column_map, path.name)
            columns = _Columns(layout, reader.columns)
            rows = empty = unordered = 0
            zero = norm(layout.none_if_zero)
            for row in reader.rows():
                if isinstance(row, Problem):
                    yield row
                    continue
                rows += 1
                if zero and row.values.get(zero, "").strip() in ("0", "0.0"):
                    unordered += 1
                    continue
                card = columns.card(row, path.name)
                if not card.emails and not card.phones:
                    empty += 1
                    continue
                yield card
            if reader.cancelled:
                return  # (nothing to say of a file read in part)
        if rows == 0:
            yield Notice(f"{path.name}: the {layout.program} export lists no contacts")
        elif empty:
            yield Notice(
                f"{empty} of {rows} contacts have no email address or phone number: nothing to link"
            )
        if unordered:
            yield Notice(
                f"{unordered} of {rows} customers never ordered (newsletter and account sign-ups): "
                "left out"
            )


class _Columns:
    """A layout's columns as this file has them (normalised keys)."""

    def __init__(self, layout: _Layout, columns: Mapping[str, int]) -> None:
        def keyed(cell: str) -> str:  # (as the reader keys it: Outlook's localized names)
            return _ALIASES.get(norm(cell), norm(cell))

        self.names = [
            keys
            for keys in (tuple(keyed(c) for c in group) for group in layout.names)
            if any(k in columns for k in keys)
        ]
        self.organization = [keyed(c) for c in layout.organization if keyed(c) in columns]
        self.emails = [keyed(c) for c in layout.emails if keyed(c) in columns]
        self.phones = [(keyed(c), "") for c in layout.phones if keyed(c) in columns]
        if layout.numbered:  # Google's pairs, in their number's order
            numbered: list[tuple[int, str, str, str]] = []
            for key in columns:
                found = _GOOGLE.match(key)
                if found is not None and found.group(3) == "value":
                    kind, number = found.group(1), found.group(2)
                    labels = (f"{kind}{number}{s}" for s in ("label", "type"))
                    label = next((k for k in labels if k in columns), "")
                    numbered.append((int(number), kind, key, label))
            for _n, kind, key, label in sorted(numbered):
                if kind == "email":
                    self.emails.append(key)
                else:
                    self.phones.append((key, label))

    def card(self, row: Row, file_name: str) -> ContactCard:
        """The row's contact."""
        values = row.values
        organization = next((values[k] for k in self.organization if values.get(k)), "")
        name = ""
        for keys in self.names:
            name = " ".join(values.get(k, "") for k in keys)
            name = " ".join(name.split())
            if name:
                break
        emails: dict[str, None] = {}
        for key in self.emails:
            for value in _values(values.get(key, "")):
                address = value.removeprefix("mailto:").strip()
                if "<" in address:  # ("Ann Lee <ann@example.org>")
                    address = parseaddr(address)[1] or address
                if "@" in address and " " not in address and len(emails) < MAX_VALUES:
                    emails.setdefault(address, None)
        phones: dict[str, None] = {}
        for key, label in self.phones:
            if label and _NOT_VOICE.search(values.get(label, "")):
                continue  # ("Work Fax", "Pager")
            for value in _values(values.get(key, "")):
                # (a leading ' is a spreadsheet's mark of text: Shopify writes '+316…)
                number = value.removeprefix("tel:").strip().lstrip("'")
                if sum(ch.isdigit() for ch in number) >= 5 and len(phones) < MAX_VALUES:
                    phones.setdefault(number, None)
        return ContactCard(
            name=name or organization,
            emails=tuple(emails),
            phones=tuple(phones),
            organization=organization,
            locator=f"{file_name}:{row.line}",
        )


def _values(cell: str) -> list[str]:
    """A cell's values: one, or several (Google's joined by `` ::: ``, a list's by ``;``,
    ``,`` or line breaks)."""
    if not cell:
        return []
    return [v.strip() for v in _SEPARATORS.split(cell) if v.strip()]


# --- any other list of people, through a column mapping ------------------------------------

FIELDS = ("name", "first_name", "last_name", "email", "email2", "phone", "phone2", "organization")
# Common column names of each field (any spelling: ``csv_common.norm``), best first.
_GUESSES: dict[str, tuple[str, ...]] = {
    "name": (
        "Name",
        "Full Name",
        "Display Name",
        "Contact",
        "Contact Name",
        "Customer",
        "Customer Name",
        "Client",
        "Client Name",
        "Kunde",
        "Kontakt",
        "Nom complet",
        "Nombre completo",
        "Cliente",
    ),
    "first_name": ("First Name", "Given Name", "First", "Forename", "Vorname", "Prénom", "Nombre"),
    "last_name": (
        "Last Name",
        "Surname",
        "Family Name",
        "Last",
        "Nachname",
        "Nom",
        "Apellidos",
        "Apellido",
    ),
    "email": (
        "Email",
        "E-mail",
        "Email Address",
        "E-mail Address",
        "Mail",
        "E-Mail-Adresse",
        "Courriel",
        "Correo",
        "Correo electrónico",
    ),
    "email2": ("Email 2", "Secondary Email", "Alternate Email", "Other Email", "Work Email"),
    "phone": (
        "Mobile",
        "Mobile Phone",
        "Mobile Number",
        "Cell",
        "Cell Phone",
        "WhatsApp",
        "Phone",
        "Phone Number",
        "Telephone",
        "Tel",
        "Handy",
        "Mobiltelefon",
        "Telefon",
        "Portable",
        "Téléphone",
        "Móvil",
        "Teléfono",
        "Celular",
    ),
    "phone2": ("Phone 2", "Home Phone", "Work Phone", "Other Phone", "Landline"),
    "organization": (
        "Company",
        "Company Name",
        "Organization",
        "Organisation",
        "Business",
        "Firma",
        "Société",
        "Empresa",
    ),
}


def guess_columns(headers: list[str]) -> dict[str, str]:
    """Field → header cell, from common column names (each column for one field)."""
    by_key: dict[str, str] = {}
    for cell in headers:
        by_key.setdefault(norm(cell), cell)
    found: dict[str, str] = {}
    taken: set[str] = set()
    for field_name in FIELDS:
        for name in _GUESSES[field_name]:
            key = norm(name)
            if key in by_key and key not in taken:
                found[field_name] = by_key[key]
                taken.add(key)
                break
    return found


MAPPING = MappingSpec(
    fields=FIELDS,
    required=(),
    any_of=("email", "phone"),
    labels={
        "name": "Name (the whole name)",
        "first_name": "First name",
        "last_name": "Last name",
        "email": "Email",
        "email2": "Another email",
        "phone": "Phone number",
        "phone2": "Another phone number",
        "organization": "Company",
    },
    guess=guess_columns,
)


def _mapped_layout(
    header: list[str], column_map: Mapping[str, str] | None, file_name: str
) -> _Layout:
    """The layout a column mapping (over the guesses) gives a list of people.

    Raises:
        FormatError: the mapping names an unknown field or a column the file lacks, or no
            column holds an email address or a phone number.
    """
    mapping = mapped_columns(header, column_map, FIELDS, guess_columns, file_name)
    if not ("email" in mapping or "phone" in mapping):
        raise FormatError(
            f"{file_name}: cannot tell which column holds the email addresses or the phone "
            f"numbers (columns: {', '.join(header)}); import it with --format contacts_csv "
            "--map name=<column>,email=<column>,phone=<column>"
        )

    def cells_of(*fields: str) -> tuple[str, ...]:
        return tuple(mapping[f] for f in fields if f in mapping)

    return _Layout(
        "contacts",
        names=(cells_of("name"), cells_of("first_name", "last_name")),
        emails=cells_of("email", "email2"),
        phones=cells_of("phone", "phone2"),
        organization=cells_of("organization"),
    )
