"""Core's own Prometheus series, beside django-prometheus's request/database/cache ones
(each app defines its own in its ``instrumentation`` module):

======================================================  ===================================
``healthexport_partitions_ahead{table}``                ``PARTITIONS_AHEAD``
======================================================  ===================================
"""

from __future__ import annotations

from prometheus_client import Gauge

PARTITIONS_AHEAD = Gauge(
    "healthexport_partitions_ahead",
    "Partitions that exist beyond the current one, per partitioned table.",
    ["table"],
    multiprocess_mode="livemostrecent",
)
