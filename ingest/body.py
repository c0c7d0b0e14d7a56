"""Reading a request body safely: size caps before and during reading, bomb-safe decompression."""

from __future__ import annotations

import hashlib
import queue
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest

from healthexport.lib.errors import BodyTooLarge, InvalidPayload, UnsupportedMediaType
from healthexport.lib.http import body_reader, declared_length

CHUNK = 1024 * 1024
# zlib window bits: gzip header, zlib header, or raw deflate (some clients send that as "deflate").
WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS}
# A body declared at least this large is hashed in a thread of its own while it is read.
THREADED_HASH_BYTES = 4 * CHUNK

# A body, or a list holding it (or the pieces it was read in; see ``taken``).
Body = bytes | bytearray | list[bytes | bytearray]


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"The body is larger than {limit} bytes (INGEST_MAX_BODY_BYTES), after decompression.")


@dataclass(frozen=True)
class RequestBody:
    holder: list[bytes | bytearray]  # the decompressed body, or its pieces, in a list ``taken`` empties
    size: int  # bytes after decompression
    sha256: str  # of the decompressed body, computed as it was read
    encoding: str  # the Content-Encoding it came in, "" for none
    received: int  # bytes as received, before decompression


def read_body(request: HttpRequest, *, limit: int, may_be_resent: Callable[[int], bool] | None = None) -> RequestBody:
    """The decompressed body; 413 as soon as it passes ``limit``.

    The body is read into one buffer of the declared size (no chunk list joined at the end, no
    growing buffer copied as it grows), so a 30 MB export costs 30 MB here, not twice that for
    a moment. Each piece is hashed as it arrives, a large body's in a thread of its own that
    hashes while the next piece is read: no second pass over the body.

    A large body that ``may_be_resent`` (asked with its declared size: only a body of the same
    size can be a re-send) is kept as the pieces read instead, with no buffer made for it
    (filling a fresh 35 MB one costs ~25 ms): a re-send is answered from its hash alone. Should
    it be new after all, its pieces are joined when it is stored (``held``), holding it twice
    for a moment.
    """
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity", *WBITS):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; send gzip, deflate or none.")
    declared = declared_length(request)
    if declared > limit:
        raise _too_large(limit)
    read = body_reader(request)
    if encoding in WBITS:
        received = _read_capped(read, limit)
        data, sha256 = _decompress(received, WBITS[encoding], limit)
        return RequestBody([data], len(data), sha256, encoding=encoding, received=len(received))
    if declared >= THREADED_HASH_BYTES and may_be_resent is not None and may_be_resent(declared):
        pieces, sha256 = _read_pieces(read)
        size = sum(map(len, pieces))
        return RequestBody(pieces, size, sha256, encoding="", received=size)
    if declared:
        data, sha256 = _read_declared(read, declared)
    else:
        digest = hashlib.sha256()
        data = _read_capped(read, limit, digest.update)
        sha256 = digest.hexdigest()
    return RequestBody([data], len(data), sha256, encoding="", received=len(data))


def _read_capped(read: Callable[[int], bytes], limit: int, update: Callable[[bytes], None] | None = None) -> bytearray:
    """A body of unknown size (chunked, or compressed): one buffer grown as pieces come."""
    body = bytearray()
    while piece := read(CHUNK):
        if len(body) + len(piece) > limit:
            raise _too_large(limit)
        body += piece
        if update is not None:
            update(piece)
    return body


def _read_declared(read: Callable[[int], bytes], size: int) -> tuple[bytearray, str]:
    """A body of declared size (its byte budget was charged for that size): read into one
    buffer of that size, and hashed where it lies, a large one in a thread of its own."""
    body = bytearray(size)
    digest = _Sha256(threaded=size >= THREADED_HASH_BYTES)
    at = 0
    with memoryview(body) as view:
        try:
            while at < size and (piece := read(min(CHUNK, size - at))):
                end = at + len(piece)
                view[at:end] = piece
                digest.update(view[at:end])
                at = end
        finally:
            sha256 = digest.hexdigest()  # ends the thread (and with it the views it held)
    del body[at:]  # a body shorter than declared
    return body, sha256


def _read_pieces(read: Callable[[int], bytes]) -> tuple[list[bytes], str]:
    """A body of declared size as the pieces read, hashed in a thread of its own."""
    pieces = []
    digest = _Sha256(threaded=True)
    try:
        while piece := read(CHUNK):
            pieces.append(piece)
            digest.update(piece)
    finally:
        sha256 = digest.hexdigest()  # also ends the thread when reading failed
    return pieces, sha256


class _Sha256:
    """SHA-256 of what is given to ``update``, in order; ``threaded``: in a thread of its own.

    hashlib lets other threads run while it hashes a large piece, so the thread hashes one
    piece while the request's thread reads the next: a 35 MB body is read in the time it
    takes to read it, not to read and then hash it (~25 ms more on our machine).
    """

    def __init__(self, *, threaded: bool) -> None:
        self._digest = hashlib.sha256()
        self._pending: queue.SimpleQueue[bytes | memoryview | None] | None = None
        if threaded:
            self._pending = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._hash_pending, name="body-sha256", daemon=True)
            self._thread.start()

    def _hash_pending(self) -> None:
        assert self._pending is not None
        while (piece := self._pending.get()) is not None:
            self._digest.update(piece)

    def update(self, piece: bytes | memoryview) -> None:
        if self._pending is None:
            self._digest.update(piece)
        else:
            self._pending.put(piece)

    def hexdigest(self) -> str:
        """The digest, once every piece given is hashed (and the thread, if any, has ended)."""
        if self._pending is not None:
            self._pending.put(None)
            self._thread.join()
        return self._digest.hexdigest()


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


def body_size(body: Body) -> int:
    return sum(map(len, body)) if isinstance(body, list) else len(body)


def held(body: Body) -> bytes | bytearray:
    """The body itself, left in its list (joined first, if it is in pieces)."""
    if not isinstance(body, list):
        return body
    if len(body) > 1:
        body[:] = [_joined(body)]
    return body[0]


def taken(body: Body) -> bytes | bytearray:
    """The body itself, taken out of its list (left empty): from then on only what is made of
    it (the parsed export's undecoded parts) keeps it, and it is freed with the last of those."""
    if not isinstance(body, list):
        return body
    return body.pop() if len(body) == 1 else _joined(body)


def _joined(pieces: list[bytes | bytearray]) -> bytearray:
    """The pieces in one buffer, each dropped from the list once copied."""
    buffer = bytearray(sum(map(len, pieces)))
    with memoryview(buffer) as view:
        at = 0
        pieces.reverse()
        while pieces:
            piece = pieces.pop()
            view[at : at + len(piece)] = piece
            at += len(piece)
    return buffer
