"""gunicorn with deploy/gunicorn.conf.py on a free loopback port, for tests of the real server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310  (a loopback URL we built)
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


@contextmanager
def gunicorn(
    env: dict[str, str], *, stdout: IO[str] | int = subprocess.DEVNULL, stderr: IO[str] | int = subprocess.DEVNULL
) -> Iterator[str]:
    """Serve until /health answers 200 and yield the base URL; stop gracefully (SIGTERM) after."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "healthexport.wsgi", "--config", "deploy/gunicorn.conf.py"]
    server = subprocess.Popen(
        [*command, "--bind", f"127.0.0.1:{port}"], cwd=ROOT, env=env, stdout=stdout, stderr=stderr
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(f"{base}/health")[0] == 200:
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
