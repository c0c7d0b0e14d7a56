"""The owner API over ingestions: list, inspect and delete your exports, stats, erase everything,
and export everything in the app's own format."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import DeleteScope, ReadScope
from healthexport.lib.errors import InvalidPayload
from ingest import exports, queries, services
from ingest.openapi import (
    ConfirmedDeleteSchema,
    DeletedSerializer,
    IngestionDetailSerializer,
    IngestionListSerializer,
    StatsSerializer,
)
from metrics.openapi import DELETE_TAG, READ_TAG
from metrics.views import TIME_PARAMS, ReadView, choice_param, time_window


class StatsView(APIView):
    permission_classes = [IsAuthenticated, ReadScope]

    @extend_schema(
        summary="Totals per metric, last sync, ingestions and storage (cached 5 minutes)",
        tags=[READ_TAG],
        responses=StatsSerializer,
    )
    def get(self, request: Request) -> Response:
        return Response(queries.user_stats(user=request.user))


class IngestionListView(APIView):
    permission_classes = [IsAuthenticated, ReadScope]

    @extend_schema(
        operation_id="ingestions_list",
        summary="Your exports, newest first, 100 a page (follow `next`)",
        tags=[READ_TAG],
        parameters=[OpenApiParameter("cursor", str, description="The `next` cursor of the previous page.")],
        responses=IngestionListSerializer,
    )
    def get(self, request: Request) -> Response:
        page = queries.ingestion_page(user=request.user, cursor=request.query_params.get("cursor"))
        next_link = None
        if page.next_cursor:
            next_link = request.build_absolute_uri(f"{request.path}?{urlencode({'cursor': page.next_cursor})}")
        return Response({"ingestions": page.items, "next": next_link})


class IngestionDetailView(APIView):
    def get_permissions(self):
        scope = DeleteScope if self.request.method == "DELETE" else ReadScope
        return [IsAuthenticated(), scope()]

    @extend_schema(
        summary="One export: status, counts, errors, size, times", tags=[READ_TAG], responses=IngestionDetailSerializer
    )
    def get(self, request: Request, public_id) -> Response:
        ingestion = queries.ingestion_get(user=request.user, public_id=public_id)
        return Response(queries.ingestion_summary(ingestion, detail=True))

    @extend_schema(
        summary="Delete one export and the rows it last stored (scope delete)",
        tags=[DELETE_TAG],
        responses={200: DeletedSerializer},
    )
    def delete(self, request: Request, public_id) -> Response:
        ingestion = queries.ingestion_get(user=request.user, public_id=public_id)
        counts = services.ingestion_delete(user=request.user, ingestion=ingestion, request=request)
        return Response({"deleted": counts})


class DataView(APIView):
    permission_classes = [IsAuthenticated, DeleteScope]
    schema = ConfirmedDeleteSchema()

    @extend_schema(
        summary="Erase all your health data and raw exports (keys and audit events stay)",
        tags=[DELETE_TAG],
        responses={200: DeletedSerializer},
    )
    def delete(self, request: Request) -> Response:
        confirm = request.data.get("confirm") if isinstance(request.data, dict) else None
        if confirm != services.DELETE_ALL_CONFIRMATION:
            raise InvalidPayload(
                f'Send {{"confirm": "{services.DELETE_ALL_CONFIRMATION}"}} to erase all your data.',
                details=[{"field": "confirm", "reason": "confirmation_required"}],
            )
        return Response({"deleted": services.user_data_delete(user=request.user, request=request)})


class ExportView(ReadView):
    @extend_schema(
        summary="Everything you have, streamed, in the original offsets and units",
        description="`hae` is a Health Auto Export JSON body that POST /v1/ingest accepts as is.",
        tags=[READ_TAG],
        parameters=[*TIME_PARAMS, OpenApiParameter("format", str, enum=list(exports.FORMATS))],
        # hae is one JSON document; ndjson and csv are streamed text.
        responses={
            (200, ct): OpenApiTypes.OBJECT if ct == "application/json" else OpenApiTypes.BINARY
            for ct in exports.CONTENT_TYPES.values()
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        # ``format`` is DRF's content-negotiation override; read it raw from the query string.
        fmt = choice_param(request, "format", exports.FORMATS, "ndjson")
        start, end = time_window(request)
        response = StreamingHttpResponse(
            exports.export_render(user=request.user, fmt=fmt, start=start, end=end),
            content_type=exports.CONTENT_TYPES[fmt],
        )
        extension = {"hae": "json"}.get(fmt, fmt)
        response["Content-Disposition"] = f'attachment; filename="healthexport.{extension}"'
        return response
