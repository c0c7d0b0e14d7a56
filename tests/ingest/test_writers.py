"""Writing typed rows into their tables, without any format: compared, counted, streamed."""

from __future__ import annotations

import datetime as dt

import pytest

from ingest.report import Counts
from ingest.rows import HealthRecordRow, SampleRow
from ingest.writers import (
    HEALTH_RECORDS,
    SAMPLES,
    RowBatch,
    RowCollector,
    WrittenSpans,
    new_row_stream,
    unstored_spans,
    write_rows,
)
from metrics.models import HealthRecord, MetricType, Sample

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]
T0 = dt.datetime(2024, 9, 3, 6, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def steps():
    return MetricType.objects.get_or_create(name="step_count", owner=None, defaults={"unit": "count"})[0]


@pytest.fixture
def flights():
    return MetricType.objects.get_or_create(name="flights_climbed", owner=None, defaults={"unit": "count"})[0]


def sample(metric: MetricType, minute: int, qty: float) -> SampleRow:
    return SampleRow(metric.id, T0 + minute * MINUTE, "iPhone", None, qty, None, None, "count", 120, "", "", "")


def stored(user) -> list[tuple]:
    return list(Sample.objects.filter(user=user).order_by("metric_id", "start").values_list("metric_id", "qty"))


def batch_write(user, rows: list[SampleRow], ingestion_id: int = 1) -> tuple[Counts, WrittenSpans]:
    counts, written = Counts(), WrittenSpans()
    batch = RowBatch(user_id=user.pk, ingestion_id=ingestion_id, samples_written=written)
    for row in rows:
        batch.add(row, counts)
    batch.flush()
    return counts, written


def test_new_rows_are_stored_and_a_resend_is_all_duplicates(alice, steps, flights):
    rows = [sample(steps, 0, 10), sample(steps, 1, 12), sample(flights, 0, 2)]
    counts, written = batch_write(alice, rows)
    assert (counts.stored, counts.duplicates, counts.updated) == (3, 0, 0)
    assert stored(alice) == sorted([(steps.id, 10.0), (steps.id, 12.0), (flights.id, 2.0)])
    assert written.spans == {(steps.id,): (T0, T0 + MINUTE), (flights.id,): (T0, T0)}
    again, written = batch_write(alice, rows, ingestion_id=2)
    assert (again.stored, again.duplicates, again.updated) == (0, 3, 0)
    assert written.spans == {}


def test_a_changed_value_updates_the_row_and_names_the_ingestion(alice, steps):
    batch_write(alice, [sample(steps, 0, 10)])
    counts, written = batch_write(alice, [sample(steps, 0, 11), sample(steps, 0, 11)], ingestion_id=5)
    assert (counts.stored, counts.updated, counts.duplicates) == (0, 1, 1)
    assert list(Sample.objects.filter(user=alice).values_list("qty", "ingestion_id")) == [(11.0, 5)]
    assert written.spans == {(steps.id,): (T0, T0)}


def test_rows_of_other_users_are_neither_compared_nor_touched(alice, bob, steps):
    batch_write(bob, [sample(steps, 0, 99)])
    counts, _ = batch_write(alice, [sample(steps, 0, 10)])
    assert counts.stored == 1
    assert stored(bob) == [(steps.id, 99.0)] and stored(alice) == [(steps.id, 10.0)]


def test_records_are_compared_by_key_and_hash(alice):
    counts = Counts()
    row = HealthRecordRow("symptoms", "k1", T0, {"name": "Headache"}, "a" * 64)
    write_rows(HEALTH_RECORDS, user_id=alice.pk, ingestion_id=1, rows=_collected(HEALTH_RECORDS, [row], counts))
    changed = row._replace(payload={"name": "Migraine"}, content_hash="b" * 64)
    write_rows(HEALTH_RECORDS, user_id=alice.pk, ingestion_id=2, rows=_collected(HEALTH_RECORDS, [changed], counts))
    assert (counts.stored, counts.updated) == (1, 1)
    assert list(HealthRecord.objects.filter(user=alice).values_list("payload", flat=True)) == [{"name": "Migraine"}]


def _collected(spec, rows, counts):
    collector = RowCollector(spec)
    for row in rows:
        collector.add(row, counts)
    return collector.values()


def test_only_spans_with_nothing_stored_are_fresh(alice, steps, flights):
    batch_write(alice, [sample(steps, 0, 10)])
    span = (T0 - MINUTE, T0 + MINUTE)
    assert unstored_spans(SAMPLES, user_id=alice.pk, spans={(steps.id,): span, (flights.id,): span}) == {
        (flights.id,): span
    }


def test_a_fresh_span_streams_its_rows_and_compares_those_outside_it(alice, steps):
    batch_write(alice, [sample(steps, 60, 1)])  # stored before, outside the span streamed below
    counts = Counts()
    spans = {(steps.id,): (T0, T0 + 10 * MINUTE)}
    with new_row_stream(SAMPLES, user_id=alice.pk, ingestion_id=3, spans=spans) as stream:
        for row in (sample(steps, 0, 5), sample(steps, 0, 5), sample(steps, 1, 6), sample(steps, 1, 7)):
            stream.add(row, counts)
        stream.add(sample(steps, 60, 1), counts)  # outside: compared with the table, a duplicate
    assert (counts.stored, counts.duplicates, counts.updated) == (2, 2, 1)
    assert stored(alice) == [(steps.id, 5.0), (steps.id, 7.0), (steps.id, 1.0)]
