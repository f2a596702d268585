"""Syncing IMAP accounts: connector in, ingest out, sync state committed batch by batch.

``sync_account`` loads an account and its per-folder ``sync_state``, logs in
through ``connectors.imap``, and for each folder stores the new messages with
``app.ingest.import_items`` (one import run per folder, labelled
``account/folder``). After each batch that ingest commits, the folder's
``last_uid`` moves up to the highest UID whose items are all committed, in its
own transaction; so a dropped connection, a cancel or a kill loses nothing
already stored, and the next sync resumes after that UID (anything fetched
twice is a duplicate by Message-ID and adds nothing). A changed UIDVALIDITY
re-scans the folder the same way.

The password comes from the caller or the keyring, and is passed to the
connector only. A server may echo the password it rejected: the connector's
errors are redacted when made (``app.redact``), and ``account.last_error``
stores only redacted text.
Progress per folder and cancel are plain callbacks.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import accounts, ingest, oauth, redact, secrets
from app.accounts import AccountInfo
from app.db import Database
from app.errors import UserFacingError
from app.models import Account, SyncState, utcnow
from app.records import Item, Problem
from connectors import imap
from connectors.imap import ConnectionLost, FolderState, ImapError

log = logging.getLogger(__name__)

Connect = Callable[[imap.ServerConfig, imap.Credential], imap.ImapConnection]


class PasswordNeeded(UserFacingError):
    """No password was given and the keyring holds none (or there is no usable keyring).

    Attributes:
        account: the account's name.
        keyring_reason: why no keyring is usable, or None when one is (and is just empty).
    """

    def __init__(self, account: str, keyring_reason: str | None) -> None:
        self.account = account
        self.keyring_reason = keyring_reason
        if keyring_reason:
            why = f"no usable keyring ({keyring_reason})"
        else:
            why = "no password is stored in the keyring for it"
        super().__init__(f"account {account!r} needs its password: {why}")


@dataclass
class SyncProgress:
    """Where a sync stands in one folder, for a progress bar.

    Attributes:
        account: the account's name.
        folder: the folder being synced.
        folder_index: its position (0-based) among ``folder_count`` folders.
        folder_count: how many folders this sync covers.
        done: messages fetched so far in this folder.
        total: new messages to fetch in this folder.
        added: events added so far.
        duplicates: messages already stored.
        problems: messages that could not be read.
    """

    account: str
    folder: str
    folder_index: int
    folder_count: int
    done: int
    total: int
    added: int = 0
    duplicates: int = 0
    problems: int = 0


@dataclass
class FolderReport:
    """What syncing one folder did."""

    folder: str
    new: int = 0
    duplicates: int = 0
    problems: list[Problem] = field(default_factory=list)
    status: str = "done"  # done | cancelled | failed | skipped
    error: str | None = None
    rescanned: bool = False
    notices: list[str] = field(default_factory=list)
    uidvalidity: int | None = None
    last_uid: int = 0

    def as_json(self) -> dict[str, Any]:
        """The CLI's JSON shape for one folder."""
        return {
            "folder": self.folder,
            "new": self.new,
            "duplicates": self.duplicates,
            "problems": [{"location": p.location, "reason": p.reason} for p in self.problems],
            "status": self.status,
            "rescanned": self.rescanned,
            "uidvalidity": self.uidvalidity,
            "last_uid": self.last_uid,
            "notices": self.notices,
            **({"error": self.error} if self.error else {}),
        }


@dataclass
class AccountReport:
    """What syncing one account did, folder by folder."""

    account: str
    folders: list[FolderReport] = field(default_factory=list)
    status: str = "done"  # done | cancelled | failed
    error: str | None = None

    @property
    def new(self) -> int:
        """Events added over all folders."""
        return sum(f.new for f in self.folders)

    @property
    def problem_count(self) -> int:
        """Problems over all folders."""
        return sum(len(f.problems) for f in self.folders)

    def as_json(self) -> dict[str, Any]:
        """The CLI's JSON shape for one account."""
        return {
            "account": self.account,
            "status": self.status,
            "new": self.new,
            "duplicates": sum(f.duplicates for f in self.folders),
            "problems": self.problem_count,
            "folders": [f.as_json() for f in self.folders],
            **({"error": self.error} if self.error else {}),
        }


@dataclass(frozen=True)
class AccountCheck:
    """What ``check_account`` found on the server."""

    account: str
    folders: tuple[str, ...]
    sent_folder: str | None
    to_sync: tuple[str, ...]
    condstore: bool

    def as_json(self) -> dict[str, Any]:
        """The CLI's JSON shape."""
        return {
            "account": self.account,
            "ok": True,
            "folders": list(self.folders),
            "sent_folder": self.sent_folder,
            "to_sync": list(self.to_sync),
            "condstore": self.condstore,
        }


def save_state(db: Database, account_id: int, state: FolderState) -> None:
    """Store a folder's sync state in its own transaction.

    Args:
        db: the database.
        account_id: the account.
        state: the folder's new state.
    """

    def write(session: Session) -> None:
        row = session.scalar(
            select(SyncState).where(
                SyncState.account_id == account_id, SyncState.folder == state.folder
            )
        )
        if row is None:
            row = SyncState(account_id=account_id, folder=state.folder)
            session.add(row)
        row.uidvalidity = state.uidvalidity
        row.last_uid = state.last_uid
        row.highestmodseq = state.highestmodseq
        row.updated_at = utcnow()

    db.write(write)  # a colleague syncing the same folder: run again after theirs


class _Tracker:
    """Moves a folder's ``last_uid`` up as ingest commits the items of each UID."""

    def __init__(self, db: Database, account_id: int, plan: imap.FolderPlan) -> None:
        self.db = db
        self.account_id = account_id
        self.plan = plan
        self.marks: deque[tuple[int, int]] = deque()  # (items yielded up to its end, uid)
        self.yielded = 0
        self.fetched = 0
        self.committed_uid = 0
        self.error: ImapError | None = None

    def items(
        self,
        conn: imap.ImapConnection,
        prefix: str,
        should_cancel: Callable[[], bool] | None,
        batch_size: int,
    ) -> Iterator[Item]:
        """Every item of the plan's messages, marking where each UID's items end."""
        fetched_messages = conn.fetch(
            self.plan, locator_prefix=prefix, should_cancel=should_cancel, batch_size=batch_size
        )
        try:
            for fetched in fetched_messages:
                self.fetched += 1
                self.marks.append((self.yielded + len(fetched.items), fetched.uid))
                for item in fetched.items:
                    self.yielded += 1
                    yield item
        except ImapError as exc:
            self.error = exc
            raise

    def commit(self, items_committed: int) -> None:
        """Ingest committed this many items: store the last UID they complete."""
        last = self.committed_uid
        while self.marks and self.marks[0][0] <= items_committed:
            last = self.marks.popleft()[1]
        if last > self.committed_uid:
            self.committed_uid = last
            save_state(self.db, self.account_id, self.plan.state_after(last, complete=False))


def _password(info: AccountInfo, password: str | None) -> str:
    if password is not None:
        return password
    stored = accounts.stored_password(info)
    if stored is None:
        raise PasswordNeeded(info.name, secrets.unusable_reason())
    return stored


def _open(
    info: AccountInfo,
    password: str | None,
    configured: dict[str, str],
    connect: Connect,
) -> imap.ImapConnection:
    """Connect and log in with the account's password or OAuth access token.

    An access token the server rejects is refreshed once and tried again: it may have
    been revoked or expired early. When that fails too, the grant is gone.

    Raises:
        PasswordNeeded: a password account with no password given or stored.
        SignInNeeded: an OAuth account whose grant no longer works ("sign in again").
        SignInError: the OAuth provider cannot be reached or refused.
        ImapError: cannot connect or log in.
    """
    if not info.uses_oauth:
        return connect(info.server(), _password(info, password))
    prov, client = accounts.oauth_client(info, configured)
    key = info.secret_key
    token = oauth.TOKENS.access_token(key, prov, client)
    try:
        return connect(info.server(), imap.Bearer(token))
    except imap.AuthenticationFailed:
        log.info("%s: the server refused the access token; refreshing it", info.name)
    token = oauth.TOKENS.access_token(key, prov, client, force=True)
    try:
        return connect(info.server(), imap.Bearer(token))
    except imap.AuthenticationFailed as exc:
        oauth.TOKENS.forget(key)
        raise oauth.SignInNeeded(
            f"{info.server().host} refused the sign-in at {prov.label} ({exc}): sign in again"
        ) from None


def _sync_folder(
    db: Database,
    conn: imap.ImapConnection,
    info: AccountInfo,
    state: FolderState,
    *,
    sent: bool,
    index: int,
    count: int,
    progress: Callable[[SyncProgress], None] | None,
    should_cancel: Callable[[], bool] | None,
    batch_size: int,
) -> tuple[FolderReport, bool]:
    """Sync one folder; returns its report and whether the connection is still usable."""
    folder = state.folder
    report = FolderReport(folder, uidvalidity=state.uidvalidity, last_uid=state.last_uid)
    try:
        plan = conn.plan(state, sent=sent)
    except ConnectionLost as exc:
        report.status, report.error = "failed", str(exc)
        return report, False
    except ImapError as exc:
        report.status, report.error = "failed", str(exc)
        return report, True
    report.rescanned, report.uidvalidity = plan.rescan, plan.uidvalidity

    def emit(done: int, added: int = 0, dups: int = 0, problems: int = 0) -> None:
        if progress is not None:
            progress(
                SyncProgress(
                    info.name, folder, index, count, done, len(plan.uids), added, dups, problems
                )
            )

    emit(0)
    if not plan.uids:
        final = plan.state_after(0, complete=True)
        save_state(db, info.id, final)
        report.last_uid = final.last_uid
        return report, True

    tracker = _Tracker(db, info.id, plan)

    # import_items reports progress right after each batch it commits, and on a failure or a
    # cancel it still writes every item it took; both facts let last_uid follow the commits.
    def on_progress(p: ingest.ImportProgress) -> None:
        tracker.commit(p.items)
        emit(tracker.fetched, p.added, p.duplicates, p.problems)

    prefix = f"{info.name}/{folder}"
    try:
        run = ingest.import_items(
            db,
            lambda: tracker.items(conn, prefix, should_cancel, batch_size),
            label=prefix,
            format="imap",
            progress=on_progress,
            should_cancel=should_cancel,
            batch_size=batch_size,
        )
    except UserFacingError as exc:  # the connector failed before anything was stored
        tracker.commit(tracker.yielded)
        report.status, report.error = "failed", str(exc)
        report.last_uid = max(state.last_uid if not plan.rescan else 0, tracker.committed_uid)
        return report, not isinstance(tracker.error, ConnectionLost)
    tracker.commit(tracker.yielded)  # ingest wrote every item it took, whatever the status
    report.new, report.duplicates, report.problems = run.added, run.duplicates, run.problems
    report.notices = run.notices
    complete = run.status == "done" and tracker.committed_uid >= plan.uids[-1]
    if complete:
        final = plan.state_after(plan.uids[-1], complete=True)
        save_state(db, info.id, final)
        report.last_uid = final.last_uid
    else:
        report.last_uid = plan.state_after(tracker.committed_uid, complete=False).last_uid
        report.status = "failed" if run.status == "failed" else "cancelled"
        report.error = run.error
    emit(tracker.fetched, run.added, run.duplicates, len(run.problems))
    return report, not isinstance(tracker.error, ConnectionLost)


def _record_result(db: Database, account_id: int, error: str | None) -> None:
    def write(session: Session) -> None:
        row = session.get(Account, account_id)
        if row is not None:
            row.last_sync_at = utcnow()
            row.last_error = redact.redact(error or "")

    db.write(write)


def sync_account(
    db: Database,
    name: str,
    *,
    password: str | None = None,
    progress: Callable[[SyncProgress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    batch_size: int = imap.BATCH_SIZE,
    connect: Connect = imap.connect,
) -> AccountReport:
    """Fetch what is new in an account's folders and store it.

    Connection and login failures do not raise: they come back as a report
    with status "failed" and a one-line error, so the GUI and the CLI treat
    every account alike.

    Args:
        db: the database.
        name: the account's name.
        password: the password to use this time; None to take it from the keyring.
        progress: called with a ``SyncProgress`` at each folder's start, after
            each committed batch, and at its end.
        should_cancel: polled between messages; True stops after the current
            batch (what was stored stays, the next sync resumes).
        batch_size: messages per FETCH round and per committed batch.
        connect: opens the connection (tests may wrap it).

    Returns:
        The report, folder by folder.

    Raises:
        NotFoundError: no such account.
        PasswordNeeded: no password given and none in the keyring.
    """
    with db.session() as session:
        info = accounts.get_account(session, name)
        states = accounts.folder_states(session, info.id)
        configured = accounts.oauth_settings(session)
    if not info.uses_oauth:
        password = _password(info, password)
    report = AccountReport(info.name)
    try:
        conn = _open(info, password, configured, connect)
    except (ImapError, oauth.SignInError, oauth.SignInNeeded) as exc:
        report.status, report.error = "failed", str(exc)
        _record_result(db, info.id, report.error)
        log.info("sync %s: %s", info.name, exc)
        return report
    del password
    with conn:
        try:
            found = conn.folders()
            sent = conn.sent_folder(found)
        except ImapError as exc:
            report.status, report.error = "failed", str(exc)
            _record_result(db, info.id, report.error)
            return report
        wanted = list(info.folders) or (
            ["INBOX"] + ([sent] if sent and sent.upper() != "INBOX" else [])
        )
        alive = True
        for index, folder in enumerate(wanted):
            if not alive or (should_cancel is not None and should_cancel()):
                report.folders.append(FolderReport(folder, status="skipped"))
                continue
            folder_report, alive = _sync_folder(
                db,
                conn,
                info,
                states.get(folder) or FolderState(folder),
                sent=folder == sent,
                index=index,
                count=len(wanted),
                progress=progress,
                should_cancel=should_cancel,
                batch_size=batch_size,
            )
            report.folders.append(folder_report)
            log.info(
                "sync %s/%s: %d new, %d duplicates, %d problems (%s)",
                info.name,
                folder,
                folder_report.new,
                folder_report.duplicates,
                len(folder_report.problems),
                folder_report.status,
            )
    failed = [f for f in report.folders if f.status == "failed"]
    if failed:
        report.status = "failed"
        report.error = "; ".join(f"{f.folder}: {f.error}" for f in failed if f.error) or None
    elif any(f.status in ("cancelled", "skipped") for f in report.folders):
        report.status = "cancelled"
    _record_result(db, info.id, report.error)
    return report


def sync_accounts(
    db: Database,
    names: Sequence[str] | None = None,
    *,
    passwords: Callable[[AccountInfo], str | None] | None = None,
    progress: Callable[[SyncProgress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    connect: Connect = imap.connect,
) -> list[AccountReport]:
    """Sync several accounts (all of them when ``names`` is None), one after another.

    Args:
        db: the database.
        names: accounts to sync; None for every account.
        passwords: asked for an account's password when the keyring has none;
            None (or returning None) makes that account's report fail with
            ``PasswordNeeded``'s message.
        progress: as for ``sync_account``.
        should_cancel: as for ``sync_account``; also stops before the next account.
        connect: as for ``sync_account``.

    Returns:
        One report per account.

    Raises:
        NotFoundError: a named account does not exist (nothing is synced).
    """
    with db.session() as session:
        if names is None:
            infos = accounts.list_accounts(session)
        else:
            infos = [accounts.get_account(session, n) for n in names]
    reports: list[AccountReport] = []
    for info in infos:
        if should_cancel is not None and should_cancel():
            reports.append(AccountReport(info.name, status="cancelled"))
            continue
        try:
            password = None if info.uses_oauth else accounts.stored_password(info)
            if password is None and passwords is not None and not info.uses_oauth:
                password = passwords(info)
            reports.append(
                sync_account(
                    db,
                    info.name,
                    password=password,
                    progress=progress,
                    should_cancel=should_cancel,
                    connect=connect,
                )
            )
        except UserFacingError as exc:
            reports.append(AccountReport(info.name, status="failed", error=str(exc)))
    return reports


# The server settings a form describes, and the loopback rule for plain connections:
# the UI uses these through here rather than reaching into the connector.
ServerConfig = imap.ServerConfig
is_loopback = imap.is_loopback


@dataclass(frozen=True)
class ServerCheck:
    """What a successful test of unsaved server settings found."""

    folders: tuple[str, ...]
    sent: str | None


def check_server(
    config: imap.ServerConfig, password: str, *, connect: Connect = imap.connect
) -> ServerCheck:
    """Log in with settings not saved yet and list the folders (stores nothing).

    Args:
        config: the server, TLS mode and user.
        password: the password to try.
        connect: opens the connection.

    Returns:
        The selectable folders (INBOX first) and the Sent folder.

    Raises:
        ImapError: cannot connect or log in; the message says why in one line.
    """
    with connect(config, password) as conn:
        found = conn.folders()
        names = sorted(
            (f.name for f in found if f.selectable),
            key=lambda n: (n.upper() != "INBOX", n.casefold()),
        )
        return ServerCheck(tuple(names), conn.sent_folder(found))


def check_account(
    db: Database, name: str, *, password: str | None = None, connect: Connect = imap.connect
) -> AccountCheck:
    """Log in and look at the folders, storing nothing.

    Args:
        db: the database.
        name: the account.
        password: to use this time; None for the keyring's.
        connect: opens the connection.

    Returns:
        The folders found and those a sync would cover.

    Raises:
        NotFoundError: no such account.
        PasswordNeeded: no password given and none in the keyring.
        SignInNeeded: an OAuth account whose grant no longer works.
        ImapError: cannot connect or log in (the message says why).
    """
    with db.session() as session:
        info = accounts.get_account(session, name)
        configured = accounts.oauth_settings(session)
    with _open(info, password, configured, connect) as conn:
        found = conn.folders()
        sent = conn.sent_folder(found)
        to_sync = list(info.folders) or (
            ["INBOX"] + ([sent] if sent and sent.upper() != "INBOX" else [])
        )
        return AccountCheck(
            info.name,
            tuple(f.name for f in found if f.selectable),
            sent,
            tuple(to_sync),
            conn.condstore,
        )
