from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.models import ApiKey, User
from accounts.services import api_key_create, user_get_or_create

DEFAULT_SCOPES = f"{ApiKey.Scope.INGEST},{ApiKey.Scope.READ}"


class Command(BaseCommand):
    help = "Create an API key for USERNAME and print it; the key alone is the last line (shown only this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--create-user", action="store_true", help="Create the user (no password) if missing.")
        parser.add_argument("--name", default="Health Auto Export", help="A label for the key.")
        parser.add_argument(
            "--scopes",
            default=DEFAULT_SCOPES,
            help=f"Comma-separated: ingest, read, delete (default {DEFAULT_SCOPES}).",
        )
        parser.add_argument("--expires-in-days", type=int, default=None, help="Expire the key after N days.")

    def handle(self, *args: Any, username: str, create_user: bool, name: str, scopes: str, **options: Any) -> None:
        expires_in_days = options["expires_in_days"]
        if expires_in_days is not None and expires_in_days <= 0:
            raise CommandError("--expires-in-days must be a positive number of days.")
        try:
            owner, created_user = user_get_or_create(username=username, create=create_user)
        except User.DoesNotExist as exc:
            raise CommandError(str(exc)) from None
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        try:
            api_key, plaintext = api_key_create(
                owner=owner,
                name=name,
                scopes=[scope.strip() for scope in scopes.split(",") if scope.strip()],
                created_by=None,
                expires_at=expires_at,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(
            f"Created 1 key(s) hx_{api_key.prefix}_… {api_key.name!r} for {owner.username}"
            f"{' (new user)' if created_user else ''}; scopes {','.join(api_key.scopes)};"
            f" expires {api_key.expires_at.isoformat() if api_key.expires_at else 'never'}."
        )
        self.stdout.write(plaintext)
