from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.services import user_get_or_create
from healthexport.lib.errors import ApiError
from healthexport.lib.progress import ProgressBar
from ingest.hae.document import parse_payload
from ingest.models import Ingestion
from ingest.services import ingest_export

OUTCOMES = ("received", "stored", "updated", "duplicates", "rejected")


class Command(BaseCommand):
    help = (
        "Ingest Health Auto Export files from disk for USERNAME through the same pipeline as "
        "POST /v1/ingest (no rate limit), for backfills. Files ending in .gz are decompressed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--user", required=True, help="username of the data owner")
        parser.add_argument("--create-user", action="store_true", help="Create the user (no password) if missing.")

    def handle(self, *args: Any, files: list[Path], user: str, create_user: bool, **options: Any) -> None:
        try:
            owner, created = user_get_or_create(username=user, create=create_user)
        except User.DoesNotExist as exc:
            raise CommandError(str(exc)) from None
        totals = dict.fromkeys(OUTCOMES, 0)
        for position, path in enumerate(files, start=1):
            started = time.monotonic()
            body = path.read_bytes()
            if path.suffix == ".gz":
                body = gzip.decompress(body)
            # The raw stream under Django's OutputWrapper: the bar draws in place (or writes plain lines).
            with ProgressBar(total=count_items(body), unit="items", stream=self.stderr._out) as bar:
                parts: dict[str, int] = {}
                try:
                    answer = ingest_export(
                        user=owner,
                        api_key=None,
                        body=body,
                        progress=lambda part, done, _total: bar.part_done(parts, part, done),  # noqa: B023
                    )
                except ApiError as exc:
                    raise CommandError(f"{path}: {exc.code}: {exc.message}") from None
            self.stdout.write(f"[{position}/{len(files)}] {path.name}: {describe(answer, time.monotonic() - started)}")
            if answer["status"] == "duplicate":
                continue
            counts = [*answer["metrics"].values(), answer["workouts"], *answer["other"].values()]
            for field in totals:
                totals[field] += sum(c[field] for c in counts)
        self.stdout.write(
            f"Imported {len(files)} file(s) for {user}{' (new user)' if created else ''}: "
            + ", ".join(f"{count} {field}" for field, count in totals.items())
        )


def count_items(body: bytes) -> int:
    """Metric items and workouts in the export: what the progress bar counts (0 when unreadable:
    the ingest itself then says what is wrong)."""
    try:
        data = parse_payload(body)
    except ApiError:
        return 0
    return sum(part.count or 0 for part in data.metrics) + len(data.workouts)


def describe(answer: dict[str, Any], seconds: float) -> str:
    """One honest line: a duplicate file says when it was first imported and that nothing was stored."""
    if answer["status"] == "duplicate":
        first = Ingestion.objects.filter(public_id=answer["duplicate_of"]).values_list("received_at", flat=True).first()
        when = f" on {first:%Y-%m-%d %H:%M} UTC" if first else ""
        return f"already imported{when} (ingestion {answer['duplicate_of']}), nothing stored"
    return f"{answer['status']} in {seconds:.1f}s (ingestion {answer['ingestion_id']})"
