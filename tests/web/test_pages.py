"""The owner's pages with Django's test client: who may see what, what each page shows."""

from __future__ import annotations

import json
import re

import pytest

from metrics.models import Sample

pytestmark = pytest.mark.django_db

PAGES = ("/", "/metrics/heart_rate", "/sleep", "/workouts", "/syncs", "/keys")


def chart_data(response, chart_id: str) -> dict:
    match = re.search(rf'<script id="{chart_id}" type="application/json">(.*?)</script>', response.content.decode())
    assert match, f"no chart {chart_id}"
    return json.loads(match.group(1))


@pytest.mark.embedded
@pytest.mark.parametrize("path", [*PAGES, "/metrics/step_count?format=csv", "/logout"])
def test_anonymous_visitors_are_sent_to_sign_in(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/login")


@pytest.mark.embedded
@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_the_owner_and_is_never_cached(alice_browser, alice_data, path):
    response = alice_browser.get(path)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "alice" in response.content.decode()


def test_the_overview_shows_each_metric_and_the_automations(alice_browser, alice_data):
    response = alice_browser.get("/?days=7")
    page = response.content.decode()

    for label in ("Steps", "Active energy", "Resting heart rate", "Heart rate variability", "Sleep", "Weight"):
        assert label in page
    assert len(chart_data(response, "chart-step_count")["x"]) == 7
    assert len(chart_data(response, "chart-weight_body_mass")["x"]) > 7  # the weight trend looks back 90 days
    assert "Health metrics hourly" in page and "Workouts" in page
    assert "2 item errors" in page


def test_a_metric_chart_gets_buckets_never_raw_samples(alice_browser, alice, alice_data):
    raw = Sample.objects.filter(user=alice, metric__name="heart_rate").count()

    weekly = chart_data(alice_browser.get("/metrics/heart_rate?range=1y"), "metric-chart")
    hourly = chart_data(alice_browser.get("/metrics/heart_rate?range=7d"), "metric-chart")

    assert raw == 40 * 24
    assert 6 <= len(weekly["x"]) <= 7  # 40 days in weeks
    assert [s["label"] for s in weekly["series"]] == ["min", "max", "average"]
    assert len(hourly["x"]) <= 7 * 24


def test_a_metric_downloads_as_csv(alice_browser, alice_data):
    response = alice_browser.get("/metrics/step_count?range=7d&resolution=day&format=csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="step_count-day.csv"'
    lines = response.content.decode().splitlines()
    assert lines[0] == "start,count,sum,unit"
    assert len(lines) == 1 + 7 and lines[1].endswith(",count")


def test_a_metric_switches_units(alice_browser, alice_data):
    kilograms = alice_browser.get("/metrics/weight_body_mass?range=30d")
    pounds = alice_browser.get("/metrics/weight_body_mass?range=30d&unit=lb")

    assert pounds.status_code == 200
    assert '<option value="lb" selected>' in pounds.content.decode()
    kg = chart_data(kilograms, "metric-chart")["series"][-1]["values"][0]
    lb = chart_data(pounds, "metric-chart")["series"][-1]["values"][0]
    assert lb == pytest.approx(kg * 2.20462, abs=0.01)


def test_the_sleep_page_stacks_stages_and_draws_a_hypnogram(alice_browser, alice_data):
    last_night = alice_data["nights"][-1].isoformat()

    response = alice_browser.get("/sleep?range=7d")

    bars = chart_data(response, "sleep-chart")
    assert [s["label"] for s in bars["series"]] == ["Deep", "Core", "REM", "Awake"]
    assert len(bars["x"]) == 7
    night = chart_data(response, "hypnogram")
    assert set(night["series"][0]["values"]) - {None} == {1, 2, 3, 4}
    assert f"Night to {last_night}" in response.content.decode()


def test_workouts_filter_by_type_and_a_workout_draws_its_route(alice_browser, alice_data):
    walks = alice_browser.get("/workouts?type=Outdoor+Walk&range=all").content.decode()
    runs = alice_browser.get("/workouts?type=Outdoor+Run&range=all").content.decode()
    workout = alice_data["workouts"][0]

    response = alice_browser.get(f"/workouts/{workout.public_id}")

    assert "Outdoor Walk" in walks and "<td>Outdoor Run</td>" not in walks
    assert "<td>Outdoor Run</td>" in runs
    route = chart_data(response, "route-data")
    assert len(route["coordinates"]) == workout.route_points.count() and route["tiles"] == ""
    assert len(chart_data(response, "heart-chart")["x"]) == workout.series.count()
    assert chart_data(response, "pace-chart")["unit"] == "min/km"


def test_syncs_say_what_went_wrong_in_plain_words(alice_browser, alice_data):
    page = alice_browser.get("/syncs").content.decode()

    assert "heart_rate, item 3:" in page
    assert "heart_rate in ms cannot be converted to count/min" in page
    assert "leave the metric&#x27;s unit at its default" in page
    assert "automation-id: B2" in page
    assert "22 new, 0 updated, 0 already stored, 2 refused" in page


def test_the_map_tile_setting_allows_its_host_for_images_only(settings, alice_browser, alice_data):
    settings.MAP_TILE_URL = "https://tiles.example.org/{z}/{x}/{y}.png"

    response = alice_browser.get(f"/workouts/{alice_data['workouts'][0].public_id}")

    assert chart_data(response, "route-data")["tiles"] == "https://tiles.example.org/{z}/{x}/{y}.png"


def test_a_cursor_the_reads_refuse_is_a_400_page(alice_browser, alice_data):
    response = alice_browser.get("/syncs?cursor=not-a-cursor")

    assert response.status_code == 400
    assert "This cannot be shown" in response.content.decode()
