"""Crash safety: `make all` killed with SIGKILL leaves nothing half-written that make would take as done.

Every stage writes a temporary file beside its target and renames it into place
(pipeline.core.io.atomic_path), so at any instant each output is either the previous complete file or the
new complete one. Because the outputs are deterministic, both are the bytes of an uninterrupted build: the
test kills `make all` twice (once mid-way through the statistics stages, once while a figure file is being
written), checks that every output present is byte-identical to the uninterrupted build, then lets `make
all` finish and compares all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.built_project import DETERMINISTIC, run_make, snapshot, wait_until_an_edit_is_newer

# The built project is made once per run and shared by every worker (tests/built_project.py).
pytestmark = pytest.mark.slow

OUTPUT_DIRS = ("data/processed", "analysis", "analysis/tables", "figures")


def _start_make(project: Path, log: Path) -> subprocess.Popen[bytes]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    with log.open("wb") as handle:
        return subprocess.Popen(
            ["make", f"VENV={sys.prefix}", "all"],
            cwd=project,
            env=environment,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so one killpg reaches make and its stage
        )


def _temporary_files(project: Path) -> list[Path]:
    return [path for folder in OUTPUT_DIRS for path in (project / folder).glob(".*.tmp")]


def _kill_when(process: subprocess.Popen[bytes], ready, timeout: float = 120.0) -> bool:
    """SIGKILL the whole process group as soon as ``ready()``; False if make finished first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if ready():
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.002)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    raise AssertionError("make all neither finished nor reached the kill point")


def _assert_no_partial_outputs(project: Path, reference: dict[str, bytes]) -> None:
    # An output present after the kill is a finished file: the old bytes or the new, which are equal.
    changed = [
        path
        for path in DETERMINISTIC
        if (project / path).exists() and (project / path).read_bytes() != reference[path]
    ]
    assert changed == []
    # What the kill interrupted is a hidden temporary file, which no make target names.
    for temporary in _temporary_files(project):
        assert temporary.name.startswith(".") and temporary.suffix == ".tmp"


def test_sigkill_mid_build_leaves_no_partial_output_and_the_rebuild_is_identical(scratch_project, tmp_path):
    project = scratch_project
    reference = snapshot(project)
    wait_until_an_edit_is_newer(project)
    # The measurement stage reruns (the cheapest statistics stage whose tables the report and the
    # spreadsheets read), and everything after it, the last of them serially (make -j1): the rebuilt bytes
    # are compared with the shared build, made with -j2, so this is also the check that -j1 and -j2 give
    # the same figures, report and spreadsheets. (Rerunning from ingest would add the other statistics
    # stages and redrawing every figure a minute of drawing, and test nothing the kills below do not.)
    (project / "pipeline/stages/measurement.py").touch()

    # Kill 1: once the measurement stage has started (its outputs not yet rewritten).
    log = tmp_path / "make-1.log"
    first = _start_make(project, log)
    assert _kill_when(first, lambda: b"-m pipeline measurement" in log.read_bytes())
    _assert_no_partial_outputs(project, reference)
    assert run_make(project, "-q", "all").returncode != 0  # make knows the build is unfinished

    # An edit to one figure module, so that figure is redrawn (the others' content is unchanged, so the
    # figure stage builds but does not draw them). It is a comment: the figure's bytes do not change. It
    # comes after the first kill because make -j2 may run the figure stage beside the measurement stage,
    # so an edit made before could already be drawn when the first kill comes.
    wait_until_an_edit_is_newer(project)
    module = project / "pipeline/figures/forest.py"
    module.write_bytes(module.read_bytes() + b"# edited by the crash test\n")

    # Kill 2: while a figure is being written (its temporary file exists).
    log = tmp_path / "make-2.log"
    second = _start_make(project, log)
    killed = _kill_when(second, lambda: any(p.parent.name == "figures" for p in _temporary_files(project)))
    assert killed, "make finished before any figure was written: " + log.read_text(errors="replace")
    _assert_no_partial_outputs(project, reference)
    assert run_make(project, "-q", "all").returncode != 0

    result = run_make(project, "-j1", "all")  # one stage at a time: the same bytes as the parallel build
    assert result.returncode == 0, result.stdout + result.stderr
    after = snapshot(project)
    assert [path for path in DETERMINISTIC if after[path] != reference[path]] == []
    assert run_make(project, "-q", "all").returncode == 0
