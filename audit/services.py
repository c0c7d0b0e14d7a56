"""Writing the audit trail. ``audit`` imports no other app of ours: actors and targets are duck-typed."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, models, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.context import current_command
from audit.instrumentation import AUDIT_WRITE_FAILURES
from audit.models import AuditEvent
from healthexport.lib import partitions
from healthexport.lib.http import client_ip
from healthexport.lib.statements import insert_new
from healthexport.lib.text import printable, storable

logger = logging.getLogger(__name__)
USER_AGENT_MAX = 256
LABEL_MAX = 200
KEY_PREFIX = re.compile(r"^[a-z0-9]{8}$")


def _target_fields(target: models.Model | tuple[str, Any] | None) -> tuple[str, str, str]:
    """Type, id and label: a model's public id (else pk) and ``str()``, as the row is now."""
    if target is None:
        return "", "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(getattr(target, "public_id", None) or target.pk), str(target)
    kind, ident = target
    return kind, str(ident), ""


def _concerned_key(api_key: Any, target: Any, metadata: dict[str, Any]) -> str:
    """The key an event is about: the acting key, else a target that is a key (it has a lookup
    prefix), else the prefix a refused key presented (``metadata["prefix"]``)."""
    for candidate in (getattr(api_key, "prefix", ""), getattr(target, "prefix", ""), metadata.get("prefix")):
        if isinstance(candidate, str) and KEY_PREFIX.match(candidate):
            return candidate
    return ""


def record_event(
    *,
    action: str,
    request: HttpRequest | None = None,
    actor: models.Model | None = None,
    api_key: models.Model | None = None,
    target: models.Model | tuple[str, Any] | None = None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    metadata: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    target_label: str = "",
) -> AuditEvent:
    """Append one event, in the caller's transaction (so it commits or rolls back with the change).

    ``actor`` is the user and ``api_key`` the key that acted; when omitted they are taken from
    the request (DRF sets ``request.user`` and ``request.auth``). Without a request, inside a
    management command (``audit.context``), the event names the command and the operating-system
    user, and ``cli:<os user>`` is the actor when no user or key is. ``occurred_at`` defaults to
    now; back-filled events may set it (on PostgreSQL their month's partition is created on demand).
    """
    metadata = dict(metadata or {})
    actor_username = ""
    if request is not None:
        if actor is None and getattr(getattr(request, "user", None), "is_authenticated", False):
            actor = request.user
        if api_key is None and isinstance(getattr(request, "auth", None), models.Model):
            api_key = request.auth
    elif (command := current_command()) is not None:
        metadata.update(command=command.command, os_user=command.os_user)
        if actor is None and api_key is None:
            actor_username = command.actor_username
    target_type, target_id, label = _target_fields(target)
    actor_key_prefix = getattr(api_key, "prefix", "") or ""
    try:
        event = AuditEvent(
            occurred_at=occurred_at or timezone.now(),
            action=action,
            actor_user_id=getattr(actor, "pk", None),
            actor_username=getattr(actor, "username", "") or actor_username,
            actor_api_key_id=getattr(api_key, "pk", None),
            actor_key_prefix=actor_key_prefix,
            key_prefix=_concerned_key(api_key, target, metadata) or actor_key_prefix,
            target_type=target_type,
            target_id=printable(target_id),
            target_label=printable(target_label or label)[:LABEL_MAX],
            outcome=outcome,
            ip=client_ip(request) if request is not None else None,
            user_agent=(request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX] if request is not None else ""),
            request_id=getattr(request, "request_id", "") if request is not None else "",
            metadata=storable(metadata),
        )
        insert_new(event)  # what AuditEvent.save() adds, the key_prefix fallback, is above
    except Exception:
        # The caller's change rolls back with it (no change without its event); operators see the count.
        AUDIT_WRITE_FAILURES.inc()
        logger.error("audit event %s could not be written", action)
        raise
    return event


@dataclass(frozen=True)
class PurgeResult:
    cutoff: datetime
    events: int
    partitions: list[str]


def audit_purge(*, retention_days: int, dry_run: bool = False) -> PurgeResult:
    """Remove the events older than ``retention_days`` and record ``audit.purged`` with the counts.

    PostgreSQL: detaches and drops the partitions (months, past years) that end before the cutoff
    (the partition straddling it keeps all its rows until it has expired entirely); the
    append-only trigger stays.
    SQLite: deletes the rows, through the one named path that bypasses the model's guard.
    One transaction, so the removal and its event commit together.
    """
    cutoff = timezone.now() - timedelta(days=retention_days)
    table = AuditEvent._meta.db_table
    with transaction.atomic():
        if connection.vendor == "postgresql":
            rows = {
                partition.name: partitions.count_rows(partition.name)
                for partition in partitions.list_partitions(table)
                if datetime(partition.end.year, partition.end.month, partition.end.day, tzinfo=UTC) <= cutoff
            }
            # The empty "before 2014" partition stays: the window below would create it again.
            expired = [name for name, count in rows.items() if count or name != partitions.before_partition_name(table)]
            events = sum(rows.values())
            if not dry_run:
                for name in expired:
                    partitions.drop_partition(table, name)
                partitions.ensure_window(table, first_month=AuditEvent.first_partition_month())
        else:
            expired = []
            rows = AuditEvent.objects.filter(occurred_at__lt=cutoff)
            events = rows._purge_rows_bypassing_append_only_guard() if not dry_run else rows.count()
        if not dry_run:
            record_event(
                action="audit.purged",
                metadata={
                    "events": events,
                    "partitions": expired,
                    "cutoff": cutoff.isoformat(),
                    "retention_days": retention_days,
                },
            )
    logger.info("audit purge%s: %d event(s), %d partition(s)", " (dry run)" if dry_run else "", events, len(expired))
    return PurgeResult(cutoff=cutoff, events=events, partitions=expired)
