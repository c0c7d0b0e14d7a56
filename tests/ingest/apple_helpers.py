"""Apple Health archives for tests: the fixtures and the generator beside them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

APPLE_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "apple_health"
SMALL_ZIP = APPLE_FIXTURES / "small.zip"
OUTCOMES = ("stored", "updated", "duplicates", "rejected")


def expected() -> dict[str, Any]:
    return json.loads((APPLE_FIXTURES / "EXPECTED.json").read_text())


def generate(out: Path, *args: str) -> Path:
    """An archive (or with ``--xml-only`` a bare export.xml) from the generator."""
    subprocess.run(
        [sys.executable, str(APPLE_FIXTURES / "gen_export.py"), *args, "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out


def adds_up(counts: dict[str, int]) -> bool:
    return counts["received"] == sum(counts[outcome] for outcome in OUTCOMES)


def run_queued_tasks() -> None:
    """Run what the task queue holds, as ``manage.py db_worker --batch`` does, in this process."""
    from django_tasks_db.management.commands.db_worker import Worker

    Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    ).run()
