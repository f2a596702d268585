"""A customer found by name in any case with an index (``show "Jane Doe"`` at a million
events read every customer row).

Revision ID: 0016_name_index
Revises: 0015_import_author
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_name_index"
down_revision = "0015_import_author"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_customer_display_name_lower", "customer", [sa.text("lower(display_name)")])


def downgrade() -> None:
    op.drop_index("ix_customer_display_name_lower", table_name="customer")
