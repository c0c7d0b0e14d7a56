"""Day buckets follow the owner's local day, across a DST change, on PostgreSQL and SQLite."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from metrics.models import MetricType, Sample

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")  # DST ends 2024-11-03 02:00 local: a 25-hour day


@pytest.fixture
def hourly_steps(alice):
    steps = MetricType.objects.get_or_create(name="step_count", defaults={"unit": "count", "aggregation": "sum"})[0]
    start = dt.datetime(2024, 11, 2, tzinfo=NEW_YORK).astimezone(dt.UTC)
    rows = []
    for hour in range(24 + 25 + 24):
        instant = start + dt.timedelta(hours=hour)
        offset = int(instant.astimezone(NEW_YORK).utcoffset().total_seconds() // 60)
        rows.append(
            Sample(user=alice, metric=steps, start=instant, qty=1, unit="count", utc_offset=offset, ingestion_id=0)
        )
    Sample.objects.bulk_create(rows)
    return steps


@pytest.mark.embedded
@pytest.mark.django_db
@pytest.mark.parametrize("tz", ["America/New_York", None])
def test_a_day_bucket_holds_25_hours_on_the_day_dst_ends(alice_client, hourly_steps, tz):
    url = "/v1/metrics/step_count?resolution=day" + (f"&tz={tz}" if tz else "")
    response = alice_client.get(url)
    assert response.status_code == 200
    buckets = [(b["start"][:10], b["sum"]) for b in response.json()["buckets"]]
    assert buckets == [("2024-11-02", 24), ("2024-11-03", 25), ("2024-11-04", 24)]
    assert Sample.objects.count() == 73


@pytest.mark.embedded
@pytest.mark.django_db
def test_buckets_in_another_zone_shift_the_day(alice_client, hourly_steps):
    response = alice_client.get("/v1/metrics/step_count?resolution=day&tz=Asia/Tokyo")
    buckets = response.json()["buckets"]
    assert sum(b["sum"] for b in buckets) == 73
    # 2024-11-02 00:00 New York is 13:00 Tokyo: the first Tokyo day holds 11 hours.
    assert (buckets[0]["start"][:10], buckets[0]["sum"]) == ("2024-11-02", 11)


@pytest.mark.embedded
@pytest.mark.django_db
def test_an_unknown_zone_is_refused(alice_client, hourly_steps):
    response = alice_client.get("/v1/metrics/step_count?resolution=day&tz=Mars/Olympus")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_payload"
