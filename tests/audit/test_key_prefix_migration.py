"""Migration 0004 back-fills ``key_prefix``: events written before it are found by their key too."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from audit.models import AuditEvent

BEFORE = [("audit", "0005_refuse_truncate")]
AFTER = [("audit", "0006_auditevent_key_prefix_target_label")]


def _insert(cursor, action: str, actor_key_prefix: str, metadata: str) -> None:
    now = connection.ops.adapt_datetimefield_value(AuditEvent._meta.get_field("occurred_at").default())
    cursor.execute(
        "INSERT INTO audit_auditevent (occurred_at, action, actor_key_prefix, actor_username, target_type,"
        " target_id, outcome, user_agent, request_id, metadata)"
        " VALUES (%s, %s, %s, '', '', '', 'success', '', '', %s)",
        [now, action, actor_key_prefix, metadata],
    )


@pytest.mark.embedded
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("back_to_the_latest_schema")
def test_the_migration_back_fills_the_key_each_event_concerns():
    MigrationExecutor(connection).migrate(BEFORE)
    with connection.cursor() as cursor:
        _insert(cursor, "ingest.accepted", "abcd1234", "{}")
        _insert(cursor, "apikey.revoked", "", '{"prefix": "efgh5678"}')
        _insert(cursor, "auth.failed", "", '{"prefix": "not a prefix", "reason": "malformed"}')
        _insert(cursor, "admin.login", "", "{}")

    MigrationExecutor(connection).migrate(AFTER)

    with connection.cursor() as cursor:
        cursor.execute("SELECT action, key_prefix, target_label FROM audit_auditevent ORDER BY id")
        assert cursor.fetchall() == [
            ("ingest.accepted", "abcd1234", ""),
            ("apikey.revoked", "efgh5678", ""),
            ("auth.failed", "", ""),
            ("admin.login", "", ""),
        ]
