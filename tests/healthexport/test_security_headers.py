"""Headers every answer of a kind carries: no caching of /v1."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


@pytest.mark.parametrize("path", ["/v1/stats", "/v1/nothing-here", "/v1/schema"])
def test_api_answers_are_never_stored_by_caches(api_client, path):
    response = api_client.get(path)

    assert "no-store" in response["Cache-Control"]


def test_an_authenticated_api_answer_is_not_stored_either(alice_client):
    response = alice_client.get("/v1/stats")

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
