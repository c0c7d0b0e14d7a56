"""Writes on users' API keys: create, revoke, record use, upgrade a hash."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from accounts import key_epoch, keys, verify_cache
from accounts.models import ApiKey, User
from audit.services import record_event

logger = logging.getLogger(__name__)

PREFIX_ATTEMPTS = 5
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    """Known scopes, deduplicated, in the canonical order (ingest, read, delete)."""
    wanted = set(scopes)
    unknown = wanted - set(ApiKey.Scope.values)
    if unknown:
        raise ValidationError(f"Unknown scope(s): {', '.join(sorted(unknown))}. Use: {', '.join(ApiKey.Scope.values)}.")
    if not wanted:
        raise ValidationError("An API key needs at least one scope.")
    return [scope for scope in ApiKey.Scope.values if scope in wanted]


def api_key_create(
    *,
    owner: User,
    name: str,
    scopes: Iterable[str],
    created_by: User | None,
    expires_at: datetime | None = None,
    request: HttpRequest | None = None,
) -> tuple[ApiKey, str]:
    """Issue a key; the plaintext is returned here and exists nowhere else afterwards."""
    clean_scopes = _clean_scopes(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError("The expiry must be in the future.")
    for _attempt in range(PREFIX_ATTEMPTS):
        prefix = keys.new_prefix()
        plaintext = keys.new_key(prefix)
        # Argon2 (~25 ms) runs before the transaction opens, so no lock is held while it works.
        hashed = keys.hash_key(plaintext)
        try:
            # The key row and its audit event commit together or not at all.
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    owner=owner,
                    name=name,
                    prefix=prefix,
                    hashed_key=hashed,
                    scopes=clean_scopes,
                    created_by=created_by,
                    expires_at=expires_at,
                )
                record_event(
                    action="apikey.created",
                    request=request,
                    actor=created_by,
                    target=api_key,
                    metadata={
                        "prefix": prefix,
                        "owner": str(owner.public_id),
                        "scopes": clean_scopes,
                        "expires_at": expires_at.isoformat() if expires_at else None,
                    },
                )
        except IntegrityError:
            # 36**8 prefixes make a collision rare; retry only for that, re-raise anything else.
            if not ApiKey.objects.filter(prefix=prefix).exists():
                raise
            logger.info("api key prefix collision, drawing another")
            continue
        return api_key, plaintext
    raise RuntimeError(f"No free API key prefix after {PREFIX_ATTEMPTS} attempts.")


def api_key_revoke(*, api_key: ApiKey, revoked_by: User | None, request: HttpRequest | None = None) -> bool:
    """Revoke a key; False (and no event) when it was already revoked. Revoked keys stay revoked."""
    now = timezone.now()
    # Conditional UPDATE: two concurrent revocations record one event and keep the first revoker.
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=revoked_by
        )
        if revoked:
            record_event(
                action="apikey.revoked",
                request=request,
                actor=revoked_by,
                target=api_key,
                metadata={"prefix": api_key.prefix, "owner": str(api_key.owner.public_id)},
            )
    if revoked:
        api_key.revoked_at, api_key.revoked_by = now, revoked_by
        verify_cache.forget(api_key.pk)
        key_epoch.keys_changed()  # every other worker re-reads the row on the key's next request
    return bool(revoked)


def api_key_mark_used(*, api_key: ApiKey, ip: Callable[[], str | None]) -> None:
    """Record use at most once a minute per key: skip when the loaded row is recent, else a conditional UPDATE.

    ``ip`` is asked only when the row is written: a warm request pays for no address parsing.
    """
    now = timezone.now()
    threshold = now - LAST_USED_RESOLUTION
    if api_key.last_used_at is not None and api_key.last_used_at >= threshold:
        return
    address = ip()
    ApiKey.objects.filter(pk=api_key.pk).filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=threshold)).update(
        last_used_at=now, last_used_ip=address
    )
    api_key.last_used_at, api_key.last_used_ip = now, address


def api_key_upgrade_hash(*, api_key: ApiKey, plaintext: str) -> None:
    """After a successful verification, store the hash with the configured parameters if it had others."""
    if not keys.needs_rehash(api_key.hashed_key):
        return
    new_hash = keys.hash_key(plaintext)
    # Only replaces the hash that was verified, so a concurrent upgrade is not undone.
    ApiKey.objects.filter(pk=api_key.pk, hashed_key=api_key.hashed_key).update(hashed_key=new_hash)
    api_key.hashed_key = new_hash
    logger.info("api key hash upgraded to the configured Argon2 parameters", extra={"prefix": api_key.prefix})


def user_get_or_create(*, username: str, create: bool) -> tuple[User, bool]:
    """The user named ``username`` and whether it was created now (with no usable password).

    Raises ``User.DoesNotExist`` when there is none and ``create`` is false: the command-line
    tools turn that into "pass --create-user".
    """
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user, False
    if not create:
        raise User.DoesNotExist(f"No user {username!r}; pass --create-user to create it.")
    return User.objects.create_user(username=username), True
