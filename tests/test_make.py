"""End to end: `make all` in a copy of the project builds every output, then rebuilds only what changed.

The built copy is the run's `built_project` (tests/conftest.py, tests/built_project.py), read-only; a test
that edits files or rebuilds works on its own `scratch_project`, a copy with the build's timestamps, so the
tests run on any worker in any order. Where a test asks only which rules are out of date, it asks make
(`make -n`, which still remakes the generated makefiles and the config slices) instead of rebuilding.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.built_project import EXPECTED_OUTPUTS, make_variable, run_make, wait_until_an_edit_is_newer

# The built project is made once per run and shared by every worker (tests/built_project.py).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(built_project: Path) -> Path:
    return built_project


def test_make_all_writes_exactly_the_registered_outputs(project):
    """Every file the output registry declares, and nothing else (hidden bookkeeping files aside)."""
    written = sorted(
        path.relative_to(project).as_posix()
        for folder in ("data/processed", "analysis", "figures")
        for path in (project / folder).rglob("*")
        if path.is_file() and not path.name.startswith(".")
    )
    assert written == sorted(EXPECTED_OUTPUTS)


def test_every_figure_csv_has_the_registered_columns(project):
    from pipeline.core.codebook import load_codebook
    from pipeline.study.outputs import figures

    for figure in figures(load_codebook(project / "data/raw/codebook.yaml")):
        header = (project / "figures" / f"{figure.name}.csv").read_text(encoding="utf-8").split("\n", 1)[0]
        assert header.split(",") == [column.name for column in figure.columns], figure.name


def test_a_second_make_all_does_nothing(project):
    result = run_make(project, "all")
    assert result.returncode == 0
    assert "Nothing to be done for 'all'" in result.stdout
    assert run_make(project, "-q", "all").returncode == 0


def test_touching_one_stage_reruns_it_and_what_follows_only(scratch_project):
    project = scratch_project
    wait_until_an_edit_is_newer(project)
    # The analysis stage: mid-chain, so there are stages before it that must not rerun and the figures
    # after it, which must be checked but not redrawn.
    (project / "pipeline/stages/analyse.py").touch()
    result = run_make(project, "figures")
    assert result.returncode == 0, result.stderr
    assert stages_run(result) == ["analyse", "figures"]
    # The analysis wrote the same bytes again, so no figure needed redrawing.
    assert re.search(r"\b0 of \d+ figures out of date", result.stderr)
    # What follows and reads its tables is out of date, and nothing else (make is asked, not run: the
    # report's tables, the report and the spreadsheets would run as the figure stage just did).
    assert _would_run(project) == {"report-tables", "report", "spreadsheets"}


def _would_run(project: Path) -> set[str]:
    """The pipeline commands `make all` would run now (a dry run)."""
    result = run_make(project, "-n", "all")
    assert result.returncode == 0, result.stderr
    return _commands_run(result.stdout)


def _commands_run(make_output: str) -> set[str]:
    """The pipeline commands a make run executed, from the command lines it echoed."""
    return set(re.findall(r"-m pipeline (\S+)", make_output))


def test_editing_the_study_vocabulary_reruns_every_stage_that_imports_it(scratch_project):
    """The old stale-output bug: the vocabulary (then pipeline/frame.py) was in neither the validate nor the
    analyse rule, so editing it left the validated data and the tables stale."""
    project = scratch_project
    assert _would_run(project) == set()
    wait_until_an_edit_is_newer(project)
    module = project / "pipeline/study/vocabulary.py"
    module.write_bytes(module.read_bytes() + b"# an edit that changes no name\n")
    assert {"ingest", "validate", "derive", "analyse", "figures", "report"} <= _would_run(project)


def test_editing_one_figure_module_redraws_that_figure_only(scratch_project):
    """A comment in a figure module redraws that figure, whose files come out the same bytes: they keep
    their times, so nothing made from them reruns (the report embeds them). An edit that changes the
    figure's pixels rewrites its image files, and then the report is out of date."""
    project = scratch_project
    images = [project / "figures/forest.png", project / "figures/forest.svg"]
    before = {path: path.stat().st_mtime_ns for path in project.glob("figures/*") if path.is_file()}
    wait_until_an_edit_is_newer(project)
    module = project / "pipeline/figures/forest.py"
    original = module.read_text(encoding="utf-8")
    module.write_text(original + "# an edit that changes no number\n", encoding="utf-8")
    result = run_make(project, "figures")
    assert result.returncode == 0, result.stderr
    drawn = [line for line in result.stderr.splitlines() if re.search(r"(wrote|drew) figures/", line)]
    assert len(drawn) == 1 and "drew figures/forest." in drawn[0] and "the same bytes, kept" in drawn[0]
    assert re.search(r"\b1 of \d+ figures out of date", result.stderr)
    assert stages_run(result) == ["figures"]
    # Not one figure file was rewritten or touched (the stage's bookkeeping, hidden, was).
    after = {path: path.stat().st_mtime_ns for path in before if not path.name.startswith(".")}
    assert after == {path: time for path, time in before.items() if not path.name.startswith(".")}
    assert run_make(project, "-q", "all").returncode == 0
    # Nothing is left to run (make is asked, not run), and a second make does nothing.
    assert _would_run(project) == set()
    assert "Nothing to be done for 'all'" in run_make(project, "all").stdout

    wait_until_an_edit_is_newer(project)
    edited = original.replace(
        'geom_vline_once(xintercept=0, colour="#444444"', 'geom_vline_once(xintercept=0, colour="#333333"'
    )
    assert edited != original
    module.write_text(edited, encoding="utf-8")
    result = run_make(project, "figures")
    assert result.returncode == 0, result.stderr
    assert figures_drawn(result) == ["forest"]
    assert all(path.stat().st_mtime_ns > before[path] for path in images)
    # The report shows the new picture: it is out of date now, and only it.
    assert _would_run(project) == {"report"}
    # When it runs, the spreadsheets and the report's tables, which rest on no figure, do not.
    result = run_make(project, "all")
    assert result.returncode == 0, result.stderr
    assert not {"report-tables", "spreadsheets"} & set(stages_run(result))


def stages_run(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The commands a make run echoed, in order (the silent bookkeeping commands are not echoed)."""
    return re.findall(r"-m pipeline ([\w-]+)", result.stdout)


def figures_drawn(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The figures whose files were rewritten."""
    return sorted(re.findall(r"wrote figures/(\w+)\.\{png", result.stderr))


# The figures that show maturity: the Likert charts by maturity, the forest plot and the maturity profile.
MATURITY_FIGURES = sorted(
    [name for name in make_variable("LIKERT_FIGURES") if name.endswith("_maturity")]
    + ["forest", "maturity_profile"]
)


def test_a_config_key_reruns_only_what_reads_it(scratch_project):
    """A new maturity.primary redraws the maturity figures only: the tier figures show nothing that depends
    on it. Which stages rerun for which key is tests/test_config_reads.py's (from the recorded reads)."""
    project = scratch_project
    wait_until_an_edit_is_newer(project)
    config = project / "config.yaml"
    original = config.read_text(encoding="utf-8")
    edited = original.replace("primary: development_stage", "primary: years_joint_working").replace(
        "alternatives: [years_joint_working,", "alternatives: [development_stage,"
    )
    assert edited.count("years_joint_working") == original.count("years_joint_working")
    # A comment in config.yaml reruns nothing but the report, which shows the whole file (not its tables:
    # report-tables reads only the keys they rest on; make is asked, not run).
    config.write_text(original + "# a comment\n", encoding="utf-8")
    assert _would_run(project) == {"report"}
    wait_until_an_edit_is_newer(project)
    config.write_text(edited, encoding="utf-8")
    result = run_make(project, "figures")
    assert result.returncode == 0, result.stderr
    assert stages_run(result) == ["analyse", "figures"]
    assert figures_drawn(result) == MATURITY_FIGURES
    assert run_make(project, "-q", "figures").returncode == 0


def test_registering_a_figure_draws_that_figure_only(scratch_project):
    project = scratch_project
    wait_until_an_edit_is_newer(project)
    registry = project / "pipeline/study/outputs/figures.py"
    original = registry.read_text(encoding="utf-8")
    end = "    return tuple(specs)\n"
    added = (
        '    specs.append(Figure("barriers_again", "barriers", (ESTIMATES,), "estimates", ESTIMATE_FIGURE))\n'
    )
    assert original.count(end) == 1
    registry.write_text(original.replace(end, added + end), encoding="utf-8")
    # The figure stage only: the report refuses a figure no section shows, as it should.
    result = run_make(project, "figures")
    assert result.returncode == 0, result.stderr
    assert re.search(r"\b1 of \d+ figures out of date", result.stderr)
    assert figures_drawn(result) == ["barriers_again"]


def test_make_uses_every_core_even_where_openmp_is_limited_to_one_thread(monkeypatch):
    """`make all` runs -j<cores>. nproc alone would print 1 wherever OMP_NUM_THREADS=1, which the
    pipeline sets for its own processes: every make started from Python (the bench, these tests) and
    every shell of a cluster that sets it would build one stage at a time."""
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("OMP_THREAD_LIMIT", "1")
    assert make_variable("JOBS") == [str(cores)]
