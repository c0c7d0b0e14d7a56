from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from healthexport.lib.partitions import PartitionedModel, PartitionedQuerySet


class Ingestion(PartitionedModel):
    """One export as received: the raw body is stored (compressed) before anything is parsed,
    so a body answered 200 can always be reprocessed. No ``updated_at``: only ``status``,
    ``result`` and ``processed_at`` move, once, when processing ends.

    On PostgreSQL the table is partitioned by month of ``received_at`` (raw bodies are the bulk
    of the stored bytes: old months can go whole). A partitioned table enforces uniqueness only
    together with ``received_at``: ``public_id`` is unique by construction (UUID4), and "one
    processed body per user" is kept by the pipeline's per-user lock (ingest.services).
    """

    partition_column = "received_at"

    class Status(models.TextChoices):
        RECEIVED = "received"  # stored, not processed yet, or processing crashed before marking
        PROCESSED = "processed"
        PARTIAL = "partial"
        DUPLICATE = "duplicate"
        REJECTED = "rejected"  # not a valid export (400)
        FAILED = "failed"  # processing failed (database outage, bug); the app's retry reprocesses

    ANSWERED_OK = (Status.PROCESSED, Status.PARTIAL)
    # Answered 200, duplicates included: what "the phone synced" means (stats, gauges, checks).
    SYNCED = (Status.PROCESSED, Status.PARTIAL, Status.DUPLICATE)

    id = models.BigAutoField(primary_key=True)
    public_id = models.UUIDField(default=uuid.uuid4, editable=False, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ingestions")
    api_key = models.ForeignKey(
        "accounts.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="ingestions"
    )
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    body = models.BinaryField(null=True, blank=True, help_text="zlib-compressed body as received (decompressed).")
    body_sha256 = models.CharField(max_length=64)
    body_size = models.PositiveBigIntegerField(help_text="Bytes after decompression.")
    content_encoding = models.CharField(max_length=16, blank=True, default="")
    idempotency_key = models.CharField(max_length=255, blank=True, default="")
    request_id = models.CharField(max_length=128, blank=True, default="")
    automation = models.JSONField(
        default=dict, blank=True, help_text="The app's automation headers: name, id, aggregation, period, session."
    )
    # No database foreign key: none can point into a partitioned table. Django sets it to NULL
    # when the first export is deleted.
    duplicate_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="duplicates", db_constraint=False
    )
    result = models.JSONField(null=True, blank=True, help_text="The answer sent: counts and item errors.")
    error = models.CharField(max_length=255, blank=True, default="")

    objects = PartitionedQuerySet.as_manager()

    class Meta:
        indexes = [
            # Idempotency-Key look-ups.
            models.Index(
                fields=["user", "idempotency_key"],
                name="ingest_ingestion_user_idem",
                condition=~Q(idempotency_key=""),
            ),
            models.Index(fields=["user", "received_at"], name="ingest_ingestion_user_time"),
            models.Index(fields=["status"], name="ingest_ingestion_status", condition=Q(status="failed")),
            # Duplicate detection: "has this user had this exact body processed?"
            models.Index(
                fields=["user", "body_sha256"],
                condition=Q(status__in=["processed", "partial"]),
                name="ingest_ingestion_done_body",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(duplicate_of__isnull=True) | Q(status="duplicate"),
                name="ingest_ingestion_duplicate_of_only_for_duplicates",
            ),
        ]

    def __str__(self) -> str:
        return f"ingestion {self.public_id} ({self.status})"


class DataQualityRun(models.Model):
    """One run of ``manage.py check_data_quality``: its options and counts per kind. Only the
    latest run keeps its findings (the staff dashboard shows them); older runs keep their counts."""

    ran_at = models.DateTimeField(default=timezone.now, db_index=True)
    stale_hours = models.PositiveIntegerField()
    days = models.PositiveIntegerField()
    limit = models.PositiveIntegerField()
    counts = models.JSONField(default=dict, help_text="Findings per kind.")

    class Meta:
        ordering = ["-ran_at"]

    def __str__(self) -> str:
        return f"data-quality run {self.ran_at:%Y-%m-%d %H:%M:%S}"


class DataQualityFinding(models.Model):
    """A finding of the latest run. ``detail`` may hold a health value: it is for staff, like the
    command's table, never for logs or metric labels."""

    run = models.ForeignKey(DataQualityRun, on_delete=models.CASCADE, related_name="findings")
    kind = models.CharField(max_length=32)
    severity = models.CharField(max_length=16)
    username = models.CharField(max_length=150)
    detail = models.CharField(max_length=500)

    def __str__(self) -> str:
        return f"{self.kind} of {self.username}"
