from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from audit.models import AppendOnlyError, AuditEvent
from audit.services import record_event
from healthexport.lib.partitions import month_floor, partition_name

pytestmark = pytest.mark.django_db


@pytest.fixture
def event():
    return record_event(action="apikey.created", metadata={"name": "phone"})


def _unchanged(event: AuditEvent) -> bool:
    stored = AuditEvent.objects.get(pk=event.pk)
    return stored.action == "apikey.created" and stored.metadata == {"name": "phone"}


@pytest.mark.embedded
def test_saving_an_existing_event_is_refused(event):
    event.action = "apikey.revoked"

    with pytest.raises(AppendOnlyError):
        event.save()

    assert _unchanged(event)


@pytest.mark.embedded
def test_deleting_an_event_is_refused(event):
    with pytest.raises(AppendOnlyError):
        event.delete()

    assert _unchanged(event)


@pytest.mark.embedded
@pytest.mark.parametrize(
    "bulk_change",
    [
        lambda events: events.update(action="apikey.revoked"),
        lambda events: events.delete(),
        lambda events: AuditEvent.objects.bulk_update(list(events), ["action"]),
        lambda events: events.update_or_create(action="apikey.created", defaults={"outcome": "denied"}),
    ],
    ids=["update", "delete", "bulk_update", "update_or_create"],
)
def test_queryset_changes_are_refused(event, bulk_change):
    with pytest.raises(AppendOnlyError):
        bulk_change(AuditEvent.objects.filter(pk=event.pk))

    assert _unchanged(event)


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {table} SET action = 'apikey.revoked' WHERE id = %s",
        "DELETE FROM {table} WHERE id = %s",
    ],
    ids=["update", "delete"],
)
@pytest.mark.parametrize("through", ["parent", "partition"])
def test_the_database_refuses_raw_sql_changes(event, statement, through):
    table = "audit_auditevent"
    if through == "partition":
        table = partition_name(table, month_floor(event.occurred_at))

    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement.format(table=table), [event.pk])

    assert _unchanged(event)
