from __future__ import annotations

import gzip
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ingest.models import Ingestion
from ingest.services import ingestion_store_raw
from metrics.models import Sample
from tests.ingest.helpers import FIXTURES, fixture_bytes

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.embedded
def test_import_export_ingests_files_for_a_user(alice, tmp_path):
    packed = tmp_path / "full_day.json.gz"
    packed.write_bytes(gzip.compress(fixture_bytes("full_day.json")))
    output = run("import_export", str(FIXTURES / "small.json"), str(packed), "--user", "alice")
    assert "[2/2] full_day.json.gz: processed" in output
    assert output.strip().splitlines()[-1].startswith("Imported 2 file(s) for alice:")
    assert Ingestion.objects.filter(user=alice, status="processed").count() == 2


def test_import_export_writes_plain_progress_lines_when_stderr_is_not_a_terminal(alice):
    err = StringIO()
    call_command("import_export", str(FIXTURES / "small.json"), "--user", "alice", stdout=StringIO(), stderr=err)
    lines = err.getvalue().splitlines()
    assert lines and "\r" not in err.getvalue()
    assert re.fullmatch(r"  \d+/\d+ items \(\d+%\) \w+, [\d,]+ items/s(, ETA \d+ s)?", lines[0])


def test_import_export_names_an_unknown_user_and_the_flag_that_creates_it():
    with pytest.raises(CommandError, match="No user 'nobody'; pass --create-user"):
        run("import_export", str(FIXTURES / "small.json"), "--user", "nobody")


def test_import_export_creates_the_user_when_asked(db):
    output = run("import_export", str(FIXTURES / "small.json"), "--user", "carol", "--create-user")
    assert "for carol (new user):" in output
    assert Ingestion.objects.filter(user__username="carol", status="processed").count() == 1


def test_import_export_says_a_file_was_already_imported_and_stores_nothing(alice):
    run("import_export", str(FIXTURES / "small.json"), "--user", "alice")
    samples = Sample.objects.filter(user=alice).count()

    output = run("import_export", str(FIXTURES / "small.json"), "--user", "alice")

    first = Ingestion.objects.get(user=alice, status="processed")
    assert f"small.json: already imported on {first.received_at:%Y-%m-%d %H:%M} UTC" in output
    assert "nothing stored" in output
    assert output.strip().splitlines()[-1] == (
        "Imported 1 file(s) for alice: 0 received, 0 stored, 0 updated, 0 duplicates, 0 rejected"
    )
    assert Sample.objects.filter(user=alice).count() == samples


def test_reprocess_stores_a_body_that_was_never_processed(alice):
    body = fixture_bytes("small.json")
    ingestion = ingestion_store_raw(
        user=alice, api_key=None, body=body, digest="d" * 64, content_encoding="", idempotency_key="", request=None
    )
    output = run("reprocess", "--status", "received")
    assert output.strip() == "Reprocessed 1 ingestion(s): 1 processed"
    ingestion.refresh_from_db()
    assert ingestion.status == "processed"
    assert Sample.objects.filter(user=alice).exists()

    again = run("reprocess", str(ingestion.public_id))
    assert again.strip() == "Reprocessed 1 ingestion(s): 1 skipped (processed)"
