"""Headers every answer of a kind carries: no caching of /v1, a Content-Security-Policy."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


@pytest.mark.parametrize("path", ["/v1/stats", "/v1/nothing-here", "/v1/schema"])
def test_api_answers_are_never_stored_by_caches(api_client, path):
    response = api_client.get(path)

    assert "no-store" in response["Cache-Control"]


def test_an_authenticated_api_answer_is_not_stored_either(alice_client):
    response = alice_client.get("/v1/stats")

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


# --- Content-Security-Policy: nothing from another host, no inline script without the nonce ------


def policy(response) -> dict[str, list[str]]:
    directives = (part.strip().split() for part in response["Content-Security-Policy"].split(";"))
    return {name: sources for name, *sources in directives}


def test_admin_pages_carry_a_strict_content_security_policy(client):
    response = client.get("/admin/login/")

    assert response.status_code == 200
    csp = policy(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"][0] == "'self'" and "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert csp["frame-ancestors"] == ["'none'"]


def test_the_docs_page_loads_only_our_own_scripts_under_a_policy_redoc_can_live_with(client):
    response = client.get("/v1/docs")

    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r"<script([^>]*)>", html)
    sources = [re.search(r'src="([^"]+)"', attributes)[1] for attributes in scripts]
    assert sources and all(source.startswith("/static/") for source in sources)  # no inline script
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # nothing from another host (fonts)
    redoc = client.get(sources[0])
    redoc.close()  # a streamed static file
    assert redoc.status_code == 200
    csp = policy(response)
    assert "blob:" in csp["worker-src"]  # Redoc's search worker
    assert "'unsafe-inline'" in csp["style-src"]  # Redoc's run-time styles


def test_the_key_created_page_runs_its_inline_script_by_nonce(client, staff, alice, fast_key_hashing):
    client.force_login(staff)

    response = client.post(
        reverse("admin:accounts_apikey_add"), {"owner": alice.pk, "name": "iPhone", "scopes": ["ingest"]}, follow=True
    )

    assert response.status_code == 200
    nonce = re.search(r'<script nonce="([^"]+)">', response.content.decode())[1]
    assert f"'nonce-{nonce}'" in policy(response)["script-src"]
