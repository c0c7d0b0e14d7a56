"""Owner API read benchmark on >= 1M samples (PostgreSQL): a year of day buckets, a raw page,
export rows/s. Standalone: uses its own database ``hx_bench_query`` on the server of DATABASE_URL
and loads the samples with INSERT … SELECT generate_series (seconds, not minutes).

    DATABASE_URL=postgis://postgres@127.0.0.1:5432/x SECRET_KEY=x .venv/bin/python bench/query.py
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import time
import zoneinfo
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _fresh_database import bench_url, create_database  # noqa: E402  (beside this script)

BENCH_DB = "hx_bench_query"
SAMPLES_PER_DAY = 2880  # every 30 s: ~1.05M heart-rate samples a year
DAYS = 365


def timed(fn, repeat: int = 5) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, result


def main() -> None:
    os.environ["DATABASE_URL"] = bench_url(BENCH_DB)
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    os.environ["DJANGO_SETTINGS_MODULE"] = "healthexport.settings"
    create_database(BENCH_DB)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    from ingest import exports
    from metrics import queries
    from metrics.models import MetricType, Sample, SampleRollup

    user, _ = get_user_model().objects.get_or_create(username="bench")
    metric, _ = MetricType.objects.get_or_create(
        name="heart_rate", owner=None, defaults={"unit": "count/min", "aggregation": "average"}
    )
    wanted = SAMPLES_PER_DAY * DAYS
    if Sample.objects.filter(user=user, metric=metric).count() < wanted:
        started = time.perf_counter()
        Sample.objects.filter(user=user).delete()
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO metrics_sample (user_id, metric_id, start, source, qty, min, max, unit, utc_offset,
                                            context, ingestion_id)
                SELECT %s, %s, timestamptz '2024-01-01 00:00:00+00' + g * interval '30 seconds', 'Apple Watch',
                       60 + (g %% 40), 55 + (g %% 40), 65 + (g %% 40), 'count/min',
                       CASE WHEN g * 30 BETWEEN 6998400 AND 26524800 THEN 120 ELSE 60 END, '', 0
                FROM generate_series(0, %s - 1) AS g
                """,
                [user.pk, metric.pk, wanted],
            )
            cursor.execute("ANALYZE metrics_sample")
        print(f"loaded {wanted:,} samples in {time.perf_counter() - started:.1f} s")
    total = Sample.objects.filter(user=user).count()
    year = (dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    # Loaded with SQL, so the rollups are built here as ingest builds them: by SampleRollup.objects.refresh.
    started = time.perf_counter()
    SampleRollup.objects.refresh(user_id=user.pk, metric_ids=[metric.pk], start=year[0], end=year[1])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE metrics_samplerollup")
    rollups = SampleRollup.objects.filter(user=user).count()
    print(f"built {rollups:,} rollup rows from {total:,} samples in {time.perf_counter() - started:.2f} s")
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")

    def buckets(tz=None):
        return queries.metric_buckets(user=user, metric=metric, resolution="day", start=year[0], end=year[1], tz=tz)

    ms, result = timed(lambda: buckets(berlin))
    print(f"{total:,} samples; a year of day buckets, tz=Europe/Berlin: {ms:.1f} ms ({len(result)} buckets)")
    ms, result = timed(buckets)
    print(f"a year of day buckets, each sample's own offset (2 offsets): {ms:.1f} ms ({len(result)} buckets)")
    middle = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
    ms, page = timed(lambda: queries.metric_raw_page(user=user, metric=metric, start=middle, limit=500))
    print(f"a raw page of 500 from mid-year: {ms:.1f} ms")
    ms, _ = timed(lambda: queries.metric_raw_page(user=user, metric=metric, cursor=page.next_cursor, limit=500))
    print(f"the next raw page (keyset cursor): {ms:.1f} ms")
    started, rows, size = time.perf_counter(), 0, 0
    for chunk in exports.export_render(user=user, fmt="ndjson"):
        rows += 1
        size += len(chunk)
    seconds = time.perf_counter() - started
    print(f"export ndjson: {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s ({size / 1e6:.0f} MB)")
    steps_day_buckets(user, year)


def steps_day_buckets(user, year: tuple[dt.datetime, dt.datetime]) -> None:
    """A year of minute steps sent by a watch and an iPhone: day buckets pick one source per quarter hour."""
    from django.db import connection

    from metrics import queries
    from metrics.models import MetricType, SampleRollup

    steps, _ = MetricType.objects.get_or_create(
        name="step_count", owner=None, defaults={"unit": "count", "aggregation": "sum"}
    )
    minutes = DAYS * 24 * 60
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO metrics_sample (user_id, metric_id, start, source, qty, unit, utc_offset, context, ingestion_id)
            SELECT %s, %s, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', source, 20 + (g %% 7),
                   'count', 60, '', 0
            FROM generate_series(0, %s - 1) AS g, (VALUES ('Apple Watch'), ('iPhone')) AS sources (source)
            ON CONFLICT DO NOTHING
            """,
            [user.pk, steps.pk, minutes],
        )
        cursor.execute("ANALYZE metrics_sample")
    SampleRollup.objects.refresh(user_id=user.pk, metric_ids=[steps.pk], start=year[0], end=year[1])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE metrics_samplerollup")
    ms, result = timed(
        lambda: queries.metric_buckets(user=user, metric=steps, resolution="day", start=year[0], end=year[1])
    )
    print(f"a year of day buckets of minute steps, a watch and an iPhone: {ms:.1f} ms ({len(result)} buckets)")


if __name__ == "__main__":
    main()
