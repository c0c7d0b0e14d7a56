"""An Apple Health import and the app's own exports describe the same samples: each is stored once."""

from __future__ import annotations

import zipfile
from io import StringIO

import pytest
from django.core.management import call_command

from ingest.apple.parse import iter_elements
from ingest.models import AppleImport
from metrics.models import Sample
from tests.ingest.apple_helpers import SMALL_ZIP

pytestmark = pytest.mark.django_db

HAE_METRICS = {
    "HKQuantityTypeIdentifierHeartRate": ("heart_rate", "count/min"),
    "HKQuantityTypeIdentifierStepCount": ("step_count", "count"),
}


def hae_export() -> dict:
    """What Health Auto Export sends for the archive's heart rate and steps (unaggregated)."""
    metrics: dict[str, list] = {name: [] for name, _ in HAE_METRICS.values()}
    with zipfile.ZipFile(SMALL_ZIP) as archive, archive.open("apple_health_export/export.xml") as xml:
        for node in iter_elements(xml):
            kind = node.attrs.get("type")
            if node.tag != "Record" or kind not in HAE_METRICS:
                continue
            item = {"date": node.attrs["startDate"], "source": node.attrs["sourceName"]}
            value = float(node.attrs["value"])
            if kind.endswith("HeartRate"):
                item |= {"Avg": value, "Min": value, "Max": value}
            else:
                item["qty"] = value
            metrics[HAE_METRICS[kind][0]].append(item)
    units = dict(HAE_METRICS.values())
    return {"data": {"metrics": [{"name": n, "units": units[n], "data": d} for n, d in metrics.items()]}}


def import_archive(username: str) -> dict:
    call_command("import_apple_health", str(SMALL_ZIP), "--user", username, stdout=StringIO(), stderr=StringIO())
    return AppleImport.objects.filter(user__username=username).latest("created_at").counts


def rows(user) -> set[tuple]:
    return set(
        Sample.objects.filter(user=user, metric__name__in=["heart_rate", "step_count"]).values_list(
            "metric__name", "start", "source", "qty", "min", "max", "end"
        )
    )


def test_app_then_import_and_import_then_app_leave_the_same_rows(alice, alice_client, bob, bob_client):
    body = hae_export()
    assert alice_client.post("/v1/ingest", body, format="json").status_code == 200
    counts = import_archive("alice")
    heart = counts["records"]["HKQuantityTypeIdentifierHeartRate"]
    assert heart["duplicates"] == heart["received"] == 1227 and heart["stored"] == 0
    assert counts["records"]["HKQuantityTypeIdentifierStepCount"]["stored"] == 0

    import_archive("bob")
    answer = bob_client.post("/v1/ingest", body, format="json").json()
    # The app's items are its own rows' newer version (its Min/Max, no end time): updated, never a second row.
    assert answer["metrics"]["step_count"]["stored"] == answer["metrics"]["heart_rate"]["stored"] == 0

    assert rows(alice) == rows(bob)
    assert len(rows(alice)) == 1227 + 222
