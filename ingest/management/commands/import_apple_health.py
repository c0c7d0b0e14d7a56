from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.services import user_get_or_create
from healthexport.lib.progress import ProgressBar
from ingest.apple.archive import open_export
from ingest.apple.errors import ImportRefused
from ingest.apple.services import count_totals, file_sha256, import_attempt, import_create
from ingest.models import AppleImport

OUTCOMES = ("received", "stored", "updated", "duplicates", "rejected")


class Command(BaseCommand):
    help = (
        "Import the Health app's own export (export.zip, or a bare export.xml) for USERNAME, into the "
        "same tables as POST /v1/ingest. Runs here, not on the task queue; an import of the same file "
        "left unfinished (the command was stopped) is resumed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="export.zip or export.xml")
        parser.add_argument("--user", required=True, help="username of the data owner")
        parser.add_argument("--create-user", action="store_true", help="Create the user (no password) if missing.")

    def handle(self, *args: Any, path: Path, user: str, create_user: bool, **options: Any) -> None:
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            owner, created = user_get_or_create(username=user, create=create_user)
        except User.DoesNotExist as exc:
            raise CommandError(str(exc)) from None
        try:  # refused before anything is recorded: not a zip, unsafe entries, no export.xml
            with open_export(path, max_bytes=settings.IMPORT_MAX_UNCOMPRESSED_BYTES):
                pass
        except ImportRefused as exc:
            raise CommandError(f"{path}: refused ({exc.code}): {exc.message}") from None
        apple_import = self._unfinished(owner, path) or import_create(
            user=owner,
            path=path.resolve(),
            size=path.stat().st_size,
            sha256=file_sha256(path),
            owns_file=False,
            enqueue=False,
        )
        started = time.monotonic()
        with ProgressBar(total=1000, unit="‰", stream=self.stderr._out) as bar:
            outcome = import_attempt(
                import_id=apple_import.pk,
                progress=lambda fraction: bar.advance_to(int(fraction * 1000)),
                watchdog=False,
            )
        apple_import.refresh_from_db()
        if outcome != "done":
            reason = apple_import.error_message or f"the import is {outcome}"
            code = apple_import.error_code or outcome
            raise CommandError(f"{path}: refused ({code}): {reason}")
        self.stdout.write(describe(apple_import, user, created, time.monotonic() - started))

    def _unfinished(self, owner: User, path: Path) -> AppleImport | None:
        """An earlier run's import of this very file that did not finish: it is resumed."""
        digest = file_sha256(path)
        return (
            AppleImport.objects.filter(
                user=owner,
                sha256=digest,
                owns_file=False,
                status__in=[AppleImport.Status.QUEUED, AppleImport.Status.RUNNING],
            )
            .order_by("-created_at")
            .first()
        )


def describe(apple_import: AppleImport, user: str, created: bool, seconds: float) -> str:
    """One line of totals, then one per type."""
    counts = apple_import.counts
    per_type = {**counts.get("records", {}), "workouts": counts.get("workouts", {}), **counts.get("other", {})}
    totals = count_totals(counts)
    lines = [
        f"Imported {apple_import.public_id} for {user}{' (new user)' if created else ''} in {seconds:.1f}s: "
        + ", ".join(f"{totals[field]} {field}" for field in OUTCOMES)
        + f", {totals['route_points']} route points"
    ]
    for kind, c in sorted(per_type.items()):
        lines.append(f"  {kind}: " + ", ".join(f"{c.get(field, 0)} {field}" for field in OUTCOMES))
    return "\n".join(lines)
