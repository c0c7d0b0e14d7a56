"""POST /v1/imports, GET /v1/imports, GET /v1/imports/<id>; and the owner's /imports page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.permissions import IngestScope
from accounts.ratelimit import ratelimit_check
from healthexport.lib.errors import ApiError, NotFound, UnsupportedMediaType
from healthexport.lib.http import declared_length
from ingest.apple.services import check_daily_limit, count_totals, import_submit
from ingest.apple.upload import receive_chunks, receive_request_body
from ingest.models import AppleImport

ZIP_TYPES = ("application/zip", "application/x-zip-compressed")
LISTED = 100


def import_summary(apple_import: AppleImport) -> dict[str, Any]:
    """The answer of GET /v1/imports/<id> (README "Apple Health import")."""
    error = None
    if apple_import.status == AppleImport.Status.FAILED:
        error = {"code": apple_import.error_code, "message": apple_import.error_message}
    return {
        "import_id": str(apple_import.public_id),
        "status": apple_import.status,
        "progress": round(apple_import.progress, 4),
        "counts": apple_import.counts,
        "error": error,
        "size": apple_import.size,
        "attempts": apple_import.attempts,
        "created_at": apple_import.created_at,
        "started_at": apple_import.started_at,
        "finished_at": apple_import.finished_at,
    }


class UploadThrottle(BaseThrottle):
    """The key's hourly request budget counts an upload; its byte budget does not (imports have
    their own size cap and daily limit)."""

    def allow_request(self, request: Any, view: Any) -> bool:
        if isinstance(request.auth, ApiKey):
            ratelimit_check(request=request._request, api_key=request.auth, cost=0)
        return True


class IngestOrReadScope(BasePermission):
    """Listing imports: the key that uploads (ingest) or one that reads."""

    message = "This API key lacks the 'ingest' or 'read' scope."

    def has_permission(self, request: Request, view: Any) -> bool:
        scopes = getattr(request.auth, "scopes", None) or ()
        return ApiKey.Scope.INGEST in scopes or ApiKey.Scope.READ in scopes


class ImportListView(APIView):
    parser_classes: list = []  # the body is the archive, streamed to disk by the view
    streams_request_body = True  # capped by IMPORT_MAX_BODY_BYTES as read, not by Django's 2.5 MB

    def get_permissions(self) -> list[BasePermission]:
        scope = IngestScope if self.request.method == "POST" else IngestOrReadScope
        return [IsAuthenticated(), scope()]

    def get_throttles(self) -> list[BaseThrottle]:
        return [UploadThrottle()] if self.request.method == "POST" else super().get_throttles()

    @extend_schema(
        summary="Upload the Health app's export.zip to import (scope ingest)",
        description="Body: the zip as sent by the Health app's Export All Health Data, "
        "`Content-Type: application/zip`. 202 once stored and queued; follow GET /v1/imports/<id>.",
        request={"application/zip": OpenApiTypes.BINARY},
        responses={202: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        if media_type not in ZIP_TYPES:
            raise UnsupportedMediaType(f"Content-Type must be application/zip, not {media_type or 'missing'!r}.")
        check_daily_limit(user=request.user, api_key=request.auth)  # before reading gigabytes
        upload = receive_request_body(request._request)
        apple_import = import_submit(user=request.user, api_key=request.auth, upload=upload, request=request._request)
        response = Response({"import_id": str(apple_import.public_id), "status": apple_import.status}, status=202)
        response["Location"] = f"/v1/imports/{apple_import.public_id}"
        return response

    @extend_schema(summary="Your Apple Health imports, newest first", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        imports = AppleImport.objects.filter(user=request.user).order_by("-created_at")[:LISTED]
        return Response({"imports": [import_summary(i) for i in imports]})


class ImportDetailView(APIView):
    permission_classes = [IsAuthenticated, IngestOrReadScope]

    @extend_schema(summary="One import: status, progress, counts per type, error", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, public_id: Any) -> Response:
        apple_import = AppleImport.objects.filter(user=request.user, public_id=public_id).first()
        if apple_import is None:
            raise NotFound("You have no import with this id.")
        return Response(import_summary(apple_import))


@login_required
@require_http_methods(["GET", "POST"])
def imports_page(request: HttpRequest) -> HttpResponse:
    """Upload an export.zip and see your imports (a plain form; no script)."""
    if request.method == "POST":
        too_large = declared_length(request) > settings.IMPORT_MAX_BODY_BYTES  # checked before Django spools it
        archive = None if too_large else request.FILES.get("archive")
        if too_large:
            messages.error(request, f"The archive is larger than {settings.IMPORT_MAX_BODY_BYTES} bytes.")
        elif archive is None:
            messages.error(request, "Choose the export.zip the Health app made.")
        else:
            try:
                check_daily_limit(user=request.user, api_key=None)
                upload = receive_chunks(archive.chunks())
                apple_import = import_submit(user=request.user, api_key=None, upload=upload, request=request)
            except ApiError as exc:
                messages.error(request, f"Not imported ({exc.code}): {exc.message}")
            else:
                messages.success(request, f"Queued import {apple_import.public_id}.")
        return redirect("apple-imports-page")
    imports = AppleImport.objects.filter(user=request.user).order_by("-created_at")[:LISTED]
    rows = [{**import_summary(i), "totals": count_totals(i.counts)} for i in imports]
    return render(request, "ingest/imports.html", {"imports": rows})


# The page caps the upload itself (IMPORT_MAX_BODY_BYTES): Django spools multipart files to disk.
imports_page.streams_request_body = True
