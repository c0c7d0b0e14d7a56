from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from prometheus_client import REGISTRY

from healthexport.lib import partitions
from healthexport.lib.prometheus import refresh_database_gauges
from metrics.models import Sample

pytestmark = [pytest.mark.django_db, pytest.mark.postgres_only]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("partitions are PostgreSQL only")


def _rows_in(partition: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{partition}"')  # noqa: S608
        return cursor.fetchone()[0]


def _every_month(first_year: int, last_year: int) -> list[tuple[int, int]]:
    return [(year, month) for year in range(first_year, last_year + 1) for month in range(1, 13)]


def test_an_export_with_a_sample_and_a_workout_every_month_since_1970_creates_no_partition(alice, alice_client):
    """One export once took metrics_sample from 24 to 676 partitions and ran PostgreSQL out of locks."""
    months = _every_month(1970, 2025)
    samples = [{"date": f"{y}-{m:02d}-15 08:00:00 +0000", "qty": 1, "source": "iPhone"} for y, m in months]
    workouts = [
        {
            "id": f"W{y}{m:02d}",
            "name": "Walk",
            "start": f"{y}-{m:02d}-15 08:00:00 +0000",
            "end": f"{y}-{m:02d}-15 09:00:00 +0000",
        }
        for y, m in months
    ]
    export = {"data": {"metrics": [{"name": "step_count", "units": "count", "data": samples}], "workouts": workouts}}
    before = {table: partitions.list_partitions(table) for table in ("metrics_sample", "metrics_workout")}

    response = alice_client.post("/v1/ingest", export, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["metrics"]["step_count"]["stored"] == len(months) == 672
    assert response.json()["workouts"]["stored"] == 672
    for table, partitions_before in before.items():
        assert partitions.list_partitions(table) == partitions_before
        # One before 2014, one per past year, this year's months and three ahead: a few dozen at most.
        assert len(partitions_before) <= 1 + (timezone.now().year - 2014) + 12 + partitions.AHEAD_MONTHS
    assert _rows_in("metrics_sample_before_2014") == 44 * 12
    assert _rows_in("metrics_workout_before_2014") == 44 * 12
    assert _rows_in("metrics_sample_p2025") == 12
    assert Sample.objects.filter(user=alice).count() == 672


def test_ensure_partitions_keeps_every_partitioned_table_ahead():
    out = StringIO()
    call_command("ensure_partitions", stdout=out)
    line = out.getvalue().strip()
    assert line.startswith("Created ")
    assert "metrics_sample 3 month(s) ahead" in line
    assert "audit_auditevent 3 month(s) ahead" in line


def test_the_partitions_ahead_gauge_is_exported():
    refresh_database_gauges(force=True)
    assert REGISTRY.get_sample_value("healthexport_partitions_ahead", {"table": "metrics_sample"}) == 3
