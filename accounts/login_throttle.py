"""Failed sign-ins throttled per username and per client IP (the admin login; owner pages reuse it).

After ``LOGIN_FAILURES_PER_USERNAME`` failed sign-ins for one username, or ``LOGIN_FAILURES_PER_IP``
from one address, the login form refuses to check any password until that window ends: the
answer is the login page with a message, status 429 and ``Retry-After``. Counting is
django-ratelimit's core in the shared cache (``cache.add`` then ``cache.incr``, atomic in Redis
and in the local-memory cache), in fixed windows. Refused attempts are counted too, so only the
first refusal of a window is audited (``auth.login_throttled``) and a flood cannot flood the audit
trail. With the cache down the throttle fails open: passwords are still checked, only not counted.

Wiring: the login form mixes in ``ThrottledLoginFormMixin`` and the login view passes its answer
through ``with_throttled_status``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import get_usage

from audit.models import AuditEvent
from audit.services import record_event
from healthexport.lib.http import client_ip

logger = logging.getLogger(__name__)

USERNAME_MAX = 150
THROTTLED = "throttled"


@dataclass(frozen=True)
class LoginRefusal:
    limit: str  # "username" or "ip": the counter that is full
    retry_after: int  # seconds until its window ends

    @property
    def message(self) -> str:
        subject = "for this username" if self.limit == "username" else "from this address"
        minutes = math.ceil(self.retry_after / 60)
        return f"Too many failed sign-ins {subject}. Try again in {minutes} minute{'s' if minutes > 1 else ''}."


def _counters(request: HttpRequest, username: str) -> list[tuple[str, str, str]]:
    """(limit name, rate, counted value) of each counter an attempt for ``username`` touches."""
    return [
        ("ip", settings.LOGIN_FAILURES_PER_IP, client_ip(request) or "unknown"),
        ("username", settings.LOGIN_FAILURES_PER_USERNAME, username.strip().casefold()[:USERNAME_MAX]),
    ]


def _usage(request: HttpRequest, *, limit: str, rate: str, value: str, increment: bool) -> dict[str, Any] | None:
    """This window's count for one counter; None when the cache cannot say (fail open)."""
    try:
        return get_usage(
            request,
            group=f"accounts.login_failures.{limit}",
            key=lambda group, request: value,
            rate=rate,
            increment=increment,
        )
    except Exception as exc:  # cache down: passwords are still checked, only not throttled
        logger.warning("login throttle unavailable: %s", exc.__class__.__name__)
        return None


def login_refusal(request: HttpRequest, username: str) -> LoginRefusal | None:
    """Whether this sign-in must be refused without checking the password (and, if so, count it)."""
    for limit, rate, value in _counters(request, username):
        usage = _usage(request, limit=limit, rate=rate, value=value, increment=False)
        if usage is None or usage["count"] < usage["limit"]:
            continue
        usage = _usage(request, limit=limit, rate=rate, value=value, increment=True) or usage
        if usage["count"] == usage["limit"] + 1:
            record_event(
                action="auth.login_throttled",
                request=request,
                target=("ip", client_ip(request) or "unknown"),
                outcome=AuditEvent.Outcome.DENIED,
                metadata={"username": username[:USERNAME_MAX], "limit": limit, "rate": rate},
            )
        return LoginRefusal(limit=limit, retry_after=max(1, usage["time_left"]))
    return None


def login_failed(request: HttpRequest, username: str) -> None:
    """Count one failed sign-in against the username and the address."""
    for limit, rate, value in _counters(request, username):
        _usage(request, limit=limit, rate=rate, value=value, increment=True)


class ThrottledLoginFormMixin:
    """For an ``AuthenticationForm``: a throttled attempt gets a form error (code ``throttled``)
    before any password is checked; a failed one is counted."""

    refusal: LoginRefusal | None = None

    def clean(self) -> dict[str, Any]:
        username = str(self.cleaned_data.get("username") or "")
        self.refusal = login_refusal(self.request, username)
        if self.refusal is not None:
            raise ValidationError(self.refusal.message, code=THROTTLED)
        try:
            return super().clean()
        except ValidationError:
            login_failed(self.request, username)
            raise


def with_throttled_status(response: HttpResponse) -> HttpResponse:
    """A login page answering a throttled attempt is a 429 with ``Retry-After``."""
    form = (getattr(response, "context_data", None) or {}).get("form")
    refusal = getattr(form, "refusal", None)
    if refusal is not None:
        response.status_code = 429
        response["Retry-After"] = str(refusal.retry_after)
    return response
