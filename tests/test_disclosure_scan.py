"""Disclosure scan: every published output of a real `make all` protects respondents.

Published outputs are the analysis tables (CSV and Markdown), every figure's CSV, caption and SVG, and
the report. The scan proves, independently of pipeline.study.disclosure:
- no number rests on fewer than ``min_cell`` respondents (every base column, and every "n = k" in text);
- no suppressed cell can be recovered from its margin (a breakdown never hides exactly one level while
  its total is published);
- no respondent id, no free-text answer, no email address and no phone number appears anywhere.
Each rule is also run against a planted leak, so a scanner that sees nothing cannot pass.
"""

from __future__ import annotations

import html
import json
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from pipeline.core.codebook import load_codebook
from pipeline.core.config import load_config

# The built project is made once per run and shared by every worker (tests/built_project.py).
pytestmark = pytest.mark.slow

# Columns holding a count of respondents (or of responding LSPs) that a published number rests on.
BASE_COLUMNS = ("n", "n_a", "n_b", "n_smaller_group", "n_complete", "respondents", "lsps_responding")
N_IN_TEXT = re.compile(r"\bn\s*=\s*(\d+)\b")
RESPONDENT_ID = re.compile(r"\b[CP][0-9]{4,}\b")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# UK numbers as people write them: 01234 567890, 020 7123 4567, +44 20 7123 4567, 07700900123.
PHONE = re.compile(r"(?<![\w.])(?:\+44\s?|0)(?:\d[\s-]?){9,10}(?![\w.])")
EMBEDDED_DATA = re.compile(r"data:[a-z/+]+;base64,[A-Za-z0-9+/=]+")
MARGIN_KEYS = ["data", "instrument", "item", "measure", "group", "weighting"]


def published_outputs(project: Path) -> list[Path]:
    tables = sorted((project / "analysis" / "tables").glob("*"))
    figures = [
        path
        for suffix in ("*.csv", "*.caption.txt", "*.svg")
        for path in sorted((project / "figures").glob(suffix))
    ]
    pages = [
        project / "analysis" / name
        for name in ("report.html", "data_dictionary.html", "improvement_tool.html", "improvement_tool.json")
    ]
    workbooks = sorted((project / "analysis").glob("lsp_survey_tables.*"))
    return [*tables, *figures, *pages, *workbooks]


def text_of(path: Path) -> str:
    if path.suffix in (".xlsx", ".ods"):
        # A workbook is zipped XML: every cell's text, tags replaced by spaces so cells stay apart.
        with zipfile.ZipFile(path) as archive:
            parts = [archive.read(n).decode("utf-8") for n in archive.namelist() if n.endswith(".xml")]
        return html.unescape(re.sub(r"<[^>]+>", " ", " ".join(parts)))
    # The report's figures are embedded as base64; their bytes are images, not text anyone can read.
    return EMBEDDED_DATA.sub("", path.read_text(encoding="utf-8"))


def small_bases(table: pd.DataFrame, min_cell: int) -> list[str]:
    problems = []
    for column in BASE_COLUMNS:
        if column in table:
            values = pd.to_numeric(table[column], errors="coerce")
            for index in values.index[values.notna() & values.lt(min_cell)]:
                problems.append(f"row {index}: {column} = {values[index]:g}")
    return problems


# Counts of respondents or LSPs in the improvement tool's reference values (JSON, also embedded in its page).
JSON_BASES = ("n", "respondents", "lsps")
EMBEDDED_JSON = re.compile(r'<script type="application/json" id="reference-values">(.*?)</script>', re.S)


def small_bases_in_json(value, min_cell: int, where: str = "") -> list[str]:
    """Every count below min_cell anywhere in a JSON document (nulls are suppressed cells)."""
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            if (
                key in JSON_BASES
                and isinstance(item, int | float)
                and not isinstance(item, bool)
                and item < min_cell
            ):
                found.append(f"{where}/{key} = {item:g}")
            found += small_bases_in_json(item, min_cell, f"{where}/{key}")
        return found
    if isinstance(value, list):
        return [
            f for i, item in enumerate(value) for f in small_bases_in_json(item, min_cell, f"{where}/{i}")
        ]
    return []


def json_of(path: Path):
    """The reference values of the improvement tool's JSON file or of the block its page embeds."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".html":
        match = EMBEDDED_JSON.search(text)
        return None if match is None else json.loads(match.group(1).replace("<\\/", "</"))
    return json.loads(text)


def small_bases_in_text(text: str, min_cell: int) -> list[str]:
    return [match.group(0) for match in N_IN_TEXT.finditer(text) if int(match.group(1)) < min_cell]


def recoverable_by_subtraction(table: pd.DataFrame) -> list[str]:
    """Breakdowns hiding exactly one level while their total ("all") row is published."""
    if not {"suppressed", "level", *MARGIN_KEYS} <= set(table.columns):
        return []
    hidden = table["suppressed"].fillna("").ne("")
    totals = table[table["group"].eq("all") & ~hidden]
    published_total = set(map(tuple, totals[[k for k in MARGIN_KEYS if k != "group"]].astype(str).to_numpy()))
    levels = table[table["group"].ne("all")].assign(hidden=hidden)
    problems = []
    for key, rows in levels.groupby(MARGIN_KEYS, sort=False):
        total_key = tuple(str(v) for k, v in zip(MARGIN_KEYS, key, strict=True) if k != "group")
        if rows["hidden"].sum() == 1 and len(rows) > 1 and total_key in published_total:
            problems.append(" | ".join(map(str, key)))
    return problems


def leaks(text: str, respondent_ids: set[str], free_text: set[str]) -> list[str]:
    found = [f"respondent id {m}" for m in RESPONDENT_ID.findall(text)]
    words = set(re.findall(r"\w+", text))
    found += [f"respondent id {i}" for i in sorted(respondent_ids & words)]
    found += [f"free text {answer[:30]!r}" for answer in free_text if answer in text]
    found += [f"email {m}" for m in EMAIL.findall(text)]
    found += [f"phone {m.group(0).strip()}" for m in PHONE.finditer(text)]
    return found


@pytest.fixture(scope="module")
def scanned(built_project: Path):
    config = load_config(built_project / "config.yaml")
    codebook = load_codebook(config.codebook)
    responses = pd.concat(
        [
            pd.read_parquet(path)
            for path in sorted((built_project / "data/processed").glob("responses_*.parquet"))
        ]
    )
    free_columns = [v.name for v in codebook.variables if v.type == "free_text"]
    free_text = {
        str(answer).strip()
        for column in free_columns
        for answer in responses[column].dropna()
        if len(str(answer).strip()) >= 12  # shorter strings ("No.") occur in ordinary prose
    }
    ids = {str(i) for column in ("respondent_id",) for i in responses[column].dropna()}
    return built_project, config, free_text, ids


def test_the_scan_sees_every_published_output(scanned):
    project, *_ = scanned
    outputs = published_outputs(project)
    assert project / "analysis/report.html" in outputs
    assert project / "analysis/improvement_tool.html" in outputs
    assert {path.suffix for path in outputs} >= {".xlsx", ".ods"}
    assert len([p for p in outputs if p.parent.name == "figures" and p.suffix == ".csv"]) >= 25
    assert all(path.exists() for path in outputs)


def test_no_number_rests_on_fewer_than_min_cell_respondents(scanned):
    project, config, *_ = scanned
    problems = {}
    for path in published_outputs(project):
        found = (
            small_bases(pd.read_csv(path, low_memory=False), config.min_cell) if path.suffix == ".csv" else []
        )
        if path.suffix in (".md", ".txt", ".html", ".xlsx", ".ods"):
            found += small_bases_in_text(text_of(path), config.min_cell)
        if path.name.startswith("improvement_tool"):
            values = json_of(path)
            assert values is not None, f"{path.name}: no reference values found"
            found += small_bases_in_json(values, config.min_cell)
        if found:
            problems[path.name] = found[:3]
    assert problems == {}


def test_no_suppressed_cell_is_recoverable_from_its_margin(scanned):
    project, *_ = scanned
    problems = {}
    for name in ("estimates.csv",):
        table = pd.read_csv(
            project / "analysis/tables" / name, dtype={"suppressed": "string"}, low_memory=False
        )
        found = recoverable_by_subtraction(table)
        if found:
            problems[name] = found[:3]
    assert problems == {}


def test_no_respondent_id_free_text_email_or_phone_anywhere(scanned):
    project, _, free_text, ids = scanned
    assert free_text and ids  # the bundled data have both, so the scan has something to look for
    problems = {
        path.name: found[:3]
        for path in published_outputs(project)
        if (found := leaks(text_of(path), ids, free_text))
    }
    assert problems == {}


def test_each_rule_catches_a_planted_leak(scanned):
    _, config, free_text, ids = scanned
    some_id, some_answer = sorted(ids)[0], sorted(free_text)[0]
    assert small_bases(pd.DataFrame({"n": [12, 3]}), config.min_cell) == ["row 1: n = 3"]
    assert small_bases_in_text("Single-tier (n = 4)", config.min_cell) == ["n = 4"]
    planted_json = {"groups": [{"key": "all", "respondents": 473}, {"key": "x", "respondents": 3}], "n": None}
    assert small_bases_in_json(planted_json, config.min_cell) == ["/groups/1/respondents = 3"]
    table = pd.DataFrame(
        {
            "data": "S",
            "instrument": "coordinator",
            "item": "x",
            "measure": "agree",
            "group": ["all", "tier", "tier"],
            "weighting": "weighted",
            "level": ["all", "single", "multi"],
            "suppressed": ["", "primary: fewer than 5 respondents", ""],
        }
    )
    assert recoverable_by_subtraction(table) == ["S | coordinator | x | agree | tier | weighted"]
    planted = f"<td>{some_id}</td> {some_answer} write to jo.bloggs@example.gov.uk or call 020 7123 4567"
    found = leaks(planted, ids, free_text)
    assert {f.split(" ")[0] for f in found} >= {"respondent", "free", "email", "phone"}
    # Ordinary numbers in the tables are not phone numbers.
    assert leaks("0.0591726009, 186.0, 2008, 0.5199187164", set(), set()) == []
