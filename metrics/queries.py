"""Reads of a user's own health data. Every function takes the owner and filters by it first:
an id alone never reaches a row of someone else."""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections.abc import Callable
from functools import partial
from typing import Any

from django.db.models import Case, Count, Exists, F, IntegerField, Max, Min, OuterRef, Q, QuerySet, Sum, Value, When
from django.db.models.expressions import Expression
from django.db.models.functions import Coalesce, TruncDay, TruncHour, TruncMonth, TruncWeek

from healthexport.lib.cursors import Page, decode_cursor, encode_cursor
from healthexport.lib.errors import InvalidPayload, NotFound
from metrics.catalog import decimals_of
from metrics.day_totals import ranked_sources
from metrics.models import (
    ROLLUP_EPOCH,
    BloodPressure,
    HealthRecord,
    MetricType,
    QuarterHour,
    Sample,
    SampleRollup,
    SleepNight,
    SleepStage,
    Workout,
    rollup_ceil,
    rollup_floor,
)
from metrics.units import UnitMismatch, converter, identity

# Metrics stored in their own tables rather than as samples: name → (model, its time field), ….
TABLE_METRICS = {
    "blood_pressure": ((BloodPressure, "start"),),
    "sleep_analysis": ((SleepNight, "session_start"), (SleepStage, "start")),
}
SLEEP = "sleep_analysis"
# What GET /v1/metrics/sleep_analysis serves: nights (their sessions added up) or stage segments.
SLEEP_KINDS = ("nights", "stages")
SLEEP_DURATIONS = ("total_sleep", "asleep", "core", "deep", "rem", "awake", "in_bed")
# Each time of a night: the earliest of its sessions' starts, the latest of their ends.
SLEEP_TIMES = {"sleep_start": min, "sleep_end": max, "in_bed_start": min, "in_bed_end": max}
TRUNCS = {"hour": TruncHour, "day": TruncDay, "week": TruncWeek, "month": TruncMonth}
RESOLUTIONS = ("raw", *TRUNCS)
# A bucket's count, sum, min and max, from samples (min/max of the Min/Max the app sent, as for
# heart rate, else of the values) or from their rollups (which hold the same per quarter hour).
SAMPLE_AGGREGATES = {
    "count": Count("start"),
    "total": Sum("qty"),
    "low": Min(Coalesce("min", "qty")),
    "high": Max(Coalesce("max", "qty")),
}
ROLLUP_AGGREGATES = {"count": Sum("count"), "total": Sum("total"), "low": Min("low"), "high": Max("high")}
PAGE_SIZE = 500
# ?limit= of a raw page: a year of minute heart rate is ~105 pages of 5000.
MAX_PAGE_SIZE = 5000


# --- Time helpers ---------------------------------------------------------------------------


def local_time(instant: dt.datetime | None, offset_minutes: int) -> str | None:
    """The app's own notation, ``2024-09-03 06:15:00 -0700``, in the offset it sent."""
    if instant is None:
        return None
    local = instant.astimezone(dt.timezone(dt.timedelta(minutes=offset_minutes)))
    text = local.strftime("%Y-%m-%d %H:%M:%S")
    if local.microsecond:
        text += f".{local.microsecond:06d}"
    return f"{text} {local.strftime('%z')}"


def local_iso(instant: dt.datetime | None, offset_minutes: int) -> str | None:
    """ISO-8601 with the offset the phone sent, ``2024-09-03T06:15:00-07:00``: what the API shows."""
    if instant is None:
        return None
    return instant.astimezone(dt.timezone(dt.timedelta(minutes=offset_minutes))).isoformat()


def parse_time_param(value: str | None, name: str) -> dt.datetime | None:
    """An ISO-8601 instant or date from the query string (a date means its UTC midnight)."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace(" ", "+") if "T" in value else value)
        # In UTC: PostgreSQL refuses offsets beyond ±15:59 that Python accepts (up to ±23:59),
        # and near year 1 or 9999 the conversion itself overflows.
        return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError):
        raise InvalidPayload(
            f"{name} must be an ISO-8601 time such as 2024-09-03T06:15:00-07:00.",
            details=[{"field": name, "reason": "invalid_date"}],
        ) from None


def parse_tz_param(value: str | None) -> zoneinfo.ZoneInfo | None:
    if not value:
        return None
    try:
        return zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidPayload(
            f"tz {value[:64]!r} is not an IANA time zone such as Europe/Berlin.",
            details=[{"field": "tz", "reason": "invalid_timezone"}],
        ) from None


def _in_range(queryset: QuerySet, field: str, start: dt.datetime | None, end: dt.datetime | None) -> QuerySet:
    if start is not None:
        queryset = queryset.filter(**{f"{field}__gte": start})
    if end is not None:
        queryset = queryset.filter(**{f"{field}__lt": end})
    return queryset


# --- Metric types -----------------------------------------------------------------------------


def _types_of(user: Any) -> QuerySet:
    """The metric types this user may have data of: the shared ones and their own."""
    return MetricType.objects.filter(Q(owner=None) | Q(owner=user))


def metric_list(*, user: Any) -> list[dict[str, Any]]:
    """The metric types this user has samples of, with count and first/last time."""
    types = {t.id: t for t in _types_of(user)}
    rows = (
        Sample.objects.filter(user=user)
        .values("metric_id")
        .annotate(count=Count("start"), first=Min("start"), last=Max("start"))
        .order_by()
    )
    rows = [row for row in rows if row["metric_id"] in types]
    # An unknown metric has no unit of its own: it is shown in the units it was sent in.
    sent: dict[int, set[str]] = {}
    unknown = [row["metric_id"] for row in rows if not types[row["metric_id"]].is_known]
    if unknown:
        pairs = Sample.objects.filter(user=user, metric_id__in=unknown).values_list("metric_id", "unit").distinct()
        for metric_id, unit in pairs.order_by():
            sent.setdefault(metric_id, set()).add(unit)
    result = [
        _metric_entry(types[row["metric_id"]], row["count"], row["first"], row["last"], sent.get(row["metric_id"]))
        for row in rows
    ]
    by_name = {t.name: t for t in types.values() if t.owner_id is None}
    for name, tables in TABLE_METRICS.items():
        if name not in by_name:
            continue
        spans = [
            model.objects.filter(user=user).aggregate(count=Count("id"), first=Min(field), last=Max(field))
            for model, field in tables
        ]
        spans = [span for span in spans if span["count"]]
        if spans:  # sleep: its sessions and stage segments together
            count = sum(span["count"] for span in spans)
            first, last = min(span["first"] for span in spans), max(span["last"] for span in spans)
            result.append(_metric_entry(by_name[name], count, first, last))
    return sorted(result, key=lambda r: r["name"])


def _metric_entry(
    metric: MetricType,
    count: int,
    first: Any,
    last: Any,
    sent_units: set[str] | None = None,
) -> dict[str, Any]:
    return {
        "name": metric.name,
        "unit": metric.unit or ", ".join(sorted(sent_units or ())),
        "aggregation": metric.aggregation,
        "count": count,
        "first": first,
        "last": last,
    }


def metric_type_get(*, user: Any, name: str) -> MetricType:
    """The metric type, only if this user has data of it (404 otherwise, never 403)."""
    candidates = list(_types_of(user).filter(name=name))
    # A name the catalog learnt after this user had sent it as unknown: the shared type first.
    candidates.sort(key=lambda t: t.owner_id is not None)
    for metric in candidates:
        if Sample.objects.filter(user=user, metric=metric).exists():
            return metric
    tables = TABLE_METRICS.get(name, ())
    if candidates and any(model.objects.filter(user=user).exists() for model, _ in tables):
        return candidates[0]
    raise NotFound(f"You have no metric named {name[:100]!r}.")


Conversions = dict[str, tuple[str, Callable[[float], float]]]


def value_converters(*, user: Any, metric: MetricType, unit: str | None) -> Conversions:
    """Per unit values are stored in: (the unit shown, the conversion to it) for ``?unit=``.

    A known metric's values are all in its canonical unit; an unknown metric's each in the unit
    it was sent in (so this user's units of it are looked up). 400 for a unit of another dimension.
    """
    if metric.is_known:
        stored = [metric.unit]
    else:
        units = Sample.objects.filter(user=user, metric=metric).values_list("unit", flat=True).distinct()
        stored = sorted(units.order_by())
    conversions: Conversions = {}
    for source in stored:
        try:
            conversions[source] = (unit or source, converter(source, unit) if unit else identity)
        except UnitMismatch:
            raise InvalidPayload(
                f"{metric.name} is stored in {source or 'no unit'}; it cannot be shown in {unit[:32]}.",
                details=[{"field": "unit", "reason": "unit_mismatch"}],
            ) from None
    return conversions


def _one_conversion(metric: MetricType, conversions: Conversions, unit: str | None) -> tuple[str, Callable]:
    """The conversion of a metric whose values are all in one unit (what buckets need)."""
    if len(conversions) > 1:
        raise InvalidPayload(
            f"{metric.name} was sent in several units ({', '.join(sorted(conversions))[:200]}); "
            "ask for resolution=raw, or a unit with ?unit= that they all convert to.",
            details=[{"field": "unit", "reason": "mixed_units"}],
        )
    return next(iter(conversions.values()), (unit or metric.unit, identity))


# --- Raw samples with keyset pagination --------------------------------------------------------


def metric_raw_page(
    *,
    user: Any,
    metric: MetricType,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    unit: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
    kind: str = "nights",
) -> Page:
    """One page of raw items ordered by time: keyset pagination, stable under inserts.

    ``kind`` picks what sleep_analysis serves (``SLEEP_KINDS``); other metrics have one kind.
    """
    limit = limit or PAGE_SIZE
    conversions = value_converters(user=user, metric=metric, unit=unit)
    if metric.name == SLEEP and kind == "nights":
        return _sleep_night_page(user=user, start=start, end=end, cursor=cursor, limit=limit)
    if metric.name == SLEEP:
        model, to_item = SleepStage, partial(_sleep_stage_item, metric=metric, conversions=conversions)
    elif metric.name in TABLE_METRICS:
        model, to_item = BloodPressure, _bp_item
    else:
        model, to_item = Sample, partial(_sample_item, metric=metric, conversions=conversions)
    queryset = model.objects.filter(user=user)
    if model is Sample:
        queryset = queryset.filter(metric=metric)
    queryset = _in_range(queryset, "start", start, end)
    # Ties on start are ordered by the rest of the key: the source for samples, else the id.
    tiebreak, tiebreak_type = ("source", str) if model is Sample else ("id", int)
    if cursor:
        after_start, after = decode_cursor(cursor, tiebreak_type)
        # start >= … first, so the (user, metric, start) index bounds the scan; the OR only trims ties.
        queryset = queryset.filter(start__gte=after_start).filter(
            Q(start__gt=after_start) | Q(start=after_start, **{f"{tiebreak}__gt": after})
        )
    rows = list(queryset.order_by("start", tiebreak)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    items = [to_item(r) for r in rows]
    return Page(items, encode_cursor(rows[-1].start, getattr(rows[-1], tiebreak)) if more else None)


def _sample_item(row: Sample, metric: MetricType, conversions: Conversions) -> dict[str, Any]:
    stored = metric.unit or row.unit
    unit, convert = conversions.get(stored) or (stored, identity)  # a unit sent since conversions were read
    return {
        "start": row.start,
        "end": row.end,
        "local_time": local_iso(row.start, row.utc_offset),
        "qty": convert(row.qty),
        "min": None if row.min is None else convert(row.min),
        "max": None if row.max is None else convert(row.max),
        "unit": unit,
        "source": row.source,
        "context": row.context,
    }


def _bp_item(row: BloodPressure) -> dict[str, Any]:
    return {
        "start": row.start,
        "local_time": local_iso(row.start, row.utc_offset),
        "systolic": row.systolic,
        "diastolic": row.diastolic,
        "unit": row.unit,
        "source": row.source,
    }


def _sleep_stage_item(row: SleepStage, metric: MetricType, conversions: Conversions) -> dict[str, Any]:
    unit, convert = conversions.get(metric.unit) or (metric.unit, identity)
    return {
        "start": row.start,
        "end": row.end,
        "local_time": local_iso(row.start, row.utc_offset),
        "stage": row.stage,
        "qty": convert(row.qty),
        "unit": unit,
        "source": row.source,
    }


def _sleep_night_page(*, user: Any, start, end, cursor: str | None, limit: int) -> Page:
    """One page of nights, one per night and source with its sessions added up: keyset
    pagination on (night, source), so a night's sessions never straddle two pages."""
    sessions = SleepNight.objects.filter(user=user)
    if start is not None:
        sessions = sessions.filter(night__gte=start.date())
    if end is not None:
        sessions = sessions.filter(night__lt=end.date())
    nights = sessions
    if cursor:
        after, after_source = decode_cursor(cursor, str)
        nights = nights.filter(night__gte=after.date()).filter(
            Q(night__gt=after.date()) | Q(night=after.date(), source__gt=after_source)
        )
    keys = list(nights.order_by("night", "source").values_list("night", "source").distinct()[: limit + 1])
    more = len(keys) > limit
    keys = keys[:limit]
    if not keys:
        return Page([], None)
    grouped: dict[tuple, list[SleepNight]] = {key: [] for key in keys}
    page = sessions.filter(night__range=(keys[0][0], keys[-1][0])).order_by("night", "source", "session_start")
    for row in page:
        group = grouped.get((row.night, row.source))
        if group is not None:  # the first and last night may have sources of other pages
            group.append(row)
    items = [sleep_night_item(group) for group in grouped.values()]
    next_cursor = None
    if more:
        last_night, last_source = keys[-1]
        next_cursor = encode_cursor(dt.datetime.combine(last_night, dt.time(), tzinfo=dt.UTC), last_source)
    return Page(items, next_cursor)


def sleep_night_item(sessions: list[SleepNight]) -> dict[str, Any]:
    """A night of one source: its sessions' durations added up, from the earliest start to the
    latest end, and the sessions themselves (a nap, a night broken by waking)."""
    first = sessions[0]
    item: dict[str, Any] = {"night": first.night.isoformat(), "source": first.source, "unit": "hr"}
    for field in SLEEP_DURATIONS:
        values = [value for value in (getattr(s, field) for s in sessions) if value is not None]
        item[field] = sum(values) if values else None
    for field, pick in SLEEP_TIMES.items():
        times = [(getattr(s, field), s.utc_offset) for s in sessions if getattr(s, field) is not None]
        item[field] = local_iso(*pick(times)) if times else None
    item["sessions"] = [sleep_session_item(s) for s in sessions]
    return item


def sleep_session_item(row: SleepNight) -> dict[str, Any]:
    item: dict[str, Any] = {field: getattr(row, field) for field in SLEEP_DURATIONS}
    for field in SLEEP_TIMES:
        item[field] = local_iso(getattr(row, field), row.utc_offset)
    return item


# --- Buckets ---------------------------------------------------------------------------------


def metric_buckets(
    *,
    user: Any,
    metric: MetricType,
    resolution: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    unit: str | None = None,
    tz: zoneinfo.ZoneInfo | None = None,
) -> list[dict[str, Any]]:
    """Buckets of the owner's local hour/day/week, computed in the database.

    They are grouped from the 15-minute ``SampleRollup`` rows (see there why that is exact), not
    from the samples. With ``tz`` the database truncates in that zone (DST-aware on PostgreSQL and
    SQLite). Without it each sample belongs to the local day of the offset the phone sent: the
    database truncates once per distinct offset (a user has a handful) and the partial buckets are
    merged here.

    A cumulative metric counts, in each quarter hour, only the best-ranked source present there
    (``metrics.day_totals.source_priority``: the watch before the iPhone unless the owner set an
    order), so steps both devices counted are counted once. Other metrics combine every source.
    """
    if metric.name in TABLE_METRICS:
        raise InvalidPayload(
            f"{metric.name} is served raw only; use resolution=raw.",
            details=[{"field": "resolution", "reason": "raw_only"}],
        )
    conversions = value_converters(user=user, metric=metric, unit=unit)
    shown_unit, convert = _one_conversion(metric, conversions, unit)
    trunc = TRUNCS[resolution]
    samples = _in_range(Sample.objects.filter(user=user, metric=metric), "start", start, end)
    # Whole 15-minute buckets of the window come from the rollups; the partial ones at its edges
    # (a start or end off the quarter hour) and anything before ROLLUP_EPOCH from the samples.
    rolled_from = ROLLUP_EPOCH if start is None else max(rollup_ceil(start), ROLLUP_EPOCH)
    rolled_to = None if end is None else max(rollup_floor(end), rolled_from)
    rollups = _in_range(SampleRollup.objects.filter(user=user, metric=metric), "bucket_start", rolled_from, rolled_to)
    edges = Q(start__lt=rolled_from) if rolled_to is None else Q(start__lt=rolled_from) | Q(start__gte=rolled_to)
    raw = samples.filter(edges)
    cumulative = metric.aggregation == MetricType.Aggregation.SUM
    # The offsets (and for a cumulative metric the sources) present, read in one pass each.
    kept = ("utc_offset", "source") if cumulative else ("utc_offset",)
    present: set[tuple] = set()
    if tz is None or cumulative:
        for queryset in (rollups, raw):
            present |= {*queryset.values_list(*kept).order_by().distinct()}
    if tz is not None:
        zones = [(None, tz)]
    else:
        offsets = {row[0] for row in present}
        zones = [(offset, dt.timezone(dt.timedelta(minutes=offset))) for offset in sorted(offsets)]
    sources = {row[1] for row in present} if cumulative else set()
    if len(sources) > 1:
        ranked = ranked_sources(sources, user=user)
        samples = _best_source_only(samples, QuarterHour("start"), ranked)
        raw = _best_source_only(raw, QuarterHour("start"), ranked)
        rollups = _best_source_only(rollups, F("bucket_start"), ranked)
    merged: dict[str, dict[str, Any]] = {}
    for offset, zone in zones:
        # An offset off the quarter hour (no phone has sent one since 1980) would split rollup
        # buckets across local days: its samples are bucketed raw.
        if offset is None or offset % 15 == 0:
            parts = [(raw, "start", SAMPLE_AGGREGATES), (rollups, "bucket_start", ROLLUP_AGGREGATES)]
        else:
            parts = [(samples, "start", SAMPLE_AGGREGATES)]
        for queryset, time_field, aggregates in parts:
            part = queryset if offset is None else queryset.filter(utc_offset=offset)
            rows = part.annotate(bucket=trunc(time_field, tzinfo=zone)).values("bucket").annotate(**aggregates)
            for row in rows.order_by():
                _merge_bucket(merged, row, zone, low_field="low", high_field="high")
    rounded = bucket_rounder(metric, shown_unit, convert)
    return [_bucket_out(b, metric, lambda v: rounded(convert(v)), shown_unit) for _, b in sorted(merged.items())]


def _best_source_only(queryset: QuerySet, quarter: Expression, ranked: list[str]) -> QuerySet:
    """The rows of ``queryset`` whose source comes first in ``ranked`` among those present in
    their quarter hour (``quarter``: the row's 15-minute UTC bucket), whatever their offset."""
    whens = [When(source=source, then=Value(at)) for at, source in enumerate(ranked)]
    ranks = queryset.annotate(quarter=quarter, rank=Case(*whens, output_field=IntegerField()))
    # Only the sources some other one yields to can be better: the hash of the anti-join holds fewer rows.
    better = ranks.filter(source__in=ranked[:-1], quarter=OuterRef("quarter"), rank__lt=OuterRef("rank"))
    return ranks.filter(~Exists(better))


def bucket_rounder(metric: MetricType, shown_unit: str, convert: Callable[[float], float]) -> Callable[[float], float]:
    """Rounds a bucket's value to the metric's precision (``metrics.catalog.decimals_of``).

    A value converted into another unit says as much as in the canonical one: one decimal more per
    factor of ten the new unit is larger (ms → s: three more), one fewer per factor smaller (km → m).
    """
    decimals = decimals_of(metric.name, metric.unit or shown_unit)
    scale = abs(convert(1.0) - convert(0.0))
    if scale > 0:
        decimals = max(0, decimals - math.floor(math.log10(scale) + 1e-9))
    return (lambda value: round(value)) if decimals == 0 else (lambda value: round(value, decimals))


def _bucket_key(bucket: dt.datetime, zone: dt.tzinfo) -> str:
    """The local wall-clock label: partial buckets of different offsets meet on it."""
    local = bucket.astimezone(zone) if bucket.tzinfo else bucket.replace(tzinfo=zone)
    return local.replace(tzinfo=None).isoformat()


def _merge_bucket(merged: dict, row: dict, zone: dt.tzinfo, *, low_field: str, high_field: str) -> None:
    key = _bucket_key(row["bucket"], zone)
    local = row["bucket"].astimezone(zone) if row["bucket"].tzinfo else row["bucket"].replace(tzinfo=zone)
    bucket = merged.get(key)
    if bucket is None:
        merged[key] = {
            "start": local,
            "count": row["count"],
            "sum": row["total"],
            "min": row[low_field],
            "max": row[high_field],
        }
        return
    bucket["count"] += row["count"]
    bucket["sum"] += row["total"]
    bucket["min"] = min(bucket["min"], row[low_field])
    bucket["max"] = max(bucket["max"], row[high_field])


def _bucket_out(bucket: dict, metric: MetricType, convert, unit: str) -> dict[str, Any]:
    out = {"start": bucket["start"].isoformat(), "count": bucket["count"], "unit": unit}
    if metric.aggregation == MetricType.Aggregation.SUM:
        out["sum"] = convert(bucket["sum"])
    else:
        out["min"] = convert(bucket["min"])
        out["avg"] = convert(bucket["sum"] / bucket["count"])
        out["max"] = convert(bucket["max"])
    return out


# --- Workouts ---------------------------------------------------------------------------------


def workout_list(
    *, user: Any, start: dt.datetime | None = None, end: dt.datetime | None = None, kind: str | None = None
) -> QuerySet:
    queryset = _in_range(Workout.objects.filter(user=user), "start", start, end)
    if kind:
        queryset = queryset.filter(name__iexact=kind)
    return queryset.defer("route", "fields").order_by("start", "id")


def workout_get(*, user: Any, public_id: Any) -> Workout:
    workout = Workout.objects.filter(user=user, public_id=public_id).first()
    if workout is None:
        raise NotFound("You have no workout with this id.")
    return workout


def workout_summary(workout: Workout) -> dict[str, Any]:
    return {
        "id": str(workout.public_id),
        "name": workout.name,
        "start": workout.start,
        "end": workout.end,
        "local_start": local_iso(workout.start, workout.utc_offset),
        "local_end": local_iso(workout.end, workout.utc_offset),
        "duration_s": workout.duration_s,
        "active_energy_kcal": workout.active_energy_kcal,
        "distance_km": workout.distance_km,
        "location": workout.location,
        "is_indoor": workout.is_indoor,
    }


def workout_detail(workout: Workout) -> dict[str, Any]:
    points = list(workout.route_points.order_by("seq"))
    route = None
    if points:
        route = {
            "type": "Feature",
            "geometry": {
                "type": "LineString",
                "coordinates": [
                    [p.longitude, p.latitude, *([p.altitude] if p.altitude is not None else [])] for p in points
                ],
            },
            "properties": {
                "times": [p.timestamp.isoformat() if p.timestamp else None for p in points],
                "speeds": [p.speed for p in points],
            },
        }
    series: dict[str, list[dict[str, Any]]] = {}
    for item in workout.series.order_by("kind", "seq"):
        series.setdefault(item.kind, []).append(
            {
                "start": item.start,
                "qty": item.qty,
                "min": item.min,
                "max": item.max,
                "unit": item.unit,
                "source": item.source,
            }
        )
    return {**workout_summary(workout), "fields": workout.fields, "route": route, "series": series}


def workout_gpx(workout: Workout) -> str:
    """A GPX 1.1 track of the route (an empty track when the workout has none)."""
    from xml.sax.saxutils import escape

    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<gpx version="1.1" creator="healthexport" xmlns="http://www.topografix.com/GPX/1/1">',
        f"<metadata><time>{workout.start.isoformat()}</time></metadata>",
        f"<trk><name>{escape(workout.name)}</name><trkseg>",
    ]
    for p in workout.route_points.order_by("seq"):
        inner = "" if p.altitude is None else f"<ele>{p.altitude}</ele>"
        if p.timestamp is not None:
            inner += f"<time>{p.timestamp.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}</time>"
        lines.append(f'<trkpt lat="{p.latitude}" lon="{p.longitude}">{inner}</trkpt>')
    lines.append("</trkseg></trk></gpx>")
    return "\n".join(lines) + "\n"


# --- Totals (the stats endpoint adds the ingestion side) --------------------------------------


def metric_totals(*, user: Any) -> dict[str, dict[str, Any]]:
    """Per metric: count, and the sum for cumulative metrics (in the stored unit)."""
    totals = {}
    for entry in metric_list(user=user):
        totals[entry["name"]] = {"count": entry["count"], "unit": entry["unit"]}
    sums = (
        Sample.objects.filter(user=user, metric__aggregation=MetricType.Aggregation.SUM)
        .values("metric__name")
        .annotate(total=Sum("qty"))
        .order_by()
    )
    for row in sums:
        totals[row["metric__name"]]["sum"] = row["total"]
    totals_extra = {
        "workouts": Workout.objects.filter(user=user).count(),
        "records": HealthRecord.objects.filter(user=user).count(),
    }
    return {"metrics": totals, **totals_extra}


# --- Owner web pages ---------------------------------------------------------------------------


def metric_summaries(*, user: Any) -> list[dict[str, Any]]:
    """The metric types this user has samples of, from the rollups: count, first and last quarter
    hour. What the owner's overview lists; unlike ``metric_list`` it reads no sample, so it stays
    fast on years of minute data (samples before ``ROLLUP_EPOCH`` are not counted)."""
    types = {t.id: t for t in _types_of(user)}
    rows = (
        SampleRollup.objects.filter(user=user)
        .values("metric_id")
        .annotate(count=Sum("count"), first=Min("bucket_start"), last=Max("bucket_start"))
        .order_by()
    )
    result = [
        {"name": types[row["metric_id"]].name, "unit": types[row["metric_id"]].unit, **row}
        for row in rows
        if row["metric_id"] in types
    ]
    return sorted(result, key=lambda r: r["name"])


def metric_type_of(*, user: Any, name: str) -> MetricType | None:
    """``metric_type_get`` for pages that show "no data yet" instead of a 404."""
    try:
        return metric_type_get(user=user, name=name)
    except NotFound:
        return None


def latest_offset(*, user: Any, metric: MetricType | None = None) -> int:
    """The UTC offset (minutes) the phone sent with this user's latest data: the owner's "now".

    Reads one rollup row (of the metric when given, through its primary key's index), 0 without data.
    """
    rollups = SampleRollup.objects.filter(user=user)
    if metric is not None:
        rollups = rollups.filter(metric=metric)
    offset = rollups.order_by("-bucket_start").values_list("utc_offset", flat=True).first()
    if offset is None:
        offset = SleepStage.objects.filter(user=user).order_by("-start").values_list("utc_offset", flat=True).first()
    return offset or 0


def sleep_nights(*, user: Any, start: dt.datetime | None, end: dt.datetime | None, limit: int = 400) -> list[dict]:
    """Nights of ``[start, end)`` by date, one per night and source (as GET /v1/metrics/sleep_analysis)."""
    return _sleep_night_page(user=user, start=start, end=end, cursor=None, limit=limit).items


def sleep_segments(*, user: Any, start: dt.datetime, end: dt.datetime) -> list[SleepStage]:
    """Stage segments starting in ``[start, end)``, ordered by start."""
    return list(_in_range(SleepStage.objects.filter(user=user), "start", start, end).order_by("start", "id"))


def workout_names(*, user: Any) -> list[str]:
    """The kinds of workout this user has, for a filter."""
    names = Workout.objects.filter(user=user).values_list("name", flat=True).distinct().order_by("name")
    return list(names)
