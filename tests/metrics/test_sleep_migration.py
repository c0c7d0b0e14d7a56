"""Migrations 0011 to 0013: sleep stored before sessions and stages had their keys keeps every row."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from healthexport.lib.partitions import ensure_window
from metrics.models import Sample, SampleRollup, SleepNight, SleepStage

# Schema changes need real commits (SQLite refuses them inside the test's transaction).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.embedded]
BEFORE = ("metrics", "0010_partition_workouts")
UTC = dt.UTC
STAGE_START = dt.datetime(2024, 9, 3, 6, tzinfo=UTC)


def migrate(target: tuple[str, str] | None):
    """Migrate to ``target`` (None: the latest of every app); the models of that state."""
    executor = MigrationExecutor(connection)
    targets = [target] if target else executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.fixture
def before(alice):
    """The models of 0010, with the database migrated there; back to the latest afterwards."""
    try:
        yield migrate(BEFORE)
    finally:
        migrate(None)


def store_sleep_the_old_way(apps, user_id: int) -> None:
    metric = apps.get_model("metrics", "MetricType").objects.create(
        name="sleep_analysis", unit="hr", aggregation="average"
    )
    night = apps.get_model("metrics", "SleepNight")
    common = {"user_id": user_id, "extra": {}, "ingestion_id": 1}
    night.objects.create(
        night=dt.date(2024, 9, 3),
        source="Watch",
        core=3.9,
        sleep_start=dt.datetime(2024, 9, 2, 22, 10, tzinfo=UTC),
        in_bed_start=dt.datetime(2024, 9, 2, 22, tzinfo=UTC),
        utc_offset=120,
        **common,
    )
    night.objects.create(
        night=dt.date(2024, 9, 4),
        source="Watch",
        in_bed_start=dt.datetime(2024, 9, 3, 21, tzinfo=UTC),
        utc_offset=120,
        **common,
    )
    night.objects.create(night=dt.date(2024, 9, 5), source="iPhone", asleep=7.0, utc_offset=0, **common)
    ensure_window(Sample._meta.db_table)
    sample = apps.get_model("metrics", "Sample")
    stage = {"user_id": user_id, "metric_id": metric.pk, "unit": "hr", "utc_offset": -420, "ingestion_id": 1}
    sample.objects.create(
        start=STAGE_START, end=STAGE_START + dt.timedelta(minutes=30), source="Watch", qty=0.5, context="Core", **stage
    )
    sample.objects.create(start=STAGE_START, end=None, source="iPhone", qty=0.25, context="Awake", **stage)
    apps.get_model("metrics", "SampleRollup").objects.create(
        user_id=user_id,
        metric_id=metric.pk,
        bucket_start=STAGE_START,
        utc_offset=-420,
        count=2,
        total=0.75,
        low=0.25,
        high=0.5,
    )


def test_stored_nights_get_their_session_start_and_stages_move_to_their_table(before, alice):
    store_sleep_the_old_way(before, alice.pk)

    migrate(None)

    nights = SleepNight.objects.filter(user=alice).order_by("night")
    assert [(n.night, n.source, n.session_start, n.core, n.asleep) for n in nights] == [
        (dt.date(2024, 9, 3), "Watch", dt.datetime(2024, 9, 2, 22, 10, tzinfo=UTC), 3.9, None),  # sleepStart
        (dt.date(2024, 9, 4), "Watch", dt.datetime(2024, 9, 3, 21, tzinfo=UTC), None, None),  # else inBedStart
        (dt.date(2024, 9, 5), "iPhone", dt.datetime(2024, 9, 5, tzinfo=UTC), None, 7.0),  # else the date
    ]
    stages = SleepStage.objects.filter(user=alice).order_by("stage")
    assert [(s.start, s.end, s.stage, s.source, s.qty, s.unit, s.utc_offset) for s in stages] == [
        (STAGE_START, STAGE_START, "Awake", "iPhone", 0.25, "hr", -420),  # no end: zero length
        (STAGE_START, STAGE_START + dt.timedelta(minutes=30), "Core", "Watch", 0.5, "hr", -420),
    ]
    assert not Sample.objects.filter(user=alice).exists()
    assert not SampleRollup.objects.filter(user=alice).exists()


def test_a_resent_night_after_the_migration_is_a_duplicate(before, alice, alice_client):
    store_sleep_the_old_way(before, alice.pk)
    migrate(None)
    item = {"date": "2024-09-05", "asleep": 7.0, "source": "iPhone"}
    document = {"data": {"metrics": [{"name": "sleep_analysis", "units": "hr", "data": [item]}]}}

    answer = alice_client.post("/v1/ingest", document, format="json").json()

    assert answer["metrics"]["sleep_analysis"]["duplicates"] == 1
    assert SleepNight.objects.filter(user=alice).count() == 3


def test_migrating_back_keeps_one_session_per_night_and_one_segment_per_instant(before, alice):
    latest = migrate(None)
    night = latest.get_model("metrics", "SleepNight")
    common = {
        "user_id": alice.pk,
        "night": dt.date(2024, 9, 3),
        "source": "Watch",
        "utc_offset": 0,
        "extra": {},
        "ingestion_id": 1,
    }
    for hour in (22, 1):
        start = dt.datetime(2024, 9, 2 if hour == 22 else 3, hour, tzinfo=UTC)
        night.objects.create(session_start=start, sleep_start=start, **common)
    stage = latest.get_model("metrics", "SleepStage")
    for name in ("In Bed", "Core"):
        stage.objects.create(
            user_id=alice.pk,
            start=STAGE_START,
            end=STAGE_START,
            stage=name,
            source="Watch",
            qty=0,
            unit="hr",
            utc_offset=0,
            ingestion_id=1,
        )
    latest.get_model("metrics", "MetricType").objects.create(name="sleep_analysis", unit="hr", aggregation="average")

    old = migrate(BEFORE)

    assert list(old.get_model("metrics", "SleepNight").objects.values_list("sleep_start", flat=True)) == [
        dt.datetime(2024, 9, 3, 1, tzinfo=UTC)  # the latest session
    ]
    assert old.get_model("metrics", "Sample").objects.filter(user_id=alice.pk, start=STAGE_START).count() == 1
