"""OpenAPI additions every operation shares: only /v1 is documented, and each operation's error
answers point at the one Error shape. Apps add their own schema extensions (``<app>/openapi.py``)."""

from __future__ import annotations

from typing import Any

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
        "422": "idempotency_key_reused (the Idempotency-Key was used before with a different body)",
    },
    ("/v1/imports", "post"): {
        "413": "body_too_large (over IMPORT_MAX_BODY_BYTES)",
        "415": "unsupported_media_type (not application/zip)",
    },
}


def destructive_last(endpoint: tuple) -> tuple:
    """Operation order (``SORT_OPERATIONS``): by path, the DELETEs after everything else."""
    path, _regex, method, _view = endpoint
    return (method == "DELETE", path, method)


def only_v1(endpoints: list) -> list:
    """Preprocessing hook: the API is /v1; health, readiness and Prometheus are for operators."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/v1/")]


def add_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: the Error component, referenced by every operation's error answers."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            statuses = {**ERROR_STATUSES, **OPERATION_ERROR_STATUSES.get((path, method), {})}
            for status, description in statuses.items():
                operation.setdefault("responses", {}).setdefault(
                    status, {"description": description, "content": reference}
                )
    return result
