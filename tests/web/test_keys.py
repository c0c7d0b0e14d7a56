"""An owner revokes their own key (a lost phone); issuing stays with staff."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import ApiKey
from accounts.services import api_key_create
from audit.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


@pytest.fixture
def phone_key(alice, fast_key_hashing):
    return api_key_create(owner=alice, name="Old iPhone", scopes=["ingest", "read"], created_by=None)


def test_the_keys_page_lists_the_owners_keys_without_secrets(alice_browser, phone_key):
    api_key, plaintext = phone_key

    page = alice_browser.get("/keys").content.decode()

    assert "Old iPhone" in page and f"hx_{api_key.prefix}_…" in page and "ingest, read" in page
    assert plaintext not in page and api_key.hashed_key not in page


def test_the_owner_revokes_their_key_after_confirming(alice_browser, alice, phone_key, api_client):
    api_key, plaintext = phone_key

    confirm = alice_browser.get(f"/keys/{api_key.public_id}/revoke")
    response = alice_browser.post(f"/keys/{api_key.public_id}/revoke", follow=True)

    assert "Revoke “Old iPhone”?" in confirm.content.decode()
    assert response.status_code == 200 and "is revoked" in response.content.decode()
    assert ApiKey.objects.get(pk=api_key.pk).revoked_by == alice
    event = AuditEvent.objects.get(action="apikey.revoked")
    assert event.actor_username == "alice" and event.metadata["prefix"] == api_key.prefix
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert api_client.get("/v1/metrics").status_code == 401  # from its very next request


def test_revoking_twice_records_one_event(alice_browser, phone_key):
    api_key, _ = phone_key

    alice_browser.post(f"/keys/{api_key.public_id}/revoke")
    alice_browser.post(f"/keys/{api_key.public_id}/revoke")

    assert AuditEvent.objects.filter(action="apikey.revoked").count() == 1


def test_revoking_needs_a_post_with_csrf(alice, phone_key):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)

    response = strict.post(f"/keys/{phone_key[0].public_id}/revoke")

    assert response.status_code == 403
    assert ApiKey.objects.get(pk=phone_key[0].pk).revoked_at is None
