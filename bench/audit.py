"""Audit trail bench: what ``record_event`` costs per call, and how fast the admin changelist opens
over 1M events.

    DATABASE_URL=postgis://postgres@127.0.0.1:5432/healthexport .venv/bin/python bench/audit.py

Creates its own database ``hx_bench_audit`` on that server (dropped at the end), migrates it,
bulk-loads the events with one INSERT … SELECT generate_series, and drives the admin through
Django's test client (no network). Takes about a minute.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

BENCH_DB = "hx_bench_audit"
EVENTS = 1_000_000
CALLS = 2000
ACTIONS = ("apikey.created", "auth.failed", "ingest.accepted", "ingest.duplicate", "ingest.rejected")


def _server_connection(url: str):
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        dbname="postgres",
        autocommit=True,
    )


def _median_ms(action: Callable[[], object], runs: int = 5) -> float:
    action()  # warm caches and the template loader
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def bench_record_event() -> None:
    from django.db import transaction
    from django.test import RequestFactory

    from audit.services import record_event

    request = RequestFactory().get("/v1/ingest", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Health Auto Export/7")
    request.request_id = "bench-request-id"
    record_event(action="bench.warmup", request=request)

    start = time.perf_counter()
    for index in range(CALLS):
        record_event(action="ingest.accepted", request=request, target=("ingestion", index), metadata={"n": index})
    autocommit_us = (time.perf_counter() - start) / CALLS * 1e6

    start = time.perf_counter()
    with transaction.atomic():
        for index in range(CALLS):
            record_event(action="ingest.accepted", request=request, target=("ingestion", index), metadata={"n": index})
    in_transaction_us = (time.perf_counter() - start) / CALLS * 1e6

    print(f"record_event, own transaction (commit each): {autocommit_us:8.0f} µs/call  ({CALLS} calls)")
    print(f"record_event, inside the caller's transaction: {in_transaction_us:6.0f} µs/call  ({CALLS} calls)")


def load_events() -> None:
    from django.db import connection

    # One event every 31 s back from now: 1M events span ~12 months (migrate created their partitions).
    actions = "ARRAY[" + ",".join(f"'{action}'" for action in ACTIONS) + "]"
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (occurred_at, action, actor_key_prefix, key_prefix, actor_username,"
            " target_type, target_id, target_label, outcome, ip, user_agent, request_id, metadata)"
            f" SELECT now() - i * interval '31 seconds', ({actions})[1 + i % {len(ACTIONS)}],"
            " substr(md5((i % 5000)::text), 1, 8), substr(md5((i % 5000)::text), 1, 8), 'user' || (i % 500),"
            " 'ingestion', i::text, '',"
            " CASE WHEN i % 10 = 0 THEN 'failure' ELSE 'success' END,"
            " ('10.' || (i % 200) || '.' || (i % 250) || '.' || (i % 7))::inet, 'Health Auto Export/7',"
            " md5(i::text), jsonb_build_object('samples', i % 1000)"
            f" FROM generate_series(1, {EVENTS}) AS i"
        )
        cursor.execute("ANALYZE audit_auditevent")
    seconds = time.perf_counter() - start
    print(f"bulk load: {EVENTS:,} events in {seconds:.1f} s ({EVENTS / seconds:,.0f} rows/s, INSERT … SELECT)")


def bench_changelist() -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    officer = get_user_model().objects.create_superuser(username="bench", password=None)
    client = Client(HTTP_HOST="localhost")
    client.force_login(officer)
    pages = {
        "first page (newest 100)": "",
        "filter action=auth.failed": "?action=auth.failed",
        "filter outcome=failure": "?outcome__exact=failure",
        "search by IP": "?q=10.3.4.5",
        "search by key prefix": f"?q={hashlib.md5(b'42').hexdigest()[:8]}",  # noqa: S324  (a test value)
        "search part of a username": "?q=ben",
        "search by target id": "?q=123456",
        "date_hierarchy, one year": "?occurred_at__year={y}",
        "date_hierarchy, one month": "?occurred_at__year={y}&occurred_at__month={m}",
    }
    today = time.gmtime()
    for label, query in pages.items():
        url = "/admin/audit/auditevent/" + query.format(y=today.tm_year, m=today.tm_mon)

        def get(url: str = url) -> None:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        print(f"admin changelist, {EVENTS:,} events, {label:<28} {_median_ms(get):7.0f} ms (median of 5)")


def main() -> int:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgis://", "postgres://", "postgresql://")):
        print("bench/audit.py needs DATABASE_URL pointing at PostgreSQL (it creates its own database there).")
        return 2
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ["DATABASE_URL"] = urlsplit(url)._replace(path=f"/{BENCH_DB}").geturl()
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthexport.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Static files are served through finders here; collectstatic is not part of a bench.
    warnings.filterwarnings("ignore", "No directory at", UserWarning)

    with _server_connection(url) as server:
        server.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
        server.execute(f"CREATE DATABASE {BENCH_DB}")
    try:
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        bench_record_event()
        load_events()
        bench_changelist()
    finally:
        from django.db import connections

        connections.close_all()
        with _server_connection(url) as server:
            server.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
