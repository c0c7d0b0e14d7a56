from __future__ import annotations

import base64
import json

import pytest

from audit.models import AuditEvent
from ingest.models import Ingestion
from ingest.services import ingest_export
from metrics.models import RoutePoint, Sample, Workout, WorkoutSeries

pytestmark = pytest.mark.django_db


def test_it_lists_the_metric_types_alice_has(alice_client, alice, load):
    load(alice)
    response = alice_client.get("/v1/metrics")
    assert response.status_code == 200
    names = {m["name"]: m for m in response.json()["metrics"]}
    assert names["step_count"]["aggregation"] == "sum"
    assert names["step_count"]["count"] == Sample.objects.filter(user=alice, metric__name="step_count").count()
    assert "blood_pressure" in names and "sleep_analysis" in names


def test_raw_pages_follow_the_next_link_to_the_end(alice_client, alice, load, monkeypatch):
    load(alice, "full_day.json")
    total = Sample.objects.filter(user=alice, metric__name="heart_rate").count()
    seen, pages, url = [], 0, "/v1/metrics/heart_rate?resolution=raw"
    monkeypatch.setattr("metrics.queries.PAGE_SIZE", 7)
    while url:
        body = alice_client.get(url).json()
        seen.extend(item["start"] for item in body["items"])
        url, pages = body["next"], pages + 1
    assert len(seen) == total and seen == sorted(seen)
    assert pages == -(-total // 7)


def test_raw_pages_split_between_samples_of_one_instant_lose_none(alice_client, alice, monkeypatch):
    """Samples of the same instant from several sources are ordered by source (in the
    database's collation); a page boundary between them skips and repeats nothing."""
    sources = ["", "Apple Watch", "iPhone", "a|b"]
    items = [{"date": "2024-05-14 08:00:00 +0200", "qty": n, "source": source} for n, source in enumerate(sources)]
    document = {"data": {"metrics": [{"name": "step_count", "units": "count", "data": items}]}}
    ingest_export(user=alice, api_key=None, body=json.dumps(document).encode())
    monkeypatch.setattr("metrics.queries.PAGE_SIZE", 3)
    first = alice_client.get("/v1/metrics/step_count?resolution=raw").json()
    second = alice_client.get(first["next"]).json()
    given = [item["source"] for item in first["items"] + second["items"]]
    assert len(first["items"]) == 3 and sorted(given) == sorted(sources)
    assert second["next"] is None


def test_buckets_sum_cumulative_metrics_per_day(alice_client, alice, load):
    load(alice)
    response = alice_client.get("/v1/metrics/step_count?resolution=day")
    assert response.status_code == 200
    buckets = response.json()["buckets"]
    stored = sum(Sample.objects.filter(user=alice, metric__name="step_count").values_list("qty", flat=True))
    assert sum(b["sum"] for b in buckets) == pytest.approx(stored)


def test_unit_converts_the_values(alice_client, alice, load):
    load(alice, "full_day.json")
    km = alice_client.get("/v1/metrics/walking_running_distance?resolution=day").json()["buckets"]
    m = alice_client.get("/v1/metrics/walking_running_distance?resolution=day&unit=m").json()["buckets"]
    assert m[0]["sum"] == pytest.approx(km[0]["sum"] * 1000)
    bad = alice_client.get("/v1/metrics/walking_running_distance?resolution=day&unit=kg")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_payload"


def test_an_unknown_metric_is_not_found(alice_client, alice, load):
    load(alice)
    response = alice_client.get("/v1/metrics/no_such_metric")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_a_time_window_with_an_offset_postgres_refuses_is_read_in_utc(alice_client, alice, load):
    # Python accepts offsets up to ±23:59, PostgreSQL only to ±15:59: found by tests/test_schemathesis.py.
    load(alice, "full_day.json")
    response = alice_client.get("/v1/workouts", {"start": "2000-01-01T00:00:00-20:05", "end": "2100-01-01T00:00+16:00"})
    assert response.status_code == 200
    assert len(response.json()["workouts"]) == Workout.objects.filter(user=alice).count() > 0


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_window_beyond_the_calendar_is_invalid(alice_client, alice, start):
    response = alice_client.get("/v1/workouts", {"start": start})
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [{"field": "start", "reason": "invalid_date"}]


@pytest.mark.parametrize("path", ["/v1/workouts", "/v1/metrics/step_count", "/v1/export"])
@pytest.mark.parametrize("end", ["2024-05-01T00:00:00Z", "2024-05-14T09:00:00+02:00"])
def test_a_time_window_that_holds_no_instant_is_invalid_not_empty(alice_client, alice, load, path, end):
    load(alice)
    response = alice_client.get(path, {"start": "2024-05-14T07:00:00Z", "end": end})
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [{"field": "end", "reason": "end_before_start"}]


def test_a_forged_cursor_with_an_out_of_range_offset_is_read_in_utc(alice_client, alice, load):
    load(alice)
    cursor = base64.urlsafe_b64encode(b"2000-01-01T00:00:00-20:05|0").decode()
    response = alice_client.get("/v1/metrics/step_count", {"cursor": cursor})
    assert response.status_code == 200
    assert len(response.json()["items"]) == Sample.objects.filter(user=alice, metric__name="step_count").count()


def test_workout_detail_has_a_geojson_route_and_a_gpx_track(alice_client, alice, load):
    load(alice)
    workout = Workout.objects.get(user=alice)
    listed = alice_client.get("/v1/workouts").json()["workouts"]
    assert [w["id"] for w in listed] == [str(workout.public_id)]
    detail = alice_client.get(f"/v1/workouts/{workout.public_id}").json()
    assert detail["route"]["type"] == "Feature"
    assert detail["route"]["geometry"]["type"] == "LineString"
    assert len(detail["route"]["geometry"]["coordinates"]) == workout.route_points.count()
    gpx = alice_client.get(f"/v1/workouts/{workout.public_id}?format=gpx")
    assert gpx.status_code == 200 and gpx["Content-Type"] == "application/gpx+xml"
    assert gpx.content.count(b"<trkpt") == workout.route_points.count()


def test_stats_are_cached_and_invalidated_by_an_ingest(alice_client, alice, load):
    load(alice)
    first = alice_client.get("/v1/stats").json()
    assert first["ingestions"] == 1
    Ingestion.objects.filter(user=alice).update(body_size=1)  # not seen: the answer is cached
    assert alice_client.get("/v1/stats").json() == first
    load(alice, "full_day.json")
    after = alice_client.get("/v1/stats").json()
    assert after["ingestions"] == 2
    assert after["storage_bytes"] == 1 + Ingestion.objects.filter(user=alice).order_by("-id")[0].body_size


def test_ingestion_detail_shows_status_and_counts(alice_client, alice, load):
    answer = load(alice)
    body = alice_client.get(f"/v1/ingestions/{answer['ingestion_id']}").json()
    assert body["status"] == answer["status"]
    assert body["metrics"] == answer["metrics"]
    assert [i["id"] for i in alice_client.get("/v1/ingestions").json()["ingestions"]] == [answer["ingestion_id"]]


def test_deleting_an_ingestion_removes_its_rows_and_is_audited(alice_client, alice, load):
    kept = load(alice, "full_day.json")
    answer = load(alice)
    ingestion = Ingestion.objects.get(public_id=answer["ingestion_id"])
    own = Sample.objects.filter(user=alice, ingestion_id=ingestion.pk).count()
    assert own > 0
    response = alice_client.delete(f"/v1/ingestions/{answer['ingestion_id']}")
    assert response.status_code == 200
    assert response.json()["deleted"]["samples"] == own
    assert not Sample.objects.filter(ingestion_id=ingestion.pk).exists()
    assert Sample.objects.filter(user=alice).exists()
    assert Ingestion.objects.filter(user=alice).get().public_id.hex == kept["ingestion_id"].replace("-", "")
    event = AuditEvent.objects.get(action="data.deleted")
    assert event.metadata["samples"] == own and event.actor_user_id == alice.pk


def test_delete_all_data_needs_the_confirmation(alice_client, alice, load):
    load(alice)
    response = alice_client.delete("/v1/data", {"confirm": "yes"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_payload"
    assert Sample.objects.filter(user=alice).exists()


def test_delete_all_data_erases_everything_but_keys_and_audit(alice_client, alice, alice_key, load):
    load(alice)
    samples = Sample.objects.filter(user=alice).count()
    points = RoutePoint.objects.filter(workout__user=alice).count()
    assert points > 0 and WorkoutSeries.objects.filter(workout__user=alice).exists()
    response = alice_client.delete("/v1/data", {"confirm": "delete all my data"}, format="json")
    assert response.status_code == 200
    assert response.json()["deleted"]["samples"] == samples
    assert response.json()["deleted"]["route_points"] == points
    assert not Sample.objects.filter(user=alice).exists()
    assert not Workout.objects.filter(user=alice).exists()
    assert not RoutePoint.objects.exists() and not WorkoutSeries.objects.exists()
    assert not Ingestion.objects.filter(user=alice).exists()
    assert alice_key[0].__class__.objects.filter(pk=alice_key[0].pk).exists()
    event = AuditEvent.objects.get(action="data.deleted")
    assert event.metadata["samples"] == samples and event.metadata["ingestions"] == 1


def test_ingestions_are_listed_newest_first_a_page_at_a_time(alice, alice_client, monkeypatch):
    monkeypatch.setattr("ingest.queries.INGESTIONS_PAGE_SIZE", 2)
    ids = [
        ingest_export(user=alice, api_key=None, body=json.dumps({"data": {"n": [i]}}).encode())["ingestion_id"]
        for i in range(3)
    ]
    first = alice_client.get("/v1/ingestions").json()
    second = alice_client.get(first["next"]).json()
    assert [i["id"] for i in first["ingestions"]] == ids[::-1][:2]
    assert [i["id"] for i in second["ingestions"]] == ids[:1]
    assert second["next"] is None
