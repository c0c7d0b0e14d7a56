"""What drf-spectacular cannot infer about ingest's endpoints (registered when the app is ready):
POST /v1/ingest reads its body itself, and DELETE /v1/data takes a confirmation body."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema

from ingest.services import DELETE_ALL_CONFIRMATION


class IngestViewSchema(OpenApiViewExtension):
    target_class = "ingest.views.IngestView"

    def view_replacement(self):
        class Fixed(self.target_class):
            @extend_schema(
                summary="Send one Health Auto Export export",
                description='Body: `{"data": {"metrics": [...], "workouts": [...], ...}}`, optionally gzip or '
                "deflate (Content-Encoding). 200 for every well-formed export, with counts per metric and "
                "item errors; `status` is processed, partial or duplicate.",
                request={"application/json": OpenApiTypes.OBJECT},
                parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
                responses={200: OpenApiTypes.OBJECT},
            )
            def post(self, request, *args, **kwargs):
                return super().post(request, *args, **kwargs)

        return Fixed


class ConfirmedDeleteSchema(AutoSchema):
    """DELETE /v1/data takes ``{"confirm": ...}``; drf-spectacular documents bodies for PUT, PATCH and POST only."""

    def _get_request_body(self, direction: str = "request") -> dict[str, Any] | None:
        return {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["confirm"],
                        "properties": {"confirm": {"type": "string", "enum": [DELETE_ALL_CONFIRMATION]}},
                    }
                }
            },
        }
