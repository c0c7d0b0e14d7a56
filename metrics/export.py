"""Everything a user has, as a stream of Health Auto Export items in their original offset and
unit. One generator feeds three formats: ``hae`` (a JSON export that ``POST /v1/ingest``
accepts, so export → wipe → import reproduces the same rows), ``ndjson`` (one item per line with
its section, metric name and unit) and ``csv`` (flat columns; non-scalar items as JSON).

Rows are read with ``.iterator(chunk_size=…)`` and written as they come: memory stays constant
whatever the number of rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import orjson
from django.db.models import Q

from metrics.models import BloodPressure, HealthRecord, MetricType, Sample, SleepNight, SleepStage, Workout
from metrics.queries import local_time
from metrics.units import UnitMismatch, converter, identity

CHUNK = 5000
FORMATS = ("hae", "ndjson", "csv")
CONTENT_TYPES = {"hae": "application/json", "ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
CSV_COLUMNS = ("section", "name", "units", "date", "end", "qty", "min", "max", "source", "context", "item")
SLEEP_FIELDS = {
    "total_sleep": "totalSleep",
    "asleep": "asleep",
    "core": "core",
    "deep": "deep",
    "rem": "rem",
    "awake": "awake",
    "in_bed": "inBed",
}
SLEEP_TIMES = {
    "sleep_start": "sleepStart",
    "sleep_end": "sleepEnd",
    "in_bed_start": "inBedStart",
    "in_bed_end": "inBedEnd",
}
WORKOUT_SERIES_FIELDS = ("qty", "min", "max")


class ExportItem(NamedTuple):
    section: str  # metrics, workouts, or another section name
    name: str  # metric name ("" outside metrics)
    units: str
    item: dict[str, Any]


def _window(queryset, field: str, start: dt.datetime | None, end: dt.datetime | None):
    if start is not None:
        queryset = queryset.filter(**{f"{field}__gte": start})
    if end is not None:
        queryset = queryset.filter(**{f"{field}__lt": end})
    return queryset


def export_items(
    *, user: Any, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> Iterator[ExportItem]:
    """Every item of the user, grouped by section then metric and unit (so ``hae`` can nest)."""
    yield from _sample_items(user, start, end)
    yield from _blood_pressure_items(user, start, end)
    yield from _sleep_items(user, start, end)
    yield from _sleep_stage_items(user, start, end)
    yield from _workout_items(user, start, end)
    records = _window(HealthRecord.objects.filter(user=user), "start", start, end)
    for section, payload in records.order_by("section", "id").values_list("section", "payload").iterator(CHUNK):
        yield ExportItem(section, "", "", payload)


def _sample_items(user, start, end) -> Iterator[ExportItem]:
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
        if finish is not None:
            item: dict[str, Any] = {"startDate": local_time(begin, offset), "endDate": local_time(finish, offset)}
        else:
            item = {"date": local_time(begin, offset)}
        if low is None and high is None:
            item["qty"] = back(qty)
        else:
            item["Avg"] = back(qty)
            if low is not None:
                item["Min"] = back(low)
            if high is not None:
                item["Max"] = back(high)
        item["source"] = source
        if context:
            item[_context_field(metric.name)] = context
        yield ExportItem("metrics", metric.name, unit, item)


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


def _context_field(name: str) -> str:
    return {"blood_glucose": "mealTime", "insulin_delivery": "reason"}.get(name, "value")


def _blood_pressure_items(user, start, end) -> Iterator[ExportItem]:
    rows = _window(BloodPressure.objects.filter(user=user), "start", start, end).order_by("unit", "start", "id")
    for row in rows.iterator(CHUNK):
        item = {
            "date": local_time(row.start, row.utc_offset),
            "systolic": row.systolic,
            "diastolic": row.diastolic,
            "source": row.source,
        }
        yield ExportItem("metrics", "blood_pressure", row.unit, item)


def _sleep_items(user, start, end) -> Iterator[ExportItem]:
    rows = SleepNight.objects.filter(user=user)
    if start is not None:
        rows = rows.filter(night__gte=start.date())
    if end is not None:
        rows = rows.filter(night__lt=end.date())
    for row in rows.order_by("night", "session_start", "id").iterator(CHUNK):
        item: dict[str, Any] = {"date": row.night.isoformat(), "source": row.source}
        for column, key in SLEEP_FIELDS.items():
            if getattr(row, column) is not None:
                item[key] = getattr(row, column)
        for column, key in SLEEP_TIMES.items():
            if getattr(row, column) is not None:
                item[key] = local_time(getattr(row, column), row.utc_offset)
        yield ExportItem("metrics", "sleep_analysis", "hr", {**row.extra, **item})


def _sleep_stage_items(user, start, end) -> Iterator[ExportItem]:
    """Stage segments as the app sends them unaggregated, in the unit they were sent in."""
    stored_unit = MetricType.objects.filter(name="sleep_analysis").values_list("unit", flat=True).first()
    rows = _window(SleepStage.objects.filter(user=user), "start", start, end).order_by("unit", "start", "id")
    back, back_unit = None, None
    for row in rows.iterator(CHUNK):
        if row.unit != back_unit:
            back, back_unit = converter(stored_unit, row.unit), row.unit
        item = {
            "startDate": local_time(row.start, row.utc_offset),
            "endDate": local_time(row.end, row.utc_offset),
            "qty": back(row.qty),
            "value": row.stage,
            "source": row.source,
        }
        yield ExportItem("metrics", "sleep_analysis", row.unit, item)


def _workout_items(user, start, end) -> Iterator[ExportItem]:
    workouts = _window(Workout.objects.filter(user=user), "start", start, end).order_by("start", "id")
    # Workouts are few (hundreds a year); their routes and series are read per workout.
    for workout in workouts.iterator(200):
        offset = workout.utc_offset
        item: dict[str, Any] = {
            "id": workout.external_id,
            "name": workout.name,
            "start": local_time(workout.start, offset),
            "end": local_time(workout.end, offset),
        }
        if workout.duration_s is not None:
            item["duration"] = workout.duration_s
        if workout.location:
            item["location"] = workout.location
        if workout.is_indoor is not None:
            item["isIndoor"] = workout.is_indoor
        item.update(workout.fields)
        for series in workout.series.order_by("kind", "seq").iterator(CHUNK):
            point: dict[str, Any] = {"date": local_time(series.start, offset)}
            if series.qty is not None:
                point["qty"] = series.qty
            if series.min is not None:
                point["Min"] = series.min
            if series.max is not None:
                point["Max"] = series.max
            if series.unit:
                point["units"] = series.unit
            if series.source:
                point["source"] = series.source
            item.setdefault(series.kind, []).append(point)
        route = []
        for p in workout.route_points.order_by("seq").iterator(CHUNK):
            point = {"latitude": p.latitude, "longitude": p.longitude}
            if p.timestamp is not None:
                point["timestamp"] = local_time(p.timestamp, offset)
            for column, key in (
                ("altitude", "altitude"),
                ("speed", "speed"),
                ("course", "course"),
                ("horizontal_accuracy", "horizontalAccuracy"),
                ("vertical_accuracy", "verticalAccuracy"),
            ):
                if getattr(p, column) is not None:
                    point[key] = getattr(p, column)
            route.append(point)
        if route:
            item["route"] = route
        yield ExportItem("workouts", "", "", item)


# --- Formats ----------------------------------------------------------------------------------


def render_ndjson(items: Iterator[ExportItem]) -> Iterator[bytes]:
    for entry in items:
        yield orjson.dumps(entry._asdict()) + b"\n"


def render_hae(items: Iterator[ExportItem]) -> Iterator[bytes]:
    """``{"data": {"metrics": [...], "workouts": [...], <section>: [...]}}``, written as it goes."""
    yield b'{"data": {'
    section = group = None
    first_section = True
    for entry in items:
        if entry.section != section:
            if group is not None:
                yield b"]}"
            if section is not None:
                yield b"]"
            yield (b"" if first_section else b", ") + orjson.dumps(entry.section) + b": ["
            first_section, section, group = False, entry.section, None
            first_in_section = True
        if entry.section == "metrics":
            key = (entry.name, entry.units)
            if key != group:
                if group is not None:
                    yield b"]}, "
                yield b'{"name": ' + orjson.dumps(entry.name) + b', "units": ' + orjson.dumps(entry.units)
                yield b', "data": ['
                group = key
                first_in_section = True
        yield (b"" if first_in_section else b", ") + orjson.dumps(entry.item)
        first_in_section = False
    if group is not None:
        yield b"]}"
    if section is not None:
        yield b"]"
    yield b"}}\n"


def render_csv(items: Iterator[ExportItem]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for entry in items:
        item = entry.item
        scalar = entry.section == "metrics" and ("qty" in item or "Avg" in item)
        writer.writerow(
            (
                entry.section,
                entry.name,
                entry.units,
                item.get("date") or item.get("startDate") or item.get("start") or "",
                item.get("endDate") or "",
                item.get("qty", item.get("Avg", "")) if scalar else "",
                item.get("Min", "") if scalar else "",
                item.get("Max", "") if scalar else "",
                item.get("source", "") if scalar else "",
                next((item[k] for k in ("mealTime", "reason", "value") if k in item), "") if scalar else "",
                "" if scalar else orjson.dumps(item).decode(),
            )
        )
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


RENDERERS = {"hae": render_hae, "ndjson": render_ndjson, "csv": render_csv}
