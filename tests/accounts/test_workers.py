"""Limits and revocation across real gunicorn workers (2 processes, as `make run` starts them),
on the embedded default (a SpatiaLite file, the database cache) and on PostgreSQL + Redis.

The server and the commands run in subprocesses; on PostgreSQL they use the test database, so
these tests commit.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from accounts import keys

# The PostgreSQL server's rows must be committed to be seen; the embedded one has its own file.
pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
READ = "/v1/workouts"


@dataclass
class Deployment:
    env: dict[str, str]
    tmp_path: Path

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def create_key(self, username: str) -> str:
        return self.manage("createapikey", username, "--create-user", "--scopes", "read").strip().splitlines()[-1]

    @contextmanager
    def gunicorn(self, **env: str) -> Iterator[Server]:
        port = free_port()
        metrics_dir = self.tmp_path / f"metrics-{port}"
        metrics_dir.mkdir()
        command = [sys.executable, "-m", "gunicorn", "healthexport.wsgi", "--config", "deploy/gunicorn.conf.py"]
        process = subprocess.Popen(
            [*command, "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env={
                **self.env,
                "WEB_CONCURRENCY": "2",
                # A worker takes no more connections than it has threads, so a burst spreads
                # over both workers instead of queueing in the first one that accepts.
                "GUNICORN_THREADS": "2",
                "GUNICORN_CMD_ARGS": "--worker-connections 2",
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                **env,
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = Server(f"http://127.0.0.1:{port}", metrics_dir)
        try:
            server.wait_until_up()
            yield server
        finally:
            process.terminate()
            process.wait(timeout=30)


@dataclass
class Server:
    url: str
    metrics_dir: Path

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.get("/health", key=None) == 200:
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def get(self, path: str, *, key: str | None) -> int:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        request = urllib.request.Request(self.url + path, headers=headers)  # noqa: S310  (our own server)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310  (our own server)
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def concurrently(self, path: str, keys: list[str]) -> Counter[int]:
        with ThreadPoolExecutor(max_workers=len(keys)) as pool:
            return Counter(pool.map(lambda key: self.get(path, key=key), keys))

    def authentications(self) -> dict[int, float]:
        """API-key authentications (from the cache or not) per worker so far."""
        hits = self.per_worker("healthexport_api_key_cache_total", result="hit")
        misses = self.per_worker("healthexport_api_key_cache_total", result="miss")
        return {pid: hits[pid] + misses[pid] for pid in hits}

    def per_worker(self, name: str, **labels: str) -> dict[int, float]:
        """A counter's value in each worker process, read from its multiprocess file."""
        values = {}
        for path in self.metrics_dir.glob("counter_*.db"):
            pid = int(path.stem.rsplit("_", 1)[1])
            alone = self.metrics_dir / str(pid)
            alone.mkdir(exist_ok=True)
            shutil.copy(path, alone)
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=str(alone))
            values[pid] = registry.get_sample_value(name, labels) or 0.0
        return values


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def base_env() -> dict[str, str]:
    dropped = {"DATABASE_URL", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR", "METRICS_PORT"}
    return {**{k: v for k, v in os.environ.items() if k not in dropped}, "SECRET_KEY": "x", "LOG_LEVEL": "WARNING"}


@pytest.fixture(scope="session")
def migrated_spatialite(tmp_path_factory) -> Path:
    """One migrated SpatiaLite file with the cache table, copied by each test (migrating takes seconds)."""
    path = tmp_path_factory.mktemp("embedded") / "template.sqlite3"
    env = {**base_env(), "DATABASE_URL": f"spatialite:///{path}"}
    for command in (["migrate", "--noinput"], ["createcachetable"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
    return path


def embedded(tmp_path: Path, template: Path) -> Deployment:
    database = tmp_path / "healthexport.sqlite3"
    shutil.copy(template, database)
    return Deployment({**base_env(), "DATABASE_URL": f"spatialite:///{database}"}, tmp_path)


def postgres_and_redis(tmp_path: Path) -> Deployment:
    parts = urlsplit(os.environ["DATABASE_URL"])
    test_database = urlunsplit((parts.scheme, parts.netloc, f"/{connection.settings_dict['NAME']}", parts.query, ""))
    return Deployment({**base_env(), "DATABASE_URL": test_database, "REDIS_URL": os.environ["REDIS_URL"]}, tmp_path)


@pytest.fixture(params=["embedded", "redis"])
def deployment(request, tmp_path) -> Deployment:
    if request.param == "embedded":
        return embedded(tmp_path, request.getfixturevalue("migrated_spatialite"))
    return postgres_and_redis(tmp_path)


def test_a_limit_of_10_lets_exactly_10_of_30_concurrent_requests_through_2_workers(deployment):
    # READ is a GET: counted in the reads' budget.
    with deployment.gunicorn(RATELIMIT_READ_REQUESTS_PER_HOUR="10") as server:
        # The kernel decides which worker accepts: retry with a fresh key until both took part.
        for attempt in range(5):
            plaintext = deployment.create_key(f"alice{attempt}")
            before = server.authentications()
            statuses = server.concurrently(READ, [plaintext] * 30)
            after = server.authentications()
            if len([pid for pid in after if after[pid] > before.get(pid, 0)]) == 2:
                break
        else:
            pytest.fail("one worker served every burst")

    assert statuses == {200: 10, 429: 20}


def test_100_concurrent_bad_keys_reach_verification_at_most_20_times(deployment):
    bad_keys = [keys.new_key(keys.new_prefix()) for _ in range(100)]
    with deployment.gunicorn() as server:
        statuses = server.concurrently(READ, bad_keys)
        verified = server.per_worker("healthexport_auth_failures_total", reason="unknown_key")
        throttled = server.per_worker("healthexport_auth_failures_total", reason="throttled")

    assert statuses == {401: 20, 429: 80}
    assert sum(verified.values()) == 20
    assert sum(throttled.values()) == 80


def test_with_redis_unreachable_each_worker_still_throttles_bad_keys(tmp_path):
    bad_keys = [keys.new_key(keys.new_prefix()) for _ in range(100)]
    with postgres_and_redis(tmp_path).gunicorn(REDIS_URL="redis://127.0.0.1:1/0") as server:
        statuses = server.concurrently(READ, bad_keys)
        verified = server.per_worker("healthexport_auth_failures_total", reason="unknown_key")

    # Each worker counts on its own: at most 20 in each.
    assert statuses[401] == sum(verified.values())
    assert 20 <= statuses[401] <= 40 and statuses[429] == 100 - statuses[401]
    assert all(count <= 20 for count in verified.values())


def test_a_key_revoked_by_the_command_fails_on_its_next_request_in_every_worker(deployment):
    plaintext = deployment.create_key("alice")
    with deployment.gunicorn(RATELIMIT_READ_REQUESTS_PER_HOUR="10000") as server:
        # Until both workers have it cached, and used it warm.
        for _ in range(200):
            assert server.concurrently(READ, [plaintext] * 4) == {200: 4}
            hits = server.per_worker("healthexport_api_key_cache_total", result="hit")
            if len([pid for pid, count in hits.items() if count >= 2]) == 2:
                break
        else:
            pytest.fail("one worker never served the key twice")

        out = deployment.manage("revokeapikey", keys.loose_prefix(plaintext))
        assert out.startswith("Revoked 1 key(s)")
        statuses = server.concurrently(READ, [plaintext] * 20)
        refused = server.per_worker("healthexport_auth_failures_total", reason="revoked")

    assert statuses == {401: 20}
    assert sum(refused.values()) == 20
    assert len([pid for pid, count in refused.items() if count]) == 2
