"""Stored health data. Sample-scale tables carry natural keys as unique constraints, so a
re-sent export can never store an item twice; on PostgreSQL they are range-partitioned by
month (see the ``partition_*`` migrations)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.contrib.gis.db import models as gis_models
from django.db import connection, models
from django.db.models import F, Q

from healthexport.lib import partitions
from healthexport.lib.statements import server_bound_cursor


class MetricType(models.Model):
    """One per metric name: shared by everybody for the names of the catalog
    (``metrics.catalog.UNITS``), one per owner for any other name the app sends.

    ``unit`` is the catalog's canonical unit of a known metric (its values are stored in it) and
    empty for an unknown one, whose samples each keep the unit they were sent in. An owner's
    names are capped (see ``ingest.services``): they cannot use up ids or rows for everybody.
    Shared rows of unknown names created before that (``owner`` empty, ``unit`` empty) are kept
    and used by whoever sends the name.
    """

    class Aggregation(models.TextChoices):
        SUM = "sum", "Sum (cumulative: steps, energy, distance)"
        AVERAGE = "average", "Min / average / max (discrete: heart rate, weight)"

    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="The user an unknown metric name belongs to; empty for the catalog's shared names.",
    )
    unit = models.CharField(
        max_length=32,
        blank=True,
        help_text="Canonical unit a known metric is stored in; empty: each sample keeps the unit it was sent in.",
    )
    aggregation = models.CharField(max_length=8, choices=Aggregation.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=Q(owner__isnull=True), name="metrics_metrictype_shared_name_unique"
            ),
            models.UniqueConstraint(
                fields=["owner", "name"], condition=Q(owner__isnull=False), name="metrics_metrictype_owner_name_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_known(self) -> bool:
        """Stored in one canonical unit (else each sample keeps the unit it was sent in)."""
        return bool(self.unit)


class SampleQuerySet(models.QuerySet):
    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Sample]:
        objs = list(objs)
        created = super().bulk_create(objs, *args, **kwargs)
        _refresh_rollups_of(objs)
        return created


class Sample(partitions.PartitionedModel):
    """A scalar sample: plain quantities and min/avg/max metrics (heart rate).

    ``qty`` is the value (the average for min/avg/max items) in the metric's canonical unit;
    ``unit`` and ``utc_offset`` are as sent, so an export reproduces the original.
    ``context`` holds the text some metrics add: meal time, insulin reason, handwashing.
    """

    # The natural key is the primary key: no surrogate id, sequence and second index to keep
    # up per row (a fifth of the database's work in a large ingest). No database foreign keys
    # or single-column indexes either, for the same reason; the key's index serves user and
    # metric look-ups, and Django still cascades a user's deletion. A missing source is stored
    # as "", so it is part of the key like any other.
    pk = models.CompositePrimaryKey("user", "metric", "start", "source")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    metric = models.ForeignKey(
        MetricType, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=255, blank=True, default="")
    qty = models.FloatField()
    min = models.FloatField(null=True, blank=True)
    max = models.FloatField(null=True, blank=True)
    unit = models.CharField(max_length=32)
    utc_offset = models.SmallIntegerField(help_text="Minutes east of UTC, as the phone sent it.")
    context = models.CharField(max_length=64, blank=True, default="")
    source_version = models.CharField(
        max_length=64, blank=True, db_default="", help_text="The writing app's version (Apple Health imports)."
    )
    device = models.CharField(
        max_length=255, blank=True, db_default="", help_text="The device that measured it (Apple Health imports)."
    )
    ingestion_id = models.BigIntegerField(help_text="The ingestion that last stored or changed this row.")

    objects = SampleQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(end__isnull=True) | Q(end__gte=F("start")), name="metrics_sample_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(min__isnull=True) | Q(max__isnull=True) | Q(min__lte=F("max")),
                name="metrics_sample_min_le_max",
            ),
        ]

    def __str__(self) -> str:
        return f"sample {self.pk} of metric {self.metric_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        _refresh_rollups_of([self])


def _refresh_rollups_of(samples: list[Sample]) -> None:
    """ORM writes keep the rollups too (the ingest pipeline writes in bulk and refreshes itself)."""
    spans: dict[tuple[int, int], list] = {}
    for sample in samples:
        span = spans.setdefault((sample.user_id, sample.metric_id), [sample.start, sample.start])
        span[0], span[1] = min(span[0], sample.start), max(span[1], sample.start)
    for (user_id, metric_id), (first, last) in spans.items():
        SampleRollup.objects.refresh(user_id=user_id, metric_ids=[metric_id], start=first, end=last + ROLLUP_STEP)


ROLLUP_STEP = dt.timedelta(minutes=15)
# Rollups cover samples from here on: every IANA zone's offset has been a multiple of 15 minutes
# since (Pacific/Kiritimati was -10:40 until 1979-10). Buckets read older samples raw.
ROLLUP_EPOCH = dt.datetime(1980, 1, 1, tzinfo=dt.UTC)


def rollup_floor(instant: dt.datetime) -> dt.datetime:
    """The start of the 15-minute rollup bucket holding ``instant``, in UTC."""
    instant = instant.astimezone(dt.UTC)
    return instant.replace(minute=instant.minute - instant.minute % 15, second=0, microsecond=0)


def rollup_ceil(instant: dt.datetime) -> dt.datetime:
    floor = rollup_floor(instant)
    return floor if floor == instant else floor + ROLLUP_STEP


# A refresh spanning more than this sorts more rows than PostgreSQL's default 4 MB work_mem holds.
LONG_REFRESH = dt.timedelta(days=14)


class SampleRollupQuerySet(models.QuerySet):
    def refresh(self, *, user_id: int, metric_ids: Iterable[int], start: dt.datetime, end: dt.datetime) -> None:
        """Recompute the rollups of these metrics of the user from their samples in [start, end)."""
        self.refresh_spans(user_id=user_id, spans=dict.fromkeys(metric_ids, (start, end)))

    def refresh_spans(self, *, user_id: int, spans: Mapping[int, tuple[dt.datetime, dt.datetime]]) -> None:
        """Recompute the rollups of the user's samples of each metric in its own [start, end).

        Each range widens to whole 15-minute buckets and starts no earlier than ``ROLLUP_EPOCH``.
        One DELETE and one INSERT … SELECT … GROUP BY for all the metrics (an hourly export of
        ten metrics: two statements, not twenty), on PostgreSQL and SQLite alike.
        """
        ranges = {}
        for metric_id, (start, end) in sorted(spans.items()):
            start = max(rollup_floor(start), ROLLUP_EPOCH)
            end = rollup_floor(end - dt.timedelta(microseconds=1)) + ROLLUP_STEP
            if start < end:
                ranges[metric_id] = (start, end)
        if not ranges:
            return
        quote = connection.ops.quote_name
        adapt = connection.ops.adapt_datetimefield_value
        # The whole range again, as constants, lets the planner skip partitions outside it.
        whole = (min(start for start, _ in ranges.values()), max(end for _, end in ranges.values()))
        params: list[Any] = [user_id, adapt(whole[0]), adapt(whole[1])]
        for metric_id, (start, end) in ranges.items():
            params += [metric_id, adapt(start), adapt(end)]

        def where(time_column: str) -> str:
            per_metric = f"(metric_id = %s AND {time_column} >= %s AND {time_column} < %s)"
            return (
                f"user_id = %s AND {time_column} >= %s AND {time_column} < %s"
                f" AND ({' OR '.join([per_metric] * len(ranges))})"
            )

        rollups = quote(SampleRollup._meta.db_table)
        rollup_columns = (
            "user_id",
            "metric_id",
            "bucket_start",
            "utc_offset",
            "source",
            "count",
            "total",
            "low",
            "high",
        )
        start_column = quote("start")
        delete = f"DELETE FROM {rollups} WHERE {where('bucket_start')}"  # noqa: S608
        insert = (
            f"INSERT INTO {rollups} ({', '.join(quote(c) for c in rollup_columns)}) "  # noqa: S608
            f"SELECT user_id, metric_id, {_bucket_sql(start_column)}, utc_offset, source, COUNT(*), SUM(qty), "
            f"MIN(COALESCE({quote('min')}, qty)), MAX(COALESCE({quote('max')}, qty)) "
            f"FROM {quote(Sample._meta.db_table)} WHERE {where(start_column)} GROUP BY 1, 2, 3, 4, 5"
        )
        # On PostgreSQL psycopg's own cursor: the statements are prepared from their 5th run (an
        # hourly sync repeats them), so their plans over the partitions are not made each time.
        with server_bound_cursor() if connection.vendor == "postgresql" else connection.cursor() as cursor:
            if connection.vendor == "postgresql" and any(end - start > LONG_REFRESH for start, end in ranges.values()):
                # A year of one metric sorts in memory, not on disk (the default 4 MB spills),
                # for the rest of this transaction only.
                cursor.execute("SELECT set_config('work_mem', '32MB', true)")
            cursor.execute(delete, params)
            cursor.execute(insert, params)


def _bucket_sql(column: str) -> str:
    """SQL flooring a stored instant to its 15-minute UTC bucket, stored as the column's own type."""
    if connection.vendor == "postgresql":
        return f"date_bin('15 minutes', {column}, timestamptz '2000-01-01 00:00:00+00')"
    # SQLite stores UTC instants as text; unix seconds floored to 900 and back (all after 1970).
    return f"datetime(CAST(strftime('%%s', {column}) AS INTEGER) / 900 * 900, 'unixepoch')"


class QuarterHour(models.Func):
    """A stored instant floored to its 15-minute UTC rollup bucket (``rollup_floor`` in SQL)."""

    output_field = models.DateTimeField()

    def as_sql(self, compiler, connection, **extra_context):  # type: ignore[override]
        column, params = compiler.compile(self.source_expressions[0])
        return _bucket_sql(column), params


class SampleRollup(models.Model):
    """Samples of one user, metric, sent offset and source summed per 15 minutes of UTC: what
    buckets read (the source lets a cumulative metric count one device per quarter hour).

    Every UTC offset in use since 1980 (+05:30, +05:45 included) is a multiple of 15 minutes, so
    each local hour, day and week boundary falls on a ``bucket_start``: grouping these rows gives
    the same buckets as grouping the samples, at 1/30 of the rows for a sample every 30 s.
    ``low``/``high`` are the min/max of the Min/Max the app sent (heart rate), else of ``qty``.
    Kept by ``SampleRollup.objects.refresh`` wherever samples are written or deleted.
    """

    # bucket_start before utc_offset: both bucket modes scan a time range of one metric.
    pk = models.CompositePrimaryKey("user", "metric", "bucket_start", "utc_offset", "source")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    metric = models.ForeignKey(
        MetricType, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    bucket_start = models.DateTimeField()
    utc_offset = models.SmallIntegerField(help_text="Minutes east of UTC, as the phone sent it.")
    # Rows written without one (as the migrations before 0018 did) belong to no source, like samples.
    source = models.CharField(max_length=255, db_default="")
    count = models.IntegerField()
    total = models.FloatField(help_text="Sum of qty.")
    low = models.FloatField()
    high = models.FloatField()

    objects = SampleRollupQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(count__gt=0), name="metrics_samplerollup_count_positive"),
        ]

    def __str__(self) -> str:
        return f"rollup {self.bucket_start:%Y-%m-%d %H:%M} of metric {self.metric_id}"


class BloodPressure(models.Model):
    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField()
    source = models.CharField(max_length=255, blank=True, default="")
    systolic = models.FloatField()
    diastolic = models.FloatField()
    unit = models.CharField(max_length=32, default="mmHg")
    utc_offset = models.SmallIntegerField()
    ingestion_id = models.BigIntegerField()

    class Meta:
        verbose_name = "blood pressure reading"
        constraints = [
            models.UniqueConstraint(fields=["user", "start", "source"], name="metrics_bloodpressure_natural_key"),
            models.CheckConstraint(
                condition=Q(systolic__gte=50, systolic__lte=250), name="metrics_bloodpressure_systolic_range"
            ),
            models.CheckConstraint(
                condition=Q(diastolic__gte=30, diastolic__lte=200), name="metrics_bloodpressure_diastolic_range"
            ),
            models.CheckConstraint(
                condition=Q(diastolic__lt=F("systolic")), name="metrics_bloodpressure_diastolic_below_systolic"
            ),
        ]

    def __str__(self) -> str:
        return f"blood pressure {self.pk}"


class SleepNight(models.Model):
    """One aggregated sleep session ("summarize data" on): a night, a nap, or one part of a night
    broken by waking. Durations in hours.

    A night may have several sessions, each sent as its own item with the same ``date``: they are
    told apart by ``session_start``, and readers add them up per night and source.
    """

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    night = models.DateField(help_text="The local date the app assigns the night to.")
    source = models.CharField(max_length=255, blank=True, default="")
    session_start = models.DateTimeField(
        help_text="Part of the key: sleepStart, else inBedStart, else the night's date at 00:00 UTC "
        "(older app versions send one item per night without times)."
    )
    total_sleep = models.FloatField(null=True, blank=True)
    asleep = models.FloatField(null=True, blank=True)
    core = models.FloatField(null=True, blank=True)
    deep = models.FloatField(null=True, blank=True)
    rem = models.FloatField(null=True, blank=True)
    awake = models.FloatField(null=True, blank=True)
    in_bed = models.FloatField(null=True, blank=True)
    sleep_start = models.DateTimeField(null=True, blank=True)
    sleep_end = models.DateTimeField(null=True, blank=True)
    in_bed_start = models.DateTimeField(null=True, blank=True)
    in_bed_end = models.DateTimeField(null=True, blank=True)
    utc_offset = models.SmallIntegerField()
    extra = models.JSONField(default=dict, blank=True, help_text="Fields older app versions send.")
    ingestion_id = models.BigIntegerField()

    class Meta:
        verbose_name = "sleep session"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "night", "source", "session_start"], name="metrics_sleepnight_natural_key"
            ),
        ]

    def __str__(self) -> str:
        return f"sleep session of {self.night}"


class SleepStage(models.Model):
    """One sleep stage segment ("summarize data" off): In Bed, Asleep, Awake, Core, Deep, REM, …

    Segments of different stages may start at the same instant (In Bed and Core at 23:00): the
    stage is part of the key. ``qty`` is the length in the metric's unit (hours), ``unit`` and
    ``utc_offset`` are as sent, so an export reproduces the original.
    """

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField()
    end = models.DateTimeField()
    stage = models.CharField(max_length=64, blank=True, default="")
    source = models.CharField(max_length=255, blank=True, default="")
    qty = models.FloatField()
    unit = models.CharField(max_length=32)
    utc_offset = models.SmallIntegerField(help_text="Minutes east of UTC, as the phone sent it.")
    ingestion_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "start", "source", "stage"], name="metrics_sleepstage_natural_key"),
            models.CheckConstraint(condition=Q(end__gte=F("start")), name="metrics_sleepstage_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"sleep stage {self.pk}"


class Workout(partitions.PartitionedModel):
    """A workout (export format v1 or v2). ``external_id`` is the app's stable UUID (v2) or a key
    derived from name and start (v1, which has none).

    On PostgreSQL the table is partitioned by time of ``start``, like samples. A partitioned
    table enforces uniqueness only together with ``start``: ``public_id`` is unique by
    construction (UUID4), and one workout per ``external_id`` is kept by the ingest pipeline,
    which looks re-sent workouts up by it under the per-user lock (ingest.writers).
    """

    id = models.BigAutoField(primary_key=True)
    public_id = models.UUIDField(default=uuid.uuid4, editable=False, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=100)
    name = models.CharField(max_length=100)
    start = models.DateTimeField()
    end = models.DateTimeField()
    utc_offset = models.SmallIntegerField()
    duration_s = models.FloatField(null=True, blank=True)
    active_energy_kcal = models.FloatField(null=True, blank=True)
    distance_km = models.FloatField(null=True, blank=True)
    location = models.CharField(max_length=32, blank=True, default="")
    is_indoor = models.BooleanField(null=True, blank=True)
    route = gis_models.LineStringField(srid=4326, geography=True, null=True, blank=True)
    fields = models.JSONField(default=dict, blank=True, help_text="Every other field, as sent.")
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the item as sent: re-sends compare it.")
    ingestion_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "external_id", "start"], name="metrics_workout_natural_key"),
            models.CheckConstraint(condition=Q(end__gte=F("start")), name="metrics_workout_end_after_start"),
        ]
        indexes = [models.Index(fields=["user", "start"], name="metrics_workout_user_start")]

    def __str__(self) -> str:
        return f"{self.name} {self.start:%Y-%m-%d}"


class RoutePoint(models.Model):
    # Keyed by workout and position, like samples by their natural key: no surrogate id to keep
    # up per point (routes run to thousands of points per workout). No database foreign key
    # either, as for samples: its check ran per point at commit (0.2 s for a year's routes).
    # Points are written with their workout in one transaction and Django cascades deletions.
    pk = models.CompositePrimaryKey("workout", "seq")
    workout = models.ForeignKey(
        Workout, on_delete=models.CASCADE, related_name="route_points", db_constraint=False, db_index=False
    )
    seq = models.PositiveIntegerField()
    timestamp = models.DateTimeField(null=True, blank=True)
    latitude = models.FloatField()
    longitude = models.FloatField()
    altitude = models.FloatField(null=True, blank=True)
    speed = models.FloatField(null=True, blank=True)
    course = models.FloatField(null=True, blank=True)
    horizontal_accuracy = models.FloatField(null=True, blank=True)
    vertical_accuracy = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__gte=-90, latitude__lte=90, longitude__gte=-180, longitude__lte=180),
                name="metrics_routepoint_lat_lon_range",
            ),
        ]

    def __str__(self) -> str:
        return f"route point {self.seq}"


class WorkoutSeries(models.Model):
    """Per-workout series: heartRateData, heartRateRecovery, stepCount, activeEnergy, …"""

    id = models.BigAutoField(primary_key=True)
    # No database foreign key: none can point into a partitioned table; Django cascades deletions.
    workout = models.ForeignKey(Workout, on_delete=models.CASCADE, related_name="series", db_constraint=False)
    kind = models.CharField(max_length=64)
    seq = models.PositiveIntegerField()
    start = models.DateTimeField(null=True, blank=True)
    qty = models.FloatField(null=True, blank=True)
    min = models.FloatField(null=True, blank=True)
    max = models.FloatField(null=True, blank=True)
    unit = models.CharField(max_length=32, blank=True, default="")
    source = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        verbose_name_plural = "workout series"
        constraints = [
            models.UniqueConstraint(fields=["workout", "kind", "seq"], name="metrics_workoutseries_natural_key"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.seq}"


class HealthRecord(models.Model):
    """Items of the other sections (symptoms, ecg, stateOfMind, medications, … and any section
    the app adds later), kept whole as JSON under a natural key."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    section = models.CharField(max_length=64)
    natural_key = models.CharField(max_length=128, help_text="The item's id, its start and name, or its hash.")
    start = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField()
    content_hash = models.CharField(max_length=64)
    ingestion_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "section", "natural_key"], name="metrics_healthrecord_natural_key"),
        ]
        indexes = [models.Index(fields=["user", "section", "start"], name="metrics_record_user_start")]

    def __str__(self) -> str:
        return f"{self.section} record {self.pk}"


class SourcePriority(models.Model):
    """An owner's order of data sources for daily totals (metrics.day_totals): name fragments, best
    first, e.g. ``["watch", "iphone"]``. Without one, Apple Watch comes before iPhone."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", primary_key=True)
    order = models.JSONField(default=list)

    def __str__(self) -> str:
        return "source priority"
