"""Merge, split, reject and undo in any order keep the database consistent.

A hypothesis state machine runs random sequences of merges, splits, rejections
and undos (the latest, or any change at all, which must then be undone exactly
or refused naming a later change that depends on it) over a small database,
and after every step checks it against a from-scratch recount and a plain
Python model of who holds which contact point.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import select

from app import merges
from app.db import Database, open_database
from app.errors import NotFoundError, UserFacingError
from app.ingest import import_items
from app.models import (
    AuditEntry,
    Customer,
    CustomerIdentity,
    Event,
    EventParticipant,
    Identity,
    Note,
)
from app.notes import add_note
from app.records import EventRecord, Participant

T0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)

# Five people with clearly different names (nothing merges by itself), one or two
# contact points each, and events that involve one or two of them.
PEOPLE = [
    ("Ann Lee", "ann@example.com", "+44 7700 900001"),
    ("Ben Okafor", "ben@example.com", None),
    ("Cat Novak", "cat@example.com", "+44 7700 900003"),
    ("Dev Patel", "dev@example.com", None),
    ("Eve Moreau", "eve@example.com", "+44 7700 900005"),
]

_template: Path | None = None


def _records() -> list[EventRecord]:
    out: list[EventRecord] = []
    n = 0
    for i, (name, email, phone) in enumerate(PEOPLE):
        for k in range(i + 1):
            n += 1
            # the first message carries the number too: address and number on one customer
            people = [Participant("from", name, email=email, phone=phone if k == 0 else None)]
            if k == 1:  # someone else on copy: one event on two customers
                other = PEOPLE[(i + 1) % len(PEOPLE)]
                people.append(Participant("cc", other[0], email=other[1]))
            out.append(
                EventRecord(
                    channel="email",
                    source="email",
                    external_id=f"<m{n}@example.com>",
                    occurred_at=T0 + timedelta(hours=n),
                    title=f"message {n}",
                    text="hello",
                    participants=tuple(people),
                )
            )
        if phone:
            n += 1
            out.append(
                EventRecord(
                    channel="chat",
                    source="whatsapp",
                    external_id=f"chat{n}",
                    occurred_at=T0 + timedelta(hours=n),
                    title="",
                    text="hi",
                    participants=(Participant("author", name, phone=phone, platform="whatsapp"),),
                )
            )
    return out


def _template_db() -> Path:
    """A database with the five people in it, built once and copied per example."""
    global _template
    if _template is None:
        folder = Path(tempfile.mkdtemp(prefix="undo-template-"))
        db = open_database(folder / "t.db")
        records = _records()
        import_items(db, lambda: records, label="t", format="t")
        with db.session() as s:
            # A family landline seen with two customers: shared, on both.
            ann, ben = (
                s.scalars(
                    select(Customer.id).where(Customer.display_name == n).order_by(Customer.id)
                ).first()
                for n in ("Ann Lee", "Ben Okafor")
            )
            landline = Identity(kind="phone", value="+441632960000", shared=True, line_type="fixed")
            s.add(landline)
            s.flush()
            s.add_all(CustomerIdentity(customer_id=c, identity_id=landline.id) for c in (ann, ben))
        db.dispose()
        _template = folder / "t.db"
    return _template


Holdings = dict[int, frozenset[int]]  # live customer -> its identities


def _holdings(db: Database) -> Holdings:
    with db.session() as s:
        live = s.scalars(select(Customer.id).where(Customer.merged_into_id.is_(None))).all()
        out: dict[int, set[int]] = {c: set() for c in live}
        for cid, iid in s.execute(
            select(CustomerIdentity.customer_id, CustomerIdentity.identity_id)
        ):
            assert cid in out, f"identity {iid} sits on merged customer {cid}"
            out[cid].add(iid)
    return {c: frozenset(ids) for c, ids in out.items()}


@dataclass
class Move:
    """What the model knows of one merge or split: enough to reverse it by hand."""

    kind: str  # merge | split
    customers: set[int]  # merge: survivor, merged; split: from, to
    identities: set[int]  # the contact points it moved
    first: int  # survivor / from
    second: int  # merged / to
    kept: set[int] = field(default_factory=set)  # moved ones the receiver had already
    notes: set[int] = field(default_factory=set)  # the notes a merge moved
    created: bool = False  # a split into a new customer


class UndoMachine(RuleBasedStateMachine):
    """Random merges, splits, rejections, imports, notes and undos against a model."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="undo-"))
        shutil.copy(_template_db(), self.folder / "t.db")
        self.db = open_database(self.folder / "t.db")
        self.model: Holdings = _holdings(self.db)
        self.initial = dict(self.model)
        self.shared = {i for ids in self.model.values() for i in ids if self._holders(i) > 1}
        with self.db.session() as s:
            self.emails: dict[int, str] = {
                iid: value
                for iid, value in s.execute(
                    select(Identity.id, Identity.value).where(Identity.kind == "email")
                )
            }
        self.notes: dict[int, int] = {}  # note id -> customer
        self.changes: dict[int, Move] = {}
        self.rejects: set[int] = set()
        self.active: list[int] = []  # undoable change ids not undone, oldest first
        self.imported = 0

    def _holders(self, identity_id: int) -> int:
        return sum(identity_id in ids for ids in self.model.values())

    def teardown(self) -> None:
        self.db.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- rules --------------------------------------------------------------------------

    @rule(a=st.integers(0, 20), b=st.integers(0, 20))
    def merge(self, a: int, b: int) -> None:
        live = sorted(self.model)
        survivor, other = live[a % len(live)], live[b % len(live)]
        if survivor == other:
            return
        with self.db.session() as s:
            change = merges.merge_customers(s, survivor, other, reason="test")
        moved = set(self.model[other])
        notes = {n for n, c in self.notes.items() if c == other}
        self.changes[change] = Move(
            "merge",
            {survivor, other},
            moved,
            survivor,
            other,
            kept=moved & self.model[survivor],
            notes=notes,
        )
        self.model[survivor] = self.model[survivor] | moved
        del self.model[other]
        self.notes.update(dict.fromkeys(notes, survivor))
        self.active.append(change)

    @rule(data=st.data())
    def split(self, data: st.DataObject) -> None:
        live = sorted(self.model)
        splittable = [c for c in live if len(self.model[c]) > 1]
        if not splittable:
            return
        source = data.draw(st.sampled_from(splittable))
        mine = sorted(self.model[source])
        ids = set(data.draw(st.lists(st.sampled_from(mine), min_size=1, max_size=len(mine) - 1)))
        into = data.draw(st.sampled_from([None, *[c for c in live if c != source]]))
        with self.db.session() as s:
            target, change = merges.split_customer(s, source, sorted(ids), into=into)
        kept = ids & self.model.get(target, frozenset())
        self.changes[change] = Move(
            "split", {source, target}, ids, source, target, kept=kept, created=into is None
        )
        self.model[source] = self.model[source] - ids
        self.model[target] = self.model.get(target, frozenset()) | ids
        self.active.append(change)

    @rule(a=st.integers(0, 20), b=st.integers(0, 20))
    def reject(self, a: int, b: int) -> None:
        live = sorted(self.model)
        x, y = live[a % len(live)], live[b % len(live)]
        if x == y:
            return
        with self.db.session() as s:
            last = s.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1))
            merges.reject(s, x, y)
            entry = s.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1))
        if entry != last:
            self.rejects.add(entry)
            self.active.append(entry)

    @rule(data=st.data())
    def import_new_number(self, data: st.DataObject) -> None:
        """A later import links a new mobile number to whoever has the address (no audit)."""
        # Mostly an address that a split still in place moved to a new customer: the
        # case undo must mind (the number lands on a customer that undo takes away).
        moved = {
            i
            for c in self.active
            if c in self.changes and self.changes[c].created
            for i in self.changes[c].identities
        }
        email_id = data.draw(st.sampled_from(sorted(moved & set(self.emails) or self.emails)))
        (holder,) = [c for c, ids in self.model.items() if email_id in ids]
        self.imported += 1
        phone = f"+44 7700 9001{self.imported:02d}"
        record = EventRecord(
            channel="email",
            source="email",
            external_id=f"<new{self.imported}@example.com>",
            occurred_at=T0 + timedelta(days=30, hours=self.imported),
            title="new",
            text="hello again",
            participants=(Participant("from", "", email=self.emails[email_id], phone=phone),),
        )
        import_items(self.db, lambda: [record], label="new", format="t")
        with self.db.session() as s:
            new = s.scalars(select(Identity.id).where(Identity.kind == "phone")).all()
        (added,) = set(new) - set().union(*self.model.values())
        self.model[holder] = self.model[holder] | {added}

    @rule(data=st.data())
    def note(self, data: st.DataObject) -> None:
        customer = data.draw(st.sampled_from(sorted(self.model)))
        with self.db.session() as s:
            self.notes[add_note(s, customer, "a note", author="t").id] = customer

    def _apply_undo(self, change: int) -> None:
        self.active.remove(change)
        if change in self.rejects:
            return
        m = self.changes[change]
        if m.kind == "merge":
            self.model[m.first] = self.model[m.first] - (m.identities - m.kept)
            self.model[m.second] = frozenset(m.identities)
            self.notes.update(dict.fromkeys(m.notes, m.second))
            return
        self.model[m.second] = self.model[m.second] - (m.identities - m.kept)
        self.model[m.first] = self.model[m.first] | m.identities
        if m.created:  # the customer the split made is gone again, and what reached it
            self.model[m.first] = self.model[m.first] | self.model.pop(m.second)
            self.notes.update({n: m.first for n, c in self.notes.items() if c == m.second})

    @rule()
    def undo_latest(self) -> None:
        with self.db.session() as s:
            try:
                change = merges.undo(s)
            except NotFoundError:
                assert not self.active
                return
        assert change.id == self.active[-1]
        self._apply_undo(change.id)

    @precondition(lambda self: bool(self.active))
    @rule(data=st.data())
    def undo_any(self, data: st.DataObject) -> None:
        change = data.draw(st.sampled_from(self.active))
        dependents = self._dependents(change)
        before = _holdings(self.db)
        try:
            with self.db.session() as s:
                merges.undo(s, change)
        except UserFacingError as exc:
            message = str(exc)
            assert "\n" not in message
            found = re.fullmatch(
                rf"cannot undo change {change}: change (\d+) \(.+\) depends on it; "
                r"undo \1 first",
                message,
            )
            assert found, message
            assert int(found.group(1)) in dependents
            assert _holdings(self.db) == before  # a refusal changes nothing
            return
        assert not dependents, f"undid {change} although {dependents} depend on it"
        self._apply_undo(change)

    def _dependents(self, change: int) -> list[int]:
        if change in self.rejects:
            return []
        customers, ids = set(self.changes[change].customers), set(self.changes[change].identities)
        found: list[int] = []
        for later in self.active:
            if later <= change or later in self.rejects:
                continue
            c, i = self.changes[later].customers, self.changes[later].identities
            if c & customers or i & ids:
                found.append(later)
                customers |= c
                ids |= i
        return found

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def matches_the_model(self) -> None:
        assert _holdings(self.db) == self.model

    @invariant()
    def no_identity_lost_or_doubled(self) -> None:
        for ids in self.model.values():
            for iid in ids:
                holders = self._holders(iid)
                assert holders == 1 or iid in self.shared, f"identity {iid} on {holders}"
        every = set().union(*self.initial.values())
        now = set().union(*self.model.values())
        assert now >= every and len(now - every) == self.imported

    @invariant()
    def notes_are_where_the_model_says(self) -> None:
        with self.db.session() as s:
            assert {n: c for n, c in s.execute(select(Note.id, Note.customer_id))} == self.notes
        assert set(self.notes.values()) <= set(self.model)  # never on a merged customer

    @invariant()
    def figures_match_a_recount(self) -> None:
        with self.db.session() as s:
            when = {eid: at for eid, at in s.execute(select(Event.id, Event.occurred_at))}
            by_identity: dict[int, set[int]] = {}
            for eid, iid in s.execute(
                select(EventParticipant.event_id, EventParticipant.identity_id)
            ):
                by_identity.setdefault(iid, set()).add(eid)
            for customer in s.scalars(select(Customer)):
                if customer.merged_into_id is not None:
                    seen: set[int] = set()
                    current: Any = customer
                    while current.merged_into_id is not None:  # ends at a live customer
                        assert current.id not in seen, "merge pointers go round in a circle"
                        seen.add(current.id)
                        current = s.get(Customer, current.merged_into_id)
                        assert current is not None
                    continue
                events = set().union(*(by_identity.get(i, set()) for i in self.model[customer.id]))
                assert customer.event_count == len(events), customer.display_name
                times = sorted(when[e] for e in events)
                assert customer.first_seen == (times[0] if times else None)
                assert customer.last_seen == (times[-1] if times else None)

    @invariant()
    def everything_undone_is_the_start(self) -> None:
        if not self.active:  # only the imported numbers are new, on their address's owner
            assert set(self.model) == set(self.initial)
            every = set().union(*self.initial.values())
            assert {c: ids & every for c, ids in self.model.items()} == self.initial


def _undo_everything(machine: UndoMachine) -> None:
    while machine.active:
        machine.undo_latest()
    every = set().union(*machine.initial.values())
    assert {c: ids & every for c, ids in _holdings(machine.db).items()} == machine.initial
    with machine.db.session() as s:
        assert merges.rejected_pairs(s) == set()


class UndoAllMachine(UndoMachine):
    """The same, and at the end the whole history undone, latest first."""

    def teardown(self) -> None:
        try:
            _undo_everything(self)
        finally:
            super().teardown()


# 25 random histories of up to 20 steps (slow: each step is a real merge, split, import or
# undo, then five checks). With the CI profile's fixed seed, 25 reach every branch of
# app/merges.py and of this machine that 50 did (coverage.py, branches), but one: rejecting
# a pair already rejected, which only the 36th to 50th history happened to do, and which
# test_rejecting_a_pair_again_records_nothing_new below now checks on its own. Shrinking a
# failure is not bounded by max_examples, and locally every run explores new histories.
UndoAllMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_merge_split_reject_undo_in_any_order = pytest.mark.slow(UndoAllMachine.TestCase)


def test_rejecting_a_pair_again_records_nothing_new(tmp_path: Path) -> None:
    """reject a b; reject b a: one rejection, one change to undo, and then none."""
    shutil.copy(_template_db(), tmp_path / "t.db")
    db = open_database(tmp_path / "t.db")
    try:
        start = _holdings(db)
        a, b = sorted(start)[:2]
        latest = select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)
        with db.session() as s:
            before = s.scalar(latest)
            merges.reject(s, a, b)
        with db.session() as s:
            first = s.scalar(latest)
            assert first != before
            merges.reject(s, b, a)  # the same pair, the other way round
        with db.session() as s:
            assert s.scalar(latest) == first
            assert merges.rejected_pairs(s) == {(a, b)}
        with db.session() as s:
            assert merges.undo(s).id == first
        with db.session() as s:
            assert merges.rejected_pairs(s) == set()
            with pytest.raises(NotFoundError):
                merges.undo(s)
        assert _holdings(db) == start  # a rejection moves nothing
    finally:
        db.dispose()


def test_undo_out_of_order_is_refused_naming_the_later_change(tmp_path: Path) -> None:
    """merge 1 4; merge 7 1; undo the first: refused; undo the second, then the first."""
    shutil.copy(_template_db(), tmp_path / "t.db")
    db = open_database(tmp_path / "t.db")
    try:
        start = _holdings(db)
        a, b, c = sorted(start)[:3]
        with db.session() as s:
            first = merges.merge_customers(s, a, b, reason="by hand")
        with db.session() as s:
            second = merges.merge_customers(s, c, a, reason="by hand")
        with db.session() as s, pytest.raises(UserFacingError) as refused:
            merges.undo(s, first)
        assert str(refused.value).startswith(
            f"cannot undo change {first}: change {second} (merged "
        )
        assert str(refused.value).endswith(f"depends on it; undo {second} first")
        with db.session() as s:
            (shown,) = [ch for ch in merges.history(s) if ch.id == first]
            assert shown.blocked_by == str(refused.value)
        assert set(_holdings(db)) == set(start) - {a, b}
        with db.session() as s:
            merges.undo(s, second)
        with db.session() as s:
            merges.undo(s, first)
        assert _holdings(db) == start
    finally:
        db.dispose()


def test_cli_undo_refusal_is_one_line_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    shutil.copy(_template_db(), tmp_path / "t.db")
    db = open_database(tmp_path / "t.db")
    a, b, c = sorted(_holdings(db))[:3]
    db.dispose()
    base = ["--db", str(tmp_path / "t.db")]
    assert main([*base, "merge", str(a), str(b), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)["change"]
    assert main([*base, "merge", str(c), str(a), "--json"]) == 0
    second = json.loads(capsys.readouterr().out)["change"]
    assert main([*base, "undo", str(first), "--json"]) == 2
    out, err = capsys.readouterr()
    reason = json.loads(out)["error"]
    assert reason.startswith(f"cannot undo change {first}: change {second} ")
    assert err == f"threadline: {reason}\n"
    assert main([*base, "undo", str(second)]) == 0
    assert main([*base, "undo", str(first)]) == 0


def test_undoing_a_split_brings_back_what_reached_the_new_customer(tmp_path: Path) -> None:
    """Split an address out to a new customer, import a number with it, add a note: undo."""
    shutil.copy(_template_db(), tmp_path / "t.db")
    db = open_database(tmp_path / "t.db")
    try:
        start = _holdings(db)
        with db.session() as s:
            ann = s.scalars(select(Identity.id).where(Identity.value == "ann@example.com")).one()
        (holder,) = [c for c, ids in start.items() if ann in ids]
        with db.session() as s:
            count = s.get(Customer, holder).event_count  # type: ignore[union-attr]
            new, change = merges.split_customer(s, holder, [ann])
        record = EventRecord(
            channel="email",
            source="email",
            external_id="<later@example.com>",
            occurred_at=T0 + timedelta(days=40),
            title="later",
            text="my new number",
            participants=(Participant("from", "", email="ann@example.com", phone="+447700900199"),),
        )
        import_items(db, lambda: [record], label="later", format="t")
        with db.session() as s:
            note = add_note(s, new, "call the new number", author="t").id
            phone = s.scalars(select(Identity.id).where(Identity.value == "+447700900199")).one()
        assert _holdings(db)[new] == {ann, phone}
        with db.session() as s:
            merges.undo(s, change)
        after = _holdings(db)
        assert new not in after and after[holder] == start[holder] | {phone}
        with db.session() as s:
            assert s.get(Note, note).customer_id == holder  # type: ignore[union-attr]
            assert s.get(Customer, holder).event_count == count + 1  # type: ignore[union-attr]
    finally:
        db.dispose()
