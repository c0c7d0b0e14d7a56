from __future__ import annotations

from datetime import date
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from audit.models import AuditEvent
from audit.services import record_event
from healthexport.lib import partitions
from tests.audit.conftest import utc

pytestmark = pytest.mark.django_db

# With 2190 days of retention the cutoff is 2020-11-26 12:00 UTC: 2019 and everything before 2014
# have expired entirely, 2020 (one partition, a past year) straddles the cutoff.
NOW = utc(2026, 11, 25, 12, 0)


@pytest.fixture
def trail(settings):
    settings.AUDIT_RETENTION_DAYS = 2190
    partitions.ensure_window("audit_auditevent", first_month=date(2019, 1, 1))
    with time_machine.travel(NOW, tick=False):
        for moment in (utc(2013, 5, 1), utc(2019, 12, 31, 23, 59), utc(2020, 11, 2), utc(2026, 11, 1)):
            record_event(action="ingest.accepted", occurred_at=moment)
        yield


def _purge(*args: str) -> str:
    out = StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("purge_audit", *args, stdout=out)
    return out.getvalue()


def _remaining_years() -> list[int]:
    return sorted(e.occurred_at.year for e in AuditEvent.objects.filter(action="ingest.accepted"))


@pytest.mark.embedded
@pytest.mark.usefixtures("trail")
def test_a_dry_run_changes_nothing_and_records_nothing():
    out = _purge("--dry-run")

    assert out.startswith("Would purge ")
    assert "older than 2020-11-26 12:00 UTC (retention 2190 days;" in out
    assert AuditEvent.objects.filter(action="ingest.accepted").count() == 4
    assert not AuditEvent.objects.filter(action="audit.purged").exists()


@pytest.mark.postgres_only
@pytest.mark.usefixtures("trail")
def test_it_drops_whole_expired_partitions_and_keeps_the_straddling_one():
    out = _purge()

    assert (
        out
        == "Purged 2 audit event(s) older than 2020-11-26 12:00 UTC (retention 2190 days; 2 partition(s) dropped).\n"
    )
    names = {p.name for p in partitions.list_partitions("audit_auditevent")}
    assert "audit_auditevent_p2019" not in names
    assert "audit_auditevent_p2020" in names
    assert partitions.count_rows("audit_auditevent_before_2014") == 0  # dropped, then created again empty
    # The 2020-11-02 row is older than the cutoff but its partition is not entirely expired.
    assert _remaining_years() == [2020, 2026]
    purged = AuditEvent.objects.get(action="audit.purged")
    assert purged.metadata["events"] == 2
    assert sorted(purged.metadata["partitions"]) == ["audit_auditevent_before_2014", "audit_auditevent_p2019"]
    assert purged.metadata["retention_days"] == 2190


@pytest.mark.postgres_only
@pytest.mark.usefixtures("trail")
def test_it_leaves_the_append_only_trigger_on_the_remaining_partitions():
    _purge()

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'audit_auditevent_append_only' "
            "AND tgrelid = 'audit_auditevent_p2020'::regclass"
        )
        assert cursor.fetchone() == (1,)


@pytest.mark.embedded
@pytest.mark.usefixtures("trail")
def test_it_deletes_expired_rows_on_sqlite():
    if connection.vendor != "sqlite":
        pytest.skip("the row-delete path is the embedded default's")

    out = _purge()

    assert out.startswith("Purged 3 audit event(s) older than 2020-11-26 12:00 UTC")
    assert _remaining_years() == [2026]
    assert AuditEvent.objects.get(action="audit.purged").metadata["events"] == 3
