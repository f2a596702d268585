"""``threadline --self-test``: every check passes from the source tree, and a broken part fails."""

from __future__ import annotations

import io
import os
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import null
from keyrings.alt.file import PlaintextKeyring

from app import selftest
from tests.cli_entry import threadline

CHECKS = [name for name, _check in selftest.CHECKS]


def test_self_test_passes_from_source(tmp_path: Path) -> None:
    env = {**os.environ, "THREADLINE_HOME": str(tmp_path / "home"), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [threadline(), "--self-test"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0].split()[-1] for line in lines[:-1]] == CHECKS
    assert all(line.startswith(("ok ", "note ")) for line in lines[:-1])
    assert lines[-1] == "self-test: all checks passed"
    assert not (tmp_path / "home" / "threadline.db").exists()  # nothing of the user's touched


@pytest.fixture
def backend() -> Iterator[None]:
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


def test_a_plain_text_keyring_fails(
    backend: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Chosen explicitly, so the app would really store passwords in it.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    plain = PlaintextKeyring()
    plain.file_path = str(tmp_path / "keyring_pass.cfg")
    keyring.set_keyring(plain)
    outcome = selftest._check_keyring(selftest._Run(tmp_path))
    assert not outcome.ok and "plain-text file" in outcome.detail


def test_no_keyring_is_reported_not_failed(backend: None, tmp_path: Path) -> None:
    keyring.set_keyring(null.Keyring())
    outcome = selftest._check_keyring(selftest._Run(tmp_path))
    assert outcome.ok and outcome.note and "asked for at each sync" in outcome.detail


def test_the_tls_handshake_checks_the_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = selftest.samples_dir()
    trusting = ssl.create_default_context(cafile=str(folder / "tls-root.pem"))
    selftest._handshake(trusting, folder / "tls-chain.pem", folder / "tls-key.pem")
    monkeypatch.setattr(selftest, "TLS_HOST", "someone-else.invalid")
    with pytest.raises(ssl.SSLCertVerificationError):
        selftest._handshake(trusting, folder / "tls-chain.pem", folder / "tls-key.pem")


def test_missing_samples_fail_the_self_test(
    qapp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "gone"
    empty.mkdir()
    monkeypatch.setattr(selftest, "samples_dir", lambda: empty)
    out = io.StringIO()
    assert selftest.run_self_test(out) == 1
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("FAIL import: samples missing")
    assert any(line.startswith("FAIL tls:") for line in lines)
    assert lines[-1].startswith("self-test: ") and "checks failed" in lines[-1]


def test_the_worker_check_parses_in_another_process(tmp_path: Path) -> None:
    outcome = selftest._check_worker(selftest._Run(tmp_path))
    assert outcome.ok, outcome.detail
    assert "Peonies" in outcome.detail


def test_the_suggestions_check_builds_the_list_in_another_process(tmp_path: Path) -> None:
    run = selftest._Run(tmp_path)
    try:
        assert selftest._check_database(run).ok
        assert selftest._check_import(run).ok
        outcome = selftest._check_suggestions(run)
        assert outcome.ok, outcome.detail
        assert outcome.detail.startswith("a child process built the stored merge suggestions")
        again = selftest._check_suggestions(run)  # built already: nothing for a child to do
        assert not again.ok
    finally:
        assert run.db is not None
        run.db.dispose()
