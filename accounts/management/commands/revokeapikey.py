from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.keys import prefix_of
from accounts.models import ApiKey
from accounts.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke the API key with this lookup prefix (the 8 characters after hx_; hx_<prefix>_… also works)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix")

    def handle(self, *args: Any, prefix: str, **options: Any) -> None:
        prefix = prefix_of(prefix)
        api_key = ApiKey.objects.select_related("owner").filter(prefix=prefix).first()
        if api_key is None:
            raise CommandError(f"No API key with prefix {prefix!r}.")
        revoked = api_key_revoke(api_key=api_key, revoked_by=None)
        note = "" if revoked else " (it was already revoked)"
        self.stdout.write(f"Revoked {int(revoked)} key(s): {api_key} of {api_key.owner.username}{note}.")
