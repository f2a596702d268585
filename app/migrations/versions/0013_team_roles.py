"""People and roles on a team server, and the author of every change.

Revision ID: 0013_team_roles
Revises: 0011
Create Date: 2026-12-05

Both stores: ``audit_log.author``, who made a change (the note table has its author
already). On PostgreSQL only (``app.team_grants``): the group roles
``threadline_owner`` and ``threadline_agent`` (created when missing; this needs
CREATEROLE, and a clear message says so), their grants, row-level security on the change
log, and the trigger that stamps the signed-in role as the author. On SQLite nothing else
happens: one person, one file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_team_roles"
down_revision = "0012_pg_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("author", sa.String(200), nullable=False, server_default=""))
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    from app import team_grants

    team_grants.create_roles(conn)
    team_grants.apply_grants(conn)
    team_grants.protect_change_log(conn)
    team_grants.stamp_authors(conn)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        from app import team_grants

        team_grants.remove(conn)
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("author")
