"""DRF authentication by API key (``Authorization: Bearer <key>`` or ``X-API-Key: <key>``).

Hot path (key verified within API_KEY_CACHE_SECONDS): no query while no key or user changed, and
on Redis no round trip either (the epoch is pushed to each process, see key_epoch); the row is
read again when one did.
Cold path: a slot of the per-IP failure throttle, then Argon2 against the row found by prefix.
Every failure is audited and counted.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from accounts import instrumentation, key_epoch, keys, verification, verify_cache
from accounts.models import ApiKey, User
from accounts.ratelimit import (
    FailedAuthSlot,
    failed_auth_give_back,
    failed_auth_take,
    ratelimit_note_failed_auth_throttle,
)
from accounts.services import api_key_mark_used
from accounts.verification import KeyRejected
from audit.models import AuditEvent
from audit.services import record_event
from healthexport.lib.errors import WWW_AUTHENTICATE
from healthexport.lib.http import client_ip
from healthexport.lib.logging import bind_log_context

logger = logging.getLogger(__name__)

BEARER = "bearer"
PEER_WAIT_SECONDS = 10


def presented_key(request: HttpRequest) -> str | None:
    """The key from ``Authorization: Bearer`` (preferred) or ``X-API-Key``; None when neither is sent."""
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == BEARER:
            return credentials.strip()
    api_key_header = request.META.get("HTTP_X_API_KEY")
    return api_key_header.strip() if api_key_header is not None else None


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        presented = presented_key(request._request)
        if presented is None:
            return None  # not_authenticated, decided by the permission classes
        http_request = request._request
        parsed = keys.parse_key(presented)
        try:
            if parsed is None:
                self._take_failure_slot(http_request)
                raise KeyRejected(
                    "malformed",
                    "The API key is not in the hx_<prefix>_<secret> format.",
                    prefix=keys.loose_prefix(presented),
                )
            entry = self._verified(http_request, parsed)
        except KeyRejected as rejection:
            self._record_failure(http_request, rejection)
            raise exceptions.AuthenticationFailed(rejection.message) from None
        api_key_mark_used(api_key=entry.api_key, ip=lambda: client_ip(http_request))
        api_key = entry.request_copy()
        bind_log_context(user_id=api_key.owner.public_id, key_prefix=api_key.prefix)
        return api_key.owner, api_key

    def _verified(self, request: HttpRequest, parsed: keys.ParsedKey) -> verify_cache.Verified:
        """The key from the verify cache, else checked with Argon2: by one thread per key at a time,
        holding a slot of the failed-authentication throttle (given back when the key is good)."""
        digest = keys.key_digest(parsed.plaintext)
        # Read before any row, so a change that lands meanwhile is seen on the next request.
        epoch = key_epoch.current_epoch()
        entry = self._from_cache(request, parsed, digest=digest, epoch=epoch)
        instrumentation.record_api_key_cache("hit" if entry is not None else "miss")
        if entry is not None:
            return entry
        with verify_cache.checking(digest) as peer:
            if peer is not None:  # another thread is checking this very key: its answer will do
                peer.wait(PEER_WAIT_SECONDS)
                entry = self._from_cache(request, parsed, digest=digest, epoch=epoch)
                if entry is not None:
                    return entry
            # Taken before Argon2, so concurrent bad keys cannot all pass before one is counted.
            slot = self._take_failure_slot(request)
            entry = verification.from_database(parsed, digest=digest, epoch=epoch)
            failed_auth_give_back(slot)  # reached only by a good key: only failures count
            return entry

    def _from_cache(
        self, request: HttpRequest, parsed: keys.ParsedKey, *, digest: str, epoch: int | None
    ) -> verify_cache.Verified | None:
        try:
            return verification.from_cache(parsed, digest=digest, epoch=epoch)
        except KeyRejected:  # a known key found revoked, expired or ownerless: a failure all the same
            failed_auth_take(_failure_ip(request))
            raise

    def authenticate_header(self, request: Request) -> str:
        return WWW_AUTHENTICATE

    def _take_failure_slot(self, request: HttpRequest) -> FailedAuthSlot:
        """Count this attempt as a failure of its address up front; 429 when that is over the limit."""
        slot = failed_auth_take(_failure_ip(request))
        if not slot.over_limit:
            return slot
        if slot.count == slot.limit + 1:  # the first refusal of the window is audited, only that one
            record_event(
                action="ratelimit.exceeded",
                request=request,
                target=("ip", client_ip(request) or "unknown"),
                outcome=AuditEvent.Outcome.DENIED,
                metadata={"limit": "auth_failures_per_ip", "rate": settings.AUTH_FAILURES_PER_IP},
            )
        instrumentation.record_auth_failure("throttled")
        ratelimit_note_failed_auth_throttle(request, limit=slot.limit, window=slot.window, reset=slot.reset)
        # The error handler maps Throttled to 429 rate_limited; DRF sets Retry-After from ``wait``.
        raise exceptions.Throttled(wait=slot.reset, detail="Too many failed authentications from this address.")

    def _record_failure(self, request: HttpRequest, rejection: KeyRejected) -> None:
        instrumentation.record_auth_failure(rejection.reason)
        if rejection.api_key is not None:
            verify_cache.forget(rejection.api_key.pk)
        record_event(
            action="auth.failed",
            request=request,
            api_key=rejection.api_key,
            outcome=AuditEvent.Outcome.DENIED,
            metadata={"reason": rejection.reason, "prefix": rejection.prefix},
        )


def _failure_ip(request: HttpRequest) -> str:
    return client_ip(request) or "unknown"
