"""Connector for Zendesk ticket JSON: one ticket, the incremental ticket export, ticket audits.

Three shapes of the Zendesk API's JSON, saved to a file:

* ``{"ticket": {…}}`` (``GET /api/v2/tickets/{id}``) and ``{"tickets": […]}`` (the incremental
  export, ``/api/v2/incremental/tickets/cursor.json``): each ticket becomes one event, the
  request as it was opened: ``subject`` as title, ``description`` (the first comment) as text,
  the requester as author, at ``created_at``. Status, priority, type, tags and
  ``via.channel`` go into the details.
* ``{"audits": […]}`` (``GET /api/v2/tickets/{id}/audits``): the ticket's history. Every
  public ``Comment`` event becomes one event, written by its ``author_id``, at its audit's
  ``created_at``; private (internal) comments are left out and counted in a notice.

People are Zendesk user ids (the platform id of a "zendesk" identity). A sideloaded
``users`` list (``?include=users``) adds names and email addresses, and an email ticket's
``via.source.from.address`` gives the requester's address. All comments and tickets of one
ticket share the thread ``zendesk:ticket:<id>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.errors import FormatError
from app.records import Channel, EventRecord, Item, Notice, ParseOptions, Participant, Problem
from connectors.chat_common import Ticker, as_list, as_str
from connectors.json_stream import Reader, Stopped, events, first_try, values

_SOURCE = "zendesk"
_TOP_KEYS = ("ticket", "tickets", "audits")
_SNIFF_KEYS = (b'"requester_id"', b'"ticket_id"', b'"author_id"', b'"via"')


def _time(value: object) -> datetime | None:
    text = as_str(value).strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


class _People:
    """Zendesk users by id, with what the file tells about them."""

    def __init__(self, users: Iterable[dict[str, Any]]) -> None:
        self._users: dict[str, dict[str, Any]] = {}
        for user in users:
            self._users[as_str(user["id"])] = user
        self._emails: dict[str, str] = {}
        self._names: dict[str, str] = {}

    def learn(self, uid: str, data: dict[str, Any]) -> None:
        """What a ticket or audit from ``uid`` says about them: ``via.source.from``."""
        address, name = _from(data)
        if uid and "@" in address:
            self._emails.setdefault(uid, address)
        if uid and name and name != address:
            self._names.setdefault(uid, name)

    def get(self, uid: str, role: str) -> Participant:
        user = self._users.get(uid, {})
        name = as_str(user.get("name")).strip() or self._names.get(uid, "")
        email = as_str(user.get("email")).strip() or self._emails.get(uid)
        # Without a name or address, a handle keeps the person recognisable in lists; a
        # made-up display name would later clash with the real one and mark the id shared.
        return Participant(
            role="author" if role == "author" else "member",
            name=name,
            email=email or None,
            handle=None if name or email else f"Zendesk user {uid}",
            platform=_SOURCE,
            platform_id=uid,
        )

    def roles(self, author: str, others: list[str]) -> tuple[Participant, ...]:
        found = [self.get(author, "author")] if author else []
        found += [self.get(u, "member") for u in dict.fromkeys(others) if u and u != author]
        return tuple(found)


def _via(data: dict[str, Any]) -> dict[str, Any]:
    via = data.get("via")
    if not isinstance(via, dict):
        return {}
    found: dict[str, Any] = {}
    if as_str(via.get("channel")):
        found["via_channel"] = as_str(via["channel"])
    return found


def _from(data: dict[str, Any]) -> tuple[str, str]:
    """``via.source.from``: the sender's address and name (an email ticket's requester)."""
    via = data.get("via")
    source = via.get("source") if isinstance(via, dict) else None
    sender = source.get("from") if isinstance(source, dict) else None
    if not isinstance(sender, dict):
        return "", ""
    return as_str(sender.get("address")).strip(), as_str(sender.get("name")).strip()


@dataclass
class _Scan:
    """What the first reading of the file found: its shape, size, users, subjects."""

    is_object: bool = False
    shape: str | None = None
    count: int = 0
    users: list[dict[str, Any]] = field(default_factory=list)
    subjects: dict[str, str] = field(default_factory=dict)
    requesters: dict[str, str] = field(default_factory=dict)
    arrays: set[str] = field(default_factory=set)


_WANTED = frozenset({"users.item", "audits.item"})
_USER_KEYS = ("id", "name", "email")


def _scan(reader: Reader, where: str) -> _Scan:
    scan = _Scan()
    counts = {"audits": 0, "tickets": 0}
    for prefix, event, value in values(events(reader, where), _WANTED):
        if not prefix:
            scan.is_object = scan.is_object or event == "start_map"
        elif prefix in _TOP_KEYS and event in ("start_array", "start_map"):
            scan.arrays.add(f"{prefix}:{event}")
        elif prefix == "tickets.item" and event not in ("map_key", "end_map", "end_array"):
            counts["tickets"] += 1
        elif prefix == "users.item" and event == "value":
            if isinstance(value, dict) and as_str(value.get("id")):
                scan.users.append({k: value[k] for k in _USER_KEYS if k in value})
        elif prefix == "audits.item" and event == "value":
            counts["audits"] += 1
            _learn_subject(scan, value)
    for shape, event in (("audits", "start_array"), ("tickets", "start_array")):
        if f"{shape}:{event}" in scan.arrays:
            scan.shape, scan.count = shape, counts[shape]
            break
    else:
        if "ticket:start_map" in scan.arrays:
            scan.shape, scan.count = "ticket", 1
    return scan


def _learn_subject(scan: _Scan, audit: object) -> None:
    found = audit.get("events") if isinstance(audit, dict) else None
    for event in found if isinstance(found, list) else []:
        if isinstance(event, dict) and event.get("type") in ("Create", "Change"):
            assert isinstance(audit, dict)
            tid = as_str(audit.get("ticket_id"))
            field_name, value = as_str(event.get("field_name")), as_str(event.get("value"))
            if field_name == "subject" and value:
                scan.subjects[tid] = value
            elif field_name == "requester_id" and value:
                scan.requesters.setdefault(tid, value)


def _stream(reader: Reader, where: str, shape: str) -> Iterator[Any]:
    """The tickets or audits of the file, one at a time."""
    prefix = "ticket" if shape == "ticket" else f"{shape}.item"
    for found, event, value in values(events(reader, where), frozenset({prefix})):
        if found == prefix and event == "value":
            yield value


class ZendeskConnector:
    """Reads Zendesk ticket, incremental-export and audit JSON into chat events.

    Attributes:
        name: "zendesk" (also the events' source).
        label: description for dialogs.
        channel: "chat".
        extensions: (".json",).
    """

    name: str = "zendesk"
    label: str = "Zendesk tickets (API JSON: ticket, incremental export, audits)"
    channel: Channel = "chat"
    extensions: tuple[str, ...] = (".json",)

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure this connector is that ``head`` starts Zendesk ticket JSON.

        Args:
            path: the file (unused; the keys decide).
            head: up to the first 64 KiB of the file.

        Returns:
            0.9 if the JSON starts with a ``ticket``, ``tickets`` or ``audits`` key and shows
            Zendesk's fields (``requester_id``, ``author_id``, ``via`` …), else 0.0.
        """
        del path
        body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not body.startswith(b"{"):
            return 0.0
        opening = body[1:].lstrip()
        if not any(opening.startswith(b'"%s"' % k.encode()) for k in _TOP_KEYS):
            return 0.0
        return 0.9 if sum(key in head for key in _SNIFF_KEYS) >= 2 else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield one event per ticket, or per public comment for audits, and problems.

        Args:
            path: the JSON file.
            options: progress and cancel hooks.

        Yields:
            ``EventRecord``, ``Problem`` and ``Notice`` items.

        Raises:
            FormatError: the file cannot be read or is not Zendesk ticket JSON.
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
        except OSError as exc:
            raise FormatError(f"{path.name}: cannot read: {exc.strerror or exc}") from exc
        if not scan.is_object:
            raise FormatError(f"{path.name}: not Zendesk ticket JSON (not an object)")
        if scan.shape is None:
            raise FormatError(
                f"{path.name}: not Zendesk ticket JSON (no ticket, tickets or audits)"
            )
        people = _People(scan.users)
        try:
            with path.open("rb") as fh:
                found = _stream(
                    Reader(fh, repair=repair, should_cancel=options.should_cancel),
                    path.name,
                    scan.shape,
                )
                if scan.shape == "audits":
                    yield from self._audits(path, found, scan, people, options)
                else:
                    yield from self._tickets(path, scan.shape, found, scan.count, people, options)
        except OSError as exc:
            raise FormatError(f"{path.name}: cannot read: {exc.strerror or exc}") from exc

    def _tickets(
        self,
        path: Path,
        key: str,
        tickets: Iterable[Any],
        total: int,
        people: _People,
        options: ParseOptions,
    ) -> Iterator[Item]:
        ticker = Ticker(options, total)
        for index, ticket in enumerate(tickets):
            if not ticker.step(index + 1):
                return
            where = f"{path.name}:{key}" + (f"[{index}]" if key == "tickets" else "")
            if not isinstance(ticket, dict):
                yield Problem(where, "not a ticket object")
                continue
            tid = as_str(ticket.get("id"))
            when = _time(ticket.get("created_at"))
            if not tid or when is None:
                yield Problem(where, "ticket without id or created_at")
                continue
            requester = as_str(ticket.get("requester_id"))
            people.learn(requester, ticket)
            others = [as_str(ticket.get("submitter_id")), as_str(ticket.get("assignee_id"))]
            details: dict[str, Any] = {"ticket_id": tid, **_via(ticket)}
            for key_name in ("status", "priority", "type"):
                if as_str(ticket.get(key_name)):
                    details[key_name] = as_str(ticket[key_name])
            tags = ticket.get("tags")
            if isinstance(tags, list) and tags:
                details["tags"] = [as_str(t) for t in tags]
            updated = _time(ticket.get("updated_at"))
            if updated is not None:
                details["updated_at"] = updated.isoformat()
            yield EventRecord(
                channel="chat",
                source=_SOURCE,
                external_id=f"ticket:{tid}",
                occurred_at=when,
                title=as_str(ticket.get("subject")) or f"Ticket #{tid}",
                text=as_str(ticket.get("description")),
                participants=people.roles(requester or others[0], others),
                thread_key=f"{_SOURCE}:ticket:{tid}",
                details=details,
                locator=where,
            )
        ticker.finish()

    def _audits(
        self,
        path: Path,
        audits: Iterable[Any],
        scan: _Scan,
        people: _People,
        options: ParseOptions,
    ) -> Iterator[Item]:
        subjects, requesters = scan.subjects, scan.requesters
        private = 0
        ticker = Ticker(options, scan.count)
        for index, audit in enumerate(audits):
            if not ticker.step(index + 1):
                return
            where = f"{path.name}:audits[{index}]"
            if not isinstance(audit, dict) or not isinstance(audit.get("events"), list):
                yield Problem(where, "not an audit with events")
                continue
            tid = as_str(audit.get("ticket_id"))
            when = _time(audit.get("created_at"))
            if not tid or when is None:
                yield Problem(where, "audit without ticket_id or created_at")
                continue
            for number, event in enumerate(audit["events"]):  # one audit is small
                if not isinstance(event, dict) or event.get("type") != "Comment":
                    continue
                if event.get("public") is False:
                    private += 1
                    continue
                cid = as_str(event.get("id"))
                if not cid:
                    yield Problem(f"{where}.events[{number}]", "comment without id")
                    continue
                author = as_str(event.get("author_id")) or as_str(audit.get("author_id"))
                requester = requesters.get(tid, "")
                if author == requester:
                    people.learn(author, audit)
                details: dict[str, Any] = {"ticket_id": tid, **_via(audit)}
                if requester:
                    details["author_is_requester"] = author == requester
                attachments = [
                    {"name": as_str(a.get("file_name")), "size": a.get("size")}
                    for a in as_list(event.get("attachments"))
                    if isinstance(a, dict)
                ]
                if attachments:
                    details["attachments"] = attachments
                yield EventRecord(
                    channel="chat",
                    source=_SOURCE,
                    external_id=f"comment:{cid}",
                    occurred_at=when,
                    title=subjects.get(tid) or f"Ticket #{tid}",
                    text=as_str(event.get("body")),
                    participants=people.roles(author, [requester]),
                    thread_key=f"{_SOURCE}:ticket:{tid}",
                    details=details,
                    locator=f"{where}.events[{number}]",
                )
        if private:
            yield Notice(f"{path.name}: {private} private (internal) comments were not imported")
        ticker.finish()
