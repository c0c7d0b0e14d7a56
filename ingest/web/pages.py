"""What the owner's pages show, shaped from the reads of ``metrics.queries`` and ``ingest.queries``:
ranges, chart payloads (``charts.js`` draws them), numbers in words.

A chart's x values are the local wall-clock time as if it were UTC (seconds), and the charts
render them in UTC: a day starts at 00:00 whatever zone the browser is in, as the phone saw it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from metrics.models import MetricType
from metrics.units import UnitMismatch, converter

DAY = dt.timedelta(days=1)
# Range choices of the metric page: days back from today (None: everything).
RANGES = {"7d": 7, "30d": 30, "90d": 90, "1y": 365, "all": None}
RANGE_LABELS = {"7d": "7 days", "30d": "30 days", "90d": "90 days", "1y": "1 year", "all": "All time"}
DEFAULT_RESOLUTION = {"7d": "hour", "30d": "day", "90d": "day", "1y": "week", "all": "month"}
RESOLUTIONS = ("hour", "day", "week", "month")
# Hour buckets over more than a month would be thousands of rows in the table: day instead.
HOUR_RANGE_MAX_DAYS = 31
# Units offered on a metric page, where the metric's unit converts into them.
DISPLAY_UNITS = (
    "count",
    "count/min",
    "kcal",
    "kJ",
    "km",
    "mi",
    "m",
    "ft",
    "cm",
    "in",
    "kg",
    "lb",
    "g",
    "oz",
    "ms",
    "s",
    "min",
    "hr",
    "degC",
    "degF",
    "mg/dL",
    "mmol/L",
    "mL",
    "L",
    "fl_oz_us",
    "km/hr",
    "mi/hr",
    "m/s",
)
STAGE_ORDER = ("Deep", "Core", "REM", "Awake")  # bottom to top of a night's bar
STAGE_COLUMNS = {"Deep": "deep", "Core": "core", "REM": "rem", "Awake": "awake"}
# Hypnogram levels: awake on top, deep at the bottom, as sleep labs draw them.
STAGE_LEVELS = {"Awake": 4, "REM": 3, "Core": 2, "Asleep": 2, "Deep": 1}
COLORS = {
    "Deep": "#3b3b98",
    "Core": "#4a90d9",
    "REM": "#8e6bd1",
    "Awake": "#e8a33d",
    "value": "#2f6f9f",
    "band": "rgba(47, 111, 159, 0.18)",
    "heart": "#c0392b",
    "pace": "#2e8b57",
}


def local_now(offset_minutes: int) -> dt.datetime:
    return dt.datetime.now(dt.timezone(dt.timedelta(minutes=offset_minutes)))


def local_midnight_days_ago(offset_minutes: int, days: int) -> dt.datetime:
    """The start of the local day ``days - 1`` days before today: ``days`` whole days up to now."""
    now = local_now(offset_minutes)
    return now.replace(hour=0, minute=0, second=0, microsecond=0) - (days - 1) * DAY


def wall_seconds(value: str | dt.datetime) -> int:
    """Seconds of the local wall-clock time as if it were UTC (what the charts' x axis holds)."""
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return int((moment.replace(tzinfo=None) - dt.datetime(1970, 1, 1)).total_seconds())


@dataclass(frozen=True)
class Window:
    """A page's time range: its key (``7d``…), label and UTC instants (``start`` None: all time)."""

    key: str
    label: str
    start: dt.datetime | None
    days: int | None


def window_of(key: str | None, offset_minutes: int, default: str = "30d") -> Window:
    key = key if key in RANGES else default
    days = RANGES[key]
    start = None if days is None else local_midnight_days_ago(offset_minutes, days)
    return Window(key=key, label=RANGE_LABELS[key], start=start, days=days)


def resolution_of(requested: str | None, window: Window) -> str:
    resolution = requested if requested in RESOLUTIONS else DEFAULT_RESOLUTION[window.key]
    if resolution == "hour" and (window.days is None or window.days > HOUR_RANGE_MAX_DAYS):
        return "day"
    return resolution


def units_for(metric: MetricType) -> list[str]:
    """The units a metric's values can be shown in (its own first)."""
    if not metric.unit:
        return []
    units = [metric.unit]
    for unit in DISPLAY_UNITS:
        if unit == metric.unit:
            continue
        try:
            converter(metric.unit, unit)
        except UnitMismatch:
            continue
        units.append(unit)
    return units


def is_sum(metric: MetricType) -> bool:
    return metric.aggregation == MetricType.Aggregation.SUM


def bucket_value(metric: MetricType, bucket: dict[str, Any]) -> float:
    """The one number a bucket stands for: its sum, or its average."""
    return bucket["sum"] if is_sum(metric) else bucket["avg"]


def bucket_chart(metric: MetricType, buckets: list[dict[str, Any]], unit: str, label: str) -> dict[str, Any]:
    """Bars of sums, or a line of averages over its min to max band."""
    x = [wall_seconds(b["start"]) for b in buckets]
    if is_sum(metric):
        series = [{"label": label, "values": [b["sum"] for b in buckets], "color": COLORS["value"]}]
        return {"kind": "bars", "x": x, "unit": unit, "series": series}
    series = [
        {"label": "min", "values": [b["min"] for b in buckets], "color": COLORS["band"], "band": True},
        {"label": "max", "values": [b["max"] for b in buckets], "color": COLORS["band"], "band": True},
        {"label": "average", "values": [b["avg"] for b in buckets], "color": COLORS["value"]},
    ]
    return {"kind": "line", "x": x, "unit": unit, "series": series}


# How a unit reads after a number on a card ("9,068 steps" rather than "9,068 count").
UNIT_WORDS = {"count": "", "count/min": "bpm"}


def format_number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    text = f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:,.1f}"
    return f"{text} {UNIT_WORDS.get(unit, unit)}".strip()


LOCAL_FORMATS = {"time": "%H:%M", "short": "%a %d %b %H:%M", "long": "%a %d %b %Y %H:%M"}


def format_local(value: str | dt.datetime | None, style: str = "short") -> str:
    """A local time as people read it, in its own offset: ``Sun 29 Nov 23:10`` (short), ``23:10``
    (time), ``Sun 29 Nov 2026 23:10`` (long). Formatted here: templates would show it in UTC."""
    if value is None:
        return "–"
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime(LOCAL_FORMATS[style])


def format_hours(hours: float | None) -> str:
    if hours is None:
        return "–"
    minutes = round(hours * 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def main_night(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Of one night's items (one per source), the one with the most stage detail."""

    def staged(item: dict[str, Any]) -> float:
        return sum(item.get(column) or 0 for column in STAGE_COLUMNS.values())

    return max(items, key=lambda item: (staged(item), item.get("asleep") or item.get("total_sleep") or 0))


def nights_by_date(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        grouped.setdefault(item["night"], []).append(item)
    return [main_night(group) for _, group in sorted(grouped.items())]


def asleep_hours(night: dict[str, Any]) -> float | None:
    stages = [night.get(c) for c in ("core", "deep", "rem")]
    if any(value is not None for value in stages):
        return sum(value or 0 for value in stages)
    return night.get("asleep") if night.get("asleep") is not None else night.get("total_sleep")


def nights_from_segments(segments: list[Any]) -> list[dict[str, Any]]:
    """Nights from stage segments alone ("summarize data" off): a segment belongs to the night of
    the date 12 hours after its local start (22:00 on the 2nd and 03:00 on the 3rd: the 3rd)."""
    nights: dict[str, dict[str, Any]] = {}
    for segment in segments:
        column = STAGE_COLUMNS.get(segment.stage)
        if column is None:
            continue
        zone = dt.timezone(dt.timedelta(minutes=segment.utc_offset))
        date = (segment.start.astimezone(zone) + dt.timedelta(hours=12)).date().isoformat()
        night = nights.setdefault(date, {"night": date, "source": segment.source, "sessions": []})
        hours = (segment.end - segment.start).total_seconds() / 3600
        night[column] = (night.get(column) or 0) + hours
    return [nights[date] for date in sorted(nights)]


def sleep_chart(nights: list[dict[str, Any]]) -> dict[str, Any]:
    """Stacked bars of stages per night, in hours (nights without stages: one bar of time asleep)."""
    x = [wall_seconds(dt.datetime.fromisoformat(n["night"])) for n in nights]
    series = [
        {"label": stage, "values": [n.get(STAGE_COLUMNS[stage]) or 0 for n in nights], "color": COLORS[stage]}
        for stage in STAGE_ORDER
    ]
    unstaged = [0 if any(n.get(c) for c in STAGE_COLUMNS.values()) else (asleep_hours(n) or 0) for n in nights]
    if any(unstaged):
        series.insert(0, {"label": "Asleep", "values": unstaged, "color": COLORS["Core"]})
    return {"kind": "stacked", "x": x, "unit": "hr", "series": series}


def hypnogram(segments: list[Any]) -> dict[str, Any]:
    """A night's stages as steps over time (In Bed segments are the frame, not a stage)."""
    x: list[int] = []
    levels: list[int | None] = []
    for segment in segments:
        level = STAGE_LEVELS.get(segment.stage)
        if level is None:
            continue
        zone = dt.timezone(dt.timedelta(minutes=segment.utc_offset))
        start, end = wall_seconds(segment.start.astimezone(zone)), wall_seconds(segment.end.astimezone(zone))
        if x and start > x[-1]:
            x.append(x[-1])  # a gap between segments: nothing recorded
            levels.append(None)
        if x and start < x[-1]:
            start = x[-1]  # overlapping segments (two sources): draw on from where the last ended
        x.extend([start, end])
        levels.extend([level, level])
    return {
        "kind": "steps",
        "x": x,
        "unit": "",
        "levels": {str(level): stage for stage, level in STAGE_LEVELS.items() if stage != "Asleep"},
        "series": [{"label": "stage", "values": levels, "color": COLORS["REM"]}],
    }


def series_chart(points: list[dict[str, Any]], offset: int, label: str, unit: str, color: str) -> dict[str, Any]:
    """A workout's series (heart rate) over its local time."""
    zone = dt.timezone(dt.timedelta(minutes=offset))
    points = [p for p in points if p["start"] is not None and p["qty"] is not None]
    return {
        "kind": "line",
        "x": [wall_seconds(p["start"].astimezone(zone)) for p in points],
        "unit": unit,
        "series": [{"label": label, "values": [p["qty"] for p in points], "color": color}],
    }


def pace_chart(route: dict[str, Any] | None, offset: int) -> dict[str, Any] | None:
    """Minutes per km from the route's point speeds (m/s); standing still is left out."""
    if not route:
        return None
    zone = dt.timezone(dt.timedelta(minutes=offset))
    x, pace = [], []
    for time, speed in zip(route["properties"]["times"], route["properties"]["speeds"], strict=True):
        if time is None or not speed or speed < 0.5:
            continue
        x.append(wall_seconds(dt.datetime.fromisoformat(time).astimezone(zone)))
        pace.append(round(1000 / speed / 60, 2))
    if not x:
        return None
    series = [{"label": "pace", "values": pace, "color": COLORS["pace"]}]
    return {"kind": "line", "x": x, "unit": "min/km", "invert": True, "series": series}
