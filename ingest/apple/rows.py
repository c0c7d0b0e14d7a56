"""export.xml elements → plain rows for the tables POST /v1/ingest writes (no database here).

One function per top-level element kind; each adds what it makes to a ``Rows`` and says what
was wrong with an element it refuses (``Refusal``), counted against the element's type.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ingest.apple import mapping
from ingest.apple.parse import Node, RoutePoint, finite_number, parse_date

EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_TEXT = 255
MAX_BEATS = 1000
MAX_EXTRA_CHILDREN = 1000
WORKOUTS = "workouts"
ACTIVITY_SUMMARIES = "activity_summaries"
MOTION_CONTEXT = {"1": "Sedentary", "2": "Active"}
MEAL_TIME = {"1": "Before Meal", "2": "After Meal"}


class Refusal(ValueError):
    """One element is refused: ``code`` as in the ingest answer's errors, ``field`` names where."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


class UnreadableRoute(Exception):
    """A workout's route file that cannot be read: the workout is kept without it, the problem noted."""


@dataclass(slots=True)
class Sample:
    kind: str  # the HealthKit type it came from: what it is counted under
    metric: str
    start: dt.datetime
    end: dt.datetime
    source: str
    qty: float
    unit: str
    offset: int
    context: str
    version: str = ""  # of the writing app
    device: str = ""


@dataclass(slots=True)
class Stage:
    kind: str
    start: dt.datetime
    end: dt.datetime
    source: str
    stage: str
    hours: float
    offset: int


@dataclass(slots=True)
class PressureHalf:
    kind: str
    start: dt.datetime
    source: str
    which: str  # "systolic" | "diastolic"
    value: float
    unit: str
    offset: int


@dataclass(slots=True)
class Record:
    """A HealthRecord row: kept whole as JSON under a natural key."""

    kind: str
    section: str
    natural_key: str
    start: dt.datetime | None
    payload: dict[str, Any]


@dataclass
class WorkoutRow:
    external_id: str
    start: dt.datetime
    fields: dict[str, Any]
    route: list[RoutePoint]
    digest: str


@dataclass
class Rows:
    """What a run of elements makes, by table; ``held``: the route points and heartbeats in it
    (a chunk counts them as elements: thousands of HRV records or workouts come in a row);
    ``refused``: the elements refused, as (the type they count under, why, their startDate);
    ``problems``: the same for what was wrong in an element stored all the same."""

    samples: list[Sample] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)
    pressure: list[PressureHalf] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    workouts: list[WorkoutRow] = field(default_factory=list)
    held: int = 0
    refused: list[tuple[str, Refusal, str]] = field(default_factory=list)
    problems: list[tuple[str, Refusal, str]] = field(default_factory=list)


RouteReader = Callable[[str], list[RoutePoint] | None]


def latest_plausible() -> dt.datetime:
    return dt.datetime.fromtimestamp(time.time() + 86400, dt.UTC)


def _text(value: str | None, field: str, limit: int = MAX_TEXT) -> str:
    if not value:
        return ""
    if len(value) > limit:
        raise Refusal("invalid_text", f"{field} is longer than {limit} characters", field)
    return value


def _when(attrs: dict[str, str], field: str, latest: dt.datetime) -> tuple[dt.datetime, int]:
    text = attrs.get(field)
    if not text:
        raise Refusal("missing_value", f"{field} is missing", field)
    try:
        instant, offset = parse_date(text)
    except (ValueError, OverflowError):
        raise Refusal(
            "invalid_date", f"{field} {text[:40]!r} is not a date like 2023-11-04 07:53:00 -0700", field
        ) from None
    if not EARLIEST <= instant <= latest:
        raise Refusal("out_of_range", f"{field} {text[:40]!r} is before 1970 or after tomorrow", field)
    return instant, offset


def _interval(attrs: dict[str, str], latest: dt.datetime) -> tuple[dt.datetime, dt.datetime, int]:
    # Every record has one (a year: 880k): a valid interval is checked at once; only a wrong one
    # goes through the checks one by one, which say what is wrong with it.
    try:
        start, offset = parse_date(attrs["startDate"])
        end = parse_date(attrs["endDate"])[0]
    except (KeyError, ValueError, OverflowError):
        pass
    else:
        if EARLIEST <= start <= end <= latest:
            return start, end, offset
    start, offset = _when(attrs, "startDate", latest)
    end, _ = _when(attrs, "endDate", latest)
    if end < start:
        raise Refusal("end_before_start", "endDate is before startDate", "endDate")
    return start, end, offset


def _number(text: str | None, field: str) -> float:
    if text is None or text == "":
        raise Refusal("missing_value", f"{field} is missing", field)
    try:
        value = float(text)
    except ValueError:
        raise Refusal("invalid_number", f"{field} {text[:40]!r} is not a number", field) from None
    if not abs(value) <= 1e15:  # also refuses NaN
        raise Refusal("out_of_range", f"{field} {text[:40]!r} is beyond ±1e15", field)
    return value


def digest(payload: Any) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _source(attrs: dict[str, str]) -> dict[str, str]:
    """Who wrote it: name, version and device (without the per-record memory address)."""
    return {
        "sourceName": attrs.get("sourceName", "")[:MAX_TEXT],
        "sourceVersion": attrs.get("sourceVersion", "")[:MAX_TEXT],
        "device": mapping.device_description(attrs.get("device", "")),
    }


def _made_by(attrs: dict[str, str]) -> tuple[str, str]:
    """A sample's app version and device (see ``_source``)."""
    return attrs.get("sourceVersion", "")[:64], mapping.device_description(attrs.get("device", ""))


def add_record(node: Node, rows: Rows, latest: dt.datetime) -> None:
    """A ``Record``: a quantity sample, a sleep stage, half a blood pressure reading, or kept whole."""
    attrs = node.attrs
    kind = attrs.get("type", "")[:100]
    if not kind.strip():
        raise Refusal("missing_value", "type is missing", "type")
    start, end, offset = _interval(attrs, latest)
    source = _text(attrs.get("sourceName"), "sourceName")
    value = attrs.get("value")
    which = mapping.BLOOD_PRESSURE.get(kind)
    if which is not None:
        rows.pressure.append(
            PressureHalf(kind, start, source, which, _number(value, "value"), attrs.get("unit", "mmHg"), offset)
        )
        return
    if kind == mapping.SLEEP:
        stage = mapping.sleep_stage(value or "")
        if stage is not None:
            hours = (end - start).total_seconds() / 3600
            rows.stages.append(Stage(kind, start, end, source, stage, hours, offset))
            return
    elif kind == mapping.STAND_HOUR:
        stood = 1.0 if (value or "").endswith("Stood") else 0.0
        context = (value or "").removeprefix("HKCategoryValueAppleStandHour")[:64]
        made_by = _made_by(attrs)
        rows.samples.append(
            Sample(kind, "apple_stand_hour", start, end, source, stood, "count", offset, context, *made_by)
        )
        return
    elif kind in mapping.DURATION_CATEGORIES:
        metric, seconds_per_unit = mapping.DURATION_CATEGORIES[kind]
        qty = (end - start).total_seconds() / seconds_per_unit
        unit = "min" if seconds_per_unit == 60 else "s"
        rows.samples.append(Sample(kind, metric, start, end, source, qty, unit, offset, "", *_made_by(attrs)))
        return
    elif kind in mapping.COUNT_CATEGORIES:
        metric = mapping.COUNT_CATEGORIES[kind]
        rows.samples.append(Sample(kind, metric, start, end, source, 1.0, "count", offset, "", *_made_by(attrs)))
        return
    else:
        metric = mapping.quantity_metric(kind)
        if metric is not None:
            unit = _text(attrs.get("unit"), "unit", 32)
            qty = mapping.convert_percent(unit, _number(value, "value"))
            context = ""
            if node.children:
                metadata = node.metadata()
                context = MOTION_CONTEXT.get(metadata.get("HKMetadataKeyHeartRateMotionContext", ""), "")
                context = context or MEAL_TIME.get(metadata.get("HKBloodGlucoseMealTime", ""), "")
            rows.samples.append(Sample(kind, metric, start, end, source, qty, unit, offset, context, *_made_by(attrs)))
            if node.children:
                _add_beats(node, kind, start, source, rows)
            return
    rows.records.append(_whole_record(node, kind, start))


def _add_beats(node: Node, kind: str, start: dt.datetime, source: str, rows: Rows) -> None:
    """A heart rate variability record's beat list: kept whole beside the sample."""
    beats = [
        [beat.attrs.get("time", "")[:32], beat.attrs.get("bpm", "")[:16]]
        for child in node.children
        if child.tag == "HeartRateVariabilityMetadataList"
        for beat in child.children[:MAX_BEATS]
    ]
    if beats:
        key = f"{start.isoformat()}|{source}"[:128]
        payload = {"type": kind, "startDate": node.attrs.get("startDate"), **_source(node.attrs), "beats": beats}
        rows.records.append(Record("apple_hrv_beats", "apple_hrv_beats", key, start, payload))
        rows.held += len(beats)


def _whole_record(node: Node, kind: str, start: dt.datetime | None) -> Record:
    """Anything we have no table for: its attributes and metadata, under a hash of them."""
    payload = {
        **{k: v for k, v in node.attrs.items() if k != "device"},
        **_source(node.attrs),
        "metadata": node.metadata(),
    }
    return Record(kind, "apple_records", "sha256:" + digest(payload), start, payload)


def add_correlation(node: Node, rows: Rows, latest: dt.datetime) -> None:
    """A blood pressure Correlation pairs its two Records (which are also written at the top
    level: the pair is only made once). Food correlations add nothing: their Records are top-level."""
    before = len(rows.pressure)
    for child in node.children:
        if child.tag == "Record" and child.attrs.get("type") in mapping.BLOOD_PRESSURE:
            try:
                add_record(child, rows, latest)
            except Refusal:
                continue
    for half in rows.pressure[before:]:
        half.kind = ""  # not counted: the top-level Records are


def add_activity_summary(node: Node, rows: Rows) -> None:
    """One day's rings, kept as a record of that calendar day (energy in kcal, times in minutes)."""
    attrs = node.attrs
    day_text = attrs.get("dateComponents", "")
    try:
        day = dt.date.fromisoformat(day_text)
    except ValueError:
        raise Refusal("invalid_date", f"dateComponents {day_text[:20]!r} is not a date", "dateComponents") from None
    unit = attrs.get("activeEnergyBurnedUnit", "kcal")
    factor = {"kJ": 1 / 4.184}.get(unit, 1.0)
    payload: dict[str, Any] = {"date": day.isoformat(), **{k: v[:64] for k, v in attrs.items()}}
    for name, key in (
        ("active_energy_kcal", "activeEnergyBurned"),
        ("active_energy_goal_kcal", "activeEnergyBurnedGoal"),
    ):
        if attrs.get(key):
            payload[name] = _number(attrs[key], key) * factor
    for name, key in (
        ("move_minutes", "appleMoveTime"),
        ("exercise_minutes", "appleExerciseTime"),
        ("exercise_goal_minutes", "appleExerciseTimeGoal"),
        ("stand_hours", "appleStandHours"),
        ("stand_goal_hours", "appleStandHoursGoal"),
    ):
        if attrs.get(key):
            payload[name] = _number(attrs[key], key)
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    rows.records.append(Record(ACTIVITY_SUMMARIES, "activity_summary", day.isoformat(), start, payload))


# The top-level elements of export.xml's DTD with no table of their own: a section each.
OTHER_ELEMENTS = frozenset({"ExportDate", "Me", "ClinicalRecord", "Audiogram", "VisionPrescription"})
# Elements Apple may add later, and those a made-up archive invents: one section for them all
# (the tag is in the payload). A section each would let a file of a million tags ask the
# database once per tag and chunk.
UNKNOWN_ELEMENTS = "apple_other_elements"


def add_other(node: Node, rows: Rows) -> None:
    """Me, ExportDate, ClinicalRecord, Audiogram, VisionPrescription, and elements Apple adds later."""
    section = "apple_" + mapping.snake(node.tag) if node.tag in OTHER_ELEMENTS else UNKNOWN_ELEMENTS
    payload = {"tag": node.tag[:64], "attrs": node.attrs, "children": _children(node)}
    key = "me" if node.tag == "Me" else "sha256:" + digest(payload)
    start = None
    for name in ("startDate", "date", "value"):
        try:
            start, _ = parse_date(node.attrs.get(name, ""))
            break
        except (ValueError, OverflowError):
            continue
    rows.records.append(Record(section, section, key, start, payload))


def _children(node: Node) -> list[dict[str, Any]]:
    return [
        {"tag": child.tag[:64], "attrs": child.attrs, "children": _children(child)}
        for child in node.children[:MAX_EXTRA_CHILDREN]
    ]


UNIT_FACTORS = {
    "km": 1.0,
    "m": 1e-3,
    "mi": 1.609344,
    "yd": 0.0009144,
    "ft": 0.0003048,
    "kcal": 1.0,
    "Cal": 1.0,
    "kJ": 1 / 4.184,
    "min": 60.0,
    "s": 1.0,
    "hr": 3600.0,
}
DISTANCE_TYPES = ("DistanceWalkingRunning", "DistanceCycling", "DistanceSwimming", "DistanceWheelchair")


def add_workout(node: Node, rows: Rows, latest: dt.datetime, read_route: RouteReader) -> None:
    """A Workout with its statistics, events, metadata and route (a GPX file, or inline Locations).

    Totals come from the legacy attributes (totalDistance, totalEnergyBurned) or, since iOS 16,
    from its WorkoutStatistics.
    """
    attrs = node.attrs
    activity = attrs.get("workoutActivityType", "")[:100]
    start, end, offset = _interval(attrs, latest)
    source = _source(attrs)
    metadata = node.metadata()
    statistics, events, routes, route = [], [], [], []
    for child in node.children:
        if child.tag == "WorkoutStatistics":
            statistics.append(child.attrs)
        elif child.tag == "WorkoutEvent":
            events.append({**child.attrs, "metadata": child.metadata()} if child.children else child.attrs)
        elif child.tag == "WorkoutRoute":
            route_info = {**child.attrs, "metadata": child.metadata()}
            for part in child.children:
                if part.tag == "FileReference":
                    path = part.attrs.get("path", "")
                    route_info["file"] = path
                    try:
                        points = read_route(path)
                    except UnreadableRoute as exc:
                        route_info["file_found"], route_info["file_error"] = True, str(exc)
                        problem = Refusal("invalid_route", f"{exc}; the workout is stored without it", "route")
                        rows.problems.append((WORKOUTS, problem, attrs.get("startDate", "")[:40]))
                        continue
                    route_info["file_found"] = points is not None
                    route += points or []
                elif part.tag == "Location":
                    route.append(_location(part.attrs))
            routes.append(route_info)
    duration = _optional(attrs, "duration")
    fields: dict[str, Any] = {
        "name": mapping.workout_name(activity),
        "start": start,
        "end": end,
        "utc_offset": offset,
        "duration_s": None if duration is None else duration * UNIT_FACTORS.get(attrs.get("durationUnit", "min"), 60.0),
        "active_energy_kcal": _total(attrs, statistics, "totalEnergyBurned", ("ActiveEnergyBurned",)),
        "distance_km": _total(attrs, statistics, "totalDistance", DISTANCE_TYPES),
        "is_indoor": {"1": True, "0": False}.get(metadata.get("HKIndoorWorkout", "")),
        "fields": {
            "workoutActivityType": activity,
            **source,
            "metadata": metadata,
            "statistics": statistics,
            "events": events,
            "routes": routes,
        },
    }
    external_id = (
        "apple:" + hashlib.sha256(f"{activity}|{start.isoformat()}|{source['sourceName']}".encode()).hexdigest()[:40]
    )
    content = {**fields, "start": start.isoformat(), "end": end.isoformat(), "route_points": len(route)}
    rows.workouts.append(WorkoutRow(external_id, start, fields, route, digest(content)))
    rows.held += len(route)


def _optional(attrs: dict[str, str], key: str) -> float | None:
    return _number(attrs[key], key) if attrs.get(key) else None


def _total(
    attrs: dict[str, str], statistics: list[dict[str, str]], legacy: str, types: tuple[str, ...]
) -> float | None:
    """A total in km or kcal, from the legacy attribute, else from the statistics' sums."""
    value = _optional(attrs, legacy)
    if value is not None:
        return value * UNIT_FACTORS.get(attrs.get(legacy + "Unit", ""), 1.0)
    for stat in statistics:
        if stat.get("type", "").removeprefix(mapping.QUANTITY_PREFIX) in types and stat.get("sum"):
            return _number(stat["sum"], "sum") * UNIT_FACTORS.get(stat.get("unit", ""), 1.0)
    return None


def _location(attrs: dict[str, str]) -> RoutePoint:
    """An inline route point (iOS 12 and before)."""
    try:
        when, _ = parse_date(attrs.get("date", ""))
    except (ValueError, OverflowError):
        when = None

    return (
        when,
        *(
            finite_number(attrs.get(key))
            for key in (
                "latitude",
                "longitude",
                "altitude",
                "speed",
                "course",
                "horizontalAccuracy",
                "verticalAccuracy",
            )
        ),
    )
