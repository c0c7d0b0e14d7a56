"""A data owner's health data, generated: what the owner pages' tests and bench/pages.py show.

Hourly heart rate (min/avg/max), steps and active energy; daily resting heart rate and HRV; a
weight every third day; sleep sessions every night and stage segments for the last fortnight;
a run with a route and heart rate every third day; exports of two automations, one with item
errors. Times are in +02:00, as a phone in Berlin in summer sends them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from typing import Any

from ingest.models import Ingestion
from metrics.catalog import UNITS, is_cumulative
from metrics.models import MetricType, RoutePoint, Sample, SleepNight, SleepStage, Workout, WorkoutSeries

OFFSET = 120
ZONE = dt.timezone(dt.timedelta(minutes=OFFSET))
HOURLY = ("heart_rate", "step_count", "active_energy")
DAILY = ("resting_heart_rate", "heart_rate_variability")


def metric_type(name: str) -> MetricType:
    aggregation = MetricType.Aggregation.SUM if is_cumulative(name) else MetricType.Aggregation.AVERAGE
    return MetricType.objects.get_or_create(
        name=name, owner=None, defaults={"unit": UNITS[name], "aggregation": aggregation}
    )[0]


def _sample(user: Any, metric: MetricType, at: dt.datetime, qty: float, **extra: Any) -> Sample:
    return Sample(
        user=user, metric=metric, start=at, qty=qty, unit=metric.unit, utc_offset=OFFSET, ingestion_id=0, **extra
    )


def _hourly(user: Any, first: dt.datetime, hours: int, names: tuple[str, ...]) -> list[Sample]:
    heart, steps, energy = (metric_type(name) for name in HOURLY)
    rows: list[Sample] = []
    for hour in range(hours):
        at = first + dt.timedelta(hours=hour)
        local_hour = at.astimezone(ZONE).hour
        awake = 7 <= local_hour <= 22
        rate = 62 + (18 if awake else 0) + 6 * math.sin(hour / 5)
        rows.append(_sample(user, heart, at, round(rate, 1), min=round(rate - 9, 1), max=round(rate + 14, 1)))
        rows.append(_sample(user, steps, at, (400 + (hour * 37) % 900) if awake else 0))
        rows.append(_sample(user, energy, at, round((25 + (hour * 13) % 40) if awake else 3.5, 2)))
    return [row for row in rows if row.metric.name in names]


def _daily(user: Any, days: list[dt.date]) -> list[Sample]:
    resting, hrv = metric_type("resting_heart_rate"), metric_type("heart_rate_variability")
    weight = metric_type("weight_body_mass")
    rows = []
    for index, day in enumerate(days):
        at = dt.datetime.combine(day, dt.time(7), tzinfo=ZONE)
        rows.append(_sample(user, resting, at, 55 + index % 5))
        rows.append(_sample(user, hrv, at, 40 + (index * 7) % 25))
        if index % 3 == 0:
            rows.append(_sample(user, weight, at, round(78 - index * 0.02, 2)))
    return rows


def _sleep(user: Any, days: list[dt.date], staged_nights: int) -> None:
    nights, stages = [], []
    for index, day in enumerate(days):
        start = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(23, 10), tzinfo=ZONE)
        core, deep, rem, awake = 3.6 + (index % 4) * 0.2, 1.1, 1.6 + (index % 3) * 0.1, 0.3
        end = start + dt.timedelta(hours=core + deep + rem + awake)
        nights.append(
            SleepNight(
                user=user,
                night=day,
                source="Apple Watch",
                session_start=start,
                core=core,
                deep=deep,
                rem=rem,
                awake=awake,
                asleep=core + deep + rem,
                in_bed=core + deep + rem + awake + 0.2,
                sleep_start=start,
                sleep_end=end,
                in_bed_start=start - dt.timedelta(minutes=10),
                in_bed_end=end + dt.timedelta(minutes=2),
                utc_offset=OFFSET,
                ingestion_id=0,
            )
        )
        if index >= len(days) - staged_nights:
            at = start
            pattern = [
                ("Core", 0.9),
                ("Deep", 0.6),
                ("Core", 0.8),
                ("REM", 0.5),
                ("Awake", 0.1),
                ("Core", 1.0),
                ("Deep", 0.5),
                ("REM", 0.7),
                ("Core", 0.9),
                ("Awake", 0.2),
                ("REM", 0.5),
            ]
            for stage, hours in pattern:
                finish = at + dt.timedelta(hours=hours)
                stages.append(
                    SleepStage(
                        user=user,
                        start=at,
                        end=finish,
                        stage=stage,
                        source="Apple Watch",
                        qty=hours,
                        unit="hr",
                        utc_offset=OFFSET,
                        ingestion_id=0,
                    )
                )
                at = finish
    SleepNight.objects.bulk_create(nights)
    SleepStage.objects.bulk_create(stages)


def _workouts(user: Any, days: list[dt.date]) -> list[Workout]:
    workouts = []
    for index, day in enumerate(days[::3]):
        start = dt.datetime.combine(day, dt.time(18, 5), tzinfo=ZONE)
        points = 240
        workout = Workout.objects.create(
            user=user,
            external_id=str(uuid.uuid4()),
            name="Outdoor Run" if index % 4 else "Outdoor Walk",
            start=start,
            end=start + dt.timedelta(seconds=points * 6),
            utc_offset=OFFSET,
            duration_s=points * 6,
            active_energy_kcal=310.5,
            distance_km=4.2,
            location="Outdoor",
            is_indoor=False,
            content_hash=hashlib.sha256(str(start).encode()).hexdigest(),
            ingestion_id=0,
        )
        RoutePoint.objects.bulk_create(
            RoutePoint(
                workout=workout,
                seq=i,
                timestamp=start + dt.timedelta(seconds=i * 6),
                latitude=52.52 + 0.004 * math.sin(i / points * 2 * math.pi),
                longitude=13.405 + 0.007 * math.cos(i / points * 2 * math.pi) - 0.007,
                altitude=35.0,
                speed=2.6 + 0.4 * math.sin(i / 9),
            )
            for i in range(points)
        )
        WorkoutSeries.objects.bulk_create(
            WorkoutSeries(
                workout=workout,
                kind="heartRateData",
                seq=i,
                start=start + dt.timedelta(minutes=i),
                min=120 + i,
                max=140 + i,
                unit="count/min",
                source="Apple Watch",
            )
            for i in range(points * 6 // 60)
        )
        workouts.append(workout)
    return workouts


def _ingestions(user: Any, now: dt.datetime) -> None:
    counts = {"received": 24, "stored": 24, "updated": 0, "duplicates": 0, "rejected": 0}
    bad = {"received": 24, "stored": 22, "updated": 0, "duplicates": 0, "rejected": 2}
    error = {
        "code": "unit_mismatch",
        "message": "heart_rate in ms cannot be converted to count/min",
        "where": {"section": "metrics", "metric": "heart_rate", "index": 3, "field": "units"},
    }
    later = {**error["where"], "index": 7}
    exports = [
        ("Health metrics hourly", "A1", Ingestion.Status.PROCESSED, {"heart_rate": counts}, []),
        ("Workouts", "B2", Ingestion.Status.PARTIAL, {"heart_rate": bad}, [error, {**error, "where": later}]),
    ]
    for hours_ago in (5, 3, 1):
        for name, automation_id, status, metrics, errors in exports:
            Ingestion.objects.create(
                user=user,
                received_at=now - dt.timedelta(hours=hours_ago, minutes=len(name)),
                processed_at=now,
                status=status,
                body_sha256=hashlib.sha256(f"{name}{hours_ago}".encode()).hexdigest(),
                body_size=4096,
                automation={"automation-name": name, "automation-id": automation_id},
                result={
                    "status": status,
                    "metrics": metrics,
                    "workouts": {**counts, "received": 0, "stored": 0, "route_points": 0},
                    "other": {},
                    "errors": errors,
                    "errors_truncated": False,
                },
            )


def make_owner_data(
    user: Any,
    *,
    days: int = 90,
    hourly: bool = True,
    now: dt.datetime | None = None,
    hourly_metrics: tuple[str, ...] = HOURLY,
) -> dict:
    """``days`` days of data up to ``now`` (default: the last whole hour), ``now`` included: the
    owner's local day has data from its first hour on (at 22:xx UTC, +02:00's new day began at
    ``now`` and the pages' last day was empty). Returns what it made."""
    now = now or dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    first = now - dt.timedelta(days=days) + dt.timedelta(hours=1)
    day_list = [(now - dt.timedelta(days=n)).astimezone(ZONE).date() for n in range(days - 1, -1, -1)]
    if hourly:
        Sample.objects.bulk_create(_hourly(user, first, days * 24, hourly_metrics))
    Sample.objects.bulk_create(_daily(user, day_list))
    _sleep(user, day_list, staged_nights=14)
    workouts = _workouts(user, day_list)
    _ingestions(user, now)
    return {"workouts": workouts, "nights": day_list}
