from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from healthexport.lib import partitions, roles


class Command(BaseCommand):
    help = (
        "Create what is missing of every partitioned table's partitions, up to three months ahead "
        "(PostgreSQL; nothing to do on SQLite). Run daily, as the database owner: the app creates none."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        roles.connect_as_owner()
        created = partitions.ensure_all()
        names = [name for table_created in created.values() for name in table_created]
        ahead = ", ".join(f"{table} {partitions.months_ahead(table)} month(s) ahead" for table in created)
        self.stdout.write(f"Created {len(names)} partition(s); {ahead or 'no partitioned tables'}")
