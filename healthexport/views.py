"""Liveness, readiness and Prometheus endpoints (no authentication)."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import Http404, HttpRequest, HttpResponse
from django_prometheus.exports import ExportToDjangoView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from healthexport.lib.errors import error_response
from healthexport.lib.http import client_ip
from healthexport.lib.prometheus import refresh_database_gauges

logger = logging.getLogger(__name__)


class PublicView(APIView):
    authentication_classes: list = []
    permission_classes: list = []


class HealthView(PublicView):
    """Liveness: the process answers. Checks no dependency, so a slow database never kills pods."""

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


def check_database() -> str:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def check_cache() -> str:
    """A cache outage is survivable, so it is "degraded", not fatal: rate limits fail open, failed
    keys are throttled per process, and API keys are checked against their rows until it is back."""
    probe_key, probe_value = "readiness-probe", uuid.uuid4().hex
    try:
        cache.set(probe_key, probe_value, timeout=10)
        answered = cache.get(probe_key)
    except Exception as exc:  # any backend error (connection refused, timeout)
        logger.warning("readiness: cache unreachable: %s", exc.__class__.__name__)
        return "degraded"
    return "ok" if answered == probe_value else "degraded"


def check_migrations() -> str:
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return "ok" if not plan else "pending"


READINESS_CHECKS = {"database": check_database, "cache": check_cache, "migrations": check_migrations}
# Still ready: the service works without these, more slowly or less strictly.
NON_FATAL_STATES = {"ok", "degraded"}


class ReadyView(PublicView):
    """Readiness: database query, cache round trip, no unapplied migrations."""

    def get(self, request: Request) -> Response:
        checks: dict[str, str] = {}
        for name, check in READINESS_CHECKS.items():
            try:
                checks[name] = check()
            except Exception as exc:  # any failure of a dependency means "not ready", never a 500
                logger.warning("readiness check %s failed: %s", name, exc.__class__.__name__)
                checks[name] = "unavailable"
        ready = all(state in NON_FATAL_STATES for state in checks.values())
        return Response({"status": "ready" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


def may_scrape(request: HttpRequest) -> bool:
    """A scraper on this host (the client, after trusted proxies, is loopback), or one that sends
    ``Authorization: Bearer <METRICS_TOKEN>``. A proxy's own address is not enough: it forwards
    the public."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode()):
            return True
    ip = client_ip(request)
    return ip is not None and ipaddress.ip_address(ip).is_loopback


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format: database-backed gauges refreshed (at most every 30 s), then exported.

    django-prometheus's exporter sums the worker files when PROMETHEUS_MULTIPROC_DIR is set. With
    METRICS_PORT, gunicorn serves the metrics on that port only, so this public path is a 404.
    Without it, only ``may_scrape`` clients are served: the series name users, keys and failures.
    """
    if settings.METRICS_PORT is not None:
        raise Http404
    if not may_scrape(request):
        return error_response(
            403,
            "permission_denied",
            "/metrics is served to this host only, or with Authorization: Bearer <METRICS_TOKEN> "
            "(or set METRICS_PORT to serve it on a port of its own).",
        )
    refresh_database_gauges()
    return ExportToDjangoView(request)
