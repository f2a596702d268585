"""Mentions: order numbers, email addresses and phone numbers named in a message's text.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24

Existing email and chat events are read once here, so a database imported
before this version gets the same suggestions as one imported after it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app import mentions
from app.settings import machine_region

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BATCH = 2000


def upgrade() -> None:
    op.create_table(
        "mention",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["event.id"], name=op.f("fk_mention_event_id_event"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("event_id", "kind", "value", name=op.f("pk_mention")),
    )
    op.create_index("ix_mention_kind_value", "mention", ["kind", "value"], unique=False)
    bind = op.get_bind()
    region = str(
        bind.execute(sa.text("SELECT value FROM setting WHERE key = 'region'")).scalar()
        or machine_region()
    )
    mention = sa.table(
        "mention", sa.column("event_id"), sa.column("kind"), sa.column("value")
    )
    last = 0
    while True:
        batch = bind.execute(
            sa.text(
                "SELECT id, title, body FROM event WHERE id > :last "
                "AND channel IN ('email', 'chat') ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": _BATCH},
        ).all()
        if not batch:
            break
        found = [
            row
            for event_id, title, body in batch
            for row in mentions.rows(event_id, title or "", body or "", region)
        ]
        if found:
            bind.execute(sa.insert(mention), found)
        last = batch[-1][0]


def downgrade() -> None:
    op.drop_index("ix_mention_kind_value", table_name="mention")
    op.drop_table("mention")
