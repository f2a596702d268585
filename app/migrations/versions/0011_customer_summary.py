"""The brief's figures kept per customer (``customer_summary``).

Revision ID: 0011
Revises: 0010

Filled for every customer already stored, so an upgraded database answers at once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_summary",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("order_count", sa.Integer(), nullable=False),
        sa.Column("totals", sa.Text(), nullable=False),
        sa.Column("last_order_event_id", sa.Integer(), nullable=True),
        sa.Column("last_contact_event_id", sa.Integer(), nullable=True),
        sa.Column("sources", sa.Text(), nullable=False),
        sa.Column("languages", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_customer_summary_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_summary")),
    )
    from app import summary

    session = Session(bind=op.get_bind())
    summary.rebuild(session)
    session.flush()


def downgrade() -> None:
    op.drop_table("customer_summary")
