from __future__ import annotations

import gc
import zipfile
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ingest.apple.services import IMPORT_GC_THRESHOLDS, file_sha256, import_attempt, import_create
from ingest.models import AppleImport
from metrics.models import BloodPressure, HealthRecord, MetricType, RoutePoint, Sample, SleepStage, Workout
from tests.ingest.apple_helpers import SMALL_ZIP, adds_up, expected

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("import_apple_health", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def samples_of(user, name: str) -> int:
    return Sample.objects.filter(user=user, metric=MetricType.objects.get(name=name, owner=None)).count()


@pytest.mark.embedded
def test_it_imports_every_record_of_the_archive_once(alice):
    output = run(str(SMALL_ZIP), "--user", "alice")
    counts = AppleImport.objects.get(user=alice).counts
    want = expected()
    assert {kind: c["received"] for kind, c in counts["records"].items()} == want["records_by_type"]
    assert all(adds_up(c) for c in counts["records"].values())
    # The one exact duplicate line of the archive is the only record not stored.
    assert counts["records"]["HKQuantityTypeIdentifierBodyMass"]["duplicates"] == 1
    assert sum(c["stored"] for c in counts["records"].values()) == want["records_total"] - 1
    assert counts["workouts"]["stored"] == want["workouts_total"]
    assert counts["workouts"]["route_points"] == want["route_points"]
    assert counts["other"]["activity_summaries"]["stored"] == want["activity_summaries"]
    assert counts["other"]["ecg"]["stored"] == want["ecg_files"]
    assert output.startswith("Imported ") and "5256 stored" in output

    assert samples_of(alice, "heart_rate") == want["records_by_type"]["HKQuantityTypeIdentifierHeartRate"]
    assert samples_of(alice, "step_count") == want["records_by_type"]["HKQuantityTypeIdentifierStepCount"]
    assert (
        SleepStage.objects.filter(user=alice).count()
        == want["records_by_type"]["HKCategoryTypeIdentifierSleepAnalysis"]
    )
    assert (
        BloodPressure.objects.filter(user=alice).count()
        == want["correlations_by_type"]["HKCorrelationTypeIdentifierBloodPressure"]
    )
    assert Workout.objects.filter(user=alice).count() == want["workouts_total"]
    assert RoutePoint.objects.filter(workout__user=alice).count() == want["route_points"]
    ecg = HealthRecord.objects.filter(user=alice, section="ecg").order_by("start")
    assert [len(r.payload["voltageMeasurements"]) for r in ecg] == [15360, 15359]


@pytest.mark.embedded
def test_it_stores_values_in_the_units_of_post_v1_ingest(alice):
    run(str(SMALL_ZIP), "--user", "alice")
    spo2 = Sample.objects.filter(user=alice, metric__name="blood_oxygen_saturation").values_list("qty", flat=True)
    assert spo2 and all(80 <= value <= 100 for value in spo2)  # 0.97 with unit % is 97 %
    distances = Sample.objects.filter(user=alice, metric__name="walking_running_distance")
    assert {row.unit for row in distances} == {"mi"}  # as sent, the value in km
    first = distances.order_by("start").first()
    assert first.metric.unit == "km" and first.qty < 5
    stages = set(SleepStage.objects.filter(user=alice).values_list("stage", flat=True))
    assert stages == {"In Bed", "Asleep", "Awake", "Core", "Deep", "REM"}


@pytest.mark.embedded
def test_a_sample_keeps_the_version_of_its_source_and_its_device(alice):
    run(str(SMALL_ZIP), "--user", "alice")
    heart_rate = Sample.objects.filter(user=alice, metric__name="heart_rate").order_by("start").first()
    assert heart_rate.source.startswith("Anna") and heart_rate.source_version == "10.1"
    # Without the per-record memory address of the export's text.
    assert (
        heart_rate.device == "name:Apple Watch, manufacturer:Apple Inc., model:Watch, hardware:Watch6,2, software:10.1"
    )


def test_importing_the_same_archive_again_stores_nothing(alice):
    run(str(SMALL_ZIP), "--user", "alice")
    rows = Sample.objects.filter(user=alice).count()
    output = run(str(SMALL_ZIP), "--user", "alice")
    second = AppleImport.objects.filter(user=alice).order_by("-created_at").first().counts
    per_type = [*second["records"].values(), second["workouts"], *second["other"].values()]
    assert all(c["stored"] == 0 and c["updated"] == 0 and adds_up(c) for c in per_type)
    assert " 0 stored" in output
    assert Sample.objects.filter(user=alice).count() == rows
    assert Workout.objects.filter(user=alice).count() == expected()["workouts_total"]


def test_it_imports_a_bare_export_xml(alice, tmp_path):
    with zipfile.ZipFile(SMALL_ZIP) as archive:
        (tmp_path / "exportar.xml").write_bytes(archive.read("apple_health_export/export.xml"))
    run(str(tmp_path / "exportar.xml"), "--user", "alice")
    assert samples_of(alice, "heart_rate") == expected()["records_by_type"]["HKQuantityTypeIdentifierHeartRate"]


def test_it_refuses_a_file_that_is_no_export_in_one_line(alice, tmp_path):
    junk = tmp_path / "export.zip"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(CommandError, match=r"refused \(not_a_zip\)"):
        run(str(junk), "--user", "alice")
    assert not AppleImport.objects.exists()


def test_it_refuses_an_unknown_user_unless_asked_to_create_it(db):
    with pytest.raises(CommandError, match="nobody"):
        run(str(SMALL_ZIP), "--user", "nobody")
    assert "(new user)" in run(str(SMALL_ZIP), "--user", "nobody", "--create-user")


@pytest.mark.embedded
@pytest.mark.parametrize("content", [SMALL_ZIP.read_bytes(), b"<HealthData><Record"], ids=["done", "refused"])
def test_the_collector_runs_rarely_during_an_import_and_as_before_after_it(alice, tmp_path, content):
    path = tmp_path / "export.zip"
    path.write_bytes(content)
    apple_import = import_create(
        user=alice, path=path, size=len(content), sha256=file_sha256(path), owns_file=False, enqueue=False
    )
    before, seen = gc.get_threshold(), set()
    import_attempt(import_id=apple_import.pk, progress=lambda _: seen.add(gc.get_threshold()), watchdog=False)
    apple_import.refresh_from_db()
    if apple_import.status == "done":
        assert seen == {IMPORT_GC_THRESHOLDS}
    else:
        assert apple_import.error_code == "invalid_xml"
    assert gc.get_threshold() == before
