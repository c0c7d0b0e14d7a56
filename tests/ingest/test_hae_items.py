"""Decoding Health Auto Export items into typed rows, and rendering stored rows back: no database."""

from __future__ import annotations

import datetime as dt

import msgspec
import orjson
import pytest

from healthexport.lib.errors import InvalidPayload
from ingest.hae.document import parse_payload
from ingest.hae.items import metric_rows, record_rows, workout_rows
from ingest.hae.render import export_items
from ingest.report import IngestReport
from ingest.rows import BloodPressureRow, HealthRecordRow, SampleRow, SleepNightRow, SleepStageRow
from metrics.export import StoredItem, StoredSample, StoredSleepStage
from metrics.models import SleepNight

UTC = dt.UTC


def raw_items(*items: object) -> list[msgspec.Raw]:
    return [msgspec.Raw(orjson.dumps(item)) for item in items]


def rows_of(name: str, units: str, *items: object, metric_unit: str = "", report: IngestReport | None = None) -> list:
    report = report if report is not None else IngestReport()
    return list(
        metric_rows(
            name=name, units=units, items=raw_items(*items), metric_id=7, metric_unit=metric_unit, report=report
        )
    )


def test_quantity_items_become_sample_rows_in_the_canonical_unit():
    rows = rows_of(
        "walking_running_distance",
        "mi",
        {"date": "2024-09-03 06:15:00 -0700", "qty": 1, "source": "iPhone"},
        metric_unit="km",
    )
    assert rows == [
        SampleRow(
            metric_id=7,
            start=dt.datetime(2024, 9, 3, 13, 15, tzinfo=UTC),
            source="iPhone",
            end=None,
            qty=pytest.approx(1.609344),
            min=None,
            max=None,
            unit="mi",
            utc_offset=-420,
            context="",
            source_version="",
            device="",
        )
    ]


def test_a_bad_item_is_reported_with_its_place_and_its_neighbours_kept():
    report = IngestReport()
    rows = rows_of(
        "heart_rate",
        "count/min",
        {"date": "2024-09-03 06:15:00 +0200", "Min": 50, "Avg": 60, "Max": 70},
        {"date": "not a date", "qty": 61},
        {"date": "2024-09-03 06:16:00 +0200", "qty": 62},
        metric_unit="count/min",
        report=report,
    )
    assert [(row.qty, row.min, row.max) for row in rows] == [(60, 50, 70), (62, None, None)]
    assert report.metrics["heart_rate"].rejected == 1
    assert report.errors[0]["code"] == "invalid_date"
    assert report.errors[0]["where"] == {"section": "metrics", "metric": "heart_rate", "index": 1, "field": "date"}


def test_a_repeated_item_is_yielded_twice_for_the_writers_to_count():
    item = {"date": "2024-09-03 06:15:00 +0000", "qty": 3}
    assert len(rows_of("step_count", "count", item, item, metric_unit="count")) == 2


def test_blood_pressure_and_sleep_items_become_rows_of_their_own_tables():
    pressure = rows_of(
        "blood_pressure", "mmHg", {"date": "2024-09-03 07:00:00 +0000", "systolic": 120, "diastolic": 80}
    )
    assert pressure == [
        BloodPressureRow(dt.datetime(2024, 9, 3, 7, tzinfo=UTC), "", 120.0, 80.0, "mmHg", 0),
    ]
    sleep = rows_of(
        "sleep_analysis",
        "hr",
        {"date": "2024-09-03", "totalSleep": 7.5, "deep": 1.25, "sleepStart": "2024-09-02 23:10:00 +0200"},
        {"startDate": "2024-09-02 23:10:00 +0200", "endDate": "2024-09-02 23:40:00 +0200", "qty": 0.5, "value": "Core"},
        metric_unit="hr",
    )
    night, stage = sleep
    assert isinstance(night, SleepNightRow) and isinstance(stage, SleepStageRow)
    assert (night.night, night.total_sleep, night.deep, night.utc_offset) == (dt.date(2024, 9, 3), 7.5, 1.25, 120)
    assert night.session_start == dt.datetime(2024, 9, 2, 21, 10, tzinfo=UTC)
    assert (stage.stage, stage.qty, stage.end - stage.start) == ("Core", 0.5, dt.timedelta(minutes=30))


def test_other_sections_become_records_keyed_by_their_natural_key():
    report = IngestReport()
    items = raw_items({"start": "2024-09-03 07:00:00 +0000", "name": "Headache", "source": "iPhone"}, [1, 2])
    rows = list(record_rows("symptoms", items, report))
    assert len(rows) == 1 and isinstance(rows[0], HealthRecordRow)
    assert rows[0].natural_key == "2024-09-03 07:00:00 +0000|Headache|iPhone"
    assert rows[0].start == dt.datetime(2024, 9, 3, 7, tzinfo=UTC)
    assert report.other["symptoms"].received == 2 and report.other["symptoms"].rejected == 1


def test_a_workout_repeated_in_the_body_is_counted_once():
    workout = {"id": "w1", "name": "Walk", "start": "2024-09-03 07:00:00 +0000", "end": "2024-09-03 07:30:00 +0000"}
    report = IngestReport()
    rows = workout_rows(raw_items(workout, workout), report)
    assert [row.fields["external_id"] for row in rows] == ["w1"]
    assert report.workouts.duplicates == 1


def test_the_body_is_split_into_metrics_once():
    body = orjson.dumps({"data": {"metrics": [{"name": "step_count", "data": [{"qty": 1}]}, 5, {"name": "x"}]}})
    parts = parse_payload(body).metrics
    assert [(part.index, part.header and part.header.name, part.items) for part in parts] == [
        (0, "step_count", [msgspec.Raw(b'{"qty":1}')]),
        (1, None, None),
        (2, "x", []),
    ]
    with pytest.raises(InvalidPayload):
        parse_payload(b'{"data": {"metrics": 3}}')


def render_then_decode(name: str, units: str, row: object, metric_unit: str) -> list:
    (exported,) = export_items(iter([StoredItem("metrics", name, units, row)]))
    return rows_of(name, exported.units, exported.item, metric_unit=metric_unit)


def test_a_rendered_sample_decodes_to_the_row_it_came_from():
    start = dt.datetime(2024, 9, 3, 4, 15, tzinfo=UTC)
    stored = StoredSample(start, None, 120, 60.0, 50.0, 71.0, "Watch", "")
    (row,) = render_then_decode("heart_rate", "count/min", stored, "count/min")
    assert row == SampleRow(7, start, "Watch", None, 60.0, 50.0, 71.0, "count/min", 120, "", "", "")
    glucose = StoredSample(start, None, 0, 95.0, None, None, "Meter", "Before Meal")
    (row,) = render_then_decode("blood_glucose", "mg/dL", glucose, "mg/dL")
    assert row.context == "Before Meal"


def test_rendered_sleep_decodes_to_the_rows_it_came_from():
    begin = dt.datetime(2024, 9, 2, 21, 10, tzinfo=UTC)
    night = SleepNight(
        night=dt.date(2024, 9, 3),
        source="Watch",
        session_start=begin,
        total_sleep=7.5,
        deep=1.25,
        sleep_start=begin,
        utc_offset=120,
        extra={"sleepSource": "Watch"},
    )
    (row,) = render_then_decode("sleep_analysis", "hr", night, "hr")
    assert (row.total_sleep, row.deep, row.sleep_start, row.session_start, row.utc_offset) == (
        7.5,
        1.25,
        begin,
        begin,
        120,
    )
    assert row.extra == {"sleepSource": "Watch"}
    stage = StoredSleepStage(begin, begin + dt.timedelta(minutes=30), 120, 0.5, "Deep", "Watch")
    (row,) = render_then_decode("sleep_analysis", "hr", stage, "hr")
    assert row == SleepStageRow(begin, "Watch", "Deep", begin + dt.timedelta(minutes=30), 0.5, "hr", 120)
