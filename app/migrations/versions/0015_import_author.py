"""Who ran each import or sync, and an agent's hand-written moves refused by the server.

Revision ID: 0015_import_author
Revises: 0014_suggestion_store

Both stores: ``import_run.author``, who imported the file or synced the account (and so
brought in the run's events): the login role on a server, "Your name" on a local file
(``app.authors``). On PostgreSQL only (``app.team_grants``): the server stamps that author
too, and ``guard_moves`` refuses an agent's commit that merges, un-merges or unlinks
customers without the change-log entry an import's automatic merge writes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_import_author"
down_revision = "0014_suggestion_store"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("import_run") as batch:
        batch.add_column(sa.Column("author", sa.String(200), nullable=False, server_default=""))
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    from app import team_grants

    team_grants.stamp_authors(conn, ("import_run",))
    team_grants.guard_moves(conn)
    team_grants.apply_grants(conn)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        from app import team_grants

        team_grants.unguard_moves(conn)
        conn.execute(sa.text("DROP TRIGGER IF EXISTS threadline_author ON import_run"))
    with op.batch_alter_table("import_run") as batch:
        batch.drop_column("author")
