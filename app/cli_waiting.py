"""The ``waiting``, ``answered`` and ``snooze`` commands of the ``threadline`` CLI.

``waiting [--channel C] [--older-than 2d] [--sort newest|longest] [--json]`` lists
customers waiting for a reply. ``answered CUSTOMER`` marks what they wrote so far as
answered (by phone, in the shop); ``snooze CUSTOMER --until WHEN`` hides the wait until
then (or until they write again). Both are undone with ``--undo``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from app import formatting as fmt
from app import queries, settings, waiting
from app.db import Database
from app.errors import UserFacingError

AddCommand = Callable[..., argparse.ArgumentParser]


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def human_duration(seconds: int) -> str:
    """3 d 4 h, 5 h 10 min, 7 min (``app.formatting.duration``)."""
    return fmt.duration(seconds)


def parse_when(text: str, now: datetime, zone: Any) -> datetime:
    """``--until``: "2d"/"4h" from now, "tomorrow", or a date/time in the user's zone.

    Raises:
        UserFacingError: not a time.
    """
    value = text.strip()
    low = value.lower()
    if low == "tomorrow":
        local = (now.astimezone(zone) + timedelta(days=1)).replace(
            hour=9, minute=0, second=0, microsecond=0
        )
        return local.astimezone(UTC)
    try:
        return now + waiting.parse_duration(value)
    except UserFacingError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UserFacingError(
            f"{text!r} is not a time: say 4h, 2d, tomorrow, 2026-03-20 or 2026-03-20T14:00"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def cmd_waiting(db: Database, args: argparse.Namespace) -> int:
    older = waiting.parse_duration(args.older_than) if args.older_than else None
    with db.session() as session:
        tz = settings.zone(session)
        rows = waiting.waiting(
            session,
            channel=args.channel,
            older_than=older,
            sort=args.sort,
            include_snoozed=args.snoozed,
            language=args.language,
        )
    if args.json:
        _print_json([r.as_json() for r in rows])
        return 0
    if not rows:
        print("nobody is waiting for a reply")
    for r in rows:
        since = fmt.date_time(r.waiting_since, tz)
        waited = human_duration(r.waited_seconds)
        if r.waited_working_seconds is not None:
            waited += f" ({human_duration(r.waited_working_seconds)} open)"
        print(
            f"{r.customer_id:>5}  {fmt.person_name(r.customer_name)[:26]:<26} "
            f"{r.channel_label[:12]:<12} "
            f"since {since}  {waited:<22} {r.first_line[:60]}"
        )
    return 0


def cmd_answered(db: Database, args: argparse.Namespace) -> int:
    with db.session() as session:
        cid = queries.resolve_customer(session, args.customer)
        if args.undo:
            mark = waiting.undo_mark(session, cid, "answered")
        else:
            mark = waiting.mark_answered(session, cid)
    if args.json:
        _print_json(mark.as_json())
    elif args.undo:
        print(f"customer {cid}: “answered” mark {mark.id} undone")
    else:
        print(f"customer {cid} marked as answered (undo: threadline answered {cid} --undo)")
    return 0


def cmd_snooze(db: Database, args: argparse.Namespace) -> int:
    with db.session() as session:
        cid = queries.resolve_customer(session, args.customer)
        if args.undo:
            mark = waiting.undo_mark(session, cid, "snooze")
        else:
            if not args.until:
                raise UserFacingError("say until when: --until 4h, 2d, tomorrow or a date")
            now = datetime.now(UTC)
            until = parse_when(args.until, now, settings.zone(session))
            mark = waiting.snooze(session, cid, until, now=now)
        tz = settings.zone(session)
    if args.json:
        _print_json(mark.as_json())
    elif args.undo:
        print(f"customer {cid}: snooze {mark.id} undone")
    else:
        assert mark.until is not None
        until_text = fmt.date_time(mark.until, tz)
        print(f"customer {cid} snoozed until {until_text} (undo: threadline snooze {cid} --undo)")
    return 0


def register(sub: Any, add: AddCommand) -> None:
    """Add the commands to the CLI's subparsers."""
    p = add("waiting", "customers waiting for a reply, on any channel")
    p.add_argument(
        "--channel",
        metavar="CHANNEL",
        help="email, chat, or a platform: whatsapp, messenger, instagram, telegram, slack, "
        "zendesk, chat_csv",
    )
    p.add_argument("--older-than", metavar="AGE", help="only waits at least this long: 4h, 2d, 1w")
    p.add_argument("--sort", choices=waiting.SORTS, default="newest", help="newest wait first")
    p.add_argument("--snoozed", action="store_true", help="include snoozed customers")
    p.add_argument(
        "--language", metavar="CODE", help="only messages in this language (de, fr, en, …)"
    )
    p.set_defaults(func=cmd_waiting)

    p = add("answered", "mark what a customer wrote as answered (by phone, in the shop)")
    p.add_argument("customer", metavar="CUSTOMER")
    p.add_argument("--undo", action="store_true", help="undo the latest “answered” mark")
    p.set_defaults(func=cmd_answered)

    p = add("snooze", "hide a customer's wait until a time (or until they write again)")
    p.add_argument("customer", metavar="CUSTOMER")
    p.add_argument(
        "--until", metavar="WHEN", help="4h, 2d, tomorrow, 2026-03-20 or 2026-03-20T14:00"
    )
    p.add_argument("--undo", action="store_true", help="undo the latest snooze")
    p.set_defaults(func=cmd_snooze)
