"""The verify cache: "this key digest was verified for key id X", so the hot path skips Argon2.

Entries are keyed by the SHA-256 of the presented key, never the key. A hit is only a hint: the
caller still loads the key row and checks revocation, expiry and the owner, so a revoked key fails
on the very next request even if an entry survives. Every cache error is logged and treated as a
miss (the caller then verifies with Argon2 against the database): the cache can only make
authentication faster, never looser.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger(__name__)

ENTRY_PREFIX = "apikey:verified:"
# Key id → digest, so revocation can delete the entry without knowing the key.
REVERSE_PREFIX = "apikey:digest:"


def lookup(digest: str) -> int | None:
    """The key id verified for this digest, or None (miss, stale or cache unreachable)."""
    try:
        entry = cache.get(ENTRY_PREFIX + digest)
    except Exception as exc:  # any backend error: fall back to Argon2
        logger.warning("api key verify cache unreachable on read: %s", exc.__class__.__name__)
        return None
    if not entry:
        return None
    key_id, expires_ts = entry
    if expires_ts is not None and expires_ts <= timezone.now().timestamp():
        return None
    return key_id


def remember(digest: str, *, key_id: int, expires_at: datetime | None) -> None:
    """Cache a successful verification, never for longer than the key has left to live."""
    timeout = settings.API_KEY_CACHE_SECONDS
    if expires_at is not None:
        timeout = min(timeout, int((expires_at - timezone.now()).total_seconds()))
    if timeout <= 0:
        return
    expires_ts = expires_at.timestamp() if expires_at is not None else None
    try:
        cache.set_many({ENTRY_PREFIX + digest: (key_id, expires_ts), REVERSE_PREFIX + str(key_id): digest}, timeout)
    except Exception as exc:
        logger.warning("api key verify cache unreachable on write: %s", exc.__class__.__name__)


def forget(key_id: int) -> None:
    """Drop the entry of a key (on revocation). Correctness does not depend on it: hits re-check the row."""
    try:
        digest = cache.get(REVERSE_PREFIX + str(key_id))
        keys = [REVERSE_PREFIX + str(key_id)] + ([ENTRY_PREFIX + digest] if digest else [])
        cache.delete_many(keys)
    except Exception as exc:
        logger.warning("api key verify cache unreachable on delete: %s", exc.__class__.__name__)
