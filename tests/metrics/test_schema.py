from __future__ import annotations

import re

import pytest
import yaml

pytestmark = pytest.mark.django_db

OWNER_PATHS = {
    "/v1/ingest",
    "/v1/metrics",
    "/v1/metrics/{name}",
    "/v1/workouts",
    "/v1/workouts/{public_id}",
    "/v1/stats",
    "/v1/ingestions",
    "/v1/ingestions/{public_id}",
    "/v1/export",
    "/v1/data",
}


def test_the_schema_is_public_and_describes_every_endpoint(api_client):
    response = api_client.get("/v1/schema")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) >= OWNER_PATHS
    assert "Error" in schema["components"]["schemas"]
    ingest = schema["paths"]["/v1/ingest"]["post"]
    assert ingest["responses"]["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


def test_the_schema_documents_the_answers_the_api_really_gives(api_client):
    schema = yaml.safe_load(api_client.get("/v1/schema").content)
    assert {"413", "415", "422"} <= set(schema["paths"]["/v1/ingest"]["post"]["responses"])
    assert "415" not in schema["paths"]["/v1/stats"]["get"]["responses"]
    export = schema["paths"]["/v1/export"]["get"]["responses"]["200"]["content"]
    assert export["application/json"]["schema"]["type"] == "object"  # format=hae is a JSON document
    assert export["text/csv; charset=utf-8"]["schema"]["format"] == "binary"
    # The deletes answer 200 with what they deleted, not drf-spectacular's default 204.
    assert "200" in schema["paths"]["/v1/ingestions/{public_id}"]["delete"]["responses"]
    assert "200" in schema["paths"]["/v1/data"]["delete"]["responses"]
    body = schema["paths"]["/v1/data"]["delete"]["requestBody"]["content"]["application/json"]["schema"]
    confirm = body["properties"]["confirm"]
    assert confirm["enum"] == ["delete all my data"]


def test_the_docs_page_is_served_without_a_key(api_client):
    response = api_client.get("/v1/docs")
    assert response.status_code == 200 and b"redoc" in response.content.lower()


def test_the_docs_page_needs_no_cdn(client):
    """Redoc's script comes from our own static files: the docs work on an offline server."""
    page = client.get("/v1/docs").content.decode()
    script = re.search(r'<script src="([^"]+redoc[^"]+\.js)"', page)
    assert script is not None
    assert script.group(1).startswith("/static/")
    asset = client.get(script.group(1))
    assert asset.status_code == 200
    asset.close()
