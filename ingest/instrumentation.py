"""The ingest app's Prometheus series:

======================================================  ===================================
``healthexport_ingest_requests_total{status}``          ``INGEST_REQUESTS`` (HTTP status code)
``healthexport_ingest_samples_total{metric,outcome}``   ``INGEST_SAMPLES`` / ``record_ingest_counts``
``healthexport_ingest_duration_seconds``                ``INGEST_DURATION``
``healthexport_ingest_body_bytes``                      ``INGEST_BODY_BYTES`` (as received)
``healthexport_active_users``                           ``ACTIVE_USERS`` (synced in the last 24 h)
``healthexport_data_quality_findings{kind}``            ``DATA_QUALITY_FINDINGS`` / ``set_data_quality_findings``
``healthexport_imports_total{outcome}``                 ``IMPORTS`` (Apple Health imports ended: done, failed)
``healthexport_import_attempts_total``                  ``IMPORT_ATTEMPTS`` (a worker took an import)
``healthexport_import_records_total{outcome}``          ``IMPORT_RECORDS`` / ``record_import_counts``
======================================================  ===================================

Unknown metric names collapse to ``other`` (``metric_label``).
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter, Gauge, Histogram

from healthexport.lib.prometheus import bounded

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
# The per-item outcomes of an ingest answer: received = the sum of these.
INGEST_OUTCOMES = ("stored", "updated", "duplicates", "rejected")
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
ACTIVE_USERS = Gauge(
    "healthexport_active_users",
    "Users whose last sync is less than 24 hours old.",
    multiprocess_mode="livemostrecent",
)
DATA_QUALITY_FINDINGS = Gauge(
    "healthexport_data_quality_findings",
    "Findings of the last manage.py check_data_quality run, by kind (stale_user is kept current).",
    ["kind"],
    multiprocess_mode="livemostrecent",
)

IMPORTS = Counter(
    "healthexport_imports_total",
    "Apple Health imports that ended, by outcome (done, failed).",
    ["outcome"],
)
IMPORT_ATTEMPTS = Counter(
    "healthexport_import_attempts_total",
    "Times a worker took an Apple Health import (first runs, retries and take-overs).",
)
IMPORT_RECORDS = Counter(
    "healthexport_import_records_total",
    "Records, workouts and other elements of finished Apple Health imports, by outcome.",
    ["outcome"],
)


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


def set_data_quality_findings(counts: Mapping[str, int]) -> None:
    """Set the findings gauge for the kinds in ``counts`` (unknown kinds are ignored, not ``other``)."""
    for kind, count in counts.items():
        if kind in DATA_QUALITY_KINDS:
            DATA_QUALITY_FINDINGS.labels(kind).set(count)


def record_import_end(*, outcome: str, counts: Mapping[str, Mapping[str, int]] | None = None) -> None:
    """Count an import that ended and, when it is done, its elements per outcome (summed over types)."""
    IMPORTS.labels(bounded(outcome, ("done", "failed"))).inc()
    for per_type in counts or {}:
        for outcome_name in INGEST_OUTCOMES:
            total = per_type.get(outcome_name, 0)
            if total:
                IMPORT_RECORDS.labels(outcome_name).inc(total)
