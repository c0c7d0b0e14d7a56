"""Writes of stored health data outside the ingest pipeline: deletions and the sample rollups.

The deletion functions only delete and count; the caller (ingest's deletion services) draws the
transaction and writes the audit event with the counts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import Max, Min

from metrics.models import (
    ROLLUP_EPOCH,
    ROLLUP_STEP,
    BloodPressure,
    HealthRecord,
    RoutePoint,
    Sample,
    SampleRollup,
    SleepNight,
    Workout,
    WorkoutSeries,
    rollup_floor,
)

# The tables whose rows carry user and ingestion_id, by the name the counts use.
OWNED = {
    "samples": Sample,
    "blood_pressure": BloodPressure,
    "sleep_nights": SleepNight,
    "records": HealthRecord,
    "workouts": Workout,
}


def health_data_delete(*, user_id: int, ingestion_id: int | None = None) -> dict[str, int]:
    """Delete this user's rows — only those last stored by ``ingestion_id`` when given.

    Returns counts per table; routes and series go with their workout and are counted too.
    The sample rollups follow: all of the user's go, or the spans the ingestion's samples covered
    are recomputed from the samples left.
    """
    filters: dict[str, Any] = {"user_id": user_id}
    spans: list[dict[str, Any]] = []
    if ingestion_id is not None:
        filters["ingestion_id"] = ingestion_id
        spans = list(
            Sample.objects.filter(**filters)
            .values("metric_id")
            .annotate(first=Min("start"), last=Max("start"))
            .order_by()
        )
    counts: dict[str, int] = {}
    for name, model in OWNED.items():
        _, per_model = model.objects.filter(**filters).delete()
        counts[name] = per_model.get(model._meta.label, 0)
        if model is Workout:
            counts["route_points"] = per_model.get(RoutePoint._meta.label, 0)
            counts["workout_series"] = per_model.get(WorkoutSeries._meta.label, 0)
    if ingestion_id is None:
        SampleRollup.objects.filter(user_id=user_id).delete()
    for span in spans:
        rollups_refresh(
            user_id=user_id, metric_ids=[span["metric_id"]], start=span["first"], end=span["last"] + ROLLUP_STEP
        )
    return counts


def rollups_refresh(*, user_id: int, metric_ids: Iterable[int], start: dt.datetime, end: dt.datetime) -> None:
    """Recompute the rollups of these metrics of the user from their samples in [start, end).

    The range widens to whole 15-minute buckets and starts no earlier than ``ROLLUP_EPOCH``.
    One DELETE and one INSERT … SELECT … GROUP BY, on PostgreSQL and SQLite alike.
    """
    metric_ids = sorted(set(metric_ids))
    start = max(rollup_floor(start), ROLLUP_EPOCH)
    end = rollup_floor(end - dt.timedelta(microseconds=1)) + ROLLUP_STEP
    if not metric_ids or start >= end:
        return
    SampleRollup.objects.filter(
        user_id=user_id, metric_id__in=metric_ids, bucket_start__gte=start, bucket_start__lt=end
    ).delete()
    quote = connection.ops.quote_name
    adapt = connection.ops.adapt_datetimefield_value
    rollup_columns = ("user_id", "metric_id", "bucket_start", "utc_offset", "count", "total", "low", "high")
    sql = (
        f"INSERT INTO {quote(SampleRollup._meta.db_table)} ({', '.join(quote(c) for c in rollup_columns)}) "  # noqa: S608
        f"SELECT user_id, metric_id, {_bucket_sql(quote('start'))}, utc_offset, COUNT(*), SUM(qty), "
        f"MIN(COALESCE({quote('min')}, qty)), MAX(COALESCE({quote('max')}, qty)) "
        f"FROM {quote(Sample._meta.db_table)} "
        f"WHERE user_id = %s AND metric_id IN ({', '.join(['%s'] * len(metric_ids))}) "
        f"AND {quote('start')} >= %s AND {quote('start')} < %s "
        "GROUP BY 1, 2, 3, 4"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A year of one metric sorts in memory, not on disk (the default 4 MB spills), for
            # the rest of this transaction only.
            cursor.execute("SELECT set_config('work_mem', '32MB', true)")
        cursor.execute(sql, [user_id, *metric_ids, adapt(start), adapt(end)])


def _bucket_sql(column: str) -> str:
    """SQL flooring a stored instant to its 15-minute UTC bucket, stored as the column's own type."""
    if connection.vendor == "postgresql":
        return f"date_bin('15 minutes', {column}, timestamptz '2000-01-01 00:00:00+00')"
    # SQLite stores UTC instants as text; unix seconds floored to 900 and back (all after 1970).
    return f"datetime(CAST(strftime('%%s', {column}) AS INTEGER) / 900 * 900, 'unixepoch')"
