from __future__ import annotations

import time

from django.conf import settings
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IngestScope
from accounts.ratelimit import ratelimit_record_received_bytes
from healthexport.lib.errors import UnsupportedMediaType
from ingest import instrumentation
from ingest.body import read_body
from ingest.queries import processed_body_size_seen
from ingest.services import ingest_export

# Headers Health Auto Export adds to describe the automation that sent the export.
AUTOMATION_HEADERS = ("automation-name", "automation-id", "automation-aggregation", "automation-period", "session-id")


def automation_headers(request: Request) -> dict[str, str]:
    """Which automation of the app sent this (kept with the export, shown in /v1/ingestions)."""
    return {name: request.headers[name][:200] for name in AUTOMATION_HEADERS if request.headers.get(name)}


class IngestView(APIView):
    """POST /v1/ingest: one Health Auto Export export (README "Sending data")."""

    permission_classes = [IsAuthenticated, IngestScope]
    parser_classes: list = []  # the body is read and parsed by the pipeline, not by DRF
    streams_request_body = True  # capped by INGEST_MAX_BODY_BYTES as read, not by Django's 2.5 MB

    def post(self, request: Request) -> Response:
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise UnsupportedMediaType(f"Content-Type must be application/json, not {media_type or 'missing'!r}.")
        body = read_body(
            request._request,
            limit=settings.INGEST_MAX_BODY_BYTES,
            may_be_resent=lambda size: processed_body_size_seen(user_id=request.user.pk, size=size),
        )
        request._request.ingest_body_bytes = body.size
        # A chunked body declared no length: the byte budget is charged once it is read.
        ratelimit_record_received_bytes(request, body.received)
        answer = ingest_export(
            user=request.user,
            api_key=request.auth,
            body=body.holder,
            digest=body.sha256,
            content_encoding=body.encoding,
            idempotency_key=request.headers.get("Idempotency-Key", "").strip(),
            automation=automation_headers(request),
            request=request._request,
        )
        for metric, counts in answer["metrics"].items():
            instrumentation.record_ingest_counts(metric=metric, counts=counts)
        instrumentation.record_ingest_counts(metric="workouts", counts=answer["workouts"])
        return Response(answer)

    def initial(self, request: Request, *args, **kwargs) -> None:
        request._request.ingest_started = time.monotonic()
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request: Request, response: Response, *args, **kwargs) -> Response:
        """Every answer, errors included, is counted and timed."""
        started = getattr(request._request, "ingest_started", None)
        if started is not None:
            instrumentation.record_ingest_request(
                status_code=response.status_code,
                seconds=time.monotonic() - started,
                body_bytes=getattr(request._request, "ingest_body_bytes", 0),
            )
        return super().finalize_response(request, response, *args, **kwargs)
