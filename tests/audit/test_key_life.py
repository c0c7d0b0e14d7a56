"""One key's whole life is one search away, and the search reads indexes, not the trail."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from accounts import keys
from accounts.services import api_key_create, api_key_revoke
from audit.models import AuditEvent
from tests.ingest.helpers import fixture_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

CHANGELIST = reverse("admin:audit_auditevent_changelist")


def searched(client, term: str) -> list[AuditEvent]:
    response = client.get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def test_searching_a_key_prefix_finds_its_whole_life(client, compliance_officer, staff, alice, fast_key_hashing):
    api_key, plaintext = api_key_create(owner=alice, name="iPhone", scopes=["ingest"], created_by=staff)
    phone = APIClient()
    phone.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    phone.post("/v1/ingest", fixture_bytes("small.json"), content_type="application/json")
    thief = APIClient()
    thief.credentials(HTTP_AUTHORIZATION=f"Bearer {keys.new_key(api_key.prefix)}")
    thief.get("/v1/metrics")
    api_key.ratelimit_requests_per_hour = 1000
    api_key.save()
    api_key_revoke(api_key=api_key, revoked_by=staff)
    api_key_create(owner=alice, name="another", scopes=["ingest"], created_by=staff)
    client.force_login(compliance_officer)

    life = searched(client, api_key.prefix)

    assert [event.action for event in reversed(life)] == [
        "apikey.created",
        "ingest.accepted",
        "auth.failed",
        "apikey.changed",
        "apikey.revoked",
    ]
    assert searched(client, f"hx_{api_key.prefix}_{'x' * 10}") == life  # a pasted key: its prefix only


def test_searching_part_of_a_username_finds_what_they_did_and_what_was_done_to_them(
    client, compliance_officer, staff, alice, bob
):
    alice.is_staff = True
    alice.save()
    client.force_login(compliance_officer)

    found = searched(client, "lic")

    assert {(event.action, event.target_label) for event in found} >= {
        ("user.created", "alice"),
        ("user.changed", "alice"),
    }
    assert all("alice" in (event.target_label, event.actor_username) for event in found)


def test_searching_a_target_id_finds_the_events_about_it(client, compliance_officer, alice):
    client.force_login(compliance_officer)

    [event] = searched(client, str(alice.public_id))

    assert event.action == "user.created"


@pytest.mark.postgres_only
def test_the_search_reads_no_audit_row_by_pattern(client, compliance_officer, alice):
    client.force_login(compliance_officer)

    with CaptureQueriesContext(connection) as queries:
        searched(client, "ali")

    trail = [q["sql"] for q in queries.captured_queries if '"audit_auditevent"' in q["sql"]]
    assert trail and not any("LIKE" in sql.upper() for sql in trail)
    assert any("LIKE" in q["sql"].upper() and '"accounts_user"' in q["sql"] for q in queries.captured_queries)
