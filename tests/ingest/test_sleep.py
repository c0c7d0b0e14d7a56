"""Sleep kept exactly and readable: sessions of one night, stage segments of one instant, the
``start``/``end`` spelling of segments, and reading them all back (nights, stages, export)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import orjson
import pytest

from metrics.models import SleepNight, SleepStage
from tests.ingest.helpers import counts_add_up

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]
UTC = dt.UTC

# One night broken by waking (two sessions) and an afternoon nap: three items, one `date`.
SESSIONS = [
    {
        "date": "2026-06-12 00:00:00 +0200",
        "sleepStart": "2026-06-11T22:00:00Z",
        "sleepEnd": "2026-06-12T00:10:00Z",
        "inBedStart": "2026-06-11T22:00:00Z",
        "inBedEnd": "2026-06-12T00:10:00Z",
        "core": 1.5,
        "rem": 0.3,
        "deep": 0.3,
        "awake": 0.1,
        "inBed": 2.1,
        "source": "Stefan's Apple Watch",
    },
    {
        "date": "2026-06-12 00:00:00 +0200",
        "sleepStart": "2026-06-12T00:20:00Z",
        "sleepEnd": "2026-06-12T02:30:00Z",
        "inBedStart": "2026-06-12T00:20:00Z",
        "inBedEnd": "2026-06-12T02:30:00Z",
        "core": 1.2,
        "rem": 0.6,
        "deep": 0.3,
        "awake": 0.1,
        "inBed": 2.2,
        "source": "Stefan's Apple Watch",
    },
    {
        "date": "2026-06-12 00:00:00 +0200",
        "sleepStart": "2026-06-12T12:00:00Z",
        "sleepEnd": "2026-06-12T12:40:00Z",
        "inBedStart": "2026-06-12T11:55:00Z",
        "inBedEnd": "2026-06-12T12:45:00Z",
        "core": 0.6,
        "rem": 0,
        "deep": 0.07,
        "awake": 0.05,
        "inBed": 0.83,
        "source": "Stefan's Apple Watch",
    },
]
# In Bed and Core start at the same instant.
STAGES = [
    {
        "startDate": "2026-05-10 23:00:00 -0500",
        "endDate": "2026-05-11 07:00:00 -0500",
        "qty": 8,
        "value": "In Bed",
        "source": "Apple Watch",
    },
    {
        "startDate": "2026-05-10 23:00:00 -0500",
        "endDate": "2026-05-10 23:40:00 -0500",
        "qty": 0.6667,
        "value": "Core",
        "source": "Apple Watch",
    },
    {
        "startDate": "2026-05-10 23:40:00 -0500",
        "endDate": "2026-05-11 00:10:00 -0500",
        "qty": 0.5,
        "value": "Deep",
        "source": "Apple Watch",
    },
]


def export_of(items: list[dict]) -> dict:
    return {"data": {"metrics": [{"name": "sleep_analysis", "units": "hr", "data": items}]}}


def post(client, body: bytes) -> dict:
    response = client.post("/v1/ingest", data=body, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def send_first(client, document: dict) -> tuple[bytes, dict]:
    """The first upload of ``document``: every item stored, the counts adding up."""
    body = json.dumps(document).encode()
    answer = post(client, body)
    received = len(document["data"]["metrics"][0]["data"])
    assert answer["status"] == "processed" and answer["errors"] == []
    assert answer["metrics"]["sleep_analysis"] == counts(received, stored=received)
    assert counts_add_up(answer)
    return body, answer


def reserialised(document: dict) -> bytes:
    """The same items, every object's keys in reverse order, other whitespace."""

    def flip(value):
        if isinstance(value, dict):
            return {key: flip(value[key]) for key in reversed(value)}
        if isinstance(value, list):
            return [flip(v) for v in value]
        return value

    return json.dumps(flip(document), indent=3, separators=(" ,", " : ")).encode()


def counts(received: int, stored: int = 0, updated: int = 0, duplicates: int = 0, rejected: int = 0) -> dict:
    return {"received": received, "stored": stored, "updated": updated, "duplicates": duplicates, "rejected": rejected}


def assert_resends_add_nothing(client, document: dict, body: bytes, first: dict, model, received: int) -> None:
    """A byte-identical re-send is a duplicate; a re-serialised one stores and updates nothing."""
    before = sorted(model.objects.values_list("id", "ingestion_id"))
    again = post(client, body)
    assert again["status"] == "duplicate" and again["duplicate_of"] == first["ingestion_id"]
    other = post(client, reserialised(document))
    assert other["status"] == "processed" and other["duplicate_of"] is None
    assert other["metrics"]["sleep_analysis"] == counts(received, duplicates=received)
    assert sorted(model.objects.values_list("id", "ingestion_id")) == before


def read_all(client, url: str) -> list[dict]:
    """Every item of a raw read, following ``next`` to the end."""
    items = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        items += response.json()["items"]
        url = response.json()["next"]
    return items


# --- 1. Several sessions of one night -------------------------------------------------------


def test_every_session_of_a_night_is_kept_once_and_the_night_adds_them_up(alice, alice_client, monkeypatch):
    document = export_of(SESSIONS)

    body, first = send_first(alice_client, document)

    rows = SleepNight.objects.filter(user=alice).order_by("session_start")
    assert [(r.night, r.session_start, r.sleep_end, r.core, r.in_bed) for r in rows] == [
        (
            dt.date(2026, 6, 12),
            dt.datetime(2026, 6, 11, 22, tzinfo=UTC),
            dt.datetime(2026, 6, 12, 0, 10, tzinfo=UTC),
            1.5,
            2.1,
        ),
        (
            dt.date(2026, 6, 12),
            dt.datetime(2026, 6, 12, 0, 20, tzinfo=UTC),
            dt.datetime(2026, 6, 12, 2, 30, tzinfo=UTC),
            1.2,
            2.2,
        ),
        (
            dt.date(2026, 6, 12),
            dt.datetime(2026, 6, 12, 12, tzinfo=UTC),
            dt.datetime(2026, 6, 12, 12, 40, tzinfo=UTC),
            0.6,
            0.83,
        ),
    ]
    assert {r.source for r in rows} == {"Stefan's Apple Watch"}

    assert_resends_add_nothing(alice_client, document, body, first, SleepNight, 3)

    monkeypatch.setattr("metrics.queries.PAGE_SIZE", 1)
    nights = read_all(alice_client, "/v1/metrics/sleep_analysis")
    assert len(nights) == 1
    night = nights[0]
    assert (night["night"], night["source"], night["unit"]) == ("2026-06-12", "Stefan's Apple Watch", "hr")
    assert night["core"] == pytest.approx(3.3) and night["in_bed"] == pytest.approx(5.13)
    assert night["rem"] == pytest.approx(0.9) and night["total_sleep"] is None
    # Local times in the offset of the night's date: the first start, the last end.
    assert (night["sleep_start"], night["sleep_end"]) == ("2026-06-12T00:00:00+02:00", "2026-06-12T14:40:00+02:00")
    assert (night["in_bed_start"], night["in_bed_end"]) == ("2026-06-12T00:00:00+02:00", "2026-06-12T14:45:00+02:00")
    assert [s["sleep_start"] for s in night["sessions"]] == [
        "2026-06-12T00:00:00+02:00",
        "2026-06-12T02:20:00+02:00",
        "2026-06-12T14:00:00+02:00",
    ]
    assert [s["core"] for s in night["sessions"]] == [1.5, 1.2, 0.6]


def test_a_grown_session_updates_only_itself(alice, alice_client):
    post(alice_client, json.dumps(export_of(SESSIONS)).encode())
    grown = [*SESSIONS[:2], {**SESSIONS[2], "sleepEnd": "2026-06-12T13:10:00Z", "core": 1.1}]

    answer = post(alice_client, json.dumps(export_of(grown)).encode())

    assert answer["metrics"]["sleep_analysis"] == counts(3, updated=1, duplicates=2)
    nap = SleepNight.objects.get(user=alice, session_start=dt.datetime(2026, 6, 12, 12, tzinfo=UTC))
    assert (nap.core, nap.sleep_end) == (1.1, dt.datetime(2026, 6, 12, 13, 10, tzinfo=UTC))
    assert SleepNight.objects.filter(user=alice).count() == 3


def test_nights_sent_without_session_times_are_one_item_per_night_and_source(alice, alice_client):
    """Older app versions: no sleepStart/inBedStart, one item per night and source."""
    nights = [
        {"date": "2026-06-10", "asleep": 6.5, "inBed": 7.0, "source": "iPhone"},
        {"date": "2026-06-11", "asleep": 7.25, "inBed": 7.5, "source": "iPhone"},
        {"date": "2026-06-11", "asleep": 7.5, "inBed": 7.75, "source": "iPhone"},  # the later one wins
    ]
    document = export_of(nights)
    body = json.dumps(document).encode()

    first = post(alice_client, body)

    assert first["metrics"]["sleep_analysis"] == counts(3, stored=2, updated=1)
    rows = SleepNight.objects.filter(user=alice).order_by("night")
    assert [(r.night, r.asleep, r.sleep_start) for r in rows] == [
        (dt.date(2026, 6, 10), 6.5, None),
        (dt.date(2026, 6, 11), 7.5, None),
    ]
    again = post(alice_client, body)
    assert again["status"] == "duplicate"
    other = post(alice_client, reserialised(document))
    assert other["metrics"]["sleep_analysis"] == counts(3, updated=1, duplicates=2)  # the in-body repeat
    assert list(SleepNight.objects.filter(user=alice).order_by("night").values_list("asleep", flat=True)) == [6.5, 7.5]
    read = alice_client.get("/v1/metrics/sleep_analysis").json()["items"]
    assert [(n["night"], n["asleep"], len(n["sessions"])) for n in read] == [
        ("2026-06-10", 6.5, 1),
        ("2026-06-11", 7.5, 1),
    ]


def test_sessions_of_two_sources_make_two_nights(alice, alice_client):
    other_source = [{**session, "source": "iPhone"} for session in SESSIONS[:1]]
    post(alice_client, json.dumps(export_of([*SESSIONS, *other_source])).encode())

    nights = alice_client.get("/v1/metrics/sleep_analysis?kind=nights").json()
    assert nights["kind"] == "nights"
    assert [(n["source"], len(n["sessions"])) for n in nights["items"]] == [("Stefan's Apple Watch", 3), ("iPhone", 1)]


# --- 2. Stage segments starting at the same instant -------------------------------------------


def test_stage_segments_of_one_instant_are_each_kept_once(alice, alice_client, monkeypatch):
    document = export_of(STAGES)

    body, first = send_first(alice_client, document)

    rows = SleepStage.objects.filter(user=alice).order_by("start", "end")
    assert [(r.start, r.end, r.stage, r.qty, r.unit, r.utc_offset, r.source) for r in rows] == [
        (
            dt.datetime(2026, 5, 11, 4, tzinfo=UTC),
            dt.datetime(2026, 5, 11, 4, 40, tzinfo=UTC),
            "Core",
            0.6667,
            "hr",
            -300,
            "Apple Watch",
        ),
        (
            dt.datetime(2026, 5, 11, 4, tzinfo=UTC),
            dt.datetime(2026, 5, 11, 12, tzinfo=UTC),
            "In Bed",
            8,
            "hr",
            -300,
            "Apple Watch",
        ),
        (
            dt.datetime(2026, 5, 11, 4, 40, tzinfo=UTC),
            dt.datetime(2026, 5, 11, 5, 10, tzinfo=UTC),
            "Deep",
            0.5,
            "hr",
            -300,
            "Apple Watch",
        ),
    ]

    assert_resends_add_nothing(alice_client, document, body, first, SleepStage, 3)

    # A page boundary between the two segments of 23:00 skips and repeats nothing.
    monkeypatch.setattr("metrics.queries.PAGE_SIZE", 1)
    stages = read_all(alice_client, "/v1/metrics/sleep_analysis?kind=stages")
    assert sorted((s["local_time"], s["stage"], s["qty"], s["source"]) for s in stages) == [
        ("2026-05-10T23:00:00-05:00", "Core", 0.6667, "Apple Watch"),
        ("2026-05-10T23:00:00-05:00", "In Bed", 8, "Apple Watch"),
        ("2026-05-10T23:40:00-05:00", "Deep", 0.5, "Apple Watch"),
    ]
    assert [s["start"] for s in stages] == sorted(s["start"] for s in stages)
    assert {s["end"] for s in stages} == {"2026-05-11T04:40:00Z", "2026-05-11T12:00:00Z", "2026-05-11T05:10:00Z"}


def test_a_changed_stage_segment_is_updated(alice, alice_client):
    post(alice_client, json.dumps(export_of(STAGES)).encode())
    longer = {**STAGES[1], "endDate": "2026-05-10 23:50:00 -0500", "qty": 0.8333}

    answer = post(alice_client, json.dumps(export_of([longer])).encode())

    assert answer["metrics"]["sleep_analysis"] == counts(1, updated=1)
    core = SleepStage.objects.get(user=alice, stage="Core")
    assert (core.qty, core.end) == (0.8333, dt.datetime(2026, 5, 11, 4, 50, tzinfo=UTC))


# --- 3. Reading the segments: kind=stages, export, schema --------------------------------------


def test_an_unknown_kind_is_refused_naming_the_parameter(alice, alice_client):
    post(alice_client, json.dumps(export_of(STAGES)).encode())

    response = alice_client.get("/v1/metrics/sleep_analysis?kind=segments")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_payload" and "kind" in error["message"]
    assert error["details"] == [{"field": "kind", "reason": "invalid_choice"}]


def test_kind_is_refused_for_a_metric_other_than_sleep(alice, alice_client):
    document = {
        "data": {
            "metrics": [
                {"name": "step_count", "units": "count", "data": [{"date": "2026-05-10 08:00:00 +0000", "qty": 5}]}
            ]
        }
    }
    post(alice_client, json.dumps(document).encode())

    response = alice_client.get("/v1/metrics/step_count?kind=stages")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == [{"field": "kind", "reason": "not_applicable"}]


def test_stage_segments_are_read_in_a_time_window_and_another_unit(alice, alice_client):
    post(alice_client, json.dumps(export_of(STAGES)).encode())

    response = alice_client.get("/v1/metrics/sleep_analysis?kind=stages&start=2026-05-11T04:30:00Z&unit=min")

    assert response.status_code == 200
    assert [(s["stage"], s["qty"], s["unit"]) for s in response.json()["items"]] == [("Deep", 30, "min")]


def test_the_export_carries_sessions_and_stage_segments_in_every_format(alice, alice_client):
    post(alice_client, json.dumps(export_of([*SESSIONS, *STAGES])).encode())

    def download(fmt: str) -> bytes:
        response = alice_client.get(f"/v1/export?format={fmt}")
        assert response.status_code == 200
        return b"".join(response.streaming_content)

    lines = [orjson.loads(line) for line in download("ndjson").splitlines()]
    sleep = [line["item"] for line in lines if line["name"] == "sleep_analysis"]
    assert sorted(item["sleepStart"] for item in sleep if "sleepStart" in item) == [
        "2026-06-12 00:00:00 +0200",
        "2026-06-12 02:20:00 +0200",
        "2026-06-12 14:00:00 +0200",
    ]
    assert sorted((item["startDate"], item["value"]) for item in sleep if "value" in item) == [
        ("2026-05-10 23:00:00 -0500", "Core"),
        ("2026-05-10 23:00:00 -0500", "In Bed"),
        ("2026-05-10 23:40:00 -0500", "Deep"),
    ]

    rows = list(csv.DictReader(io.StringIO(download("csv").decode())))
    stage_rows = [r for r in rows if r["name"] == "sleep_analysis" and r["context"]]
    assert sorted((r["date"], r["end"], r["qty"], r["context"]) for r in stage_rows) == [
        ("2026-05-10 23:00:00 -0500", "2026-05-10 23:40:00 -0500", "0.6667", "Core"),
        ("2026-05-10 23:00:00 -0500", "2026-05-11 07:00:00 -0500", "8.0", "In Bed"),
        ("2026-05-10 23:40:00 -0500", "2026-05-11 00:10:00 -0500", "0.5", "Deep"),
    ]
    assert len([r for r in rows if r["name"] == "sleep_analysis" and r["item"]]) == 3  # the sessions

    # hae is an export the ingest takes back as it is: everything in it is already stored.
    answer = post(alice_client, download("hae"))
    assert answer["metrics"]["sleep_analysis"] == counts(6, duplicates=6)


def test_the_schema_documents_kind(api_client):
    schema = api_client.get("/v1/schema", HTTP_ACCEPT="application/json").json()
    parameters = schema["paths"]["/v1/metrics/{name}"]["get"]["parameters"]
    kind = next(p for p in parameters if p["name"] == "kind")
    assert kind["schema"]["enum"] == ["nights", "stages"]


# --- 7. Stage segments written with start/end ------------------------------------------------


def test_stage_segments_may_say_start_and_end(alice, alice_client):
    items = [
        {"start": s["startDate"], "end": s["endDate"], **{k: v for k, v in s.items() if not k.endswith("Date")}}
        for s in STAGES
    ]
    document = export_of(items)

    body, first = send_first(alice_client, document)

    assert sorted(SleepStage.objects.filter(user=alice).values_list("stage", "start", "end")) == [
        ("Core", dt.datetime(2026, 5, 11, 4, tzinfo=UTC), dt.datetime(2026, 5, 11, 4, 40, tzinfo=UTC)),
        ("Deep", dt.datetime(2026, 5, 11, 4, 40, tzinfo=UTC), dt.datetime(2026, 5, 11, 5, 10, tzinfo=UTC)),
        ("In Bed", dt.datetime(2026, 5, 11, 4, tzinfo=UTC), dt.datetime(2026, 5, 11, 12, tzinfo=UTC)),
    ]
    assert_resends_add_nothing(alice_client, document, body, first, SleepStage, 3)
    # The same segments under the other spelling are the same segments.
    same = post(alice_client, json.dumps(export_of(STAGES)).encode())
    assert same["metrics"]["sleep_analysis"] == counts(3, duplicates=3)
    stages = alice_client.get("/v1/metrics/sleep_analysis?kind=stages").json()["items"]
    assert sorted(s["stage"] for s in stages) == ["Core", "Deep", "In Bed"]


@pytest.mark.parametrize(
    ("missing", "field", "named"),
    [(("startDate",), "startDate", "startDate (or start)"), (("endDate",), "endDate", "endDate (or end)")],
)
def test_a_stage_segment_without_a_date_names_the_missing_field(alice, alice_client, missing, field, named):
    broken = {k: v for k, v in STAGES[1].items() if k not in missing}

    answer = post(alice_client, json.dumps(export_of([STAGES[0], broken])).encode())

    assert answer["status"] == "partial"
    assert answer["metrics"]["sleep_analysis"] == counts(2, stored=1, rejected=1)
    [error] = answer["errors"]
    assert error["where"] == {"section": "metrics", "metric": "sleep_analysis", "index": 1, "field": field}
    assert error["message"] == f"{named} is missing"
    assert list(SleepStage.objects.filter(user=alice).values_list("stage", flat=True)) == ["In Bed"]


def test_a_segment_ending_before_it_starts_names_the_fields_it_has(alice, alice_client):
    backwards = {
        "start": "2026-05-10 23:40:00 -0500",
        "end": "2026-05-10 23:00:00 -0500",
        "qty": 0.6667,
        "value": "Core",
    }

    answer = post(alice_client, json.dumps(export_of([backwards])).encode())

    assert answer["metrics"]["sleep_analysis"] == counts(1, rejected=1)
    [error] = answer["errors"]
    assert (error["code"], error["message"], error["where"]["field"]) == (
        "end_before_start",
        "end is before start",
        "end",
    )
    assert not SleepStage.objects.filter(user=alice).exists()
