"""Mail accounts' last errors stored by versions that did not redact them, redacted.

Revision ID: 0021_scrub_errors
Revises: 0020_catchup9

An older version kept a server's message as it came (``NO LOGIN jane "hunter2" failed``)
in ``account.last_error``; later versions redact it when they store and show it, but the
stored text kept the secret until the account's next sync. This revision redacts every
stored one (``app.redact``: the credential shapes, whatever the secret). On SQLite the
rows are rewritten with ``secure_delete`` on, so the old text is overwritten in the
file, not only unlinked.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app import redact

revision = "0021_scrub_errors"
down_revision = "0020_catchup9"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, last_error FROM account WHERE last_error IS NOT NULL")
    ).all()
    redacted = [(i, text, redact.redact(text)) for i, text in rows if text]
    changed = [(i, clean) for i, text, clean in redacted if clean != text]
    if not changed:
        return
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql("PRAGMA secure_delete=ON")
    for account_id, text in changed:
        bind.execute(
            sa.text("UPDATE account SET last_error = :text WHERE id = :id"),
            {"text": text, "id": account_id},
        )


def downgrade() -> None:
    """Nothing to do: the redacted texts stay redacted."""
