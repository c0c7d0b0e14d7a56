"""Everything a user has, read back as stored rows in the offset and unit each was sent in, for
``GET /v1/export``: grouped by section, then metric and unit, so a format can nest them.

Which format the rows are written in is not known here: ``ingest.hae`` turns each into an item
of the app's own format (``hae``, and the items ``ndjson`` and ``csv`` carry), so that export →
wipe → import reproduces the same rows. Rows are read with ``.iterator(chunk_size=…)``: memory
stays constant whatever their number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from django.db.models import Q

from metrics import catalog
from metrics.models import (
    BloodPressure,
    HealthRecord,
    MetricType,
    RoutePoint,
    Sample,
    SleepNight,
    SleepStage,
    Workout,
    WorkoutSeries,
)
from metrics.units import UnitMismatch, converter, identity

CHUNK = 5000


class StoredSample(NamedTuple):
    """A sample, its values back in the unit it was sent in."""

    start: dt.datetime
    end: dt.datetime | None
    utc_offset: int
    qty: float
    min: float | None
    max: float | None
    source: str
    context: str


class StoredSleepStage(NamedTuple):
    """A sleep stage segment, its duration back in the unit it was sent in."""

    start: dt.datetime
    end: dt.datetime
    utc_offset: int
    qty: float
    stage: str
    source: str


class StoredWorkout(NamedTuple):
    workout: Workout
    series: list[WorkoutSeries]  # by kind, then position
    route: list[RoutePoint]  # in order


class StoredItem(NamedTuple):
    section: str  # metrics, workouts, or another section name
    name: str  # metric name ("" outside metrics)
    units: str
    # StoredSample, BloodPressure, SleepNight, StoredSleepStage, StoredWorkout, or a record's item (dict)
    row: Any


def _window(queryset, field: str, start: dt.datetime | None, end: dt.datetime | None):
    if start is not None:
        queryset = queryset.filter(**{f"{field}__gte": start})
    if end is not None:
        queryset = queryset.filter(**{f"{field}__lt": end})
    return queryset


def stored_items(
    *, user: Any, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> Iterator[StoredItem]:
    """Every stored row of the user, grouped by section then metric and unit."""
    yield from _sample_items(user, start, end)
    yield from _blood_pressure_items(user, start, end)
    yield from _sleep_items(user, start, end)
    yield from _sleep_stage_items(user, start, end)
    yield from _workout_items(user, start, end)
    records = _window(HealthRecord.objects.filter(user=user), "start", start, end)
    for section, payload in records.order_by("section", "id").values_list("section", "payload").iterator(CHUNK):
        yield StoredItem(section, "", "", payload)


def _sample_items(user, start, end) -> Iterator[StoredItem]:
    metrics = {m.id: m for m in MetricType.objects.filter(Q(owner=None) | Q(owner=user))}
    converters: dict[tuple[int, str], Any] = {}
    rows = (
        _window(Sample.objects.filter(user=user), "start", start, end)
        .order_by("metric_id", "unit", "start", "source")
        .values_list("metric_id", "unit", "start", "end", "utc_offset", "qty", "min", "max", "source", "context")
    )
    for metric_id, unit, begin, finish, offset, qty, low, high, source, context in rows.iterator(CHUNK):
        metric = metrics[metric_id]
        back = converters.get((metric_id, unit))
        if back is None:
            back = converters[(metric_id, unit)] = _back_to(metric, unit)
        row = StoredSample(
            begin,
            finish,
            offset,
            back(qty),
            None if low is None else back(low),
            None if high is None else back(high),
            source,
            context,
        )
        yield StoredItem("metrics", metric.name, unit, row)


def _back_to(metric: MetricType, unit: str) -> Callable[[float], float]:
    """From the stored value to the unit it was sent in: a known metric's canonical unit to it
    (kept as stored when that cannot be: a unit the parser has learnt to refuse); an unknown
    metric's values are in it already."""
    if not metric.is_known or not unit:
        return identity
    try:
        return converter(metric.unit, unit)
    except UnitMismatch:
        return identity


def _blood_pressure_items(user, start, end) -> Iterator[StoredItem]:
    rows = _window(BloodPressure.objects.filter(user=user), "start", start, end).order_by("unit", "start", "id")
    for row in rows.iterator(CHUNK):
        yield StoredItem("metrics", "blood_pressure", row.unit, row)


def _sleep_items(user, start, end) -> Iterator[StoredItem]:
    rows = SleepNight.objects.filter(user=user)
    if start is not None:
        rows = rows.filter(night__gte=start.date())
    if end is not None:
        rows = rows.filter(night__lt=end.date())
    for row in rows.order_by("night", "session_start", "id").iterator(CHUNK):
        yield StoredItem("metrics", "sleep_analysis", "hr", row)


def _sleep_stage_items(user, start, end) -> Iterator[StoredItem]:
    """Stage segments as the app sends them unaggregated, in the unit they were sent in."""
    # The catalog's unit, not the type's row: an owner whose sleep came only from an Apple Health
    # import has stages and no sleep_analysis type may exist yet.
    stored_unit = catalog.unit_of("sleep_analysis")
    rows = _window(SleepStage.objects.filter(user=user), "start", start, end).order_by("unit", "start", "id")
    back, back_unit = None, None
    for row in rows.iterator(CHUNK):
        if row.unit != back_unit:
            back, back_unit = converter(stored_unit, row.unit), row.unit
        stage = StoredSleepStage(row.start, row.end, row.utc_offset, back(row.qty), row.stage, row.source)
        yield StoredItem("metrics", "sleep_analysis", row.unit, stage)


def _workout_items(user, start, end) -> Iterator[StoredItem]:
    workouts = _window(Workout.objects.filter(user=user), "start", start, end).order_by("start", "id")
    # Workouts are few (hundreds a year); their routes and series are read per workout.
    for workout in workouts.iterator(200):
        series = list(workout.series.order_by("kind", "seq").iterator(CHUNK))
        route = list(workout.route_points.order_by("seq").iterator(CHUNK))
        yield StoredItem("workouts", "", "", StoredWorkout(workout, series, route))
