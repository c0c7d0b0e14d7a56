from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from audit.context import serving


class AuditRequestMiddleware:
    """Makes the request known to audit receivers of model signals (``audit.context``).

    After AuthenticationMiddleware, so ``request.user`` is there when a receiver reads it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with serving(request):
            return self.get_response(request)
