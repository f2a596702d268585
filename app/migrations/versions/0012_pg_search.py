"""Search on PostgreSQL: a tsvector per event with a GIN index, pg_trgm for fragments.

Revision ID: 0012_pg_search
Revises: 0011
Create Date: 2026-12-05

A no-op on SQLite, whose FTS5 tables (0001, 0011) already serve search and lookup.
On PostgreSQL:

* ``event_search`` holds one ``tsvector`` per event (``doc``: the words of its title,
  text and people, built by ``app.dialect.tsvector_text`` with the same words FTS5
  indexes) under a GIN index. It is the counterpart of ``event_fts``: the write path
  (``app.ingest``, erasure, ``migrate-store``) keeps it, and a deleted event takes its
  row with it (ON DELETE CASCADE). The events already stored are indexed here.
* ``pg_trgm`` GIN indexes on the texts the lookup-as-you-type reads (contact points,
  customer names, order numbers: ``app.dialect.PG_LOOKUP_TEXT``), the counterpart of
  ``lookup_fts``'s trigrams: ``900123`` inside ``+447700900123`` uses an index.
* The event id sequence is moved past the highest id (older versions inserted events
  with their ids given and left it behind).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_pg_search"
down_revision = "0011"
branch_labels = None
depends_on = None

# (index name, table, expression): the same expressions as app.dialect.PG_LOOKUP_TEXT.
_TRIGRAMS = (
    (
        "ix_identity_lookup_trgm",
        "identity",
        "lower(value || ' ' || raw || ' ' || display_name || ' ' || search_digits)",
    ),
    (
        "ix_identity_words_trgm",
        "identity",
        "lower(split_part(value, '@', 1) || ' ' || display_name || ' ' || search_digits)",
    ),
    ("ix_customer_name_trgm", "customer", "lower(display_name)"),
    ("ix_order_info_number_trgm", "order_info", "lower(number)"),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from app.dialect import PG_LOOKUP_TEXT, fill_index

    assert {expr for _t, _k, expr in PG_LOOKUP_TEXT.values()} == {e for *_n, e in _TRIGRAMS}
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        "CREATE TABLE event_search ("
        "event_id integer PRIMARY KEY REFERENCES event(id) ON DELETE CASCADE, "
        "doc tsvector NOT NULL)"
    )
    op.execute("CREATE INDEX ix_event_search_doc ON event_search USING gin (doc)")
    for name, table, expr in _TRIGRAMS:
        op.execute(f"CREATE INDEX {name} ON {table} USING gin (({expr}) gin_trgm_ops)")
    op.execute(
        "SELECT setval(pg_get_serial_sequence('event', 'id'), "
        "COALESCE((SELECT max(id) FROM event), 0) + 1, false)"
    )
    fill_index(bind)
    op.execute(sa.text("ANALYZE event_search"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _table, _expr in _TRIGRAMS:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS event_search")
