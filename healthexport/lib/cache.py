"""Cache calls for data the service can do without (summaries, gauges): an unreachable cache
degrades them to a miss, it never fails the request that used them."""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache

logger = logging.getLogger(__name__)


def cache_get(key: str) -> Any:
    """The cached value, or None on a miss or when the cache is unreachable."""
    try:
        return cache.get(key)
    except Exception as exc:  # any backend error is a miss
        logger.warning("cache unreachable on get: %s", exc.__class__.__name__)
        return None


def cache_set(key: str, value: Any, timeout: int) -> None:
    try:
        cache.set(key, value, timeout)
    except Exception as exc:
        logger.warning("cache unreachable on set: %s", exc.__class__.__name__)


def cache_delete(key: str) -> None:
    try:
        cache.delete(key)
    except Exception as exc:
        logger.warning("cache unreachable on delete: %s", exc.__class__.__name__)
