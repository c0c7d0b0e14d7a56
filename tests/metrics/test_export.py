from __future__ import annotations

import csv
import io

import orjson
import pytest
from django.core.management import call_command

from ingest.services import ingest_export
from metrics.models import (
    BloodPressure,
    HealthRecord,
    MetricType,
    RoutePoint,
    Sample,
    SleepNight,
    SleepStage,
    Workout,
    WorkoutSeries,
)
from tests.ingest.apple_helpers import SMALL_ZIP

pytestmark = pytest.mark.django_db
FIXTURES = ("small.json", "full_day.json", "real_shapes.json")


def snapshot(user) -> dict[str, list]:
    """Every stored row of ``user`` without surrogate ids, the ingestion that wrote it, or hashes."""
    skip = {"id", "public_id", "ingestion_id", "content_hash", "workout", "user"}

    def rows(queryset, order):
        fields = [f.attname for f in queryset.model._meta.concrete_fields if f.name not in skip]
        return [tuple(str(v) for v in row) for row in queryset.order_by(*order).values_list(*fields)]

    return {
        "samples": rows(Sample.objects.filter(user=user), ["metric_id", "start", "source"]),
        "blood_pressure": rows(BloodPressure.objects.filter(user=user), ["start", "source"]),
        "sleep": rows(SleepNight.objects.filter(user=user), ["night", "source", "session_start"]),
        "sleep_stages": rows(SleepStage.objects.filter(user=user), ["start", "source", "stage"]),
        "workouts": rows(Workout.objects.filter(user=user), ["external_id"]),
        "route": rows(RoutePoint.objects.filter(workout__user=user), ["workout__external_id", "seq"]),
        "series": rows(WorkoutSeries.objects.filter(workout__user=user), ["workout__external_id", "kind", "seq"]),
        "records": rows(HealthRecord.objects.filter(user=user), ["section", "natural_key"]),
    }


def test_export_wipe_import_reproduces_identical_rows(alice_client, alice, load):
    for name in FIXTURES:
        load(alice, name)
    before = snapshot(alice)
    assert all(before.values())
    exported = b"".join(alice_client.get("/v1/export?format=hae").streaming_content)
    wiped = alice_client.delete("/v1/data", {"confirm": "delete all my data"}, format="json")
    assert wiped.status_code == 200 and not Sample.objects.filter(user=alice).exists()
    answer = ingest_export(user=alice, api_key=None, body=exported)
    assert answer["status"] == "processed", answer["errors"][:3]
    assert snapshot(alice) == before


def test_ndjson_carries_the_original_offset_and_unit(alice_client, alice, load):
    load(alice, "full_day.json")
    response = alice_client.get("/v1/export?format=ndjson")
    assert response["Content-Type"] == "application/x-ndjson"
    lines = [orjson.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    steps = [line for line in lines if line["name"] == "step_count"]
    assert steps and steps[0]["item"]["date"].endswith("-0700")
    scalar = [line for line in lines if line["section"] == "metrics" and {"qty", "Avg"} & set(line["item"])]
    assert len(scalar) == Sample.objects.filter(user=alice).count() + SleepStage.objects.filter(user=alice).count()
    assert {line["units"] for line in lines if line["name"] == "walking_running_distance"} == {"km"}


def test_csv_has_one_row_per_item(alice_client, alice, load):
    load(alice)
    response = alice_client.get("/v1/export?format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    samples = [r for r in rows if r["section"] == "metrics" and r["qty"]]
    assert len(samples) == Sample.objects.filter(user=alice).count()


def test_an_unknown_export_format_is_refused(alice_client):
    response = alice_client.get("/v1/export?format=xml")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_payload"


def test_an_owner_whose_sleep_came_only_from_an_apple_import_can_export_it(alice_client, alice):
    # The export read the sleep_analysis type's row for its unit: none exists until an app
    # export sends sleep, so an import-only owner's export failed (500) at the first stage.
    call_command("import_apple_health", str(SMALL_ZIP), "--user", "alice", stdout=io.StringIO(), stderr=io.StringIO())
    assert SleepStage.objects.filter(user=alice).exists()
    assert not MetricType.objects.filter(name="sleep_analysis").exists()

    response = alice_client.get("/v1/export?format=ndjson")
    lines = [orjson.loads(line) for line in b"".join(response.streaming_content).splitlines()]

    assert response.status_code == 200
    stages = [line for line in lines if line.get("name") == "sleep_analysis"]
    assert len(stages) == SleepStage.objects.filter(user=alice).count()
