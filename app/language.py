"""The language a message is written in, detected locally once at import and stored.

Detection uses py3langid (a maintained fork of langid.py whose model ships inside the
package, a few MB; nothing is downloaded). The model loads on first use. Text that is
too short or too unsure gives None rather than a guess. ``backfill`` fills the
column for messages stored before it existed.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.labels import LANGUAGE_NAMES
from app.models import Event

log = logging.getLogger(__name__)

MIN_LETTERS = 12  # shorter text ("ok", "thanks!") says nothing reliable
MIN_CONFIDENCE = 0.8
_SAMPLE = 300  # characters looked at: plenty to tell, and about 1 ms a message

_QUOTED = re.compile(r"^\s*>.*$|^On .{0,200} wrote:\s*$", re.MULTILINE)
_URL = re.compile(r"\S+@\S+|https?://\S+|www\.\S+")
_lock = threading.Lock()
_identifier: Any = None

NAMES = LANGUAGE_NAMES


def name(code: str | None) -> str:
    """An English name for an ISO 639-1 code ("de" → "German"); the code if unknown."""
    if not code:
        return ""
    return NAMES.get(code, code)


def _model() -> Any:
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier


def load() -> None:
    """Load the model now (a writer does while its parse worker starts: time it would
    otherwise spend waiting for the first messages)."""
    _model()


def detect(text: str) -> str | None:
    """The ISO 639-1 code of ``text``'s language, or None when too short or unsure.

    Quoted reply lines and addresses are left out first, so a German reply quoting an
    English mail reads as German.
    """
    sample = _URL.sub(" ", _QUOTED.sub(" ", text[: _SAMPLE * 4]))[:_SAMPLE]
    if sum(map(str.isalpha, sample)) < MIN_LETTERS:  # (map: a third of the generator's cost)
        return None
    code, confidence = _model().classify(sample)
    if float(confidence) < MIN_CONFIDENCE:
        return None
    return str(code)


def for_event(channel: str, direction: str, title: str, body: str) -> str | None:
    """The language to store for a new event: messages only (not orders or system lines)."""
    if channel not in ("email", "chat") or direction == "system":
        return None
    return detect(body if body.strip() else title)


def backfill(session: Session, batch: int = 2000) -> int:
    """Detect the language of stored messages that have none yet; returns how many were read."""
    done = 0
    last = 0
    while True:
        rows = session.execute(
            select(Event.id, Event.channel, Event.direction, Event.title, Event.body)
            .where(Event.id > last, Event.language.is_(None), Event.channel.in_(("email", "chat")))
            .order_by(Event.id)
            .limit(batch)
        ).all()
        if not rows:
            return done
        for eid, channel, direction, title, body in rows:
            code = for_event(channel, direction, title or "", body or "")
            if code is not None:
                session.execute(update(Event).where(Event.id == eid).values(language=code))
        done += len(rows)
        last = rows[-1][0]
