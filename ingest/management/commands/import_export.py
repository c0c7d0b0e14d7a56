from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from healthexport.lib.errors import ApiError
from ingest.services import ingest_export

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Ingest Health Auto Export files from disk for USERNAME through the same pipeline as "
        "POST /v1/ingest (no rate limit), for backfills. Files ending in .gz are decompressed."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--user", required=True, help="username of the data owner")

    def handle(self, *args: Any, files: list[Path], user: str, **options: Any) -> None:
        try:
            owner = get_user_model().objects.get(username=user)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {user!r}.") from None
        totals = {"received": 0, "stored": 0, "updated": 0, "duplicates": 0, "rejected": 0}
        for position, path in enumerate(files, start=1):
            started = time.monotonic()
            body = path.read_bytes()
            if path.suffix == ".gz":
                body = gzip.decompress(body)
            try:
                answer = ingest_export(user=owner, api_key=None, body=body, progress=self._draw_progress)
            except ApiError as exc:
                raise CommandError(f"{path}: {exc.code}: {exc.message}") from None
            counts = [*answer["metrics"].values(), answer["workouts"], *answer["other"].values()]
            for field in totals:
                totals[field] += sum(c[field] for c in counts)
            self.stderr.write("\r" + " " * (BAR_WIDTH + 60) + "\r", ending="")
            self.stdout.write(
                f"[{position}/{len(files)}] {path.name}: {answer['status']} in {time.monotonic() - started:.1f}s"
                f" (ingestion {answer['ingestion_id']})"
            )
        self.stdout.write(
            f"Imported {len(files)} file(s) for {user}: "
            + ", ".join(f"{count} {field}" for field, count in totals.items())
        )

    def _draw_progress(self, metric: str, done: int, total: int) -> None:
        """One line on stderr, redrawn in place: the metric being stored and how far it is."""
        filled = BAR_WIDTH * done // max(total, 1)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stderr.write(f"\r  [{bar}] {metric[:30]}: {done}/{total} items", ending="")
        self.stderr.flush()
