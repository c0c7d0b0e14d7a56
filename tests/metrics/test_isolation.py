"""Bob's key never sees or touches Alice's data: 404, never 403 (her ids are not his to know of)."""

from __future__ import annotations

import pytest

from ingest.models import Ingestion
from metrics.models import Sample, Workout

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_data(alice, bob, load):
    load(bob, "full_day.json")  # Bob has data too, so empty answers do not pass by accident
    answer = load(alice)
    return answer, Workout.objects.get(user=alice)


def test_bob_lists_only_his_own(bob_client, alice_data, bob):
    workouts = {w["id"] for w in bob_client.get("/v1/workouts").json()["workouts"]}
    assert workouts == {str(w.public_id) for w in Workout.objects.filter(user=bob)}
    ingestions = {i["id"] for i in bob_client.get("/v1/ingestions").json()["ingestions"]}
    assert ingestions == {str(i.public_id) for i in Ingestion.objects.filter(user=bob)}
    counts = {m["name"]: m["count"] for m in bob_client.get("/v1/metrics").json()["metrics"]}
    assert counts["step_count"] == Sample.objects.filter(user=bob, metric__name="step_count").count()
    stats = bob_client.get("/v1/stats").json()
    assert stats["ingestions"] == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/workouts/{workout}"),
        ("get", "/v1/workouts/{workout}?format=gpx"),
        ("get", "/v1/ingestions/{ingestion}"),
        ("delete", "/v1/ingestions/{ingestion}"),
    ],
)
def test_alices_ids_are_not_found_for_bob(bob_client, alice_data, alice, method, path):
    answer, workout = alice_data
    response = getattr(bob_client, method)(path.format(workout=workout.public_id, ingestion=answer["ingestion_id"]))
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert Ingestion.objects.filter(public_id=answer["ingestion_id"]).exists()
    assert Sample.objects.filter(user=alice).exists()


def test_a_metric_only_alice_has_is_not_found_for_bob(bob_client, alice, bob, load):
    load(alice)
    assert not Sample.objects.filter(user=bob).exists()
    assert bob_client.get("/v1/metrics/heart_rate").status_code == 404


def test_bobs_export_and_wipe_leave_alice_alone(bob_client, alice_data, alice):
    export = b"".join(bob_client.get("/v1/export?format=ndjson").streaming_content)
    assert b"Lena" not in export  # small.json's source names are Alice's
    before = Sample.objects.filter(user=alice).count()
    assert bob_client.delete("/v1/data", {"confirm": "delete all my data"}, format="json").status_code == 200
    assert Sample.objects.filter(user=alice).count() == before


def test_requests_without_a_key_are_refused(api_client):
    for path in ("/v1/metrics", "/v1/workouts", "/v1/stats", "/v1/ingestions", "/v1/export"):
        assert api_client.get(path).status_code == 401
