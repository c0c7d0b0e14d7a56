"""Reading a request body safely: size caps before and during reading, bomb-safe decompression."""

from __future__ import annotations

import zlib

from django.http import HttpRequest

from healthexport.errors import BodyTooLarge, InvalidPayload, UnsupportedMediaType

CHUNK = 1024 * 1024
# zlib window bits: gzip header, zlib header, or raw deflate (some clients send that as "deflate").
WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS}


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"The body is larger than {limit} bytes (INGEST_MAX_BODY_BYTES), after decompression.")


def read_body(request: HttpRequest, *, limit: int) -> tuple[bytes | bytearray, str]:
    """The decompressed body and its Content-Encoding; 413 as soon as it passes ``limit``.

    The body is read into one growing buffer (no chunk list joined at the end), so a 30 MB
    export costs 30 MB here, not twice that at the moment of joining.
    """
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity", *WBITS):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; send gzip, deflate or none.")
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    raw = _read_capped(request, limit)
    if encoding in WBITS:
        return _decompress(raw, WBITS[encoding], limit), encoding
    return raw, ""


def _read_capped(request: HttpRequest, limit: int) -> bytearray:
    body = bytearray()
    while chunk := request.read(CHUNK):
        if len(body) + len(chunk) > limit:
            raise _too_large(limit)
        body += chunk
    return body


def _decompress(data: bytes | bytearray, wbits: int, limit: int) -> bytearray:
    """Inflate at most ``limit + 1`` bytes: a gzip bomb is stopped without being inflated."""
    try:
        inflater = zlib.decompressobj(wbits)
        out = bytearray()
        pending = data
        while pending:
            out += inflater.decompress(pending, CHUNK)
            if len(out) > limit:
                raise _too_large(limit)
            pending = inflater.unconsumed_tail
            if inflater.eof:
                break
        out += inflater.flush()
        if len(out) > limit:
            raise _too_large(limit)
    except zlib.error as exc:
        if wbits == zlib.MAX_WBITS:  # "deflate" sent as a raw stream, without the zlib header
            return _decompress(data, -zlib.MAX_WBITS, limit)
        raise InvalidPayload(f"The body could not be decompressed: {exc}") from None
    return out
