"""Which sender addresses belong to a machine: list administration, bounces, envelope forms."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.db import Database
from app.ingest import import_paths
from app.models import CustomerIdentity, Event, Identity
from connectors.mail import parse_message
from connectors.mail_headers import is_automated_sender


@pytest.mark.parametrize(
    "address",
    [
        "shop-news+owner@googlegroups.com",  # Google Groups owner address
        "shop-news-owner@lists.example.org",  # Mailman owner
        "owner-shop-news@lists.example.org",  # majordomo / Sympa owner
        "shop-news-request@lists.example.org",  # Mailman request address
        "shop-news-bounces@lists.example.org",
        "shop-news-bounces+jane=example.com@lists.example.org",  # Mailman VERP
        "shop-news-unsubscribe@lists.example.org",
        "bounce-123-456@mail.example.com",
        "SRS0=abcd=EF=example.com=jane@forwarder.example.net",  # SRS
        "prvs=1234abcd5=jane@example.com",  # BATV
        "MAILER-DAEMON@example.com",
        "no-reply@example.com",
    ],
)
def test_list_and_bounce_addresses_are_automated(address: str) -> None:
    assert is_automated_sender(address)


@pytest.mark.parametrize(
    "address",
    [
        "jane@example.com",
        "jane.owner@example.com",  # a person whose surname is Owner
        "owner@smallshop.example",  # the owner of a small business writes in person
        "admin@customer-company.example",  # a business customer's shared address
        "anne-marie@example.com",
        "tom.joiner@example.com",
        "jane+shop@gmail.com",
        "bob+tag=x@example.com",
    ],
)
def test_people_are_not_automated(address: str) -> None:
    assert not is_automated_sender(address)


def test_message_from_a_list_owner_is_automated() -> None:
    raw = (
        b"From: shop-news+owner@googlegroups.com\r\n"
        b"To: hello@myshop.example\r\n"
        b"Subject: Pending moderation\r\n"
        b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
        b"Message-ID: <mod-1@googlegroups.com>\r\n\r\n"
        b"A message awaits your approval.\r\n"
    )
    assert parse_message(raw).details["automated"] is True


def test_a_mailing_list_itself_is_no_customer(db: Database, tmp_path: Path) -> None:
    """The list's own address (every message to it names it) is not linked to a customer;
    a member who writes to the list and the owner both, is."""
    to_list = (
        b"From: Jane Doe <jane@example.org>\r\n"
        b"To: shop-news@googlegroups.com\r\n"
        b"Cc: Bob <bob@example.net>\r\n"
        b"Subject: Spring sale?\r\n"
        b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
        b"Message-ID: <list-1@example.org>\r\n"
        b"List-ID: Shop news <shop-news.googlegroups.com>\r\n"
        b"List-Post: <https://groups.google.com/group/shop-news/post>,\r\n"
        b" <mailto:shop-news@googlegroups.com>\r\n\r\n"
        b"Is there a spring sale this year?\r\n"
    )
    details = parse_message(to_list).details
    assert details["lists"] == ["shop-news@googlegroups.com"]
    path = tmp_path / "list.eml"
    path.write_bytes(to_list)
    (report,) = import_paths(db, [path])
    assert report.added == 1
    with db.session() as session:
        linked = set(
            session.scalars(
                select(Identity.value).join(
                    CustomerIdentity, CustomerIdentity.identity_id == Identity.id
                )
            )
        )
    assert "shop-news@googlegroups.com" not in linked
    assert "bob@example.net" in linked  # (Jane wrote through the list: automated mail)


def test_mail_through_a_group_that_is_the_owners_address_is_a_persons(
    db: Database, tmp_path: Path
) -> None:
    """A shop's support@ run as a Google Group: every customer's message comes with the
    group's list headers, yet it is the customer's; once the owner's addresses name the
    group, its members' mail makes customers (other lists' mail still does not)."""
    from app import settings

    def message(n: int, sender: str, group: str) -> bytes:
        return (
            f"From: {sender}\r\nTo: {group}@shop.example\r\nSubject: Order 10{n}\r\n"
            f"Date: Mon, 1 Jan 2024 10:0{n}:00 +0000\r\nMessage-ID: <g-{n}@example.org>\r\n"
            f"List-ID: <{group}.shop.example>\r\nList-Post: <mailto:{group}@shop.example>\r\n"
            "Precedence: list\r\n\r\nWhere is my order?\r\n"
        ).encode()

    with db.session() as session:
        settings.set_value(session, "owner_emails", "support@shop.example")
    (tmp_path / "a.eml").write_bytes(message(1, "Jane Doe <jane@example.org>", "support"))
    (tmp_path / "b.eml").write_bytes(message(2, "Ann <ann@example.net>", "staff-chat"))
    (tmp_path / "c.eml").write_bytes(message(3, "MAILER-DAEMON@example.com", "support"))
    # A sender whose domain forbids forwarding as them (DMARC): the group writes the
    # message as its own and keeps the writer in X-Original-From.
    rewritten = message(4, '"Pat Lee via Support" <support@shop.example>', "support")
    rewritten = rewritten.replace(b"Precedence", b"X-Original-From: Pat Lee <pat@aol.example>\r\nP")
    (tmp_path / "d.eml").write_bytes(rewritten)
    paths = [tmp_path / f"{n}.eml" for n in "abcd"]
    reports = import_paths(db, paths)
    assert [r.added for r in reports] == [1, 1, 1, 1]
    with db.session() as session:
        linked = set(
            session.scalars(
                select(Identity.value).join(
                    CustomerIdentity, CustomerIdentity.identity_id == Identity.id
                )
            )
        )
    assert linked == {"jane@example.org", "pat@aol.example"}
    with db.session() as session:
        assert session.scalar(select(Event.direction).where(Event.title == "Order 104")) == (
            "inbound"
        )
