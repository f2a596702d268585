"""Sign in to a mail provider with OAuth 2.0, the way a desktop app does (RFC 8252).

``sign_in`` opens the provider's consent page in the system browser (authorization code
with PKCE), listens on a loopback address on a random port for that one redirect, checks
its ``state``, and exchanges the code for tokens. Only the refresh token is kept, in the
OS keyring (``app.secrets``, split across entries where a keyring limits a secret's
size); the access token lives in this process's memory, is refreshed shortly before it
expires, and once more when the server rejects it (``access_token(force=True)``). When
the provider no longer honours the refresh token (revoked, expired, password changed),
``SignInNeeded`` says "sign in again"; the account and its mail stay.

Google and Microsoft are presets; any other server is named by its issuer URL and found
through its published metadata (RFC 8414). Threadline ships no client id it does not
own: ids (and Google's installed-app "secret", which is not secret) come from the
environment (``THREADLINE_GOOGLE_CLIENT_ID``, ``THREADLINE_GOOGLE_CLIENT_SECRET``,
``THREADLINE_MICROSOFT_CLIENT_ID``), the settings, or ``resources/oauth_clients.json``
written by an installer build. The token and PKCE work is Authlib's.

No token ever goes to the database, a log or an error message.
"""

from __future__ import annotations

import contextlib
import html
import ipaddress
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from app import redact, secrets
from app.errors import UserFacingError, in_words
from app.paths import resources_dir

log = logging.getLogger(__name__)

REFRESH_MARGIN = 120.0
"""Seconds before an access token's expiry at which it is refreshed."""

SIGN_IN_TIMEOUT = 600.0
"""Seconds to wait for the browser's redirect before giving up."""


class SignInError(UserFacingError):
    """The sign-in did not complete: declined, timed out, refused by the provider.

    The message is redacted (``app.redact``): it may quote the provider.
    """

    def __init__(self, message: str) -> None:
        super().__init__(redact.redact(message))


class SignInCancelled(SignInError):
    """The user cancelled while Threadline waited for the browser."""


class SignInNeeded(UserFacingError):
    """The stored grant no longer works (revoked or expired): the user must sign in again."""


@dataclass(frozen=True)
class Provider:
    """Where a provider's OAuth endpoints are, and what to ask for.

    Attributes:
        key: "google", "microsoft", or the issuer URL of any other server.
        label: for buttons and messages ("Google").
        authorize_url: the authorization endpoint.
        token_url: the token endpoint.
        revoke_url: the revocation endpoint (RFC 7009), if the provider has one.
        scope: the scopes for IMAP access with a refresh token.
        extra: extra authorization parameters (Google: offline access, consent).
        redirect_host: the loopback name in the redirect URI: "127.0.0.1" (RFC 8252), or
            "localhost" where the provider only registers that (Microsoft); either way
            Threadline listens on 127.0.0.1.
    """

    key: str
    label: str
    authorize_url: str
    token_url: str
    revoke_url: str | None
    scope: str
    extra: tuple[tuple[str, str], ...] = ()
    redirect_host: str = "127.0.0.1"


GOOGLE = Provider(
    key="google",
    label="Google",
    authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
    token_url="https://oauth2.googleapis.com/token",
    revoke_url="https://oauth2.googleapis.com/revoke",
    scope="https://mail.google.com/",
    extra=(("access_type", "offline"), ("prompt", "consent")),
)
MICROSOFT = Provider(
    key="microsoft",
    label="Microsoft",
    authorize_url="https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
    token_url="https://login.microsoftonline.com/common/oauth2/v2.0/token",
    revoke_url=None,  # Microsoft offers no RFC 7009 endpoint; access is removed in the account
    scope="https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
    redirect_host="localhost",
)
PRESETS: dict[str, Provider] = {p.key: p for p in (GOOGLE, MICROSOFT)}

_ENV = {
    "google": ("THREADLINE_GOOGLE_CLIENT_ID", "THREADLINE_GOOGLE_CLIENT_SECRET"),
    "microsoft": ("THREADLINE_MICROSOFT_CLIENT_ID", None),
}


def _allowed_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def discover(issuer: str, *, timeout: float = 20.0) -> Provider:
    """A provider from its issuer URL, through its published metadata (RFC 8414, OIDC).

    Args:
        issuer: the server's issuer URL (https; plain http only on this machine).

    Raises:
        SignInError: the URL is not allowed, cannot be reached, or publishes no endpoints.
    """
    import requests

    issuer = issuer.rstrip("/")
    if not _allowed_url(issuer):
        raise SignInError(f"{issuer} is not an https URL (plain http only on this machine)")
    metadata: dict[str, Any] | None = None
    for suffix in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        try:
            reply = requests.get(issuer + suffix, timeout=timeout)
        except requests.RequestException as exc:
            raise SignInError(f"cannot reach {issuer}: {in_words(exc)}") from None
        if reply.ok:
            try:
                metadata = reply.json()
            except ValueError:
                metadata = None
            if isinstance(metadata, dict):
                break
    if not isinstance(metadata, dict):
        raise SignInError(f"{issuer} publishes no OAuth server metadata")
    endpoints = [metadata.get(k) for k in ("authorization_endpoint", "token_endpoint")]
    if not all(isinstance(e, str) and _allowed_url(e) for e in endpoints):
        raise SignInError(f"{issuer} publishes no usable authorization and token endpoints")
    revoke = metadata.get("revocation_endpoint")
    scopes = metadata.get("scopes_supported") or []
    wanted = [s for s in ("openid", "email", "offline_access", "imap") if s in scopes]
    return Provider(
        key=issuer,
        label=urlsplit(issuer).hostname or issuer,
        authorize_url=str(endpoints[0]),
        token_url=str(endpoints[1]),
        revoke_url=revoke if isinstance(revoke, str) and _allowed_url(revoke) else None,
        scope=" ".join(wanted),
    )


def provider(key: str) -> Provider:
    """The preset named ``key``, or the provider an issuer URL publishes."""
    preset = PRESETS.get(key.lower())
    return preset if preset is not None else discover(key)


@dataclass(frozen=True)
class Client:
    """This app's registration at a provider (public: a desktop app keeps no secret)."""

    client_id: str
    client_secret: str | None = None


def _baked_clients() -> dict[str, Any]:
    path = resources_dir() / "oauth_clients.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def client_for(
    key: str, configured: Mapping[str, str] | None = None, client_id: str | None = None
) -> Client:
    """The client registration to use with provider ``key``.

    Args:
        key: the provider's key.
        configured: the settings (``google_client_id``, ``google_client_secret``,
            ``microsoft_client_id``), used when the environment names none.
        client_id: an explicit id (an account's own, or ``--client-id``), first.

    Raises:
        SignInError: no client id is known; the message says how to give one.
    """
    configured = configured or {}
    secret: str | None = None
    env_id, env_secret = _ENV.get(key, (None, None))
    baked = _baked_clients().get(key) if key in PRESETS else None
    baked = baked if isinstance(baked, dict) else {}
    if not client_id:
        client_id = (
            (os.environ.get(env_id) if env_id else None)
            or configured.get(f"{key}_client_id")
            or baked.get("client_id")
        )
    if env_secret:
        secret = (
            os.environ.get(env_secret)
            or configured.get(f"{key}_client_secret")
            or baked.get("client_secret")
        )
    if not client_id:
        if env_id:
            raise SignInError(
                f"no OAuth client id for {PRESETS[key].label}: set {env_id} or "
                f"`threadline config {key}_client_id ID` (the README shows how to register one)"
            )
        raise SignInError(f"no OAuth client id for {key}: pass --client-id")
    return Client(str(client_id), str(secret) if secret else None)


@dataclass(frozen=True)
class Grant:
    """What a sign-in or refresh gave: keep ``refresh_token`` in the keyring only."""

    access_token: str
    expires_at: float
    refresh_token: str | None


def _session(prov: Provider, client: Client, redirect_uri: str | None = None) -> Any:
    from authlib.integrations.requests_client import OAuth2Session

    return OAuth2Session(
        client.client_id,
        client.client_secret,
        scope=prov.scope or None,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post" if client.client_secret else "none",
    )


def _grant(token: Mapping[str, Any], previous_refresh: str | None = None) -> Grant:
    access = token.get("access_token")
    if not isinstance(access, str) or not access:
        raise SignInError("the provider answered without an access token")
    expires_in = token.get("expires_in")
    expires_at = token.get("expires_at")
    if isinstance(expires_at, int | float):
        when = float(expires_at)
    elif isinstance(expires_in, int | float):
        when = time.time() + float(expires_in)
    else:
        when = time.time() + 3600.0
    refresh = token.get("refresh_token")
    return Grant(access, when, refresh if isinstance(refresh, str) else previous_refresh)


def _oauth_error(exc: Exception, label: str, *known: str | None) -> str:
    """The provider's refusal in one line, without the tokens or code it may quote."""
    error = getattr(exc, "error", None) or in_words(exc)
    description = getattr(exc, "description", None)
    text = f"{label} refused the sign-in ({error})"
    return redact.redact(f"{text}: {description}" if description else text, *known)


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Threadline</title></head>
<body style="font-family: sans-serif; margin: 3em"><h2>{title}</h2><p>{text}</p></body></html>
"""


class _Receiver:
    """A one-shot HTTP listener on 127.0.0.1 for the provider's redirect."""

    def __init__(self) -> None:
        self.result: dict[str, str] | None = None
        self.done = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path != "/" or not ({"code", "error"} & query.keys()):
                    self.send_error(404)
                    return
                if "error" in query:
                    title, text = "Sign-in was not completed", "You can close this window."
                else:
                    title = "Signed in"
                    text = "You can close this window and return to Threadline."
                body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)
                if receiver.result is None:
                    receiver.result = query
                    receiver.done.set()

            def log_message(self, format: str, *args: Any) -> None:
                """The request line carries the code: never log it."""

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.server.timeout = 0.2
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self._serve, name="oauth-redirect", daemon=True)
        self.thread.start()

    def redirect_uri(self, host: str) -> str:
        return f"http://{host}:{self.port}/"

    def _serve(self) -> None:
        while not self.done.is_set():
            self.server.handle_request()

    def close(self) -> None:
        self.done.set()
        self.thread.join(timeout=5)
        self.server.server_close()


def sign_in(
    prov: Provider,
    client: Client,
    login_hint: str,
    *,
    open_url: Callable[[str], object],
    should_cancel: Callable[[], bool] | None = None,
    timeout: float = SIGN_IN_TIMEOUT,
) -> Grant:
    """Run the whole browser sign-in and return the tokens.

    Args:
        prov: the provider.
        client: this app's registration there.
        login_hint: the address the user signs in as (pre-filled at the provider).
        open_url: shows the authorization URL: opens the system browser, or prints it.
        should_cancel: polled while waiting; True gives up with ``SignInCancelled``.
        timeout: seconds to wait for the redirect.

    Raises:
        SignInCancelled: cancelled while waiting.
        SignInError: declined, timed out, a state mismatch, or the provider refused.
    """
    from authlib.common.security import generate_token
    from authlib.integrations.base_client.errors import OAuthError

    receiver = _Receiver()
    try:
        session = _session(prov, client, receiver.redirect_uri(prov.redirect_host))
        verifier = generate_token(64)
        extra = dict(prov.extra)
        if login_hint:
            extra["login_hint"] = login_hint
        url, state = session.create_authorization_url(
            prov.authorize_url, code_verifier=verifier, **extra
        )
        open_url(url)
        deadline = time.monotonic() + timeout
        while not receiver.done.wait(0.1):
            if should_cancel is not None and should_cancel():
                raise SignInCancelled("sign-in cancelled")
            if time.monotonic() > deadline:
                raise SignInError(
                    f"no answer from the browser within {int(timeout // 60)} minutes; "
                    "sign-in cancelled (try again)"
                )
        answer = receiver.result or {}
    finally:
        receiver.close()
    if answer.get("state") != state:
        raise SignInError(
            "the browser's answer did not belong to this sign-in (state mismatch); try again"
        )
    if "error" in answer:
        if answer["error"] == "access_denied":
            raise SignInError(f"access was not granted at {prov.label} (consent declined)")
        raise SignInError(
            f"{prov.label} refused the sign-in ({answer['error']})"
            + (f": {answer['error_description']}" if answer.get("error_description") else "")
        )
    try:
        token = session.fetch_token(
            prov.token_url,
            grant_type="authorization_code",
            code=answer.get("code", ""),
            code_verifier=verifier,
        )
    except OAuthError as exc:
        raise SignInError(_oauth_error(exc, prov.label, answer.get("code"), verifier)) from None
    except OSError as exc:  # requests' errors are OSErrors
        raise SignInError(f"cannot reach {prov.label}: {in_words(exc)}") from None
    grant = _grant(token)
    if not grant.refresh_token:
        raise SignInError(f"{prov.label} gave no refresh token (offline access was not granted)")
    return grant


def refresh(prov: Provider, client: Client, refresh_token: str) -> Grant:
    """A new access token from a refresh token.

    Raises:
        SignInNeeded: the provider no longer honours the refresh token.
        SignInError: the provider cannot be reached or refused for another reason.
    """
    from authlib.integrations.base_client.errors import OAuthError

    session = _session(prov, client)
    try:
        token = session.refresh_token(prov.token_url, refresh_token=refresh_token)
    except OAuthError as exc:
        if getattr(exc, "error", None) in ("invalid_grant", "unauthorized_client"):
            raise SignInNeeded(f"access to {prov.label} has ended: sign in again") from None
        raise SignInError(_oauth_error(exc, prov.label, refresh_token)) from None
    except OSError as exc:
        raise SignInError(f"cannot reach {prov.label}: {in_words(exc)}") from None
    return _grant(token, refresh_token)


def revoke(prov: Provider, client: Client, refresh_token: str) -> bool:
    """Revoke a refresh token at the provider; False when it has no endpoint or said no."""
    if not prov.revoke_url:
        return False
    from authlib.integrations.base_client.errors import OAuthError

    session = _session(prov, client)
    try:
        reply = session.revoke_token(
            prov.revoke_url, refresh_token, token_type_hint="refresh_token"
        )
    except (OAuthError, OSError) as exc:
        log.info("revoking at %s failed: %s", prov.label, type(exc).__name__)
        return False
    return bool(getattr(reply, "ok", False))


class TokenStore:
    """Access tokens in memory and refresh tokens in the keyring, per account key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._access: dict[str, tuple[str, float]] = {}

    def save(self, key: str, grant: Grant) -> None:
        """Keep a grant: the refresh token in the keyring, the access token in memory.

        Raises:
            KeyringUnavailable: no usable keyring (nothing is stored).
            KeyringFailed: the keyring refused.
        """
        if grant.refresh_token:
            secrets.store_secret(key, grant.refresh_token)
        with self._lock:
            self._access[key] = (grant.access_token, grant.expires_at)

    def forget(self, key: str) -> None:
        """Drop the access token held in memory (the keyring is left alone)."""
        with self._lock:
            self._access.pop(key, None)

    def access_token(self, key: str, prov: Provider, client: Client, *, force: bool = False) -> str:
        """A valid access token, refreshed when it is about to expire (or ``force``).

        Raises:
            SignInNeeded: no refresh token is stored, or the provider refused it.
            SignInError: the provider cannot be reached.
        """
        with self._lock:
            cached = self._access.get(key)
            if cached and not force and cached[1] - REFRESH_MARGIN > time.time():
                return cached[0]
            stored = secrets.load_secret(key)
            if not stored:
                reason = secrets.unusable_reason()
                where = f"no usable keyring ({reason})" if reason else "no sign-in is stored"
                raise SignInNeeded(f"{where}: sign in again")
            try:
                grant = refresh(prov, client, stored)
            except SignInNeeded:
                # The grant is gone for good: keep no dead token, so every view says
                # "not signed in" until the user signs in again.
                self._access.pop(key, None)
                with contextlib.suppress(UserFacingError):
                    secrets.delete_secret(key)
                raise
            if grant.refresh_token and grant.refresh_token != stored:
                secrets.store_secret(key, grant.refresh_token)  # providers may rotate it
            self._access[key] = (grant.access_token, grant.expires_at)
            return grant.access_token


TOKENS = TokenStore()
"""The process's token store (the CLI and the GUI each hold one)."""
