""".env in the project root, read in a copy of the project so the real root's .env is never touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Variables these tests set, through .env or the environment; the rest of the environment is kept.
UNDER_TEST = {"DOTENV_PATH", "SECRET_KEY", "SECRET_KEY_FILE", "DEBUG", "DATABASE_URL", "REDIS_URL", "PORT"}
UNDER_TEST |= {"RATELIMIT_REQUESTS_PER_HOUR", "API_KEY_CACHE_SECONDS", "ALLOWED_HOSTS"}
DOTENV = """\
# A comment line
SECRET_KEY=from-the-env-file
RATELIMIT_REQUESTS_PER_HOUR=7
export API_KEY_CACHE_SECONDS=60
ALLOWED_HOSTS='health.example.org,localhost'
PORT=9999
"""
SHOW_SETTINGS = (
    "from django.conf import settings\n"
    "print(settings.SECRET_KEY, settings.RATELIMIT_REQUESTS_PER_HOUR, settings.API_KEY_CACHE_SECONDS,"
    " ','.join(settings.ALLOWED_HOSTS))"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The project with its own healthexport/ (whose settings find .env beside it) and a .env."""
    shutil.copytree(ROOT / "healthexport", tmp_path / "healthexport", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", tmp_path)  # not a link: Python would import from where it points
    for name in ("accounts", "audit", "ingest", "metrics", "templates"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / ".env").write_text(DOTENV)
    return tmp_path


def run(project: Path, command: list[str], **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in UNDER_TEST}
    return subprocess.run(
        command, cwd=project, env={**clean, **env}, capture_output=True, text=True, timeout=120, check=False
    )


def manage_shell(project: Path, **env: str) -> subprocess.CompletedProcess:
    return run(project, [sys.executable, "manage.py", "shell", "--no-imports", "-c", SHOW_SETTINGS], **env)


def test_settings_read_the_env_file_in_the_project_root(project):
    result = manage_shell(project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["from-the-env-file", "7", "60", "health.example.org,localhost"]


def test_the_environment_wins_over_the_env_file(project):
    result = manage_shell(project, SECRET_KEY="from-the-environment", RATELIMIT_REQUESTS_PER_HOUR="9")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["from-the-environment", "9", "60", "health.example.org,localhost"]


def test_an_empty_dotenv_path_reads_no_file(project):
    result = manage_shell(project, DOTENV_PATH="")
    assert result.returncode == 1
    assert "SECRET_KEY is required" in result.stderr


def test_dotenv_path_names_another_file(project, tmp_path_factory):
    other = tmp_path_factory.mktemp("elsewhere") / "healthexport.env"
    other.write_text("SECRET_KEY=from-elsewhere\n")
    result = manage_shell(project, DOTENV_PATH=str(other))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["from-elsewhere", "100", "300", "127.0.0.1,localhost"]


def test_run_sh_gets_the_env_file_as_shell_exports_under_the_environment(project):
    """scripts/run.sh evaluates these exports: its own checks (SECRET_KEY, HOST, PORT) see .env too."""
    (project / ".env").write_text("SECRET_KEY=from-the-env-file\nPORT=9999\nALLOWED_HOSTS='a b\"c $HOME'\n")
    script = 'eval "$(python -m healthexport.dotenv)"; printf "%s\\n" "$SECRET_KEY" "$PORT" "$ALLOWED_HOSTS"'
    result = run(
        project, ["bash", "-c", script], PORT="8201", PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["from-the-env-file", "8201", 'a b"c $HOME']
