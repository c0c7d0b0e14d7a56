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


@pytest.mark.embedded
@pytest.mark.django_db
def test_metrics_refuses_a_client_from_another_host(api_client):
    response = api_client.get("/metrics", REMOTE_ADDR="203.0.113.5")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert "METRICS_TOKEN" in response.json()["error"]["message"]


@pytest.mark.django_db
def test_metrics_refuses_the_public_behind_a_trusted_proxy_on_this_host(api_client, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]

    response = api_client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5")

    assert response.status_code == 403


@pytest.mark.django_db
def test_metrics_serves_any_host_that_sends_the_metrics_token(api_client, settings):
    settings.METRICS_TOKEN = "scrape-token-0123456789"

    served = api_client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer scrape-token-0123456789")
    refused = api_client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer guessed")

    assert served.status_code == 200
    assert b"django_http_requests_total_by_method_total" in served.content
    assert refused.status_code == 403


@pytest.mark.django_db
def test_health_and_ready_stay_public(api_client):
    assert api_client.get("/health", REMOTE_ADDR="203.0.113.5").status_code == 200
    assert api_client.get("/ready", REMOTE_ADDR="203.0.113.5").status_code == 200
