"""An instrument with no rows stops every stage in one line naming the file, never a traceback (issue 21).

A header-only export, or a config that lists no file for an instrument, used to pass ingest, validate and
derive with exit status 0 and break analyse with a TypeError in the design weights. Ingest now refuses it;
each later stage refuses it again if handed such a file (pipeline/study/respondents.py).
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline.cli import COMMANDS
from pipeline.core.errors import PipelineError
from pipeline.core.io import run_stage
from pipeline.core.paths import PROJECT_ROOT
from tests.built_project import run_make

NEEDS_BOTH = "every table needs both instruments"
COORDINATOR_EXPORT = PROJECT_ROOT / "data/raw/synthetic_coordinator_survey_2008.csv"
PARTNER_EXPORT = {
    "path": str(PROJECT_ROOT / "data/raw/synthetic_partner_survey_2008.xlsx"),
    "instrument": "partner",
    "sheet": "responses",
}


def _refusal(capsys: pytest.CaptureFixture[str], command: str, argv: list[str]) -> str:
    """Run a stage's command line in this process; it must exit 2 with one error line and no traceback
    (any exception but the stage's own PipelineError would escape here and fail the test)."""
    module = importlib.import_module(COMMANDS[command].module)
    with pytest.raises(SystemExit) as stopped:
        run_stage(command, module.main, argv)
    assert stopped.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    return errors[0]


def _header_only(folder: Path) -> Path:
    header = COORDINATOR_EXPORT.read_text(encoding="utf-8").splitlines()[0]
    path = folder / "coordinators.csv"
    path.write_text(header + "\n", encoding="utf-8")
    return path


def test_ingest_refuses_a_header_only_export(write_config, tmp_path, capsys):
    export = _header_only(tmp_path)
    config = write_config([{"path": str(export), "instrument": "coordinator"}, PARTNER_EXPORT])
    line = _refusal(capsys, "ingest", ["--config", str(config)])
    assert line == f"error: ingest: {export.as_posix()}: no coordinator rows; {NEEDS_BOTH}"
    assert not (tmp_path / "processed" / "responses_partner.parquet").exists()


def test_ingest_refuses_a_config_that_lists_no_export_of_an_instrument(write_config, capsys):
    config = write_config([PARTNER_EXPORT])
    line = _refusal(capsys, "ingest", ["--config", str(config)])
    assert line == (
        f"error: ingest: {config.as_posix()} (dataset.inputs lists no coordinator export): "
        f"no coordinator rows; {NEEDS_BOTH}"
    )


def _empty_responses(folder: Path, name: str) -> Path:
    from pipeline.core.codebook import load_codebook
    from pipeline.stages.ingest import empty_responses

    codebook = load_codebook(PROJECT_ROOT / "data/raw/codebook.yaml")
    path = folder / name
    empty_responses(codebook, "coordinator").to_parquet(path)
    return path


def test_validate_refuses_an_empty_instrument_table(tmp_path, capsys):
    path = _empty_responses(tmp_path, "responses_coordinator.parquet")
    line = _refusal(capsys, "validate", ["--in-dir", str(tmp_path), "--out-dir", str(tmp_path / "out")])
    assert line == f"error: validate: {path.as_posix()}: no coordinator rows; {NEEDS_BOTH}"


def test_derive_refuses_an_empty_instrument_table(tmp_path, capsys):
    path = _empty_responses(tmp_path, "valid_coordinator.parquet")
    arguments = ["--coordinator", str(path), "--partner", str(tmp_path / "unread.parquet")]
    arguments += ["--out", str(tmp_path / "base.parquet"), "--reliability", str(tmp_path / "r.csv")]
    line = _refusal(capsys, "derive", arguments)
    assert line == f"error: derive: {path.as_posix()}: no coordinator rows; {NEEDS_BOTH}"


@pytest.fixture
def partners_only_base(tmp_path: Path) -> Path:
    """An analysis base whose rows are all partners (the refusal reads nothing else)."""
    path = tmp_path / "analysis_base.parquet"
    pd.DataFrame({"respondent_id": ["P1", "P2"], "respondent_type": ["partner", "partner"]}).to_parquet(path)
    return path


@pytest.mark.parametrize(
    ("command", "out"),
    [
        ("analyse", ["--out-dir"]),
        ("nonresponse", ["--out-dir"]),
        ("models", ["--out-dir"]),
        ("measurement", ["--out"]),
        ("figures", ["--tables-dir", "{tmp}", "--out-dir"]),
    ],
)
def test_every_stage_reading_the_analysis_base_refuses_one_without_an_instrument(
    command, out, partners_only_base, tmp_path, capsys
):
    arguments = [
        "--base",
        str(partners_only_base),
        *(o.format(tmp=tmp_path) for o in out),
        str(tmp_path / "o"),
    ]
    if command == "figures":
        arguments.append("coverage")  # drawn from the analysis base and the frame only
    line = _refusal(capsys, command, arguments)
    assert line == f"error: {command}: {partners_only_base.as_posix()}: no coordinator rows; {NEEDS_BOTH}"


def test_the_design_weights_refuse_a_base_without_an_instrument(frame):
    """Where analyse used to fail with `TypeError ... truediv ... str`."""
    from pipeline.study.designs import design_columns

    base = pd.DataFrame({"respondent_type": ["coordinator"], "authority_type": ["county"], "lsp_id": ["x"]})
    with pytest.raises(PipelineError, match=f"^the analysis base: no partner rows; {NEEDS_BOTH}$"):
        design_columns(base, frame)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["report-tables", "report", "spreadsheets"])
def test_the_report_and_the_spreadsheets_refuse_estimates_without_an_instrument(
    command, built_project, tmp_path, capsys
):
    tables = tmp_path / "tables"
    shutil.copytree(built_project / "analysis/tables", tables)
    estimates = pd.read_csv(tables / "estimates.csv", keep_default_na=False, dtype=str)
    estimates[estimates["instrument"] != "coordinator"].to_csv(tables / "estimates.csv", index=False)
    arguments = ["--tables", str(tables)]
    if command == "report":
        arguments += ["--figures", str(built_project / "figures"), "--out", str(tmp_path / "report.html")]
        arguments += ["--dictionary", str(tmp_path / "dictionary.html")]
    elif command == "report-tables":
        arguments += ["--out", str(tmp_path / "report_tables.json")]
    else:
        arguments += ["--out", str(tmp_path)]
    line = _refusal(capsys, command, arguments)
    path = (tables / "estimates.csv").as_posix()
    assert line == f"error: {command}: {path}: no coordinator rows; {NEEDS_BOTH}"


@pytest.mark.slow
def test_make_all_with_a_header_only_export_stops_at_ingest_in_one_line(scratch_project):
    project = scratch_project
    export = project / "data/raw/synthetic_coordinator_survey_2008.csv"
    export.write_text(export.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    result = run_make(project, "all")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: ingest: data/raw/synthetic_coordinator_survey_2008.csv: no coordinator rows; {NEEDS_BOTH}"
    ]
    # Nothing was taken for finished: make still sees the chain out of date.
    assert run_make(project, "-q", "all").returncode != 0
