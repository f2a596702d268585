"""Connector for Slack workspace exports: the ``.zip`` Slack gives, or that archive unpacked.

The export holds ``users.json`` (``id``, ``name``, ``real_name``, ``profile.email``),
``channels.json`` (and ``groups.json``, ``mpims.json``, ``dms.json`` in newer exports: each
conversation's ``id``, ``name`` and ``members``) and one folder per conversation with one file
per day, ``<channel>/<YYYY-MM-DD>.json``: an array of messages. A message has ``user`` (an id
resolved through users.json), ``text`` with Slack's markup (``<@U123>`` mentions become
``@name``, ``<!channel>`` ``@channel``, ``<#C1|general>`` ``#general``, links their label or
address, ``&amp;``/``&lt;``/``&gt;`` plain characters), and ``ts``, the epoch time as a string,
which is also the message's id within its channel. Subtypes such as ``channel_join`` are
system events. Shared files are listed by reference (name, size, type), never downloaded; the
file URLs, which carry access tokens, are not kept.

A folder is recognised by its ``users.json`` and ``channels.json``; the zip is read through
``connectors.archive`` (no extraction, size and ratio limits). A single day file can be
imported too: users are then looked up in the ``users.json`` two folders up, if there is one.
"""

from __future__ import annotations

import html
import re
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from app.errors import FormatError
from app.records import Channel, EventRecord, Item, Notice, ParseOptions, Participant, Problem
from connectors.archive import (
    ArchiveError,
    ArchiveRefused,
    SafeZip,
    looks_like_zip,
    member_names,
)
from connectors.chat_common import Cast, Ticker, as_list, as_str, from_epoch, media_text
from connectors.json_stream import BinaryFile, Reader, events, first_try, values

_SOURCE = "slack"
_DAY_FILE = re.compile(r"(?P<conv>[^/]+)/(?P<day>\d{4}-\d{2}-\d{2})\.json")
_CONV_FILES = ("channels.json", "groups.json", "mpims.json", "dms.json")
_MAX_DAY_FILE = 64 * 1024**2
_MAX_MEMBERS = 50
_SYSTEM_SUBTYPES = frozenset(
    {
        "channel_join",
        "channel_leave",
        "channel_topic",
        "channel_purpose",
        "channel_name",
        "channel_archive",
        "channel_unarchive",
        "group_join",
        "group_leave",
        "group_topic",
        "group_purpose",
        "group_name",
        "group_archive",
        "group_unarchive",
        "pinned_item",
        "unpinned_item",
        "bot_add",
        "bot_remove",
        "reminder_add",
    }
)
_MARKUP = re.compile(r"<([^<>]*)>")
_BOT_NAME = "Slack app"
_ITEM = frozenset({"item"})
_ENTRY_KEYS = ("id", "name", "real_name", "profile", "is_bot", "members")
_DAY_HEAD = re.compile(rb'^\s*\[\s*\{[^\]]*"(?:ts|type)"\s*:', re.DOTALL)


@dataclass
class _User:
    """One Slack user as users.json describes them."""

    id: str
    username: str
    display: str
    email: str | None = None
    is_bot: bool = False

    def participant(self) -> Participant:
        return Participant(
            role="member",
            name=self.display,
            email=self.email,
            handle=self.username or None,
            platform=_SOURCE,
            platform_id=self.id or None,
        )


@dataclass
class _Conversation:
    """One channel, private group, multi-person or direct message."""

    id: str
    name: str
    title: str
    members: list[str] = field(default_factory=list)
    days: list[str] = field(default_factory=list)


class _Source:
    """The files of an export by name relative to its root, from a folder, a zip or one day file."""

    def __init__(self, path: Path) -> None:
        self.label = path.name
        self.names: list[str] = []
        self.problems: list[Problem] = []
        self._zip: SafeZip | None = None
        self._root = path
        self._prefix = ""
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if child.is_file() and child.suffix == ".json":
                    self.names.append(child.name)
                elif child.is_dir() and not child.name.startswith("."):
                    self.names.extend(
                        f"{child.name}/{f.name}"
                        for f in sorted(child.glob("*.json"))
                        if f.is_file()
                    )
        elif looks_like_zip(_head(path)):
            self._zip = SafeZip(path)
            self.problems = [
                Problem(f"{path.name}!{n}", f"archive member skipped: {why}")
                for n, why in self._zip.rejected
            ]
            self._prefix = _export_prefix(list(self._zip.members)) or ""
            self.names = [
                n[len(self._prefix) :] for n in self._zip.members if n.startswith(self._prefix)
            ]
        else:  # a single day file; the export root is two folders up
            self._root = path.parent.parent
            self.names = [f"{path.parent.name}/{path.name}"]
            self.names += [n for n in ("users.json", *_CONV_FILES) if (self._root / n).is_file()]

    def day_files(self) -> list[tuple[str, str]]:
        """(conversation folder, file name) of every day file, in name order."""
        found = [(m["conv"], n) for n in sorted(self.names) if (m := _DAY_FILE.fullmatch(n))]
        return found

    def where(self, name: str) -> str:
        """A locator prefix for one file of the export."""
        return f"{self.label}!{self._prefix}{name}" if self._zip is not None else name

    def open(self, name: str) -> BinaryFile:
        """One file of the export as a binary stream (read with checks inside a zip).

        Raises:
            ArchiveError: the file is too large or unreadable inside the zip, or the export
                has no such file.
            OSError: the file cannot be read from disk.
        """
        if name not in self.names:
            raise ArchiveError(f"{self.where(name)}: no such file")
        if self._zip is not None:
            return self._zip.open(self._prefix + name, _MAX_DAY_FILE)
        target = self._root / name
        if target.stat().st_size > _MAX_DAY_FILE:
            raise ArchiveError(f"{name}: larger than {_MAX_DAY_FILE} bytes")
        return target.open("rb")

    def close(self) -> None:
        """Close the zip, if any."""
        if self._zip is not None:
            self._zip.close()


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(4)
    except OSError:
        return b""


def _export_prefix(names: list[str]) -> str | None:
    """The folder inside an archive that holds ``users.json`` and a conversation list."""
    for prefix in sorted({n[: -len("users.json")] for n in names if n.endswith("users.json")}):
        if prefix and not prefix.endswith("/"):
            continue
        if any(prefix + c in names for c in _CONV_FILES):
            return prefix
    return None


def _users(data: object) -> dict[str, _User]:
    found: dict[str, _User] = {}
    for entry in data if isinstance(data, list) else []:
        if not isinstance(entry, dict) or not as_str(entry.get("id")):
            continue
        profile = entry.get("profile") if isinstance(entry.get("profile"), dict) else {}
        assert isinstance(profile, dict)
        username = as_str(entry.get("name"))
        display = (
            as_str(entry.get("real_name"))
            or as_str(profile.get("real_name"))
            or as_str(profile.get("display_name"))
            or username
        )
        email = as_str(profile.get("email")) or None
        uid = as_str(entry["id"])
        is_bot = entry.get("is_bot") is True or uid == "USLACKBOT"
        found[uid] = _User(uid, username, display.strip() or uid, email, is_bot)
    return found


def render_text(text: str, users: dict[str, _User]) -> str:
    """Slack's message markup as plain text.

    Args:
        text: a message's ``text``.
        users: users by id, to name ``<@U…>`` mentions.

    Returns:
        The text with mentions as ``@name``, channel links as ``#name``, special mentions as
        ``@channel``/``@here``/``@everyone``, links as their label (or address) and HTML
        entities decoded.
    """

    def one(m: re.Match[str]) -> str:
        inner = m.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            user = users.get(target[1:])
            return "@" + (user.display if user else label or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            word = target[1:].split("^", 1)[0]
            if word.startswith("subteam"):
                return label or "@team"
            if word.startswith("date"):
                return label or word
            return "@" + word
        if label:
            return label
        return target.removeprefix("mailto:")

    return html.unescape(_MARKUP.sub(one, text))


def _files(message: dict[str, Any]) -> list[dict[str, Any]]:
    items = message.get("files")
    if not isinstance(items, list):
        items = [message["file"]] if isinstance(message.get("file"), dict) else []
    found: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, dict):
            entry = {
                k: item[k] for k in ("id", "name", "title", "mimetype", "filetype") if k in item
            }
            if isinstance(item.get("size"), int):
                entry["size"] = item["size"]
            found.append({k: v if isinstance(v, int) else as_str(v) for k, v in entry.items()})
    return found


class SlackConnector:
    """Reads a Slack workspace export (``.zip`` or folder) into chat events.

    Attributes:
        name: "slack" (also the events' source).
        label: description for dialogs.
        channel: "chat".
        extensions: (".zip", ".json").
    """

    name: str = "slack"
    label: str = "Slack workspace export (.zip or folder)"
    channel: Channel = "chat"
    extensions: tuple[str, ...] = (".zip", ".json")

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure this connector is that ``path`` is a Slack export.

        Args:
            path: a folder, a ``.zip`` or a day file.
            head: up to the first 64 KiB of the file (empty for a folder).

        Returns:
            0.95 for a folder or zip with ``users.json`` and a conversation list, 0.7 for a
            day file (``YYYY-MM-DD.json`` holding an array of messages), 0.0 otherwise.
        """
        if path.is_dir():
            has_users = (path / "users.json").is_file()
            return 0.95 if has_users and any((path / c).is_file() for c in _CONV_FILES) else 0.0
        if looks_like_zip(head):
            names = member_names(path)
            return 0.95 if names is not None and _export_prefix(names) is not None else 0.0
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}\.json", path.name) and _DAY_HEAD.match(head):
            return 0.7
        return 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield each conversation's events, day by day, and problems on the way.

        Args:
            path: the export folder, the ``.zip``, or one day file.
            options: progress and cancel hooks.

        Yields:
            ``Notice``, ``EventRecord`` and ``Problem`` items.

        Raises:
            FormatError: the path is not a readable Slack export.
        """
        try:
            source = _Source(path)
        except OSError as exc:
            raise FormatError(f"{path.name}: cannot read: {exc.strerror or exc}") from exc
        try:
            yield from self._parse(source, options)
        finally:
            source.close()

    def _load(self, source: _Source, name: str) -> list[Any] | None:
        """The entries of one of the export's list files (None if absent; [] if not a list).

        Raises:
            ArchiveRefused: the archive went over a limit.
            FormatError: the file is unreadable, too large or not JSON.
        """
        if name not in source.names:
            return None
        where = source.where(name)
        try:
            found, _repair = first_try(
                lambda: source.open(name), lambda r: _entries(r, where), where
            )
        except OSError as exc:
            raise FormatError(f"{where}: cannot read: {exc.strerror or exc}") from exc
        return found if isinstance(found, list) else []

    def _parse(self, source: _Source, options: ParseOptions) -> Iterator[Item]:
        yield from source.problems
        days = source.day_files()
        if not days:
            raise FormatError(f"{source.label}: not a Slack export (no <channel>/<date>.json)")
        try:
            users = _users(self._load(source, "users.json"))
        except ArchiveRefused:
            raise
        except FormatError as exc:
            yield Problem(source.where("users.json"), str(exc))
            users = {}
        if not users:
            yield Notice(f"{source.label}: no users.json; authors are shown by their Slack id")
        convs: dict[str, _Conversation] = {}
        for list_name in _CONV_FILES:
            try:
                listed = self._load(source, list_name)
            except ArchiveRefused:
                raise
            except FormatError as exc:
                yield Problem(source.where(list_name), str(exc))
                continue
            for entry in listed if isinstance(listed, list) else []:
                if isinstance(entry, dict):
                    _add_conversation(convs, entry, list_name, users)
        ordered: dict[int, _Conversation] = {}
        for folder, name in days:
            conv = convs.get(folder)
            if conv is None:
                conv = convs[folder] = _Conversation(folder, folder, "#" + folder)
            conv.days.append(name)
            ordered.setdefault(id(conv), conv)
        ticker = Ticker(options, len(days), every=1)
        for conv in ordered.values():
            if (yield from self._conversation(source, conv, users, ticker, options)) is False:
                return
        ticker.finish()

    def _conversation(
        self,
        source: _Source,
        conv: _Conversation,
        users: dict[str, _User],
        ticker: Ticker,
        options: ParseOptions,
    ) -> Generator[Item, None, bool]:
        """One conversation's events, one day file at a time; returns False if cancelled.

        A first reading of each day file learns who speaks in the conversation (everyone is
        a member of every message); the second turns each message into an event. Only the
        speakers are held, never a day's or the channel's messages.
        """
        cast = Cast()
        if len(conv.members) <= _MAX_MEMBERS:
            for uid in conv.members:
                if not (uid in users and users[uid].is_bot):
                    cast.add(uid, _participant(uid, {}, users))
        bots: dict[str, Participant] = {}  # automated senders: authors, never members
        repairs: dict[str, bool] = {}
        failed: dict[str, tuple[str, str]] = {}
        for name in conv.days:
            if options.should_cancel is not None and options.should_cancel():
                return False
            where = source.where(name)
            try:
                found, repairs[name] = first_try(
                    partial(source.open, name), partial(_speakers, where=where, users=users), where
                )
            except ArchiveRefused:
                raise
            except (FormatError, OSError) as exc:
                failed[name] = (where, _reason(where, exc))
                continue
            if found is None:
                failed[name] = (where, "not a list of messages")
                continue
            for key, member, bot in found:
                if bot:
                    bots.setdefault(key, replace(member, role="author"))
                else:
                    cast.add(key, member)
        for name in conv.days:
            if not ticker.step(ticker.done + 1):
                return False
            if name in failed:
                yield Problem(*failed[name])
                continue
            try:
                with closing(source.open(name)) as fh:
                    reader = Reader(fh, repair=repairs[name])
                    for index, message in _messages(reader, source.where(name)):
                        where = f"{source.where(name)}[{index}]"
                        if not isinstance(message, dict):
                            yield Problem(where, "not a message object")
                            continue
                        record = self._record(message, where, conv, cast, bots, users)
                        yield record if record is not None else Problem(where, "no usable ts")
            except ArchiveRefused:
                raise
            except (FormatError, OSError) as exc:
                where = source.where(name)
                yield Problem(where, _reason(where, exc))
        return True

    def _record(
        self,
        message: dict[str, Any],
        where: str,
        conv: _Conversation,
        cast: Cast,
        bots: dict[str, Participant],
        users: dict[str, _User],
    ) -> EventRecord | None:
        ts = as_str(message.get("ts"))
        when = from_epoch(ts)
        if when is None:
            return None
        subtype = as_str(message.get("subtype"))
        system = subtype in _SYSTEM_SUBTYPES
        files = _files(message)
        key = _author_key(message)
        bot = _is_bot(key, message, users)
        text = render_text(as_str(message.get("text")), users)
        attached = _attachments_text(message, users)
        if attached and (bot or not text.strip()):
            text = f"{text}\n{attached}" if text.strip() else attached
        if not text.strip() and files:
            text = media_text("file" for _ in files)
        details: dict[str, Any] = {"channel": conv.name}
        if subtype:
            details["subtype"] = subtype
        if bot and not system:
            details["automated"] = True  # a bot or integration: an automated sender
        if files:
            details["files"] = files
        thread_ts = as_str(message.get("thread_ts"))
        if thread_ts and thread_ts != ts:
            details["thread_ts"] = thread_ts
        if isinstance(message.get("reply_count"), int):
            details["reply_count"] = message["reply_count"]
        reactions = _reactions(message, users)
        if reactions:
            details["reactions"] = reactions
        edited = message.get("edited")
        if isinstance(edited, dict) and (at := from_epoch(as_str(edited.get("ts")))):
            details["edited_at"] = at.isoformat()
        if system or not key:
            participants = cast.everyone()
        elif bot:
            author = bots.get(key) or replace(_participant(key, message, users), role="author")
            participants = (author, *cast.everyone())
        else:
            participants = cast.speaking(key)
        return EventRecord(
            channel="chat",
            source=_SOURCE,
            external_id=f"{conv.id}:{ts}",
            occurred_at=when,
            title=conv.title,
            text=text,
            participants=participants,
            direction="system" if system else None,
            thread_key=f"{_SOURCE}:{conv.id}",
            details=details,
            locator=where,
        )


def _author_key(message: dict[str, Any]) -> str:
    return (
        as_str(message.get("user"))
        or as_str(message.get("bot_id"))
        or as_str(message.get("username"))
    )


def _is_bot(key: str, message: dict[str, Any], users: dict[str, _User]) -> bool:
    """Whether a bot or an integration wrote the message (an automated sender)."""
    user = users.get(key)
    if user is not None and user.is_bot:
        return True
    return (
        message.get("subtype") == "bot_message"
        or bool(as_str(message.get("bot_id")))
        or isinstance(message.get("bot_profile"), dict)
    )


def _participant(key: str, message: dict[str, Any], users: dict[str, _User]) -> Participant:
    user = users.get(key)
    if user is not None:
        return user.participant()
    profile = message.get("bot_profile")
    name = as_str(profile.get("name")).strip() if isinstance(profile, dict) else ""
    name = name or as_str(message.get("username")).strip()
    if not name and _is_bot(key, message, users):
        name = _BOT_NAME  # never a raw bot id as a name
    name = name or key
    return Participant(role="member", name=name, handle=name, platform=_SOURCE, platform_id=key)


def _attachments_text(message: dict[str, Any], users: dict[str, _User]) -> str:
    """The readable text of a message's ``attachments`` (what bots and integrations post).

    Each attachment gives its ``pretext``, ``title``, ``text`` and ``fields`` (``title:
    value``), or its plain-text ``fallback`` when it has none of them.
    """
    parts: list[str] = []
    for item in as_list(message.get("attachments")):
        if not isinstance(item, dict):
            continue
        lines = [as_str(item.get(k)).strip() for k in ("pretext", "title", "text")]
        for entry in as_list(item.get("fields")):
            if isinstance(entry, dict):
                title, value = as_str(entry.get("title")).strip(), as_str(entry.get("value"))
                value = value.strip()
                lines.append(f"{title}: {value}" if title and value else title or value)
        lines = [line for line in lines if line]
        if not lines and as_str(item.get("fallback")).strip():
            lines = [as_str(item.get("fallback")).strip()]
        parts.extend(lines)
    return render_text("\n".join(parts), users)


def _reason(where: str, exc: BaseException) -> str:
    """A failure's one-line reason, named after the file (as ``FormatError`` messages are)."""
    if isinstance(exc, OSError):
        return f"{where}: cannot read: {exc.strerror or exc}"
    return str(exc)


def _entries(reader: Reader, where: str) -> list[Any] | None:
    """The items of a top-level JSON array (None if the file holds something else)."""
    found: list[Any] | None = None
    for prefix, event, value in values(events(reader, where), _ITEM):
        if not prefix and event == "start_array":
            found = []
        elif prefix == "item" and event == "value" and found is not None:
            found.append(_slim(value))
    return found


def _slim(entry: object) -> object:
    """Only what the connector reads of a users.json or channels.json entry."""
    if not isinstance(entry, dict):
        return entry
    return {k: entry[k] for k in _ENTRY_KEYS if k in entry}


def _speakers(
    reader: Reader, where: str, users: dict[str, _User]
) -> list[tuple[str, Participant, bool]] | None:
    """Who writes in one day file, in order, and whether as a bot (None if not a list)."""
    found: dict[tuple[str, bool], Participant] | None = None
    for prefix, event, value in values(events(reader, where), _ITEM):
        if not prefix and event == "start_array":
            found = {}
        elif prefix == "item" and event == "value" and found is not None:
            key = _author_key(value) if isinstance(value, dict) else ""
            if key:
                assert isinstance(value, dict)
                seen = (key, _is_bot(key, value, users))
                if seen not in found:
                    found[seen] = _participant(key, value, users)
    if found is None:
        return None
    return [(key, member, bot) for (key, bot), member in found.items()]


def _messages(reader: Reader, where: str) -> Iterator[tuple[int, Any]]:
    """(index, message) for each entry of a day file, one at a time."""
    index = 0
    for prefix, event, value in values(events(reader, where), _ITEM):
        if prefix == "item" and event == "value":
            yield index, value
            index += 1


def _reactions(message: dict[str, Any], users: dict[str, _User]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for r in as_list(message.get("reactions")):
        if isinstance(r, dict) and as_str(r.get("name")):
            who = [as_str(u) for u in as_list(r.get("users"))]
            names = [users[u].display if u in users else u for u in who if u]
            found.append({"reaction": as_str(r["name"]), "users": names})
    return found


def _add_conversation(
    convs: dict[str, _Conversation],
    entry: dict[str, Any],
    list_name: str,
    users: dict[str, _User],
) -> None:
    cid = as_str(entry.get("id"))
    name = as_str(entry.get("name"))
    members = [as_str(m) for m in as_list(entry.get("members")) if as_str(m)]
    people = ", ".join(users[m].display if m in users else m for m in members)
    if list_name == "dms.json":
        title = f"Direct messages: {people}"
    elif list_name == "mpims.json":
        title = f"Group messages: {people}"
    else:
        title = "#" + (name or cid)
    conv = _Conversation(cid or name, name or cid, title, members)
    for key in (name, cid):
        if key:
            convs.setdefault(key, conv)
