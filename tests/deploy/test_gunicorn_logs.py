"""One log format: what a gunicorn with deploy/gunicorn.conf.py writes, read from its real output."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.serving import get, gunicorn


def serve_and_read_output(tmp_path: Path, **env: str) -> tuple[list[str], list[str]]:
    """Start gunicorn, ask for a missing page, stop it; its stdout and stderr lines."""
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "LOG_LEVEL"}}
    env = {
        **clean,
        "SECRET_KEY": "x",
        "DOTENV_PATH": "",
        "WEB_CONCURRENCY": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        **env,
    }
    stdout_path, stderr_path = tmp_path / "stdout", tmp_path / "stderr"
    with (
        stdout_path.open("w") as stdout,
        stderr_path.open("w") as stderr,
        gunicorn(env, stdout=stdout, stderr=stderr) as base,
    ):
        assert get(f"{base}/nowhere")[0] == 404
    return stdout_path.read_text().splitlines(), stderr_path.read_text().splitlines()


def test_every_line_is_json_on_stdout_when_debug_is_off(tmp_path):
    stdout, stderr = serve_and_read_output(tmp_path, DEBUG="0")
    assert stderr == []
    entries = [json.loads(line) for line in stdout]  # each line is one JSON object, or this fails
    gunicorn_messages = [entry["message"] for entry in entries if entry["logger"] == "gunicorn.error"]
    assert any(message.startswith("Listening at: http://127.0.0.1:") for message in gunicorn_messages)
    assert any(message.startswith("Booting worker") for message in gunicorn_messages)
    assert "Shutting down: Master" in gunicorn_messages
    [access] = [entry for entry in entries if entry["logger"] == "healthexport.access"]
    assert access["path"] == "/nowhere" and access["status"] == 404
    assert all(set(entry) >= {"time", "level", "request_id"} for entry in entries)


def test_debug_keeps_gunicorn_plain_lines(tmp_path):
    _, stderr = serve_and_read_output(tmp_path, DEBUG="1")
    assert any("[INFO] Listening at: http://127.0.0.1:" in line for line in stderr)
    assert not any(line.startswith("{") for line in stderr)
