"""A real ``manage.py db_worker`` process killed with SIGKILL in the middle of an import."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count

from ingest.apple.services import file_sha256, import_create
from ingest.models import AppleImport
from metrics.models import RoutePoint, Sample, SleepStage, Workout
from tests.ingest.apple_helpers import generate

ROOT = Path(__file__).resolve().parents[2]
# How long the test waits at most for a worker to get somewhere: a guard against hanging, not a
# measure (nothing asserts on time).
PATIENCE_SECONDS = 300


def database_url() -> str:
    db = connection.settings_dict
    credentials = f"{quote(db['USER'], safe='')}:{quote(db['PASSWORD'] or '', safe='')}"
    return f"postgis://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": "test-only-secret",
        "DOTENV_PATH": "",
        # Small chunks, so the worker is killed between two commits; a short stale delay, so the
        # next worker takes over soon after.
        "IMPORT_CHUNK_ELEMENTS": "200",
        "IMPORT_STALE_AFTER_SECONDS": "3",
    }
    command = [sys.executable, "manage.py", "db_worker", "--no-startup-delay", "--interval", "0.2", "--no-reload"]
    with log.open("a") as out:  # the child keeps its own copy of the file descriptor
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for(condition: Callable[[], bool], worker: subprocess.Popen) -> None:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not condition():
        assert worker.poll() is None, "the worker exited"
        assert time.monotonic() < deadline, "the worker made no progress"
        time.sleep(0.05)


def rows_of(user) -> dict[str, int]:
    per_metric = Sample.objects.filter(user=user).values("metric__name").annotate(n=Count("start"))
    return {
        **{row["metric__name"]: row["n"] for row in per_metric},
        "sleep_stages": SleepStage.objects.filter(user=user).count(),
        "workouts": Workout.objects.filter(user=user).count(),
        "route_points": RoutePoint.objects.filter(workout__user=user).count(),
    }


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_import_loses_nothing_and_doubles_nothing(alice, bob, tmp_path):
    archive = generate(tmp_path / "export.zip", "--days", "10", "--seed", "3")
    call_command("import_apple_health", str(archive), "--user", "bob", stdout=StringIO(), stderr=StringIO())
    uninterrupted = AppleImport.objects.get(user=bob)

    apple_import = import_create(
        user=alice, path=archive, size=archive.stat().st_size, sha256=file_sha256(archive), owns_file=False
    )
    log = tmp_path / "worker.log"
    first = start_worker(log)
    try:
        wait_for(lambda: AppleImport.objects.get(pk=apple_import.pk).elements_done > 0, first)
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        first.kill()
    killed = AppleImport.objects.get(pk=apple_import.pk)
    assert killed.status == "running"
    assert 0 < killed.elements_done < uninterrupted.elements_done

    second = start_worker(log)
    try:
        wait_for(lambda: AppleImport.objects.get(pk=apple_import.pk).status in ("done", "failed"), second)
    finally:
        second.terminate()
        second.wait(timeout=60)

    finished = AppleImport.objects.get(pk=apple_import.pk)
    assert finished.status == "done", log.read_text()[-3000:]
    assert finished.attempts == 2
    assert finished.counts == uninterrupted.counts  # every record counted once, as without the kill
    assert rows_of(alice) == rows_of(bob)
