"""A real OAuth 2.0 authorization server and a Dovecot that accepts its tokens, for the tests.

``oauth_server`` runs Authlib's authorization server (its Flask integration) on 127.0.0.1:
authorization code with PKCE (S256 required), refresh tokens that rotate on every use (as
Microsoft's do), revocation (RFC 7009), introspection (RFC 7662) and its metadata (RFC
8414). Consent is given, refused or never answered as the test says (``decision``), and
the test plays the browser with ``browse``. ``oauth_dovecot`` starts a second Dovecot
whose only passdb is ``driver = oauth2``: it checks every XOAUTH2/OAUTHBEARER token
against the server's introspection endpoint, so an expired or revoked token is refused
by the IMAP server itself. Nothing here mocks a protocol.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import secrets as pysecrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.dovecot import (
    _CONFIG,
    SENT,
    Dovecot,
    _free_port,
    _make_certificates,
    _users,
    ensure_dovecot,
)

CLIENT_ID = "threadline-desktop"
INTROSPECT_ID = "dovecot"
INTROSPECT_SECRET = "dovecot-introspection-secret"
SCOPE = "imap offline_access"


@dataclass
class _Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> None:
        return None

    def get_auth_time(self) -> None:
        return None

    def get_code_challenge(self) -> str | None:
        return self.code_challenge

    def get_code_challenge_method(self) -> str | None:
        return self.code_challenge_method


@dataclass
class _Token:
    client_id: str
    user: str
    scope: str
    access_token: str
    refresh_token: str | None
    issued_at: float
    expires_in: int
    revoked: bool = False

    def check_client(self, client: Any) -> bool:
        return bool(client.client_id == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str:
        return self.user

    def get_client(self) -> Any:
        return None


@dataclass
class _Client:
    client_id: str
    secret: str | None
    methods: tuple[str, ...]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in SCOPE.split())

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # RFC 8252 7.3: a loopback redirect on any port.
        parts = urlsplit(redirect_uri)
        return parts.scheme == "http" and parts.hostname == "127.0.0.1" and parts.path == "/"

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret is not None and pysecrets.compare_digest(self.secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in self.methods

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class OAuthServer:
    """The running server, what it issued, and the test's hand on consent and tokens."""

    url: str = ""
    decision: str = "grant"  # "grant", "deny", or "ignore" (the redirect never comes)
    access_lifetime: int = 3600
    tokens: list[_Token] = field(default_factory=list)
    codes: dict[str, _Code] = field(default_factory=dict)
    revocations: int = 0
    introspections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issued_secrets(self) -> list[str]:
        """Every access and refresh token the server ever issued."""
        with self.lock:
            found = [t.access_token for t in self.tokens]
            found += [t.refresh_token for t in self.tokens if t.refresh_token]
        return found

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now (their refresh tokens still work)."""
        with self.lock:
            for token in self.tokens:
                token.expires_in = 0

    def revoke_all(self) -> None:
        """The user withdraws the app's access at the provider: every grant ends."""
        with self.lock:
            for token in self.tokens:
                token.revoked = True

    def live_refresh_tokens(self) -> int:
        with self.lock:
            return sum(1 for t in self.tokens if t.refresh_token and not t.revoked)


def browse(url: str) -> requests.Response:
    """Be the user's browser: open the consent page and follow the redirect back."""
    return requests.get(url, allow_redirects=True, timeout=30)


def _make_app(state: OAuthServer) -> Any:
    from authlib.integrations.flask_oauth2 import AuthorizationServer
    from authlib.oauth2.rfc6749 import grants
    from authlib.oauth2.rfc6750 import BearerTokenGenerator
    from authlib.oauth2.rfc7009 import RevocationEndpoint
    from authlib.oauth2.rfc7636 import CodeChallenge
    from authlib.oauth2.rfc7662 import IntrospectionEndpoint
    from flask import Flask, jsonify, redirect, request

    clients = {
        CLIENT_ID: _Client(CLIENT_ID, None, ("none",)),
        INTROSPECT_ID: _Client(INTROSPECT_ID, INTROSPECT_SECRET, ("client_secret_basic",)),
    }
    app = Flask("threadline-test-oauth")

    def query_client(client_id: str) -> _Client | None:
        return clients.get(client_id)

    def save_token(token: dict[str, Any], req: Any) -> None:
        with state.lock:
            state.tokens.append(
                _Token(
                    client_id=req.client.client_id,
                    user=str(req.user),
                    scope=token.get("scope", ""),
                    access_token=token["access_token"],
                    refresh_token=token.get("refresh_token"),
                    issued_at=time.time(),
                    expires_in=int(token.get("expires_in", state.access_lifetime)),
                )
            )

    class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = ["none"]  # noqa: RUF012

        def save_authorization_code(self, code: str, req: Any) -> None:
            data = req.payload.data if hasattr(req, "payload") else req.data
            state.codes[code] = _Code(
                code=code,
                client_id=req.client.client_id,
                redirect_uri=data.get("redirect_uri", ""),
                scope=data.get("scope", ""),
                user=str(req.user),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
            )

        def query_authorization_code(self, code: str, client: Any) -> _Code | None:
            found = state.codes.get(code)
            return found if found is not None and found.client_id == client.client_id else None

        def delete_authorization_code(self, authorization_code: _Code) -> None:
            state.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: _Code) -> str:
            return authorization_code.user

    class RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = ["none"]  # noqa: RUF012
        INCLUDE_NEW_REFRESH_TOKEN = True

        def authenticate_refresh_token(self, refresh_token: str) -> _Token | None:
            with state.lock:
                for token in state.tokens:
                    if token.refresh_token == refresh_token and not token.revoked:
                        return token
            return None

        def authenticate_user(self, refresh_token: _Token) -> str:
            return refresh_token.user

        def revoke_old_credential(self, refresh_token: _Token) -> None:
            with state.lock:
                refresh_token.revoked = True

    def find(token: str) -> _Token | None:
        with state.lock:
            for item in state.tokens:
                if token in (item.access_token, item.refresh_token):
                    return item
        return None

    class Revocation(RevocationEndpoint):  # type: ignore[misc]
        CLIENT_AUTH_METHODS = ["none"]  # noqa: RUF012

        def query_token(self, token_string: str, token_type_hint: str | None) -> _Token | None:
            return find(token_string)

        def revoke_token(self, token: _Token, req: Any) -> None:
            with state.lock:
                token.revoked = True
                state.revocations += 1

    class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
        CLIENT_AUTH_METHODS = ["client_secret_basic"]  # noqa: RUF012

        def query_token(self, token_string: str, token_type_hint: str | None) -> _Token | None:
            with state.lock:
                state.introspections += 1
            return find(token_string)

        def check_permission(self, token: _Token, client: Any, req: Any) -> bool:
            return bool(client.client_id == INTROSPECT_ID)

        def introspect_token(self, token: _Token) -> dict[str, Any]:
            return {
                "active": True,
                "client_id": token.client_id,
                "token_type": "Bearer",
                "username": token.user,
                "scope": token.scope,
                "sub": token.user,
                "iss": state.url,
                "exp": int(token.issued_at + token.expires_in),
                "iat": int(token.issued_at),
            }

    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_grant(CodeGrant, [CodeChallenge(required=True)])
    server.register_grant(RefreshGrant)
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    server.register_token_generator(
        "default",
        BearerTokenGenerator(
            access_token_generator=lambda **_: pysecrets.token_urlsafe(32),
            refresh_token_generator=lambda **_: pysecrets.token_urlsafe(48),
            expires_generator=lambda client, grant_type: state.access_lifetime,
        ),
    )

    @app.get("/.well-known/oauth-authorization-server")
    def metadata() -> Any:
        return jsonify(
            issuer=state.url,
            authorization_endpoint=f"{state.url}/authorize",
            token_endpoint=f"{state.url}/token",
            revocation_endpoint=f"{state.url}/revoke",
            introspection_endpoint=f"{state.url}/introspect",
            scopes_supported=SCOPE.split(),
            response_types_supported=["code"],
            code_challenge_methods_supported=["S256"],
        )

    @app.get("/authorize")
    def authorize() -> Any:
        user = request.args.get("login_hint", "")
        grant = server.get_consent_grant(end_user=user)
        if state.decision == "ignore":
            return "Waiting for you to decide…", 200
        if state.decision == "bad-state":
            uri = grant.request.payload.redirect_uri
            code = pysecrets.token_urlsafe(16)
            return redirect(f"{uri}?code={code}&state=forged")
        return server.create_authorization_response(
            grant_user=user if state.decision == "grant" else None
        )

    @app.post("/token")
    def token() -> Any:
        return server.create_token_response()

    @app.post("/revoke")
    def revoke() -> Any:
        return server.create_endpoint_response("revocation")

    @app.post("/introspect")
    def introspect() -> Any:
        return server.create_endpoint_response("introspection")

    return app


@pytest.fixture(scope="session")
def oauth_server_session() -> Iterator[OAuthServer]:
    from werkzeug.serving import make_server

    state = OAuthServer()
    httpd = make_server("127.0.0.1", 0, _make_app(state), threaded=True)
    state.url = f"http://127.0.0.1:{httpd.server_port}"
    thread = threading.Thread(target=httpd.serve_forever, name="oauth-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def oauth_server(oauth_server_session: OAuthServer) -> Iterator[OAuthServer]:
    """The shared server, reset to grant consent with hour-long access tokens."""
    oauth_server_session.decision = "grant"
    oauth_server_session.access_lifetime = 3600
    yield oauth_server_session
    oauth_server_session.decision = "grant"


_OAUTH_PASSDB = """passdb {{
  driver = oauth2
  mechanisms = {mechanisms}
  args = {root}/oauth2.conf.ext
}}
userdb {{"""

_OAUTH_ARGS = """\
introspection_mode = post
introspection_url = http://{client}:{secret}@127.0.0.1:{port}/introspect
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
"""


@pytest.fixture(scope="session")
def oauth_dovecot_session(oauth_server_session: OAuthServer) -> Iterator[Dovecot]:
    """A Dovecot whose only way in is an access token the OAuth server vouches for."""
    yield from _oauth_dovecot(oauth_server_session, "xoauth2 oauthbearer")


@pytest.fixture(scope="session")
def xoauth2_dovecot_session(oauth_server_session: OAuthServer) -> Iterator[Dovecot]:
    """The same, offering XOAUTH2 only (as Microsoft's servers do)."""
    yield from _oauth_dovecot(oauth_server_session, "xoauth2")


_mailboxes = itertools.count(1)


@pytest.fixture
def oauth_dovecot(oauth_dovecot_session: Dovecot) -> Dovecot:
    """The shared OAuth Dovecot, seen as a fresh user with an empty mailbox."""
    return dataclasses.replace(oauth_dovecot_session, user=f"oauth{next(_mailboxes)}", owner=False)


@pytest.fixture
def xoauth2_dovecot(xoauth2_dovecot_session: Dovecot) -> Dovecot:
    """The XOAUTH2-only Dovecot, seen as a fresh user with an empty mailbox."""
    return dataclasses.replace(
        xoauth2_dovecot_session, user=f"oauth{next(_mailboxes)}", owner=False
    )


def _oauth_dovecot(oauth_server_session: OAuthServer, mechanisms: str) -> Iterator[Dovecot]:
    binary = ensure_dovecot()
    root = Path(tempfile.mkdtemp(prefix="threadline-dovecot-oauth-"))
    root.chmod(0o755)
    server: Dovecot | None = None
    try:
        internal_user, internal_group, login_user, uid, gid = _users()
        ca, cert, key = _make_certificates(root)
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir()
        os.chown(root / "mail", uid, gid)
        server = Dovecot(binary, root, ca, _free_port(), _free_port(), uid, gid)
        server.write_users({"tester": "not-used-by-oauth"})
        port = urlsplit(oauth_server_session.url).port
        args = _OAUTH_ARGS.format(client=INTROSPECT_ID, secret=INTROSPECT_SECRET, port=port)
        (root / "oauth2.conf.ext").write_text(args, encoding="utf-8")
        (root / "oauth2.conf.ext").chmod(0o644)
        config = _CONFIG.format(
            root=root,
            cert=cert,
            key=key,
            internal_user=internal_user,
            internal_group=internal_group,
            login_user=login_user,
            uid=uid,
            gid=gid,
            sent=SENT,
            port=server.port,
            tls_port=server.tls_port,
        )
        passdb_start = config.index("passdb {")
        userdb_start = config.index("userdb {")
        config = (
            config[:passdb_start]
            + _OAUTH_PASSDB.format(root=root, mechanisms=mechanisms)
            + config[userdb_start + len("userdb {") :]
        )
        config = config.replace("auth_mechanisms = plain login", f"auth_mechanisms = {mechanisms}")
        # The oauth2 passdb cannot list users: the static userdb takes anyone it vouches for.
        config = config.replace(f"  args = uid={uid}", f"  args = allow_all_users=yes uid={uid}")
        server.conf.write_text(config, encoding="utf-8")
        server.start()
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
