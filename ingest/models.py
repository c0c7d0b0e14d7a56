from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from healthexport.lib.partitions import PartitionedModel


class Ingestion(PartitionedModel):
    """One export as received: the raw body is stored (compressed) before anything is parsed,
    so a body answered 200 can always be reprocessed. No ``updated_at``: only ``status``,
    ``result`` and ``processed_at`` move, once, when processing ends.

    On PostgreSQL the table is partitioned by time of ``received_at`` (healthexport.lib.partitions).
    A partitioned table enforces uniqueness only together with ``received_at``: ``public_id`` is
    unique by construction (UUID4), and "one processed body per user" is kept by the pipeline's
    per-user lock (ingest.services).
    """

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
    body_purged_at = models.DateTimeField(
        null=True, blank=True, help_text="When the body was dropped (RAW_BODY_RETENTION_DAYS); the row stays."
    )
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


class AppleImport(models.Model):
    """One Apple Health export.zip to import (POST /v1/imports or ``manage.py import_apple_health``).

    A worker of the task queue claims it (``attempts``, ``worker``) and keeps ``heartbeat_at``
    fresh; every chunk of records commits with ``elements_done`` (a batch of ECGs with
    ``ecgs_done``) and ``counts`` in the same transaction, so a retried import resumes exactly
    where the last commit left it. A running import whose heartbeat went stale lost its worker and
    is taken over (ingest.apple.services).
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    id = models.BigAutoField(primary_key=True)
    public_id = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="apple_imports")
    api_key = models.ForeignKey(
        "accounts.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="apple_imports"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    path = models.CharField(max_length=1024, help_text="The archive on disk (IMPORT_DIR for uploads).")
    owns_file = models.BooleanField(default=True, help_text="Delete the file once the import has ended.")
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=64, blank=True, default="", help_text="The attempt that holds it.")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    progress = models.FloatField(default=0.0)
    elements_done = models.PositiveBigIntegerField(default=0, help_text="Top-level XML elements committed.")
    ecgs_done = models.PositiveIntegerField(default=0, help_text="ECG files committed (read after the XML).")
    counts = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.CharField(max_length=500, blank=True, default="")
    request_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["user", "created_at"], name="ingest_appleimport_user_time"),
            # The per-key daily upload limit counts a key's recent imports.
            models.Index(fields=["api_key", "created_at"], name="ingest_appleimport_key_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__gte=0, progress__lte=1), name="ingest_appleimport_progress_fraction"
            ),
        ]

    def __str__(self) -> str:
        return f"apple import {self.public_id} ({self.status})"


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
