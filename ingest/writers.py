"""Bulk writes of typed rows (``ingest.rows``) into their tables, classified against what is stored.

Each table has a ``TableSpec``: its row type, natural key and the values a re-send may change.
The rows of one export are compared with the stored rows of the same natural keys (fetched by
time range or by key), then split into new rows (bulk-inserted: COPY on PostgreSQL, executemany
elsewhere), changed rows (updated: the newer value wins) and duplicates (left alone). Skipping
``INSERT … ON CONFLICT`` is what makes a first upload fast (docs/performance.md: it dominates the
cost); it is race-free because the pipeline holds a per-user lock for the whole transaction,
and the unique constraints still guard the table. Nothing here knows the format rows came from.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

import orjson
from django.db import connection, models

from healthexport.lib.statements import server_bound_cursor
from ingest.report import Counts, WorkoutCounts
from ingest.rows import BloodPressureRow, HealthRecordRow, SampleRow, SleepNightRow, SleepStageRow, TableRow, WorkoutRow
from metrics.models import (
    BloodPressure,
    HealthRecord,
    RoutePoint,
    Sample,
    SleepNight,
    SleepStage,
    Workout,
    WorkoutSeries,
)

IN_CHUNK = 500
EXECUTEMANY_BATCH = 5000
# Rows gathered before they are compared and written: bounds the memory of a large export.
ROWS_PER_BATCH = 10_000
# Key groups (metrics, for samples) whose stored rows one query fetches.
GROUPS_PER_QUERY = 100


@dataclass(frozen=True)
class TableSpec:
    """How rows of one table are keyed and compared.

    ``key`` columns (after ``user_id``) identify a row; ``values`` are what a re-send may change:
    together, the fields of ``row`` in order. Columns are named by attname (``metric_id``).
    Existing rows are fetched by the range of ``range_column`` (per value of the key columns
    before it), or by key when it is None.
    """

    model: type[models.Model]
    row: type[tuple]
    key: tuple[str, ...]
    values: tuple[str, ...]
    compared: tuple[str, ...]
    range_column: str | None
    json_columns: frozenset[str] = frozenset()


@dataclass(slots=True)
class Row:
    key: tuple
    values: tuple
    counts: Counts


def _spec(model: type[models.Model], row: type[tuple], key_length: int, **options: Any) -> TableSpec:
    return TableSpec(model=model, row=row, key=row._fields[:key_length], values=row._fields[key_length:], **options)


SAMPLES = _spec(Sample, SampleRow, 3, compared=("end", "qty", "min", "max", "context"), range_column="start")
BLOOD_PRESSURE = _spec(BloodPressure, BloodPressureRow, 2, compared=("systolic", "diastolic"), range_column="start")
SLEEP_NIGHTS = _spec(
    SleepNight,
    SleepNightRow,
    3,
    compared=tuple(field for field in SleepNightRow._fields[3:] if field != "utc_offset"),
    range_column="night",
    json_columns=frozenset({"extra"}),
)
SLEEP_STAGES = _spec(SleepStage, SleepStageRow, 3, compared=("end", "qty"), range_column="start")
HEALTH_RECORDS = _spec(
    HealthRecord,
    HealthRecordRow,
    2,
    compared=("content_hash",),
    range_column=None,
    json_columns=frozenset({"payload"}),
)
SPECS: dict[type[tuple], TableSpec] = {
    spec.row: spec for spec in (SAMPLES, BLOOD_PRESSURE, SLEEP_NIGHTS, SLEEP_STAGES, HEALTH_RECORDS)
}


class RowSink(Protocol):
    """Where typed rows go: collected for comparison, or streamed straight into the table."""

    def add(self, row: TableRow, counts: Counts) -> None: ...


class RowCollector:
    """Rows of one table by natural key, deduplicating repeats inside the body."""

    def __init__(self, spec: TableSpec) -> None:
        self.rows: dict[tuple, Row] = {}
        self._key_length = len(spec.key)

    def add(self, row: TableRow, counts: Counts) -> None:
        key, values = row[: self._key_length], row[self._key_length :]
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


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def row_adapter(columns: Sequence[str], json_columns: frozenset[str] = frozenset()) -> Callable[[tuple], tuple]:
    """A function turning a row of Python values into what the driver takes, decided once per table.

    psycopg adapts dates itself, so on PostgreSQL only JSON columns need wrapping; SQLite gets
    dates as Django writes them (text) and JSON as text.
    """
    json_at = frozenset(i for i, column in enumerate(columns) if column in json_columns)
    if connection.vendor == "postgresql":
        if not json_at:
            return _unchanged
        from psycopg.types.json import Jsonb

        return lambda row: tuple(Jsonb(v) if i in json_at else v for i, v in enumerate(row))
    ops = connection.ops

    def adapt(value: Any, i: int) -> Any:
        if i in json_at:
            return orjson.dumps(value).decode()
        if isinstance(value, datetime):
            return ops.adapt_datetimefield_value(value)
        if isinstance(value, date):
            return ops.adapt_datefield_value(value)
        return value

    return lambda row: tuple(adapt(v, i) for i, v in enumerate(row))


def _unchanged(row: tuple) -> tuple:
    return row


def _fetch_existing(spec: TableSpec, user_id: int, rows: Sequence[Row]) -> dict[tuple, tuple]:
    """Stored rows sharing a natural key with ``rows``: key → compared values."""
    field_names, compared_names = spec.key, spec.compared
    wanted = {row.key for row in rows}
    existing: dict[tuple, tuple] = {}
    if spec.range_column is not None:
        # Rows are grouped by the key columns before the range column (e.g. the metric); one
        # query fetches the range of each of many groups (the metrics of an hourly export).
        position = spec.key.index(spec.range_column)
        groups: dict[tuple, list] = defaultdict(list)
        for key in wanted:
            groups[key[:position]].append(key[position])
        ranges = [(group, min(moments), max(moments)) for group, moments in groups.items()]
        for start in range(0, len(ranges), GROUPS_PER_QUERY):
            for record in _rows_in_ranges(spec, user_id, ranges[start : start + GROUPS_PER_QUERY]):
                key = tuple(record[: len(field_names)])
                if key in wanted:
                    existing[key] = tuple(record[len(field_names) :])
    else:
        keys = list(wanted)
        for start in range(0, len(keys), IN_CHUNK):
            chunk = keys[start : start + IN_CHUNK]
            groups = defaultdict(list)
            for key in chunk:
                groups[key[:-1]].append(key[-1])
            for prefix, last_values in groups.items():
                if connection.vendor == "postgresql":
                    records = _rows_by_key(spec, user_id, prefix, last_values)
                else:
                    filters = dict(zip(field_names[:-1], prefix, strict=True))
                    filters[f"{field_names[-1]}__in"] = last_values
                    records = spec.model.objects.filter(user_id=user_id, **filters).values_list(
                        *field_names, *compared_names
                    )
                for record in records:
                    existing[tuple(record[: len(field_names)])] = tuple(record[len(field_names) :])
    return existing


def _rows_by_key(spec: TableSpec, user_id: int, prefix: tuple, last_values: list) -> list[tuple]:
    """The key and compared columns of the user's rows with these keys, one index probe per key.

    Written as a join of the keys with a lookup by the whole key, not ``last IN (...)``: during
    a large import the statistics still say the user has few rows, and PostgreSQL then read all
    of the user's rows of the section through another index for each batch of keys (an import
    of a million records slowed to minutes). A lookup by the whole unique key has one plan.
    """
    quote, model = connection.ops.quote_name, spec.model
    names = (*spec.key, *spec.compared)
    columns = [quote(model._meta.get_field(name).column) for name in names]
    *prefix_columns, last_column = columns[: len(spec.key)]
    conditions = " AND ".join([f"{quote('user_id')} = %s", *(f"{column} = %s" for column in prefix_columns)])
    last_type = model._meta.get_field(spec.key[-1]).db_type(connection)
    sql = (
        f"SELECT {', '.join(f'found.{column}' for column in columns)}"  # noqa: S608 (our own names)
        f" FROM unnest(%s::{last_type}[]) AS wanted(value)"
        f" CROSS JOIN LATERAL (SELECT {', '.join(columns)} FROM {quote(model._meta.db_table)}"
        f" WHERE {conditions} AND {last_column} = wanted.value) AS found"
    )
    return _binary_rows(sql, [last_values, user_id, *prefix], prepare=True)


def _rows_in_ranges(spec: TableSpec, user_id: int, ranges: list[tuple[tuple, Any, Any]]) -> Iterable[tuple]:
    """The key and compared columns of the user's rows in each (group, first, last) range.

    Written out rather than built with the ORM: compiling its OR of ranges cost more than running
    it (a fifth of an hourly export's time), and the text depends only on the number of ranges,
    so PostgreSQL prepares it once per connection.
    """
    quote, model = connection.ops.quote_name, spec.model
    position = spec.key.index(spec.range_column)
    names = (*spec.key, *spec.compared)
    columns = [model._meta.get_field(name).column for name in names]
    group_columns, range_column = columns[:position], quote(columns[position])
    one_range = " AND ".join(
        [*(f"{quote(column)} = %s" for column in group_columns), f"{range_column} BETWEEN %s AND %s"]
    )
    sql = (
        f"SELECT {', '.join(map(quote, columns))} FROM {quote(model._meta.db_table)}"  # noqa: S608 (our own names)
        f" WHERE {quote('user_id')} = %s AND {range_column} BETWEEN %s AND %s"
        f" AND ({' OR '.join([f'({one_range})'] * len(ranges))})"
    )
    # The whole span again, as constants: the planner skips the partitions outside it.
    params = [user_id, min(first for _, first, _ in ranges), max(last for _, _, last in ranges)]
    for group, first, last in ranges:
        params.extend((*group, first, last))
    if connection.vendor == "postgresql":
        return _binary_rows(sql, params, prepare=True)
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [connection.ops.adapt_datetimefield_value(p) if isinstance(p, datetime) else p for p in params]
        )
        return _converted(model, names, cursor.fetchall())


def _converted(model: type[models.Model], names: Sequence[str], records: list[tuple]) -> list[tuple]:
    """Raw records as the ORM would return them (SQLite hands back datetimes as text)."""
    converters = []
    for at, name in enumerate(names):
        column = model._meta.get_field(name).get_col(model._meta.db_table)
        for convert in connection.ops.get_db_converters(column) + column.get_db_converters(connection):
            converters.append((at, convert, column))
    if not converters:
        return records
    converted = []
    for record in records:
        values = list(record)
        for at, convert, column in converters:
            values[at] = convert(values[at], column, connection)
        converted.append(tuple(values))
    return converted


def _binary_rows(sql: str, params: Sequence[Any], *, prepare: bool = False) -> list[tuple]:
    """A query's rows fetched in binary on PostgreSQL: a timestamp arrives as a number instead of
    text to parse, a third of the cost per row (comparing a re-sent year reads 237k rows)."""
    with server_bound_cursor() as cursor:
        return cursor.execute(sql, params, binary=True, prepare=prepare).fetchall()


Writer = Callable[[tuple], None]
Span = tuple[Any, Any]  # (first, last) value of a range column, both included


@contextmanager
def row_stream(table: str, columns: Sequence[str], json_columns: frozenset[str] = frozenset()) -> Iterator[Writer]:
    """A writer of rows as they come: one binary COPY on PostgreSQL (the server inserts while the
    caller prepares the next rows), batched executemany elsewhere.

    Binary COPY sends each value in its column's own type: about 4x cheaper per row than text
    COPY, which formats every timestamp as text (bench/ingest.py).
    """
    quote = connection.ops.quote_name
    column_list = ", ".join(quote(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            types = _column_types(cursor, table, columns)
            with cursor.cursor.copy(f"COPY {quote(table)} ({column_list}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                yield copy.write_row
            return
        sql = f"INSERT INTO {quote(table)} ({column_list}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
        adapt = row_adapter(columns, json_columns)
        batch: list[tuple] = []

        def write(row: tuple) -> None:
            batch.append(adapt(row))
            if len(batch) >= EXECUTEMANY_BATCH:
                cursor.executemany(sql, batch)
                batch.clear()

        yield write
        if batch:
            cursor.executemany(sql, batch)


# (database, table) → column name → type OID, read once per process: a round trip less per COPY.
# The tables written by COPY have built-in column types only, whose OIDs never change.
_column_types_read: dict[tuple[str, str], dict[str, int]] = {}


def _column_types(cursor: Any, table: str, columns: Sequence[str]) -> list[int]:
    """The type OIDs of ``columns`` of ``table``, in their order."""
    where = (connection.settings_dict["NAME"], table)
    types = _column_types_read.get(where)
    if types is None:
        cursor.execute(
            "SELECT attname, atttypid FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            [table],
        )
        types = _column_types_read[where] = dict(cursor.fetchall())
    return [types[column] for column in columns]


def insert_rows(
    table: str, columns: Sequence[str], rows: Iterable[tuple], json_columns: frozenset[str] = frozenset()
) -> None:
    """Bulk insert: COPY on PostgreSQL, executemany elsewhere. No rows, no statement at all (a
    re-sent export has nothing new in most tables)."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    with row_stream(table, columns, json_columns) as write:
        write(first)
        for row in rows:
            write(row)


class NewRowStream:
    """A sink for rows of key ranges that held nothing stored (a first upload, a backfill of new
    months): each row goes straight into one COPY as it is validated, and the database inserts
    while the next one is read, with nothing to compare.

    ``spans`` gives the range of the range column per value of the key columns before it (per
    metric, for samples); the caller sends one range at a time and closes it. A key repeated in
    the stream is a duplicate, or an update applied once the COPY is done. A row outside an open
    range (the caller's estimate, or a range already closed) is collected and stored by
    ``write_rows`` afterwards. Open it with ``new_row_stream``.
    """

    def __init__(self, spec: TableSpec, *, user_id: int, ingestion_id: int, spans: dict[tuple, Span], write: Writer):
        assert spec.range_column is not None
        self.spec, self.user_id, self.ingestion_id, self._write = spec, user_id, ingestion_id, write
        self._spans = dict(spans)
        self._at = spec.key.index(spec.range_column)
        self._key_length = len(spec.key)
        # The keys seen in the open range with the hash of their values (enough to compare), by
        # the key columns after the range column (the source, for samples): an entry holds the
        # range value (a datetime) and the hash only, not a key tuple of its own.
        self._seen: dict[tuple, _SeenKeys] = {}
        self._later: dict[tuple, Row] = {}
        self._outside = RowCollector(spec)
        self.outside_written: list[Row] = []

    def add(self, row: TableRow, counts: Counts) -> None:
        # Called for every row streamed (237k for a year): the key is taken apart in place, and
        # made whole only for the rare row whose key came before.
        at, key_length = self._at, self._key_length
        moment = row[at]
        span = self._spans.get(row[:at])
        if span is None or not span[0] <= moment <= span[1]:
            self._outside.add(row, counts)
            return
        digest = hash(row[key_length:])
        rest = row[at + 1 : key_length]
        seen = self._seen.get(rest)
        if seen is None:
            seen = self._seen[rest] = _SeenKeys()
        previous = seen.put(moment, digest)
        if previous is None:
            counts.stored += 1
            self._write((self.user_id, *row, self.ingestion_id))
        elif previous == digest:
            counts.duplicates += 1
        else:
            counts.updated += 1
            key = row[:key_length]
            self._later[key] = Row(key, row[key_length:], counts)

    def close_range(self, prefix: tuple) -> None:
        """No more rows of ``prefix`` (a metric) come in sequence: forget its keys, which bounds
        memory to one range's keys; any later row of it is compared with the table instead."""
        self._spans.pop(prefix, None)
        self._seen.clear()

    def finish(self) -> None:
        """Once the COPY is closed: apply the updates, store the rows from outside the ranges."""
        if self._later:
            _update_rows(self.spec, self.user_id, list(self._later.values()), self.ingestion_id)
        self.outside_written = write_rows(
            self.spec, user_id=self.user_id, ingestion_id=self.ingestion_id, rows=self._outside.values()
        )


class _SeenKeys:
    """The range values (start times) seen of one key prefix and rest, each with the hash of its
    row's values; ``put`` tells whether a value came before.

    A metric's items mostly come in time order: those are kept in a list and an array (~64
    bytes a row, where a dict entry took ~136: 7 MB less for a year's heart rate), a later one
    found by bisection; a value out of order goes to a dict.
    """

    __slots__ = ("digests", "moments", "others")

    def __init__(self) -> None:
        self.moments: list[Any] = []  # increasing
        self.digests = array("q")  # of the rows at ``moments``
        self.others: dict[Any, int] = {}  # the values that came out of order (all before moments[-1])

    def put(self, moment: Any, digest: int) -> int | None:
        """Note ``moment`` with ``digest``; the digest it had before, None when it is new."""
        moments = self.moments
        if not moments or moment > moments[-1]:  # nearly every row
            moments.append(moment)
            self.digests.append(digest)
            return None
        at = bisect_left(moments, moment)
        if at < len(moments) and moments[at] == moment:
            previous, self.digests[at] = self.digests[at], digest
            return previous
        previous = self.others.get(moment)
        self.others[moment] = digest
        return previous


@contextmanager
def new_row_stream(
    spec: TableSpec, *, user_id: int, ingestion_id: int, spans: dict[tuple, Span]
) -> Iterator[NewRowStream]:
    """A ``NewRowStream`` over ``spans`` (no other statement can run while the COPY is open)."""
    columns = ("user_id", *spec.key, *spec.values, "ingestion_id")
    # Without spans every row is "outside": no COPY to open (a few ms saved per small export).
    copy = row_stream(spec.model._meta.db_table, columns, spec.json_columns) if spans else nullcontext(_no_rows)
    with copy as write:
        stream = NewRowStream(spec, user_id=user_id, ingestion_id=ingestion_id, spans=spans, write=write)
        yield stream
    stream.finish()


def _no_rows(row: tuple) -> None:
    raise AssertionError("a stream without spans writes no row")


def _update_rows(spec: TableSpec, user_id: int, rows: Sequence[Row], ingestion_id: int) -> None:
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(c)} = %s" for c in (*spec.values, "ingestion_id"))
    conditions = " AND ".join(f"{quote(c)} = %s" for c in ("user_id", *spec.key))
    sql = f"UPDATE {quote(spec.model._meta.db_table)} SET {assignments} WHERE {conditions}"  # noqa: S608
    adapt = row_adapter((*spec.values, "ingestion_id", "user_id", *spec.key), spec.json_columns)
    params = [adapt((*row.values, ingestion_id, user_id, *row.key)) for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def write_rows(spec: TableSpec, *, user_id: int, ingestion_id: int, rows: Sequence[Row]) -> list[Row]:
    """Store ``rows`` (unique by key) and count each as stored, updated or duplicate.

    Returns the rows inserted or updated (not the duplicates), for what is derived from them.
    """
    if not rows:
        return []
    existing = _fetch_existing(spec, user_id, rows)
    compared_at = [spec.values.index(c) for c in spec.compared]
    new_rows, changed_rows = [], []
    for row in rows:
        stored = existing.get(row.key)
        if stored is None:
            new_rows.append(row)
            row.counts.stored += 1
            continue
        compared = tuple([row.values[i] for i in compared_at])
        # Equal as stored (the usual re-send: floats come back bit for bit), else equal enough.
        if compared == stored or all(_same(new, old) for new, old in zip(compared, stored, strict=True)):
            row.counts.duplicates += 1
        else:
            changed_rows.append(row)
            row.counts.updated += 1
    insert_rows(
        spec.model._meta.db_table,
        ("user_id", *spec.key, *spec.values, "ingestion_id"),
        ((user_id, *r.key, *r.values, ingestion_id) for r in new_rows),
        spec.json_columns,
    )
    if changed_rows:
        _update_rows(spec, user_id, changed_rows, ingestion_id)
    return new_rows + changed_rows


class WrittenSpans:
    """Per key prefix (a metric, for samples): the first and last value of the range column among
    the rows inserted or updated. What is derived from the rows (rollups) is refreshed over these."""

    def __init__(self) -> None:
        self.spans: dict[tuple, Span] = {}

    def add(self, prefix: tuple, first: Any, last: Any) -> None:
        known = self.spans.get(prefix)
        self.spans[prefix] = (first, last) if known is None else (min(known[0], first), max(known[1], last))

    def add_rows(self, spec: TableSpec, rows: Iterable[Row]) -> None:
        at = spec.key.index(spec.range_column)
        by_prefix: dict[tuple, list] = defaultdict(list)
        for row in rows:
            by_prefix[row.key[:at]].append(row.key[at])
        for prefix, moments in by_prefix.items():
            self.add(prefix, min(moments), max(moments))


class RowBatch:
    """Typed rows of any tables, compared and written together when ``ROWS_PER_BATCH`` have come
    (and at ``flush``): one query, one COPY and one UPDATE per table per batch, however many
    metrics the rows belong to. The sample rows written are noted in ``samples_written``."""

    def __init__(self, *, user_id: int, ingestion_id: int, samples_written: WrittenSpans) -> None:
        self.user_id, self.ingestion_id, self.samples_written = user_id, ingestion_id, samples_written
        self._collectors: dict[type, RowCollector] = {}
        self._size = 0

    def add(self, row: TableRow, counts: Counts) -> None:
        collector = self._collectors.get(type(row))
        if collector is None:
            collector = self._collectors[type(row)] = RowCollector(SPECS[type(row)])
        collector.add(row, counts)
        self._size += 1
        if self._size >= ROWS_PER_BATCH:
            self.flush()

    def flush(self) -> None:
        for row_type, collector in self._collectors.items():
            spec = SPECS[row_type]
            written = write_rows(spec, user_id=self.user_id, ingestion_id=self.ingestion_id, rows=collector.values())
            if spec is SAMPLES:
                self.samples_written.add_rows(spec, written)
        self._collectors.clear()
        self._size = 0


def unstored_spans(spec: TableSpec, *, user_id: int, spans: dict[tuple, Span]) -> dict[tuple, Span]:
    """The spans (per key prefix: a metric, for samples) in which the user has no row stored."""
    if not spans:
        return {}
    at = spec.key.index(spec.range_column)
    base = spec.model.objects.filter(user_id=user_id)
    # One query for all of them: does each have anything stored in its span?
    tests, params = [], []
    for prefix, span in spans.items():
        filters = {**dict(zip(spec.key[:at], prefix, strict=True)), f"{spec.range_column}__range": span}
        sql, query_params = base.filter(**filters).values(spec.range_column)[:1].query.sql_with_params()
        tests.append(f"EXISTS ({sql})")
        params.extend(query_params)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(tests)}", params)
        found = cursor.fetchone()
    return {prefix: span for (prefix, span), stored in zip(spans.items(), found, strict=True) if not stored}


@contextmanager
def statements_in_background() -> Iterator[None]:
    """Statements run in the block are sent without waiting for their results (psycopg's
    pipeline mode): the database works on them while Python goes on with the block. Their
    results, errors included, are read when the block ends, so the block must not read any.
    Elsewhere than on PostgreSQL they run as usual, one after the other."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor, cursor.connection.pipeline():
        yield


ROUTE_COLUMNS = (
    "workout_id",
    "seq",
    "timestamp",
    "latitude",
    "longitude",
    "altitude",
    "speed",
    "course",
    "horizontal_accuracy",
    "vertical_accuracy",
)
SERIES_COLUMNS = ("workout_id", "kind", "seq", "start", "qty", "min", "max", "unit", "source")


def write_workouts(*, user_id: int, ingestion_id: int, workouts: Sequence[WorkoutRow], counts: WorkoutCounts) -> None:
    """Workouts are few per export: the ORM writes them (new ones in one bulk insert); their
    routes and series go in bulk. A re-sent workout whose content changed replaces its route and
    series whole."""
    if not workouts:
        return
    stored = {
        external_id: (pk, digest)
        for external_id, pk, digest in Workout.objects.filter(
            user_id=user_id, external_id__in=[w.fields["external_id"] for w in workouts]
        ).values_list("external_id", "pk", "content_hash")
    }
    written: list[tuple[int, Any]] = []
    new: list[tuple[Workout, Any]] = []
    for workout in workouts:
        fields = {**workout.fields, "content_hash": workout.digest, "ingestion_id": ingestion_id}
        existing = stored.get(workout.fields["external_id"])
        if existing is None:
            counts.stored += 1
            new.append((Workout(user_id=user_id, **fields), workout))
        elif existing[1] == workout.digest:
            counts.duplicates += 1
        else:
            counts.updated += 1
            Workout.objects.filter(pk=existing[0]).update(**{"route": None, **fields})
            RoutePoint.objects.filter(workout_id=existing[0]).delete()
            WorkoutSeries.objects.filter(workout_id=existing[0]).delete()
            written.append((existing[0], workout))
    Workout.objects.bulk_create([row for row, _ in new])
    written += [(row.pk, workout) for row, workout in new]
    insert_rows(
        RoutePoint._meta.db_table,
        ROUTE_COLUMNS,
        ((pk, seq, *point) for pk, w in written for seq, point in enumerate(w.route)),
    )
    insert_rows(WorkoutSeries._meta.db_table, SERIES_COLUMNS, ((pk, *item) for pk, w in written for item in w.series))
    counts.route_points += sum(len(w.route) for _, w in written)
