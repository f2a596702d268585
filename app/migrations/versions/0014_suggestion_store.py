"""Stored merge suggestions, kept in step with the customers (``app.suggestion_store``).

Revision ID: 0014_suggestion_store
Revises: 0011

``suggestion_pair`` holds the scored pairs (lower customer id first, score, reasons,
the scorer's version), ``customer_block_key`` each customer's blocking keys looked up
by key (so the customers that share a key with a changed one are one indexed read),
``suggestion_customer`` the keys and name orders per customer, ``suggestion_state`` the
frequencies the pairs were scored with and ``suggestion_dirty`` the customers changed
since. The tables start empty: the first read of the suggestions builds them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_suggestion_store"
down_revision = "0013_team_roles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suggestion_pair",
        sa.Column("customer_a", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("customer_b", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("against", sa.Text(), nullable=False),
        sa.Column("name_a", sa.Text(), nullable=False),
        sa.Column("name_b", sa.Text(), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("customer_a", "customer_b", name=op.f("pk_suggestion_pair")),
    )
    op.create_index(op.f("ix_suggestion_pair_customer_b"), "suggestion_pair", ["customer_b"])
    op.create_index(op.f("ix_suggestion_pair_score"), "suggestion_pair", ["score"])
    op.create_table(
        "customer_block_key",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.PrimaryKeyConstraint("key", "customer_id", name=op.f("pk_customer_block_key")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "suggestion_customer",
        sa.Column("customer_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("keys", sa.Text(), nullable=False),
        sa.Column("names", sa.Text(), nullable=False),
        sa.Column("order0", sa.Text(), nullable=False),
        sa.Column("order1", sa.Text(), nullable=False),
        sa.Column("order2", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_suggestion_customer")),
    )
    op.create_table(
        "suggestion_state",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("stats", sa.Text(), nullable=False),
        sa.Column("mentions", sa.Text(), nullable=False),
        sa.Column("built_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestion_state")),
    )
    op.create_table(
        "suggestion_dirty",
        sa.Column("customer_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_suggestion_dirty")),
    )
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":  # the team roles may keep these up to date too
        from app import team_grants

        team_grants.apply_grants(conn)


def downgrade() -> None:
    for table in (
        "suggestion_dirty",
        "suggestion_state",
        "suggestion_customer",
        "customer_block_key",
        "suggestion_pair",
    ):
        op.drop_table(table)
