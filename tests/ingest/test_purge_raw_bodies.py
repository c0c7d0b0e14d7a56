from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEvent
from ingest.models import Ingestion
from tests.ingest.helpers import fixture_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def post(client, body: bytes) -> dict:
    response = client.generic("POST", "/v1/ingest", body, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def exports(alice, alice_client, settings):
    """An export processed 100 days ago, one that failed then, and one processed today."""
    settings.RAW_BODY_RETENTION_DAYS = 90
    with time_machine.travel(timezone.now() - timedelta(days=100), tick=False):
        old = post(alice_client, fixture_bytes("small.json"))
        failed = post(alice_client, fixture_bytes("full_day.json"))
    Ingestion.objects.filter(public_id=failed["ingestion_id"]).update(status="failed", result=None)
    recent = post(alice_client, fixture_bytes("real_shapes.json"))
    return {
        name: Ingestion.objects.get(public_id=answer["ingestion_id"])
        for name, answer in (("old", old), ("failed", failed), ("recent", recent))
    }


def test_it_drops_old_processed_bodies_and_keeps_the_rows(exports, alice_client):
    size = len(exports["old"].body)

    output = run("purge_raw_bodies")

    assert output.startswith(f"Dropped the raw bodies of 1 ingestion(s), {size} compressed byte(s), received before ")
    assert output.endswith("(retention 90 days)")
    old = Ingestion.objects.get(pk=exports["old"].pk)
    assert old.body is None and old.body_purged_at is not None
    assert (old.status, old.body_sha256, old.result) == ("processed", exports["old"].body_sha256, exports["old"].result)
    assert Ingestion.objects.get(pk=exports["failed"].pk).body is not None  # waits for reprocessing
    assert Ingestion.objects.get(pk=exports["recent"].pk).body is not None
    listed = [i["id"] for i in alice_client.get("/v1/ingestions").json()["ingestions"]]
    assert str(old.public_id) in listed and len(listed) == 3
    event = AuditEvent.objects.get(action="ingest.bodies_purged")
    assert event.metadata["ingestions"] == 1 and event.metadata["bytes"] == size


def test_a_resent_body_is_still_recognised_after_its_bytes_are_gone(exports, alice_client):
    run("purge_raw_bodies")

    answer = post(alice_client, fixture_bytes("small.json"))

    assert answer["status"] == "duplicate"
    assert answer["duplicate_of"] == str(exports["old"].public_id)


def test_a_dry_run_counts_and_changes_nothing(exports):
    output = run("purge_raw_bodies", "--dry-run", "--include-failed")

    assert output.startswith("Would drop the raw bodies of 2 ingestion(s)")
    assert not Ingestion.objects.filter(body__isnull=True, body_purged_at__isnull=False).exists()
    assert not AuditEvent.objects.filter(action="ingest.bodies_purged").exists()


def test_reprocessing_a_purged_body_says_the_body_is_gone(exports):
    run("purge_raw_bodies", "--include-failed")
    failed = exports["failed"]

    with pytest.raises(CommandError, match=f"raw body of ingestion {failed.public_id} is gone: it was purged"):
        run("reprocess", str(failed.public_id))
    assert run("reprocess", "--status", "failed") == "Reprocessed 1 ingestion(s): 1 skipped (body purged)"
