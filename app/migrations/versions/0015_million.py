"""A customer found by name in any case with an index (``show "Jane Doe"`` at a million
events read every customer row).

Revision ID: 0015_million
Revises: 0014_suggestion_store
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_million"
down_revision = "0014_suggestion_store"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_customer_display_name_lower", "customer", [sa.text("lower(display_name)")])


def downgrade() -> None:
    op.drop_index("ix_customer_display_name_lower", table_name="customer")
