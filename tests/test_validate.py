"""Validate stage: generated schemas, planted faults reported exactly, cross-table checks, reconciliation."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from pipeline.core.config import load_config
from pipeline.core.errors import PipelineError
from pipeline.core.paths import PROJECT_ROOT
from pipeline.stages.ingest import build_manifest, empty_responses, ingest, write_outputs
from pipeline.stages.validate import REJECTED_COLUMNS, _prepare, reconciliation_lines, validate
from pipeline.study.frame import check_frame
from pipeline.study.schemas import (
    TEXT,
    ensure_validation_enabled,
    failures,
    frame_schema,
    response_schema,
)
from pipeline.study.vocabulary import AUTHORITY_TIERS
from tests.fixtures.survey_exports import code_rows, expected_tidy, to_labels, write_csv_export


def _tidy(codebook, instrument, codes, file="data/raw/test.csv"):
    table = expected_tidy(codebook, instrument, codes)
    table["source_file"] = pd.Series(file, index=table.index, dtype="string")
    table["source_row"] = pd.array(range(2, len(table) + 2), dtype="Int64")
    return table


@pytest.fixture
def clean(codebook, lsp_ids):
    """Clean tidy tables: 12 coordinators (distinct LSPs) and 20 partners."""
    return {
        "coordinator": _tidy(codebook, "coordinator", code_rows(codebook, "coordinator", 12, lsp_ids, 5)),
        "partner": _tidy(
            codebook,
            "partner",
            code_rows(codebook, "partner", 20, lsp_ids[:6], 6),
            "data/raw/p.xlsx",
        ),
    }


def _faults(result):
    return set(result.rejected[["row", "column", "check"]].itertuples(index=False, name=None))


# ---------------------------------------------------------------------------------- schemas


def test_schemas_are_generated_from_the_codebook(codebook):
    for instrument in codebook.instruments:
        schema = response_schema(codebook, instrument)
        assert list(schema.columns) == codebook.columns(instrument)
        for variable in codebook.for_instrument(instrument):
            if variable.is_coded:
                (check,) = schema.columns[variable.name].checks
                assert sorted(check.statistics["allowed_values"]) == sorted(
                    str(c) for c in variable.allowed_codes
                )


def test_a_table_of_no_rows_passes_every_schema(codebook):
    # validate does not run the schema over an instrument with no rows (row_failures): this is why.
    for instrument in codebook.instruments:
        empty = _prepare(empty_responses(codebook, instrument), codebook, instrument, "responses")
        assert failures(response_schema(codebook, instrument), empty).empty


@pytest.mark.parametrize(
    "values",
    [
        pd.array(["1", "2", None], dtype="string"),  # ingest's text: passes
        pd.Series(["1", "2", None], dtype=pd.StringDtype("python")),  # other storage: the column fails
        pd.Series([1, 2, 3]),  # numbers: every cell fails
        pd.Series(["1", 3, None], dtype=object),  # mixed objects: the one number fails
        pd.Series([], dtype=object),  # no rows of objects: the column fails
    ],
    ids=["string", "python-storage", "integers", "objects", "empty-objects"],
)
def test_the_text_dtype_fails_exactly_where_panderas_string_dtype_fails(values):
    """The schemas' text dtype (``TEXT``) answers a passing column in one word; on every other column its
    failures are pandera's own "string" dtype's, cell for cell."""
    import pandera.pandas as pa

    def found(dtype):
        schema = pa.DataFrameSchema({"x": pa.Column(dtype, pa.Check.isin(["1"]), nullable=True)})
        return failures(schema, pd.DataFrame({"x": values})).to_dict("records")

    assert found(TEXT) == found("string")
    passes = isinstance(values, pd.arrays.ArrowStringArray)
    assert any(line["check"].startswith("dtype(") for line in found(TEXT)) != passes


def test_the_real_frame_passes_its_schema(frame):
    assert failures(frame_schema(), frame).empty
    assert set(frame["authority_type"]) == set(AUTHORITY_TIERS)


def test_clean_tables_are_all_valid_and_typed(codebook, frame, clean):
    result = validate(clean, frame, codebook)
    assert result.rejected.empty and list(result.rejected.columns) == REJECTED_COLUMNS
    valid = result.valid["coordinator"]
    assert len(valid) == 12 and len(result.valid["partner"]) == 20
    for variable in codebook.for_instrument("coordinator"):
        assert str(valid[variable.name].dtype) == ("string" if variable.is_text else "Int64")
    assert str(valid["source_row"].dtype) == "Int64"
    assert (valid["support_team_fte"] == -1).any() or (valid["support_team_fte"] >= -9).all()
    assert reconciliation_lines(result.report) == [
        "validate: data/raw/p.xlsx: read 20 = valid 20 + rejected 0",
        "validate: data/raw/test.csv: read 12 = valid 12 + rejected 0",
    ]


def test_five_planted_faults_are_each_reported_exactly(codebook, frame, clean):
    table = clean["coordinator"]
    table.loc[0, "leaders_competent"] = "Agreee"  # a label ingest could not map
    table.loc[1, "forum_size"] = "1000"  # above the range [3, 250]
    table.loc[2, "respondent_id"] = "X12"  # not ^C[0-9]{4}$
    table.loc[3, "joint_working_year"] = "about 1990"  # not an integer
    table.loc[4, "lsp_id"] = "ZZZZ"  # not in the frame
    table.loc[4, "partner_sector"] = "1"  # a partner column on a coordinator table: ignored
    result = validate(clean, frame, codebook)
    assert _faults(result) == {
        (2, "leaders_competent", "allowed_codes"),
        (3, "forum_size", "range_or_missing_code"),
        (4, "respondent_id", "respondent_id_pattern"),
        (5, "joint_working_year", "integer"),
        (6, "lsp_id", "lsp_in_frame"),
    }
    assert len(result.rejected) == 5
    values = dict(zip(result.rejected["check"], result.rejected["value"], strict=True))
    assert values["allowed_codes"] == "Agreee" and values["lsp_in_frame"] == "ZZZZ"
    assert result.report["files"]["data/raw/test.csv"] == {
        "instrument": "coordinator",
        "read": 12,
        "valid": 7,
        "rejected": 5,
    }


def test_a_row_with_three_bad_cells_has_three_lines(codebook, frame, clean):
    table = clean["partner"]
    table.loc[0, ["scs_shared_vision", "leaders_competent", "partner_sector"]] = ["Agree strongly", "9", "-1"]
    result = validate(clean, frame, codebook)
    assert _faults(result) == {
        (2, "scs_shared_vision", "allowed_codes"),
        (2, "leaders_competent", "allowed_codes"),
        (2, "partner_sector", "allowed_codes"),
    }
    assert result.report["files"]["data/raw/p.xlsx"]["rejected"] == 1


def test_missing_codes_outside_a_variables_list_are_rejected(codebook, frame, clean):
    table = clean["coordinator"]
    table.loc[0, "forum_size"] = "-1"  # forum_size allows -8 and -9 only
    table.loc[1, "chair_type"] = "Not applicable"  # no -1 for chair_type: ingest left the label
    result = validate(clean, frame, codebook)
    assert _faults(result) == {(2, "forum_size", "range_or_missing_code"), (3, "chair_type", "allowed_codes")}


# ---------------------------------------------------------------------------------- cross-table checks


def test_duplicates_and_second_coordinators(codebook, frame, clean):
    table = clean["coordinator"]
    extra = table.iloc[[0, 1, 2]].copy()
    extra["source_row"] = pd.array([14, 15, 16], dtype="Int64")
    extra.loc[extra.index[1], "leaders_competent"] = "5" if table.loc[1, "leaders_competent"] != "5" else "4"
    extra.loc[extra.index[2], "respondent_id"] = "C0999"  # a second coordinator for row 2's LSP
    clean["coordinator"] = pd.concat([table, extra], ignore_index=True)
    result = validate(clean, frame, codebook)
    assert _faults(result) == {
        (14, "respondent_id", "duplicate_submission"),  # exact copy of row 2: row 2 is kept
        (3, "respondent_id", "duplicate_respondent_id_conflicting"),  # same id, other answers: both go
        (15, "respondent_id", "duplicate_respondent_id_conflicting"),
        (15, "lsp_id", "one_coordinator_per_lsp"),
        (16, "lsp_id", "one_coordinator_per_lsp"),  # the earliest coordinator of the LSP is kept
    }
    assert result.report["files"]["data/raw/test.csv"] == {
        "instrument": "coordinator",
        "read": 15,
        "valid": 11,
        "rejected": 4,
    }


def test_partner_without_lsp_and_partners_sharing_an_lsp(codebook, frame, clean):
    table = clean["partner"]
    table.loc[3, "lsp_id"] = pd.NA
    result = validate(clean, frame, codebook)
    assert _faults(result) == {(5, "lsp_id", "not_nullable")}  # several partners per LSP are fine


def test_routing_is_checked_both_ways(codebook, frame, clean):
    table = clean["coordinator"]
    table.loc[0:2, "has_support_team"] = ["2", "1", "-8"]
    table.loc[0:2, "support_team_fte"] = ["3", "-1", "-1"]  # asked only if has_support_team == 1
    table.loc[0:2, "support_team_partner_staff"] = ["-1", "1", "1"]
    table.loc[3:4, "research_budget_band"] = ["1", "3"]
    table.loc[3:4, "research_budget_joint"] = ["-8", "-1"]  # asked only if research_budget_band >= 2
    result = validate(clean, frame, codebook)
    assert _faults(result) == {
        (2, "support_team_fte", "routing"),  # answered although routed out
        (3, "support_team_fte", "routing"),  # "not applicable" although asked
        (5, "research_budget_joint", "routing"),  # "don't know" is an answer: routed out
        (6, "research_budget_joint", "routing"),
    }


def test_every_row_is_valid_or_rejected(codebook, frame, lsp_ids):
    codes = code_rows(codebook, "partner", 200, lsp_ids, 11)
    table = _tidy(codebook, "partner", codes)
    bad = table.sample(frac=0.3, random_state=2).index
    table.loc[bad, "risks_managed"] = "Maybe"
    table.loc[bad[::2], "lsp_id"] = "nowhere"
    coordinators = code_rows(codebook, "coordinator", 0, lsp_ids)
    responses = {"partner": table, "coordinator": _tidy(codebook, "coordinator", coordinators)}
    result = validate(responses, frame, codebook)
    entry = result.report["files"]["data/raw/test.csv"]
    assert entry["read"] == entry["valid"] + entry["rejected"] == 200
    assert entry["rejected"] == len(bad)
    kept = set(result.valid["partner"]["source_row"]) | set(result.rejected["row"])
    assert kept == set(table["source_row"])
    assert result.report["checks"]["allowed_codes"] == {"failures": len(bad), "rows": len(bad)}


# ---------------------------------------------------------------------------------- frame and refusal


def test_a_broken_frame_stops_the_run_naming_row_and_column(frame):
    frame = frame.copy()
    frame.loc[4, "tier"] = ""
    with pytest.raises(PipelineError) as error:
        check_frame(frame)
    message = str(error.value)
    assert f"row 6 (lsp_id {frame.loc[4, 'lsp_id']}) column tier" in message and "\n" not in message
    frame = frame.copy()
    frame.loc[0, "tier"] = "single"  # a county is multi-tier
    with pytest.raises(
        PipelineError, match=r"row 2 .* column tier: 'single' fails tier_matches_authority_type"
    ):
        check_frame(frame)


def test_refuses_when_pandera_is_switched_off_at_runtime():
    from pandera.config import config_context

    with config_context(validation_enabled=False), pytest.raises(PipelineError, match="switched off"):
        ensure_validation_enabled()
    ensure_validation_enabled()


def _run(module, config, **environment):
    return subprocess.run(
        [sys.executable, "-m", module],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PIPELINE_CONFIG": str(config), **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_end_to_end_and_refusal_without_pandera(tmp_path, write_config, codebook, lsp_ids):
    codes = code_rows(codebook, "coordinator", 10, lsp_ids, 9)
    labels = to_labels(codebook, "coordinator", codes)
    labels.loc[3, "development_stage"] = "Colaboration"
    path = write_csv_export(tmp_path / "c.csv", labels)
    # Both instruments: validate refuses an instrument with no rows (tests/test_empty_instrument.py).
    partners = to_labels(codebook, "partner", code_rows(codebook, "partner", 4, lsp_ids, 9))
    partner_path = write_csv_export(tmp_path / "p.csv", partners)
    config = write_config(
        [
            {"path": str(path), "instrument": "coordinator"},
            {"path": str(partner_path), "instrument": "partner"},
        ]
    )
    # Ingest in-process (the ingest CLI has its own test); validate runs as make runs it.
    settings = load_config(config)
    ingested = ingest(settings.inputs, codebook)
    write_outputs(ingested, build_manifest(ingested, codebook), settings.processed_dir)
    refused = _run("pipeline.stages.validate", config, PANDERA_VALIDATION_ENABLED="False")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "PANDERA_VALIDATION_ENABLED=False" in refused.stderr
    assert not (tmp_path / "processed" / "rejected.csv").exists()
    validated = _run("pipeline.stages.validate", config)
    assert validated.returncode == 0, validated.stderr
    assert f"validate: {path.as_posix()}: read 10 = valid 9 + rejected 1" in validated.stderr.splitlines()
    rejected = pd.read_csv(tmp_path / "processed" / "rejected.csv", dtype=str)
    assert rejected[["row", "column", "check", "value"]].to_numpy().tolist() == [
        ["5", "development_stage", "allowed_codes", "Colaboration"]
    ]
    valid = pd.read_parquet(tmp_path / "processed" / "valid_coordinator.parquet")
    assert len(valid) == 9 and str(valid["leaders_competent"].dtype) == "Int64"
