"""gunicorn's threaded worker, taking a new connection only while one of its threads is free and
answering a request it cannot parse in our error shape."""

from __future__ import annotations

import orjson
from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker

from healthexport.lib.errors import error_body

# What gunicorn refuses before the application sees the request (it answers these with an HTML
# page of its own): status, reason, our code, and what the client should know.
_REFUSED = (
    (http_errors.LimitRequestLine, 414, "URI Too Long", "uri_too_long", "The URL is longer than this server reads"),
    (
        http_errors.LimitRequestHeaders,
        431,
        "Request Header Fields Too Large",
        "headers_too_large",
        "The request's headers are more or larger than this server reads",
    ),
    (http_errors.ExpectationFailed, 417, "Expectation Failed", "expectation_failed", "The Expect header is not met"),
    (
        http_errors.ForbiddenProxyRequest,
        403,
        "Forbidden",
        "permission_denied",
        "Proxy headers from this address are refused",
    ),
)
# The rest of the requests gunicorn cannot parse: malformed request line, method, version,
# header, chunk, proxy line; a transfer coding it does not speak (its 501) is the client's too.
_MALFORMED = (
    http_errors.UnsupportedTransferCoding,
    http_errors.InvalidRequestLine,
    http_errors.InvalidRequestMethod,
    http_errors.InvalidHTTPVersion,
    http_errors.InvalidHeader,
    http_errors.InvalidHeaderName,
    http_errors.ObsoleteFolding,
    http_errors.InvalidProxyLine,
    http_errors.InvalidProxyHeader,
    http_errors.InvalidSchemeHeaders,
    http_errors.InvalidChunkSize,
    http_errors.ChunkMissingTerminator,
    http_errors.InvalidChunkExtension,
    http_errors.InvalidH2CPreface,
)
_APPLICATION_FAULTS = (http_errors.InvalidResponseHeader, http_errors.InvalidResponseHeaderName)


class FreeThreadWorker(ThreadWorker):
    """A ``gthread`` worker that leaves a new connection to another worker while all its threads
    are busy.

    gunicorn's worker accepts every connection it can and queues the requests for its threads:
    several workers share one listening socket, and whichever wakes first takes the connection,
    busy or not. With the connections a proxy keeps open (nginx's ``keepalive 8``), or a burst of
    uploads, one worker ended up with 7 of 8 requests in flight and the other with 1: its requests
    waited for a thread, or for the one core its threads share, while the other core idled
    (``bench/load.py``: p50 150 against 75 ms for the lone one). Here the worker stops listening
    for new connections while each of its threads has a request, so the kernel hands them to a
    worker that has a free thread (or keeps them queued until one has). A connection kept alive
    stays with its worker, as before.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Touched by the worker's main loop only: accepting, and the poller's and the thread
        # pool's callbacks, all run there.
        self.requests_in_flight = 0

    def has_free_thread(self) -> bool:
        return self.requests_in_flight < self.cfg.threads

    def enqueue_req(self, conn) -> None:
        self.requests_in_flight += 1
        if not self.has_free_thread():
            self.set_accept_enabled(False)
        super().enqueue_req(conn)

    def finish_request(self, conn, fs) -> None:
        # The loop then finds accepting off while it may accept, and turns it back on.
        self.requests_in_flight -= 1
        super().finish_request(conn, fs)

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled and self.has_free_thread())

    def accept(self, listener) -> None:
        if self.has_free_thread():  # else it was readable in the same poll that filled the last thread
            super().accept(listener)

    def handle_error(self, req, client, addr, exc) -> None:
        """A request gunicorn itself refuses is answered as the application answers errors (JSON
        with a stable code), not with gunicorn's HTML page; anything else is gunicorn's to log."""
        answer = _refusal(exc)
        if answer is None:
            super().handle_error(req, client, addr, exc)
            return
        status, reason, code, message = answer
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        body = orjson.dumps(error_body(code, message))
        head = (
            f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        try:
            util.write_nonblock(client, head.encode("latin-1") + body)
        except OSError:
            self.log.debug("Failed to send error message.")


def _refusal(exc: BaseException) -> tuple[int, str, str, str] | None:
    """(status, reason, code, message) of a request gunicorn refuses, or None when the fault is not the client's."""
    if isinstance(exc, _APPLICATION_FAULTS):
        return None
    for kind, status, reason, code, message in _REFUSED:
        if isinstance(exc, kind):
            return status, reason, code, f"{message}: {exc}."
    if isinstance(exc, _MALFORMED):
        return 400, "Bad Request", "invalid_request", f"The request is not valid HTTP: {exc}."
    return None
