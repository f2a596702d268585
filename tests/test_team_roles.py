"""People and roles on a real PostgreSQL server: passwords from the keyring, owner-only
operations refused by the server for agents, and authors recorded as the login role.

The server (tests/postgres.py) trusts its administrator; alice and bob sign in with
passwords (scram-sha-256 in pg_hba.conf), which come from a test keyring backend.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from app import store_auth
from app.db import open_database
from app.errors import UserFacingError
from app.service import Service
from app.store_auth import PermissionDenied, SignInFailed
from tests.dovecot import PASSWORD as IMAP_PASSWORD
from tests.dovecot import Dovecot, MemoryKeyring, message
from tests.postgres import PgServer, run_postgres, server_bin
from tests.test_cli_e2e import DEMO, ROOT

pytestmark = pytest.mark.slow
_names = itertools.count()
PASSWORDS = {"alice": "alice-Wonder-7", "bob": "bob-Builder-9"}


def _use_passwords(pg: PgServer) -> None:
    """alice and bob must give their passwords over TCP; the administrator is trusted."""
    hba = pg.folder / "data" / "pg_hba.conf"
    rules = "host all alice,bob 127.0.0.1/32 scram-sha-256\n"
    hba.write_text(rules + hba.read_text())
    for user, password in PASSWORDS.items():
        pg.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
    pg.execute("SELECT pg_reload_conf()")


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    if server_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed (Debian package postgresql)")
    with run_postgres() as server:
        _use_passwords(server)
        yield server


@pytest.fixture
def shop(pg: PgServer) -> str:
    """A new database, its schema made by the administrator (the database's owner), with
    alice granted threadline_owner and bob threadline_agent."""
    name = f"shop{os.getpid()}_{next(_names)}"
    url = pg.new_database(name)
    db = open_database(url)
    db.dispose()
    pg.execute("GRANT threadline_owner TO alice")
    pg.execute("GRANT threadline_agent TO bob")
    return name


def _url(pg: PgServer, database: str, user: str) -> str:
    return pg.url(database, user=user)


@pytest.fixture
def signed_in(
    pg: PgServer, shop: str, memory_keyring: MemoryKeyring
) -> Iterator[dict[str, Service]]:
    for user, password in PASSWORDS.items():
        store_auth.store_password(_url(pg, shop, user), password)
    services = {user: Service.open(_url(pg, shop, user)) for user in PASSWORDS}
    yield services
    for svc in services.values():
        svc.close()


def _import_demo(svc: Service) -> None:
    svc.configure_many({"region": "GB", "timezone": "Europe/London"})
    files = [p for p in sorted(DEMO.iterdir()) if p.is_file()]
    reports = svc.import_paths(files)
    assert all(r.status == "done" for r in reports), [r.error for r in reports]
    assert sum(r.added for r in reports) > 20


def test_the_password_comes_from_the_keyring_and_is_never_shown(
    pg: PgServer, shop: str, memory_keyring: MemoryKeyring
) -> None:
    url = _url(pg, shop, "bob")
    assert "bob-Builder" not in url
    key = store_auth.store_password(url, PASSWORDS["bob"])
    assert key == f"store:bob@127.0.0.1:{pg.port}/{shop}"
    assert memory_keyring.secrets[("threadline", key)] == PASSWORDS["bob"]
    svc = Service.open(url)
    try:
        assert svc.team_role() == "agent"
        assert svc.customers() == []
        assert "bob-Builder" not in svc.url
    finally:
        svc.close()

    # A wrong password: one line that says so, and never the password.
    store_auth.store_password(url, "not-the-password")
    with pytest.raises(SignInFailed, match="refused the password of bob") as wrong:
        Service.open(url)
    assert "not-the-password" not in str(wrong.value)
    # None stored: says how to store one.
    assert store_auth.delete_password(url)
    with pytest.raises(SignInFailed, match=r"needs a password for bob.*store-password"):
        Service.open(url)
    # Typed in the URL: used, but the open database keeps and shows the URL without it.
    typed = url.replace("bob@", f"bob:{PASSWORDS['bob']}@")
    svc = Service.open(typed)
    try:
        assert PASSWORDS["bob"] not in svc.url and PASSWORDS["bob"] not in svc.shown_location()
        assert svc.url == url
    finally:
        svc.close()
    wrong_typed = url.replace("bob@", "bob:Typed-Wrong-1@")
    with pytest.raises(UserFacingError) as refused:
        Service.open(wrong_typed)
    assert "Typed-Wrong-1" not in str(refused.value)


def test_every_table_of_the_schema_is_granted_to_both_roles(pg: PgServer, shop: str) -> None:
    """A table added by a later migration must be granted too (an import writes them)."""
    import psycopg

    with psycopg.connect(host=pg.host, port=pg.port, user=pg.admin, dbname=shop) as con:
        missing = con.execute(
            "SELECT tablename, r FROM pg_tables, unnest(ARRAY[%s, %s]) AS r "
            "WHERE schemaname = current_schema() "
            "AND NOT has_table_privilege(r, quote_ident(tablename), 'SELECT')",
            ("threadline_agent", "threadline_owner"),
        ).fetchall()
    assert missing == []


def test_bob_the_agent_imports_and_writes_notes_but_owner_operations_are_refused(
    signed_in: dict[str, Service],
) -> None:
    bob, alice = signed_in["bob"], signed_in["alice"]
    assert (bob.team_role(), alice.team_role()) == ("agent", "owner")
    _import_demo(bob)  # imports, including the auto-links the identity rule makes
    customers = bob.all_customers()
    assert len(customers) >= 3
    first, second = customers[0], customers[1]
    note = bob.add_note(first.id, "Prefers ribbons")
    assert note.author == "bob"
    assert bob.notes(first.id)[0].author == "bob"
    assert bob.edit_note(note.id, "Prefers red ribbons").author == "bob"

    with pytest.raises(PermissionDenied, match=r"^Only an owner can merge customers"):
        bob.merge(first.id, [second.id], reason="merged by hand")
    with pytest.raises(PermissionDenied, match=r"^Only an owner can merge customers"):
        bob.merge_refs(str(first.id), str(second.id), reason="merged by hand")
    identity = next(c for c in customers if len(c.identities) >= 2)
    with pytest.raises(PermissionDenied, match=r"^Only an owner can split customers"):
        bob.split(identity.id, [identity.identities[0].id])
    with pytest.raises(PermissionDenied, match=r"^Only an owner can forget customers"):
        bob.forget(second.id)
    with pytest.raises(PermissionDenied, match=r"^Only an owner can mark customers"):
        bob.reject(first.id, second.id)
    with pytest.raises(PermissionDenied, match=r"^Only an owner can manage mail accounts"):
        bob.add_account("shop", host="127.0.0.1", username="x", port=1143, tls="none")
    # Nothing of the refused operations was kept.
    assert [c.id for c in bob.all_customers()] == [c.id for c in customers]
    assert not [
        c
        for c in bob.history()
        if c.action in ("merge", "split", "reject", "erasure") and not c.details.get("auto")
    ]

    # The server itself refuses, whatever the app does: no undo, no deletes, no hand merge.
    with bob.database.engine.connect() as conn:
        for sql in (
            "UPDATE audit_log SET undone_by = id",
            "DELETE FROM customer",
            "INSERT INTO audit_log (at, action, details, author) "
            "VALUES (now(), 'merge', '{\"survivor\": 1}', 'bob')",
        ):
            with pytest.raises(DBAPIError) as refused:
                conn.execute(text(sql))
            assert store_auth.is_permission_error(refused.value), sql
            conn.rollback()

    # alice the owner may do all of it, and each change names her.
    change_id, _merged = alice.merge_refs(str(first.id), str(second.id), reason="merged by hand")
    history = alice.history()
    assert history[0].id == change_id and history[0].author == "alice"
    assert history[0].as_json()["author"] == "alice"
    assert alice.undo(change_id).author == "alice"
    assert alice.history()[0].author == "alice" and alice.history()[0].action == "undo"
    target, _change, _row = alice.split(identity.id, [identity.identities[0].id])
    assert alice.history()[0].author == "alice"
    alice.reject(first.id, second.id)
    report = alice.forget(target)
    assert report.erasure_id
    assert alice.history(actions=("erasure",))[0].author == "alice"
    alice.add_account("shop", host="127.0.0.1", username="x", port=1143, tls="none")
    assert [a.name for a in bob.accounts()] == ["shop"]
    with pytest.raises(PermissionDenied, match=r"^Only an owner can manage mail accounts"):
        bob.remove_account("shop")
    # The notes moved by the merge and back by the undo keep bob as their author.
    assert {n.author for n in alice.notes(first.id)} == {"bob"}
    # Import's own entries (new customers) carry the importer's name.
    assert {c.author for c in bob.history(actions=("create",))} == {"bob"}


def test_an_agent_cannot_write_under_another_name(signed_in: dict[str, Service]) -> None:
    bob = signed_in["bob"]
    _import_demo(bob)
    cid = bob.all_customers()[0].id
    with bob.database.session() as session:
        from app import notes

        row = notes.add_note(session, cid, "signed as alice", author="alice")
    assert row.author in ("alice", "bob")  # what the app was told …
    assert bob.notes(cid)[0].author == "bob"  # … and what the server kept
    with bob.database.engine.begin() as conn:
        conn.execute(text("UPDATE note SET author = 'alice'"))
    assert bob.notes(cid)[0].author == "bob"


def _cli(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "THREADLINE_HOME": str(tmp_path / "home"),
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
    }
    env.pop("THREADLINE_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_store_password_then_refusals_in_one_line(
    pg: PgServer, shop: str, tmp_path: Path
) -> None:
    bob = _url(pg, shop, "bob")
    missing = _cli(tmp_path, "--db", bob, "customers")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith("threadline: ") and len(missing.stderr.splitlines()) == 1
    assert "needs a password for bob" in missing.stderr
    stored = _cli(tmp_path, "store-password", bob, "--json", stdin=PASSWORDS["bob"] + "\n")
    assert stored.returncode == 0, stored.stderr
    assert json.loads(stored.stdout)["key"] == f"store:bob@127.0.0.1:{pg.port}/{shop}"
    imported = _cli(tmp_path, "--db", bob, "import", *map(str, sorted(DEMO.iterdir())))
    assert imported.returncode in (0, 1), imported.stderr
    note = _cli(tmp_path, "--db", bob, "note", "1", "Called back", "--json")
    assert note.returncode == 0, note.stderr
    assert json.loads(note.stdout)["author"] == "bob"
    merge = _cli(tmp_path, "--db", bob, "merge", "1", "2")
    assert merge.returncode == 2 and "Traceback" not in merge.stderr
    assert merge.stderr.startswith("threadline: Only an owner can merge customers")
    forget = _cli(tmp_path, "--db", bob, "forget", "2", "--yes")
    assert forget.returncode == 2
    assert forget.stderr.startswith("threadline: Only an owner can forget customers")
    shown = json.loads(_cli(tmp_path, "--db", bob, "show", "1", "--json").stdout)
    assert [n["author"] for n in shown["notes"]] == ["bob"]

    # A password typed in the URL works, and appears in no output and no log line.
    typed = bob.replace("bob@", f"bob:{PASSWORDS['bob']}@")
    done = _cli(tmp_path, "--db", typed, "customers", "--json")
    assert done.returncode == 0, done.stderr
    wrong = _cli(tmp_path, "--db", bob.replace("bob@", "bob:Wrong-Typed-3@"), "customers")
    assert wrong.returncode == 2 and "refused the password of bob" in wrong.stderr
    assert "Wrong-Typed-3" not in wrong.stderr
    logs = "".join(p.read_text() for p in (tmp_path / "home" / "logs").glob("*.log*"))
    for out in (done, wrong, merge, forget, stored):
        assert PASSWORDS["bob"] not in out.stdout + out.stderr
    assert PASSWORDS["bob"] not in logs and "Wrong-Typed-3" not in logs


def test_without_createrole_the_migration_says_what_to_ask_for() -> None:
    if server_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed (Debian package postgresql)")
    with run_postgres() as server:  # a cluster of its own: the roles do not exist yet
        server.execute("CREATE ROLE carol LOGIN")
        server.execute("CREATE DATABASE carols OWNER carol")
        with pytest.raises(UserFacingError, match="needs the CREATEROLE privilege") as err:
            open_database(server.url("carols", user="carol"))
        assert "CREATE ROLE threadline_owner NOLOGIN" in str(err.value)
        server.execute("CREATE ROLE threadline_owner NOLOGIN")
        server.execute("CREATE ROLE threadline_agent NOLOGIN")
        server.execute("GRANT threadline_agent TO threadline_owner")
        db = open_database(server.url("carols", user="carol"))  # now it can
        db.dispose()


def test_a_sign_in_without_a_role_or_an_old_schema_is_told_whom_to_ask(
    pg: PgServer, shop: str
) -> None:
    pg.execute("DO $$ BEGIN CREATE ROLE carl LOGIN; EXCEPTION WHEN duplicate_object THEN END $$")
    with pytest.raises(UserFacingError, match="grant your login role threadline_agent"):
        open_database(pg.url(shop, user="carl"))
    pg.execute("GRANT threadline_agent TO carl")
    open_database(pg.url(shop, user="carl")).dispose()
    # The schema goes back one step (the administrator's downgrade); an agent may not
    # bring it up to date, the database's owner may.
    from alembic import command

    from app.db import _alembic_config, make_engine

    engine = make_engine(pg.url(shop))
    with engine.begin() as conn:
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0011")
    engine.dispose()
    pg.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO carl", shop)
    pg.execute("GRANT CREATE ON SCHEMA public TO carl", shop)  # yet not the tables' owner
    with pytest.raises(UserFacingError, match="only the database's owner can do"):
        open_database(pg.url(shop, user="carl"))
    open_database(pg.url(shop)).dispose()
    open_database(pg.url(shop, user="carl")).dispose()


def test_an_agent_syncs_the_account_an_owner_set_up_and_is_its_author(
    pg: PgServer, shop: str, signed_in: dict[str, Service], dovecot: Dovecot, tmp_path: Path
) -> None:
    """bob (an agent) syncs the IMAP account alice (an owner) added, against a real Dovecot;
    the run and its new customers name bob. Adding, changing and removing accounts stay
    alice's, refused by the server, in one line in the CLI too."""
    bob, alice = signed_in["bob"], signed_in["alice"]
    alice.configure_many(
        {"region": "GB", "timezone": "Europe/London", "owner_emails": "hello@shop.example"}
    )
    info = alice.add_account(
        "shop", host=dovecot.host, port=dovecot.port, tls="none", username=dovecot.user
    )
    Service.set_password(info, IMAP_PASSWORD)  # on bob's machine: his keyring holds it
    dovecot.append("INBOX", *(message(n) for n in range(1, 4)))
    dovecot.append("INBOX", message(4, sender="Ann Lee <ann.lee@example.com>"))

    report = bob.sync_account("shop")
    assert report.status == "done", report.error
    assert sum(f.new for f in report.folders) == 4
    assert bob.account("shop").last_sync_at is not None  # an agent records the outcome
    with bob.database.engine.connect() as conn:
        runs = conn.execute(
            text(
                "SELECT r.author, count(e.id) FROM import_run r "
                "JOIN event e ON e.import_run_id = r.id GROUP BY r.author"
            )
        ).all()
    assert runs == [("bob", 4)]
    created = bob.history(actions=("create",))
    assert len(created) == 2 and {c.author for c in created} == {"bob"}
    assert {c.name for c in bob.all_customers()} == {"Jane Doe", "Ann Lee"}
    # Nothing new: a second sync adds nothing, and alice sees bob's mail at once.
    assert sum(f.new for f in bob.sync_account("shop").folders) == 0
    assert len(alice.all_customers()) == 2

    with pytest.raises(PermissionDenied, match=r"^Only an owner can manage mail accounts"):
        bob.add_account("other", host=dovecot.host, port=dovecot.port, tls="none", username="x")
    with pytest.raises(PermissionDenied, match=r"^Only an owner can manage mail accounts"):
        bob.update_account("shop", port=993)
    with pytest.raises(PermissionDenied, match=r"^Only an owner can manage mail accounts"):
        bob.remove_account("shop")
    assert [(a.name, a.port) for a in alice.accounts()] == [("shop", dovecot.port)]

    # The same through the command, signed in as bob with his password in the keyring.
    bob_url = _url(pg, shop, "bob")
    _cli(tmp_path, "store-password", bob_url, stdin=PASSWORDS["bob"] + "\n")
    for args in (
        ("account", "add", "other", "--host", dovecot.host, "--port", str(dovecot.port),
         "--tls", "none", "--user", "x", "--password-stdin"),
        ("account", "remove", "shop"),
    ):  # fmt: skip
        done = _cli(tmp_path, "--db", bob_url, *args, stdin="secret\n")
        assert done.returncode == 2, done.stdout + done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
        assert done.stderr.startswith("threadline: Only an owner can manage mail accounts")
    assert [a.name for a in alice.accounts()] == ["shop"]


def _refused(conn: Connection, *statements: str) -> None:
    """The statements, run and committed on ``conn``, are refused for lack of privilege."""
    with pytest.raises(DBAPIError) as refused:
        for sql in statements:
            conn.execute(text(sql))
        conn.commit()
    assert store_auth.is_permission_error(refused.value), statements
    conn.rollback()


def test_an_agent_cannot_merge_unmerge_or_unlink_by_hand(signed_in: dict[str, Service]) -> None:
    """bob writes SQL on his own connection: the server refuses a merge or un-merge without
    a change-log entry, a contact point taken off a customer, deleting the change log or
    customers, and undoing; what an import does (automatic links) still works for him."""
    bob, alice = signed_in["bob"], signed_in["alice"]
    _import_demo(bob)  # the import's automatic merges are his to make
    assert any(c.details.get("auto") for c in bob.history(actions=("merge",)))
    first, second, third = (c.id for c in bob.all_customers()[:3])
    alice.merge(first, [third], reason="merged by hand")
    with bob.database.engine.connect() as conn:
        _refused(conn, f"UPDATE customer SET merged_into_id = {first} WHERE id = {second}")
        _refused(conn, f"UPDATE customer SET merged_into_id = NULL WHERE id = {third}")
        _refused(conn, f"DELETE FROM customer_identity WHERE customer_id = {first}")
        _refused(conn, "DELETE FROM audit_log")
        _refused(conn, f"DELETE FROM customer WHERE id = {second}")
        _refused(conn, "UPDATE audit_log SET undone_by = id")
        _refused(conn, f"DELETE FROM merge_rejection WHERE customer_a = {first}")
        _refused(  # nor a merge made and undone within one transaction
            conn,
            f"UPDATE customer SET merged_into_id = {first} WHERE id = {second}",
            f"UPDATE customer SET merged_into_id = NULL WHERE id = {second}",
        )
    assert {c.id for c in alice.all_customers()} >= {first, second}
    assert alice.customer(third).id == first
    assert alice.customer(first).identities and alice.history()[0].author == "alice"

    # What is left (app/team_grants.py names it): a merge entry labelled automatic, then
    # the merge it names. It stands in the change log under bob's own name, for an owner.
    with bob.database.engine.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_log (at, action, details, author) VALUES (now(), 'merge', "
                f'\'{{"auto": true, "survivor": {first}, "merged": {second}}}\', \'alice\')'
            )
        )
        conn.execute(text(f"UPDATE customer SET merged_into_id = {first} WHERE id = {second}"))
        conn.commit()
    latest = alice.history()[0]
    assert (latest.action, latest.author) == ("merge", "bob")
