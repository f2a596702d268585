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
from typing import TYPE_CHECKING, Any

from app import formatting as fmt
from app.errors import UserFacingError
from app.lazy import LazyModule, lazy_choices

if TYPE_CHECKING:
    from app import service
    from app.service import Service
else:  # imported when one of these commands runs
    service = LazyModule("app.service")

AddCommand = Callable[..., argparse.ArgumentParser]


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def human_duration(seconds: int) -> str:
    """3 d 4 h, 5 h 10 min, 7 min (``app.formatting.duration``)."""
    return fmt.duration(seconds)


def cmd_waiting(svc: Service, args: argparse.Namespace) -> int:
    older = service.parse_duration(args.older_than) if args.older_than else None
    rows = svc.waiting(
        channel=args.channel,
        older_than=older,
        sort=args.sort,
        include_snoozed=args.snoozed,
        language=args.language,
    )
    tz = svc.zone()
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


def cmd_answered(svc: Service, args: argparse.Namespace) -> int:
    cid = svc.resolve_customer(args.customer)
    mark = svc.undo_mark(cid, "answered") if args.undo else svc.mark_answered(cid)
    if args.json:
        _print_json(mark.as_json())
    elif args.undo:
        print(f"customer {cid}: “answered” mark {mark.id} undone")
    else:
        print(f"customer {cid} marked as answered (undo: threadline answered {cid} --undo)")
    return 0


def cmd_snooze(svc: Service, args: argparse.Namespace) -> int:
    cid = svc.resolve_customer(args.customer)
    if args.undo:
        mark = svc.undo_mark(cid, "snooze")
    else:
        if not args.until:
            raise UserFacingError("say until when: --until 4h, 2d, tomorrow or a date")
        mark = svc.snooze(cid, args.until)
    tz = svc.zone()
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
    lazy_choices(
        p.add_argument("--sort", default="newest", help="newest wait first"),
        lambda: service.SORTS,
    )
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
