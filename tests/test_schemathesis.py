"""Property-based API tests: schemathesis generates requests from GET /v1/schema and calls the app in-process.

Every answer must be a non-5xx that conforms to the schema (status code, content type, headers, body).
Examples are bounded so the module adds well under two minutes to the suite on two cores.
"""

from __future__ import annotations

import re
import uuid
import zlib

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from healthexport.wsgi import application
from ingest.models import Ingestion
from ingest.services import ingest_export
from metrics.models import Workout
from tests.fuzzing import fuzz_settings
from tests.ingest.helpers import fixture_bytes

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# A failure prints a curl line to reproduce it.
EXAMPLES = fuzz_settings(15)


@schemathesis.serializer("application/zip")
def zip_bytes(ctx, value) -> bytes:
    """POST /v1/imports takes an archive: generated values are sent as their bytes."""
    return value if isinstance(value, bytes) else str(value).encode()


@pytest.fixture
def in_process_app(db):
    """The WSGI app inside the test's transaction.

    Django's WSGI handler closes "old" connections when a request starts and finishes, and inside the
    test's atomic block that would close the test's own connection; Django's test client detaches the
    same receiver for the same reason.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield application
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def auth_headers(in_process_app, alice, unlimited_alice_key) -> dict[str, str]:
    """Alice's key, unlimited, with her data in place so the read endpoints have something to return."""
    for name in ("small.json", "full_day.json"):
        ingest_export(user=alice, api_key=None, body=fixture_bytes(name))
    return {"Authorization": f"Bearer {unlimited_alice_key[1]}"}


# Metrics of each storage: samples (sum and min/avg/max) and the two tables of their own.
METRIC_NAMES = ("step_count", "heart_rate", "blood_pressure", "sleep_analysis")


@pytest.fixture
def real_ids(auth_headers, alice) -> dict[str, str]:
    """Path → an id of Alice's that exists, so detail endpoints answer more than 404."""
    return {
        "/v1/workouts/{public_id}": str(Workout.objects.filter(user=alice).values_list("public_id", flat=True)[0]),
        "/v1/ingestions/{public_id}": str(Ingestion.objects.filter(user=alice).values_list("public_id", flat=True)[0]),
    }


def with_real_path(case, real_ids: dict[str, str]) -> None:
    """A generated UUID or plain name becomes one of Alice's; anything else (a negative case) stays as generated."""
    parameters = case.path_parameters or {}
    generated = parameters.get("public_id")
    if case.path in real_ids and isinstance(generated, str):
        try:
            uuid.UUID(generated)
        except ValueError:
            return
        parameters["public_id"] = real_ids[case.path]
    generated = parameters.get("name")
    if case.path == "/v1/metrics/{name}" and isinstance(generated, str) and re.fullmatch(r"[a-z0-9_]*", generated):
        # Picked by the rest of the case, so each metric meets the generated query strings.
        parameters["name"] = METRIC_NAMES[zlib.crc32(repr(case.query).encode()) % len(METRIC_NAMES)]


# Loaded at collection, through the app (the schema view is public and reads no database).
# schemathesis.pytest.from_fixture would load it per test, but its lazy runner sets Node._nodeid,
# which pytest 9.2 no longer has.
schema = schemathesis.openapi.from_wsgi("/v1/schema", application)


# DELETE /v1/data would empty Alice's data for every later example; it has its own test below.
@schema.exclude(method="DELETE", path="/v1/data").parametrize()
@EXAMPLES
def test_every_operation_answers_without_a_server_error_and_as_documented(case, auth_headers, real_ids):
    with_real_path(case, real_ids)
    case.call_and_validate(headers=auth_headers, checks=CHECKS)


@schema.include(method="DELETE", path="/v1/data").parametrize()
@EXAMPLES
def test_deleting_all_data_answers_as_documented(case, auth_headers):
    case.call_and_validate(headers=auth_headers, checks=CHECKS)
