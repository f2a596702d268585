"""Account passwords in the OS keyring, and nowhere else.

Passwords live under the service ``"threadline"`` with a key derived from the
account's stable ``uid`` (``account:<uid>``), so renaming an account keeps its
secret and two databases never share one. Nothing here ever writes a password
to the database, a settings file, a log or an exception message.

A keyring backend is *usable* when it is a real secret store: the platform's
(macOS Keychain, Windows Credential Locker, Secret Service, KWallet) or one the
user configured explicitly (``PYTHON_KEYRING_BACKEND`` or ``keyringrc.cfg``).
``keyring.backends.fail``/``null``, an empty chainer, and a low-priority
backend that keyring merely fell back to (such as ``keyrings.alt``'s plain
text file) are not: then ``unusable_reason`` says why, nothing is stored, and
callers ask for the password on each sync.
"""

from __future__ import annotations

import logging
import os

import keyring
import keyring.core
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.errors import KeyringError, PasswordDeleteError

from app.errors import UserFacingError, in_words

log = logging.getLogger(__name__)

SERVICE = "threadline"


class KeyringUnavailable(UserFacingError):
    """No usable keyring backend: the password cannot be stored, only asked for."""


class KeyringFailed(UserFacingError):
    """The keyring refused an operation (locked, denied, broken)."""


def secret_key(account_uid: str) -> str:
    """The keyring user name under which an account's password is kept.

    Args:
        account_uid: the account's stable uid.

    Returns:
        ``account:<uid>``.
    """
    return f"account:{account_uid}"


def _class_path(backend: KeyringBackend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _explicitly_configured(backend: KeyringBackend) -> bool:
    """True if the user named this backend class in the environment or keyring's config."""
    wanted = os.environ.get("PYTHON_KEYRING_BACKEND", "").strip()
    if not wanted:
        try:
            configured = keyring.core.load_config()
        except (ImportError, AttributeError, RuntimeError, ValueError):
            configured = None
        if configured is None:
            return False
        wanted = _class_path(configured)
    return wanted == _class_path(backend)


def _priority(backend: KeyringBackend) -> float:
    try:
        return float(backend.priority)
    except Exception:  # a backend that cannot tell is not viable
        return -1.0


def _pick(backend: KeyringBackend) -> tuple[KeyringBackend | None, str]:
    """The backend to use, or None and the reason none is usable."""
    if isinstance(backend, fail.Keyring | null.Keyring):
        log.info("keyring backend %s is disabled", _class_path(backend))
        return None, "the keyring is disabled"
    if isinstance(backend, chainer.ChainerBackend):
        chained = list(backend.backends)
        for candidate in chained:
            if _priority(candidate) >= 1 or _explicitly_configured(candidate):
                return candidate, ""
        if not chained:
            return None, "no keyring service was found (no Secret Service, KWallet or Keychain)"
        log.info("only fallback keyrings: %s", ", ".join(_class_path(b) for b in chained))
        return None, "only fallback keyrings were found (plain files), which are not secure stores"
    if _explicitly_configured(backend) or _priority(backend) >= 1:
        return backend, ""
    log.info("keyring fell back to %s", _class_path(backend))
    return None, (
        "keyring fell back to a plain store, which is not a secure store "
        "(no Secret Service, KWallet or Keychain was found)"
    )


def usable_backend() -> KeyringBackend | None:
    """The keyring backend passwords go to, or None when there is no usable one."""
    return _pick(keyring.get_keyring())[0]


def unusable_reason() -> str | None:
    """Why passwords cannot be stored, in words; None when a usable keyring exists."""
    backend, reason = _pick(keyring.get_keyring())
    return None if backend is not None else reason


def _require() -> KeyringBackend:
    backend, reason = _pick(keyring.get_keyring())
    if backend is None:
        raise KeyringUnavailable(
            f"no usable keyring: {reason}; the password was not stored and will be "
            "asked for on each sync"
        )
    return backend


def store_password(key: str, password: str) -> None:
    """Put a password in the keyring.

    Args:
        key: from ``secret_key``.
        password: the secret.

    Raises:
        KeyringUnavailable: there is no usable keyring backend.
        KeyringFailed: the keyring refused to store it.
    """
    backend = _require()
    try:
        backend.set_password(SERVICE, key, password)
    except (KeyringError, RuntimeError, OSError) as exc:
        raise KeyringFailed(f"the keyring did not store the password ({in_words(exc)})") from None
    log.info("stored a password in %s", _class_path(backend))


def load_password(key: str) -> str | None:
    """The stored password, or None when none is stored or no usable keyring exists.

    Args:
        key: from ``secret_key``.

    Raises:
        KeyringFailed: the keyring exists but refused to answer (locked, denied).
    """
    backend = usable_backend()
    if backend is None:
        return None
    try:
        return backend.get_password(SERVICE, key)
    except (KeyringError, RuntimeError, OSError) as exc:
        raise KeyringFailed(f"the keyring did not give the password ({in_words(exc)})") from None


def has_password(key: str) -> bool:
    """True if a usable keyring holds a password under ``key`` (False on any keyring error)."""
    try:
        return load_password(key) is not None
    except KeyringFailed:
        return False


def delete_password(key: str) -> bool:
    """Remove a password from the keyring; True if one was removed.

    Nothing stored (or no usable keyring) is not an error.

    Args:
        key: from ``secret_key``.

    Raises:
        KeyringFailed: the keyring holds the password but refused to delete it.
    """
    backend = usable_backend()
    if backend is None:
        return False
    try:
        if backend.get_password(SERVICE, key) is None:
            return False
        backend.delete_password(SERVICE, key)
    except PasswordDeleteError:
        return False
    except (KeyringError, RuntimeError, OSError) as exc:
        raise KeyringFailed(f"the keyring did not delete the password ({in_words(exc)})") from None
    return True


CHUNK = 1000
"""Characters per keyring entry for long secrets: Windows Credential Manager refuses a
secret over 2,560 bytes (1,280 characters as it stores them)."""
_CHUNKED = "threadline-chunks:"


def store_secret(key: str, value: str) -> None:
    """Put a secret of any length in the keyring (OAuth refresh tokens can be long).

    A value longer than ``CHUNK`` is split across ``key#1``, ``key#2``, … with a
    header under ``key``; a shorter one is stored as it is.

    Raises:
        KeyringUnavailable: there is no usable keyring backend.
        KeyringFailed: the keyring refused to store it.
    """
    old = _chunk_count(key)
    if len(value) <= CHUNK and not value.startswith(_CHUNKED):
        store_password(key, value)
        parts: list[str] = []
    else:
        parts = [value[i : i + CHUNK] for i in range(0, len(value), CHUNK)]
        for index, part in enumerate(parts, 1):
            store_password(f"{key}#{index}", part)
        store_password(key, f"{_CHUNKED}{len(parts)}")
    for index in range(len(parts) + 1, old + 1):
        delete_password(f"{key}#{index}")


def _chunk_count(key: str) -> int:
    try:
        head = load_password(key)
    except KeyringFailed:
        return 0
    if head is None or not head.startswith(_CHUNKED):
        return 0
    try:
        return int(head[len(_CHUNKED) :])
    except ValueError:
        return 0


def load_secret(key: str) -> str | None:
    """A secret stored with ``store_secret``, or None (not stored, or no usable keyring).

    Raises:
        KeyringFailed: the keyring exists but refused to answer.
    """
    head = load_password(key)
    if head is None or not head.startswith(_CHUNKED):
        return head
    count = _chunk_count(key)
    parts = [load_password(f"{key}#{index}") for index in range(1, count + 1)]
    if any(part is None for part in parts):
        return None
    return "".join(p for p in parts if p is not None)


def delete_secret(key: str) -> bool:
    """Remove a secret stored with ``store_secret`` (all its parts); True if one was removed.

    Raises:
        KeyringFailed: the keyring refused to delete it.
    """
    count = _chunk_count(key)
    removed = delete_password(key)
    for index in range(1, count + 1):
        delete_password(f"{key}#{index}")
    return removed
