from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from ingest.services import raw_bodies_purge


class Command(BaseCommand):
    help = (
        "Drop the raw bodies of exports received more than RAW_BODY_RETENTION_DAYS ago whose processing "
        "ended (processed, partial, duplicate, rejected). The rows stay, with hash, size, counts and status: "
        "a re-send is still a duplicate and GET /v1/ingestions still lists them. Failed bodies stay unless "
        "--include-failed. Audited. Run daily."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--include-failed", action="store_true", help="Drop failed exports' bodies too.")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be dropped; change nothing.")

    def handle(self, *args: Any, include_failed: bool = False, dry_run: bool = False, **options: Any) -> None:
        days = settings.RAW_BODY_RETENTION_DAYS
        purged = raw_bodies_purge(retention_days=days, include_failed=include_failed, dry_run=dry_run)
        verb = "Would drop" if dry_run else "Dropped"
        self.stdout.write(
            f"{verb} the raw bodies of {purged.ingestions} ingestion(s), {purged.bytes} compressed byte(s), "
            f"received before {purged.cutoff:%Y-%m-%d %H:%M} UTC (retention {days} days)"
        )
