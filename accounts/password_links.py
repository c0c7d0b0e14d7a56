"""One-time "set your password" links: staff hand one to an owner instead of an e-mail.

A link is ``/set-password/<uid>/<token>`` with a token of Django's ``PasswordResetTokenGenerator``
(its own salt): it is a hash of the user's id, password hash, last sign-in and the time it was
made, so setting a password (or signing in) spends it, and it expires after
``PASSWORD_RESET_TIMEOUT`` (24 hours). Nothing is stored; creating and using one is audited.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts.models import User
from audit.services import record_event


class SetPasswordTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "healthexport.accounts.password_links"


tokens = SetPasswordTokenGenerator()


def password_link_create(*, user: User, created_by: User, request: HttpRequest) -> str:
    """The absolute URL of a new link for ``user`` (shown once to staff), audited."""
    path = reverse(
        "set-password", kwargs={"uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": tokens.make_token(user)}
    )
    base = getattr(settings, "PUBLIC_URL", "") or request.build_absolute_uri("/")
    record_event(
        action="user.password_link_created",
        request=request,
        actor=created_by,
        target=user,
        metadata={"username": user.username, "expires_in_seconds": settings.PASSWORD_RESET_TIMEOUT},
    )
    return base.rstrip("/") + path


def password_link_user(*, uidb64: str, token: str) -> User | None:
    """The user a link is for, if it is still valid (not used, not expired, not tampered with)."""
    try:
        user = User.objects.filter(pk=int(force_str(urlsafe_base64_decode(uidb64))), is_active=True).first()
    except (ValueError, OverflowError):
        return None
    if user is None or not tokens.check_token(user, token):
        return None
    return user


def password_set(*, user: User, password: str, request: HttpRequest | Any) -> None:
    """Set the password a link was for (which spends the link), audited in the same transaction."""
    validate_password(password, user)
    user.set_password(password)
    with transaction.atomic():
        user.save(update_fields=["password"])
        record_event(action="user.password_set", request=request, actor=user, target=user, metadata={"via": "link"})
