"""Buckets of a cumulative metric count one source per quarter hour: the iPhone and the Apple
Watch both count the steps of a walk, the buckets count them once (the watch's, by default)."""

from __future__ import annotations

import datetime as dt

import pytest

from metrics.models import MetricType, Sample, SampleRollup, SourcePriority

pytestmark = [pytest.mark.embedded, pytest.mark.django_db]
WATCH, IPHONE = "Anna's Apple Watch", "Anna's iPhone"
MORNING = dt.datetime(2024, 5, 6, 8, tzinfo=dt.UTC)


def metric(name: str, unit: str, aggregation: str) -> MetricType:
    return MetricType.objects.get_or_create(name=name, defaults={"unit": unit, "aggregation": aggregation})[0]


def minutes(user, metric: MetricType, source: str, first: int, last: int, qty: float, **extra) -> None:
    """One sample a minute from ``first`` to ``last`` (minutes after 08:00 UTC)."""
    Sample.objects.bulk_create(
        Sample(
            user=user,
            metric=metric,
            start=MORNING + dt.timedelta(minutes=minute),
            source=source,
            qty=qty,
            unit=metric.unit,
            utc_offset=0,
            ingestion_id=0,
            **extra,
        )
        for minute in range(first, last + 1)
    )


@pytest.fixture
def walk(alice):
    """08:00 to 08:29 both devices count (watch 10 a minute, iPhone 8); 09:00 to 09:14 only the iPhone."""
    steps = metric("step_count", "count", "sum")
    minutes(alice, steps, WATCH, 0, 29, 10)
    minutes(alice, steps, IPHONE, 0, 29, 8)
    minutes(alice, steps, IPHONE, 60, 74, 8)
    return steps


def buckets(client, query: str) -> list[tuple[str, float]]:
    response = client.get(f"/v1/metrics/step_count?{query}")
    assert response.status_code == 200
    return [(b["start"], b["sum"]) for b in response.json()["buckets"]]


def test_the_rollups_keep_each_source_apart(alice, walk):
    sources = SampleRollup.objects.filter(user=alice, metric=walk).values_list("bucket_start", "source", "total")
    assert sorted(sources) == [
        (MORNING, WATCH, 150),
        (MORNING, IPHONE, 120),
        (MORNING + dt.timedelta(minutes=15), WATCH, 150),
        (MORNING + dt.timedelta(minutes=15), IPHONE, 120),
        (MORNING + dt.timedelta(hours=1), IPHONE, 120),
    ]


@pytest.mark.parametrize("tz", ["", "&tz=Europe/Berlin"])
def test_a_day_counts_the_watch_where_both_counted_and_the_iphone_where_alone(alice_client, walk, tz):
    assert [total for _, total in buckets(alice_client, f"resolution=day{tz}")] == [30 * 10 + 15 * 8]


def test_hours_count_the_watch_then_the_iphone_alone(alice_client, walk):
    assert buckets(alice_client, "resolution=hour") == [
        ("2024-05-06T08:00:00+00:00", 300),
        ("2024-05-06T09:00:00+00:00", 120),
    ]


def test_a_window_off_the_quarter_hour_counts_its_edges_once_too(alice_client, walk):
    # 08:05 to 08:15 and 09:00 to 09:10 are read from the samples, the quarter hours between from rollups.
    query = "resolution=hour&start=2024-05-06T08:05:00Z&end=2024-05-06T09:10:00Z"
    assert buckets(alice_client, query) == [
        ("2024-05-06T08:00:00+00:00", 25 * 10),
        ("2024-05-06T09:00:00+00:00", 10 * 8),
    ]


def test_the_owner_may_put_the_iphone_first(alice, alice_client, walk):
    SourcePriority.objects.create(user=alice, order=["iphone", "watch"])
    assert [total for _, total in buckets(alice_client, "resolution=day")] == [45 * 8]


def test_a_source_ranked_by_nobody_counts_where_it_is_alone(alice, alice_client, walk):
    minutes(alice, walk, "Oura", 0, 44, 1)  # unranked: under the watch, alone from 08:30
    assert [total for _, total in buckets(alice_client, "resolution=day")] == [300 + 15 * 1 + 120]


def test_heart_rate_still_combines_every_source(alice, alice_client):
    heart = metric("heart_rate", "count/min", "average")
    minutes(alice, heart, WATCH, 0, 9, 60, min=50, max=70)
    minutes(alice, heart, IPHONE, 0, 9, 80, min=75, max=90)
    response = alice_client.get("/v1/metrics/heart_rate?resolution=day")
    [bucket] = response.json()["buckets"]
    assert (bucket["count"], bucket["min"], bucket["avg"], bucket["max"]) == (20, 50, 70, 90)
