"""Ingest throughput and memory on PostgreSQL, in one run, against two baselines measured here.

    DATABASE_URL=postgis://postgres@127.0.0.1:5432/healthexport REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python bench/ingest.py [--days 365]

1. end to end: a year export (gen_hae.py) POSTed over HTTP to gunicorn (1 worker, 1 thread),
   each run for a new user (so each is a first upload);
2. identical re-send of the same body by that user;
3. the floor: orjson parse + COPY into a staging table + INSERT … ON CONFLICT, no Django, no
   validation, into a fresh table each run;
4. the seed system's approach: ORM bulk_create in batches of 1000, a new user each run.
Runs of 1-3 are interleaved, so a slow spell of this shared machine hits both sides; figures
are medians of ``--runs`` (3) runs, with their range. Peak memory added is the worker's VmHWM
after its first request minus its RSS before it. It uses (and drops) its own database, named
after the one of DATABASE_URL (``<name>_bench_ingest``), and serves on ``BENCH_PORT`` (8097).

``--stages``: instead, the year is ingested once in a fresh process, and each step of the pipeline
printed with the peak memory added while it ran (over the process before the body was read:
VmHWM, reset before each step) and its CPU time.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GENERATOR = ROOT / "tests" / "fixtures" / "hae" / "gen_hae.py"
PORT = int(os.environ.get("BENCH_PORT", "8097"))


def database_urls() -> tuple[str, str]:
    """(Django URL, libpq URL) for the benchmark database on the configured server: one per
    configured database, so benchmarks of several checkouts on one server do not drop each other's."""
    parts = urlsplit(os.environ.get("DATABASE_URL", "postgis://postgres@127.0.0.1:5432/healthexport"))
    name = f"{parts.path.strip('/') or 'healthexport'}_bench_ingest"
    django_url = urlunsplit(parts._replace(path=f"/{name}"))
    libpq = urlunsplit(parts._replace(scheme="postgresql", path=f"/{name}"))
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return django_url, libpq


def sample_rows(document: dict) -> list[tuple]:
    """Flat (metric, start, source, qty) rows: what the floor and the ORM baseline load."""
    rows = []
    for metric in document["data"]["metrics"]:
        for item in metric["data"]:
            value = item.get("qty", item.get("Avg", item.get("totalSleep", item.get("systolic", 0))))
            start = datetime.fromisoformat(item.get("date") or item.get("startDate"))
            rows.append((metric["name"], start, item.get("source") or "", float(value)))
    return rows


def floor(body: bytes, libpq: str) -> float:
    """orjson + COPY into staging + INSERT … ON CONFLICT, the fastest sane path without Django."""
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS floor_sample")
        conn.execute(
            "CREATE TABLE floor_sample (metric text, start timestamptz, source text, qty float8,"
            " UNIQUE (metric, start, source))"
        )
    started = time.perf_counter()
    rows = sample_rows(orjson.loads(body))
    with psycopg.connect(libpq) as conn:
        conn.execute("CREATE TEMP TABLE staging (metric text, start timestamptz, source text, qty float8)")
        with conn.cursor().copy("COPY staging FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.execute(
            "INSERT INTO floor_sample SELECT DISTINCT ON (metric, start, source) * FROM staging"
            " ON CONFLICT (metric, start, source) DO UPDATE SET qty = EXCLUDED.qty"
        )
    return time.perf_counter() - started


def orm_batches(body: bytes, username: str) -> float:
    """The seed system: Django ORM bulk_create(batch_size=1000) of model instances."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from metrics import catalog
    from metrics.models import MetricType, Sample

    started = time.perf_counter()
    rows = sample_rows(orjson.loads(body))
    user = get_user_model().objects.create(username=username)
    types: dict[str, MetricType] = {}
    for name, *_ in rows:
        if name not in types:
            defaults = {"unit": catalog.unit_of(name) or "", "aggregation": "sum"}
            types[name] = MetricType.objects.get_or_create(name=name, owner=None, defaults=defaults)[0]
    Sample.objects.bulk_create(
        [
            Sample(
                user=user,
                metric=types[name],
                start=start,
                source=source,
                qty=qty,
                unit="",
                utc_offset=0,
                ingestion_id=0,
            )
            for name, start, source, qty in rows
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    return time.perf_counter() - started


@dataclass
class Figure:
    runs: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def spread(self) -> str:
        return f"({min(self.runs):.2f}-{max(self.runs):.2f})"


def wait_until_serving(port: int, seconds: float = 30) -> None:
    """Until the server on ``port`` answers /health (gunicorn imports the app first)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return
        except OSError:
            time.sleep(0.2)


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def post(body: bytes, key: str) -> tuple[float, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/v1/ingest",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310 (loopback only)
        answer = orjson.loads(response.read())
    return time.perf_counter() - started, answer


# The steps of ``ingest.services`` whose memory ``--stages`` shows, in the order they run.
STAGES = (
    "ingestion_store_raw",
    "parse_export",
    "write_fresh_samples",
    "write_compared_rows",
    "write_other_sections",
    "rollups_refresh",
    "workout_rows",
    "write_workouts",
)


def reset_peak() -> None:
    """VmHWM starts again from the current RSS (Linux: ``clear_refs``)."""
    Path("/proc/self/clear_refs").write_text("5")


def stage_memory(body_path: Path) -> None:
    """The year ingested once in this process as a new user's first upload, the body read into
    one buffer as the view does: the peak memory each step adds and its CPU time."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from ingest import services

    pid, steps, between = os.getpid(), [], []

    def measured(name, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            between.append(rss_kib(pid, "VmHWM") * 1024)  # since the step before
            reset_peak()
            started = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                steps.append((name, rss_kib(pid, "VmHWM") * 1024, time.process_time() - started))
                reset_peak()

        return wrapper

    for name in STAGES:
        setattr(services, name, measured(name, getattr(services, name)))
    user = get_user_model().objects.create(username="stages")
    size = body_path.stat().st_size
    before = rss_kib(pid, "VmRSS") * 1024
    reset_peak()
    started = time.process_time()
    holder = [bytearray(size)]  # no other reference: the pipeline frees the body once done with it
    with body_path.open("rb") as file:
        file.readinto(holder[0])
    services.ingest_export(user=user, api_key=None, body=holder)
    cpu = time.process_time() - started
    peak = max([rss_kib(pid, "VmHWM") * 1024, *between, *(step_peak for _, step_peak, _ in steps)])
    print(f"{'step':22} {'peak added':>11} {'x body':>7} {'CPU':>7}")
    for name, step_peak, seconds in steps:
        added = step_peak - before
        print(f"{name:22} {added / 1e6:8.1f} MB {added / size:6.2f}x {seconds:6.2f} s")
    print(f"{'whole export':22} {(peak - before) / 1e6:8.1f} MB {(peak - before) / size:6.2f}x {cpu:6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stages", action="store_true", help="Peak memory and CPU of each step, in process.")
    parser.add_argument("--stages-of", type=Path, help=argparse.SUPPRESS)  # --stages, in a fresh process
    args = parser.parse_args()
    if args.stages_of:
        stage_memory(args.stages_of)
        return

    (ROOT / "var").mkdir(exist_ok=True)
    body_path = ROOT / "var" / "bench-year.json"
    body = subprocess.run(
        [sys.executable, str(GENERATOR), "year", "--days", str(args.days), "--seed", "1"],
        capture_output=True,
        check=True,
    ).stdout
    body_path.write_bytes(body)
    document = orjson.loads(body)
    samples = sum(len(m["data"]) for m in document["data"]["metrics"])
    del document
    print(f"export: {len(body) / 1e6:.1f} MB, {samples} samples")

    django_url, libpq = database_urls()
    env = {
        **os.environ,
        "DATABASE_URL": django_url,
        "SECRET_KEY": "bench-only",
        "DJANGO_SETTINGS_MODULE": "healthexport.settings",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    if args.stages:
        subprocess.run([sys.executable, __file__, "--stages-of", str(body_path)], cwd=ROOT, env=env, check=True)
        return
    keys = [
        subprocess.run(
            [*manage, "createapikey", f"bench{run}", "--create-user", "--scopes", "ingest"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        ).stdout.strip().splitlines()[-1]
        for run in range(args.runs)
    ]  # fmt: skip
    # A backfill needs more than the default hourly byte budget: the per-key override.
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute("UPDATE accounts_apikey SET ratelimit_bytes_per_hour = 1000000000")

    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "healthexport.wsgi", "--bind", f"127.0.0.1:{PORT}",
         "--workers", "1", "--threads", "1", "--worker-class", "sync", "--timeout", "600"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    first, resend, floors = Figure([]), Figure([]), Figure([])
    try:
        wait_until_serving(PORT)
        worker = worker_pid(server.pid)
        rss_before = rss_kib(worker, "VmRSS")
        for key in keys:
            seconds, answer = post(body, key)
            assert answer["status"] in ("processed", "partial"), answer["status"]
            if not first.runs:
                peak_added = (rss_kib(worker, "VmHWM") - rss_before) * 1024
            first.runs.append(seconds)
            seconds, again = post(body, key)
            assert again["status"] == "duplicate"
            resend.runs.append(seconds)
            floors.runs.append(floor(body, libpq))
    finally:
        server.terminate()
        server.wait()

    os.environ.update(env)
    orm = Figure([orm_batches(body, f"orm-baseline-{run}") for run in range(args.runs)])

    e2e_rate, floor_rate, orm_rate = samples / first.median, samples / floors.median, samples / orm.median
    print(f"medians of {args.runs} runs (range in brackets)")
    print(f"end to end over HTTP       {first.median:6.2f} s {first.spread():13} {e2e_rate:9.0f} samples/s")
    print(f"floor (COPY + ON CONFLICT) {floors.median:6.2f} s {floors.spread():13} {floor_rate:9.0f} samples/s")
    print(f"ORM bulk_create(1000)      {orm.median:6.2f} s {orm.spread():13} {orm_rate:9.0f} samples/s")
    print(f"end to end / floor         {e2e_rate / floor_rate:6.2f}   (target >= 0.80)")
    print(f"end to end / ORM batches   {e2e_rate / orm_rate:6.2f}   (target >= 3)")
    print(
        f"identical re-send          {resend.median:6.3f} s {resend.spread():13}"
        f" = {resend.median / first.median:.1%} of the first (target <= 2 %)"
    )
    print(
        f"peak memory added          {peak_added / 1e6:6.1f} MB = {peak_added / len(body):.1f}x the body (target <= 2x)"
    )


if __name__ == "__main__":
    main()
