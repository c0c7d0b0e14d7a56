"""Health Auto Export items → typed rows (``ingest.rows``), one item at a time, rejecting only the bad ones.

Each ``*_rows`` function takes the items of one metric or section and the report, yields the
rows of the valid items and reports each bad one with its place. Nothing here touches a database
or knows how a table is written: an item repeated inside one body is yielded twice, and the
writers count the second as a duplicate (or as updated, when its value differs).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import orjson
from django.contrib.gis.geos import GEOSGeometry
from msgspec import UNSET, UnsetType

from ingest.hae.document import decode_item
from ingest.parsing import (
    MAX_MAGNITUDE,
    ItemError,
    check_range,
    parse_instant,
    parse_local_date,
    parse_number,
    parse_optional_instant,
    parse_optional_number,
    parse_text,
)
from ingest.report import IngestReport
from ingest.rows import (
    BloodPressureRow,
    HealthRecordRow,
    RoutePoints,
    SampleRow,
    SleepNightRow,
    SleepStageRow,
    TableRow,
    WorkoutRow,
)
from metrics import catalog
from metrics.models import WorkoutSeries
from metrics.units import MAX_UNIT_LENGTH, UnitMismatch, UnknownUnit, converter, identity

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
# A sleep_analysis item with any of these is a stage segment; without, an aggregated session.
SLEEP_STAGE_MARKERS = frozenset({"startDate", "start", "endDate", "end", "qty", "value"})


@dataclass(slots=True, frozen=True)
class MetricContext:
    """What every item of one metric shares, worked out once per metric rather than per item."""

    name: str
    metric_id: int
    units: str  # as sent (the canonical unit of a known metric sent without one)
    convert: Callable[[float], float] | None  # to the canonical unit; None when there is nothing to do
    bounds: tuple[str, float, float] | None  # (canonical unit, low, high) of a known metric
    cumulative: bool


# Natural keys of the other sections' items; an item with none of these is keyed by its hash.
OTHER_KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "symptoms": ("start", "name", "source"),
    "ecg": ("start", "source"),
    "heartRateNotifications": ("start", "heartNotification"),
    "medications": ("displayText", "scheduledDate", "start"),
    "cycleTracking": ("date", "start", "name"),
}
OTHER_START_FIELDS = ("start", "date", "startDate", "scheduledDate")


# A number of a typed item (quantity, route point): msgspec checks the bound as it decodes.
Number = Annotated[float, msgspec.Meta(ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE)]


def content_hash(item: Any) -> str:
    """SHA-256 of the item as canonical JSON; ``ItemError`` when it cannot be written as JSON."""
    try:
        return hashlib.sha256(orjson.dumps(item, option=orjson.OPT_SORT_KEYS)).hexdigest()
    except orjson.JSONEncodeError as exc:
        raise _not_json(exc) from None


def _not_json(exc: orjson.JSONEncodeError) -> ItemError:
    """orjson writes at most 254 levels of nesting: nothing nested more deeply is stored."""
    return ItemError("invalid_item", f"the item cannot be stored as JSON: it is nested too deeply ({exc})", None)


def _where(metric: str, index: int, field: str | None) -> dict[str, Any]:
    where: dict[str, Any] = {"section": "metrics", "metric": metric, "index": index}
    if field:
        where["field"] = field
    return where


def metric_rows(
    *,
    name: str,
    units: str,
    items: list,
    first_index: int = 0,
    metric_id: int,
    metric_unit: str,
    report: IngestReport,
) -> Iterator[TableRow]:
    """The rows of the valid items of one metric (counted as received by the caller): samples,
    or blood pressure readings, sleep sessions and stages; ``first_index`` is the position of
    ``items[0]`` in the metric, for errors.

    ``metric_unit`` is the canonical unit of a known metric, into which values are converted
    (and then checked against its bounds), or "" for an unknown metric, whose values are kept
    in the unit they were sent in. A known metric sent without a unit is in its canonical unit.
    """
    counts = report.metric(name)
    convert, refusal = _unit_conversion(name, units, metric_unit)
    if refusal is not None:
        for index in range(first_index, first_index + len(items)):
            report.reject(counts, refusal.code, refusal.message, **_where(name, index, refusal.field))
        return
    handler = ITEM_HANDLERS.get(name, _quantity_item)
    metric = MetricContext(
        name=name,
        metric_id=metric_id,
        units=units or metric_unit,
        convert=None if convert is identity else convert,
        bounds=catalog.BOUNDS.get(name) if metric_unit else None,
        cumulative=catalog.is_cumulative(name),
    )
    for index, raw in enumerate(items, start=first_index):
        try:
            row = handler(raw, metric)
        except ItemError as exc:
            report.reject(counts, exc.code, exc.message, **_where(name, index, exc.field))
            continue
        yield row


def _unit_conversion(
    name: str, units: str, metric_unit: str
) -> tuple[Callable[[float], float], None] | tuple[None, ItemError]:
    """(the conversion of ``units`` to ``metric_unit``, None) or (None, why every item is refused)."""
    if len(units) > MAX_UNIT_LENGTH:
        return None, ItemError("invalid_unit", f"a unit is at most {MAX_UNIT_LENGTH} characters", "units")
    if not metric_unit or not units:
        return identity, None
    try:
        return converter(units, metric_unit), None
    except UnknownUnit:
        message = f"unit {units!r} is not a unit we can read; {name} is stored in {metric_unit}"
    except UnitMismatch:
        message = f"unit {units!r} is not a unit of {name}, which is measured in {metric_unit}"
    return None, ItemError("unit_mismatch", message, "units")


class QuantityItem(msgspec.Struct):
    """The fields of a quantity item that are read, decoded straight from the body.

    msgspec checks the numbers and text as it decodes (in C, with no dict built); an item it
    refuses is decoded again as a dict to say precisely what is wrong. Dates stay as sent, for
    ``parse_instant`` to read and to name what is wrong with them.
    """

    date: Any = None
    startDate: Any = UNSET
    endDate: Any = None
    qty: Number | UnsetType = UNSET
    Avg: Number | UnsetType = UNSET
    Min: Number | None = None
    Max: Number | None = None
    source: str | None = None
    mealTime: Any = None
    reason: Any = None
    value: Any = None


_quantity_item_decoder = msgspec.json.Decoder(QuantityItem)


def _quantity_fields(raw: msgspec.Raw) -> QuantityItem:
    try:
        return _quantity_item_decoder.decode(raw)
    except (msgspec.ValidationError, RecursionError) as exc:  # decode_item names a nesting too deep
        raise _refused(
            decode_item(raw), exc, "an item", numbers=("qty", "Avg"), optional=("Min", "Max"), texts=("source",)
        ) from None


def _refused(
    item: Any,
    exc: msgspec.ValidationError,
    what: str,
    *,
    numbers: tuple[str, ...],
    optional: tuple[str, ...] = (),
    texts: tuple[str, ...] = (),
) -> ItemError:
    """What is wrong with an item msgspec refused: the field of the wrong type, checked by the
    parser that names the problem (``numbers`` must be numbers when present, ``optional`` may
    also be null)."""
    if not isinstance(item, dict):
        return ItemError("invalid_item", f"{what} must be an object", None)
    try:
        for key in numbers:
            if key in item:
                parse_number(item[key], key)
        for key in optional:
            parse_optional_number(item.get(key), key)
        for key in texts:
            parse_text(item.get(key), key)
    except ItemError as error:
        return error
    return ItemError("invalid_item", str(exc), None)


def _quantity_item(raw: msgspec.Raw, metric: MetricContext) -> SampleRow:
    item = _quantity_fields(raw)
    if item.startDate is not UNSET:  # unaggregated sleep stages (and any other interval sample)
        start, offset = parse_instant(item.startDate, "startDate")
        end, _ = parse_instant(item.endDate, "endDate")
        if end < start:
            raise ItemError("end_before_start", "endDate is before startDate", "endDate")
    else:
        start, offset = parse_instant(item.date, "date")
        end = None
    if item.qty is not UNSET:
        qty_field, qty, low, high = "qty", item.qty, None, None
    elif item.Avg is not UNSET:
        qty_field, qty, low, high = "Avg", item.Avg, item.Min, item.Max
    else:
        raise ItemError("missing_value", "the item has neither qty nor Avg", "qty")
    convert = metric.convert
    if convert is not None:
        qty, low, high = (
            convert(qty),
            (None if low is None else convert(low)),
            (None if high is None else convert(high)),
        )
    if metric.bounds is not None:
        unit, lo, hi = metric.bounds
        check_range(qty, lo, hi, qty_field, unit)
        check_range(low, lo, hi, "Min", unit)
        check_range(high, lo, hi, "Max", unit)
    if metric.cumulative and qty < 0:
        raise ItemError("out_of_range", f"qty {qty:g} is negative; {metric.name} cannot be", "qty")
    if low is not None and high is not None and low > high:
        raise ItemError("out_of_range", f"Min {low:g} is above Max {high:g}", "Min")
    context = _context(item)
    source = parse_text(item.source, "source")
    return _new_row(
        SampleRow, (metric.metric_id, start, source, end, qty, low, high, metric.units, offset, context, "", "")
    )


# A named tuple made from a tuple, without the call of its ``__new__`` (a Python function): the
# rows of an export are made hundreds of thousands of times.
_new_row = tuple.__new__


# The field a metric's text comes in, when it is not ``value``: read from any of them, written in this one.
CONTEXT_FIELDS = {"blood_glucose": "mealTime", "insulin_delivery": "reason"}


def _context(item: QuantityItem) -> str:
    """The text some metrics add: meal time (glucose), reason (insulin), value (handwashing, sleep stage)."""
    if item.mealTime is None and item.reason is None and item.value is None:  # nearly every item
        return ""
    for field, value in (("mealTime", item.mealTime), ("reason", item.reason), ("value", item.value)):
        if isinstance(value, str):
            return parse_text(value[:64], field)
    return ""


def _item_object(raw: msgspec.Raw) -> dict:
    """An item that is an object and could be stored as JSON (its unknown fields may be)."""
    item = decode_item(raw)
    if not isinstance(item, dict):
        raise ItemError("invalid_item", "an item must be an object", None)
    try:
        orjson.dumps(item)
    except orjson.JSONEncodeError as exc:
        raise _not_json(exc) from None
    return item


def _blood_pressure_item(raw: msgspec.Raw, metric: MetricContext) -> BloodPressureRow:
    item = _item_object(raw)
    units, convert = (metric.units, identity) if metric.convert is None else ("mmHg", metric.convert)
    start, offset = parse_instant(item.get("date"), "date")
    systolic = convert(parse_number(item.get("systolic"), "systolic"))
    diastolic = convert(parse_number(item.get("diastolic"), "diastolic"))
    check_range(systolic, *catalog.SYSTOLIC_RANGE, "systolic", "mmHg")
    check_range(diastolic, *catalog.DIASTOLIC_RANGE, "diastolic", "mmHg")
    if diastolic >= systolic:
        raise ItemError("out_of_range", f"diastolic {diastolic:g} is not below systolic {systolic:g}", "diastolic")
    source = parse_text(item.get("source"), "source")
    return BloodPressureRow(start, source, systolic, diastolic, units, offset)


def _sleep_item(raw: msgspec.Raw, metric: MetricContext) -> SleepNightRow | SleepStageRow:
    """sleep_analysis: an aggregated session (a night, or part of one), or an unaggregated stage."""
    item = _item_object(raw)
    if SLEEP_STAGE_MARKERS.isdisjoint(item):
        return _sleep_night_item(item)
    return _sleep_stage_item(item, metric)


def _sleep_stage_item(item: dict, metric: MetricContext) -> SleepStageRow:
    """A stage segment, keyed by its start, source and stage: In Bed and Core may start together."""
    start_field = _sleep_stage_field(item, "startDate", "start")
    end_field = _sleep_stage_field(item, "endDate", "end")
    start, offset = parse_instant(item[start_field], start_field)
    end, _ = parse_instant(item[end_field], end_field)
    if end < start:
        raise ItemError("end_before_start", f"{end_field} is before {start_field}", end_field)
    qty = parse_optional_number(item.get("qty"), "qty")
    if qty is None:
        raise ItemError("missing_value", "the stage segment has no qty", "qty")
    if metric.convert is not None:
        qty = metric.convert(qty)
    if qty < 0:
        raise ItemError("out_of_range", f"qty {qty:g} is negative; a sleep stage cannot be", "qty")
    stage = parse_text(item.get("value"), "value", 64)
    source = parse_text(item.get("source"), "source")
    return SleepStageRow(start, source, stage, end, qty, metric.units, offset)


def _sleep_stage_field(item: dict, field: str, synonym: str) -> str:
    """The name the segment gives a date: ``startDate``/``endDate``, or the ``start``/``end`` one
    published description of the format uses."""
    for name in (field, synonym):
        if name in item:
            return name
    raise ItemError("missing_value", f"{field} (or {synonym}) is missing", field)


def _sleep_night_item(item: dict) -> SleepNightRow:
    """A session, keyed by its night, source and start: a night broken by waking, or a nap, is
    sent as several items with the same ``date``."""
    durations = [parse_optional_number(item.get(key), key) for key in SLEEP_NIGHT_FIELDS]
    for key, value in zip(SLEEP_NIGHT_FIELDS, durations, strict=True):
        check_range(value, 0, 24, key, "hr")
    parsed = {key: parse_optional_instant(item.get(key), key) for key in SLEEP_NIGHT_TIMES}
    times = [moment for moment, _ in parsed.values()]
    if item.get("date") is None:
        night, offset = _night_of(parsed)
    else:
        night, offset = parse_local_date(item["date"], "date")
    if offset is None:
        offset = next((moment_offset for _, moment_offset in parsed.values() if moment_offset is not None), None)
    source = parse_text(item.get("source") or item.get("sleepSource") or item.get("inBedSource"), "source")
    extra = {k: v for k, v in item.items() if k not in SLEEP_NIGHT_KNOWN}
    sleep_start, _, in_bed_start, _ = times
    session_start = sleep_start or in_bed_start or dt.datetime.combine(night, dt.time(), tzinfo=dt.UTC)
    return SleepNightRow(night, source, session_start, *durations, *times, offset or 0, extra)


def _night_of(times: dict[str, tuple[dt.datetime | None, int | None]]) -> tuple[dt.date, int]:
    """The night of a session sent without ``date`` (older app versions): the local day it ended on,
    as the app dates its nights."""
    for key in ("sleepEnd", "inBedEnd"):
        moment, offset = times[key]
        if moment is not None:
            return (moment + dt.timedelta(minutes=offset or 0)).date(), offset or 0
    raise ItemError("missing_value", "date is missing, and no sleepEnd or inBedEnd tells the night", "date")


ITEM_HANDLERS = {"blood_pressure": _blood_pressure_item, "sleep_analysis": _sleep_item}


def yields_samples_only(name: str) -> bool:
    """Whether every row of this metric is a sample (blood pressure and sleep have tables of their own)."""
    return name not in ITEM_HANDLERS


# A workout's fields with a column of their own (besides id, name, start and end) → their column;
# every other field is kept as sent.
WORKOUT_COLUMNS = {"duration": "duration_s", "location": "location", "isIndoor": "is_indoor"}
WORKOUT_KNOWN = frozenset({"id", "name", "start", "end", *WORKOUT_COLUMNS})
QUANTITY_FIELDS = {"activeEnergyBurned": ("active_energy_kcal", "kcal"), "distance": ("distance_km", "km")}
V1_QUANTITY_FIELDS = {"activeEnergy": ("active_energy_kcal", "kcal")}


def _quantity(value: Any, field: str, unit: str) -> float | None:
    if not isinstance(value, dict) or "qty" not in value:
        return None
    qty = parse_number(value["qty"], f"{field}.qty")
    sent_unit = parse_text(value.get("units"), f"{field}.units", 32) or unit
    try:
        return converter(sent_unit, unit)(qty)
    except UnitMismatch:
        raise ItemError("unit_mismatch", f"{field} unit {value.get('units')!r} is not a {unit} unit", field) from None


ROUTE_COORDINATES = ("latitude", "longitude", "lat", "lon")
# Optional fields of a route point → their columns.
ROUTE_POINT_EXTRAS = {
    "altitude": "altitude",
    "speed": "speed",
    "course": "course",
    "horizontalAccuracy": "horizontal_accuracy",
    "verticalAccuracy": "vertical_accuracy",
}


class RoutePointItem(msgspec.Struct):
    """The fields of a route point that are read (version 2 names, or version 1's lat/lon)."""

    latitude: Number | UnsetType = UNSET
    longitude: Number | UnsetType = UNSET
    lat: Number | UnsetType = UNSET
    lon: Number | UnsetType = UNSET
    timestamp: Any = None
    altitude: Number | None = None
    speed: Number | None = None
    course: Number | None = None
    horizontalAccuracy: Number | None = None
    verticalAccuracy: Number | None = None


def _route(points: Any, report: IngestReport, index: int) -> RoutePoints:
    """The valid points of a workout's route; each bad one is reported with its position.

    The whole route is checked for types in one msgspec call (routes run to thousands of
    points); only a route with a point of the wrong type is gone through point by point.
    """
    route = RoutePoints()
    if not isinstance(points, list):
        if points:  # a route that is not a list is reported; null, "" or {} are no route
            _report_nested(report, ItemError("invalid_item", "route must be a list of points", None), "route", index)
        return route
    try:
        typed: list[RoutePointItem | None] = msgspec.convert(points, list[RoutePointItem])
    except msgspec.ValidationError:
        typed = [_route_point_fields(point, position, report, index) for position, point in enumerate(points)]
    for position, point in enumerate(typed):
        if point is None:
            continue
        try:
            _add_route_point(route, point)
        except ItemError as exc:
            _report_nested(report, exc, f"route[{position}]", index)
    return route


def _route_point_fields(point: Any, position: int, report: IngestReport, index: int) -> RoutePointItem | None:
    try:
        return msgspec.convert(point, RoutePointItem)
    except msgspec.ValidationError as exc:
        error = _refused(point, exc, "a route point", numbers=ROUTE_COORDINATES, optional=tuple(ROUTE_POINT_EXTRAS))
        _report_nested(report, error, f"route[{position}]", index)
        return None


def _add_route_point(route: RoutePoints, point: RoutePointItem) -> None:
    latitude = _coordinate(point.latitude, point.lat, "latitude", "lat", catalog.ROUTE_LATITUDE)
    longitude = _coordinate(point.longitude, point.lon, "longitude", "lon", catalog.ROUTE_LONGITUDE)
    timestamp, _ = parse_optional_instant(point.timestamp, "timestamp")
    route.append(
        timestamp,
        latitude,
        longitude,
        point.altitude,
        point.speed,
        point.course,
        point.horizontalAccuracy,
        point.verticalAccuracy,
    )


def _coordinate(
    value: float | UnsetType, short: float | UnsetType, field: str, short_field: str, bounds: tuple
) -> float:
    """A latitude or longitude, under its version 2 name or its version 1 one."""
    if value is UNSET:
        value, field = short, short_field
    if value is UNSET:
        raise ItemError("invalid_number", f"{field} must be a number, got None", field)
    check_range(value, *bounds, field, "degrees")
    return value


def _report_nested(report: IngestReport, exc: ItemError, where: str, index: int) -> None:
    """An error inside a workout's list: field names (built only now, not per point) get the path."""
    field = f"{where}.{exc.field}" if exc.field else where
    message = f"{where}.{exc.message}" if exc.field and exc.message.startswith(exc.field) else exc.message
    report.error(exc.code, message, section="workouts", index=index, field=field)


# A workout's list is a series (heartRateData, stepCount, heartRateRecovery, …) when one of its
# elements is an object with a date and its name fits the column; any other list is kept whole
# with the workout's fields.
SERIES_KIND_LENGTH = WorkoutSeries._meta.get_field("kind").max_length


def _is_series(key: str, value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(key) <= SERIES_KIND_LENGTH
        and any(isinstance(element, dict) and "date" in element for element in value)
    )


def _series(kind: str, values: list, report: IngestReport, index: int) -> list[tuple]:
    """The valid elements of one series; each bad one is reported with its position."""
    series = []
    for position, point in enumerate(values):
        try:
            if not isinstance(point, dict):
                raise ItemError("invalid_item", "a series item must be an object", "")
            start, _ = parse_optional_instant(point.get("date"), "date")
            qty = parse_optional_number(point.get("qty", point.get("Avg")), "qty")
            low = parse_optional_number(point.get("Min"), "Min")
            high = parse_optional_number(point.get("Max"), "Max")
            source = parse_text(point.get("source"), "source")
        except ItemError as exc:
            _report_nested(report, exc, f"{kind}[{position}]", index)
            continue
        series.append((kind, position, start, qty, low, high, str(point.get("units") or "")[:32], source))
    return series


def workout_rows(items: list, report: IngestReport) -> list[WorkoutRow]:
    """The valid workouts, one per id: a repeat inside the body is counted here (a duplicate, or
    updated when it differs: the later one wins)."""
    counts = report.workouts
    counts.received += len(items)
    workouts: dict[str, WorkoutRow] = {}
    for index, raw in enumerate(items):
        try:
            item = decode_item(raw)
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


def _workout(index: int, item: dict, report: IngestReport) -> WorkoutRow:
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
    route = _route(item.get("route"), report, index)
    series: list[tuple] = []
    extra: dict[str, Any] = {}
    for key, value in item.items():
        if key == "route":
            continue
        if _is_series(key, value):
            series.extend(_series(key, value, report, index))
        elif key not in WORKOUT_KNOWN:
            extra[key] = value
    fields["fields"] = extra
    if len(route) >= 2:
        fields["route"] = route_line(route)
    return WorkoutRow(index, fields, route, series, content_hash(item))


def route_line(route: RoutePoints | Sequence[tuple]) -> GEOSGeometry:
    """The route as a WGS 84 LineString, built from WKB: GEOS's per-point calls cost 5 µs each."""
    if isinstance(route, RoutePoints):
        wkb = struct.pack("<BII", 1, 2, len(route)) + route.lon_lat_le()
    else:
        coordinates = [value for point in route for value in (point[2], point[1])]
        wkb = struct.pack(f"<BII{len(coordinates)}d", 1, 2, len(route), *coordinates)
    return GEOSGeometry(memoryview(wkb), srid=4326)


def record_rows(section: str, items: list[msgspec.Raw], report: IngestReport) -> Iterator[HealthRecordRow]:
    """Items of symptoms, ecg, stateOfMind, … or any section name the app adds later, kept whole."""
    counts = report.section(section)
    counts.received += len(items)
    for index, raw in enumerate(items):
        try:
            item = _item_object(raw)
        except ItemError as exc:
            report.reject(counts, exc.code, exc.message, section=section, index=index, field=exc.field)
            continue
        digest = content_hash(item)
        start = None
        for key in OTHER_START_FIELDS:
            try:
                start, _ = parse_instant(item.get(key), key)
                break
            except ItemError:
                continue
        yield HealthRecordRow(section, _natural_key(section, item, digest), start, item, digest)


def _natural_key(section: str, item: dict, digest: str) -> str:
    if isinstance(item.get("id"), str) and item["id"]:
        key = f"id:{item['id']}"
    else:
        parts = [item.get(f) for f in OTHER_KEY_FIELDS.get(section, ())]
        if not any(isinstance(p, str | int | float) for p in parts):
            return f"sha256:{digest}"
        key = "|".join("" if p is None else str(p) for p in parts)
    return key if len(key) <= 128 else "sha256:" + hashlib.sha256(key.encode()).hexdigest()
