"""The domain errors every app raises, and the one error shape they leave in:

    {"error": {"code": "invalid_json", "message": "human sentence", "details": []}}

The handlers that turn any exception into that shape are Core's (``healthexport/errors.py``).
"""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse
from rest_framework import exceptions as drf

WWW_AUTHENTICATE = 'Bearer realm="healthexport"'


class ApiError(drf.APIException):
    """Base of our domain errors: a status, a stable code and a human message."""

    status_code = 400
    code = "invalid_payload"
    default_detail = "The request is invalid."

    def __init__(self, message: str | None = None, *, details: list[dict[str, Any]] | None = None):
        super().__init__(message or self.default_detail, self.code)
        self.message = message or str(self.default_detail)
        self.details = details or []


class InvalidJson(ApiError):
    code = "invalid_json"
    default_detail = "The body is not valid JSON."


class InvalidRequest(ApiError):
    """A request that is not HTTP we read: a malformed chunked body, say (the servers refuse
    malformed request lines and headers themselves, in this shape too)."""

    code = "invalid_request"
    default_detail = "The request is not valid HTTP."


class InvalidPayload(ApiError):
    code = "invalid_payload"
    default_detail = "The body is not a Health Auto Export payload."


class BodyTooLarge(ApiError):
    status_code = 413
    code = "body_too_large"
    default_detail = "The body is larger than this server accepts."


class UnsupportedMediaType(ApiError):
    status_code = 415
    code = "unsupported_media_type"
    default_detail = "Send the export as application/json."


class IdempotencyKeyReused(ApiError):
    """An Idempotency-Key already used with another body: answering ``duplicate`` would drop this one."""

    status_code = 422
    code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was already used with a different body."


class RateLimited(ApiError):
    status_code = 429
    code = "rate_limited"
    default_detail = "Too many requests for this API key; retry after the Retry-After seconds."


class ServiceUnavailable(ApiError):
    status_code = 503
    code = "service_unavailable"
    default_detail = "The service is temporarily unavailable; retry later."


class NotFound(ApiError):
    status_code = 404
    code = "not_found"
    default_detail = "Nothing is here."


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def error_response(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> JsonResponse:
    """The error shape for plain Django views and middleware (outside DRF)."""
    response = JsonResponse(error_body(code, message, details), status=status)
    if status == 401:
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response
