"""A real PostgreSQL server for the tests, started on 127.0.0.1 in a temporary folder.

Like ``tests/dovecot.py``: the fixture runs Debian's own server binaries (``initdb``,
``postgres``) as an unprivileged user (``postgres`` when the tests run as root, which the
server refuses), on a free port, with durability switched off for speed, and removes it
afterwards. ``.ci/run`` installs the Debian package. No server binaries: the tests that need
one are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def server_bin() -> Path | None:
    """The folder with ``initdb`` and ``postgres``, newest version first, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if found:
        return found[0].parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    host: str
    port: int
    admin: str
    folder: Path

    def url(self, database: str = "postgres", user: str | None = None) -> str:
        return f"postgresql+psycopg://{user or self.admin}@{self.host}:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, user=self.admin, dbname=database, autocommit=True
        ) as con:
            con.execute(sql)  # type: ignore[arg-type]

    def new_database(self, name: str) -> str:
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def run_postgres() -> Iterator[PgServer]:
    """Start a private server; yields it, and stops and removes it afterwards."""
    bindir = server_bin()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries (Debian package postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="threadline-pg-"))
    data, sockets = folder / "data", folder / "run"
    data.mkdir()
    sockets.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # the server will not run as root
        user = pwd.getpwnam("postgres")
        folder.chmod(0o755)
        for path in (data, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    admin = "threadline_admin"
    subprocess.run(
        [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            admin,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    # The server's log goes to a file: a pipe nobody reads fills up (64 KiB of
    # "could not serialize access" under concurrent writers) and then stalls the server.
    log = open(folder / "server.log", "wb")  # noqa: SIM115  # closed in the finally below
    server = subprocess.Popen(
        [
            *prefix,
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-k",
            str(sockets),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=60",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        ready = bindir / "pg_isready"
        for _ in range(1000):  # up to about 10 s
            if server.poll() is not None:
                err = (folder / "server.log").read_text(errors="replace")
                raise RuntimeError(f"postgres exited: {err[-2000:]}")
            done = subprocess.run(
                [str(ready), "-h", "127.0.0.1", "-p", str(port), "-U", admin, "-q"],
                check=False,
            )
            if done.returncode == 0:
                break
            time.sleep(0.01)
        else:
            raise RuntimeError("postgres did not answer in 10 s")
        yield PgServer("127.0.0.1", port, admin, folder)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
