"""Helpers the chat connectors share: tolerant JSON loading, people, stable ids, progress.

Every chat connector (Meta, Telegram, Slack, Zendesk, chat CSV) turns messages into
``EventRecord`` items with the same conventions: the author is a participant with role
"author" and everyone else in the conversation a "member" (so the owner's own message still
reaches the customer's timeline); a participant whose name is a phone number is a phone
identity, otherwise a handle scoped by the platform; an id made from a hash stays stable when
a longer export of the same chat is imported again. This module holds those conventions so the
connectors stay about their formats.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from app.records import ParseOptions, Participant, Role
from connectors import json_stream
from connectors.textfile import KeySet

_PHONE = re.compile(r"\+?[\d\s().-]+")
_MIN_EPOCH = datetime(1990, 1, 1, tzinfo=UTC).timestamp()
_MAX_EPOCH = datetime(2200, 1, 1, tzinfo=UTC).timestamp()


def load_json(raw: bytes, where: str) -> Any:
    """Parse a small JSON document whole, with the repairs of ``connectors.json_stream``.

    Big exports are streamed instead; this is for the small files around them.

    Args:
        raw: the file's bytes.
        where: the file name, for the error message.

    Returns:
        The decoded JSON value (numbers as int or float).

    Raises:
        FormatError: the bytes are not JSON, even after the repairs (one line).
    """
    value, _repaired = json_stream.first_try(
        lambda: io.BytesIO(raw), lambda r: _whole(r, where), where
    )
    return value


def _whole(reader: json_stream.Reader, where: str) -> Any:
    found: Any = None
    for _prefix, event, value in json_stream.values(
        json_stream.events(reader, where), frozenset({""})
    ):
        if event == "value":
            found = value
    return found


def fix_mojibake(value: Any) -> Any:
    """Undo Meta's mojibake: UTF-8 bytes stored as ``\\u00XX`` characters, recursively.

    Every string in ``value`` (dict values and keys, list items) that consists only of
    characters below U+0100 and decodes as UTF-8 when taken as Latin-1 bytes is replaced by
    the decoded text; any other string (already proper text, such as ``soñé``) is kept.

    Args:
        value: a decoded JSON value.

    Returns:
        The same structure with the strings repaired.
    """
    if isinstance(value, str):
        if value.isascii():
            return value
        try:
            return value.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return value
    if isinstance(value, list):
        return [fix_mojibake(v) for v in value]
    if isinstance(value, dict):
        return {fix_mojibake(k): fix_mojibake(v) for k, v in value.items()}
    return value


def duration_text(seconds: int) -> str:
    """A call's length as people say it: "45 s", "3 min", "1 min 4 s"."""
    minutes, rest = divmod(seconds, 60)
    if minutes == 0:
        return f"{rest} s"
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def is_phone(name: str) -> bool:
    """Whether a display name is a phone number, as chat apps show unsaved contacts.

    Args:
        name: a display name (``+44 7700 900123``, ``Alice``).

    Returns:
        True for digits with the usual phone punctuation and at least five digits.
    """
    return bool(_PHONE.fullmatch(name)) and sum(c.isdigit() for c in name) >= 5


def person(
    role: Role,
    name: str,
    platform: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    platform_id: str | None = None,
) -> Participant:
    """A chat participant: a phone if the name is a number, else a handle on ``platform``.

    Args:
        role: "author" or "member".
        name: the display name as the export shows it.
        platform: the platform that scopes the handle and id.
        email: an email address the platform gives, if any.
        phone: a phone number the platform gives, if any.
        platform_id: the platform's user id, if any.

    Returns:
        The participant.
    """
    name = name.strip()
    as_phone = phone is None and is_phone(name)
    return Participant(
        role=role,
        name=name,
        email=email or None,
        phone=name if as_phone else (phone or None),
        handle=None if as_phone or not name else name,
        platform=platform,
        platform_id=platform_id or None,
    )


def is_address(text: str) -> bool:
    """Whether a sender's id is an email address (an iMessage's Apple ID), not a name."""
    return "@" in text and " " not in text.strip()


def member(sender: str, name: str, platform: str) -> Participant:
    """A conversation's member known by what a phone's messages name them by: an email
    address or a number (``name`` beside it), else a name alone (a handle on ``platform``,
    never linked by the name)."""
    sender = sender.strip()
    if is_address(sender):
        return Participant(role="member", name=name, email=sender)
    if is_phone(sender):
        return Participant(role="member", name=name, phone=sender)
    return person("member", name or sender, platform)


class Cast:
    """Everyone in one conversation, building each message's participants.

    Add people as members (keyed by whatever identifies them in the format: a user id, a
    name); ``speaking(key)`` gives the author first, then every other member.
    """

    def __init__(self, members: Iterable[tuple[str, Participant]] = ()) -> None:
        """Start with ``members``: (key, participant) pairs; roles are set here."""
        self._people: dict[str, Participant] = {}
        self._cache: dict[str, tuple[Participant, ...]] = {}
        for key, member in members:
            self.add(key, member)

    def add(self, key: str, member: Participant) -> None:
        """Add one person under ``key``; a key already present keeps its first person.

        Args:
            key: what identifies the person in the format (a user id, a name).
            member: the participant; its role is set to "member".
        """
        if key not in self._people:
            self._people[key] = replace(member, role="member")
            self._cache.clear()

    def __contains__(self, key: str) -> bool:
        return key in self._people

    def everyone(self) -> tuple[Participant, ...]:
        """Every member, as members (for system lines)."""
        return tuple(self._people.values())

    def speaking(self, key: str) -> tuple[Participant, ...]:
        """The participants of a message by ``key``: the author, then the other members.

        Raises:
            KeyError: nobody was added under ``key``.
        """
        found = self._cache.get(key)
        if found is None:
            author = replace(self._people[key], role="author")
            found = (author, *(p for k, p in self._people.items() if k != key))
            self._cache[key] = found
        return found


class StableIds:
    """Ids for messages that have none: a hash of what they say, numbered when repeated.

    The first of two identical messages (same chat, time, author and text) gets ``…:1``, the
    second ``…:2``; feed messages oldest first so a longer export keeps the old numbers.
    The messages seen are kept as 8-byte hashes (``KeySet``), so a huge export does not
    hold every id.
    """

    def __init__(self, scope: str) -> None:
        """Ids are unique within ``scope`` (a chat key)."""
        self._scope = scope
        self._seen = KeySet()
        self._repeats: Counter[str] = Counter()

    def next(self, *parts: str) -> str:
        """The id of the next message made of ``parts``.

        Args:
            parts: what tells the message apart (time, author, text, …).

        Returns:
            ``<sha256 hex>:<n>``, where n counts identical messages seen so far.
        """
        digest = self._digest(parts)
        if self._seen.add(digest):
            return f"{digest}:1"
        self._repeats[digest] += 1
        return f"{digest}:{self._repeats[digest] + 1}"

    def numbered(self, number: int, *parts: str) -> str:
        """The id of the ``number``-th message made of ``parts``, when the caller counts."""
        return f"{self._digest(parts)}:{number}"

    def _digest(self, parts: tuple[str, ...]) -> str:
        key = "\x1f".join((self._scope, *parts))
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class Ticker:
    """Calls ``options.progress`` now and then and polls ``options.should_cancel``."""

    def __init__(self, options: ParseOptions, total: int, every: int = 200) -> None:
        """Report progress out of ``total`` every ``every`` steps."""
        self._options = options
        self._total = max(total, 0)
        self._every = max(every, 1)
        self._count = 0

    @property
    def done(self) -> int:
        """Steps counted so far."""
        return self._count

    def step(self, done: int) -> bool:
        """Count one step that brought progress to ``done``.

        Returns:
            False if ``should_cancel`` says to stop (polled at the first step and every
            ``every`` steps), else True.
        """
        self._count += 1
        if self._count % self._every and self._count != 1:
            return True
        options = self._options
        if options.should_cancel is not None and options.should_cancel():
            return False
        if options.progress is not None:
            options.progress(min(done, self._total), self._total)
        return True

    def finish(self) -> None:
        """Report the end."""
        if self._options.progress is not None:
            self._options.progress(self._total, self._total)


def from_epoch(value: object, *, millis: bool = False) -> datetime | None:
    """An epoch time (seconds, or milliseconds with ``millis``) as aware UTC.

    Args:
        value: a number or a numeric string (``"1544006350"``, ``"1516454398.000069"``).
        millis: the value counts milliseconds.

    Returns:
        The time, or None if the value is not a number or not between 1990 and 2200.
    """
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value) if isinstance(value, int | float | str) else None
    except ValueError:
        return None
    if seconds is None or seconds != seconds:
        return None
    if millis:
        seconds /= 1000
    if not _MIN_EPOCH <= seconds < _MAX_EPOCH:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def media_text(kinds: Iterable[str]) -> str:
    """A short plain-text stand-in for a message that is only media: ``(photo)``, ``(2 videos)``.

    Args:
        kinds: one entry per media item ("photo", "video", …).

    Returns:
        The text, or "" if there is no media.
    """
    counts = Counter(kinds)
    parts = [kind if n == 1 else f"{n} {kind}s" for kind, n in counts.items()]
    return f"({', '.join(parts)})" if parts else ""


def as_str(value: object) -> str:
    """A JSON scalar as text.

    Args:
        value: a decoded JSON value.

    Returns:
        The text ("" for None, lists and objects; "true"/"false" for booleans).
    """
    if value is None or isinstance(value, list | dict):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def as_list(value: object) -> list[Any]:
    """A JSON value that should be an array, as a list ([] for anything else).

    Args:
        value: a decoded JSON value.

    Returns:
        The list, or an empty list.
    """
    return value if isinstance(value, list) else []
