from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from prometheus_client import REGISTRY

from healthexport.lib import partitions
from healthexport.lib.prometheus import refresh_database_gauges
from ingest.services import ingest_export
from metrics.models import Sample

pytestmark = [pytest.mark.django_db, pytest.mark.postgres_only]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("partitions are PostgreSQL only")


def test_samples_of_an_old_month_get_their_partition_on_demand(alice):
    item = {"date": "2015-03-14 08:00:00 +0100", "qty": 10, "source": "iPhone"}
    body = json.dumps({"data": {"metrics": [{"name": "step_count", "units": "count", "data": [item]}]}}).encode()
    answer = ingest_export(user=alice, api_key=None, body=body)
    assert answer["metrics"]["step_count"]["stored"] == 1
    assert "metrics_sample_p2015_03" in {p.name for p in partitions.list_partitions("metrics_sample")}
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM metrics_sample_p2015_03")
        assert cursor.fetchone()[0] == Sample.objects.filter(user=alice).count() == 1


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
