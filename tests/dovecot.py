"""A real Dovecot IMAP server for the IMAP tests, and an in-memory keyring.

Load it with ``pytest_plugins = ["tests.dovecot"]``. The ``dovecot`` fixture
starts ``dovecot`` on 127.0.0.1 with a throw-away configuration: a
passwd-file user, Maildir storage, a plain/STARTTLS listener and an implicit
TLS listener on random free ports, a certificate signed by a CA made for the
test (``server.ca_file``), and a Sent folder found only by its RFC 6154
``\\Sent`` flag (a decoy folder called "Sent" has none), and users named
``echo…`` (``ECHO_USER``) whose login is always refused with a reason that
quotes the LOGIN command, password included, as some servers do (a
checkpassword script answers for them). When Dovecot is
missing it is installed with apt-get if the tests run as root (CI does);
otherwise the tests are skipped with the reason.

Running as root, Dovecot refuses to serve mail as uid 0 or run its login
processes as root, so the mail belongs to ``nobody`` and the login processes
run as the package's ``dovenull``. Those users cannot enter pytest's private
``tmp_path``, so the server's files live in a world-readable ``mkdtemp``
folder, removed at the end.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import grp
import ipaddress
import itertools
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import format_datetime
from pathlib import Path

import keyring
import pytest
from imapclient import IMAPClient
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

USER = "tester"
PASSWORD = "tl-Secret-9f8e7d6c5b4a"
UNICODE_PASSWORD = "Pässwörd-ünïcode"
SENT = "Éléments envoyés"
ECHO_USER = "echo"  # the "echo*" users of the checkpassword passdb in _CONFIG
BASE_DATE = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


def _dovecot_binary() -> str | None:
    for candidate in (shutil.which("dovecot"), "/usr/sbin/dovecot"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def ensure_dovecot() -> str:
    """The dovecot binary, installing ``dovecot-imapd`` with apt-get when root; else skip."""
    found = _dovecot_binary()
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(
            "dovecot is not installed and the tests are not running as root with apt-get "
            "(install dovecot-imapd, or run .ci/run as root)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "dovecot-imapd"],
    ):
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed: {result.stderr.strip()[-500:]}")
    found = _dovecot_binary()
    if not found:
        pytest.fail("apt-get installed dovecot-imapd but no dovecot binary was found")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for localhost / 127.0.0.1 signed by it."""
    # Imported here so that loading this plugin never needs it (keyring pulls it in on
    # Linux through SecretStorage).
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Threadline Test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


# Dovecot's checkpassword protocol: "user\0password\0…" on fd 3; to answer, exec the reply
# helper given as argv[1] with the extra fields named in EXTRA. "nologin" plus "reason" makes
# the login fail with that reason as the server's answer, here the command with the password.
_ECHO_SCRIPT = """\
#!{python}
import os, sys
data = b""
while True:
    chunk = os.read(3, 4096)
    if not chunk:
        break
    data += chunk
user, password = (part.decode("utf-8", "replace") for part in data.split(b"\\0")[:2])
os.environ.update(USER=user, nologin="y", EXTRA="nologin reason")
os.environ["reason"] = 'LOGIN %s "%s" failed' % (user, password)
os.execv(sys.argv[1], sys.argv[1:])
"""

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = checkpassword
  args = {root}/echo-login
  username_filter = echo*
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox "{sent}" {{
    special_use = \\Sent
    auto = create
  }}
  mailbox Sent {{
    auto = create
  }}
  mailbox Archive {{
    auto = create
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
  chroot =
}}
service anvil {{
  chroot =
  # No brute-force penalty for the wrong-password tests: it would slow every later login.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


@dataclass
class Dovecot:
    """A running Dovecot server, seen as one of its users (``user`` / ``password``)."""

    binary: str
    root: Path
    ca_file: Path
    port: int
    tls_port: int
    uid: int
    gid: int
    host: str = "127.0.0.1"
    user: str = USER
    password: str = PASSWORD
    master_pid: int = 0
    owner: bool = True
    _delivered: int = field(default=0, repr=False)

    @property
    def conf(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        # The daemon keeps the standard streams it inherits: give it a file, not a pipe.
        errors = self.root / "start.err"
        with errors.open("wb") as err:
            result = subprocess.run(
                [self.binary, "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                timeout=60,
            )
        if result.returncode != 0:
            raise RuntimeError(f"dovecot did not start: {errors.read_text()}\n{self.log}")
        # The daemon binds its listeners before it detaches, and the detached master then
        # writes its pid file; the bounded wait covers that moment (and a slow machine).
        pid_file = self.root / "run" / "master.pid"
        deadline = time.monotonic() + 5.0
        pause = threading.Event()
        while True:
            try:
                pid = int(pid_file.read_text().strip())
                with socket.create_connection((self.host, self.port), timeout=1.0):
                    self.master_pid = pid
                    return
            except (OSError, ValueError) as exc:
                if time.monotonic() > deadline:
                    message = f"dovecot did not come up on port {self.port}\n{self.log}"
                    raise RuntimeError(message) from exc
                pause.wait(0.01)

    def write_users(self, users: dict[str, str]) -> None:
        """Write the passwd-file: user name → plain-text password."""
        lines = "".join(f"{name}:{{PLAIN}}{password}::::::\n" for name, password in users.items())
        path = self.root / "passwd"
        path.write_text(lines, encoding="utf-8")
        path.chmod(0o644)

    def stop(self) -> None:
        if not self.owner:
            return
        pid_file = self.root / "run" / "master.pid"
        if not self.master_pid and pid_file.exists():  # it started but never answered
            try:
                self.master_pid = int(pid_file.read_text().strip())
            except ValueError:
                return
        if not self.master_pid:
            return
        pid, self.master_pid = self.master_pid, 0
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return
        try:
            os.kill(pid, signal.SIGTERM)
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            if not poller.poll(10_000):
                os.kill(pid, signal.SIGKILL)
                poller.poll(5_000)
        except ProcessLookupError:
            pass
        finally:
            os.close(fd)

    # --- mail --------------------------------------------------------------------------

    def client(self) -> IMAPClient:
        """A logged-in plain-text client, for putting mail in and looking around."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=30)
        client.login(self.user, self.password)
        return client

    def append(self, folder: str, *messages: bytes, msg_time: dt.datetime | None = None) -> None:
        """Put messages into a folder with IMAP APPEND (one connection).

        ``msg_time`` is their INTERNALDATE (the server's "now" when None).
        """
        client = self.client()
        try:
            for raw in messages:
                client.append(folder, raw, msg_time=msg_time)
        finally:
            client.logout()

    def deliver(self, *messages: bytes) -> None:
        """Write messages straight into the INBOX Maildir's ``new/`` (fast, for bulk)."""
        new = self.root / "mail" / self.user / "new"
        for sub in ("cur", "new", "tmp"):
            (new.parent / sub).mkdir(parents=True, exist_ok=True)
            os.chown(new.parent / sub, self.uid, self.gid)
        os.chown(new.parent, self.uid, self.gid)
        for raw in messages:
            self._delivered += 1
            name = f"{1_700_000_000 + self._delivered}.M{self._delivered}P{os.getpid()}.test"
            tmp = new.parent / "tmp" / name
            tmp.write_bytes(raw)
            os.chown(tmp, self.uid, self.gid)
            tmp.rename(new / name)

    def set_uidvalidity(self, folder: str, value: int) -> None:
        """Give a folder a new UIDVALIDITY (as a server does after rebuilding it)."""
        result = subprocess.run(
            [
                "doveadm",
                "-c",
                str(self.conf),
                "mailbox",
                "update",
                "-u",
                self.user,
                "--uid-validity",
                str(value),
                folder,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"doveadm mailbox update failed: {result.stderr}\n{self.log}")

    def kill_sessions(self) -> int:
        """SIGKILL every ``imap`` session process: each client sees its connection drop."""
        killed = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            if ppid == self.master_pid and comm == "imap":
                try:
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
        return killed


def _users() -> tuple[str, str, str, int, int]:
    """(internal user, internal group, login user, mail uid, mail gid) for this process."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        group = grp.getgrgid(os.getegid()).gr_name
        return me.pw_name, group, me.pw_name, os.geteuid(), os.getegid()
    try:
        internal = pwd.getpwnam("dovecot")
        login = pwd.getpwnam("dovenull")
        nobody = pwd.getpwnam("nobody")
    except KeyError as exc:
        pytest.skip(f"the dovecot package's system users are missing ({exc})")
    group = grp.getgrgid(internal.pw_gid).gr_name
    return internal.pw_name, group, login.pw_name, nobody.pw_uid, nobody.pw_gid


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    """One Dovecot server for the test session (stopped and deleted at the end)."""
    binary = ensure_dovecot()
    root = Path(tempfile.mkdtemp(prefix="threadline-dovecot-"))
    root.chmod(0o755)
    server: Dovecot | None = None
    try:
        internal_user, internal_group, login_user, uid, gid = _users()
        ca, cert, key = _make_certificates(root)
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir()
        os.chown(root / "mail", uid, gid)
        server = Dovecot(binary, root, ca, _free_port(), _free_port(), uid, gid)
        # Dovecot re-reads a changed passwd-file at most once a second, so every
        # test's user exists from the start.
        server.write_users({"unicode": UNICODE_PASSWORD} | {u: PASSWORD for u in _USERS})
        echo = root / "echo-login"
        python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
        echo.write_text(_ECHO_SCRIPT.format(python=python), encoding="utf-8")
        echo.chmod(0o755)
        server.conf.write_text(
            _CONFIG.format(
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
            ),
            encoding="utf-8",
        )
        server.start()
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


_USERS = [f"user{n}" for n in range(1, 1001)]
_next_user = itertools.count()


@pytest.fixture
def dovecot(dovecot_server: Dovecot) -> Dovecot:
    """The shared server, seen as a fresh user with an empty mailbox (``PASSWORD``)."""
    user = _USERS[next(_next_user)]
    return dataclasses.replace(dovecot_server, user=user, owner=False)


def message(
    n: int,
    *,
    subject: str | None = None,
    sender: str = "Jane Doe <jane.doe@example.com>",
    to: str = "Bloom & Branch <hello@shop.example>",
    message_id: str | None = None,
    body: str | None = None,
) -> bytes:
    """A small RFC 5322 message, unique by ``n``."""
    date = format_datetime(BASE_DATE + dt.timedelta(minutes=n))
    mid = message_id or f"<msg-{n}@test.example>"
    text = body if body is not None else f"Hello, this is message number {n}.\r\n"
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject or f'Message {n}'}\r\n"
        f"Date: {date}\r\nMessage-ID: {mid}\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}"
    ).encode()


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps secrets in a dict (recommended priority)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.secrets.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MemoryKeyring]:
    """Route keyring calls to a ``MemoryKeyring`` for one test."""
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
