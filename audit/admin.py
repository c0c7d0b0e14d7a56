"""The audit trail in the admin: read-only for everyone (superusers included), opened by the
Compliance group's view permission, and fast on a table of tens of millions of rows."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import DateTimeField, ExpressionWrapper, F, Max, Min, QuerySet, Value
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone

from audit import queries
from audit.models import AuditEvent, AuditEventQuerySet
from audit.services import record_event
from healthexport.lib.admin import FixedCountPaginator, ReadOnlyAdminMixin
from healthexport.lib.partitions import add_months

EXPORT_COLUMNS = (
    "occurred_at",
    "action",
    "outcome",
    "actor_username",
    "actor_key_prefix",
    "target_type",
    "target_id",
    "ip",
    "user_agent",
    "request_id",
    "metadata",
    "target_label",
    "key_prefix",
)
DETAILS_MAX = 160
# A cell starting with one of these is a formula to a spreadsheet (user agents are attacker-chosen).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _periods(first: datetime, last: datetime, kind: str) -> list[tuple[datetime, datetime]]:
    """The UTC years, months or days from ``first`` to ``last``, as [start, end) pairs."""
    first, last = first.astimezone(UTC), last.astimezone(UTC)
    if kind == "year":
        return [
            (datetime(y, 1, 1, tzinfo=UTC), datetime(y + 1, 1, 1, tzinfo=UTC)) for y in range(first.year, last.year + 1)
        ]
    if kind == "month":
        months, month = [], first.date().replace(day=1)
        while month <= last.date():
            months.append(month)
            month = add_months(month, 1)
        return [
            (datetime(m.year, m.month, 1, tzinfo=UTC), datetime(n.year, n.month, 1, tzinfo=UTC))
            for m, n in ((m, add_months(m, 1)) for m in months)
        ]
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    days = []
    while start <= last:
        days.append((start, start + timedelta(days=1)))
        start += timedelta(days=1)
    return days


# occurred_at + 0: the same order, but not one an index can hand over (see get_ordering).
UNINDEXED_TIME = ExpressionWrapper(F("occurred_at") + Value(timedelta(0)), output_field=DateTimeField())


class ProbedDatesQuerySet(AuditEventQuerySet):
    """For ``date_hierarchy``, which asks which years, months or days hold events: Django's
    ``SELECT DISTINCT date_trunc(…)`` reads every row (0.3 s per million), so each candidate period
    between the first and the last event is probed instead with an index-backed EXISTS."""

    def datetimes(self, field_name: str, kind: str, order: str = "ASC", tzinfo: Any = None) -> list[datetime]:
        bounds = self.aggregate(first=Min(field_name), last=Max(field_name))
        if bounds["first"] is None:
            return []
        found = [
            start
            for start, end in _periods(bounds["first"], bounds["last"], kind)
            if self.filter(**{f"{field_name}__gte": start, f"{field_name}__lt": end}).exists()
        ]
        return found if order == "ASC" else found[::-1]


class SearchedDatesQuerySet(ProbedDatesQuerySet):
    """While searching, the first and last event (date_hierarchy asks, and so does ``datetimes``)
    are taken by the expression, for the reason AuditEventChangeList.get_ordering gives."""

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return super().aggregate(*args, **{name: _unindexed_time(value) for name, value in kwargs.items()})


def _unindexed_time(aggregate: Any) -> Any:
    if isinstance(aggregate, Min | Max):
        source = aggregate.get_source_expressions()[0]  # then its filter, if any
        if getattr(source, "name", None) == "occurred_at" and aggregate.filter is None:
            return type(aggregate)(UNINDEXED_TIME)
    return aggregate


class AuditEventChangeList(ChangeList):
    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[AuditEvent]:
        queryset = super().get_queryset(request, exclude_parameters)
        kind = SearchedDatesQuerySet if self.query.strip() else ProbedDatesQuerySet
        return kind(model=queryset.model, query=queryset.query, using=queryset.db)

    def get_ordering(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> list:
        """While searching, order by time through an expression. A search matches through several
        indexes (one bitmap per alternative and partition); ordered by the bare column, PostgreSQL
        may instead walk the whole (occurred_at, id) index backwards, filtering every row, hoping to
        meet 100 matches early: 0.3-0.7 s on a million events when there are few or none. The
        expression makes it collect the matches first and sort only those (3-8 ms, bench/audit.py)."""
        ordering = super().get_ordering(request, queryset)
        if not self.query.strip():
            return ordering
        by_time = {"occurred_at": UNINDEXED_TIME.asc(), "-occurred_at": UNINDEXED_TIME.desc()}
        return [by_time.get(field, field) if isinstance(field, str) else field for field in ordering]


class ActionFilter(admin.SimpleListFilter):
    title = "action"
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(action, action) for action in queries.distinct_actions()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        return queryset.filter(action=self.value()) if self.value() else queryset


class _Echo:
    """The file-like object ``csv.writer`` writes to, handing each line back for streaming."""

    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for event in events.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                _cell(value)
                for value in (
                    event.occurred_at.isoformat(),
                    event.action,
                    event.outcome,
                    event.actor_username,
                    event.actor_key_prefix,
                    event.target_type,
                    event.target_id,
                    event.ip,
                    event.user_agent,
                    event.request_id,
                    json.dumps(event.metadata, sort_keys=True),
                    event.target_label,
                    event.key_prefix,
                )
            ]
        )


def _short(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value


def describe_metadata(metadata: dict[str, Any]) -> str:
    """One line for the list: changed fields as "field: before → after", other keys as key=value."""
    parts = [
        f"{field}: {_short(before)} → {_short(after)}" for field, (before, after) in metadata.get("changed", {}).items()
    ]
    parts += [
        f"{key}={_short(value)}" for key, value in metadata.items() if key not in ("changed", "command", "os_user")
    ]
    text = "; ".join(parts)
    return text if len(text) <= DETAILS_MAX else text[: DETAILS_MAX - 1] + "…"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "occurred",
        "action",
        "actor",
        "target",
        "details",
        "outcome",
        "ip",
    )
    list_filter = (
        ActionFilter,
        "outcome",
    )
    date_hierarchy = "occurred_at"
    # Shown so the search box appears; get_search_results does indexed matches instead (queries.search_q).
    search_fields = (
        "=key_prefix",
        "=actor_username",
        "=target_id",
        "=request_id",
        "=ip",
    )
    search_help_text = (
        "A key prefix (or the key): every event of that key, acting or acted on. A username or part of one "
        "(actor or target), cli:<os user>, a target id, a request id or an IP address."
    )
    paginator = FixedCountPaginator
    show_full_result_count = False
    list_per_page = 100
    actions = ("export_csv",)

    @admin.display(description="time", ordering="occurred_at")
    def occurred(self, event: AuditEvent) -> str:
        # Seconds and the zone: an officer compares these with log lines and other systems.
        return timezone.localtime(event.occurred_at).strftime("%Y-%m-%d %H:%M:%S %Z")

    @admin.display(description="actor")
    def actor(self, event: AuditEvent) -> str:
        parts = [event.actor_username] if event.actor_username else []
        if event.actor_key_prefix:
            parts.append(f"hx_{event.actor_key_prefix}_…")
        if command := event.metadata.get("command"):
            parts.append(
                f"manage.py {command}"
                + ("" if event.actor_username.startswith("cli:") else f" as {event.metadata.get('os_user', '?')}")
            )
        return " / ".join(parts) or "—"

    @admin.display(description="target")
    def target(self, event: AuditEvent) -> str:
        kind = event.target_type.rpartition(".")[2]
        return f"{kind} {event.target_label or event.target_id}".strip() or "—"

    @admin.display(description="details")
    def details(self, event: AuditEvent) -> str:
        return describe_metadata(event.metadata)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return AuditEventChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AuditEvent], search_term: str
    ) -> tuple[QuerySet[AuditEvent], bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(queries.search_q(search_term)), False

    @admin.action(description="Export selected events as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> StreamingHttpResponse:
        # Recorded (and committed) before the first byte leaves, so an aborted download is still on file.
        record_event(
            action="audit.exported",
            request=request,
            metadata={"events": queryset.count(), "filters": request.GET.urlencode()[:500]},
        )
        response = StreamingHttpResponse(
            _csv_lines(queryset.order_by("occurred_at", "id")),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="audit-events-{timezone.now():%Y%m%dT%H%M%S}.csv"'
        return response
