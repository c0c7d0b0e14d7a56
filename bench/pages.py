"""Owner pages on a year of minute heart rate (PostgreSQL): the server time of each page, median of
N requests through the whole Django stack (middleware, session, view, template), no network.

Standalone: its own database ``hx_bench_pages`` on the server of DATABASE_URL. A year of heart
rate every minute (525,600 samples, then a second source for 1.05M) is loaded with INSERT …
SELECT generate_series and its rollups built as ingest builds them; steps, energy, daily
metrics, sleep, workouts with routes and exports come from ``tests/web/owner_data.py``.

    DATABASE_URL=postgis://postgres@127.0.0.1:5432/x SECRET_KEY=x .venv/bin/python bench/pages.py [--runs 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _fresh_database import bench_url, create_database  # noqa: E402  (beside this script)

BENCH_DB = "hx_bench_pages"
MINUTES = 365 * 24 * 60
SOURCES = ("Apple Watch", "iPhone")  # two sources a minute: 1.05M samples
BUDGET_MS = 150


def load_year(user, now: dt.datetime) -> int:
    """A year of heart rate every minute from each source, up to ``now``; rollups refreshed."""
    from django.db import connection

    from metrics.models import SampleRollup
    from tests.web.owner_data import OFFSET, make_owner_data, metric_type

    heart = metric_type("heart_rate")
    first = now - dt.timedelta(minutes=MINUTES)
    with connection.cursor() as cursor:
        for source in SOURCES:
            cursor.execute(
                """
                INSERT INTO metrics_sample (user_id, metric_id, start, source, qty, min, max, unit, utc_offset,
                                            context, ingestion_id)
                SELECT %s, %s, %s + g * interval '1 minute', %s, 60 + (g %% 40), 55 + (g %% 40), 65 + (g %% 40),
                       'count/min', %s, '', 0
                FROM generate_series(0, %s - 1) AS g
                """,
                [user.pk, heart.pk, first, source, OFFSET, MINUTES],
            )
    SampleRollup.objects.refresh(user_id=user.pk, metric_ids=[heart.pk], start=first, end=now)
    make_owner_data(user, days=365, hourly=True, now=now, hourly_metrics=("step_count", "active_energy"))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return MINUTES * len(SOURCES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="requests per page (the median is printed)")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = bench_url(BENCH_DB)
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    os.environ["DJANGO_SETTINGS_MODULE"] = "healthexport.settings"
    create_database(BENCH_DB)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from metrics.models import Sample, Workout

    settings.ALLOWED_HOSTS = ["testserver"]
    warnings.filterwarnings("ignore", "No directory at", UserWarning)  # static files come from the finders
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user(username="bench")
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    started = time.perf_counter()
    loaded = load_year(user, now)
    total = Sample.objects.filter(user=user).count()
    seconds = time.perf_counter() - started
    print(f"loaded {loaded:,} minute heart-rate samples ({total:,} samples in all) in {seconds:.0f} s")

    client = Client()
    client.force_login(user)
    workout = Workout.objects.filter(user=user).order_by("-start").first()
    pages = {
        "overview (7 days)": "/",
        "overview (30 days)": "/?days=30",
        "heart_rate, 7 days of hours": "/metrics/heart_rate?range=7d",
        "heart_rate, 30 days of days": "/metrics/heart_rate?range=30d",
        "heart_rate, 1 year of weeks": "/metrics/heart_rate?range=1y",
        "heart_rate, 1 year of days": "/metrics/heart_rate?range=1y&resolution=day",
        "heart_rate, all time in months": "/metrics/heart_rate?range=all",
        "heart_rate, 1 year of days as CSV": "/metrics/heart_rate?range=1y&resolution=day&format=csv",
        "step_count, 1 year of days": "/metrics/step_count?range=1y&resolution=day",
        "sleep (30 nights)": "/sleep",
        "sleep (1 year)": "/sleep?range=1y",
        "workouts (1 year)": "/workouts",
        "a workout (route, heart rate)": f"/workouts/{workout.public_id}",
        "syncs": "/syncs",
        "keys": "/keys",
    }
    print(f"server time per page, median of {args.runs} (budget {BUDGET_MS} ms):")
    over = []
    for name, path in pages.items():
        times = []
        for _ in range(args.runs):
            begin = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - begin) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        median = statistics.median(times)
        if median > BUDGET_MS:
            over.append(name)
        print(f"  {name:<36} {median:7.1f} ms   ({len(response.content) / 1024:.0f} KiB)")
    print("every page within budget" if not over else f"over budget: {', '.join(over)}")


if __name__ == "__main__":
    main()
