from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone


class User(AbstractUser):
    """The data owner (or a staff member). Internal integer pk; the UUID is what leaves the system."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"


class ApiKeyQuerySet(models.QuerySet):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
        )

    def revoked(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=False)

    def expired(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__lte=timezone.now())


class ApiKey(models.Model):
    """A per-user key ``hx_<prefix>_<secret>``: only the prefix and an Argon2id hash are stored."""

    class Scope(models.TextChoices):
        INGEST = "ingest", "Ingest (POST /v1/ingest)"
        READ = "read", "Read own data"
        DELETE = "delete", "Delete own data"

    class Status(models.TextChoices):
        ACTIVE = "active"
        REVOKED = "revoked"
        EXPIRED = "expired"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=8, unique=True, help_text="Lookup prefix, the 8 characters after hx_.")
    hashed_key = models.CharField(max_length=255, editable=False)
    scopes = models.JSONField(default=list, help_text="Any of: ingest, read, delete.")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Per-key overrides of RATELIMIT_*_PER_HOUR (e.g. a one-day backfill); null means the default.
    ratelimit_requests_per_hour = models.PositiveIntegerField(null=True, blank=True)
    ratelimit_bytes_per_hour = models.PositiveBigIntegerField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(condition=Q(prefix__regex=r"^[a-z0-9]{8}$"), name="accounts_apikey_prefix_format"),
            models.CheckConstraint(
                condition=Q(revoked_by__isnull=True) | Q(revoked_at__isnull=False),
                name="accounts_apikey_revoked_by_needs_revoked_at",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=models.F("created_at")),
                name="accounts_apikey_expires_after_creation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (hx_{self.prefix}_…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return not self.is_revoked and not self.is_expired

    @property
    def status(self) -> ApiKey.Status:
        """active, revoked or expired (revoked wins: it is the deliberate act)."""
        if self.is_revoked:
            return self.Status.REVOKED
        return self.Status.EXPIRED if self.is_expired else self.Status.ACTIVE
