from __future__ import annotations

import io
import logging

import pytest
from prometheus_client import REGISTRY

from tests.ingest.helpers import fixture_bytes

pytestmark = pytest.mark.django_db


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_an_ingest_moves_the_request_and_sample_counters(alice_client):
    requests_before = sample("healthexport_ingest_requests_total", status="200")
    steps_before = sample("healthexport_ingest_samples_total", metric="step_count", outcome="stored")

    response = alice_client.generic("POST", "/v1/ingest", fixture_bytes("small.json"), content_type="application/json")

    assert response.status_code == 200
    assert sample("healthexport_ingest_requests_total", status="200") == requests_before + 1
    stored_steps = response.json()["metrics"]["step_count"]["stored"]
    assert sample("healthexport_ingest_samples_total", metric="step_count", outcome="stored") == (
        steps_before + stored_steps
    )


def test_a_rejected_body_is_counted_by_status(alice_client):
    before = sample("healthexport_ingest_requests_total", status="400")
    alice_client.generic("POST", "/v1/ingest", b"{", content_type="application/json")
    assert sample("healthexport_ingest_requests_total", status="400") == before + 1


def test_the_active_users_gauge_counts_recent_syncs(alice_client, api_client):
    from healthexport.lib.prometheus import refresh_database_gauges

    alice_client.generic("POST", "/v1/ingest", fixture_bytes("small.json"), content_type="application/json")
    refresh_database_gauges(force=True)
    assert sample("healthexport_active_users") == 1


def test_the_access_log_line_names_the_key_prefix_and_request_id_never_the_key(alice_key, alice_client):
    """Through the configured formatter and filters (request context, redaction)."""
    api_key, plaintext = alice_key
    configured = logging.getLogger().handlers[0]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(configured.formatter)
    for log_filter in configured.filters:
        handler.addFilter(log_filter)
    logging.getLogger().addHandler(handler)
    try:
        alice_client.generic(
            "POST",
            "/v1/ingest",
            fixture_bytes("small.json"),
            content_type="application/json",
            HTTP_X_REQUEST_ID="req-12345678",
        )
    finally:
        logging.getLogger().removeHandler(handler)
    output = stream.getvalue()
    access = [line for line in output.splitlines() if '"healthexport.access"' in line]
    assert access
    assert '"request_id":"req-12345678"' in access[-1]
    assert f'"key_prefix":"{api_key.prefix}"' in access[-1]
    assert plaintext not in output
