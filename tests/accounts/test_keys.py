"""Key verification: libsodium checks the contract's hashes, argon2-cffi any other Argon2 hash."""

from __future__ import annotations

import os

import pytest
from argon2 import Type
from argon2.low_level import hash_secret

from accounts import keys


@pytest.fixture(scope="module")
def plaintext() -> str:
    return keys.new_key(keys.new_prefix())


@pytest.fixture(scope="module")
def contract_hash(plaintext) -> str:
    return keys.hash_key(plaintext)


def one_character_changed(text: str) -> str:
    return text[:-1] + ("A" if text[-1] != "A" else "B")


@pytest.mark.embedded
def test_a_key_verifies_against_the_hash_argon2_cffi_wrote_and_a_changed_key_does_not(plaintext, contract_hash):
    assert keys._LIBSODIUM_HASH.match(contract_hash)
    assert keys.verify_key(contract_hash, plaintext)
    assert not keys.verify_key(contract_hash, one_character_changed(plaintext))
    assert not keys.verify_key(contract_hash, "")


@pytest.mark.embedded
@pytest.mark.parametrize(("version", "lanes"), [(19, 2), (16, 1)], ids=["two lanes", "Argon2 version 1.0"])
def test_a_hash_libsodium_cannot_read_is_still_verified(plaintext, version, lanes):
    hashed = hash_secret(
        plaintext.encode(),
        os.urandom(16),
        time_cost=1,
        memory_cost=8192,
        parallelism=lanes,
        hash_len=32,
        type=Type.ID,
        version=version,
    ).decode()

    assert not keys._LIBSODIUM_HASH.match(hashed)
    assert keys.verify_key(hashed, plaintext)
    assert not keys.verify_key(hashed, one_character_changed(plaintext))


@pytest.mark.embedded
@pytest.mark.parametrize(
    "corrupt",
    [
        "",
        "$argon2id$v=19$m=19456,t=2,p=1$",
        "$argon2id$v=19$m=19456,t=2,p=1$not-base64$at-all",
        "truncated",
        "padded",
        "memory out of range",
    ],
)
def test_a_corrupt_stored_hash_is_a_mismatch_never_an_error(plaintext, contract_hash, corrupt):
    salt_and_digest = contract_hash.split("$", 4)[-1]
    corrupt = {
        "truncated": contract_hash[:-4],
        "padded": contract_hash + "A" * 200,
        "memory out of range": f"$argon2id$v=19$m=99999999999,t=2,p=1${salt_and_digest}",
    }.get(corrupt, corrupt)
    assert keys.verify_key(corrupt, plaintext) is False
