from __future__ import annotations

from django.conf import settings
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IngestScope
from healthexport.errors import UnsupportedMediaType
from ingest.body import read_body
from ingest.services import ingest_export


class IngestView(APIView):
    """POST /v1/ingest: one Health Auto Export export (CONTRACT.md "POST /v1/ingest")."""

    permission_classes = [IsAuthenticated, IngestScope]
    parser_classes: list = []  # the body is read and parsed by the pipeline, not by DRF

    def post(self, request: Request) -> Response:
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise UnsupportedMediaType(f"Content-Type must be application/json, not {media_type or 'missing'!r}.")
        body, encoding = read_body(request._request, limit=settings.INGEST_MAX_BODY_BYTES)
        answer = ingest_export(
            user=request.user,
            api_key=request.auth,
            body=body,
            content_encoding=encoding,
            idempotency_key=request.headers.get("Idempotency-Key", "").strip(),
            request=request._request,
        )
        return Response(answer)
