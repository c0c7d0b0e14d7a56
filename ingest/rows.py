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
    """A route's points held as columns of machine numbers until written: ~100 bytes a point
    instead of ~340 as a tuple of Python floats (a year's 73k points: 7 MB, not 25 MB).

    Iterated, it gives each point as (timestamp, latitude, longitude, altitude, speed, course,
    horizontal accuracy, vertical accuracy). A missing optional value is held as NaN, which no
    point can have (JSON has no NaN, and the coordinates' bounds refuse one).
    """

    __slots__ = ("_extras", "_lon_lat", "_times", "_with_none")

    EXTRAS = 5  # altitude, speed, course, horizontal and vertical accuracy

    def __init__(self) -> None:
        self._times: list[dt.datetime | None] = []
        self._lon_lat = array("d")  # longitude, latitude per point: a LineString's WKB order
        self._extras = array("d")
        self._with_none: set[int] = set()  # the points with a missing optional value

    def append(self, timestamp: dt.datetime | None, latitude: float, longitude: float, *extras: float | None) -> None:
        if None in extras:
            self._with_none.add(len(self._times))
            extras = tuple(math.nan if value is None else value for value in extras)
        self._times.append(timestamp)
        self._lon_lat.extend((longitude, latitude))
        self._extras.extend(extras)

    def __len__(self) -> int:
        return len(self._times)

    def __iter__(self) -> Iterator[tuple]:
        lon_lat, extras, with_none, width = self._lon_lat, self._extras, self._with_none, self.EXTRAS
        for at, timestamp in enumerate(self._times):
            values = extras[at * width : (at + 1) * width]
            if at in with_none:
                values = [None if math.isnan(value) else value for value in values]
            yield (timestamp, lon_lat[2 * at + 1], lon_lat[2 * at], *values)

    def lon_lat_le(self) -> bytes:
        """Longitude and latitude of every point, as little-endian doubles (a LineString's WKB)."""
        if sys.byteorder == "little":
            return self._lon_lat.tobytes()
        swapped = array("d", self._lon_lat)
        swapped.byteswap()
        return swapped.tobytes()


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
