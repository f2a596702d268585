"""Sign in with OAuth 2.0 end to end: a real authorization server (Authlib) and a real
Dovecot that checks every token against it; the CLI as a user runs it, and the sync
service as the GUI runs it (a long-lived process whose access token expires)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from app import accounts, oauth, secrets, sync
from app.db import Database
from tests.cli_entry import threadline
from tests.dovecot import Dovecot, MemoryKeyring, message
from tests.oauth_server import CLIENT_ID, OAuthServer, browse

pytest_plugins = ["tests.oauth_server"]

ROOT = Path(__file__).resolve().parent.parent


def deliver(server: Dovecot, *messages: bytes) -> None:
    """Put messages in a user's INBOX with doveadm (this server takes no passwords)."""
    for raw in messages:
        done = subprocess.run(
            ["doveadm", "-c", str(server.conf), "save", "-u", server.user, "-m", "INBOX"],
            input=raw,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace") + server.log


class OAuthCLI:
    """``threadline`` in subprocesses, with its own home and a real (file) keyring backend."""

    def __init__(self, tmp_path: Path, backend: str = "keyrings.alt.file.PlaintextKeyring"):
        self.tmp = tmp_path
        self.db = tmp_path / "cli.db"
        self.home = tmp_path / "home"
        self.env = {
            **os.environ,
            "THREADLINE_HOME": str(self.home),
            "TZ": "Europe/London",
            "PYTHON_KEYRING_BACKEND": backend,
            "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        }
        self.env.pop("THREADLINE_DB", None)
        self.outputs: list[str] = []

    def _argv(self, *args: str) -> list[str]:
        return [threadline(), "--db", str(self.db), *args]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self._argv(*args),
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.outputs += [done.stdout, done.stderr]
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def json(self, *args: str, code: int = 0) -> Any:
        done = self.run(*args, "--json")
        assert done.returncode == code, done.stderr
        return json.loads(done.stdout)

    def sign_in(self, *args: str, browser: bool = True) -> tuple[int, Any, str]:
        """Run a command that signs in; play the browser with the address it prints."""
        proc = subprocess.Popen(
            self._argv(*args, "--no-browser", "--json"),
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None and proc.stdout is not None
        seen: list[str] = []
        page = ""
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("http://") and browser:
                page = browse(line.strip()).text
                break
        out, err = proc.communicate(timeout=120)
        stderr = "".join(seen) + err
        self.outputs += [out, stderr]
        assert "Traceback" not in stderr, stderr
        return proc.returncode, json.loads(out) if out.strip() else None, stderr + page

    def files_holding(self, secret: str) -> list[Path]:
        """Database files (main, WAL, SHM) and logs whose bytes contain ``secret``."""
        needle = secret.encode()
        found = [p for p in self.tmp.glob("cli.db*") if p.is_file()]
        found += [p for p in self.home.rglob("*") if p.is_file()]
        return [p for p in found if needle in p.read_bytes()]


def _add_args(server: Dovecot, oauth_server: OAuthServer) -> list[str]:
    return [
        "account", "add", "shop", "--oauth", oauth_server.url, "--client-id", CLIENT_ID,
        "--host", server.host, "--port", str(server.port), "--tls", "none", "--user", server.user,
    ]  # fmt: skip


def _inbox(report: Any) -> Any:
    (account,) = report["accounts"]
    return next(f for f in account["folders"] if f["folder"] == "INBOX")


def test_sign_in_sync_revoke_and_sign_in_again_through_the_cli(
    tmp_path: Path, oauth_dovecot: Dovecot, oauth_server: OAuthServer
) -> None:
    cli = OAuthCLI(tmp_path)
    deliver(oauth_dovecot, message(101), message(102), message(103))

    code, added, shown = cli.sign_in(*_add_args(oauth_dovecot, oauth_server))
    assert code == 0, shown
    assert added["signed_in"] is True and added["sign_in"] == f"oauth:{oauth_server.url}"
    assert "You can close this window" in shown
    (listed,) = cli.json("account", "list")
    assert listed["signed_in"] is True and listed["password_stored"] is False
    assert cli.json("account", "test", "shop")["ok"] is True

    inbox = _inbox(cli.json("sync"))
    assert inbox["new"] == 3
    customers = cli.json("customers")

    # The access token expires: the next sync refreshes it without asking anyone.
    oauth_server.expire_access_tokens()
    deliver(oauth_dovecot, message(104))
    inbox = _inbox(cli.json("sync"))
    assert inbox["new"] == 1

    # The user withdraws access at the provider: sync fails, asks to sign in again, and
    # nothing already synced is lost.
    oauth_server.revoke_all()
    deliver(oauth_dovecot, message(105))
    (account,) = cli.json("sync", code=2)["accounts"]
    assert account["status"] == "failed" and "sign in again" in account["error"]
    (listed,) = cli.json("account", "list")
    assert "sign in again" in listed["last_error"]
    assert len(cli.json("customers")) == len(customers)
    assert cli.json("search", "message")

    code, signed, shown = cli.sign_in("account", "signin", "shop")
    assert code == 0 and signed["signed_in"] is True, shown
    inbox = _inbox(cli.json("sync"))
    assert (inbox["new"], inbox["duplicates"]) == (1, 0)  # resumes: only message 105

    before = oauth_server.revocations
    removed = cli.json("account", "remove", "shop")
    assert removed == {"removed": "shop", "revoked": True}
    assert oauth_server.revocations == before + 1
    assert oauth_server.live_refresh_tokens() == 0

    # No token ever reached the database, its WAL, the log, or any output.
    for token in oauth_server.issued_secrets():
        assert cli.files_holding(token) == []
        assert not any(token in text for text in cli.outputs)


@pytest.mark.parametrize(
    ("decision", "said"),
    [
        ("deny", "consent declined"),
        ("bad-state", "state mismatch"),
    ],
)
def test_a_sign_in_that_fails_says_why_and_keeps_nothing(
    tmp_path: Path,
    oauth_dovecot: Dovecot,
    oauth_server: OAuthServer,
    decision: str,
    said: str,
) -> None:
    cli = OAuthCLI(tmp_path)
    oauth_server.decision = decision
    code, added, shown = cli.sign_in(*_add_args(oauth_dovecot, oauth_server))
    assert code == 2 and added["signed_in"] is False
    assert said in added["error"] and "account signin shop" in shown
    (listed,) = cli.json("account", "list")
    assert listed["signed_in"] is False
    failed = cli.json("sync", code=2)["accounts"][0]
    assert "sign in again" in failed["error"]


def test_a_redirect_that_never_comes_times_out(
    tmp_path: Path, oauth_dovecot: Dovecot, oauth_server: OAuthServer
) -> None:
    cli = OAuthCLI(tmp_path)
    oauth_server.decision = "ignore"
    code, added, _ = cli.sign_in(*_add_args(oauth_dovecot, oauth_server), "--timeout", "1")
    assert code == 2 and "no answer from the browser" in added["error"]


def test_without_a_keyring_the_sign_in_is_not_kept(
    tmp_path: Path, oauth_dovecot: Dovecot, oauth_server: OAuthServer
) -> None:
    cli = OAuthCLI(tmp_path, backend="keyring.backends.fail.Keyring")
    code, added, _ = cli.sign_in(*_add_args(oauth_dovecot, oauth_server))
    assert code == 2 and "no usable keyring" in added["error"]
    for token in oauth_server.issued_secrets():
        assert cli.files_holding(token) == []


# --- in one long-lived process, as the window runs it -----------------------------------


def _account(db: Database, server: Dovecot, oauth_server: OAuthServer) -> accounts.AccountInfo:
    with db.session() as session:
        return accounts.add_account(
            session,
            "shop",
            host=server.host,
            username=server.user,
            port=server.port,
            tls="none",
            oauth_provider=oauth_server.url,
            oauth_client_id=CLIENT_ID,
        )


def _background_browser(url: str) -> None:
    threading.Thread(target=browse, args=(url,), daemon=True).start()


def test_access_token_refreshed_before_expiry_and_after_a_rejection(
    db: Database,
    oauth_dovecot: Dovecot,
    oauth_server: OAuthServer,
    memory_keyring: MemoryKeyring,
) -> None:
    info = _account(db, oauth_dovecot, oauth_server)
    accounts.sign_in(info, {}, open_url=_background_browser)
    stored = memory_keyring.secrets[("threadline", info.secret_key)]
    assert stored in oauth_server.issued_secrets()  # the refresh token, nothing else
    assert len(memory_keyring.secrets) == 1

    deliver(oauth_dovecot, message(201))
    assert sync.sync_account(db, "shop").status == "done"
    issued = len(oauth_server.tokens)

    # The server stops honouring the access token held in memory: one refresh, one retry.
    oauth_server.expire_access_tokens()
    deliver(oauth_dovecot, message(202))
    report = sync.sync_account(db, "shop")
    assert report.status == "done" and report.folders[0].new == 1
    assert len(oauth_server.tokens) == issued + 1
    rotated = memory_keyring.secrets[("threadline", info.secret_key)]
    assert rotated != stored  # the provider rotated the refresh token and it was kept

    # A token that expires within the refresh margin is replaced before it is used.
    oauth_server.access_lifetime = int(oauth.REFRESH_MARGIN / 2)
    oauth.TOKENS.forget(info.secret_key)
    assert sync.sync_account(db, "shop").status == "done"
    issued = len(oauth_server.tokens)
    assert sync.sync_account(db, "shop").status == "done"
    assert len(oauth_server.tokens) == issued + 1


def test_cancel_while_waiting_for_the_browser(
    db: Database, oauth_dovecot: Dovecot, oauth_server: OAuthServer, memory_keyring: MemoryKeyring
) -> None:
    info = _account(db, oauth_dovecot, oauth_server)
    with pytest.raises(oauth.SignInCancelled):
        accounts.sign_in(info, {}, open_url=lambda url: None, should_cancel=lambda: True)
    assert memory_keyring.secrets == {}


def test_long_secrets_are_split_for_small_keyrings(memory_keyring: MemoryKeyring) -> None:
    token = "r" * 1500 + "s" * 1500 + "t" * 10
    secrets.store_secret("account:x", token)
    assert all(len(v) <= secrets.CHUNK for v in memory_keyring.secrets.values())
    assert secrets.load_secret("account:x") == token
    secrets.store_secret("account:x", "short")
    assert secrets.load_secret("account:x") == "short"
    assert list(memory_keyring.secrets) == [("threadline", "account:x")]
    secrets.store_secret("account:x", token)
    assert secrets.delete_secret("account:x") and memory_keyring.secrets == {}


def test_clients_come_from_the_environment_or_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("THREADLINE_GOOGLE_CLIENT_ID", raising=False)
    monkeypatch.delenv("THREADLINE_GOOGLE_CLIENT_SECRET", raising=False)
    with pytest.raises(oauth.SignInError, match="THREADLINE_GOOGLE_CLIENT_ID"):
        oauth.client_for("google", {})
    assert oauth.client_for("google", {"google_client_id": "a", "google_client_secret": "b"}) == (
        oauth.Client("a", "b")
    )
    monkeypatch.setenv("THREADLINE_GOOGLE_CLIENT_ID", "env-id")
    assert oauth.client_for("google", {"google_client_id": "a"}).client_id == "env-id"
    monkeypatch.setenv("THREADLINE_MICROSOFT_CLIENT_ID", "ms-id")
    assert oauth.client_for("microsoft", {}) == oauth.Client("ms-id", None)


def test_xoauth2_when_the_server_offers_no_oauthbearer(
    db: Database,
    xoauth2_dovecot: Dovecot,
    oauth_server: OAuthServer,
    memory_keyring: MemoryKeyring,
) -> None:
    info = _account(db, xoauth2_dovecot, oauth_server)
    accounts.sign_in(info, {}, open_url=_background_browser)
    deliver(xoauth2_dovecot, message(401))
    with IMAPClient(xoauth2_dovecot.host, port=xoauth2_dovecot.port, ssl=False) as probe:
        offered = {c.decode() for c in probe.capabilities()}
    assert "AUTH=XOAUTH2" in offered and "AUTH=OAUTHBEARER" not in offered
    report = sync.sync_account(db, "shop")
    assert report.status == "done" and report.folders[0].new == 1
