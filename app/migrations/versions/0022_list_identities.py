"""Mailing lists' own addresses marked as such.

Revision ID: 0022_list_identities
Revises: 0021_scrub_errors

``identity.is_list``: an address once seen as a list's posting address (``List-Post``,
``List-Id``) belongs to no customer on any message after, not only on the messages that
carry the list's headers (the owner's sent copy of a post has none). Mail imported before
is not read again: its list addresses are marked by the next message from the list.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022_list_identities"
down_revision = "0021_scrub_errors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(  # in place: no rebuild of a table that others' rows cascade from
        "identity", sa.Column("is_list", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    op.drop_column("identity", "is_list")  # SQLite 3.35+: in place, no table rebuild
