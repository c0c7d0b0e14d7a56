"""Staff create a one-time, 24-hour set-password link for an owner in the admin (no e-mail server)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model

from audit.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

NEW_PASSWORD = "a-long-new-passphrase"


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user(username="olivia")  # no usable password yet


def create_link(client, staff, owner) -> str:
    client.force_login(staff)
    response = client.post(
        "/admin/accounts/user/", {"action": "create_password_link", ACTION_CHECKBOX_NAME: [owner.pk]}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    link = re.search(r'value="(http://testserver/set-password/[^"]+)"', response.content.decode()).group(1)
    client.logout()
    return link.removeprefix("http://testserver")


def test_staff_create_a_link_shown_once_and_audited(client, staff, owner):
    path = create_link(client, staff, owner)

    assert path.startswith("/set-password/")
    event = AuditEvent.objects.get(action="user.password_link_created")
    assert event.actor_username == "staff" and event.target_id == str(owner.public_id)
    assert path.split("/")[-1] not in str(event.metadata)  # the token is not kept


def test_the_link_sets_the_password_once(client, staff, owner):
    path = create_link(client, staff, owner)

    form = client.get(path)
    response = client.post(path, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    again = client.get(path)

    assert form.status_code == 200 and "Set your password" in form.content.decode()
    assert response.status_code == 302 and response["Location"] == "/login"
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)
    assert AuditEvent.objects.get(action="user.password_set").actor_username == "olivia"
    assert again.status_code == 404 and "cannot be used" in again.content.decode()
    assert client.post("/login", {"username": "olivia", "password": NEW_PASSWORD}).status_code == 302


def test_the_link_expires_after_24_hours(client, staff, owner):
    start = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        path = create_link(client, staff, owner)
        clock.shift(dt.timedelta(hours=23, minutes=59))
        assert client.get(path).status_code == 200
        clock.shift(dt.timedelta(minutes=2))

        response = client.post(path, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert response.status_code == 404
    owner.refresh_from_db()
    assert not owner.has_usable_password()
    assert not AuditEvent.objects.filter(action="user.password_set").exists()


def test_a_weak_password_is_refused_and_the_link_stays_valid(client, staff, owner):
    path = create_link(client, staff, owner)

    response = client.post(path, {"new_password1": "12345678", "new_password2": "12345678"})

    assert response.status_code == 200 and "too common" in response.content.decode()
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("tail", ["MQ/not-a-token", "!!/x", "zzzzzzzzzzzzzzzzzzzzzzzz/abc-def"])
def test_a_made_up_link_is_refused(client, owner, tail):
    assert client.get(f"/set-password/{tail}").status_code == 404


def test_the_action_wants_exactly_one_user(client, staff, owner, alice):
    client.force_login(staff)

    response = client.post(
        "/admin/accounts/user/",
        {"action": "create_password_link", ACTION_CHECKBOX_NAME: [owner.pk, alice.pk]},
        follow=True,
    )

    assert "Select exactly one user" in response.content.decode()
    assert not AuditEvent.objects.filter(action="user.password_link_created").exists()
