from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from audit.services import audit_purge
from healthexport.lib import roles


class Command(BaseCommand):
    help = (
        "Remove audit events older than AUDIT_RETENTION_DAYS: whole monthly partitions on PostgreSQL, "
        "rows on SQLite. Records an audit.purged event. The only way events leave the trail."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Say what would be removed; change nothing.")

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        roles.connect_as_owner()  # dropping partitions takes their owner
        days = settings.AUDIT_RETENTION_DAYS
        result = audit_purge(retention_days=days, dry_run=dry_run)
        verb, dropped = ("Would purge", "to drop") if dry_run else ("Purged", "dropped")
        self.stdout.write(
            f"{verb} {result.events} audit event(s) older than {result.cutoff:%Y-%m-%d %H:%M} UTC "
            f"(retention {days} days; {len(result.partitions)} partition(s) {dropped})."
        )
