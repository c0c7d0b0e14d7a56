"""Nobody sees another owner's data: Bob's ids are 404 on every page and data download of Alice's."""

from __future__ import annotations

import pytest

from accounts.models import ApiKey
from accounts.services import api_key_create

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


@pytest.fixture
def bob_key(bob):
    return api_key_create(owner=bob, name="Bob's phone", scopes=["ingest"], created_by=None)[0]


def test_another_owners_workout_is_404(alice_browser, alice_data, bob_data):
    response = alice_browser.get(f"/workouts/{bob_data['workouts'][0].public_id}")

    assert response.status_code == 404
    assert "Nothing is here" in response.content.decode()


def test_another_owners_key_cannot_be_seen_or_revoked(alice_browser, bob_key):
    shown = alice_browser.get(f"/keys/{bob_key.public_id}/revoke")
    revoked = alice_browser.post(f"/keys/{bob_key.public_id}/revoke")

    assert (shown.status_code, revoked.status_code) == (404, 404)
    assert ApiKey.objects.get(pk=bob_key.pk).revoked_at is None
    assert "Bob&#x27;s phone" not in alice_browser.get("/keys").content.decode()


def test_a_metric_only_another_owner_has_is_404_as_page_and_csv(client, bob, bob_data, alice_data):
    client.force_login(bob)  # Bob has daily metrics only; Alice has hourly steps too

    assert client.get("/metrics/weight_body_mass").status_code == 200
    assert client.get("/metrics/step_count").status_code == 404
    assert client.get("/metrics/step_count?format=csv").status_code == 404
    assert client.get("/metrics/no_such_metric").status_code == 404


def test_pages_show_only_the_owners_data(client, bob, bob_data, alice_data):
    client.force_login(bob)

    workouts = client.get("/workouts?range=all").content.decode()
    syncs = client.get("/syncs").content.decode()

    assert workouts.count("/workouts/") == len(bob_data["workouts"])
    assert str(alice_data["workouts"][0].public_id) not in workouts
    assert syncs.count('class="sync"') == 6  # Bob's six exports, not Alice's
