from __future__ import annotations

from datetime import date, timedelta
from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone

from healthexport.lib import partitions


class AppendOnlyError(Exception):
    """Raised when code tries to change or remove an audit event (only ``purge_audit`` removes)."""


def _refuse(what: str) -> NoReturn:
    raise AppendOnlyError(f"Audit events are append-only: {what} is refused.")


class AuditEventQuerySet(models.QuerySet):
    """Bulk paths refuse too: overriding ``Model.delete()`` alone is bypassed by ``QuerySet.update/delete``."""

    def update(self, **kwargs: Any) -> NoReturn:
        _refuse("update")

    def delete(self) -> NoReturn:
        _refuse("delete")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> NoReturn:
        _refuse("bulk_update")

    def update_or_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse("update_or_create")

    # Named so that nobody calls it by accident: the one removal path, for purge_audit on SQLite
    # (PostgreSQL drops whole partitions instead and keeps its trigger).
    def _purge_rows_bypassing_append_only_guard(self) -> int:
        return self._raw_delete(self.db)


class AuditEvent(partitions.PartitionedModel):
    """One append-only line of "who did what to whose data, when, from where".

    ``metadata`` holds counts and identifiers only: never health values, bodies or secrets.
    On PostgreSQL the table is range-partitioned by month on ``occurred_at`` with primary key
    ``(id, occurred_at)`` (see migration 0001); Django still addresses rows by ``id``, which the
    identity sequence keeps unique.
    """

    class Outcome(models.TextChoices):
        SUCCESS = "success"
        FAILURE = "failure"
        DENIED = "denied"

    occurred_at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=64)
    # Plain columns, no foreign keys: the trail depends on no other app and outlives the rows it
    # names. The username and key prefix are what the actor was called when it acted.
    actor_user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_api_key_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_key_prefix = models.CharField(max_length=16, blank=True)
    actor_username = models.CharField(max_length=150, blank=True, default="")
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    # What people call the target (a username, "Alice's iPhone (hx_abcd1234_…)"), as it was then.
    target_label = models.CharField(max_length=200, blank=True, default="")
    # The API key this event is about, whether it acted (an ingest, a refused request) or was acted
    # on (created, limits changed, revoked): one indexed look-up finds a key's whole life.
    key_prefix = models.CharField(max_length=16, blank=True, default="")
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()
    # What the app role may do here (healthexport.lib.roles): append and read, nothing else.
    database_privileges = ("SELECT", "INSERT")

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            # The admin's newest-first page (ORDER BY occurred_at DESC, id DESC LIMIT n), read backwards.
            models.Index(fields=["occurred_at", "id"], name="audit_event_occurred_id_idx"),
            # The admin's action filter, newest first.
            models.Index(fields=["action", "occurred_at"], name="audit_event_action_idx"),
            # The admin's exact searches: key prefix, request id, IP.
            models.Index(fields=["actor_key_prefix"], name="audit_event_key_prefix_idx"),
            models.Index(fields=["request_id"], name="audit_event_request_id_idx"),
            models.Index(fields=["ip"], name="audit_event_ip_idx"),
            # Search by key prefix (the key acting or acted on), newest first.
            models.Index(fields=["key_prefix", "occurred_at"], name="audit_event_key_idx"),
            # Search by target id (a user's or key's public id) and by the actor's recorded name
            # (a deleted user, "cli:root").
            models.Index(fields=["target_id"], name="audit_event_target_id_idx"),
            models.Index(fields=["actor_username"], name="audit_event_actor_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.outcome} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def first_partition_month(cls) -> date:
        """The month of the retention cutoff: older partitions are purged, not created again."""
        cutoff = timezone.now() - timedelta(days=settings.AUDIT_RETENTION_DAYS)
        return max(partitions.DENSE_FROM, partitions.month_floor(cutoff))

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            _refuse("saving an existing event")
        self.key_prefix = self.key_prefix or self.actor_key_prefix
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse("delete")
