"""The key epoch: a random number in the shared cache, replaced by every change that can make an
API key unusable or different (see verify_cache for how entries use it).

Reading it costs a cache round trip, more than the rest of a warm authentication. On Redis each
process therefore holds a copy that Redis *pushes* to it, so a warm request asks nobody:

- A watcher thread per process subscribes to the epoch's channel, reads the epoch, and from then
  on applies every new epoch published there and acknowledges it.
- ``keys_changed()`` sets the epoch and publishes it in one transaction, then waits for the
  acknowledgement of every subscriber Redis delivered it to (at most ``ACK_WAIT_SECONDS``).
- A watcher's copy is trusted only for ``TRUST_SECONDS`` after the sending of the last PING whose
  PONG it read. Redis answers a PING after every message published before it, so a copy that is
  trusted now has applied every epoch published before that PING was sent; a watcher that missed
  one (disconnected, stalled) has stopped being trusted before the writer gives up waiting for it,
  since ``TRUST_SECONDS`` < ``ACK_WAIT_SECONDS``.

So when ``keys_changed()`` returns, every process either holds the new epoch or reads it from
Redis: a revoked key fails on its very next request in every worker. Without Redis (the database
cache of the embedded default) or with no trusted copy, the epoch is read from the cache on every
request, as it always was; with the cache unreachable it is unknown (None) and rows are read.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time

import redis
from django.core.cache import cache, caches
from django.db import transaction
from django_redis import get_redis_connection
from django_redis.cache import RedisCache

logger = logging.getLogger(__name__)

EPOCH_KEY = "apikey:epoch"
ACKS_KEY = "apikey:epoch-acks:"
TRUST_SECONDS = 1.0
PING_SECONDS = 0.25
ACK_WAIT_SECONDS = 1.5
RECONNECT_SECONDS = 1.0
WATCHER_CLIENT_NAME = "hx-epoch-watcher"


def current_epoch() -> int | None:
    """The epoch: this process's pushed copy while it is trusted, else one cache GET; None when
    the cache is unreachable."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        pushed = _watcher(backend).trusted_epoch()
        if pushed is not None:
            return pushed
    try:
        epoch = _read(backend)
        if epoch is None:  # first use, or the cache was emptied: start one (the first writer wins)
            backend.add(EPOCH_KEY, secrets.randbits(62), timeout=None)
            epoch = _read(backend)
    except Exception as exc:  # any backend error: the epoch is unknown, rows are read
        logger.warning("api key verify cache unreachable on epoch read: %s", exc.__class__.__name__)
        return None
    return epoch


def keys_changed() -> None:
    """Make every process re-read the rows of its cached keys before trusting them again.

    Now, and again when the surrounding transaction commits: a worker that re-read a row in
    between still saw the old one.
    """
    _new_epoch()
    transaction.on_commit(_new_epoch)


def _read(backend) -> int | None:
    if isinstance(backend, RedisCache):
        # The raw client: Django's and django-redis's layers cost more than the round trip itself.
        # django-redis stores integers as plain digits, so both read the same value.
        raw = get_redis_connection("default").get(backend.make_key(EPOCH_KEY))
        return None if raw is None else int(raw)
    return backend.get(EPOCH_KEY)


def _new_epoch() -> None:
    epoch = secrets.randbits(62)
    backend = caches["default"]
    try:
        if not isinstance(backend, RedisCache):
            cache.set(EPOCH_KEY, epoch, timeout=None)
            return
        client = get_redis_connection("default")
        pipeline = client.pipeline(transaction=True)
        pipeline.set(backend.make_key(EPOCH_KEY), epoch)
        pipeline.publish(_channel(backend), epoch)
        _, receivers = pipeline.execute()
        _await_acknowledgements(client, backend.make_key(f"{ACKS_KEY}{epoch}"), receivers)
    except Exception as exc:
        # Workers that cannot read the epoch either read rows; one that still can keeps trusting
        # its entries until they lapse (API_KEY_CACHE_SECONDS).
        logger.error("api key verify cache unreachable while moving the epoch: %s", exc.__class__.__name__)


def _await_acknowledgements(client: redis.Redis, acks_key: str, receivers: int) -> None:
    """Wait until ``receivers`` watchers acknowledged, or until every one that did not has stopped
    trusting its copy (``ACK_WAIT_SECONDS`` > ``TRUST_SECONDS``)."""
    deadline = time.monotonic() + ACK_WAIT_SECONDS
    acknowledged = 0
    while acknowledged < receivers:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            logger.warning("api key epoch: %d of %d watchers did not acknowledge", receivers - acknowledged, receivers)
            break
        # Short blocking pops (the pool's socket timeout is 0.5 s), never 0 (which waits forever).
        if client.blpop([acks_key], timeout=max(0.01, min(remaining, 0.2))) is not None:
            acknowledged += 1
    client.delete(acks_key)


def _channel(backend: RedisCache) -> str:
    """The epoch's channel: channels are not per database, so the database is part of the name."""
    database = get_redis_connection("default").connection_pool.connection_kwargs.get("db", 0)
    return f"{backend.make_key(EPOCH_KEY)}@{database}"


class EpochWatcher(threading.Thread):
    """Holds the epoch Redis pushes to this process (see the module's docstring)."""

    def __init__(self, backend: RedisCache) -> None:
        super().__init__(name="apikey-epoch-watcher", daemon=True)
        pool = get_redis_connection("default").connection_pool
        # Connections of its own, named so an operator can tell them in CLIENT LIST: the request
        # threads' pool is not drawn on.
        kwargs = {**pool.connection_kwargs, "client_name": f"{WATCHER_CLIENT_NAME}-{os.getpid()}"}
        self.client = redis.Redis(
            connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
        )
        self.channel = _channel(backend)
        self.make_key = backend.make_key
        self.pid = os.getpid()
        self.epoch: int | None = None
        self.trusted_until = 0.0
        self.in_outage = False

    def trusted_epoch(self) -> int | None:
        epoch, trusted_until = self.epoch, self.trusted_until
        return epoch if time.monotonic() < trusted_until else None

    def run(self) -> None:
        while True:
            try:
                self._watch()
                reason = "no answer"
            except Exception as exc:
                reason = exc.__class__.__name__
            self.trusted_until = 0.0
            if not self.in_outage:  # once per outage, not once a second
                logger.warning("api key epoch watcher lost Redis (%s): the epoch is read per request", reason)
                self.in_outage = True
            time.sleep(RECONNECT_SECONDS)

    def _watch(self) -> None:
        """Subscribe, read the epoch, then apply what is published and ping; returns when Redis
        stops answering."""
        pubsub = _CountedPubSub(self.client.connection_pool)
        try:
            subscribed_at = time.monotonic()
            pubsub.subscribe(self.channel)
            if not self._subscribed(pubsub):
                return
            epoch_key = self.make_key(EPOCH_KEY)
            self.client.set(epoch_key, secrets.randbits(62), nx=True)  # first use: start one
            self.epoch = int(self.client.get(epoch_key))
            self.trusted_until = subscribed_at + TRUST_SECONDS
            if self.in_outage:
                logger.info("api key epoch watcher back: the epoch is pushed again")
                self.in_outage = False
            pings: dict[str, float] = {}  # token → when sent, for PINGs not answered yet
            last_ping = 0.0
            while True:
                now = time.monotonic()
                if pings and now - min(pings.values()) > TRUST_SECONDS:
                    return  # unanswered for longer than a copy is trusted: Redis or the link is gone
                if now - last_ping >= PING_SECONDS:
                    token = secrets.token_hex(4)
                    pings[token] = last_ping = now
                    pubsub.ping(token)
                message = pubsub.get_message(timeout=PING_SECONDS)
                if pubsub.reconnections:
                    return  # reconnected by redis-py: what was published meanwhile never came
                if message is None:
                    continue
                if message["type"] == "message":
                    self.epoch = int(message["data"])
                    acks_key = self.make_key(f"{ACKS_KEY}{self.epoch}")
                    self.client.pipeline(transaction=False).rpush(acks_key, 1).expire(acks_key, 60).execute()
                elif message["type"] == "pong" and message["data"].decode() in pings:
                    sent_at = pings[message["data"].decode()]
                    self.trusted_until = sent_at + TRUST_SECONDS
                    pings = {token: at for token, at in pings.items() if at > sent_at}
        finally:
            pubsub.close()

    @staticmethod
    def _subscribed(pubsub: redis.client.PubSub) -> bool:
        deadline = time.monotonic() + TRUST_SECONDS
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=PING_SECONDS)
            if message is not None and message["type"] == "subscribe":
                return True
        return False


class _CountedPubSub(redis.client.PubSub):
    """A subscription that counts its reconnections: redis-py reconnects and re-subscribes on its
    own after an error (``on_connect`` runs then, not on the first connection), and a copy must not
    be trusted across a gap in which nothing was heard."""

    reconnections = 0

    def on_connect(self, connection: redis.Connection) -> None:
        self.reconnections += 1
        super().on_connect(connection)


_watchers: dict[redis.ConnectionPool, EpochWatcher] = {}
_watchers_lock = threading.Lock()


def _watcher(backend: RedisCache) -> EpochWatcher:
    """This process's watcher of the backend's Redis, started on first use (after a fork too)."""
    location = get_redis_connection("default").connection_pool  # one per Redis server and database
    watcher = _watchers.get(location)
    if watcher is not None and watcher.pid == os.getpid():
        return watcher
    with _watchers_lock:
        watcher = _watchers.get(location)
        if watcher is None or watcher.pid != os.getpid():
            watcher = _watchers[location] = EpochWatcher(backend)
            watcher.start()
    return watcher
