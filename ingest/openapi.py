"""What drf-spectacular cannot infer about ingest's endpoints (registered when the app is ready):
POST /v1/ingest reads its body itself, and DELETE /v1/data takes a confirmation body; and the
shapes of their answers (serializers that only describe what the views build)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from ingest.models import Ingestion
from ingest.services import DELETE_ALL_CONFIRMATION

INGEST_TAG = "Sending data"


class CountsSerializer(serializers.Serializer):
    received = serializers.IntegerField(help_text="received = stored + updated + duplicates + rejected")
    stored = serializers.IntegerField()
    updated = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()


class WorkoutCountsSerializer(CountsSerializer):
    route_points = serializers.IntegerField()


class ItemErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="out_of_range, unit_mismatch, invalid_date, …")
    message = serializers.CharField()
    where = serializers.DictField(help_text="section, metric, index, field: the item's place in the body.")


class IngestAnswerSerializer(serializers.Serializer):
    ingestion_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=("processed", "partial", "duplicate"))
    duplicate_of = serializers.UUIDField(allow_null=True)
    metrics = serializers.DictField(child=CountsSerializer())
    workouts = WorkoutCountsSerializer()
    other = serializers.DictField(child=CountsSerializer(), help_text="symptoms, ecg, stateOfMind, …")
    errors = ItemErrorSerializer(many=True, help_text="The first 100.")
    errors_truncated = serializers.BooleanField()


class IngestionSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Ingestion.Status.choices)
    received_at = serializers.DateTimeField()
    processed_at = serializers.DateTimeField(allow_null=True)
    size = serializers.IntegerField(help_text="Body bytes after decompression.")
    duplicate_of = serializers.UUIDField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    automation = serializers.DictField(
        child=serializers.CharField(), help_text="The app's headers: automation-name, automation-id, …"
    )


class IngestionListSerializer(serializers.Serializer):
    ingestions = IngestionSummarySerializer(many=True)
    next = serializers.URLField(allow_null=True)


class IngestionDetailSerializer(IngestionSummarySerializer):
    metrics = serializers.DictField(child=CountsSerializer())
    workouts = serializers.DictField(child=serializers.IntegerField(), help_text="Empty when nothing was processed.")
    other = serializers.DictField(child=CountsSerializer())
    errors = ItemErrorSerializer(many=True)
    errors_truncated = serializers.BooleanField()


class MetricTotalSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    unit = serializers.CharField(allow_blank=True)
    sum = serializers.FloatField(required=False, help_text="Cumulative metrics, in the stored unit.")


class StatsSerializer(serializers.Serializer):
    metrics = serializers.DictField(child=MetricTotalSerializer())
    workouts = serializers.IntegerField()
    records = serializers.IntegerField()
    ingestions = serializers.IntegerField()
    storage_bytes = serializers.IntegerField()
    last_sync = serializers.DateTimeField(allow_null=True)


class DeletedSerializer(serializers.Serializer):
    deleted = serializers.DictField(child=serializers.IntegerField(), help_text="Rows deleted per kind.")


class IngestViewSchema(OpenApiViewExtension):
    target_class = "ingest.views.IngestView"

    def view_replacement(self):
        class Fixed(self.target_class):
            @extend_schema(
                summary="Send one Health Auto Export export",
                description='Body: `{"data": {"metrics": [...], "workouts": [...], ...}}`, optionally gzip or '
                "deflate (Content-Encoding). 200 for every well-formed export, with counts per metric and "
                "item errors; `status` is processed, partial or duplicate.",
                tags=[INGEST_TAG],
                request={"application/json": OpenApiTypes.OBJECT},
                parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
                responses={200: IngestAnswerSerializer},
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
