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
