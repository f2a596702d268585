"""Connector for Telegram Desktop "Export chat history" JSON (``result.json``).

Two shapes: a single-chat export ``{name, type, id, messages}`` and a full-account export
``{personal_information, contacts, chats: {list: [chat…]}, left_chats: {list: […]}, …}``.
A message has ``id`` (unique in its chat), ``type`` ("message" or "service"), ``date`` (local
time without an offset) and ``date_unixtime`` (a string of epoch seconds, preferred), ``from``
and ``from_id`` ("user123"); ``text`` is a string or an array mixing strings and
``{type, text}`` entities, flattened here to plain text. Service messages (``actor``,
``action``: create_group, invite_members, phone_call, …) become system events. Media fields
(``photo``, ``file``, ``thumbnail``) hold a relative path or a placeholder such as
``(File not included. Change data exporting settings to download.)``, which is kept as
"not included", never as a path; media files are never opened. tdesktop writes control
characters as ``\\xNN``, which is not JSON; the loader repairs that.

An event's id is ``<chat id>:<message id>``; exports trimmed of ids fall back to a hash of
chat, time, author and text. The full-account export names its owner
(``personal_information``), which becomes owner hints (name and phone).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.errors import FormatError
from app.records import Channel, EventRecord, Item, OwnerHint, ParseOptions, Problem
from connectors.chat_common import (
    Cast,
    StableIds,
    Ticker,
    as_str,
    from_epoch,
    load_json,
    media_text,
    person,
)

_SOURCE = "telegram"
_PLACEHOLDER = re.compile(
    r"\((?:File|Photo)\s(?:not included|exceeds maximum size|unavailable)[^)]*\)\s*$"
)
_MEDIA_KINDS = {
    "sticker": "sticker",
    "video_message": "video",
    "voice_message": "audio",
    "animation": "gif",
    "video_file": "video",
    "audio_file": "audio",
}
_PERSONAL = frozenset({"personal_chat", "bot_chat"})
_HEAD_KEYS = (b'"date_unixtime"', b'"personal_information"', b'"text_entities"')


def flatten_text(value: object) -> str:
    """Telegram's ``text`` as plain text.

    Args:
        value: a string, or a list of strings and ``{"type": …, "text": …}`` entities.

    Returns:
        The concatenated text ("" for anything else).
    """
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        return ""
    parts: list[str] = []
    for part in value:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict):
            parts.append(as_str(part.get("text")))
    return "".join(parts)


def _links(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [
        as_str(p.get("href"))
        for p in value
        if isinstance(p, dict) and p.get("type") == "text_link" and p.get("href")
    ]


def _file_ref(value: object) -> dict[str, Any] | None:
    """A media path as a reference: the relative path, or "not included" for a placeholder."""
    text = as_str(value).strip()
    if not text:
        return None
    if _PLACEHOLDER.search(text):
        return {"file": None, "not_included": text}
    return {"file": text}


def _media(message: dict[str, Any]) -> dict[str, Any] | None:
    if "photo" in message:
        kind = "photo"
        ref = _file_ref(message["photo"])
    elif "file" in message:
        kind = _MEDIA_KINDS.get(as_str(message.get("media_type")), "file")
        ref = _file_ref(message["file"])
    else:
        return None
    media: dict[str, Any] = {"kind": kind, **(ref or {"file": None})}
    for key in ("mime_type", "duration_seconds", "sticker_emoji", "title", "performer"):
        if isinstance(message.get(key), str | int) and not isinstance(message.get(key), bool):
            media[key] = message[key]
    return media


def _details(message: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if (media := _media(message)) is not None:
        details["media"] = media
    if links := _links(message.get("text")):
        details["links"] = links
    for key in ("reply_to_message_id", "forwarded_from", "via_bot", "author", "action"):
        value = message.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            details[key] = value
    edited = from_epoch(message.get("edited_unixtime"))
    if edited is not None:
        details["edited_at"] = edited.isoformat()
    for key in ("contact_information", "location_information"):
        if isinstance(message.get(key), dict):
            details[key] = {k: as_str(v) for k, v in message[key].items()}
    return details


def _service_text(message: dict[str, Any]) -> str:
    text = flatten_text(message.get("text"))
    if text:
        return text
    actor = as_str(message.get("actor")) or as_str(message.get("from"))
    action = as_str(message.get("action")).replace("_", " ") or "service message"
    words = f"{actor}: {action}" if actor else action
    title = as_str(message.get("title"))
    if title:
        words += f" “{title}”"
    members = message.get("members")
    if isinstance(members, list) and members:
        words += " (" + ", ".join(as_str(m) or "?" for m in members) + ")"
    return words


def _when(message: dict[str, Any], options: ParseOptions) -> datetime | None:
    found = from_epoch(message.get("date_unixtime"))
    if found is not None:
        return found
    local = as_str(message.get("date"))
    try:
        naive = datetime.fromisoformat(local)
    except ValueError:
        return None
    if naive.tzinfo is None:
        naive = naive.replace(tzinfo=options.tz)
    return naive.astimezone(UTC)


def _chats(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, chat) for each chat of an export, single-chat or full-account."""
    if isinstance(data.get("messages"), list):
        return [("", data)]
    found: list[tuple[str, dict[str, Any]]] = []
    for section in ("chats", "left_chats"):
        block = data.get(section)
        items = block.get("list") if isinstance(block, dict) else None
        if isinstance(items, list):
            for index, chat in enumerate(items):
                if isinstance(chat, dict) and isinstance(chat.get("messages"), list):
                    found.append((f"{section}[{index}].", chat))
    return found


class TelegramConnector:
    """Reads a Telegram Desktop JSON export (one chat or the whole account) into chat events.

    Attributes:
        name: "telegram" (also the events' source).
        label: description for dialogs.
        channel: "chat".
        extensions: (".json",).
    """

    name: str = "telegram"
    label: str = "Telegram Desktop export (result.json)"
    channel: Channel = "chat"
    extensions: tuple[str, ...] = (".json",)

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure this connector is that ``head`` starts a Telegram ``result.json``.

        Args:
            path: the file (unused; the keys decide).
            head: up to the first 64 KiB of the file.

        Returns:
            0.9 if Telegram's own keys appear, 0.0 otherwise.
        """
        del path
        if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
            return 0.0
        if any(key in head for key in _HEAD_KEYS):
            return 0.9
        return 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield owner hints, then each chat's events in order, and problems on the way.

        Args:
            path: the ``result.json`` file.
            options: zone for exports without ``date_unixtime``, owner names, progress and
                cancel hooks.

        Yields:
            ``OwnerHint``, ``EventRecord`` and ``Problem`` items.

        Raises:
            FormatError: the file cannot be read or is not a Telegram export.
        """
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise FormatError(f"{path.name}: cannot read: {exc.strerror or exc}") from exc
        data = load_json(raw, path.name)
        chats = _chats(data) if isinstance(data, dict) else []
        if not chats:
            raise FormatError(f"{path.name}: not a Telegram export (no chat with messages)")
        assert isinstance(data, dict)
        sample = [m for _, chat in chats for m in chat["messages"][:20] if isinstance(m, dict)]
        if sample and not any("date_unixtime" in m or "date" in m for m in sample):
            raise FormatError(f"{path.name}: not a Telegram export (messages have no date)")
        yield from self._account_owner(data, options)
        total = sum(len(chat["messages"]) for _, chat in chats)
        ticker = Ticker(options, total)
        done = 0
        for where, chat in chats:
            for item in self._chat(path, where, chat, options):
                if isinstance(item, EventRecord):
                    done += 1
                    if not ticker.step(done):
                        return
                yield item
        ticker.finish()

    def _account_owner(self, data: dict[str, Any], options: ParseOptions) -> Iterator[Item]:
        info = data.get("personal_information")
        if not isinstance(info, dict):
            return
        name = " ".join(
            as_str(info.get(k)).strip() for k in ("first_name", "last_name") if info.get(k)
        )
        if name and name not in options.owner_names:
            yield OwnerHint("name", name)
        phone = as_str(info.get("phone_number")).strip()
        if phone:
            yield OwnerHint("phone", phone)

    def _chat(
        self, path: Path, where: str, chat: dict[str, Any], options: ParseOptions
    ) -> Iterator[Item]:
        chat_id = as_str(chat.get("id"))
        chat_type = as_str(chat.get("type"))
        name = as_str(chat.get("name")).strip()
        key = chat_id or name  # exports trimmed of both share one scope
        title = name or ("Saved messages" if chat_type == "saved_messages" else "Telegram chat")
        cast = Cast()
        if chat_type in _PERSONAL and name:
            user = f"user{chat_id}" if chat_id else ""
            cast.add(user or name, person("member", name, _SOURCE, platform_id=user))
        messages: list[Any] = chat["messages"]
        for message in messages:
            if isinstance(message, dict) and message.get("type") == "message":
                author = as_str(message.get("from"))
                from_id = as_str(message.get("from_id"))
                if from_id or author:
                    member = person("member", author, _SOURCE, platform_id=from_id)
                    cast.add(from_id or author, member)
        yield from self._chat_owner(cast, chat_type, name, options)
        ids = StableIds(f"{_SOURCE}:{key}")
        for index, message in enumerate(messages):
            locator = f"{path.name}:{where}messages[{index}]"
            if not isinstance(message, dict):
                yield Problem(locator, "not a message object")
                continue
            kind = message.get("type")
            if kind not in ("message", "service"):
                if kind != "unsupported":
                    yield Problem(locator, f"unknown message type {kind!r}")
                continue
            when = _when(message, options)
            if when is None:
                yield Problem(locator, "no usable date_unixtime or date")
                continue
            yield self._record(message, when, cast, ids, chat_id, key, title, locator)

    def _chat_owner(
        self, cast: Cast, chat_type: str, name: str, options: ParseOptions
    ) -> Iterator[Item]:
        """A private chat named after one of exactly two speakers: the other one is the owner."""
        people = [p.name for p in cast.everyone()]
        if chat_type != "personal_chat" or len(people) != 2 or people.count(name) != 1:
            return
        if set(people) & set(options.owner_names):
            return
        yield OwnerHint("name", next(p for p in people if p != name))

    def _record(
        self,
        message: dict[str, Any],
        when: datetime,
        cast: Cast,
        ids: StableIds,
        chat_id: str,
        key: str,
        title: str,
        locator: str,
    ) -> EventRecord:
        system = message.get("type") == "service"
        details = _details(message)
        if system:
            text = _service_text(message)
        else:
            text = flatten_text(message.get("text"))
            media = details.get("media")
            if not text and isinstance(media, dict):
                text = media_text([media["kind"]])
        author = as_str(message.get("from"))
        author_key = as_str(message.get("from_id")) or author
        message_id = as_str(message.get("id"))
        if chat_id and message_id:
            external_id = f"{chat_id}:{message_id}"
        else:
            external_id = ids.next(when.isoformat(), author, text)
        participants = cast.everyone()
        if not system and author_key in cast:
            participants = cast.speaking(author_key)
        return EventRecord(
            channel="chat",
            source=_SOURCE,
            external_id=external_id,
            occurred_at=when,
            title=title,
            text=text,
            participants=participants,
            direction="system" if system else None,
            thread_key=f"{_SOURCE}:{key or 'chat'}",
            details=details,
            locator=locator,
        )
