"""The IMAP connector: log in, find the folders, and fetch new messages as ``app.records`` items.

It knows the protocol and nothing about storage. ``connect`` opens a verified
TLS connection (implicit TLS, STARTTLS, or plain text to a loopback address
only) and logs in; ``ImapConnection.plan`` compares a folder's UIDVALIDITY,
UIDNEXT and HIGHESTMODSEQ with the caller's ``FolderState`` and lists the new
UIDs (every UID again after a UIDVALIDITY change: the ingest path drops the
duplicates by Message-ID); ``ImapConnection.fetch`` fetches them in batches
and yields each message's items, parsed by ``connectors.mail`` exactly as the
mbox reader does: one ``mail.MailReader`` per connection, so a bare "Re:"
reply joins its original's thread by subject across the folders of a sync
(INBOX, then Sent), as in an mbox file or a Maildir. A message whose headers
carry no usable date takes its INTERNALDATE (``details["date_from"]`` is
"imap_internaldate"). Messages up to ``FULL_FETCH_LIMIT`` are fetched whole;
larger ones as their header and text parts only, with the attachments
recorded from BODYSTRUCTURE by name, type and approximate size.

Every failure becomes a one-line ``UserFacingError`` subclass: a bad password,
an unreachable host, an untrusted certificate, a dropped connection. The
password is passed to ``connect`` only, and never kept, logged or put in an
error message: a server may echo the rejected ``LOGIN`` command, so every
``ImapError`` message passes ``app.redact`` (and ``connect`` registers the
password with it while it logs in).
"""

from __future__ import annotations

import imaplib
import ipaddress
import logging
import os
import re
import socket
import ssl
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, IMAPClientError, LoginError
from imapclient.imapclient import SocketTimeout

from app import redact
from app.errors import UserFacingError
from app.records import Item, Problem
from connectors import imap_parts, mail

log = logging.getLogger(__name__)

TlsMode = Literal["implicit", "starttls", "none"]
TLS_MODES: tuple[TlsMode, ...] = ("implicit", "starttls", "none")

BATCH_SIZE = 200
FULL_FETCH_LIMIT = 2 * 1024 * 1024
TEXT_PART_LIMIT = 1024 * 1024
_GROUP_BYTES = 16 * 1024 * 1024
_CONNECT_TIMEOUT = 20.0
_READ_TIMEOUT = 120.0
_SENT_NAMES = ("sent", "sent items", "sent messages", "sent mail", "[gmail]/sent mail")
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")

T = TypeVar("T")


class ImapError(UserFacingError):
    """Something went wrong talking to the IMAP server; the message says what.

    The message is redacted (``app.redact``) when the error is made: it often
    quotes the server, and a server may quote the password.
    """

    def __init__(self, message: str) -> None:
        super().__init__(redact.redact(message))


class AuthenticationFailed(ImapError):
    """The server rejected the user name or password."""


class ServerUnreachable(ImapError):
    """The host cannot be found or does not answer on that port."""


class CertificateProblem(ImapError):
    """TLS failed: an untrusted or mismatched certificate, or an unusable CA file."""


class InsecureConnection(ImapError):
    """A plain-text connection to a host that is not this machine was refused."""


class ConnectionLost(ImapError):
    """The connection dropped in the middle of a session."""


class FolderMissing(ImapError):
    """A folder to sync does not exist (or cannot be opened) on the server."""


@dataclass(frozen=True)
class ServerConfig:
    """Where and as whom to connect (no password: that is passed to ``connect`` only).

    Attributes:
        host: server name or address.
        port: TCP port (993 for implicit TLS, 143 for STARTTLS).
        tls: "implicit", "starttls" or "none" (loopback only).
        username: the login name.
        ca_file: a PEM file of CA certificates to trust instead of the system's.
        timeout: seconds to wait for the connection to open.
    """

    host: str
    port: int
    tls: TlsMode
    username: str
    ca_file: str | None = None
    timeout: float = _CONNECT_TIMEOUT

    @property
    def where(self) -> str:
        """``host:port`` for messages."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Bearer:
    """An OAuth 2.0 access token to log in with (XOAUTH2, or OAUTHBEARER when offered).

    Its ``repr`` never shows the token.
    """

    token: str = field(repr=False)


Credential = str | Bearer
"""What ``connect`` logs in with: a password, or an OAuth access token."""


@dataclass(frozen=True)
class FolderState:
    """How far a folder was synced: the caller keeps it between syncs.

    Attributes:
        folder: the folder name (decoded, e.g. "INBOX", "Éléments envoyés").
        uidvalidity: the folder's UIDVALIDITY when ``last_uid`` was recorded.
        last_uid: every message up to this UID is stored.
        highestmodseq: the folder's HIGHESTMODSEQ after the last complete sync.
    """

    folder: str
    uidvalidity: int | None = None
    last_uid: int = 0
    highestmodseq: int | None = None


@dataclass(frozen=True)
class FolderInfo:
    """A folder as LIST shows it."""

    name: str
    flags: tuple[str, ...]
    delimiter: str

    @property
    def selectable(self) -> bool:
        """False for ``\\Noselect`` / ``\\NonExistent`` folders."""
        lowered = {f.lower() for f in self.flags}
        return not ({"\\noselect", "\\nonexistent"} & lowered)

    @property
    def is_sent(self) -> bool:
        """True when the server flags it as the Sent folder (RFC 6154 SPECIAL-USE)."""
        return any(f.lower() == "\\sent" for f in self.flags)


@dataclass(frozen=True)
class FolderPlan:
    """What one sync of a folder will fetch.

    Attributes:
        folder: the folder name.
        uidvalidity: the folder's UIDVALIDITY now.
        uids: the UIDs to fetch, ascending.
        highestmodseq: HIGHESTMODSEQ now (None without CONDSTORE).
        rescan: UIDVALIDITY changed, so every message is fetched again.
        sent: the folder is the Sent folder (its senders are the owner).
        previous: the state the plan was made from.
        messages: how many messages the folder holds.
    """

    folder: str
    uidvalidity: int
    uids: tuple[int, ...]
    highestmodseq: int | None
    rescan: bool
    sent: bool
    previous: FolderState
    messages: int

    def state_after(self, last_uid: int, *, complete: bool) -> FolderState:
        """The state to store once every message up to ``last_uid`` is committed.

        Args:
            last_uid: the highest UID whose items are committed (0 for none).
            complete: every UID of the plan is committed; only then is
                HIGHESTMODSEQ recorded.

        Returns:
            The new state.
        """
        base = 0 if self.rescan else self.previous.last_uid
        modseq = self.highestmodseq if complete else None
        if not complete and not self.rescan:
            modseq = self.previous.highestmodseq
        return FolderState(self.folder, self.uidvalidity, max(base, last_uid), modseq)


@dataclass(frozen=True)
class Fetched:
    """One message's items (none when it vanished before it could be fetched)."""

    uid: int
    items: tuple[Item, ...]


def is_loopback(host: str) -> bool:
    """True if ``host`` names this machine (a loopback address or "localhost").

    Args:
        host: a host name or IP address; names are not resolved.
    """
    name = host.strip().strip("[]").lower().rstrip(".")
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def bundled_ca_file() -> str | None:
    """The trust store shipped with Threadline (certifi's PEM file), or None when absent."""
    try:
        import certifi
    except ImportError:
        return None
    path: str = certifi.where()
    return path if os.path.isfile(path) else None


def ssl_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A context that verifies the certificate and host name.

    Args:
        ca_file: PEM CA certificates to trust; None for the system trust store plus the
            bundled one (certifi's Mozilla roots), so an installed app whose Python or
            OpenSSL looks for the system store in the wrong place still verifies servers.

    Raises:
        CertificateProblem: the CA file cannot be read or holds no certificate.
    """
    try:
        context = ssl.create_default_context(cafile=ca_file)
        if ca_file is None and (bundled := bundled_ca_file()) is not None:
            context.load_verify_locations(cafile=bundled)
        return context
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise CertificateProblem(f"cannot use the CA file {ca_file}: {reason}") from None


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _internaldate(value: Any) -> datetime | None:
    """A FETCH answer's INTERNALDATE as UTC (imapclient gives naive local time by default)."""
    if not isinstance(value, datetime):
        return None
    try:
        return (value if value.tzinfo is not None else value.astimezone()).astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _server_text(exc: BaseException) -> str:
    # imaplib puts the server's bytes in the exception: b'[AUTHENTICATIONFAILED] ...'
    parts = [
        arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg) for arg in exc.args
    ]
    text = " ".join(" ".join(parts).split()) or " ".join(str(exc).split())
    text = re.sub(r"""\bb(['"])(.*?)\1""", r"\2", text)
    for prefix in ("login failed: ", "LOGIN command error: "):
        text = text.removeprefix(prefix)
    return redact.redact(text)[:200]


def map_error(exc: BaseException, config: ServerConfig) -> ImapError:
    """The one-line error to show for a failure while talking to ``config``'s server.

    Args:
        exc: what the socket, TLS or IMAP layer raised.
        config: the server.

    Returns:
        An ``ImapError`` subclass (never containing the password).
    """
    where = config.where
    if isinstance(exc, ImapError):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or str(exc.reason)
        return CertificateProblem(
            f"the certificate of {config.host} is not trusted: {reason} "
            "(for a server with its own CA, give that CA certificate as the CA file, --ca-file)"
        )
    if isinstance(exc, ssl.SSLError):
        reason = str(exc.reason or exc)
        if "WRONG_VERSION_NUMBER" in reason.upper() or "UNEXPECTED_EOF" in reason.upper():
            return CertificateProblem(
                f"TLS with {where} failed ({reason}): the port may not speak implicit TLS "
                "(try STARTTLS on port 143)"
            )
        return CertificateProblem(f"TLS with {where} failed: {reason}")
    if isinstance(exc, LoginError):
        return AuthenticationFailed(
            f"{config.host} rejected the user name or password for {config.username} "
            f"({_server_text(exc)})"
        )
    if isinstance(exc, imaplib.IMAP4.abort):
        return ConnectionLost(f"the connection to {where} was lost ({_server_text(exc)})")
    if isinstance(exc, socket.gaierror):
        return ServerUnreachable(f"cannot find the server {config.host} ({exc.strerror})")
    if isinstance(exc, ConnectionRefusedError):
        return ServerUnreachable(f"cannot reach {where}: connection refused")
    if isinstance(exc, TimeoutError):
        return ServerUnreachable(f"cannot reach {where}: no answer (timed out)")
    if isinstance(exc, OSError):
        return ConnectionLost(f"the connection to {where} failed ({exc.strerror or exc})")
    return ImapError(f"{where}: {_server_text(exc)}")


def connect(config: ServerConfig, password: Credential) -> ImapConnection:
    """Open a connection to the server and log in.

    While it runs, the password or token is registered with ``app.redact``:
    whatever the server answers, no message made from it carries the secret.

    Args:
        config: where and as whom.
        password: the password, used for LOGIN (or AUTHENTICATE PLAIN when it
            is not ASCII); or a ``Bearer`` access token, used for AUTHENTICATE
            OAUTHBEARER (RFC 7628) when the server offers it, else XOAUTH2. Not kept.

    Returns:
        The logged-in connection; close it (or use ``with``).

    Raises:
        InsecureConnection: plain text to a host that is not loopback.
        ServerUnreachable: unknown host, refused, timed out.
        CertificateProblem: certificate not trusted or TLS failed.
        AuthenticationFailed: bad user name or password.
        ImapError: anything else the server said no to.
    """
    secret = password.token if isinstance(password, Bearer) else password
    with redact.known(secret):
        return _connect(config, password)


def _connect(config: ServerConfig, password: Credential) -> ImapConnection:
    if config.tls not in TLS_MODES:
        raise ImapError(f"unknown TLS mode {config.tls!r} (use implicit, starttls or none)")
    if config.tls == "none" and not is_loopback(config.host):
        raise InsecureConnection(
            f"refusing a plain-text connection to {config.host}: the password would travel "
            "unencrypted (use implicit TLS or STARTTLS; plain text is allowed to this machine only)"
        )
    context = ssl_context(config.ca_file) if config.tls != "none" else None
    try:
        client = IMAPClient(
            config.host,
            port=config.port,
            ssl=config.tls == "implicit",
            ssl_context=context,
            timeout=SocketTimeout(config.timeout, _READ_TIMEOUT),
        )
    except (IMAPClientError, OSError) as exc:
        raise map_error(exc, config) from None
    client.normalise_times = False  # INTERNALDATE with its zone, not as naive local time
    try:
        if config.tls == "starttls":
            try:
                client.starttls(context)
            except CapabilityError:
                raise ImapError(
                    f"{config.where} does not offer STARTTLS; use implicit TLS (port 993)"
                ) from None
        _login(client, config, password)
        capabilities = frozenset(_text(c).upper() for c in client.capabilities())
        connection = ImapConnection(client, config, capabilities)
        if "CONDSTORE" in capabilities and "ENABLE" in capabilities:
            client.enable("CONDSTORE")
    except BaseException as exc:
        _shutdown(client)
        if isinstance(exc, IMAPClientError | OSError):
            raise map_error(exc, config) from None
        raise
    log.info("logged in to %s (tls=%s)", config.where, config.tls)
    return connection


def _login(client: Any, config: ServerConfig, password: Credential) -> None:
    if isinstance(password, Bearer):
        capabilities = {_text(c).upper() for c in client.capabilities()}
        try:
            if "AUTH=OAUTHBEARER" in capabilities:
                client.oauthbearer_login(config.username, password.token)
            else:
                client.oauth2_login(config.username, password.token)
        except IMAPClientError as exc:
            raise LoginError(_server_text(exc)) from None
        return
    if password.isascii() and config.username.isascii():
        client.login(config.username, password)
        return
    # LOGIN sends ASCII only; AUTHENTICATE PLAIN carries UTF-8.
    capabilities = {_text(c).upper() for c in client.capabilities()}
    if "AUTH=PLAIN" not in capabilities:
        raise AuthenticationFailed(
            f"{config.host} accepts only ASCII user names and passwords, and this "
            "user name or password is not ASCII"
        )
    try:
        client.plain_login(config.username, password)
    except IMAPClientError as exc:
        raise LoginError(_server_text(exc)) from None


def _shutdown(client: Any) -> None:
    try:
        client.shutdown()
    except Exception as exc:  # closing a broken connection: nothing left to do
        log.debug("closing the connection: %s", type(exc).__name__)


class ImapConnection:
    """A logged-in IMAP session. Not thread-safe: one sync at a time.

    Args:
        client: the logged-in ``IMAPClient``.
        config: where it is connected.
        capabilities: the server's capabilities after login (upper case).
    """

    def __init__(self, client: Any, config: ServerConfig, capabilities: frozenset[str]) -> None:
        self.client = client
        self.config = config
        self.capabilities = capabilities
        self._selected: tuple[str, int] | None = None
        self._reader = mail.MailReader()  # owner hints and subject threads, for the session

    @property
    def condstore(self) -> bool:
        """True if the server offers CONDSTORE (HIGHESTMODSEQ)."""
        return "CONDSTORE" in self.capabilities

    def __enter__(self) -> ImapConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Log out (or just close the socket when the connection is already broken)."""
        try:
            self.client.logout()
        except Exception:  # the server may be gone already
            _shutdown(self.client)

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one IMAP command; a broken connection becomes ``ConnectionLost``."""
        where = self.config.where
        try:
            return fn(*args, **kwargs)
        except imaplib.IMAP4.abort as exc:
            reason = _server_text(exc)
            raise ConnectionLost(f"the connection to {where} was lost ({reason})") from None
        except TimeoutError:
            raise ConnectionLost(f"the server {where} stopped answering (timed out)") from None
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise ConnectionLost(f"the connection to {where} was lost ({reason})") from None

    # --- folders ------------------------------------------------------------------------

    def folders(self) -> list[FolderInfo]:
        """Every folder on the server, with its flags (SPECIAL-USE included)."""
        try:
            rows = self._call(self.client.list_folders)
        except IMAPClientError as exc:
            raise ImapError(f"{self.config.where}: cannot list folders ({exc})") from None
        return [
            FolderInfo(_text(name), tuple(_text(f) for f in flags), _text(delimiter))
            for flags, delimiter, name in rows
        ]

    def sent_folder(self, folders: Sequence[FolderInfo] | None = None) -> str | None:
        """The Sent folder: the one flagged ``\\Sent`` (RFC 6154), else a usual name.

        Args:
            folders: the folder list if already fetched.

        Returns:
            Its name, or None when there is none.
        """
        found = list(folders) if folders is not None else self.folders()
        selectable = [f for f in found if f.selectable]
        for folder in selectable:
            if folder.is_sent:
                return folder.name
        for wanted in _SENT_NAMES:
            for folder in selectable:
                short = folder.name.rsplit(folder.delimiter, 1)[-1] if folder.delimiter else ""
                if folder.name.lower() == wanted or short.lower() == wanted:
                    return folder.name
        return None

    def default_folders(self) -> list[str]:
        """INBOX and the Sent folder (when the server has one)."""
        sent = self.sent_folder()
        return ["INBOX"] + ([sent] if sent and sent.upper() != "INBOX" else [])

    # --- one folder ---------------------------------------------------------------------

    def _select(self, folder: str) -> dict[bytes, Any]:
        try:
            response: dict[bytes, Any] = self._call(
                self.client.select_folder, folder, readonly=True
            )
        except IMAPClientError as exc:
            self._selected = None
            raise FolderMissing(
                f"cannot open the folder {folder!r} on {self.config.host} ({_server_text(exc)})"
            ) from None
        self._selected = (folder, int(response.get(b"UIDVALIDITY", 0)))
        return response

    def plan(self, state: FolderState, *, sent: bool = False) -> FolderPlan:
        """Look at a folder and decide what to fetch.

        Only UIDs above ``state.last_uid`` are listed; when UIDVALIDITY changed
        since ``state`` every UID is listed again. A folder whose UIDNEXT shows
        nothing new is not even selected.

        Args:
            state: what the caller stored after the previous sync.
            sent: the folder is the Sent folder.

        Returns:
            The plan.

        Raises:
            FolderMissing: no such folder.
            ConnectionLost: the connection dropped.
        """
        folder = state.folder
        items = [b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY"]
        if self.condstore:
            items.append(b"HIGHESTMODSEQ")
        try:
            status: dict[bytes, Any] = self._call(self.client.folder_status, folder, items)
        except IMAPClientError as exc:
            raise FolderMissing(
                f"cannot open the folder {folder!r} on {self.config.host} ({_server_text(exc)})"
            ) from None
        uidvalidity = int(status.get(b"UIDVALIDITY", 0))
        uidnext = status.get(b"UIDNEXT")
        modseq = status.get(b"HIGHESTMODSEQ")
        messages = int(status.get(b"MESSAGES", 0))
        rescan = state.uidvalidity is not None and state.uidvalidity != uidvalidity
        last = 0 if rescan else state.last_uid
        uids: tuple[int, ...] = ()
        if rescan or uidnext is None or int(uidnext) - 1 > last:
            selected = self._select(folder)
            uidvalidity = int(selected.get(b"UIDVALIDITY", uidvalidity))
            modseq = selected.get(b"HIGHESTMODSEQ", modseq)
            rescan = state.uidvalidity is not None and state.uidvalidity != uidvalidity
            last = 0 if rescan else state.last_uid
            try:
                found = self._call(self.client.search, ["UID", f"{last + 1}:*"])
            except IMAPClientError as exc:
                raise ImapError(f"{folder}: the server could not search it ({exc})") from None
            uids = tuple(sorted(int(u) for u in found if int(u) > last))
        if rescan:
            log.info("%s: UIDVALIDITY changed; re-scanning the folder", folder)
        return FolderPlan(
            folder=folder,
            uidvalidity=uidvalidity,
            uids=uids,
            highestmodseq=int(modseq) if modseq is not None else None,
            rescan=rescan,
            sent=sent,
            previous=state,
            messages=messages,
        )

    def fetch(
        self,
        plan: FolderPlan,
        *,
        locator_prefix: str,
        should_cancel: Callable[[], bool] | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> Iterator[Fetched]:
        """Fetch the plan's messages in batches, in UID order.

        Args:
            plan: from ``plan``.
            locator_prefix: the start of each locator ("shop/INBOX"); the UID follows.
            should_cancel: polled between batches; True stops early.
            batch_size: UIDs per FETCH round.

        Yields:
            Each UID's items (an event, maybe an owner hint, or a problem).

        Raises:
            ConnectionLost: the connection dropped; what was yielded stands.
            ImapError: the folder changed under us (UIDVALIDITY) or cannot be opened.
        """
        if self._selected is None or self._selected[0] != plan.folder:
            self._select(plan.folder)
        assert self._selected is not None
        if self._selected[1] != plan.uidvalidity:
            raise ImapError(f"{plan.folder}: UIDVALIDITY changed during the sync; sync again")
        for start in range(0, len(plan.uids), batch_size):
            if should_cancel is not None and should_cancel():
                return
            chunk = list(plan.uids[start : start + batch_size])
            sizes, dates = self._sizes(chunk)
            small = [u for u in chunk if u in sizes and sizes[u] <= FULL_FETCH_LIMIT]
            large = [u for u in chunk if u in sizes and sizes[u] > FULL_FETCH_LIMIT]
            raws, problems = self._fetch_whole(small, sizes)
            partial = self._fetch_partial(large, problems)
            for uid in chunk:
                locator = f"{locator_prefix}:UID {uid}"
                if uid in problems:
                    yield Fetched(uid, (Problem(locator, problems[uid]),))
                elif uid in raws:
                    yield Fetched(uid, self._items(raws[uid], locator, plan.sent, dates.get(uid)))
                elif uid in partial:
                    raw, extra = partial[uid]
                    yield Fetched(uid, self._items(raw, locator, plan.sent, dates.get(uid), extra))
                else:  # expunged since the plan was made
                    yield Fetched(uid, ())

    def _sizes(self, uids: list[int]) -> tuple[dict[int, int], dict[int, datetime | None]]:
        """Each message's size and INTERNALDATE (one FETCH for the batch, before the bodies)."""
        try:
            found = self._call(self.client.fetch, uids, ["RFC822.SIZE", "INTERNALDATE"])
        except IMAPClientError as exc:
            raise ImapError(f"{self.config.where}: FETCH failed ({_server_text(exc)})") from None
        sizes = {int(uid): int(data.get(b"RFC822.SIZE", 0)) for uid, data in found.items()}
        dates = {int(uid): _internaldate(data.get(b"INTERNALDATE")) for uid, data in found.items()}
        return sizes, dates

    def _fetch_whole(
        self, uids: list[int], sizes: dict[int, int]
    ) -> tuple[dict[int, bytes], dict[int, str]]:
        """Fetch whole messages, in groups of bounded size; a failing group goes one by one."""
        raws: dict[int, bytes] = {}
        problems: dict[int, str] = {}
        group: list[int] = []
        group_bytes = 0
        groups: list[list[int]] = []
        for uid in uids:
            if group and group_bytes + sizes[uid] > _GROUP_BYTES:
                groups.append(group)
                group, group_bytes = [], 0
            group.append(uid)
            group_bytes += sizes[uid]
        if group:
            groups.append(group)
        for members in groups:
            try:
                found = self._call(self.client.fetch, members, ["BODY.PEEK[]"])
            except IMAPClientError:
                found = {}
                for uid in members:
                    try:
                        found.update(self._call(self.client.fetch, [uid], ["BODY.PEEK[]"]))
                    except IMAPClientError as exc:
                        problems[uid] = f"the server could not send it ({_server_text(exc)})"
            for uid, data in found.items():
                body = data.get(b"BODY[]")
                if isinstance(body, bytes):
                    raws[int(uid)] = body
                elif int(uid) in sizes:
                    problems[int(uid)] = "the server sent no content for it"
        return raws, problems

    def _fetch_partial(
        self, uids: list[int], problems: dict[int, str]
    ) -> dict[int, tuple[bytes, dict[str, Any]]]:
        """Large messages: header, text parts and the attachment list, not the attachments."""
        result: dict[int, tuple[bytes, dict[str, Any]]] = {}
        if not uids:
            return result
        try:
            meta = self._call(self.client.fetch, uids, ["BODYSTRUCTURE", "BODY.PEEK[HEADER]"])
        except IMAPClientError as exc:
            for uid in uids:
                problems[uid] = f"the server could not describe it ({_server_text(exc)})"
            return result
        for uid, data in meta.items():
            header = data.get(b"BODY[HEADER]")
            structure = data.get(b"BODYSTRUCTURE")
            if not isinstance(header, bytes) or structure is None:
                problems[int(uid)] = "the server sent no header for it"
                continue
            try:
                result[int(uid)] = self._assemble(int(uid), header, structure)
            except IMAPClientError as exc:
                problems[int(uid)] = f"the server could not send its text ({_server_text(exc)})"
            except (IndexError, TypeError, ValueError, LookupError) as exc:
                problems[int(uid)] = f"unreadable message structure ({type(exc).__name__})"
        return result

    def _assemble(self, uid: int, header: bytes, structure: Any) -> tuple[bytes, dict[str, Any]]:
        parts = list(imap_parts.leaves(structure))
        texts = [p for p in parts if p.is_text]
        extra: dict[str, Any] = {
            "attachments": [p.attachment() for p in parts if not p.is_text],
            "attachments_downloaded": False,
        }
        if any(p.size > TEXT_PART_LIMIT for p in texts):
            extra["text_truncated"] = True

        def spec(section: str, size: int) -> str:
            limit = f"<0.{TEXT_PART_LIMIT}>" if size > TEXT_PART_LIMIT else ""
            return f"BODY.PEEK[{section}]{limit}"

        if not getattr(structure, "is_multipart", False):
            if not texts:
                return header, extra
            got = self._call(self.client.fetch, [uid], [spec("TEXT", texts[0].size)])
            body = imap_parts.section_bytes(got.get(uid, {}), "TEXT")
            return header + body, extra
        wanted: list[str] = []
        for part in texts:
            wanted += [f"BODY.PEEK[{part.section}.MIME]", spec(part.section, part.size)]
        got = self._call(self.client.fetch, [uid], wanted).get(uid, {}) if wanted else {}
        boundary = f"threadline-{uuid.uuid4().hex}".encode()
        out = [imap_parts.strip_mime_headers(header), b"MIME-Version: 1.0\r\n"]
        out.append(b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n')
        for part in texts:
            mime = imap_parts.section_bytes(got, f"{part.section}.MIME")
            body = imap_parts.section_bytes(got, part.section)
            out += [b"--" + boundary + b"\r\n", mime or b"Content-Type: text/plain\r\n\r\n"]
            out += [body, b"\r\n"]
        out.append(b"--" + boundary + b"--\r\n")
        return b"".join(out), extra

    def _items(
        self,
        raw: bytes,
        locator: str,
        sent: bool,
        internaldate: datetime | None,
        extra: dict[str, Any] | None = None,
    ) -> tuple[Item, ...]:
        dates = [("imap_internaldate", internaldate)]
        items = self._reader.items(raw, locator, extra=extra, sent=sent, fallback_dates=dates)
        return tuple(items)
