"""Connectors for Meta "Download your information" chats: Messenger and Instagram JSON.

Each conversation folder (``messages/inbox/<thread>/``, ``your_instagram_activity/messages/
inbox/<thread>/``) holds ``message_1.json``, ``message_2.json``, …: ``participants``, ``title``,
``thread_type``, ``thread_path`` and ``messages`` (newest first). Every message has
``sender_name`` and ``timestamp_ms`` (epoch milliseconds, UTC); text is in ``content`` when
there is any; photos, videos, audio, files, GIFs and stickers are listed by their ``uri`` (the
media files are never read); ``share`` holds a link, ``reactions`` who reacted with what.
Meta writes every non-ASCII string as UTF-8 bytes in ``\\u00XX`` escapes (``❤️`` arrives as
``â\\x9d¤ï¸\\x8f``); each string is re-decoded Latin-1 → UTF-8 after loading.

Since Meta turned on end-to-end encryption for one-to-one Messenger chats, the DYI export
holds those threads only up to the switch (in ``messages/e2ee_cutover/``, the same shape); what
follows comes from a separate download (Messenger › Privacy & safety › End-to-end encrypted
chats › Message storage › Download secure storage data): one ``<Name>_<n>.json`` per thread
beside a ``media/`` folder, in camelCase and proper UTF-8: ``participants`` (names),
``threadName`` and ``messages``, each with ``senderName``, ``timestamp`` (epoch
milliseconds), ``text``, ``type`` (``text``, ``media``, ``link``, ``placeholder``), ``media``
(``[{"uri": "./media/<uuid>.jpeg"}]``, or the uri ``Failed to download media``),
``reactions`` (``actor``, ``reaction``) and ``isUnsent``. Its messages are read in the DYI
shape (``_dyi_message``) and go the same way.

DYI messages carry no id, so a message's id is a hash of the thread, its time, sender and
content (numbered for identical repeats, counted oldest first), which stays the same when a
later, longer export of the thread is imported. The two platforms share one parser; the
Instagram connector claims files whose path or keys say Instagram, the Messenger one the rest.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import FormatError
from app.records import Channel, EventRecord, Item, OwnerHint, ParseOptions, Problem
from connectors.chat_common import (
    Cast,
    StableIds,
    Ticker,
    as_list,
    as_str,
    fix_mojibake,
    from_epoch,
    media_text,
    person,
)
from connectors.json_stream import Reader, Stopped, events, first_try, values

_MEDIA_KEYS = (
    ("photos", "photo"),
    ("videos", "video"),
    ("audio_files", "audio"),
    ("files", "file"),
    ("gifs", "gif"),
)
_SYSTEM_TYPES = frozenset({"Subscribe", "Unsubscribe"})
# A file up to this size is held whole and sorted oldest first (Meta splits threads into
# files of about 10,000 messages, a few MB); a larger one streams in file order.
SORT_BYTES = 16 * 1024**2
# Instagram alone writes ``joinable_mode`` among a thread's top-level keys, which follow the
# messages, so a long file shows them only in its tail. ``is_still_participant``,
# ``thread_path`` and ``magic_words`` are in both platforms' files: seen without
# ``joinable_mode``, they say Messenger. Only when neither end shows a top-level key (a
# hand-cut file) do message keys decide: ``"type": "Generic"`` is Messenger's (older
# exports), ``is_geoblocked_for_viewer`` Instagram's.
_INSTAGRAM_TOP = b'"joinable_mode"'
_SHARED_TOP = (b'"is_still_participant"', b'"thread_path"', b'"magic_words"')
_MESSENGER_KEYS = (b'"type": "Generic"', b'"type":"Generic"')
_INSTAGRAM_KEYS = (b'"is_geoblocked_for_viewer"',)
_TAIL_BYTES = 64 * 1024


def _looks_meta(head: bytes) -> bool:
    if b'"sender_name"' in head and b'"timestamp_ms"' in head:
        return True
    # An end-to-end encrypted chats' export: its thread's name comes before the messages,
    # and every message says whether it was unsent.
    return (
        b'"senderName"' in head
        and b'"timestamp"' in head
        and (b'"threadName"' in head or b'"isUnsent"' in head)
    )


# The end-to-end encrypted chats' export lists a message's media in one list: sorted into
# the DYI's lists by the file's extension (anything else, or no file, is a "file").
_E2EE_MEDIA = {
    **dict.fromkeys((".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".bmp"), "photos"),
    **dict.fromkeys((".mp4", ".mov", ".webm", ".m4v", ".3gp"), "videos"),
    **dict.fromkeys(
        (".ogg", ".oga", ".opus", ".aac", ".m4a", ".mp3", ".wav", ".amr"), "audio_files"
    ),
    ".gif": "gifs",
}
_E2EE_PLAIN_TYPES = frozenset({"text", "media"})  # (what the content and media already say)
_THREAD_NUMBER = re.compile(r"_\d+$")  # "Alice Smith_40": the thread's name and a number


def _dyi_message(message: Any) -> Any:
    """A message of the end-to-end encrypted chats' export in the DYI shape (its
    ``senderName`` as ``sender_name``, ``timestamp`` as ``timestamp_ms``, ``text`` as
    ``content``, its media sorted into ``photos``, ``videos``, …); a DYI message, or
    anything else, as it is."""
    if not isinstance(message, dict) or "senderName" not in message or "sender_name" in message:
        return message
    shaped: dict[str, Any] = {
        "sender_name": message.get("senderName"),
        "timestamp_ms": message.get("timestamp"),
        "_e2ee": True,
    }
    media: dict[str, list[dict[str, str]]] = {}
    for item in as_list(message.get("media")):
        uri = item.get("uri") if isinstance(item, dict) else None
        if not isinstance(uri, str):
            continue
        uri = uri.removeprefix("./")
        suffix = Path(uri).suffix.lower() if "/" in uri else ""
        media.setdefault(_E2EE_MEDIA.get(suffix, "files"), []).append({"uri": uri})
    shaped.update(media)
    text = message.get("text")
    if isinstance(text, str) and (text or not media):
        shaped["content"] = text
    kind = message.get("type")
    if isinstance(kind, str) and kind not in _E2EE_PLAIN_TYPES:
        shaped["type"] = kind
    if message.get("isUnsent") is True:
        shaped["is_unsent"] = True
    if "reactions" in message:
        shaped["reactions"] = message["reactions"]
    return shaped


def _tail(path: Path, head: bytes) -> bytes:
    """The file's last 64 KiB (nothing if ``head`` already holds the whole file)."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            if size <= len(head):
                return b""
            fh.seek(max(len(head), size - _TAIL_BYTES))
            return fh.read(_TAIL_BYTES)
    except OSError:
        return b""


def _instagram_hint(path: Path, head: bytes) -> bool:
    parts = " ".join(path.parts).lower()
    if "instagram" in parts:
        return True
    if "facebook" in parts or "messenger" in parts:
        return False
    ends = head + _tail(path, head)
    if _INSTAGRAM_TOP in ends:
        return True
    if any(key in ends for key in _SHARED_TOP):
        return False
    return any(key in head for key in _INSTAGRAM_KEYS) and not any(
        key in head for key in _MESSENGER_KEYS
    )


def _media_time(value: object) -> str | None:
    """``creation_timestamp`` is seconds in most exports and milliseconds in some."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 1e11:
        when = from_epoch(value, millis=True)
    else:
        when = from_epoch(value)
    return when.isoformat() if when else None


def _media(message: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for key, kind in _MEDIA_KEYS:
        items = message.get(key)
        if not isinstance(items, list):
            continue
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("uri"), str):
                entry: dict[str, Any] = {"kind": kind, "uri": item["uri"]}
                if (created := _media_time(item.get("creation_timestamp"))) is not None:
                    entry["created_at"] = created
                found.append(entry)
    sticker = message.get("sticker")
    if isinstance(sticker, dict) and isinstance(sticker.get("uri"), str):
        found.append({"kind": "sticker", "uri": sticker["uri"]})
    return found


def _details(message: dict[str, Any], media: list[dict[str, Any]]) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if media:
        details["media"] = media
    reactions = [
        {"reaction": as_str(r.get("reaction")), "actor": as_str(r.get("actor"))}
        for r in as_list(message.get("reactions"))
        if isinstance(r, dict)
    ]
    if reactions:
        details["reactions"] = reactions
    share = message.get("share")
    if isinstance(share, dict):
        kept = {k: as_str(share[k]) for k in ("link", "share_text") if share.get(k)}
        if kept:
            details["share"] = kept
    kind = message.get("type")
    if isinstance(kind, str) and kind != "Generic":
        details["type"] = kind
    if isinstance(message.get("call_duration"), int):
        details["call_duration"] = message["call_duration"]
    if message.get("is_unsent") is True:
        details["unsent"] = True
    users = message.get("users")
    if isinstance(users, list):
        names = [as_str(u.get("name")) for u in users if isinstance(u, dict)]
        details["users"] = [n for n in names if n]
    return details


def _content(message: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """A message's text and media: its ``content``, else a shared post, else the media (or
    that it was unsent)."""
    content = message.get("content")
    media = _media(message)
    if message.get("is_unsent") is True and not content and not media:
        return "(message unsent)", media
    share = message.get("share")
    if isinstance(content, str) and (content or not isinstance(share, dict)):
        return content, media
    if isinstance(share, dict):
        shared = [as_str(share.get(k)).strip() for k in ("share_text", "link")]
        text = "\n".join(t for t in shared if t)
        if text:
            return text, media
    return media_text(m["kind"] for m in media), media


def _key(message: dict[str, Any], stamp: int) -> tuple[str, str, str]:
    """What tells a message apart for its id: time, sender, content (or media) and media.

    A shared post's text is left out, so ids made before it was read stay the same.
    """
    media = _media(message)
    content = message.get("content")
    text = content if isinstance(content, str) else media_text(m["kind"] for m in media)
    fingerprint = "\x1e".join([text, *(m["uri"] for m in media)])
    return str(stamp), message["sender_name"], fingerprint


def _hash(key: tuple[str, str, str]) -> int:
    digest = hashlib.blake2b("\x1f".join(key).encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(digest.digest(), "big")


def _unusable(message: object) -> str | None:
    """Why a message cannot be imported, or None."""
    if not isinstance(message, dict):
        return "not a message object"
    stamp = message.get("timestamp_ms")
    e2ee = message.get("_e2ee") is True  # (the export's own names for the fields)
    if not isinstance(message.get("sender_name"), str):
        return "no senderName" if e2ee else "no sender_name"
    if from_epoch(stamp, millis=True) is None or not isinstance(stamp, int | float):
        return f"no usable {'timestamp' if e2ee else 'timestamp_ms'} ({stamp!r})"
    return None


@dataclass
class _Scan:
    """What the first reading of a ``message_N.json`` found."""

    is_object: bool = False
    has_messages: bool = False
    fields: dict[str, Any] = field(default_factory=dict)
    count: int = 0
    valid: int = 0
    shaped: bool = False
    senders: dict[str, None] = field(default_factory=dict)
    repeats: dict[int, int] = field(default_factory=dict)


_FIELDS = ("participants", "title", "thread_type", "thread_path", "threadName")
_WANTED = frozenset({*_FIELDS, "messages.item"})


def _scan(reader: Reader, where: str) -> _Scan:
    scan = _Scan()
    hashes = array("Q")
    for prefix, event, value in values(events(reader, where), _WANTED):
        if not prefix:
            scan.is_object = scan.is_object or event == "start_map"
        elif prefix == "messages" and event == "start_array":
            scan.has_messages = True
        elif event != "value":
            continue
        elif prefix in _FIELDS:
            scan.fields[prefix] = value
        elif prefix == "messages.item":
            value = _dyi_message(value)
            scan.count += 1
            if scan.count <= 50 and isinstance(value, dict):
                scan.shaped = scan.shaped or ("sender_name" in value and "timestamp_ms" in value)
            if _unusable(value) is None:
                scan.valid += 1
                message = fix_mojibake(value)
                scan.senders.setdefault(message["sender_name"])
                hashes.append(_hash(_key(message, int(message["timestamp_ms"]))))
    # Identical messages (same time, sender and content) are numbered; only they are kept.
    ordered = sorted(hashes)
    del hashes
    for at in range(1, len(ordered)):
        if ordered[at] == ordered[at - 1]:
            scan.repeats[ordered[at]] = scan.repeats.get(ordered[at], 1) + 1
    return scan


def _messages(reader: Reader, where: str) -> Iterator[tuple[int, Any]]:
    """(index, message) for each entry of ``messages``, one at a time."""
    index = 0
    for prefix, event, value in values(events(reader, where), frozenset({"messages.item"})):
        if prefix == "messages.item" and event == "value":
            yield index, _dyi_message(value)
            index += 1


def _names(data: dict[str, Any]) -> list[str]:
    found: dict[str, None] = {}
    for p in as_list(data.get("participants")):
        name = as_str(p.get("name")) if isinstance(p, dict) else as_str(p)
        if name.strip():
            found.setdefault(name.strip())
    return list(found)


class _MetaConnector:
    """The parser both Meta platforms share; subclasses set the platform and sniff rule."""

    name: str = ""
    label: str = ""
    channel: Channel = "chat"
    extensions: tuple[str, ...] = (".json",)

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure this connector is that ``head`` starts a Meta DYI ``message_N.json``.

        Args:
            path: the file (a path through ``your_instagram_activity`` means Instagram).
            head: up to the first 64 KiB of the file.

        Returns:
            A score from 0.0 to 1.0.
        """
        raise NotImplementedError

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield an owner hint (1:1 threads), then one event per message, oldest first.

        Args:
            path: a ``message_N.json`` file.
            options: owner names, progress and cancel hooks.

        Yields:
            ``OwnerHint``, ``EventRecord`` and ``Problem`` items.

        Raises:
            FormatError: the file cannot be read or is not a Meta DYI messages file.
        """
        try:
            yield from self._parse(path, options)
        except Stopped:
            return  # cancelled while a file was being read

    def _parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        try:
            scan, repair = first_try(
                lambda: path.open("rb"),
                lambda r: _scan(r, path.name),
                path.name,
                options.should_cancel,
            )
            small = path.stat().st_size <= SORT_BYTES
        except OSError as exc:
            raise FormatError(f"{path.name}: cannot read: {exc.strerror or exc}") from exc
        if not scan.is_object or not scan.has_messages:
            raise FormatError(f'{path.name}: not a Meta messages file (no "messages" list)')
        if scan.count and not scan.shaped:
            raise FormatError(
                f"{path.name}: not a Meta messages file (no sender_name/timestamp_ms)"
            )
        try:
            with path.open("rb") as fh:
                messages = _messages(
                    Reader(fh, repair=repair, should_cancel=options.should_cancel), path.name
                )
                yield from self._items(path, scan, messages, small, options)
        except OSError as exc:
            raise FormatError(f"{path.name}: cannot read: {exc.strerror or exc}") from exc

    def _items(
        self,
        path: Path,
        scan: _Scan,
        messages: Iterator[tuple[int, Any]],
        small: bool,
        options: ParseOptions,
    ) -> Iterator[Item]:
        platform = self.name
        fields = fix_mojibake(scan.fields)
        members = _names(fields)
        title = as_str(fields.get("title")).strip()
        chat = as_str(fields.get("thread_path")).strip() or title or path.parent.name
        if "threadName" in fields and "title" not in fields:
            # An end-to-end encrypted chat ("Alice Smith_40"): named after the other person,
            # kept apart by its people (the number may differ from one download to the next).
            named = as_str(fields.get("threadName")).strip()
            title = _THREAD_NUMBER.sub("", named) or _THREAD_NUMBER.sub("", path.stem)
            chat = "e2ee:" + ("|".join(sorted(members)) or named or path.stem)
        cast = Cast((n, person("member", n, platform)) for n in members)
        for sender in scan.senders:
            cast.add(sender, person("member", sender, platform))
        if not title:
            title = ", ".join(p.name for p in cast.everyone()) or path.parent.name
        yield from self._owner_hint(fields, members, title, options)
        ids = StableIds(f"{platform}:{chat}")
        ticker = Ticker(options, scan.valid)
        if small:
            # Held whole and sorted oldest first, as the numbering of repeats counts.
            rows: list[tuple[int, int, dict[str, Any]]] = []
            for index, message in messages:
                reason = _unusable(message)
                if reason:
                    yield Problem(f"{path.name}:messages[{index}]", reason)
                else:
                    rows.append((int(message["timestamp_ms"]), index, fix_mojibake(message)))
            rows.sort(key=lambda r: (r[0], -r[1]))  # oldest first; file order is newest first
            for done, (stamp, index, message) in enumerate(rows, 1):
                if not ticker.step(done):
                    return
                where = f"{path.name}:messages[{index}]"
                key = _key(message, stamp)
                external_id = ids.next(*key)
                yield self._record(message, stamp, external_id, cast, title, chat, where)
        else:
            # Too big to hold: file order (newest first), repeats numbered as sorting would.
            seen: Counter[int] = Counter()
            done = 0
            for index, message in messages:
                where = f"{path.name}:messages[{index}]"
                reason = _unusable(message)
                if reason:
                    yield Problem(where, reason)
                    continue
                done += 1
                if not ticker.step(done):
                    return
                message = fix_mojibake(message)
                stamp = int(message["timestamp_ms"])
                key = _key(message, stamp)
                hashed = _hash(key)
                number = scan.repeats.get(hashed, 1) - seen[hashed]
                if hashed in scan.repeats:
                    seen[hashed] += 1
                external_id = ids.numbered(number, *key)
                yield self._record(message, stamp, external_id, cast, title, chat, where)
        ticker.finish()

    def _owner_hint(
        self, fields: dict[str, Any], members: list[str], title: str, options: ParseOptions
    ) -> Iterator[Item]:
        """In a one-to-one thread titled after the other person, the remaining one is the owner
        (a DYI thread says it is one-to-one; an end-to-end encrypted chat's has no type)."""
        kind = fields.get("thread_type", None if "threadName" in fields else "")
        if kind not in ("Regular", None) or len(members) != 2 or title not in members:
            return
        if set(members) & set(options.owner_names):
            return
        yield OwnerHint("name", next(m for m in members if m != title))

    def _record(
        self,
        message: dict[str, Any],
        stamp: int,
        external_id: str,
        cast: Cast,
        title: str,
        chat: str,
        locator: str,
    ) -> EventRecord:
        sender: str = message["sender_name"]
        text, media = _content(message)
        details = _details(message, media)
        system = message.get("type") in _SYSTEM_TYPES or "users" in details
        when = from_epoch(stamp, millis=True)
        assert when is not None
        return EventRecord(
            channel="chat",
            source=self.name,
            external_id=external_id,
            occurred_at=when,
            title=title,
            text=text,
            participants=cast.everyone() if system else cast.speaking(sender),
            direction="system" if system else None,
            thread_key=f"{self.name}:{chat}",
            details=details,
            locator=locator,
        )


class MessengerConnector(_MetaConnector):
    """Facebook Messenger chats from a "Download your information" JSON export.

    Attributes:
        name: "messenger" (also the events' source).
        label: description for dialogs.
        channel: "chat".
        extensions: (".json",).
    """

    name = "messenger"
    label = "Facebook Messenger (Download your information, encrypted chats)"

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure this connector is that ``head`` starts a Messenger ``message_N.json``.

        Args:
            path: the file.
            head: up to the first 64 KiB of the file.

        Returns:
            0.85 for the Meta message shape (Instagram claims its own files with 0.9), else 0.0.
        """
        return 0.85 if _looks_meta(head) else 0.0


class InstagramConnector(_MetaConnector):
    """Instagram direct messages from a "Download your information" JSON export.

    Attributes:
        name: "instagram" (also the events' source).
        label: description for dialogs.
        channel: "chat".
        extensions: (".json",).
    """

    name = "instagram"
    label = "Instagram messages (Download your information, message_N.json)"

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure this connector is that ``head`` starts an Instagram ``message_N.json``.

        Args:
            path: the file; a path through an Instagram export folder decides it.
            head: up to the first 64 KiB of the file.

        Returns:
            0.9 for the Meta message shape with a sign of Instagram (path or keys), else 0.0.
        """
        return 0.9 if _looks_meta(head) and _instagram_hint(path, head) else 0.0
