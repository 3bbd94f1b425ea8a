"""docs/outputs.md, the data dictionary of every output, generated from the registry."""

from __future__ import annotations

from typing import Any

from pipeline.study.outputs.model import FIGURE_INPUT_OUTPUTS, Column, Output, relative_path
from pipeline.study.outputs.publication import REPORT, TECHNICAL_ANNEX
from pipeline.study.outputs.registry import figures, tables
from pipeline.study.vocabulary import INSTRUMENTS


def data_dictionary(codebook: Any, folders: dict[str, str]) -> str:
    """docs/outputs.md: every output, who makes it from what, and every column it has (Markdown)."""
    lines = [
        "# Outputs: the data dictionary",
        "",
        "Generated from the output registry (`pipeline/study/outputs/`) by `lsp-rap outputs`; do not edit",
        "by hand (a test checks it is current). Every file `make all` writes is here, and nothing else.",
        "Tables built from the synthetic survey say so in their `data` column.",
        "",
    ]
    for stage in ("ingest", "validate", "derive", "analyse"):
        lines += [f"## {stage}", ""]
        for output in (o for o in tables(codebook) if o.stage == stage):
            lines += _describe_output(output, relative_path(output, folders), codebook)
    lines += [
        "## figures",
        "",
        "Each figure is four files: `<name>.png` (300 dpi), `<name>.svg`, `<name>.csv` (the numbers plotted, "
        "checked by `make verify` with the recomputation named below) and `<name>.caption.txt`.",
        "",
    ]
    for figure in figures(codebook):
        inputs = ", ".join(f"`{FIGURE_INPUT_OUTPUTS[name]}`" for name in figure.inputs)
        lines += [
            f"### {figure.name}",
            "",
            f"Made by `{figure.maker}` from {inputs}; verified as `{figure.verify_kind}`.",
            "",
            *_column_table(figure.columns),
        ]
    lines += ["## report", ""]
    for page in (REPORT, TECHNICAL_ANNEX):
        lines += _describe_output(page, relative_path(page, folders), codebook)
    return "\n".join(lines).rstrip() + "\n"


def _describe_output(output: Output, path: str, codebook: Any) -> list[str]:
    inputs = ", ".join(f"`{name}`" for name in output.inputs) or "nothing"
    lines = [f"### `{path}`", "", f"{output.description} Made by `{output.maker}` from {inputs}.", ""]
    if output.codebook_columns:
        instruments = [output.name.split("_", 1)[1]] if output.name.split("_", 1)[1] in INSTRUMENTS else None
        variables = [
            v for v in codebook.variables if instruments is None or set(instruments) & set(v.instruments)
        ]
        lines += [
            f"Columns: the {len(variables)} codebook variables"
            + (f" of the {instruments[0]} questionnaire" if instruments else "")
            + " (their labels, codes and provenance: `data/raw/codebook.yaml`)"
            + (", then the columns below." if output.columns else ", then `source_file` and `source_row`."),
            "",
        ]
    if output.columns:
        lines += _column_table(output.columns)
    return lines


def _column_table(columns: tuple[Column, ...]) -> list[str]:
    rows = ["| column | kind | meaning |", "|---|---|---|"]
    rows += [f"| `{c.name}` | {c.kind} | {c.description.replace('|', '/')} |" for c in columns]
    return [*rows, ""]


def main(argv: list[str] | None = None) -> None:
    """`lsp-rap outputs [--out PATH]`: write the data dictionary (default docs/outputs.md)."""
    from pipeline.core.codebook import load_codebook
    from pipeline.core.config import parse_stage_arguments, stage_parser
    from pipeline.core.io import write_text
    from pipeline.core.paths import PROJECT_ROOT, relative_to_root

    parser = stage_parser("Write the data dictionary of every output (docs/outputs.md).")
    parser.add_argument(
        "--out", type=str, default="docs/outputs.md", help="where to write it (default: docs/outputs.md)"
    )
    arguments, config = parse_stage_arguments(parser, argv)
    folders = {
        key: relative_to_root(getattr(config, key))
        for key in ("processed_dir", "analysis_dir", "figures_dir")
    }
    write_text(PROJECT_ROOT / arguments.out, data_dictionary(load_codebook(config.codebook), folders))
