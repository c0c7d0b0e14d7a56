"""Admin logins and failed logins go to the audit trail."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from audit.models import AuditEvent
from audit.services import record_event

USERNAME_MAX = 150


def _is_admin_request(request: HttpRequest | None) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and match.app_name == "admin"


@receiver(user_logged_in, dispatch_uid="audit_admin_login")
def audit_admin_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if _is_admin_request(request):
        record_event(action="admin.login", request=request, actor=user)


@receiver(user_login_failed, dispatch_uid="audit_admin_login_failed")
def audit_admin_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Only the attempted username is kept: ``credentials`` also carries the (masked) password.
    if _is_admin_request(request):
        username = str(credentials.get("username", ""))[:USERNAME_MAX]
        record_event(
            action="admin.login_failed",
            request=request,
            outcome=AuditEvent.Outcome.FAILURE,
            metadata={"username": username},
        )
