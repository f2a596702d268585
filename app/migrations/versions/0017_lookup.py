"""Customers in display order in an index, so lookup as one types stops at a page's end.

``ix_customer_display`` holds the customer list's order (not merged, most recent contact
first, then the highest id): the first page of a lookup that thousands of customers match
(a two-letter prefix, a phone fragment every number shares, ``#10``) walks it and stops
after a page (``app.lookup_sql``), and the list without a query reads it without sorting.
SQLite puts NULLs last in a descending order and refuses ``NULLS LAST`` in an index;
PostgreSQL needs it said.

Revision ID: 0017_lookup
Revises: 0016_name_index
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_lookup"
down_revision = "0016_name_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    nulls = " NULLS LAST" if op.get_bind().dialect.name == "postgresql" else ""
    op.create_index(
        "ix_customer_display",
        "customer",
        ["merged_into_id", sa.text(f"last_seen DESC{nulls}"), sa.text("id DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_customer_display", table_name="customer")
