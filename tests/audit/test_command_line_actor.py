"""Commands name themselves and the operating-system user in the events they write.

manage.py wraps every command in ``audit.context.command_line``; the in-process tests do the same
around ``call_command`` (a command run through ``manage.main`` closes the test's connection), and
one test runs the real manage.py against the test database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from accounts.models import ApiKey
from audit.context import command_line, os_user
from audit.models import AuditEvent
from tests.ingest.helpers import fixture_bytes

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def manage_py(*args: str) -> None:
    with command_line(args[0]):
        call_command(*args, stdout=StringIO(), stderr=StringIO())


@pytest.mark.embedded
def test_createapikey_and_revokeapikey_name_the_command_and_the_os_user(alice, fast_key_hashing):
    manage_py("createapikey", "alice", "--name", "cron")
    prefix = ApiKey.objects.get().prefix
    manage_py("revokeapikey", prefix)

    events = AuditEvent.objects.filter(key_prefix=prefix).order_by("id")
    assert [(e.action, e.actor_username, e.metadata["command"]) for e in events] == [
        ("apikey.created", f"cli:{os_user()}", "createapikey"),
        ("apikey.revoked", f"cli:{os_user()}", "revokeapikey"),
    ]
    assert all(e.metadata["os_user"] == os_user() and e.actor_user_id is None for e in events)


@pytest.mark.embedded
def test_import_export_keeps_the_owner_as_actor_and_names_the_command(tmp_path, alice):
    export = tmp_path / "export.json"
    export.write_bytes(fixture_bytes("small.json"))

    manage_py("import_export", str(export), "--user", "alice")

    event = AuditEvent.objects.get(action="ingest.accepted")
    assert event.actor_username == "alice"
    assert (event.metadata["command"], event.metadata["os_user"]) == ("import_export", os_user())


@pytest.mark.embedded
def test_purge_audit_names_the_command():
    manage_py("purge_audit")

    event = AuditEvent.objects.get(action="audit.purged")
    assert event.actor_username == f"cli:{os_user()}" and event.metadata["command"] == "purge_audit"


@pytest.mark.embedded
def test_outside_a_command_and_a_request_nobody_is_named(alice):
    alice.is_staff = True
    alice.save()

    event = AuditEvent.objects.get(action="user.changed")
    assert event.actor_username == "" and "command" not in event.metadata


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_real_manage_py_names_the_command():
    database = connection.settings_dict
    url = (
        f"postgis://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    )
    env = {**os.environ, "DATABASE_URL": url, "DOTENV_PATH": "", "SECRET_KEY": "test-only-secret"}

    subprocess.run(
        [sys.executable, "manage.py", "createapikey", "erin", "--create-user"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )

    created = AuditEvent.objects.get(action="apikey.created")
    assert created.actor_username == f"cli:{os_user()}"
    assert created.metadata["command"] == "createapikey"
    assert AuditEvent.objects.get(action="user.created").actor_username == f"cli:{os_user()}"
