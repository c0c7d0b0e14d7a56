"""GitHub CI and Dependabot: valid by SchemaStore's schemas (shipped in check-jsonschema, so offline),
and doing what we rely on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
DEPENDABOT = ROOT / ".github" / "dependabot.yml"


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema", schema, str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(("schema", "path"), [("vendor.github-workflows", WORKFLOW), ("vendor.dependabot", DEPENDABOT)])
def test_the_github_files_are_valid(schema, path):
    result = check_jsonschema(schema, path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_misspelt_key(tmp_path):
    broken = tmp_path / "ci.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:"))
    result = check_jsonschema("vendor.github-workflows", broken)
    assert result.returncode == 1
    assert "$.jobs.test" in result.stdout


def test_ci_runs_make_test_in_debian_against_postgis_and_redis_services():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    [job] = workflow["jobs"].values()
    assert job["container"] == "debian:bookworm"  # the system scripts/setup-system.sh installs for
    services = job["services"]
    assert services["postgres"]["image"] == "postgis/postgis:15-3.4"
    assert services["redis"]["image"].startswith("redis:7")

    [step] = [step for step in job["steps"] if step.get("run") == "make test"]
    database, redis = urlsplit(step["env"]["TEST_DATABASE_URL"]), urlsplit(step["env"]["TEST_REDIS_URL"])
    # A container job reaches its services by their names.
    assert (database.scheme, database.hostname, database.port) == ("postgis", "postgres", 5432)
    assert database.password == services["postgres"]["env"]["POSTGRES_PASSWORD"]
    assert (redis.scheme, redis.hostname) == ("redis", "redis")


def test_the_ci_script_runs_make_test_too():
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == "make test"


def test_dependabot_updates_our_pins_and_the_actions_weekly():
    updates = {update["package-ecosystem"]: update for update in yaml.safe_load(DEPENDABOT.read_text())["updates"]}
    assert set(updates) == {"pip", "github-actions"}
    pip = updates["pip"]
    assert pip["directory"] == "/"
    assert (ROOT / "requirements.txt").is_file() and (ROOT / "requirements-dev.txt").is_file()
    assert pip["schedule"]["interval"] == "weekly"
    assert updates["github-actions"]["schedule"]["interval"] == "weekly"


def test_dependabot_keeps_django_on_its_lts_line():
    pip = next(u for u in yaml.safe_load(DEPENDABOT.read_text())["updates"] if u["package-ecosystem"] == "pip")
    [django] = [rule for rule in pip["ignore"] if rule["dependency-name"] == "django"]
    assert set(django["update-types"]) == {"version-update:semver-major", "version-update:semver-minor"}
    assert "Django==5.2." in (ROOT / "requirements.txt").read_text()
