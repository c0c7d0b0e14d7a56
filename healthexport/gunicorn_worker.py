"""gunicorn's threaded worker, taking a new connection only while one of its threads is free."""

from __future__ import annotations

from gunicorn.workers.gthread import ThreadWorker


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
