"""Raw exports in the admin: status, size and counts in the list, what went wrong item by item on
an export's page (the messages the phone was answered, which may quote a rejected value: staff
only, never logs), with a reprocess action; the latest data-quality findings; and the staff
dashboard's panels about syncs, failed exports and findings.

Read-only: an ingestion is a record of what a phone sent; removal goes through the owner's
DELETE /v1/data or DELETE /v1/ingestions/<id>.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from accounts.admin_site import DashboardPanel, PanelRow, PanelTable
from healthexport.lib.admin import FixedCountPaginator, ReadOnlyAdminMixin
from ingest import queries
from ingest.models import AppleImport, DataQualityFinding, DataQualityRun, Ingestion
from ingest.services import RawBodyPurged, ingestion_process

COUNT_FIELDS = ("received", "stored", "updated", "duplicates", "rejected")
WHERE_ORDER = ("section", "metric", "workout", "index", "field")
STALE_AFTER_HOURS = 48
DASHBOARD_USERS = 50
DASHBOARD_EXPORTS = 10
DASHBOARD_EXPORT_DAYS = 7
DASHBOARD_FINDINGS = 20
# The app's automation headers as kept in Ingestion.automation, in the order people read them.
AUTOMATION_HEADERS = (
    ("name", "automation-name"),
    ("id", "automation-id"),
    ("aggregation", "automation-aggregation"),
    ("period", "automation-period"),
    ("session", "session-id"),
)


def _ingestion_link(ingestion: Ingestion, *, short: bool = False) -> str:
    url = reverse("admin:ingest_ingestion_change", args=[ingestion.pk])
    text = f"{str(ingestion.public_id)[:8]}…" if short else ingestion.public_id
    return format_html('<a href="{}" title="{}">{}</a>', url, ingestion.public_id, text)


def _error_count(ingestion: Ingestion) -> tuple[int, bool]:
    result = ingestion.result or {}
    return len(result.get("errors", [])), bool(result.get("errors_truncated"))


@admin.register(Ingestion)
class IngestionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "export",
        "user",
        "key_prefix",
        "status",
        "received",
        "size",
        "counts",
        "errors",
    )
    list_filter = (
        "status",
        "user",
    )
    date_hierarchy = "received_at"
    search_fields = ("public_id", "user__username", "request_id", "api_key__prefix")
    list_select_related = ("user", "api_key", "duplicate_of")
    paginator = FixedCountPaginator
    show_full_result_count = False
    fields = (
        "public_id",
        "user",
        "api_key",
        "status",
        "received_at",
        "processed_at",
        "size",
        "body_sha256",
        "body_purged_at",
        "content_encoding",
        "idempotency_key",
        "automation_table",
        "request_id",
        "duplicate",
        "rejection",
        "error",
        "counts",
        "item_errors",
    )
    readonly_fields = fields
    actions = ("reprocess",)

    class Media:
        css = {"all": ("ingest/admin.css",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Ingestion]:
        return super().get_queryset(request).defer("body")  # the raw body is never shown

    @admin.display(description="export")
    def export(self, ingestion: Ingestion) -> str:
        return f"{str(ingestion.public_id)[:8]}…"  # the whole id is on its page and in the search

    @admin.display(description="received", ordering="received_at")
    def received(self, ingestion: Ingestion) -> str:
        return f"{timezone.localtime(ingestion.received_at):%Y-%m-%d %H:%M:%S}"

    @admin.display(description="key")
    def key_prefix(self, ingestion: Ingestion) -> str:
        return ingestion.api_key.prefix if ingestion.api_key else "—"

    @admin.display(description="size", ordering="body_size")
    def size(self, ingestion: Ingestion) -> str:
        return filesizeformat(ingestion.body_size)

    @admin.display(description="items: received / stored / updated / duplicates / rejected")
    def counts(self, ingestion: Ingestion) -> str:
        if ingestion.status == Ingestion.Status.DUPLICATE:
            # Its answer repeats the first export's counts; nothing was stored for this one.
            original = ingestion.duplicate_of.public_id if ingestion.duplicate_of else "a deleted export"
            return f"duplicate of {original}: nothing stored"
        result = ingestion.result or {}
        sections = [*result.get("metrics", {}).values(), *result.get("other", {}).values()]
        if result.get("workouts"):
            sections.append(result["workouts"])
        if not sections:
            return "—"
        return " / ".join(str(sum(s.get(field, 0) for s in sections)) for field in COUNT_FIELDS)

    @admin.display(description="errors")
    def errors(self, ingestion: Ingestion) -> str:
        count, truncated = _error_count(ingestion)
        if ingestion.status == Ingestion.Status.REJECTED:
            return ingestion.error or "rejected"
        return f"{count}+" if truncated else str(count)

    @admin.display(description="automation (the app's headers)")
    def automation_table(self, ingestion: Ingestion) -> str:
        if not ingestion.automation:
            return "—"
        rows = [
            (header, ingestion.automation[key]) for key, header in AUTOMATION_HEADERS if key in ingestion.automation
        ]
        rows += [(key, value) for key, value in ingestion.automation.items() if key not in dict(AUTOMATION_HEADERS)]
        return format_html(
            '<table class="automation">{}</table>',
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
        )

    @admin.display(description="duplicate of")
    def duplicate(self, ingestion: Ingestion) -> str:
        if ingestion.duplicate_of is None:
            return "—"
        return format_html(
            "{} (the same body, already processed: nothing stored again)", _ingestion_link(ingestion.duplicate_of)
        )

    @admin.display(description="rejected because")
    def rejection(self, ingestion: Ingestion) -> str:
        error = (ingestion.result or {}).get("error")
        if ingestion.status != Ingestion.Status.REJECTED:
            return "—"
        if not error:
            return ingestion.error or "—"
        return f"{error.get('code', ingestion.error)}: {error.get('message', '')}"

    @admin.display(description="item errors")
    def item_errors(self, ingestion: Ingestion) -> str:
        result = ingestion.result or {}
        errors = result.get("errors", [])
        if not errors:
            return "none"
        rows = [(error.get("code", ""), error.get("message", ""), _where(error.get("where", {}))) for error in errors]
        more = " Only the first ones were kept: there were more." if result.get("errors_truncated") else ""
        return format_html(
            '<p>{} error(s).{}</p><table class="item-errors"><thead><tr><th>code</th><th>message</th>'
            "<th>where</th></tr></thead><tbody>{}</tbody></table>",
            len(errors),
            more,
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

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


def _where(where: dict[str, Any]) -> str:
    """Where an item error is, e.g. "metrics / heart_rate / #41 / Avg" (jsonb keeps no key order)."""
    keys = [key for key in WHERE_ORDER if key in where] + sorted(set(where) - set(WHERE_ORDER))
    parts = [f"#{where[key]}" if key == "index" else str(where[key]) for key in keys]
    return " / ".join(parts) or "—"


@admin.register(DataQualityFinding)
class DataQualityFindingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The latest ``check_data_quality`` run's findings (each run replaces the previous ones)."""

    list_display = (
        "severity",
        "kind",
        "username",
        "detail",
        "run",
    )
    list_filter = (
        "kind",
        "severity",
    )
    search_fields = ("username",)
    list_select_related = ("run",)


# --- The staff dashboard (the admin's index page) --------------------------------------------------


def _age(moment: Any) -> str:
    hours = int((timezone.now() - moment).total_seconds() // 3600)
    return f"{hours // 24} d {hours % 24} h ago" if hours >= 48 else f"{hours} h ago"


def _last_syncs_panel() -> PanelTable:
    stale_before = timezone.now() - timedelta(hours=STALE_AFTER_HOURS)
    rows = []
    for user in queries.last_syncs(limit=DASHBOARD_USERS):
        user_link = format_html(
            '<a href="{}">{}</a>', reverse("admin:accounts_user_change", args=[user.pk]), user.username
        )
        if user.last_sync is None:
            rows.append(PanelRow((user_link, "never", "has a key, no export yet")))
            continue
        stale = user.last_sync < stale_before
        state = mark_safe('<span class="badge-stale">stale</span>') if stale else "ok"
        rows.append(
            PanelRow(
                (user_link, f"{timezone.localtime(user.last_sync):%Y-%m-%d %H:%M %Z} ({_age(user.last_sync)})", state),
                stale,
            )
        )
    return PanelTable(
        columns=("user", "last sync", "state"),
        rows=rows,
        empty="No user holds a key yet.",
        note=f"Stale: no answered export for {STALE_AFTER_HOURS} h. Stalest first, at most {DASHBOARD_USERS}.",
    )


def _problem_exports_panel() -> PanelTable:
    rows = []
    for ingestion in queries.recent_problem_exports(days=DASHBOARD_EXPORT_DAYS, limit=DASHBOARD_EXPORTS):
        count, truncated = _error_count(ingestion)
        what = (
            ingestion.error
            if ingestion.status != Ingestion.Status.PARTIAL
            else f"{count}{'+' if truncated else ''} item error(s)"
        )
        rows.append(
            PanelRow(
                (
                    _ingestion_link(ingestion, short=True),
                    ingestion.user.username,
                    ingestion.status,
                    f"{timezone.localtime(ingestion.received_at):%Y-%m-%d %H:%M %Z}",
                    what or "—",
                ),
                ingestion.status != Ingestion.Status.PARTIAL,
            )
        )
    changelist = reverse("admin:ingest_ingestion_changelist")
    return PanelTable(
        columns=("export", "user", "status", "received", "what"),
        rows=rows,
        empty=f"No failed, rejected or partial export in the last {DASHBOARD_EXPORT_DAYS} days.",
        more_url=f"{changelist}?status__exact=failed",
        more_text="all failed exports",
    )


def _findings_panel() -> PanelTable:
    run = DataQualityRun.objects.first()
    if run is None:
        return PanelTable(columns=(), rows=[], empty="manage.py check_data_quality has not run yet.")
    findings = run.findings.order_by("-severity", "kind", "username")[:DASHBOARD_FINDINGS]
    found = ", ".join(f"{count} {kind}" for kind, count in run.counts.items() if count) or "no findings"
    return PanelTable(
        columns=("severity", "kind", "user", "detail"),
        rows=[PanelRow((f.severity, f.kind, f.username, f.detail), f.severity == "warning") for f in findings],
        empty="The last run found nothing.",
        note=f"Last run {timezone.localtime(run.ran_at):%Y-%m-%d %H:%M %Z}: {found}.",
        more_url=reverse("admin:ingest_dataqualityfinding_changelist"),
        more_text="all findings",
    )


admin.site.register_panel(DashboardPanel("Last sync per user", "ingest.view_ingestion", _last_syncs_panel, order=10))
admin.site.register_panel(
    DashboardPanel("Recent failed and partial exports", "ingest.view_ingestion", _problem_exports_panel, order=20)
)
admin.site.register_panel(
    DashboardPanel("Latest data-quality findings", "ingest.view_dataqualityfinding", _findings_panel, order=30)
)


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
        "ecgs_done",
        "error_code",
        "error_message",
        "request_id",
        "counts",
    )
    readonly_fields = fields

    @admin.display(description="progress")
    def progress_percent(self, apple_import: AppleImport) -> str:
        return f"{apple_import.progress:.0%}"
