from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
METRIC_REFERENCE = re.compile(r"\b((?:healthexport|django)_[a-z0-9_]+)")


def load_yaml_documents(path: Path) -> list[dict]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document is not None]


@pytest.fixture(scope="session")
def defined_metric_names() -> set[str]:
    """Every series name our process can export: our metrics and django-prometheus's."""
    import django_prometheus.cache.metrics  # noqa: F401  (registers the cache metrics on import)
    from django_prometheus.middleware import Metrics
    from prometheus_client import REGISTRY

    import ingest.instrumentation  # noqa: F401

    Metrics.get_instance()  # registers the request metrics, as the middleware does on start
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {family.name + suffix for family in REGISTRY.collect() for suffix in suffixes.get(family.type, ("",))}


def referenced_metrics(expression: str) -> set[str]:
    return set(METRIC_REFERENCE.findall(expression))
