"""The bad-input corpus (tests/bad_inputs/): every malformed file has one exact outcome.

An outcome is one of:
  error        one clear line naming the file (and the row or column where there is one), no traceback;
  quarantined  the row is in the rejects with the exact check and value, and read = valid + rejected;
  repaired     the exact repaired values and ingest_repairs.csv lines, and read = valid + rejected.

Most cases call the stages' pure functions in-process. A few run the command line, as make does, in
subprocesses started together (they import pandas each, so they run side by side): a representative
ingest error, the config errors, a broken frame under validate, and an output folder that cannot be
written.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from pipeline.core.codebook import Codebook
from pipeline.core.config import DEFAULT_CONFIG, InputFile
from pipeline.core.errors import PipelineError
from pipeline.core.paths import PROJECT_ROOT, relative_to_root
from pipeline.stages.ingest import build_manifest, ingest, write_outputs
from pipeline.stages.validate import reconciliation_lines, validate
from pipeline.study.frame import read_frame

# On xdist workers (make test) the module stays on one worker, so the command-line cases start once.
pytestmark = pytest.mark.xdist_group("bad_inputs")

CORPUS = PROJECT_ROOT / "tests/bad_inputs"
CORPUS_LABEL = "tests/bad_inputs"
FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".sav": "sav"}
NOT_SELECTED = "0"


@dataclass(frozen=True)
class Outcome:
    """What the pipeline must do with one corpus file.

    ``rejected`` lines are (row, respondent_id, column, check, value); ``repairs`` lines are
    (row or None for a file-level line, column, original, repaired, kind); ``cells`` maps
    (source_row, column) to the ingested text value; ``details`` are manifest entries of the input.
    """

    kind: str  # "error", "quarantined" or "repaired"
    instrument: str = "coordinator"
    options: dict[str, Any] = field(default_factory=dict)
    stage: str = "ingest"  # for errors: ingest, frame, cli-ingest, cli-validate
    message: str = ""  # for errors: the exact message (without the "error: <stage>: " prefix)
    rows: tuple[int, ...] = (2, 3, 4, 5, 6)
    rejected: tuple[tuple[int, str, str, str, str], ...] = ()
    repairs: tuple[tuple[int | None, str, str, str, str], ...] = ()
    cells: dict[tuple[int, str], Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def _error(file: str, problem: str, stage: str = "ingest", **options: Any) -> Outcome:
    return Outcome("error", stage=stage, message=f"{CORPUS_LABEL}/{file}: {problem}", **options)


QUOTE_NEVER_CLOSED = (
    "a quote opened in this cell is never closed, so the rows after it were read into the cell; "
    "fix the quoting in the export"
)
UNKNOWN = "unknown_column_ignored"

OUTCOMES: dict[str, Outcome] = {
    # ---------------------------------------------------------------- reading: files and encodings
    "empty.csv": _error("empty.csv", "is empty; export the survey again"),
    "header_only.csv": Outcome("repaired", rows=(), details={"rows": 0, "header_row": 1}),
    "wrong_delimiter.csv": _error(
        "wrong_delimiter.csv",
        "every row is a single column: the delimiter is none of comma, semicolon, tab or pipe; "
        "export the file again as delimited text",
    ),
    "utf8_bom.csv": Outcome(
        "repaired",
        details={"encoding": "utf-8-sig", "delimiter": "comma"},
        cells={(2, "respondent_id"): "C0001", (3, "comments"): "Café budget £1,200"},
    ),
    "windows1252.csv": Outcome(
        "repaired",
        details={"encoding": "windows-1252"},
        cells={
            (2, "comments"): "Chair: Cllr Méndez-Núñez; budget £50,000 – agreed",
            (4, "comments"): "Zoë Brontë said the café costs £1,200 a year",
            (3, "research_budget_band"): "2",  # "Under £50,000"
        },
    ),
    "mixed_line_endings.csv": Outcome(
        "repaired", cells={(2, "respondent_id"): "C0001", (6, "respondent_id"): "C0005"}
    ),
    "quoted_newlines.csv": Outcome(
        "repaired",
        cells={
            (3, "comments"): "Two points:\n1. data sharing is slow\n2. the board is too large",
            (5, "comments"): "Windows line break here:\r\nand a second line",
            (6, "respondent_id"): "C0005",
        },
    ),
    "undecodable.csv": _error(
        "undecodable.csv", "is neither UTF-8 nor Windows-1252 (byte 2777); set encoding in config.yaml"
    ),
    "not_csv_xlsx_renamed.csv": _error(
        "not_csv_xlsx_renamed.csv",
        "is a zip archive (an .xlsx workbook?), not CSV; fix the path or set format in config",
        stage="cli-ingest",
    ),
    "not_csv_pdf.csv": _error("not_csv_pdf.csv", "is a PDF, not CSV; fix the path or set format in config"),
    # ---------------------------------------------------------------- reading: quoting and truncation
    "truncated_last_row.csv": Outcome(
        "quarantined",
        rejected=((6, "C0005", "information_shared", "allowed_codes", "Agr"),),
        repairs=((6, "", "33 cells", "51 cells", "short_row_padded"),),
        cells={(6, "risks_managed"): "-9", (6, "comments"): pd.NA},  # the cells cut off: not answered
    ),
    "truncated_inside_quote.csv": _error(
        "truncated_inside_quote.csv",
        "row 6 column comments: a quoted cell is never closed before the end of the file "
        "(the export is cut short, or a stray quote); export the file again",
    ),
    "stray_quote_coded.csv": _error(
        "stray_quote_coded.csv", f"row 2 column development_stage: {QUOTE_NEVER_CLOSED}"
    ),
    "stray_quote_free_text.csv": _error(
        "stray_quote_free_text.csv", f"row 2 column comments: {QUOTE_NEVER_CLOSED}"
    ),
    "row_wider_than_header.csv": _error(
        "row_wider_than_header.csv",
        "row 4 has 52 cells but the header has 51: check quoting or the delimiter in the export",
    ),
    "blank_rows.csv": Outcome(
        "repaired",
        rows=(2, 5, 6, 7, 8),
        repairs=((3, "", "", "", "blank_row_skipped"), (4, "", "", "", "blank_row_skipped")),
        cells={(5, "respondent_id"): "C0002"},
    ),
    # ---------------------------------------------------------------- headers
    "missing_required_column.csv": _error(
        "missing_required_column.csv",
        "required column lsp_id is missing (found: respondent_id, chair_type, layer_strategic_forum, "
        "layer_executive_board, layer_theme_groups, forum_size, ...); add it or map it with column_map "
        "in config.yaml",
    ),
    "duplicated_column.csv": _error(
        "duplicated_column.csv",
        "column 'leaders_competent' appears more than once in the header; remove the duplicate column "
        "from the export",
    ),
    "unknown_extra_column.csv": Outcome("repaired", repairs=((None, "interviewer", "", "", UNKNOWN),)),
    "misspelt_header.csv": Outcome(
        # Documented: an unknown header is left out, and the optional codebook column it was meant to
        # be is then "not answered" on every row. The repairs line is the only trace.
        "repaired",
        repairs=((None, "leaders_competant", "", "", UNKNOWN),),
        cells={(row, "leaders_competent"): "-9" for row in range(2, 7)},
    ),
    "header_case.csv": Outcome(
        "repaired",
        repairs=(
            (None, "forum_size", "Forum_Size", "forum_size", "header_normalised"),
            (None, "lsp_id", " LSP_ID ", "lsp_id", "header_normalised"),
            (None, "respondent_id", "Respondent_ID", "respondent_id", "header_normalised"),
        ),
        cells={(2, "lsp_id"): "22UH", (2, "forum_size"): "18"},
    ),
    "no_header.csv": _error(
        "no_header.csv",
        "no header row found in the first 20 rows (none of the codebook's column names such as "
        "respondent_id appear); set header_row or column_map in config.yaml",
    ),
    # ---------------------------------------------------------------- values
    "likert_out_of_range.csv": Outcome(
        "quarantined",
        rejected=(
            (2, "C0001", "leaders_competent", "allowed_codes", "6"),
            (4, "C0003", "scs_shared_vision", "allowed_codes", "0"),
        ),
    ),
    "misspelt_label.csv": Outcome(
        "quarantined",
        rejected=(
            (3, "C0002", "leaders_competent", "allowed_codes", "Agreee"),
            (5, "C0004", "development_stage", "allowed_codes", "Colaboration"),
        ),
    ),
    "label_case_spacing.csv": Outcome(
        "repaired",
        repairs=(
            (2, "leaders_competent", "  strongly AGREE", "5", "label_normalised"),
            (3, "chair_type", "private   SECTOR", "5", "label_normalised"),
            (4, "scs_shared_vision", "Don’t know", "-8", "label_normalised"),
            (6, "layer_strategic_forum", "NOT SELECTED ", NOT_SELECTED, "label_normalised"),
        ),
        cells={(2, "leaders_competent"): "5", (6, "layer_strategic_forum"): NOT_SELECTED},
    ),
    "numbers_with_separators.csv": Outcome(
        "repaired",
        repairs=(
            (2, "joint_working_year", "1,998", "1998", "number_text"),
            (3, "forum_size", " 45 ", "45", "number_text"),
            (4, "forum_size", "045", "45", "number_text"),
            (5, "support_team_fte", "3.0", "3", "number_text"),
        ),
        cells={(2, "joint_working_year"): "1998", (4, "forum_size"): "45", (5, "support_team_fte"): "3"},
    ),
    "number_too_large.csv": Outcome(
        "quarantined",
        rejected=((2, "C0001", "forum_size", "range_or_missing_code", "1200"),),
        repairs=((2, "forum_size", "1 200", "1200", "number_text"),),
    ),
    "number_not_integer.csv": Outcome(
        "quarantined",
        rejected=(
            (3, "C0002", "forum_size", "integer", "12.5"),
            (4, "C0003", "joint_working_year", "integer", "about 1990"),
        ),
    ),
    "sentinel_codes.csv": Outcome(
        "repaired",
        repairs=(
            (2, "leaders_competent", "-9", "-9", "code_not_label"),
            (3, "chair_type", "-8", "-8", "code_not_label"),
        ),
    ),
    "sentinel_99.csv": Outcome(
        "quarantined",
        rejected=(
            (2, "C0001", "leaders_competent", "allowed_codes", "99"),
            (3, "C0002", "joint_working_year", "range_or_missing_code", "99"),
        ),
        # A count of 99 is inside forum_size's range 3-250: it cannot be told from a sentinel.
        cells={(4, "forum_size"): "99"},
    ),
    "sentinel_dk.csv": Outcome(
        "repaired",
        repairs=(
            (2, "chair_type", "DK", "-8", "missing_sentinel"),
            (3, "forum_size", "dk", "-8", "missing_sentinel"),
            (4, "scs_shared_vision", "don't KNOW", "-8", "label_normalised"),
        ),
        cells={(2, "chair_type"): "-8", (3, "forum_size"): "-8"},
    ),
    "sentinel_not_allowed.csv": Outcome(
        "quarantined",
        rejected=(
            (2, "C0001", "layer_strategic_forum", "allowed_codes", "DK"),
            (3, "C0002", "chair_type", "allowed_codes", "Not applicable"),
        ),
    ),
    "whitespace_cells.csv": Outcome(
        "repaired",
        repairs=(
            (2, "leaders_competent", "   ", "-9", "whitespace_only"),
            (3, "respondent_id", " C0002 ", "C0002", "id_whitespace"),
        ),
        cells={(3, "respondent_id"): "C0002"},
    ),
    "routing_violation.csv": Outcome(
        "quarantined",
        rejected=(
            (2, "C0001", "support_team_fte", "routing", "6"),
            (2, "C0001", "support_team_partner_staff", "routing", "2"),
        ),
    ),
    # ---------------------------------------------------------------- respondents and LSPs
    "duplicate_respondent_id.csv": Outcome(
        "quarantined",
        rows=(2, 3, 4, 5, 6, 7),
        rejected=(
            (4, "C0003", "respondent_id", "duplicate_respondent_id_conflicting", "C0003"),
            (7, "C0003", "respondent_id", "duplicate_respondent_id_conflicting", "C0003"),
        ),
    ),
    "duplicate_submission_identical.csv": Outcome(
        "quarantined",
        rows=(2, 3, 4, 5, 6, 7),
        rejected=((7, "C0002", "respondent_id", "duplicate_submission", "C0002"),),
    ),
    "duplicate_submission_different_answers.csv": Outcome(
        "quarantined",
        rows=(2, 3, 4, 5, 6, 7),
        rejected=(
            (3, "C0002", "respondent_id", "duplicate_respondent_id_conflicting", "C0002"),
            (7, "C0002", "lsp_id", "one_coordinator_per_lsp", "34UE"),
            (7, "C0002", "respondent_id", "duplicate_respondent_id_conflicting", "C0002"),
        ),
    ),
    "lsp_not_in_frame.csv": Outcome(
        "quarantined", rejected=((5, "C0004", "lsp_id", "lsp_in_frame", "ZZ99"),)
    ),
    "two_coordinators_one_lsp.csv": Outcome(
        "quarantined",
        rows=(2, 3, 4, 5, 6, 7),
        rejected=((7, "C0006", "lsp_id", "one_coordinator_per_lsp", "22UH"),),
    ),
    "wrong_instrument.csv": Outcome(
        "quarantined",
        instrument="partner",
        rejected=tuple(
            (row, f"C000{row - 1}", "respondent_id", "respondent_id_pattern", f"C000{row - 1}")
            for row in range(2, 7)
        ),
        repairs=tuple(
            (None, column, "", "", UNKNOWN)
            for column in sorted(
                [
                    "chair_type",
                    "layer_strategic_forum",
                    "layer_executive_board",
                    "layer_theme_groups",
                    "forum_size",
                    "development_stage",
                    "joint_working_year",
                    "resources_mapped",
                    "scrutiny_reviewed",
                    "has_support_team",
                    "support_team_partner_staff",
                    "support_team_fte",
                    "research_budget_band",
                    "research_budget_joint",
                ]
            )
        ),
        cells={(2, "partner_sector"): "-9"},  # a partner column the file lacks: not answered
    ),
    "partner_without_lsp.csv": Outcome(
        "quarantined",
        instrument="partner",
        rejected=((4, "P0003", "lsp_id", "not_nullable", ""),),
        cells={(4, "lsp_id"): pd.NA},
    ),
    # ---------------------------------------------------------------- Excel
    "xlsx_title_row.xlsx": Outcome(
        "repaired",
        instrument="partner",
        rows=(4, 5, 6, 7, 8),
        details={"sheet": "responses", "header_row": 3},
        cells={(4, "respondent_id"): "P0001", (8, "respondent_id"): "P0005"},
    ),
    "xlsx_data_on_second_sheet.xlsx": _error(
        "xlsx_data_on_second_sheet.xlsx",
        "sheet 'cover': no header row found in the first 20 rows (none of the codebook's column names "
        "such as respondent_id appear); if the data are on another sheet ('responses'), set sheet in "
        "config.yaml; otherwise set header_row or column_map",
        instrument="partner",
    ),
    "xlsx_id_as_number.xlsx": Outcome(
        "quarantined", instrument="partner", rejected=((3, "P0002", "lsp_id", "lsp_in_frame", "9"),)
    ),
    "xlsx_not_a_workbook.xlsx": _error(
        "xlsx_not_a_workbook.xlsx",
        "is not an Excel .xlsx workbook (not a zip archive); check the path and format",
        instrument="partner",
    ),
    # ---------------------------------------------------------------- SPSS
    "sav_value_labels_disagree.sav": Outcome(
        "repaired",
        repairs=(
            (
                None,
                "chair_type",
                "1=Council leader",
                "1=Council leader or elected mayor",
                "sav_value_label_differs",
            ),
            (None, "leaders_competent", "4=Tend to agree", "4=Agree", "sav_value_label_differs"),
            (None, "leaders_competent", "7=Other", "", "sav_value_label_not_in_codebook"),
        ),
        # The codes are what count: C0001's chair is code 1 whatever the file calls it.
        cells={(2, "chair_type"): "1", (4, "leaders_competent"): "4"},
    ),
    "sav_code_not_in_codebook.sav": Outcome(
        "quarantined",
        rejected=(
            (2, "C0001", "leaders_competent", "allowed_codes", "7"),
            (4, "C0003", "chair_type", "allowed_codes", "2.5"),
        ),
    ),
    "sav_not_spss.sav": _error("sav_not_spss.sav", "is not an SPSS .sav file; check the path and format"),
    # ---------------------------------------------------------------- frame
    "frame_missing_tier.csv": _error(
        "frame_missing_tier.csv",
        "row 12 (lsp_id 00MB) column tier: '' fails tier; row 12 (lsp_id 00MB) column tier: '' fails "
        "tier_matches_authority_type; fix the frame before validating",
        stage="cli-validate",
    ),
    "frame_without_tier_column.csv": _error(
        "frame_without_tier_column.csv", "column tier is missing; fix the frame file", stage="frame"
    ),
    "frame_empty.csv": _error(
        "frame_empty.csv", "is empty; the frame needs a header and one row per LSP", stage="frame"
    ),
    # ---------------------------------------------------------------- configuration (names the copy)
    "config_unknown_key.yaml": Outcome(
        "error",
        stage="cli-ingest",
        message="config {config}: unknown key dataset.inputs[2].header_rows (allowed: path, instrument, "
        "format, sheet, encoding, header_row, column_map)",
    ),
    "config_wrong_type.yaml": Outcome(
        "error",
        stage="cli-validate",
        message="config {config}: disclosure.min_cell must be int, got str ('five')",
    ),
}


def _corpus_files() -> list[str]:
    return sorted(
        p.name for p in CORPUS.iterdir() if p.is_file() and p.name not in ("README.md", "make_corpus.py")
    )


def test_every_corpus_file_has_one_outcome_and_one_readme_line():
    files = _corpus_files()
    assert len(files) >= 30
    assert sorted(OUTCOMES) == files
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    listed = sorted(line.split("`")[1] for line in readme.splitlines() if line.startswith("| `"))
    assert listed == files


def test_the_committed_corpus_is_what_make_corpus_writes(project_codebook):
    from tests.bad_inputs.make_corpus import CASES, readme

    # The configs are built from config.yaml, which may change without making them less wrong.
    for case in CASES:
        if not case.file.startswith("config_"):
            assert case.build(project_codebook) == (CORPUS / case.file).read_bytes(), case.file
    assert readme() == (CORPUS / "README.md").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------ helpers


def _spec(file: str, outcome: Outcome) -> InputFile:
    path = CORPUS / file
    return InputFile(path=path, instrument=outcome.instrument, format=FORMATS[path.suffix], **outcome.options)


def _config(tmp: Path, inputs: list[dict[str, Any]], **dataset: Any) -> Path:
    """A copy of config.yaml with other inputs, absolute reference paths and a processed_dir in ``tmp``."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    for key in ("frame", "codebook", "published_figures", "published_targets"):
        raw["dataset"][key] = str(PROJECT_ROOT / raw["dataset"][key])
    raw["dataset"].update(dataset)
    raw["dataset"]["inputs"] = inputs
    raw["processed_dir"] = str(tmp / "processed")
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _start(module: str, config: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", module],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PIPELINE_CONFIG": str(config)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _unwritable_folder(tmp: Path) -> tuple[Path, str]:
    """A folder no output can be written to, and the reason the OS gives."""
    tmp.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        # root writes through chmod; nothing can be created below a regular file, not even by root.
        blocker = tmp / "file.txt"
        blocker.write_text("not a folder\n", encoding="utf-8")
        return blocker / "out", "Not a directory"
    folder = tmp / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder, "Permission denied"


CliCases = dict[str, tuple[subprocess.Popen, dict[str, str]]]


def _start_cli_cases(root: Path, codebook: Codebook) -> CliCases:
    """Start every command-line case at once; each maps to its process and the names its message uses."""
    clean_input = [{"path": str(CORPUS / "utf8_bom.csv"), "instrument": "coordinator"}]
    processes: CliCases = {}
    # A representative structural error, through ingest's command line.
    config = _config(
        root / "not_csv", [{"path": str(CORPUS / "not_csv_xlsx_renamed.csv"), "instrument": "coordinator"}]
    )
    processes["not_csv_xlsx_renamed.csv"] = (_start("pipeline.stages.ingest", config), {})
    # Config errors: the corpus file itself, copied to a temporary folder (its relative paths land there).
    for file, module in (
        ("config_unknown_key.yaml", "pipeline.stages.ingest"),
        ("config_wrong_type.yaml", "pipeline.stages.validate"),
    ):
        copy = root / file.removesuffix(".yaml") / file
        copy.parent.mkdir()
        copy.write_bytes((CORPUS / file).read_bytes())
        processes[file] = (_start(module, copy), {"config": relative_to_root(copy)})
    # A broken frame: ingest first (in-process), then validate as make runs it.
    config = _config(root / "frame", clean_input, frame=str(CORPUS / "frame_missing_tier.csv"))
    ingested = ingest([_spec("utf8_bom.csv", OUTCOMES["utf8_bom.csv"])], codebook)
    write_outputs(ingested, build_manifest(ingested, codebook), root / "frame" / "processed")
    processes["frame_missing_tier.csv"] = (_start("pipeline.stages.validate", config), {})
    # An output folder that cannot be written.
    folder, reason = _unwritable_folder(root / "unwritable")
    config = _config(root / "unwritable", clean_input)
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["processed_dir"] = str(folder)
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    processes["unwritable"] = (
        _start("pipeline.stages.ingest", config),
        {"folder": str(folder), "reason": reason},
    )
    return processes


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory, project_codebook: Codebook):
    """The command-line cases, all started with the module's first test; each test collects its own.

    They run beside the in-process cases (which come first), so their start-up costs little time.
    """
    root = tmp_path_factory.mktemp("cli")
    processes = _start_cli_cases(root, project_codebook)
    results: dict[str, tuple[subprocess.CompletedProcess, dict[str, str]]] = {}

    def result(name: str) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
        if name not in results:
            process, extra = processes[name]
            stdout, stderr = process.communicate(timeout=300)
            results[name] = (
                subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr),
                extra,
            )
        return results[name]

    yield result
    for process, _ in processes.values():
        if process.poll() is None:
            process.kill()
            process.communicate()
    read_only = root / "unwritable" / "read_only"
    if read_only.exists():
        read_only.chmod(0o755)


def _assert_one_error_line(completed: subprocess.CompletedProcess, stage: str, message: str) -> None:
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {stage}: {message}"]
    assert completed.stderr.rstrip("\n").splitlines()[-1] == errors[0]  # nothing after it


# ------------------------------------------------------------------------------------------ the corpus


# The command-line cases run last, so that their subprocesses run while the in-process cases do.
@pytest.mark.parametrize(
    "file", sorted(OUTCOMES, key=lambda file: (OUTCOMES[file].stage.startswith("cli-"), file))
)
def test_bad_input(file, project_codebook, project_frame, cli_runs):
    outcome = OUTCOMES[file]
    if outcome.kind == "error":
        _check_error(file, outcome, project_codebook, cli_runs)
    else:
        _check_rows(file, outcome, project_codebook, project_frame)


CliResult = Callable[[str], tuple[subprocess.CompletedProcess, dict[str, str]]]


def _check_error(file: str, outcome: Outcome, codebook: Codebook, cli_runs: CliResult) -> None:
    if outcome.stage.startswith("cli-"):
        completed, extra = cli_runs(file)
        _assert_one_error_line(completed, outcome.stage.removeprefix("cli-"), outcome.message.format(**extra))
        return
    with pytest.raises(PipelineError) as caught:
        if outcome.stage == "frame":
            path = CORPUS / file
            validate({}, read_frame(path), codebook)
        else:
            ingest([_spec(file, outcome)], codebook)
    message = str(caught.value)
    assert message == outcome.message
    assert "\n" not in message and "\r" not in message


def _check_rows(file: str, outcome: Outcome, codebook: Codebook, frame: pd.DataFrame) -> None:
    label = f"{CORPUS_LABEL}/{file}"
    ingested = ingest([_spec(file, outcome)], codebook)
    (entry,) = ingested.inputs
    assert entry["rows"] == len(outcome.rows)
    assert {key: entry.get(key) for key in outcome.details} == outcome.details
    table = ingested.responses[outcome.instrument]
    assert table["source_row"].tolist() == list(outcome.rows)
    assert set(table["source_file"]) <= {label}
    # The repairs log, line for line.
    repairs = ingested.repairs
    assert set(repairs["file"]) <= {label}
    found = [
        (None if pd.isna(row) else int(row), column, original, repaired, kind)
        for row, column, original, repaired, kind in repairs[
            ["row", "column", "original", "repaired", "kind"]
        ].itertuples(index=False)
    ]
    assert found == list(outcome.repairs)
    # Repaired (or deliberately kept) values as ingest wrote them.
    by_row = table.set_index("source_row")
    for (row, column), value in outcome.cells.items():
        cell = by_row.loc[row, column]
        assert (pd.isna(cell) and value is pd.NA) or cell == value, (row, column, cell)
    # Validate: the exact rejects, and every row either valid or rejected.
    result = validate(
        ingested.responses, frame, codebook, {entry["path"]: (entry["instrument"], entry["rows"])}
    )
    rejected = result.rejected
    assert set(rejected["file"]) <= {label} and set(rejected["instrument"]) <= {outcome.instrument}
    lines = [
        (int(row), respondent, column, check, value)
        for row, respondent, column, check, value in rejected[
            ["row", "respondent_id", "column", "check", "value"]
        ].itertuples(index=False)
    ]
    assert lines == list(outcome.rejected)
    bad_rows = {line[0] for line in outcome.rejected}
    valid_rows = result.valid[outcome.instrument]["source_row"].tolist()
    assert sorted(valid_rows) == sorted(set(outcome.rows) - bad_rows)
    read, n_bad = len(outcome.rows), len(bad_rows)
    assert reconciliation_lines(result.report) == [
        f"validate: {label}: read {read} = valid {read - n_bad} + rejected {n_bad}"
    ]
    counts = result.report["files"][label]
    assert counts["read"] == counts["valid"] + counts["rejected"]
    assert (outcome.kind == "quarantined") == bool(outcome.rejected)


# ------------------------------------------------------------------------------------------ no file


def test_an_output_folder_that_cannot_be_written_is_one_clear_error(cli_runs):
    completed, extra = cli_runs("unwritable")
    _assert_one_error_line(completed, "ingest", f"{extra['folder']}: cannot write here ({extra['reason']})")
