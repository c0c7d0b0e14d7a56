"""The Grafana dashboard parses and only queries metrics the service exports."""

from __future__ import annotations

import json

import accounts.instrumentation
import audit.instrumentation
import healthexport.instrumentation
import ingest.instrumentation
from tests.deploy.conftest import DEPLOY, referenced_metrics


def dashboard() -> dict:
    return json.loads((DEPLOY / "grafana" / "healthexport.json").read_text())


def test_every_panel_queries_metrics_we_define(defined_metric_names):
    board = dashboard()
    assert board["uid"] == "healthexport"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            metrics = referenced_metrics(target["expr"])
            assert metrics, panel["title"]
            assert metrics <= defined_metric_names, (panel["title"], metrics - defined_metric_names)


def test_the_dashboard_shows_every_healthexport_metric():
    expressions = [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]
    queried = {metric for expression in expressions for metric in referenced_metrics(expression)}
    modules = (accounts.instrumentation, audit.instrumentation, healthexport.instrumentation, ingest.instrumentation)
    docs = "\n".join(module.__doc__ for module in modules)
    documented = {name for name in referenced_metrics(docs) if name.startswith("healthexport_")}
    assert len(documented) >= 11
    missing = {name for name in documented if not any(q.startswith(name.removesuffix("_total")) for q in queried)}
    assert not missing
