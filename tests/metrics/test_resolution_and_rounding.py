"""resolution=month, values rounded to the metric's precision, local times in ISO-8601 with offset."""

from __future__ import annotations

import datetime as dt

import pytest

from metrics.models import MetricType, Sample

pytestmark = [pytest.mark.embedded, pytest.mark.django_db]

BERLIN_WINTER, BERLIN_SUMMER = 60, 120


def metric(name: str, unit: str, aggregation: str) -> MetricType:
    defaults = {"unit": unit, "aggregation": aggregation}
    return MetricType.objects.get_or_create(name=name, owner=None, defaults=defaults)[0]


def sample(user, kind: MetricType, at: dt.datetime, qty: float, offset: int, **fields) -> Sample:
    return Sample(
        user=user, metric=kind, start=at, qty=qty, unit=kind.unit, utc_offset=offset, ingestion_id=0, **fields
    )


def test_month_buckets_follow_the_local_month(alice_client, alice):
    steps = metric("step_count", "count", "sum")
    # 21:30 UTC on March 31st is 23:30 in Berlin, still March; 22:30 UTC on April 30th is May 1st there.
    Sample.objects.bulk_create(
        [
            sample(alice, steps, dt.datetime(2024, 3, 31, 21, 30, tzinfo=dt.UTC), 10, BERLIN_SUMMER),
            sample(alice, steps, dt.datetime(2024, 4, 15, 12, 0, tzinfo=dt.UTC), 20, BERLIN_SUMMER),
            sample(alice, steps, dt.datetime(2024, 4, 30, 22, 30, tzinfo=dt.UTC), 40, BERLIN_SUMMER),
        ]
    )

    response = alice_client.get("/v1/metrics/step_count?resolution=month")

    assert response.status_code == 200
    assert response.json()["resolution"] == "month"
    assert [(b["start"], b["sum"]) for b in response.json()["buckets"]] == [
        ("2024-03-01T00:00:00+02:00", 10),
        ("2024-04-01T00:00:00+02:00", 20),
        ("2024-05-01T00:00:00+02:00", 40),
    ]


def test_month_buckets_in_a_zone_span_the_dst_change(alice_client, alice):
    steps = metric("step_count", "count", "sum")
    Sample.objects.bulk_create(
        [
            sample(alice, steps, dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC), 1, BERLIN_WINTER),
            sample(alice, steps, dt.datetime(2024, 3, 30, 12, tzinfo=dt.UTC), 2, BERLIN_WINTER),
            sample(alice, steps, dt.datetime(2024, 3, 31, 12, tzinfo=dt.UTC), 4, BERLIN_SUMMER),
        ]
    )

    buckets = alice_client.get("/v1/metrics/step_count?resolution=month&tz=Europe/Berlin").json()["buckets"]

    assert [(b["start"], b["sum"], b["count"]) for b in buckets] == [("2024-03-01T00:00:00+01:00", 7, 3)]


def test_sums_and_averages_are_rounded_to_the_metric_precision(alice_client, alice):
    energy = metric("active_energy", "kcal", "sum")
    heart = metric("heart_rate", "count/min", "average")
    at = dt.datetime(2024, 9, 3, 8, tzinfo=dt.UTC)
    # Binary floating point: this sum is 2044.1400000000012 unless rounded.
    values = [1022.07, 1022.07 + 1e-12]
    Sample.objects.bulk_create(
        [sample(alice, energy, at + dt.timedelta(minutes=i), v, 0) for i, v in enumerate(values)]
        + [sample(alice, heart, at + dt.timedelta(minutes=i), v, 0) for i, v in enumerate((60, 61, 61))]
    )

    energy_day = alice_client.get("/v1/metrics/active_energy?resolution=day").json()["buckets"][0]
    heart_day = alice_client.get("/v1/metrics/heart_rate?resolution=day").json()["buckets"][0]

    assert energy_day["sum"] == 2044.1  # kcal: one decimal
    assert heart_day["avg"] == 60.7  # count/min: one decimal (60.666…)
    assert (heart_day["min"], heart_day["max"]) == (60, 61)


def test_a_converted_unit_keeps_the_precision_it_needs(alice_client, alice):
    hrv = metric("heart_rate_variability", "ms", "average")
    at = dt.datetime(2024, 9, 3, 8, tzinfo=dt.UTC)
    later = at + dt.timedelta(hours=1)
    Sample.objects.bulk_create([sample(alice, hrv, at, 45.25, 0), sample(alice, hrv, later, 45, 0)])

    in_ms = alice_client.get("/v1/metrics/heart_rate_variability?resolution=day").json()["buckets"][0]
    in_s = alice_client.get("/v1/metrics/heart_rate_variability?resolution=day&unit=s").json()["buckets"][0]

    assert in_ms["avg"] == 45.1  # ms: one decimal
    assert in_s["avg"] == 0.0451 and in_s["unit"] == "s"  # three more decimals in a unit 1000 times larger


def test_raw_local_times_are_iso_8601_with_the_sent_offset(alice_client, alice):
    heart = metric("heart_rate", "count/min", "average")
    Sample.objects.bulk_create([sample(alice, heart, dt.datetime(2024, 9, 3, 13, 15, tzinfo=dt.UTC), 70, -420)])

    item = alice_client.get("/v1/metrics/heart_rate").json()["items"][0]

    assert item["local_time"] == "2024-09-03T06:15:00-07:00"
    assert dt.datetime.fromisoformat(item["local_time"]) == dt.datetime(2024, 9, 3, 13, 15, tzinfo=dt.UTC)
