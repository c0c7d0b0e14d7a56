"""The ingest pipeline (ingest.services) on the app's real export format."""

from __future__ import annotations

import copy
import hashlib
import json
import threading

import pytest
from django.db import connection

from audit.models import AuditEvent
from healthexport.lib.errors import IdempotencyKeyReused, InvalidJson, InvalidPayload
from ingest.models import Ingestion
from ingest.services import ingest_export, ingestion_process, ingestion_store_raw
from metrics.models import (
    BloodPressure,
    HealthRecord,
    MetricType,
    RoutePoint,
    Sample,
    SleepNight,
    SleepStage,
    Workout,
)
from tests.ingest.helpers import counts_add_up, fixture_bytes, fixture_json, metric_item_counts

pytestmark = pytest.mark.django_db


def ingest(user, document_or_bytes) -> dict:
    body = document_or_bytes if isinstance(document_or_bytes, bytes) else json.dumps(document_or_bytes).encode()
    return ingest_export(user=user, api_key=None, body=body)


def stored_rows() -> int:
    return sum(
        m.objects.count() for m in (Sample, BloodPressure, SleepNight, SleepStage, Workout, RoutePoint, HealthRecord)
    )


@pytest.mark.embedded
@pytest.mark.parametrize("name", ["small.json", "full_day.json", "real_shapes.json"])
def test_every_item_of_a_fixture_is_received_and_stored(alice, name):
    document = fixture_json(name)
    answer = ingest(alice, fixture_bytes(name))

    assert answer["status"] == "processed"
    assert answer["errors"] == []
    for metric, count in metric_item_counts(document).items():
        assert answer["metrics"][metric]["received"] == count
        assert answer["metrics"][metric]["stored"] == count
    workouts = document["data"].get("workouts") or []
    assert answer["workouts"]["stored"] == len(workouts)
    assert answer["workouts"]["route_points"] == sum(len(w.get("route") or []) for w in workouts)
    assert counts_add_up(answer)
    assert Workout.objects.filter(user=alice).count() == len(workouts)
    assert RoutePoint.objects.filter(workout__user=alice).count() == answer["workouts"]["route_points"]
    stored_samples = sum(
        c["stored"] for m, c in answer["metrics"].items() if m not in ("blood_pressure", "sleep_analysis")
    )
    assert Sample.objects.filter(user=alice).exclude(metric__name="sleep_analysis").count() == stored_samples


def test_other_sections_are_kept_whole(alice):
    document = fixture_json("real_shapes.json")
    answer = ingest(alice, document)
    for section in ("stateOfMind", "ecg", "heartRateNotifications", "medications"):
        assert answer["other"][section] == {
            "received": len(document["data"][section]),
            "stored": len(document["data"][section]),
            "updated": 0,
            "duplicates": 0,
            "rejected": 0,
        }
    ecg = HealthRecord.objects.get(user=alice, section="ecg")
    assert ecg.payload == document["data"]["ecg"][0]


def test_a_section_the_app_adds_later_is_stored_and_counted(alice):
    answer = ingest(alice, {"data": {"sleepApnea": [{"start": "2024-05-14 01:00:00 +0200", "events": 3}]}})
    assert answer["other"]["sleepApnea"]["stored"] == 1
    assert HealthRecord.objects.get(user=alice, section="sleepApnea").payload["events"] == 3


@pytest.mark.embedded
def test_resending_an_export_adds_nothing(alice):
    first = ingest(alice, fixture_bytes("full_day.json"))
    rows = stored_rows()

    again = ingest(alice, fixture_bytes("full_day.json"))

    assert again["status"] == "duplicate"
    assert again["duplicate_of"] == first["ingestion_id"]
    assert again["metrics"] == first["metrics"]
    assert stored_rows() == rows
    assert Ingestion.objects.get(public_id=again["ingestion_id"]).body is None
    assert AuditEvent.objects.filter(action="ingest.duplicate").count() == 1


def test_a_repeated_idempotency_key_with_another_body_is_refused_and_stores_nothing(alice):
    first = ingest_export(user=alice, api_key=None, body=fixture_bytes("small.json"), idempotency_key="k-1")
    document = fixture_json("small.json")
    document["data"]["metrics"][0]["data"][0]["qty"] += 1

    with pytest.raises(IdempotencyKeyReused, match=first["ingestion_id"]):
        ingest_export(user=alice, api_key=None, body=json.dumps(document).encode(), idempotency_key="k-1")

    assert Ingestion.objects.filter(user=alice).count() == 1
    again = ingest_export(user=alice, api_key=None, body=fixture_bytes("small.json"), idempotency_key="k-1")
    assert again["status"] == "duplicate"
    assert again["duplicate_of"] == first["ingestion_id"]


@pytest.mark.embedded
@pytest.mark.embedded
def test_an_overlapping_export_counts_duplicates_and_updates(alice):
    document = fixture_json("small.json")
    ingest(alice, document)
    later = copy.deepcopy(document)
    steps = later["data"]["metrics"][0]
    steps["data"][-1]["qty"] += 250  # the still-open hour grew
    steps["data"].append({"date": "2024-05-14 14:00:00 +0200", "qty": 99, "source": "Lena’s iPhone"})

    answer = ingest(alice, later)

    received = len(steps["data"])
    assert answer["metrics"]["step_count"] == {
        "received": received,
        "stored": 1,
        "updated": 1,
        "duplicates": received - 2,
        "rejected": 0,
    }
    # Everything else, sleep nights' JSON and blood pressure included, compares equal to what is stored.
    assert {name for name, counts in answer["metrics"].items() if counts["duplicates"] != counts["received"]} == {
        "step_count"
    }
    assert answer["workouts"]["duplicates"] == 1
    grown = Sample.objects.get(user=alice, metric__name="step_count", qty=steps["data"][-2]["qty"])
    assert grown.ingestion_id == Ingestion.objects.get(public_id=answer["ingestion_id"]).pk


@pytest.mark.embedded
def test_a_day_sent_again_with_one_change_compares_everything_else_equal(alice):
    document = fixture_json("full_day.json")
    ingest(alice, document)
    document["data"]["metrics"][0]["data"][0]["source"] = "Another iPhone"  # a new key: one new row

    answer = ingest(alice, document)

    sections = [*answer["metrics"].values(), answer["workouts"], *answer["other"].values()]
    assert sum(counts["stored"] for counts in sections) == 1
    assert sum(counts["updated"] + counts["rejected"] for counts in sections) == 0
    assert answer["other"] and all(c["duplicates"] == c["received"] for c in answer["other"].values())


def test_an_item_repeated_in_one_body_counts_once_stored_then_duplicate(alice):
    item = {"date": "2024-05-14 08:00:00 +0200", "qty": 10, "source": "iPhone"}
    answer = ingest(alice, {"data": {"metrics": [{"name": "step_count", "units": "count", "data": [item, item]}]}})
    assert answer["metrics"]["step_count"] == {"received": 2, "stored": 1, "updated": 0, "duplicates": 1, "rejected": 0}
    assert Sample.objects.filter(user=alice).count() == 1


def test_a_missing_source_is_one_row_not_many(alice):
    item = {"date": "2024-05-14 08:00:00 +0200", "qty": 10}
    ingest(alice, {"data": {"metrics": [{"name": "step_count", "units": "count", "data": [item]}]}})
    answer = ingest(alice, {"data": {"metrics": [{"name": "step_count", "units": "count", "data": [item]}]}, "x": 1})
    assert answer["metrics"]["step_count"]["duplicates"] == 1
    assert Sample.objects.filter(user=alice).count() == 1


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("bad/truncated.json", "invalid_json"),
        ("bad/empty_body.json", "invalid_json"),
        ("bad/not_an_object.json", "invalid_payload"),
        ("bad/no_data_key.json", "invalid_payload"),
        ("bad/metrics_not_a_list.json", "invalid_payload"),
    ],
)
def test_a_body_that_is_not_an_export_is_rejected_and_kept(alice, name, code):
    with pytest.raises((InvalidJson, InvalidPayload)) as raised:
        ingest(alice, fixture_bytes(name))
    assert raised.value.code == code
    ingestion = Ingestion.objects.get(user=alice)
    assert ingestion.status == Ingestion.Status.REJECTED
    assert ingestion.body is not None
    assert AuditEvent.objects.filter(action="ingest.rejected", outcome="failure").count() == 1


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("name", "metric", "index", "field", "stored"),
    [
        ("bad/non_numeric_qty.json", "step_count", 1, "qty", 2),
        ("bad/bad_date.json", "step_count", 0, "date", 1),
        ("bad/heart_rate_out_of_range.json", "heart_rate", 1, "Avg", 1),
        ("bad/blood_pressure_inverted.json", "blood_pressure", 0, "diastolic", 1),
    ],
)
def test_a_bad_item_is_rejected_and_its_neighbours_stored(alice, name, metric, index, field, stored):
    answer = ingest(alice, fixture_bytes(name))
    assert answer["status"] == "partial"
    assert answer["metrics"][metric]["rejected"] == 1
    assert answer["metrics"][metric]["stored"] == stored
    assert answer["errors"][0]["where"] == {"section": "metrics", "metric": metric, "index": index, "field": field}
    model = BloodPressure if metric == "blood_pressure" else Sample
    assert model.objects.filter(user=alice).count() == stored


@pytest.mark.embedded
@pytest.mark.parametrize("date", ["0001-01-01 00:00:00 +0100", "9999-12-31 23:59:59 -0100"])
def test_a_date_with_no_instant_in_utc_is_rejected_and_its_neighbours_stored(alice, date):
    items = [{"date": date, "qty": 3, "source": "Watch"}, {"date": "2024-09-03 06:15:00 -0700", "qty": 1}]
    answer = ingest(alice, {"data": {"metrics": [{"name": "step_count", "units": "count", "data": items}]}})
    assert answer["status"] == "partial"
    assert answer["metrics"]["step_count"]["rejected"] == 1
    assert answer["errors"][0]["where"]["field"] == "date"
    assert Sample.objects.filter(user=alice).count() == 1


def test_a_bad_route_point_is_reported_and_the_workout_stored(alice):
    answer = ingest(alice, fixture_bytes("bad/workout_bad_latitude.json"))
    assert answer["status"] == "partial"
    assert answer["workouts"]["stored"] == 1
    assert answer["workouts"]["route_points"] == 1
    assert answer["errors"][0]["where"]["field"] == "route[1].latitude"
    assert RoutePoint.objects.get().latitude == 52.52


def test_a_workout_ending_before_it_starts_is_rejected(alice):
    answer = ingest(alice, fixture_bytes("bad/workout_ends_before_start.json"))
    assert answer["status"] == "partial"
    assert answer["workouts"]["rejected"] == 1
    assert not Workout.objects.exists()


def test_routes_are_stored_as_valid_geometries(alice):
    ingest(alice, fixture_bytes("full_day.json"))
    for workout in Workout.objects.filter(user=alice, route__isnull=False):
        assert workout.route.valid
        assert workout.route.srid == 4326
        assert workout.route.num_points == workout.route_points.count()


def test_a_changed_workout_replaces_its_route(alice):
    document = fixture_json("small.json")
    ingest(alice, document)
    document["data"]["workouts"][0]["route"] = document["data"]["workouts"][0]["route"][:5]
    answer = ingest(alice, document)
    assert answer["workouts"]["updated"] == 1
    assert RoutePoint.objects.count() == 5


def test_values_are_stored_in_the_metric_unit_with_the_unit_sent(alice):
    def energy(unit, qty):
        return {"data": {"metrics": [{"name": "active_energy", "units": unit, "data": [
            {"date": "2024-05-14 08:00:00 +0200", "qty": qty, "source": unit}]}]}}  # fmt: skip

    ingest(alice, energy("kcal", 100))
    ingest(alice, energy("kJ", 418.4))
    assert MetricType.objects.get(name="active_energy").unit == "kcal"
    stored = sorted(Sample.objects.values_list("unit", "qty"))
    assert stored == [("kJ", pytest.approx(100.0)), ("kcal", 100.0)]


def test_the_repeated_hour_of_a_dst_night_is_two_instants(alice):
    items = [
        {"date": "2024-10-27 02:30:00 +0200", "qty": 5, "source": "iPhone"},
        {"date": "2024-10-27 02:30:00 +0100", "qty": 7, "source": "iPhone"},
    ]
    answer = ingest(alice, {"data": {"metrics": [{"name": "step_count", "units": "count", "data": items}]}})
    assert answer["metrics"]["step_count"]["stored"] == 2
    assert sorted(Sample.objects.values_list("utc_offset", flat=True)) == [60, 120]


@pytest.mark.postgres_only
def test_a_database_failure_mid_export_stores_nothing_and_keeps_the_body(alice):
    if connection.vendor != "postgresql":
        pytest.skip("needs a PostgreSQL trigger")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION fail_workout() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
            " LANGUAGE plpgsql; CREATE TRIGGER fail_workout BEFORE INSERT ON metrics_workout"
            " FOR EACH ROW EXECUTE FUNCTION fail_workout();"
        )
    with pytest.raises(Exception, match="disk full"):
        ingest(alice, fixture_bytes("small.json"))
    ingestion = Ingestion.objects.get(user=alice)
    assert ingestion.status == Ingestion.Status.FAILED
    assert ingestion.body is not None
    assert stored_rows() == 0

    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER fail_workout ON metrics_workout; DROP FUNCTION fail_workout();")
    answer = ingestion_process(ingestion=ingestion)
    assert answer["status"] == "processed"
    assert Sample.objects.filter(user=alice).count() > 0

    retry = ingest(alice, fixture_bytes("small.json"))
    assert retry["status"] == "duplicate"


@pytest.mark.embedded
def test_a_key_reused_by_an_export_processed_meanwhile_rejects_the_other_body(alice):
    """Two requests with one Idempotency-Key and different bodies both passed the first check:
    the one processed second (under the user's lock) is rejected, not taken for a duplicate."""
    stored = [
        ingestion_store_raw(
            user=alice, api_key=None, body=body, digest=hashlib.sha256(body).hexdigest(),
            content_encoding="", idempotency_key="batch-7", request=None,
        )
        for body in (fixture_bytes("small.json"), fixture_bytes("full_day.json"))
    ]  # fmt: skip
    assert ingestion_process(ingestion=stored[0])["status"] == "processed"
    samples = Sample.objects.filter(user=alice).count()

    with pytest.raises(IdempotencyKeyReused):
        ingestion_process(ingestion=stored[1])

    stored[1].refresh_from_db()
    assert stored[1].status == Ingestion.Status.REJECTED
    assert stored[1].error == "idempotency_key_reused"
    assert Sample.objects.filter(user=alice).count() == samples
    assert AuditEvent.objects.filter(action="ingest.rejected", metadata__code="idempotency_key_reused").count() == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_uploads_store_once(alice):
    if connection.vendor != "postgresql":
        pytest.skip("threads need a server database")
    body = fixture_bytes("full_day.json")
    answers, barrier = [], threading.Barrier(3)

    def upload():
        barrier.wait()
        try:
            answers.append(ingest_export(user=alice, api_key=None, body=body))
        finally:
            connection.close()

    threads = [threading.Thread(target=upload) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(a["status"] for a in answers) == ["duplicate", "duplicate", "processed"]
    expected = sum(metric_item_counts(fixture_json("full_day.json")).values())
    stored = sum(m.objects.count() for m in (Sample, BloodPressure, SleepNight, SleepStage))
    assert stored == expected


# Each way a metric's rows are written: streamed into a COPY (a first upload) or compared with
# the table a batch at a time.
WRITE_PATHS = pytest.mark.parametrize("stream_min_items", [1, 1_000_000], ids=["streamed", "compared"])


@WRITE_PATHS
def test_chunked_writing_keeps_counts_and_error_positions(alice, monkeypatch, stream_min_items):
    monkeypatch.setattr("ingest.services.ITEMS_PER_CHUNK", 2)
    monkeypatch.setattr("ingest.writers.ROWS_PER_BATCH", 2)
    monkeypatch.setattr("ingest.services.STREAM_MIN_ITEMS", stream_min_items)
    items = [{"date": f"2024-05-14 0{hour}:00:00 +0200", "qty": hour, "source": "iPhone"} for hour in range(4)]
    items.insert(3, dict(items[0]))  # a repeat in another chunk
    items.append({"date": "2024-05-14 09:00:00 +0200", "qty": "many", "source": "iPhone"})
    answer = ingest(alice, {"data": {"metrics": [{"name": "step_count", "units": "count", "data": items}]}})
    assert answer["metrics"]["step_count"] == {"received": 6, "stored": 4, "updated": 0, "duplicates": 1, "rejected": 1}
    assert answer["errors"][0]["where"]["index"] == 5
    assert Sample.objects.filter(user=alice).count() == 4


def test_a_malformed_metric_entry_is_reported_and_the_others_stored(alice):
    good = {"name": "step_count", "units": "count", "data": [{"date": "2024-05-14 08:00:00 +0200", "qty": 1}]}
    answer = ingest(alice, {"data": {"metrics": [{"units": "count"}, {"name": "x", "data": {"a": 1}}, good]}})
    assert answer["status"] == "partial"
    assert [e["where"] for e in answer["errors"]] == [
        {"section": "metrics", "index": 0},
        {"section": "metrics", "index": 1},
    ]
    assert answer["metrics"]["step_count"]["stored"] == 1


def test_errors_inside_a_workout_name_their_path(alice):
    document = fixture_json("bad/workout_bad_latitude.json")
    document["data"]["workouts"][0]["heartRateData"] = [{"date": "2024-05-14 18:00:00 +0200", "Avg": "fast"}]
    answer = ingest(alice, document)
    assert {(e["where"]["field"], e["message"].split(" ")[0]) for e in answer["errors"]} == {
        ("route[1].latitude", "route[1].latitude"),
        ("heartRateData[0].qty", "heartRateData[0].qty"),
    }


@pytest.mark.embedded
@WRITE_PATHS
def test_a_first_upload_repeating_a_key_with_a_new_value_keeps_the_later_one(alice, monkeypatch, stream_min_items):
    monkeypatch.setattr("ingest.services.ITEMS_PER_CHUNK", 2)
    monkeypatch.setattr("ingest.writers.ROWS_PER_BATCH", 2)
    monkeypatch.setattr("ingest.services.STREAM_MIN_ITEMS", stream_min_items)
    items = [{"date": f"2024-05-14 0{hour}:00:00 +0200", "qty": hour, "source": "iPhone"} for hour in range(3)]
    items.append({"date": "2024-05-14 00:00:00 +0200", "qty": 50, "source": "iPhone"})  # the open hour grew
    answer = ingest(alice, {"data": {"metrics": [{"name": "step_count", "units": "count", "data": items}]}})
    assert answer["metrics"]["step_count"] == {"received": 4, "stored": 3, "updated": 1, "duplicates": 0, "rejected": 0}
    assert sorted(Sample.objects.filter(user=alice).values_list("qty", flat=True)) == [1.0, 2.0, 50.0]


@pytest.mark.embedded
@WRITE_PATHS
def test_a_first_upload_out_of_time_order_counts_each_repeat_once(alice, monkeypatch, stream_min_items):
    monkeypatch.setattr("ingest.services.ITEMS_PER_CHUNK", 2)
    monkeypatch.setattr("ingest.writers.ROWS_PER_BATCH", 2)
    monkeypatch.setattr("ingest.services.STREAM_MIN_ITEMS", stream_min_items)

    def step(hour: int, qty: float, source: str = "iPhone") -> dict:
        return {"date": f"2024-05-14 0{hour}:00:00 +0200", "qty": qty, "source": source}

    # Hours 3, 1, 2 (new, two of them before the latest), 1 again (a duplicate of one that came
    # out of order), 3 with a new value (an update of one in order), 0 (new), 2 again, another source.
    items = [step(3, 3), step(1, 1), step(2, 2), step(1, 1), step(3, 30), step(0, 0), step(2, 2), step(1, 9, "Watch")]
    answer = ingest(alice, _steps(*items))
    assert answer["metrics"]["step_count"] == {"received": 8, "stored": 5, "updated": 1, "duplicates": 2, "rejected": 0}
    stored = Sample.objects.filter(user=alice).order_by("source", "start").values_list("source", "qty")
    assert list(stored) == [("Watch", 9.0), ("iPhone", 0.0), ("iPhone", 1.0), ("iPhone", 2.0), ("iPhone", 30.0)]


@pytest.mark.embedded
def test_a_route_is_stored_point_for_point_with_the_values_it_lacks_left_empty(alice):
    full = {"latitude": 52.5, "longitude": 13.4, "altitude": 34.33, "speed": 1.76, "course": 56.0,
            "horizontalAccuracy": 8.8, "verticalAccuracy": 4.3, "timestamp": "2024-05-14 07:00:01 +0200"}  # fmt: skip
    bare = {"latitude": -33.8688197, "longitude": 151.2092955}
    version_1 = {"lat": 0, "lon": -0.1, "speed": 0, "timestamp": "2024-05-14 07:00:03 +0200"}
    workout = {"id": "w1", "name": "Run", "start": "2024-05-14 07:00:00 +0200", "end": "2024-05-14 07:30:00 +0200",
               "route": [full, bare, {"latitude": 91, "longitude": 0}, version_1]}  # fmt: skip
    answer = ingest(alice, {"data": {"workouts": [workout]}})
    assert answer["workouts"]["route_points"] == 3
    assert answer["errors"][0]["where"] == {"section": "workouts", "index": 0, "field": "route[2].latitude"}
    columns = (
        "seq",
        "latitude",
        "longitude",
        "altitude",
        "speed",
        "course",
        "horizontal_accuracy",
        "vertical_accuracy",
    )
    points = list(RoutePoint.objects.order_by("seq").values_list(*columns))
    assert points == [
        (0, 52.5, 13.4, 34.33, 1.76, 56.0, 8.8, 4.3),
        (1, -33.8688197, 151.2092955, None, None, None, None, None),
        (2, 0.0, -0.1, None, 0.0, None, None, None),
    ]
    times = list(RoutePoint.objects.order_by("seq").values_list("timestamp", flat=True))
    assert [time and time.isoformat() for time in times] == [
        "2024-05-14T05:00:01+00:00",
        None,
        "2024-05-14T05:00:03+00:00",
    ]
    assert Workout.objects.get().route.coords == ((13.4, 52.5), (151.2092955, -33.8688197), (-0.1, 0.0))


def _steps(*items: dict) -> dict:
    return {"data": {"metrics": [{"name": "step_count", "units": "count", "data": list(items)}]}}


GOOD_STEP = {"date": "2024-05-14 08:00:00 +0200", "qty": 1, "source": "iPhone"}


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("bad", "code", "field"),
    [
        ({"date": "2024-05-14 09:00:00 +0200", "qty": True}, "invalid_number", "qty"),
        ({"date": "2024-05-14 09:00:00 +0200", "qty": None}, "invalid_number", "qty"),
        ({"date": "2024-05-14 09:00:00 +0200", "Avg": 3, "Min": "x"}, "invalid_number", "Min"),
        ({"date": "2024-05-14 09:00:00 +0200", "qty": 3, "source": 5}, "invalid_text", "source"),
        ({"date": "2024-05-14 09:00:00 +0200", "qty": 1e999}, "invalid_number", "qty"),
        ({"date": "2024-05-14 09:00:00 +0200", "qty": 10**400}, "invalid_number", "qty"),
        ({"date": "2024-05-14 09:00:00 +0200", "qty": "LONG"}, "invalid_number", "qty"),
        ({"date": " 2024-05-14 09:00:00 +0200 ", "qty": -1}, "out_of_range", "qty"),
        ({"date": "2024-05-14 09:00:00 +0200"}, "missing_value", "qty"),
        ([1, 2], "invalid_item", None),
    ],
)
def test_an_item_of_the_wrong_shape_is_rejected_naming_the_field(alice, bad, code, field):
    body = json.dumps(_steps(GOOD_STEP, bad)).replace("Infinity", "1e999").replace('"LONG"', "9" * 5000).encode()
    answer = ingest(alice, body)
    assert answer["metrics"]["step_count"] == {"received": 2, "stored": 1, "updated": 0, "duplicates": 0, "rejected": 1}
    [error] = answer["errors"]
    assert error["code"] == code
    assert error["where"].get("field") == field
    assert Sample.objects.filter(user=alice).count() == 1


def test_a_number_too_large_for_a_float_or_64_bits_is_an_item_error_in_every_section(alice):
    workout = {"id": "W1", "name": "Walk", "start": "2024-05-14 07:00:00 +0200", "end": "2024-05-14 07:30:00 +0200"}
    document = {
        "data": {
            "metrics": _steps(GOOD_STEP)["data"]["metrics"],
            "workouts": [
                {**workout, "duration": "HUGE"},
                {**workout, "id": "W2"},
                {**workout, "id": "W3", "activeEnergyBurned": {"qty": 5, "units": {"kcal": True}}},
            ],
            "symptoms": [
                {"start": "2024-05-14 07:00:00 +0200", "name": "Headache", "severity": "HUGE"},
                {"start": "2024-05-14 08:00:00 +0200", "name": "Nausea", "extra": [1, {"count": 10**30}]},
                {"start": "2024-05-14 09:00:00 +0200", "name": "Cough", "note": "12345678901234567890123"},
                # More digits than Python converts to an int (4300): was a 500.
                {"start": "2024-05-14 10:00:00 +0200", "name": "Fever", "severity": "LONG"},
            ],
        }
    }
    body = json.dumps(document).replace('"HUGE"', "1e999").replace('"LONG"', "9" * 5000).encode()
    answer = ingest(alice, body)
    assert answer["status"] == "partial"
    assert answer["workouts"]["stored"] == 1 and answer["workouts"]["rejected"] == 2
    assert answer["other"]["symptoms"]["rejected"] == 3 and answer["other"]["symptoms"]["stored"] == 1
    assert {(e["code"], e["where"].get("field")) for e in answer["errors"]} == {
        ("invalid_number", "duration"),
        ("invalid_text", "activeEnergyBurned.units"),
        ("invalid_number", "severity"),
        ("invalid_number", "extra[1].count"),
    }
    assert [e["where"]["index"] for e in answer["errors"] if e["where"]["section"] == "symptoms"] == [0, 1, 3]


def test_an_item_the_time_estimate_misses_is_still_stored_once(alice):
    """The span of a first upload is read from the dates' text; an item it cannot see there
    (its key written with a JSON escape) goes the compared way, into its own month."""
    hidden = '{"d\\u0061te": "2023-01-10 08:00:00 +0100", "qty": 7, "source": "iPhone"}'
    body = json.dumps(_steps(GOOD_STEP)).replace("}]}]}}", "}, " + hidden + "]}]}}").encode()
    answer = ingest(alice, body)
    assert answer["metrics"]["step_count"] == {"received": 2, "stored": 2, "updated": 0, "duplicates": 0, "rejected": 0}
    assert sorted(Sample.objects.filter(user=alice).values_list("qty", flat=True)) == [1.0, 7.0]

    again = ingest(alice, body.replace(b"iPhone", b"iPhone").replace(b'"qty": 7', b'"qty": 8'))
    assert again["metrics"]["step_count"]["updated"] == 1 and again["metrics"]["step_count"]["duplicates"] == 1


@pytest.mark.parametrize(
    ("point", "field"),
    [
        ({"latitude": "north", "longitude": 13.4}, "route[1].latitude"),
        ({"latitude": None, "longitude": 13.4}, "route[1].latitude"),
        ({"lat": 52.5}, "route[1].lon"),
        ({"latitude": 52.5, "longitude": 13.4, "speed": "fast"}, "route[1].speed"),
        ("here", "route[1]"),
    ],
)
def test_a_route_point_of_the_wrong_shape_is_reported_and_the_others_kept(alice, point, field):
    document = fixture_json("bad/workout_bad_latitude.json")
    document["data"]["workouts"][0]["route"][1] = point
    answer = ingest(alice, document)
    assert answer["workouts"]["stored"] == 1 and answer["workouts"]["route_points"] == 1
    assert [e["where"]["field"] for e in answer["errors"]] == [field]


@pytest.mark.embedded
def test_a_metric_sent_twice_in_one_export_is_stored_once(alice):
    items = [{"date": f"2024-05-14 0{hour}:00:00 +0200", "qty": hour, "source": "iPhone"} for hour in range(3)]
    heart = {"name": "heart_rate", "units": "count/min", "data": [{"date": "2024-05-14 08:00:00 +0200", "Avg": 60}]}
    first = {"name": "step_count", "units": "count", "data": items}
    second = {"name": "step_count", "units": "count", "data": [items[0], {**items[1], "qty": 40}]}
    answer = ingest(alice, {"data": {"metrics": [first, heart, second]}})
    assert answer["metrics"]["step_count"] == {"received": 5, "stored": 3, "updated": 1, "duplicates": 1, "rejected": 0}
    assert sorted(Sample.objects.filter(user=alice, metric__name="step_count").values_list("qty", flat=True)) == [
        0.0,
        2.0,
        40.0,
    ]
