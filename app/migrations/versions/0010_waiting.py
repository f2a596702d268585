"""Who waits for a reply (``waiting``, ``reply_mark``) and each message's language.

Revision ID: 0010
Revises: 0009

The ``waiting`` table is filled for every customer already stored, and the language
of stored messages is detected, so an upgraded database answers at once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # In place: rebuilding ``event`` would cascade-delete every event's participants.
    op.add_column("event", sa.Column("language", sa.String(length=8), nullable=True))
    op.create_table(
        "reply_mark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("upto", sa.DateTime(), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("undone_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_reply_mark_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply_mark")),
    )
    op.create_index(op.f("ix_reply_mark_customer_id"), "reply_mark", ["customer_id"])
    op.create_table(
        "waiting",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("first_line", sa.Text(), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("snoozed_until", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_waiting_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_waiting")),
    )
    op.create_index(op.f("ix_waiting_since"), "waiting", ["since"])
    op.create_index(op.f("ix_waiting_last_at"), "waiting", ["last_at"])
    from app import language, waiting

    session = Session(bind=op.get_bind())
    language.backfill(session)
    waiting.rebuild(session)
    session.flush()


def downgrade() -> None:
    op.drop_table("waiting")
    op.drop_table("reply_mark")
    op.drop_column("event", "language")  # SQLite 3.35+: in place, no table rebuild
