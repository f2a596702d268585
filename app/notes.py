"""Notes on customers: add, edit, pin and delete (the write side; reading is in app.queries)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app import live
from app.errors import NotFoundError, UserFacingError
from app.merged import survivor_id
from app.models import Customer, Note, utcnow
from app.queries import NoteRow


def _row(note: Note) -> NoteRow:
    return NoteRow(
        note.id,
        note.customer_id,
        note.body,
        note.author,
        note.pinned,
        note.created_at,
        note.updated_at,
    )


def _get(session: Session, note_id: int) -> Note:
    note = session.get(Note, note_id)
    if note is None:
        raise NotFoundError(f"no note {note_id}")
    return note


def _clean(body: str) -> str:
    text = body.strip()
    if not text:
        raise UserFacingError("a note needs some text")
    return text


def add_note(
    session: Session,
    customer_id: int,
    body: str,
    *,
    pinned: bool = False,
    author: str | None = None,
) -> NoteRow:
    """Add a note to a customer (the survivor, if the customer was merged).

    Raises:
        NotFoundError: no such customer.
        UserFacingError: the note is empty.
    """
    if session.get(Customer, customer_id) is None:
        raise NotFoundError(f"no customer {customer_id}")
    note = Note(
        customer_id=survivor_id(session, customer_id),
        body=_clean(body),
        pinned=pinned,
        author=author or "",  # "": app.authors fills in who is signed in
    )
    session.add(note)
    session.flush()
    live.changed(session, "note", [note.customer_id])
    return _row(note)


def edit_note(session: Session, note_id: int, body: str) -> NoteRow:
    """Replace a note's text."""
    note = _get(session, note_id)
    note.body = _clean(body)
    note.updated_at = utcnow()
    session.flush()
    live.changed(session, "note", [note.customer_id])
    return _row(note)


def set_pinned(session: Session, note_id: int, pinned: bool) -> NoteRow:
    """Pin or unpin a note (pinned notes come first)."""
    note = _get(session, note_id)
    note.pinned = pinned
    note.updated_at = utcnow()
    session.flush()
    live.changed(session, "note", [note.customer_id])
    return _row(note)


def delete_note(session: Session, note_id: int) -> None:
    """Delete a note."""
    note = _get(session, note_id)
    live.changed(session, "note", [note.customer_id])
    session.delete(note)
    session.flush()
