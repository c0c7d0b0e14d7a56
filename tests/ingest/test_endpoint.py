"""POST /v1/ingest over HTTP, as the app sends it."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from ingest.body import THREADED_HASH_BYTES
from ingest.models import Ingestion
from metrics.models import Sample
from tests.ingest.helpers import counts_add_up, fixture_bytes

pytestmark = pytest.mark.django_db
URL = "/v1/ingest"


def post(client, body: bytes, **headers):
    return client.generic("POST", URL, body, content_type=headers.pop("content_type", "application/json"), **headers)


@pytest.mark.embedded
def test_it_ingests_an_export_and_answers_the_contract_shape(alice_client, alice):
    response = post(alice_client, fixture_bytes("small.json"))
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {
        "ingestion_id",
        "status",
        "duplicate_of",
        "metrics",
        "workouts",
        "other",
        "errors",
        "errors_truncated",
    }
    assert answer["status"] == "processed"
    assert answer["duplicate_of"] is None
    assert counts_add_up(answer)
    ingestion = Ingestion.objects.get(public_id=answer["ingestion_id"])
    assert ingestion.user == alice
    assert ingestion.status == "processed"
    assert Sample.objects.filter(user=alice).exists()


def test_a_gzip_body_is_decompressed_and_hashed_decompressed(alice_client):
    first = post(alice_client, fixture_bytes("small.json")).json()
    response = post(alice_client, gzip.compress(fixture_bytes("small.json")), HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200
    assert response.json()["status"] == "duplicate"
    assert response.json()["duplicate_of"] == first["ingestion_id"]


def test_a_deflate_body_is_accepted(alice_client):
    response = post(alice_client, zlib.compress(fixture_bytes("small.json")), HTTP_CONTENT_ENCODING="deflate")
    assert response.status_code == 200
    assert response.json()["status"] == "processed"


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])  # with the zlib header, and raw
def test_every_body_is_hashed_as_decompressed(alice_client, wbits):
    body = fixture_bytes("full_day.json")
    deflater = zlib.compressobj(wbits=wbits)
    response = post(alice_client, deflater.compress(body) + deflater.flush(), HTTP_CONTENT_ENCODING="deflate")
    assert response.status_code == 200
    ingestion = Ingestion.objects.get(public_id=response.json()["ingestion_id"])
    assert ingestion.body_sha256 == hashlib.sha256(body).hexdigest()
    assert zlib.decompress(ingestion.body) == body
    plain = post(alice_client, body).json()
    assert plain["status"] == "duplicate" and plain["duplicate_of"] == response.json()["ingestion_id"]


def large(body: bytes, *, pad_before: bool = False) -> bytes:
    """``body`` padded with whitespace (valid JSON) past the size from which a body is hashed
    in a thread, and may be kept in pieces when a processed body had its size."""
    padding = b" " * (THREADED_HASH_BYTES + 12_345)
    return padding + body if pad_before else body + padding


def test_a_large_body_sent_again_is_a_duplicate(alice_client, unlimited_alice_key):
    body = large(fixture_bytes("small.json"))
    first = post(alice_client, body).json()
    assert first["status"] == "processed"
    again = post(alice_client, body).json()
    assert again["status"] == "duplicate"
    assert again["duplicate_of"] == first["ingestion_id"]
    stored = Ingestion.objects.get(public_id=first["ingestion_id"])
    assert stored.body_sha256 == hashlib.sha256(body).hexdigest()
    assert zlib.decompress(stored.body) == body


def test_a_new_large_body_of_a_size_seen_before_is_stored_and_processed(alice_client, unlimited_alice_key):
    """It is read in pieces (it may have been a re-send): joined, it is stored and parsed whole."""
    first = post(alice_client, large(fixture_bytes("small.json"))).json()
    body = large(fixture_bytes("small.json"), pad_before=True)
    answer = post(alice_client, body).json()
    assert answer["status"] == "processed"
    assert answer["duplicate_of"] is None
    assert answer["ingestion_id"] != first["ingestion_id"]
    assert all(counts["duplicates"] == counts["received"] for counts in answer["metrics"].values())
    stored = Ingestion.objects.get(public_id=answer["ingestion_id"])
    assert stored.body_size == len(body)
    assert stored.body_sha256 == hashlib.sha256(body).hexdigest()
    assert zlib.decompress(stored.body) == body


def test_a_gzip_bomb_is_413_without_storing_anything(alice_client, settings):
    settings.INGEST_MAX_BODY_BYTES = 1024 * 1024
    response = post(alice_client, fixture_bytes("bad/gzip_bomb.json.gz"), HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert not Ingestion.objects.exists()


def test_a_body_over_the_limit_is_413(alice_client, settings):
    settings.INGEST_MAX_BODY_BYTES = 1000
    response = post(alice_client, fixture_bytes("small.json"))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_another_media_type_is_415(alice_client):
    response = post(alice_client, b"a,b", content_type="text/csv")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_an_unknown_content_encoding_is_415(alice_client):
    response = post(alice_client, fixture_bytes("small.json"), HTTP_CONTENT_ENCODING="br")
    assert response.status_code == 415


@pytest.mark.embedded
def test_invalid_json_is_400_with_the_error_shape(alice_client):
    response = post(alice_client, fixture_bytes("bad/truncated.json"))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert error["message"].startswith("The body is not valid JSON")


def test_without_a_key_it_is_401_with_www_authenticate(api_client):
    response = post(api_client, fixture_bytes("small.json"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="healthexport"'
    assert response.json()["error"]["code"] == "not_authenticated"
    assert not Ingestion.objects.exists()


def test_a_key_without_the_ingest_scope_is_403(alice, staff, api_client):
    from accounts.services import api_key_create

    _, plaintext = api_key_create(owner=alice, name="reader", scopes=["read"], created_by=staff)
    api_client.credentials(HTTP_X_API_KEY=plaintext)
    response = post(api_client, fixture_bytes("small.json"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_the_idempotency_key_header_makes_a_retry_a_duplicate(alice_client):
    first = post(alice_client, fixture_bytes("small.json"), HTTP_IDEMPOTENCY_KEY="batch-1").json()
    retry = post(alice_client, fixture_bytes("small.json"), HTTP_IDEMPOTENCY_KEY="batch-1").json()
    assert retry["status"] == "duplicate"
    assert retry["duplicate_of"] == first["ingestion_id"]


@pytest.mark.embedded
def test_reusing_an_idempotency_key_for_another_body_is_422_and_stores_nothing(alice_client, alice):
    first = post(alice_client, fixture_bytes("small.json"), HTTP_IDEMPOTENCY_KEY="batch-1").json()
    samples = Sample.objects.filter(user=alice).count()

    response = post(alice_client, fixture_bytes("full_day.json"), HTTP_IDEMPOTENCY_KEY="batch-1")

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert first["ingestion_id"] in error["message"]
    assert Sample.objects.filter(user=alice).count() == samples
    assert list(Ingestion.objects.filter(user=alice).values_list("status", flat=True)) == ["processed"]


def test_bob_resending_alices_export_is_not_a_duplicate(alice_client, bob_client):
    post(alice_client, fixture_bytes("small.json"))
    answer = post(bob_client, fixture_bytes("small.json")).json()
    assert answer["status"] == "processed"


def test_the_apps_automation_headers_are_kept_with_the_export(alice_client):
    headers = {
        "HTTP_AUTOMATION_NAME": "Hourly metrics",
        "HTTP_AUTOMATION_ID": "A1B2",
        "HTTP_AUTOMATION_PERIOD": "sinceLastSync",
        "HTTP_SESSION_ID": "S-9",
    }
    answer = post(alice_client, fixture_bytes("small.json"), **headers).json()
    stored = Ingestion.objects.get(public_id=answer["ingestion_id"])
    assert stored.automation == {
        "automation-name": "Hourly metrics",
        "automation-id": "A1B2",
        "automation-period": "sinceLastSync",
        "session-id": "S-9",
    }
    listed = alice_client.get(f"/v1/ingestions/{answer['ingestion_id']}").json()
    assert listed["automation"]["automation-name"] == "Hourly metrics"


def test_a_27_mb_export_is_accepted(alice_client, settings):
    """Django's 2.5 MB body cap applies everywhere but here, where INGEST_MAX_BODY_BYTES rules."""
    settings.RATELIMIT_BYTES_PER_HOUR = 100 * 1024 * 1024
    export = fixture_bytes("small.json")
    body = export + b" " * (27 * 1024 * 1024 - len(export))  # JSON allows the trailing blanks

    response = post(alice_client, body)

    assert response.status_code == 200
    assert response.json()["status"] == "processed"
    assert Ingestion.objects.get(public_id=response.json()["ingestion_id"]).body_size == len(body)


# --- Transfer-Encoding: chunked, through gunicorn (Django's test client cannot send it) ------------

REPOSITORY = Path(__file__).resolve().parents[2]
CHUNKED_CAP = 100_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def gunicorn_url(tmp_path) -> Iterator[str]:
    """gunicorn with the project's config (gthread), on the test database, one worker, one thread."""
    if connection.vendor != "postgresql":
        pytest.skip("gunicorn needs a server database shared with the test")
    db = connection.settings_dict
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgis://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "INGEST_MAX_BODY_BYTES": str(CHUNKED_CAP),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "healthexport.wsgi", "--config", "deploy/gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}"],
        cwd=REPOSITORY, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"gunicorn exited: {server.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "gunicorn did not answer /health within 60 s"
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                probe.request("GET", "/health")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
            finally:
                probe.close()
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stderr.close()


def post_chunked(address: str, key: str, pieces: list[bytes]) -> tuple[int, http.client.HTTPMessage, bytes]:
    """POST with Transfer-Encoding: chunked and no Content-Length, as some HTTP stacks send."""
    conn = http.client.HTTPConnection(address, timeout=60)
    try:
        conn.request(
            "POST",
            URL,
            body=iter(pieces),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_chunked_export_is_read_to_its_end_and_capped(gunicorn_url, alice_key, settings):
    api_key, plaintext = alice_key
    export = fixture_bytes("small.json")
    pieces = [export[i : i + 4096] for i in range(0, len(export), 4096)]

    status, headers, answer = post_chunked(gunicorn_url, plaintext, pieces)

    assert status == 200, answer
    ingestion = Ingestion.objects.get(user=api_key.owner)
    assert ingestion.status == "processed"
    assert ingestion.body_size == len(export)
    # Nothing was declared, so the byte budget is charged with what was read.
    remaining = settings.RATELIMIT_BYTES_PER_HOUR - len(export)
    assert f'"bytes";r={remaining};' in headers["RateLimit"]

    status, _, answer = post_chunked(gunicorn_url, plaintext, [b" " * 90_000, export])
    assert status == 413, answer
    assert b"body_too_large" in answer
    assert Ingestion.objects.filter(user=api_key.owner).count() == 1
