"""The app role owns nothing: as it, the audit trail cannot be erased, and ingest still works."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from healthexport.lib import partitions
from metrics.models import Sample
from tests.ingest.helpers import fixture_bytes

pytestmark = pytest.mark.postgres_only

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "app-role-test-password"


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("roles and privileges are PostgreSQL's")


def _url(user: str, password: str) -> str:
    settings = connection.settings_dict
    return f"postgis://{user}:{password}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"


@pytest.fixture
def app_role(transactional_db):
    """A committed login role for this test database, granted by the command; dropped afterwards."""
    role = f"{connection.settings_dict['NAME']}_app"
    quoted = connection.ops.quote_name(role)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE ROLE {quoted} LOGIN PASSWORD '{PASSWORD}'")
    call_command("grant_app_role", role, stdout=StringIO())
    yield role
    with connection.cursor() as cursor:
        cursor.execute(f"DROP OWNED BY {quoted}")
        cursor.execute(f"DROP ROLE {quoted}")


@pytest.fixture
def as_app_role(app_role):
    """The application's own connection, as the app role, for the duration of the test."""
    saved = {key: connection.settings_dict[key] for key in ("USER", "PASSWORD")}
    connection.close()
    connection.settings_dict.update(USER=app_role, PASSWORD=PASSWORD)
    yield app_role
    connection.close()
    connection.settings_dict.update(saved)


def _audit_partition() -> str:
    return partitions.list_partitions("audit_auditevent")[-1].name


ERASING = [
    "TRUNCATE audit_auditevent",
    "TRUNCATE {partition}",
    "ALTER TABLE audit_auditevent DETACH PARTITION {partition}",
    "DROP TABLE {partition}",
    "DROP TABLE audit_auditevent",
    "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only",
    "UPDATE audit_auditevent SET action = 'erased'",
    "DELETE FROM audit_auditevent",
    "UPDATE {partition} SET action = 'erased'",
    "DELETE FROM {partition}",
    "CREATE TABLE audit_auditevent_p2099_01 PARTITION OF audit_auditevent"
    " FOR VALUES FROM ('2099-01-01') TO ('2099-02-01')",
]


def test_the_app_role_cannot_erase_the_audit_trail(app_role):
    partition = _audit_partition()
    url = _url(app_role, PASSWORD).replace("postgis://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as app:
        for statement in ERASING:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement.format(partition=partition))


def test_the_app_role_can_append_to_and_read_the_audit_trail(app_role):
    with psycopg.connect(_url(app_role, PASSWORD).replace("postgis://", "postgresql://")) as app:
        app.execute(
            "INSERT INTO audit_auditevent (occurred_at, action, actor_key_prefix, actor_username, key_prefix,"
            " target_type, target_id, target_label, outcome, user_agent, request_id, metadata)"
            " VALUES (now(), 'test.appended', '', '', '', '', '', '', 'success', '', '', '{}')"
        )
        assert app.execute("SELECT action FROM audit_auditevent").fetchall() == [("test.appended",)]


@pytest.mark.django_db
@pytest.mark.parametrize("table", ["audit_auditevent", "partition"])
def test_truncating_the_audit_trail_is_refused_even_to_its_owner(table):
    table = _audit_partition() if table == "partition" else table

    refused = pytest.raises(IntegrityError, match="append-only: TRUNCATE")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table}")


def test_ingest_works_as_the_app_role(as_app_role, alice, alice_client):
    response = alice_client.post("/v1/ingest", fixture_bytes("full_day.json"), content_type="application/json")

    assert response.status_code == 200, response.content
    assert response.json()["status"] in ("processed", "partial")
    assert Sample.objects.filter(user=alice).exists()


@pytest.mark.django_db
def test_grant_app_role_refuses_a_superuser():
    with pytest.raises(CommandError, match="superuser"):
        call_command("grant_app_role", connection.settings_dict["USER"])


def test_migrate_and_maintenance_connect_as_the_owner_and_grant_the_app_role(app_role):
    """DATABASE_URL is the app role's; the commands that need ownership use DATABASE_OWNER_URL."""
    settings = connection.settings_dict
    env = {
        **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        "DATABASE_URL": _url(app_role, PASSWORD),
        "DATABASE_OWNER_URL": _url(settings["USER"], settings["PASSWORD"]),
    }
    with connection.cursor() as cursor:
        cursor.execute(f"REVOKE ALL ON accounts_apikey FROM {connection.ops.quote_name(app_role)}")

    for command in (["migrate", "--noinput"], ["ensure_partitions"], ["purge_audit"]):
        result = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr

    with connection.cursor() as cursor:
        cursor.execute("SELECT has_table_privilege(%s, 'accounts_apikey', 'UPDATE')", [app_role])
        assert cursor.fetchone() == (True,)
