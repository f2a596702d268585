"""An iPhone's or a Mac's Messages, as the free ``imessage-exporter`` writes them in text.

``imessage-exporter`` (ReagentX, GPL-3.0) reads the Messages database of a Mac or of an
unencrypted iPhone backup (``-p backup -a iOS``) and, with ``-f txt``, writes one ``.txt``
per conversation, named after the chat (``Family - 12.txt``) or its people
(``+15558675309.txt``, ``+1555…, jane@icloud.com.txt``), plus ``orphaned.txt``. Each
message is a block ended by a blank line (as the exporter's own tests write it):

    May 17, 2022  5:29:42 PM (Read by them after 1 hour, 49 seconds)
    Me
    Hello world

- the time, in the Mac's local time (``%b %d, %Y %l:%M:%S %p``: English month, the hour
  padded with a space), with how soon it was read;
- the sender: ``Me`` (or the name given with ``--custom-name``), else the contact's number
  or Apple ID address, or the contact's name where the exporter knew it;
- the text, over as many lines as it has; a picture or file as its path; lines of its
  own saying "This message was deleted from the conversation!", "This message responded to
  an earlier message.", and a ``Reactions:`` line followed by ``Loved by Me``-style lines;
- the replies to it again, indented by four spaces (each reply is also written on its own,
  so the indented copies are skipped here).

A line with the time and words after it (``May 17, 2022  5:29:42 PM You renamed the
conversation to Hello world``) is the conversation's own notice. Each message becomes one
chat event on the source "imessage": from ``Me`` it was sent (outbound); any other sender
is the customer, by their number or address (a name alone is a handle, never merged by
the name). The owner's messages go to the chat's other people: the senders of the file,
else the file's name when it names numbers or addresses. A sender known by a name alone
may be the owner (who can export with ``--custom-name``): the owner settings tell. Times
are read in the configured zone. A message's id is a digest of its chat, time, sender and
text, so a later export of the same chat adds only what is new. A block whose time cannot
be read is a problem at its line, and the rest goes on.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from app.records import (
    Channel,
    Direction,
    EventRecord,
    Item,
    ParseOptions,
    Participant,
    Problem,
)
from connectors.chat_common import StableIds, is_address, is_phone, media_text, member
from connectors.textfile import bounded_lines, detect_encoding

__all__ = ["IMessageTxtConnector"]

_SOURCE = "imessage"
_MAX_LINE = 64 * 1024
_ME = "Me"
_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_STAMP = rf"(?:{_MONTHS}) \d{{2}}, \d{{4}} [ \d]\d:\d{{2}}:\d{{2}} [AP]M"
_MESSAGE_START = re.compile(rf"^({_STAMP})(?: \(Read by .+ after .+\))?$")
_NOTICE = re.compile(rf"^({_STAMP}) (?!\(Read by )(.+)$")
_DELETED = "This message was deleted from the conversation!"
_REPLY = "This message responded to an earlier message."
_REACTION = re.compile(
    r"^(?:Loved|Liked|Disliked|Laughed|Emphasized|Questioned|Emoji|Sticker)\b.* by .+$"
)
# A picture or file: the path the exporter wrote (a copy beside the export, or the
# original in the Messages folder), or its name when the file was not found.
_ATTACHMENT = re.compile(r"^(?:~|/|[A-Za-z]:\\|attachments[/\\])\S.*\.[A-Za-z0-9]{2,5}$")
_KINDS = {
    ".jpg": "photo",
    ".jpeg": "photo",
    ".png": "photo",
    ".heic": "photo",
    ".gif": "photo",
    ".mov": "video",
    ".mp4": "video",
    ".m4a": "audio",
    ".caf": "audio",
    ".amr": "audio",
    ".vcf": "contact card",
}


@dataclass
class _Block:
    """One message as the file writes it: its first line's number, time, sender and lines."""

    line: int
    stamp: str
    sender: str
    lines: list[str] = field(default_factory=list)
    notice: bool = False


@dataclass
class Message:
    """One message (or notice) of an imessage-exporter file, as the text and HTML
    exports both give it."""

    line: int  # where it starts in the file
    stamp: str  # its time as written ("May 17, 2022  5:29:42 PM")
    sender: str  # "Me", a number, an address or a name ("" for a notice)
    texts: list[str] = field(default_factory=list)
    media: list[dict[str, str]] = field(default_factory=list)
    reactions: list[str] = field(default_factory=list)
    deleted: bool = False
    reply: bool = False
    notice: bool = False
    service: str = ""  # "iMessage", "SMS", … where the export says (HTML)


class IMessageTxtConnector:
    """Reads the ``.txt`` files of ``imessage-exporter`` (one conversation each)."""

    name: str = "imessage_txt"
    label: str = "iMessage chats exported with imessage-exporter (.txt)"
    channel: Channel = "chat"
    extensions: tuple[str, ...] = (".txt",)

    def sniff(self, path: Path, head: bytes) -> float:
        """0.9 if the file starts with a message block of the exporter (its time alone on
        the first line, a sender on the next) or with one of its notices, else 0.0."""
        del path
        text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
        lines = text.splitlines()
        if len(lines) >= 2 and _MESSAGE_START.match(lines[0]) and lines[1].strip():
            return 0.9
        if lines and _NOTICE.match(lines[0]) and (len(lines) == 1 or not lines[1].strip()):
            return 0.9
        return 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield one chat event per message, and a problem per message that cannot be read."""
        found = [b if isinstance(b, Problem) else _message(b) for b in _blocks(path, options)]
        yield from chat_events(path, found, options)


def _message(block: _Block) -> Message:
    """A text block's lines told apart: its text, pictures and files, reactions, notes."""
    message = Message(block.line, block.stamp, block.sender, notice=block.notice)
    in_reactions = False
    for line in block.lines:
        if line == _DELETED:
            message.deleted = True
        elif line == _REPLY:
            message.reply = True
        elif line == "Reactions:":
            in_reactions = True
        elif in_reactions and _REACTION.match(line):
            message.reactions.append(line)
        elif _ATTACHMENT.match(line):
            in_reactions = False
            message.media.append(media_entry(line))
        else:
            in_reactions = False
            message.texts.append(line)
    return message


def media_entry(path: str) -> dict[str, str]:
    """A picture or file by the name its path ends in, with its kind ("photo", …)."""
    file = re.split(r"[/\\]", path)[-1]
    return {"kind": _KINDS.get(Path(file).suffix.lower(), "file"), "file": file}


def chat_events(
    path: Path, found: list[Message | Problem], options: ParseOptions
) -> Iterator[EventRecord | Problem]:
    """The events of one exported chat (its file's name names the chat)."""
    chat = path.stem
    named = re.fullmatch(r"(.+) - \d+", chat)  # (a named chat: "<name> - <its row id>")
    title = named.group(1) if named else chat
    senders: dict[str, None] = {}
    for message in found:
        if isinstance(message, Message) and not message.notice and message.sender != _ME:
            senders.setdefault(message.sender, None)
    people = {sender: member(sender, "", _SOURCE) for sender in senders}
    if not people:  # (only the owner's messages: the people the file's name gives)
        for part in chat.split(", "):
            if is_phone(part) or is_address(part):
                people[part] = member(part, "", _SOURCE)
    group = len(people) > 1 or named is not None
    only = next(iter(people.values())) if len(people) == 1 else None
    key = (only.phone or only.email or only.handle) if only is not None else chat
    thread = f"{_SOURCE}:{key}"
    ids = StableIds(thread)
    for message in found:
        if isinstance(message, Problem):
            yield message
            continue
        where = f"{path.name}:{message.line}"
        try:
            when = _time(message.stamp, options)
        except ValueError as exc:
            yield Problem(where, f"unreadable time {message.stamp!r}: {exc}")
            continue
        details: dict[str, Any] = {"group": title} if group else {}
        if message.deleted:
            details["deleted"] = True
        if message.reply:
            details["reply"] = True
        if message.service:
            details["service"] = message.service
        text = "\n".join(message.texts).strip("\n")
        if message.media:
            details["media"] = message.media
            text = text or media_text(m["kind"] for m in message.media)
        if message.reactions:
            details["reactions"] = ", ".join(message.reactions)
        direction: Direction | None
        if message.notice:
            direction = "system"
            participants: tuple[Participant, ...] = tuple(people.values())
        elif message.sender == _ME:
            direction = "outbound"
            participants = tuple(people.values())
        else:
            # A number or an address is the customer's; a name may be the owner's own
            # (``--custom-name``): the owner settings decide.
            named_only = not (is_phone(message.sender) or is_address(message.sender))
            direction = None if named_only else "inbound"
            author = replace(people[message.sender], role="author")
            others = tuple(p for s, p in people.items() if s != message.sender)
            participants = (author, *others)
        yield EventRecord(
            channel="chat",
            source=_source(message.service),
            external_id=ids.next(message.stamp, message.sender, text),
            occurred_at=when,
            title=title,
            text=text,
            participants=participants,
            direction=direction,
            thread_key=thread,
            details=details,
            locator=where,
        )


def _source(service: str) -> str:
    """ "imessage", or "sms" for a text the export says went as SMS (or RCS)."""
    return "sms" if service.lower() in ("sms", "mms", "rcs") else _SOURCE


def _blocks(path: Path, options: ParseOptions) -> Iterator[_Block | Problem]:
    """The file's top-level messages and notices, in order (replies' indented copies left
    out)."""
    current: _Block | None = None
    blank = True  # (a message starts the file or follows a blank line)
    pending_blank = 0
    stray = 0
    for number, line in _lines(path, options):
        if not line.strip():
            blank = True
            pending_blank += 1
            continue
        if blank and (start := _MESSAGE_START.match(line)):
            if current is not None:
                yield current
            current = _Block(number, start.group(1), "")
            blank, pending_blank = False, 0
            continue
        if blank and (notice := _NOTICE.match(line)):
            if current is not None:
                yield current
            current = _Block(number, notice.group(1), "", [notice.group(2)], notice=True)
            blank, pending_blank = False, 0
            continue
        if current is None:
            if not stray:  # (one problem for all of it: a file that is not this format)
                yield Problem(f"{path.name}:{number}", "text before the first message; skipped")
            stray += 1
            blank = False
            continue
        if line.startswith("    "):  # (a reply shown under the message it answers)
            blank = False
            continue
        if not current.sender and not current.notice:
            current.sender = line.strip()
        else:
            current.lines.extend([""] * pending_blank if current.lines else [])
            current.lines.append(line)
        blank, pending_blank = False, 0
    if current is not None:
        yield current


def _lines(path: Path, options: ParseOptions) -> Iterator[tuple[int, str]]:
    """The file's lines, numbered from 1, without their line ends (cancel and progress
    polled every thousand lines)."""
    total = path.stat().st_size
    with path.open("rb") as fh:
        encoding = detect_encoding(fh)
        stream = io.TextIOWrapper(fh, encoding=encoding, errors="replace", newline=None)
        for number, (line, _cut) in enumerate(bounded_lines(stream, _MAX_LINE), start=1):
            if number % 1000 == 0:
                if options.should_cancel is not None and options.should_cancel():
                    return
                if options.progress is not None:
                    options.progress(min(fh.tell(), total), total)
            yield number, line.rstrip("\n").lstrip("\ufeff")


def _time(stamp: str, options: ParseOptions) -> datetime:
    local = datetime.strptime(" ".join(stamp.split()), "%b %d, %Y %I:%M:%S %p")
    return local.replace(tzinfo=options.tz)
