"""No Docker engine runs here: check the deploy files for what they promise instead."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
NGINX_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def test_compose_runs_postgis_redis_and_the_app():
    text = (ROOT / "deploy" / "compose.yaml").read_text()
    assert "image: postgis/postgis:15-3.4" in text
    assert "image: redis:7" in text
    assert "DATABASE_URL: postgis://" in text
    assert "REDIS_URL: redis://redis:6379/0" in text
    assert "manage.py migrate --noinput" in text


def test_compose_publishes_only_the_proxy_and_trusts_only_its_network():
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}  # gunicorn's 8000 is not on the host
    assert set(services["proxy"]["ports"]) == {"443:443", "80:80"}
    assert services["proxy"]["environment"]["UPSTREAM"] == "app:8000"
    assert (ROOT / "deploy" / services["proxy"]["build"] / "Dockerfile").is_file()

    app = services["app"]["environment"]
    [subnet] = [ipaddress.ip_network(pool["subnet"]) for pool in compose["networks"]["default"]["ipam"]["config"]]
    assert ipaddress.ip_network(app["TRUSTED_PROXIES"]) == subnet
    assert ipaddress.ip_network(app["FORWARDED_ALLOW_IPS"]) == subnet
    assert app["ALLOWED_HOSTS"].split(",")[0] == services["proxy"]["environment"]["SERVER_NAME"]


def test_the_proxy_accepts_every_body_the_app_accepts():
    template = (ROOT / "deploy" / "nginx" / "proxy.inc").read_text()
    for site in ("healthexport.conf.template", "local.conf.template"):
        assert "include ${CONF_DIR}/healthexport-proxy.inc;" in (ROOT / "deploy" / "nginx" / site).read_text()
    number, unit = re.search(r"^\s*client_max_body_size (\d+)([kmg]?);", template, re.M | re.I).groups()
    assert int(number) * NGINX_SIZE_UNITS[unit.lower()] > settings.INGEST_MAX_BODY_BYTES
    assert re.search(r"^\s*proxy_request_buffering on;", template, re.M)


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
