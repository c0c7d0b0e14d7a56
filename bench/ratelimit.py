"""Rate limiter cost: one ``ratelimit_check`` (a Lua round trip on Redis, a locked cache update on
local memory), and the same endpoint with and without the throttle.

Run: REDIS_URL=redis://… .venv/bin/python bench/ratelimit.py  (without REDIS_URL: local memory)
Touches no database: the key is an unsaved ApiKey with limits high enough never to refuse, and
requests go through Django's test Client in-process (whole middleware stack and DRF, no socket).
Its Redis keys are deleted at the end. Each phase starts with an empty window that then holds up
to a few thousand entries: on local memory the cost grows with that (the log is pickled whole).
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthexport.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret")
warnings.filterwarnings("ignore", "No directory at", UserWarning)

import django  # noqa: E402

django.setup()

from django.core.cache import cache  # noqa: E402
from django.test import Client, RequestFactory, override_settings  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework.authentication import BaseAuthentication  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from accounts import ratelimit  # noqa: E402
from accounts.models import ApiKey  # noqa: E402

CHECKS = 5000
REQUESTS = 3000
KEY_ID = 2_000_000_000  # far from any real key
BENCH_KEY = ApiKey(pk=KEY_ID, prefix="benchkey", ratelimit_requests_per_hour=10**9, ratelimit_bytes_per_hour=10**15)


class BenchKeyAuthentication(BaseAuthentication):
    """Authenticates every request as the in-memory bench key: the limiter is measured, not auth."""

    def authenticate(self, request):
        return (None, BENCH_KEY)


class Limited(APIView):
    authentication_classes = [BenchKeyAuthentication]
    permission_classes: list = []

    def post(self, request):
        return Response({"ok": True})


class Unlimited(Limited):
    throttle_classes: list = []


urlpatterns = [path("v1/limited", Limited.as_view()), path("v1/unlimited", Unlimited.as_view())]


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1e6, cuts[98] * 1e6


def time_checks() -> list[float]:
    request = RequestFactory().post("/v1/limited", b"x" * 2048, content_type="application/json")
    samples = []
    for _ in range(CHECKS):
        started = time.perf_counter()
        ratelimit.ratelimit_check(request=request, api_key=BENCH_KEY, cost=2048)
        samples.append(time.perf_counter() - started)
    return samples


def time_requests(client: Client, url: str) -> list[float]:
    body = b'{"data": {}}' + b" " * 2036
    samples = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        response = client.post(url, body, content_type="application/json")
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    return samples


def cleanup() -> None:
    window = ratelimit.window()
    if isinstance(window, ratelimit.RedisWindow):
        window.client.delete(*window._keys(KEY_ID))
    else:
        cache.delete(f"ratelimit:{KEY_ID}:log")


def main() -> None:
    logging.getLogger("healthexport.access").setLevel(logging.WARNING)  # one line per request otherwise
    backend = "Redis" if isinstance(ratelimit.window(), ratelimit.RedisWindow) else "local memory"
    cleanup()
    try:
        time_checks()  # warm-up: script load, connections
        p50, p99 = percentiles(time_checks())
        print(f"ratelimit_check on {backend}: p50 {p50:.0f} µs, p99 {p99:.0f} µs ({CHECKS} checks, 2 KiB bodies)")
        with override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"]):
            client = Client()
            time_requests(client, "/v1/unlimited")
            cleanup()
            time_requests(client, "/v1/limited")
            cleanup()
            without = percentiles(time_requests(client, "/v1/unlimited"))
            with_limit = percentiles(time_requests(client, "/v1/limited"))
        print(f"POST endpoint without the limiter: p50 {without[0]:.0f} µs, p99 {without[1]:.0f} µs")
        print(f"POST endpoint with the limiter:    p50 {with_limit[0]:.0f} µs, p99 {with_limit[1]:.0f} µs")
        print(
            f"added by the limiter: p50 {with_limit[0] - without[0]:+.0f} µs, "
            f"p99 {with_limit[1] - without[1]:+.0f} µs ({REQUESTS} requests each)"
        )
    finally:
        cleanup()


if __name__ == "__main__":
    main()
