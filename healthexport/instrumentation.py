"""healthexport's own Prometheus metrics, next to django-prometheus's request/database/cache ones.

Every label takes values from a small fixed set, so a client cannot create unbounded series:
unknown metric names collapse to ``other`` (``metric_label``), and the ``record_*`` helpers
collapse any other unexpected value the same way. Import the metric objects or, better, the
helpers from here:

======================================================  ===================================
``healthexport_ingest_requests_total{status}``          ``INGEST_REQUESTS`` (HTTP status code)
``healthexport_ingest_samples_total{metric,outcome}``   ``INGEST_SAMPLES`` / ``record_ingest_counts``
``healthexport_ingest_duration_seconds``                ``INGEST_DURATION``
``healthexport_ingest_body_bytes``                      ``INGEST_BODY_BYTES`` (as received)
``healthexport_auth_failures_total{reason}``            ``AUTH_FAILURES`` / ``record_auth_failure``
``healthexport_ratelimit_rejections_total{limit}``      ``RATELIMIT_REJECTIONS`` / ``record_ratelimit_rejection``
``healthexport_api_key_cache_total{result}``            ``API_KEY_CACHE`` / ``record_api_key_cache``
``healthexport_audit_write_failures_total``             ``AUDIT_WRITE_FAILURES``
``healthexport_active_users``                           ``ACTIVE_USERS`` (synced in the last 24 h)
``healthexport_partitions_ahead{table}``                ``PARTITIONS_AHEAD``
``healthexport_data_quality_findings{kind}``            ``DATA_QUALITY_FINDINGS`` / ``set_data_quality_findings``
======================================================  ===================================

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
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import Counter, Gauge, Histogram

logger = logging.getLogger(__name__)

OTHER = "other"

# The metric names Health Auto Export sends most; anything else is counted under "other".
KNOWN_METRICS = frozenset(
    {
        "active_energy",
        "apple_exercise_time",
        "apple_stand_hour",
        "apple_stand_time",
        "basal_energy_burned",
        "blood_glucose",
        "blood_oxygen_saturation",
        "blood_pressure",
        "body_fat_percentage",
        "body_mass_index",
        "body_temperature",
        "cycling_distance",
        "dietary_energy",
        "dietary_water",
        "environmental_audio_exposure",
        "flights_climbed",
        "headphone_audio_exposure",
        "heart_rate",
        "heart_rate_variability",
        "lean_body_mass",
        "mindful_minutes",
        "physical_effort",
        "respiratory_rate",
        "resting_heart_rate",
        "six_minute_walking_test_distance",
        "sleep_analysis",
        "step_count",
        "time_in_daylight",
        "vo2_max",
        "walking_asymmetry_percentage",
        "walking_double_support_percentage",
        "walking_heart_rate_average",
        "walking_running_distance",
        "walking_speed",
        "walking_step_length",
        "weight_body_mass",
        # Not a metric, but counted the same way by the ingest pipeline.
        "workouts",
    }
)
# The per-item outcomes of an ingest answer (CONTRACT.md): received = the sum of these.
INGEST_OUTCOMES = ("stored", "updated", "duplicates", "rejected")
AUTH_FAILURE_REASONS = ("malformed", "unknown_key", "wrong_secret", "revoked", "expired", "throttled", OTHER)
RATELIMIT_LIMITS = ("requests", "bytes")
API_KEY_CACHE_RESULTS = ("hit", "miss", "error")
# The kinds of ``manage.py check_data_quality`` findings (ingest/quality.py).
DATA_QUALITY_KINDS = ("stale_user", "gap", "weight_jump", "resting_heart_rate", "value_at_bound")

INGEST_REQUESTS = Counter(
    "healthexport_ingest_requests_total",
    "POST /v1/ingest answers, by HTTP status code.",
    ["status"],
)
INGEST_SAMPLES = Counter(
    "healthexport_ingest_samples_total",
    "Items of ingested exports by metric (unknown names as 'other') and outcome.",
    ["metric", "outcome"],
)
INGEST_DURATION = Histogram(
    "healthexport_ingest_duration_seconds",
    "Time to answer POST /v1/ingest, decompression and storage included.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
INGEST_BODY_BYTES = Histogram(
    "healthexport_ingest_body_bytes",
    "Size of POST /v1/ingest bodies as received (before decompression).",
    buckets=tuple(2**power for power in range(10, 29, 2)),  # 1 KiB to 256 MiB, 4x per bucket
)
AUTH_FAILURES = Counter(
    "healthexport_auth_failures_total",
    "Requests refused authentication, by reason.",
    ["reason"],
)
RATELIMIT_REJECTIONS = Counter(
    "healthexport_ratelimit_rejections_total",
    "Requests answered 429, by the limit that was exceeded.",
    ["limit"],
)
API_KEY_CACHE = Counter(
    "healthexport_api_key_cache_total",
    "API-key verification cache lookups: hit (no Argon2), miss, error (cache unreachable).",
    ["result"],
)
AUDIT_WRITE_FAILURES = Counter(
    "healthexport_audit_write_failures_total",
    "Audit events that could not be written.",
)
ACTIVE_USERS = Gauge(
    "healthexport_active_users",
    "Users whose last sync is less than 24 hours old.",
    multiprocess_mode="livemostrecent",
)
PARTITIONS_AHEAD = Gauge(
    "healthexport_partitions_ahead",
    "Partitions that exist beyond the current one, per partitioned table.",
    ["table"],
    multiprocess_mode="livemostrecent",
)
DATA_QUALITY_FINDINGS = Gauge(
    "healthexport_data_quality_findings",
    "Findings of the last manage.py check_data_quality run, by kind (stale_user is kept current).",
    ["kind"],
    multiprocess_mode="livemostrecent",
)

# Series that exist from the start at 0, so rate() and absent() work before the first event.
for _reason in AUTH_FAILURE_REASONS:
    AUTH_FAILURES.labels(_reason)
for _limit in RATELIMIT_LIMITS:
    RATELIMIT_REJECTIONS.labels(_limit)
for _result in API_KEY_CACHE_RESULTS:
    API_KEY_CACHE.labels(_result)


def bounded(value: str, allowed: Iterable[str]) -> str:
    """``value`` when it is one of ``allowed``, else ``other``: a label never grows unbounded."""
    return value if value in allowed else OTHER


def metric_label(name: str) -> str:
    """The ``metric`` label for an HAE metric name: itself when well known, else ``other``."""
    return bounded(name, KNOWN_METRICS)


def record_ingest_request(*, status_code: int, seconds: float, body_bytes: int) -> None:
    INGEST_REQUESTS.labels(str(status_code)).inc()
    INGEST_DURATION.observe(seconds)
    INGEST_BODY_BYTES.observe(body_bytes)


def record_ingest_counts(*, metric: str, counts: Mapping[str, int]) -> None:
    """Add one metric's answer counts (``{"stored": 3, "rejected": 1, ...}``); ``received`` is ignored."""
    label = metric_label(metric)
    for outcome in INGEST_OUTCOMES:
        if counts.get(outcome):
            INGEST_SAMPLES.labels(label, outcome).inc(counts[outcome])


def record_auth_failure(reason: str) -> None:
    AUTH_FAILURES.labels(bounded(reason, AUTH_FAILURE_REASONS)).inc()


def record_ratelimit_rejection(limit: str) -> None:
    RATELIMIT_REJECTIONS.labels(bounded(limit, RATELIMIT_LIMITS)).inc()


def record_api_key_cache(result: str) -> None:
    API_KEY_CACHE.labels(bounded(result, API_KEY_CACHE_RESULTS)).inc()


def set_data_quality_findings(counts: Mapping[str, int]) -> None:
    """Set the findings gauge for the kinds in ``counts`` (unknown kinds are ignored, not ``other``)."""
    for kind, count in counts.items():
        if kind in DATA_QUALITY_KINDS:
            DATA_QUALITY_FINDINGS.labels(kind).set(count)


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
