"""IMAP accounts: presets, the account service, the keyring policy, the schema, and the
``account``/``sync`` CLI end to end (a real Dovecot, a real keyring backend), including proof
that the password never reaches the database, the log or the CLI's output."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import keyring
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from keyring.backends import chainer, fail, null
from keyrings.alt.file import PlaintextKeyring
from sqlalchemy import select

from app import accounts, secrets
from app.db import Database
from app.errors import NotFoundError, UserFacingError
from app.models import Base, SyncState
from app.sync import PasswordNeeded, save_state, sync_account
from connectors.imap import CertificateProblem, FolderState
from tests.cli_entry import threadline
from tests.dovecot import PASSWORD, Dovecot, MemoryKeyring, message

ROOT = Path(__file__).resolve().parent.parent


# --- presets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("gmail", "imap.gmail.com"),
        ("googlemail.com", "imap.gmail.com"),
        ("office365", "outlook.office365.com"),
        ("Hotmail.co.uk", "outlook.office365.com"),
        ("jane@icloud.com", "imap.mail.me.com"),
        ("yahoo", "imap.mail.yahoo.com"),
        ("fastmail.fm", "imap.fastmail.com"),
    ],
)
def test_presets_by_name_domain_or_address(text: str, host: str) -> None:
    preset = accounts.find_preset(text)
    assert preset is not None and preset.host == host


def test_resolve_server_fills_in_and_explicit_values_win() -> None:
    assert accounts.resolve_server("gmail", "me@example.com") == (
        "imap.gmail.com",
        993,
        "implicit",
        accounts.find_preset("gmail"),
    )
    host, port, tls, preset = accounts.resolve_server(None, "shop@outlook.com")
    assert (host, port, tls) == ("outlook.office365.com", 993, "implicit") and preset
    assert accounts.resolve_server("mail.example.com", "u", tls="starttls")[:3] == (
        "mail.example.com",
        143,
        "starttls",
    )
    assert accounts.resolve_server("fastmail", "u", port=10993)[:3] == (
        "imap.fastmail.com",
        10993,
        "implicit",
    )
    assert accounts.find_preset("mail.example.com") is None
    with pytest.raises(UserFacingError, match="give --host"):
        accounts.resolve_server(None, "shop@unknown-domain.example")


# --- the account service -------------------------------------------------------------------


def test_add_list_rename_remove_with_the_secret(
    db: Database, memory_keyring: MemoryKeyring
) -> None:
    with db.session() as session:
        info = accounts.add_account(session, "Shop", host="gmail", username="shop@gmail.com")
    assert (info.host, info.port, info.tls, info.folders) == ("imap.gmail.com", 993, "implicit", ())
    accounts.set_password(info, "app-password-1")
    assert memory_keyring.secrets == {("threadline", f"account:{info.uid}"): "app-password-1"}
    save_state(db, info.id, FolderState("INBOX", 7, 42, 99))

    with db.session() as session:
        renamed = accounts.update_account(session, "shop", new_name="Main shop")
        assert [a.name for a in accounts.list_accounts(session)] == ["Main shop"]
    assert accounts.stored_password(renamed) == "app-password-1"  # keyed by uid, not name
    with db.session() as session:
        assert accounts.folder_states(session, info.id)["INBOX"].last_uid == 42
        moved = accounts.update_account(session, "main shop", host="imap.example.net")
        assert moved.host == "imap.example.net"
        assert accounts.folder_states(session, info.id) == {}  # another server: start over

    save_state(db, info.id, FolderState("INBOX", 1, 5))
    with db.session() as session:
        removed = accounts.remove_account(session, "Main shop")
    assert removed.uid == info.uid
    assert memory_keyring.secrets == {}
    with db.session() as session:
        assert accounts.list_accounts(session) == []
        assert list(session.scalars(select(SyncState))) == []
        with pytest.raises(NotFoundError, match="no account named 'Main shop'"):
            accounts.get_account(session, "Main shop")


def test_add_account_refuses_bad_values(db: Database, tmp_path: Path) -> None:
    with db.session() as session:
        accounts.add_account(session, "shop", host="mail.example.com", username="u")
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a certificate")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "SHOP"}, "already an account named"),
        ({"name": "a/b"}, "cannot contain '/'"),
        ({"name": " "}, "needs a name"),
        ({"username": ""}, "needs a user name"),
        ({"tls": "none"}, "refusing a plain-text connection to mail.example.com"),
        ({"tls": "ssl"}, "unknown TLS mode"),
        ({"port": 70000}, "not a port number"),
        ({"ca_file": str(tmp_path / "missing.pem")}, "no such CA file"),
        ({"host": "bad host"}, "not a host name"),
    ]
    for change, error in cases:
        args: dict[str, Any] = {
            "name": "other",
            "host": "mail.example.com",
            "username": "u",
            **change,
        }
        with db.session() as session, pytest.raises(UserFacingError, match=error):
            accounts.add_account(session, args.pop("name"), **args)
    with db.session() as session, pytest.raises(CertificateProblem, match="cannot use the CA"):
        accounts.add_account(
            session, "other", host="mail.example.com", username="u", ca_file=str(not_pem)
        )
    with db.session() as session:
        local = accounts.add_account(session, "local", host="localhost", username="u", tls="none")
    assert (local.port, local.tls) == (143, "none")


def test_schema_of_accounts_matches_the_migration(db: Database) -> None:
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    mine = [d for d in diffs if "account" in repr(d) or "sync_state" in repr(d)]
    assert mine == []


# --- the keyring policy --------------------------------------------------------------------


@pytest.fixture
def keyring_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    previous = keyring.get_keyring()
    yield tmp_path
    keyring.set_keyring(previous)


def test_disabled_keyrings_store_nothing(keyring_env: Path) -> None:
    for backend in (fail.Keyring(), null.Keyring()):
        keyring.set_keyring(backend)
        assert "disabled" in (secrets.unusable_reason() or "")
        with pytest.raises(secrets.KeyringUnavailable, match="not stored"):
            secrets.store_password("account:x", "pw")
        assert secrets.load_password("account:x") is None
        assert secrets.delete_password("account:x") is False


def test_a_plain_text_fallback_is_refused_unless_chosen(
    keyring_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring.set_keyring(PlaintextKeyring())
    assert "not a secure store" in (secrets.unusable_reason() or "")
    with pytest.raises(secrets.KeyringUnavailable):
        secrets.store_password("account:x", "pw-123")
    assert not (keyring_env / "xdg-data").exists()

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    assert secrets.unusable_reason() is None  # the user asked for exactly this backend
    secrets.store_password("account:x", "pw-123")
    assert secrets.load_password("account:x") == "pw-123"
    assert secrets.delete_password("account:x") is True
    assert secrets.load_password("account:x") is None


def test_chainer_uses_its_first_real_backend_or_none(
    keyring_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring.set_keyring(chainer.ChainerBackend())
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
    assert "no keyring service was found" in (secrets.unusable_reason() or "")
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [PlaintextKeyring()])
    assert "only fallback keyrings" in (secrets.unusable_reason() or "")
    memory = MemoryKeyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [memory, PlaintextKeyring()])
    assert secrets.usable_backend() is memory
    secrets.store_password("account:y", "pw")
    assert memory.secrets == {("threadline", "account:y"): "pw"}


def test_sync_without_a_password_says_why(db: Database, keyring_env: Path) -> None:
    keyring.set_keyring(fail.Keyring())
    with db.session() as session:
        accounts.add_account(session, "shop", host="localhost", username="u", tls="none")
    with pytest.raises(PasswordNeeded, match="needs its password: no usable keyring"):
        sync_account(db, "shop")


# --- the CLI end to end --------------------------------------------------------------------


class AccountCLI:
    """Runs ``threadline`` in a subprocess with its own home and keyring backend."""

    def __init__(self, tmp_path: Path, backend: str) -> None:
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

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [threadline(), "--db", str(self.db), *args],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.outputs += [result.stdout, result.stderr]
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def json(self, *args: str, code: int = 0, stdin: str | None = None) -> Any:
        result = self.run(*args, "--json", stdin=stdin)
        assert result.returncode == code, result.stderr
        return json.loads(result.stdout)

    def files_holding(self, secret: str) -> list[Path]:
        """The database files (main, WAL, SHM) and logs whose bytes contain ``secret``."""
        needle = secret.encode()
        candidates = [p for p in self.tmp.glob("cli.db*") if p.is_file()]
        candidates += [p for p in self.home.rglob("*") if p.is_file()]
        assert any(p.name == "cli.db" for p in candidates)
        assert any(p.name == "threadline.log" for p in candidates)
        return [p for p in candidates if needle in p.read_bytes()]


def _server_args(server: Dovecot) -> list[str]:
    return [
        "--host",
        server.host,
        "--port",
        str(server.tls_port),
        "--tls",
        "implicit",
        "--ca-file",
        str(server.ca_file),
        "--user",
        server.user,
    ]


def test_cli_accounts_and_sync_keep_the_password_in_the_keyring_only(
    tmp_path: Path, dovecot: Dovecot
) -> None:
    cli = AccountCLI(tmp_path, "keyrings.alt.file.PlaintextKeyring")
    dovecot.append("INBOX", message(1), message(2), message(3))
    added = cli.json("account", "add", "shop", *_server_args(dovecot), "--password-stdin",
                     stdin=PASSWORD + "\n")  # fmt: skip
    assert added["password_stored"] is True and added["keyring"] is None
    assert added["tls"] == "implicit" and added["port"] == dovecot.tls_port

    (listed,) = cli.json("account", "list")
    assert listed["name"] == "shop" and listed["password_stored"] is True
    human = cli.run("account", "list")
    assert "password: in the keyring" in human.stdout

    check = cli.json("account", "test", "shop")
    assert check["ok"] is True and check["to_sync"][0] == "INBOX"

    report = cli.json("sync")
    (account,) = report["accounts"]
    assert account["status"] == "done"
    inbox = account["folders"][0]
    assert {k: inbox[k] for k in ("folder", "new", "duplicates", "problems")} == {
        "folder": "INBOX",
        "new": 3,
        "duplicates": 0,
        "problems": [],
    }
    again = cli.json("sync", "shop")
    assert [f["new"] for f in again["accounts"][0]["folders"]] == [0, 0]

    # A message the converter cannot read (MIME nested too deeply). A missing Date no longer
    # makes a problem: the message takes its INTERNALDATE.
    nested = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n)
        for n in range(60)
    )
    unreadable = b"From: x@example.com\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n" + nested
    dovecot.append("INBOX", unreadable)
    with_problem = cli.json("sync", code=1)
    problems = with_problem["accounts"][0]["folders"][0]["problems"]
    assert [p["location"] for p in problems] == ["shop/INBOX:UID 4"]
    text = cli.run("sync")
    assert text.returncode == 0 and "shop/INBOX: 0 new, 0 duplicates, 0 problems" in text.stdout

    assert cli.run("account", "password", "shop", "--password-stdin", stdin="wrong-one\n")
    failed = cli.run("sync")
    assert failed.returncode == 2
    assert "rejected the user name or password" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1

    # The password sits in the keyring's file and nowhere else that Threadline writes.
    keyring_file = tmp_path / "xdg-data" / "python_keyring" / "keyring_pass.cfg"
    assert "\naccount_" in keyring_file.read_text()
    assert cli.files_holding(PASSWORD) == []
    assert cli.files_holding(base64.b64encode(PASSWORD.encode()).decode()) == []
    assert cli.files_holding("wrong-one") == []
    assert not any(PASSWORD in out for out in cli.outputs)

    removed = cli.json("account", "remove", "shop")
    assert removed == {"removed": "shop"}
    assert "\naccount_" not in keyring_file.read_text()
    assert cli.json("account", "list") == []


def test_cli_without_a_usable_keyring_asks_for_the_password_each_time(
    tmp_path: Path, dovecot: Dovecot
) -> None:
    cli = AccountCLI(tmp_path, "keyring.backends.fail.Keyring")
    dovecot.append("INBOX", message(1))
    result = cli.run("account", "add", "shop", *_server_args(dovecot), "--password-stdin",
                     "--json", stdin=PASSWORD + "\n")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "no usable keyring" in result.stderr and "not stored anywhere" in result.stderr
    assert json.loads(result.stdout)["password_stored"] is False

    (listed,) = cli.json("account", "list")
    assert listed["password_stored"] is False and "disabled" in listed["keyring"]

    refused = cli.json("sync", code=2)
    error = refused["accounts"][0]["error"]
    assert "needs its password: no usable keyring" in error and "--password-stdin" in error

    synced = cli.json("sync", "--password-stdin", stdin=PASSWORD + "\n")
    assert synced["accounts"][0]["folders"][0]["new"] == 1
    assert not (tmp_path / "xdg-data").exists()  # no plain-text file fallback
    assert cli.files_holding(PASSWORD) == []
    assert not any(PASSWORD in out for out in cli.outputs)


def test_cli_refuses_plain_text_to_a_remote_host(tmp_path: Path) -> None:
    cli = AccountCLI(tmp_path, "keyring.backends.fail.Keyring")
    result = cli.run("account", "add", "shop", "--host", "imap.example.com", "--tls", "none",
                     "--user", "u")  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("threadline: refusing a plain-text connection")
    unknown = cli.run("sync", "nope")
    assert unknown.returncode == 2 and "no account named 'nope'" in unknown.stderr
