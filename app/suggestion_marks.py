"""Marks on the customers whose stored merge suggestions are out of date.

The write path (``app.customer_stats.refresh_customer_stats``, erasure) calls ``mark`` for
the customers it touches; ``app.suggestion_store.catch_up`` rescores their pairs and clears
the marks. Kept apart from the store so the write path does not import the scoring.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.models import SuggestionDirty

_CHUNK = 500


def mark(session: Session, customer_ids: Iterable[int]) -> None:
    """Note that these customers changed (or went): their pairs are brought up to date."""
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        have = set(
            session.scalars(
                select(SuggestionDirty.customer_id).where(SuggestionDirty.customer_id.in_(chunk))
            )
        )
        rows = [{"customer_id": cid} for cid in chunk if cid not in have]
        if rows:
            session.execute(insert(SuggestionDirty), rows)
