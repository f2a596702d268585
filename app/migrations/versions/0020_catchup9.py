"""Order numbers by their mention key (``app.mentions.order_key``) in an index, so that the
catch-up of the suggestions finds the orders that messages mention instead of reading
every order to key its number (``app.suggestion_mentions``).

Revision ID: 0020_catchup9
Revises: 0019_catchup4

Two indexes, their expressions as ``app.suggestion_mentions.order_key_sql`` writes them
(the queries must spell them alike for the index to serve them):

- ``ix_order_info_key``: the number without ``#`` and spaces, in capitals. For a number
  of printable ASCII characters alone that is ``order_key`` (PostgreSQL's ``upper`` is
  told the "C" collation: in another it may map a letter elsewhere);
- ``ix_order_info_odd``: (number, event id) of the orders whose number holds any other
  character (a tab, a non-ASCII letter: keyed in Python), a partial index of a few rows.
"""

from __future__ import annotations

from alembic import op

revision = "0020_catchup9"
down_revision = "0019_catchup4"
branch_labels = None
depends_on = None

_KEY = {
    "sqlite": "upper(replace(replace(number, '#', ''), ' ', ''))",
    "postgresql": "upper(replace(replace(number, '#', ''), ' ', '') COLLATE \"C\")",
}
_ODD = {
    "sqlite": "number GLOB '*[^ -~]*'",
    "postgresql": "number COLLATE \"C\" ~ '[^ -~]'",
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect not in _KEY:
        return  # (no other store is supported)
    op.execute(f"CREATE INDEX ix_order_info_key ON order_info (({_KEY[dialect]}))")
    op.execute(
        f"CREATE INDEX ix_order_info_odd ON order_info (number, event_id) WHERE {_ODD[dialect]}"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name not in _KEY:
        return
    op.execute("DROP INDEX IF EXISTS ix_order_info_odd")
    op.execute("DROP INDEX IF EXISTS ix_order_info_key")
