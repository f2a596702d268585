"""The SQLAlchemy ORM model: customers, identities, events, orders, notes, imports, settings.

The schema itself is created and upgraded only by the Alembic migrations in
``app/migrations``; these classes describe it for the ORM. Datetimes are stored
as naive UTC and come back aware; money is stored as exact decimal text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as naive UTC, returned aware (UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class DecimalText(TypeDecorator[Decimal]):
    """An exact Decimal stored as its text, so no backend turns it into a float."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


# ``json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)``, without making an
# encoder for every value (an import writes two such texts per event)
SORTED_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str)


class JSONText(TypeDecorator[dict[str, Any]]):
    """A small JSON object stored as text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return SORTED_JSON.encode(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> dict[str, Any] | None:
        if value is None:
            return None
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {"value": loaded}


def utcnow() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


def aware_utc(value: object) -> datetime | None:
    """An aggregate's time as aware UTC (aggregates bypass the column type: SQLite hands
    back naive UTC, as text or a datetime); None for anything else."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Customer(Base):
    """A person or business the owner serves. A merge keeps the row and points it on."""

    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(300), default="")
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Figures kept in step by the write path (app.identity.refresh_customer_stats).
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    first_seen: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # Channels, order figures and the brief's figures (app.summary), kept by the same
    # refresh; {} until first computed (then they are counted on the fly).
    profile: Mapped[dict[str, Any]] = mapped_column(JSONText(), default=dict, server_default="{}")

    # "show Jane Doe": a customer by name, as typed in any case (migration 0015).
    __table_args__ = (Index("ix_customer_display_name_lower", func.lower(display_name)),)


class Identity(Base):
    """A normalised contact point: an email, a phone (E.164), a chat handle, a platform id.

    An identity normally belongs to one customer (``customer_identity``). A
    shared one (a family landline, an office address seen with clearly
    different names) may belong to several and then links nobody
    automatically. ``is_own`` marks the business's own addresses and numbers:
    they belong to no customer. ``is_list`` marks a mailing list's own address (seen as
    a list's posting address once): it belongs to no customer either, on any message.
    """

    __tablename__ = "identity"
    __table_args__ = (
        UniqueConstraint("kind", "platform", "value"),
        Index("ix_identity_value", "value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    platform: Mapped[str] = mapped_column(String(40), default="")
    value: Mapped[str] = mapped_column(String(320))
    raw: Mapped[str] = mapped_column(String(320), default="")
    match_key: Mapped[str] = mapped_column(String(320), default="", index=True)
    search_digits: Mapped[str] = mapped_column(String(40), default="")
    display_name: Mapped[str] = mapped_column(String(300), default="")
    is_own: Mapped[bool] = mapped_column(Boolean, default=False)
    is_list: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    line_type: Mapped[str] = mapped_column(String(12), default="")
    first_seen_source: Mapped[str] = mapped_column(String(40), default="")


class CustomerIdentity(Base):
    """Which customer(s) an identity belongs to."""

    __tablename__ = "customer_identity"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), primary_key=True)
    identity_id: Mapped[int] = mapped_column(
        ForeignKey("identity.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class MergeRejection(Base):
    """A pair the user said are not the same person: never suggested again."""

    __tablename__ = "merge_rejection"
    __table_args__ = (UniqueConstraint("customer_a", "customer_b"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_a: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    customer_b: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ImportRun(Base):
    """One import of one file (or one sync): what it added, skipped and could not read."""

    __tablename__ = "import_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default="running")
    added: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    problem_count: Mapped[int] = mapped_column(Integer, default=0)
    notices: Mapped[str] = mapped_column(Text, default="")
    # Who ran it (app.authors; on a team server the server stamps the signed-in role).
    author: Mapped[str] = mapped_column(String(200), default="", server_default="")


class ImportProblem(Base):
    """An item an import could not read, with where it was and why."""

    __tablename__ = "import_problem"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("import_run.id", ondelete="CASCADE"), index=True)
    location: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)


class Event(Base):
    """One timeline entry. Unique by (source, external_id)."""

    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_event_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(500))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    direction: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    thread_key: Mapped[str | None] = mapped_column(String(500), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSONText(), default=dict)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    # email only: sender, Date and body words (app.fingerprint); "" when unknown
    fingerprint: Mapped[str] = mapped_column(String(64), default="", server_default="")
    import_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_run.id", ondelete="SET NULL")
    )
    locator: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # ISO 639-1 code detected once from the text at import (app.language); None: too short.
    language: Mapped[str | None] = mapped_column(String(8))

    participants: Mapped[list[EventParticipant]] = relationship(
        back_populates="event", cascade="all, delete-orphan"
    )
    order: Mapped[Order | None] = relationship(back_populates="event", cascade="all")


class EventParticipant(Base):
    """Links an event to an identity with a role (from, to, author, buyer, …)."""

    __tablename__ = "event_participant"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("event.id", ondelete="CASCADE"), primary_key=True
    )
    identity_id: Mapped[int] = mapped_column(
        ForeignKey("identity.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), default="")

    event: Mapped[Event] = relationship(back_populates="participants")
    identity: Mapped[Identity] = relationship()


class Mention(Base):
    """An order number, email address or phone number that an event's text mentions."""

    __tablename__ = "mention"
    __table_args__ = (Index("ix_mention_kind_value", "kind", "value"),)

    event_id: Mapped[int] = mapped_column(
        ForeignKey("event.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # order | email | phone
    value: Mapped[str] = mapped_column(String(320), primary_key=True)


class Order(Base):
    """Order details of an order event. Amounts are exact decimals in the order's currency."""

    __tablename__ = "order_info"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("event.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[str] = mapped_column(String(100), index=True)
    platform: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal | None] = mapped_column(DecimalText())
    subtotal: Mapped[Decimal | None] = mapped_column(DecimalText())
    shipping: Mapped[Decimal | None] = mapped_column(DecimalText())
    tax: Mapped[Decimal | None] = mapped_column(DecimalText())
    discount: Mapped[Decimal | None] = mapped_column(DecimalText())
    refunded: Mapped[Decimal | None] = mapped_column(DecimalText())
    financial_status: Mapped[str] = mapped_column(String(40), default="")
    fulfillment_status: Mapped[str] = mapped_column(String(40), default="")
    platform_order_id: Mapped[str] = mapped_column(String(100), default="")
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    event: Mapped[Event] = relationship(back_populates="order")
    lines: Mapped[list[OrderLine]] = relationship(
        cascade="all, delete-orphan", order_by="OrderLine.position"
    )


class OrderLine(Base):
    """One line item of an order."""

    __tablename__ = "order_line"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_event_id: Mapped[int] = mapped_column(
        ForeignKey("order_info.event_id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    sku: Mapped[str] = mapped_column(String(100), default="")
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_price: Mapped[Decimal | None] = mapped_column(DecimalText())


class Note(Base):
    """A note the team keeps on a customer."""

    __tablename__ = "note"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200), default="")
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Setting(Base):
    """One setting of this database (declared and typed in app.settings)."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class AuditEntry(Base):
    """A change to who is who (a merge, a link), kept so it can be explained and undone."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    action: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(JSONText(), default=dict)
    undone_by: Mapped[int | None] = mapped_column(ForeignKey("audit_log.id"))
    # Who made it (app.authors; on a team server the server stamps the signed-in role).
    author: Mapped[str] = mapped_column(String(200), default="", server_default="")


# --- IMAP accounts ------------------------------------------------------------------------


class JSONList(TypeDecorator[list[str]]):
    """A short list of strings stored as JSON text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: list[str] | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(list(value), ensure_ascii=False)

    def process_result_value(self, value: str | None, dialect: Dialect) -> list[str] | None:
        if value is None:
            return None
        loaded = json.loads(value)
        return [str(v) for v in loaded] if isinstance(loaded, list) else []


class Account(Base):
    """An IMAP account: where and as whom to log in, and which folders to sync.

    The password (or OAuth refresh token) is never here: it lives in the OS keyring
    under ``uid`` (see app.secrets). ``folders`` empty means the defaults (INBOX and the folder
    the server flags as \\Sent).
    """

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    tls: Mapped[str] = mapped_column(String(10))
    ca_file: Mapped[str | None] = mapped_column(Text)
    username: Mapped[str] = mapped_column(String(320))
    folders: Mapped[list[str]] = mapped_column(JSONList(), default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    # "password", or "oauth": signed in at ``oauth_provider`` ("google", "microsoft" or an
    # issuer URL) with this app's client id there (None: from the settings or environment).
    auth: Mapped[str] = mapped_column(String(20), default="password", server_default="password")
    oauth_provider: Mapped[str | None] = mapped_column(Text)
    oauth_client_id: Mapped[str | None] = mapped_column(Text)

    sync_states: Mapped[list[SyncState]] = relationship(
        back_populates="account", cascade="all, delete-orphan", passive_deletes=True
    )


class SyncState(Base):
    """How far one folder of an account has been synced.

    ``last_uid`` is the highest UID whose message is committed; it is only
    meaningful together with ``uidvalidity``. ``highestmodseq`` is recorded
    when the server offers CONDSTORE and the folder was synced to the end.
    """

    __tablename__ = "sync_state"
    __table_args__ = (UniqueConstraint("account_id", "folder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(1000))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    highestmodseq: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    account: Mapped[Account] = relationship(back_populates="sync_states")


class ColumnMapping(Base):
    """A column mapping the user chose for a generic CSV format, remembered per header set."""

    __tablename__ = "column_mapping"
    __table_args__ = (UniqueConstraint("format", "header_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    format: Mapped[str] = mapped_column(String(40))
    header_key: Mapped[str] = mapped_column(String(64))
    headers: Mapped[list[str]] = mapped_column(JSONList(), default=list)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONText(), default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Suppression(Base):
    """A forgotten customer's contact point, kept only as a keyed hash (``app.erasure``).

    The import path drops what matches, so an erased customer does not come back with
    the next import or sync. The hash's key (salt) is a setting of this database.
    """

    __tablename__ = "suppression"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    erasure_id: Mapped[int | None] = mapped_column(Integer)


class ReplyMark(Base):
    """ "Mark as answered" or "Snooze until …" on a customer who waits for a reply.

    A mark covers the customer's inbound messages up to ``upto`` (the newest one
    waiting when it was set); a later message makes them wait again. A snooze
    hides the wait until ``until``. Undo sets ``undone_at``; the row stays.
    """

    __tablename__ = "reply_mark"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))  # answered | snooze
    upto: Mapped[datetime] = mapped_column(UTCDateTime())
    until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Waiting(Base):
    """A customer whose latest message is inbound and unanswered (kept by app.waiting).

    One row per waiting customer, rebuilt for the customers the write path touches,
    so the list is one indexed read. ``since`` is their first unanswered message,
    ``event_id`` their latest one (its channel, source and first line).
    """

    __tablename__ = "waiting"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True
    )
    since: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    event_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(40))
    first_line: Mapped[str] = mapped_column(Text, default="")
    message_count: Mapped[int] = mapped_column(Integer, default=1)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- stored merge suggestions (app.suggestion_store) -----------------------------------------


class SuggestionPair(Base):
    """Two customers that may be one person, as last scored (``app.suggestion_store``).

    Lower id first. Kept in step with the customers by the write path; rejected pairs
    stay here and are left out when read, so an undone rejection needs no rescoring.
    """

    __tablename__ = "suggestion_pair"

    customer_a: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    customer_b: Mapped[int] = mapped_column(
        Integer, primary_key=True, autoincrement=False, index=True
    )
    score: Mapped[float] = mapped_column(Float, index=True)
    reasons: Mapped[list[str]] = mapped_column(JSONList(), default=list)
    against: Mapped[list[str]] = mapped_column(JSONList(), default=list)
    name_a: Mapped[str] = mapped_column(Text, default="")
    name_b: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[str] = mapped_column(String(40), default="")  # the scorer's (SCORER_VERSION)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CustomerBlockKey(Base):
    """A blocking key of a customer (``app.suggestions._block_keys``), looked up by key."""

    __tablename__ = "customer_block_key"
    __table_args__ = ({"sqlite_with_rowid": False},)

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


# Text that the database sorts as Python sorts ``str`` (by code point): SQLite's BINARY
# collation does (UTF-8 bytes), PostgreSQL's database collation may not, "C" does.
_CODE_POINT_TEXT = Text().with_variant(Text(collation="C"), "postgresql")


class SuggestionCustomer(Base):
    """A customer the suggestions know: its blocking keys, its three name orders and a
    digest of what the suggestions compare of it (a changed customer whose digest is the
    same needs no rescoring)."""

    __tablename__ = "suggestion_customer"
    # Each name order by an index, so that the catch-up reads a changed customer's
    # neighbours in it (``ORDER BY ... LIMIT``) instead of every customer's orders.
    __table_args__ = (
        Index("ix_suggestion_customer_order0", "order0", "customer_id"),
        Index("ix_suggestion_customer_order1", "order1", "customer_id"),
        Index("ix_suggestion_customer_order2", "order2", "customer_id"),
    )

    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    keys: Mapped[list[str]] = mapped_column(JSONList(), default=list)
    # The shown name, then the handles, each [text, family name, given names...]
    names: Mapped[list[str]] = mapped_column(JSONList(), default=list)
    order0: Mapped[str] = mapped_column(_CODE_POINT_TEXT, default="")
    order1: Mapped[str] = mapped_column(_CODE_POINT_TEXT, default="")
    order2: Mapped[str] = mapped_column(_CODE_POINT_TEXT, default="")
    digest: Mapped[str] = mapped_column(Text, default="", server_default="")
    # What the catch-up's bound reads of it (``suggestions.Features``): its row of the
    # pre-filter's columns, its name's four texts and its postcodes.
    features: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    sift: Mapped[str] = mapped_column(Text, default="", server_default="")
    postcodes: Mapped[str] = mapped_column(Text, default="", server_default="")


class SuggestionState(Base):
    """The stored suggestions' scorer version, the name and postcode frequencies they were
    scored with, and the mentions between customers (one row)."""

    __tablename__ = "suggestion_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[str] = mapped_column(String(40))
    customers: Mapped[int] = mapped_column(Integer)
    stats: Mapped[str] = mapped_column(Text)
    mentions: Mapped[str] = mapped_column(Text)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SuggestionDirty(Base):
    """A customer changed since the stored suggestions were brought up to date."""

    __tablename__ = "suggestion_dirty"

    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


from app import authors  # noqa: E402  (stamps the author of notes and changes as they are written)

authors.register(Note, AuditEntry, ImportRun)
