"""Who is waiting for an answer: customers whose latest message is inbound and unanswered.

A customer waits when they wrote (an email or a chat line on any platform, as its
sender) and nothing answered them after it: no outbound event on any channel (mail
from the owner's address, a chat line by the owner, in any conversation they are in),
no order note written after it (an order event whose details carry a note), and no
"Mark as answered". Automated senders (``details["automated"]``) and system lines never
count, neither as a question nor as an answer. A snooze hides a wait until a time, or
until the customer writes again.

The ``waiting`` table holds one row per waiting customer and is rebuilt for exactly
the customers the write path touches (``refresh``, called from
``app.identity.refresh_customer_stats`` on import, merge, split and owner changes, and
after each mark), so listing is one indexed read. ``since`` is the first unanswered
message (the wait began there); ``event_id``, its channel and first line are the
latest one (what they said last).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, NamedTuple

from sqlalchemy import (
    Integer,
    Text,
    and_,
    column,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    tuple_,
    type_coerce,
    update,
    values,
)
from sqlalchemy.orm import Session

from app import opening_hours, settings
from app.customer_events import customer_events
from app.errors import NotFoundError, UserFacingError
from app.labels import SOURCE_NAMES as SOURCE_NAMES
from app.labels import is_salutation as is_salutation
from app.labels import source_label as source_label
from app.merged import survivor_id
from app.models import (
    Customer,
    Event,
    EventParticipant,
    Identity,
    ReplyMark,
    UTCDateTime,
    Waiting,
    aware_utc,
)
from app.models import CustomerIdentity as CI

MESSAGE_CHANNELS = ("email", "chat")
SORTS = ("newest", "longest")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHUNK = 500
_FIRST_LINE = 200


class WaitingRow(NamedTuple):
    """One customer waiting for a reply (a tuple: lists of tens of thousands stay cheap)."""

    customer_id: int
    customer_name: str
    channel: str
    source: str
    waiting_since: datetime
    last_message_at: datetime
    waited_seconds: int
    waited_working_seconds: int | None
    first_line: str
    event_id: int
    message_count: int

    @property
    def channel_label(self) -> str:
        return source_label(self.channel, self.source)

    def as_json(self) -> dict[str, Any]:
        """The CLI's JSON shape (``waited_working_seconds`` only when hours are set)."""
        data: dict[str, Any] = {
            "customer_id": self.customer_id,
            "customer_name": self.customer_name,
            "channel": self.channel,
            "source": self.source,
            "waiting_since": self.waiting_since.isoformat(),
            "waited_seconds": self.waited_seconds,
        }
        if self.waited_working_seconds is not None:
            data["waited_working_seconds"] = self.waited_working_seconds
        data.update(
            first_line=self.first_line,
            event_id=self.event_id,
            last_message_at=self.last_message_at.isoformat(),
            message_count=self.message_count,
        )
        return data


@dataclass(frozen=True)
class MarkRow:
    """A "Mark as answered" or "Snooze" as stored."""

    id: int
    customer_id: int
    kind: str
    upto: datetime
    until: datetime | None
    created_at: datetime
    undone_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "customer_id": self.customer_id,
            "kind": self.kind,
            "upto": self.upto.isoformat(),
            "until": self.until.isoformat() if self.until else None,
            "created_at": self.created_at.isoformat(),
            "undone_at": self.undone_at.isoformat() if self.undone_at else None,
        }


def first_line(title: str, body: str) -> str:
    """The first non-empty line of a message (its subject when the body has none)."""
    lines = [
        ln.strip()
        for ln in (body or "").splitlines()
        if ln.strip() and not ln.lstrip().startswith(">")
    ]
    if len(lines) > 1 and is_salutation(lines[0]):
        lines = lines[1:]  # "Hi Sam," says nothing: the first line of what they wrote
    if lines:
        return lines[0][:_FIRST_LINE]
    return (title or "").strip().splitlines()[0][:_FIRST_LINE] if (title or "").strip() else ""


def _details_like(pattern: str) -> Any:
    return type_coerce(Event.details, Text).like(pattern)


def _is_reply() -> Any:
    # JSONText writes sorted keys with ": " separators, so these patterns are exact.
    return or_(
        and_(Event.direction == "outbound", ~_details_like('%"automated": true%')),
        and_(Event.channel == "order", _details_like('%"notes": "_%')),
    )


# --- keeping the table in step ---------------------------------------------------------------


def refresh(session: Session, customer_ids: Iterable[int]) -> None:
    """Recompute whether the given customers wait for a reply (the write path calls this)."""
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), _CHUNK):
        _refresh_chunk(session, ids[start : start + _CHUNK])


def rebuild(session: Session) -> None:
    """Recompute the whole table (after an upgrade)."""
    session.execute(delete(Waiting))
    ids = list(session.scalars(select(Customer.id).where(Customer.merged_into_id.is_(None))))
    refresh(session, ids)


def _refresh_chunk(session: Session, chunk: list[int]) -> None:
    session.execute(delete(Waiting).where(Waiting.customer_id.in_(chunk)))
    live = set(
        session.scalars(
            select(Customer.id).where(Customer.id.in_(chunk), Customer.merged_into_id.is_(None))
        )
    )
    if not live:
        return
    # A customer's events by the one rule (app.customer_events): a message that came in
    # through a shared contact point and is plainly someone else's is not theirs. Only
    # customers holding a shared contact point need the rule; for the rest it is the join.
    sharing = set(
        session.scalars(
            select(CI.customer_id)
            .join(Identity, Identity.id == CI.identity_id)
            .where(CI.customer_id.in_(live), Identity.shared.is_(True))
        )
    )
    theirs = customer_events(sharing).subquery("theirs")
    rule = (
        or_(
            CI.customer_id.not_in(sharing),
            tuple_(CI.customer_id, Event.id).in_(select(theirs.c.customer_id, theirs.c.event_id)),
        )
        if sharing
        else true()
    )
    cutoff: dict[int, datetime] = {}
    for cid, at in session.execute(
        select(CI.customer_id, func.max(Event.occurred_at))
        .join(EventParticipant, EventParticipant.identity_id == CI.identity_id)
        .join(Event, Event.id == EventParticipant.event_id)
        .where(CI.customer_id.in_(live), _is_reply(), rule)
        .group_by(CI.customer_id)
    ):
        when = aware_utc(at)
        if when is not None:
            cutoff[cid] = when
    snoozes: dict[int, ReplyMark] = {}
    for mark, merged_into in session.execute(
        select(ReplyMark, Customer.merged_into_id)
        .join(Customer, Customer.id == ReplyMark.customer_id)
        .where(
            or_(ReplyMark.customer_id.in_(live), Customer.merged_into_id.in_(live)),
            ReplyMark.undone_at.is_(None),
        )
        .order_by(ReplyMark.created_at, ReplyMark.id)
    ):
        owner: int = mark.customer_id if mark.customer_id in live else (merged_into or 0)
        if mark.kind == "answered":
            cutoff[owner] = max(cutoff.get(owner, _EPOCH), mark.upto)
        else:
            snoozes[owner] = mark  # a merged customer's marks count for the survivor
    cut = (
        values(column("cid", Integer), column("cutoff", UTCDateTime()), name="cut")
        .data([(cid, cutoff.get(cid, _EPOCH)) for cid in sorted(live)])
        .cte("cut")
    )
    cid_col = CI.customer_id.label("cid")
    part = (CI.customer_id,)
    ranked = (
        select(
            cid_col,
            Event.id.label("eid"),
            Event.occurred_at.label("at"),
            Event.channel,
            Event.source,
            Event.title,
            func.substr(Event.body, 1, 2000).label("head"),
            func.row_number()
            .over(partition_by=part, order_by=(Event.occurred_at.desc(), Event.id.desc()))
            .label("rn"),
            func.count().over(partition_by=part).label("n"),
            func.min(Event.occurred_at).over(partition_by=part).label("first_at"),
        )
        .join(EventParticipant, EventParticipant.identity_id == CI.identity_id)
        .join(Event, Event.id == EventParticipant.event_id)
        .join(cut, cut.c.cid == CI.customer_id)
        .where(
            EventParticipant.role.in_(("from", "author")),
            Event.direction == "inbound",
            Event.channel.in_(MESSAGE_CHANNELS),
            ~_details_like('%"automated": true%'),
            Event.occurred_at > cut.c.cutoff,
            rule,
        )
        .subquery()
    )
    rows: list[dict[str, Any]] = []
    for r in session.execute(select(ranked).where(ranked.c.rn == 1)):
        last_at = aware_utc(r.at)
        since = aware_utc(r.first_at)
        assert last_at is not None and since is not None
        snooze = snoozes.get(r.cid)
        snoozed = snooze.until if snooze is not None and snooze.upto >= last_at else None
        rows.append(
            {
                "customer_id": r.cid,
                "since": since,
                "last_at": last_at,
                "event_id": r.eid,
                "channel": r.channel,
                "source": r.source,
                "first_line": first_line(r.title or "", r.head or ""),
                "message_count": int(r.n),
                "snoozed_until": snoozed,
            }
        )
    if rows:
        session.execute(insert(Waiting), rows)


# --- reading ---------------------------------------------------------------------------------

_RAW_COLUMNS = (
    Waiting.customer_id,
    Customer.display_name,
    Waiting.channel,
    Waiting.source,
    type_coerce(Waiting.since, Text),
    type_coerce(Waiting.last_at, Text),
    Waiting.first_line,
    Waiting.event_id,
    Waiting.message_count,
)

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    """ "2d", "4h", "30m", "1w" → a timedelta.

    Raises:
        UserFacingError: not a duration.
    """
    m = _DURATION.match(text)
    if not m:
        raise UserFacingError(f"{text!r} is not a duration (e.g. 30m, 4h, 2d, 1w)")
    n, unit = int(m.group(1)), m.group(2).lower()
    return timedelta(seconds=n * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit])


def waiting(
    session: Session,
    *,
    now: datetime | None = None,
    channel: str | None = None,
    older_than: timedelta | None = None,
    sort: str = "newest",
    limit: int | None = None,
    include_snoozed: bool = False,
    language: str | None = None,
) -> list[WaitingRow]:
    """Customers waiting for a reply, newest wait first (or longest first).

    Args:
        now: the clock (aware); default the current time.
        channel: "email", "chat", or a platform ("whatsapp", "telegram", "chat_csv", …).
        older_than: only waits at least this long (wall-clock).
        sort: "newest" or "longest".
        limit: at most this many rows.
        include_snoozed: also the snoozed ones.
        language: only those whose latest message is in this language (ISO 639-1, "de").
    """
    if sort not in SORTS:
        raise UserFacingError(f"sort by {' or '.join(SORTS)}, not {sort!r}")
    now = now or datetime.now(UTC)
    stmt = select(
        Waiting.customer_id,
        Customer.display_name,
        Waiting.channel,
        Waiting.source,
        Waiting.since,
        Waiting.last_at,
        Waiting.first_line,
        Waiting.event_id,
        Waiting.message_count,
    ).join(Customer, Customer.id == Waiting.customer_id)
    if not include_snoozed:
        stmt = stmt.where(or_(Waiting.snoozed_until.is_(None), Waiting.snoozed_until <= now))
    if channel:
        key = channel.strip().lower()
        stmt = stmt.where(
            or_(Waiting.channel == key, Waiting.source == key, Waiting.source.like(f"{key}:%"))
        )
    if older_than is not None:
        stmt = stmt.where(Waiting.since <= now - older_than)
    if language:
        stmt = stmt.join(Event, Event.id == Waiting.event_id).where(
            Event.language == language.strip().lower()
        )
    order = Waiting.since.desc() if sort == "newest" else Waiting.since.asc()
    stmt = stmt.order_by(order, Waiting.customer_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    # Plain values, not ORM-typed ones: tens of thousands of rows stay within budget.
    raw = session.execute(stmt.with_only_columns(*_RAW_COLUMNS)).all()
    hours = opening_hours.parse(settings.get(session, "opening_hours"))
    tz: tzinfo = settings.zone(session)
    nameless = [r[0] for r in raw if not r[1]]
    fallback = _fallback_names(session, nameless) if nameless else {}
    now_local = now.astimezone(tz)
    open_now = hours.open_seconds_at(now_local) if hours else 0
    out: list[WaitingRow] = []
    append = out.append
    for cid, name, chan, source, since_raw, last_raw, line, eid, count in raw:
        since = _when(since_raw)
        working = open_now - hours.open_seconds_at(since.astimezone(tz)) if hours else None
        append(
            WaitingRow(
                cid,
                name or fallback.get(cid, f"#{cid}"),
                chan,
                source,
                since,
                _when(last_raw),
                max(0, int((now - since).total_seconds())),
                max(0, working) if working is not None else None,
                line,
                eid,
                count,
            )
        )
    return out


def _when(value: Any) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _fallback_names(session: Session, ids: Sequence[int]) -> dict[int, str]:
    names: dict[int, str] = {}
    for cid, raw, value in session.execute(
        select(CI.customer_id, Identity.raw, Identity.value)
        .join(Identity, Identity.id == CI.identity_id)
        .where(CI.customer_id.in_(ids), Identity.kind != "platform_id")
        .order_by(Identity.id)
    ):
        names.setdefault(cid, raw or value)
    return names


# --- marks ------------------------------------------------------------------------------------


def _mark_row(m: ReplyMark) -> MarkRow:
    return MarkRow(m.id, m.customer_id, m.kind, m.upto, m.until, m.created_at, m.undone_at)


def _live_customer(session: Session, customer_id: int) -> int:
    if session.get(Customer, customer_id) is None:
        raise NotFoundError(f"no customer {customer_id}")
    return survivor_id(session, customer_id)


def mark_answered(session: Session, customer_id: int, *, now: datetime | None = None) -> MarkRow:
    """Mark what the customer wrote so far as answered (by phone, in the shop, …)."""
    now = now or datetime.now(UTC)
    cid = _live_customer(session, customer_id)
    row = session.get(Waiting, cid)
    mark = ReplyMark(
        customer_id=cid, kind="answered", upto=row.last_at if row else now, created_at=now
    )
    session.add(mark)
    session.flush()
    refresh(session, [cid])
    return _mark_row(mark)


def snooze(
    session: Session, customer_id: int, until: datetime, *, now: datetime | None = None
) -> MarkRow:
    """Hide the customer's wait until ``until`` (or until they write again).

    Raises:
        UserFacingError: ``until`` is not in the future.
    """
    now = now or datetime.now(UTC)
    if until.tzinfo is None:
        raise UserFacingError("snooze needs a time with a zone")
    if until <= now:
        raise UserFacingError("snooze until a time in the future")
    cid = _live_customer(session, customer_id)
    row = session.get(Waiting, cid)
    mark = ReplyMark(
        customer_id=cid, kind="snooze", upto=row.last_at if row else now, until=until,
        created_at=now,
    )  # fmt: skip
    session.add(mark)
    session.flush()
    refresh(session, [cid])
    return _mark_row(mark)


def undo_mark(
    session: Session,
    customer_id: int,
    kind: str | None = None,
    *,
    now: datetime | None = None,
) -> MarkRow:
    """Undo the customer's latest mark (of ``kind`` when given).

    Raises:
        NotFoundError: there is no mark to undo.
    """
    now = now or datetime.now(UTC)
    cid = _live_customer(session, customer_id)
    stmt = select(ReplyMark).where(ReplyMark.customer_id == cid, ReplyMark.undone_at.is_(None))
    if kind is not None:
        stmt = stmt.where(ReplyMark.kind == kind)
    mark = session.scalars(stmt.order_by(ReplyMark.created_at.desc(), ReplyMark.id.desc())).first()
    if mark is None:
        what = {"answered": "“answered” mark", "snooze": "snooze"}.get(kind or "", "mark")
        raise NotFoundError(f"customer {cid} has no {what} to undo")
    session.execute(update(ReplyMark).where(ReplyMark.id == mark.id).values(undone_at=now))
    session.expire(mark)
    refresh(session, [cid])
    return _mark_row(session.get_one(ReplyMark, mark.id))


def marks(session: Session, customer_id: int) -> list[MarkRow]:
    """A customer's marks, newest first (undone ones included)."""
    cid = _live_customer(session, customer_id)
    return [
        _mark_row(m)
        for m in session.scalars(
            select(ReplyMark)
            .where(ReplyMark.customer_id == cid)
            .order_by(ReplyMark.created_at.desc(), ReplyMark.id.desc())
        )
    ]
