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
