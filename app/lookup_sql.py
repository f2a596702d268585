"""The SQL of lookup as one types on SQLite, shared by the ORM path and the lean read path.

A typed fragment is looked up once in an FTS5 lookup table (``lookup_fts``, trigram, for a
fragment of three characters or more; ``lookup_words``, word prefixes, for one or two),
whose rows are contact points, customer names and order numbers (``rowid = id * 4 + kind``,
kept by the triggers of migration 0011). The customers those rows stand for are then listed
most recent contact first, in one of two ways, chosen by how many rows matched:

* **few** (at most ``FEW`` rows, found by a look-up that stops there): the customers of
  every match are collected first (there are few of them), then read in display order.
* **many** (a two-letter prefix, a phone fragment every number shares, ``#10``): the
  customers are walked in display order on ``ix_customer_display`` (migration
  0017_lookup) and each is checked against the matches, so the walk stops once a page is
  full instead of collecting and sorting thousands of customers first.

Both give the same customers in the same order (``last_seen`` newest first, then the
highest id), so the pages of one query fit together whichever way each was read. This
module holds plain SQL text only (no SQLAlchemy): ``app.readpath`` imports it too.
"""

from __future__ import annotations

# Kinds of lookup rows (rowid = id * 4 + kind), kept by the triggers of migration 0011.
LOOKUP_IDENTITY, LOOKUP_CUSTOMER, LOOKUP_ORDER = 0, 1, 2

# Up to this many matching lookup rows, collecting their customers first is cheaper than
# walking customers in display order (each step of a walk costs a few index probes).
FEW = 5000


def few_sql(table: str, param: str = "m") -> str:
    """SQL: how many rows of ``table`` match ``:param``, counted up to ``FEW + 1``."""
    return (
        f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {table} MATCH :{param} LIMIT {FEW + 1})"
    )


def _matches(table: str, param: str) -> str:
    # One pass over the lookup table (MATERIALIZED: the branches below read it again).
    return f"m(r) AS MATERIALIZED (SELECT rowid FROM {table} WHERE {table} MATCH :{param})"


def _hits(table: str, param: str) -> str:
    """WITH clause: ``hit(cid)``, every customer (merged ones included) a match names."""
    return (
        f"WITH {_matches(table, param)}, hit(cid) AS ("
        "SELECT ci.customer_id FROM m "
        f"JOIN customer_identity ci ON ci.identity_id = m.r / 4 WHERE m.r % 4 = {LOOKUP_IDENTITY} "
        f"UNION SELECT m.r / 4 FROM m WHERE m.r % 4 = {LOOKUP_CUSTOMER} "
        "UNION SELECT ci.customer_id FROM m "
        "JOIN event_participant ep ON ep.event_id = m.r / 4 "
        "JOIN customer_identity ci ON ci.identity_id = ep.identity_id "
        f"WHERE m.r % 4 = {LOOKUP_ORDER}) "
    )


# A customer the list shows: not merged into another, with a contact point.
_LISTED = (
    "customer.merged_into_id IS NULL AND EXISTS (SELECT 1 FROM customer_identity "
    "WHERE customer_identity.customer_id = customer.id)"
)
# The display order; ix_customer_display (merged_into_id, last_seen DESC, id DESC) holds it.
ORDER = "customer.last_seen DESC NULLS LAST, customer.id DESC"


def _lookup(table: str, *, many: bool, param: str) -> tuple[str, str]:
    """(WITH clause, condition on ``customer``): the listed customers the lookup finds."""
    if not many:
        return _hits(table, param), f"customer.id IN (SELECT cid FROM hit) AND {_LISTED}"
    # "+customer.id": the id is tested per row, so the display index drives the walk. Each
    # kind of match is gathered once (the buyers of matching orders too); a walked
    # customer's name and contact points are probed against them.
    return f"WITH {_matches(table, param)} ", (
        f"{_LISTED} AND ("
        f"+customer.id IN (SELECT r / 4 FROM m WHERE r % 4 = {LOOKUP_CUSTOMER}) "
        "OR EXISTS (SELECT 1 FROM customer_identity ci WHERE ci.customer_id = customer.id "
        f"AND (ci.identity_id IN (SELECT r / 4 FROM m WHERE r % 4 = {LOOKUP_IDENTITY}) "
        "OR ci.identity_id IN (SELECT ep.identity_id FROM event_participant ep "
        f"WHERE ep.event_id IN (SELECT r / 4 FROM m WHERE r % 4 = {LOOKUP_ORDER})))))"
    )


def count_sql(table: str, param: str = "m") -> str:
    """SQL: how many listed customers the lookup ``:param`` finds (all are collected: the
    walk of ``page_sql`` saves nothing when it cannot stop early)."""
    head, where = _lookup(table, many=False, param=param)
    return f"{head}SELECT count(*) FROM customer WHERE {where}"


def page_sql(table: str, *, many: bool, param: str = "m") -> str:
    """SQL: one page (``:limit``, ``:offset``) of the ids of the customers ``:param`` finds.

    Args:
        table: ``lookup_fts`` (a fragment) or ``lookup_words`` (a word prefix).
        many: more than ``FEW`` rows matched (``few_sql``): walk customers in display order.
        param: the name of the bound MATCH expression.
    """
    head, where = _lookup(table, many=many, param=param)
    return (
        f"{head}SELECT customer.id FROM customer WHERE {where} "
        f"ORDER BY {ORDER} LIMIT :limit OFFSET :offset"
    )
