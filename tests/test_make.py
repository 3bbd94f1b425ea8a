"""End to end: `make all` in a copy of the project builds every output, then rebuilds only what changed.

The built copy is the session's `built_project` (tests/conftest.py, tests/built_project.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.built_project import DETERMINISTIC, EXPECTED_OUTPUTS, fresh_copy, run_make, snapshot

# Every test that uses the session's built project runs on one xdist worker, which builds it once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("built_project")]


@pytest.fixture(scope="module")
def project(built_project: Path) -> Path:
    return built_project


def test_make_all_builds_every_output(project):
    missing = [path for path in EXPECTED_OUTPUTS if not (project / path).exists()]
    assert missing == []


def test_a_second_make_all_does_nothing(project):
    result = run_make(project, "all")
    assert result.returncode == 0
    assert "Nothing to be done for 'all'" in result.stdout
    assert run_make(project, "-q", "all").returncode == 0


def test_touching_one_stage_reruns_it_and_what_follows_only(project):
    time.sleep(1.1)  # file systems with one-second timestamps
    (project / "pipeline/stages/derive.py").touch()
    result = run_make(project, "all")
    assert result.returncode == 0, result.stderr
    for stage in (
        "pipeline.stages.derive",
        "pipeline.stages.analyse",
        "pipeline.figures",
        "pipeline.stages.report",
    ):
        assert f"-m {stage}" in result.stdout
    # derive and analyse wrote the same bytes again, so no figure needed redrawing.
    assert "0 of 25 figures out of date" in result.stderr
    assert "pipeline.stages.ingest" not in result.stdout
    assert "pipeline.stages.validate" not in result.stdout


def test_editing_one_figure_module_redraws_that_figure_only(project):
    time.sleep(1.1)
    module = project / "pipeline/figures/forest.py"
    original = module.read_bytes()
    module.write_bytes(original + b"# an edit that changes no number\n")
    try:
        result = run_make(project, "all")
        assert result.returncode == 0, result.stderr
        drawn = [line for line in result.stderr.splitlines() if "wrote figures/" in line]
        assert len(drawn) == 1 and "figures/forest." in drawn[0]
        assert "pipeline.stages.analyse" not in result.stdout
        assert run_make(project, "-q", "all").returncode == 0
    finally:
        module.write_bytes(original)
    # Back to the original contents, which forest was not last drawn from: forest alone again.
    result = run_make(project, "all")
    assert result.returncode == 0, result.stderr
    assert "1 of 25 figures out of date" in result.stderr


def test_two_clean_copies_with_j1_and_j2_give_identical_bytes(project, tmp_path_factory):
    """A second clean copy, built in parallel (-j2), against the first, built serially."""
    second = fresh_copy(tmp_path_factory.mktemp("second"))
    result = run_make(second, "-j2", "all")
    assert result.returncode == 0, result.stdout + result.stderr
    first, other = snapshot(project), snapshot(second)
    assert [path for path in DETERMINISTIC if first[path] != other[path]] == []
