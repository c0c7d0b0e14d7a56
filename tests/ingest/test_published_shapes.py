"""Shapes other Health Auto Export receivers published (their fixtures, their format notes), with
synthetic values: every one is stored, none is refused for a field it does not need."""

from __future__ import annotations

import datetime as dt

import pytest

from metrics.models import SleepNight, SleepStage, Workout, WorkoutSeries
from tests.ingest.helpers import counts_add_up

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

# Export format 1, "aggregate sleep": no `date`, a source for the sleep and one for the time in bed.
V1_NIGHT_WITHOUT_DATE = {
    "asleep": 6.1,
    "sleepSource": "Kim's Apple Watch",
    "sleepStart": "2021-12-18 02:21:06 +0800",
    "sleepEnd": "2021-12-18 08:57:06 +0800",
    "inBed": 6.8,
    "inBedSource": "iPhone",
    "inBedStart": "2021-12-18 02:12:50 +0800",
    "inBedEnd": "2021-12-18 09:04:45 +0800",
}
# Format 1 workout: lat/lon route points, heart rate with units, quantities as {qty, units}.
V1_WORKOUT = {
    "name": "Walking",
    "start": "2021-12-24 08:02:43 +0800",
    "end": "2021-12-24 08:21:53 +0800",
    "route": [{"lat": 38.8951, "lon": -77.0364, "altitude": 8.03, "timestamp": "2021-12-24 08:04:45 +0800"}],
    "heartRateData": [{"date": "2021-12-24 08:02:47 +0800", "qty": 108, "units": "bpm"}],
    "elevation": {"units": "m", "ascent": 16.36, "descent": 0},
    "stepCount": {"qty": 908, "units": "steps"},
    "activeEnergy": {"qty": 226.2, "units": "kJ"},
}
# Format 2, "summarize off": segments that also carry the night's fields.
SEGMENT_WITH_NIGHT_FIELDS = {
    "startDate": "2024-02-05 23:00:00 -0800",
    "endDate": "2024-02-05 23:30:00 -0800",
    "qty": 0.5,
    "value": "Core",
    "deep": 0.0,
    "rem": 0.0,
    "sleepStart": "2024-02-05 23:00:00 -0800",
    "sleepEnd": "2024-02-06 06:30:00 -0800",
    "inBed": 8.0,
    "inBedStart": "2024-02-05 22:45:00 -0800",
    "inBedEnd": "2024-02-06 06:45:00 -0800",
}
V2_WORKOUT = {
    "id": "5A1B0C2D-1111-2222-3333-444455556666",
    "name": "Outdoor Cycle",
    "start": "2024-02-06 07:00:00 -0800",
    "end": "2024-02-06 08:00:00 -0800",
    "duration": 3600,
    "location": "Outdoor",
    "isIndoor": False,
    "activeEnergyBurned": {"qty": 500, "units": "kcal"},
    "intensity": {"qty": 7.1, "units": "MET"},
    "distance": {"qty": 15.5, "units": "mi"},
    "avgSpeed": {"qty": 24.9, "units": "kmph"},
    "elevationUp": {"qty": 300, "units": "ft"},
    "temperature": {"qty": 55, "units": "degF"},
    "humidity": {"qty": 60, "units": "%"},
    "stepCadence": {"qty": 80, "units": "spm"},
    "heartRate": {"min": {"qty": 120, "units": "bpm"}, "avg": {"qty": 150, "units": "bpm"}},
    "heartRateData": [{"date": "2024-02-06 07:00:00 -0800", "Min": 120, "Avg": 150, "Max": 175, "units": "bpm"}],
    "route": [
        {
            "latitude": 37.7749,
            "longitude": -122.4194,
            "altitude": 50.5,
            "course": 45.0,
            "courseAccuracy": 5.0,
            "horizontalAccuracy": 10.0,
            "verticalAccuracy": 15.0,
            "timestamp": "2024-02-06 07:00:00 -0800",
            "speed": 7.0,
            "speedAccuracy": 0.5,
        }
    ],
    "cyclingCadence": [{"date": "2024-02-06 07:00:00 -0800", "qty": 90, "units": "rpm", "source": "Apple Watch"}],
    "cyclingPower": [{"date": "2024-02-06 07:00:00 -0800", "qty": 200, "units": "W", "source": "Power Meter"}],
    "swimDistance": [{"date": "2024-02-06 07:00:00 -0800", "qty": 25, "units": "yd"}],
}


def post(client, data: dict) -> dict:
    response = client.post("/v1/ingest", {"data": data}, format="json")
    assert response.status_code == 200, response.content
    answer = response.json()
    assert counts_add_up(answer)
    assert answer["status"] == "processed", answer["errors"]
    return answer


def test_a_night_sent_without_date_is_the_night_it_ended_on(alice_client, alice):
    post(alice_client, {"metrics": [{"name": "sleep_analysis", "units": "hr", "data": [V1_NIGHT_WITHOUT_DATE]}]})

    night = SleepNight.objects.get(user=alice)
    assert (night.night, night.source, night.asleep) == (dt.date(2021, 12, 18), "Kim's Apple Watch", 6.1)
    assert night.in_bed_start == dt.datetime(2021, 12, 17, 18, 12, 50, tzinfo=dt.UTC)


def test_a_night_without_date_or_end_says_what_is_missing(alice_client):
    response = alice_client.post(
        "/v1/ingest",
        {"data": {"metrics": [{"name": "sleep_analysis", "units": "hr", "data": [{"asleep": 6.1}]}]}},
        format="json",
    )

    (error,) = response.json()["errors"]
    assert error["code"] == "missing_value" and error["where"]["field"] == "date"
    assert "sleepEnd" in error["message"]


def test_a_format_1_workout_keeps_its_route_and_heart_rate(alice_client, alice):
    answer = post(alice_client, {"workouts": [V1_WORKOUT]})

    assert answer["workouts"]["stored"] == 1 and answer["workouts"]["route_points"] == 1
    workout = Workout.objects.get(user=alice)
    assert workout.active_energy_kcal == pytest.approx(226.2 / 4.184)
    assert WorkoutSeries.objects.filter(workout_id=workout.pk, kind="heartRateData").count() == 1


def test_segments_that_carry_their_nights_fields_are_segments(alice_client, alice):
    unspecified = {**SEGMENT_WITH_NIGHT_FIELDS, "startDate": "2024-02-05 23:30:00 -0800", "value": "Unspecified"}
    unspecified["endDate"] = "2024-02-05 23:40:00 -0800"
    post(
        alice_client,
        {"metrics": [{"name": "sleep_analysis", "units": "hr", "data": [SEGMENT_WITH_NIGHT_FIELDS, unspecified]}]},
    )

    assert sorted(SleepStage.objects.filter(user=alice).values_list("stage", flat=True)) == ["Core", "Unspecified"]
    assert not SleepNight.objects.filter(user=alice).exists()


def test_a_format_2_workout_with_every_optional_field_is_stored(alice_client, alice):
    answer = post(alice_client, {"workouts": [V2_WORKOUT]})

    assert answer["workouts"]["route_points"] == 1
    workout = Workout.objects.get(user=alice)
    assert workout.distance_km == pytest.approx(15.5 * 1.609344)
    kinds = set(WorkoutSeries.objects.filter(workout_id=workout.pk).values_list("kind", flat=True))
    assert {"heartRateData", "cyclingCadence", "cyclingPower", "swimDistance"} <= kinds


def test_a_metric_without_data_and_sections_set_to_null_are_empty(alice_client):
    answer = post(
        alice_client,
        {"metrics": [{"name": "basal_body_temperature", "units": "degC"}], "workouts": None, "symptoms": None},
    )

    assert answer["metrics"]["basal_body_temperature"]["received"] == 0
