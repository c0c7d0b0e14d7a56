"""Deleting stored health data. These functions only delete and count; the caller (ingest's
deletion services) draws the transaction and writes the audit event with the counts."""

from __future__ import annotations

from typing import Any

from metrics.models import BloodPressure, HealthRecord, RoutePoint, Sample, SleepNight, Workout, WorkoutSeries

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
    """
    filters: dict[str, Any] = {"user_id": user_id}
    if ingestion_id is not None:
        filters["ingestion_id"] = ingestion_id
    counts: dict[str, int] = {}
    for name, model in OWNED.items():
        _, per_model = model.objects.filter(**filters).delete()
        counts[name] = per_model.get(model._meta.label, 0)
        if model is Workout:
            counts["route_points"] = per_model.get(RoutePoint._meta.label, 0)
            counts["workout_series"] = per_model.get(WorkoutSeries._meta.label, 0)
    return counts
