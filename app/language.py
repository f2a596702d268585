"""The language a message is written in, detected locally once at import and stored.

Detection uses py3langid (a maintained fork of langid.py whose model ships inside the
package, a few MB; nothing is downloaded). The model loads on first use. Text that is
too short or too unsure gives None rather than a guess. ``backfill`` fills the
column for messages stored before it existed.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import tempfile
import threading
import unicodedata
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.labels import LANGUAGE_NAMES
from app.models import Event

log = logging.getLogger(__name__)

MIN_LETTERS = 12  # shorter text ("ok", "thanks!") says nothing reliable
MIN_CONFIDENCE = 0.8
_SAMPLE = 300  # characters looked at: plenty to tell, and about 0.1 ms of CPU a message

_QUOTED = re.compile(r"^\s*>.*$|^On .{0,200} wrote:\s*$", re.MULTILINE)
_URL = re.compile(r"\S+@\S+|https?://\S+|www\.\S+")
_lock = threading.Lock()
_identifier: _Classifier | None = None
# the samples detected last (templated mail repeats itself): sample -> code, "" for none
_recent: dict[str, str] = {}
_RECENT = 512

NAMES = LANGUAGE_NAMES


def name(code: str | None) -> str:
    """An English name for an ISO 639-1 code ("de" → "German"); the code if unknown."""
    if not code:
        return ""
    return NAMES.get(code, code)


class _Classifier:
    """py3langid's classifier (``norm_probs``) reduced to what ``detect`` asks of it.

    The same model, walk and arithmetic, so the same answers; faster where that costs
    nothing in results: the scores table is widened to float32 once (py3langid
    widens the rows of every call's features from float16), and text without a
    single feature stops before any scoring (its scores would be uniform: unsure).
    """

    def __init__(self, tables: dict[str, Any]) -> None:
        import numpy as np  # (here: the CLI's start does without numpy)
        from py3langid.langid import visit_counts

        self.np, self.visit_counts = np, visit_counts
        # (indexed once per byte of text: a memoryview and lists index as fast as
        # py3langid's own array and lists; numpy's scalar indexing is several times slower)
        self.nextmove = memoryview(tables["nextmove"])
        self.rowbase: list[int] = tables["rowbase"].tolist()
        self.output: list[int] = tables["output"].tolist()
        self.table = tables["table"]
        self.prior = tables["prior"]
        self.classes: list[str] = [str(code) for code in tables["classes"]]
        self.aliases: list[tuple[int, int]] = [
            (int(a), int(b)) for a, b in tables["aliases"].reshape(-1, 2)
        ]

    def classify(self, text: str) -> tuple[str, float] | None:
        """The likeliest language and its probability; None when no feature is seen."""
        np = self.np
        if text.isupper():
            text = text.lower()
        data = unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")
        counts = self.visit_counts(self.nextmove, self.rowbase, self.output, data)
        if not counts:
            return None
        idx = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        weights = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        scores = np.log1p(weights) @ self.table[idx] + self.prior
        scores *= 1.0 / math.sqrt(len(data) or 1)
        np.exp(scores - scores.max(), out=scores)
        scores /= scores.sum()
        for first, dupe in self.aliases:  # a script alias (srl -> sr) folded into its label
            scores[first] += scores[dupe]
            scores[dupe] = 0.0
        best = int(scores.argmax())
        return self.classes[best], float(scores[best])


def _model() -> _Classifier:
    global _identifier
    with _lock:
        if _identifier is None:
            _identifier = _Classifier(_tables())
        return _identifier


# The model's tables, widened for scoring, as .npy files mapped read-only: every process
# that detects (an import's writer and its parse worker) shares one copy in the page cache
# instead of holding about 100 MB each, and a process maps them in milliseconds instead of
# decompressing and widening the model again.
_TABLES = ("nextmove", "rowbase", "output", "table", "prior", "classes", "aliases")
_FORMAT = 1  # of the files below; a new layout takes a new folder


def _tables() -> dict[str, Any]:
    """The tables from the cache folder, written there first if missing; read into memory
    when the cache cannot be written (a read-only home): slower to start, same answers."""
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    folder = _cache_folder(Path(MODEL_DIR) / MODEL_FILE)
    if folder is not None:
        try:
            return _mapped(folder)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:  # damaged (a full disk, say): written again
            log.warning(
                "language model tables in %s unreadable (%s); writing them again", folder, exc
            )
            shutil.rmtree(folder, ignore_errors=True)
    tables = _build(MODEL_FILE)
    if folder is not None:
        try:
            _store(tables, folder)
            return _mapped(folder)
        except (OSError, ValueError) as exc:
            log.warning("language model tables not cached in %s: %s", folder, exc)
    return tables


def _cache_folder(model: Path) -> Path | None:
    """Where this model's tables live: one folder per py3langid model file (its size and
    time stamp in the name, so an upgrade of py3langid brings a new folder)."""
    from app.paths import cache_dir

    try:
        stat = model.stat()
        return cache_dir() / f"langid-{_FORMAT}-{stat.st_size}-{stat.st_mtime_ns}"
    except OSError:
        return None


def _build(model_file: str) -> dict[str, Any]:
    """py3langid's model as plain arrays: its scores table widened to float32 once
    (py3langid widens each call's rows from float16)."""
    import numpy as np
    from py3langid.langid import LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(model_file, norm_probs=True)
    nextmove = identifier.tk_nextmove  # an array.array of unsigned ints
    return {
        "nextmove": np.frombuffer(nextmove, dtype=np.dtype(nextmove.typecode)),
        "rowbase": np.asarray(identifier._rowbase, dtype=np.int64),
        "output": np.asarray(identifier.tk_output, dtype=np.int64),
        "table": np.asarray(identifier.nb_ptc, dtype=np.float32),
        "prior": np.asarray(identifier.nb_pc, dtype=np.float32),
        "classes": np.asarray(list(identifier.nb_classes), dtype=np.str_),
        "aliases": np.asarray(list(identifier._alias_pairs), dtype=np.int64).reshape(-1, 2),
    }


def _store(tables: dict[str, Any], folder: Path) -> None:
    """Write the tables into ``folder`` whole or not at all: written beside it, then renamed
    into place (another process that got there first wins; its files are the same)."""
    import numpy as np

    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        for key in _TABLES:
            np.save(partial / f"{key}.npy", tables[key], allow_pickle=False)
        try:
            partial.rename(folder)
        except OSError:
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    _prune(folder)


STALE_SECONDS = 3600.0


def _prune(kept: Path) -> None:
    """Delete the other model folders (about 90 MB each) not touched for an hour: each
    upgrade of the app or of py3langid brings a new model file, hence a new folder, and
    the old ones would pile up (one seen here had 2.8 GB of them); also the partial folders
    of a process that died while writing. A folder written a moment ago by another copy
    of the app (another version, running now) stays; one still mapped is freed by the
    system once unmapped (or, on Windows, fails to go, and goes next time)."""
    import time

    now = time.time()
    for other in kept.parent.glob("langid-*"):
        try:
            stale = other != kept and other.is_dir() and now - other.stat().st_mtime > STALE_SECONDS
        except OSError:
            continue
        if stale:
            shutil.rmtree(other, ignore_errors=True)


def _mapped(folder: Path) -> dict[str, Any]:
    import numpy as np

    return {
        key: np.load(folder / f"{key}.npy", mmap_mode="r", allow_pickle=False) for key in _TABLES
    }


def load() -> None:
    """Load the model now (a writer does while its parse worker starts: time it would
    otherwise spend waiting for the first messages)."""
    _model()


def detect(text: str) -> str | None:
    """The ISO 639-1 code of ``text``'s language, or None when too short or unsure.

    Quoted reply lines and addresses are left out first, so a German reply quoting an
    English mail reads as German.
    """
    head = text[: _SAMPLE * 4]
    # (each pattern runs only where it can match: scanning text without an address for
    # one was about a tenth of the time of detecting)
    if ">" in head or "wrote:" in head:
        head = _QUOTED.sub(" ", head)
    if "@" in head or "://" in head or "www." in head:
        head = _URL.sub(" ", head)
    sample = head[:_SAMPLE]
    if sum(map(str.isalpha, sample)) < MIN_LETTERS:  # (map: a third of the generator's cost)
        return None
    found = _recent.get(sample)
    if found is None:
        best = _model().classify(sample)
        found = _recent[sample] = best[0] if best is not None and best[1] >= MIN_CONFIDENCE else ""
        if len(_recent) > _RECENT:
            _recent.clear()
    return found or None


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
