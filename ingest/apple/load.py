"""Rows of an Apple Health import → the tables of POST /v1/ingest, through its writers.

Every call into the ingest pipeline's storage layer (table specs, ``write_rows``,
``write_workouts``, metric types, rollups, the per-user lock) is in this module, so the rest of
the importer knows rows, not tables.

A record already stored — by the app or by an earlier import — with the same natural key
(metric, start, source) and the same value is a duplicate: imported samples compare ``qty`` only,
so the app's row (which has no end time and no motion context) is left as it is, and
``received = stored + updated + duplicates + rejected`` holds per type as in the ingest answer.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ingest import rows as ingest_rows
from ingest.apple.rows import WORKOUTS, PressureHalf, Record, Rows, Sample, WorkoutRow, digest
from ingest.hae.items import route_line
from ingest.parsing import ItemError
from ingest.report import Counts, WorkoutCounts
from ingest.services import metric_types_for, rollups_refresh, user_write_lock
from ingest.writers import (
    BLOOD_PRESSURE,
    HEALTH_RECORDS,
    SAMPLES,
    SLEEP_STAGES,
    RowCollector,
    WrittenSpans,
    new_row_stream,
    unstored_spans,
    write_rows,
    write_workouts,
)
from metrics import catalog
from metrics.models import MetricType, Workout
from metrics.units import UnitMismatch, converter

MAX_ERRORS = 100
# Kinds counted apart in a report, per dict (records, other): an archive of a million made-up
# types would hold a million counts, rewritten with the report at every chunk. The rest are
# counted together under OTHER_KINDS.
MAX_KINDS = 1000
OTHER_KINDS = "apple_records_of_other_types"
# Refused metric names remembered between chunks (so a chunk does not ask again); beyond this
# they are forgotten and asked again: their number is the archive's to choose.
MAX_REMEMBERED_REFUSALS = 10_000
# Samples as the app's (same table, key and columns), compared on the value alone (see above).
IMPORTED_SAMPLES = replace(SAMPLES, compared=("qty",))


@dataclass
class ImportReport:
    """Counts per HealthKit type (``records``), workouts and the other kinds, and item errors."""

    records: dict[str, Counts] = field(default_factory=dict)
    workouts: WorkoutCounts = field(default_factory=WorkoutCounts)
    other: dict[str, Counts] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0

    def counts(self, kind: str) -> Counts:
        if kind == WORKOUTS:
            return self.workouts
        counts = self.records if kind.startswith(("HK", "apple_records")) else self.other
        found = counts.get(kind)
        if found is None:
            found = counts.setdefault(kind if len(counts) < MAX_KINDS else OTHER_KINDS, Counts())
        return found

    def reject(self, kind: str, code: str, message: str, **where: Any) -> None:
        self.counts(kind).rejected += 1
        self.note(kind, code, message, **where)

    def note(self, kind: str, code: str, message: str, **where: Any) -> None:
        """An error about something stored all the same (or, from ``reject``, refused)."""
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"code": code, "message": message, "where": {"type": kind, **where}})

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": {kind: asdict(c) for kind, c in sorted(self.records.items())},
            "workouts": asdict(self.workouts),
            "other": {kind: asdict(c) for kind, c in sorted(self.other.items())},
            "errors": self.errors,
            "errors_truncated": self.error_count > len(self.errors),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportReport:
        """The report as last committed: a resumed import goes on counting from there."""
        if not data:
            return cls()
        return cls(
            records={kind: Counts(**c) for kind, c in data.get("records", {}).items()},
            workouts=WorkoutCounts(**data.get("workouts", {})),
            other={kind: Counts(**c) for kind, c in data.get("other", {}).items()},
            errors=list(data.get("errors", [])),
            error_count=len(data.get("errors", [])) + (1 if data.get("errors_truncated") else 0),
        )


def storage_ingestion_id(import_id: int) -> int:
    """The ``ingestion_id`` of rows an import stores: minus its id, apart from the app's exports."""
    return -import_id


@dataclass
class _Metric:
    """A metric's type (or why its samples are refused), its conversions from each unit met, and
    the range its canonical values must be in (checked first; ``_out_of_bounds`` says why not)."""

    type: MetricType | None
    refusal: ItemError | None = None
    conversions: dict[str, Callable[[float], float] | ItemError] = field(default_factory=dict)
    low: float = -math.inf
    high: float = math.inf

    @classmethod
    def of(cls, name: str, found: MetricType | ItemError) -> _Metric:
        if isinstance(found, ItemError):
            return cls(None, found)
        low, high = -math.inf, math.inf
        bounds = catalog.BOUNDS.get(name)
        if bounds is not None:
            low, high = bounds[1], bounds[2]
        if catalog.is_cumulative(name):
            low = max(low, 0)
        return cls(found, low=low, high=high)


class Loader:
    """Writes the rows of one import for one user, a chunk at a time."""

    def __init__(self, *, user_id: int, import_id: int, report: ImportReport):
        self.user_id, self.ingestion_id, self.report = user_id, storage_ingestion_id(import_id), report
        self._metrics: dict[str, _Metric] = {}

    # --- outside the chunk's transaction ---------------------------------------------------

    def prepare(self, rows: Rows) -> None:
        """Create the metric types the chunk needs (their own short transactions, as the app's)."""
        if len(self._metrics) > MAX_REMEMBERED_REFUSALS:
            self._metrics = {name: metric for name, metric in self._metrics.items() if metric.type is not None}
        names = {sample.metric for sample in rows.samples} - self._metrics.keys()
        if not names:
            return
        for name, found in metric_types_for(user_id=self.user_id, names=sorted(names)).items():
            self._metrics[name] = _Metric.of(name, found)

    # --- inside it -----------------------------------------------------------------------------

    def lock(self) -> None:
        """Serialise with the user's app exports and other imports (the chunk's transaction)."""
        user_write_lock(self.user_id)

    def write(self, rows: Rows) -> None:
        """The chunk's samples, stages, records and workouts, and its refused elements counted;
        call in a transaction after ``lock``."""
        for kind, refusal, start in rows.refused:
            self.report.counts(kind).received += 1
            self.report.reject(kind, refusal.code, refusal.message, field=refusal.field, startDate=start)
        for kind, problem, start in rows.problems:
            self.report.note(kind, problem.code, problem.message, field=problem.field, startDate=start)
        self._write_samples(rows.samples)
        stages = RowCollector(SLEEP_STAGES)
        for stage in rows.stages:
            self.report.counts(stage.kind).received += 1
            stages.add(
                (stage.start, stage.source, stage.stage, stage.end, stage.hours, "hr", stage.offset),
                self.report.counts(stage.kind),
            )
        write_rows(SLEEP_STAGES, user_id=self.user_id, ingestion_id=self.ingestion_id, rows=stages.values())
        self.write_records(rows.records)
        self._write_workouts(rows.workouts)

    def _write_samples(self, samples: list[Sample]) -> None:
        """As the app's samples: the metrics with nothing stored in the chunk's time range (a
        first import) stream straight into COPY, the others are compared with what is stored."""
        by_metric = self._sample_rows(samples)
        spans = {
            prefix: (min(row[1] for row, _ in rows), max(row[1] for row, _ in rows))
            for prefix, rows in by_metric.items()
        }
        fresh = unstored_spans(IMPORTED_SAMPLES, user_id=self.user_id, spans=spans)
        with new_row_stream(
            IMPORTED_SAMPLES, user_id=self.user_id, ingestion_id=self.ingestion_id, spans=fresh
        ) as stream:
            for prefix, rows in by_metric.items():
                for row, counts in rows:
                    stream.add(row, counts)
                stream.close_range(prefix)
        written = WrittenSpans()
        for prefix, span in fresh.items():
            written.add(prefix, *span)
        written.add_rows(IMPORTED_SAMPLES, stream.outside_written)
        rollups_refresh(user_id=self.user_id, spans=written)

    def _sample_rows(self, samples: list[Sample]) -> dict[tuple, list[tuple[tuple, Counts]]]:
        """The valid samples as rows by metric, each with the counts of its HealthKit type."""
        by_metric: dict[tuple, list[tuple[tuple, Counts]]] = defaultdict(list)
        counts_of: dict[str, Counts] = {}
        for sample in samples:
            counts = counts_of.get(sample.kind)
            if counts is None:
                counts = counts_of[sample.kind] = self.report.counts(sample.kind)
            counts.received += 1
            metric = self._metrics[sample.metric]
            qty = self._canonical(sample, metric)
            if qty is None:
                continue
            metric_id = metric.type.id
            # A plain tuple in SampleRow's order: building the named tuple cost 2 s a year.
            row = (
                metric_id,
                sample.start,
                sample.source,
                sample.end,
                qty,
                None,
                None,
                sample.unit,
                sample.offset,
                sample.context,
                sample.version,
                sample.device,
            )
            by_metric[(metric_id,)].append((row, counts))
        return by_metric

    def _canonical(self, sample: Sample, metric: _Metric) -> float | None:
        """The value in the metric's canonical unit, checked; None (and counted) when refused."""
        refusal = metric.refusal
        if refusal is None:
            convert = metric.conversions.get(sample.unit)
            if convert is None:
                convert = metric.conversions[sample.unit] = _conversion(sample, metric.type)
            if isinstance(convert, ItemError):
                refusal = convert
            else:
                qty = convert(sample.qty)
                if metric.low <= qty <= metric.high:
                    return qty
                refusal = _out_of_bounds(sample.metric, qty)
                if refusal is None:
                    return qty
        self.report.reject(sample.kind, refusal.code, refusal.message, start=sample.start.isoformat())
        return None

    def write_records(self, records: Iterable[Record]) -> None:
        collector = RowCollector(HEALTH_RECORDS)
        for record in records:
            counts = self.report.counts(record.kind)
            counts.received += 1
            collector.add(
                (record.section, record.natural_key, record.start, record.payload, digest(record.payload)), counts
            )
        write_rows(HEALTH_RECORDS, user_id=self.user_id, ingestion_id=self.ingestion_id, rows=collector.values())

    def _write_workouts(self, workouts: list[WorkoutRow]) -> None:
        """Workouts by their own key; one the app already sent (same start) is a duplicate."""
        if not workouts:
            return
        counts = self.report.workouts
        counts.received += len(workouts)
        ours = {w.external_id for w in workouts}
        sent_by_app = set(
            Workout.objects.filter(user_id=self.user_id, start__in=[w.start for w in workouts])
            .exclude(external_id__in=ours)
            .values_list("start", flat=True)
        )
        unique: dict[str, ingest_rows.WorkoutRow] = {}
        for index, workout in enumerate(workouts):
            if workout.start in sent_by_app or workout.external_id in unique:
                counts.duplicates += 1
                continue
            route = [point for point in workout.route if _valid_point(point)]
            fields = {**workout.fields, "external_id": workout.external_id}
            if len(route) >= 2:
                fields["route"] = route_line(route)
            unique[workout.external_id] = ingest_rows.WorkoutRow(index, fields, route, [], workout.digest)
        write_workouts(
            user_id=self.user_id, ingestion_id=self.ingestion_id, workouts=list(unique.values()), counts=counts
        )

    def write_pressure(self, halves: list[PressureHalf]) -> None:
        """Blood pressure readings: the systolic and diastolic Records of one time and source,
        paired (each half counted under its own type, with its reading's outcome)."""
        pairs: dict[tuple, dict[str, PressureHalf]] = {}
        counted: dict[tuple, list[PressureHalf]] = defaultdict(list)
        for half in halves:
            key = (half.start, half.source)
            pairs.setdefault(key, {}).setdefault(half.which, half)
            if half.kind:
                self.report.counts(half.kind).received += 1
                counted[key].append(half)
        collector = RowCollector(BLOOD_PRESSURE)
        outcomes: dict[tuple, Counts] = {}
        for key, pair in pairs.items():
            systolic, diastolic = pair.get("systolic"), pair.get("diastolic")
            refusal = _pressure_refusal(systolic, diastolic)
            if refusal is not None:
                for half in counted[key]:
                    self.report.reject(half.kind, "invalid_item", refusal, start=half.start.isoformat())
                continue
            outcome = outcomes[key] = Counts()
            collector.add((*key, _mmhg(systolic), _mmhg(diastolic), "mmHg", systolic.offset), outcome)
        write_rows(BLOOD_PRESSURE, user_id=self.user_id, ingestion_id=self.ingestion_id, rows=collector.values())
        for key, outcome in outcomes.items():
            for half in counted[key]:
                counts = self.report.counts(half.kind)
                for name in ("stored", "updated", "duplicates"):
                    setattr(counts, name, getattr(counts, name) + getattr(outcome, name))


def _conversion(sample: Sample, metric: MetricType) -> Callable[[float], float] | ItemError:
    if not metric.unit:
        return lambda value: value  # an unknown metric keeps the unit it came in
    try:
        return converter(sample.unit or metric.unit, metric.unit)
    except UnitMismatch:
        return ItemError(
            "unit_mismatch", f"unit {sample.unit!r} is not a unit of {sample.metric} ({metric.unit})", "unit"
        )


def _out_of_bounds(metric: str, qty: float) -> ItemError | None:
    bounds = catalog.BOUNDS.get(metric)
    if bounds is not None:
        unit, low, high = bounds
        if not low <= qty <= high:
            return ItemError("out_of_range", f"value {qty:g} is outside {low:g}–{high:g} {unit}", "value")
    if qty < 0 and catalog.is_cumulative(metric):
        return ItemError("out_of_range", f"value {qty:g} is negative; {metric} cannot be", "value")
    return None


def _mmhg(half: PressureHalf) -> float:
    return converter(half.unit or "mmHg", "mmHg")(half.value)


def _pressure_refusal(systolic: PressureHalf | None, diastolic: PressureHalf | None) -> str | None:
    if systolic is None or diastolic is None:
        return "a blood pressure Record without its other half (same time and source)"
    try:
        high, low = _mmhg(systolic), _mmhg(diastolic)
    except UnitMismatch:
        return f"blood pressure in {systolic.unit!r}/{diastolic.unit!r}, not a pressure unit"
    s_low, s_high = catalog.SYSTOLIC_RANGE
    d_low, d_high = catalog.DIASTOLIC_RANGE
    if not (s_low <= high <= s_high and d_low <= low <= d_high and low < high):
        return f"blood pressure {high:g}/{low:g} mmHg is out of range"
    return None


def _valid_point(point: tuple) -> bool:
    latitude, longitude = point[1], point[2]
    return latitude is not None and longitude is not None and -90 <= latitude <= 90 and -180 <= longitude <= 180
