"""The verify cache: which presented keys were verified recently, so a warm request skips Argon2
and the key's row.

Both tiers are keyed by the SHA-256 of the presented key, never the key, and hold an entry for
API_KEY_CACHE_SECONDS after the Argon2 check:

- **In each process**: the key's row with its owner, and the *epoch* it was read in. While the
  epoch is unchanged the row is used as it is, without a query; on Redis the epoch is pushed to
  each process (``key_epoch``), so a warm authentication asks nobody. Expiry is checked against
  the cached ``expires_at`` on every request.
- **In the shared cache** (Redis, or the database cache of the embedded default): "this digest was
  verified for key id X until T", so another worker or pod skips Argon2 too; it reads the row.

The epoch (``key_epoch``) is a random number in the shared cache, replaced by every change that
can make a key unusable or different: ``keys_changed()`` (revocation calls it; so does every ORM
save of a key or a user, see ``apps.py``). A worker that finds another epoch re-reads the row before trusting its
entry, so a revoked key fails on its very next request in every worker. The epoch is read
*before* the row: a change landing in between is seen on the next request. Writes that bypass
``Model.save()`` (``QuerySet.update``, SQL) must call ``keys_changed()`` themselves.

With the cache unreachable the epoch is unknown: entries still skip Argon2, but the row is read on
every request. Every cache error is logged and treated as a miss: the cache can only make
authentication faster, never looser.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import Model
from django.db.models.base import ModelState

from accounts import key_epoch
from accounts.models import ApiKey

logger = logging.getLogger(__name__)

ENTRY_PREFIX = "apikey:verified-until:"
# Key id → digest, so revocation can delete the entry without knowing the key.
REVERSE_PREFIX = "apikey:digest:"
LOCAL_MAX_ENTRIES = 10_000


# --- The per-process tier -------------------------------------------------------------------------


@dataclass
class Verified:
    """A key proven by Argon2 until ``until`` (time.time()), with its row as read in ``epoch``."""

    api_key: ApiKey  # owner loaded; shared by this process's threads, so requests get copies
    epoch: int | None
    until: float

    def request_copy(self) -> ApiKey:
        """A copy of the key and its owner that a request may change without touching the cache."""
        api_key = _model_copy(self.api_key)
        api_key.owner = _model_copy(self.api_key.owner)
        return api_key


def _model_copy(instance: Model) -> Model:
    """What ``copy.copy`` makes of a model instance, without the pickling protocol it goes through
    (``Model.__reduce__``): a few microseconds less on every warm request."""
    clone = object.__new__(type(instance))
    clone.__dict__.update(instance.__dict__)
    clone._state = state = ModelState()
    state.db, state.adding = instance._state.db, instance._state.adding
    state.fields_cache = dict(instance._state.fields_cache)
    return clone


_local: dict[str, Verified] = {}
_local_lock = threading.Lock()
# Digests being checked with Argon2 right now in this process, and the Event set when done.
_checking: dict[str, threading.Event] = {}


def local_lookup(digest: str) -> Verified | None:
    """This process's entry for the digest, unless its Argon2 proof has lapsed."""
    entry = _local.get(digest)
    if entry is None or entry.until <= time.time():
        return None
    return entry


def keep(digest: str, *, api_key: ApiKey, epoch: int | None, until: float) -> Verified:
    entry = Verified(api_key=api_key, epoch=epoch, until=until)
    with _local_lock:
        if len(_local) >= LOCAL_MAX_ENTRIES and digest not in _local:
            del _local[next(iter(_local))]  # the oldest insertion
        _local[digest] = entry
    return entry


@contextmanager
def checking(digest: str) -> Iterator[threading.Event | None]:
    """One Argon2 check of a key at a time in this process.

    Yields None to the thread that should check it, and to the others the Event that thread sets
    once done (they then look the cache up again). A burst of cold requests with one new key costs
    one check per process, not one per request, and holds one failed-authentication slot.
    """
    with _local_lock:
        peer = _checking.get(digest)
        if peer is None:
            mine = _checking[digest] = threading.Event()
    if peer is not None:
        yield peer
        return
    try:
        yield None
    finally:
        with _local_lock:
            del _checking[digest]
        mine.set()


# --- The shared tier ------------------------------------------------------------------------------


def lookup(digest: str) -> tuple[int, float] | None:
    """(key id, verified until) for this digest, or None (miss, lapsed or cache unreachable)."""
    try:
        entry = cache.get(ENTRY_PREFIX + digest)
    except Exception as exc:  # any backend error: fall back to Argon2
        logger.warning("api key verify cache unreachable on read: %s", exc.__class__.__name__)
        return None
    if not entry or entry[1] <= time.time():
        return None
    return entry


def remember(digest: str, *, key_id: int, until: float) -> None:
    """Share a successful verification with the other processes until ``until``."""
    timeout = int(until - time.time())
    if timeout <= 0:
        return
    try:
        cache.set_many({ENTRY_PREFIX + digest: (key_id, until), REVERSE_PREFIX + str(key_id): digest}, timeout)
    except Exception as exc:
        logger.warning("api key verify cache unreachable on write: %s", exc.__class__.__name__)


def forget(key_id: int) -> None:
    """Drop a key's entries in this process and in the shared cache (on revocation or a refusal).

    Other processes learn of it through the epoch (``keys_changed``), not from this.
    """
    with _local_lock:
        for digest in [digest for digest, entry in _local.items() if entry.api_key.pk == key_id]:
            del _local[digest]
    try:
        digest = cache.get(REVERSE_PREFIX + str(key_id))
        keys = [REVERSE_PREFIX + str(key_id)] + ([ENTRY_PREFIX + digest] if digest else [])
        cache.delete_many(keys)
    except Exception as exc:
        logger.warning("api key verify cache unreachable on delete: %s", exc.__class__.__name__)


def changed_on_save(sender: Any, instance: Any, created: bool, update_fields: Any = None, **kwargs: Any) -> None:
    """post_save of keys and users: a saved row may be revoked, expired, deactivated or re-scoped.

    A new row is in nobody's cache, and a login only moves ``last_login``.
    """
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return
    key_epoch.keys_changed()
