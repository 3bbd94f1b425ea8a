"""Report stage: one self-contained HTML file with the banner, every figure and every published number."""

import base64
import json
import re

import pandas as pd
import pytest

from pipeline.core.codebook import load_codebook
from pipeline.core.errors import PipelineError
from pipeline.stages.report import figure_sections, html_table, output_index, render_report
from tests.toy_survey import toy_analysis

# The smallest valid PNG: one transparent pixel.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture()
def figures(tmp_path):
    for name in ("coverage", "forest"):
        (tmp_path / f"{name}.png").write_bytes(PIXEL)
        pd.DataFrame({"level": ["a", "b"], "estimate": [0.25, 0.5]}).to_csv(
            tmp_path / f"{name}.csv", index=False
        )
        (tmp_path / f"{name}.caption.txt").write_text(f"{name}: coordinators, weighted. Synthetic data.\n")
    return tmp_path


def _report(config, figures):
    _, tables = toy_analysis(seed=7, tier_shift=1.0)
    codebook = load_codebook(config.codebook)
    manifests = {
        "validation": {"files": {"data/raw/x.csv": {"read": 3, "valid": 2, "rejected": 1}}},
        "ingest": {"inputs": [{"path": "data/raw/x.csv", "rows": 3, "sha256": "ab" * 32}], "packages": {}},
        "analysis": {},
    }
    figures_html = figure_sections(figures, synthetic=True)
    return render_report(
        config, codebook, tables, manifests, figures_html, output_index(config, codebook)
    ), tables


def test_report_embeds_every_figure_beside_its_numbers(config, figures):
    report, _ = _report(config, figures)
    assert report.count('src="data:image/png;base64,') == 2
    assert 'id="figure-coverage"' in report and 'id="figure-forest"' in report
    assert "figures/coverage.csv" in report
    assert not re.search(r'src="(?!data:)', report)  # nothing loaded from outside the file


def test_report_has_the_synthetic_banner_and_every_published_number(config, figures):
    report, _ = _report(config, figures)
    assert 'id="synthetic-banner"' in report
    published = json.loads(config.published_figures.read_text(encoding="utf-8"))
    for entry in published:
        assert entry["id"] in report
        for value in entry.get("values", []):
            if isinstance(value.get("value"), int | float):
                assert str(value["value"]) in report
    assert "read 3 = valid 2 + rejected 1" in report


def test_report_is_deterministic(config, figures):
    assert _report(config, figures)[0] == _report(config, figures)[0]


def test_a_figure_without_its_numbers_is_an_error(tmp_path):
    (tmp_path / "lonely.png").write_bytes(PIXEL)
    with pytest.raises(PipelineError, match="no data file"):
        figure_sections(tmp_path, synthetic=True)


def test_tables_escape_text():
    rendered = html_table(pd.DataFrame({"label": ["<script>alert(1)</script>"], "value": [0.123456]}))
    assert "<script>" not in rendered
    assert "0.1235" in rendered
