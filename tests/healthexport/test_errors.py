from __future__ import annotations

import pytest


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
