"""Per-API-key rate limits (accounts.ratelimit): the limiter itself, then over HTTP on POST /v1/ingest.

Runs against real Redis (the configured cache) and, for the tests marked embedded, against the
local-memory cache too.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connections
from django.test import RequestFactory
from prometheus_client import REGISTRY

from accounts import ratelimit
from audit.models import AuditEvent
from healthexport.lib.errors import BodyTooLarge, RateLimited
from tests.ingest.helpers import fixture_bytes

pytestmark = pytest.mark.django_db

URL = "/v1/ingest"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# A closed port: a real, unreachable Redis.
DEAD_CACHE = {
    "default": {
        "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}


@pytest.fixture
def limits(settings):
    """Small defaults so tests reach them quickly."""
    settings.RATELIMIT_REQUESTS_PER_HOUR = 3
    settings.RATELIMIT_BYTES_PER_HOUR = 1000
    return settings


def check(api_key, cost: int = 0):
    return ratelimit.ratelimit_check(request=RequestFactory().post("/v1/ingest"), api_key=api_key, cost=cost)


def refusal(api_key, cost: int = 0) -> RateLimited:
    with pytest.raises(RateLimited) as caught:
        check(api_key, cost)
    return caught.value


def exceeded_events():
    return AuditEvent.objects.filter(action="ratelimit.exceeded")


def post(client, body: bytes, **headers):
    return client.generic("POST", URL, body, content_type="application/json", **headers)


# --- The limiter ------------------------------------------------------------------------------


@pytest.mark.embedded
def test_it_admits_the_request_limit_then_refuses_with_retry_after(alice_key, limits):
    api_key, _ = alice_key
    with time_machine.travel(T0, tick=False):
        remaining = [check(api_key).headers()["RateLimit-Remaining"] for _ in range(3)]
        error = refusal(api_key)

    assert remaining == ["2", "1", "0"]
    assert error.status_code == 429 and error.code == "rate_limited"
    assert error.wait == 3600
    assert "3 requests per hour" in error.message


@pytest.mark.embedded
def test_the_window_slides_instead_of_resetting_at_a_boundary(alice_key, limits):
    api_key, _ = alice_key
    with time_machine.travel(T0, tick=False) as clock:
        check(api_key)
        clock.shift(1800)
        check(api_key)
        check(api_key)
        clock.shift(1)
        assert refusal(api_key).wait == 1799  # until the first request is an hour old
        clock.shift(1798)
        refusal(api_key)
        clock.shift(1)
        check(api_key)  # exactly an hour after the first: one slot free, and only one
        assert refusal(api_key).wait == 1800  # the two half-hour-old requests leave next


@pytest.mark.embedded
def test_body_bytes_are_limited_and_retry_after_waits_until_enough_have_left(alice_key, limits):
    limits.RATELIMIT_REQUESTS_PER_HOUR = 10
    api_key, _ = alice_key
    with time_machine.travel(T0, tick=False) as clock:
        check(api_key, 300)
        clock.shift(600)
        check(api_key, 300)
        check(api_key, 0)  # a body-less request costs no bytes
        error = refusal(api_key, 600)

    assert error.wait == 3000  # the first 300 bytes leave the window then, and 600 fit again
    assert "1000 body bytes per hour" in error.message


@pytest.mark.embedded
def test_a_refused_request_is_not_counted(alice_key, limits):
    api_key, _ = alice_key
    with time_machine.travel(T0, tick=False):
        check(api_key, 900)
        refusal(api_key, 200)
        decision = check(api_key, 100)

    assert decision.usage.requests == 2 and decision.usage.bytes == 1000


@pytest.mark.embedded
def test_a_body_over_the_whole_hourly_budget_is_413_and_not_counted(alice_key, limits):
    api_key, _ = alice_key
    with pytest.raises(BodyTooLarge) as caught:
        check(api_key, 1001)

    assert caught.value.status_code == 413 and caught.value.code == "body_too_large"
    assert "1000 bytes" in caught.value.message and "admin" in caught.value.message
    assert check(api_key, 1000).usage.requests == 1


@pytest.mark.embedded
def test_a_per_key_override_replaces_the_defaults(alice_key, bob_key, limits):
    api_key, _ = alice_key
    api_key.ratelimit_requests_per_hour = 5
    api_key.ratelimit_bytes_per_hour = 5000
    api_key.save()

    for _ in range(5):
        check(api_key, 1000)
    refusal(api_key)
    assert ratelimit.effective_limits(api_key) == ratelimit.Limits(requests=5, bytes=5000)
    assert ratelimit.effective_limits(bob_key[0]) == ratelimit.Limits(requests=3, bytes=1000)
    # Keys do not share a window.
    assert check(bob_key[0]).usage.requests == 1


@pytest.mark.embedded
def test_the_received_size_corrects_the_declared_one(alice_key, limits):
    api_key, _ = alice_key
    request = RequestFactory().post(URL)
    ratelimit.ratelimit_check(request=request, api_key=api_key, cost=800)
    ratelimit.ratelimit_record_received_bytes(request, 100)

    assert request.ratelimit_decision.usage.bytes == 100
    assert check(api_key, 900).usage.bytes == 1000


@pytest.mark.embedded
def test_a_received_body_over_the_whole_budget_is_413_and_not_charged(alice_key, limits):
    api_key, _ = alice_key
    request = RequestFactory().post(URL)
    ratelimit.ratelimit_check(request=request, api_key=api_key, cost=0)
    with pytest.raises(BodyTooLarge):
        ratelimit.ratelimit_record_received_bytes(request, 5000)

    assert check(api_key, 1000).usage.bytes == 1000


def rejections(limit: str) -> float:
    return REGISTRY.get_sample_value("healthexport_ratelimit_rejections_total", {"limit": limit}) or 0.0


@pytest.mark.embedded
def test_exceeding_is_audited_once_per_key_per_window_and_counted_every_time(alice_key, limits):
    api_key, _ = alice_key
    before = rejections("requests")
    with time_machine.travel(T0, tick=False):
        for _ in range(3):
            check(api_key)
        for _ in range(4):
            refusal(api_key)

    assert rejections("requests") == before + 4

    event = exceeded_events().get()
    assert event.actor_api_key_id == api_key.pk and event.actor_user_id == api_key.owner.pk
    assert event.outcome == AuditEvent.Outcome.DENIED
    assert event.metadata == {
        "limit": "requests",
        "budget": "uploads",
        "requests_per_hour": 3,
        "bytes_per_hour": 1000,
        "retry_after": 3600,
    }


@pytest.mark.embedded
def test_the_headers_follow_the_ietf_draft(alice_key, limits):
    api_key, _ = alice_key
    with time_machine.travel(T0, tick=False) as clock:
        check(api_key, 100)
        clock.shift(600)
        headers = check(api_key, 800).headers()

    assert headers == {
        # The bytes limit binds: 10 % of it is left against 33 % of the requests.
        "RateLimit-Limit": "1000",
        "RateLimit-Remaining": "100",
        "RateLimit-Reset": "3600",
        "RateLimit-Policy": '"requests";q=3;w=3600, "bytes";q=1000;w=3600;qu="content-bytes"',
        "RateLimit": '"requests";r=1;t=3600, "bytes";r=100;t=3600',
    }


def _race(api_key, attempts: int) -> list[str]:
    barrier = threading.Barrier(attempts)

    def attempt(_: int) -> str:
        barrier.wait()
        try:
            return "admitted" if check(api_key) else "failed open"
        except RateLimited:
            return "refused"
        finally:
            connections.close_all()  # the refused one that audits opened its own

    with ThreadPoolExecutor(max_workers=attempts) as pool:
        return list(pool.map(attempt, range(attempts)))


@pytest.mark.embedded
@pytest.mark.django_db(transaction=True)  # the threads' own connections must see the key to audit it
def test_200_concurrent_requests_against_a_limit_of_100_admit_exactly_100(alice_key, settings):
    settings.RATELIMIT_REQUESTS_PER_HOUR = 100
    api_key, _ = alice_key
    api_key.owner  # noqa: B018  (loaded once here, so refused threads do not query it)

    outcomes = _race(api_key, 200)

    assert (outcomes.count("admitted"), outcomes.count("refused")) == (100, 100)
    assert refusal(api_key).wait >= 1
    assert exceeded_events().count() == 1


def test_with_redis_unreachable_it_fails_open_and_warns_once_a_minute(alice_key, limits, settings, caplog):
    api_key, _ = alice_key
    settings.CACHES = DEAD_CACHE
    caplog.set_level(logging.WARNING, logger="accounts.ratelimit")
    with time_machine.travel(T0, tick=False):
        ratelimit._last_warning.clear()
        decisions = [check(api_key, 10) for _ in range(5)]

    assert decisions == [None] * 5
    assert caplog.text.count("rate limiter unavailable") == 1


# --- Over HTTP: POST /v1/ingest ---------------------------------------------------------------


@pytest.mark.embedded
def test_a_successful_answer_carries_the_headers(alice_client, limits):
    limits.RATELIMIT_BYTES_PER_HOUR = 100_000
    body = fixture_bytes("small.json")
    with time_machine.travel(T0, tick=False):
        response = post(alice_client, body)

    assert response.status_code == 200
    assert response["RateLimit-Limit"] == "3"
    assert response["RateLimit-Remaining"] == "2"
    assert response["RateLimit-Reset"] == "3600"
    assert response["RateLimit-Policy"] == '"requests";q=3;w=3600, "bytes";q=100000;w=3600;qu="content-bytes"'
    assert response["RateLimit"] == f'"requests";r=2;t=3600, "bytes";r={100_000 - len(body)};t=3600'
    assert "Retry-After" not in response


@pytest.mark.embedded
def test_over_the_limit_is_429_with_retry_after_and_the_headers(alice_client, limits):
    limits.RATELIMIT_BYTES_PER_HOUR = 100_000
    body = fixture_bytes("small.json")
    with time_machine.travel(T0, tick=False) as clock:
        statuses = [post(alice_client, body).status_code for _ in range(3)]
        # Validation failures reached the limiter too: they count.
        statuses.append(post(alice_client, b"{not json").status_code)
        clock.shift(60)
        response = post(alice_client, body)

    assert statuses == [200, 200, 200, 429]
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert response["Retry-After"] == "3540"
    assert response["RateLimit-Limit"] == "3"
    assert response["RateLimit-Remaining"] == "0"
    assert response["RateLimit"].startswith('"requests";r=0;t=3540, ')
    assert exceeded_events().count() == 1


@pytest.mark.embedded
def test_invalid_bodies_count_as_requests(alice_client, limits):
    statuses = [post(alice_client, b"{not json").status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]


@pytest.mark.embedded
def test_a_body_over_the_whole_hourly_budget_is_413_over_http(alice_client, limits):
    response = post(alice_client, b" " * 1001)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert "admin" in response.json()["error"]["message"]
    assert "Retry-After" not in response


@pytest.mark.embedded
def test_unauthenticated_requests_are_not_counted(api_client, alice_client, limits):
    for _ in range(5):
        assert post(api_client, b"{}").status_code == 401

    assert post(alice_client, b"{not json")["RateLimit-Remaining"] == "2"


def test_with_redis_unreachable_requests_are_served_and_ready_is_degraded(alice_client, api_client, limits, settings):
    settings.CACHES = DEAD_CACHE
    limits.RATELIMIT_BYTES_PER_HOUR = 100_000

    answers = [alice_client.get("/v1/workouts") for _ in range(5)]
    ready = api_client.get("/ready")

    assert [answer.status_code for answer in answers] == [200] * 5
    assert "RateLimit-Limit" not in answers[-1]
    assert post(alice_client, b"{not json").status_code == 400  # past the limiter, not 429
    stored = post(alice_client, fixture_bytes("small.json"))  # stats invalidation degrades too
    assert stored.status_code == 200
    assert stored.json()["status"] == "processed"
    assert alice_client.get("/v1/stats").status_code == 200
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "cache": "degraded", "migrations": "ok"}}


@pytest.mark.django_db(transaction=True)
def test_200_concurrent_http_requests_against_a_limit_of_100_let_exactly_100_through(alice_key, live_server, settings):
    """Threads against pytest-django's threaded live server: the whole HTTP stack, 20 requests in
    flight at a time (each server thread holds a database connection: well under PostgreSQL's 100,
    whatever else the machine has open)."""
    settings.RATELIMIT_REQUESTS_PER_HOUR = 100
    _, plaintext = alice_key

    def attempt(_: int) -> int:
        request = urllib.request.Request(  # noqa: S310  (our own live server)
            live_server.url + URL,
            data=b"{not json",
            method="POST",
            headers={"Authorization": f"Bearer {plaintext}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310  (our own live server)
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(attempt, range(200)))

    counted = {status: statuses.count(status) for status in set(statuses)}
    assert statuses.count(400) == 100, counted  # admitted, then refused by validation
    assert statuses.count(429) == 100
    assert exceeded_events().count() == 1


@pytest.mark.embedded
def test_the_key_admin_shows_the_effective_limits(client, staff, alice_key, settings):
    settings.RATELIMIT_REQUESTS_PER_HOUR = 100
    api_key, _ = alice_key
    api_key.ratelimit_bytes_per_hour = 50 * 1024 * 1024
    api_key.save()
    client.force_login(staff)

    response = client.get(f"/admin/accounts/apikey/{api_key.pk}/change/")

    assert response.status_code == 200
    assert "100 requests and 50 MiB of bodies per sliding hour" in response.content.decode()
