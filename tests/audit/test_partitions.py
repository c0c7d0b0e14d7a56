from __future__ import annotations

from datetime import date

import pytest
from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record_event
from healthexport.lib import partitions
from tests.audit.conftest import utc

pytestmark = [pytest.mark.django_db, pytest.mark.postgres_only]

TABLE = "audit_auditevent"


def _partition_rows(name: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT action FROM "{name}"')  # noqa: S608
        return [row[0] for row in cursor.fetchall()]


def test_the_table_is_partitioned_by_month_with_a_brin_index():
    with connection.cursor() as cursor:
        cursor.execute("SELECT partstrat FROM pg_partitioned_table WHERE partrelid = %s::regclass", [TABLE])
        assert cursor.fetchone() == ("r",)
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [TABLE])
        definitions = [row[0] for row in cursor.fetchall()]
    assert any("USING brin (occurred_at)" in definition for definition in definitions)
    assert any("PRIMARY KEY" in d or "(id, occurred_at)" in d for d in definitions)


def test_migrate_created_this_month_and_the_next_three():
    this_month = partitions.month_floor(timezone.now())
    names = {partition.name for partition in partitions.list_partitions(TABLE)}

    for ahead in range(partitions.AHEAD_MONTHS + 1):
        assert partitions.partition_name(TABLE, partitions.add_months(this_month, ahead)) in names


def test_writing_in_2015_creates_that_months_partition():
    assert "audit_auditevent_p2015_06" not in {p.name for p in partitions.list_partitions(TABLE)}

    record_event(action="ingest.accepted", occurred_at=utc(2015, 6, 30, 23, 59))

    assert _partition_rows("audit_auditevent_p2015_06") == ["ingest.accepted"]
    assert AuditEvent.objects.filter(occurred_at__year=2015).count() == 1


def test_bulk_create_creates_the_partitions_it_needs():
    AuditEvent.objects.bulk_create([AuditEvent(action="backfill", occurred_at=utc(2016, month, 2)) for month in (1, 3)])

    assert _partition_rows("audit_auditevent_p2016_01") == ["backfill"]
    assert _partition_rows("audit_auditevent_p2016_03") == ["backfill"]


def test_ensure_partitions_creates_a_range_of_months_once():
    created = partitions.ensure_partitions(TABLE, date(2017, 11, 1), date(2018, 2, 1))

    assert created == [f"{TABLE}_p2017_11", f"{TABLE}_p2017_12", f"{TABLE}_p2018_01", f"{TABLE}_p2018_02"]
    assert partitions.ensure_partitions(TABLE, date(2017, 11, 1), date(2018, 2, 1)) == []


def test_a_partition_created_in_a_rolled_back_transaction_is_created_again():
    def audited_change_that_fails() -> None:
        with transaction.atomic():
            record_event(action="first", occurred_at=utc(2014, 2, 3))
            raise RuntimeError("the audited change failed")

    with pytest.raises(RuntimeError):
        audited_change_that_fails()

    record_event(action="second", occurred_at=utc(2014, 2, 4))

    assert _partition_rows("audit_auditevent_p2014_02") == ["second"]
