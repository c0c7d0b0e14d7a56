"""The key-created page: POST/redirect/GET, the key shown once from the session, app settings and QR."""

from __future__ import annotations

import html
import re

import pytest
import segno
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.urls import reverse

from accounts import keys
from accounts.models import ApiKey
from audit.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

ADD = reverse("admin:accounts_apikey_add")
CHANGELIST = reverse("admin:accounts_apikey_changelist")
KEY_IN_PAGE = re.compile(r'id="api-key-plaintext" type="text" value="(hx_[^"]+)"')


@pytest.fixture
def client_factory():
    return Client


def reload(client, response):
    """What a browser's reload does: repeat the request that produced the page on screen."""
    shown = response.wsgi_request
    if shown.method == "POST":
        return client.post(shown.get_full_path(), shown.POST)
    return client.get(shown.get_full_path())


def add_key(client, owner, **fields):
    data = {"owner": owner.pk, "name": "iPhone", "scopes": ["ingest", "read"], **fields}
    return client.post(ADD, data, follow=True)


def test_reloading_the_key_created_page_creates_no_second_key(staff_client, alice, fast_key_hashing):
    shown = add_key(staff_client, alice)
    assert KEY_IN_PAGE.search(shown.text)

    again = reload(staff_client, shown)

    assert again.status_code == 200
    assert ApiKey.objects.count() == 1
    assert AuditEvent.objects.filter(action="apikey.created").count() == 1
    assert not KEY_IN_PAGE.search(again.text)
    assert "This key can no longer be displayed" in again.text
    assert "no-store" in again["Cache-Control"]


@override_settings(PUBLIC_URL="https://health.example.org")
def test_the_key_is_shown_once_with_the_app_settings_and_a_qr_code(staff_client, staff, alice, fast_key_hashing):
    response = add_key(staff_client, alice)

    assert response.redirect_chain[0][1] == 303
    api_key = ApiKey.objects.get()
    assert (api_key.owner, api_key.name, api_key.scopes, api_key.created_by) == (
        alice,
        "iPhone",
        ["ingest", "read"],
        staff,
    )
    assert response.redirect_chain[0][0] == reverse("admin:accounts_apikey_created", args=[api_key.pk])
    plaintext = KEY_IN_PAGE.search(response.text)[1]
    assert keys.KEY_PATTERN.match(plaintext) and keys.verify_key(api_key.hashed_key, plaintext)
    content = response.text
    assert "https://health.example.org/v1/ingest" in content and "testserver" not in content
    assert f"Bearer {plaintext}" in content
    for setting in ("Version 2", "JSON", "Since last sync", "Batch requests", "Include workout metrics / routes"):
        assert setting in content
    assert 'src="data:image/svg+xml' in content
    assert "PUBLIC_URL is not set" not in content
    assert "no-store" in response["Cache-Control"]
    assert AuditEvent.objects.filter(action="apikey.created", actor_user_id=staff.pk).count() == 1
    assert plaintext not in str(staff_client.session.items())

    # Never again: not on the change page, not in the list; the hash is never displayed.
    for page in (
        staff_client.get(reverse("admin:accounts_apikey_change", args=[api_key.pk])),
        staff_client.get(CHANGELIST),
    ):
        assert page.status_code == 200
        assert plaintext not in page.text and api_key.hashed_key not in page.text
        assert api_key.prefix in page.text


@override_settings(PUBLIC_URL="https://health.example.org")
def test_the_qr_code_holds_the_key(staff_client, alice, fast_key_hashing):
    content = add_key(staff_client, alice).text
    plaintext = KEY_IN_PAGE.search(content)[1]

    qr = re.search(r'id="api-key-qr" src="([^"]+)"', content)[1]

    assert html.unescape(qr) == segno.make(plaintext, error="m").svg_data_uri(scale=5, border=2)


@override_settings(PUBLIC_URL="")
def test_without_public_url_the_key_pages_say_so(staff_client, alice, alice_key, fast_key_hashing):
    shown = add_key(staff_client, alice)

    assert "PUBLIC_URL is not set" in shown.text
    assert "testserver/v1/ingest" not in shown.text and "https://&lt;your host&gt;/v1/ingest" in shown.text
    assert "PUBLIC_URL is not set" in staff_client.get(CHANGELIST).text
    assert "PUBLIC_URL is not set" in staff_client.get(ADD).text


def test_a_key_not_shown_within_five_minutes_is_gone(staff_client, alice, fast_key_hashing):
    with time_machine.travel("2026-01-01 12:00:00Z", tick=False):
        response = staff_client.post(ADD, {"owner": alice.pk, "name": "iPhone", "scopes": ["ingest"]})
    with time_machine.travel("2026-01-01 12:05:01Z", tick=False):
        late = staff_client.get(response["Location"])
        waiting = staff_client.session["accounts.new_api_keys"]

    assert not KEY_IN_PAGE.search(late.text)
    assert "This key can no longer be displayed" in late.text
    assert waiting == {}


def test_another_staff_member_never_sees_the_key(staff_client, client_factory, alice, fast_key_hashing):
    response = staff_client.post(ADD, {"owner": alice.pk, "name": "iPhone", "scopes": ["ingest"]})
    other = get_user_model().objects.create_user(username="other", is_staff=True, is_superuser=True)
    other_client = client_factory()
    other_client.force_login(other)

    seen = other_client.get(response["Location"])

    assert "This key can no longer be displayed" in seen.text
    assert KEY_IN_PAGE.search(staff_client.get(response["Location"]).text)
