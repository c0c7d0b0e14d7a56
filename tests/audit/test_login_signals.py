from __future__ import annotations

import pytest

from audit.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def test_an_admin_login_is_audited(client, staff):
    response = client.post(
        "/admin/login/", {"username": "staff", "password": "staff-password-1"}, REMOTE_ADDR="192.0.2.4"
    )

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="admin.login")
    assert event.actor_user_id == staff.pk
    assert event.outcome == AuditEvent.Outcome.SUCCESS
    assert event.ip == "192.0.2.4"


def test_a_failed_admin_login_keeps_the_username_but_never_the_password(client, staff):
    response = client.post("/admin/login/", {"username": "staff", "password": "guessed-Secret-9"})

    assert response.status_code == 200
    event = AuditEvent.objects.get(action="admin.login_failed")
    assert event.outcome == AuditEvent.Outcome.FAILURE
    assert event.actor_user_id is None
    assert event.metadata == {"username": "staff"}
    stored = AuditEvent.objects.filter(pk=event.pk).values().get()
    assert "guessed-Secret-9" not in str(stored)


def test_a_login_outside_the_admin_is_not_an_admin_login(client, staff):
    client.force_login(staff)

    assert not AuditEvent.objects.filter(action__startswith="admin.").exists()
