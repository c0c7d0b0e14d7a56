from __future__ import annotations

import gzip
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


def test_import_export_draws_its_progress_on_stderr(alice):
    err = StringIO()
    call_command("import_export", str(FIXTURES / "small.json"), "--user", "alice", stdout=StringIO(), stderr=err)
    assert "[##############################] heart_rate: 8/8 items" in err.getvalue()


def test_import_export_names_an_unknown_user():
    with pytest.raises(CommandError, match="No user 'nobody'"):
        run("import_export", str(FIXTURES / "small.json"), "--user", "nobody")


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
