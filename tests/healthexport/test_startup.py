"""Start-up behaviour, run in fresh interpreters because settings are read once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_django(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}}
    script = "import django; django.setup()\n" + code
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "healthexport.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_secret_key_stops_startup_with_one_line():
    result = run_django("", DEBUG="0")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "healthexport: configuration error: SECRET_KEY is required (or SECRET_KEY_FILE), unless DEBUG=1."
    ]


def test_a_secret_key_can_come_from_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file")
    result = run_django("from django.conf import settings; print(settings.SECRET_KEY)", SECRET_KEY_FILE=str(secret))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "from-a-file"


def test_an_unsupported_database_url_stops_startup_with_one_line():
    result = run_django("", SECRET_KEY="x", DATABASE_URL="mysql://root@127.0.0.1/x")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "DATABASE_URL must start with postgis://" in result.stderr


def test_an_unreachable_database_stops_manage_py_with_one_line():
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--check"],
        cwd=ROOT,
        env={**clean, "SECRET_KEY": "x", "DATABASE_URL": "postgis://postgres@127.0.0.1:1/nowhere"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("healthexport: cannot use the database:")


# The suite's own Redis, wherever it runs (CI reaches it by a service name, not 127.0.0.1). Without
# Redis the cache is a table in that database, so it is down too.
@pytest.mark.parametrize(
    ("redis_url", "cache"), [("", "degraded"), (os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"), "ok")]
)
def test_ready_is_503_naming_the_database_when_it_is_unreachable(redis_url, cache):
    code = (
        "from django.test import Client; import json\n"
        "r = Client(HTTP_HOST='localhost').get('/ready')\n"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    env = {"SECRET_KEY": "x", "DATABASE_URL": "postgis://postgres@127.0.0.1:1/nowhere"}
    if redis_url:
        env["REDIS_URL"] = redis_url
    result = run_django(code, **env)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 503
    assert answer["body"]["status"] == "unavailable"
    assert answer["body"]["checks"]["database"] == "unavailable"
    assert answer["body"]["checks"]["cache"] == cache


def test_ingest_is_503_when_the_database_is_unreachable():
    code = (
        "from django.test import Client; import json\n"
        "key = 'hx_abcd1234_' + 'a' * 43\n"
        "r = Client(HTTP_HOST='localhost').post('/v1/ingest', b'{\"data\": {}}', content_type='application/json',"
        " HTTP_AUTHORIZATION='Bearer ' + key)\n"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    result = run_django(code, SECRET_KEY="x", DATABASE_URL="postgis://postgres@127.0.0.1:1/nowhere")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 503
    assert answer["body"]["error"]["code"] == "service_unavailable"


def test_a_warmed_worker_has_its_views_imported_and_its_objects_out_of_the_collectors_sight():
    # A fresh interpreter, as a gunicorn worker is when deploy/gunicorn.conf.py warms it.
    result = run_django(
        "import gc, sys\n"
        "before = 'ingest.views' in sys.modules\n"
        "from healthexport.lib.warm import warm_and_freeze\n"
        "warm_and_freeze()\n"
        "print(before, 'ingest.views' in sys.modules, gc.get_freeze_count() > 50_000, len(gc.get_objects()) < 5_000)",
        SECRET_KEY="test-only-secret",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "True"]
