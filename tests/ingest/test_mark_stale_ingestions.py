from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from ingest.models import Ingestion
from metrics.models import Sample
from tests.ingest.helpers import store_unprocessed

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def store_raw(user, *, ago: timedelta) -> Ingestion:
    with time_machine.travel(timezone.now() - ago, tick=False):
        return store_unprocessed(user)


def test_an_export_left_received_longer_than_the_request_timeout_is_marked_failed(alice, settings):
    settings.INGEST_STALE_AFTER_SECONDS = 600
    crashed = store_raw(alice, ago=timedelta(minutes=11))
    in_flight = store_raw(alice, ago=timedelta(minutes=9))

    assert run("mark_stale_ingestions") == "Marked 1 stale ingestion(s) failed (received more than 600 s ago)"

    crashed.refresh_from_db()
    in_flight.refresh_from_db()
    assert (crashed.status, crashed.error) == ("failed", "stale: processing never finished")
    assert in_flight.status == "received"
    assert run("mark_stale_ingestions").startswith("Marked 0 stale ingestion(s) failed")


def test_reprocess_failed_finds_an_export_a_crashed_worker_left_received(alice, settings):
    settings.INGEST_STALE_AFTER_SECONDS = 600
    crashed = store_raw(alice, ago=timedelta(hours=2))

    assert run("reprocess", "--status", "failed") == "Reprocessed 1 ingestion(s): 1 processed"

    crashed.refresh_from_db()
    assert crashed.status == "processed"
    assert Sample.objects.filter(user=alice).exists()
