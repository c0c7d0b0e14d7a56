"""Apple Health archives for tests: the fixtures and the generator beside them."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import zipfile
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


def archive_with_ecgs(path: Path, ecgs: int, samples: int) -> Path:
    """An export.xml of one record, ``ecgs`` ECG CSVs of ``samples`` samples a minute apart, and
    one ECG without a readable date (last in name order)."""
    first = dt.datetime(2023, 11, 4, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as packed:
        packed.writestr("apple_health_export/export.xml", ONE_RECORD_XML)
        for n in range(ecgs):
            recorded = (first + dt.timedelta(minutes=n)).strftime("%Y-%m-%d %H:%M:%S %z")
            packed.writestr(f"apple_health_export/electrocardiograms/ecg_{n:03}.csv", _ecg_csv(recorded, samples))
        packed.writestr("apple_health_export/electrocardiograms/ecg_undated.csv", _ecg_csv("yesterday", 100))
    return path


ONE_RECORD_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<HealthData locale="en_US">'
    b'<Record type="HKQuantityTypeIdentifierHeartRate" sourceName="Watch" unit="count/min" '
    b'startDate="2023-11-04 07:53:00 -0700" endDate="2023-11-04 07:53:00 -0700" value="61"/>'
    b"</HealthData>"
)


def _ecg_csv(recorded: str, samples: int) -> bytes:
    """As the Health app writes one: header lines, then a voltage per line (-300.000, -299.269, …)."""
    header = f"Name,Alice\nRecorded Date,{recorded}\nClassification,Sinus Rhythm\nSample Rate,512 hertz\n\n"
    values = "\n".join(f"{(i % 997) * 0.731 - 300:.3f}" for i in range(samples))
    return (header + "Lead,Lead I\nUnit,µV\n\n" + values + "\n").encode()


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
