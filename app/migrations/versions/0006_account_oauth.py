"""Accounts that sign in with OAuth 2.0 (Google, Microsoft, any issuer).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account") as batch_op:
        batch_op.add_column(
            sa.Column("auth", sa.String(length=20), nullable=False, server_default="password")
        )
        batch_op.add_column(sa.Column("oauth_provider", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("oauth_client_id", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("account") as batch_op:
        batch_op.drop_column("oauth_client_id")
        batch_op.drop_column("oauth_provider")
        batch_op.drop_column("auth")
