from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

from healthexport.errors import JSON_PATH_PREFIXES, bad_request, is_retryable_database_error, wants_json
from healthexport.lib.errors import error_response
from healthexport.lib.http import body_reader, declared_length, from_trusted_proxy
from healthexport.lib.logging import UNSET, bind_log_context, log_context, user_id_var

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("healthexport.access")

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is reused only when it is short and plain, so it cannot inject into logs.
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


class RequestIdMiddleware:
    """Give every request an id (the caller's X-Request-ID if sane), for logs, audit and answers."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request.request_id = incoming if SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        with log_context(request.request_id):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A database outage outside DRF views (admin, middleware) is a 503 for the API paths."""
        if request.path.startswith("/v1/") and is_retryable_database_error(exception):
            return error_response(503, "service_unavailable", "The database is unreachable; retry later.")
        return None


class NulInUrlMiddleware:
    """Refuse a URL with a NUL character (``%00``) in its path or query string: 400, before any
    view. PostgreSQL's text cannot hold one, so it would otherwise fail deep inside a query."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        field = _nul_field(request)
        if field is None:
            return self.get_response(request)
        if not request.path.startswith(JSON_PATH_PREFIXES):
            return bad_request(request)
        return error_response(
            400,
            "invalid_payload",
            "The URL holds a NUL character (%00), which no path or parameter may contain.",
            [{"field": field, "reason": "invalid_text"}],
        )


def _nul_field(request: HttpRequest) -> str | None:
    """Where the URL holds a NUL: ``path``, or the query parameter's name (escaped)."""
    if "\x00" in request.path:
        return "path"
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return name.replace("\x00", "\\u0000")
    return None


# Probes and scrapes arrive every few seconds: their successful answers are logged at DEBUG.
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})


class AccessLogMiddleware:
    """One line per request on the ``healthexport.access`` logger, inside RequestIdMiddleware.

    It names the path without its query string and never a header or the body.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        if user_id_var.get() == UNSET:
            # Session users (the admin) and anything authenticated without binding the context.
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                bind_log_context(
                    user_id=getattr(user, "public_id", user.pk),
                    key_prefix=getattr(getattr(request, "auth", None), "prefix", None),
                )
        quiet = request.path in QUIET_PATHS and response.status_code < 400
        access_logger.log(
            logging.DEBUG if quiet else logging.INFO,
            "%s %s %s %.1fms",
            request.method,
            request.path,
            response.status_code,
            duration_ms,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
            },
        )
        return response


# Read at most this much of a body left unread: more than any body the proxy passes (101 MiB)
# but for the Apple archive uploads, which are read whole or refused by their length.
DRAIN_MAX_BYTES = 128 * 1024 * 1024
DRAIN_CHUNK = 256 * 1024


class DrainUnreadBodyMiddleware:
    """Read to its end the body of a request our proxy passed on and we answered before reading it
    (a key refused, a body refused by its length or type, a rate limit), so that the connection
    can carry the next request.

    gunicorn answers such a request with keep-alive but discards at most 64 KiB of an unread body
    before reading the next request; past that it drops the connection when the next request
    comes. A proxy keeps its connections to gunicorn open (nginx's ``keepalive``, the Kubernetes
    ingress) and sends anybody's requests over them: that next request failed with 502 (our
    nginx's 503 ``service_unavailable``) because another client had sent a large body with a
    wrong key. The proxy holds the whole body already, so reading it costs little. A client
    connected directly only loses its own connection, and its refused body stays unread.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not from_trusted_proxy(request):
            return response
        read, drained = body_reader(request), 0
        try:
            while drained < DRAIN_MAX_BYTES and (piece := read(DRAIN_CHUNK)):
                drained += len(piece)
        except Exception:  # the client went away or broke its body: gunicorn closes the connection
            logger.debug("could not read the rest of a request body", exc_info=True)
        return response


class BodySizeLimitMiddleware:
    """Refuse, from ``Content-Length`` alone, a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MB).

    Django applies that setting only when ``request.body`` or ``request.POST`` is read, and not to
    multipart files (spooled to disk) nor to DRF's parsers (which read the stream): an anonymous
    100 MB POST to the admin login would be read whole. Views that read and cap their body
    themselves (the ingest view, with ``INGEST_MAX_BODY_BYTES``) say so with a class attribute
    ``streams_request_body = True``. A body without ``Content-Length`` (chunked) reads as empty
    anywhere else: Django limits the stream to the declared length.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable, view_args: tuple, view_kwargs: dict
    ) -> HttpResponse | None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        view = getattr(view_func, "view_class", view_func)
        if limit is None or getattr(view, "streams_request_body", False) or declared_length(request) <= limit:
            return None
        message = f"The body is larger than {limit} bytes, the most this endpoint accepts."
        if wants_json(request):
            return error_response(413, "body_too_large", message)
        return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


class ApiNoStoreMiddleware:
    """Every /v1 answer carries ``Cache-Control: no-store``: they hold health data, and no browser
    or proxy cache may keep them (errors included)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/v1/"):
            patch_cache_control(response, no_store=True)
        return response
