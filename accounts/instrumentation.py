"""The accounts app's Prometheus series:

======================================================  ===================================
``healthexport_auth_failures_total{reason}``            ``AUTH_FAILURES`` / ``record_auth_failure``
``healthexport_ratelimit_rejections_total{limit}``      ``RATELIMIT_REJECTIONS`` / ``record_ratelimit_rejection``
``healthexport_api_key_cache_total{result}``            ``API_KEY_CACHE`` / ``record_api_key_cache``
======================================================  ===================================
"""

from __future__ import annotations

from prometheus_client import Counter

from healthexport.lib.prometheus import OTHER, bounded

AUTH_FAILURE_REASONS = ("malformed", "unknown_key", "wrong_secret", "revoked", "expired", "throttled", OTHER)
RATELIMIT_LIMITS = ("requests", "bytes")
API_KEY_CACHE_RESULTS = ("hit", "miss", "error")

AUTH_FAILURES = Counter(
    "healthexport_auth_failures_total",
    "Requests refused authentication, by reason.",
    ["reason"],
)
RATELIMIT_REJECTIONS = Counter(
    "healthexport_ratelimit_rejections_total",
    "Requests answered 429, by the limit that was exceeded.",
    ["limit"],
)
API_KEY_CACHE = Counter(
    "healthexport_api_key_cache_total",
    "API-key verification cache lookups: hit (no Argon2), miss, error (cache unreachable).",
    ["result"],
)

# Series that exist from the start at 0, so rate() and absent() work before the first event.
for _reason in AUTH_FAILURE_REASONS:
    AUTH_FAILURES.labels(_reason)
for _limit in RATELIMIT_LIMITS:
    RATELIMIT_REJECTIONS.labels(_limit)
for _result in API_KEY_CACHE_RESULTS:
    API_KEY_CACHE.labels(_result)


def record_auth_failure(reason: str) -> None:
    AUTH_FAILURES.labels(bounded(reason, AUTH_FAILURE_REASONS)).inc()


def record_ratelimit_rejection(limit: str) -> None:
    RATELIMIT_REJECTIONS.labels(bounded(limit, RATELIMIT_LIMITS)).inc()


def record_api_key_cache(result: str) -> None:
    API_KEY_CACHE.labels(bounded(result, API_KEY_CACHE_RESULTS)).inc()
