"""A database of a bench's own on the server of DATABASE_URL, made afresh each run: a schema left
by an older migration would make the figures lie. Imported by the bench scripts beside it."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit


def bench_url(name: str) -> str:
    """DATABASE_URL (or the local server) with the database ``name``."""
    url = urlsplit(os.environ.get("DATABASE_URL") or "postgis://postgres:postgres@127.0.0.1:5432/postgres")
    return urlunsplit(url._replace(path=f"/{name}"))


def create_database(name: str) -> None:
    """Drop ``name`` (ending its connections) and create it empty."""
    import psycopg

    url = urlsplit(bench_url(name))
    with psycopg.connect(
        host=url.hostname,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
