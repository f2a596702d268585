"""Plain records that connectors yield and the ingest path stores.

Connectors parse a source and produce a stream of these frozen dataclasses;
they never touch the database. Every datetime here is timezone-aware UTC.
Money is ``Decimal``, never float.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any, Literal

Channel = Literal["email", "chat", "order"]
Direction = Literal["inbound", "outbound", "system"]
Role = Literal["from", "to", "cc", "bcc", "author", "buyer", "member"]
DateOrder = Literal["dmy", "mdy", "ymd"]

# What one event may store, whatever its channel (the ingest path cuts longer values and
# the import report says so): its text, its title or subject, and each participant's
# name or handle. Mail's per-message text cap (``connectors.mail.MAX_TEXT_CHARS``) is the
# same figure.
MAX_TEXT_CHARS = 1_000_000
MAX_TITLE_CHARS = 2_000
MAX_NAME_CHARS = 500
# Problems kept per imported file; past this they are counted in one last problem.
MAX_PROBLEMS = 1000


@dataclass(frozen=True)
class Participant:
    """One person as a source shows them, with every contact point it gives.

    All the contact points of one participant belong to the same person (a
    Shopify buyer's email and phone, an email sender's address), so the ingest
    path keeps them on one customer. ``name`` is for display only and never
    links anyone.

    Attributes:
        role: how the person takes part in the event.
        name: display name as seen ("" if none).
        email: email address as seen, or None.
        phone: phone number as seen (any format), or None.
        handle: a chat handle or chat display name, scoped by ``platform``.
        platform: the platform that scopes ``handle`` and ``platform_id``.
        platform_id: the platform's customer id (Shopify customer id, …).
    """

    role: Role
    name: str = ""
    email: str | None = None
    phone: str | None = None
    handle: str | None = None
    platform: str = ""
    platform_id: str | None = None


@dataclass(frozen=True)
class OrderLine:
    """One line item of an order."""

    name: str
    quantity: int = 1
    unit_price: Decimal | None = None
    sku: str = ""


@dataclass(frozen=True)
class OrderInfo:
    """Order details that come with an order event. Amounts are Decimal."""

    number: str
    currency: str
    total: Decimal | None
    subtotal: Decimal | None = None
    shipping: Decimal | None = None
    tax: Decimal | None = None
    discount: Decimal | None = None
    refunded: Decimal | None = None
    financial_status: str = ""
    fulfillment_status: str = ""
    platform_order_id: str = ""
    paid_at: datetime | None = None
    fulfilled_at: datetime | None = None
    cancelled_at: datetime | None = None
    lines: tuple[OrderLine, ...] = ()


@dataclass(frozen=True)
class EventRecord:
    """One timeline entry as parsed from a source.

    Attributes:
        channel: "email", "chat" or "order".
        source: the namespace in which ``external_id`` is unique. All email
            connectors use "email" (so the same Message-ID from mbox and IMAP
            is one event); chats use the platform ("whatsapp"); orders use the
            shop platform ("shopify").
        external_id: the natural key within ``source``.
        occurred_at: aware datetime (UTC preferred; ingest converts).
        title: subject or short title.
        text: plain-text body (already derived from HTML where needed).
        participants: everyone involved, with roles.
        direction: set by the connector only when it knows better than the
            owner settings (``"system"`` for chat system lines); None lets the
            ingest path decide from the owner's identities.
        thread_key: groups events into a thread or conversation.
        details: small JSON-serialisable, channel-specific extras.
        order: order details for channel "order".
        locator: where in the source this came from ("file.mbox:1234").
        text_cut: characters of the text the connector already left out because the
            item was too long (it stops collecting past ``MAX_TEXT_CHARS``); the
            ingest path reports them with the cut.
    """

    channel: Channel
    source: str
    external_id: str
    occurred_at: datetime
    title: str
    text: str
    participants: tuple[Participant, ...] = ()
    direction: Direction | None = None
    thread_key: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    order: OrderInfo | None = None
    locator: str = ""
    text_cut: int = 0


@dataclass(frozen=True)
class Problem:
    """An item the connector could not read; recorded, never fatal."""

    location: str
    reason: str


@dataclass(frozen=True)
class OwnerHint:
    """The source says which contact point is the business itself.

    For example the WhatsApp export's own name, or an address that Gmail
    labelled as "Sent". Ingest seeds the owner settings with it when the user
    has not configured them.

    ``delivered``: the address is only the mailbox a message was delivered to (its
    ``Delivered-To`` header). One message says little: a saved or forwarded ``.eml`` was
    often delivered to someone else (the customer who sent it on, a colleague), so an
    import takes such a mailbox for the owner's once ``MAILBOX_MESSAGES`` of its messages
    were delivered to it (an inbox: its second message), and a reader hints each mailbox
    that many times at most.
    """

    kind: Literal["email", "phone", "name"]
    value: str
    delivered: bool = False


MAILBOX_MESSAGES = 2  # messages of one import delivered to a mailbox that make it the owner's


@dataclass(frozen=True)
class Notice:
    """Something the import report must tell the user (e.g. the date order assumed)."""

    message: str


@dataclass(frozen=True)
class ContactCard:
    """A person in the owner's address book (a vCard): every email address and phone
    number on the card is that person's, so the ingest path puts them on one customer.
    It adds no event: the history comes from the mail, chats and orders.

    Attributes:
        name: the name shown ("" if the card gives none).
        emails: the card's email addresses, as written.
        phones: its phone numbers (voice and mobile; not fax or pager), as written.
        organization: the company the card names ("" if none).
        locator: where in the file the card starts ("contacts.vcf:12").
    """

    name: str
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    organization: str = ""
    locator: str = ""


Item = EventRecord | Problem | OwnerHint | Notice | ContactCard


@dataclass(frozen=True)
class ParseOptions:
    """What a connector may need to know that the file does not say.

    Attributes:
        tz: zone for timestamps without one (WhatsApp exports).
        region: ISO country code for phone numbers without a country code.
        date_order: forced day/month order; None means infer from the file.
        owner_names: the owner's chat names, to recognise their own lines.
        currency: ISO code for exports that state no currency.
        column_map: for generic CSV imports, field name → column header
            ("time" → "Created", "author" → "From", …).
        progress: called with (bytes_done, bytes_total) now and then.
        should_cancel: polled between items; True stops the parse early.
        known_locators: locators of sources already stored (a Maildir's message files,
            which never change under the same name): a connector may skip them unread.
        on_known: called with how many known sources were skipped (counted as duplicates).
    """

    tz: tzinfo
    region: str = "GB"
    date_order: DateOrder | None = None
    owner_names: tuple[str, ...] = ()
    currency: str = "USD"
    column_map: Mapping[str, str] | None = None
    progress: Callable[[int, int], None] | None = None
    should_cancel: Callable[[], bool] | None = None
    known_locators: AbstractSet[str] = frozenset()
    on_known: Callable[[int], None] | None = None
