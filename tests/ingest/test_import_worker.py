"""A real ``manage.py db_worker`` process killed with SIGKILL in the middle of an import (its XML, its ECGs)."""

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
from metrics.models import HealthRecord, RoutePoint, Sample, SleepStage, Workout
from tests.ingest.apple_helpers import archive_with_ecgs, generate

ROOT = Path(__file__).resolve().parents[2]
# How long the test waits at most for a worker to get somewhere: a guard against hanging, not a
# measure (nothing asserts on time).
PATIENCE_SECONDS = 300


def database_url() -> str:
    db = connection.settings_dict
    credentials = f"{quote(db['USER'], safe='')}:{quote(db['PASSWORD'] or '', safe='')}"
    return f"postgis://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(log: Path, **settings: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": "test-only-secret",
        "DOTENV_PATH": "",
        # Small chunks, so the worker is killed between two commits; a short stale delay, so the
        # next worker takes over soon after.
        "IMPORT_CHUNK_ELEMENTS": "200",
        "IMPORT_STALE_AFTER_SECONDS": "3",
        **settings,
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


def killed_then_resumed(
    apple_import: AppleImport, kill_when: Callable[[AppleImport], bool], log: Path, **settings: str
) -> tuple[AppleImport, AppleImport]:
    """The import run by a worker killed with SIGKILL once ``kill_when`` holds, then taken over by
    a second worker: as it was when killed, and as it ended."""
    first = start_worker(log, **settings)
    try:
        wait_for(lambda: kill_when(AppleImport.objects.get(pk=apple_import.pk)), first)
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        first.kill()
    killed = AppleImport.objects.get(pk=apple_import.pk)

    second = start_worker(log, **settings)
    try:
        wait_for(lambda: AppleImport.objects.get(pk=apple_import.pk).status in ("done", "failed"), second)
    finally:
        second.terminate()
        second.wait(timeout=60)
    return killed, AppleImport.objects.get(pk=apple_import.pk)


def rows_of(user) -> dict[str, int]:
    per_metric = Sample.objects.filter(user=user).values("metric__name").annotate(n=Count("start"))
    return {
        **{row["metric__name"]: row["n"] for row in per_metric},
        "sleep_stages": SleepStage.objects.filter(user=user).count(),
        "workouts": Workout.objects.filter(user=user).count(),
        "route_points": RoutePoint.objects.filter(workout__user=user).count(),
    }


def queued_for(user, archive: Path) -> AppleImport:
    return import_create(
        user=user, path=archive, size=archive.stat().st_size, sha256=file_sha256(archive), owns_file=False
    )


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_import_loses_nothing_and_doubles_nothing(alice, bob, tmp_path):
    archive = generate(tmp_path / "export.zip", "--days", "10", "--seed", "3")
    call_command("import_apple_health", str(archive), "--user", "bob", stdout=StringIO(), stderr=StringIO())
    uninterrupted = AppleImport.objects.get(user=bob)

    log = tmp_path / "worker.log"
    killed, finished = killed_then_resumed(queued_for(alice, archive), lambda i: i.elements_done > 0, log)
    assert killed.status == "running"
    assert 0 < killed.elements_done < uninterrupted.elements_done

    assert finished.status == "done", log.read_text()[-3000:]
    assert finished.attempts == 2
    assert finished.counts == uninterrupted.counts  # every record counted once, as without the kill
    assert rows_of(alice) == rows_of(bob)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_among_the_ecgs_stores_and_counts_each_once(alice, bob, tmp_path):
    archive = archive_with_ecgs(tmp_path / "export.zip", 60, 10_000)
    call_command("import_apple_health", str(archive), "--user", "bob", stdout=StringIO(), stderr=StringIO())
    uninterrupted = AppleImport.objects.get(user=bob)

    log = tmp_path / "worker.log"
    # One ECG a batch: the worker is killed between two of the ECGs' commits.
    killed, finished = killed_then_resumed(
        queued_for(alice, archive), lambda i: i.ecgs_done > 0, log, IMPORT_ECG_BATCH_SAMPLES="1"
    )
    assert killed.status == "running"
    assert 0 < killed.ecgs_done < 60

    assert finished.status == "done", log.read_text()[-3000:]
    assert finished.attempts == 2
    assert finished.counts == uninterrupted.counts  # the undated ECG's rejection too, once
    assert finished.counts["other"]["ecg"]["stored"] == 60

    def ecgs_of(user) -> list[tuple]:
        stored = HealthRecord.objects.filter(user=user, section="ecg").order_by("start")
        return list(stored.values_list("natural_key", "start", "payload"))

    assert ecgs_of(alice) == ecgs_of(bob)
