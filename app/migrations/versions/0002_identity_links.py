"""Identity links: an identity may sit on several customers; rejections; undo marks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_identity",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_customer_identity_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identity.id"],
            name=op.f("fk_customer_identity_identity_id_identity"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", "identity_id", name=op.f("pk_customer_identity")),
    )
    with op.batch_alter_table("customer_identity") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_identity_identity_id"), ["identity_id"], unique=False
        )
    op.execute(
        "INSERT INTO customer_identity (customer_id, identity_id) "
        "SELECT customer_id, id FROM identity WHERE customer_id IS NOT NULL"
    )
    with op.batch_alter_table("identity") as batch_op:
        batch_op.add_column(
            sa.Column("shared", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("line_type", sa.String(length=12), nullable=False, server_default="")
        )
        batch_op.drop_index("ix_identity_customer_id")
        batch_op.drop_constraint("fk_identity_customer_id_customer", type_="foreignkey")
        batch_op.drop_column("customer_id")
    op.create_table(
        "merge_rejection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_a", sa.Integer(), nullable=False),
        sa.Column("customer_b", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_a"], ["customer.id"], name=op.f("fk_merge_rejection_customer_a_customer")
        ),
        sa.ForeignKeyConstraint(
            ["customer_b"], ["customer.id"], name=op.f("fk_merge_rejection_customer_b_customer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merge_rejection")),
        sa.UniqueConstraint("customer_a", "customer_b", name=op.f("uq_merge_rejection_customer_a")),
    )
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.add_column(sa.Column("undone_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_audit_log_undone_by_audit_log"), "audit_log", ["undone_by"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.drop_constraint("fk_audit_log_undone_by_audit_log", type_="foreignkey")
        batch_op.drop_column("undone_by")
    op.drop_table("merge_rejection")
    with op.batch_alter_table("identity") as batch_op:
        batch_op.add_column(sa.Column("customer_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_identity_customer_id_customer", "customer", ["customer_id"], ["id"]
        )
        batch_op.create_index("ix_identity_customer_id", ["customer_id"], unique=False)
        batch_op.drop_column("line_type")
        batch_op.drop_column("shared")
    op.execute(
        "UPDATE identity SET customer_id = (SELECT MIN(customer_id) FROM customer_identity "
        "WHERE customer_identity.identity_id = identity.id)"
    )
    op.drop_table("customer_identity")
