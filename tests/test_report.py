"""Report stage: a publication from templates; linked findings, tables for people, light figures."""

import dataclasses
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from pipeline.core.errors import PipelineError
from pipeline.core.paths import WEIGHTING_VALIDATION_RESULTS
from pipeline.stages import report as report_stage
from pipeline.stages.report import (
    SECTIONS,
    TEMPLATES,
    ReportInputs,
    Row,
    Table,
    environment,
    load_figures,
    output_index,
    render_annex,
    render_report,
    screen_png,
)
from pipeline.stages.report import dictionary as report_dictionary
from pipeline.stages.report.embed import figure_description
from pipeline.stages.report.tables import slug
from pipeline.stages.report_tables import words
from pipeline.study import display
from pipeline.study import outputs as registered
from tests.toy_survey import toy_analysis

SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg"><metadata><rdf:RDF><cc:Work><dc:title>{title}</dc:title>'
    "</cc:Work></rdf:RDF></metadata></svg>"
)


def _draw(folder: Path, name: str, size=(450, 300), title: str | None = None) -> None:
    # A striped image, so downscaling has something to do, drawn the same way every time.
    image = Image.new("RGB", size, "white")
    for x in range(0, size[0], 30):
        for y in range(size[1]):
            image.putpixel((x, y), (0, 114, 178))
    image.save(folder / f"{name}.png")
    (folder / f"{name}.svg").write_text(SVG.format(title=title or f"Title of {name} &amp; more"))
    pd.DataFrame({"level": ["a", "b"], "estimate": [0.25, 0.5]}).to_csv(folder / f"{name}.csv", index=False)
    (folder / f"{name}.caption.txt").write_text(
        "Population: LSP coordinators\nn: 191\nWeighting: weighted\n"
        "Synthetic data: not the Audit Commission's\n"
    )


@pytest.fixture()
def figures(tmp_path):
    folder = tmp_path / "figures"
    folder.mkdir()
    for name in ("coverage", "forest", "challenge", "likert_style_tier"):
        _draw(folder, name)
    return folder


# The models, measurement and nonresponse stages' tables from a build of the synthetic survey (refresh by
# copying analysis/tables/<name>.csv here; a test holds them to the registry's columns).
STAGE_TABLES = Path(__file__).parent / "fixtures" / "report_tables"


def stage_tables() -> dict[str, pd.DataFrame]:
    return {path.stem: report_stage.read_table(path) for path in sorted(STAGE_TABLES.glob("*.csv"))}


def _inputs(config, codebook, figures: Path, report_dir: Path) -> ReportInputs:
    _, analysed = toy_analysis(seed=7, tier_shift=1.0)
    tables = {**stage_tables(), **analysed}
    if WEIGHTING_VALIDATION_RESULTS.exists():
        tables["weighting_validation"] = report_stage.read_table(WEIGHTING_VALIDATION_RESULTS)
    manifests = {
        "validation": {
            "files": {"data/raw/x.csv": {"instrument": "coordinator", "read": 3, "valid": 2, "rejected": 1}}
        },
        "ingest": {
            "inputs": [{"path": "data/raw/x.csv", "rows": 3, "sha256": "ab" * 32}],
            "packages": {"pandas": "3.1.1"},
            "code_version": {"commit": "c0ffee", "dirty": False},
        },
        "analysis": {"designs": {"design_effect": {"weighted": "srswor"}, "weighted": {}}},
    }
    entries = load_figures(figures, report_dir, codebook, synthetic=True)
    return ReportInputs(config, codebook, tables, manifests, entries, output_index(config, codebook))


def test_the_stage_table_fixtures_hold_the_registered_columns(codebook):
    from pipeline.stages import report_inference
    from pipeline.study.schemas import failures, output_schema

    registry = {output.name: output for output in registered.all_outputs(codebook)}
    fixtures = stage_tables()
    wanted = {*report_inference.PRIMARY_TABLES, *report_inference.NONRESPONSE_TABLES} - {"comparisons"}
    assert set(fixtures) == wanted
    for name, table in fixtures.items():
        found = failures(output_schema(registry[name], codebook), table)
        assert found.empty, f"{name}: {found.head(3).to_dict('records')}"


@pytest.fixture()
def built(config, codebook, figures, tmp_path):
    inputs = _inputs(config, codebook, figures, tmp_path / "analysis")
    return render_report(inputs), inputs


@pytest.fixture
def annex(built):
    return render_annex(built[1])


class _Page(HTMLParser):
    """Every id, every in-page link, every image's attributes and the text of table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.images: list[dict[str, str]] = []
        self.cells: list[str] = []
        self.title = ""
        self._cell: list[str] | None = None
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.add(attributes["id"])
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        if tag == "img":
            self.images.append(attributes)
        if tag in ("td", "th"):
            self._cell = []
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell).strip())
            self._cell = None
        self._in_title = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in_title:
            self.title += data


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def test_the_tab_title_and_the_banner_say_synthetic(built):
    html, _ = built
    page = _parse(html)
    assert page.title.startswith("Synthetic data:")
    assert 'id="synthetic-banner"' in html


def test_every_in_page_link_has_a_target_and_each_finding_links_a_figure_and_a_row(built, annex):
    html, _ = built
    pages = {"report.html": _parse(html), "technical_annex.html": _parse(annex)}
    for name, page in pages.items():
        internal = [link[1:] for link in page.links if link.startswith("#")]
        assert internal and set(internal) <= page.ids, (name, set(internal) - page.ids)
        for other, target in pages.items():
            across = [link.split("#", 1)[1] for link in page.links if link.startswith(f"{other}#")]
            assert set(across) <= target.ids, (name, other, set(across) - target.ids)
    findings = html[
        html.index('<ol class="findings">') : html.index("</ol>", html.index('<ol class="findings">'))
    ]
    items = findings.split("<li>")[1:]
    assert len(items) >= 4
    for item in items:
        assert re.search(r'href="[^"]*#row-[^"]+"', item), item
        assert "95%" in item or ("%" in item and " to " in item)
        assert "n = " in item
    assert sum(bool(re.search(r'href="[^"]*#figure-', item)) for item in items) >= 3


def test_figures_are_numbered_titled_from_their_svg_with_alt_text_apart_from_the_caption(built):
    html, inputs = built
    page = _parse(html)
    numbers = [entry.number for entry in inputs.figures.values()]
    assert numbers == list(range(1, len(numbers) + 1))
    # In the order of the sections: coverage (who answered) before forest (tier) before challenge.
    assert list(inputs.figures) == ["coverage", "forest", "likert_style_tier", "challenge"]
    assert (
        '<h3 id="figure-forest-title"><span class="figure-number">Figure 2:</span> '
        "Title of forest &amp; more</h3>" in html
    )
    for image, entry in zip(page.images, inputs.figures.values(), strict=True):
        assert image["alt"].startswith(f"{entry.label}: {entry.heading}. ")
        assert image["alt"].endswith(entry.description)
        assert "Population" not in image["alt"]  # the caption is a separate note, not the alt text
    assert "<dt>Population</dt><dd>LSP coordinators</dd>" in html


def test_figures_are_embedded_at_screen_resolution_and_link_to_their_files(built, figures):
    html, _ = built
    page = _parse(html)
    assert len(page.images) == 4
    for image in page.images:
        assert image["src"].startswith("data:image/png;base64,")
        assert (int(image["width"]), int(image["height"])) == (330, 220)  # 450x300 at 150 -> 110 dpi
    links = [link for link in page.links if not link.startswith("#")]
    for suffix in ("png", "svg", "csv"):
        assert f"../figures/coverage.{suffix}" in links
    report_dir = figures.parent / "analysis"
    for link in links:
        if link.startswith("../figures/"):
            assert (report_dir / link).resolve().exists(), link


def test_screen_png_is_deterministic_and_smaller(figures, tmp_path):
    first, width, height = screen_png(figures / "coverage.png", cache=None)
    second, *_ = screen_png(figures / "coverage.png", cache=None)
    assert first == second
    assert (width, height) == (330, 220)
    assert Image.open(io.BytesIO(first)).size == (330, 220)
    # The cache returns the same bytes and size, and a changed source misses it.
    cache = tmp_path / "screen"
    assert screen_png(figures / "coverage.png", cache=cache) == (first, 330, 220)
    assert len(list(cache.iterdir())) == 1
    assert screen_png(figures / "coverage.png", cache=cache) == (first, 330, 220)
    _draw(figures, "coverage", size=(600, 450))
    assert screen_png(figures / "coverage.png", cache=cache)[1:] == (440, 330)
    assert len(list(cache.iterdir())) == 2


def test_no_python_repr_or_raw_value_reaches_a_table_cell(built):
    html, _ = built
    cells = _parse(html).cells
    assert cells
    raw = re.compile(r"^(True|False|nan|None|NaN|<NA>)$|\{'|\d\.\d{5,}")
    assert [c for c in cells if raw.search(c)] == []
    # snake_case is a column or code name leaking through; file and module names keep theirs.
    snake = re.compile(r"\b[a-z]+_[a-z_]+\b")
    assert [c for c in cells if snake.search(c) and not re.search(r"[/.]", c)] == []
    assert "{'" not in html and "code_version" not in html


def test_every_table_has_a_caption_and_scoped_headers(built, annex):
    html = built[0] + annex
    tables = re.findall(r"<table id=\"[^\"]+\">.*?</table>", html, re.DOTALL)
    assert len(tables) >= 10
    for table in tables:
        assert "<caption" in table
        assert '<th scope="col"' in table
        assert "<td" not in table.split("<tbody>")[0]


def test_report_tables_finds_in_the_templates_exactly_the_tables_the_pages_draw(built, annex, tmp_path):
    """report-tables finds the tables without rendering the pages; the rendered pages draw the same ones,
    in the same order, cell for cell, and the report's check passes on them and stops on a changed cell."""
    from pipeline.stages.report.inputs import ANNEX_PAGE, MAIN_PAGE
    from pipeline.stages.report.sections import section_contexts
    from pipeline.stages.report.table_export import check_report_tables, page_tables, report_tables

    html, inputs = built
    pages = {MAIN_PAGE: html, ANNEX_PAGE: annex}
    contexts = {page: section_contexts(inputs, page) for page in pages}
    for page, rendered in pages.items():
        found = page_tables(inputs, page, None, contexts[page])
        assert len(found) >= 3
        assert found == page_tables(inputs, page, rendered, contexts[page])
    written = tmp_path / "report_tables.json"
    written.write_text(report_tables(inputs, dict.fromkeys(pages), contexts), encoding="utf-8")
    check_report_tables(inputs, pages, contexts, written)
    record = json.loads(written.read_text(encoding="utf-8"))
    record["tables"][-1]["rows"][0][0] += " (edited)"
    written.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(PipelineError, match=f"table {record['tables'][-1]['id']} .*is not as the page"):
        check_report_tables(inputs, pages, contexts, written)


def test_every_published_number_is_in_the_report_and_the_rest_listed_with_reasons(built):
    html, inputs = built
    published = inputs.tables["published_vs_reproduced"]
    for text in published.loc[published["status"] == "compared", "published"].dropna():
        assert display_escape(words(text)) in html, text
    apart = published[published["status"] != "compared"]
    listing = html[html.index('<details class="not-reproducible">') :]
    for reason in apart["reason"].dropna():
        assert display_escape(words(reason)) in listing


def display_escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;")


def test_the_reconciliation_and_provenance_read_as_text(annex):
    html = annex
    assert "commit c0ffee" in html and "lsp-survey-rap" in html
    assert "weighted: srswor" in html


def test_report_is_deterministic(config, codebook, figures, tmp_path):
    first = render_report(_inputs(config, codebook, figures, tmp_path / "analysis"))
    second = render_report(_inputs(config, codebook, figures, tmp_path / "analysis"))
    assert first == second


def test_a_figure_without_its_numbers_is_an_error(tmp_path, codebook):
    _draw(tmp_path, "coverage")
    (tmp_path / "coverage.csv").unlink()
    with pytest.raises(PipelineError, match="no data file"):
        load_figures(tmp_path, tmp_path, codebook, synthetic=True)


def test_a_figure_in_no_section_is_an_error(tmp_path, codebook):
    _draw(tmp_path, "unplaced_chart")
    with pytest.raises(PipelineError, match="in no report section"):
        load_figures(tmp_path, tmp_path, codebook, synthetic=True)


def test_every_registered_figure_has_a_place_and_a_description(codebook):
    placed = [name for section in SECTIONS for name in section.figure_names(codebook)]
    assert sorted(placed) == sorted(figure.name for figure in registered.figures(codebook))
    assert len(placed) == len(set(placed))
    for name in placed:
        assert figure_description(name, codebook).endswith(".")


def test_every_section_has_its_template():
    for section in SECTIONS:
        assert (TEMPLATES / section.template).exists(), section.template
        environment().get_template(section.template)


def test_text_is_escaped_by_the_templates():
    table = Table("t", "<b>caption</b>", ("<script>",), (Row(("<script>alert(1)</script>",)),))
    rendered = environment().get_template("macros.html.j2").module.table(table)
    assert "<script>" not in str(rendered)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in str(rendered)


def test_a_table_row_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match="every row needs 2 cells"):
        Table("t", "caption", ("a", "b"), (Row(("only one",)),))


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: display.percent_ci(0.5201, 0.4612, 0.5849), "52% (46% to 58%)"),
        (lambda: display.percent_ci(0.52, float("nan"), 0.6), "52%"),
        (lambda: display.percent_ci(float("nan"), 0.1, 0.2), ""),
        (lambda: display.points_ci(-0.0320, -0.0682, 0.0043), "\u22123.2 (\u22126.8 to 0.4)"),
        (lambda: display.p_value(0.0000271), "<0.001"),
        (lambda: display.p_value(0.08549), "0.085"),
        (lambda: display.p_statement(0.0000271), "p < 0.001"),
        (lambda: display.p_statement(0.5, "FDR p"), "FDR p = 0.500"),
        (lambda: display.yes_no("True"), "Yes"),
        (lambda: display.yes_no(False), "No"),
        (lambda: display.yes_no(None), ""),
        (lambda: display.count(1234.0), "1,234"),
        (lambda: display.number(-0.5, 2), "\u22120.50"),
        (lambda: display.header("p_fdr"), "p-value, FDR-adjusted"),
        (lambda: display.header("alpha", "scale_reliability"), "Cronbach's alpha"),
        (lambda: display.header("alpha", "power"), "Significance level"),
    ],
)
def test_display_formats(call, expected):
    assert call() == expected


def test_every_published_column_has_a_readable_header_of_its_own():
    _, tables = toy_analysis(seed=7, tier_shift=1.0)
    for name, table in tables.items():
        headers = [display.header(column, name) for column in table.columns]
        assert len(set(headers)) == len(headers), name
        for column in table.columns:
            assert column in display.COLUMN_HEADERS, column


def test_the_figure_titles_come_from_the_figure_stage(tmp_path, codebook):
    _draw(tmp_path, "coverage", title="Survey coverage")
    entry = load_figures(tmp_path, tmp_path, codebook, synthetic=True)["coverage"]
    assert entry.title == "Survey coverage"
    assert json.dumps(entry.links)  # plain strings, relative paths


def test_the_output_index_names_functions_that_exist(config, codebook):
    import importlib

    index = output_index(config, codebook)
    # The tables, the two pages, their tables' file, the data dictionary, the two spreadsheets; the figures.
    assert len(index) == len(registered.tables(codebook)) + 6 + len(registered.figures(codebook))
    for maker in index["made by"]:
        module, function = maker.split(":")
        assert hasattr(importlib.import_module(module), function), maker
    # Inputs are files (paths), not registry or configuration names.
    for inputs in index["inputs"]:
        for name in filter(None, inputs.split(", ")):
            assert "/" in name, name


def test_the_data_dictionary_lists_every_column_of_every_registered_output(config, codebook):
    page = report_stage.render_data_dictionary(config, codebook, "report.html")
    parsed = _parse(page)
    assert parsed.title.startswith("Synthetic data:")
    folders = report_dictionary._folders(config)
    for output in (*registered.tables(codebook), *registered.SPREADSHEETS, registered.REPORT):
        anchor = slug(registered.relative_path(output, folders))
        assert f'id="output-{anchor}"' in page
        for column in output.columns or ():
            assert column.name in parsed.cells, (output.name, column.name)
    for figure in registered.figures(codebook):
        for column in figure.columns:
            assert column.name in parsed.cells
    assert 'href="report.html"' in page


def test_the_frame_size_in_the_prose_comes_from_the_frame_comparison(config, codebook, figures, tmp_path):
    """The pages never type the number of LSPs: a frame of another size is quoted at that size."""
    inputs = _inputs(config, codebook, figures, tmp_path / "analysis")
    assert inputs.frame_lsps == 388
    table = inputs.tables["nonresponse_frame_comparison"]
    grown = table.assign(frame_lsps=table["frame_lsps"].mask(table["level"].eq("mean"), 4242))
    other = dataclasses.replace(inputs, tables={**inputs.tables, "nonresponse_frame_comparison": grown})
    pages = render_report(other) + render_annex(other)
    # who answered, the 7S table's note, nonresponse (2), the two primary tests, methods (2), quality
    assert pages.count("4242") == 9
    # Left: decimals such as 0.388 and the published context figure's id (the Audit Commission's own number).
    rest = re.sub(r"\d*\.388\d*|context frame 388", "", pages)
    assert re.findall(r"\b388\b", rest) == []
