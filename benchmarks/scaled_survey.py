"""Write a synthetic survey at ``--scale`` K times the bundled size, as the scaling benchmark reads it.

``python benchmarks/scaled_survey.py --scale K --out-dir DIR`` (run from a copy of the project, with the
copy on PYTHONPATH) writes three CSV files into DIR:

- ``coordinator.csv`` and ``partner.csv``: the export contract of ``write_coordinator_csv`` (answers as
  codebook labels, "not answered" as an empty cell) for both instruments. The bundled partner export is
  an Excel workbook; openpyxl would dominate both generation and ingest at 1000x, so the benchmark
  writes the partner responses as CSV with the same labels instead (ingest reads both formats);
- ``frame.csv``: the replicated frame (``replicate_frame``: K copies of the 388 LSPs with ids such as
  ``00BL~0007``), same columns as ``data/raw/lsp_frame_2008.csv``.

It prints one JSON line with the row counts. The benchmark times this process separately from the
pipeline (generation is not part of the pipeline's time).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import load_config
from pipeline.study.frame import read_frame
from pipeline.synthetic.simulate import export_values, generate

FILES = {"coordinator": "coordinator.csv", "partner": "partner.csv", "frame": "frame.csv"}


def write_labelled_csv(table: pd.DataFrame, codebook: Codebook, instrument: str, target: Path) -> None:
    """One instrument's responses as the CSV export writes them: labels, empty cell for not answered."""
    values = export_values(table, codebook, instrument)
    text = values.map(lambda value: "" if value is None or pd.isna(value) else str(value))
    text.to_csv(target, index=False, lineterminator="\n", encoding="utf-8")


def write_scaled_survey(scale: int, out_dir: Path) -> dict[str, int]:
    """Generate the survey at ``scale`` with the configured seed and respondent counts; write the CSVs."""
    config = load_config()
    codebook = load_codebook(config.codebook)
    frame = read_frame(config.frame)
    survey = generate(
        frame,
        codebook,
        config.synthetic_seed,
        n_coordinators=config.n_coordinators,
        n_partners=config.n_partners,
        scale=scale,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_labelled_csv(survey.coordinators, codebook, "coordinator", out_dir / FILES["coordinator"])
    write_labelled_csv(survey.partners, codebook, "partner", out_dir / FILES["partner"])
    survey.frame.to_csv(out_dir / FILES["frame"], index=False, lineterminator="\n", encoding="utf-8")
    return {
        "lsps": len(survey.frame),
        "coordinator": len(survey.coordinators),
        "partner": len(survey.partners),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    arguments = parser.parse_args()
    print(json.dumps(write_scaled_survey(arguments.scale, arguments.out_dir)))


if __name__ == "__main__":
    main()
