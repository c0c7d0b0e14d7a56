"""Facts about an HTTP request that several apps need."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest

from healthexport.lib.errors import InvalidRequest

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def from_trusted_proxy(request: HttpRequest) -> bool:
    """Whether the peer is one of our proxies (``TRUSTED_PROXIES``), not the client itself."""
    peer = request.META.get("REMOTE_ADDR")
    return bool(peer) and _is_in(peer, _trusted_networks(tuple(settings.TRUSTED_PROXIES)))


def client_ip(request: HttpRequest) -> str | None:
    """The peer address, or the last untrusted X-Forwarded-For hop when the peer is a trusted proxy."""
    peer = request.META.get("REMOTE_ADDR") or None
    trusted = _trusted_networks(tuple(settings.TRUSTED_PROXIES))
    if from_trusted_proxy(request):
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        for hop in reversed(hops):
            if not _is_in(hop, trusted):
                peer = hop
                break
    try:
        return str(ipaddress.ip_address(peer)) if peer else None
    except ValueError:
        return None


@functools.cache
def _trusted_networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """TRUSTED_PROXIES holds addresses and networks: a proxy's IP, or its compose or pod network."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _is_in(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def body_reader(request: HttpRequest) -> Callable[[int], bytes]:
    """Where to read the request body from.

    Django limits ``request.read`` to ``Content-Length``, so a chunked body (which has none) reads
    as empty. A server that ends ``wsgi.input`` where the body ends says so with
    ``wsgi.input_terminated`` (gunicorn does, after decoding the chunks): without a length, that
    stream is read to its end.
    """
    if not request.META.get("CONTENT_LENGTH") and request.META.get("wsgi.input_terminated"):
        return _chunk_decoder(request.META["wsgi.input"].read)
    return request.read


def _chunk_decoder(read: Callable[[int], bytes]) -> Callable[[int], bytes]:
    """``read`` of a stream the server decodes from chunks as it is read: a malformed chunk, or a
    client that hangs up before the last one, raises whatever the server raises (gunicorn's
    ``InvalidChunkSize``, ``NoMoreData``, ...), here a 400 like any other malformed request."""

    def read_decoded(size: int) -> bytes:
        try:
            return read(size)
        except Exception as exc:  # the server's own error types: not ours to import
            raise InvalidRequest(f"The chunked body cannot be read: {exc}.") from None

    return read_decoded


def declared_length(request: HttpRequest) -> int:
    """The body size announced by ``Content-Length`` (0 when absent or malformed), before reading it."""
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0
