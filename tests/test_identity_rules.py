"""Identity resolution a shop owner can trust: exact links, shared contact points,
explained suggestions, and merges/splits that undo cleanly.

Every test that takes ``db`` runs on both stores (a SQLite file and a PostgreSQL server:
the ``store`` fixture in tests/conftest.py)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import merges, queries
from app.db import Database, open_database
from app.errors import UserFacingError
from app.ingest import import_items
from app.models import Customer, CustomerIdentity, EventParticipant, Identity, ImportProblem
from app.names import clearly_different, parse_name, similarity
from app.notes import add_note
from app.records import EventRecord, Item, OrderInfo, OrderLine, Participant
from app.suggestions import suggestions

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(store: Database) -> Database:
    """A fresh database on each store."""
    return store


_n = 0


def _event(*people: Participant, channel: str = "email", zip_code: str = "") -> EventRecord:
    global _n
    _n += 1
    details = {"billing": {"zip": zip_code}} if zip_code else {}
    order = None
    if channel == "order":
        order = OrderInfo(number=f"#{_n}", currency="GBP", total=Decimal("10.00"))
    return EventRecord(
        channel=channel,  # type: ignore[arg-type]
        source={"order": "shopify", "chat": "whatsapp"}.get(channel, "email"),
        external_id=f"e{_n}",
        occurred_at=T0 + timedelta(minutes=_n),
        title=f"event {_n}",
        text="hello",
        participants=people,
        details=details,
        order=order,
    )


def _load(db: Database, *items: Item) -> None:
    import_items(db, lambda: list(items), label="t", format="t")


def _customers(db: Database) -> dict[str, list[int]]:
    with db.session() as s:
        rows = queries.list_customers(s, limit=1000)
    out: dict[str, list[int]] = {}
    for row in rows:
        out.setdefault(row.name, []).append(row.id)
    return out


def buyer(name: str, email: str | None = None, phone: str | None = None) -> Participant:
    return Participant("buyer", name, email=email, phone=phone, platform="shopify")


def sender(name: str, email: str) -> Participant:
    return Participant("from", name, email=email)


# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "full"),
    [
        ("Doe, Jane", "jane doe"),
        ("Dr. Jane  DOE", "jane doe"),
        ("Zoë Müller", "zoe muller"),
        ("Mr John Smith Jr.", "john smith"),
        ("Ludwig van Beethoven", "ludwig van beethoven"),
        ("jane@example.com", ""),
        ("M. Smith", "m smith"),  # an initial, not Monsieur
        ("Smith, M.", "m smith"),
        ("M. Jean Dupont", "jean dupont"),
    ],
)
def test_names_are_normalised(raw: str, full: str) -> None:
    assert parse_name(raw).full == full


@pytest.mark.parametrize(
    "raw",
    ["Jane Doe", "jane  DOE", "Mr John Smith Jr", "M Smith", "Ludwig van Beethoven", "Mr", "Jr"],
)
def test_plain_names_parse_as_the_same_name_written_otherwise(raw: str) -> None:
    # ASCII letters and spaces take a short way (no folding, no regular expressions); a
    # tab between the words sends the same name the long way.
    plain, other = parse_name(raw), parse_name(raw.replace(" ", "\t"))
    assert plain == other
    assert (plain.first, plain.tokens, plain.full) == (other.first, other.tokens, other.full)


def test_clearly_different_names() -> None:
    assert clearly_different("John Smith", "Mary Smith")
    assert clearly_different("Alice Brown", "Bob Jones")
    assert not clearly_different("Jon Smith", "Jonathan Smith")
    assert not clearly_different("Bill Turner", "William Turner")
    assert not clearly_different("J. Doe", "Jane Doe")
    assert not clearly_different("Mum", "Jane Doe")  # not enough to tell
    assert not clearly_different("Jane Doe", "Doe, Jane")
    assert similarity("Jane Doe", "Doe Jane") == 1.0


# --- automatic links: strong evidence only -----------------------------------------------


def test_same_email_links_across_sources(db: Database) -> None:
    _load(
        db,
        _event(sender("Jane Doe", "jane.doe@gmail.com")),
        _event(buyer("Jane Doe", "Jane.Doe@gmail.com", "+44 7700 900123"), channel="order"),
    )
    assert list(_customers(db)) == ["Jane Doe"]


def test_gmail_dots_and_tags_are_one_mailbox(db: Database) -> None:
    _load(
        db,
        _event(sender("Jane Doe", "jane.doe@gmail.com")),
        _event(sender("Jane Doe", "janedoe+shop@gmail.com")),
    )
    assert len(_customers(db)["Jane Doe"]) == 1


def test_same_name_different_people_stay_apart(db: Database) -> None:
    _load(
        db,
        _event(sender("John Smith", "john.smith@example.com")),
        _event(sender("John Smith", "jsmith@other.example")),
        _event(buyer("John Smith", phone="+44 7700 900555"), channel="order"),
    )
    assert len(_customers(db)["John Smith"]) == 3


def test_family_landline_is_shared_and_suggested_never_linked(db: Database) -> None:
    landline = "+44 117 496 0000"  # a UK fixed line
    _load(
        db,
        _event(buyer("John Smith", "john@example.com", landline), channel="order"),
        _event(buyer("Mary Smith", "mary@example.com", landline), channel="order"),
    )
    names = _customers(db)
    assert len(names["John Smith"]) == 1 and len(names["Mary Smith"]) == 1
    with db.session() as s:
        john = queries.customer(s, names["John Smith"][0])
        mary = queries.customer(s, names["Mary Smith"][0])
        assert "+441174960000" in john.phones and "+441174960000" in mary.phones
        found = suggestions(s, min_score=0.0)
    pair = next(x for x in found if {x.customer_a, x.customer_b} == {john.id, mary.id})
    assert any("+441174960000" in r for r in pair.reasons)


def test_shared_office_email_with_different_names(db: Database) -> None:
    _load(
        db,
        _event(sender("Alice Brown", "info@acme.example")),
        _event(sender("Bob Jones", "info@acme.example")),
        _event(buyer("Bob Jones", "info@acme.example", "+44 7700 900321"), channel="order"),
    )
    names = _customers(db)
    assert len(names["Alice Brown"]) == 1 and len(names["Bob Jones"]) == 1
    with db.session() as s:
        alice = queries.customer(s, names["Alice Brown"][0])
        bob = queries.customer(s, names["Bob Jones"][0])
        # Both keep the office address and its history; only Bob has the mobile.
        assert alice.emails == ("info@acme.example",) and "info@acme.example" in bob.emails
        assert bob.phones == ("+447700900321",) and alice.phones == ()
        reasons = [
            r
            for x in suggestions(s, min_score=0.0)
            for r in x.reasons
            if {x.customer_a, x.customer_b} == {alice.id, bob.id}
        ]
    assert any("info@acme.example" in r for r in reasons)


def test_owner_contact_points_never_link(db: Database) -> None:
    with db.session() as s:
        from app import settings

        settings.set_value(s, "owner_emails", "shop@example.com")
    _load(
        db,
        _event(
            sender("Jane Doe", "jane@example.com"),
            Participant("to", "Shop", email="shop@example.com"),
        ),
        _event(
            sender("Kim Lee", "kim@example.com"),
            Participant("to", "Shop", email="shop@example.com"),
        ),
    )
    assert set(_customers(db)) == {"Jane Doe", "Kim Lee"}


# --- suggestions ---------------------------------------------------------------------------


def test_suggestion_reasons_in_words(db: Database) -> None:
    _load(
        db,
        _event(buyer("Jonathan Walker", "jw@example.com"), channel="order", zip_code="BS6 5AB"),
        _event(buyer("Jon Walker", "jon.w@elsewhere.example"), channel="order", zip_code="bs6 5ab"),
        _event(sender("Priya Patel", "priya.patel@example.com")),
        _event(Participant("author", "Priya Patel", handle="Priya Patel", platform="whatsapp")),
    )
    with db.session() as s:
        found = suggestions(s)
    by_names = {frozenset((x.name_a, x.name_b)): x for x in found}
    walker = by_names[frozenset(("Jonathan Walker", "Jon Walker"))]
    assert "same postcode BS65AB" in walker.reasons
    assert any("Jonathan/Jon" in r or "Jon/Jonathan" in r for r in walker.reasons)
    assert 0.5 <= walker.score <= 1.0
    priya = by_names[frozenset(("Priya Patel",))]
    assert any("spells the name" in r for r in priya.reasons)


def test_neighbours_sharing_a_postcode_are_not_suggested(db: Database) -> None:
    # "M. Hart" is an initial (not Monsieur Hart): its name cannot fit Corin Wells, and a
    # postcode with nothing in the names is only neighbours.
    _load(
        db,
        _event(buyer("M. Hart", "hart.m@example.com"), channel="order", zip_code="BS12 4HL"),
        _event(buyer("Wells, Corin", "cw@example.net"), channel="order", zip_code="BS12 4HL"),
        _event(buyer("Ada Lowe", "ada@example.org"), channel="order", zip_code="BS12 4HL"),
        _event(buyer("Ada Lowe", "a.lowe@example.co.uk"), channel="order", zip_code="BS12 4HL"),
    )
    with db.session() as s:
        found = suggestions(s)
    assert [frozenset((x.name_a, x.name_b)) for x in found] == [frozenset(("Ada Lowe",))]
    assert "same postcode BS124HL" in found[0].reasons


def test_rejected_pairs_are_never_suggested_again(db: Database) -> None:
    _load(
        db,
        _event(buyer("Jonathan Walker", "jw@example.com"), channel="order", zip_code="BS6 5AB"),
        _event(buyer("Jon Walker", "jon.w@elsewhere.example"), channel="order", zip_code="BS6 5AB"),
    )
    with db.session() as s:
        (pair,) = suggestions(s)
        merges.reject(s, pair.customer_a, pair.customer_b)
    with db.session() as s:
        assert suggestions(s) == []
        assert merges.history(s, limit=1)[0].action == "reject"


# --- merge, split, undo ------------------------------------------------------------------


def test_merge_moves_identities_and_notes_and_undo_restores(db: Database) -> None:
    _load(
        db,
        _event(sender("Tom Okafor", "tom@example.com")),
        _event(Participant("author", "Tom Okafor", handle="Tom Okafor", platform="whatsapp")),
    )
    a, b = sorted(_customers(db)["Tom Okafor"])
    with db.session() as s:
        add_note(s, b, "Collects on Sundays", author="Sam")
        change = merges.merge_customers(s, a, b, reason="by hand")
    with db.session() as s:
        merged = queries.customer(s, b)  # the merged id follows to the survivor
        assert merged.id == a and merged.event_count == 2
        assert [n.body for n in queries.notes(s, a)] == ["Collects on Sundays"]
        assert queries.count_customers(s) == 1
        undone = merges.undo(s)
        assert undone.id == change
    with db.session() as s:
        assert queries.count_customers(s) == 2
        assert queries.customer(s, b).handles == ("whatsapp:Tom Okafor",)
        assert [n.body for n in queries.notes(s, b)] == ["Collects on Sundays"]
        assert queries.notes(s, a) == []
        with pytest.raises(UserFacingError):
            merges.undo(s, change)


def test_split_moves_identities_out_and_events_follow(db: Database) -> None:
    _load(
        db,
        _event(buyer("Ann Lee", "ann@example.com", "+44 7700 900999"), channel="order"),
        _event(sender("Ann Lee", "ann@example.com")),
        _event(
            Participant("author", "Ann", phone="+44 7700 900999", platform="whatsapp"),
            channel="chat",
        ),
    )
    (ann,) = _customers(db)["Ann Lee"]
    with db.session() as s:
        phone_id = next(i.id for i in queries.customer(s, ann).identities if i.kind == "phone")
        new_id, change = merges.split_customer(s, ann, [phone_id])
    with db.session() as s:
        assert queries.customer(s, new_id).phones == ("+447700900999",)
        assert queries.customer(s, ann).phones == ()
        # The chat message follows the phone; the order had both, so it is on both.
        assert {e.channel for e in queries.timeline(s, new_id)} == {"chat", "order"}
        assert {e.channel for e in queries.timeline(s, ann)} == {"email", "order"}
        merges.undo(s, change)
    with db.session() as s:
        assert queries.count_customers(s) == 1
        assert queries.customer(s, ann).event_count == 3


def test_split_refuses_to_empty_a_customer(db: Database) -> None:
    _load(db, _event(sender("Solo", "solo@example.com")))
    (solo,) = _customers(db)["Solo"]
    with db.session() as s:
        only = queries.customer(s, solo).identities[0].id
        with pytest.raises(UserFacingError):
            merges.split_customer(s, solo, [only])


def test_automatic_merge_is_logged_and_undoable(db: Database) -> None:
    _load(
        db,
        _event(sender("Jane Doe", "jane@example.com")),
        _event(Participant("author", "Jane Doe", phone="+44 7700 900123", platform="whatsapp")),
        _event(buyer("Jane Doe", "jane@example.com", "+44 7700 900123"), channel="order"),
    )
    with db.session() as s:
        assert queries.count_customers(s) == 1
        (auto,) = merges.history(s, undoable_only=True)
        assert "same" in auto.description
        merges.undo(s, auto.id)
    with db.session() as s:
        assert queries.count_customers(s) == 2


def test_a_batch_of_many_new_people_gives_each_one_customer(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """More new people in one batch than ids are taken at a time, a merge among them and
    people met again in the same batch: each contact point on one customer, made once,
    and the batch written in one go (not again item by item after a clash of ids)."""
    caplog.set_level(logging.INFO, logger="app.ingest")
    people = [sender(f"Ann Example{i}", f"ann{i}@example.com") for i in range(150)]
    _load(
        db,
        *(_event(p) for p in people),
        _event(sender("Jane Doe", "jane@example.com")),
        _event(Participant("author", "Jane Doe", phone="+44 7700 900123", platform="whatsapp")),
        *(_event(p) for p in people[:70]),
        _event(buyer("Jane Doe", "jane@example.com", "+44 7700 900123"), channel="order"),
        *(_event(sender(f"Bo Sample{i}", f"bo{i}@example.com")) for i in range(80)),
    )
    with db.session() as s:
        links = s.execute(
            select(Identity.value, Customer.id, Customer.display_name)
            .join(CustomerIdentity, CustomerIdentity.identity_id == Identity.id)
            .join(Customer, Customer.id == CustomerIdentity.customer_id)
            .where(Customer.merged_into_id.is_(None))
        ).all()
        made = s.scalar(select(func.count()).select_from(Customer))
        participants = s.scalar(select(func.count()).select_from(EventParticipant))
        (auto,) = merges.history(s, undoable_only=True)
    owner = {value: (cid, name) for value, cid, name in links}
    assert len(owner) == len(links) == 150 + 80 + 2  # each contact point on one customer
    assert made == 150 + 80 + 2  # Jane made twice, then merged: no one made twice
    for i in range(150):
        assert owner[f"ann{i}@example.com"][1] == f"Ann Example{i}"
    assert len({cid for cid, _name in owner.values()}) == 150 + 80 + 1
    assert owner["jane@example.com"] == owner["+447700900123"]
    assert "same" in auto.description
    assert participants == 150 + 70 + 80 + 1 + 1 + 2
    assert "item by item" not in caplog.text


def test_a_record_the_store_refuses_leaves_no_trace_of_the_people_it_made(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Item by item: a record refused after its new buyer was written (a quantity no
    column holds) takes that buyer with it, and the people after it are made as usual."""
    caplog.set_level(logging.INFO, logger="app.ingest")
    bad = _event(buyer("Zed Newman", "zed@example.com"), channel="order")
    assert bad.order is not None
    bad = replace(bad, order=replace(bad.order, lines=(OrderLine("tea", quantity=10**30),)))
    _load(
        db,
        _event(sender("Amy Early", "amy@example.com")),
        bad,
        _event(sender("Bea Later", "bea@example.com")),
        _event(sender("Amy Early", "amy@example.com")),
    )
    with db.session() as s:
        links = s.execute(
            select(Identity.value, Customer.display_name)
            .join(CustomerIdentity, CustomerIdentity.identity_id == Identity.id)
            .join(Customer, Customer.id == CustomerIdentity.customer_id)
        ).all()
        made = s.scalar(select(func.count()).select_from(Customer))
        problems = s.scalar(select(func.count()).select_from(ImportProblem))
    assert sorted(links) == [("amy@example.com", "Amy Early"), ("bea@example.com", "Bea Later")]
    assert made == 2
    assert problems == 1
    assert "writing it item by item" in caplog.text


def test_a_rejection_can_be_undone(db: Database) -> None:
    _load(
        db,
        _event(buyer("Jonathan Walker", "jw@example.com"), channel="order", zip_code="BS6 5AB"),
        _event(buyer("Jon Walker", "jon.w@elsewhere.example"), channel="order", zip_code="BS6 5AB"),
    )
    with db.session() as s:
        (pair,) = suggestions(s)
        merges.reject(s, pair.customer_a, pair.customer_b)
        assert suggestions(s) == []
        assert [c.action for c in merges.history(s, actions=("reject",))] == ["reject"]
        merges.undo(s)
        assert len(suggestions(s)) == 1


def _chat(name: str, phone: str) -> EventRecord:
    return _event(Participant("author", name, phone=phone, platform="whatsapp"), channel="chat")


def _pair_score(db: Database, others_have_mobiles: bool) -> tuple[float, tuple[str, ...]]:
    crowd = [
        _chat(f"Ann Crowd{i}", f"+4477009{i:05d}")
        if others_have_mobiles
        else _event(sender(f"Ann Crowd{i}", f"ann{i}@example.org"))
        for i in range(300)
    ]
    _load(
        db,
        *crowd,
        _event(sender("Wren Blackingwick", "wren.b@example.com")),
        _chat("Wren Blackingwick", "+447700123456"),
        _chat("Otto Chandson", "+447700222222"),
        _chat("Otto Chandson", "+447700333333"),
    )
    with db.session() as s:
        found = {x.name_a: x for x in suggestions(s, min_score=0.0)}
    assert "different mobile numbers" in found["Otto Chandson"].against
    wren = found["Wren Blackingwick"]
    assert "different mobile numbers" not in wren.against + wren.reasons
    assert wren.score > found["Otto Chandson"].score
    return wren.score, wren.reasons


def test_one_mobile_between_two_customers_counts_for_them(tmp_path: Path) -> None:
    # One person's two customers seldom hold two different mobiles; two namesakes do
    # whenever both have one. So where mobiles are common, a pair with one mobile between
    # them is likelier one person than where nobody gives a mobile.
    common = _pair_score(open_database(tmp_path / "a.db"), others_have_mobiles=True)
    rare = _pair_score(open_database(tmp_path / "b.db"), others_have_mobiles=False)
    assert common[1] == rare[1]
    assert common[0] > rare[0]


def _wren_pair(db: Database, others: list[str]) -> tuple[float, tuple[str, ...]]:
    _load(
        db,
        _event(sender("Wren Blackingwick", "wren.blackingwick@example.com")),
        _chat("Wren Blackingwick", "+447700123456"),
        *(_event(sender(name, f"c{i}@example.org")) for i, name in enumerate(others)),
    )
    with db.session() as s:
        for x in suggestions(s, min_score=0.0):
            if {x.customer_a, x.customer_b} == {1, 2}:
                return x.score, x.reasons
    raise AssertionError("the pair was not scored")


def test_a_name_that_many_customers_carry_counts_for_less(tmp_path: Path) -> None:
    # Two holders of a rare name are likely one person; five holders of it are a family
    # or namesakes, and an address that spells the name is the same name once more. Both
    # databases hold five Wrens and five Blackingwicks: only the holders of the full name
    # differ.
    alone, alone_reasons = _wren_pair(
        open_database(tmp_path / "a.db"), ["Wren Carlisle"] * 3 + ["Ann Blackingwick"] * 3
    )
    crowded, crowded_reasons = _wren_pair(
        open_database(tmp_path / "b.db"), ["Wren Blackingwick"] * 3 + ["Ann Carlisle"] * 3
    )
    assert alone >= 0.9
    assert "same name Wren Blackingwick; no other customer has it" in alone_reasons
    assert "same name Wren Blackingwick; 5 customers have it" in crowded_reasons
    # As odds (the scores near 1 hide it): half as likely one person, or less.
    assert alone / (1 - alone) > 1.8 * crowded / (1 - crowded)


def _pair_by_names(db: Database, a: str, b: str, others: list[str]) -> float:
    _load(
        db,
        _event(sender(a, "first@example.com")),
        _chat(b, "+447700123456"),
        *(_event(sender(name, f"c{i}@example.org")) for i, name in enumerate(others)),
    )
    with db.session() as s:
        for x in suggestions(s, min_score=0.0):
            if {x.customer_a, x.customer_b} == {1, 2}:
                return x.score / (1 - x.score)
    raise AssertionError("the pair was not scored")


def test_two_given_names_that_several_customers_hold_are_two_names(tmp_path: Path) -> None:
    # Perian once is a typo of Perina; Perian held by others too is a name of its own.
    pair = ("Perina Harwick", "Perian Harwick")
    typo = _pair_by_names(open_database(tmp_path / "a.db"), *pair, ["Perina Hale", "Ada Ross"])
    names = _pair_by_names(open_database(tmp_path / "b.db"), *pair, ["Perina Hale", "Perian Ross"])
    assert typo > 5 * names


def test_an_initial_that_several_customers_fit_counts_for_less(tmp_path: Path) -> None:
    # "J. Kilfallett" fits John; with Jane Kilfallett as well it is less telling.
    alone = _pair_by_names(
        open_database(tmp_path / "a.db"), "J. Kilfallett", "John Kilfallett", ["Ann Kilfallett"]
    )
    shared = _pair_by_names(
        open_database(tmp_path / "b.db"), "J. Kilfallett", "John Kilfallett", ["Jane Kilfallett"]
    )
    assert alone > 1.3 * shared


# --- phones --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("(415) 555-0132", "US"),  # North America's fictional 555-01xx lines
        ("+1 212 555 0199", "GB"),
        ("555-123-4567", "US"),  # area code 555
        ("+1 (555) 010-0199", "GB"),
        ("555-0123", "US"),  # too short to dial: would have become a handle
        ("0000000000", "US"),
        ("000-000-0000", "US"),
        ("11111111111", "GB"),
        ("+880000000000", "GB"),
        ("1234567890", "US"),
        ("+44 1234 567890", "GB"),
        ("07123 456789", "GB"),
        ("9876543210", "US"),
        ("415 555 1212", "DE"),  # directory assistance, typed without +1
        ("0015551234567", "GB"),
    ],
)
def test_placeholder_numbers_are_never_contact_points(raw: str, region: str) -> None:
    from app.identity import contact_keys, is_placeholder_phone, normalize_phone

    assert is_placeholder_phone(raw, region)
    assert normalize_phone(raw, region) is None
    assert contact_keys(Participant("buyer", "Ann Bee", phone=raw, platform="amazon"), region) == []


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("+44 7700 900123", "GB"),  # Ofcom's drama range: our demo and tests use it
        ("07700 900000", "GB"),
        ("+1 415 867 5309", "GB"),
        ("(0117) 496 0321", "GB"),
        ("347 555 0123", "IT"),  # an Italian mobile, not North America's 555-01xx
        ("+39 347 555 0123", "GB"),
        ("155 5501 2345", "CN"),
    ],
)
def test_real_and_drama_numbers_are_not_placeholders(raw: str, region: str) -> None:
    from app.identity import is_placeholder_phone, normalize_phone

    assert not is_placeholder_phone(raw, region)
    assert normalize_phone(raw, region) is not None


def test_buyers_sharing_a_placeholder_number_keep_their_own_orders(db: Database) -> None:
    # Amazon buyers who typed 555-123-4567 or 0000000000: four strangers, four customers,
    # each with their own order only.
    for i, name in enumerate(["Ann Bee", "Carl Dunn", "Eve Fox", "Gil Hart"]):
        phone = "555-123-4567" if i % 2 else "0000000000"
        _load(db, _event(buyer(name, f"b{i}@marketplace.example", phone), channel="order"))
    names = _customers(db)
    assert sorted(names) == ["Ann Bee", "Carl Dunn", "Eve Fox", "Gil Hart"]
    with db.session() as s:
        for ids in names.values():
            row = queries.customer(s, ids[0])
            assert row.orders.count == 1 and row.phones == ()


def test_a_number_several_names_use_lists_them_on_lookup(db: Database) -> None:
    number = "+44 7700 900777"
    _load(
        db,
        _event(buyer("Ann Bee", phone=number), channel="order"),
        _event(buyer("Carl Dunn", phone=number), channel="order"),
    )
    names = _customers(db)
    assert len(names["Ann Bee"]) == 1 and len(names["Carl Dunn"]) == 1
    with db.session() as s, pytest.raises(UserFacingError) as caught:
        queries.resolve_customer(s, number)
    assert "Ann Bee" in str(caught.value) and "Carl Dunn" in str(caught.value)
    with db.session() as s:
        found = {row.name for row in queries.list_customers(s, number)}
    assert found == {"Ann Bee", "Carl Dunn"}


def test_a_number_several_names_use_keeps_each_their_own_orders(db: Database) -> None:
    # A real number shared by two buyers (one with an email of her own too): each keeps
    # only their own order, in the figures, the count and the timeline; a chat from the
    # number with no name could be either, so it stays on both.
    number = "+44 7700 900777"
    _load(
        db,
        _event(buyer("Ann Bee", phone=number), channel="order"),
        _event(buyer("Ann Bee", email="ann@example.com", phone=number), channel="order"),
        _event(buyer("Carl Dunn", phone=number), channel="order"),
        _event(Participant("author", "", phone=number, platform="whatsapp"), channel="chat"),
    )
    names = _customers(db)
    assert len(names["Ann Bee"]) == 1 and len(names["Carl Dunn"]) == 1
    with db.session() as s:
        ann = queries.customer(s, names["Ann Bee"][0])
        carl = queries.customer(s, names["Carl Dunn"][0])
        assert (ann.orders.count, carl.orders.count) == (2, 1)
        assert (ann.event_count, carl.event_count) == (3, 2)
        for row, count in ((ann, 3), (carl, 2)):
            events = queries.timeline(s, row.id, limit=50)
            assert len(events) == count == queries.timeline_count(s, row.id)


def test_a_chat_from_a_landline_is_one_customer(db: Database) -> None:
    # A WhatsApp sender known only by a number the tables class as a landline: one
    # customer for all their messages, not one per message.
    landline = "+44 117 496 0321"
    _load(
        db,
        *(
            _event(
                Participant("author", landline, phone=landline, platform="whatsapp"),
                channel="chat",
            )
            for _ in range(5)
        ),
    )
    with db.session() as s:
        rows = queries.list_customers(s, limit=100)
    assert len(rows) == 1
    assert rows[0].event_count == 5 and rows[0].phones == ("+441174960321",)


def test_a_message_through_a_shared_number_is_only_its_senders(db: Database) -> None:
    # A shop phone two buyers both give: Carl writes from it under his own name. The
    # waiting list and search (whose event, and a search within a customer) give the
    # message to Carl only, by the same rule as his timeline, not to Ann as well.
    from app import waiting

    number = "+44 7700 900777"
    chat = EventRecord(
        channel="chat",
        source="whatsapp",
        external_id="chat-carl",
        occurred_at=T0 + timedelta(days=1),
        title="",
        text="where is my parcel, zebrafinch",
        participants=(Participant("author", "Carl Dunn", phone=number, platform="whatsapp"),),
        direction="inbound",
    )
    _load(
        db,
        _event(buyer("Ann Bee", phone=number), channel="order"),
        _event(buyer("Carl Dunn", phone=number), channel="order"),
        chat,
    )
    names = _customers(db)
    ann, carl = names["Ann Bee"][0], names["Carl Dunn"][0]
    with db.session() as s:
        assert [e.title for e in queries.timeline(s, ann, limit=50)] != []
        assert not any("zebrafinch" in e.text for e in queries.timeline(s, ann, limit=50))
        rows = waiting.waiting(s, now=T0 + timedelta(days=2))
        assert [r.customer_id for r in rows] == [carl]
        (hit,) = queries.search(s, "zebrafinch")
        assert hit.customer_id == carl and hit.customer_name == "Carl Dunn"
        assert queries.search(s, "zebrafinch", customer_id=ann) == []
        assert len(queries.search(s, "zebrafinch", customer_id=carl)) == 1
