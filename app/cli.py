"""The ``threadline`` command: the GUI with no arguments, scriptable commands otherwise.

Form: ``threadline [--db PATH] COMMAND ... [--json]``. The database option
comes before the command (``THREADLINE_DB`` sets it too). Reporting commands
take ``--json`` and print one JSON document on stdout; human text otherwise.
Errors go to stderr as one line, never a traceback. This is a public contract:
extend it, never break it silently. Every human line goes through
``app.terminal.safe_print`` (imported as ``print``): control characters and
escape sequences from imported data are shown, not obeyed, and stderr carries
no credential; JSON has no raw control character either.

Exit codes: 0 success; 1 some items became import problems (``import``); 2 a
file could not be read or the command failed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import __version__
from app.errors import UserFacingError
from app.lazy import LazyModule, lazy_choices, lazy_function

# A command imports only what it runs (``--version`` not even SQLAlchemy; ``customers`` no
# connector, IMAP client or keyring): these modules are imported on first use, and
# app.service loads what each of its methods needs. tests/test_cli_imports.py keeps it so.
if TYPE_CHECKING:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from app import formatting as fmt
    from app.service import CustomerRow, FileReport, Service
    from app.terminal import safe_print as print  # human output: controls made visible
    from app.terminal import write_json
    from connectors import registry
else:
    fmt = LazyModule("app.formatting")
    registry = LazyModule("connectors.registry")
    print = lazy_function("app.terminal", "safe_print")
    write_json = lazy_function("app.terminal", "write_json")


def _log_failure(command: str) -> None:
    """Write the traceback of the exception being handled to the log."""
    import logging

    logging.getLogger(__name__).exception("command %s failed", command)


def _print_json(data: Any) -> None:
    write_json(data)


def _local(value: datetime | None, tz: ZoneInfo) -> str:
    return fmt.date_time(value, tz)


def _zone(name: str | None) -> ZoneInfo | None:
    if name is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserFacingError(f"{name!r} is not a time zone name (e.g. Europe/London)") from None


def _column_map(text: str | None) -> dict[str, str] | None:
    """``time=Created,author=From`` → {"time": "Created", "author": "From"}."""
    if not text:
        return None
    mapping: dict[str, str] = {}
    for part in text.split(","):
        field, sep, column = part.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise UserFacingError(
                f"--map takes FIELD=COLUMN pairs separated by commas, not {part!r}"
            )
        mapping[field.strip()] = column.strip()
    return mapping


# --- commands ----------------------------------------------------------------------------


def cmd_import(svc: Service, args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths]
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        print(f"threadline: {registry.display_path(path)}: no such file or folder", file=sys.stderr)
    reports = svc.import_paths(
        [p for p in paths if p not in missing],
        format=args.format,
        tz=_zone(args.tz),
        date_order=args.date_order,
        column_map=_column_map(args.map),
    )
    if args.json:
        out = {"files": [r.as_json() for r in reports]}
        out["files"].extend(
            {
                "path": registry.display_path(p),
                "format": "",
                "added": 0,
                "duplicates": 0,
                "updated": 0,
                "problems": [],
                "notices": [],
                "status": "failed",
                "error": f"{registry.display_path(p)}: no such file or folder",
            }
            for p in missing
        )
        _print_json(out)
    else:
        for r in reports:
            if r.status == "skipped":
                continue  # (summed up below)
            if r.error and not (r.added or r.duplicates):
                print(f"threadline: {r.error}", file=sys.stderr)
                continue
            line = f"{r.path}: {r.format}: {r.added} added, {r.duplicates} duplicates"
            if r.updated:
                line += f", {r.updated} updated"
            line += f", {len(r.problems)} problems"
            if r.suppressed:
                line += f", {r.suppressed} held back (forgotten customers)"
            if r.status != "done":
                line += f" ({r.status})"
            print(line)
            if r.error:  # it stopped part way: say why
                print(f"  error: {r.error}")
            for notice in r.notices:
                print(f"  note: {notice}")
            for problem in r.problems[:20]:
                print(f"  problem: {problem.location}: {problem.reason}")
            if len(r.problems) > 20:
                print(f"  … and {len(r.problems) - 20} more problems (see --json)")
        _say_skipped([r for r in reports if r.status == "skipped"])
    if missing or any(r.status == "failed" and not (r.added or r.duplicates) for r in reports):
        return 2
    if reports and all(r.status == "skipped" for r in reports):
        if not args.json:
            print(
                "threadline: nothing imported: no file in the folders is a format Threadline"
                f" recognises (supported: {', '.join(registry.names())})",
                file=sys.stderr,
            )
        return 2
    return 1 if any(r.problems for r in reports) else 0


def _say_skipped(skipped: list[FileReport]) -> None:
    """One line for the files met in the folders and left out, by why and by kind of file
    (an export's photos and videos, its other files): each is listed with ``--json``."""
    why: dict[str, list[str]] = {}
    for r in skipped:
        why.setdefault(r.reason(), []).append(r.path)
    for reason, paths in why.items():
        print(
            f"note: skipped {fmt.plural(len(paths), 'file')} met in the folders "
            f"({fmt.by_kind(paths)}): {reason} (--json lists them)"
        )


def cmd_config(svc: Service, args: argparse.Namespace) -> int:
    if args.key is None:
        values = svc.settings()
        if args.json:
            _print_json(values)
        else:
            for key, value in values.items():
                print(f"{key} = {value}")
        return 0
    if args.value is None:
        value = svc.setting(args.key)
        if args.json:
            _print_json({args.key: value})
        else:
            print(value)
        return 0
    stored = svc.configure(args.key, args.value)
    if args.json:
        _print_json({args.key: stored})
    else:
        print(f"{args.key} = {stored}")
    return 0


def cmd_customers(svc: Service, args: argparse.Namespace) -> int:
    svc.check_query(args.query or "", "customer query")
    rows: list[CustomerRow] = svc.all_customers(args.query or "")
    tz = svc.zone()
    if args.json:
        _print_json([r.as_json() for r in rows])
        return 0
    if not rows:
        print("no customers" + (f" match {args.query!r}" if args.query else ""))
    for r in rows:
        spent = fmt.money_totals(r.orders.totals, sep=", ")
        print(
            f"{r.id:>5}  {fmt.customer_name(r, '—'):<28} {fmt.best_contact(r):<32} "
            f"{r.event_count:>4} events  last {_local(r.last_seen, tz)}"
            + (f"  {r.orders.count} orders {spent}" if r.orders.count else "")
        )
    return 0


def cmd_show(svc: Service, args: argparse.Namespace) -> int:
    view = svc.open_customer(args.customer)
    row, events, notes, summary = view.customer, view.events, view.notes, view.brief
    tz = svc.zone()
    if args.json:
        _print_json(
            {
                "customer": row.as_json(),
                "events": [e.as_json() for e in events],
                "notes": [n.as_json() for n in notes],
                "brief": summary.as_json(),
            }
        )
        return 0
    print(fmt.customer_name(row))
    for line in summary.lines:
        print(f"  {line}")
    handles = [fmt.identity_text(i) for i in row.identities if i.kind in ("handle", "platform_id")]
    phones = [fmt.phone(p) for p in row.phones]
    for label, values in (("email", row.emails), ("phone", phones), ("handle", handles)):
        for v in values:
            print(f"  {label}: {v}")
    print(
        f"  first contact {_local(row.first_seen, tz)}, last {_local(row.last_seen, tz)}, "
        f"{row.event_count} events"
    )
    if row.orders.count:
        spent = fmt.money_totals(row.orders.totals, sep=", ")
        print(f"  {row.orders.count} orders, spent {spent}")
    for n in notes:
        print(f"  {'📌 ' if n.pinned else ''}note {n.id}: {n.body}")
    for e in events:
        arrow = {"outbound": "→", "inbound": "←", "system": "·"}.get(e.direction, " ")
        first = e.text.strip().splitlines()[0] if e.text.strip() else ""
        print(
            f"{_local(e.occurred_at, tz):>18}  {e.channel:<5} {arrow} {e.title[:40]:<40} "
            f"{first[:60]}"
        )
    return 0


def cmd_search(svc: Service, args: argparse.Namespace) -> int:
    svc.check_query(args.query, "search query", words=True)
    hits = svc.search(args.query, limit=args.limit)
    tz = svc.zone()
    if args.json:
        _print_json([h.as_json() for h in hits])
        return 0
    if not hits:
        print(f"nothing matches {args.query!r}")
    for h in hits:
        data = h.as_json()
        print(
            f"{_local(h.occurred_at, tz):>18}  {h.channel:<5} "
            f"{fmt.person_name(h.customer_name) or '—':<24} "
            f"{data['snippet']}"
        )
    return 0


def cmd_note(svc: Service, args: argparse.Namespace) -> int:
    note = svc.add_note(args.customer, args.text, pinned=args.pin)
    if args.json:
        _print_json(note.as_json())
    else:
        print(f"note {note.id} added")
    return 0


def cmd_export(svc: Service, args: argparse.Namespace) -> int:
    data_file = args.json if isinstance(args.json, str) else None
    if not (args.pdf or data_file or args.zip):
        raise UserFacingError("say what to write: --pdf FILE, --json FILE or --zip FILE")
    cid = svc.resolve_customer(args.customer)
    result: dict[str, Any] = {}
    if args.pdf:
        pages = svc.export_pdf(cid, Path(args.pdf))
        shown = registry.display_path(args.pdf)  # a file name need not be valid UTF-8
        result.update(path=shown, pages=pages)
        if args.json is not True:
            print(f"wrote {shown} ({pages} pages)")
    for target, zipped in ((data_file, False), (args.zip, True)):
        if target:
            data = svc.export_data(cid, Path(target), zipped=zipped)
            events = len(data["events"])
            shown = registry.display_path(target)
            result.setdefault("data", []).append({"path": shown, "events": events})
            if args.json is not True:
                print(f"wrote {shown} (everything stored about the customer: {events} events)")
    if args.json is True:
        _print_json(result)
    return 0


def cmd_forget(svc: Service, args: argparse.Namespace) -> int:
    """``forget``: erase a customer everywhere (after a confirmation, or with --yes)."""
    cid = svc.resolve_customer(args.customer)
    plan = svc.erasure_plan(cid)
    if not args.yes:
        if not (sys.stdin is not None and sys.stdin.isatty()):
            raise UserFacingError(
                f"{plan.summary()} Run it again with --yes to confirm (no terminal to ask)."
            )
        answer = input(f"{plan.summary()}\nType yes to forget them: ")
        if answer.strip().lower() != "yes":
            print("nothing was changed")
            return 1
    report = svc.forget(cid)
    if args.json:
        _print_json(report.as_json())
        return 0
    print(
        f"forgot customer #{cid}: {len(plan.events)} events, {plan.notes} notes and "
        f"{len(plan.identities)} contact points removed; {report.suppressed} contact points "
        "will be held back from later imports (threadline suppressions)"
    )
    for backup in report.backups:
        print(
            f"threadline: warning: the backup {backup} was made before and still holds "
            "this customer",
            file=sys.stderr,
        )
    return 0


def cmd_suppressions(svc: Service, args: argparse.Namespace) -> int:
    """``suppressions``: list the forgotten contact points held back, or lift some."""
    from datetime import UTC

    if args.lift or args.erasure is not None:
        lifted = svc.lift_suppressions(args.lift, erasure_id=args.erasure)
        if args.json:
            _print_json({"lifted": lifted})
        else:
            print(f"lifted {lifted} suppressions: those contact points import again")
        return 0
    rows = svc.suppressions()
    if args.json:
        _print_json([r.as_json() for r in rows])
        return 0
    if not rows:
        print("no suppressions: no customer was forgotten")
    for r in rows:
        when = f"{fmt.date_time(r.created_at, UTC)} UTC"
        print(f"{r.id:>5}  {r.kind:<12} {r.digest[:16]}…  {when}  erasure {r.erasure}")
    return 0


def cmd_demo(svc: Service, args: argparse.Namespace) -> int:
    reports = svc.load_demo()
    where = svc.shown_location()
    if args.json:
        _print_json({"files": [r.as_json() for r in reports], "database": where})
    else:
        total = sum(r.added for r in reports)
        print(f"demo data loaded: {total} events from {len(reports)} files into {where}")
    if not any(r.added or r.duplicates for r in reports):
        print("threadline: the demo loaded nothing", file=sys.stderr)
        return 2
    if args.open:
        svc.close()
        gui = importlib.import_module("ui.app")
        return int(gui.main(svc.shown_location()))
    return 0


def cmd_problems(svc: Service, args: argparse.Namespace) -> int:
    rows = svc.problems(limit=args.limit)
    if args.json:
        _print_json(
            [
                {"file": f, "location": loc, "reason": r, "at": at.isoformat()}
                for f, loc, r, at in rows
            ]
        )
    else:
        for f, loc, r, _at in rows:
            print(f"{loc}: {r}  ({f})")
    return 0


def cmd_merge(svc: Service, args: argparse.Namespace) -> int:
    change, row = svc.merge_refs(args.a, args.b, reason="merged by hand")
    if args.json:
        _print_json({"change": change, "customer": row.as_json()})
    else:
        print(f"merged into {row.name} (#{row.id}); undo with: threadline undo {change}")
    return 0


def cmd_split(svc: Service, args: argparse.Namespace) -> int:
    change, row = svc.split_refs(args.customer, args.identities, into=args.into)
    if args.json:
        _print_json({"change": change, "customer": row.as_json()})
    else:
        print(f"moved to {row.name} (#{row.id}); undo with: threadline undo {change}")
    return 0


def cmd_undo(svc: Service, args: argparse.Namespace) -> int:
    try:
        change = svc.undo(args.change)
    except UserFacingError as exc:  # e.g. a later change depends on it: one line, exit 2
        if args.json:
            _print_json({"change": args.change, "error": str(exc)})
        print(f"threadline: {exc}", file=sys.stderr)
        return 2
    if args.json:
        _print_json(change.as_json())
    else:
        print(f"undone: {change.description}")
    return 0


def cmd_changes(svc: Service, args: argparse.Namespace) -> int:
    changes = svc.history(limit=args.limit)
    tz = svc.zone()
    if args.json:
        _print_json([c.as_json() for c in changes])
        return 0
    for c in changes:
        mark = " (undone)" if c.undone else ""
        by = f"  by {c.author}" if c.author else ""
        print(f"{c.id:>5}  {_local(c.at, tz):>18}  {c.description}{mark}{by}")
    return 0


def cmd_suggestions(svc: Service, args: argparse.Namespace) -> int:
    if args.rebuild:
        svc.rebuild_suggestions()
    found = svc.suggestions(min_score=args.min_score, limit=args.limit)
    if args.json:
        _print_json([s.as_json() for s in found])
    else:
        if not found:
            print("no suggestions")
        for s in found:
            print(f"{s.score:.2f}  #{s.customer_a} {s.name_a}  ~  #{s.customer_b} {s.name_b}")
            print(f"      {'; '.join(s.reasons)}")
            if s.against:
                print(f"      against: {'; '.join(s.against)}")
    sys.stdout.flush()
    svc.checkpoint()  # (what the list's catch-up left in the database's log, once it is shown)
    return 0


def cmd_reject(svc: Service, args: argparse.Namespace) -> int:
    a, b = svc.reject_refs(args.a, args.b)
    if args.json:
        _print_json({"rejected": [a, b]})
    else:
        print(f"#{a} and #{b} will not be suggested again")
    return 0


# --- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="threadline",
        description="One customer's email, chats and orders in one timeline. "
        "Without a command, opens the app.",
    )
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="database file, or a team server's URL (postgresql+psycopg://USER@HOST/DB; its "
        "password comes from the keyring, see store-password) (default: THREADLINE_DB, else the "
        "store chosen in Settings → Database, else threadline.db in the user data folder)",
    )
    parser.add_argument("--version", action="version", version=f"threadline {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation (database, imports, search, PDF, keyring, TLS, window); "
        "one line per check, exit 0 when all pass",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_text: str, *, json_flag: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print one JSON document")
        return p

    p = add("import", "import mail, chat and order files or folders")
    p.add_argument("paths", nargs="+", metavar="PATH")
    # The connector registry is imported only when --format is given or help is shown.
    lazy_choices(
        p.add_argument("--format", help="skip detection; use this format"),
        lambda: registry.names(),
    )
    p.add_argument("--tz", metavar="ZONE", help="zone for times without one (chat exports)")
    p.add_argument(
        "--date-order",
        choices=("dmy", "mdy", "ymd"),
        help="day/month order when a chat export cannot tell",
    )
    p.add_argument(
        "--map",
        metavar="FIELD=COLUMN,...",
        help="column mapping for generic CSV imports, e.g. time=Date,author=From,text=Body",
    )
    p.set_defaults(func=cmd_import)

    p = add("config", "read or set settings")
    from app.settings import SETTINGS

    p.add_argument("key", nargs="?", choices=list(SETTINGS), metavar="KEY")
    p.add_argument("value", nargs="?", metavar="VALUE")
    p.set_defaults(func=cmd_config)

    p = add("customers", "list customers, most recent contact first")
    p.add_argument("query", nargs="?", help="filter by name, email, phone or order number")
    p.set_defaults(func=cmd_customers)

    p = add("show", "one customer's profile, notes and timeline")
    p.add_argument("customer", metavar="CUSTOMER", help="id, email, phone or unambiguous name")
    p.set_defaults(func=cmd_show)

    p = add("search", "full-text search across all messages and orders")
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_search)

    p = add("note", "add a note to a customer")
    p.add_argument("customer", metavar="CUSTOMER")
    p.add_argument("text")
    p.add_argument("--pin", action="store_true", help="pin the note")
    p.set_defaults(func=cmd_note)

    p = add(
        "export",
        "export one customer's history: a PDF, or everything stored about them (a data "
        "access or portability request) as JSON or a zip of CSV files",
        json_flag=False,
    )
    p.add_argument("customer", metavar="CUSTOMER")
    p.add_argument("--pdf", metavar="FILE", help="the history as a PDF")
    p.add_argument(
        "--json",
        nargs="?",
        const=True,
        default=False,
        metavar="FILE",
        help="with FILE: everything stored about the customer as versioned JSON; "
        "without: print the result as one JSON document",
    )
    p.add_argument("--zip", metavar="FILE", help="the same as CSV files (for spreadsheets)")
    p.set_defaults(func=cmd_export)

    p = add(
        "forget",
        "erase a customer everywhere (GDPR art. 17) and keep them out of later imports",
    )
    p.add_argument("customer", metavar="CUSTOMER")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_forget)

    p = add("suppressions", "list the contact points of forgotten customers, or lift some")
    p.add_argument(
        "--lift", type=int, nargs="+", default=[], metavar="ID", help="lift these suppressions"
    )
    p.add_argument("--erasure", type=int, metavar="N", help="lift all of one erasure")
    p.set_defaults(func=cmd_suppressions)

    p = add("demo", "load the demo data into the database")
    p.add_argument("--open", action="store_true", help="then open the app on that database")
    p.description = (
        "Load the demo data into the demo's own database (demo.db in the data folder, never "
        "yours), or into --db PATH when one is given. Exits 2 when it loaded nothing."
    )
    p.set_defaults(func=cmd_demo)

    p = add("merge", "merge customer B into customer A (undoable)")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.set_defaults(func=cmd_merge)

    p = add("split", "move contact points out of a customer to a new one (undoable)")
    p.add_argument("customer", metavar="CUSTOMER")
    p.add_argument("identities", nargs="+", metavar="IDENTITY", help="email, phone, handle or id")
    p.add_argument("--into", metavar="CUSTOMER", help="move them to this customer instead")
    p.set_defaults(func=cmd_split)

    p = add("undo", "undo a merge, split or rejection (the latest when no CHANGE is given)")
    p.add_argument("change", nargs="?", type=int, metavar="CHANGE")
    p.set_defaults(func=cmd_undo)

    p = add("changes", "the history of merges, splits and other identity changes")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_changes)

    p = add("suggestions", "pairs of customers that may be one person, with reasons")
    p.add_argument(
        "--min-score",
        type=float,
        default=None,
        metavar="S",
        help="leave out pairs less likely than S (0-1) to be one person (default 0.523)",
    )
    p.add_argument("--limit", type=int, default=None)
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="compute the stored list again from scratch first (it is kept up to date as "
        "records arrive; this also counts names and postcodes again)",
    )
    p.set_defaults(func=cmd_suggestions)

    p = add("reject", "A and B are not the same person: never suggest them again")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.set_defaults(func=cmd_reject)

    p = add("problems", "list recent import problems")
    p.add_argument("--limit", type=int, default=200)
    p.set_defaults(func=cmd_problems)
    from app import cli_accounts  # IMAP accounts: account add|list|remove|test, sync

    cli_accounts.register(sub, add)
    from app import cli_backup  # backup, backups, restore: work on the file, even if damaged

    cli_backup.register(add)
    from app import cli_store  # migrate-store: the whole store to a server, or back to a file

    cli_store.register(add)

    from app import cli_waiting  # waiting for a reply: waiting, answered, snooze

    cli_waiting.register(sub, add)
    return parser


# Commands whose one positional is free text that may start with "-" ("-foo", "--weird").
_FREE_TEXT_COMMANDS = ("search", "customers")
# Arguments that name files: their undecodable bytes are a file name's, kept as they are.
_PATH_ARGUMENTS = frozenset({"paths", "db", "pdf"})


def _free_text_first(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``argv`` with a search or customer query that starts with "-" moved behind ``--``.

    argparse reads ``search -foo`` as an unknown option. A token after the
    command that is not one of its options (exactly, or an unambiguous
    ``--long`` prefix, or ``--long=value``) is the query; every real option
    keeps working.
    """
    index = 0
    while index < len(argv) and argv[index].startswith("-"):  # the global options
        index += 2 if argv[index] == "--db" else 1
    if index >= len(argv) or argv[index] not in _FREE_TEXT_COMMANDS:
        return argv
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    command_parser = sub.choices[argv[index]]
    takes_value: dict[str, bool] = {}
    for action in command_parser._actions:
        for option in action.option_strings:
            takes_value[option] = action.nargs != 0
    head, rest = argv[: index + 1], argv[index + 1 :]
    kept: list[str] = []
    moved: list[str] = []
    i = 0
    while i < len(rest):
        token = rest[i]
        if token == "--":
            kept.extend(rest[i:])
            break
        if token.startswith("-") and len(token) > 1:
            name = token.split("=", 1)[0] if token.startswith("--") else token
            known = [o for o in takes_value if o == name] or (
                [o for o in takes_value if o.startswith("--") and o.startswith(name)]
                if name.startswith("--") and len(name) > 2
                else []
            )
            if len(known) == 1 or (known and name in known):
                kept.append(token)
                if takes_value[known[0]] and "=" not in token and i + 1 < len(rest):
                    kept.append(rest[i + 1])
                    i += 1
            else:
                moved.append(token)
        else:
            kept.append(token)
        i += 1
    if not moved:
        return argv
    if "--" in kept:
        at = kept.index("--")
        return head + kept[:at] + ["--", *moved, *kept[at + 1 :]]
    return head + kept + ["--", *moved]


def _undecodable_argument(args: argparse.Namespace) -> str | None:
    """The name of a text argument holding bytes that are not valid UTF-8, if any."""
    for name, value in vars(args).items():
        if name in _PATH_ARGUMENTS or name == "func":
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return name.upper()
    return None


def _error_line(exc: BaseException) -> str:
    """An unexpected error in one line: never the SQL or parameters a database error carries."""
    orig = getattr(exc, "orig", None)
    text = str(orig if isinstance(orig, BaseException) else exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return registry.displayable(first[:300])


# Commands that only read, answered by Service.open_reading (no SQLAlchemy on a SQLite file).
_READ_ONLY_COMMANDS = frozenset({"customers", "show", "search"})


def _database_error(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLAlchemy's wrapper of a database driver's error.

    SQLAlchemy is not imported for that: a command that never loaded it cannot have
    raised one of its errors.
    """
    loaded = sys.modules.get("sqlalchemy.exc")
    return loaded is not None and isinstance(exc, loaded.DBAPIError)


def _fail(args: argparse.Namespace, message: object) -> int:
    """Report a failed command: one line on stderr, and ``{"error": ...}`` with ``--json``."""
    print(f"threadline: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        _print_json({"error": str(message)})
    return 2


def _asks_version(argv: list[str]) -> bool:
    """Whether ``argv`` is ``--version`` with at most ``--db PATH`` around it (answered
    before the parser, which is most of the cost of ``threadline --version``, is built)."""
    rest = list(argv)
    if "--version" not in rest:
        return False
    rest.remove("--version")
    if rest[:1] == ["--db"] and len(rest) == 2 and not rest[1].startswith("-"):
        return True
    return rest == [] or (len(rest) == 1 and rest[0].startswith("--db="))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI (or the GUI when no command is given); returns the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if _asks_version(arguments):  # as argparse's version action writes it
        sys.stdout.write(f"threadline {__version__}\n")
        return 0
    parser = build_parser()
    args = parser.parse_args(_free_text_first(parser, arguments))
    bad = _undecodable_argument(args)
    if bad is not None:
        print(
            f"threadline: the {bad} argument has bytes that are not valid UTF-8 text",
            file=sys.stderr,
        )
        return 2
    from app.logs import setup_logging
    from app.paths import default_db_path, demo_db_path, store_location
    from app.service import Service

    db_path = store_location(args.db) if args.db else default_db_path()
    if args.command == "demo" and not args.db:  # never the user's database
        db_path = demo_db_path()
    setup_logging()
    if args.self_test:
        return Service.self_test()
    if args.command is None:
        gui = importlib.import_module("ui.app")
        return int(gui.main(str(db_path)))
    if getattr(args, "no_store", False):  # works beside the store, never opens it
        try:
            return int(args.func(db_path, args))
        except UserFacingError as exc:
            return _fail(args, exc)
    if not getattr(args, "needs_db", True):
        if not isinstance(db_path, Path):
            return _fail(args, f"`{args.command}` works on a local database file, not a server")
        try:
            return int(args.func(db_path, args))
        except UserFacingError as exc:
            return _fail(args, exc)
        except BrokenPipeError:  # output piped into `head` and cut short: not an error
            sys.stderr.close()
            return 0
    try:
        # customers, show and search on a SQLite file read it without SQLAlchemy
        opener = Service.open_reading if args.command in _READ_ONLY_COMMANDS else Service.open
        svc = opener(db_path)
    except UserFacingError as exc:
        return _fail(args, exc)
    try:
        return int(args.func(svc, args))
    except UserFacingError as exc:
        return _fail(args, exc)
    except KeyboardInterrupt:
        print("threadline: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and cut short: not an error
        sys.stderr.close()
        return 0
    except Exception as exc:
        if _database_error(exc):  # locked, read-only, disk full, damaged: one line; else a bug
            error = svc.user_error(exc)
            if error is None:
                _log_failure(args.command)
                orig = getattr(exc, "orig", exc)
                return _fail(args, f"internal error: {orig} (details in the log)")
            return _fail(args, error)
        # our bug: log the traceback, show one line
        _log_failure(args.command)
        print(
            f"threadline: internal error: {_error_line(exc)} (details in the log)",
            file=sys.stderr,
        )
        return 2
    finally:
        svc.close()


if __name__ == "__main__":
    sys.exit(main())
