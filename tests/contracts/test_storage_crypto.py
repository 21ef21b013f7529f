"""Token encryption at rest: round trips, rotation, wrong keys, and nothing printable."""

from __future__ import annotations

import pickle

import pytest

from touchpoints.adapters.postgres.crypto import TokenCipher, TokenUnreadable, derive_key
from touchpoints.adapters.postgres.dsn import libpq_url, with_database, with_user, yoyo_url
from touchpoints.domain.secrets import Secret

OLD = Secret("old-server-secret-0123456789abcdefghijklmn")
NEW = Secret("new-server-secret-0123456789abcdefghijklmn")
TOKEN = Secret("a1b2c3d4e5-access-token")


def test_a_token_round_trips_and_its_ciphertext_never_repeats_or_shows_it() -> None:
    cipher = TokenCipher(NEW)
    first, second = cipher.encrypt(TOKEN), cipher.encrypt(TOKEN)
    assert first != second
    assert TOKEN.reveal().encode() not in first
    assert cipher.decrypt(first).reveal() == TOKEN.reveal()
    assert cipher.decrypt(second) == TOKEN


def test_after_a_rotation_old_ciphertext_still_opens_and_rotate_moves_it_to_the_new_key() -> None:
    stored = TokenCipher(OLD).encrypt(TOKEN)
    rotating = TokenCipher(NEW, [OLD])
    assert rotating.decrypt(stored) == TOKEN
    rewritten = rotating.rotate(stored)
    assert TokenCipher(NEW).decrypt(rewritten) == TOKEN
    with pytest.raises(TokenUnreadable):
        TokenCipher(OLD).decrypt(rewritten)


def test_a_token_under_an_unknown_key_or_tampered_is_unreadable() -> None:
    stored = TokenCipher(OLD).encrypt(TOKEN)
    with pytest.raises(TokenUnreadable):
        TokenCipher(NEW).decrypt(stored)
    with pytest.raises(TokenUnreadable):
        TokenCipher(NEW).rotate(stored)
    # A character in the middle: every one of its bits counts (the last ones of a base64
    # string may be padding bits, so changing them need not change the bytes).
    middle = len(stored) // 2
    replacement = b"A" if stored[middle : middle + 1] != b"A" else b"B"
    tampered = stored[:middle] + replacement + stored[middle + 1 :]
    with pytest.raises(TokenUnreadable):
        TokenCipher(OLD).decrypt(tampered)


def test_keys_are_derived_per_secret_and_the_cipher_never_prints_or_pickles_them() -> None:
    assert derive_key(OLD) == derive_key(Secret(OLD.reveal()))
    assert derive_key(OLD) != derive_key(NEW)
    cipher = TokenCipher(NEW, [OLD])
    assert repr(cipher) == str(cipher) == "<TokenCipher keys=2>"
    assert derive_key(NEW).decode() not in repr(cipher)
    with pytest.raises(TypeError):
        pickle.dumps(cipher)


def test_an_empty_secret_cannot_make_a_cipher() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        TokenCipher(Secret(""))


def test_dsn_helpers_respell_the_scheme_and_swap_database_or_user() -> None:
    dsn = "postgres://app:pw@db.example:5433/touchpoints?sslmode=require"
    assert (
        yoyo_url(dsn) == "postgresql+psycopg://app:pw@db.example:5433/touchpoints?sslmode=require"
    )
    assert (
        libpq_url(yoyo_url(dsn))
        == "postgresql://app:pw@db.example:5433/touchpoints?sslmode=require"
    )
    assert (
        with_database(dsn, "other") == "postgresql://app:pw@db.example:5433/other?sslmode=require"
    )
    assert with_user(dsn, "reader", "p@ss") == (
        "postgresql://reader:p%40ss@db.example:5433/touchpoints?sslmode=require"
    )
    socket = "postgresql://postgres@/touchpoints?host=/tmp/pg&port=5432"
    assert with_database(socket, "t1") == "postgresql://postgres@/t1?host=/tmp/pg&port=5432"
    with pytest.raises(ValueError, match="postgresql"):
        yoyo_url("mysql://x/y")
