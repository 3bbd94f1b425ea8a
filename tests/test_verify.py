"""Verify: passes on figure CSVs made from the same data, names the figure when one number is changed."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from pipeline.checks.verify import Data, verify
from pipeline.core.io import write_csv
from pipeline.core.paths import PROJECT_ROOT
from tests.test_figures import toy_inputs, toy_workspace

# Its costly fixtures are session-scoped and one worker runs the whole module: they are computed once
# (a module-scoped fixture is torn down and rebuilt whenever the worker interleaves another module).
pytestmark = pytest.mark.xdist_group("verify")

# One figure of each kind of recomputation (estimates, Likert shares, differences, counts).
CHECKED = (
    "challenge",
    "resources_mapped",
    "maturity_profile",
    "likert_standards_tier",
    "forest",
    "coverage",
    "case_studies",
    "nonresponse",
)


@pytest.fixture(scope="session")
def figures_dir(tmp_path_factory):
    """The figures' CSVs only: verify reads nothing else, so no drawing is needed."""
    from pipeline.figures import build_figure, registry

    inputs = toy_inputs()
    specs = registry(inputs.codebook)
    out = tmp_path_factory.mktemp("figures")
    for name in CHECKED:
        write_csv(build_figure(specs[name], inputs).table, out / f"{name}.csv")
    return out


@pytest.fixture(scope="session")
def data(config, frame, codebook):
    return Data(pd.read_parquet(toy_workspace().base), frame, codebook, config)


@pytest.fixture(scope="module", autouse=True)
def differences_recomputed_once():
    """The forest plot's differences (its design-based models: about 3 CPU-s a figure) recomputed once per
    data, item and group in this module: a check that finds an altered number compares the figure with the
    same recomputed values the consistent figures passed against, so it still fails on any altered cell."""
    from pipeline.checks import verify as module

    recompute = module.recompute_difference
    done: dict[tuple, dict] = {}

    def once(data: Data, instrument: str, item: str, group: str) -> dict:
        key = (id(data), instrument, item, group)
        if key not in done:
            done[key] = recompute(data, instrument, item, group)
        return dict(done[key])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "recompute_difference", once)
        yield


# The command line's contract (exit status, a MISMATCH line naming the figure and the column, OK for a
# consistent figure, one error line) on two figures: every figure's recomputation is checked in-process
# above and below, and the forest plot's alone (its models) costs about 4 CPU-s each time it is verified.
CLI_CHECKED = ("challenge", "coverage")


def _run(figures_dir) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.checks.verify",
            "--base",
            str(toy_workspace().base),
            "--figures-dir",
            str(figures_dir),
            *CLI_CHECKED,
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_verify_passes_on_consistent_figures(figures_dir, data):
    checks = verify(figures_dir, data, list(CHECKED))
    assert {c.name for c in checks} == set(CHECKED)
    for check in checks:
        assert check.problems == [], check.name
        assert check.numbers > 0, check.name


def test_verify_cli_fails_and_names_the_figure_with_one_altered_number(figures_dir, tmp_path):
    altered = tmp_path / "figures"
    altered.mkdir()
    for path in (figures_dir / f"{name}.csv" for name in CLI_CHECKED):
        (altered / path.name).write_bytes(path.read_bytes())
    table = pd.read_csv(altered / "challenge.csv", dtype={"suppressed": "string"})
    table.loc[0, "ci_high"] = table.loc[0, "ci_high"] * (1 + 1e-6)
    write_csv(table, altered / "challenge.csv")
    result = _run(altered)
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert any(line.startswith("verify: challenge: MISMATCH") and "ci_high" in line for line in lines)
    assert "verify: coverage: OK" in result.stdout
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: verify: 1 figure(s) disagree with the data: challenge"]


@pytest.mark.parametrize(
    ("name", "column"),
    [
        ("likert_standards_tier", "percentage"),
        ("forest", "estimate"),
        ("coverage", "respondents"),
        ("nonresponse", "response_rate"),
    ],
)
def test_verify_catches_an_altered_number_in_each_kind_of_figure(figures_dir, data, tmp_path, name, column):
    # Only the altered figure: the other figures' checks are covered above and cost time.
    table = pd.read_csv(figures_dir / f"{name}.csv", dtype={"suppressed": "string"})
    first = table.index[table["suppressed"].isna()][0]
    table.loc[first, column] = table.loc[first, column] + 1
    write_csv(table, tmp_path / f"{name}.csv")
    (check,) = verify(tmp_path, data, [name])
    assert check.name == name and check.problems
