"""Signing in to the owner's pages: Django sessions and CSRF, failures throttled and audited."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def sign_in(client, username: str, password: str):
    return client.post("/login", {"username": username, "password": password})


def test_the_owner_signs_in_and_is_audited(client, alice):
    response = sign_in(client, "alice", "alice-password-1")

    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    event = AuditEvent.objects.get(action="owner.login")
    assert event.actor_username == "alice"


def test_a_wrong_password_is_refused_and_audited_without_it(client, alice):
    response = sign_in(client, "alice", "not-her-password")

    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    event = AuditEvent.objects.get(action="owner.login_failed")
    assert event.metadata == {"username": "alice"}
    assert "not-her-password" not in str(event.metadata)


def test_sign_in_is_throttled_after_repeated_failures(client, alice, settings):
    settings.LOGIN_FAILURES_PER_USERNAME = "2/15m"
    for _ in range(2):
        sign_in(client, "alice", "wrong")

    refused = sign_in(client, "alice", "alice-password-1")

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many failed sign-ins for this username" in refused.content.decode()
    assert AuditEvent.objects.filter(action="auth.login_throttled").count() == 1
    assert client.get("/").status_code == 302  # not signed in


def test_the_form_needs_its_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)

    response = client.post("/login", {"username": "alice", "password": "alice-password-1"})

    assert response.status_code == 403


def test_signing_out_ends_the_session(alice_browser):
    response = alice_browser.post("/logout")

    assert response.status_code == 302 and response["Location"] == "/login"
    assert alice_browser.get("/").status_code == 302
