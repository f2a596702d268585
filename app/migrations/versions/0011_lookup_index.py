"""Lookup as one types (names, emails, phone digits, order numbers) and stored profiles.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

Two SQLite FTS5 tables hold one short text per contact point, customer name and
order number (see ``app.lookup``): ``lookup_fts`` with the trigram tokenizer
(any fragment of three characters or more: ``900123`` inside ``+447700900123``,
``oe@gm`` inside an address) and ``lookup_words`` with word prefixes of one and
two characters (``ja`` for Jane). Triggers on ``identity``, ``customer`` and
``order_info`` keep both in step with every write path (ORM, bulk inserts,
erasure), so no writer has to remember them. The rows already stored are
indexed here. Also an index on ``identity.value``: exact look-ups of an email or
a phone name no platform.

The customer's channels and order figures are stored in ``customer.profile`` (kept by
``app.customer_stats.refresh_customer_stats`` with the event count and first/last contact) and
computed here for the customers already stored. Nothing touches ``event``: no table is
rebuilt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# rowid = id * 4 + kind: what a lookup row points at (app.queries reads the same).
# Word prefixes (lookup_words) leave an address's domain out: "c" is not every ".com".
_LOCAL_PART = (
    "CASE WHEN instr({r}.value, '@') > 0 THEN substr({r}.value, 1, instr({r}.value, '@') - 1) "
    "ELSE {r}.value END"
)
_SOURCES = (
    # (table, key column, kind, text for lookup_fts, text for lookup_words, columns)
    (
        "identity",
        "id",
        0,
        "{r}.value || ' ' || {r}.raw || ' ' || {r}.display_name || ' ' || {r}.search_digits",
        f"{_LOCAL_PART} || ' ' || {{r}}.display_name || ' ' || {{r}}.search_digits",
        "value, raw, display_name, search_digits",
    ),
    ("customer", "id", 1, "{r}.display_name", "{r}.display_name", "display_name"),
    (
        "order_info",
        "event_id",
        2,
        "{r}.number || ' ' || ltrim({r}.number, '#')",
        "{r}.number",
        "number",
    ),
)
_TABLES = ("lookup_fts", "lookup_words")


def upgrade() -> None:
    # In place (no batch mode): a plain ADD COLUMN never rebuilds a table.
    op.add_column(
        "customer", sa.Column("profile", sa.Text(), nullable=False, server_default="{}")
    )
    op.create_index("ix_identity_value", "identity", ["value"])
    _store_profiles()
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE VIRTUAL TABLE lookup_fts USING fts5(term, tokenize = 'trigram')")
    op.execute(
        "CREATE VIRTUAL TABLE lookup_words USING fts5("
        "term, tokenize = 'unicode61 remove_diacritics 2', prefix = '1 2')"
    )
    for table, key, kind, *texts, columns in _SOURCES:
        rowid_new = f"new.{key} * 4 + {kind}"
        rowid_old = f"old.{key} * 4 + {kind}"
        inserts = "".join(
            f"INSERT INTO {t}(rowid, term) VALUES ({rowid_new}, {x.format(r='new')});"
            for t, x in zip(_TABLES, texts, strict=True)
        )
        deletes = "".join(f"DELETE FROM {t} WHERE rowid = {rowid_old};" for t in _TABLES)
        op.execute(f"CREATE TRIGGER lookup_{table}_ai AFTER INSERT ON {table} BEGIN {inserts} END")
        op.execute(
            f"CREATE TRIGGER lookup_{table}_au AFTER UPDATE OF {columns} ON {table} "
            f"BEGIN {deletes}{inserts} END"
        )
        op.execute(f"CREATE TRIGGER lookup_{table}_ad AFTER DELETE ON {table} BEGIN {deletes} END")
        for t, x in zip(_TABLES, texts, strict=True):
            op.execute(
                f"INSERT INTO {t}(rowid, term) "
                f"SELECT {key} * 4 + {kind}, {x.format(r=table)} FROM {table}"
            )


def _store_profiles() -> None:
    """Channels and order figures of every customer stored, so the list reads them at once."""
    from app import summary

    session = Session(bind=op.get_bind())
    summary.rebuild(session)
    session.flush()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, *_rest in _SOURCES:
            for when in ("ai", "au", "ad"):
                op.execute(f"DROP TRIGGER IF EXISTS lookup_{table}_{when}")
        for t in _TABLES:
            op.execute(f"DROP TABLE IF EXISTS {t}")
    op.drop_index("ix_identity_value", "identity")
    op.drop_column("customer", "profile")  # SQLite 3.35+: in place
