"""One user's data never changes what another can store: units are parsed and known metrics have a
fixed canonical unit; unknown metric names belong to their user, capped and validated."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from accounts.services import api_key_create
from ingest.models import Ingestion
from ingest.services import NEW_METRICS_PER_EXPORT, UNKNOWN_METRICS_PER_USER, ingest_export, ingestion_process
from metrics.models import BloodPressure, MetricType, Sample
from tests.conftest import ALL_SCOPES, _client_for
from tests.ingest.helpers import counts_add_up

pytestmark = pytest.mark.django_db
URL = "/v1/ingest"


def metric(name: str, units: str | None, *values: float, day: int = 3, hour: int = 8) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "data": []}
    if units is not None:
        entry["units"] = units
    for at, value in enumerate(values):
        entry["data"].append({"date": f"2024-09-{day:02d} {hour:02d}:{at:02d}:00 +0000", "qty": value, "source": "W"})
    return entry


def post(client, *metrics: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps({"data": {"metrics": list(metrics)}}).encode()
    response = client.generic("POST", URL, body, content_type="application/json")
    assert response.status_code == 200, response.content
    answer = response.json()
    assert counts_add_up(answer)
    return answer


def codes(answer: dict[str, Any]) -> set[str]:
    return {error["code"] for error in answer["errors"]}


@pytest.fixture
def mallory_client(fast_key_hashing):
    mallory = get_user_model().objects.create_user(username="mallory", password="mallory-password-1")
    client = _client_for(api_key_create(owner=mallory, name="m", scopes=ALL_SCOPES, created_by=None)[1])
    client.user = mallory
    return client


def samples(user, name: str) -> list[tuple[float, str]]:
    rows = Sample.objects.filter(user=user, metric__name=name).order_by("start")
    return [(round(row.qty, 6), row.unit) for row in rows]


# --- Known metrics: a fixed canonical unit -------------------------------------------------------


@pytest.mark.embedded
def test_vo2_max_in_every_spelling_is_stored_for_every_user(alice_client, alice, bob_client, bob):
    first = post(alice_client, metric("vo2_max", "mL/kg/min", 42.5))
    assert first["status"] == "processed"
    spellings = ["ml/(kg·min)", "mL/min·kg", "ml/kg/min", "mL/(kg·min)", "mL/kg/min"]
    answer = post(bob_client, *[metric("vo2_max", unit, 40 + day, day=day) for day, unit in enumerate(spellings, 1)])
    assert answer["status"] == "processed"
    assert answer["metrics"]["vo2_max"] == {"received": 5, "stored": 5, "updated": 0, "duplicates": 0, "rejected": 0}
    assert samples(bob, "vo2_max") == [
        (41, "ml/(kg·min)"),
        (42, "mL/min·kg"),
        (43, "ml/kg/min"),
        (44, "mL/(kg·min)"),
        (45, "mL/kg/min"),
    ]
    assert samples(alice, "vo2_max") == [(42.5, "mL/kg/min")]
    assert MetricType.objects.get(name="vo2_max").unit == "ml/(kg·min)"
    # and the metric's bounds are checked, whatever the spelling
    out_of_range = post(bob_client, metric("vo2_max", "mL/min·kg", 150, day=9))
    assert out_of_range["errors"][0]["code"] == "out_of_range"
    assert out_of_range["errors"][0]["where"] == {"section": "metrics", "metric": "vo2_max", "index": 0, "field": "qty"}
    assert Sample.objects.filter(user=bob, metric__name="vo2_max").count() == 5


@pytest.mark.embedded
def test_a_heart_rate_in_ms_is_refused_for_its_sender_only(alice_client, alice, mallory_client):
    attack = post(mallory_client, metric("heart_rate", "ms", 2, 3, 4))
    assert attack["status"] == "partial"
    assert attack["metrics"]["heart_rate"]["rejected"] == 3
    assert codes(attack) == {"unit_mismatch"}
    assert attack["errors"][0]["message"] == "unit 'ms' is not a unit of heart_rate, which is measured in count/min"
    assert attack["errors"][0]["where"]["field"] == "units"
    assert not Sample.objects.filter(user=mallory_client.user).exists()

    answer = post(alice_client, metric("heart_rate", "count/min", 61, 62), metric("heart_rate", "bpm", 70, day=4))
    assert answer["status"] == "processed"
    assert answer["metrics"]["heart_rate"]["stored"] == 3
    assert samples(alice, "heart_rate") == [(61, "count/min"), (62, "count/min"), (70, "bpm")]
    assert MetricType.objects.get(name="heart_rate").unit == "count/min"

    # Mallory wiping her data changes nothing for Alice either
    deleted = mallory_client.delete("/v1/data", {"confirm": "delete all my data"}, format="json")
    assert deleted.status_code == 200
    again = post(alice_client, metric("heart_rate", "beats/min", 80, day=5))
    assert again["status"] == "processed"
    assert samples(alice, "heart_rate")[-1] == (80, "beats/min")


@pytest.mark.embedded
def test_values_are_converted_to_the_canonical_unit_and_then_bounded(alice_client, alice):
    answer = post(
        alice_client,
        metric("weight_body_mass", "lb", 220.462, 2000),
        metric("body_temperature", "degF", 98.6),
        metric("blood_glucose", "mmol<180.15588000005408>/L", 5.5),
        metric("walking_running_distance", "mi", 1),
        metric("active_energy", "kJ", 418.4),
    )
    assert answer["errors"] == [
        {
            "code": "out_of_range",
            "message": "qty 907.185 is outside 0.5–700 kg",
            "where": {"section": "metrics", "metric": "weight_body_mass", "index": 1, "field": "qty"},
        }
    ]
    assert samples(alice, "weight_body_mass") == [(pytest.approx(100.0, abs=1e-3), "lb")]
    assert samples(alice, "body_temperature") == [(37.0, "degF")]
    assert samples(alice, "blood_glucose") == [(pytest.approx(99.0857, abs=1e-4), "mmol<180.15588000005408>/L")]
    assert samples(alice, "walking_running_distance") == [(1.609344, "mi")]
    assert samples(alice, "active_energy") == [(100.0, "kJ")]
    # reads convert back on request; the export gives back the values and units as sent
    page = alice_client.get("/v1/metrics/walking_running_distance?unit=m").json()
    assert [(item["qty"], item["unit"]) for item in page["items"]] == [(pytest.approx(1609.344), "m")]
    export = json.loads(b"".join(alice_client.get("/v1/export?format=hae").streaming_content))
    distance = next(m for m in export["data"]["metrics"] if m["name"] == "walking_running_distance")
    assert distance["units"] == "mi"
    assert distance["data"][0]["qty"] == pytest.approx(1)


@pytest.mark.embedded
def test_a_known_metric_without_units_is_stored_in_its_canonical_unit(alice_client, alice):
    answer = post(alice_client, metric("step_count", None, 1200, 800), metric("heart_rate", "", 64))
    assert answer["status"] == "processed"
    assert answer["metrics"]["step_count"]["stored"] == 2
    assert samples(alice, "step_count") == [(1200, "count"), (800, "count")]
    assert samples(alice, "heart_rate") == [(64, "count/min")]


@pytest.mark.embedded
def test_blood_pressure_in_kpa_is_converted_to_mmhg(alice_client, alice):
    body = {
        "name": "blood_pressure",
        "units": "kPa",
        "data": [{"date": "2024-09-03 08:00:00 +0000", "systolic": 16, "diastolic": 10.6}],
    }
    answer = post(alice_client, body)
    assert answer["status"] == "processed"
    row = BloodPressure.objects.get(user=alice)
    assert (round(row.systolic), round(row.diastolic), row.unit) == (120, 80, "mmHg")


@pytest.mark.embedded
def test_a_unit_longer_than_the_column_is_an_item_error(alice_client, alice):
    answer = post(alice_client, metric("heart_rate", "count/min" * 4, 60, 61), metric("my_gadget_score", "x" * 33, 1))
    assert answer["status"] == "partial"
    assert answer["metrics"]["heart_rate"]["rejected"] == 2
    assert answer["metrics"]["my_gadget_score"]["rejected"] == 1
    assert codes(answer) == {"invalid_unit"}
    assert answer["errors"][0]["where"] == {"section": "metrics", "metric": "heart_rate", "index": 0, "field": "units"}
    assert not Sample.objects.filter(user=alice).exists()


# --- Unknown metrics: per user, each sample in the unit it was sent in ---------------------------


@pytest.mark.embedded
def test_an_unknown_metric_keeps_each_users_units(alice_client, alice, bob_client, bob):
    assert post(alice_client, metric("gadget_time", "min", 90))["status"] == "processed"
    assert (
        post(bob_client, metric("gadget_time", "kg", 3), metric("gadget_time", "lb", 2, day=4))["status"] == "processed"
    )
    assert post(alice_client, metric("gadget_time", "hr", 2, day=4))["status"] == "processed"
    assert samples(alice, "gadget_time") == [(90, "min"), (2, "hr")]
    assert samples(bob, "gadget_time") == [(3, "kg"), (2, "lb")]
    types = MetricType.objects.filter(name="gadget_time")
    assert sorted((t.owner.username, t.unit) for t in types) == [("alice", ""), ("bob", "")]

    listed = {m["name"]: m["unit"] for m in alice_client.get("/v1/metrics").json()["metrics"]}
    assert listed["gadget_time"] == "hr, min"
    raw = alice_client.get("/v1/metrics/gadget_time").json()["items"]
    assert [(item["qty"], item["unit"]) for item in raw] == [(90, "min"), (2, "hr")]
    converted = alice_client.get("/v1/metrics/gadget_time?unit=min").json()["items"]
    assert [(item["qty"], item["unit"]) for item in converted] == [(90, "min"), (120, "min")]
    days = alice_client.get("/v1/metrics/gadget_time?resolution=day&unit=hr")
    assert days.status_code == 400
    assert days.json()["error"]["details"] == [{"field": "unit", "reason": "mixed_units"}]
    bobs_days = bob_client.get("/v1/metrics/gadget_time?resolution=day&unit=min")
    assert bobs_days.status_code == 400
    assert bobs_days.json()["error"]["details"] == [{"field": "unit", "reason": "unit_mismatch"}]
    exported = json.loads(b"".join(bob_client.get("/v1/export?format=hae").streaming_content))["data"]["metrics"]
    assert sorted((m["units"], m["data"][0]["qty"]) for m in exported) == [("kg", 3), ("lb", 2)]


@pytest.mark.embedded
def test_deleting_all_data_deletes_the_users_own_metric_names(alice_client, alice, bob_client, bob):
    post(alice_client, metric("gadget_time", "min", 90), metric("step_count", "count", 10))
    post(bob_client, metric("gadget_time", "min", 30))
    deleted = alice_client.delete("/v1/data", {"confirm": "delete all my data"}, format="json")
    assert deleted.json()["deleted"]["metric_types"] == 1
    assert not MetricType.objects.filter(owner=alice).exists()
    assert MetricType.objects.filter(owner=bob, name="gadget_time").exists()
    assert MetricType.objects.filter(owner=None, name="step_count").exists()


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("heart\x00rate", "no spaces or control characters"),
        ("gadget\x1fscore", "no spaces or control characters"),
        ("gadget score", "no spaces or control characters"),
        ("gadget/score", "no spaces or control characters"),
        ("g" * 65, "at most 64 characters"),
    ],
)
def test_invalid_metric_names_are_refused(alice_client, alice, name, problem):
    answer = post(alice_client, metric(name, "count", 1, 2), metric("g" * 64, "count", 1))
    shown = "".join("\ufffd" if ord(char) < 32 else char for char in name[:100])  # the answer holds no NUL
    assert answer["metrics"][shown]["rejected"] == 2
    assert answer["metrics"]["g" * 64]["stored"] == 1
    assert codes(answer) == {"invalid_name"}
    assert problem in answer["errors"][0]["message"]
    assert answer["errors"][0]["where"] == {"section": "metrics", "metric": shown, "index": 0, "field": "name"}
    assert Ingestion.objects.get(user=alice).result["metrics"][shown]["rejected"] == 2
    assert list(MetricType.objects.filter(owner=alice).values_list("name", flat=True)) == ["g" * 64]


@pytest.mark.embedded
def test_unknown_names_are_capped_per_export_and_per_user(alice_client, alice):
    names = [f"gadget_{n:03d}" for n in range(NEW_METRICS_PER_EXPORT + 50)]
    answer = post(alice_client, *[metric(name, "count", 1) for name in names])
    stored = [name for name in names if answer["metrics"][name]["stored"]]
    assert stored == names[:NEW_METRICS_PER_EXPORT]
    assert answer["errors"][0]["code"] == "too_many_metrics"
    assert answer["errors"][0]["where"] == {
        "section": "metrics",
        "metric": names[NEW_METRICS_PER_EXPORT],
        "index": 0,
        "field": "name",
    }

    more = [f"widget_{n:03d}" for n in range(UNKNOWN_METRICS_PER_USER)]
    post(alice_client, *[metric(name, "count", 1) for name in more])
    assert MetricType.objects.filter(owner=alice).count() == UNKNOWN_METRICS_PER_USER
    full = post(
        alice_client,
        metric("one_more", "count", 1),
        metric("gadget_000", "count", 2, day=4),
        metric("step_count", "count", 5),
    )
    assert full["metrics"]["one_more"]["rejected"] == 1
    assert full["metrics"]["gadget_000"]["stored"] == 1  # names already held keep working
    assert full["metrics"]["step_count"]["stored"] == 1  # and every known one
    assert MetricType.objects.filter(owner=alice).count() == UNKNOWN_METRICS_PER_USER


@pytest.fixture
def restore_metric_type_ids(db):
    """Sequences ignore rollbacks: put the id sequence back below 32,767 after the test, or
    migration tests that go back to the 16-bit id could not reverse it."""
    yield
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('metrics_metrictype', 'id'),"
                " GREATEST((SELECT max(id) FROM metrics_metrictype WHERE id < 32767), 1))"
            )


@pytest.mark.embedded
@pytest.mark.usefixtures("restore_metric_type_ids")
def test_more_new_names_than_a_small_id_holds_leave_everybody_working(alice_client, alice, bob_client, bob):
    before = MetricType.objects.count()
    if connection.vendor == "postgresql":
        # Where the old 16-bit id ran out: any id handed out from here on would not have fitted.
        with connection.cursor() as cursor:
            cursor.execute("SELECT setval(pg_get_serial_sequence('metrics_metrictype', 'id'), 32767)")
    sent = 0
    for attempt in range(4):
        names = [f"flood_{attempt}_{n:05d}" for n in range(8200)]
        sent += len(names)
        answer = post(
            alice_client,
            *[
                {"name": name, "units": "count", "data": [{"date": "2024-09-03 08:00:00 +0000", "qty": 1}]}
                for name in names
            ],
        )
        assert answer["errors_truncated"] is True
        assert codes(answer) == {"too_many_metrics"}
    assert sent > 32_767
    assert MetricType.objects.count() - before == UNKNOWN_METRICS_PER_USER
    assert Sample.objects.filter(user=alice).count() == UNKNOWN_METRICS_PER_USER

    answer = post(bob_client, metric("bobs_new_gadget", "min", 5), metric("respiratory_rate", "count/min", 14))
    assert answer["status"] == "processed"
    assert samples(bob, "bobs_new_gadget") == [(5, "min")]
    assert samples(bob, "respiratory_rate") == [(14, "count/min")]
    assert MetricType.objects.get(owner=bob).pk > 32_767 or connection.vendor != "postgresql"


def test_a_rolled_back_export_is_retried_without_new_ids(alice):
    """A failing export (here a trigger refusing one sample) keeps no sample, and its retry hands
    out no id: the new names' types were created, once, before the export's transaction."""
    body = json.dumps(
        {
            "data": {
                "metrics": [metric(f"gadget_{n}", "count", 1) for n in range(5)] + [metric("step_count", "count", 7)]
            }
        }
    ).encode()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_seven() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN IF NEW.qty = 7 THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_seven BEFORE INSERT ON metrics_sample FOR EACH ROW EXECUTE FUNCTION refuse_seven()"
        )
    with pytest.raises(Exception, match="refused"):
        ingest_export(user=alice, api_key=None, body=body)
    ingestion = Ingestion.objects.get(user=alice)
    assert ingestion.status == Ingestion.Status.FAILED
    assert not Sample.objects.filter(user=alice).exists()
    ids = sorted(MetricType.objects.filter(owner=alice).values_list("pk", flat=True))
    assert len(ids) == 5
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse_seven ON metrics_sample")

    answer = ingestion_process(ingestion=ingestion)
    assert answer["status"] == "processed"
    assert Sample.objects.filter(user=alice).count() == 6
    assert sorted(MetricType.objects.filter(owner=alice).values_list("pk", flat=True)) == ids
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value FROM metrics_metrictype_id_seq")
        assert cursor.fetchone()[0] == max([*ids, MetricType.objects.get(name="step_count").pk])
