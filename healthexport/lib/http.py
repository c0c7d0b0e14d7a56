"""Facts about an HTTP request that several apps need."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The peer address, or the last untrusted X-Forwarded-For hop when the peer is a trusted proxy."""
    peer = request.META.get("REMOTE_ADDR") or None
    trusted = set(settings.TRUSTED_PROXIES)
    if peer and peer in trusted:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        for hop in reversed(hops):
            if hop not in trusted:
                peer = hop
                break
    try:
        return str(ipaddress.ip_address(peer)) if peer else None
    except ValueError:
        return None


def declared_length(request: HttpRequest) -> int:
    """The body size announced by ``Content-Length`` (0 when absent or malformed), before reading it."""
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0
