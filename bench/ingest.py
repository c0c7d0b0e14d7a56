"""Ingest throughput and memory on PostgreSQL, in one run, against two baselines measured here.

    DATABASE_URL=postgis://postgres@127.0.0.1:5432/healthexport REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python bench/ingest.py [--days 365]

1. end to end: a year export (gen_hae.py) POSTed over HTTP to gunicorn (1 worker, 1 thread);
2. identical re-send of the same body;
3. the floor: orjson parse + COPY into a staging table + INSERT … ON CONFLICT, no Django, no validation;
4. the seed system's approach: ORM bulk_create in batches of 1000.
Peak memory added by the request is the worker's VmHWM minus its RSS before the request.
It uses (and drops) its own database, ``hx_bench_ingest``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GENERATOR = ROOT / "tests" / "fixtures" / "hae" / "gen_hae.py"
PORT = 8097
DB_NAME = "hx_bench_ingest"


def database_urls() -> tuple[str, str]:
    """(Django URL, libpq URL) for the benchmark database on the configured server."""
    parts = urlsplit(os.environ.get("DATABASE_URL", "postgis://postgres@127.0.0.1:5432/healthexport"))
    django_url = urlunsplit(parts._replace(path=f"/{DB_NAME}"))
    libpq = urlunsplit(parts._replace(scheme="postgresql", path=f"/{DB_NAME}"))
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
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
    started = time.perf_counter()
    rows = sample_rows(orjson.loads(body))
    with psycopg.connect(libpq) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS floor_sample (metric text, start timestamptz, source text, qty float8,"
            " UNIQUE (metric, start, source))"
        )
        conn.execute("CREATE TEMP TABLE staging (metric text, start timestamptz, source text, qty float8)")
        with conn.cursor().copy("COPY staging FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.execute(
            "INSERT INTO floor_sample SELECT DISTINCT ON (metric, start, source) * FROM staging"
            " ON CONFLICT (metric, start, source) DO UPDATE SET qty = EXCLUDED.qty"
        )
    return time.perf_counter() - started


def orm_batches(body: bytes) -> float:
    """The seed system: Django ORM bulk_create(batch_size=1000) of model instances."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from metrics.models import MetricType, Sample

    started = time.perf_counter()
    rows = sample_rows(orjson.loads(body))
    user = get_user_model().objects.create(username="orm-baseline")
    types: dict[str, MetricType] = {}
    for name, *_ in rows:
        if name not in types:
            types[name] = MetricType.objects.get_or_create(name=name, defaults={"unit": "", "aggregation": "sum"})[0]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()

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
    key = subprocess.run(
        [*manage, "createapikey", "bench", "--create-user", "--scopes", "ingest"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    # A backfill needs more than the default hourly byte budget: the per-key override.
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute("UPDATE accounts_apikey SET ratelimit_bytes_per_hour = 1000000000")

    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "healthexport.wsgi", "--bind", f"127.0.0.1:{PORT}",
         "--workers", "1", "--threads", "1", "--worker-class", "sync", "--timeout", "600"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        worker = worker_pid(server.pid)
        rss_before = rss_kib(worker, "VmRSS")
        first_s, answer = post(body, key)
        peak_added = (rss_kib(worker, "VmHWM") - rss_before) * 1024
        resend_s, again = post(body, key)
    finally:
        server.terminate()
        server.wait()
    assert answer["status"] in ("processed", "partial"), answer["status"]
    assert again["status"] == "duplicate"

    floor_s = floor(body, libpq)
    os.environ.update(env)
    orm_s = orm_batches(body)

    e2e_rate, floor_rate, orm_rate = samples / first_s, samples / floor_s, samples / orm_s
    print(f"end to end over HTTP      {first_s:7.2f} s  {e2e_rate:9.0f} samples/s")
    print(f"floor (COPY + ON CONFLICT){floor_s:7.2f} s  {floor_rate:9.0f} samples/s")
    print(f"ORM bulk_create(1000)     {orm_s:7.2f} s  {orm_rate:9.0f} samples/s")
    print(f"end to end / floor        {e2e_rate / floor_rate:7.2f}   (target >= 0.60)")
    print(f"end to end / ORM batches  {e2e_rate / orm_rate:7.2f}   (target >= 3)")
    print(f"identical re-send         {resend_s:7.3f} s = {resend_s / first_s:.1%} of the first (target <= 5 %)")
    print(
        f"peak memory added         {peak_added / 1e6:7.1f} MB = {peak_added / len(body):.1f}x the body (target <= 4x)"
    )


if __name__ == "__main__":
    main()
