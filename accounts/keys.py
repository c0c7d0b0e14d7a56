"""The API key itself: format, generation, Argon2id hashing, and the digest the verify cache uses.

A key is ``hx_<prefix>_<secret>``: ``prefix`` is 8 lowercase alphanumerics (stored, indexed, shown in
the admin) and ``secret`` is 43 url-safe characters (32 random bytes). Only the prefix and an
Argon2id hash of the whole key are stored.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import string
from dataclasses import dataclass

import nacl.exceptions
import nacl.pwhash.argon2id
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from django.conf import settings

KEY_TYPE = "hx"
PREFIX_LENGTH = 8
PREFIX_ALPHABET = string.ascii_lowercase + string.digits
SECRET_BYTES = 32  # token_urlsafe(32) is 43 characters
KEY_PATTERN = re.compile(r"^hx_(?P<prefix>[a-z0-9]{8})_(?P<secret>[A-Za-z0-9_-]{43})$")
# A prefix can often be read from a malformed key (for the audit trail) even when the rest is wrong.
LOOSE_PREFIX_PATTERN = re.compile(r"^hx_(?P<prefix>[a-z0-9]{8})_")


@dataclass(frozen=True)
class ParsedKey:
    plaintext: str
    prefix: str


def new_prefix() -> str:
    return "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))


def new_key(prefix: str) -> str:
    return f"{KEY_TYPE}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"


def parse_key(presented: str) -> ParsedKey | None:
    """The key if it has the exact format, else None. Runs before any query."""
    match = KEY_PATTERN.match(presented)
    return ParsedKey(plaintext=presented, prefix=match["prefix"]) if match else None


def loose_prefix(presented: str) -> str:
    """The lookup prefix of a malformed key when one can be read, else ''."""
    match = LOOSE_PREFIX_PATTERN.match(presented)
    return match["prefix"] if match else ""


def prefix_of(text: str) -> str:
    """The lookup prefix from something an operator pasted (``hx_<prefix>…`` or the bare prefix)."""
    text = text.strip()
    return text[3 : 3 + PREFIX_LENGTH] if text.startswith(f"{KEY_TYPE}_") else text


def key_digest(plaintext: str) -> str:
    """SHA-256 hex of the presented key: the verify cache's key, so the key itself is never stored there."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


@functools.lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID)


def key_hasher() -> PasswordHasher:
    """The configured Argon2id hasher (settings.API_KEY_ARGON2: the seed system's m=19456 KiB, t=2, p=1)."""
    params = settings.API_KEY_ARGON2
    return _hasher(params["time_cost"], params["memory_cost"], params["parallelism"])


def hash_key(plaintext: str) -> str:
    return key_hasher().hash(plaintext)


# The hashes libsodium can check: Argon2id version 19 with one lane, as every key hash we write.
_LIBSODIUM_HASH = re.compile(r"\$argon2id\$v=19\$m=\d+,t=\d+,p=1\$")


def verify_key(hashed: str, plaintext: str) -> bool:
    """Argon2 verification (constant time in the secret); a corrupt stored hash is a mismatch.

    libsodium checks the hashes it can read: it picks its AVX2/AVX-512 code at run time, where
    argon2-cffi's wheels are built for SSE2 only, and so takes ~10 ms instead of ~18 ms on the
    servers' CPUs (bench/auth.py) — the cost of every key's first request and of every sync whose
    key has left the verify cache. Any other hash (more lanes, an older version) goes to argon2-cffi.
    """
    if _LIBSODIUM_HASH.match(hashed):
        try:
            return nacl.pwhash.argon2id.verify(hashed.encode(), plaintext.encode())
        except (nacl.exceptions.InvalidkeyError, nacl.exceptions.ValueError):
            return False
    try:
        return key_hasher().verify(hashed, plaintext)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    return key_hasher().check_needs_rehash(hashed)


@functools.lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_cost: int, parallelism: int) -> str:
    return _hasher(time_cost, memory_cost, parallelism).hash(new_key(new_prefix()))


def burn_verification(plaintext: str) -> None:
    """Spend one Argon2 verification on an unknown prefix, so its answer takes as long as a known one."""
    params = settings.API_KEY_ARGON2
    verify_key(_dummy_hash(params["time_cost"], params["memory_cost"], params["parallelism"]), plaintext)
