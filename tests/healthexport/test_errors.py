from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from healthexport.errors import api_exception_handler
from healthexport.middleware import RequestIdMiddleware


@pytest.mark.embedded
@pytest.mark.django_db
def test_unknown_api_path_is_a_json_404(api_client):
    response = api_client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Nothing is here.", "details": []}}


@pytest.mark.django_db
def test_wrong_method_on_health_is_method_not_allowed(api_client):
    response = api_client.post("/health")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.django_db
def test_admin_pages_stay_html(client):
    response = client.get("/admin/no-such-page/")
    assert response.status_code in (302, 404)
    assert "application/json" not in response.get("Content-Type", "")


@pytest.mark.embedded
@pytest.mark.django_db
def test_an_unknown_host_is_one_warning_line_and_a_400_naming_allowed_hosts(api_client, log_lines):
    response = api_client.get("/health", HTTP_HOST="evil.example")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_host"
    assert "ALLOWED_HOSTS" in error["message"]
    lines = [line for line in log_lines() if line["logger"] != "healthexport.access"]
    assert [(line["level"], line["message"]) for line in lines] == [
        ("WARNING", "refused Host 'evil.example': not in ALLOWED_HOSTS")
    ]
    assert "Traceback" not in log_lines.text()


@pytest.mark.django_db
def test_an_unknown_host_on_a_page_is_plain_text_naming_the_setting(client):
    response = client.get("/admin/login/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert b"ALLOWED_HOSTS" in response.content


def _database_error(sqlstate: str) -> DatabaseError:
    """A real error of the database with this SQLSTATE, as Django raises it."""
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DO $$ BEGIN RAISE EXCEPTION 'test' USING ERRCODE = '{sqlstate}'; END $$")
    return caught.value


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sqlstate", "status"),
    [
        ("08006", 503),  # connection failure
        ("40001", 503),  # serialization failure
        ("57P01", 503),  # the server is shutting down
        ("53200", 500),  # out of shared memory: the lock table is full
        ("57014", 500),  # statement timeout
        ("23514", 500),  # a row no partition takes
    ],
)
def test_only_database_errors_a_retry_can_get_past_are_503(sqlstate, status, rf):
    if connection.vendor != "postgresql":
        pytest.skip("SQLSTATEs are PostgreSQL's")
    error = _database_error(sqlstate)
    request = rf.post("/v1/ingest")

    answer = api_exception_handler(error, {"request": request})
    outside_drf = RequestIdMiddleware(lambda request: None).process_exception(request, error)

    # None: Django's 500 handler answers ("server_error"), the app does not retry for ever.
    assert (answer.status_code if answer else 500) == status
    assert (outside_drf.status_code if outside_drf else 500) == status


NUL_URLS = [
    "/v1/metrics/%00",
    "/v1/metrics/step_count%00",
    "/v1/workouts?type=%00",
    "/v1/workouts?type=Run%00ning",
    "/v1/metrics/step_count?unit=%00",
    "/v1/metrics/step_count?tz=Europe/Berlin%00",
    "/v1/ingestions?cursor=%00",
    "/v1/export?format=%00",
    "/v1/stats?%00=1",
]


@pytest.mark.embedded
@pytest.mark.django_db
@pytest.mark.parametrize("url", NUL_URLS)
def test_a_nul_anywhere_in_an_api_url_is_invalid_payload(alice_client, url):
    alice_client.get("/v1/stats")  # the key is fine: only the URL is refused
    response = alice_client.get(url)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_payload"
    assert "NUL" in error["message"]
    assert response["X-Request-ID"]


@pytest.mark.django_db
def test_a_nul_in_a_page_url_is_a_plain_400(client):
    response = client.get("/admin/login/?next=%00")
    assert response.status_code == 400
    assert "application/json" not in response.get("Content-Type", "")
