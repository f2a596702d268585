"""The brief's stored figures stay equal to a fresh count through every write path."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app import brief, identity, merges, summary
from app.db import Database
from app.demo import load_demo
from app.erasure import forget
from app.models import Customer, CustomerIdentity, CustomerSummary
from tests.test_waiting import NOW, T0, order, store, wa


def _stored(db: Database) -> dict[int, dict[str, object]]:
    with db.session() as session:
        return {
            row.customer_id: {
                "order_count": row.order_count,
                "totals": row.totals,
                "last_order_event_id": row.last_order_event_id,
                "last_contact_event_id": row.last_contact_event_id,
                "sources": row.sources,
                "languages": row.languages,
            }
            for row in session.scalars(select(CustomerSummary))
        }


def _fresh(db: Database) -> dict[int, dict[str, object]]:
    with db.session() as session:
        live = set(session.scalars(select(Customer.id).where(Customer.merged_into_id.is_(None))))
        rows = summary._compute(session, live)
    for row in rows.values():
        del row["customer_id"]
    return rows


def _check(db: Database) -> None:
    stored, fresh = _stored(db), _fresh(db)
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
    store(db, order("#9001", T0, financial="paid"))
    store(db, order("#9001", T0, financial="refunded", refunded="42.50"))
    _check(db)
    store(db, wa("c1", "jane", "Hallo, wo ist meine Bestellung?", T0 + timedelta(hours=1)))
    _check(db)
    with db.session() as session:
        identity.configure(session, "owner_emails", "shop@example.com")
    _check(db)
    forget(db, ids[2])
    _check(db)


def test_brief_reads_stored_figures_and_counts_when_none_are_stored(db: Database) -> None:
    store(db, order("#1", T0 - timedelta(days=3)), order("#2", T0 - timedelta(days=2)))
    store(db, wa("c1", "jane", "Do you deliver on Sundays?", T0))
    with db.session() as session:
        cid = session.scalars(select(Customer.id)).one()
        stored = brief.build(session, cid, now=NOW)
        session.execute(CustomerSummary.__table__.delete())
        counted = brief.build(session, cid, now=NOW)
    assert stored == counted
    assert stored.order_count == 2 and stored.preferred_channel == "WhatsApp"
    assert "2 orders" in stored.lines[0]
    assert stored.last_order is not None and stored.last_order["number"] == "#2"
