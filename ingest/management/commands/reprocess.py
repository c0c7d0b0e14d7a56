from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from healthexport.lib.errors import ApiError
from ingest.models import Ingestion
from ingest.services import RawBodyPurged, ingestion_process, ingestions_mark_stale

REPROCESSABLE = (Ingestion.Status.RECEIVED, Ingestion.Status.FAILED)


class Command(BaseCommand):
    help = (
        "Re-run stored raw bodies through the ingest pipeline (idempotent: nothing is stored twice). "
        "Give an ingestion id, or --status failed (or received) for all in that state. Exports left "
        "'received' by a crashed worker (older than INGEST_STALE_AFTER_SECONDS) are marked failed first."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("ingestion_id", nargs="?", help="public id (UUID) of one ingestion")
        parser.add_argument("--status", choices=[s.value for s in REPROCESSABLE])

    def handle(self, *args: Any, ingestion_id: str | None, status: str | None, **options: Any) -> None:
        if bool(ingestion_id) == bool(status):
            raise CommandError("Give either an ingestion id or --status.")
        ingestions_mark_stale(older_than=timedelta(seconds=settings.INGEST_STALE_AFTER_SECONDS))
        if ingestion_id:
            ingestions = Ingestion.objects.filter(public_id=ingestion_id)
            if not ingestions.exists():
                raise CommandError(f"No ingestion {ingestion_id}.")
            if ingestions.filter(body__isnull=True, status__in=REPROCESSABLE).exists():
                raise CommandError(str(RawBodyPurged(ingestions.get())))
        else:
            ingestions = Ingestion.objects.filter(status=status)
        outcomes: dict[str, int] = {}
        for ingestion in ingestions.select_related("user", "api_key").order_by("received_at").iterator():
            if ingestion.status not in REPROCESSABLE:
                outcome = f"skipped ({ingestion.status})"
            else:
                try:
                    outcome = ingestion_process(ingestion=ingestion)["status"]
                except ApiError as exc:
                    outcome = exc.code
                except RawBodyPurged:
                    outcome = "skipped (body purged)"
                except Exception as exc:  # keep going: each failure is recorded on its ingestion
                    outcome = f"failed ({exc.__class__.__name__})"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "nothing to do"
        self.stdout.write(f"Reprocessed {sum(outcomes.values())} ingestion(s): {summary}")
