"""Merge suggestions: pairs of customers that may be one person, scored, with reasons in words.

Automatic links happen only on strong evidence (``app.identity``). Everything
weaker becomes a suggestion that the user accepts or rejects: similar names
(``rapidfuzz``, nicknames, initials, swapped order), the same postcode, phone
numbers that end alike, an email local part that spells the other's name, a
contact point both use but seen with different names. Candidate pairs come
from blocking keys, so the cost grows near-linearly with the number of
customers; a rejected pair is never suggested again.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.merges import rejected_pairs
from app.models import Customer, CustomerIdentity, Event, EventParticipant, Identity
from app.names import (
    PersonName,
    canonical_given,
    family_names_match,
    fold,
    given_names_match,
    nickname_of,
    parse_name,
    similarity,
)

MAX_BLOCK = 60  # a blocking key shared by more customers says nothing
DEFAULT_MIN_SCORE = 0.5


@dataclass(frozen=True)
class Suggestion:
    """Two customers that may be one person."""

    customer_a: int
    customer_b: int
    score: float
    reasons: tuple[str, ...]
    name_a: str = ""
    name_b: str = ""

    def as_json(self) -> dict[str, Any]:
        """The CLI's JSON shape."""
        return {
            "customer_a": self.customer_a,
            "customer_b": self.customer_b,
            "score": round(self.score, 3),
            "reasons": list(self.reasons),
            "name_a": self.name_a,
            "name_b": self.name_b,
        }


@dataclass
class _Profile:
    id: int
    name: str
    parsed: PersonName
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    handles: set[str] = field(default_factory=set)
    shared: dict[int, str] = field(default_factory=dict)  # identity id → value
    postcodes: set[str] = field(default_factory=set)
    mobiles: set[str] = field(default_factory=set)
    names: list[PersonName] | None = None
    own_spelling: float | None = None


def _postcode(value: Any) -> str:
    text = re.sub(r"[^0-9A-Za-z]", "", str(value or "")).upper()
    return text if len(text) >= 3 else ""


def _profiles(session: Session, only: Iterable[int] | None = None) -> dict[int, _Profile]:
    stmt = select(Customer.id, Customer.display_name).where(Customer.merged_into_id.is_(None))
    if only is not None:
        stmt = stmt.where(Customer.id.in_(list(only)))
    profiles = {
        cid: _Profile(cid, name or "", parse_name(name or ""))
        for cid, name in session.execute(stmt)
    }
    rows = session.execute(
        select(
            CustomerIdentity.customer_id,
            Identity.id,
            Identity.kind,
            Identity.value,
            Identity.shared,
            Identity.display_name,
            Identity.line_type,
        ).join(Identity, Identity.id == CustomerIdentity.identity_id)
    )
    for cid, iid, kind, value, shared, display, line_type in rows:
        profile = profiles.get(cid)
        if profile is None:
            continue
        if shared:
            profile.shared[iid] = value
        if kind == "email":
            profile.emails.add(value)
        elif kind == "phone":
            profile.phones.add(value)
            if line_type == "mobile" and not shared:
                profile.mobiles.add(value)
        elif kind == "handle":
            profile.handles.add(value)
        if not profile.parsed.tokens and display:
            profile.name, profile.parsed = display, parse_name(display)
    if session.get_bind().dialect.name == "sqlite":
        zips = session.execute(
            select(
                CustomerIdentity.customer_id,
                func.json_extract(Event.details, "$.billing.zip"),
                func.json_extract(Event.details, "$.shipping.zip"),
            )
            .join(EventParticipant, EventParticipant.identity_id == CustomerIdentity.identity_id)
            .join(Event, Event.id == EventParticipant.event_id)
            .where(Event.channel == "order")
        )
        for cid, billing, shipping in zips:
            profile = profiles.get(cid)
            if profile is not None:
                profile.postcodes.update(p for p in (_postcode(billing), _postcode(shipping)) if p)
    return {cid: p for cid, p in profiles.items() if p.emails or p.phones or p.handles}


def _name_keys(name: PersonName) -> set[str]:
    keys: set[str] = set()
    if name.family and name.first:
        keys.add(f"n:{name.family}:{name.first[0]}")
        keys.update(f"cn:{name.family}:{c}" for c in canonical_given(name.first))
        keys.add(f"n3:{name.family[:3]}:{name.first[:2]}")
        keys.add(f"sw:{name.first}:{name.family[0]}")  # swapped order / surname typos
        keys.add(f"sp:{name.first}{name.family}")
        keys.add(f"sp:{name.first[0]}{name.family}")
        keys.add(f"sp:{name.family}{name.first}")
    elif name.first:
        keys.add(f"sp:{name.first}")
    return keys


@lru_cache(maxsize=262144)
def _local_key(email: str) -> str:
    local = fold(email.split("@", 1)[0].split("+", 1)[0])
    return "sp:" + re.sub(r"[^a-z]", "", local)


def _block_keys(profile: _Profile) -> set[str]:
    keys = _name_keys(profile.parsed)
    for handle in profile.handles:
        keys |= _name_keys(parse_name(handle))
    keys.update(_local_key(email) for email in profile.emails)
    keys.update(f"ph:{phone[-7:]}" for phone in profile.phones if len(phone) >= 8)
    keys.update(f"pc:{postcode}" for postcode in profile.postcodes)
    keys.update(f"sh:{iid}" for iid in profile.shared)
    return {key for key in keys if len(key) > 4}


def _names_of(profile: _Profile) -> list[PersonName]:
    if profile.names is None:
        names = [profile.parsed] if profile.parsed.tokens else []
        names.extend(parse_name(h) for h in profile.handles)
        profile.names = [n for n in names if n.tokens]
    return profile.names


def _email_spells(email: str, name: PersonName) -> float:
    """How much an address's local part spells a name: 1 for first+last, 0.4 for initials."""
    if not name.first or not name.family:
        return 0.0
    local = _local_key(email)[3:]
    if len(local) < 4:
        return 0.0
    family = re.sub(r"[^a-z]", "", name.family)
    first = re.sub(r"[^a-z]", "", name.first)
    if local in {first + family, family + first}:
        return 1.0
    if local in {first[:1] + family, family + first[:1], first + family[:1]}:
        return 0.4
    return 0.0


def _own_spelling(profile: _Profile) -> float:
    if profile.own_spelling is None:
        profile.own_spelling = max(
            (_email_spells(e, n) for e in profile.emails for n in _names_of(profile)),
            default=0.0,
        )
    return profile.own_spelling


def score_pair(
    a: _Profile,
    b: _Profile,
    name_counts: Counter[str] | None = None,
    family_counts: Counter[str] | None = None,
) -> tuple[float, list[str]]:
    """How likely two customers are one person (0–1), and why, in words.

    Names alone score below the default threshold unless the name is rare
    among the customers; other evidence (postcode, phone digits, an email that
    spells the name, a contact point both use) lifts a pair. Clearly different
    given names, or two different mobile numbers, count against it, and a pair
    whose names conflict never scores above 0.35: it is listed so the conflict
    is seen, not so it is merged.
    """
    reasons: list[str] = []
    score = 0.0
    shared = set(a.shared) & set(b.shared)
    if shared:
        value = a.shared[min(shared)]
        reasons.append(f"both use {value}, seen with different names")
        score += 0.1
    best_name = 0.0
    name_reason = ""
    same_full = ""
    conflict = False
    for na in _names_of(a):
        for nb in _names_of(b):
            if na.full == nb.full and na.family:
                best_name, name_reason, same_full = 0.5, f"same name {na.full.title()}", na.full
                continue
            if na.family and nb.family:
                given_ok = given_names_match(na.first, nb.first)
                family_ok = family_names_match(na.family, nb.family)
                swapped = na.first == nb.family and na.family == nb.first
                if swapped and best_name < 0.45:
                    best_name, name_reason = 0.45, "same name in swapped order"
                elif given_ok and family_ok:
                    initial_only = min(len(na.first), len(nb.first)) == 1
                    strength = 0.3 if initial_only else 0.3 + 0.15 * similarity(na.full, nb.full)
                    if family_counts is not None and family_counts.get(na.family, 0) >= 15:
                        strength -= 0.1
                    if strength > best_name:
                        detail = []
                        if na.first != nb.first:
                            kind = "nickname" if nickname_of(na.first, nb.first) else "first names"
                            detail.append(f"{kind} {na.first.title()}/{nb.first.title()}")
                        if na.family != nb.family:
                            detail.append(f"surnames {na.family.title()}/{nb.family.title()}")
                        best_name = strength
                        name_reason = "similar names" + (
                            f" ({'; '.join(detail)})" if detail else ""
                        )
                elif family_ok and not given_ok:
                    conflict = True
                    if best_name < 0.05:
                        best_name, name_reason = 0.05, f"same surname {na.family.title()}"
                else:
                    conflict = True
            elif not na.family and not nb.family and na.first == nb.first and best_name < 0.2:
                best_name, name_reason = 0.2, f"same first name {na.first.title()}"
    if best_name >= 0.3:
        conflict = False
    if best_name > 0:
        score += best_name
        reasons.append(name_reason)
    if same_full and name_counts is not None:
        holders = name_counts.get(same_full, 0)
        if holders <= 2:
            score += 0.15
            reasons.append("no other customer has this name")
        elif holders == 3:
            score -= 0.1
            reasons.append("3 customers have this name")
        elif holders >= 4:
            score -= 0.2 if holders < 10 else 0.35
            reasons.append(f"{holders} customers have this name")
    postcodes = a.postcodes & b.postcodes
    if postcodes:
        score += 0.2
        reasons.append(f"same postcode {min(postcodes)}")
    tails_a = {p[-7:] for p in a.phones if len(p) >= 8}
    tails_b = {p[-7:] for p in b.phones if len(p) >= 8}
    if tails_a & tails_b and not (a.phones & b.phones):
        score += 0.35
        reasons.append(f"phone numbers end alike (…{min(tails_a & tails_b)})")
    spelled: tuple[float, str, str] = (0.0, "", "")
    for x, y in ((a, b), (b, a)):
        for e in sorted(x.emails):
            strength = max((_email_spells(e, n) for n in _names_of(y)), default=0.0)
            if strength > spelled[0]:
                spelled = (strength, e, y.name)
    own_a = _own_spelling(a)
    own_b = _own_spelling(b)
    if own_a >= 1.0 and own_b >= 1.0 and not (a.emails & b.emails):
        # Each has a personal address in that name: two people, or one with two
        # accounts; the addresses are no evidence either way.
        score -= 0.2
        reasons.append("each has their own address in that name")
    elif spelled[0]:
        score += 0.25 * spelled[0]
        reasons.append(f"email {spelled[1]} spells the name {spelled[2]}")
    if a.mobiles and b.mobiles and not (a.mobiles & b.mobiles) and not (tails_a & tails_b):
        score -= 0.25
        reasons.append("different mobile numbers")
    if conflict:
        score = min(score, 0.35)
        reasons.append("names differ")
    return max(0.0, min(1.0, score)), reasons


def suggestions(
    session: Session,
    *,
    min_score: float = DEFAULT_MIN_SCORE,
    limit: int | None = None,
    customer_id: int | None = None,
) -> list[Suggestion]:
    """Scored candidate pairs, best first, without rejected pairs.

    Args:
        session: an open session.
        min_score: leave out pairs below this score.
        limit: at most this many.
        customer_id: only pairs involving this customer.
    """
    profiles = _profiles(session)
    name_counts: Counter[str] = Counter(p.parsed.full for p in profiles.values() if p.parsed.family)
    family_counts: Counter[str] = Counter(
        p.parsed.family for p in profiles.values() if p.parsed.family
    )
    blocks: dict[str, list[int]] = defaultdict(list)
    for profile in profiles.values():
        for key in _block_keys(profile):
            blocks[key].append(profile.id)
    rejected = rejected_pairs(session)
    seen: set[tuple[int, int]] = set()
    found: list[Suggestion] = []
    for members in blocks.values():
        if len(members) < 2 or len(members) > MAX_BLOCK:
            continue
        for x, y in combinations(sorted(set(members)), 2):
            if (x, y) in seen or (x, y) in rejected:
                continue
            if customer_id is not None and customer_id not in (x, y):
                continue
            seen.add((x, y))
            score, reasons = score_pair(profiles[x], profiles[y], name_counts, family_counts)
            if score >= min_score and reasons:
                found.append(
                    Suggestion(x, y, score, tuple(reasons), profiles[x].name, profiles[y].name)
                )
    found.sort(key=lambda s: (-s.score, s.customer_a, s.customer_b))
    return found[:limit] if limit is not None else found
