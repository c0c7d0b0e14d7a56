from __future__ import annotations

from typing import Any

from django.core.management.commands import migrate

from healthexport.lib import roles


class Command(migrate.Command):
    help = (
        "Django's migrate, connected as the owner of the tables (DATABASE_OWNER_URL, when set); "
        "afterwards the partitions are completed and DATABASE_URL's role is granted its privileges."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        roles.connect_as_owner(options["database"])
        super().handle(*args, **options)
