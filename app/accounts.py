"""IMAP accounts: add, change, list and remove them, and the presets of common providers.

An account row holds where and as whom to log in and which folders to sync;
its password lives in the OS keyring only (``app.secrets``), under the
account's stable ``uid``. Its ``last_error`` is read back redacted
(``app.redact``), whatever an older version stored. Removing an account
removes its secret and its sync state. Services take a ``Session``; callers
own the transaction. The UI and the CLI get ``AccountInfo`` DTOs, never ORM
rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import oauth, redact, secrets, settings
from app.errors import NotFoundError, UserFacingError
from app.models import Account, SyncState
from connectors import imap
from connectors.imap import TLS_MODES, TlsMode

DEFAULT_PORTS: dict[str, int] = {"implicit": 993, "starttls": 143, "none": 143}


@dataclass(frozen=True)
class Preset:
    """Server settings of a common mail provider.

    Attributes:
        key: the name given as ``--host`` ("gmail").
        label: the provider's name for people.
        host: its IMAP server.
        port: its IMAP port.
        tls: its TLS mode.
        aliases: other names that select it ("office365").
        domains: email domains it serves; an address there selects it too.
        note: what the user must know (app passwords).
        oauth: the OAuth 2.0 provider to sign in with ("google", "microsoft"), if any.
    """

    key: str
    label: str
    host: str
    port: int
    tls: TlsMode
    aliases: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    note: str = ""
    oauth: str = ""


_APP_PASSWORD = "needs an app password (2-step verification on) unless IMAP allows the normal one"

PRESETS: tuple[Preset, ...] = (
    Preset(
        "gmail",
        "Gmail / Google Workspace",
        "imap.gmail.com",
        993,
        "implicit",
        ("google", "googlemail"),
        ("gmail.com", "googlemail.com"),
        "Sign in with Google, or use an app password (2-step verification on)",
        "google",
    ),
    Preset(
        "outlook",
        "Outlook.com / Microsoft 365",
        "outlook.office365.com",
        993,
        "implicit",
        ("office365", "microsoft365", "hotmail"),
        ("outlook.com", "hotmail.com", "hotmail.co.uk", "live.com", "live.co.uk", "msn.com"),
        "Sign in with Microsoft: Microsoft 365 and Outlook.com accept no password over IMAP",
        "microsoft",
    ),
    Preset(
        "icloud",
        "iCloud Mail",
        "imap.mail.me.com",
        993,
        "implicit",
        ("apple",),
        ("icloud.com", "me.com", "mac.com"),
        "iCloud " + _APP_PASSWORD,
    ),
    Preset(
        "yahoo",
        "Yahoo Mail",
        "imap.mail.yahoo.com",
        993,
        "implicit",
        ("ymail",),
        ("yahoo.com", "ymail.com", "rocketmail.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de"),
        "Yahoo " + _APP_PASSWORD,
    ),
    Preset(
        "fastmail",
        "Fastmail",
        "imap.fastmail.com",
        993,
        "implicit",
        (),
        ("fastmail.com", "fastmail.fm"),
        "Fastmail needs an app password",
    ),
    Preset(
        "aol", "AOL Mail", "imap.aol.com", 993, "implicit", (), ("aol.com",), "AOL " + _APP_PASSWORD
    ),
    Preset(
        "gmx", "GMX", "imap.gmx.net", 993, "implicit", (), ("gmx.net", "gmx.de", "gmx.at", "gmx.ch")
    ),
    Preset("gmx.com", "GMX (international)", "imap.gmx.com", 993, "implicit", (), ("gmx.com",)),
    Preset("zoho", "Zoho Mail", "imap.zoho.com", 993, "implicit", (), ("zoho.com", "zohomail.com")),
    Preset("mailbox.org", "mailbox.org", "imap.mailbox.org", 993, "implicit", (), ("mailbox.org",)),
    Preset("posteo", "Posteo", "posteo.de", 993, "implicit", (), ("posteo.de", "posteo.net")),
    Preset(
        "yandex", "Yandex Mail", "imap.yandex.com", 993, "implicit", (), ("yandex.com", "yandex.ru")
    ),
)


def find_preset(text: str) -> Preset | None:
    """The preset named by ``text``: a preset name or alias, an email domain, or an address.

    Args:
        text: "gmail", "office365", "hotmail.com", "jane@icloud.com", …

    Returns:
        The preset, or None when nothing matches (then ``text`` is a host name).
    """
    wanted = text.strip().lower().rstrip(".")
    if "@" in wanted:
        wanted = wanted.rsplit("@", 1)[1]
    for preset in PRESETS:
        if wanted == preset.key or wanted in preset.aliases or wanted in preset.domains:
            return preset
    return None


def presets_help() -> str:
    """A short list of the preset names, for ``--help``."""
    return ", ".join(p.key for p in PRESETS)


@dataclass(frozen=True)
class AccountInfo:
    """An account as the UI and CLI see it. Never holds the password."""

    id: int
    uid: str
    name: str
    host: str
    port: int
    tls: TlsMode
    ca_file: str | None
    username: str
    folders: tuple[str, ...]
    created_at: datetime
    last_sync_at: datetime | None
    last_error: str
    auth: str = "password"
    oauth_provider: str | None = None
    oauth_client_id: str | None = None

    @property
    def secret_key(self) -> str:
        """The keyring key of this account's password (or OAuth refresh token)."""
        return secrets.secret_key(self.uid)

    @property
    def uses_oauth(self) -> bool:
        """True if the account signs in with OAuth 2.0 rather than a password."""
        return self.auth == "oauth"

    @property
    def sign_in(self) -> str:
        """How the account signs in: "password", "oauth:google", "oauth:microsoft", …"""
        return f"oauth:{self.oauth_provider}" if self.uses_oauth else "password"

    def server(self) -> imap.ServerConfig:
        """The connector's view of the server."""
        return imap.ServerConfig(self.host, self.port, self.tls, self.username, self.ca_file)

    def as_json(self) -> dict[str, Any]:
        """The CLI's JSON shape (no secret)."""
        return {
            "name": self.name,
            "host": self.host,
            "port": self.port,
            "tls": self.tls,
            "ca_file": self.ca_file,
            "user": self.username,
            "folders": list(self.folders),
            "created_at": self.created_at.isoformat(),
            "last_sync_at": self.last_sync_at.isoformat() if self.last_sync_at else None,
            "last_error": self.last_error or None,
            "sign_in": self.sign_in,
        }


def _info(row: Account) -> AccountInfo:
    tls: TlsMode = row.tls if row.tls in TLS_MODES else "implicit"
    return AccountInfo(
        id=row.id,
        uid=row.uid,
        name=row.name,
        host=row.host,
        port=row.port,
        tls=tls,
        ca_file=row.ca_file,
        username=row.username,
        folders=tuple(row.folders or ()),
        created_at=row.created_at,
        last_sync_at=row.last_sync_at,
        last_error=redact.redact(row.last_error or ""),
        auth=row.auth or "password",
        oauth_provider=row.oauth_provider,
        oauth_client_id=row.oauth_client_id,
    )


def _check_name(name: str) -> str:
    clean = name.strip()
    if not clean:
        raise UserFacingError("an account needs a name")
    if len(clean) > 100:
        raise UserFacingError("an account name has at most 100 characters")
    if "/" in clean or any(ord(ch) < 32 for ch in clean):
        raise UserFacingError(f"{name!r}: an account name cannot contain '/' or control characters")
    return clean


def _check_tls(tls: str) -> TlsMode:
    for mode in TLS_MODES:
        if tls == mode:
            return mode
    raise UserFacingError(f"unknown TLS mode {tls!r}; use implicit, starttls or none")


def _check_server(host: str, port: int, tls: TlsMode, ca_file: str | None) -> str | None:
    if not host.strip() or any(ch.isspace() for ch in host.strip()):
        raise UserFacingError(f"{host!r} is not a host name")
    if not 0 < port < 65536:
        raise UserFacingError(f"{port} is not a port number (1-65535)")
    if tls == "none" and not imap.is_loopback(host):
        raise UserFacingError(
            f"refusing a plain-text connection to {host}: the password would travel "
            "unencrypted (use --tls implicit or starttls; 'none' is for this machine only)"
        )
    if ca_file is None:
        return None
    path = Path(ca_file).expanduser()
    if not path.is_file():
        raise UserFacingError(f"{ca_file}: no such CA file")
    imap.ssl_context(str(path))  # raises CertificateProblem when unusable
    return str(path.resolve())


def _check_folders(folders: tuple[str, ...] | list[str]) -> list[str]:
    clean = [f.strip() for f in folders if f.strip()]
    for folder in clean:
        if any(ord(ch) < 32 for ch in folder):
            raise UserFacingError(f"{folder!r} is not a folder name")
    return list(dict.fromkeys(clean))


def resolve_server(
    host: str | None, username: str, port: int | None = None, tls: str | None = None
) -> tuple[str, int, TlsMode, Preset | None]:
    """Fill in host, port and TLS mode from a preset where ``host`` (or the address) names one.

    ``host`` may be a preset name ("gmail"), an email domain ("hotmail.com")
    or a host name. Without ``host`` the user name's domain picks the preset.
    An explicit port or TLS mode always wins.

    Args:
        host: as given, or None.
        username: the login name (often the address).
        port: as given, or None for the preset's or the TLS mode's default.
        tls: as given, or None for the preset's or implicit TLS.

    Returns:
        (host, port, tls, the preset used or None).

    Raises:
        UserFacingError: no host and no preset for the user name's domain.
    """
    preset = find_preset(host) if host else find_preset(username) if "@" in username else None
    if preset is None and not host:
        raise UserFacingError(
            f"no server known for {username!r}: give --host (a host name or one of: "
            f"{presets_help()})"
        )
    mode = _check_tls(tls) if tls else preset.tls if preset else "implicit"
    chosen_port = port or (preset.port if preset and mode == preset.tls else DEFAULT_PORTS[mode])
    chosen_host = preset.host if preset else (host or "").strip()
    return chosen_host, chosen_port, mode, preset


def _row(session: Session, name: str) -> Account:
    wanted = name.strip()
    row = session.scalar(select(Account).where(Account.name == wanted))
    if row is None:
        row = session.scalar(select(Account).where(func.lower(Account.name) == wanted.lower()))
    if row is None:
        known = ", ".join(session.scalars(select(Account.name).order_by(Account.name))) or "none"
        raise NotFoundError(f"no account named {name!r} (accounts: {known})")
    return row


def add_account(
    session: Session,
    name: str,
    *,
    host: str | None,
    username: str,
    port: int | None = None,
    tls: str | None = None,
    ca_file: str | None = None,
    folders: tuple[str, ...] | list[str] = (),
    oauth_provider: str | None = None,
    oauth_client_id: str | None = None,
) -> AccountInfo:
    """Create an account (without its password: see ``set_password``).

    Args:
        session: the open session.
        name: a short unique name ("shop").
        host: host name, preset name or email domain (see ``resolve_server``).
        username: the login name.
        port: the port, default from the preset or TLS mode.
        tls: "implicit", "starttls" or "none" (loopback only).
        ca_file: PEM CA certificates to trust instead of the system's.
        folders: folders to sync; empty for INBOX and the Sent folder.
        oauth_provider: sign in with OAuth 2.0 at this provider ("google",
            "microsoft" or an issuer URL) instead of a password.
        oauth_client_id: this app's client id there (None: settings or environment).

    Returns:
        The new account.

    Raises:
        UserFacingError: an invalid or duplicate value, plain text to a remote host.
    """
    clean = _check_name(name)
    if not username.strip():
        raise UserFacingError("an account needs a user name (--user)")
    if session.scalar(select(Account.id).where(func.lower(Account.name) == clean.lower())):
        raise UserFacingError(f"there is already an account named {clean!r}")
    real_host, real_port, mode, _preset = resolve_server(host, username.strip(), port, tls)
    ca_path = _check_server(real_host, real_port, mode, ca_file)
    row = Account(
        uid=str(uuid.uuid4()),
        name=clean,
        host=real_host,
        port=real_port,
        tls=mode,
        ca_file=ca_path,
        username=username.strip(),
        folders=_check_folders(folders),
        last_error="",
        auth="oauth" if oauth_provider else "password",
        oauth_provider=oauth_provider or None,
        oauth_client_id=oauth_client_id or None,
    )
    session.add(row)
    session.flush()
    return _info(row)


_UNSET: Any = object()


def update_account(
    session: Session,
    name: str,
    *,
    new_name: str | None = None,
    host: str | None = None,
    port: int | None = None,
    tls: str | None = None,
    ca_file: str | None = _UNSET,
    username: str | None = None,
    folders: tuple[str, ...] | list[str] | None = None,
    oauth_provider: str | None = _UNSET,
) -> AccountInfo:
    """Change an account; None (or leaving ``ca_file`` out) keeps a value.

    A new host, port or user name points at another mailbox, so the account's
    sync state is dropped and the next sync re-scans (adding no duplicates).

    Args:
        session: the open session.
        name: the account to change.
        new_name: rename it (the password stays: it is keyed by the uid).
        host: host name, preset name or email domain.
        port: the port.
        tls: the TLS mode.
        ca_file: a CA file, or None to use the system trust store again.
        username: the login name.
        folders: folders to sync (empty for the defaults).
        oauth_provider: sign in at this OAuth provider from now on, or None to use a
            password (leave it out to keep how the account signs in).

    Returns:
        The changed account.

    Raises:
        NotFoundError: no such account.
        UserFacingError: an invalid or duplicate value.
    """
    row = _row(session, name)
    if new_name is not None and new_name.strip() != row.name:
        clean = _check_name(new_name)
        taken = session.scalar(
            select(Account.id).where(
                func.lower(Account.name) == clean.lower(), Account.id != row.id
            )
        )
        if taken:
            raise UserFacingError(f"there is already an account named {clean!r}")
        row.name = clean
    user = username.strip() if username is not None else row.username
    if not user:
        raise UserFacingError("an account needs a user name")
    if host is not None:
        new_host, new_port, mode, _p = resolve_server(host, user, port, tls or None)
    else:
        mode = _check_tls(tls) if tls else _check_tls(row.tls)
        new_host = row.host
        new_port = port or (DEFAULT_PORTS[mode] if tls and tls != row.tls else row.port)
    ca = row.ca_file if ca_file is _UNSET else ca_file
    ca_path = _check_server(new_host, new_port, mode, ca)
    moved = (new_host.lower(), new_port, user) != (row.host.lower(), row.port, row.username)
    row.host, row.port, row.tls, row.ca_file, row.username = new_host, new_port, mode, ca_path, user
    if folders is not None:
        row.folders = _check_folders(folders)
    if oauth_provider is not _UNSET and oauth_provider != row.oauth_provider:
        # A password and a refresh token share the keyring entry: the old one goes.
        key = secrets.secret_key(row.uid)
        secrets.delete_secret(key)
        oauth.TOKENS.forget(key)
        row.auth = "oauth" if oauth_provider else "password"
        row.oauth_provider = oauth_provider or None
    if moved:
        row.sync_states.clear()
    session.flush()
    return _info(row)


def list_accounts(session: Session) -> list[AccountInfo]:
    """Every account, by name."""
    return [_info(r) for r in session.scalars(select(Account).order_by(Account.name))]


def get_account(session: Session, name: str) -> AccountInfo:
    """One account by name (exact, else case-insensitive).

    Raises:
        NotFoundError: no such account.
    """
    return _info(_row(session, name))


def remove_account(session: Session, name: str) -> AccountInfo:
    """Delete an account, its sync state and its password in the keyring.

    The secret goes first: if the keyring refuses, the account stays and the
    error says why, so no orphaned password is left behind unnoticed.

    Raises:
        NotFoundError: no such account.
        KeyringFailed: the keyring would not delete the password.
    """
    row = _row(session, name)
    info = _info(row)
    secrets.delete_secret(info.secret_key)
    session.delete(row)
    session.flush()
    return info


def set_password(account: AccountInfo, password: str) -> None:
    """Store an account's password in the keyring.

    Raises:
        KeyringUnavailable: no usable keyring (the password is not stored anywhere).
        KeyringFailed: the keyring refused.
    """
    if not password:
        raise UserFacingError("the password is empty")
    secrets.store_password(account.secret_key, password)


def stored_password(account: AccountInfo) -> str | None:
    """The account's password from the keyring, or None (not stored, or no usable keyring)."""
    return secrets.load_password(account.secret_key)


def folder_states(session: Session, account_id: int) -> dict[str, imap.FolderState]:
    """The stored sync state of each folder of an account."""
    rows = session.scalars(select(SyncState).where(SyncState.account_id == account_id))
    return {
        r.folder: imap.FolderState(r.folder, r.uidvalidity, r.last_uid, r.highestmodseq)
        for r in rows
    }


def oauth_settings(session: Session) -> dict[str, str]:
    """The client ids (and Google's installed-app secret) set in the settings."""
    return {key: settings.get(session, key) for key in OAUTH_SETTINGS}


def oauth_client(
    info: AccountInfo, configured: dict[str, str]
) -> tuple[oauth.Provider, oauth.Client]:
    """The provider and client registration an OAuth account signs in with.

    Args:
        info: the account.
        configured: from ``oauth_settings`` (read it in a session; this may go online to
            read an issuer's metadata, so call it outside one).

    Raises:
        UserFacingError: the account uses a password; or no client id is known, or the
            provider's metadata cannot be read (``oauth.SignInError``).
    """
    if not info.uses_oauth or not info.oauth_provider:
        raise UserFacingError(f"account {info.name!r} signs in with a password")
    prov = oauth.provider(info.oauth_provider)
    return prov, oauth.client_for(prov.key, configured, info.oauth_client_id)


OAUTH_SETTINGS = ("google_client_id", "google_client_secret", "microsoft_client_id")


def sign_in(
    info: AccountInfo,
    configured: dict[str, str],
    *,
    open_url: Callable[[str], object],
    should_cancel: Callable[[], bool] | None = None,
    timeout: float = oauth.SIGN_IN_TIMEOUT,
) -> None:
    """Sign an OAuth account in through the browser and keep its refresh token.

    Raises:
        SignInError: declined, cancelled, timed out or refused (``SignInCancelled``
            when cancelled).
        KeyringUnavailable: no usable keyring: the sign-in worked but cannot be kept.
        KeyringFailed: the keyring refused.
    """
    prov, client = oauth_client(info, configured)
    grant = oauth.sign_in(
        prov,
        client,
        info.username,
        open_url=open_url,
        should_cancel=should_cancel,
        timeout=timeout,
    )
    oauth.TOKENS.save(info.secret_key, grant)


def is_signed_in(info: AccountInfo) -> bool:
    """True if the keyring holds this OAuth account's refresh token."""
    try:
        return secrets.load_secret(info.secret_key) is not None
    except secrets.KeyringFailed:
        return False


def revoke_sign_in(info: AccountInfo, configured: dict[str, str]) -> bool:
    """Revoke an OAuth account's refresh token at the provider, where it offers that.

    Returns:
        True if the provider confirmed; False when nothing is stored, the provider has
        no revocation endpoint, or it could not be reached (removing goes on regardless).
    """
    if not info.uses_oauth:
        return False
    try:
        token = secrets.load_secret(info.secret_key)
        if not token:
            return False
        prov, client = oauth_client(info, configured)
    except UserFacingError:
        return False
    oauth.TOKENS.forget(info.secret_key)
    return oauth.revoke(prov, client, token)
