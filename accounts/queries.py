"""Reads of a user's own API keys (the owner's Keys page)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import ApiKey
from healthexport.lib.errors import NotFound


def api_keys_of(*, user: Any) -> QuerySet[ApiKey]:
    """The owner's keys, live ones first, newest first; never the hash."""
    return ApiKey.objects.filter(owner=user).defer("hashed_key").order_by("revoked_at", "-created_at")


def api_key_of(*, user: Any, public_id: Any) -> ApiKey:
    """One of the owner's keys; someone else's id is a 404, as an unknown one."""
    api_key = api_keys_of(user=user).filter(public_id=public_id).first()
    if api_key is None:
        raise NotFound("You have no API key with this id.")
    return api_key
