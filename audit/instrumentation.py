"""The audit app's Prometheus series: ``healthexport_audit_write_failures_total`` (``AUDIT_WRITE_FAILURES``)."""

from __future__ import annotations

from prometheus_client import Counter

AUDIT_WRITE_FAILURES = Counter(
    "healthexport_audit_write_failures_total",
    "Audit events that could not be written.",
)
