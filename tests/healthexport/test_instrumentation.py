"""Our Prometheus metrics: names on /metrics, bounded labels, gauge refreshers, several workers."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import types
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from accounts.instrumentation import record_auth_failure
from healthexport.lib import prometheus
from healthexport.lib.prometheus import register_gauge_refresher
from ingest.instrumentation import (
    ACTIVE_USERS,
    KNOWN_METRICS,
    metric_label,
    record_ingest_counts,
    record_ingest_request,
)
from tests.serving import free_port, get, gunicorn

ROOT = Path(__file__).resolve().parents[2]

OUR_METRICS = (
    "healthexport_ingest_requests_total",
    "healthexport_ingest_samples_total",
    "healthexport_ingest_duration_seconds",
    "healthexport_ingest_body_bytes",
    "healthexport_auth_failures_total",
    "healthexport_ratelimit_rejections_total",
    "healthexport_api_key_cache_total",
    "healthexport_audit_write_failures_total",
    "healthexport_active_users",
    "healthexport_partitions_ahead",
)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def refreshers():
    """Register refreshers for one test only, and let the 30 s cache start afresh."""
    saved = list(prometheus._refreshers)
    prometheus._last_refresh = float("-inf")
    yield
    prometheus._refreshers[:] = saved
    prometheus._last_refresh = float("-inf")


@pytest.mark.embedded
@pytest.mark.django_db
def test_metrics_lists_every_healthexport_metric(api_client):
    response = api_client.get("/metrics")

    assert response.status_code == 200
    text = response.content.decode()
    for name in OUR_METRICS:
        assert f"# TYPE {name} " in text, name
    assert 'healthexport_auth_failures_total{reason="revoked"} ' in text


def test_metric_label_keeps_known_names_and_collapses_the_rest():
    assert metric_label("heart_rate") == "heart_rate"
    assert metric_label("step_count") == "step_count"
    assert metric_label("some_new_metric_the_app_adds") == "other"
    assert metric_label("heart_rate\n") == "other"
    assert len(KNOWN_METRICS) >= 30


def test_ingest_helpers_move_the_counters_with_bounded_labels():
    before_other = sample("healthexport_ingest_samples_total", metric="other", outcome="stored")
    before_hr = sample("healthexport_ingest_samples_total", metric="heart_rate", outcome="rejected")
    before_200 = sample("healthexport_ingest_requests_total", status="200")
    before_bytes = sample("healthexport_ingest_body_bytes_count")

    record_ingest_counts(metric="x_unknown", counts={"received": 5, "stored": 5})
    record_ingest_counts(metric="heart_rate", counts={"received": 3, "stored": 2, "rejected": 1})
    record_ingest_request(status_code=200, seconds=0.2, body_bytes=2048)

    assert sample("healthexport_ingest_samples_total", metric="other", outcome="stored") == before_other + 5
    assert sample("healthexport_ingest_samples_total", metric="heart_rate", outcome="rejected") == before_hr + 1
    assert sample("healthexport_ingest_samples_total", metric="x_unknown", outcome="stored") == 0
    assert sample("healthexport_ingest_requests_total", status="200") == before_200 + 1
    assert sample("healthexport_ingest_body_bytes_count") == before_bytes + 1


def test_an_unexpected_auth_failure_reason_is_counted_as_other():
    before = sample("healthexport_auth_failures_total", reason="other")
    record_auth_failure("something a caller made up")
    assert sample("healthexport_auth_failures_total", reason="other") == before + 1
    assert sample("healthexport_auth_failures_total", reason="something a caller made up") == 0


@pytest.mark.embedded
@pytest.mark.django_db
def test_metrics_runs_registered_refreshers_at_most_every_30_seconds(api_client, refreshers, time_machine):
    calls = []

    @register_gauge_refresher
    def count_users() -> None:
        calls.append(1)
        ACTIVE_USERS.set(7)

    def broken() -> None:
        raise RuntimeError("database down")

    register_gauge_refresher(broken)
    register_gauge_refresher(count_users)  # registered once only

    first = api_client.get("/metrics")
    api_client.get("/metrics")
    assert first.status_code == 200
    assert "healthexport_active_users 7.0" in first.content.decode()
    assert len(calls) == 1

    prometheus._last_refresh -= 31
    api_client.get("/metrics")
    assert len(calls) == 2


def run_python(code: str, multiproc_dir: Path, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in {"PROMETHEUS_MULTIPROC_DIR", "METRICS_PORT"}}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir), "SECRET_KEY": "x", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


SCRAPE = (
    "import django; django.setup()\n"
    "from django.test import Client\n"
    "print(Client(HTTP_HOST='localhost').get('/metrics').content.decode())\n"
)


def test_metrics_of_several_processes_are_summed_and_dead_workers_gauges_dropped(tmp_path, monkeypatch):
    worker = (
        "import os\n"
        "from accounts.instrumentation import record_auth_failure\n"
        "from ingest.instrumentation import ACTIVE_USERS\n"
        "record_auth_failure('revoked')\n"
        "ACTIVE_USERS.set(3)\n"
        "print(os.getpid())\n"
    )
    pids = [int(run_python(worker, tmp_path)) for _ in range(2)]

    text = run_python(SCRAPE, tmp_path)
    assert 'healthexport_auth_failures_total{reason="revoked"} 2.0' in text
    assert "healthexport_active_users 3.0" in text

    # gunicorn calls child_exit when a worker dies; its live gauges must go.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    config = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    for pid in pids:
        config["child_exit"](None, types.SimpleNamespace(pid=pid))
    text = run_python(SCRAPE, tmp_path)
    assert "healthexport_active_users 3.0" not in text
    assert 'healthexport_auth_failures_total{reason="revoked"} 2.0' in text


def test_gunicorn_with_two_workers_serves_summed_metrics_on_the_metrics_port(tmp_path):
    metrics_port = free_port()
    clean = {k: v for k, v in os.environ.items() if k not in {"PROMETHEUS_MULTIPROC_DIR", "METRICS_PORT"}}
    env = {
        **clean,
        "SECRET_KEY": "x",
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "METRICS_PORT": str(metrics_port),
        "METRICS_ADDR": "127.0.0.1",
    }
    with gunicorn(env) as base:
        for _ in range(9):
            assert get(f"{base}/health")[0] == 200
        assert get(f"{base}/metrics")[0] == 404  # not on the public port

        status, text = get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert status == 200
        [line] = [
            line
            for line in text.splitlines()
            if line.startswith("django_http_responses_total_by_status_total") and 'status="200"' in line
        ]
        assert float(line.rsplit(" ", 1)[1]) == 10.0
        assert len({path.name.rsplit("_", 1)[1] for path in tmp_path.glob("counter_*.db")}) >= 1
        assert "healthexport_auth_failures_total" in text
