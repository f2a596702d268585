"""Identity resolution: contact points to customers, automatically and only on strong evidence.

Contact points are normalised (emails lower-cased with Gmail's dots and
``+tag`` kept as a match key, phones to E.164 with ``phonenumbers``, handles
scoped per platform). All contact points of one participant belong to one
person, so they end on one customer; when they were on two customers, those
are merged (the loser keeps a pointer to the survivor, the move is written to
the audit log and can be undone, see ``app.merges``).

Strong evidence is the same email, the same mobile number, the same platform
id or chat handle — each only while it is not seen with clearly different
names. A landline, or a contact point seen with clearly different names (a
family phone, an office ``info@``), is shared: it stays on every customer that
uses it and links nobody automatically; ``app.suggestions`` offers such pairs
for review. A name alone never links anyone, and the business's own
addresses, numbers and chat names belong to no customer.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session, make_transient_to_detached

from app import dialect, settings
from app.contact_points import is_placeholder_phone as is_placeholder_phone
from app.contact_points import normalize_email as normalize_email
from app.contact_points import normalize_phone as normalize_phone
from app.contact_points import phone_search_digits as phone_search_digits
from app.customer_events import customer_events as customer_events
from app.customer_stats import refresh_customer_stats as refresh_customer_stats
from app.lazy import LazyModule
from app.merges import merge_customers
from app.models import (
    AuditEntry,
    Base,
    Customer,
    CustomerIdentity,
    Event,
    EventParticipant,
    Identity,
    utcnow,
)
from app.names import clearly_different, family_names_match, given_names_match, parse_name

if TYPE_CHECKING:
    import phonenumbers

    from app.records import Participant
else:  # the numbering tables load when a number is first read (a search for a name needs none)
    phonenumbers = LazyModule("phonenumbers")

_GMAIL_DOMAINS = {"gmail.com", "googlemail.com"}


@dataclass(frozen=True)
class ContactKey:
    """A normalised contact point: what makes an identity unique."""

    kind: str  # email | phone | handle | platform_id
    platform: str
    value: str
    raw: str
    line_type: str = ""  # phones: mobile | fixed | other


def email_match_key(email: str) -> str:
    """A key under which provider-equivalent addresses meet (Gmail ignores dots, +tags)."""
    local, _, domain = email.partition("@")
    local = local.split("+", 1)[0]
    if domain in _GMAIL_DOMAINS:
        return local.replace(".", "") + "@gmail.com"
    return f"{local}@{domain}"


def phone_line_type(e164: str) -> str:
    """ "fixed" for numbers the tables know as landlines, "mobile" otherwise.

    Numbers that may be either (all of North America) count as mobile: their
    owners text from them.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "other"
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.FIXED_LINE:
        return "fixed"
    if kind in (
        phonenumbers.PhoneNumberType.TOLL_FREE,
        phonenumbers.PhoneNumberType.SHARED_COST,
        phonenumbers.PhoneNumberType.PREMIUM_RATE,
        phonenumbers.PhoneNumberType.UAN,
    ):
        return "other"
    return "mobile"


def normalize_handle(raw: str) -> str:
    """A chat handle compared without case or surrounding space."""
    return " ".join(raw.split()).casefold()


def contact_keys(participant: Participant, region: str) -> list[ContactKey]:
    """The normalised contact points a participant carries (names excluded)."""
    return list(
        _contact_keys(
            participant.email,
            participant.phone,
            participant.handle,
            participant.platform,
            participant.platform_id,
            region,
        )
    )


@functools.lru_cache(maxsize=8192)
def _contact_keys(
    email: str | None,
    phone: str | None,
    handle: str | None,
    platform: str,
    platform_id: str | None,
    region: str,
) -> tuple[ContactKey, ...]:
    """``contact_keys`` of these values, remembered: an import meets the same people (and
    the owner) again and again, and reading a phone number is costly."""
    keys: list[ContactKey] = []
    if email:
        address = normalize_email(email)
        if address:
            keys.append(ContactKey("email", "", address, email.strip()))
    if phone:
        number = normalize_phone(phone, region)
        if number:
            keys.append(ContactKey("phone", "", number, phone.strip(), phone_line_type(number)))
        elif not handle and not is_placeholder_phone(phone, region):
            # Not a dialable number (too short, mistyped): still a handle on its platform.
            normal = normalize_handle(phone)
            if normal:
                keys.append(ContactKey("handle", platform, normal, phone.strip()))
    if handle:
        normal = normalize_handle(handle)
        if normal:
            keys.append(ContactKey("handle", platform, normal, handle.strip()))
    if platform_id:
        keys.append(ContactKey("platform_id", platform, platform_id.strip(), platform_id.strip()))
    return tuple(keys)


@dataclass(frozen=True)
class OwnerSet:
    """The business's own contact points, normalised for comparison."""

    emails: frozenset[str]
    phones: frozenset[str]
    names: frozenset[str]

    def owns(self, key: ContactKey) -> bool:
        """True if ``key`` is one of the business's own contact points."""
        if key.kind == "email":
            return key.value in self.emails
        if key.kind == "phone":
            return key.value in self.phones
        if key.kind == "handle":
            return key.value in self.names
        return False

    @staticmethod
    def load(session: Session) -> OwnerSet:
        """The owner's contact points from the settings."""
        region = settings.get(session, "region")
        emails = {normalize_email(e) for e in settings.get_list(session, "owner_emails")}
        phones = {normalize_phone(p, region) for p in settings.get_list(session, "owner_phones")}
        names = {normalize_handle(n) for n in settings.get_list(session, "owner_names")}
        return OwnerSet(
            emails=frozenset(e for e in emails if e),
            phones=frozenset(p for p in phones if p),
            names=frozenset(n for n in names if n),
        )


def _search_digits(key: ContactKey) -> str:
    return "".join(ch for ch in key.value if ch.isdigit()) if key.kind == "phone" else ""


@functools.lru_cache(maxsize=8192)  # an import meets the same names again and again
def _looks_like_address(name: str) -> bool:
    return "@" in name or sum(ch.isdigit() for ch in name) >= 5


def _same_person_name(a: str, b: str) -> bool:
    pa, pb = parse_name(a), parse_name(b)
    if not (pa.family and pb.family):
        return False
    return given_names_match(pa.first, pb.first) and family_names_match(pa.family, pb.family)


def _other_given_name(seen: str, named: str) -> bool:
    """Whether two names give different given names (John and Mary Smith), not only
    another family name (a maiden name) or no given name at all ("Mum", "The Smiths")."""
    a, b = parse_name(seen), parse_name(named)
    if not (a.first and b.first and a.family and b.family):
        return False
    return not given_names_match(a.first, b.first)


def customers_of(session: Session, identity_id: int) -> list[int]:
    """The customers an identity belongs to (several only when it is shared)."""
    return list(
        session.scalars(
            select(CustomerIdentity.customer_id)
            .where(CustomerIdentity.identity_id == identity_id)
            .order_by(CustomerIdentity.customer_id)
        )
    )


def link(session: Session, identity_id: int, customer_id: int) -> None:
    """Put an identity on a customer (no-op if it is there already)."""
    if session.get(CustomerIdentity, (customer_id, identity_id)) is None:
        session.add(CustomerIdentity(customer_id=customer_id, identity_id=identity_id))
        session.flush()


def is_strong(identity: Identity) -> bool:
    """True if the identity may link events to a customer by itself."""
    if identity.is_own or identity.shared:
        return False
    return not (identity.kind == "phone" and identity.line_type == "fixed")


class _Ids:
    """Fresh ids of one table for rows a batch inserts in bulk with their ids given.

    SQLite: the ids past the highest stored one (the transaction holds the write lock),
    then past the last one taken; read again after every write, since anything the ORM
    inserts takes the next one too. A server: from the sequence one at a time, as the
    ORM would take them (a block would leave gaps, and the same import would number its
    customers differently on the two stores).
    """

    _BLOCK = 64  # SQLite: ids counted on without asking the database

    def __init__(self, session: Session, column: Any) -> None:
        self.session = session
        self.column = column
        self.server = session.get_bind().dialect.name != "sqlite"
        self._free: list[int] = []  # the next at the end
        self._last: int | None = None  # SQLite: the last taken and not written yet

    def take(self) -> int:
        if not self._free:
            if self._last is None or self.server:
                self._free = dialect.for_bind(self.session).new_ids(
                    self.session, self.column, 1 if self.server else self._BLOCK
                )
                self._free.reverse()
            else:  # the stored highest is still below the ids taken
                self._free = list(range(self._last + self._BLOCK, self._last, -1))
        taken = self._free.pop()
        self._last = taken
        return taken

    def written(self) -> None:
        """The rows with the ids taken so far are stored."""
        if not self.server:
            self._free.clear()
            self._last = None


_IDENTITY = cast(Table, Identity.__table__)
_CUSTOMER = cast(Table, Customer.__table__)
_LINK = cast(Table, CustomerIdentity.__table__)
_IDENTITY_COLUMNS = tuple(c.key for c in _IDENTITY.columns)
_CUSTOMER_COLUMNS = tuple(c.key for c in _CUSTOMER.columns)


class Resolver:
    """Links participants to identities and customers within one session.

    Keeps a cache of identities and their customers for the batch, so a large
    import does not query the same contact point again and again. The
    identities, customers and links it makes wait in memory, ids given, and are
    inserted together (``write``): before anything reads them from the database
    (a merge, the batch's events naming them), never one flush per row.
    """

    def __init__(self, session: Session, *, lists_apart: bool = True) -> None:
        self.session = session
        # A mailing list's own address (``Identity.is_list``) is linked to no customer
        # (unless the owner asked for automated senders to be customers).
        self.lists_apart = lists_apart
        self.region = settings.get(session, "region")
        self.owner = OwnerSet.load(session)
        self._cache: dict[tuple[str, str, str], Identity] = {}
        self._absent: set[tuple[str, str, str]] = set()  # not stored when prefetched
        # customers prefetched or made, by id (held: the session's map is weak)
        self._people: dict[int, Customer] = {}
        self._links: dict[int, list[int]] = {}
        self._named: set[int] = set()
        self.touched_customers: set[int] = set()
        self.changes = 0  # identities, links, merges, names and shared marks made so far
        # made here and not written yet (an identity not written has its links listed
        # in ``_links``, so nothing needs to read the database for them)
        self._new_identities: list[Identity] = []
        self._new_customers: list[Customer] = []
        self._new_links: list[dict[str, int]] = []
        self._new_mailboxes: dict[str, list[Identity]] = {}  # match key → new emails
        self._identity_ids = _Ids(session, Identity.id)
        self._customer_ids = _Ids(session, Customer.id)
        self._written: list[Base] = []  # rows written since ``savepoint``

    def savepoint(self) -> None:
        """A savepoint starts: ``forget`` drops what is written after this."""
        self._written.clear()

    def write(self) -> None:
        """Insert the identities, customers and links made since the last write (in bulk,
        with their ids given); afterwards they are ordinary rows of the session."""
        session = self.session
        store = dialect.for_bind(session)
        store.insert_rows(
            session,
            _CUSTOMER,
            [{k: getattr(c, k) for k in _CUSTOMER_COLUMNS} for c in self._new_customers],
        )
        store.insert_rows(
            session,
            _IDENTITY,
            [{k: getattr(i, k) for k in _IDENTITY_COLUMNS} for i in self._new_identities],
        )
        store.insert_rows(session, _LINK, self._new_links)
        for made in (*self._new_customers, *self._new_identities):
            # persistent from now on: what changes on them later is flushed as usual
            make_transient_to_detached(made)
            session.add(made)
            self._written.append(made)
        self._new_customers.clear()
        self._new_identities.clear()
        self._new_links.clear()
        self._new_mailboxes.clear()
        self._identity_ids.written()
        self._customer_ids.written()

    def forget(self) -> None:
        """Drop what was made and not written, and every cached row (after a savepoint
        was rolled back: what the cache holds may be gone, and the rows written since
        ``savepoint`` are, so their ids are free again)."""
        for made in self._written:
            if made in self.session:
                self.session.expunge(made)
        self._written.clear()
        self._cache.clear()
        self._absent.clear()
        self._people.clear()
        self._links.clear()
        self._named.clear()
        self._new_identities.clear()
        self._new_customers.clear()
        self._new_links.clear()
        self._new_mailboxes.clear()
        self._identity_ids = _Ids(self.session, Identity.id)
        self._customer_ids = _Ids(self.session, Customer.id)

    # --- cached lookups ---------------------------------------------------------------

    def _identity(self, key: ContactKey, name: str, source: str) -> tuple[Identity, bool]:
        cache_key = (key.kind, key.platform, key.value)
        identity = self._cache.get(cache_key)
        if identity is None and cache_key not in self._absent:
            identity = self.session.scalar(
                select(Identity).where(
                    Identity.kind == key.kind,
                    Identity.platform == key.platform,
                    Identity.value == key.value,
                )
            )
        created = identity is None
        if identity is None:
            identity = Identity(
                id=self._identity_ids.take(),
                kind=key.kind,
                platform=key.platform,
                value=key.value,
                raw=key.raw,
                match_key=email_match_key(key.value) if key.kind == "email" else key.value,
                search_digits=_search_digits(key),
                display_name=name,
                is_own=self.owner.owns(key),
                is_list=False,
                shared=False,
                line_type=key.line_type,
                first_seen_source=source,
            )
            self._new_identities.append(identity)
            self.changes += 1
            if identity.kind == "email":
                self._new_mailboxes.setdefault(identity.match_key, []).append(identity)
            self._links[identity.id] = []
        self._cache[cache_key] = identity
        return identity, created

    def prefetch(self, participants: Iterable[Participant]) -> None:
        """Load the stored identities of many participants, and their customers, in a few
        queries (a batch of an import), so ``resolve`` finds them in the cache."""
        wanted: dict[tuple[str, str, str], None] = {}
        for participant in participants:
            for key in contact_keys(participant, self.region):
                cache_key = (key.kind, key.platform, key.value)
                if cache_key not in self._cache:
                    wanted[cache_key] = None
        values = sorted({value for _kind, _platform, value in wanted})
        kinds = sorted({kind for kind, _platform, _value in wanted})
        platforms = sorted({platform for _kind, platform, _value in wanted})
        found: list[Identity] = []
        for start in range(0, len(values), 500):
            found.extend(
                self.session.scalars(
                    select(Identity).where(  # the (kind, platform, value) index, probed
                        Identity.kind.in_(kinds),
                        Identity.platform.in_(platforms),
                        Identity.value.in_(values[start : start + 500]),
                    )
                )
            )
        fresh = [i for i in found if (i.kind, i.platform, i.value) in wanted]
        self._absent.update(wanted)
        for identity in fresh:
            stored = (identity.kind, identity.platform, identity.value)
            self._cache[stored] = identity
            self._absent.discard(stored)
        ids = sorted(i.id for i in fresh if i.id not in self._links)
        links: dict[int, list[int]] = {i: [] for i in ids}
        for start in range(0, len(ids), 500):
            rows = self.session.execute(
                select(CustomerIdentity.identity_id, CustomerIdentity.customer_id)
                .where(CustomerIdentity.identity_id.in_(ids[start : start + 500]))
                .order_by(CustomerIdentity.identity_id, CustomerIdentity.customer_id)
            )
            for identity_id, customer_id in rows:
                links[identity_id].append(customer_id)
        self._links.update(links)
        customer_ids = sorted({c for found_ids in links.values() for c in found_ids})
        for start in range(0, len(customer_ids), 500):
            for customer in self.session.scalars(
                select(Customer).where(Customer.id.in_(customer_ids[start : start + 500]))
            ):
                self._people[customer.id] = customer

    def _customers(self, identity: Identity) -> list[int]:
        found = self._links.get(identity.id)
        if found is None:
            found = customers_of(self.session, identity.id)
            self._links[identity.id] = found
        return found

    def _link(self, identity: Identity, customer_id: int) -> None:
        current = self._customers(identity)
        if customer_id not in current:
            self._new_links.append({"customer_id": customer_id, "identity_id": identity.id})
            current.append(customer_id)
            self.changes += 1

    def _customer(self, customer_id: int) -> Customer | None:
        customer = self._people.get(customer_id)
        if customer is None:
            customer = self.session.get(Customer, customer_id)
            if customer is not None:
                self._people[customer_id] = customer
        return customer

    def _name_of(self, customer_id: int) -> str:
        customer = self._customer(customer_id)
        return customer.display_name if customer is not None else ""

    def _give_name(self, customer_id: int, name: str) -> None:
        customer = self._customer(customer_id)
        assert customer is not None
        if not customer.display_name:
            customer.display_name = name
            self.changes += 1
        self._named.add(customer_id)

    def _same_mailbox(self, identity: Identity) -> list[int]:
        """Customers of other spellings of the same mailbox (Gmail dots, +tags)."""
        if identity.kind != "email" or identity.match_key == identity.value:
            return []
        others = list(
            self.session.scalars(
                select(Identity).where(
                    Identity.kind == "email",
                    Identity.match_key == identity.match_key,
                    Identity.id != identity.id,
                )
            )
        )
        others.extend(  # made in this batch, not written yet
            other
            for other in self._new_mailboxes.get(identity.match_key, ())
            if other is not identity
        )
        found: list[int] = []
        for other in others:
            if is_strong(other):
                found.extend(self._customers(other))
        return found

    def mark_lists(self, addresses: Iterable[str], source: str) -> None:
        """Mark these addresses as mailing lists' own (a message's ``List-Post`` or
        ``List-Id``): from now on they are linked to no customer, and the customers they
        were linked to (by a message that had no list headers: the owner's sent copy of
        a post, a cross-post) lose them. The owner's own addresses (a support@ group) are
        left as they are."""
        for address in addresses:
            for key in _contact_keys(address, None, None, "", None, self.region):
                identity, _created = self._identity(key, "", source)
                if identity.is_own or identity.is_list:
                    continue
                identity.is_list = True
                held = list(self._customers(identity))
                if not held:
                    continue
                self._new_links = [
                    row for row in self._new_links if row["identity_id"] != identity.id
                ]
                self.session.execute(
                    delete(CustomerIdentity).where(CustomerIdentity.identity_id == identity.id)
                )
                self._links[identity.id] = []
                self.touched_customers.update(held)
                self.session.add(
                    AuditEntry(
                        action="list",
                        details={
                            "identity": identity.id,
                            "address": identity.value,
                            "customers": held,
                        },
                    )
                )

    # --- the rule ---------------------------------------------------------------------

    def resolve(
        self, participant: Participant, source: str, *, link: bool = True
    ) -> tuple[list[Identity], bool]:
        """The identities of ``participant`` and whether it is the business itself.

        With ``link`` (the default) the participant's identities are put on one
        customer — found through its strong identities, merged when they were
        on several customers whose names agree, or created. ``link=False`` is
        for automated senders, who are not customers.
        """
        return self.resolve_keys(
            contact_keys(participant, self.region), participant.name, source, link=link
        )

    def resolve_keys(
        self,
        keys: Sequence[ContactKey],
        name: str,
        source: str,
        *,
        link: bool = True,
        card: bool = False,
    ) -> tuple[list[Identity], bool]:
        """``resolve`` for these contact points of one person (``name`` as shown): an
        address book's card gives several email addresses and numbers at once. With
        ``card`` (the owner's own address book) another name than the one a contact point
        was seen with makes it shared only when the given names differ too (John's card
        and Mary's naming one family address): the owner names people as they like ("Mum",
        a maiden name), and the card says whose the points are; and a card that changes
        nothing leaves its customer untouched (no figure of it to recount)."""
        changes = self.changes
        name = name.strip()
        real_name = name if name and not _looks_like_address(name) else ""
        found = [self._identity(key, real_name, source) for key in keys]
        identities = [identity for identity, _created in found]
        if any(identity.is_own for identity in identities):
            return identities, True
        if self.lists_apart and any(identity.is_list for identity in identities):
            link = False  # a list's own address: every message to the list names it
        if not link or not identities:
            return identities, False
        renamed: set[int] = set()
        for identity, created in found:
            if created or not real_name:
                continue
            if not identity.display_name:
                identity.display_name = real_name
                renamed.add(identity.id)
                self.changes += 1
            elif (
                not identity.shared
                and clearly_different(identity.display_name, real_name)
                and (not card or _other_given_name(identity.display_name, real_name))
            ):
                identity.shared = True
                self.changes += 1
                self.session.add(
                    AuditEntry(
                        action="shared",
                        details={
                            "identity": identity.id,
                            "names": [identity.display_name, real_name],
                        },
                    )
                )
        candidates: list[int] = []
        for identity in identities:
            if is_strong(identity):
                candidates.extend(self._customers(identity))
                candidates.extend(self._same_mailbox(identity))
        candidates = sorted(set(candidates))
        if real_name and len(candidates) > 1:
            # Records that tie customers with clearly different names together
            # (a parent ordering with a child's email) do not merge them.
            agreeing = [c for c in candidates if not clearly_different(self._name_of(c), real_name)]
            candidates = agreeing or candidates[:1]
        if not candidates and parse_name(real_name).family:
            # Weak contact points (a landline, a shared address) find the customer
            # only together with a matching full name, and only when exactly one fits.
            weak = {
                c
                for identity in identities
                if not is_strong(identity) and not identity.is_own
                for c in self._customers(identity)
                if _same_person_name(self._name_of(c), real_name)
            }
            candidates = sorted(weak) if len(weak) == 1 else []
        elif not candidates and not real_name:
            # A landline that no one else has used (a chat known only by its number):
            # its one customer is who wrote, not a new customer per message.
            sole = {
                c
                for identity in identities
                if not is_strong(identity) and not identity.is_own and not identity.shared
                for c in self._customers(identity)
                if len(self._customers(identity)) == 1
            }
            candidates = sorted(sole) if len(sole) == 1 else []
        if candidates:
            survivor_id = candidates[0]
            for other in candidates[1:]:
                if not clearly_different(self._name_of(survivor_id), self._name_of(other)):
                    reason = ", ".join(
                        f"same {i.kind.replace('_', ' ')} {i.value}"
                        for i in identities
                        if is_strong(i) and other in self._customers(i)
                    )
                    self.write()  # the merge reads and moves the links from the database
                    merge_customers(
                        self.session,
                        survivor_id,
                        other,
                        reason=reason or "same person",
                        auto=True,
                        recount=False,  # recounted with the others the import touched
                    )
                    self.touched_customers.add(other)
                    self._links.clear()
                    self.changes += 1
        else:
            customer = Customer(
                id=self._customer_ids.take(),
                display_name=real_name,
                merged_into_id=None,
                created_at=utcnow(),
                event_count=0,
                first_seen=None,
                last_seen=None,
                profile={},
            )
            self._new_customers.append(customer)
            survivor_id = customer.id
            self._people[survivor_id] = customer
            self.session.add(
                AuditEntry(
                    action="create",
                    details={"customer": survivor_id, "identities": [i.id for i in identities]},
                )
            )
        for identity in identities:
            if identity.shared or not self._customers(identity) or not is_strong(identity):
                self._link(identity, survivor_id)
                if len(self._customers(identity)) > 1 and not identity.shared:
                    identity.shared = True  # a landline used by two people
                    self.changes += 1
        if real_name and survivor_id not in self._named:
            self._give_name(survivor_id, real_name)
        if not card or self.changes > changes:  # (a card known already changes no figure)
            self.touched_customers.add(survivor_id)
        for identity in identities:
            # The event reaches every customer that holds one of its contact points (a
            # shared landline, an office address), and a contact point that became shared
            # or got its first name changes what each holder's profile shows: all of them
            # are touched, not only the one the record resolved to.
            if identity.shared or identity.id in renamed:
                self.touched_customers.update(self._customers(identity))
        return identities, False


def configure(session: Session, key: str, value: str) -> str:
    """Store setting ``key`` and make it take effect at once; returns the stored value.

    The owner's addresses and the region re-mark own identities (their customers
    lose them, directions and profiles are refreshed); turning automated senders
    on gives them customers. ``threadline config`` and the settings window both
    come through here.

    Raises:
        UserFacingError: unknown key or invalid value.
    """
    stored = settings.set_value(session, key, value)
    if key in settings.OWNER_KEYS or key == "region":
        apply_owner_settings(session)
    if key == "automated_customers" and stored == "yes":
        link_unlinked(session)
    return stored


def apply_owner_settings(session: Session) -> int:
    """Re-mark identities and directions after the owner's contact points changed.

    Own identities leave their customers; events sent from them become
    outbound, events no longer sent by the owner become inbound again.

    Returns:
        How many identities changed their "own" mark.
    """
    owner = OwnerSet.load(session)
    changed = 0
    touched: set[int] = set()
    freed: list[Identity] = []
    flipped: list[int] = []
    for identity in session.scalars(select(Identity)):
        key = ContactKey(identity.kind, identity.platform, identity.value, identity.raw)
        own = owner.owns(key)
        if own == identity.is_own:
            continue
        changed += 1
        flipped.append(identity.id)
        identity.is_own = own
        if own:
            touched.update(customers_of(session, identity.id))
            session.execute(
                delete(CustomerIdentity).where(CustomerIdentity.identity_id == identity.id)
            )
        else:
            freed.append(identity)
    session.flush()
    # A contact point that is no longer the owner's becomes a customer of its own (a
    # mailing list's only if automated senders are customers).
    lists_apart = settings.get(session, "automated_customers") != "yes"
    for identity in freed:
        if identity.is_list and lists_apart:
            continue
        customer = Customer(display_name=identity.display_name)
        session.add(customer)
        session.flush()
        link(session, identity.id, customer.id)
        touched.add(customer.id)
    refresh_directions(session)
    if flipped:  # whoever those senders wrote to now has a reply, or a question, more or less
        sent = select(EventParticipant.event_id).where(
            EventParticipant.identity_id.in_(flipped),
            EventParticipant.role.in_(("from", "author")),
        )
        touched.update(
            session.scalars(
                select(CustomerIdentity.customer_id)
                .join(
                    EventParticipant, EventParticipant.identity_id == CustomerIdentity.identity_id
                )
                .where(EventParticipant.event_id.in_(sent))
                .distinct()
            )
        )
    refresh_customer_stats(session, touched)
    return changed


def refresh_directions(session: Session, event_ids: Iterable[int] | None = None) -> None:
    """Set inbound/outbound on events from whether their sender is the owner.

    System events keep their direction, and so do events without a sender: the source
    said whose side they are (Outlook's own mail, kept without an email address).
    """
    senders = select(EventParticipant.event_id).where(EventParticipant.role.in_(("from", "author")))
    own_sent = senders.join(Identity, Identity.id == EventParticipant.identity_id).where(
        Identity.is_own.is_(True)
    )
    base = update(Event).where(Event.direction != "system")
    if event_ids is not None:
        ids = list(event_ids)
        base = base.where(Event.id.in_(ids))
    session.execute(
        base.where(Event.id.in_(own_sent)).values(direction="outbound"),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        base.where(Event.id.not_in(own_sent), Event.id.in_(senders)).values(direction="inbound"),
        execution_options={"synchronize_session": False},
    )


def link_unlinked(session: Session) -> int:
    """Give every contact point that belongs to nobody (automated senders) a customer.

    Used when the user asks for automated senders to be customers after they
    were imported. Returns how many customers were made.
    """
    linked = select(CustomerIdentity.identity_id)
    orphans = session.scalars(
        select(Identity).where(Identity.is_own.is_(False), Identity.id.not_in(linked))
    ).all()
    made: list[int] = []
    for identity in orphans:
        customer = Customer(display_name=identity.display_name)
        session.add(customer)
        session.flush()
        link(session, identity.id, customer.id)
        made.append(customer.id)
    refresh_customer_stats(session, made)
    return len(made)
