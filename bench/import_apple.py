"""Apple Health import throughput and memory on PostgreSQL, against healthkit-to-sqlite in the same run.

    DATABASE_URL=postgis://postgres@127.0.0.1:5432/healthexport .venv/bin/python bench/import_apple.py [--days 365]

1. a generated archive (tests/fixtures/apple_health/gen_export.py --days N, ~0.9 M records a year);
2. ``manage.py import_apple_health`` end to end into a fresh database, named after the one of
   DATABASE_URL (``<name>_bench_apple``: checkouts sharing a server do not drop each other's):
   records per second, peak memory (the process's max RSS);
3. the same archive again: everything is found stored (the deduplicating pass);
4. the anchor: healthkit-to-sqlite (PyPI), installed into a temporary virtualenv, on the same
   archive into SQLite, timed the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from urllib.parse import urlsplit

from _fresh_database import bench_url, create_database  # beside this script

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "tests" / "fixtures" / "apple_health" / "gen_export.py"
ANCHOR = "healthkit-to-sqlite"
# Runs a command and prints its peak RSS (KiB) on the last line of stderr.
MEASURE = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def fresh_database() -> str:
    name = f"{urlsplit(os.environ.get('DATABASE_URL', '')).path.strip('/') or 'healthexport'}_bench_apple"
    create_database(name)
    return bench_url(name)


def measured(command: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """(seconds, peak RSS in MiB, stdout) of ``command``."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    if done.returncode:
        raise SystemExit(f"{command[0]} failed:\n{done.stderr[-3000:]}")
    return seconds, int(done.stderr.strip().splitlines()[-1]) // 1024, done.stdout


def anchor_python(workdir: Path) -> Path:
    """A throwaway virtualenv with healthkit-to-sqlite from PyPI."""
    home = workdir / "anchor-venv"
    venv.create(home, with_pip=True)
    python = home / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", ANCHOR], check=True)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-apple-") as tmp:
        workdir = Path(tmp)
        archive = workdir / "export.zip"
        subprocess.run([sys.executable, GENERATOR, "--days", str(args.days), "--out", archive], check=True)
        counts = json.loads(
            subprocess.run(
                [sys.executable, GENERATOR, "--count-only", archive], check=True, capture_output=True, text=True
            ).stdout
        )
        records = counts["records_total"]
        env = {**os.environ, "DATABASE_URL": fresh_database(), "SECRET_KEY": "bench-only-secret", "DOTENV_PATH": ""}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        command = [sys.executable, "manage.py", "import_apple_health", str(archive), "--user", "bench"]
        first, first_mib, output = measured([*command, "--create-user"], env)
        again, again_mib, _ = measured(command, env)
        python = anchor_python(workdir)
        anchor_cli = str(python.parent / ANCHOR)
        anchor, anchor_mib, _ = measured([anchor_cli, str(archive), str(workdir / "anchor.db")], env)

    print(f"archive: {args.days} days, {records:,} records, {archive.name}")
    print(output.splitlines()[0])
    rows = [
        ("import_apple_health, first import (PostgreSQL)", first, first_mib),
        ("import_apple_health, same archive again (all duplicates)", again, again_mib),
        (f"{ANCHOR} (SQLite, anchor)", anchor, anchor_mib),
    ]
    for label, seconds, mib in rows:
        print(f"{label:60s} {seconds:7.1f} s  {records / seconds:9,.0f} records/s  peak {mib:5d} MiB")
    print(f"first import vs anchor: {anchor / first:.2f}x its records/s; re-import: {anchor / again:.2f}x")


if __name__ == "__main__":
    main()
