"""POST /v1/ingest with hostile bodies and values: always a clear answer naming the place, never
a 5xx, and nothing accepted lost (the valid neighbours of a bad value are stored)."""

from __future__ import annotations

import json
import zlib

import pytest

from ingest.models import Ingestion
from metrics.models import HealthRecord, RoutePoint, Sample, SampleRollup, Workout, WorkoutSeries
from tests.ingest.helpers import counts_add_up

pytestmark = pytest.mark.django_db
URL = "/v1/ingest"
START, END = "2024-09-03 06:00:00 +0000", "2024-09-03 07:00:00 +0000"


def post(client, body: bytes | dict):
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    return client.generic("POST", URL, body, content_type="application/json")


def workout(**fields) -> dict:
    return {"data": {"workouts": [{"id": "w1", "name": "Run", "start": START, "end": END, **fields}]}}


def heart_rate(minute: int) -> dict:
    return {"date": f"2024-09-03 06:{minute:02d}:00 +0000", "qty": 120 + minute, "units": "count/min"}


def assert_rejected_and_kept(body: bytes, response) -> Ingestion:
    """A 400 whose raw body is stored as ``rejected``."""
    assert response.status_code == 400, response.content
    ingestion = Ingestion.objects.get()
    assert ingestion.status == Ingestion.Status.REJECTED
    assert ingestion.error == response.json()["error"]["code"]
    assert zlib.decompress(ingestion.body) == body
    return ingestion


# --- Nested lists: the valid elements are stored, each bad one is reported -------------------


@pytest.mark.embedded
@pytest.mark.parametrize("bad", ["junk", 7, None, ["a"], True])
def test_a_series_element_that_is_not_an_object_is_reported_and_the_rest_stored(alice_client, alice, bad):
    response = post(alice_client, workout(heartRateData=[heart_rate(1), bad, heart_rate(3)]))

    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == "partial"
    assert answer["workouts"] == {**answer["workouts"], "received": 1, "stored": 1, "rejected": 0}
    assert [(e["code"], e["where"]) for e in answer["errors"]] == [
        ("invalid_item", {"section": "workouts", "index": 0, "field": "heartRateData[1]"})
    ]
    series = WorkoutSeries.objects.filter(workout__user=alice, kind="heartRateData").order_by("seq")
    assert [(s.seq, s.qty) for s in series] == [(0, 121.0), (2, 123.0)]
    assert "heartRateData" not in Workout.objects.get(user=alice).fields


@pytest.mark.embedded
def test_every_series_of_a_workout_keeps_its_valid_elements(alice_client, alice):
    steps = [{"date": "2024-09-03 06:01:00 +0000", "qty": 80, "units": "count"}, "x"]
    recovery = [42, {"date": "2024-09-03 07:01:00 +0000", "qty": 100, "units": "count/min"}]
    response = post(alice_client, workout(stepCount=steps, heartRateRecovery=recovery))

    answer = response.json()
    assert {e["where"]["field"] for e in answer["errors"]} == {"stepCount[1]", "heartRateRecovery[0]"}
    assert sorted(WorkoutSeries.objects.filter(workout__user=alice).values_list("kind", "seq")) == [
        ("heartRateRecovery", 1),
        ("stepCount", 0),
    ]


@pytest.mark.embedded
@pytest.mark.parametrize("route", ["abc", 5, {"latitude": 1}, True])
def test_a_route_that_is_not_a_list_is_reported_and_the_workout_stored(alice_client, alice, route):
    response = post(alice_client, workout(route=route))

    assert response.status_code == 200
    answer = response.json()
    assert [(e["code"], e["where"]) for e in answer["errors"]] == [
        ("invalid_item", {"section": "workouts", "index": 0, "field": "route"})
    ]
    assert answer["workouts"]["stored"] == 1
    assert Workout.objects.filter(user=alice).count() == 1
    assert not RoutePoint.objects.exists()


@pytest.mark.embedded
def test_a_route_point_that_is_not_an_object_is_reported_and_the_others_stored(alice_client, alice):
    points = [{"latitude": 52.5, "longitude": 13.4, "timestamp": START}, "x", {"latitude": 52.6, "longitude": 13.5}]
    answer = post(alice_client, workout(route=points)).json()

    assert [e["where"]["field"] for e in answer["errors"]] == ["route[1]"]
    assert answer["workouts"]["route_points"] == 2
    assert RoutePoint.objects.count() == 2


@pytest.mark.embedded
def test_a_series_name_longer_than_its_column_is_kept_with_the_workouts_fields(alice_client, alice):
    name = "s" * 80
    answer = post(alice_client, workout(**{name: [heart_rate(1)]})).json()

    assert answer["status"] == "processed"
    assert Workout.objects.get(user=alice).fields[name] == [heart_rate(1)]


# --- Hostile bytes: 400 invalid_json, the raw body kept as rejected --------------------------


@pytest.mark.embedded
def test_a_body_nested_200000_deep_is_invalid_json_and_kept(alice_client):
    body = b"[" * 200_000
    response = post(alice_client, body)

    assert_rejected_and_kept(body, response)
    assert response.json()["error"]["code"] == "invalid_json"
    assert "nested" in response.json()["error"]["message"]


@pytest.mark.embedded
@pytest.mark.parametrize(
    "body",
    [
        b'{"data":{"metrics":[{"name":"step_count\xff\xfe","units":"count","data":[]}]}}',
        b'{"data":{"symptoms":[{"name":"\xc0\xaf","start":"2024-09-03 06:00:00 +0000"}]}}',  # overlong "/"
        b'{"data":{"metrics":[],"\xed\xa0\x80":[]}}',  # a UTF-8-encoded lone surrogate
        b'{"data":{"workouts":[{"name":"Run","start":"2024-09-03 06:00:00 +0000","x":"\xe2\x82"}]}}',
    ],
)
def test_a_body_that_is_not_utf8_is_invalid_json_and_kept(alice_client, body):
    response = post(alice_client, body)

    assert_rejected_and_kept(body, response)
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert "UTF-8" in error["message"]
    assert not Sample.objects.exists() and not Workout.objects.exists()


# --- Values PostgreSQL cannot hold: an item error naming the field ---------------------------


@pytest.mark.embedded
def test_a_nul_in_a_sample_source_rejects_that_item(alice_client, alice):
    items = [
        {"date": "2024-09-03 06:00:00 +0000", "qty": 5, "source": "iPhone\u0000"},
        {"date": "2024-09-03 06:01:00 +0000", "qty": 6, "source": "iPhone"},
        {"date": "2024-09-03 06:02:00 +0000", "qty": 7, "source": "iPhone", "value": "x\u0000"},
    ]
    answer = post(alice_client, {"data": {"metrics": [{"name": "step_count", "units": "count", "data": items}]}}).json()

    assert answer["metrics"]["step_count"] == {"received": 3, "stored": 1, "updated": 0, "duplicates": 0, "rejected": 2}
    assert [(e["code"], e["where"]["index"], e["where"]["field"]) for e in answer["errors"]] == [
        ("invalid_text", 0, "source"),
        ("invalid_text", 2, "value"),
    ]
    assert list(Sample.objects.filter(user=alice).values_list("qty", flat=True)) == [6.0]


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "Run\u0000"}, "name"),
        ({"location": "\u0000"}, "location"),
        ({"notes": {"text": ["ok", "a\u0000b"]}}, "notes.text[1]"),
        ({"a\u0000b": 1}, "a\\u0000b"),
        ({"heartRateData": [{"date": START, "qty": 1, "source": "\u0000"}]}, "heartRateData[0].source"),
    ],
)
def test_a_nul_in_a_workout_rejects_that_workout_naming_the_field(alice_client, alice, fields, field):
    document = workout(**fields)
    document["data"]["workouts"].append({"name": "Walk", "start": START, "end": END})
    response = post(alice_client, document)

    assert response.status_code == 200
    answer = response.json()
    assert [(e["code"], e["where"]) for e in answer["errors"]] == [
        ("invalid_text", {"section": "workouts", "index": 0, "field": field})
    ]
    assert list(Workout.objects.filter(user=alice).values_list("name", flat=True)) == ["Walk"]
    assert Ingestion.objects.get().status == Ingestion.Status.PARTIAL


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"start": START, "name": "Headache\u0000"}, "name"),
        ({"start": START, "name": "Headache", "labels": ["a", {"b": "\u0000"}]}, "labels[1].b"),
        ({"start": START, "name": "Headache", "\u0000": 1}, "\\u0000"),
    ],
)
def test_a_nul_in_another_sections_item_rejects_that_item(alice_client, alice, item, field):
    good = {"start": START, "name": "Cough"}
    answer = post(alice_client, {"data": {"symptoms": [item, good]}}).json()

    assert answer["other"]["symptoms"] == {"received": 2, "stored": 1, "updated": 0, "duplicates": 0, "rejected": 1}
    assert [(e["code"], e["where"]) for e in answer["errors"]] == [
        ("invalid_text", {"section": "symptoms", "index": 0, "field": field})
    ]
    assert [r.payload["name"] for r in HealthRecord.objects.filter(user=alice)] == ["Cough"]


@pytest.mark.embedded
def test_a_nul_in_a_section_name_is_reported_and_the_other_sections_stored(alice_client, alice):
    document = {"data": {"sym\u0000ptoms": [{"start": START, "name": "Headache"}], "ecg": [{"start": START}]}}
    response = post(alice_client, document)

    assert response.status_code == 200
    answer = response.json()
    assert [(e["code"], e["where"]) for e in answer["errors"]] == [("invalid_text", {"section": "sym\\u0000ptoms"})]
    assert list(answer["other"]) == ["ecg"]
    assert list(HealthRecord.objects.filter(user=alice).values_list("section", flat=True)) == ["ecg"]
    assert Ingestion.objects.get().result["errors"] == answer["errors"]


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.embedded
@pytest.mark.parametrize("depth", [300, 800])
@pytest.mark.parametrize("section", ["workouts", "symptoms", "sleep"])
def test_an_item_nested_hundreds_deep_is_an_item_error(alice_client, alice, depth, section):
    deep = json.loads(_nested(depth))
    if section == "workouts":
        document = workout(notes=deep)
    elif section == "sleep":
        night = {"date": "2024-09-03", "totalSleep": 7, "source": "Watch", "notes": deep}
        document = {"data": {"metrics": [{"name": "sleep_analysis", "units": "hr", "data": [night]}]}}
    else:
        document = {"data": {section: [{"start": START, "name": "x", "notes": deep}, {"start": START, "name": "y"}]}}
    body = json.dumps(document).encode()
    response = post(alice_client, body)

    assert response.status_code == 200, response.content
    answer = response.json()
    assert [e["code"] for e in answer["errors"]] == ["invalid_item"]
    assert "nested" in answer["errors"][0]["message"]
    assert counts_add_up(answer)
    if section == "symptoms":
        assert list(HealthRecord.objects.values_list("payload__name", flat=True)) == ["y"]


# --- Numbers whose sums cannot be represented ------------------------------------------------


@pytest.mark.embedded
@pytest.mark.parametrize("value", [1.7e308, -1.7e308, 1e16])
def test_a_value_beyond_1e15_is_out_of_range(alice_client, alice, value):
    items = [
        {"date": "2024-09-03 06:00:00 +0000", "qty": value},
        {"date": "2024-09-03 06:01:00 +0000", "qty": value},
        {"date": "2024-09-03 06:02:00 +0000", "qty": 5},
    ]
    response = post(alice_client, {"data": {"metrics": [{"name": "active_energy", "units": "kcal", "data": items}]}})

    assert response.status_code == 200
    answer = response.json()
    assert [(e["code"], e["where"]["index"], e["where"]["field"]) for e in answer["errors"]] == [
        ("out_of_range", 0, "qty"),
        ("out_of_range", 1, "qty"),
    ]
    assert list(Sample.objects.filter(user=alice).values_list("qty", flat=True)) == [5.0]
    for url in ("/v1/stats", "/v1/metrics/active_energy?resolution=day", "/v1/metrics/active_energy?unit=kJ"):
        assert alice_client.get(url).status_code == 200


@pytest.mark.embedded
def test_values_at_1e15_are_summed_and_converted(alice_client, alice):
    items = [{"date": f"2024-09-03 06:0{minute}:00 +0000", "qty": 1e15, "Min": -1e15} for minute in range(2)]
    response = post(alice_client, {"data": {"metrics": [{"name": "active_energy", "units": "kcal", "data": items}]}})

    assert response.json()["status"] == "processed"
    assert SampleRollup.objects.get(user=alice).total == 2e15
    assert alice_client.get("/v1/stats").json()["metrics"]["active_energy"]["sum"] == 2e15
    for resolution in ("hour", "day", "week"):
        buckets = alice_client.get(f"/v1/metrics/active_energy?resolution={resolution}&unit=kJ").json()["buckets"]
        assert buckets[0]["sum"] == pytest.approx(2e15 * 4.184)


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"duration": 1e300}, "duration"),
        ({"activeEnergyBurned": {"qty": 1e300, "units": "kcal"}}, "activeEnergyBurned.qty"),
        ({"heartRateData": [{"date": START, "qty": -1e300}]}, "heartRateData[0].qty"),
        ({"route": [{"latitude": 1, "longitude": 2, "altitude": 1e300}]}, "route[0].altitude"),
    ],
)
def test_a_workout_value_beyond_1e15_is_out_of_range(alice_client, alice, fields, field):
    answer = post(alice_client, workout(**fields)).json()

    assert [(e["code"], e["where"]["field"]) for e in answer["errors"]] == [("out_of_range", field)]


@pytest.mark.embedded
def test_a_body_starting_with_a_utf8_byte_order_mark_is_read(alice_client):
    item = {"date": "2024-09-03 06:00:00 +0000", "qty": 5}
    export = {"data": {"metrics": [{"name": "step_count", "units": "count", "data": [item]}]}}
    response = post(alice_client, b"\xef\xbb\xbf" + json.dumps(export).encode())

    assert response.status_code == 200
    assert response.json()["metrics"]["step_count"]["stored"] == 1
    assert Sample.objects.count() == 1
