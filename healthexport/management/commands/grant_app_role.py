from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from healthexport.lib import roles


class Command(BaseCommand):
    help = (
        "Grant ROLE what the web and worker processes need and nothing more (PostgreSQL): DML on the "
        "tables, only INSERT and SELECT on the audit trail. Runs as the owner (DATABASE_OWNER_URL); "
        "migrate does it by itself for DATABASE_URL's role when the two URLs differ."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role", help="an existing role that owns nothing (CREATE ROLE … LOGIN PASSWORD '…')")

    def handle(self, *args: Any, role: str, **options: Any) -> None:
        roles.connect_as_owner()
        try:
            tables = roles.grant_app_role(role)
        except roles.RoleError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Granted {role} its privileges on {tables} table(s)")
