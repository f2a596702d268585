"""An iPhone's texts (Messages: iMessage, SMS, RCS) and WhatsApp chats, as iMazing saves them.

An iPhone has no export of its own for Messages; the tool people use to get a shop
phone's texts onto a computer is iMazing (Messages › Export to CSV), which writes one
``Messages - <chat>.csv`` per conversation (``WhatsApp - <chat>.csv`` for WhatsApp)
and the pictures beside it; a file holding several chats is read chat by chat (by its
``Chat Session``). Its layouts, by version, as several projects that read
these files document them:

- 14 or 15 columns: ``Chat Session, Message Date, Delivered Date, Read Date,
  [Edited Date,] Service, Type, Sender ID, Sender Name, Status, Replying to, Subject,
  Text, Attachment, Attachment type``;
- 17 columns, with ``Deleted Date`` and ``Reactions``; 18 with ``Message ID`` after
  ``Chat Session``; some versions put ``Message Date`` first;
- WhatsApp: ``Chat Session, Message Date, Sent Date, Type, Sender ID, Sender Name,
  Status, Forwarded, Replying to, Text, Reactions, Attachment, Attachment type,
  Attachment info``.

Columns are read by name, so every order works. ``Type`` is ``Incoming`` or
``Outgoing``; an incoming row names its sender (``Sender ID``: a number, or the Apple ID
email of an iMessage; ``Sender Name``: the contact's name on the phone), an outgoing row
names nobody: the conversation's other party is the sender of its incoming rows (so the
file is read twice), else the chat's name when it is a number or an address, else a name
only (a handle on the platform, never merged with anyone by the name). A chat is a group
when its name joins names with `` & `` or several people write in it. Dates are the
phone's local time without an offset (``2023-10-21 09:00:00``): read in ``options.tz``.

A picture sent with a text is written as rows of its own with the same time (and the same
``Message ID`` when there is one): consecutive rows of one message become one event,
its pictures listed. Each message's id is a digest of its chat, time, sender and
content, so an export with IDs and one without give the same ids, and importing a longer
export later adds only what is new. Texts are on the source "imessage" (Service
iMessage) or "sms" (SMS, MMS, RCS); WhatsApp's on "whatsapp" (the ids of a WhatsApp
``.txt`` export of the same chat differ: importing both shows its messages twice).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.records import Channel, Direction, EventRecord, Item, ParseOptions, Participant, Problem
from connectors.chat_common import StableIds, media_text, member, person
from connectors.csv_common import CsvReader, Row, header_keys
from connectors.order_values import BadValue, parse_datetime, region_date_order

__all__ = ["IMazingConnector"]

_WHAT = "an iMazing messages export"
_SNIFF_KEYS = frozenset({"chatsession", "messagedate", "type", "senderid", "sendername", "text"})
_QUIET_STATUS = frozenset({"", "read", "sent", "delivered", "received", "unread", "played"})
_GROUP_JOIN = " & "
# ``Attachment type`` → the kind chats name their media by (``media_text``: "(photo)").
_KINDS = {"image": "photo", "video": "video", "audio": "audio", "contact": "contact card"}


@dataclass
class _Message:
    """Consecutive rows of one message: its first row and what the others add."""

    line: int
    row: Row
    key: tuple[str, ...]
    texts: list[str] = field(default_factory=list)
    media: list[dict[str, str]] = field(default_factory=list)


class IMazingConnector:
    """Reads iMazing's CSV export of one iPhone conversation (Messages or WhatsApp)."""

    name: str = "imazing"
    label: str = "iPhone messages saved with iMazing (.csv)"
    channel: Channel = "chat"
    extensions: tuple[str, ...] = (".csv",)

    def sniff(self, path: Path, head: bytes) -> float:
        """0.95 if the header row has iMazing's ``Chat Session``, ``Message Date``,
        ``Type``, ``Sender ID``, ``Sender Name`` and ``Text`` columns, else 0.0."""
        del path
        return 0.95 if header_keys(head) >= _SNIFF_KEYS else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield one chat event per message, and a problem per row that cannot be read.

        Raises:
            FormatError: the header lacks the columns this needs.
        """
        with CsvReader(path, options, _WHAT) as reader:
            missing = [c for c in ("Message Date", "Type", "Text") if not reader.has(c)]
            if missing:
                raise reader.fail(f"no {', '.join(missing)} column")
            whatsapp = reader.has("Forwarded") or reader.has("Sent Date")
            people = _first_pass(path, options)
            chats: dict[str, _Conversation] = {}

            def event(message: _Message) -> EventRecord | Problem:
                chat = message.key[0]
                if chat not in chats:
                    chats[chat] = _Conversation(chat, people.get(chat, {}), whatsapp, options)
                return chats[chat].event(message, reader.name)

            pending: _Message | None = None
            for row in reader.rows():
                if isinstance(row, Problem):
                    yield row
                    continue
                key = _message_key(row)
                if pending is not None and key == pending.key:
                    _add(pending, row)
                    continue
                if pending is not None:
                    yield event(pending)
                pending = _Message(row.line, row, key)
                _add(pending, row)
            if pending is not None and not reader.cancelled:
                yield event(pending)


def _first_pass(path: Path, options: ParseOptions) -> dict[str, dict[str, str]]:
    """Each chat of the file (one, as iMazing saves them, or several) with the people who
    write in it (``Sender ID`` → ``Sender Name``), read before the messages: an outgoing
    row names no one."""
    quiet = replace(options, progress=None)  # (the second pass reports the progress)
    chats: dict[str, dict[str, str]] = {}
    with CsvReader(path, quiet, _WHAT) as reader:
        for row in reader.rows():
            if isinstance(row, Problem):
                continue
            values = row.values
            senders = chats.setdefault(values.get("chatsession", ""), {})
            sender = values.get("senderid", "")
            if values.get("type", "").lower() == "incoming" and sender:
                name = values.get("sendername", "")
                if sender not in senders or (name and not senders[sender]):
                    senders[sender] = "" if name == sender else name
    return chats


def _message_key(row: Row) -> tuple[str, ...]:
    """What the rows of one message share: its chat, and its ``Message ID``, else its time,
    type and sender."""
    values = row.values
    chat = values.get("chatsession", "")
    if values.get("messageid"):
        return (chat, "id", values["messageid"])
    return (
        chat,
        values.get("messagedate", ""),
        values.get("type", ""),
        values.get("senderid", ""),
    )


def _add(message: _Message, row: Row) -> None:
    """One row's text and attachment added to its message."""
    values = row.values
    text = values.get("text", "")
    if text and text not in message.texts:
        message.texts.append(text)
    attachment = values.get("attachment", "")
    if attachment:
        kind = _KINDS.get(values.get("attachmenttype", "").lower(), "file")
        entry = {"kind": kind, "file": attachment}
        if entry not in message.media:
            message.media.append(entry)


class _Conversation:
    """One exported chat: who is in it, and each message as an event."""

    def __init__(
        self, chat: str, senders: dict[str, str], whatsapp: bool, options: ParseOptions
    ) -> None:
        self.chat = chat
        self.whatsapp = whatsapp
        self.options = options
        self.order = options.date_order or region_date_order(options.region)
        self.group = _GROUP_JOIN in chat or len(senders) > 1
        self.platform = "whatsapp" if whatsapp else "imessage"
        self.people = {
            sender: member(sender, name, self.platform) for sender, name in senders.items()
        }
        if not self.people and chat and not self.group:
            self.people[chat] = member(chat, "", self.platform)
        self.thread = f"iphone:{'whatsapp:' if whatsapp else ''}{self._thread_key()}"
        self.ids = StableIds(self.thread)

    def _thread_key(self) -> str:
        if not self.group and len(self.people) == 1:
            (only,) = self.people.values()
            return only.phone or only.email or self.chat
        return self.chat

    def event(self, message: _Message, file_name: str) -> EventRecord | Problem:
        values = message.row.values
        where = f"{file_name}:{message.line}"
        try:
            when = parse_datetime(values.get("messagedate", ""), self.options.tz, self.order)
        except (BadValue, ValueError) as exc:
            return Problem(where, f"unreadable Message Date: {exc}")
        if when is None:
            return Problem(where, "a message without a date; skipped")
        kind = values.get("type", "").lower()
        direction: Direction
        sender = values.get("senderid", "")
        if kind == "outgoing":
            direction = "outbound"
            participants = tuple(self.people.values())
        elif kind == "incoming":
            direction = "inbound"
            author = self.people.get(sender) or self._incoming_without_id(values)
            others = tuple(p for k, p in self.people.items() if k != sender and p != author)
            participants = (replace(author, role="author"), *others)
        else:
            direction = "system"
            participants = tuple(self.people.values())
        subject = values.get("subject", "")
        text = "\n".join([subject, *message.texts] if subject else message.texts)
        if not text:
            text = media_text(m["kind"] for m in message.media)
        details: dict[str, Any] = {}
        if message.media:
            details["media"] = message.media
        service = values.get("service", "")
        if service:
            details["service"] = service
        for column, name in (
            ("reactions", "reactions"),
            ("replyingto", "replying_to"),
            ("editeddate", "edited"),
            ("deleteddate", "deleted"),
            ("forwarded", "forwarded"),
        ):
            if values.get(column):
                details[name] = values[column]
        status = values.get("status", "")
        if status.lower() not in _QUIET_STATUS:
            details["status"] = status
        if self.group:
            details["group"] = self.chat
        source = self._source(service)
        key = self.ids.next(
            values.get("messagedate", ""),
            kind,
            sender,
            text,
            "\x1e".join(m["file"] for m in message.media),
        )
        return EventRecord(
            channel="chat",
            source=source,
            external_id=key,
            occurred_at=when,
            title=self.chat or (participants[0].name if participants else ""),
            text=text,
            participants=participants,
            direction=direction,
            thread_key=self.thread,
            details=details,
            locator=where,
        )

    def _incoming_without_id(self, values: Mapping[str, str]) -> Participant:
        """An incoming row's sender when it has no ``Sender ID``: its name, else the chat's
        other party."""
        name = values.get("sendername", "")
        if not self.group and len(self.people) == 1:
            (only,) = self.people.values()
            return only
        return person("member", name or self.chat, self.platform)

    def _source(self, service: str) -> str:
        if self.whatsapp:
            return "whatsapp"
        return "imessage" if service.lower() in ("imessage", "") else "sms"
