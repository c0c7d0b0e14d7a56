"""No Docker engine runs here: check the deploy files for what they promise instead."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_postgis_redis_and_the_app():
    text = (ROOT / "deploy" / "compose.yaml").read_text()
    assert "image: postgis/postgis:15-3.4" in text
    assert "image: redis:7" in text
    assert "DATABASE_URL: postgis://" in text
    assert "REDIS_URL: redis://redis:6379/0" in text
    assert "manage.py migrate --noinput" in text


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) == 2
    assert re.search(r"^USER healthexport$", text, re.M)
    assert "HEALTHCHECK" in text and "/health" in text
    assert "libgdal" in text and "libgeos" in text and "libproj" in text


def test_env_example_lists_every_setting_the_contract_names():
    text = (ROOT / ".env.example").read_text()
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "DEBUG",
        "ALLOWED_HOSTS",
        "INGEST_MAX_BODY_BYTES",
        "RATELIMIT_REQUESTS_PER_HOUR",
        "RATELIMIT_BYTES_PER_HOUR",
        "API_KEY_CACHE_SECONDS",
        "AUDIT_RETENTION_DAYS",
    ):
        assert f"# {name}=" in text, name
