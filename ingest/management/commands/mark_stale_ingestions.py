from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from ingest.services import ingestions_mark_stale


class Command(BaseCommand):
    help = (
        "Mark failed the raw exports still 'received' after INGEST_STALE_AFTER_SECONDS: their processing "
        "crashed with its worker. `reprocess --status failed` and the admin then find them. Run hourly."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        seconds = settings.INGEST_STALE_AFTER_SECONDS
        marked = ingestions_mark_stale(older_than=timedelta(seconds=seconds))
        self.stdout.write(f"Marked {marked} stale ingestion(s) failed (received more than {seconds} s ago)")
