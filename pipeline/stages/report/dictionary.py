"""The data dictionary page and the report's output index, both from the output registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.codebook import Codebook
from pipeline.core.config import FOLDER_KEYS, Config
from pipeline.core.paths import relative_to_root
from pipeline.stages.report.inputs import SYNTHETIC_BANNER, SYNTHETIC_HEAD, environment
from pipeline.stages.report.tables import slug
from pipeline.stages.report_tables import Row, Table
from pipeline.study import display
from pipeline.study import outputs as registered


def _folders(config: Config) -> dict[str, str]:
    return {key: relative_to_root(getattr(config, key)) for key in FOLDER_KEYS}


def _registered_files(codebook: Codebook) -> tuple[registered.Output, ...]:
    return (
        *registered.tables(codebook),
        registered.REPORT,
        registered.TECHNICAL_ANNEX,
        registered.REPORT_TABLES,
        registered.DATA_DICTIONARY,
        *registered.SPREADSHEETS,
    )


def output_index(config: Config, codebook: Codebook) -> pd.DataFrame:
    """Every output from the registry (pipeline.study.outputs): the stage and function that made it and
    what it is made from; a figure's four files are one row."""
    folders = _folders(config)
    paths = {output.name: registered.relative_path(output, folders) for output in _registered_files(codebook)}
    paths |= {"tables": f"{folders['analysis_dir']}/tables/", "figures": f"{folders['figures_dir']}/"}

    def where(name: str) -> str:
        # Registered outputs by their path, raw inputs by the configured file they name.
        if name in paths:
            return paths[name]
        configured = getattr(config, name.rpartition(".")[2], None)
        if isinstance(configured, Path):
            return relative_to_root(configured)
        if isinstance(configured, tuple) and all(hasattr(item, "path") for item in configured):
            return ", ".join(relative_to_root(item.path) for item in configured)
        return name

    rows = [
        {
            "output": paths[output.name],
            "stage": output.stage,
            "made by": output.maker,
            "inputs": ", ".join(where(name) for name in output.inputs),
        }
        for output in _registered_files(codebook)
    ]
    for figure in registered.figures(codebook):
        rows.append(
            {
                "output": f"{folders['figures_dir']}/{figure.name}.{{png,svg,csv,caption.txt}}",
                "stage": "figures",
                "made by": figure.maker,
                "inputs": ", ".join(where(registered.FIGURE_INPUT_OUTPUTS[i]) for i in figure.inputs),
            }
        )
    return pd.DataFrame(rows, columns=["output", "stage", "made by", "inputs"])


def data_dictionary_entries(config: Config, codebook: Codebook) -> list[dict[str, Any]]:
    """Every output with every column: its name, its header in the spreadsheets, its kind, what it means."""
    folders = _folders(config)
    entries = []
    outputs = [(output, output.columns) for output in _registered_files(codebook)]
    outputs += [
        (
            registered.Output(
                figure.name,
                "figures",
                f"{figure.name}.csv",
                "figures",
                figure.maker,
                f"the numbers figure {figure.name} plots",
            ),
            figure.columns,
        )
        for figure in registered.figures(codebook)
    ]
    for output, columns in outputs:
        path = registered.relative_path(output, folders)
        table_name = output.filename.removesuffix(".csv") if output.filename.endswith(".csv") else None
        rows = tuple(
            Row((column.name, display.header(column.name, table_name), column.kind, column.description))
            for column in columns or ()
        )
        summary = output.description
        if output.codebook_columns:
            summary += " Its columns are the codebook's variables (data/raw/codebook.yaml), one per question."
        elif not rows:
            summary += " Not a table: no columns."
        entries.append(
            {
                "id": f"output-{slug(path)}",
                "path": path,
                "summary": f"{summary} Made by {output.maker} (stage: {output.stage}).",
                "columns": Table(
                    id=f"columns-{slug(path)}",
                    caption=f"Columns of {path}",
                    headers=("Column", "Header in the spreadsheets", "Kind", "Description"),
                    rows=rows,
                )
                if rows
                else None,
            }
        )
    return entries


def render_data_dictionary(config: Config, codebook: Codebook, report_href: str) -> str:
    """The data dictionary page: every output column, from the registry."""
    heading = "Data dictionary: every output column"
    return (
        environment()
        .get_template("data_dictionary.html.j2")
        .render(
            title=("Synthetic data: " if config.synthetic_data else "") + heading,
            heading=heading,
            synthetic=config.synthetic_data,
            banner_head=SYNTHETIC_HEAD,
            banner=SYNTHETIC_BANNER,
            outputs=data_dictionary_entries(config, codebook),
            registry="pipeline/study/outputs/",
            report_href=report_href,
        )
    )
