from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import ApiKey
from accounts.services import api_key_create, api_key_revoke
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:accounts_apikey_changelist")
ADD = reverse("admin:accounts_apikey_add")


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def change_url(api_key: ApiKey) -> str:
    return reverse("admin:accounts_apikey_change", args=[api_key.pk])


def revoke_url(api_key: ApiKey) -> str:
    return reverse("admin:accounts_apikey_revoke", args=[api_key.pk])


@pytest.mark.embedded
def test_the_add_form_offers_scopes_as_checkboxes(staff_client):
    response = staff_client.get(ADD)
    assert response.status_code == 200
    content = response.content.decode()
    for scope in ApiKey.Scope.values:
        assert f'type="checkbox" name="scopes" value="{scope}"' in content


def test_the_add_form_refuses_a_past_expiry_and_no_scope(staff_client, alice, fast_key_hashing):
    response = staff_client.post(
        ADD, {"owner": alice.pk, "name": "iPhone", "scopes": [], "expires_at_0": "2001-01-01", "expires_at_1": "00:00"}
    )
    assert response.status_code == 200
    assert "The expiry must be in the future." in response.content.decode()
    assert not ApiKey.objects.exists()


@pytest.mark.embedded
def test_revoking_one_key_asks_for_confirmation_first(staff_client, staff, alice_key):
    api_key, _ = alice_key
    assert "Revoke" in staff_client.get(change_url(api_key)).content.decode()

    confirmation = staff_client.get(revoke_url(api_key))
    assert confirmation.status_code == 200 and "Yes, revoke" in confirmation.content.decode()
    api_key.refresh_from_db()
    assert api_key.revoked_at is None

    response = staff_client.post(revoke_url(api_key))
    assert response.status_code == 302
    assert messages_of(response) == ["Revoked 1 key(s)."]
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None and api_key.revoked_by == staff
    assert AuditEvent.objects.filter(action="apikey.revoked", actor_user_id=staff.pk).count() == 1


def test_revoke_selected_keys_confirms_then_reports_the_count(staff_client, alice_key, bob_key):
    already, _ = api_key_create(owner=alice_key[0].owner, name="old", scopes=["read"], created_by=None)
    api_key_revoke(api_key=already, revoked_by=None)
    selected = {"action": "revoke_selected", "_selected_action": [alice_key[0].pk, bob_key[0].pk, already.pk]}

    confirmation = staff_client.post(CHANGELIST, selected)
    assert confirmation.status_code == 200 and "Yes, revoke" in confirmation.content.decode()
    assert ApiKey.objects.active().count() == 2

    response = staff_client.post(CHANGELIST, {**selected, "post": "yes"})
    assert response.status_code == 302
    assert messages_of(response) == ["Revoked 2 key(s)."]
    assert not ApiKey.objects.active().exists()
    assert AuditEvent.objects.filter(action="apikey.revoked").count() == 3


def test_a_revoked_key_is_read_only_and_keys_cannot_be_deleted(staff_client, alice_key):
    api_key, _ = alice_key
    api_key_revoke(api_key=api_key, revoked_by=None)

    page = staff_client.get(change_url(api_key))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode() and revoke_url(api_key) not in page.content.decode()
    assert staff_client.post(change_url(api_key), {"name": "back to life"}).status_code == 403
    delete = reverse("admin:accounts_apikey_delete", args=[api_key.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    api_key.refresh_from_db()
    assert api_key.is_revoked and api_key.name == "Alice's iPhone"
    assert "delete_selected" not in staff_client.get(CHANGELIST).content.decode()


@pytest.mark.embedded
def test_the_list_filters_by_status_and_scope_and_searches_by_prefix(staff_client, alice, alice_key, fast_key_hashing):
    reader, _ = api_key_create(owner=alice, name="reader", scopes=["read"], created_by=None)
    api_key_revoke(api_key=reader, revoked_by=None)

    def listed(query: dict) -> set[str]:
        return {k.name for k in staff_client.get(CHANGELIST, query).context["cl"].result_list}

    assert listed({"status": "revoked"}) == {"reader"}
    assert listed({"status": "active"}) == {"Alice's iPhone"}
    assert listed({"scope": "ingest"}) == {"Alice's iPhone"}
    assert listed({"scope": "read"}) == {"Alice's iPhone", "reader"}
    assert listed({"q": f"hx_{reader.prefix}_"}) == {"reader"}
    assert listed({"q": "alice"}) == {"Alice's iPhone", "reader"}


def test_a_non_staff_user_cannot_reach_the_key_admin(client, alice, alice_key):
    client.force_login(alice)
    assert client.get(CHANGELIST).status_code == 302
    assert client.post(revoke_url(alice_key[0])).status_code == 302
    alice_key[0].refresh_from_db()
    assert alice_key[0].revoked_at is None


def test_the_user_page_lists_their_keys_read_only(staff_client, alice, alice_key):
    page = staff_client.get(reverse("admin:accounts_user_change", args=[alice.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert alice_key[0].prefix in content and alice_key[0].hashed_key not in content
    assert "api_keys-0-name" not in content  # shown, not editable
