"""A digest of each customer's compared profile beside its stored suggestion keys, so that
the catch-up after an import skips customers whose import changed nothing the suggestions
compare (a new message of a known customer marks it, but leaves its pairs as they were).

Revision ID: 0018_catchup
Revises: 0017_lookup

Existing rows get an empty digest: the next change of such a customer is rescored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_catchup"
down_revision = "0017_lookup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "suggestion_customer",
        sa.Column("digest", sa.Text(), nullable=False, server_default=""),
    )


def downgrade() -> None:
    with op.batch_alter_table("suggestion_customer") as batch:
        batch.drop_column("digest")
