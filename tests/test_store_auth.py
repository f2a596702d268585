"""Team-server URLs: the keyring key, the URL without its password, and redaction."""

from __future__ import annotations

import pytest

from app import redact, store_auth
from app.errors import UserFacingError
from app.paths import data_dir, saved_store
from tests.dovecot import MemoryKeyring

ODD = "p@ss:w/rd ü%"  # a password with the characters a URL must encode
TYPED = "postgresql+psycopg://jane:p%40ss%3Aw%2Frd%20%C3%BC%25@db.lan:6543/shop"


def test_a_url_is_shown_and_kept_without_its_password() -> None:
    assert store_auth.public_url(TYPED) == "postgresql+psycopg://jane@db.lan:6543/shop"
    assert store_auth.public_url("sqlite:///tmp/x.db") == "sqlite:///tmp/x.db"
    assert store_auth.store_key(TYPED) == "store:jane@db.lan:6543/shop"
    assert store_auth.store_key("postgresql://jane@db.lan/shop") == "store:jane@db.lan:5432/shop"
    with pytest.raises(UserFacingError, match="names a user, a host and a database"):
        store_auth.store_key("postgresql+psycopg://db.lan/shop")
    assert store_auth.is_server("postgres://x@y/z") and not store_auth.is_server("sqlite:///a")


def test_a_typed_password_is_used_and_masked_everywhere_after() -> None:
    url = store_auth.connect_url(TYPED)
    assert not isinstance(url, str) and url.password == ODD
    line = f"could not connect as jane with {ODD} or {ODD.replace('@', '%40')}"
    assert ODD not in redact.redact(line)


def test_the_keyring_gives_the_password_and_the_saved_choice_has_none(
    memory_keyring: MemoryKeyring,
) -> None:
    plain = "postgresql+psycopg://sam@db.lan/shop"
    url = store_auth.connect_url(plain)
    assert not isinstance(url, str) and url.password is None  # nothing stored yet
    store_auth.store_password(plain, "Kept-In-Keyring-5")
    url = store_auth.connect_url(plain)
    assert not isinstance(url, str) and url.password == "Kept-In-Keyring-5"
    store_auth.save_store(TYPED)
    text = (data_dir() / "store.json").read_text()
    assert "p%40ss" not in text and ODD not in text
    assert saved_store() == "postgresql+psycopg://jane@db.lan:6543/shop"
    store_auth.save_store(None)
    assert saved_store() is None
    with pytest.raises(UserFacingError, match="only for a team server"):
        store_auth.store_password("sqlite:///x.db", "secret")
