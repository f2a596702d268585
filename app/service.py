"""The one way in: every user action as one typed method of ``Service``.

The CLI (``app/cli*.py``) and the GUI (``ui/``) call only this facade; neither
opens a session nor repeats a sequence of steps. A ``Service`` wraps an open
``app.db.Database`` and owns the unit of work of each action: reads run in a
read session (a snapshot that never waits for a writer), writes in one
transaction (``BEGIN IMMEDIATE`` on SQLite). Sessions are never nested: a
method that needs both reads and writes does them one after the other.

Results are the frozen row objects of the core (``CustomerRow``, ``EventRow``,
``NoteRow``, ``Change``, ``WaitingRow``, ``FileReport`` …). They are re-exported
here so an interface imports its types from ``app.service`` too; the heavy ones
(accounts and IMAP, the PDF renderer, connectors) are loaded on first use, so
``import app.service`` stays cheap for a read-only command.

This is the seam where a shared server plugs in later: no caller may assume
SQLite (``path`` is None for a server URL).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from app import rows, settings
from app.errors import NotFoundError, UserFacingError
from app.lazy import LazyModule
from app.rows import (
    HL_END,
    HL_START,
    CustomerRow,
    EventRow,
    IdentityRow,
    NoteRow,
    OrderFigures,
    OrderLineRow,
    OrderRow,
    SearchHit,
    order_details,
)
from app.store_auth import PermissionDenied, ServerInfo, SignInFailed, owner_only, refuse

if TYPE_CHECKING:
    from app import queries
    from app.accounts import DEFAULT_PORTS, PRESETS, AccountInfo, Preset, find_preset, presets_help
    from app.backups import BEFORE_MERGE, DAILY, MANUAL, Backup
    from app.brief_lines import Brief
    from app.db import Database
    from app.erasure import ErasurePlan, ErasureReport, SuppressionRow
    from app.export.document import ExportOptions
    from app.export.pdf import install_fonts, with_fallbacks
    from app.identity import normalize_email, normalize_phone
    from app.ingest import FileReport, ImportProgress, Preview
    from app.live import Change as LiveChange
    from app.live import Watcher
    from app.merges import UNDOABLE, Change
    from app.oauth import PRESETS as OAUTH_PRESETS
    from app.oauth import SignInCancelled
    from app.readpath import Reader
    from app.records import DateOrder
    from app.search_syntax import SearchSyntaxError
    from app.secrets import KeyringUnavailable
    from app.settings import OWNER_KEYS, SETTINGS, machine_region, machine_zone
    from app.settings import spec as setting_spec
    from app.store_copy import CopyReport
    from app.suggestions import DEFAULT_MIN_SCORE, Suggestion
    from app.sync import (
        AccountCheck,
        AccountReport,
        FolderReport,
        PasswordNeeded,
        ServerCheck,
        ServerConfig,
        SyncProgress,
        is_loopback,
    )
    from app.waiting import SORTS, MarkRow, WaitingRow, parse_duration
    from connectors.imap import TLS_MODES
else:  # SQLAlchemy loads when a method first queries (the CLI's lean read path needs none)
    queries = LazyModule("app.queries")

__all__ = [
    "BEFORE_MERGE",
    "DAILY",
    "DEFAULT_MIN_SCORE",
    "DEFAULT_PORTS",
    "HL_END",
    "HL_START",
    "MANUAL",
    "OAUTH_PRESETS",
    "OWNER_KEYS",
    "PRESETS",
    "SETTINGS",
    "SORTS",
    "TLS_MODES",
    "UNDOABLE",
    "AccountCheck",
    "AccountInfo",
    "AccountReport",
    "Backup",
    "BackupFailed",
    "Brief",
    "Change",
    "CopyReport",
    "CustomerRow",
    "CustomerView",
    "Database",
    "ErasurePlan",
    "ErasureReport",
    "EventRow",
    "ExportOptions",
    "FileReport",
    "FolderReport",
    "IdentityRow",
    "ImportProgress",
    "KeyringUnavailable",
    "LiveChange",
    "MarkRow",
    "NoteRow",
    "OrderFigures",
    "OrderLineRow",
    "OrderRow",
    "OwnerContacts",
    "PasswordNeeded",
    "PermissionDenied",
    "Preset",
    "Preview",
    "SearchHit",
    "SearchSyntaxError",
    "ServerCheck",
    "ServerConfig",
    "ServerInfo",
    "Service",
    "SignInCancelled",
    "SignInFailed",
    "Suggestion",
    "SuppressionRow",
    "SyncProgress",
    "WaitingRow",
    "find_preset",
    "install_fonts",
    "is_loopback",
    "machine_region",
    "machine_zone",
    "normalize_email",
    "normalize_phone",
    "order_details",
    "parse_duration",
    "presets_help",
    "setting_spec",
    "with_fallbacks",
]

# Names re-exported from modules that are loaded only when first asked for.
_LAZY: dict[str, tuple[str, str]] = {
    "SearchSyntaxError": ("app.search_syntax", "SearchSyntaxError"),
    "DEFAULT_PORTS": ("app.accounts", "DEFAULT_PORTS"),
    "PRESETS": ("app.accounts", "PRESETS"),
    "AccountInfo": ("app.accounts", "AccountInfo"),
    "Preset": ("app.accounts", "Preset"),
    "find_preset": ("app.accounts", "find_preset"),
    "presets_help": ("app.accounts", "presets_help"),
    "KeyringUnavailable": ("app.secrets", "KeyringUnavailable"),
    "TLS_MODES": ("connectors.imap", "TLS_MODES"),
    "BEFORE_MERGE": ("app.backups", "BEFORE_MERGE"),
    "DAILY": ("app.backups", "DAILY"),
    "MANUAL": ("app.backups", "MANUAL"),
    "Backup": ("app.backups", "Backup"),
    "Brief": ("app.brief_lines", "Brief"),
    "Database": ("app.db", "Database"),
    "ErasurePlan": ("app.erasure", "ErasurePlan"),
    "ErasureReport": ("app.erasure", "ErasureReport"),
    "SuppressionRow": ("app.erasure", "SuppressionRow"),
    "ExportOptions": ("app.export.document", "ExportOptions"),
    "install_fonts": ("app.export.pdf", "install_fonts"),
    "with_fallbacks": ("app.export.pdf", "with_fallbacks"),
    "normalize_email": ("app.identity", "normalize_email"),
    "normalize_phone": ("app.identity", "normalize_phone"),
    "FileReport": ("app.ingest", "FileReport"),
    "ImportProgress": ("app.ingest", "ImportProgress"),
    "Preview": ("app.ingest", "Preview"),
    "LiveChange": ("app.live", "Change"),
    "Change": ("app.merges", "Change"),
    "UNDOABLE": ("app.merges", "UNDOABLE"),
    "OAUTH_PRESETS": ("app.oauth", "PRESETS"),
    "SignInCancelled": ("app.oauth", "SignInCancelled"),
    "OWNER_KEYS": ("app.settings", "OWNER_KEYS"),
    "SETTINGS": ("app.settings", "SETTINGS"),
    "CopyReport": ("app.store_copy", "CopyReport"),
    "machine_region": ("app.settings", "machine_region"),
    "machine_zone": ("app.settings", "machine_zone"),
    "setting_spec": ("app.settings", "spec"),
    "DEFAULT_MIN_SCORE": ("app.suggestions", "DEFAULT_MIN_SCORE"),
    "Suggestion": ("app.suggestions", "Suggestion"),
    "AccountCheck": ("app.sync", "AccountCheck"),
    "AccountReport": ("app.sync", "AccountReport"),
    "FolderReport": ("app.sync", "FolderReport"),
    "PasswordNeeded": ("app.sync", "PasswordNeeded"),
    "ServerCheck": ("app.sync", "ServerCheck"),
    "ServerConfig": ("app.sync", "ServerConfig"),
    "SyncProgress": ("app.sync", "SyncProgress"),
    "is_loopback": ("app.sync", "is_loopback"),
    "SORTS": ("app.waiting", "SORTS"),
    "MarkRow": ("app.waiting", "MarkRow"),
    "WaitingRow": ("app.waiting", "WaitingRow"),
    "parse_duration": ("app.waiting", "parse_duration"),
}


def __getattr__(name: str) -> Any:
    """Load a lazily re-exported name (PEP 562) on first use."""
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value
    return value


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _transaction(
    method: Callable[Concatenate[Service, _P], _R],
) -> Callable[Concatenate[Service, _P], _R]:
    """A write method that is one transaction: on a server, run again whole when a
    concurrent writer won (``Database.retried``); on SQLite, run once as before."""

    def run(service: Service, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return service._db.retried(lambda: method(service, *args, **kwargs))

    return functools.update_wrapper(run, method)


class BackupFailed(UserFacingError):
    """A backup copy could not be made (the disk or the file failed, not the program)."""


#: Rows read per query when a command wants everything (a whole list or timeline).
_CHUNK = 500


@dataclass(frozen=True)
class CustomerView:
    """One customer opened: profile, whole timeline, notes and the brief."""

    customer: CustomerRow
    events: tuple[EventRow, ...]
    notes: tuple[NoteRow, ...]
    brief: Brief


@dataclass(frozen=True)
class OwnerContacts:
    """The business's own names, addresses and numbers (normalised), and its region."""

    region: str
    names: tuple[str, ...]
    emails: tuple[str, ...]
    phones: tuple[str, ...]


class Service:
    """Every user action on one database; the CLI and the GUI share it.

    Args:
        db: the open database (``Service.open`` opens one from a path or URL).
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    @classmethod
    def open(cls, path_or_url: str | Path, *, check_pages: bool = True) -> Service:
        """Open (creating or upgrading as needed) the database at a path or URL.

        ``check_pages=False`` leaves the scan of every page of a SQLite file to ``damage``
        (the window runs it in the background, so a big file opens at once).

        Raises:
            UserFacingError: the database cannot be opened (damaged, too new, read-only …).
        """
        from app.db import open_database

        return cls(open_database(path_or_url, check_pages=check_pages))

    def damage(self) -> str | None:
        """What SQLite's ``quick_check`` finds wrong with the open file, as the one line the
        user reads (None when sound, or for a server). Reads the whole file: seconds when big.
        """
        from app.dbfile import check_file
        from app.errors import DamagedDatabaseError

        path = self._db.path
        if path is None or not path.is_file():
            return None
        try:
            check_file(path)  # remembered when sound: the next start need not read it again
        except DamagedDatabaseError as exc:
            return str(exc)
        return None

    @classmethod
    def open_reading(cls, path_or_url: str | Path) -> Service:
        """Like ``open``, for a command that only reads (the CLI's ``customers``, ``show``,
        ``search``): on a SQLite file whose schema is current, ``all_customers``,
        ``open_customer`` and ``search`` read it without SQLAlchemy (``app.readpath``);
        every other method, and any other database, works as after ``open``.

        Raises:
            UserFacingError: the database cannot be opened (damaged, too new, read-only …).
        """
        from app.readpath import Reader, sqlite_file

        path = sqlite_file(path_or_url)
        reader = Reader.open(path) if path is not None else None
        if path is None or reader is None:
            return cls.open(path_or_url)
        return LeanService(path, reader)

    @classmethod
    def of(cls, source: Service | Database) -> Service:
        """``source`` if it is a service already, else a service on that database."""
        return source if isinstance(source, Service) else cls(source)

    @staticmethod
    def self_test() -> int:
        """Check this installation, one line per check; 0 when all pass."""
        from app.selftest import run_self_test

        return run_self_test()

    # --- the database itself -------------------------------------------------------------

    @property
    def database(self) -> Database:
        """The database this service works on (for tests and tools)."""
        return self._db

    @property
    def url(self) -> str:
        """The database URL (``sqlite:///…`` for a file)."""
        return self._db.url

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None for a server database."""
        return self._db.path

    def shown_location(self) -> str:
        """The file path for a local database, else the URL."""
        return self.url.removeprefix("sqlite:///")

    def close(self) -> None:
        """Close every pooled connection (the service may be used again afterwards)."""
        self._db.dispose()

    def user_error(self, exc: BaseException) -> UserFacingError | None:
        """The one-line error for an environmental database failure, else None."""
        return self._db.user_error(exc)

    def team_role(self) -> str:
        """This sign-in's place on a team server: "owner", "agent", "administrator" (owns the
        database) or "none"; "local" for a database file (one person, who may do anything)."""
        if self._db.engine.dialect.name != "postgresql":
            return "local"
        from app.store_auth import team_role

        with self._db.engine.connect() as conn:
            return team_role(conn)

    def watch_changes(self, callback: Callable[[LiveChange], None]) -> Watcher:
        """Start telling ``callback`` (on a thread of its own) what other writers commit:
        NOTIFY on PostgreSQL, within about a second on a SQLite file (``app.live``).
        Returns the watcher; ``stop()`` it when done."""
        from app.live import Watcher

        return Watcher(self._db, callback).start()

    # --- settings ------------------------------------------------------------------------

    @staticmethod
    def search_terms(query: str) -> tuple[str, ...]:
        """The words of a search to highlight, as the full-text index sees them (prefixes).

        Fields (``from:jane``, ``channel:email``, ``after:7d``) and left-out words
        (``-cancelled``) are not highlighted; a query the syntax cannot read still
        highlights its words.
        """
        import re

        from app import search_syntax

        try:
            parsed = search_syntax.parse(query)
        except search_syntax.SearchSyntaxError:
            return tuple(w.casefold() for w in re.findall(r"\w+", query, flags=re.UNICODE))
        return tuple(dict.fromkeys(w.casefold() for t in parsed.terms for w in t.words))

    def zone(self) -> ZoneInfo:
        """The user's time zone."""
        with self._db.read_session() as session:
            return settings.zone(session)

    def settings(self) -> dict[str, str]:
        """Every setting with its value (defaults filled in)."""
        with self._db.read_session() as session:
            return settings.get_all(session)

    def setting(self, key: str) -> str:
        """One setting's value."""
        with self._db.read_session() as session:
            return settings.get(session, key)

    def start_settings(self) -> tuple[str, bool]:
        """The time zone name and whether the welcome form is due (opening the window)."""
        with self._db.read_session() as session:
            return settings.get(session, "timezone"), settings.needs_welcome(session)

    def configure(self, key: str, value: str) -> str:
        """Store a setting and make it take effect; returns the stored value.

        The owner's addresses and the region re-mark own identities (profiles and
        directions are refreshed); turning automated senders on gives them customers.

        Raises:
            UserFacingError: unknown key or invalid value.
        """
        return self.configure_many({key: value})[key]

    @_transaction
    def configure_many(self, values: Mapping[str, str]) -> dict[str, str]:
        """Store several settings in one transaction, each with its side effects."""
        from app import identity

        with self._db.session() as session:
            return {key: identity.configure(session, key, value) for key, value in values.items()}

    def owner_contacts(self) -> OwnerContacts:
        """The owner's names, emails and phones as stored (normalised), with the region."""
        from app.identity import normalize_email, normalize_phone

        with self._db.read_session() as session:
            region = settings.get(session, "region")
            names = settings.get_list(session, "owner_names")
            emails = settings.get_list(session, "owner_emails")
            phones = settings.get_list(session, "owner_phones")
        return OwnerContacts(
            region=region,
            names=tuple(names),
            emails=tuple(e for e in (normalize_email(x) for x in emails) if e),
            phones=tuple(p for p in (normalize_phone(x, region) for x in phones) if p),
        )

    # --- customers, search, one customer -------------------------------------------------

    @staticmethod
    def check_query(query: str, what: str = "query", *, words: bool = False) -> None:
        """Refuse a query no search can answer (too long, nothing to look for).

        Raises:
            UserFacingError: with the reason.
        """
        rows.check_query(query, what, words=words)

    def customers(self, query: str = "", *, offset: int = 0, limit: int = 100) -> list[CustomerRow]:
        """One page of customers matching ``query``, most recent contact first."""
        with self._db.read_session() as session:
            return queries.list_customers(session, query, offset=offset, limit=limit)

    def all_customers(self, query: str = "") -> list[CustomerRow]:
        """Every customer matching ``query`` (read in pages, one snapshot)."""
        rows: list[CustomerRow] = []
        with self._db.read_session() as session:
            while True:
                page = queries.list_customers(session, query, offset=len(rows), limit=_CHUNK)
                rows.extend(page)
                if len(page) < _CHUNK:
                    return rows

    def customer_page(self, query: str, limit: int) -> tuple[int, int, list[CustomerRow]]:
        """(matching count, count of everyone, first ``limit`` rows) for the customer list."""
        with self._db.read_session() as session:
            total = queries.count_customers(session, query)
            everyone = queries.count_customers(session, "") if query else total
            rows = queries.list_customers(session, query, limit=limit) if total else []
        return total, everyone, rows

    def customers_by_id(self, ids: Sequence[int]) -> list[CustomerRow]:
        """The rows of these customers (merged ones as their survivor)."""
        with self._db.read_session() as session:
            return queries.customers_by_id(session, ids)

    def resolve_customer(self, ref: str) -> int:
        """The customer id for an id, email, phone or unambiguous name.

        Raises:
            NotFoundError: nobody matches.
            AmbiguousError: several customers match.
        """
        with self._db.read_session() as session:
            return queries.resolve_customer(session, ref)

    def customer(self, customer_id: int) -> CustomerRow:
        """One customer's profile (a merged customer gives the survivor's).

        Raises:
            NotFoundError: no such customer.
        """
        with self._db.read_session() as session:
            return queries.customer(session, customer_id)

    def open_customer(self, ref: str) -> CustomerView:
        """A customer by reference with their whole timeline, notes and brief."""
        from app import brief

        with self._db.read_session() as session:
            cid = queries.resolve_customer(session, ref)
            row = queries.customer(session, cid)
            events: list[EventRow] = []
            while True:
                page = queries.timeline(session, cid, offset=len(events), limit=2 * _CHUNK)
                events.extend(page)
                if len(page) < 2 * _CHUNK:
                    break
            notes = queries.notes(session, cid)
            summary = brief.build(session, cid)
        return CustomerView(row, tuple(events), tuple(notes), summary)

    def timeline_start(
        self,
        customer_id: int,
        *,
        limit: int,
        channels: Sequence[str] | None = None,
        query: str | None = None,
        focus_event: int | None = None,
    ) -> tuple[CustomerRow, int, list[EventRow]]:
        """Open a customer's timeline: (profile, matching count, first events).

        With ``focus_event`` (and no filter) as many pages of ``limit`` are read as
        reach down to that event.
        """
        with self._db.read_session() as session:
            row = queries.customer(session, customer_id)
            total = queries.timeline_count(session, row.id, channels=channels, query=query)
            if focus_event is not None and channels is None and query is None:
                pos = queries.event_position(session, row.id, focus_event)
                if pos is not None:
                    limit = (pos // limit + 1) * limit
            events = queries.timeline(session, row.id, limit=limit, channels=channels, query=query)
        return row, total, events

    def timeline(
        self,
        customer_id: int,
        *,
        offset: int = 0,
        limit: int = 200,
        channels: Sequence[str] | None = None,
        query: str | None = None,
    ) -> list[EventRow]:
        """One page of a customer's timeline, newest first."""
        with self._db.read_session() as session:
            return queries.timeline(
                session, customer_id, offset=offset, limit=limit, channels=channels, query=query
            )

    def latest_events(
        self, customer_ids: Iterable[int], limit: int
    ) -> dict[int, tuple[CustomerRow, tuple[EventRow, ...]]]:
        """Each customer's row and newest ``limit`` events (customers gone are left out)."""
        out: dict[int, tuple[CustomerRow, tuple[EventRow, ...]]] = {}
        with self._db.read_session() as session:
            for cid in dict.fromkeys(customer_ids):
                try:
                    row = queries.customer(session, cid)
                except NotFoundError:
                    continue
                out[cid] = (row, tuple(queries.timeline(session, row.id, limit=limit)))
        return out

    def brief(self, customer_id: int, *, now: datetime | None = None) -> Brief:
        """The few lines that sum a customer up (open orders, waiting, last contact …)."""
        from app import brief

        with self._db.read_session() as session:
            return brief.build(session, customer_id, now=now)

    def search(
        self, query: str, *, limit: int = 50, customer_id: int | None = None
    ) -> list[SearchHit]:
        """Full-text search across messages and orders."""
        with self._db.read_session() as session:
            return queries.search(session, query, limit=limit, customer_id=customer_id)

    def problems(self, limit: int = 500) -> list[tuple[str, str, str, datetime]]:
        """The latest import problems: (file, location, reason, when)."""
        from app.ingest import recent_problems

        with self._db.read_session() as session:
            return recent_problems(session, limit=limit)

    # --- notes ---------------------------------------------------------------------------

    def notes(self, customer_id: int) -> list[NoteRow]:
        """A customer's notes, pinned first."""
        with self._db.read_session() as session:
            return queries.notes(session, customer_id)

    @_transaction
    def add_note(self, customer: int | str, body: str, *, pinned: bool = False) -> NoteRow:
        """Add a note to a customer (an id, or a reference as ``resolve_customer`` takes)."""
        from app import notes

        with self._db.session() as session:
            cid = (
                customer
                if isinstance(customer, int)
                else queries.resolve_customer(session, customer)
            )
            return notes.add_note(session, cid, body, pinned=pinned)

    @_transaction
    def edit_note(self, note_id: int, body: str) -> NoteRow:
        """Replace a note's text."""
        from app import notes

        with self._db.session() as session:
            return notes.edit_note(session, note_id, body)

    @_transaction
    def set_pinned(self, note_id: int, pinned: bool) -> NoteRow:
        """Pin or unpin a note."""
        from app import notes

        with self._db.session() as session:
            return notes.set_pinned(session, note_id, pinned)

    @_transaction
    def delete_note(self, note_id: int) -> None:
        """Delete a note."""
        from app import notes

        with self._db.session() as session:
            notes.delete_note(session, note_id)

    # --- merge, split, undo, reject, suggestions -----------------------------------------

    @_transaction
    def merge(self, survivor: int, others: Sequence[int], *, reason: str) -> list[int]:
        """Merge ``others`` into ``survivor`` in one transaction; returns the change ids.

        Merging several at once first makes an automatic backup of a database file;
        when that fails nothing is merged.
        """
        from app import merges

        if len(others) > 1 and self._db.path is not None:
            import sqlite3

            from app import backups

            try:
                backups.automatic_backup(self._db.path, backups.BEFORE_MERGE)
            except (sqlite3.Error, OSError) as exc:
                raise UserFacingError(
                    f"Nothing was merged: the backup made first failed ({exc})."
                ) from exc
        with owner_only("merge"), self._db.session() as session:
            return [merges.merge_customers(session, survivor, o, reason=reason) for o in others]

    @_transaction
    def merge_refs(self, a: str, b: str, *, reason: str) -> tuple[int, CustomerRow]:
        """Merge customer ``b`` into ``a`` (references); returns the change and the result."""
        from app import merges

        with owner_only("merge"), self._db.session() as session:
            first = queries.resolve_customer(session, a)
            second = queries.resolve_customer(session, b)
            change = merges.merge_customers(session, first, second, reason=reason)
            return change, queries.customer(session, first)

    @_transaction
    def split(
        self, customer_id: int, identity_ids: list[int], *, into: int | None = None
    ) -> tuple[int, int, CustomerRow]:
        """Move contact points to a new (or the ``into``) customer: (target, change, target row)."""
        from app import merges

        with owner_only("split"), self._db.session() as session:
            target, change = merges.split_customer(session, customer_id, identity_ids, into=into)
            return target, change, queries.customer(session, target)

    @_transaction
    def split_refs(
        self, customer: str, identities: Sequence[str], *, into: str | None = None
    ) -> tuple[int, CustomerRow]:
        """``split`` with references: contact points by id, email, phone or handle.

        Raises:
            UserFacingError: a reference is not one of the customer's contact points.
        """
        from app import merges

        with owner_only("split"), self._db.session() as session:
            cid = queries.resolve_customer(session, customer)
            ids = _identity_ids(session, cid, list(identities))
            target_id = queries.resolve_customer(session, into) if into else None
            target, change = merges.split_customer(session, cid, ids, into=target_id)
            return change, queries.customer(session, target)

    @_transaction
    def undo(self, change_id: int | None = None) -> Change:
        """Undo a merge, split or rejection (the latest when ``change_id`` is None)."""
        from app import merges

        with owner_only("undo"), self._db.session() as session:
            return merges.undo(session, change_id)

    @_transaction
    def reject(self, a: int, b: int) -> None:
        """Customers ``a`` and ``b`` are different people: never suggest them again."""
        from app import merges

        with owner_only("reject"), self._db.session() as session:
            merges.reject(session, a, b)

    @_transaction
    def reject_refs(self, a: str, b: str) -> tuple[int, int]:
        """``reject`` with references; returns the two ids."""
        from app import merges

        with owner_only("reject"), self._db.session() as session:
            first = queries.resolve_customer(session, a)
            second = queries.resolve_customer(session, b)
            merges.reject(session, first, second)
        return first, second

    def history(self, *, limit: int = 100, actions: tuple[str, ...] | None = None) -> list[Change]:
        """The latest identity changes (merges, splits, rejections …), newest first."""
        from app import merges

        with self._db.read_session() as session:
            return merges.history(session, limit=limit, actions=actions)

    def suggestions(
        self,
        *,
        min_score: float | None = None,
        limit: int | None = None,
        apart: bool = False,
        should_cancel: Callable[[], bool] | None = None,
    ) -> list[Suggestion]:
        """Pairs of customers that may be one person, most likely first, with reasons.

        Read from the stored list (``app.suggestion_store``), brought up to date first
        (``apart`` and ``should_cancel`` as for ``suggestion_count``); a minimum below what
        is stored is computed from scratch.
        """
        from app import suggestion_store, suggestions

        score = suggestions.DEFAULT_MIN_SCORE if min_score is None else min_score
        if score >= suggestion_store.STORE_MIN_SCORE and self._catch_up_suggestions(
            apart=apart, should_cancel=should_cancel
        ):
            with self._db.read_session() as session:
                return suggestion_store.stored_suggestions(session, min_score=score, limit=limit)
        try:
            with self._db.read_session() as session:
                return suggestions.suggestions(session, min_score=score, limit=limit)
        finally:
            # The memo tables of a whole computation, left in a long-lived process (the
            # window's), would be walked by every later full collection: emptied, as after
            # a rebuild or a catch-up.
            suggestions.release_caches()

    def suggestion_count(
        self,
        *,
        min_score: float | None = None,
        apart: bool = False,
        should_cancel: Callable[[], bool] | None = None,
    ) -> int:
        """How many pairs ``suggestions`` lists (one count query on the stored list).

        Args:
            min_score: as for ``suggestions``.
            apart: bring a stored list that is far behind up to date in a child process
                (``app.suggestion_child``), so this long-lived process (the window's) never
                holds the catch-up's objects; small catch-ups run here either way.
            should_cancel: polled while a child works; when true the child is stopped
                (nothing is stored) and ``Cancelled`` raised.
        """
        from app import suggestion_store, suggestions

        score = suggestions.DEFAULT_MIN_SCORE if min_score is None else min_score
        if score >= suggestion_store.STORE_MIN_SCORE and self._catch_up_suggestions(
            apart=apart, should_cancel=should_cancel
        ):
            with self._db.read_session() as session:
                return suggestion_store.stored_count(session, min_score=score)
        return len(self.suggestions(min_score=score))

    def checkpoint(self) -> None:
        """Copy what the last writes left in SQLite's write-ahead log into the database
        file, waiting for no one (``Database.checkpoint``): the window runs it after the
        count of suggestions, whose catch-up leaves it for later."""
        self._db.checkpoint()

    def rebuild_suggestions(self) -> int:
        """Compute and store every suggestion from scratch; returns how many are listed."""
        from app import suggestion_store

        with self._db.session() as session:
            suggestion_store.rebuild(session)
        return self.suggestion_count()

    def _catch_up_suggestions(
        self, *, apart: bool = False, should_cancel: Callable[[], bool] | None = None
    ) -> bool:
        """Bring the stored suggestions up to date (a big catch-up in a child process if
        ``apart``); False if they cannot be (read-only)."""
        from sqlalchemy.exc import OperationalError

        from app import suggestion_child, suggestion_store

        with self._db.read_session() as session:
            if not suggestion_store.needs_catch_up(session):
                return True
        # One catch-up at a time in this process: a second one waits for the first, which
        # leaves it nothing to do (rather than failing on the write lock the first holds).
        with suggestion_child.one_at_a_time(should_cancel):
            with self._db.read_session() as session:
                if not suggestion_store.needs_catch_up(session):
                    return True
                in_child = apart and suggestion_child.worth_a_child(session)
            if in_child:
                done = suggestion_child.catch_up_in_child(self._db, should_cancel=should_cancel)
                return done.outcome != "read-only"
            try:
                # (its commit leaves the log's checkpoint to ``checkpoint``, after the count
                # the caller waits for)
                with self._db.session(checkpoint=False) as session:
                    suggestion_store.catch_up(session)
            except OperationalError as exc:
                if "readonly" not in str(exc).lower().replace(" ", "").replace("-", ""):
                    raise
                return False  # a database opened read-only: computed from scratch instead
        return True

    # --- import --------------------------------------------------------------------------

    def import_paths(
        self,
        paths: Sequence[Path],
        *,
        format: str | None = None,
        tz: tzinfo | None = None,
        date_order: DateOrder | None = None,
        column_map: Mapping[str, str] | None = None,
        mapped: Mapping[Path, tuple[str, Mapping[str, str]]] | None = None,
        owner: Sequence[tuple[str, str]] = (),
        progress: Callable[[ImportProgress], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> list[FileReport]:
        """Import files and folders; a bad file fails alone (a "failed" report).

        Args:
            paths: files and folders (walked recursively).
            format: a connector name for every file instead of detecting one.
            tz: zone for times without one (default: the configured zone).
            date_order: forced day/month order for chat exports.
            column_map: field → column, for generic CSV files.
            mapped: files with their own format and column mapping (imported after
                the others, each with its own columns).
            owner: (setting, value) pairs for the owner's own names/addresses,
                saved and applied before anything is imported.
            progress: called now and then with an ``ImportProgress``.
            should_cancel: polled between items; True stops after the current batch.
        """
        from app import identity, ingest

        if owner:

            def save_owner(session: Any) -> None:
                added = [settings.add_to_list(session, key, value) for key, value in owner]
                if any(added):
                    identity.apply_owner_settings(session)

            self._db.write(save_owner)
        mapped = dict(mapped or {})
        reports = ingest.import_paths(
            self._db,
            [p for p in paths if p not in mapped],
            format=format,
            tz=tz,
            date_order=date_order,
            column_map=column_map,
            progress=progress,
            should_cancel=should_cancel,
        )
        for path, (fmt_name, columns) in mapped.items():  # each with its own columns
            if should_cancel is not None and should_cancel():
                break
            reports.extend(
                ingest.import_paths(
                    self._db,
                    [path],
                    format=fmt_name,
                    tz=tz,
                    date_order=date_order,
                    column_map=columns,
                    progress=progress,
                    should_cancel=should_cancel,
                )
            )
        return reports

    def preview_file(
        self,
        path: Path,
        *,
        format: str | None = None,
        tz: tzinfo | None = None,
        date_order: DateOrder | None = None,
        column_map: Mapping[str, str] | None = None,
        limit: int = 20,
    ) -> Preview:
        """Parse the start of a file as the import would; writes nothing."""
        from app import ingest

        return ingest.preview_file(
            self._db,
            path,
            format=format,
            tz=tz,
            date_order=date_order,
            column_map=column_map,
            limit=limit,
        )

    def remembered_format(self, headers: list[str]) -> str | None:
        """The generic format a column mapping was saved under for these CSV headers."""
        from app import mappings

        with self._db.read_session() as session:
            return mappings.remembered_format(session, headers)

    def suggest_mapping(self, format_name: str, headers: list[str]) -> dict[str, str]:
        """A column mapping for a generic CSV: the saved one, else a guess from the headers."""
        from app import mappings

        with self._db.read_session() as session:
            return mappings.suggest(session, format_name, headers)

    @_transaction
    def save_mapping(
        self, format_name: str, headers: list[str], mapping: Mapping[str, str]
    ) -> None:
        """Remember a column mapping for this header set."""
        from app import mappings

        with self._db.session() as session:
            mappings.save(session, format_name, headers, mapping)

    def load_demo(self) -> list[FileReport]:
        """Import the demo data into this database."""
        from app.demo import load_demo

        return load_demo(self._db)

    # --- export --------------------------------------------------------------------------

    def export_pdf(
        self,
        customer_id: int,
        path: Path,
        options: ExportOptions | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Write a customer's history as a PDF; returns the page count."""
        from app.export.pdf import export_customer_pdf

        return export_customer_pdf(self._db, customer_id, path, options, progress=progress)

    def export_data(self, customer_id: int, path: Path, *, zipped: bool = False) -> dict[str, Any]:
        """Write everything stored about a customer as JSON (or a zip of CSV files)."""
        from app.export import data

        write = data.write_zip if zipped else data.write_json
        return write(self._db, customer_id, path)

    # --- forgetting ----------------------------------------------------------------------

    def erasure_plan(self, customer_id: int) -> ErasurePlan:
        """What forgetting a customer would remove."""
        from app import erasure

        with self._db.read_session() as session:
            return erasure.plan(session, customer_id)

    def forget(self, customer_id: int) -> ErasureReport:
        """Erase a customer everywhere and hold their contact points back from imports."""
        from app import erasure

        with owner_only("forget"):
            return erasure.forget(self._db, customer_id)

    def suppressions(self) -> list[SuppressionRow]:
        """The contact points of forgotten customers held back from imports."""
        from app import erasure

        with self._db.read_session() as session:
            return erasure.suppressions(session)

    @_transaction
    def lift_suppressions(self, ids: Sequence[int] = (), *, erasure_id: int | None = None) -> int:
        """Let these contact points (or all of one erasure) import again; returns how many."""
        from app import erasure

        with owner_only("suppressions"), self._db.session() as session:
            return erasure.lift(session, ids, erasure=erasure_id)

    # --- waiting for a reply -------------------------------------------------------------

    def waiting(
        self,
        *,
        now: datetime | None = None,
        channel: str | None = None,
        older_than: timedelta | None = None,
        sort: str = "newest",
        limit: int | None = None,
        include_snoozed: bool = False,
        language: str | None = None,
    ) -> list[WaitingRow]:
        """Customers waiting for a reply."""
        from app import waiting

        with self._db.read_session() as session:
            return waiting.waiting(
                session,
                now=now,
                channel=channel,
                older_than=older_than,
                sort=sort,
                limit=limit,
                include_snoozed=include_snoozed,
                language=language,
            )

    @_transaction
    def mark_answered(self, customer: int | str, *, now: datetime | None = None) -> MarkRow:
        """Mark what a customer wrote so far as answered."""
        from app import waiting

        with self._db.session() as session:
            cid = _customer_id(session, customer)
            return waiting.mark_answered(session, cid, now=now)

    @_transaction
    def snooze(
        self, customer: int | str, until: datetime | str, *, now: datetime | None = None
    ) -> MarkRow:
        """Hide a customer's wait until a time (a ``datetime``, or text as ``--until`` takes)."""
        from app import waiting

        when = now or datetime.now(UTC)
        with self._db.session() as session:
            cid = _customer_id(session, customer)
            if isinstance(until, str):
                until = parse_when(until, when, settings.zone(session))
            return waiting.snooze(session, cid, until, now=when)

    @_transaction
    def undo_mark(self, customer: int | str, kind: str | None = None) -> MarkRow:
        """Take back the latest "answered" or snooze mark of a customer."""
        from app import waiting

        with self._db.session() as session:
            return waiting.undo_mark(session, _customer_id(session, customer), kind)

    # --- accounts and sync ---------------------------------------------------------------

    def accounts(self) -> list[AccountInfo]:
        """Every mail account."""
        from app import accounts

        with self._db.read_session() as session:
            return accounts.list_accounts(session)

    def account(self, name: str) -> AccountInfo:
        """One account by name.

        Raises:
            NotFoundError: no such account.
        """
        from app import accounts

        with self._db.read_session() as session:
            return accounts.get_account(session, name)

    def add_account(self, name: str, **fields: Any) -> AccountInfo:
        """Create an account (fields as ``app.accounts.add_account`` takes them)."""
        from app import accounts

        with owner_only("accounts"), self._db.session() as session:
            return accounts.add_account(session, name, **fields)

    def update_account(self, name: str, **fields: Any) -> AccountInfo:
        """Change an account (fields as ``app.accounts.update_account`` takes them)."""
        from app import accounts

        with owner_only("accounts"), self._db.session() as session:
            return accounts.update_account(session, name, **fields)

    def remove_account(self, name: str) -> tuple[AccountInfo, bool]:
        """Remove an account, its sync state and its keyring entry (revoking an OAuth
        sign-in at the provider first); returns the account and whether it was revoked."""
        from app import accounts

        if self.team_role() == "agent":  # before the sign-in is revoked or forgotten
            refuse("accounts")
        with self._db.read_session() as session:
            info = accounts.get_account(session, name)
            configured = accounts.oauth_settings(session)
        revoked = accounts.revoke_sign_in(info, configured) if info.uses_oauth else False
        with owner_only("accounts"), self._db.session() as session:
            return accounts.remove_account(session, name), revoked

    def sign_in(
        self,
        info: AccountInfo,
        *,
        open_url: Callable[[str], object],
        should_cancel: Callable[[], bool] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Sign an OAuth account in through the browser; the token goes to the keyring."""
        from app import accounts

        with self._db.read_session() as session:
            configured = accounts.oauth_settings(session)
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        accounts.sign_in(info, configured, open_url=open_url, should_cancel=should_cancel, **extra)

    @staticmethod
    def keyring_problem() -> str | None:
        """Why no usable keyring exists, or None when one does."""
        from app import secrets

        return secrets.unusable_reason()

    @staticmethod
    def has_password(info: AccountInfo) -> bool:
        """Whether the keyring holds a password for this account."""
        from app import secrets

        return secrets.has_password(info.secret_key)

    @staticmethod
    def stored_password(info: AccountInfo) -> str | None:
        """The account's password from the keyring, if any."""
        from app import accounts

        return accounts.stored_password(info)

    @staticmethod
    def set_password(info: AccountInfo, password: str) -> None:
        """Store an account's password in the keyring."""
        from app import accounts

        accounts.set_password(info, password)

    @staticmethod
    def is_signed_in(info: AccountInfo) -> bool:
        """Whether an OAuth account holds a refresh token."""
        from app import accounts

        return accounts.is_signed_in(info)

    @staticmethod
    def check_server(config: ServerConfig, password: str) -> ServerCheck:
        """Log in to a server not saved yet and list its folders; stores nothing."""
        from app import sync

        return sync.check_server(config, password)

    def check_account(self, name: str, *, password: str | None = None) -> AccountCheck:
        """Log in to a saved account and look at its folders; stores nothing."""
        from app import sync

        return sync.check_account(self._db, name, password=password)

    def sync_account(
        self,
        name: str,
        *,
        password: str | None = None,
        progress: Callable[[SyncProgress], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> AccountReport:
        """Fetch what is new in one account (a failure comes back as a "failed" report)."""
        from app import sync

        return sync.sync_account(
            self._db, name, password=password, progress=progress, should_cancel=should_cancel
        )

    def sync_accounts(
        self,
        names: Sequence[str] | None = None,
        *,
        passwords: Callable[[AccountInfo], str | None] | None = None,
        progress: Callable[[SyncProgress], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> list[AccountReport]:
        """Sync several accounts (all when ``names`` is None), one after another."""
        from app import sync

        return sync.sync_accounts(
            self._db, names, passwords=passwords, progress=progress, should_cancel=should_cancel
        )

    # --- choosing the store: a team server, its password in the keyring ---------------

    @staticmethod
    def is_server_url(url: str) -> bool:
        """Whether ``url`` names a team server (PostgreSQL) rather than a file."""
        from app.store_auth import is_server

        return is_server(url)

    @staticmethod
    def public_url(url: str) -> str:
        """``url`` without its password, as it may be shown or kept."""
        from app.store_auth import public_url

        return public_url(url)

    @staticmethod
    def server_url(host: str, port: int | None, database: str, user: str) -> str:
        """The URL (no password) for a server's host, port, database and user name."""
        from app.store_auth import server_url

        return server_url(host, port, database, user)

    @staticmethod
    def store_key(url: str) -> str:
        """The keyring key a server URL's password is kept under (``store:user@host:port/db``)."""
        from app.store_auth import store_key

        return store_key(url)

    @staticmethod
    def store_password(url: str, password: str) -> str:
        """Keep a team server's password in the keyring; returns the key used."""
        from app.store_auth import store_password

        return store_password(url, password)

    @staticmethod
    def delete_store_password(url: str) -> bool:
        """Remove a team server's stored password; True if one was removed."""
        from app.store_auth import delete_password

        return delete_password(url)

    @staticmethod
    def has_store_password(url: str) -> bool:
        """Whether the keyring holds a password for the team server ``url``."""
        from app import secrets
        from app.store_auth import store_key

        return secrets.has_password(store_key(url))

    @staticmethod
    def check_store(url: str, password: str | None = None) -> ServerInfo:
        """Sign in to a team server (with ``password``, else the keyring's): its version, who
        signed in and their role. Raises ``UserFacingError`` with the exact reason."""
        from app.store_auth import check_connection

        return check_connection(url, password)

    @staticmethod
    def saved_store() -> str | None:
        """The team server the window opens (Settings → Database), or None for the file."""
        from app.paths import saved_store

        return saved_store()

    @staticmethod
    def choose_store(url: str | None, password: str | None = None) -> str | None:
        """Make the window open the team server ``url`` (None: the local file) from now on;
        a password given goes to the keyring, the URL is kept without it. Returns what opens:
        the URL without password, or None."""
        from app import store_auth

        if url is not None and password:
            store_auth.store_password(url, password)
        store_auth.save_store(url)
        return store_auth.public_url(url) if url else None

    # --- the whole store ---------------------------------------------------------------

    def copy_store(
        self, target_url: str, *, progress: Callable[[str, int, int], None] | None = None
    ) -> CopyReport:
        """Copy every row into the new, empty store at ``target_url`` (a PostgreSQL server
        or a SQLite file URL) and verify each table's count.

        Raises:
            UserFacingError: the target cannot be opened, is this store, holds data, or
                the counts disagree (then nothing was kept).
        """
        from app.store_copy import copy_store

        return copy_store(self._db, target_url, progress=progress)

    # --- backups (of this database's file) -----------------------------------------------

    def backups(self) -> list[Backup]:
        """The backups of this database file, newest first (none for a server)."""
        from app import backups

        return backups.list_backups(self._db.path) if self._db.path is not None else []

    def daily_backup(self, now: datetime | None = None) -> Path | None:
        """Make the day's backup of this database file when one is due.

        Raises:
            BackupFailed: the copy could not be made (the disk, the file).
        """
        import sqlite3

        from app import backups

        if self._db.path is None:
            return None
        try:
            return backups.daily_backup(self._db.path, now)
        except (sqlite3.Error, OSError) as exc:
            raise BackupFailed(str(exc)) from exc

    def restore_backup(self, backup: Path) -> Path:
        """Put ``backup`` in place of this database file (the replaced file is kept beside
        it); returns the database path. Open the database again to use it."""
        from app import backups

        if self._db.path is None:
            raise UserFacingError("Only a database file on this computer can be restored.")
        self._db.dispose()  # no pooled connection keeps the old file open (Windows cannot move it)
        backups.restore(self._db.path, backup)
        return self._db.path

    def backup_now(self, label: str = "manual") -> Path:
        """Copy this database file now (safe while it is in use).

        Raises:
            UserFacingError: a server database, or the copy failed.
        """
        import sqlite3

        from app import backups

        if self._db.path is None:
            raise UserFacingError("Backups are made only for a database file.")
        try:
            return backups.make_backup(self._db.path, label)
        except (sqlite3.Error, OSError) as exc:
            raise UserFacingError(f"The backup could not be made: {exc}") from exc

    @staticmethod
    def backup_file(db_path: Path, label: str = "manual") -> Path:
        """Copy a database file now (it need not be open; it is checked first).

        Raises:
            UserFacingError: no such file, damaged, or the copy cannot be written.
        """
        import sqlite3

        from app import backups
        from app.db import damaged_message, quick_check, user_error

        if not db_path.is_file():
            raise UserFacingError(f"there is no database at {db_path}")
        problem = quick_check(db_path)
        if problem is not None:
            raise UserFacingError(damaged_message(db_path, problem))
        try:
            return backups.make_backup(db_path, label)
        except sqlite3.Error as exc:
            raise user_error(exc, db_path) or UserFacingError(
                f"cannot back up {db_path}: {exc}"
            ) from exc
        except OSError as exc:
            raise UserFacingError(f"cannot write a backup next to {db_path}: {exc}") from exc

    @staticmethod
    def list_backups(db_path: Path) -> list[Backup]:
        """The backups of a database file, newest first."""
        from app import backups

        return backups.list_backups(db_path)

    @staticmethod
    def restore(db_path: Path, backup: Path | None = None) -> tuple[Path, Path | None]:
        """Replace a (closed) database file with a backup; returns (used, replaced copy)."""
        from app import backups

        return backups.restore(db_path, backup)

    @staticmethod
    def check_backup(path: Path) -> str | None:
        """Why a backup file cannot be restored, or None when it can."""
        from app import backups

        return backups.check_file(path)


class LeanService(Service):
    """A ``Service`` whose read-only commands read a SQLite file straight (``app.readpath``).

    ``all_customers``, ``open_customer``, ``search`` and ``zone`` ask the reader, in one
    read transaction; everything else, and whatever the reader cannot answer exactly
    (``readpath.Fallback``), goes to the full path: the inherited methods, on a database
    opened through ``app.db`` the first time one of them needs it. ``Service.open_reading``
    makes one.
    """

    def __init__(self, path: Path, reader: Reader) -> None:
        self._path = path
        self._reader: Reader | None = reader
        self._full: Database | None = None

    @property
    def _db(self) -> Database:  # type: ignore[override]
        if self._full is None:
            from app.db import open_database

            self._full = open_database(self._path)
        return self._full

    @property
    def url(self) -> str:
        return f"sqlite:///{self._path}"

    @property
    def path(self) -> Path | None:
        return self._path

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._full is not None:
            self._full.dispose()

    def user_error(self, exc: BaseException) -> UserFacingError | None:
        from app.dbfile import user_error

        return user_error(exc, self._path)

    def zone(self) -> ZoneInfo:
        if self._reader is None:
            return super().zone()
        return self._reader.zone()

    def all_customers(self, query: str = "") -> list[CustomerRow]:
        from app.readpath import Fallback

        if self._reader is not None:
            try:
                return self._reader.all_customers(query)
            except Fallback:
                pass
        return super().all_customers(query)

    def open_customer(self, ref: str) -> CustomerView:
        from app.readpath import Fallback

        if self._reader is not None:
            try:
                return CustomerView(*self._reader.open_customer(ref))
            except Fallback:
                pass
        return super().open_customer(ref)

    def search(
        self, query: str, *, limit: int = 50, customer_id: int | None = None
    ) -> list[SearchHit]:
        from app.readpath import Fallback

        if self._reader is not None and customer_id is None:
            try:
                return self._reader.search(query, limit=limit)
            except Fallback:
                pass
        return super().search(query, limit=limit, customer_id=customer_id)


def parse_when(text: str, now: datetime, zone: tzinfo) -> datetime:
    """``--until``: "2d"/"4h" from now, "tomorrow", or a date/time in the user's zone.

    Raises:
        UserFacingError: not a time.
    """
    from app import waiting

    value = text.strip()
    if value.lower() == "tomorrow":
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


def _customer_id(session: Any, customer: int | str) -> int:
    return customer if isinstance(customer, int) else queries.resolve_customer(session, customer)


def _identity_ids(session: Any, customer_id: int, refs: list[str]) -> list[int]:
    """The ids of a customer's contact points named by id, email, phone or handle."""
    from app import identity

    row = queries.customer(session, customer_id)
    region = settings.get(session, "region")
    ids: list[int] = []
    for ref in refs:
        wanted = {ref.strip().casefold()}
        email = identity.normalize_email(ref)
        phone = identity.normalize_phone(ref, region)
        wanted.update(v for v in (email, phone) if v)
        match = [
            i.id
            for i in row.identities
            if str(i.id) == ref.strip()
            or i.value.casefold() in wanted
            or i.raw.casefold() in wanted
        ]
        if not match:
            raise UserFacingError(f"{ref!r} is not a contact point of {row.name} (#{row.id})")
        ids.extend(match)
    return list(dict.fromkeys(ids))
