"""Raw exports in the admin: status, size and counts (never values), with a reprocess action.

Read-only: an ingestion is a record of what a phone sent; removal goes through the owner's
DELETE /v1/data or DELETE /v1/ingestions/<id>.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from healthexport.lib.admin import FixedCountPaginator, ReadOnlyAdminMixin
from ingest.models import AppleImport, Ingestion
from ingest.services import RawBodyPurged, ingestion_process

COUNT_FIELDS = ("received", "stored", "updated", "duplicates", "rejected")


@admin.register(Ingestion)
class IngestionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "public_id",
        "user",
        "key_prefix",
        "status",
        "received_at",
        "body_size",
        "counts",
    )
    list_filter = ("status",)
    date_hierarchy = "received_at"
    search_fields = ("public_id", "user__username", "request_id", "api_key__prefix")
    list_select_related = ("user", "api_key")
    paginator = FixedCountPaginator
    show_full_result_count = False
    fields = (
        "public_id",
        "user",
        "api_key",
        "status",
        "received_at",
        "processed_at",
        "body_size",
        "body_sha256",
        "body_purged_at",
        "content_encoding",
        "idempotency_key",
        "automation",
        "request_id",
        "duplicate_of",
        "error",
        "counts",
    )
    readonly_fields = fields
    actions = ("reprocess",)

    @admin.display(description="key")
    def key_prefix(self, ingestion: Ingestion) -> str:
        return ingestion.api_key.prefix if ingestion.api_key else "—"

    @admin.display(description="received / stored / updated / duplicates / rejected")
    def counts(self, ingestion: Ingestion) -> str:
        result = ingestion.result or {}
        sections = [*result.get("metrics", {}).values(), *result.get("other", {}).values()]
        if result.get("workouts"):
            sections.append(result["workouts"])
        if not sections:
            return "—"
        return " / ".join(str(sum(s.get(field, 0) for s in sections)) for field in COUNT_FIELDS)

    @admin.action(description="Reprocess selected failed or unfinished exports")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[Ingestion]) -> None:
        done = failed = gone = 0
        for ingestion in queryset.filter(status__in=[Ingestion.Status.RECEIVED, Ingestion.Status.FAILED]):
            try:
                ingestion_process(ingestion=ingestion, request=request)
                done += 1
            except RawBodyPurged:
                gone += 1
            except Exception:  # recorded on the ingestion itself; keep going
                failed += 1
        message = f"Reprocessed {done} export(s); {failed} failed again."
        if gone:
            message += f" {gone} had no body left to reprocess (purged after RAW_BODY_RETENTION_DAYS)."
        self.message_user(request, message, messages.INFO)


@admin.register(AppleImport)
class AppleImportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Apple Health imports: who, when, how far, the outcome (counts, never values)."""

    list_display = (
        "public_id",
        "user",
        "status",
        "progress_percent",
        "created_at",
        "finished_at",
        "size",
        "attempts",
        "error_code",
    )
    list_filter = ("status",)
    search_fields = ("public_id", "user__username", "sha256")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    fields = (
        "public_id",
        "user",
        "api_key",
        "status",
        "progress",
        "attempts",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
        "size",
        "sha256",
        "elements_done",
        "error_code",
        "error_message",
        "request_id",
        "counts",
    )
    readonly_fields = fields

    @admin.display(description="progress")
    def progress_percent(self, apple_import: AppleImport) -> str:
        return f"{apple_import.progress:.0%}"
