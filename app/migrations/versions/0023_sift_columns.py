"""Each customer's pre-filter features beside its stored suggestion keys, so that the
catch-up after an import bounds a changed customer's pairs in numpy columns read from the
store (``suggestions.scorable``'s tests) instead of decoding every partner's names.

Revision ID: 0023_sift_columns
Revises: 0022_list_identities

``suggestion_customer.features``: the customer's row of the pre-filter's columns (fixed
size, ``suggestions.features_dtype``); ``sift``: its name's four texts; ``postcodes``: its
postcodes (``suggestions.feature_rows``). Existing rows get empty ones; the store's format
changed with them (``suggestion_store._FORMAT``), so the next catch-up rebuilds the list
and writes them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_sift_columns"
down_revision = "0022_list_identities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    empty = "X''" if op.get_bind().dialect.name == "sqlite" else "''::bytea"
    op.add_column(
        "suggestion_customer",
        sa.Column("features", sa.LargeBinary(), nullable=False, server_default=sa.text(empty)),
    )
    for name in ("sift", "postcodes"):
        op.add_column(
            "suggestion_customer", sa.Column(name, sa.Text(), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("suggestion_customer") as batch:
        batch.drop_column("postcodes")
        batch.drop_column("sift")
        batch.drop_column("features")
