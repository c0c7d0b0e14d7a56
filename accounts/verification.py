"""Deciding whether a presented key is a live key: verify cache first, Argon2 against the database second."""

from __future__ import annotations

import time

from django.conf import settings

from accounts import keys, services, verify_cache
from accounts.keys import ParsedKey
from accounts.models import ApiKey


def _key_row(**lookup: object) -> ApiKey | None:
    """The key with its owner in one query. ``get`` rather than ``first``: no ORDER BY on the hot path."""
    try:
        return ApiKey.objects.select_related("owner").get(**lookup)
    except ApiKey.DoesNotExist:
        return None


class KeyRejected(Exception):
    """A presented key that does not authenticate. ``api_key`` is set only once the secret was proven."""

    def __init__(self, reason: str, message: str, *, prefix: str = "", api_key: ApiKey | None = None):
        super().__init__(message)
        self.reason, self.message, self.prefix, self.api_key = reason, message, prefix, api_key


def from_cache(parsed: ParsedKey, *, digest: str, epoch: int | None) -> verify_cache.Verified | None:
    """The usable key when this exact key was verified recently, else None (Argon2 must decide).

    No query while ``epoch`` (read by the caller before anything else) is the one the entry was
    read in; otherwise the row is read again and checked. Raises KeyRejected for a revoked,
    expired or ownerless key.
    """
    entry = verify_cache.local_lookup(digest)
    if entry is not None and epoch is not None and entry.epoch == epoch:
        ensure_usable(entry.api_key)  # expiry, against the cached expires_at
        return entry
    if entry is not None:
        key_id, until = entry.api_key.pk, entry.until
    else:
        shared = verify_cache.lookup(digest) if epoch is not None else None  # no epoch: the cache is down
        if shared is None:
            return None
        key_id, until = shared
    api_key = _key_row(pk=key_id, prefix=parsed.prefix)
    if api_key is None:
        return None
    ensure_usable(api_key)
    return verify_cache.keep(digest, api_key=api_key, epoch=epoch, until=until)


def from_database(parsed: ParsedKey, *, digest: str, epoch: int | None) -> verify_cache.Verified:
    """Find the row by prefix and verify the whole key with Argon2, then cache it; raises KeyRejected."""
    api_key = _key_row(prefix=parsed.prefix)
    if api_key is None:
        keys.burn_verification(parsed.plaintext)  # same time as a known prefix: no prefix oracle
        raise KeyRejected("unknown_key", "The API key is not valid.", prefix=parsed.prefix)
    if not keys.verify_key(api_key.hashed_key, parsed.plaintext):
        raise KeyRejected("wrong_secret", "The API key is not valid.", prefix=parsed.prefix)
    services.api_key_upgrade_hash(api_key=api_key, plaintext=parsed.plaintext)
    ensure_usable(api_key)
    until = time.time() + settings.API_KEY_CACHE_SECONDS
    verify_cache.remember(digest, key_id=api_key.pk, until=until)
    return verify_cache.keep(digest, api_key=api_key, epoch=epoch, until=until)


def ensure_usable(api_key: ApiKey) -> None:
    """Refuse revoked and expired keys and keys of inactive owners, read from the row just loaded."""
    if api_key.is_revoked:
        raise KeyRejected("revoked", "This API key has been revoked.", prefix=api_key.prefix, api_key=api_key)
    if api_key.is_expired:
        raise KeyRejected("expired", "This API key has expired.", prefix=api_key.prefix, api_key=api_key)
    if not api_key.owner.is_active:
        raise KeyRejected(
            "owner_inactive", "The owner of this API key is inactive.", prefix=api_key.prefix, api_key=api_key
        )
