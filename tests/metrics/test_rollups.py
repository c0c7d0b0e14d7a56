"""The 15-minute sample rollups buckets read: kept equal to the samples by ingest, deletes and ORM writes."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import zoneinfo
from collections import defaultdict

import pytest

from ingest.models import Ingestion
from ingest.services import ingest_export, ingestion_delete, user_data_delete
from metrics.catalog import decimals_of
from metrics.models import MetricType, Sample, SampleRollup, rollup_floor
from metrics.queries import metric_buckets
from tests.ingest.helpers import fixture_json

pytestmark = pytest.mark.django_db
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def ingest(user, document: dict) -> dict:
    return ingest_export(user=user, api_key=None, body=json.dumps(document).encode())


def rollups_from_samples(user) -> dict[tuple, tuple]:
    """What the rollups must hold, computed here in Python from the stored samples."""
    groups: dict[tuple, list[Sample]] = defaultdict(list)
    for sample in Sample.objects.filter(user=user):
        groups[(sample.metric_id, rollup_floor(sample.start), sample.utc_offset)].append(sample)
    return {
        key: (
            len(rows),
            sum(r.qty for r in rows),
            min(r.qty if r.min is None else r.min for r in rows),
            max(r.qty if r.max is None else r.max for r in rows),
        )
        for key, rows in groups.items()
    }


def stored_rollups(user) -> dict[tuple, tuple]:
    return {
        (r.metric_id, r.bucket_start, r.utc_offset): (r.count, r.total, r.low, r.high)
        for r in SampleRollup.objects.filter(user=user)
    }


def assert_same(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for key, (count, total, low, high) in expected.items():
        assert actual[key][0] == count and actual[key][2:] == (low, high), key
        assert math.isclose(actual[key][1], total, rel_tol=1e-12), key


def day_buckets_from_samples(user, metric, zone=None) -> dict[str, tuple[int, float]]:
    days: dict[str, list[float]] = defaultdict(list)
    for sample in Sample.objects.filter(user=user, metric=metric):
        local = sample.start.astimezone(zone or dt.timezone(dt.timedelta(minutes=sample.utc_offset)))
        days[local.date().isoformat()].append(sample.qty)
    return {day: (len(qtys), sum(qtys)) for day, qtys in days.items()}


@pytest.mark.embedded
@pytest.mark.parametrize("name", ["small.json", "full_day.json", "real_shapes.json"])
def test_rollups_after_ingest_equal_the_samples_of_a_real_fixture(alice, name):
    ingest(alice, fixture_json(name))

    assert Sample.objects.filter(user=alice).exists()
    assert_same(stored_rollups(alice), rollups_from_samples(alice))


@pytest.mark.embedded
@pytest.mark.parametrize("zone", [NEW_YORK, zoneinfo.ZoneInfo("Asia/Kathmandu"), None])
def test_day_buckets_of_a_real_fixture_equal_those_of_its_samples(alice, zone):
    ingest(alice, fixture_json("real_shapes.json"))
    metric_ids = Sample.objects.filter(user=alice).values_list("metric_id", flat=True).distinct()

    for metric in MetricType.objects.filter(id__in=metric_ids).exclude(name="sleep_analysis"):
        buckets = metric_buckets(user=alice, metric=metric, resolution="day", tz=zone)
        expected = day_buckets_from_samples(alice, metric, zone)
        assert [b["start"][:10] for b in buckets] == sorted(expected)
        for bucket in buckets:
            count, total = expected[bucket["start"][:10]]
            assert bucket["count"] == count
            # Answers are rounded to the metric's precision: within half its last decimal.
            half = 10 ** -decimals_of(metric.name, metric.unit) / 2 + 1e-9
            if "sum" in bucket:
                assert math.isclose(bucket["sum"], total, abs_tol=half)
            else:
                assert math.isclose(bucket["avg"], total / count, abs_tol=half)


@pytest.mark.embedded
def test_a_resent_grown_total_updates_its_bucket(alice):
    document = fixture_json("small.json")
    ingest(alice, document)
    later = copy.deepcopy(document)
    later["data"]["metrics"][0]["data"][-1]["qty"] += 250  # the still-open hour grew

    ingest(alice, later)

    assert_same(stored_rollups(alice), rollups_from_samples(alice))
    steps = MetricType.objects.get(name="step_count")
    total = sum(b["sum"] for b in metric_buckets(user=alice, metric=steps, resolution="day"))
    assert math.isclose(total, sum(item["qty"] for item in later["data"]["metrics"][0]["data"]))


@pytest.mark.embedded
def test_deleting_an_ingestion_recomputes_the_rollups_it_touched(alice, bob):
    document = fixture_json("small.json")
    ingest(alice, document)
    ingest(bob, document)
    later = copy.deepcopy(document)
    later["data"]["metrics"][0]["data"].append({"date": "2024-05-14 14:00:00 +0200", "qty": 99, "source": "iPhone"})
    answer = ingest(alice, later)
    with_later = stored_rollups(alice)

    ingestion_delete(user=alice, ingestion=Ingestion.objects.get(public_id=answer["ingestion_id"]))

    assert Sample.objects.filter(user=alice).exists()
    assert stored_rollups(alice) != with_later
    assert_same(stored_rollups(alice), rollups_from_samples(alice))
    assert_same(stored_rollups(bob), rollups_from_samples(bob))


@pytest.mark.embedded
def test_deleting_all_data_deletes_the_users_rollups_only(alice, bob):
    ingest(alice, fixture_json("small.json"))
    ingest(bob, fixture_json("small.json"))

    user_data_delete(user=alice)

    assert not SampleRollup.objects.filter(user=alice).exists()
    assert_same(stored_rollups(bob), rollups_from_samples(bob))
    assert stored_rollups(bob)


@pytest.fixture
def quarter_hours(alice):
    """Steps every 5 minutes of 2024-03-10 (a DST change in New York), in two offsets."""
    steps = MetricType.objects.get_or_create(name="step_count", defaults={"unit": "count", "aggregation": "sum"})[0]
    start = dt.datetime(2024, 3, 10, 4, 0, tzinfo=dt.UTC)
    Sample.objects.bulk_create(
        Sample(
            user=alice,
            metric=steps,
            start=start + dt.timedelta(minutes=5 * i),
            qty=i,
            unit="count",
            utc_offset=-300 if i < 100 else -240,
            ingestion_id=0,
        )
        for i in range(288)
    )
    return steps


@pytest.mark.embedded
@pytest.mark.parametrize("zone", [NEW_YORK, None])
@pytest.mark.parametrize("resolution", ["hour", "day"])
def test_a_window_off_the_quarter_hour_counts_exactly_its_samples(alice, quarter_hours, zone, resolution):
    start, end = dt.datetime(2024, 3, 10, 6, 7, tzinfo=dt.UTC), dt.datetime(2024, 3, 10, 20, 53, tzinfo=dt.UTC)

    buckets = metric_buckets(user=alice, metric=quarter_hours, resolution=resolution, start=start, end=end, tz=zone)

    inside = Sample.objects.filter(user=alice, start__gte=start, start__lt=end)
    assert sum(b["count"] for b in buckets) == inside.count()
    assert sum(b["sum"] for b in buckets) == sum(s.qty for s in inside)


@pytest.mark.embedded
def test_an_offset_off_the_quarter_hour_is_bucketed_by_its_own_local_day(alice):
    steps = MetricType.objects.get_or_create(name="step_count", defaults={"unit": "count", "aggregation": "sum"})[0]
    # -00:44 (Monrovia's until 1972): 23:35 and 23:44 UTC share a rollup bucket but are
    # 22:51 and 23:00 local, two different local hours.
    for minute, qty in ((35, 1), (44, 2)):
        Sample.objects.create(
            user=alice,
            metric=steps,
            start=dt.datetime(2024, 5, 1, 23, minute, tzinfo=dt.UTC),
            qty=qty,
            unit="count",
            utc_offset=-44,
            ingestion_id=0,
        )

    buckets = metric_buckets(user=alice, metric=steps, resolution="hour")

    assert [(b["start"], b["sum"]) for b in buckets] == [
        ("2024-05-01T22:00:00-00:44", 1),
        ("2024-05-01T23:00:00-00:44", 2),
    ]


def test_one_refresh_of_several_metrics_recomputes_each_only_in_its_own_span(alice):
    steps = MetricType.objects.get_or_create(name="step_count", owner=None, defaults={"unit": "count"})[0]
    flights = MetricType.objects.get_or_create(name="flights_climbed", owner=None, defaults={"unit": "count"})[0]
    day = dt.datetime(2024, 9, 3, tzinfo=dt.UTC)
    for metric in (steps, flights):
        for hour in (1, 5):
            Sample.objects.create(
                user=alice,
                metric=metric,
                start=day + dt.timedelta(hours=hour),
                qty=hour,
                unit="count",
                utc_offset=0,
                ingestion_id=0,
            )
    # Changed behind the rollups' back, as a bulk write does: only a refresh brings them along.
    Sample.objects.filter(user=alice).update(qty=100)
    one_hour = dt.timedelta(hours=1)
    SampleRollup.objects.refresh_spans(
        user_id=alice.pk,
        spans={steps.id: (day + one_hour, day + 2 * one_hour), flights.id: (day + 5 * one_hour, day + 6 * one_hour)},
    )
    totals = {(r.metric_id, r.bucket_start.hour): r.total for r in SampleRollup.objects.filter(user=alice)}
    assert totals == {(steps.id, 1): 100, (steps.id, 5): 5, (flights.id, 1): 1, (flights.id, 5): 100}
