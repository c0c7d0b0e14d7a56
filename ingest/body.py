"""Reading a request body safely: size caps before and during reading, bomb-safe decompression."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from healthexport.lib.errors import BodyTooLarge, InvalidPayload, UnsupportedMediaType
from healthexport.lib.http import declared_length

CHUNK = 1024 * 1024
# zlib window bits: gzip header, zlib header, or raw deflate (some clients send that as "deflate").
WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS}


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"The body is larger than {limit} bytes (INGEST_MAX_BODY_BYTES), after decompression.")


@dataclass(frozen=True)
class RequestBody:
    data: bytearray
    sha256: str  # of the decompressed data, computed as it was read
    encoding: str  # the Content-Encoding it came in, "" for none
    received: int  # bytes as received, before decompression


def read_body(request: HttpRequest, *, limit: int) -> RequestBody:
    """The decompressed body; 413 as soon as it passes ``limit``.

    The body is read into one growing buffer (no chunk list joined at the end), so a 30 MB
    export costs 30 MB here, not twice that at the moment of joining. Each piece is hashed as
    it arrives, while it is still in the CPU's cache: no second pass over the whole body.
    """
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity", *WBITS):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; send gzip, deflate or none.")
    if declared_length(request) > limit:
        raise _too_large(limit)
    read = _body_reader(request)
    if encoding in WBITS:
        received = _read_capped(read, limit)
        data, sha256 = _decompress(received, WBITS[encoding], limit)
        return RequestBody(data, sha256, encoding=encoding, received=len(received))
    digest = hashlib.sha256()
    data = _read_capped(read, limit, digest)
    return RequestBody(data, sha256=digest.hexdigest(), encoding="", received=len(data))


def _body_reader(request: HttpRequest) -> Callable[[int], bytes]:
    """Where to read the body from.

    Django limits ``request.read`` to ``Content-Length``, so a chunked body (which has none) reads
    as empty. A server that ends ``wsgi.input`` where the body ends says so with
    ``wsgi.input_terminated`` (gunicorn does, after decoding the chunks): without a length, that
    stream is read to its end, under the same cap.
    """
    if not request.META.get("CONTENT_LENGTH") and request.META.get("wsgi.input_terminated"):
        return request.META["wsgi.input"].read
    return request.read


def _read_capped(read: Callable[[int], bytes], limit: int, digest: Any = None) -> bytearray:
    body = bytearray()
    while chunk := read(CHUNK):
        if len(body) + len(chunk) > limit:
            raise _too_large(limit)
        body += chunk
        if digest is not None:
            digest.update(chunk)
    return body


def _decompress(data: bytes | bytearray, wbits: int, limit: int) -> tuple[bytearray, str]:
    """Inflate at most ``limit + 1`` bytes: a gzip bomb is stopped without being inflated.
    Returns the data and its SHA-256."""
    digest = hashlib.sha256()
    try:
        inflater = zlib.decompressobj(wbits)
        out = bytearray()
        pending = data
        while pending:
            piece = inflater.decompress(pending, CHUNK)
            out += piece
            if len(out) > limit:
                raise _too_large(limit)
            digest.update(piece)
            pending = inflater.unconsumed_tail
            if inflater.eof:
                break
        rest = inflater.flush()
        out += rest
        if len(out) > limit:
            raise _too_large(limit)
        digest.update(rest)
    except zlib.error as exc:
        if wbits == zlib.MAX_WBITS:  # "deflate" sent as a raw stream, without the zlib header
            return _decompress(data, -zlib.MAX_WBITS, limit)
        raise InvalidPayload(f"The body could not be decompressed: {exc}") from None
    return out, digest.hexdigest()
