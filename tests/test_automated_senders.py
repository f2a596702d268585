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


def _post(n: int, sender: str, to: str, *, headers: str = "", cc: str = "") -> bytes:
    """A message of ``sender`` to ``to``, with ``headers`` (a list's) if given."""
    copy = f"Cc: {cc}\r\n" if cc else ""
    return (
        f"From: {sender}\r\nTo: {to}\r\n{copy}Subject: Post {n}\r\n"
        f"Date: Mon, 1 Jan 2024 10:0{n}:00 +0000\r\nMessage-ID: <post-{n}@example.org>\r\n"
        f"{headers}\r\nHello list.\r\n"
    ).encode()


_NEWS = (
    "List-ID: <shop-news.googlegroups.com>\r\nList-Post: <mailto:shop-news@googlegroups.com>\r\n"
)


_FRIENDS = "List-ID: <news.friends.example>\r\nList-Post: <mailto:news@friends.example>\r\n"


def _linked(db: Database) -> set[str]:
    with db.session() as session:
        return set(
            session.scalars(
                select(Identity.value).join(
                    CustomerIdentity, CustomerIdentity.identity_id == Identity.id
                )
            )
        )


def test_a_list_seen_once_is_no_customer_on_a_copy_without_its_headers(
    store: Database, tmp_path: Path
) -> None:
    """The owner's sent copy of a post has no list headers: once the list was seen as a
    list, it is no customer there either (imported after the list's mail, or before: then
    the customer the copy made loses the list's address, and the change is in the
    history). The person copied in stays a customer."""
    from app import settings
    from app.service import Service

    with store.session() as session:
        settings.set_value(session, "owner_emails", "hello@myshop.example")
    sent = _post(
        1, "Shop <hello@myshop.example>", "news@friends.example", cc="Bob <bob@example.net>"
    )
    (tmp_path / "1-sent.eml").write_bytes(sent)
    (report,) = import_paths(store, [tmp_path / "1-sent.eml"])
    assert report.added == 1
    assert _linked(store) == {"news@friends.example", "bob@example.net"}  # (nothing told)
    svc = Service(store)
    before = {c.name for c in svc.customers("")}
    assert len(before) == 2

    member = _post(2, "Jane Doe <jane@example.org>", "news@friends.example", headers=_FRIENDS)
    (tmp_path / "2-member.eml").write_bytes(member)
    (report,) = import_paths(store, [tmp_path / "2-member.eml"])
    assert report.added == 1
    assert _linked(store) == {"bob@example.net"}
    assert [c.name for c in svc.customers("")] == ["Bob"]
    with store.session() as session:
        flagged = session.scalar(
            select(Identity.is_list).where(Identity.value == "news@friends.example")
        )
    assert flagged is True
    (change,) = [c for c in svc.history() if c.action == "list"]
    assert change.description == ("a mailing list's address, not a customer: news@friends.example")

    # Later copies without the headers: still no customer, and Bob's stays his.
    later = _post(
        3, "Shop <hello@myshop.example>", "news@friends.example", cc="Bob <bob@example.net>"
    )
    (tmp_path / "3-sent.eml").write_bytes(later)
    (report,) = import_paths(store, [tmp_path / "3-sent.eml"])
    assert report.added == 1
    assert _linked(store) == {"bob@example.net"}
    (bob,) = svc.customers("bob")
    assert bob.event_count == 2


def test_a_cross_post_to_a_known_list_makes_it_no_customer(db: Database, tmp_path: Path) -> None:
    """A message through one list, addressed to another list as well: the other list
    (known as a list from its own mail) is no customer either."""
    other = "List-ID: <dev.lists.example.org>\r\nList-Post: <mailto:dev@lists.example.org>\r\n"
    (tmp_path / "a.eml").write_bytes(
        _post(1, "Ann <ann@example.net>", "dev@lists.example.org", headers=other)
    )
    (tmp_path / "b.eml").write_bytes(
        _post(
            2,
            "Jane Doe <jane@example.org>",
            "shop-news@googlegroups.com, dev@lists.example.org",
            headers=_NEWS,
            cc="Bob <bob@example.net>",
        )
    )
    reports = import_paths(db, [tmp_path / "a.eml", tmp_path / "b.eml"])
    assert [r.added for r in reports] == [1, 1]
    assert _linked(db) == {"bob@example.net"}


def test_lists_stay_customers_when_automated_senders_are(db: Database, tmp_path: Path) -> None:
    """The owner who asked for automated senders as customers keeps lists as customers."""
    from app import settings

    with db.session() as session:
        settings.set_value(session, "automated_customers", "yes")
    (tmp_path / "a.eml").write_bytes(
        _post(1, "Jane Doe <jane@example.org>", "shop-news@googlegroups.com", headers=_NEWS)
    )
    (report,) = import_paths(db, [tmp_path / "a.eml"])
    assert report.added == 1
    assert _linked(db) == {"jane@example.org", "shop-news@googlegroups.com"}


@pytest.mark.parametrize(
    ("address", "a_list"),
    [
        ("shop-news@googlegroups.com", True),
        ("linux-usb@vger.kernel.org", True),
        ("spi-devel-general@lists.sourceforge.net", True),
        ("beta@groups.io", True),
        ("mailman-users@mailman.example.org", True),
        ("ivan@list.ru", False),  # a personal mail provider
        ("sales@lists.co.uk", False),  # a company's own domain
        ("hello@lists.com", False),
        ("jane@example.org", False),
        ("tj-DgEjT+Ai2ygdnm+yROfE0A@public.gmane.org", False),  # a person, through gmane
    ],
)
def test_an_address_at_a_host_of_lists_is_a_list(address: str, a_list: bool) -> None:
    """A cross-post names other lists without their headers: their host tells."""
    raw = _post(1, "Jane Doe <jane@example.org>", f"support@myshop.example, {address}")
    assert (address.lower() in parse_message(raw).details.get("lists", [])) is a_list


def test_a_list_that_was_the_owners_address_gets_no_customer_when_freed(
    db: Database, tmp_path: Path
) -> None:
    """A group first seen as a list, then named as the owner's own address, then not: it
    goes back to being a list, not a customer."""
    from app import identity, settings

    (tmp_path / "a.eml").write_bytes(
        _post(1, "Jane Doe <jane@example.org>", "news@friends.example", headers=_FRIENDS)
    )
    import_paths(db, [tmp_path / "a.eml"])
    with db.session() as session:
        identity.configure(session, "owner_emails", "news@friends.example")
    with db.session() as session:
        identity.configure(session, "owner_emails", "")
        assert settings.get_list(session, "owner_emails") == []
    assert "news@friends.example" not in _linked(db)
