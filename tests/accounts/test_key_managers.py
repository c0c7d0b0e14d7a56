"""The Key managers role: issue and revoke keys, see users; nothing else."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.models import ApiKey
from audit.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def test_the_group_holds_exactly_the_key_permissions():
    group = Group.objects.get(name="Key managers")

    assert sorted(f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()) == [
        "accounts.add_apikey",
        "accounts.change_apikey",
        "accounts.view_apikey",
        "accounts.view_user",
    ]


def test_a_key_manager_issues_and_revokes_a_key(client, key_manager, alice, fast_key_hashing):
    client.force_login(key_manager)

    created = client.post(
        reverse("admin:accounts_apikey_add"), {"owner": alice.pk, "name": "iPhone", "scopes": ["ingest"]}, follow=True
    )
    api_key = ApiKey.objects.get()
    revoked = client.post(reverse("admin:accounts_apikey_revoke", args=[api_key.pk]))

    assert created.status_code == 200 and "API key created" in created.text
    assert revoked.status_code == 302
    api_key.refresh_from_db()
    assert api_key.is_revoked and api_key.revoked_by == key_manager
    assert AuditEvent.objects.filter(key_prefix=api_key.prefix, actor_user_id=key_manager.pk).count() == 2


def test_a_key_manager_sees_users_but_cannot_change_them(client, key_manager, alice):
    client.force_login(key_manager)
    change = reverse("admin:accounts_user_change", args=[alice.pk])

    page = client.get(change)
    refused = client.post(change, {"username": "alice", "is_superuser": "on"})

    assert page.status_code == 200
    assert f"{reverse('admin:accounts_apikey_add')}?owner={alice.pk}" in page.text  # "Add a key for this user"
    assert refused.status_code == 403
    alice.refresh_from_db()
    assert not alice.is_superuser


@pytest.mark.parametrize(
    "url",
    [
        reverse("admin:audit_auditevent_changelist"),
        reverse("admin:accounts_user_add"),
        reverse("admin:auth_group_changelist"),
    ],
)
def test_a_key_manager_cannot_read_the_trail_add_users_or_edit_roles(client, key_manager, url):
    client.force_login(key_manager)

    assert client.get(url).status_code == 403


def test_the_add_key_link_preselects_the_owner(client, staff, alice):
    client.force_login(staff)

    page = client.get(reverse("admin:accounts_apikey_add"), {"owner": alice.pk})

    assert page.context["adminform"].form.initial["owner"] == str(alice.pk)
