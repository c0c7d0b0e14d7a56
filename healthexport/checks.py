"""System checks for configuration mistakes that would otherwise surface as wrong data."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import connection


@register(Tags.compatibility)
def check_time_settings(app_configs: Any = None, **kwargs: Any) -> list:
    errors = []
    if settings.TIME_ZONE != "UTC" or not settings.USE_TZ:
        errors.append(
            Error(
                "TIME_ZONE must be 'UTC' with USE_TZ = True: samples are stored as UTC instants.",
                id="healthexport.E001",
            )
        )
    return errors


@register(Tags.security, deploy=True)
def check_allowed_hosts(app_configs: Any = None, **kwargs: Any) -> list:
    if "*" in settings.ALLOWED_HOSTS:
        return [Warning("ALLOWED_HOSTS contains '*': set the host names you serve.", id="healthexport.W001")]
    return []


@register(Tags.database)
def check_postgis_extension(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list:
    """Only runs with --database (or migrate), since it needs a connection. Django's PostGIS
    backend creates the extension on migrate, so what must hold is that it is available."""
    if not databases or connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
        if cursor.fetchone() is None:
            return [
                Error(
                    "The PostGIS extension is not available to this PostgreSQL server.",
                    hint="Install postgresql-15-postgis-3 (scripts/setup-system.sh test does).",
                    id="healthexport.E002",
                )
            ]
    return []


@register(Tags.security)
def check_trusted_proxies(app_configs: Any = None, **kwargs: Any) -> list:
    """A typo in TRUSTED_PROXIES would otherwise fail the first request that carries X-Forwarded-For."""
    errors = []
    for entry in settings.TRUSTED_PROXIES:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            errors.append(
                Error(
                    f"TRUSTED_PROXIES entry {entry!r} is neither an IP address nor a network.",
                    hint="Use addresses or CIDR networks, e.g. 172.31.250.0/24,10.0.0.7.",
                    id="healthexport.E003",
                )
            )
    return errors


@register(Tags.compatibility)
def check_public_url(app_configs: Any = None, **kwargs: Any) -> list:
    """PUBLIC_URL is what the admin tells people to type into their phones."""
    if not settings.PUBLIC_URL:
        return [
            Warning(
                "PUBLIC_URL is not set: the admin cannot show the URL phones should send to.",
                hint="Set PUBLIC_URL to the base URL phones reach, e.g. https://health.example.org.",
                id="healthexport.W002",
            )
        ]
    parts = urlsplit(settings.PUBLIC_URL)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return [
            Error(
                f"PUBLIC_URL {settings.PUBLIC_URL!r} is not an http(s) base URL.",
                hint="e.g. https://health.example.org (a path prefix is allowed, a query is not).",
                id="healthexport.E004",
            )
        ]
    return []
