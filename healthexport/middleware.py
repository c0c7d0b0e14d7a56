from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from healthexport.errors import error_response
from healthexport.logging import request_id_var

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
        token = request_id_var.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response[REQUEST_ID_HEADER] = request.request_id
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A database outage outside DRF views (admin, middleware) is a 503 for the API paths."""
        if isinstance(exception, (OperationalError, InterfaceError)) and request.path.startswith("/v1/"):
            return error_response(503, "service_unavailable", "The database is unreachable; retry later.")
        return None
