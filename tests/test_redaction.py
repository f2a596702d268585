"""A server that echoes the rejected LOGIN, password and all: the password is kept nowhere.

The real Dovecot of ``tests.dovecot`` refuses every ``echo…`` user with
``NO [CONTACTADMIN] LOGIN echo "<password>" failed``. Whatever a sync, an
account test, the CLI or the GUI does with that answer, the password must not
reach the database file (or its WAL), the log, stdout/stderr, or a message.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import accounts, redact
from app.db import Database
from app.logs import RedactingFilter
from app.sync import AccountReport, FolderReport, check_account, sync_account
from connectors import imap
from tests.dovecot import ECHO_USER, Dovecot, MemoryKeyring
from tests.test_accounts import AccountCLI

SECRET = "Echo-Pw-7c1e5b9a"
UNICODE_SECRET = "Écho-Pässwörd-42"


def _add(db: Database, server: Dovecot, user: str = ECHO_USER) -> accounts.AccountInfo:
    with db.session() as session:
        return accounts.add_account(
            session, "shop", host=server.host, username=user, port=server.port, tls="none"
        )


def _db_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file())


@pytest.mark.parametrize("secret", [SECRET, UNICODE_SECRET], ids=["login", "authenticate-plain"])
def test_an_echoed_password_stays_out_of_reports_errors_and_the_database(
    db: Database, dovecot: Dovecot, tmp_path: Path, secret: str
) -> None:
    _add(db, dovecot)
    report = sync_account(db, "shop", password=secret)
    assert report.status == "failed" and report.error is not None
    # The server did echo the command: its words are there, the password is not.
    assert f"LOGIN {ECHO_USER} {redact.MASK} failed" in report.error
    assert secret not in report.error
    with pytest.raises(imap.AuthenticationFailed) as caught:
        check_account(db, "shop", password=secret)
    assert "LOGIN" in str(caught.value) and secret not in str(caught.value)
    with pytest.raises(imap.AuthenticationFailed) as direct:
        imap.connect(imap.ServerConfig(dovecot.host, dovecot.port, "none", ECHO_USER), secret)
    assert secret not in str(direct.value) and secret not in repr(direct.value.args)
    with db.session() as session:
        stored = accounts.get_account(session, "shop").last_error
    assert "LOGIN" in stored and secret not in stored
    needles = [secret.encode(), secret.encode("latin-1", "replace")]
    assert not any(n in _db_bytes(tmp_path / "test.db") for n in needles)


def test_the_cli_shows_and_logs_the_rejection_without_the_password(
    tmp_path: Path, dovecot: Dovecot
) -> None:
    cli = AccountCLI(tmp_path, "keyring.backends.fail.Keyring")
    added = cli.run("account", "add", "shop", "--host", dovecot.host, "--port",
                    str(dovecot.port), "--tls", "none", "--user", ECHO_USER)  # fmt: skip
    assert added.returncode == 0, added.stderr
    tested = cli.run("account", "test", "shop", "--password-stdin", stdin=SECRET + "\n")
    assert tested.returncode == 2 and "LOGIN" in tested.stderr
    as_json = cli.run("account", "test", "shop", "--password-stdin", "--json", stdin=SECRET + "\n")
    assert as_json.returncode == 2 and "LOGIN" in as_json.stdout
    synced = cli.run("sync", "--password-stdin", stdin=SECRET + "\n")
    assert synced.returncode == 2 and f"LOGIN {ECHO_USER} {redact.MASK}" in synced.stderr
    synced_json = cli.run("sync", "--password-stdin", "--json", stdin=SECRET + "\n")
    assert synced_json.returncode == 2 and "LOGIN" in synced_json.stdout
    listed = cli.run("account", "list")
    assert "last error:" in listed.stdout and "LOGIN" in listed.stdout
    assert "rejected the user name or password" in cli.run("account", "list", "--json").stdout

    assert not any(SECRET in out for out in cli.outputs)
    assert cli.files_holding(SECRET) == []  # the database, its WAL and SHM, the log
    log = (cli.home / "logs" / "threadline.log").read_text()
    assert "LOGIN" in log  # the rejection was logged, without the password


def test_the_gui_test_result_and_sync_summary_hide_the_password(
    qtbot, db: Database, dovecot: Dovecot, memory_keyring: MemoryKeyring
) -> None:
    from ui.accounts_dialog import AccountsDialog
    from ui.sync_flow import SyncSummaryDialog

    dialog = AccountsDialog(db)
    qtbot.addWidget(dialog)
    dialog.new_account()
    dialog.name.setText("Shop")
    dialog.user.setText(ECHO_USER)
    dialog.password.setText(SECRET)
    dialog.tls.setCurrentIndex(dialog.tls.findData("none"))
    dialog.host.setText("127.0.0.1")
    dialog.port.setValue(dovecot.port)
    with qtbot.waitSignal(dialog.test_finished, timeout=20000) as finished:
        dialog.test_button.click()
    assert finished.args == [False]
    assert "LOGIN" in dialog.test_result.text()
    assert SECRET not in dialog.test_result.text() + dialog.test_result.toolTip()

    # The summary redacts what it is given, even text that never passed the connector.
    raw = f'NO LOGIN {ECHO_USER} "{SECRET}" failed'
    report = AccountReport(
        "Shop", [FolderReport("INBOX", status="failed", error=raw)], "failed", raw
    )
    summary = SyncSummaryDialog([report], cancelled=False)
    qtbot.addWidget(summary)
    shown: list[str] = []
    top = summary.tree.topLevelItem(0)
    for i in range(top.childCount()):
        child = top.child(i)
        shown += [child.text(c) for c in range(5)] + [child.toolTip(c) for c in range(5)]
    assert any("LOGIN" in text for text in shown)
    assert not any(SECRET in text for text in shown)


def test_an_error_an_older_version_stored_unredacted_is_redacted_by_the_upgrade(
    tmp_path: Path,
) -> None:
    """An older version kept the server's words as they came: the upgrade redacts them in
    place (the row rewritten with ``secure_delete``), not only when they are shown."""
    from alembic import command
    from sqlalchemy import text

    from app.db import _alembic_config, make_engine, open_database, url_for

    path = tmp_path / "old.db"
    database = open_database(path)
    with database.session() as session:
        accounts.add_account(session, "shop", host="imap.example.com", username=ECHO_USER)
    database.dispose()
    engine = make_engine(url_for(path))
    cfg = _alembic_config()
    with engine.begin() as conn:  # the schema before the revision, and what it stored
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0020_catchup9")
        conn.execute(
            text("UPDATE account SET last_error = :e"),
            {"e": f'NO [CONTACTADMIN] LOGIN {ECHO_USER} "{SECRET}" failed'},
        )
    engine.dispose()
    assert SECRET.encode() in _db_bytes(path)

    database = open_database(path)  # the upgrade
    with database.session() as session:
        stored = session.scalar(text("SELECT last_error FROM account"))
        assert stored == f"NO [CONTACTADMIN] LOGIN {ECHO_USER} {redact.MASK} failed"
        assert "LOGIN" in accounts.get_account(session, "shop").last_error
    database.dispose()
    assert SECRET.encode() not in _db_bytes(path)


# --- the redaction function and the log filter --------------------------------------------


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ('NO [AUTHENTICATIONFAILED] LOGIN user "se cr\\"et" failed', "LOGIN user *** failed"),
        ("a1 LOGIN jane hunter2x", "a1 LOGIN jane ***"),
        ('LOGIN "jane@example.com" {9}', 'LOGIN "jane@example.com" ***'),
        ("AUTHENTICATE PLAIN AGphbmUAaHVudGVyMng=", "AUTHENTICATE PLAIN ***"),
        ("Authorization: Bearer ya29.a0AfH6SMBx-y_z", "Authorization: Bearer ***"),
        ("?access_token=abc.def&state=1", "?access_token=***&state=1"),
        ('client_secret="a b c" password: hunter2x', "client_secret=*** password: ***"),
        ("pwd=hunter2x, api-key: k-123", "pwd=***, api-key: ***"),
        ("xoauth2 " + base64.b64encode(b"user=a@b.c\x01auth=Bearer tok\x01\x01").decode(), "***"),
        ("OAUTHBEARER " + base64.b64encode(b"n,a=a@b.c,\x01auth=Bearer t\x01\x01").decode(), "***"),
    ],
)
def test_credential_shapes_are_masked(text: str, kept: str) -> None:
    out = redact.redact(text)
    assert kept in out
    for secret in ("se cr", "hunter2x", "{9}", "AGphbm", "ya29", "abc.def", "a b c", "k-123"):
        assert secret not in out


@pytest.mark.parametrize(
    "text",
    [
        "login failed for user jane",
        "LOGIN command error: BAD",
        "[AUTHENTICATIONFAILED] LOGIN Invalid credentials",
        "AUTHENTICATE command error: BAD [b'Unknown mechanism']",
        "[CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=XOAUTH2] ready",
        "account 'shop' needs its password: no usable keyring (disabled)",
        "folders: INBOX + Sent; password: in the keyring; last sync: never",
        "cannot reach imap.example.com:993: connection refused",
        "the password is stored in the keyring",
    ],
)
def test_ordinary_messages_are_left_alone(text: str) -> None:
    assert redact.redact(text) == text


def test_a_known_secret_is_removed_in_every_spelling() -> None:
    secret = 'Pä"ss\\wörd 42'
    raw = secret.encode()
    spellings = [
        secret,
        secret.replace("\\", "\\\\").replace('"', '\\"'),
        repr(raw),
        repr(secret),
        base64.b64encode(b"\0user\0" + raw).decode(),
        base64.b64encode(b"x" + raw).decode(),
        base64.b64encode(b"xy" + raw + b"z").decode(),
        "P%C3%A4%22ss%5Cw%C3%B6rd%2042",
    ]
    with redact.known(secret):
        for text in spellings:
            out = redact.redact(f"server said: {text} (end)")
            assert redact.MASK in out, text
            assert secret not in out and "w%C3%B6rd" not in out and "c3\\xa4" not in out
            encoded = base64.b64encode(raw).decode()
            assert encoded[4:12] not in out
    assert redact.redact(f"server said: {secret}") == f"server said: {secret}"  # gone after
    assert redact.redact("a pw x in text", "pw") == "a *** x in text"  # short: whole words only
    assert redact.redact("upward", "pw") == "upward"


@pytest.fixture
def captured_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    yield stream
    logger.removeHandler(handler)
    logger.propagate = True


def test_the_log_filter_redacts_messages_arguments_and_tracebacks(
    captured_log: io.StringIO,
) -> None:
    logger = logging.getLogger("tests.redaction")
    logger.warning("server: %s", f'LOGIN jane "{SECRET}" failed')
    try:
        raise RuntimeError(f"b'LOGIN jane \"{SECRET}\"'")
    except RuntimeError:
        logger.exception("it failed")
    with redact.known("plain-Known-secret"):
        logger.warning("echo %r", "plain-Known-secret")
    text = captured_log.getvalue()
    assert "RuntimeError" in text and text.count("LOGIN jane ***") >= 2
    assert SECRET not in text and "plain-Known-secret" not in text


def test_an_oauth_refusal_that_quotes_the_token_or_code_is_redacted() -> None:
    from authlib.integrations.base_client.errors import OAuthError

    from app import oauth

    refresh_token = "1//0gRefresh-Token-abcdef123456"
    refused = OAuthError(error="invalid_request", description=f"unknown token {refresh_token}")
    text = oauth._oauth_error(refused, "Google", refresh_token)
    assert "Google refused the sign-in (invalid_request)" in text
    assert refresh_token not in text and redact.MASK in text
    error = oauth.SignInError(f"rejected: access_token={refresh_token} Bearer ya29.secret-x")
    assert refresh_token not in str(error) and "ya29" not in str(error)
    with redact.known("ya29.live-access-token"):
        failed = imap.AuthenticationFailed("server said ya29.live-access-token is invalid")
    assert "ya29.live-access-token" not in str(failed)
