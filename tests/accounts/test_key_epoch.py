"""The epoch pushed to each process on Redis (accounts.key_epoch): writers wait for every watcher,
and a watcher that cannot hear Redis is not trusted, so requests read the epoch instead."""

from __future__ import annotations

import logging
import os
import time

import pytest
from django.core.cache import caches
from django_redis import get_redis_connection

from accounts import key_epoch

pytestmark = pytest.mark.django_db


def redis_epoch() -> int:
    return int(get_redis_connection("default").get(caches["default"].make_key(key_epoch.EPOCH_KEY)))


def until(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def watcher() -> key_epoch.EpochWatcher:
    """This process's watcher, once it holds a trusted copy."""
    key_epoch.current_epoch()
    watcher = key_epoch._watcher(caches["default"])
    assert until(lambda: watcher.trusted_epoch() is not None)
    return watcher


def test_a_trusted_copy_is_the_epoch_in_redis_and_is_what_requests_use(watcher):
    key_epoch.keys_changed()  # an earlier test may have emptied Redis: the copy outlives that
    assert watcher.trusted_epoch() == redis_epoch() == key_epoch.current_epoch()


def test_when_keys_changed_returns_every_watcher_holds_the_new_epoch(watcher):
    before = watcher.trusted_epoch()
    for _ in range(20):
        key_epoch.keys_changed()
        assert watcher.trusted_epoch() == redis_epoch()
    assert watcher.trusted_epoch() != before


def test_a_subscriber_that_never_acknowledges_holds_the_writer_back_a_bounded_time(watcher, caplog):
    silent = get_redis_connection("default").pubsub()
    silent.subscribe(watcher.channel)
    assert until(lambda: (silent.get_message(timeout=0.1) or {}).get("type") == "subscribe")
    try:
        with caplog.at_level(logging.WARNING, logger="accounts.key_epoch"):
            key_epoch.keys_changed()
    finally:
        silent.close()
    assert "1 of 2 watchers did not acknowledge" in caplog.text
    assert watcher.trusted_epoch() == redis_epoch()


def test_a_watcher_that_lost_redis_is_not_trusted_and_requests_read_the_epoch(watcher):
    client = get_redis_connection("default")
    name = f"{key_epoch.WATCHER_CLIENT_NAME}-{os.getpid()}"
    ids = [entry["id"] for entry in client.client_list() if entry["name"] == name]
    assert ids
    for client_id in ids:
        client.client_kill_filter(_id=client_id)

    assert until(lambda: watcher.trusted_epoch() is None, seconds=2 * key_epoch.TRUST_SECONDS)
    key_epoch.keys_changed()  # published while it is away: read from Redis meanwhile, fetched on return
    assert key_epoch.current_epoch() == redis_epoch()
    assert until(lambda: watcher.trusted_epoch() == redis_epoch())
