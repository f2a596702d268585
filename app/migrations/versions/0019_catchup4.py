"""The stored name orders of the suggestions' customers by an index each, sorted by code
point on PostgreSQL too, so that the catch-up reads a changed customer's neighbours in a
name order (``ORDER BY ... LIMIT``) instead of every customer's orders.

Revision ID: 0019_catchup4
Revises: 0018_catchup
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_catchup4"
down_revision = "0018_catchup"
branch_labels = None
depends_on = None

_ORDERS = ("order0", "order1", "order2")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in _ORDERS:  # as Python sorts str (the database's collation may not)
            op.alter_column(
                "suggestion_customer",
                column,
                type_=sa.Text(collation="C"),
                existing_type=sa.Text(),
                existing_nullable=False,
            )
    for column in _ORDERS:
        op.create_index(
            f"ix_suggestion_customer_{column}", "suggestion_customer", [column, "customer_id"]
        )


def downgrade() -> None:
    for column in _ORDERS:
        op.drop_index(f"ix_suggestion_customer_{column}", table_name="suggestion_customer")
    if op.get_bind().dialect.name == "postgresql":
        for column in _ORDERS:
            op.alter_column(
                "suggestion_customer",
                column,
                type_=sa.Text(),
                existing_type=sa.Text(collation="C"),
                existing_nullable=False,
            )
