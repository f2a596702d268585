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
from dataclasses import dataclass, field
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
    media_text,
    person,
)
from connectors.json_stream import Reader, Stopped, events, first_try, values

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


_SECTIONS = ("chats", "left_chats")
_ITEM_STARTS = frozenset({"start_map", "start_array", "string", "number", "boolean", "null"})


@dataclass
class _Chat:
    """One chat of an export as the first reading found it: its fields, size and speakers."""

    where: str
    fields: dict[str, Any] = field(default_factory=dict)
    has_messages: bool = False
    count: int = 0
    sampled: int = 0
    dated: bool = False
    speakers: dict[str, tuple[str, str]] = field(default_factory=dict)  # key: (from_id, name)
    cast: Cast = field(default_factory=Cast)

    def see(self, message: object) -> None:
        self.count += 1
        if not isinstance(message, dict):
            return
        if self.count <= 20:
            self.sampled += 1
            self.dated = self.dated or "date_unixtime" in message or "date" in message
        if message.get("type") == "message":
            author = as_str(message.get("from"))
            from_id = as_str(message.get("from_id"))
            if from_id or author:
                self.speakers.setdefault(from_id or author, (from_id, author))

    def make_cast(self) -> None:
        chat_id = as_str(self.fields.get("id"))
        name = as_str(self.fields.get("name")).strip()
        cast = Cast()
        if as_str(self.fields.get("type")) in _PERSONAL and name:
            user = f"user{chat_id}" if chat_id else ""
            cast.add(user or name, person("member", name, _SOURCE, platform_id=user))
        for key, (from_id, author) in self.speakers.items():
            cast.add(key, person("member", author, _SOURCE, platform_id=from_id))
        self.cast = cast


@dataclass
class _Export:
    """What the first reading of a ``result.json`` found."""

    is_object: bool = False
    single: _Chat = field(default_factory=lambda: _Chat(""))
    listed: dict[tuple[str, int], _Chat] = field(default_factory=dict)
    personal: object = None

    def chats(self) -> dict[tuple[str, int], _Chat]:
        """The chats to import, by (section, index); ("", 0) for a single-chat export."""
        if self.single.has_messages:
            return {("", 0): self.single}
        return {k: c for k, c in self.listed.items() if c.has_messages}


def _wanted() -> frozenset[str]:
    found = {"personal_information", "messages.item", "id", "type", "name"}
    for section in _SECTIONS:
        found |= {f"{section}.list.item.{k}" for k in ("id", "type", "name", "messages.item")}
    return frozenset(found)


_WANTED = _wanted()


class _Walk:
    """Follows which chat the parse events are in."""

    def __init__(self, export: _Export) -> None:
        self.export = export
        self.index = dict.fromkeys(_SECTIONS, -1)

    def chat(self, prefix: str, event: str) -> tuple[tuple[str, int], _Chat | None, str]:
        """For one event: (chat key, chat, what the event is about within it)."""
        section, dot, rest = prefix.partition(".list.item")
        if not dot or section not in _SECTIONS:
            return ("", 0), self.export.single, prefix
        rest = rest.removeprefix(".")
        key = (section, self.index[section])
        if not rest and event in _ITEM_STARTS:
            self.index[section] += 1
            key = (section, self.index[section])
            if event == "start_map":
                self.export.listed[key] = _Chat(f"{section}[{key[1]}].")
        return key, self.export.listed.get(key), rest


def _scan(reader: Reader, where: str) -> _Export:
    export = _Export()
    walk = _Walk(export)
    for prefix, event, value in values(events(reader, where), _WANTED):
        if not prefix and event != "value":
            export.is_object = export.is_object or event == "start_map"
            continue
        _key, chat, rest = walk.chat(prefix, event)
        if chat is None:
            continue
        if rest == "messages" and event == "start_array":
            chat.has_messages = True
        elif event != "value":
            continue
        elif rest == "messages.item":
            chat.see(value)
        elif prefix == "personal_information":
            export.personal = value
        elif rest in ("id", "type", "name"):
            chat.fields[rest] = value
    return export


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
            yield from self._parse(path, options)
        except Stopped:
            return  # cancelled while a file was being read

    def _parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        try:
            export, repair = first_try(
                lambda: path.open("rb"),
                lambda r: _scan(r, path.name),
                path.name,
                options.should_cancel,
            )
        except OSError as exc:
            raise FormatError(f"{path.name}: cannot read: {exc.strerror or exc}") from exc
        chats = export.chats() if export.is_object else {}
        if not chats:
            raise FormatError(f"{path.name}: not a Telegram export (no chat with messages)")
        if any(c.sampled for c in chats.values()) and not any(c.dated for c in chats.values()):
            raise FormatError(f"{path.name}: not a Telegram export (messages have no date)")
        yield from self._account_owner(export.personal, options)
        for chat in chats.values():
            chat.make_cast()
        ticker = Ticker(options, sum(c.count for c in chats.values()))
        done = 0
        try:
            with path.open("rb") as fh:
                for item in self._messages(
                    path,
                    Reader(fh, repair=repair, should_cancel=options.should_cancel),
                    chats,
                    options,
                ):
                    if isinstance(item, EventRecord):
                        done += 1
                        if not ticker.step(done):
                            return
                    yield item
        except OSError as exc:
            raise FormatError(f"{path.name}: cannot read: {exc.strerror or exc}") from exc
        ticker.finish()

    def _account_owner(self, info: object, options: ParseOptions) -> Iterator[Item]:
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

    def _messages(
        self,
        path: Path,
        reader: Reader,
        chats: dict[tuple[str, int], _Chat],
        options: ParseOptions,
    ) -> Iterator[Item]:
        """The second reading: each chat's owner hint and messages, one message at a time."""
        walk = _Walk(_Export())
        ids: dict[tuple[str, int], StableIds] = {}
        numbers: dict[tuple[str, int], int] = {}
        for prefix, event, value in values(events(reader, path.name), _WANTED):
            key, _seen, rest = walk.chat(prefix, event)
            chat = chats.get(key)
            if chat is None:
                continue
            if rest == "messages" and event == "start_array" and key not in ids:
                yield from self._chat_owner(chat, options)
                chat_id = as_str(chat.fields.get("id"))
                name = as_str(chat.fields.get("name")).strip()
                ids[key] = StableIds(f"{_SOURCE}:{chat_id or name}")
                numbers[key] = 0
            if rest != "messages.item" or event != "value" or key not in ids:
                continue
            index = numbers[key]
            numbers[key] += 1
            locator = f"{path.name}:{chat.where}messages[{index}]"
            if not isinstance(value, dict):
                yield Problem(locator, "not a message object")
                continue
            kind = value.get("type")
            if kind not in ("message", "service"):
                if kind != "unsupported":
                    yield Problem(locator, f"unknown message type {kind!r}")
                continue
            when = _when(value, options)
            if when is None:
                yield Problem(locator, "no usable date_unixtime or date")
                continue
            yield self._record(value, when, chat, ids[key], locator)

    def _chat_owner(self, chat: _Chat, options: ParseOptions) -> Iterator[Item]:
        """A private chat named after one of exactly two speakers: the other one is the owner."""
        chat_type = as_str(chat.fields.get("type"))
        name = as_str(chat.fields.get("name")).strip()
        people = [p.name for p in chat.cast.everyone()]
        if chat_type != "personal_chat" or len(people) != 2 or people.count(name) != 1:
            return
        if set(people) & set(options.owner_names):
            return
        yield OwnerHint("name", next(p for p in people if p != name))

    def _record(
        self,
        message: dict[str, Any],
        when: datetime,
        chat: _Chat,
        ids: StableIds,
        locator: str,
    ) -> EventRecord:
        chat_id = as_str(chat.fields.get("id"))
        name = as_str(chat.fields.get("name")).strip()
        key = chat_id or name  # exports trimmed of both share one scope
        chat_type = as_str(chat.fields.get("type"))
        title = name or ("Saved messages" if chat_type == "saved_messages" else "Telegram chat")
        cast = chat.cast
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
