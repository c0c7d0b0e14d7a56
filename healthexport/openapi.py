"""OpenAPI additions drf-spectacular cannot infer: the API-key scheme, POST /v1/ingest (whose
view reads the body itself) and the one error shape on every operation."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiViewExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "example": "invalid_json", "description": "Stable, documented code."},
                "message": {"type": "string", "description": "For a human."},
                "details": {"type": "array", "items": {"type": "object"}, "description": "Item-level problems."},
            },
        }
    },
}
ERROR_STATUSES = {
    "400": "invalid_json / invalid_payload",
    "401": "not_authenticated / invalid_api_key",
    "403": "permission_denied (the key lacks the scope)",
    "404": "not_found (also for ids that belong to someone else)",
    "429": "rate_limited",
    "503": "service_unavailable",
}
# Error answers only some operations give, by (path, method).
OPERATION_ERROR_STATUSES = {
    ("/v1/ingest", "post"): {
        "413": "body_too_large (over INGEST_MAX_BODY_BYTES after decompression)",
        "415": "unsupported_media_type (not application/json, or an unknown Content-Encoding)",
    },
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer hx_…` (or `X-API-Key: hx_…`); scopes ingest, read, delete.",
        }


class IngestViewSchema(OpenApiViewExtension):
    target_class = "ingest.views.IngestView"

    def view_replacement(self):
        class Fixed(self.target_class):
            @extend_schema(
                summary="Send one Health Auto Export export",
                description='Body: `{"data": {"metrics": [...], "workouts": [...], ...}}`, optionally gzip or '
                "deflate (Content-Encoding). 200 for every well-formed export, with counts per metric and "
                "item errors; `status` is processed, partial or duplicate.",
                request={"application/json": OpenApiTypes.OBJECT},
                parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
                responses={200: OpenApiTypes.OBJECT},
            )
            def post(self, request, *args, **kwargs):
                return super().post(request, *args, **kwargs)

        return Fixed


def only_v1(endpoints: list) -> list:
    """Preprocessing hook: the API is /v1; health, readiness and Prometheus are for operators."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/v1/")]


def add_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: the Error component, referenced by every operation's error answers, and
    the confirmation body of DELETE /v1/data (drf-spectacular documents no body for DELETE)."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    # Imported here: this module is loaded by the URLconf, before the apps' services are needed.
    from ingest.services import DELETE_ALL_CONFIRMATION

    result["paths"]["/v1/data"]["delete"]["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["confirm"],
                    "properties": {"confirm": {"type": "string", "enum": [DELETE_ALL_CONFIRMATION]}},
                }
            }
        },
    }
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            statuses = {**ERROR_STATUSES, **OPERATION_ERROR_STATUSES.get((path, method), {})}
            for status, description in statuses.items():
                operation.setdefault("responses", {}).setdefault(
                    status, {"description": description, "content": reference}
                )
    return result
