"""The owner API over stored health data: thin views over ``metrics.queries`` (``GET /v1/export``, which
writes the app's own format, is ``ingest``'s)."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import ReadScope
from healthexport.lib.errors import InvalidPayload
from metrics import queries
from metrics.openapi import (
    READ_TAG,
    MetricDataSerializer,
    MetricListSerializer,
    WorkoutDetailSerializer,
    WorkoutListSerializer,
)

TIME_PARAMS = [
    OpenApiParameter("start", OpenApiTypes.DATETIME, description="Inclusive, ISO-8601."),
    OpenApiParameter("end", OpenApiTypes.DATETIME, description="Exclusive, ISO-8601."),
]


def time_window(request: Request):
    """``?start=`` (inclusive) and ``?end=`` (exclusive); a window that holds no instant is a 400,
    not an empty answer that would look like no data."""
    start = queries.parse_time_param(request.query_params.get("start"), "start")
    end = queries.parse_time_param(request.query_params.get("end"), "end")
    if start is not None and end is not None and end <= start:
        raise InvalidPayload("end must be after start.", details=[{"field": "end", "reason": "end_before_start"}])
    return start, end


def choice_param(request: Request, name: str, choices: tuple[str, ...], default: str) -> str:
    value = request.query_params.get(name) or default
    if value not in choices:
        raise InvalidPayload(
            f"{name} must be one of {', '.join(choices)}.", details=[{"field": name, "reason": "invalid_choice"}]
        )
    return value


def limit_param(request: Request) -> int | None:
    """``?limit=``: items per raw page, 1 to ``MAX_PAGE_SIZE`` (default ``PAGE_SIZE``)."""
    value = request.query_params.get("limit")
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= queries.MAX_PAGE_SIZE:
        raise InvalidPayload(
            f"limit must be a whole number from 1 to {queries.MAX_PAGE_SIZE}.",
            details=[{"field": "limit", "reason": "out_of_range"}],
        )
    return int(value)


class FirstRenderer(DefaultContentNegotiation):
    """``?format=`` is ours (gpx, csv, …), not DRF's renderer override: always answer JSON errors."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ReadView(APIView):
    permission_classes = [IsAuthenticated, ReadScope]
    content_negotiation_class = FirstRenderer


class MetricListView(ReadView):
    @extend_schema(
        operation_id="metrics_list",
        summary="The metric types you have data of",
        tags=[READ_TAG],
        responses=MetricListSerializer,
    )
    def get(self, request: Request) -> Response:
        return Response({"metrics": queries.metric_list(user=request.user)})


class MetricDetailView(ReadView):
    @extend_schema(
        summary="Raw samples (cursor-paginated) or buckets of one metric",
        description="Buckets (`resolution=hour|day|week|month`) hold the sum of a cumulative metric, else "
        "min/avg/max, rounded to the metric's precision. Local times are ISO-8601 with the offset the phone sent.",
        tags=[READ_TAG],
        parameters=[
            *TIME_PARAMS,
            OpenApiParameter("resolution", str, enum=list(queries.RESOLUTIONS), description="Default raw."),
            OpenApiParameter("unit", str, description="Convert values to this unit (same dimension)."),
            OpenApiParameter("tz", str, description="IANA zone for buckets; default: the offset the app sent."),
            OpenApiParameter("cursor", str, description="The `next` cursor of the previous page."),
            OpenApiParameter(
                "limit",
                int,
                description=f"Raw items per page, 1 to {queries.MAX_PAGE_SIZE} (default {queries.PAGE_SIZE}).",
            ),
            OpenApiParameter(
                "kind",
                str,
                enum=list(queries.SLEEP_KINDS),
                description="sleep_analysis only: `nights` (default; per night and source, its sessions added up "
                "and listed) or `stages` (stage segments: start, end, stage, source; cursor-paginated).",
            ),
        ],
        responses=MetricDataSerializer,
    )
    def get(self, request: Request, name: str) -> Response:
        metric = queries.metric_type_get(user=request.user, name=name)
        start, end = time_window(request)
        resolution = choice_param(request, "resolution", queries.RESOLUTIONS, "raw")
        kind = choice_param(request, "kind", queries.SLEEP_KINDS, "nights")
        if request.query_params.get("kind") and metric.name != queries.SLEEP:
            raise InvalidPayload(
                f"kind applies to {queries.SLEEP} only.", details=[{"field": "kind", "reason": "not_applicable"}]
            )
        unit = request.query_params.get("unit")
        limit = limit_param(request)
        if resolution != "raw":
            buckets = queries.metric_buckets(
                user=request.user,
                metric=metric,
                resolution=resolution,
                start=start,
                end=end,
                unit=unit,
                tz=queries.parse_tz_param(request.query_params.get("tz")),
            )
            return Response({"metric": metric.name, "resolution": resolution, "buckets": buckets})
        page = queries.metric_raw_page(
            user=request.user,
            metric=metric,
            start=start,
            end=end,
            unit=unit,
            cursor=request.query_params.get("cursor"),
            limit=limit,
            kind=kind,
        )
        next_link = None
        if page.next_cursor:
            params = request.query_params.copy()
            params["cursor"] = page.next_cursor
            next_link = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        answer = {"metric": metric.name, "resolution": "raw", "items": page.items, "next": next_link}
        if metric.name == queries.SLEEP:
            answer["kind"] = kind
        return Response(answer)


class WorkoutListView(ReadView):
    @extend_schema(
        operation_id="workouts_list",
        summary="Your workouts",
        tags=[READ_TAG],
        parameters=[*TIME_PARAMS, OpenApiParameter("type", str, description="Workout name, e.g. Outdoor Run.")],
        responses=WorkoutListSerializer,
    )
    def get(self, request: Request) -> Response:
        start, end = time_window(request)
        workouts = queries.workout_list(user=request.user, start=start, end=end, kind=request.query_params.get("type"))
        return Response({"workouts": [queries.workout_summary(w) for w in workouts]})


class WorkoutDetailView(ReadView):
    @extend_schema(
        summary="One workout: route as a GeoJSON Feature and series, or a GPX 1.1 track",
        tags=[READ_TAG],
        parameters=[OpenApiParameter("format", str, enum=["json", "gpx"])],
        responses={(200, "application/json"): WorkoutDetailSerializer, (200, "application/gpx+xml"): OpenApiTypes.STR},
    )
    def get(self, request: Request, public_id) -> HttpResponse:
        workout = queries.workout_get(user=request.user, public_id=public_id)
        if request.query_params.get("format") == "gpx":
            response = HttpResponse(queries.workout_gpx(workout), content_type="application/gpx+xml")
            response["Content-Disposition"] = f'attachment; filename="workout-{workout.public_id}.gpx"'
            return response
        return Response(queries.workout_detail(workout))
