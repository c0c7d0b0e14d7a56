"""What the make targets install, read from `make -n` in a copy of the Makefile: nothing is installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENT_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv").mkdir()
    return tmp_path


def install_stamps(project: Path, *names: str) -> float:
    """Mark these venv installs done, newer than the requirements files; returns their time."""
    stamp_time = max((project / name).stat().st_mtime for name in ("requirements.txt", "requirements-dev.txt")) + 10
    for name in names:
        (project / ".venv" / name).touch()
        os.utime(project / ".venv" / name, (stamp_time, stamp_time))
    return stamp_time


def pip_installs(project: Path, target: str) -> list[str]:
    """The requirements files `make <target>` would pip-install, in order."""
    # A make running this test must not pass its flags (or its jobserver) to ours.
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    result = subprocess.run(["make", "-n", target], cwd=project, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [line.split(" -r ", 1)[1] for line in result.stdout.splitlines() if "pip install" in line]


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        if match := REQUIREMENT_NAME.match(line.strip()):
            names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


def test_make_run_installs_the_runtime_requirements_only(project):
    assert pip_installs(project, "run") == ["requirements.txt"]


@pytest.mark.parametrize("target", ["test", "lint", "bench"])
def test_checking_targets_add_the_dev_requirements(project, target):
    assert pip_installs(project, target) == ["requirements.txt", "requirements-dev.txt"]


def test_a_make_run_venv_gets_only_the_dev_requirements_added(project):
    install_stamps(project, ".installed")
    assert pip_installs(project, "test") == ["requirements-dev.txt"]


def test_an_installed_dev_venv_is_not_installed_again(project):
    install_stamps(project, ".installed", ".installed-dev")
    assert pip_installs(project, "test") == []
    assert pip_installs(project, "run") == []


def test_a_changed_runtime_requirement_is_installed_again(project):
    stamp_time = install_stamps(project, ".installed", ".installed-dev")
    os.utime(project / "requirements.txt", (stamp_time + 10, stamp_time + 10))
    assert pip_installs(project, "run") == ["requirements.txt"]
    assert pip_installs(project, "test") == ["requirements.txt", "requirements-dev.txt"]


def test_no_test_tool_is_a_runtime_requirement():
    runtime = requirement_names(ROOT / "requirements.txt")
    dev_only = requirement_names(ROOT / "requirements-dev.txt")
    assert {"pytest", "ruff", "schemathesis", "hypothesis", "kubernetes-validate"} <= dev_only
    assert "django" in runtime
    assert runtime.isdisjoint(dev_only)
