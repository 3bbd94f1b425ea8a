"""End to end: `make all` in a copy of the project builds every output, then rebuilds only what changed.

The copy shares this project's virtual environment (VENV=...), so the test measures the pipeline, not
the installer; `.ci/run` exercises the installer on a clean clone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT

pytestmark = pytest.mark.slow

IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "*.tmp"
)
# Outputs every `make all` must produce (a reviewer checks these names in the README too).
EXPECTED_OUTPUTS = [
    "data/processed/responses_coordinator.parquet",
    "data/processed/responses_partner.parquet",
    "data/processed/manifest.json",
    "data/processed/valid_coordinator.parquet",
    "data/processed/valid_partner.parquet",
    "data/processed/rejected.csv",
    "data/processed/validation_report.json",
    "data/processed/analysis_base.parquet",
    "analysis/tables/scale_reliability.csv",
    "analysis/tables/estimates.csv",
    "analysis/tables/comparisons.csv",
    "analysis/tables/maturity_sensitivity.csv",
    "analysis/tables/power.csv",
    "analysis/tables/summary.md",
    "analysis/manifest.json",
]
# Outputs that must be byte-identical between runs (the manifest records the git state, which differs
# between a checkout and a copy, so it is compared separately).
DETERMINISTIC = [path for path in EXPECTED_OUTPUTS if path != "data/processed/manifest.json"]


def _make(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    return subprocess.run(
        ["make", f"VENV={sys.prefix}", *arguments],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("project") / "lsp"
    shutil.copytree(PROJECT_ROOT, copy, ignore=IGNORED)
    for generated in ("data/processed", "analysis", "figures"):
        folder = copy / generated
        if folder.exists():
            for path in folder.rglob("*"):
                if path.is_file() and path.name != ".gitkeep":
                    path.unlink()
    result = _make(copy, "all")
    assert result.returncode == 0, result.stdout + result.stderr
    return copy


def _snapshot(project: Path) -> dict[str, bytes]:
    return {path: (project / path).read_bytes() for path in DETERMINISTIC}


def test_make_all_builds_every_output(project):
    missing = [path for path in EXPECTED_OUTPUTS if not (project / path).exists()]
    assert missing == []


def test_a_second_make_all_does_nothing(project):
    result = _make(project, "all")
    assert result.returncode == 0
    assert "Nothing to be done for 'all'" in result.stdout
    assert _make(project, "-q", "all").returncode == 0


def test_touching_one_stage_reruns_it_and_what_follows_only(project):
    time.sleep(1.1)  # file systems with one-second timestamps
    (project / "pipeline/derive.py").touch()
    result = _make(project, "all")
    assert result.returncode == 0, result.stderr
    assert "pipeline.derive" in result.stdout
    assert "pipeline.ingest" not in result.stdout
    assert "pipeline.validate" not in result.stdout


def test_parallel_make_gives_the_same_outputs(project):
    before = _snapshot(project)
    assert _make(project, "clean").returncode == 0
    result = _make(project, "-j2", "all")
    assert result.returncode == 0, result.stderr
    after = _snapshot(project)
    assert [path for path in DETERMINISTIC if before[path] != after[path]] == []
