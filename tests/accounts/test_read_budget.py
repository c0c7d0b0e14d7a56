"""Reads have their own hourly budget per key (RATELIMIT_READ_REQUESTS_PER_HOUR): paging through a
year of samples cannot use up the uploads, and uploads cannot use up the reads."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent

pytestmark = [pytest.mark.embedded, pytest.mark.django_db]


@pytest.fixture
def budgets(settings):
    settings.RATELIMIT_REQUESTS_PER_HOUR = 2
    settings.RATELIMIT_READ_REQUESTS_PER_HOUR = 3
    return settings


def upload(client):
    return client.generic("POST", "/v1/ingest", b"{not json", content_type="application/json")


def test_reads_are_counted_in_their_own_budget(alice_client, budgets):
    reads = [alice_client.get("/v1/workouts") for _ in range(3)]
    refused = alice_client.get("/v1/metrics")

    assert [r.status_code for r in reads] == [200, 200, 200]
    assert [r["RateLimit-Remaining"] for r in reads] == ["2", "1", "0"]
    assert reads[0]["RateLimit-Policy"].startswith('"requests";q=3;w=3600')
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "3 read requests per hour" in refused.json()["error"]["message"]
    assert int(refused["Retry-After"]) > 0
    event = AuditEvent.objects.get(action="ratelimit.exceeded")
    assert event.metadata["budget"] == "reads"


def test_reads_leave_the_upload_budget_alone(alice_client, budgets):
    for _ in range(3):
        assert alice_client.get("/v1/stats").status_code == 200
    assert alice_client.get("/v1/stats").status_code == 429

    uploads = [upload(alice_client) for _ in range(3)]

    assert [u.status_code for u in uploads] == [400, 400, 429]  # admitted (then invalid), then over 2
    assert uploads[0]["RateLimit-Policy"].startswith('"requests";q=2;w=3600')


def test_uploads_leave_the_read_budget_alone(alice_client, budgets):
    assert [upload(alice_client).status_code for _ in range(3)] == [400, 400, 429]

    assert alice_client.get("/v1/workouts").status_code == 200


def test_deletes_count_as_uploads_not_reads(alice_client, budgets):
    for _ in range(2):
        upload(alice_client)

    response = alice_client.delete("/v1/data", {"confirm": "delete all my data"}, format="json")

    assert response.status_code == 429
    assert alice_client.get("/v1/workouts").status_code == 200


def test_each_key_has_its_own_read_budget(alice_client, bob_client, budgets):
    for _ in range(3):
        alice_client.get("/v1/workouts")

    assert alice_client.get("/v1/workouts").status_code == 429
    assert bob_client.get("/v1/workouts").status_code == 200
