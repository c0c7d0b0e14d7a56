"""Migration 0012: the metric types of before (unit fixed by the first sender) and their samples
are brought to what units mean now, keeping every value."""

from __future__ import annotations

import datetime as dt
import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from metrics.models import MetricType, Sample, SampleRollup

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]
migration = importlib.import_module("metrics.migrations.0015_units_from_the_catalog")
T0 = dt.datetime(2024, 9, 3, 8, tzinfo=dt.UTC)


def legacy(name: str, unit: str, aggregation: str = "average") -> MetricType:
    return MetricType.objects.create(name=name, unit=unit, aggregation=aggregation)


def store(user, metric: MetricType, *rows: tuple[float, str]) -> None:
    Sample.objects.bulk_create(
        Sample(
            user=user,
            metric=metric,
            start=T0 + dt.timedelta(minutes=minute),
            qty=qty,
            unit=unit,
            utc_offset=0,
            ingestion_id=1,
        )
        for minute, (qty, unit) in enumerate(rows)
    )


def values(user, metric_id: int) -> list[tuple[float, str]]:
    rows = Sample.objects.filter(user=user, metric_id=metric_id).order_by("start")
    return [(round(row.qty, 6), row.unit) for row in rows]


def migrate() -> None:
    migration.forwards(apps, SimpleNamespace(connection=connection))


def test_known_metrics_get_their_catalog_unit_and_values_in_it(alice, bob):
    distance = legacy("walking_running_distance", "mi", "sum")
    store(alice, distance, (1, "mi"), (1.609344, "km"))  # stored in mi, the first sender's unit
    vo2 = legacy("vo2_max", "mL/kg/min")
    store(bob, vo2, (42, "mL/kg/min"))
    steps = legacy("step_count", "", "sum")
    store(alice, steps, (500, ""))
    migrate()
    distance.refresh_from_db()
    assert distance.unit == "km"
    assert values(alice, distance.pk) == [(1.609344, "mi"), (2.589988, "km")]
    assert SampleRollup.objects.get(user=alice, metric=distance).total == pytest.approx(1.609344 + 2.589988)
    assert MetricType.objects.get(pk=vo2.pk).unit == "ml/(kg·min)"
    assert values(bob, vo2.pk) == [(42, "mL/kg/min")]
    assert MetricType.objects.get(pk=steps.pk).unit == "count"
    assert values(alice, steps.pk) == [(500, "")]


def test_values_of_another_dimension_are_kept_apart_per_user(alice, bob):
    heart_rate = legacy("heart_rate", "ms")
    store(bob, heart_rate, (2, "ms"), (3000, "s"))  # the second converted into ms when stored
    migrate()
    assert MetricType.objects.get(pk=heart_rate.pk).unit == "count/min"
    assert not Sample.objects.filter(metric=heart_rate).exists()
    assert not SampleRollup.objects.filter(metric=heart_rate).exists()
    apart = MetricType.objects.get(owner=bob, name="heart_rate_unconverted")
    assert apart.unit == ""
    assert values(bob, apart.pk) == [(2, "ms"), (3, "s")]
    assert SampleRollup.objects.get(user=bob, metric=apart).count == 2
    assert not MetricType.objects.filter(owner=alice).exists()


def test_unknown_metrics_keep_each_value_in_the_unit_it_was_sent_in(alice):
    gadget = legacy("gadget_time", "min", "sum")
    store(alice, gadget, (90, "min"), (120, "hr"))  # 2 hr, stored as 120 min
    migrate()
    gadget.refresh_from_db()
    assert (gadget.unit, gadget.owner_id) == ("", None)
    assert values(alice, gadget.pk) == [(90, "min"), (2, "hr")]
    assert SampleRollup.objects.get(user=alice, metric=gadget).total == pytest.approx(92)
