"""Reads of a user's own ingestions and the stats summary (which counts them)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Subquery, Sum, TextField, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import ApiKey
from healthexport.lib.cache import cache_delete, cache_get, cache_set
from healthexport.lib.cursors import Page, decode_cursor, encode_cursor
from healthexport.lib.errors import NotFound
from healthexport.lib.statements import execute_prepared
from ingest.models import Ingestion
from metrics.queries import metric_totals

STATS_CACHE_SECONDS = 300


def ingestion_list(*, user: Any) -> QuerySet:
    return (
        Ingestion.objects.filter(user=user).defer("body").select_related("duplicate_of").order_by("-received_at", "-id")
    )


INGESTIONS_PAGE_SIZE = 100


def ingestion_page(*, user: Any, cursor: str | None = None, limit: int | None = None, detail: bool = False) -> Page:
    """One page of exports, newest first: keyset pagination on (received_at, id), stable under inserts."""
    limit = limit or INGESTIONS_PAGE_SIZE
    queryset = ingestion_list(user=user)
    if cursor:
        before_time, before_id = decode_cursor(cursor)
        queryset = queryset.filter(received_at__lte=before_time).filter(
            Q(received_at__lt=before_time) | Q(received_at=before_time, id__lt=before_id)
        )
    rows = list(queryset[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].received_at, rows[-1].id) if more else None
    return Page([ingestion_summary(row, detail=detail) for row in rows], next_cursor)


def ingestion_get(*, user: Any, public_id: Any) -> Ingestion:
    ingestion = ingestion_list(user=user).filter(public_id=public_id).first()
    if ingestion is None:
        raise NotFound("You have no ingestion with this id.")
    return ingestion


def ingestion_summary(ingestion: Ingestion, *, detail: bool = False) -> dict[str, Any]:
    result = ingestion.result or {}
    summary = {
        "id": str(ingestion.public_id),
        "status": ingestion.status,
        "received_at": ingestion.received_at,
        "processed_at": ingestion.processed_at,
        "size": ingestion.body_size,
        "duplicate_of": str(ingestion.duplicate_of.public_id) if ingestion.duplicate_of else None,
        "error": ingestion.error,
        "automation": ingestion.automation,
    }
    if detail:
        summary.update(
            metrics=result.get("metrics", {}),
            workouts=result.get("workouts", {}),
            other=result.get("other", {}),
            errors=result.get("errors", []),
            errors_truncated=result.get("errors_truncated", False),
        )
    return summary


# Every export asks this twice (before storing its body, and under the user's lock): on
# PostgreSQL it is a statement prepared once per connection, so that its plan over all the
# partitions of the table is made once (3-8 ms each time on a busy server), not twice an export.
_ANSWERED_OK = ", ".join(f"'{status}'" for status in Ingestion.ANSWERED_OK)
_FIRST_PROCESSED = (
    f"SELECT id, received_at FROM {Ingestion._meta.db_table} WHERE user_id = %s AND body_sha256 = %s"  # noqa: S608
    f" AND status IN ({_ANSWERED_OK}) ORDER BY received_at LIMIT 1"
)


def first_processed_with_body(*, user_id: int, digest: str) -> Ingestion | None:
    """The first export of the user with this body (SHA-256) that was answered 200, if any."""
    if connection.vendor != "postgresql":
        processed = Ingestion.objects.filter(user_id=user_id, status__in=Ingestion.ANSWERED_OK).defer("body")
        return processed.filter(body_sha256=digest).order_by("received_at").first()
    found = execute_prepared(_FIRST_PROCESSED, [user_id, digest])
    if found is None:  # nearly always: building the ORM's query alone cost 4x the statement
        return None
    return Ingestion.objects.defer("body").get(pk=found[0], received_at=found[1])


def processed_body_size_seen(*, user_id: int, size: int) -> bool:
    """Whether an export of the user answered 200 had a body of exactly ``size`` bytes: a
    re-send (``first_processed_with_body``) can only be of one of those."""
    return Ingestion.objects.filter(user_id=user_id, status__in=Ingestion.ANSWERED_OK, body_size=size).exists()


def _stats_key(user_id: int) -> str:
    return f"stats:v1:{user_id}"


def user_stats(*, user: Any) -> dict[str, Any]:
    """Totals per metric, last sync, ingestions and storage; cached 5 minutes per user."""
    key = _stats_key(user.pk)
    stats = cache_get(key)
    if stats is None:
        synced = Q(status__in=Ingestion.SYNCED)
        ingestions = Ingestion.objects.filter(user=user).aggregate(
            count=Count("id"), size=Sum("body_size"), last=Max("received_at", filter=synced)
        )
        stats = {
            **metric_totals(user=user),
            "ingestions": ingestions["count"],
            "storage_bytes": ingestions["size"] or 0,
            "last_sync": ingestions["last"].isoformat() if ingestions["last"] else None,
        }
        cache_set(key, stats, STATS_CACHE_SECONDS)
    return stats


def invalidate_user_stats(user_id: int) -> None:
    """Called after this user's export was processed or data deleted: the next read recomputes."""
    cache_delete(_stats_key(user_id))


def active_user_count(*, within: timedelta = timedelta(hours=24)) -> int:
    """Users whose phone synced (an export answered 200) within ``within``: a phone that only
    sends rejected bodies is not syncing."""
    since = timezone.now() - within
    answered = Ingestion.objects.filter(received_at__gte=since, status__in=Ingestion.SYNCED)
    return answered.values("user_id").distinct().count()


# --- Staff: who syncs, what went wrong -------------------------------------------------------------

PROBLEM_STATUSES = (Ingestion.Status.FAILED, Ingestion.Status.REJECTED, Ingestion.Status.PARTIAL)


def users_by_last_sync() -> QuerySet:
    """Active users annotated with their last answered export; one index probe per user
    (``ingest_ingestion_user_time``) instead of grouping every ingestion ever received."""
    last_sync = (
        Ingestion.objects.filter(user=OuterRef("pk"), status__in=Ingestion.SYNCED)
        .order_by("-received_at")
        .values("received_at")[:1]
    )
    return get_user_model().objects.filter(is_active=True).annotate(last_sync=Subquery(last_sync))


def last_syncs(*, limit: int) -> list[Any]:
    """Users who hold a key or have synced, stalest first, those who never synced last."""
    has_key = ApiKey.objects.filter(owner=OuterRef("pk"))
    return list(
        users_by_last_sync()
        .filter(Q(Exists(has_key)) | Q(last_sync__isnull=False))
        .order_by(F("last_sync").asc(nulls_last=True), "username")[:limit]
    )


def recent_problem_exports(*, days: int, limit: int) -> list[Ingestion]:
    """The latest failed, rejected or partial exports (on PostgreSQL only the last partitions are read)."""
    since = timezone.now() - timedelta(days=days)
    return list(
        Ingestion.objects.filter(status__in=PROBLEM_STATUSES, received_at__gte=since)
        .select_related("user")
        .defer("body")
        .order_by("-received_at")[:limit]
    )


NO_AUTOMATION = ""


def automation_syncs(*, user: Any) -> list[dict[str, Any]]:
    """Per automation of the app (its ``automation-id`` header, else its name): the last export it
    sent, with that export's status and error count. Exports without the headers form one group.

    One grouped query over the user's exports (their (user, received_at) index), then the few
    last exports themselves.
    """
    automation = Coalesce(
        KT("automation__automation-id"),
        KT("automation__automation-name"),
        Value(NO_AUTOMATION),
        output_field=TextField(),
    )
    groups = (
        Ingestion.objects.filter(user=user)
        .annotate(key=automation)
        .values("key")
        .annotate(last=Max("received_at"), count=Count("id"))
        .order_by()
    )
    groups = {row["key"]: row for row in groups}
    if not groups:
        return []
    last_times = [group["last"] for group in groups.values()]
    lasts = ingestion_list(user=user).annotate(key=automation).filter(received_at__in=last_times)
    result = []
    for ingestion in lasts:
        group = groups.get(ingestion.key)
        if group is None or group["last"] != ingestion.received_at:
            continue
        group["last"] = None  # two exports of one automation at the same instant: the first wins
        summary = ingestion_summary(ingestion, detail=True)
        result.append({**summary, "key": ingestion.key, "exports": group["count"]})
    return sorted(result, key=lambda row: row["received_at"], reverse=True)
