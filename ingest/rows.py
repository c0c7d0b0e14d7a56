"""The typed rows an export becomes: what a format's decoder yields and the writers store.

Each row is a named tuple in its table's column order: the natural key first (after the user),
then the values a re-send may change (``ingest.writers`` knows how each table is keyed and
compared). A decoder (``ingest.hae``) yields them without touching a database; the writers take
them without knowing which format they came from.
"""

from __future__ import annotations

import datetime as dt
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


@dataclass(slots=True)
class WorkoutRow:
    """One valid workout: its columns, route points and series, and the hash re-sends compare.

    ``route`` holds (timestamp, latitude, longitude, altitude, speed, course, horizontal
    accuracy, vertical accuracy) per point; ``series`` (kind, seq, start, qty, min, max, unit,
    source) per element.
    """

    index: int
    fields: dict[str, Any]
    route: list[tuple]
    series: list[tuple]
    digest: str
