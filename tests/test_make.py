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
    "analysis/report.html",
]


def _make_variable(name: str) -> list[str]:
    result = subprocess.run(
        ["make", "--no-print-directory", "--eval", f"print-variable: ; @echo $({name})", "print-variable"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.split()


# Every figure's png, svg, csv and caption, as the Makefile names them.
FIGURE_FILES = _make_variable("FIGURES")
EXPECTED_OUTPUTS += FIGURE_FILES
# Nothing the pipeline writes carries a timestamp; the manifests record the git commit, the same for two
# clones of one commit (and absent in these copies, which leave .git out). So every output is compared.
DETERMINISTIC = list(EXPECTED_OUTPUTS)


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


def fresh_copy(destination: Path) -> Path:
    """A copy of the project as a clean clone has it: no generated outputs, no caches, no .git."""
    copy = destination / "lsp"
    shutil.copytree(PROJECT_ROOT, copy, ignore=IGNORED)
    for generated in ("data/processed", "analysis", "figures"):
        folder = copy / generated
        if folder.exists():
            for path in folder.rglob("*"):
                if path.is_file() and path.name != ".gitkeep":
                    path.unlink()
    return copy


def snapshot(project: Path) -> dict[str, bytes]:
    return {path: (project / path).read_bytes() for path in DETERMINISTIC}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    copy = fresh_copy(tmp_path_factory.mktemp("project"))
    result = _make(copy, "all")
    assert result.returncode == 0, result.stdout + result.stderr
    return copy


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
    for stage in ("pipeline.derive", "pipeline.analyse", "pipeline.figures", "pipeline.report"):
        assert f"-m {stage}" in result.stdout
    assert "pipeline.ingest" not in result.stdout
    assert "pipeline.validate" not in result.stdout


def test_touching_one_figure_module_redraws_that_figure_only(project):
    time.sleep(1.1)
    (project / "pipeline/figures/forest.py").touch()
    result = _make(project, "all")
    assert result.returncode == 0, result.stderr
    drawn = [
        line for line in result.stderr.splitlines() + result.stdout.splitlines() if "wrote figures/" in line
    ]
    assert len(drawn) == 1 and "figures/forest." in drawn[0]
    assert "pipeline.analyse" not in result.stdout
    assert _make(project, "-q", "all").returncode == 0


def test_two_clean_copies_with_j1_and_j2_give_identical_bytes(project, tmp_path_factory):
    """A second clean copy, built in parallel (-j2), against the first, built serially."""
    second = fresh_copy(tmp_path_factory.mktemp("second"))
    result = _make(second, "-j2", "all")
    assert result.returncode == 0, result.stdout + result.stderr
    first, other = snapshot(project), snapshot(second)
    assert [path for path in DETERMINISTIC if first[path] != other[path]] == []
