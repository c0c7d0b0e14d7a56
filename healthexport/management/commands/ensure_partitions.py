from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from healthexport.lib import partitions


class Command(BaseCommand):
    help = (
        "Create this month's and the next months' partitions of every partitioned table "
        "(PostgreSQL; nothing to do on SQLite). Run daily; exports also create any month they write."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        created = partitions.ensure_all_ahead()
        names = [name for table_created in created.values() for name in table_created]
        ahead = ", ".join(f"{table} {partitions.months_ahead(table)} month(s) ahead" for table in created)
        self.stdout.write(f"Created {len(names)} partition(s); {ahead or 'no partitioned tables'}")
