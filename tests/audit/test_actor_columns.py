"""The trail names its actors in plain columns: no foreign key into another app."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from audit.models import AuditEvent
from audit.services import record_event

BEFORE = [("audit", "0002_compliance_group")]
AFTER = [("audit", "0003_actors_as_plain_columns")]


@pytest.mark.embedded
@pytest.mark.django_db
def test_an_event_keeps_its_actors_name_after_the_user_is_deleted(alice_key, bob):
    api_key, _ = alice_key
    record_event(action="test.acted", actor=bob, api_key=api_key, target=api_key)

    bob.delete()

    event = AuditEvent.objects.get(action="test.acted")
    assert (event.actor_username, event.actor_key_prefix) == ("bob", api_key.prefix)
    assert event.actor_user_id is not None and event.actor_api_key_id == api_key.pk


@pytest.mark.embedded
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("back_to_the_latest_schema")
def test_the_migration_keeps_ids_and_back_fills_usernames():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    # bulk_create sends no post_save: the audit receivers would write columns this schema lacks.
    [user] = get_user_model().objects.bulk_create([get_user_model()(username="erin")])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (occurred_at, action, actor_user_id, actor_key_prefix, target_type,"
            " target_id, outcome, user_agent, request_id, metadata)"
            " VALUES (%s, 'auth.failed', %s, '', '', '', 'failure', '', '', '{}')",
            [connection.ops.adapt_datetimefield_value(AuditEvent._meta.get_field("occurred_at").default()), user.pk],
        )

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)

    with connection.cursor() as cursor:
        cursor.execute("SELECT actor_user_id, actor_username FROM audit_auditevent WHERE action = 'auth.failed'")
        assert cursor.fetchall() == [(user.pk, "erin")]
    foreign_keys = [
        name
        for name, info in connection.introspection.get_constraints(connection.cursor(), "audit_auditevent").items()
        if info["foreign_key"]
    ]
    assert foreign_keys == []
