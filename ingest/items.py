"""Health Auto Export items → table rows, one item at a time, rejecting only the bad ones.

Each ``*_rows`` function takes one section of the payload and the report, and returns the rows
to write, keyed by natural key. An item repeated inside one body is counted once as stored
and then as a duplicate (or updated, when its value differs: the later one wins).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson
from django.contrib.gis.geos import LineString

from ingest.parsing import (
    ItemError,
    check_range,
    parse_instant,
    parse_local_date,
    parse_number,
    parse_optional_instant,
    parse_optional_number,
    parse_text,
)
from ingest.payload import decode
from ingest.report import Counts, IngestReport
from ingest.writers import Row
from metrics import catalog
from metrics.units import UnitMismatch, converter

SLEEP_NIGHT_FIELDS = {
    "totalSleep": "total_sleep",
    "asleep": "asleep",
    "core": "core",
    "deep": "deep",
    "rem": "rem",
    "awake": "awake",
    "inBed": "in_bed",
}
SLEEP_NIGHT_TIMES = {
    "sleepStart": "sleep_start",
    "sleepEnd": "sleep_end",
    "inBedStart": "in_bed_start",
    "inBedEnd": "in_bed_end",
}
SLEEP_NIGHT_KNOWN = {"date", "source", *SLEEP_NIGHT_FIELDS, *SLEEP_NIGHT_TIMES}
CONTEXT_FIELDS = ("mealTime", "reason", "value")
# (metric id, unit as sent, unit stored, converter from the one to the other)
MetricUnit = tuple[int, str, str, Callable[[float], float]]

# Natural keys of the other sections' items; an item with none of these is keyed by its hash.
OTHER_KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "symptoms": ("start", "name", "source"),
    "ecg": ("start", "source"),
    "heartRateNotifications": ("start", "heartNotification"),
    "medications": ("displayText", "scheduledDate", "start"),
    "cycleTracking": ("date", "start", "name"),
}
OTHER_START_FIELDS = ("start", "date", "startDate", "scheduledDate")


def content_hash(item: Any) -> str:
    return hashlib.sha256(orjson.dumps(item, option=orjson.OPT_SORT_KEYS)).hexdigest()


class RowCollector:
    """Rows of one table by natural key, deduplicating repeats inside the body."""

    def __init__(self) -> None:
        self.rows: dict[tuple, Row] = {}

    def add(self, key: tuple, values: tuple, counts: Counts) -> None:
        seen = self.rows.get(key)
        if seen is None:
            self.rows[key] = Row(key, values, counts)
        elif seen.values == values:
            counts.duplicates += 1
        else:
            counts.updated += 1
            self.rows[key] = Row(key, values, seen.counts)

    def __bool__(self) -> bool:
        return bool(self.rows)

    def values(self) -> list[Row]:
        return list(self.rows.values())


class MetricRows:
    """Collected rows of the metrics section, one collector per table."""

    def __init__(self) -> None:
        self.samples = RowCollector()
        self.blood_pressure = RowCollector()
        self.sleep_nights = RowCollector()


def _where(metric: str, index: int, field: str | None) -> dict[str, Any]:
    where: dict[str, Any] = {"section": "metrics", "metric": metric, "index": index}
    if field:
        where["field"] = field
    return where


def collect_metric(
    *,
    name: str,
    units: str,
    items: list,
    first_index: int = 0,
    metric_id: int,
    metric_unit: str,
    rows: MetricRows,
    report: IngestReport,
) -> None:
    """Validate items of one metric (counted as received by the caller) and add the valid ones
    to ``rows``; ``first_index`` is the position of ``items[0]`` in the metric, for errors."""
    counts = report.metric(name)
    try:
        convert = converter(units, metric_unit)
    except UnitMismatch:
        for index in range(first_index, first_index + len(items)):
            report.reject(
                counts,
                "unit_mismatch",
                f"unit {units!r} cannot be converted to {metric_unit!r}, the unit {name} is stored in",
                **_where(name, index, "units"),
            )
        return
    handler = _blood_pressure_item if name == "blood_pressure" else _quantity_item
    for index, raw in enumerate(items, start=first_index):
        item = decode(raw)
        try:
            if not isinstance(item, dict):
                raise ItemError("invalid_item", "an item must be an object", None)
            if name == "sleep_analysis" and "startDate" not in item and "qty" not in item:
                _sleep_night_item(item, rows, counts)
            else:
                handler(name, item, (metric_id, units, metric_unit, convert), rows, counts)
        except ItemError as exc:
            report.reject(counts, exc.code, exc.message, **_where(name, index, exc.field))


def _quantity_item(name: str, item: dict, metric: MetricUnit, rows: MetricRows, counts: Counts) -> None:
    metric_id, units, metric_unit, convert = metric
    if "startDate" in item:  # unaggregated sleep stages (and any other interval sample)
        start, offset = parse_instant(item["startDate"], "startDate")
        end, _ = parse_instant(item.get("endDate"), "endDate")
        if end < start:
            raise ItemError("end_before_start", "endDate is before startDate", "endDate")
    else:
        start, offset = parse_instant(item.get("date"), "date")
        end = None
    if "qty" in item:
        qty, low, high = parse_number(item["qty"], "qty"), None, None
    elif "Avg" in item:
        qty = parse_number(item["Avg"], "Avg")
        low, high = parse_optional_number(item.get("Min"), "Min"), parse_optional_number(item.get("Max"), "Max")
    else:
        raise ItemError("missing_value", "the item has neither qty nor Avg", "qty")
    qty, low, high = convert(qty), (None if low is None else convert(low)), (None if high is None else convert(high))
    bounds = catalog.BOUNDS.get(name)
    if bounds and bounds[0] == metric_unit:
        unit, lo, hi = bounds
        check_range(qty, lo, hi, "Avg" if "Avg" in item else "qty", unit)
        check_range(low, lo, hi, "Min", unit)
        check_range(high, lo, hi, "Max", unit)
    if catalog.is_cumulative(name) and qty < 0:
        raise ItemError("out_of_range", f"qty {qty:g} is negative; {name} cannot be", "qty")
    if low is not None and high is not None and low > high:
        raise ItemError("out_of_range", f"Min {low:g} is above Max {high:g}", "Min")
    context = next((item[f] for f in CONTEXT_FIELDS if isinstance(item.get(f), str)), "")[:64]
    source = parse_text(item.get("source"), "source")
    rows.samples.add((metric_id, start, source), (end, qty, low, high, units, offset, context), counts)


def _blood_pressure_item(name: str, item: dict, metric: MetricUnit, rows: MetricRows, counts: Counts) -> None:
    units = metric[1]
    start, offset = parse_instant(item.get("date"), "date")
    systolic = parse_number(item.get("systolic"), "systolic")
    diastolic = parse_number(item.get("diastolic"), "diastolic")
    check_range(systolic, *catalog.SYSTOLIC_RANGE, "systolic", "mmHg")
    check_range(diastolic, *catalog.DIASTOLIC_RANGE, "diastolic", "mmHg")
    if diastolic >= systolic:
        raise ItemError("out_of_range", f"diastolic {diastolic:g} is not below systolic {systolic:g}", "diastolic")
    source = parse_text(item.get("source"), "source")
    rows.blood_pressure.add((start, source), (systolic, diastolic, units or "mmHg", offset), counts)


def _sleep_night_item(item: dict, rows: MetricRows, counts: Counts) -> None:
    night, offset = parse_local_date(item.get("date"), "date")
    durations = [parse_optional_number(item.get(key), key) for key in SLEEP_NIGHT_FIELDS]
    for key, value in zip(SLEEP_NIGHT_FIELDS, durations, strict=True):
        check_range(value, 0, 24, key, "hr")
    times = []
    for key in SLEEP_NIGHT_TIMES:
        moment, moment_offset = parse_optional_instant(item.get(key), key)
        times.append(moment)
        offset = offset if offset is not None else moment_offset
    source = parse_text(item.get("source") or item.get("sleepSource") or item.get("inBedSource"), "source")
    extra = {k: v for k, v in item.items() if k not in SLEEP_NIGHT_KNOWN}
    rows.sleep_nights.add((night, source), (*durations, *times, offset or 0, extra), counts)


class WorkoutData:
    """One valid workout, ready to store."""

    def __init__(self, index: int, fields: dict[str, Any], route: list[tuple], series: list[tuple], digest: str):
        self.index, self.fields, self.route, self.series, self.digest = index, fields, route, series, digest


QUANTITY_FIELDS = {"activeEnergyBurned": ("active_energy_kcal", "kcal"), "distance": ("distance_km", "km")}
V1_QUANTITY_FIELDS = {"activeEnergy": ("active_energy_kcal", "kcal")}


def _quantity(value: Any, field: str, unit: str) -> float | None:
    if not isinstance(value, dict) or "qty" not in value:
        return None
    qty = parse_number(value["qty"], f"{field}.qty")
    try:
        return converter(value.get("units") or unit, unit)(qty)
    except UnitMismatch:
        raise ItemError("unit_mismatch", f"{field} unit {value.get('units')!r} is not a {unit} unit", field) from None


def _route_point(point: Any, position: int, report: IngestReport, index: int) -> tuple | None:
    where = f"route[{position}]"
    try:
        if not isinstance(point, dict):
            raise ItemError("invalid_item", "a route point must be an object", where)
        lat_key = "latitude" if "latitude" in point else "lat"
        lon_key = "longitude" if "longitude" in point else "lon"
        latitude = parse_number(point.get(lat_key), f"{where}.{lat_key}")
        longitude = parse_number(point.get(lon_key), f"{where}.{lon_key}")
        check_range(latitude, *catalog.ROUTE_LATITUDE, f"{where}.{lat_key}", "degrees")
        check_range(longitude, *catalog.ROUTE_LONGITUDE, f"{where}.{lon_key}", "degrees")
        timestamp, _ = parse_optional_instant(point.get("timestamp"), f"{where}.timestamp")
        extras = [
            parse_optional_number(point.get(key), f"{where}.{key}")
            for key in ("altitude", "speed", "course", "horizontalAccuracy", "verticalAccuracy")
        ]
    except ItemError as exc:
        report.error(exc.code, exc.message, section="workouts", index=index, field=exc.field)
        return None
    return (timestamp, latitude, longitude, *extras)


def _series(kind: str, values: list, report: IngestReport, index: int) -> list[tuple]:
    series = []
    for position, point in enumerate(values):
        where = f"{kind}[{position}]"
        try:
            if not isinstance(point, dict):
                raise ItemError("invalid_item", "a series item must be an object", where)
            start, _ = parse_optional_instant(point.get("date"), f"{where}.date")
            qty = parse_optional_number(point.get("qty", point.get("Avg")), f"{where}.qty")
            low = parse_optional_number(point.get("Min"), f"{where}.Min")
            high = parse_optional_number(point.get("Max"), f"{where}.Max")
            source = parse_text(point.get("source"), f"{where}.source")
        except ItemError as exc:
            report.error(exc.code, exc.message, section="workouts", index=index, field=exc.field)
            continue
        series.append((kind, position, start, qty, low, high, str(point.get("units") or "")[:32], source))
    return series


def collect_workouts(items: list, report: IngestReport) -> list[WorkoutData]:
    counts = report.workouts
    counts.received += len(items)
    workouts: dict[str, WorkoutData] = {}
    for index, raw in enumerate(items):
        item = decode(raw)
        try:
            if not isinstance(item, dict):
                raise ItemError("invalid_item", "a workout must be an object", None)
            workout = _workout(index, item, report)
        except ItemError as exc:
            report.reject(counts, exc.code, exc.message, section="workouts", index=index, field=exc.field)
            continue
        seen = workouts.get(workout.fields["external_id"])
        if seen is not None and seen.digest == workout.digest:
            counts.duplicates += 1
            continue
        if seen is not None:
            counts.updated += 1
        workouts[workout.fields["external_id"]] = workout
    return list(workouts.values())


def _workout(index: int, item: dict, report: IngestReport) -> WorkoutData:
    name = parse_text(item.get("name"), "name", 100) or "Workout"
    start, offset = parse_instant(item.get("start"), "start")
    end, _ = parse_instant(item.get("end"), "end")
    if end < start:
        raise ItemError("end_before_start", "the workout ends before it starts", "end")
    external_id = item.get("id")
    if not isinstance(external_id, str) or not external_id:
        external_id = f"v1:{name}:{start.isoformat()}"
    fields: dict[str, Any] = {
        "external_id": external_id[:100],
        "name": name,
        "start": start,
        "end": end,
        "utc_offset": offset,
        "duration_s": parse_optional_number(item.get("duration"), "duration"),
        "location": parse_text(item.get("location"), "location", 32),
        "is_indoor": item.get("isIndoor") if isinstance(item.get("isIndoor"), bool) else None,
    }
    for key, (column, unit) in {**QUANTITY_FIELDS, **V1_QUANTITY_FIELDS}.items():
        value = _quantity(item.get(key), key, unit)
        if value is not None:
            if value < 0:
                raise ItemError("out_of_range", f"{key} is negative", key)
            fields[column] = value
    route = [
        point
        for position, raw in enumerate(item.get("route") or [])
        if (point := _route_point(raw, position, report, index)) is not None
    ]
    series: list[tuple] = []
    extra: dict[str, Any] = {}
    for key, value in item.items():
        if key == "route":
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) and ("date" in v) for v in value):
            series.extend(_series(key, value, report, index))
        elif key not in {"id", "name", "start", "end", "duration", "location", "isIndoor"}:
            extra[key] = value
    fields["fields"] = extra
    if len(route) >= 2:
        fields["route"] = LineString([(p[2], p[1]) for p in route], srid=4326)
    return WorkoutData(index, fields, route, series, content_hash(item))


def collect_other(section: str, items: Any, report: IngestReport) -> RowCollector:
    """Items of symptoms, ecg, stateOfMind, … or any section name the app adds later."""
    collector = RowCollector()
    counts = report.section(section)
    if isinstance(items, dict):
        items = [items]
    counts.received += len(items)
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            report.reject(counts, "invalid_item", "an item must be an object", section=section, index=index)
            continue
        digest = content_hash(item)
        start = None
        for key in OTHER_START_FIELDS:
            try:
                start, _ = parse_instant(item.get(key), key)
                break
            except ItemError:
                continue
        collector.add((section, _natural_key(section, item, digest)), (start, item, digest), counts)
    return collector


def _natural_key(section: str, item: dict, digest: str) -> str:
    if isinstance(item.get("id"), str) and item["id"]:
        key = f"id:{item['id']}"
    else:
        parts = [item.get(f) for f in OTHER_KEY_FIELDS.get(section, ())]
        if not any(isinstance(p, str | int | float) for p in parts):
            return f"sha256:{digest}"
        key = "|".join("" if p is None else str(p) for p in parts)
    return key if len(key) <= 128 else "sha256:" + hashlib.sha256(key.encode()).hexdigest()
