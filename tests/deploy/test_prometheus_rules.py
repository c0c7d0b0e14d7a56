"""Alert rules: promtool when it is installed (make test installs it), their structure always."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.deploy.conftest import DEPLOY, load_yaml_documents, referenced_metrics

RULES = DEPLOY / "prometheus" / "alerts.yaml"
RULE_TESTS = DEPLOY / "prometheus" / "alerts.test.yaml"
promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(promtool is None, reason="promtool is not installed (Debian package prometheus)")


def alert_rules() -> list[dict]:
    [document] = load_yaml_documents(RULES)
    return [rule for group in document["groups"] for rule in group["rules"]]


@needs_promtool
def test_promtool_accepts_the_rules():
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_the_alerts_fire_on_made_up_series():
    result = subprocess.run(
        [promtool, "test", "rules", str(RULE_TESTS)], cwd=RULES.parent, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_severity_a_summary_and_known_metrics(defined_metric_names):
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= {
        "HealthexportHighErrorRatio",
        "HealthexportIngestSlow",
        "HealthexportNoIngests",
        "HealthexportPartitionsRunningOut",
        "HealthexportRedisDegraded",
        "HealthexportAuditWriteFailures",
    }
    for rule in rules:
        assert rule["labels"]["severity"] in {"page", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        metrics = referenced_metrics(rule["expr"])
        assert metrics, rule["alert"]
        assert metrics <= defined_metric_names, (rule["alert"], metrics - defined_metric_names)


def test_partitions_alert_fires_below_two():
    [rule] = [rule for rule in alert_rules() if rule["alert"] == "HealthexportPartitionsRunningOut"]
    assert "healthexport_partitions_ahead" in rule["expr"] and rule["expr"].rstrip().endswith("< 2")
