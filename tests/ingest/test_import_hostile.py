"""Hostile archives are refused with a stable code, store nothing and are never expanded in memory."""

from __future__ import annotations

import stat
import zipfile
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from ingest.models import AppleImport
from metrics.models import HealthRecord, Sample, Workout

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n'
RECORD = (
    b'<Record type="HKQuantityTypeIdentifierHeartRate" sourceName="Watch" unit="count/min" '
    b'startDate="2023-11-04 07:53:00 -0700" endDate="2023-11-04 07:53:00 -0700" value="61"/>'
)


def archive(tmp_path: Path, entries: dict[str, bytes], name: str = "export.zip") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as packed:
        for entry, data in entries.items():
            packed.writestr(entry, data)
    return path


def refusal(path: Path) -> str:
    with pytest.raises(CommandError) as error:
        call_command("import_apple_health", str(path), "--user", "alice", stdout=StringIO(), stderr=StringIO())
    assert not Sample.objects.exists() and not HealthRecord.objects.exists()
    return str(error.value)


def test_billion_laughs_is_refused_before_any_expansion(alice, tmp_path):
    entities = b'<!ENTITY lol "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (level, (b"&lol%d;" % (level - 1) if level > 1 else b"&lol;") * 10)
        for level in range(1, 10)
    )
    xml = HEAD + b"<!DOCTYPE HealthData [" + entities + b"]>\n<HealthData>&lol9;" + RECORD + b"</HealthData>"
    assert "(xml_entities)" in refusal(archive(tmp_path, {"apple_health_export/export.xml": xml}))
    assert AppleImport.objects.get().error_code == "xml_entities"


def test_an_external_entity_is_never_fetched(alice, tmp_path):
    xml = (
        HEAD
        + b'<!DOCTYPE HealthData [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        + b"<HealthData>"
        + RECORD.replace(b'sourceName="Watch"', b'sourceName="&xxe;"')
        + b"</HealthData>"
    )
    assert "(xml_entities)" in refusal(archive(tmp_path, {"apple_health_export/export.xml": xml}))


def test_an_entity_reference_without_a_declaration_is_refused(alice, tmp_path):
    xml = HEAD + b"<HealthData>" + RECORD.replace(b'sourceName="Watch"', b'sourceName="&xxe;"') + b"</HealthData>"
    assert "(xml_entities)" in refusal(archive(tmp_path, {"apple_health_export/export.xml": xml}))


def test_a_zip_bomb_is_refused_from_the_central_directory(alice, tmp_path):
    bomb = HEAD + b"<HealthData>" + b" " * (64 * 1024 * 1024) + b"</HealthData>"
    assert "(zip_bomb)" in refusal(archive(tmp_path, {"apple_health_export/export.xml": bomb}))


@pytest.mark.parametrize(
    "entry", ["apple_health_export/workout-routes/../../../etc/cron.d/x", "/etc/passwd", "..\\..\\x.xml", "C:/x.xml"]
)
def test_an_entry_outside_the_archive_is_refused(alice, tmp_path, entry):
    xml = HEAD + b"<HealthData>" + RECORD + b"</HealthData>"
    path = archive(tmp_path, {"apple_health_export/export.xml": xml, entry: b"x"})
    assert "(unsafe_entry)" in refusal(path)


def test_a_symlink_entry_is_refused(alice, tmp_path):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as packed:
        packed.writestr("apple_health_export/export.xml", HEAD + b"<HealthData>" + RECORD + b"</HealthData>")
        link = zipfile.ZipInfo("apple_health_export/workout-routes/route.gpx")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        packed.writestr(link, "/etc/passwd")
    assert "(unsafe_entry)" in refusal(path)


def test_xml_that_is_not_a_health_export_is_refused(alice, tmp_path):
    path = archive(tmp_path, {"apple_health_export/export.xml": HEAD + b"<ClinicalDocument/>"})
    assert "(not_health_export)" in refusal(path)


def test_a_health_marker_inside_another_root_is_refused(alice, tmp_path):
    xml = HEAD + b"<!-- <HealthData> --><Other>" + RECORD + b"</Other>"
    assert "(not_health_export)" in refusal(archive(tmp_path, {"apple_health_export/export.xml": xml}))


def test_a_gigantic_attribute_is_refused_not_buffered(alice, tmp_path):
    path = tmp_path / "export.xml"
    path.write_bytes(HEAD + b'<HealthData><Record type="' + b"A" * (3 * 1024 * 1024) + b'"/></HealthData>')
    assert "(element_too_large)" in refusal(path)


def test_several_health_exports_in_one_archive_are_refused(alice, tmp_path):
    xml = HEAD + b"<HealthData>" + RECORD + b"</HealthData>"
    path = archive(tmp_path, {"a/export.xml": xml, "b/exportar.xml": xml})
    assert "(several_health_exports)" in refusal(path)


def test_a_finder_rezip_with_macos_metadata_is_read(alice, tmp_path):
    xml = HEAD + b"<HealthData>" + RECORD + b"</HealthData>"
    path = archive(tmp_path, {"Export/apple_health_export/导出.xml": xml, "__MACOSX/Export/._导出.xml": xml})
    call_command("import_apple_health", str(path), "--user", "alice", stdout=StringIO(), stderr=StringIO())
    assert Sample.objects.filter(user=alice).count() == 1


# --- Hostile values in a well-formed export: each refused or left out, everything else stored ---

WORKOUT_WITH_ROUTE = (
    b'<Workout workoutActivityType="HKWorkoutActivityTypeWalking" duration="10" durationUnit="min" '
    b'sourceName="Watch" startDate="2023-11-04 10:00:00 -0700" endDate="2023-11-04 10:10:00 -0700">'
    b'<WorkoutRoute sourceName="Watch" startDate="2023-11-04 10:00:00 -0700" endDate="2023-11-04 10:10:00 -0700">'
    b'<FileReference path="/workout-routes/route_1.gpx"/></WorkoutRoute></Workout>'
)
ECG_HEAD = "Name,A\nRecorded Date,2023-11-05 08:12:44 -0800\nClassification,Sinus Rhythm\nSample Rate,512 hertz\n\n"


def test_a_route_file_that_is_not_xml_leaves_its_workout_stored_without_it(alice, tmp_path):
    # One truncated or corrupt GPX refused the whole archive: a history lost for one route.
    xml = HEAD + b"<HealthData>" + RECORD + WORKOUT_WITH_ROUTE + b"</HealthData>"
    path = archive(
        tmp_path,
        {"apple_health_export/export.xml": xml, "apple_health_export/workout-routes/route_1.gpx": b"<gpx><trkpt"},
    )
    call_command("import_apple_health", str(path), "--user", "alice", stdout=StringIO(), stderr=StringIO())

    counts = AppleImport.objects.get(user=alice).counts
    assert counts["workouts"]["stored"] == 1 and counts["workouts"]["rejected"] == 0
    assert [(e["code"], e["where"]["type"], e["where"]["field"]) for e in counts["errors"]] == [
        ("invalid_route", "workouts", "route")
    ]
    [workout] = Workout.objects.filter(user=alice)
    [route] = workout.fields["routes"]
    assert route["file_found"] is True and "not well-formed XML" in route["file_error"]
    assert workout.route is None
    assert Sample.objects.filter(user=alice).count() == 1


def test_an_entity_in_a_route_file_still_refuses_the_archive(alice, tmp_path):
    gpx = b'<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY a "b">]><gpx>&a;</gpx>'
    xml = HEAD + b"<HealthData>" + WORKOUT_WITH_ROUTE + b"</HealthData>"
    path = archive(
        tmp_path, {"apple_health_export/export.xml": xml, "apple_health_export/workout-routes/route_1.gpx": gpx}
    )
    assert "(xml_entities)" in refusal(path)


def test_numbers_no_column_can_hold_are_left_out_and_a_record_without_type_refused(alice, tmp_path):
    # "nan" in an ECG reached PostgreSQL's JSON as NaN: the whole import failed.
    ecg = ECG_HEAD + "\n".join(["7.5", "nan", "1e999", "-inf", "9" * 5000, "abc", "3,25"]) + "\n"
    location = (
        b'<Workout workoutActivityType="HKWorkoutActivityTypeRunning" sourceName="Phone" '
        b'startDate="2018-11-04 10:00:00 -0700" endDate="2018-11-04 10:10:00 -0700"><WorkoutRoute sourceName="Phone" '
        b'startDate="2018-11-04 10:00:00 -0700" endDate="2018-11-04 10:10:00 -0700">'
        b'<Location date="2018-11-04 10:00:00 -0700" latitude="37.5" longitude="-122.5" altitude="nan" speed="inf"/>'
        b'<Location date="2018-11-04 10:00:01 -0700" latitude="nan" longitude="-122.5"/>'
        b"</WorkoutRoute></Workout>"
    )
    untyped = RECORD.replace(b'type="HKQuantityTypeIdentifierHeartRate"', b'type=" "')
    xml = HEAD + b"<HealthData>" + RECORD + untyped + location + b"</HealthData>"
    path = archive(
        tmp_path,
        {"apple_health_export/export.xml": xml, "apple_health_export/electrocardiograms/ecg_1.csv": ecg.encode()},
    )
    call_command("import_apple_health", str(path), "--user", "alice", stdout=StringIO(), stderr=StringIO())

    done = AppleImport.objects.get(user=alice)
    assert done.status == AppleImport.Status.DONE
    # A record without a type is not an unknown type to keep: it is refused, and counted.
    assert [(e["code"], e["where"]["field"]) for e in done.counts["errors"]] == [("missing_value", "type")]
    [stored] = HealthRecord.objects.filter(user=alice, section="ecg")
    assert stored.payload["voltageMeasurements"] == [7.5, 3.25] and stored.payload["sampleCount"] == 2
    [workout] = Workout.objects.filter(user=alice)
    assert list(workout.route_points.values_list("latitude", "altitude", "speed")) == [(37.5, None, None)]


def test_made_up_types_and_elements_are_counted_and_stored_within_bounds(alice, tmp_path, monkeypatch):
    # A million invented types or tags made a million counts in the report, rewritten at every
    # chunk, and a section (one database query per chunk) each: a 6 MB archive held a worker
    # for minutes. Kinds beyond the cap are counted together; unknown tags share one section.
    monkeypatch.setattr("ingest.apple.load.MAX_KINDS", 3)
    made_up = b"".join(
        RECORD.replace(b"HKQuantityTypeIdentifierHeartRate", b"HKQuantityTypeIdentifierMadeUp%d" % number)
        + b'<Invented%d when="%d"/>' % (number, number)
        for number in range(6)
    )
    path = archive(tmp_path, {"apple_health_export/export.xml": HEAD + b"<HealthData>" + made_up + b"</HealthData>"})
    call_command("import_apple_health", str(path), "--user", "alice", stdout=StringIO(), stderr=StringIO())

    counts = AppleImport.objects.get(user=alice).counts
    assert len(counts["records"]) == 4 and counts["records"]["apple_records_of_other_types"]["received"] == 3
    assert sum(kind["received"] for kind in counts["records"].values()) == 6
    assert counts["other"] == {
        "apple_other_elements": {"received": 6, "stored": 6, "updated": 0, "duplicates": 0, "rejected": 0}
    }
    stored = HealthRecord.objects.filter(user=alice, section="apple_other_elements")
    assert sorted(record.payload["tag"] for record in stored) == [f"Invented{number}" for number in range(6)]
