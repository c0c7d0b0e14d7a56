from __future__ import annotations

import pytest


@pytest.mark.embedded
@pytest.mark.django_db
def test_health_answers_ok(api_client):
    response = api_client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.embedded
@pytest.mark.django_db
def test_ready_checks_database_cache_and_migrations(api_client):
    response = api_client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "cache": "ok", "migrations": "ok"},
    }


@pytest.mark.embedded
@pytest.mark.django_db
def test_metrics_serves_prometheus_text(api_client):
    api_client.get("/health")
    response = api_client.get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests_total_by_method_total" in response.content


@pytest.mark.embedded
@pytest.mark.django_db
def test_every_answer_carries_a_request_id(api_client):
    response = api_client.get("/health")
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_a_sane_incoming_request_id_is_kept(api_client):
    response = api_client.get("/health", HTTP_X_REQUEST_ID="trace-1234-abcd")
    assert response["X-Request-ID"] == "trace-1234-abcd"


@pytest.mark.django_db
def test_an_unsafe_incoming_request_id_is_replaced(api_client):
    response = api_client.get("/health", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert response["X-Request-ID"] != "bad id\nwith newline"
    assert len(response["X-Request-ID"]) == 32
