"""Normalisation of contact points and the linking rules of the first identity version."""

from __future__ import annotations

import pytest

from app.identity import (
    contact_keys,
    email_match_key,
    normalize_email,
    normalize_handle,
    normalize_phone,
)
from app.records import Participant


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jane.Doe@Gmail.com", "jane.doe@gmail.com"),
        ("  <kim@example.org> ", "kim@example.org"),
        ("mailto:Bob@Example.COM", "bob@example.com"),
        ("not an address", None),
        ("@example.com", None),
    ],
)
def test_normalize_email(raw: str, expected: str | None) -> None:
    assert normalize_email(raw) == expected


def test_gmail_match_key_ignores_dots_and_tags_but_others_keep_dots() -> None:
    assert email_match_key("jane.doe+shop@gmail.com") == "janedoe@gmail.com"
    assert email_match_key("jane.doe@googlemail.com") == "janedoe@gmail.com"
    assert email_match_key("jane.doe+x@example.com") == "jane.doe@example.com"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+44 7700 900123", "GB", "+447700900123"),
        ("07700 900123", "GB", "+447700900123"),
        ("(0117) 496 0321", "GB", "+441174960321"),
        ("+1 (415) 634-0132", "GB", "+14156340132"),
        ("415-634-0132", "US", "+14156340132"),
        ("415-555-0132", "US", None),  # a fictional 555-01xx line
        ("+49 151 23456789", "US", "+4915123456789"),
        ("+880 1712-345678 ext. 12", "GB", "+8801712345678"),
        ("+12 345 578", "GB", None),  # not a possible number anywhere
        ("call me", "GB", None),
        ("", "GB", None),
    ],
)
def test_normalize_phone(raw: str, region: str, expected: str | None) -> None:
    assert normalize_phone(raw, region) == expected


def test_possible_but_unlisted_numbers_are_kept() -> None:
    # 07700 900xxx is Ofcom's drama range: possible, not "valid" in the tables. Keep it.
    import phonenumbers

    number = phonenumbers.parse("+447700900123")
    assert phonenumbers.is_possible_number(number)
    assert normalize_phone("+447700900123", "GB") == "+447700900123"


def test_handles_fold_case_and_space() -> None:
    assert normalize_handle("  Tom   Okafor ") == "tom okafor"
    assert normalize_handle("STRASSE") == normalize_handle("strasse")


def test_contact_keys_of_a_participant() -> None:
    keys = contact_keys(
        Participant(
            "buyer",
            "Jane Doe",
            email="Jane@X.com",
            phone="07700 900123",
            platform="shopify",
            platform_id="cust-1",
        ),
        "GB",
    )
    assert [(k.kind, k.platform, k.value) for k in keys] == [
        ("email", "", "jane@x.com"),
        ("phone", "", "+447700900123"),
        ("platform_id", "shopify", "cust-1"),
    ]


def test_a_name_is_never_a_contact_key() -> None:
    assert contact_keys(Participant("from", "Jane Doe"), "GB") == []


def test_undialable_chat_author_number_becomes_a_handle() -> None:
    keys = contact_keys(
        Participant("author", "+12 345 578", phone="+12 345 578", platform="whatsapp"), "GB"
    )
    assert [(k.kind, k.platform, k.value) for k in keys] == [("handle", "whatsapp", "+12 345 578")]
