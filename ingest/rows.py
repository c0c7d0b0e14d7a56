"""The typed rows an export becomes: what a format's decoder yields and the writers store.

Each row is a named tuple in its table's column order: the natural key first (after the user),
then the values a re-send may change (``ingest.writers`` knows how each table is keyed and
compared). A decoder (``ingest.hae``) yields them without touching a database; the writers take
them without knowing which format they came from.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple


class SampleRow(NamedTuple):
    metric_id: int
    start: dt.datetime
    source: str
    end: dt.datetime | None
    qty: float
    min: float | None
    max: float | None
    unit: str
    utc_offset: int
    context: str
    source_version: str  # of the writing app, and the measuring device: known for Apple Health imports
    device: str


class BloodPressureRow(NamedTuple):
    start: dt.datetime
    source: str
    systolic: float
    diastolic: float
    unit: str
    utc_offset: int


class SleepNightRow(NamedTuple):
    night: dt.date
    source: str
    session_start: dt.datetime
    total_sleep: float | None
    asleep: float | None
    core: float | None
    deep: float | None
    rem: float | None
    awake: float | None
    in_bed: float | None
    sleep_start: dt.datetime | None
    sleep_end: dt.datetime | None
    in_bed_start: dt.datetime | None
    in_bed_end: dt.datetime | None
    utc_offset: int
    extra: dict[str, Any]


class SleepStageRow(NamedTuple):
    start: dt.datetime
    source: str
    stage: str
    end: dt.datetime
    qty: float
    unit: str
    utc_offset: int


class HealthRecordRow(NamedTuple):
    """An item of a section kept whole (symptoms, ecg, medications, …)."""

    section: str
    natural_key: str
    start: dt.datetime | None
    payload: dict[str, Any]
    content_hash: str


# Rows of the sample-scale tables, keyed and compared by ``ingest.writers``.
TableRow = SampleRow | BloodPressureRow | SleepNightRow | SleepStageRow | HealthRecordRow


class RoutePoints:
    """A route's points held as columns of machine numbers until written: ~112 bytes a point
    instead of ~340 as a tuple of Python floats (a year's 73k points: 8 MB, not 25 MB).

    Iterated, it gives each point as (timestamp, latitude, longitude, altitude, speed, course,
    horizontal accuracy, vertical accuracy). A missing optional value is held as NaN, which no
    point can have (JSON has no NaN, and the coordinates' bounds refuse one).
    """

    __slots__ = ("_times", "_values", "_with_none")

    WIDTH = 7  # the values after the timestamp

    def __init__(self) -> None:
        self._times: list[dt.datetime | None] = []
        self._values = array("d")  # WIDTH per point
        self._with_none: set[int] = set()  # the points with a missing optional value

    def append(self, timestamp: dt.datetime | None, *values: float | None) -> None:
        if None in values:
            self._with_none.add(len(self._times))
            values = tuple(math.nan if value is None else value for value in values)
        self._times.append(timestamp)
        self._values.extend(values)

    def __len__(self) -> int:
        return len(self._times)

    def __iter__(self) -> Iterator[tuple]:
        values, width = self._values, self.WIDTH
        points = zip(self._times, *(values[column::width] for column in range(width)), strict=True)
        return self._with_none_restored(points) if self._with_none else points

    def _with_none_restored(self, points: Iterator[tuple]) -> Iterator[tuple]:
        for at, point in enumerate(points):
            if at in self._with_none:
                point = tuple(None if isinstance(value, float) and math.isnan(value) else value for value in point)
            yield point

    def lon_lat_le(self) -> bytes:
        """Longitude and latitude of every point, as little-endian doubles (a LineString's WKB)."""
        pairs = array("d", bytes(16 * len(self._times)))
        pairs[0::2] = self._values[1 :: self.WIDTH]
        pairs[1::2] = self._values[0 :: self.WIDTH]
        if sys.byteorder != "little":
            pairs.byteswap()
        return pairs.tobytes()


@dataclass(slots=True)
class WorkoutRow:
    """One valid workout: its columns, route points and series, and the hash re-sends compare.

    ``route`` holds (timestamp, latitude, longitude, altitude, speed, course, horizontal
    accuracy, vertical accuracy) per point (``RoutePoints``, or tuples); ``series`` (kind, seq,
    start, qty, min, max, unit, source) per element.
    """

    index: int
    fields: dict[str, Any]
    route: RoutePoints | Sequence[tuple]
    series: list[tuple]
    digest: str
