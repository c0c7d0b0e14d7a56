"""Stored rows (``metrics.export``) as items of the app's own format: the reverse of ``items``,
with its field names, so that export → wipe → import reproduces the same rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson

from ingest.hae.items import (
    CONTEXT_FIELDS,
    ROUTE_POINT_EXTRAS,
    SLEEP_NIGHT_FIELDS,
    SLEEP_NIGHT_TIMES,
    WORKOUT_COLUMNS,
)
from metrics.export import StoredItem, StoredSample, StoredSleepStage, StoredWorkout
from metrics.models import BloodPressure, SleepNight
from metrics.queries import local_time


class ExportItem(NamedTuple):
    section: str  # metrics, workouts, or another section name
    name: str  # metric name ("" outside metrics)
    units: str
    item: dict[str, Any]


def export_items(stored: Iterator[StoredItem]) -> Iterator[ExportItem]:
    """Each stored row as the item the app would have sent."""
    for entry in stored:
        row = entry.row
        if isinstance(row, StoredSample):
            item = _sample_item(row, entry.name)
        elif isinstance(row, dict):
            item = row
        elif isinstance(row, StoredWorkout):
            item = _workout_item(row)
        elif isinstance(row, SleepNight):
            item = _sleep_night_item(row)
        elif isinstance(row, StoredSleepStage):
            item = _sleep_stage_item(row)
        else:
            item = _blood_pressure_item(row)
        yield ExportItem(entry.section, entry.name, entry.units, item)


def _sample_item(row: StoredSample, name: str) -> dict[str, Any]:
    if row.end is not None:
        item: dict[str, Any] = {
            "startDate": local_time(row.start, row.utc_offset),
            "endDate": local_time(row.end, row.utc_offset),
        }
    else:
        item = {"date": local_time(row.start, row.utc_offset)}
    if row.min is None and row.max is None:
        item["qty"] = row.qty
    else:
        item["Avg"] = row.qty
        if row.min is not None:
            item["Min"] = row.min
        if row.max is not None:
            item["Max"] = row.max
    item["source"] = row.source
    if row.context:
        item[CONTEXT_FIELDS.get(name, "value")] = row.context
    return item


def _blood_pressure_item(row: BloodPressure) -> dict[str, Any]:
    return {
        "date": local_time(row.start, row.utc_offset),
        "systolic": row.systolic,
        "diastolic": row.diastolic,
        "source": row.source,
    }


def _sleep_night_item(row: SleepNight) -> dict[str, Any]:
    item: dict[str, Any] = {"date": row.night.isoformat(), "source": row.source}
    for key, column in SLEEP_NIGHT_FIELDS.items():
        if getattr(row, column) is not None:
            item[key] = getattr(row, column)
    for key, column in SLEEP_NIGHT_TIMES.items():
        if getattr(row, column) is not None:
            item[key] = local_time(getattr(row, column), row.utc_offset)
    return {**row.extra, **item}


def _sleep_stage_item(row: StoredSleepStage) -> dict[str, Any]:
    """A stage segment as the app sends it unaggregated."""
    return {
        "startDate": local_time(row.start, row.utc_offset),
        "endDate": local_time(row.end, row.utc_offset),
        "qty": row.qty,
        "value": row.stage,
        "source": row.source,
    }


def _workout_item(row: StoredWorkout) -> dict[str, Any]:
    workout, offset = row.workout, row.workout.utc_offset
    item: dict[str, Any] = {
        "id": workout.external_id,
        "name": workout.name,
        "start": local_time(workout.start, offset),
        "end": local_time(workout.end, offset),
    }
    for key, column in WORKOUT_COLUMNS.items():
        if getattr(workout, column) not in (None, ""):
            item[key] = getattr(workout, column)
    item.update(workout.fields)
    for series in row.series:
        point: dict[str, Any] = {"date": local_time(series.start, offset)}
        for key, column in (("qty", "qty"), ("Min", "min"), ("Max", "max"), ("units", "unit"), ("source", "source")):
            if getattr(series, column) not in (None, ""):
                point[key] = getattr(series, column)
        item.setdefault(series.kind, []).append(point)
    route = []
    for p in row.route:
        point = {"latitude": p.latitude, "longitude": p.longitude}
        if p.timestamp is not None:
            point["timestamp"] = local_time(p.timestamp, offset)
        for key, column in ROUTE_POINT_EXTRAS.items():
            if getattr(p, column) is not None:
                point[key] = getattr(p, column)
        route.append(point)
    if route:
        item["route"] = route
    return item


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
