"""The stored figures of a customer stay equal to a fresh count through every write path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import brief, merges, summary
from app.db import Database
from app.demo import load_demo
from app.erasure import forget
from app.identity import configure
from app.models import Customer, CustomerIdentity
from tests.test_waiting import NOW, T0, order, put, wa


@pytest.fixture
def db(store: Database) -> Database:
    """The stored figures are checked on each store (SQLite, PostgreSQL)."""
    return store


def _stored(db: Database) -> dict[int, object]:
    with db.session() as session:
        return {
            c.id: summary._from_json(c.profile)
            for c in session.scalars(select(Customer).where(Customer.merged_into_id.is_(None)))
        }


def _fresh(db: Database) -> dict[int, object]:
    with db.session() as session:
        live = list(session.scalars(select(Customer.id).where(Customer.merged_into_id.is_(None))))
        return dict(summary.recount(session, live))


def _check(db: Database) -> None:
    stored, fresh = _stored(db), _fresh(db)
    assert None not in stored.values()
    assert stored == fresh


def test_figures_follow_imports_merges_splits_undo_and_forget(db: Database) -> None:
    load_demo(db)
    _check(db)
    with db.session() as session:
        ids = sorted(session.scalars(select(Customer.id).where(Customer.merged_into_id.is_(None))))
        assert len(ids) >= 4
        merges.merge_customers(session, ids[0], ids[1], reason="test")
    _check(db)
    with db.session() as session:
        idents = list(
            session.scalars(
                select(CustomerIdentity.identity_id)
                .where(CustomerIdentity.customer_id == ids[0])
                .order_by(CustomerIdentity.identity_id)
            )
        )
        assert len(idents) >= 2
        merges.split_customer(session, ids[0], idents[-1:])
    _check(db)
    with db.session() as session:
        merges.undo(session)
        merges.undo(session)
    _check(db)
    # An order that changes state on a second import: refunded now.
    put(db, order("#9001", T0, financial="paid"))
    put(db, order("#9001", T0, financial="refunded", refunded="42.50"))
    _check(db)
    put(db, wa("c1", "jane", "Hallo, wo ist meine Bestellung?", T0 + timedelta(hours=1)))
    _check(db)
    with db.session() as session:
        configure(session, "owner_emails", "shop@example.com")
    _check(db)
    forget(db, ids[2])
    _check(db)


def test_brief_reads_stored_figures_and_counts_when_none_are_stored(db: Database) -> None:
    put(db, order("#1", T0 - timedelta(days=3)), order("#2", T0 - timedelta(days=2)))
    put(db, wa("c1", "jane", "Do you deliver on Sundays?", T0))
    with db.session() as session:
        cid = session.scalars(select(Customer.id)).one()
        stored = brief.build(session, cid, now=NOW)
        session.get(Customer, cid).profile = {}  # type: ignore[union-attr]
        session.flush()
        counted = brief.build(session, cid, now=NOW)
    assert stored == counted
    assert stored.order_count == 2 and stored.preferred_channel == "WhatsApp"
    assert "2 orders" in stored.lines[0]
    assert stored.last_order is not None and stored.last_order["number"] == "#2"
