"""Signing in to a team server: the password from the keyring, never in a URL on disk.

A team store is named by a URL without a password
(``postgresql+psycopg://jane@db.shop.lan:5432/threadline``). When Threadline
connects, the password comes from the OS keyring, under the service
``"threadline"`` (``app.secrets.SERVICE``) and the key
``store:<user>@<host>:<port>/<database>`` (``store_key``): one entry per person
per server and database, shared by the CLI and the window.
``threadline store-password URL`` and Settings → Database put it there.

A URL typed with a password (``--db postgresql+psycopg://jane:secret@host/db``)
is used as given, but the password is never written anywhere: the database's
``url``, error messages and the log carry the URL without it, and the
password is registered with ``app.redact`` for the life of the process, so a
server message that echoes it is masked too.

Connection failures become one line each (wrong or missing password, no
server, no such database or role), and the server's "permission denied" for a
team member becomes the sentence of the operation (``Only an owner can merge
customers``). The choice of store for the window (a local file or a server URL,
without password) is kept in ``store.json`` in the data folder; ``THREADLINE_DB``
and ``--db`` still come first.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from app import redact
from app.errors import UserFacingError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import URL

log = logging.getLogger(__name__)

DEFAULT_PORT = 5432
#: SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html).
INSUFFICIENT_PRIVILEGE = "42501"
INVALID_PASSWORD = "28P01"
INVALID_AUTHORIZATION = "28000"
UNDEFINED_DATABASE = "3D000"


class PermissionDenied(UserFacingError):
    """The server refused an operation this sign-in's role may not do."""


class SignInFailed(UserFacingError):
    """The server refused the sign-in (wrong or missing password, unknown user)."""


def is_server(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL server (not a SQLite file)."""
    return url.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


def _parse(url: str) -> URL:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        raise UserFacingError(
            "that is not a database URL (postgresql+psycopg://user@host/db)"
        ) from None


def store_key(url: str) -> str:
    """The keyring key of a server URL's password: ``store:<user>@<host>:<port>/<database>``.

    Raises:
        UserFacingError: the URL names no user, host or database.
    """
    parsed = _parse(url)
    if not (parsed.username and parsed.host and parsed.database):
        raise UserFacingError(
            "a team server URL names a user, a host and a database: "
            "postgresql+psycopg://USER@HOST[:PORT]/DATABASE"
        )
    return f"store:{parsed.username}@{parsed.host}:{parsed.port or DEFAULT_PORT}/{parsed.database}"


def public_url(url: str) -> str:
    """``url`` without its password (a file URL or an unreadable one as it is)."""
    if not is_server(url):
        return url
    try:
        parsed = _parse(url)
    except UserFacingError:
        return redact.redact(url)
    if parsed.password is None:
        return url
    return parsed._replace(password=None).render_as_string(hide_password=False)


def connect_url(url: str) -> URL | str:
    """What to connect with: the URL's own password, else the keyring's, else none.

    A password found either way is registered with ``app.redact`` for the life of the
    process, so no message or log line shows it.

    Raises:
        KeyringFailed: the keyring exists but refused to answer.
    """
    if not is_server(url):
        return url
    from app import secrets

    parsed = _parse(url)
    if parsed.password is not None:
        redact.keep(str(parsed.password))
        return parsed
    if not (parsed.username and parsed.host and parsed.database):
        return parsed
    password = secrets.load_password(store_key(url))
    if password is None:
        return parsed
    redact.keep(password)
    return parsed.set(password=password)


def store_password(url: str, password: str) -> str:
    """Keep ``password`` in the keyring for the server ``url``; returns the key used.

    Raises:
        UserFacingError: the URL is not a server's, or has no user/host/database.
        KeyringUnavailable: there is no usable keyring.
        KeyringFailed: the keyring refused.
    """
    from app import secrets

    if not is_server(url):
        raise UserFacingError("a password is kept only for a team server URL (postgresql://…)")
    if not password:
        raise UserFacingError("no password was given; nothing was stored")
    key = store_key(url)
    secrets.store_password(key, password)
    return key


def delete_password(url: str) -> bool:
    """Remove the stored password of ``url``; True if one was removed."""
    from app import secrets

    return secrets.delete_password(store_key(url))


def _who(url: str) -> tuple[str, str, str]:
    """(user, host:port, database) of a server URL, for messages."""
    try:
        parsed = _parse(url)
    except UserFacingError:
        return "?", public_url(url), ""
    host = f"{parsed.host or 'localhost'}:{parsed.port or DEFAULT_PORT}"
    return parsed.username or "?", host, parsed.database or ""


def sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE behind ``exc`` (a SQLAlchemy or psycopg error), or None."""
    orig = getattr(exc, "orig", None) or exc
    code = getattr(orig, "sqlstate", None)
    return code if isinstance(code, str) else None


def connection_error(exc: BaseException, url: str) -> UserFacingError | None:
    """One line for a failed sign-in or connection to the server ``url``, else None."""
    if not is_server(url):
        return None
    orig = getattr(exc, "orig", None) or exc
    text = redact.redact(" ".join(str(orig).split()))
    lowered = text.lower()
    user, host, database = _who(url)
    where = f"{host}/{database}"
    hint = f"store it with `threadline store-password {public_url(url)}` or in Settings → Database"
    code = sqlstate(exc)
    if code == INVALID_PASSWORD or "password authentication failed" in lowered:
        return SignInFailed(f"the server {where} refused the password of {user}; {hint}")
    if "no password supplied" in lowered or "password is required" in lowered:
        return SignInFailed(
            f"the server {where} needs a password for {user} and none is stored; {hint}"
        )
    if code == UNDEFINED_DATABASE or ("database" in lowered and "does not exist" in lowered):
        return UserFacingError(f"the server {host} has no database {database!r}")
    if code == INVALID_AUTHORIZATION or ("role" in lowered and "does not exist" in lowered):
        return SignInFailed(f"the server {where} knows no user {user!r} (ask its administrator)")
    if "connection refused" in lowered or "could not connect" in lowered:
        return UserFacingError(f"no PostgreSQL server answers at {host} (is it running?)")
    if "timeout" in lowered or "timed out" in lowered:
        return UserFacingError(f"the server {host} did not answer in time")
    if "could not translate host name" in lowered or "name or service not known" in lowered:
        return UserFacingError(f"no server is known by the name {host.rsplit(':', 1)[0]!r}")
    if type(orig).__name__ == "OperationalError":
        first = text.splitlines()[0] if text else type(orig).__name__
        return UserFacingError(f"cannot connect to {where}: {first[:300]}")
    return None


# --- permissions -----------------------------------------------------------------------------

#: What each owner-only operation is called in the refusal (``Only an owner can …``).
OWNER_ONLY = {
    "merge": "merge customers",
    "split": "split customers",
    "undo": "undo changes",
    "reject": "mark customers as different people",
    "forget": "forget customers",
    "suppressions": "lift suppressions",
    "accounts": "manage mail accounts",
}


def is_permission_error(exc: BaseException) -> bool:
    """Whether the server refused for lack of privilege (grants or row-level security)."""
    return sqlstate(exc) == INSUFFICIENT_PRIVILEGE


@contextmanager
def owner_only(operation: str) -> Iterator[None]:
    """Turn the server's "permission denied" inside into ``Only an owner can <operation>``.

    Args:
        operation: a key of ``OWNER_ONLY``.
    """
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except DBAPIError as exc:
        if not is_permission_error(exc):
            raise
        log.info("the server refused %s: %s", operation, redact.redact(str(exc.orig)))
        refuse(operation)


def refuse(operation: str) -> NoReturn:
    """Raise the refusal of an owner-only ``operation`` (a key of ``OWNER_ONLY``).

    Raises:
        PermissionDenied: always.
    """
    raise PermissionDenied(
        f"Only an owner can {OWNER_ONLY[operation]}: your sign-in has the agent role "
        "(ask an owner, or the administrator to grant you threadline_owner)"
    ) from None


def permission_error(exc: BaseException) -> UserFacingError | None:
    """One line for a permission refusal the operation did not name itself, else None."""
    if not is_permission_error(exc):
        return None
    orig = getattr(exc, "orig", None) or exc
    first = redact.redact(str(orig).strip().splitlines()[0] if str(orig).strip() else "")
    return PermissionDenied(
        f"the server refused this for your sign-in ({first}); an owner may be needed"
    )


# --- the store the window opens ----------------------------------------------------------------


def saved_store() -> str | None:
    """The server URL chosen in Settings → Database (no password), or None for the local file."""
    from app.paths import saved_store as saved

    return saved()


def save_store(url: str | None) -> None:
    """Remember the store the window opens: a server URL (its password is dropped), or None
    for the local file."""
    from app.paths import write_saved_store

    write_saved_store(public_url(url) if url else None)


# --- testing a connection ------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerInfo:
    """What "Test connection" found: the server's version, who signed in, and their role."""

    version: str
    user: str
    role: str  # "owner", "agent", "administrator" or "none"


def server_url(
    host: str, port: int | None, database: str, user: str, driver: str = "postgresql+psycopg"
) -> str:
    """The URL (without password) for a server's fields, as Settings → Database fills them.

    Raises:
        UserFacingError: a field is missing.
    """
    from sqlalchemy.engine import URL as SAURL

    if not host.strip() or not database.strip() or not user.strip():
        raise UserFacingError("fill in the server's host, the database and your user name")
    return SAURL.create(
        driver,
        username=user.strip(),
        host=host.strip(),
        port=port or None,
        database=database.strip(),
    ).render_as_string(hide_password=False)


def check_connection(url: str, password: str | None = None, *, timeout: int = 10) -> ServerInfo:
    """Sign in to the server ``url`` (with ``password``, else the keyring's) and say who we are.

    Raises:
        UserFacingError: the exact reason it failed, in one line.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    target = connect_url(url) if password is None else _parse(url).set(password=password)
    with redact.known(password):
        engine = create_engine(
            target, poolclass=_null_pool(), connect_args={"connect_timeout": timeout}
        )
        try:
            with engine.connect() as conn:
                version = str(conn.execute(text("SHOW server_version")).scalar_one())
                user = str(conn.execute(text("SELECT current_user")).scalar_one())
                role = team_role(conn)
        except DBAPIError as exc:
            raise connection_error(exc, url) or UserFacingError(
                f"cannot connect to {public_url(url)}: {redact.redact(str(exc.orig))[:300]}"
            ) from None
        finally:
            engine.dispose()
    return ServerInfo(version.split()[0], user, role)


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool


def team_role(conn: Any) -> str:
    """The signed-in role's place in the team: "administrator" (owns the database or is a
    superuser), "owner", "agent", or "none" (granted neither role)."""
    from sqlalchemy import text

    row = conn.execute(
        text(
            "SELECT r.rolsuper OR d.datdba = r.oid, "
            "CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'threadline_owner') "
            "THEN pg_has_role(current_user, 'threadline_owner', 'MEMBER') ELSE false END, "
            "CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'threadline_agent') "
            "THEN pg_has_role(current_user, 'threadline_agent', 'MEMBER') ELSE false END "
            "FROM pg_roles r, pg_database d "
            "WHERE r.rolname = current_user AND d.datname = current_database()"
        )
    ).one()
    if row[0]:
        return "administrator"
    if row[1]:
        return "owner"
    return "agent" if row[2] else "none"
