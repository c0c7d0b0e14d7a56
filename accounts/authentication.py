"""DRF authentication by API key (``Authorization: Bearer <key>`` or ``X-API-Key: <key>``).

Hot path (key verified within API_KEY_CACHE_SECONDS): one cache GET and one indexed query that
loads the row, so revocation and expiry are read fresh on every request. Cold path: per-IP failure
throttle, then Argon2 against the row found by prefix. Every failure is audited and counted.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from accounts import instrumentation, keys, verification, verify_cache
from accounts.models import ApiKey, User
from accounts.ratelimit import ratelimit_note_failed_auth_throttle
from accounts.services import api_key_mark_used
from accounts.verification import KeyRejected
from audit.models import AuditEvent
from audit.services import record_event
from healthexport.lib.errors import WWW_AUTHENTICATE
from healthexport.lib.http import client_ip
from healthexport.lib.logging import bind_log_context

logger = logging.getLogger(__name__)

BEARER = "bearer"
FAILURE_GROUP = "accounts.auth_failures"


def presented_key(request: HttpRequest) -> str | None:
    """The key from ``Authorization: Bearer`` (preferred) or ``X-API-Key``; None when neither is sent."""
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == BEARER:
            return credentials.strip()
    api_key_header = request.META.get("HTTP_X_API_KEY")
    return api_key_header.strip() if api_key_header is not None else None


def _failure_ip(group: str, request: HttpRequest) -> str:
    return client_ip(request) or "unknown"


RATE_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _window_seconds(rate: str) -> int:
    """The window of a django-ratelimit rate such as ``20/m`` or ``100/5m``, in seconds."""
    period = rate.partition("/")[2]
    return int(period[:-1] or 1) * RATE_UNIT_SECONDS[period[-1]]


def _failure_usage(request: HttpRequest, *, increment: bool) -> dict[str, Any] | None:
    """Failed authentications from this IP in the current window; None when the cache cannot say."""
    try:
        return get_usage(
            request, group=FAILURE_GROUP, key=_failure_ip, rate=settings.AUTH_FAILURES_PER_IP, increment=increment
        )
    except Exception as exc:  # cache down: the throttle fails open, authentication itself still does not
        logger.warning("auth failure throttle unavailable: %s", exc.__class__.__name__)
        return None


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        presented = presented_key(request._request)
        if presented is None:
            return None  # not_authenticated, decided by the permission classes
        http_request = request._request
        parsed = keys.parse_key(presented)
        try:
            api_key = verification.from_cache(parsed) if parsed else None
            instrumentation.record_api_key_cache("hit" if api_key is not None else "miss")
            if api_key is None:
                # Only a cache miss can cost Argon2, so only a miss is throttled.
                self._refuse_if_throttled(http_request)
                if parsed is None:
                    raise KeyRejected(
                        "malformed",
                        "The API key is not in the hx_<prefix>_<secret> format.",
                        prefix=keys.loose_prefix(presented),
                    )
                api_key = verification.from_database(parsed)
                verification.ensure_usable(api_key)
                verify_cache.remember(keys.key_digest(presented), key_id=api_key.pk, expires_at=api_key.expires_at)
            else:
                verification.ensure_usable(api_key)
        except KeyRejected as rejection:
            self._record_failure(http_request, rejection)
            raise exceptions.AuthenticationFailed(rejection.message) from None
        api_key_mark_used(api_key=api_key, ip=client_ip(http_request))
        bind_log_context(user_id=api_key.owner.public_id, key_prefix=api_key.prefix)
        return api_key.owner, api_key

    def authenticate_header(self, request: Request) -> str:
        return WWW_AUTHENTICATE

    def _refuse_if_throttled(self, request: HttpRequest) -> None:
        usage = _failure_usage(request, increment=False)
        if usage is None or usage["count"] < usage["limit"]:
            return
        # Counting refused attempts too lets the first one of a window be audited, and only that one.
        usage = _failure_usage(request, increment=True) or usage
        if usage["count"] == usage["limit"] + 1:
            record_event(
                action="ratelimit.exceeded",
                request=request,
                target=("ip", client_ip(request) or "unknown"),
                outcome=AuditEvent.Outcome.DENIED,
                metadata={"limit": "auth_failures_per_ip", "rate": settings.AUTH_FAILURES_PER_IP},
            )
        instrumentation.record_auth_failure("throttled")
        wait = max(1, usage["time_left"])
        window = _window_seconds(settings.AUTH_FAILURES_PER_IP)
        ratelimit_note_failed_auth_throttle(request, limit=usage["limit"], window=window, reset=wait)
        # The error handler maps Throttled to 429 rate_limited; DRF sets Retry-After from ``wait``.
        raise exceptions.Throttled(wait=wait, detail="Too many failed authentications from this address.")

    def _record_failure(self, request: HttpRequest, rejection: KeyRejected) -> None:
        instrumentation.record_auth_failure(rejection.reason)
        if rejection.api_key is not None:
            verify_cache.forget(rejection.api_key.pk)
        _failure_usage(request, increment=True)
        record_event(
            action="auth.failed",
            request=request,
            api_key=rejection.api_key,
            outcome=AuditEvent.Outcome.DENIED,
            metadata={"reason": rejection.reason, "prefix": rejection.prefix},
        )
