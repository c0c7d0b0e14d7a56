"""The import contracts in pyproject.toml hold, and a forbidden import breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("healthexport", "accounts", "audit", "ingest", "metrics")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=120, check=False
    )


def copy_tree(destination: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, destination / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", destination / "pyproject.toml")
    return destination


def test_the_layers_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_audit_import_of_another_app_breaks_the_build(tmp_path):
    tree = copy_tree(tmp_path)
    models = tree / "audit" / "models.py"
    models.write_text(models.read_text() + "\nfrom accounts.models import ApiKey  # noqa\n")

    result = lint_imports(tree)

    assert result.returncode != 0
    assert "Apps depend one way" in result.stdout and "BROKEN" in result.stdout


def test_a_helper_importing_an_app_breaks_the_build(tmp_path):
    tree = copy_tree(tmp_path)
    helper = tree / "healthexport" / "lib" / "cursors.py"
    helper.write_text(helper.read_text() + "\nimport metrics.models  # noqa\n")

    result = lint_imports(tree)

    assert result.returncode != 0
    assert "The plain helpers import no app" in result.stdout
