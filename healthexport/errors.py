"""Every exception leaves the API and the health endpoints in one shape (see ``lib.errors``):
DRF's own exceptions and Django's 400/403/404/500 handlers are translated here, in one place."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import DisallowedHost
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from healthexport.lib.errors import WWW_AUTHENTICATE, ApiError, ServiceUnavailable, error_body, error_response

logger = logging.getLogger(__name__)

JSON_PATH_PREFIXES = ("/v1/", "/health", "/ready")
# Prometheus' /metrics answers JSON errors; the owner's pages under /metrics/<name> are HTML.
JSON_PATHS = ("/metrics", "/metrics/")

# SQLSTATEs a retry can get past: the connection (class 08), a serialization failure or deadlock,
# a server shutting down or starting, too many connections. Not "out of shared memory" (53200,
# e.g. the lock table full), a statement timeout or a data error: retrying repeats them, and a 503
# would have the app retry for ever.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03", "53300"})


# DRF's built-in exceptions, mapped to our stable codes.
DRF_CODES: list[tuple[type[Exception], str]] = [
    (drf.NotAuthenticated, "not_authenticated"),
    (drf.AuthenticationFailed, "invalid_api_key"),
    (drf.PermissionDenied, "permission_denied"),
    (drf.NotFound, "not_found"),
    (drf.MethodNotAllowed, "method_not_allowed"),
    (drf.UnsupportedMediaType, "unsupported_media_type"),
    (drf.ParseError, "invalid_json"),
    (drf.Throttled, "rate_limited"),
    (drf.ValidationError, "invalid_payload"),
    (drf.NotAcceptable, "not_acceptable"),
]


def _validation_details(detail: Any, path: str = "") -> list[dict[str, Any]]:
    if isinstance(detail, dict):
        return [
            item for key, value in detail.items() for item in _validation_details(value, f"{path}.{key}".lstrip("."))
        ]
    if isinstance(detail, list):
        return [item for value in detail for item in _validation_details(value, path)]
    return [{"field": path or None, "reason": getattr(detail, "code", "invalid"), "message": str(detail)}]


def is_retryable_database_error(exc: BaseException) -> bool:
    """Whether a client's retry can get past this database error (answered 503), or it is a fault
    that retrying only repeats (Django's 500)."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if sqlstate := getattr(cause, "sqlstate", None):
        return sqlstate.startswith("08") or sqlstate in RETRYABLE_SQLSTATES
    # No SQLSTATE: psycopg's own connection failures (refused, timed out, lost); on SQLite, a
    # lock wait that timed out.
    return type(cause).__module__.startswith("psycopg") or "database is locked" in str(cause)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF EXCEPTION_HANDLER: every API error leaves in the contract's shape."""
    if is_retryable_database_error(exc):
        logger.error("database unavailable: %s", exc.__class__.__name__)
        exc = ServiceUnavailable("The database is unreachable; nothing was stored. Retry later.")
    elif isinstance(exc, DatabaseError):
        return None  # a real bug: let Django's 500 handler report it
    elif isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None

    if isinstance(exc, ApiError):
        code, message, details = exc.code, exc.message, exc.details
    else:
        code = next((c for cls, c in DRF_CODES if isinstance(exc, cls)), "error")
        if isinstance(exc, drf.ValidationError):
            message, details = "The request is invalid.", _validation_details(exc.detail)
        elif isinstance(exc, drf.ParseError):
            message, details = f"The body is not valid JSON: {exc.detail}", []
        else:
            message, details = str(exc.detail), []
    response.data = error_body(code, message, details)
    if response.status_code == 401:
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response


def wants_json(request: HttpRequest) -> bool:
    """Paths answered in the JSON error shape; the others (admin, pages) get Django's HTML pages."""
    return request.path.startswith(JSON_PATH_PREFIXES) or request.path in JSON_PATHS


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, DisallowedHost):
        return disallowed_host(request)
    if wants_json(request):
        return error_response(400, "invalid_payload", "The request is invalid.")
    from django.views import defaults

    return defaults.bad_request(request, exception)


HOST_LOGGED_MAX = 100


def disallowed_host(request: HttpRequest) -> HttpResponse:
    """A Host outside ALLOWED_HOSTS: a misconfiguration or a scanner, not a bug. One warning line
    (Django's own ERROR with a traceback is silenced in LOGGING) and an answer naming the setting."""
    host = request.META.get("HTTP_HOST") or request.META.get("SERVER_NAME", "")
    logger.warning("refused Host %r: not in ALLOWED_HOSTS", host[:HOST_LOGGED_MAX])
    message = "This server does not serve the host named in the Host header: add it to ALLOWED_HOSTS."
    if wants_json(request):
        return error_response(400, "invalid_host", message)
    return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if wants_json(request):
        return error_response(403, "permission_denied", "You do not have permission to do this.")
    from django.views import defaults

    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if wants_json(request):
        return error_response(404, "not_found", "Nothing is here.")
    from django.views import defaults

    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if wants_json(request):
        return error_response(500, "server_error", "The server failed; the error was logged.")
    from django.views import defaults

    return defaults.server_error(request)
