"""Per-API-key rate limits: requests and request-body bytes per sliding hour (README "Rate limits").

Each key has two sliding logs: one entry per admitted request, one ``(time, cost)`` entry per
admitted body. A request is admitted when both fit; refused requests are not counted, so a client
that waits ``Retry-After`` is served. With Redis, one Lua script expires, sums, checks and
records both logs atomically in one round trip (sorted sets, a running byte total); 200
concurrent requests against a limit of 100 let exactly 100 through. Without Redis (the embedded
default) the cache is a database table every worker shares, and the same algorithm runs in a
transaction that excludes every other process: exact across workers too.

How it is wired:

- ``ApiKeyRateThrottle`` (in ``REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]``) runs after
  authentication and permissions; requests without an API key are not counted. The byte cost is
  ``Content-Length``, known before the body is read. A body larger than the key's whole hourly
  budget is a 413 ``body_too_large`` (retrying cannot help), otherwise over a limit is a 429.
- The decision is stored on the Django request; ``RateLimitHeadersMiddleware`` writes the
  ``RateLimit-*`` and ``Retry-After`` headers on every answer that has one, 2xx or not, so views
  need no change.
- A view that learns the real body size calls ``ratelimit_record_received_bytes``.
- Redis unreachable: fail open (served, no headers), one warning per minute.
- Reads (GET, HEAD, OPTIONS) have a budget of their own, ``RATELIMIT_READ_REQUESTS_PER_HOUR`` per
  key: the same limiter over logs of their own (``READS``), so paging through a year of samples
  cannot use up the phone's uploads, nor uploads the reads.
- Failed authentications per client address (``AUTH_FAILURES_PER_IP``) are counted here too, in
  fixed windows, with a per-process fallback while Redis is unreachable (``failed_auth_take``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Protocol

from django.conf import settings
from django.core.cache import BaseCache, cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router, transaction
from django.http import HttpRequest, HttpResponse
from django_redis import get_redis_connection
from django_redis.cache import RedisCache
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import NoScriptError, RedisError
from rest_framework.throttling import BaseThrottle

from accounts.instrumentation import record_ratelimit_rejection
from accounts.models import ApiKey
from audit.models import AuditEvent
from audit.services import record_event
from healthexport.lib.errors import BodyTooLarge, RateLimited

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 3600
REQUESTS = "requests"
BYTES = "bytes"
DECISION_ATTR = "ratelimit_decision"
FAIL_OPEN_WARNING_SECONDS = 60
# The budgets a key's requests are counted in: uploads and deletes, and reads.
UPLOADS = "uploads"
READS = "reads"
READ_METHODS = ("GET", "HEAD", "OPTIONS")
CACHE_ERRORS = (RedisError, ConnectionInterrupted, OSError)


@dataclass(frozen=True)
class Limits:
    requests: int
    bytes: int


def effective_limits(api_key: ApiKey) -> Limits:
    """The key's own limits where set (admin override), else the RATELIMIT_*_PER_HOUR defaults."""
    requests = api_key.ratelimit_requests_per_hour
    body_bytes = api_key.ratelimit_bytes_per_hour
    return Limits(
        requests=settings.RATELIMIT_REQUESTS_PER_HOUR if requests is None else requests,
        bytes=settings.RATELIMIT_BYTES_PER_HOUR if body_bytes is None else body_bytes,
    )


def read_limits(api_key: ApiKey) -> Limits:
    """The reads budget: RATELIMIT_READ_REQUESTS_PER_HOUR requests, and the key's byte limit for any body."""
    return Limits(requests=settings.RATELIMIT_READ_REQUESTS_PER_HOUR, bytes=effective_limits(api_key).bytes)


def _window_id(api_key: ApiKey, budget: str) -> int | str:
    """Where a budget's logs live: the key's id for uploads (as always), ``<id>:reads`` for reads."""
    return api_key.pk if budget == UPLOADS else f"{api_key.pk}:{budget}"


@dataclass(frozen=True)
class Usage:
    """What a window holds after one check (this request included when admitted); times in whole seconds."""

    admitted: bool
    requests: int
    bytes: int
    requests_wait: int  # until one more request fits; 0 when it fits now
    bytes_wait: int  # until this request's bytes fit; 0 when they fit now
    requests_reset: int  # until the window holds no request
    bytes_reset: int  # until the window holds no byte


@dataclass(frozen=True)
class Decision:
    key_id: int | str  # the budget's window (``_window_id``)
    limits: Limits
    usage: Usage
    token: str
    cost: int
    at: float

    @property
    def refused_by(self) -> str | None:
        if self.usage.admitted:
            return None
        return REQUESTS if self.usage.requests_wait else BYTES

    @property
    def retry_after(self) -> int:
        return max(1, self.usage.requests_wait, self.usage.bytes_wait)

    def headers(self) -> dict[str, str]:
        """``RateLimit-Limit/Remaining/Reset`` describe the binding limit (the refusing one, else the
        one with the smaller share left); the IETF draft's ``RateLimit-Policy``/``RateLimit`` list both."""
        limits, usage = self.limits, self.usage
        remaining = {
            REQUESTS: max(0, limits.requests - usage.requests),
            BYTES: max(0, limits.bytes - usage.bytes),
        }
        quota = {REQUESTS: limits.requests, BYTES: limits.bytes}
        reset = {REQUESTS: usage.requests_reset, BYTES: usage.bytes_reset}
        binding = self.refused_by or min((REQUESTS, BYTES), key=lambda name: remaining[name] / max(1, quota[name]))
        headers = {
            "RateLimit-Limit": str(quota[binding]),
            "RateLimit-Remaining": str(remaining[binding]),
            "RateLimit-Reset": str(reset[binding]),
            "RateLimit-Policy": (
                f'"{REQUESTS}";q={limits.requests};w={WINDOW_SECONDS}, '
                f'"{BYTES}";q={limits.bytes};w={WINDOW_SECONDS};qu="content-bytes"'
            ),
            "RateLimit": (
                f'"{REQUESTS}";r={remaining[REQUESTS]};t={reset[REQUESTS]}, '
                f'"{BYTES}";r={remaining[BYTES]};t={reset[BYTES]}'
            ),
        }
        if not usage.admitted:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class Window(Protocol):
    def hit(self, key_id: int | str, *, limits: Limits, cost: int, token: str, now: float) -> Usage: ...

    def correct(self, key_id: int | str, *, token: str, old_cost: int, new_cost: int, at: float) -> None: ...

    def increment(self, name: str, delta: int, *, timeout: int) -> int:
        """Add ``delta`` to a plain counter that lives ``timeout`` seconds from its first use; the new count."""
        ...


# --- Redis: one atomic round trip -------------------------------------------------------------

# KEYS: request log, byte log, byte total. ARGV: now, window, request limit, byte limit, cost, token.
# Byte-log members are "<token>:<cost>"; the total saves summing the log on every request.
HIT_SCRIPT = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local request_limit, byte_limit, cost = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local cutoff = now - window
local function cost_of(member) return tonumber(string.match(member, ':(%d+)$')) end
local function wait_until(at) return math.max(1, math.ceil(at + window - now)) end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
local total = redis.call('GET', KEYS[3])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', cutoff)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', cutoff)
if total then
  total = tonumber(total)
  for _, member in ipairs(expired) do total = total - cost_of(member) end
else
  total = 0
  for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do total = total + cost_of(member) end
end
local count = redis.call('ZCARD', KEYS[1])

local request_wait, byte_wait = 0, 0
if count + 1 > request_limit then
  request_wait = window
  local oldest = redis.call('ZRANGE', KEYS[1], count - request_limit, count - request_limit, 'WITHSCORES')
  if oldest[2] then request_wait = wait_until(tonumber(oldest[2])) end
end
if total + cost > byte_limit then
  local needed, freed = total + cost - byte_limit, 0
  byte_wait = window
  local entries = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    freed = freed + cost_of(entries[i])
    if freed >= needed then byte_wait = wait_until(tonumber(entries[i + 1])) break end
  end
end

local admitted = 0
if request_wait == 0 and byte_wait == 0 then
  admitted = 1
  redis.call('ZADD', KEYS[1], now, ARGV[6])
  count = count + 1
  if cost > 0 then
    redis.call('ZADD', KEYS[2], now, ARGV[6] .. ':' .. ARGV[5])
    total = total + cost
  end
end
redis.call('SET', KEYS[3], string.format('%d', total), 'EX', window)
redis.call('EXPIRE', KEYS[1], window)
redis.call('EXPIRE', KEYS[2], window)

local function reset(log)
  local newest = redis.call('ZRANGE', log, -1, -1, 'WITHSCORES')
  if newest[2] then return wait_until(tonumber(newest[2])) end
  return 0
end
return {admitted, count, total, request_wait, byte_wait, reset(KEYS[1]), reset(KEYS[2])}
"""

# KEYS: byte log, byte total. ARGV: token, old cost, new cost, time of the entry, window.
CORRECT_SCRIPT = """
local old, new = tonumber(ARGV[2]), tonumber(ARGV[3])
if old > 0 and redis.call('ZREM', KEYS[1], ARGV[1] .. ':' .. ARGV[2]) == 0 then return 0 end
if new > 0 then redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1] .. ':' .. ARGV[3]) end
redis.call('EXPIRE', KEYS[1], ARGV[5])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('INCRBY', KEYS[2], new - old) end
return 1
"""

# KEYS: counter. ARGV: delta, timeout. The expiry is set once, when the counter is created.
INCREMENT_SCRIPT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return count
"""


class RedisWindow:
    def __init__(self, client: Any, backend: BaseCache):
        self.client = client
        self.backend = backend

    def _keys(self, key_id: int | str) -> list[str]:
        # The {hash tag} keeps a key's three entries in one Redis Cluster slot, as scripts require.
        return [self.backend.make_key(f"ratelimit:{{{key_id}}}:{part}") for part in ("requests", "bytes", "total")]

    def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        sha = _SCRIPT_SHA[script]
        try:
            return self.client.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:  # first call on this Redis (or after SCRIPT FLUSH): EVAL loads it
            return self.client.eval(script, len(keys), *keys, *args)

    def hit(self, key_id: int | str, *, limits: Limits, cost: int, token: str, now: float) -> Usage:
        result = self._run(
            HIT_SCRIPT, self._keys(key_id), [repr(now), WINDOW_SECONDS, limits.requests, limits.bytes, cost, token]
        )
        admitted, *numbers = (int(value) for value in result)
        return Usage(bool(admitted), *numbers)

    def correct(self, key_id: int | str, *, token: str, old_cost: int, new_cost: int, at: float) -> None:
        self._run(CORRECT_SCRIPT, self._keys(key_id)[1:], [token, old_cost, new_cost, repr(at), WINDOW_SECONDS])

    def increment(self, name: str, delta: int, *, timeout: int) -> int:
        return int(self._run(INCREMENT_SCRIPT, [self.backend.make_key(name)], [delta, timeout]))


_SCRIPT_SHA = {
    script: hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
    for script in (HIT_SCRIPT, CORRECT_SCRIPT, INCREMENT_SCRIPT)
}


# --- The database cache (embedded default): the same algorithm in an exclusive transaction -----


def _wait_until(at: float, now: float) -> int:
    """Whole seconds (at least 1) until an entry recorded at ``at`` leaves the window."""
    return max(1, math.ceil(at + WINDOW_SECONDS - now))


def _lock_id(name: str) -> int:
    """A PostgreSQL advisory lock number (signed 64 bits) for a cache key."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class DatabaseWindow:
    """The logs are entries of the database cache, the table every worker shares. Each
    read-modify-write runs in a transaction no other process can interleave with: SQLite begins it
    IMMEDIATE (settings.py), which takes the database's write lock at once; PostgreSQL takes an
    advisory lock on the key (the entry may not exist yet, so there is no row to lock)."""

    def __init__(self, backend: DatabaseCache):
        self.backend = backend
        self.db = router.db_for_write(backend.cache_model_class)

    @contextmanager
    def _exclusive(self, name: str) -> Iterator[None]:
        with transaction.atomic(using=self.db):
            connection = connections[self.db]
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_id(name)])
            yield

    def hit(self, key_id: int | str, *, limits: Limits, cost: int, token: str, now: float) -> Usage:
        key = f"ratelimit:{key_id}:log"
        cutoff = now - WINDOW_SECONDS
        with self._exclusive(key):
            requests, entries = self.backend.get(key) or ([], [])
            requests = [at for at in requests if at > cutoff]
            entries = [entry for entry in entries if entry[0] > cutoff]
            total = sum(entry_cost for _, _, entry_cost in entries)

            requests_wait = bytes_wait = 0
            if len(requests) + 1 > limits.requests:
                index = len(requests) - limits.requests
                requests_wait = _wait_until(requests[index], now) if index >= 0 else WINDOW_SECONDS
            if total + cost > limits.bytes:
                needed, freed, bytes_wait = total + cost - limits.bytes, 0, WINDOW_SECONDS
                for at, _, entry_cost in entries:
                    freed += entry_cost
                    if freed >= needed:
                        bytes_wait = _wait_until(at, now)
                        break
            admitted = requests_wait == 0 and bytes_wait == 0
            if admitted:
                requests.append(now)
                if cost > 0:
                    entries.append((now, token, cost))
                    total += cost
            self.backend.set(key, (requests, entries), timeout=WINDOW_SECONDS)
        return Usage(
            admitted=admitted,
            requests=len(requests),
            bytes=total,
            requests_wait=requests_wait,
            bytes_wait=bytes_wait,
            requests_reset=_wait_until(requests[-1], now) if requests else 0,
            bytes_reset=_wait_until(entries[-1][0], now) if entries else 0,
        )

    def correct(self, key_id: int | str, *, token: str, old_cost: int, new_cost: int, at: float) -> None:
        key = f"ratelimit:{key_id}:log"
        with self._exclusive(key):
            stored = self.backend.get(key)
            if stored is None:
                return
            requests, entries = stored
            entries = [entry for entry in entries if entry[1] != token]
            if new_cost > 0:
                entries.append((at, token, new_cost))
                entries.sort()
            self.backend.set(key, (requests, entries), timeout=WINDOW_SECONDS)

    def increment(self, name: str, delta: int, *, timeout: int) -> int:
        with self._exclusive(name):
            count = (self.backend.get(name) or 0) + delta
            self.backend.set(name, count, timeout=timeout)
        return count


def window() -> Window:
    """The limiter of the configured default cache (resolved per call: tests swap CACHES)."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return RedisWindow(get_redis_connection("default"), backend)
    if isinstance(backend, DatabaseCache):
        return DatabaseWindow(backend)
    raise ImproperlyConfigured("Rate limits need Redis or the database cache (CACHES in settings.py).")


# --- Failing open -----------------------------------------------------------------------------

_warning_lock = threading.Lock()
_last_warning: dict[str, float] = {}


def _warn_once_a_minute(message: str, exc: Exception) -> None:
    """One warning per message per minute per process: an outage must not flood the logs."""
    with _warning_lock:
        now = time.monotonic()
        if now - _last_warning.get(message, float("-inf")) < FAIL_OPEN_WARNING_SECONDS:
            return
        _last_warning[message] = now
    logger.warning("%s: %s", message, exc.__class__.__name__)


def _warn_fail_open(exc: Exception) -> None:
    _warn_once_a_minute("rate limiter unavailable, requests are served unlimited", exc)


# --- The checks ---------------------------------------------------------------------------------


def declared_body_bytes(request: HttpRequest) -> int:
    """The body size announced by ``Content-Length`` (0 when absent or malformed), before reading it."""
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def _django_request(request: Any) -> HttpRequest:
    return getattr(request, "_request", request)  # a DRF Request wraps the Django one


def ratelimit_check(*, request: HttpRequest, api_key: ApiKey, cost: int, budget: str = UPLOADS) -> Decision | None:
    """Count one request of ``cost`` body bytes for ``api_key`` in ``budget``, or refuse it.

    Raises ``BodyTooLarge`` for a body over the key's whole hourly byte budget and ``RateLimited``
    when over a limit now. Returns the decision (also stored on the request for the headers), or
    None when the limiter is unreachable and the request is let through.
    """
    limits = read_limits(api_key) if budget == READS else effective_limits(api_key)
    if cost > limits.bytes:
        raise _over_whole_budget(cost, limits)
    now = time.time()
    token = secrets.token_hex(8)
    window_id = _window_id(api_key, budget)
    try:
        usage = window().hit(window_id, limits=limits, cost=cost, token=token, now=now)
    except CACHE_ERRORS as exc:
        _warn_fail_open(exc)
        return None
    decision = Decision(key_id=window_id, limits=limits, usage=usage, token=token, cost=cost, at=now)
    setattr(request, DECISION_ATTR, decision)
    if usage.admitted:
        return decision

    limit = decision.refused_by
    record_ratelimit_rejection(limit)
    _audit_exceeded_once(request=request, api_key=api_key, decision=decision, budget=budget)
    reads = " read" if budget == READS else ""
    quota = f"{limits.requests}{reads} requests" if limit == REQUESTS else f"{limits.bytes} body bytes"
    error = RateLimited(
        f"Rate limit exceeded for this API key: {quota} per hour. Retry after {decision.retry_after} seconds."
    )
    error.wait = decision.retry_after  # DRF's handler sets Retry-After from it, even without our middleware
    raise error


def _over_whole_budget(size: int, limits: Limits) -> BodyTooLarge:
    """A 413, not a 429: waiting cannot make this body fit, so the app must not retry it forever."""
    return BodyTooLarge(
        f"The body is {size} bytes, more than this API key's whole hourly budget of {limits.bytes} bytes "
        f"(RATELIMIT_BYTES_PER_HOUR). Send smaller exports, or ask an administrator to raise "
        f"“Ratelimit bytes per hour” on this key in the admin (Accounts → API keys)."
    )


def _audit_exceeded_once(*, request: HttpRequest, api_key: ApiKey, decision: Decision, budget: str) -> None:
    """Audit ``ratelimit.exceeded`` at most once per key and budget per window: a refused flood
    cannot flood the table."""
    if not cache.add(f"ratelimit:{decision.key_id}:audited", True, timeout=WINDOW_SECONDS):
        return
    record_event(
        action="ratelimit.exceeded",
        request=request,
        actor=api_key.owner,
        api_key=api_key,
        target=api_key,
        outcome=AuditEvent.Outcome.DENIED,
        metadata={
            "limit": decision.refused_by,
            "budget": budget,
            "requests_per_hour": decision.limits.requests,
            "bytes_per_hour": decision.limits.bytes,
            "retry_after": decision.retry_after,
        },
    )


def ratelimit_record_received_bytes(request: Any, received: int) -> None:
    """Correct the byte log when the body read differs from ``Content-Length`` (for the ingest view).

    A body over the key's whole hourly budget is refused with 413 like a declared one, and (like
    a declared one) not charged.
    """
    request = _django_request(request)
    decision: Decision | None = getattr(request, DECISION_ATTR, None)
    if decision is None or not decision.usage.admitted or received == decision.cost:
        return
    too_large = received > decision.limits.bytes
    charged = 0 if too_large else received
    try:
        window().correct(
            decision.key_id, token=decision.token, old_cost=decision.cost, new_cost=charged, at=decision.at
        )
    except CACHE_ERRORS as exc:
        _warn_fail_open(exc)
    else:
        usage = replace(decision.usage, bytes=decision.usage.bytes - decision.cost + charged)
        setattr(request, DECISION_ATTR, replace(decision, usage=usage, cost=charged))
    if too_large:
        raise _over_whole_budget(received, decision.limits)


class ApiKeyRateThrottle(BaseThrottle):
    """DRF throttle: counts every request authenticated by an API key; others pass uncounted."""

    def allow_request(self, request: Any, view: Any) -> bool:
        api_key = request.auth
        if isinstance(api_key, ApiKey):
            http_request = _django_request(request)
            budget = READS if http_request.method in READ_METHODS else UPLOADS
            cost = declared_body_bytes(http_request)
            ratelimit_check(request=http_request, api_key=api_key, cost=cost, budget=budget)
        return True


# --- Failed authentications per client address ----------------------------------------------------

RATE_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
LOCAL_COUNTERS_MAX = 10_000
LOCAL_COUNTING_WARNING = "failed-authentication throttle counts per process, the cache is unavailable"


def parse_rate(rate: str) -> tuple[int, int]:
    """``20/m`` or ``100/5m`` (AUTH_FAILURES_PER_IP) as (limit, window in seconds)."""
    limit, _, period = rate.partition("/")
    return int(limit), int(period[:-1] or 1) * RATE_UNIT_SECONDS[period[-1]]


class LocalCounters:
    """Counters of this process alone: the failed-authentication throttle's fallback while the shared
    cache is unreachable, so an outage does not turn every bad key into a free Argon2 check."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}  # name -> (count, expires at)

    def increment(self, name: str, delta: int, *, timeout: int) -> int:
        now = time.time()
        with self._lock:
            if len(self._counts) >= LOCAL_COUNTERS_MAX:
                self._counts = {key: entry for key, entry in self._counts.items() if entry[1] > now}
            count, expires = self._counts.get(name, (0, now + timeout))
            if expires <= now:
                count, expires = 0, now + timeout
            self._counts[name] = (count + delta, expires)
        return count + delta


_local_counters = LocalCounters()


@dataclass(frozen=True)
class FailedAuthSlot:
    """One failed authentication counted for an address in the current fixed window.

    It is taken *before* a presented key is verified (and given back when the key verifies), so
    concurrent bad keys cannot all pass the check before any of them is counted: at most ``limit``
    reach Argon2 per window.
    """

    name: str
    count: int
    limit: int
    window: int
    reset: int  # seconds until the window ends
    counters: Window | LocalCounters

    @property
    def over_limit(self) -> bool:
        return self.count > self.limit


def failed_auth_take(ip: str) -> FailedAuthSlot:
    """Count one failed authentication of ``ip`` (atomically, in the shared cache; in this process
    when that is unreachable). The caller refuses the request when the slot is over the limit."""
    limit, seconds = parse_rate(settings.AUTH_FAILURES_PER_IP)
    now = time.time()
    start = int(now // seconds) * seconds
    name = f"authfail:{ip}:{start}"
    counters: Window | LocalCounters = _local_counters
    try:
        counters = window()
        count = counters.increment(name, 1, timeout=seconds)
    except CACHE_ERRORS as exc:
        _warn_once_a_minute(LOCAL_COUNTING_WARNING, exc)
        counters = _local_counters
        count = counters.increment(name, 1, timeout=seconds)
    reset = max(1, math.ceil(start + seconds - now))
    return FailedAuthSlot(name=name, count=count, limit=limit, window=seconds, reset=reset, counters=counters)


def failed_auth_give_back(slot: FailedAuthSlot) -> None:
    """Uncount the slot of a key that verified: only failures count."""
    try:
        slot.counters.increment(slot.name, -1, timeout=slot.window)
    except CACHE_ERRORS as exc:
        _warn_once_a_minute(LOCAL_COUNTING_WARNING, exc)


@dataclass(frozen=True)
class FailedAuthThrottle:
    """The per-IP throttle on failed authentications, in the same headers as the per-key limits."""

    limit: int
    window: int
    reset: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(self.reset),
            "RateLimit-Policy": f'"failed-auth";q={self.limit};w={self.window}',
            "RateLimit": f'"failed-auth";r=0;t={self.reset}',
        }


def ratelimit_note_failed_auth_throttle(request: Any, *, limit: int, window: int, reset: int) -> None:
    """Make the 429 of the failed-authentication throttle carry the rate-limit headers too."""
    setattr(_django_request(request), DECISION_ATTR, FailedAuthThrottle(limit=limit, window=window, reset=reset))


class RateLimitHeadersMiddleware:
    """Writes the rate-limit headers of the request's decision on its answer (2xx, 429, any)."""

    def __init__(self, get_response: Any):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        decision: Decision | FailedAuthThrottle | None = getattr(request, DECISION_ATTR, None)
        if decision is not None:
            for name, value in decision.headers().items():
                response[name] = value
        return response
