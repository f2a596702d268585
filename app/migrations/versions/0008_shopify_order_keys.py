"""Shopify orders keyed by Shopify's order Id (else name and creation time), not the name.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

Every Shopify store numbers its orders #1001, #1002…, so keying orders by the
name let a second store's export overwrite the first's. Existing Shopify
order events get the key the connector now gives them
(``connectors.shopify.order_key``), so re-importing the same exports updates
them instead of adding copies.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from connectors.shopify import order_key

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _aware(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT e.id, e.external_id, e.occurred_at, o.number, o.platform_order_id "
            "FROM event e JOIN order_info o ON o.event_id = e.id WHERE e.source = 'shopify'"
        )
    ).all()
    for event_id, external_id, occurred_at, number, order_id in rows:
        key = order_key(number, order_id or "", _aware(occurred_at))
        if key != external_id:
            bind.execute(
                sa.text("UPDATE event SET external_id = :key WHERE id = :id"),
                {"key": key, "id": event_id},
            )


def downgrade() -> None:
    """Back to keys by name; where two stores share a name, the later order keeps its key."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT e.id, o.number FROM event e JOIN order_info o ON o.event_id = e.id "
            "WHERE e.source = 'shopify' ORDER BY e.id"
        )
    ).all()
    taken: set[str] = set()
    for event_id, number in rows:
        if number in taken:
            continue
        taken.add(number)
        bind.execute(
            sa.text("UPDATE event SET external_id = :key WHERE id = :id"),
            {"key": number, "id": event_id},
        )
