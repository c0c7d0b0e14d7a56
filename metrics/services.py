"""Writes of stored health data outside the ingest pipeline: deletions (rollups follow them).

The deletion functions only delete and count; the caller (ingest's deletion services) draws the
transaction and writes the audit event with the counts.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Max, Min

from metrics.models import (
    ROLLUP_STEP,
    BloodPressure,
    HealthRecord,
    MetricType,
    RoutePoint,
    Sample,
    SampleRollup,
    SleepNight,
    SleepStage,
    Workout,
    WorkoutSeries,
)

# The tables whose rows carry user and ingestion_id, by the name the counts use.
OWNED = {
    "samples": Sample,
    "blood_pressure": BloodPressure,
    "sleep_nights": SleepNight,
    "sleep_stages": SleepStage,
    "records": HealthRecord,
    "workouts": Workout,
}


def health_data_delete(*, user_id: int, ingestion_id: int | None = None) -> dict[str, int]:
    """Delete this user's rows — only those last stored by ``ingestion_id`` when given.

    Returns counts per table; routes and series go with their workout and are counted too, and
    deleting everything deletes the user's own (unknown) metric names.
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
        # The user's own metric names go with their data (the catalog's shared ones stay).
        counts["metric_types"] = MetricType.objects.filter(owner_id=user_id).delete()[0]
    for span in spans:
        SampleRollup.objects.refresh(
            user_id=user_id, metric_ids=[span["metric_id"]], start=span["first"], end=span["last"] + ROLLUP_STEP
        )
    return counts
