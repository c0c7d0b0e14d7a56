"""A tests-only URLconf: one view per scope behind the default API-key authentication."""

from __future__ import annotations

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import DeleteScope, IngestScope, ReadScope


class WhoAmI(APIView):
    def get(self, request: Request) -> Response:
        return Response({"username": request.user.username, "prefix": request.auth.prefix})


class IngestView(WhoAmI):
    permission_classes = [IngestScope]

    def post(self, request: Request) -> Response:
        return self.get(request)


class ReadView(WhoAmI):
    permission_classes = [ReadScope]


class DeleteView(WhoAmI):
    permission_classes = [DeleteScope]

    def delete(self, request: Request) -> Response:
        return self.get(request)


urlpatterns = [
    path("v1/test/whoami", WhoAmI.as_view()),
    path("v1/test/ingest", IngestView.as_view()),
    path("v1/test/read", ReadView.as_view()),
    path("v1/test/delete", DeleteView.as_view()),
]
