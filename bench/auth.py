"""API-key authentication cost: Argon2 verify (libsodium, against argon2-cffi as the
baseline), cold (Argon2) vs warm (verify cache) authentication, and a warm authenticated request vs
an unauthenticated one on the same endpoint.

Run: DATABASE_URL=postgis://… REDIS_URL=redis://… .venv/bin/python bench/auth.py
Uses its own database ``hx_bench_auth`` (created afresh and migrated each run). Requests go through
Django's test Client in-process (the whole middleware stack and DRF, no socket), so the ratio shows
what authentication adds to the server's own work.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthexport.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret")
# whitenoise notes the missing collectstatic output; irrelevant here.
warnings.filterwarnings("ignore", "No directory at", UserWarning)

BENCH_DB = "hx_bench_auth"
WARM_REQUESTS = 2000
COLD_AUTHS = 30
WARM_AUTHS = 1000
VERIFIES = 20


def use_bench_database() -> None:
    """Point DATABASE_URL at a fresh hx_bench_auth on the same server (a stale schema would lie)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return  # embedded default: SpatiaLite file
    import psycopg

    parts = urlsplit(url)
    admin_dsn = urlunsplit(("postgresql", parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    os.environ["DATABASE_URL"] = urlunsplit((parts.scheme, parts.netloc, f"/{BENCH_DB}", parts.query, ""))


use_bench_database()

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, RequestFactory, override_settings  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework.permissions import AllowAny  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from accounts import keys, verify_cache  # noqa: E402
from accounts.authentication import ApiKeyAuthentication  # noqa: E402
from accounts.models import User  # noqa: E402
from accounts.services import api_key_create  # noqa: E402


class BenchView(APIView):
    """Open to anyone, but authenticates a key when one is sent: the same work apart from authentication."""

    permission_classes = [AllowAny]
    # Authentication alone: the rate limiter's cost is bench/ratelimit.py's to measure.
    throttle_classes: list = []

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class BenchQueryView(BenchView):
    """The same, plus one trivial query: closer to a real /v1 view, which always reads or writes."""

    def get(self, request: Request) -> Response:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return Response({"ok": True})


urlpatterns = [path("v1/bench", BenchView.as_view()), path("v1/bench-query", BenchQueryView.as_view())]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def timed(fn, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def compare_requests(client: Client, url: str, plaintext: str) -> None:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    assert client.get(url, **headers).status_code == 200
    assert client.get(url).status_code == 200
    anonymous, authenticated = [], []
    for _ in range(WARM_REQUESTS):  # interleaved, so drift and neighbours' load hit both alike
        anonymous += timed(lambda: client.get(url), 1)
        authenticated += timed(lambda: client.get(url, **headers), 1)
    anon_ms, auth_ms = statistics.median(anonymous), statistics.median(authenticated)
    print(
        f"GET {url} in-process ({WARM_REQUESTS} each): unauthenticated median {ms(anon_ms)},"
        f" warm authenticated median {ms(auth_ms)}; ratio {auth_ms / anon_ms:.2f}x (target <= 1.3x)"
    )


def main() -> None:
    call_command("migrate", verbosity=0)
    owner, _ = User.objects.get_or_create(username="bench-auth")
    api_key, plaintext = api_key_create(owner=owner, name="bench", scopes=["read"], created_by=None)

    baseline = timed(lambda: keys.key_hasher().verify(api_key.hashed_key, plaintext), VERIFIES)
    verify = timed(lambda: keys.verify_key(api_key.hashed_key, plaintext), VERIFIES)
    baseline_ms, verify_ms = statistics.median(baseline), statistics.median(verify)
    print(
        f"argon2id verify (m=19456,t=2,p=1): libsodium median {ms(verify_ms)},"
        f" argon2-cffi median {ms(baseline_ms)}; ratio {verify_ms / baseline_ms:.2f}x"
    )

    factory = RequestFactory()
    auth = ApiKeyAuthentication()

    def authenticate() -> None:
        request = Request(factory.get("/v1/bench", HTTP_AUTHORIZATION=f"Bearer {plaintext}"))
        assert auth.authenticate(request)[1].pk == api_key.pk

    def cold() -> None:
        verify_cache.forget(api_key.pk)
        authenticate()

    cold_samples = timed(cold, COLD_AUTHS)
    authenticate()
    warm_samples = timed(authenticate, WARM_AUTHS)
    cold_ms, warm_ms = statistics.median(cold_samples), statistics.median(warm_samples)
    print(f"authentication cold (Argon2): median {ms(cold_ms)}; warm (local entry + epoch): median {ms(warm_ms)}")
    print(f"  cold / warm = {cold_ms / warm_ms:.0f}x")

    with override_settings(ROOT_URLCONF=__name__):
        client = Client(SERVER_NAME="localhost")
        for url in ("/v1/bench", "/v1/bench-query"):
            compare_requests(client, url, plaintext)
    verify_cache.forget(api_key.pk)


if __name__ == "__main__":
    main()
