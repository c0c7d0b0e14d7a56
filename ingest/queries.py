from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from ingest.models import Ingestion


def active_user_count(*, within: timedelta = timedelta(hours=24)) -> int:
    """Users whose phone synced (any answered export) within ``within``."""
    since = timezone.now() - within
    return Ingestion.objects.filter(received_at__gte=since).values("user_id").distinct().count()
