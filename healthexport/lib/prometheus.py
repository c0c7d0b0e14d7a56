"""Building blocks for our Prometheus series; each app defines its own series in its ``instrumentation``.

Every label takes values from a small fixed set, so a client cannot create unbounded series:
``bounded`` collapses any unexpected value to ``other``.

Gauges that need the database are set by refreshers that apps register with
``register_gauge_refresher``; ``refresh_database_gauges`` runs them at most every 30 s, from the
``/metrics`` view (or from a worker thread when ``METRICS_PORT`` serves metrics elsewhere).

With several gunicorn workers, ``PROMETHEUS_MULTIPROC_DIR`` makes prometheus_client keep values in
files that the exporter sums across workers; the gauges then report the most recent value any
live worker set.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

logger = logging.getLogger(__name__)

OTHER = "other"


def bounded(value: str, allowed: Iterable[str]) -> str:
    """``value`` when it is one of ``allowed``, else ``other``: a label never grows unbounded."""
    return value if value in allowed else OTHER


# --- Gauges that need the database -----------------------------------------------------------

GAUGE_REFRESH_SECONDS = 30.0
_refreshers: list[Callable[[], None]] = []
_refresh_lock = threading.Lock()
_last_refresh = float("-inf")


def register_gauge_refresher(refresher: Callable[[], None]) -> Callable[[], None]:
    """Register a callable that sets database-backed gauges with a cheap query (usable as a decorator).

    Apps call this from ``AppConfig.ready``; registering the same callable twice keeps one.
    """
    if refresher not in _refreshers:
        _refreshers.append(refresher)
    return refresher


def refresh_database_gauges(*, force: bool = False) -> None:
    """Run every registered refresher, at most once per 30 s per process.

    A failing refresher is logged and skipped: a database outage must not take /metrics down
    with it (the gauges keep their last value and the database alerts fire on their own).
    """
    global _last_refresh
    with _refresh_lock:
        now = time.monotonic()
        if not force and now - _last_refresh < GAUGE_REFRESH_SECONDS:
            return
        _last_refresh = now
        for refresher in list(_refreshers):
            try:
                refresher()
            except Exception as exc:  # any failure of one refresher must not stop the others
                logger.warning("gauge refresher %s failed: %s", refresher.__qualname__, exc.__class__.__name__)


def start_gauge_refresh_thread(interval: float = GAUGE_REFRESH_SECONDS) -> threading.Thread:
    """Refresh the gauges in the background (for ``METRICS_PORT``, where no Django view is scraped)."""
    from django.db import connections

    def loop() -> None:
        while True:
            refresh_database_gauges(force=True)
            # This thread's connections are not managed by the request cycle: never keep them.
            connections.close_all()
            time.sleep(interval)

    thread = threading.Thread(target=loop, name="gauge-refresher", daemon=True)
    thread.start()
    return thread
