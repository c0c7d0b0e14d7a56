"""Hourly syncs of many users at once, against a real gunicorn server started here (PostgreSQL + Redis).

    DATABASE_URL=postgis://postgres@127.0.0.1:5432/healthexport REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python bench/load.py [--users 40] [--hours 8] [--in-flight 8] [--runs 3] [--steps-only]
            [--verify-every-request]

The workload: ``--users`` phones, each sending ``--hours`` hourly exports (10 metrics x 45
samples, ~45 KB each), ``--in-flight`` requests at a time, hour after hour. The server is started
like ``scripts/run.sh`` does (``deploy/gunicorn.conf.py``: 2 workers x 4 threads, JSON logs) on
127.0.0.1:``BENCH_PORT`` (8098), against a database of its own named after the one of
DATABASE_URL (``<name>_bench_load``, dropped and made afresh); every key may send far more than
the default hourly limits. Each run uses new users, so every run is the same work.

Printed: req/s, p50/p99 latency and samples/s per run (medians and ranges), samples/s as a
ratio of the floor of ``bench/ingest.py`` measured in the same run (before and after the load,
on the same year export), and where the time of one small export goes: each step of the
pipeline timed in this process, with its SQL statements counted. Stops by itself.

The p99 is also shown apart for the first request of each key (the first hour: the server
verifies the new key with Argon2, ~24 ms of CPU, as it does again once API_KEY_CACHE_SECONDS
have passed) and for the later ones, and how many requests each connection sent (an uneven
spread means one gunicorn worker had more requests in flight than another). Real hourly syncs
come after the key has left the verify cache (300 s by default), so each pays Argon2:
``--verify-every-request`` runs the server with ``API_KEY_CACHE_SECONDS=0`` to measure that.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import http.client
import importlib.util
import os
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PORT = int(os.environ.get("BENCH_PORT", "8098"))
METRICS = (
    ("heart_rate", "count/min"),
    ("step_count", "count"),
    ("active_energy", "kcal"),
    ("basal_energy_burned", "kcal"),
    ("walking_running_distance", "km"),
    ("respiratory_rate", "count/min"),
    ("heart_rate_variability", "ms"),
    ("blood_oxygen_saturation", "%"),
    ("flights_climbed", "count"),
    ("apple_stand_time", "min"),
)
SAMPLES_PER_METRIC = 45
FIRST_HOUR = dt.datetime(2025, 3, 3, 6, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def _bench_ingest():
    """bench/ingest.py as a module (``ingest`` is the app's name on sys.path): its floor and helpers."""
    spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "bench" / "ingest.py")
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def database_urls() -> tuple[str, str]:
    """(Django URL, libpq URL) of a fresh benchmark database on the configured server."""
    parts = urlsplit(os.environ.get("DATABASE_URL", "postgis://postgres@127.0.0.1:5432/healthexport"))
    name = f"{parts.path.strip('/') or 'healthexport'}_bench_load"
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return urlunsplit(parts._replace(path=f"/{name}")), urlunsplit(parts._replace(scheme="postgresql", path=f"/{name}"))


def hourly_export(user: int, hour: int) -> bytes:
    """One hour of a phone: 10 metrics of 45 samples, 80 s apart, values drawn per user and hour."""
    rnd = random.Random(user * 1000 + hour)
    start = FIRST_HOUR + dt.timedelta(hours=hour)
    metrics = []
    for name, unit in METRICS:
        data = []
        for i in range(SAMPLES_PER_METRIC):
            moment = (start + dt.timedelta(seconds=80 * i)).strftime("%Y-%m-%d %H:%M:%S %z")
            if name == "heart_rate":
                avg = round(rnd.uniform(55, 120), 1)
                item = {"date": moment, "Min": avg - 3, "Avg": avg, "Max": avg + 4, "source": "Apple Watch"}
            else:
                item = {"date": moment, "qty": round(rnd.uniform(0.1, 30), 3), "source": "Apple Watch"}
            data.append(item)
        metrics.append({"name": name, "units": unit, "data": data})
    return orjson.dumps({"data": {"metrics": metrics}})


def create_keys(users: int, run: int) -> list[str]:
    """A user and an ingest key each, allowed far more than the default hourly limits."""
    from accounts.models import ApiKey, User
    from accounts.services import api_key_create

    keys = []
    for number in range(users):
        owner = User.objects.create(username=f"load-{run}-{number}")
        _, plaintext = api_key_create(owner=owner, name="load", scopes=["ingest"], created_by=None)
        keys.append(plaintext)
    ApiKey.objects.update(ratelimit_requests_per_hour=10**6, ratelimit_bytes_per_hour=10**12)
    return keys


class Client:
    """One keep-alive connection, as a phone's HTTP client would hold it for its retries."""

    def __init__(self) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)

    def post(self, body: bytes, key: str) -> float:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        started = time.perf_counter()
        self.connection.request("POST", "/v1/ingest", body=body, headers=headers)
        response = self.connection.getresponse()
        answer = response.read()
        seconds = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {answer[:300]!r}")
        return seconds


@dataclass
class Run:
    seconds: float
    latencies: list[float]  # every request's
    first: list[float]  # each key's first request: the key is verified with Argon2 (~24 ms of CPU)
    later: list[float]  # the others: the key is in the verification cache
    sent: list[int]  # requests per connection: one that sent fewer waited longer for its worker
    client_cpu: float = 0.0  # seconds of this process's CPU while the requests ran


def load(keys: list[str], hours: int, in_flight: int) -> Run:
    """Every user's exports, hour after hour, ``in_flight`` at a time."""
    jobs: queue.Queue = queue.Queue()
    for hour in range(hours):
        for user, key in enumerate(keys):
            jobs.put((hourly_export(user, hour), key, hour == 0))
    run = Run(0.0, [], [], [], [])
    failures: list[Exception] = []

    def worker() -> None:
        client = Client()
        count = 0
        while True:
            try:
                body, key, first = jobs.get_nowait()
            except queue.Empty:
                run.sent.append(count)
                return
            count += 1
            try:
                seconds = client.post(body, key)
            except Exception as exc:  # reported after the run, which stops at once
                failures.append(exc)
                return
            run.latencies.append(seconds)
            (run.first if first else run.later).append(seconds)

    threads = [threading.Thread(target=worker) for _ in range(in_flight)]
    started, client_cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    run.seconds, run.client_cpu = time.perf_counter() - started, time.process_time() - client_cpu
    return run


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# Where one export's time goes: (depth, module, attribute) of each step, timed wherever it is
# called from that module; a step is part of the nearest one above it of lesser depth. A step
# missing from the code is left out of the table.
STEPS = (
    (0, "ingest.services", "ingest_export"),
    (1, "ingest.services", "find_processed_duplicate"),
    (1, "ingest.services", "ingestion_store_raw"),
    (1, "ingest.services", "ingestion_process"),
    (2, "ingest.services", "parse_export"),
    (2, "ingest.services", "parse_payload"),
    (2, "ingest.services", "metric_types_for"),
    (2, "ingest.services", "write_export"),
    (2, "ingest.services", "write_payload"),
    (3, "ingest.services", "write_fresh_samples"),
    (3, "ingest.services", "write_compared_rows"),
    (3, "ingest.services", "write_rows"),
    (3, "ingest.services", "rollups_refresh"),
    (4, "metrics.models", "SampleRollupQuerySet.refresh"),
    (3, "ingest.services", "write_workouts"),
    (3, "ingest.services", "write_other_sections"),
    (2, "ingest.services", "record_outcome"),
    (2, "ingest.services", "_audit"),
    (2, "ingest.services", "invalidate_user_stats"),
)


def stage_timings(exports: int) -> None:
    """Send ``exports`` small hourly exports of one new user in process, each step timed and its
    statements counted (every execute, executemany and COPY sent through psycopg)."""
    from accounts.models import User

    per_export: dict[str, float] = defaultdict(float)
    statements_per_export: dict[str, int] = defaultdict(int)
    times: dict[str, list[float]] = defaultdict(list)
    statements: dict[str, list[int]] = defaultdict(list)
    sent = [0]

    def counted(method):
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            sent[0] += 1
            return method(*args, **kwargs)

        return wrapper

    for cursor_class in (psycopg.Cursor, psycopg.ClientCursor):
        for name in ("execute", "executemany", "copy"):
            if name in vars(cursor_class):
                setattr(cursor_class, name, counted(getattr(cursor_class, name)))

    def timed(label, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            started, before = time.perf_counter(), sent[0]
            try:
                return function(*args, **kwargs)
            finally:
                per_export[label] += time.perf_counter() - started
                statements_per_export[label] += sent[0] - before

        return wrapper

    found, depths = [], {}
    for depth, module_name, attribute in STEPS:
        owner = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        if not hasattr(owner, name):
            continue
        setattr(owner, name, timed(attribute, getattr(owner, name)))
        found.append(attribute)
        depths[attribute] = depth
    from ingest import services

    def send(user, body: bytes) -> None:
        per_export.clear()
        statements_per_export.clear()
        services.ingest_export(user=user, api_key=None, body=body)
        for label in found:
            times[label].append(per_export[label])
            statements[label].append(statements_per_export[label])

    user = User.objects.create(username="stages")
    services.ingest_export(user=user, api_key=None, body=hourly_export(999, 0))  # warm: types, plans
    for hour in range(1, exports + 1):
        send(user, hourly_export(999, hour))
    full = {label: (statistics.median(times[label]), statistics.median(statements[label])) for label in found}
    times.clear()
    statements.clear()
    for number in range(exports):
        send(user, b'{"data": {"metrics": [], "n": %d}}' % number)
    empty = {label: (statistics.median(times[label]), statistics.median(statements[label])) for label in found}
    print(f"\nwhere the time of one export goes, in process (medians of {exports} exports of one user;")
    print("an indented step is part of the one above it; SQL: statements sent, COPY included)")
    print(f"{'step':38} {'10 metrics x 45 samples':>24} {'empty export':>16}")
    for label in found:
        if not full[label][0] and not empty[label][0]:
            continue
        shown = "  " * depths[label] + label
        print(
            f"{shown:38} {full[label][0] * 1000:9.2f} ms {full[label][1]:4.0f} SQL"
            f" {empty[label][0] * 1000:7.2f} ms {empty[label][1]:3.0f} SQL"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--hours", type=int, default=8)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--days", type=int, default=365, help="Days of the year export the floor loads.")
    parser.add_argument("--steps-only", action="store_true", help="Only the table of steps (no server, no floor).")
    parser.add_argument(
        "--verify-every-request",
        action="store_true",
        help="Server with API_KEY_CACHE_SECONDS=0: each request pays Argon2, as real hourly syncs do.",
    )
    args = parser.parse_args()

    bench_ingest = _bench_ingest()
    django_url, libpq = database_urls()
    env = {
        **os.environ,
        "DATABASE_URL": django_url,
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-secret",
        "DJANGO_SETTINGS_MODULE": "healthexport.settings",
        "DOTENV_PATH": "",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        **({"API_KEY_CACHE_SECONDS": "0"} if args.verify_every_request else {}),
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if args.steps_only:
        stage_timings(20)
        return
    year = subprocess.run(
        [sys.executable, str(bench_ingest.GENERATOR), "year", "--days", str(args.days), "--seed", "1"],
        capture_output=True,
        check=True,
    ).stdout
    year_samples = len(bench_ingest.sample_rows(orjson.loads(year)))
    keys = [create_keys(args.users, run) for run in range(args.runs)]
    samples = args.users * args.hours * len(METRICS) * SAMPLES_PER_METRIC
    body_size = len(hourly_export(0, 0))
    per_export = samples // (args.users * args.hours)
    print(
        f"{args.users} users x {args.hours} hourly exports ({len(METRICS)} metrics, {per_export} samples,"
        f" {body_size / 1000:.0f} KB each), {args.in_flight} in flight, {args.runs} runs"
        + (", every request verified with Argon2" if args.verify_every_request else "")
    )

    floors = [year_samples / bench_ingest.floor(year, libpq)]
    metrics_dir = tempfile.mkdtemp(prefix="bench-load-metrics-")
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "healthexport.wsgi", "--config", "deploy/gunicorn.conf.py",
         "--bind", f"127.0.0.1:{PORT}"],
        cwd=ROOT, env={**env, "PROMETHEUS_MULTIPROC_DIR": metrics_dir},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    rates, p50s, p99s, sample_rates, first_p99s, later_p99s = [], [], [], [], [], []
    try:
        bench_ingest.wait_until_serving(PORT)
        # Warm every worker thread (imports, connections, the metric types) before timing.
        load(create_keys(args.in_flight, -1), 1, args.in_flight)
        for number in range(args.runs):
            run = load(keys[number], args.hours, args.in_flight)
            rates.append(len(run.latencies) / run.seconds)
            p50s.append(percentile(run.latencies, 0.5) * 1000)
            p99s.append(percentile(run.latencies, 0.99) * 1000)
            first_p99s.append(percentile(run.first, 0.99) * 1000)
            later_p99s.append(percentile(run.later, 0.99) * 1000)
            sample_rates.append(samples / run.seconds)
            print(
                f"run {number + 1}: {rates[-1]:5.1f} req/s, p50 {p50s[-1]:5.0f} ms, p99 {p99s[-1]:5.0f} ms"
                f" (first request of a key {first_p99s[-1]:.0f}, later {later_p99s[-1]:.0f}),"
                f" {sample_rates[-1]:7.0f} samples/s, {min(run.sent)}-{max(run.sent)} requests per connection,"
                f" this client's CPU {run.client_cpu / len(run.latencies) * 1000:.2f} ms a request"
            )
    finally:
        server.terminate()
        server.wait()
    floors.append(year_samples / bench_ingest.floor(year, libpq))

    def figure(values: list[float], fmt: str) -> str:
        return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"

    floor_rate = statistics.median(floors)
    ratio = statistics.median(sample_rates) / floor_rate
    print(f"medians of {args.runs} runs (range in brackets)")
    print(f"requests/s     {figure(rates, '.1f')}")
    print(f"p50 latency    {figure(p50s, '.0f')} ms")
    print(f"p99 latency    {figure(p99s, '.0f')} ms   (target <= 250 ms)")
    print(f"  first request of each key (Argon2)  {figure(first_p99s, '.0f')} ms")
    print(f"  later requests (key cached)         {figure(later_p99s, '.0f')} ms")
    print(f"samples/s      {figure(sample_rates, '.0f')}")
    print(f"floor          {figure(floors, '.0f')} samples/s (bench/ingest.py's, before and after the load)")
    print(f"load / floor   {ratio:.2f}   (target >= 0.40)")
    stage_timings(20)


if __name__ == "__main__":
    main()
