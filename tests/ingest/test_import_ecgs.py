"""An archive's ECG CSVs are stored a batch at a time: memory does not grow with their number."""

from __future__ import annotations

import tracemalloc
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from ingest.models import AppleImport
from metrics.models import HealthRecord
from tests.ingest.apple_helpers import archive_with_ecgs

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

ECGS = 60
SAMPLES = 10_000  # each: 600,000 voltage samples in all, ~19 MB as Python floats held at once
BATCH = 20_000


def import_archive(path: Path, username: str) -> dict:
    call_command("import_apple_health", str(path), "--user", username, stdout=StringIO(), stderr=StringIO())
    return AppleImport.objects.filter(user__username=username).latest("created_at").counts


def test_many_ecgs_are_stored_each_once_without_being_held_together(alice, tmp_path, settings):
    settings.IMPORT_ECG_BATCH_SAMPLES = BATCH
    path = archive_with_ecgs(tmp_path / "export.zip", ECGS, SAMPLES)
    tracemalloc.start()
    try:
        counts = import_archive(path, "alice")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Held together, the samples alone would take 32 bytes each (a float and its place in a list):
    # 19 MB, and the old import peaked at 23 MB; a batch at a time, it peaks at ~4 MB.
    assert peak < ECGS * SAMPLES * 32 / 3
    ecg = counts["other"]["ecg"]
    assert ecg == {"received": ECGS + 1, "stored": ECGS, "updated": 0, "duplicates": 0, "rejected": 1}
    assert [e["code"] for e in counts["errors"]] == ["invalid_date"]
    undated = "apple_health_export/electrocardiograms/ecg_undated.csv"
    assert counts["errors"][0]["where"] == {"type": "ecg", "file": undated}
    stored = HealthRecord.objects.filter(user=alice, section="ecg").order_by("start")
    assert [r.payload["sampleCount"] for r in stored] == [SAMPLES] * ECGS
    assert stored.first().payload["voltageMeasurements"][:2] == [-300.0, -299.269]
    assert AppleImport.objects.get(user=alice).ecgs_done == ECGS  # the last stored file's batch


def test_importing_the_ecgs_again_stores_nothing(alice, tmp_path, settings):
    settings.IMPORT_ECG_BATCH_SAMPLES = BATCH
    path = archive_with_ecgs(tmp_path / "export.zip", ECGS, SAMPLES)
    import_archive(path, "alice")
    again = import_archive(path, "alice")["other"]["ecg"]
    assert again == {"received": ECGS + 1, "stored": 0, "updated": 0, "duplicates": ECGS, "rejected": 1}
    assert HealthRecord.objects.filter(user=alice, section="ecg").count() == ECGS
