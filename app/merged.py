"""Merge pointers: a merged customer keeps a pointer to the one that absorbed it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Customer


def survivor_id(session: Session, customer_id: int) -> int:
    """Follow merge pointers to the customer that is shown now."""
    seen: set[int] = set()
    current = customer_id
    while current not in seen:
        seen.add(current)
        merged = session.scalar(select(Customer.merged_into_id).where(Customer.id == current))
        if merged is None:
            return current
        current = merged
    return current
