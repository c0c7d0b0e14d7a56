from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
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


def _names() -> set[str]:
    return {partition.name for partition in partitions.list_partitions(TABLE)}


def test_the_table_is_partitioned_by_month_with_a_brin_index():
    with connection.cursor() as cursor:
        cursor.execute("SELECT partstrat FROM pg_partitioned_table WHERE partrelid = %s::regclass", [TABLE])
        assert cursor.fetchone() == ("r",)
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [TABLE])
        definitions = [row[0] for row in cursor.fetchall()]
    assert any("USING brin (occurred_at)" in definition for definition in definitions)
    assert any("PRIMARY KEY" in d or "(id, occurred_at)" in d for d in definitions)


def test_migrate_created_the_window_from_the_retention_cutoff_to_three_months_ahead():
    this_month = partitions.month_floor(timezone.now())
    first = AuditEvent.first_partition_month()
    names = _names()

    for ahead in range(partitions.AHEAD_MONTHS + 1):
        assert partitions.partition_name(TABLE, partitions.add_months(this_month, ahead)) in names
    assert partitions.year_partition_name(TABLE, first.year) in names
    assert partitions.year_partition_name(TABLE, first.year - 1) not in names
    assert partitions.before_partition_name(TABLE) in names


def test_a_back_dated_event_within_retention_lands_in_its_years_partition():
    last_year = timezone.now().year - 1
    record_event(action="ingest.accepted", occurred_at=utc(last_year, 6, 30, 23, 59))

    assert _partition_rows(f"audit_auditevent_p{last_year}") == ["ingest.accepted"]


def test_writing_never_creates_a_partition():
    """The app role owns no table: an event outside the window is refused, not given a partition."""
    before = _names()
    first = AuditEvent.first_partition_month()

    with pytest.raises(IntegrityError, match="no partition"), transaction.atomic():
        record_event(action="ingest.accepted", occurred_at=utc(first.year - 1, 6, 1))

    assert _names() == before


def test_ensure_window_creates_what_is_missing_once():
    partitions.drop_partition(TABLE, partitions.partition_name(TABLE, partitions.month_floor(timezone.now())))

    created = partitions.ensure_window(TABLE)

    assert created == [partitions.partition_name(TABLE, partitions.month_floor(timezone.now()))]
    assert partitions.ensure_window(TABLE) == []
