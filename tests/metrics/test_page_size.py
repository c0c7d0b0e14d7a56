"""?limit= on raw pages: up to 5000 items a page."""

from __future__ import annotations

import datetime as dt

import pytest

from metrics.models import MetricType, Sample

pytestmark = [pytest.mark.embedded, pytest.mark.django_db]


@pytest.fixture
def minutes_of_heart_rate(alice):
    heart = MetricType.objects.get_or_create(
        name="heart_rate", owner=None, defaults={"unit": "count/min", "aggregation": "average"}
    )[0]
    start = dt.datetime(2024, 9, 3, tzinfo=dt.UTC)
    Sample.objects.bulk_create(
        Sample(
            user=alice,
            metric=heart,
            start=start + dt.timedelta(minutes=i),
            qty=60 + i % 40,
            unit="count/min",
            utc_offset=0,
            ingestion_id=0,
        )
        for i in range(5001)
    )


def test_a_page_holds_up_to_5000_items(alice_client, minutes_of_heart_rate):
    first = alice_client.get("/v1/metrics/heart_rate?limit=5000").json()
    second = alice_client.get(first["next"]).json()

    assert len(first["items"]) == 5000 and "limit=5000" in first["next"]
    assert len(second["items"]) == 1 and second["next"] is None


def test_the_default_page_is_500(alice_client, minutes_of_heart_rate):
    assert len(alice_client.get("/v1/metrics/heart_rate").json()["items"]) == 500


@pytest.mark.parametrize("limit", ["0", "5001", "-1", "ten", "²"])
def test_a_limit_out_of_range_is_refused(alice_client, minutes_of_heart_rate, limit):
    response = alice_client.get(f"/v1/metrics/heart_rate?limit={limit}")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == [{"field": "limit", "reason": "out_of_range"}]
