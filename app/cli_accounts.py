"""The ``account`` and ``sync`` commands of the ``threadline`` CLI (IMAP accounts).

``account add|list|remove|test|password`` manage accounts; ``sync [NAME…]``
fetches what is new. Passwords are read from stdin (``--password-stdin``, one
line per account that needs one) or asked for at the terminal, and go to the
OS keyring only. With no usable keyring nothing is stored: each sync asks again.

Exit codes as for ``import``: 0 success, 1 some messages became problems,
2 an account failed (cannot connect, bad password, …) or the command failed.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC
from typing import TYPE_CHECKING, Any

from app import formatting as fmt
from app.errors import UserFacingError
from app.lazy import LazyModule, lazy_choices
from app.terminal import safe_print as print  # controls shown; stderr redacted
from app.terminal import write_json

# The parser is built on every run: the service (and through it the accounts, the keyring
# and the IMAP client) is imported only when an account command or sync runs.
if TYPE_CHECKING:
    from app import service
    from app.service import AccountInfo, AccountReport, Service, SyncProgress
else:
    service = LazyModule("app.service")

AddCommand = Callable[..., argparse.ArgumentParser]

_ADD_EPILOG = """\
--host takes a host name, a provider preset or an email domain; with a preset the
port and TLS mode are filled in (an explicit --port/--tls wins). Without --host,
the domain of --user picks the preset.
{presets}

TLS: "implicit" (TLS from the first byte, port 993; the default), "starttls"
(port 143, then STARTTLS) or "none" (plain text, only to this machine). The
server certificate is checked against the system's trust store, or only against
--ca-file for a server with its own CA.

The password goes to the OS keyring only: typed at a prompt, or one line on
stdin with --password-stdin. When no usable keyring exists (a headless box
without a Secret Service), nothing is stored and each sync asks for it.

--oauth google|microsoft|ISSUER-URL signs in through the browser instead (Gmail,
Google Workspace, Outlook.com, Microsoft 365): no password is typed here, and
only the refresh token is kept, in the keyring. The client id comes from
THREADLINE_GOOGLE_CLIENT_ID (+ THREADLINE_GOOGLE_CLIENT_SECRET) or
THREADLINE_MICROSOFT_CLIENT_ID, or `threadline config google_client_id ID` etc.
"""


def _print_json(data: Any) -> None:
    write_json(data)


def _note(text: str) -> None:
    print(f"threadline: {text}", file=sys.stderr)


def _read_password(info: AccountInfo, from_stdin: bool) -> str | None:
    """One password from stdin (a line) or a terminal prompt; None when neither is possible."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
        return password or None
    if sys.stdin is not None and sys.stdin.isatty():
        prompt = f"Password for {info.username} on {info.host} (account {info.name}): "
        return getpass.getpass(prompt) or None
    return None


def _password_state(info: AccountInfo) -> str:
    if service.Service.keyring_problem() is not None:
        return "asked at each sync (no usable keyring)"
    return "in the keyring" if service.Service.has_password(info) else "not stored"


# --- commands ----------------------------------------------------------------------------


def _open_url(no_browser: bool) -> Callable[[str], object]:
    """Show the sign-in URL on stderr and, unless ``no_browser``, open the system browser."""

    def show(url: str) -> None:
        _note(f"sign in at this address (waiting for the browser):\n{url}")
        sys.stderr.flush()
        if not no_browser:
            import webbrowser

            if not webbrowser.open(url):
                _note("no browser could be opened here: open the address above yourself")

    return show


def _sign_in(svc: Service, info: AccountInfo, args: argparse.Namespace) -> None:
    svc.sign_in(info, open_url=_open_url(args.no_browser), timeout=args.timeout)


def _oauth_host(args: argparse.Namespace) -> str | None:
    host: str | None = args.host
    if host or not args.oauth:
        return host
    preset = next((p for p in service.PRESETS if p.oauth == args.oauth.lower()), None)
    return preset.key if preset is not None else host


def _cmd_oauth_add(svc: Service, args: argparse.Namespace) -> int:
    if args.password_stdin:
        raise UserFacingError("--password-stdin and --oauth exclude each other")
    provider = args.oauth.strip()
    key = provider.lower() if provider.lower() in ("google", "microsoft") else provider
    if key not in ("google", "microsoft") and not key.lower().startswith(("https://", "http://")):
        raise UserFacingError("--oauth takes google, microsoft or an issuer URL (https://…)")
    if key not in ("google", "microsoft") and not args.host:
        raise UserFacingError("--oauth with an issuer URL needs --host (the IMAP server)")
    info = svc.add_account(
        args.name,
        host=_oauth_host(args),
        username=args.user,
        port=args.port,
        tls=args.tls,
        ca_file=args.ca_file,
        folders=args.folder or (),
        oauth_provider=key,
        oauth_client_id=args.client_id,
    )
    code, error = 0, None
    try:
        _sign_in(svc, info, args)
    except UserFacingError as exc:
        code, error = 2, str(exc)
        _note(f"account {info.name} added, but not signed in: {exc}")
        _note(f"sign in later with: threadline account signin {info.name}")
    if args.json:
        _print_json({**info.as_json(), "signed_in": error is None, "error": error})
    elif error is None:
        print(f"account {info.name} added: {info.username} at {info.host}:{info.port}, signed in")
        print(f"  check it with: threadline account test {info.name}")
    return code


def cmd_account_signin(svc: Service, args: argparse.Namespace) -> int:
    """``account signin``: sign an OAuth account in (again) through the browser."""
    info = svc.account(args.name)
    if not info.uses_oauth:
        raise UserFacingError(
            f"account {info.name} signs in with a password: use threadline account password"
        )
    _sign_in(svc, info, args)
    if args.json:
        _print_json({"account": info.name, "signed_in": True})
    else:
        print(f"account {info.name}: signed in")
    return 0


def cmd_account_add(svc: Service, args: argparse.Namespace) -> int:
    """``account add``: create the account, then store its password in the keyring."""
    if args.oauth:
        return _cmd_oauth_add(svc, args)
    if args.client_id:
        raise UserFacingError("--client-id goes with --oauth")
    info = svc.add_account(
        args.name,
        host=args.host,
        username=args.user,
        port=args.port,
        tls=args.tls,
        ca_file=args.ca_file,
        folders=args.folder or (),
    )
    preset = service.find_preset(args.host) if args.host else service.find_preset(args.user)
    reason = service.Service.keyring_problem()
    stored = False
    code = 0
    if reason is not None:
        if args.password_stdin:
            sys.stdin.readline()  # consumed, never kept
        _note(
            f"no usable keyring: {reason}. The password is not stored anywhere; "
            "each sync asks for it (a prompt, or --password-stdin)"
        )
    else:
        password = _read_password(info, args.password_stdin)
        if password is None:
            _note(
                "no password given; store it with: threadline account password "
                f"{info.name} (or give it to each sync)"
            )
        else:
            try:
                service.Service.set_password(info, password)
                stored = True
            except UserFacingError as exc:
                _note(f"account added, but {exc}")
                code = 2
    if args.json:
        _print_json({**info.as_json(), "password_stored": stored, "keyring": reason})
    else:
        print(
            f"account {info.name} added: {info.username} at {info.host}:{info.port} "
            f"(TLS {info.tls}); password {'stored in the keyring' if stored else 'not stored'}"
        )
        if preset is not None and preset.note:
            print(f"  note: {preset.note}")
            if preset.oauth:
                print(
                    f"  or sign in instead: threadline account add NAME --oauth {preset.oauth} "
                    f"--user {info.username}"
                )
        print(f"  check it with: threadline account test {info.name}")
    return code


def cmd_account_list(svc: Service, args: argparse.Namespace) -> int:
    """``account list``: every account, with where its password is."""
    found = svc.accounts()
    reason = service.Service.keyring_problem()
    if args.json:
        _print_json(
            [
                {
                    **a.as_json(),
                    "password_stored": (
                        not a.uses_oauth and reason is None and service.Service.has_password(a)
                    ),
                    "signed_in": a.uses_oauth and service.Service.is_signed_in(a),
                    "keyring": reason,
                }
                for a in found
            ]
        )
        return 0
    if not found:
        print("no accounts; add one with: threadline account add NAME --host HOST --user USER")
    for a in found:
        folders = ", ".join(a.folders) if a.folders else "INBOX + Sent"
        last = f"{fmt.date_time(a.last_sync_at, UTC)} UTC" if a.last_sync_at else "never"
        print(f"{a.name:<16} {a.username} at {a.host}:{a.port} (TLS {a.tls})")
        if a.uses_oauth:
            how = (
                f"signed in at {a.oauth_provider}"
                if service.Service.is_signed_in(a)
                else (f"not signed in (threadline account signin {a.name})")
            )
        else:
            how = f"password: {_password_state(a)}"
        print(f"{'':<16} folders: {folders}; {how}; last sync: {last}")
        if a.last_error:
            print(f"{'':<16} last error: {a.last_error}")
    return 0


def cmd_account_remove(svc: Service, args: argparse.Namespace) -> int:
    """``account remove``: the account, its sync state and its keyring entry."""
    info, revoked = svc.remove_account(args.name)
    if args.json:
        result: dict[str, Any] = {"removed": info.name}
        if info.uses_oauth:
            result["revoked"] = revoked
        _print_json(result)
    elif info.uses_oauth:
        where = "revoked at the provider" if revoked else "removed from the keyring"
        print(f"account {info.name} removed (its sign-in is {where})")
    else:
        print(f"account {info.name} removed (its password is gone from the keyring)")
    return 0


def _password_for(info: AccountInfo, args: argparse.Namespace) -> str | None:
    """The stored password, else one read from stdin or the terminal (None for OAuth)."""
    if info.uses_oauth:
        return None
    stored = service.Service.stored_password(info)
    if stored is not None:
        return stored
    if args.password_stdin or (sys.stdin is not None and sys.stdin.isatty()):
        reason = service.Service.keyring_problem()
        if reason and not args.password_stdin:
            _note(f"no usable keyring ({reason}); the password is used for this run only")
        return _read_password(info, args.password_stdin)
    return None


def cmd_account_test(svc: Service, args: argparse.Namespace) -> int:
    """``account test``: log in and show the folders a sync would cover."""
    info = svc.account(args.name)
    password = _password_for(info, args)
    try:
        check = svc.check_account(info.name, password=password)
    except UserFacingError as exc:
        if args.json:
            _print_json({"account": info.name, "ok": False, "error": str(exc)})
        _note(str(exc))
        return 2
    if args.json:
        _print_json(check.as_json())
    else:
        print(f"account {check.account}: logged in to {info.host}:{info.port}")
        print(f"  folders to sync: {', '.join(check.to_sync)}")
        print(f"  Sent folder: {check.sent_folder or 'none found'}")
        print(f"  {len(check.folders)} folders on the server")
    return 0


def cmd_account_password(svc: Service, args: argparse.Namespace) -> int:
    """``account password``: store (or replace) the password in the keyring."""
    info = svc.account(args.name)
    if info.uses_oauth:
        raise UserFacingError(
            f"account {info.name} signs in at {info.oauth_provider}: "
            f"use threadline account signin {info.name}"
        )
    reason = service.Service.keyring_problem()
    if reason is not None:
        raise service.KeyringUnavailable(
            f"no usable keyring: {reason}; nothing was stored (each sync asks for the password)"
        )
    password = _read_password(info, args.password_stdin)
    if password is None:
        raise UserFacingError("no password given (type it at the prompt or use --password-stdin)")
    service.Service.set_password(info, password)
    if args.json:
        _print_json({"account": info.name, "password_stored": True})
    else:
        print(f"password of account {info.name} stored in the keyring")
    return 0


def _progress_printer(enabled: bool) -> Callable[[SyncProgress], None] | None:
    if not enabled:
        return None

    def show(p: SyncProgress) -> None:
        print(f"  {p.account}/{p.folder}: {p.done}/{p.total}", file=sys.stderr)

    return show


def cmd_sync(svc: Service, args: argparse.Namespace) -> int:
    """``sync``: fetch what is new in one, several or all accounts."""
    infos = [svc.account(n) for n in args.names] if args.names else svc.accounts()
    if not infos:
        raise UserFacingError(
            "no accounts to sync; add one with: threadline account add NAME --host HOST --user USER"
        )
    reports: list[AccountReport] = []
    for info in infos:
        try:
            password = _password_for(info, args)
            if password is None and not info.uses_oauth:
                raise service.PasswordNeeded(info.name, service.Service.keyring_problem())
            reports.append(
                svc.sync_account(
                    info.name, password=password, progress=_progress_printer(args.progress)
                )
            )
        except service.PasswordNeeded as exc:
            error = f"{exc}; give it with --password-stdin or at a terminal prompt"
            reports.append(service.AccountReport(info.name, status="failed", error=error))
        except UserFacingError as exc:  # e.g. a locked keyring: this account fails alone
            reports.append(service.AccountReport(info.name, status="failed", error=str(exc)))
    if args.json:
        _print_json({"accounts": [r.as_json() for r in reports]})
    else:
        for r in reports:
            for f in r.folders:
                line = f"{r.account}/{f.folder}: {f.new} new, {f.duplicates} duplicates, "
                line += f"{len(f.problems)} problems"
                if f.rescanned:
                    line += " (re-scanned: the folder's UIDVALIDITY changed)"
                if f.status != "done":
                    line += f" ({f.status})"
                print(line)
                for notice in f.notices:
                    print(f"  note: {notice}")
                for problem in f.problems[:20]:
                    print(f"  problem: {problem.location}: {problem.reason}")
                if len(f.problems) > 20:
                    print(f"  … and {len(f.problems) - 20} more problems (see --json)")
            if r.status == "failed" and r.error:
                _note(f"{r.account}: {r.error}")
    if any(r.status == "failed" for r in reports):
        return 2
    return 1 if any(r.problem_count for r in reports) else 0


# --- parser ------------------------------------------------------------------------------


def _oauth_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-browser",
        action="store_true",
        help="only print the sign-in address (for a remote session): open it anywhere",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="how long to wait for the browser's sign-in (default 600)",
    )


class _PresetsFormatter(argparse.RawDescriptionHelpFormatter):
    """Writes the provider presets into ``account add``'s epilog when its help is shown."""

    def add_text(self, text: str | None) -> None:
        if text is not None and "{presets}" in text:
            presets = textwrap.fill(f"Presets: {service.presets_help()}.", width=80)
            text = text.format(presets=presets)
        super().add_text(text)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], add: AddCommand) -> None:
    """Add ``account`` and ``sync`` to the CLI's parser.

    Args:
        sub: the CLI's subcommand collection (unused: ``add`` wraps it).
        add: ``build_parser``'s helper that adds one command (with ``--json``).
    """
    del sub
    account = add("account", "add, list, test and remove IMAP accounts", json_flag=False)
    actions = account.add_subparsers(dest="account_command", metavar="ACTION", required=True)

    def action(name: str, help_text: str, **kwargs: Any) -> argparse.ArgumentParser:
        p = actions.add_parser(name, help=help_text, description=help_text, **kwargs)
        p.add_argument("--json", action="store_true", help="print one JSON document")
        return p

    p = action(
        "add",
        "add an IMAP account (the password goes to the OS keyring)",
        epilog=_ADD_EPILOG,
        formatter_class=_PresetsFormatter,
    )
    p.add_argument("name", metavar="NAME", help="a short name for the account, e.g. shop")
    p.add_argument(
        "--host", metavar="HOST", help="IMAP server, provider preset (gmail, …) or email domain"
    )
    p.add_argument("--port", type=int, metavar="PORT", help="default 993 (implicit) or 143")
    lazy_choices(
        p.add_argument("--tls", help="implicit (default), starttls, or none"),
        lambda: service.TLS_MODES,
    )
    p.add_argument("--ca-file", metavar="PEM", help="trust only these CA certificates")
    p.add_argument("--user", required=True, metavar="USER", help="login name (often the address)")
    p.add_argument(
        "--folder",
        action="append",
        metavar="FOLDER",
        help="a folder to sync (repeatable; default: INBOX and the Sent folder)",
    )
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    _oauth_options(p)
    p.add_argument(
        "--oauth",
        metavar="PROVIDER",
        help="sign in with google, microsoft or an OAuth issuer URL instead of a password",
    )
    p.add_argument(
        "--client-id", metavar="ID", help="with --oauth: this app's client id at the provider"
    )
    p.set_defaults(func=cmd_account_add)

    p = action("signin", "sign an account in again through the browser (OAuth accounts)")
    p.add_argument("name", metavar="NAME")
    _oauth_options(p)
    p.set_defaults(func=cmd_account_signin)

    p = action("list", "list the accounts and where their passwords are")
    p.set_defaults(func=cmd_account_list)

    p = action("remove", "remove an account, its sync state and its password")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_account_remove)

    p = action("test", "log in to an account and show the folders a sync covers")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(func=cmd_account_test)

    p = action("password", "store or replace an account's password in the keyring")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(func=cmd_account_password)

    p = add(
        "sync",
        "fetch new mail from IMAP accounts (all, or those named); exit 0 ok, 1 problems, 2 failed",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="accounts to sync (default: all)")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read passwords not in the keyring from stdin, one line per account",
    )
    p.add_argument("--progress", action="store_true", help="show progress on stderr")
    p.set_defaults(func=cmd_sync)
