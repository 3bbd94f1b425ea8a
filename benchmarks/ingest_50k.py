"""Write a 50,000-row coordinator CSV and a 50,000-row partner workbook, as ``make bench`` times them.

``python benchmarks/ingest_50k.py --out-dir DIR`` (run from a copy of the project, with the copy on
PYTHONPATH) cycles the committed synthetic exports (data/raw: 191 coordinators as CSV, 282 partners
as .xlsx) to 50,000 respondents each, with new respondent ids and each cycle on its own copy of the
frame (ids such as ``22UH~0007``, as the scaling benchmark replicates it), so every row is one a real
export could hold and validate accepts it. It writes ``coordinator.csv``, ``partner.xlsx`` and
``frame.csv`` into DIR and prints one JSON line with the row counts.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from pathlib import Path

import pandas as pd

from pipeline.core.paths import PROJECT_ROOT
from pipeline.synthetic.model import replicate_frame

ROWS = 50_000
RAW = PROJECT_ROOT / "data/raw"


def _cycle(records: list[list[str]], prefix: str, rows: int) -> list[list[str]]:
    header, body = records[0], records[1:]
    id_at, lsp_at = header.index("respondent_id"), header.index("lsp_id")
    out = [header]
    for i in range(rows):
        record = list(body[i % len(body)])
        record[id_at] = f"{prefix}{i + 1:05d}"
        record[lsp_at] = f"{record[lsp_at]}~{i // len(body) + 1:04d}"
        out.append(record)
    return out


def write_50k(out_dir: Path, rows: int = ROWS) -> dict[str, int]:
    import openpyxl

    coordinators = list(
        csv.reader(io.StringIO((RAW / "synthetic_coordinator_survey_2008.csv").read_text("utf-8")))
    )
    workbook = openpyxl.load_workbook(RAW / "synthetic_partner_survey_2008.xlsx", read_only=True)
    partners = [
        ["" if value is None else str(value) for value in row]
        for row in workbook["responses"].iter_rows(values_only=True)
    ]
    workbook.close()
    copies = max(math.ceil(rows / (len(coordinators) - 1)), math.ceil(rows / (len(partners) - 1)))
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = pd.read_csv(RAW / "lsp_frame_2008.csv", dtype=str, keep_default_na=False)
    replicate_frame(frame, copies).to_csv(out_dir / "frame.csv", index=False, lineterminator="\n")
    with (out_dir / "coordinator.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(_cycle(coordinators, "C", rows))
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("responses")
    for record in _cycle(partners, "P", rows):
        sheet.append([None if value == "" else value for value in record])
    book.save(out_dir / "partner.xlsx")
    return {"coordinator": rows, "partner": rows, "lsps": len(frame) * copies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=ROWS)
    arguments = parser.parse_args()
    print(json.dumps(write_50k(arguments.out_dir, arguments.rows)))


if __name__ == "__main__":
    main()
