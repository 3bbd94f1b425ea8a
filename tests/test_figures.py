"""Figures: the plotted numbers are right, nothing small is shown, output bytes are stable, images match.

The figures are built from a toy survey (tests/toy_survey.py) run through derive and analyse in a
temporary folder. Image regression of every figure is tests/test_figure_images.py.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.config import load_config
from pipeline.core.io import write_csv, write_parquet
from pipeline.core.paths import PROJECT_ROOT
from pipeline.figures import build_figure
from pipeline.study.vocabulary import INSTRUMENTS
from tests.built_project import make_variable
from tests.toy_survey import toy_analysis

# Its costly fixtures are session-scoped and one worker runs the whole module: they are computed once
# (a module-scoped fixture is torn down and rebuilt whenever the worker interleaves another module).
pytestmark = pytest.mark.xdist_group("figures")

# The figures drawn to files here (the SVG and byte-stability tests): a Likert and a forest figure.
IMAGE_FIGURES = ("likert_standards_tier", "forest")


@dataclasses.dataclass(frozen=True)
class Workspace:
    root: Path
    base: Path
    tables: Path


@functools.cache
def toy_workspace() -> Workspace:
    """Analysis base and tables of a toy survey, built once per test session (shared with test_verify)."""
    root = Path(tempfile.mkdtemp(prefix="figures-test-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    # The analysis tests' toy analysis (computed once per run): analyse leaves the base as derive made it.
    base, tables = toy_analysis(seed=7, tier_shift=1.0)
    write_parquet(base, root / "analysis_base.parquet")
    for name, table in tables.items():
        if name != "scale_reliability":  # derive's table, not one the analysis writes
            write_csv(table.round(10), root / "tables" / f"{name}.csv")
    return Workspace(root, root / "analysis_base.parquet", root / "tables")


def toy_inputs(config=None):
    from pipeline.figures.common import Inputs

    workspace = toy_workspace()
    return Inputs(config or load_config(), workspace.base, workspace.tables)


@pytest.fixture(scope="session")
def inputs():
    return toy_inputs()


@pytest.fixture(scope="session")
def specs(inputs):
    from pipeline.figures import registry

    return registry(inputs.codebook)


@pytest.fixture(scope="session")
def built(inputs, specs):
    """Every figure's data (no rendering: building the ggplot is cheap, drawing it is not)."""
    return {name: build_figure(spec, inputs) for name, spec in specs.items()}


@pytest.fixture(scope="session")
def first_drawn(built, tmp_path_factory):
    """The image figures saved once into an empty folder: each one's paths and the files save_figure
    said it wrote (a figure takes about a CPU-second to draw, so the tests share this draw)."""
    from pipeline.figures.common import save_figure

    out = tmp_path_factory.mktemp("figures")
    drawn = {}
    for name in IMAGE_FIGURES:
        written: list[Path] = []
        drawn[name] = (save_figure(built[name], name, out, written), tuple(written))
    return drawn


@pytest.fixture(scope="session")
def rendered(first_drawn):
    """Each image figure's files as save_figure first wrote them (read-only: copy before changing)."""
    return {name: paths for name, (paths, _) in first_drawn.items()}


def test_registry_has_every_figure_of_the_brief(specs, inputs):
    expected = {
        "coverage",
        "challenge",
        "financial_influence",
        "barriers",
        "support_costs_known",
        "resources_mapped",
        "support_team_composition",
        "forest",
        "maturity_profile",
        "case_studies",
        "published",
        "nonresponse",
    }
    expected |= {f"likert_{e}_{g}" for e in inputs.codebook.elements for g in ("tier", "maturity")}
    assert set(specs) == expected


def test_makefile_lists_every_figure(specs):
    """The Makefile's figure list (it cannot import the registry) names exactly the registered figures."""
    assert sorted(make_variable("FIGURE_NAMES") + make_variable("LIKERT_FIGURES")) == sorted(specs)


def test_makefile_figure_prerequisites_are_the_stage_dependencies(specs):
    """What make watches is what the stage's staleness check reads: shared code, modules and inputs."""
    from pipeline.figures import module_sources, shared_sources

    assert make_variable("SOURCES_figures") == list(shared_sources(PROJECT_ROOT))
    modules = {path for spec in specs.values() for path in module_sources(spec.module, PROJECT_ROOT)}
    assert sorted(make_variable("FIGURE_MODULES")) == sorted(modules)


def test_stale_figures_are_those_whose_sources_changed(tmp_path, specs):
    from pipeline.figures import output_paths, sources_digest, stale, stamp_path

    spec, out = specs["forest"], tmp_path / "out"
    module, shared = tmp_path / "forest.py", tmp_path / "common.py"
    module.write_text("x = 1\n")
    shared.write_text("")
    sources = [shared, module]
    assert stale(spec, out, sources)  # never drawn
    out.mkdir()
    for path in output_paths(out, spec.name):
        path.write_text("")
    assert stale(spec, out, sources)  # files, but no record of what they were drawn from
    record = stamp_path(out, spec.name)
    record.write_text(sources_digest(sources) + "\n")
    assert not stale(spec, out, sources)  # recorded after its sources

    def later(path: Path) -> None:
        moment = record.stat().st_mtime_ns + 2_000_000_000
        os.utime(path, ns=(moment, moment))

    later(module)
    # Newer than the record, but the same contents: a touch. The figure's files are older than the module
    # and stay so (the stage renews the record's time, never theirs).
    assert not stale(spec, out, sources)
    assert all(path.stat().st_mtime_ns < module.stat().st_mtime_ns for path in output_paths(out, spec.name))
    module.write_text("x = 2\n")
    later(module)
    assert stale(spec, out, sources)  # an edit
    record.write_text(sources_digest(sources) + "\n")
    later(record)
    assert not stale(spec, out, sources)  # drawn again after the edit
    output_paths(out, spec.name)[1].unlink()
    assert stale(spec, out, [shared])  # one file missing


def test_a_figure_drawn_again_with_the_same_bytes_keeps_its_files(built, first_drawn, tmp_path):
    """What spares the report a rerun: save_figure leaves a file whose new bytes equal the old untouched,
    its time included, and rewrites only a file that changed."""
    from pipeline.figures.common import outputs, save_figure

    name = IMAGE_FIGURES[0]
    # The first draw (into an empty folder) wrote every file; it is the session's, copied here to draw over.
    drawn, first = first_drawn[name]
    assert sorted(first) == sorted(drawn.values())
    paths = outputs(tmp_path, name)
    for kind, path in drawn.items():
        shutil.copyfile(path, paths[kind])
    past = 1_000_000_000_000_000_000
    for path in paths.values():
        os.utime(path, ns=(past, past))
    paths["caption.txt"].write_text("an older caption\n", encoding="utf-8")
    os.utime(paths["caption.txt"], ns=(past, past))
    again: list[Path] = []
    save_figure(built[name], name, tmp_path, again)
    assert again == [paths["caption.txt"]]
    assert paths["caption.txt"].read_text(encoding="utf-8") == built[name].caption
    assert {kind: path.stat().st_mtime_ns == past for kind, path in paths.items()} == {
        "png": True,
        "svg": True,
        "csv": True,
        "caption.txt": False,
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in paths.values()
    )  # no temporaries


def test_published_figure_draws_every_compared_percentage(built, inputs):
    published = inputs.published
    compared = published[
        published["status"].eq("compared")
        & published["value_basis"].ne("direction")
        & published["estimate"].notna()
        & (published["published_value"].notna() | published["bounds"].fillna("").ne(""))
    ]
    table = built["published"].table
    assert list(table["quantity_key"]) == list(compared["quantity_key"])
    np.testing.assert_array_equal(table["estimate"].to_numpy(), compared["estimate"].to_numpy())
    np.testing.assert_array_equal(table["ci_low"].to_numpy(), compared["ci_low"].to_numpy())
    # A wording-only number is drawn as its range; a published number as itself.
    ranged = compared["bounds"].fillna("").ne("")
    assert table.loc[ranged.to_numpy(), "bounds_low"].notna().all()
    assert table["published_value"].notna().sum() == compared["published_value"].notna().sum()


def test_likert_substantive_shares_sum_to_100_with_dont_know_aside(built, inputs):
    for name in (n for n in built if n.startswith("likert_")):
        table = built[name].table
        shown = table[table["suppressed"].eq("")]
        substantive = shown[shown["category"].ne("dont_know")]
        sums = substantive.groupby(["facet", "item"])["percentage"].sum()
        np.testing.assert_allclose(sums.to_numpy(), 100.0, rtol=1e-12, err_msg=name)
        # One don't-know row per item and facet, never among the bar segments.
        dont_know = shown[shown["category"].eq("dont_know")]
        assert len(dont_know) == len(sums), name
        assert (dont_know["segment_start"] == 0).all(), name
        # Bars are centred: the neutral category straddles zero.
        neutral = substantive[substantive["category"].eq("3")]
        assert (neutral["segment_start"] <= 1e-12).all() and (neutral["segment_end"] >= -1e-12).all()
        np.testing.assert_allclose(neutral["segment_start"] + neutral["segment_end"], 0.0, atol=1e-9)


def test_likert_percentage_matches_a_hand_count(built, inputs):
    """One cell by hand: weighted share of 'agree' among coordinators' substantive answers, single-tier."""
    base = inputs.base
    rows = base[base["respondent_type"].eq("coordinator") & base["tier"].eq("single")]
    codes = rows["information_shared"].astype(float)
    valid = codes.between(1, 5)
    expected = 100 * rows.loc[valid & codes.eq(4), "weight"].sum() / rows.loc[valid, "weight"].sum()
    table = built["likert_standards_tier"].table
    row = table[
        table["instrument"].eq("coordinator")
        & table["group_level"].eq("single")
        & table["item"].eq("information_shared")
        & table["category"].eq("4")
    ]
    assert row["percentage"].iloc[0] == pytest.approx(expected, rel=1e-12)
    assert row["n"].iloc[0] == valid.sum()


def test_facet_labels_carry_n(built):
    facets = set(built["likert_strategy_tier"].table["facet"])
    assert any(f.startswith("LSP coordinators: Single-tier (n = ") for f in facets)


def test_coverage_counts_equal_the_frame(built, inputs):
    table = built["coverage"].table
    frame = inputs.frame
    for breakdown in ("authority_type", "region"):
        for instrument in INSTRUMENTS:
            mine = table[table["breakdown"].eq(breakdown) & table["instrument"].eq(instrument)]
            assert (
                mine.set_index("level")["lsps_in_frame"].to_dict()
                == frame[breakdown].value_counts().to_dict()
            )
    coordinators = table[table["instrument"].eq("coordinator") & table["breakdown"].eq("authority_type")]
    assert coordinators["respondents"].sum() == inputs.base["respondent_type"].eq("coordinator").sum()


def test_forest_rows_are_the_comparisons_rows(built, inputs):
    comparisons = inputs.comparisons
    likert = {v.name for v in inputs.codebook.likert_items()}
    expected = comparisons[
        comparisons["weighting"].eq("weighted")
        & comparisons["test"].eq("difference (design-based t)")
        & comparisons["measure"].eq("agree")
        & comparisons["item"].isin(likert)
        & comparisons["instrument"].isin(list(INSTRUMENTS))
        & comparisons["group"].isin(["tier", "maturity"])
    ]
    table = built["forest"].table
    assert len(table) == len(expected)
    keys = ["instrument", "item", "group"]
    merged = table.merge(expected, on=keys, suffixes=("", "_c"), validate="one_to_one")
    np.testing.assert_array_equal(merged["estimate"], merged["estimate_c"])
    assert (merged["significant_fdr"] == (merged["p_fdr_c"] < 0.05)).all()


def test_case_studies_are_the_17_frame_flags(built, inputs):
    table = built["case_studies"].table
    cases = table[table["population"].eq("Case-study LSPs")]
    for characteristic, counts in cases.groupby("characteristic")["lsps"]:
        assert counts.sum() == 17, characteristic
    assert "Synthetic data" not in built["case_studies"].caption  # frame only: real data


def test_estimate_figures_come_from_the_codebook_provenance(built, inputs):
    assert set(built["financial_influence"].table["item"]) == {
        v.name for v in inputs.codebook.variables if v.provenance == "Figure 12"
    }
    assert set(built["challenge"].table["level"]) == {
        "all",
        "county",
        "shire_district",
        "metropolitan_district",
        "london_borough",
        "unitary",
    }


def test_no_cell_under_min_cell_is_plotted(inputs, specs):
    """With a high threshold many cells are small: none may be plotted, each is flagged instead."""
    from pipeline.figures import build_figure

    config = dataclasses.replace(inputs.config, min_cell=60)
    strict = toy_inputs(config)
    for name in ("likert_standards_tier", "coverage"):
        table = build_figure(specs[name], strict).table
        assert table["suppressed"].ne("").any(), name
        n_column = "n" if "n" in table else "respondents"
        assert not (table[n_column] < 60).any(), name


def test_every_survey_figure_says_synthetic(built, inputs):
    assert inputs.config.synthetic_data
    for name, figure in built.items():
        if name != "case_studies":
            assert "Synthetic data: not the Audit Commission's figures" in figure.caption, name
            assert "Synthetic data" in str(figure.plot.labels.get("caption", "")), name


def test_svg_contains_synthetic_data(rendered):
    for paths in rendered.values():
        assert b"Synthetic data" in paths["svg"].read_bytes()


def test_svg_carries_the_figure_title_for_the_report(built, rendered):
    # The report heads each figure with this title and builds its alt text from it.
    for name, paths in rendered.items():
        title = " ".join(built[name].plot.labels.title.split())  # drawn wrapped, kept on one line
        assert title and f"<dc:title>{title}</dc:title>".encode() in paths["svg"].read_bytes(), name


def test_output_is_byte_identical_on_rerun(built, rendered, tmp_path):
    from pipeline.figures.common import save_figure

    name = IMAGE_FIGURES[0]
    again = save_figure(built[name], name, tmp_path)
    for kind, path in rendered[name].items():
        assert path.read_bytes() == again[kind].read_bytes(), kind
    assert b"Software" not in again["png"].read_bytes()
    assert b"<dc:date>" not in again["svg"].read_bytes()


def test_every_figure_title_states_the_finding_its_plotted_numbers_give(built, specs, inputs):
    """The title drawn in each figure is the rule's sentence over the figure's own CSV; the chart's name
    moves to the subtitle. On the toy survey every figure has a finding to state."""
    from pipeline.study.figure_titles import as_written, figure_title

    for name, figure in built.items():
        declared = tuple(column.name for column in specs[name].columns)
        finding = figure_title(name, as_written(figure.table), declared, inputs.codebook)
        assert finding is not None, name
        assert " ".join(figure.plot.labels.title.split()) == finding, name
        assert figure.plot.labels.subtitle, name


def test_a_title_follows_its_numbers(built, specs, inputs):
    """Change what a chart plots and its title changes with it: the barriers chart names the option most
    selected by coordinators, the published chart counts the intervals that meet the published numbers."""
    from pipeline.study.figure_titles import as_written, figure_title

    barriers = as_written(built["barriers"].table)
    coordinators = barriers.index[barriers["instrument"].eq("coordinator")]
    lowest = barriers.loc[coordinators, "estimate"].idxmin()
    barriers.loc[lowest, "estimate"] = 0.99
    label = barriers.loc[lowest, "item_label"].removeprefix("Barrier: ")
    assert figure_title("barriers", barriers, (), inputs.codebook) == (
        f"Coordinators' most-selected barrier: {label} (99% selected it)"
    )
    published = as_written(built["published"].table)
    published["published_in_ci"] = False
    assert figure_title("published", published) == (
        f"Our 95% interval meets 0 of {len(published)} published survey numbers"
    )


def test_the_barriers_note_gives_each_respondent_types_n_once(built, inputs):
    """Distinct respondents who answered the question (any option answered 0 or 1), not one n per option."""
    base = inputs.base
    options = [column for column in base.columns if column.startswith("barrier_")]
    answered = {
        instrument: int(
            base.loc[base["respondent_type"].eq(instrument), options].isin([0, 1]).any(axis=1).sum()
        )
        for instrument in INSTRUMENTS
    }
    lines = built["barriers"].caption.splitlines()
    assert [line for line in lines if line.startswith("n: ")] == [
        f"n: {answered['coordinator']} LSP coordinators and {answered['partner']} board partners "
        "answered the question (each counted once; every option's n is in the plotted numbers)"
    ]


def _drawing(svg: bytes) -> bytes:
    """An SVG's drawing: its elements without the whitespace between them, the empty groups (an invisible
    tick is an empty <g id="xtick_12"/>) and the group ids nothing refers to (matplotlib numbers them)."""
    import re
    import xml.etree.ElementTree as ElementTree

    referenced = set(re.findall(r"#([A-Za-z0-9_.-]+)", svg.decode("utf-8")))

    def trim(node: ElementTree.Element) -> None:
        node.text = node.text if node.text and node.text.strip() else None
        node.tail = node.tail if node.tail and node.tail.strip() else None
        for child in list(node):
            trim(child)
            if (
                child.tag.endswith("}g")
                and len(child) == 0
                and set(child.attrib) <= {"id"}
                and not child.text
            ):
                node.remove(child)
        if node.tag.endswith("}g") and node.attrib.get("id") not in (None, *referenced):
            del node.attrib["id"]

    root = ElementTree.fromstring(svg)
    trim(root)
    return ElementTree.tostring(root)


def test_saved_figure_shows_what_plotnine_draws(built, rendered, tmp_path):
    """save_figure leaves out what no reader sees (minor breaks the theme hides, a legend theme's second
    styling of the axes, a second text measurement, Pillow's PNG row filters): its PNG decodes to exactly
    the pixels of plotnine's own draw and matplotlib's own PNG writer, and its SVG draws the same."""
    import copy

    import matplotlib.pyplot as plt
    from PIL import Image
    from plotnine import theme

    from pipeline.figures.common import DPI, SVG_METADATA, _fixed_rc

    for name, paths in rendered.items():
        figure = built[name]
        title = " ".join(figure.plot.labels.title.split())
        with _fixed_rc():
            drawn = (copy.deepcopy(figure.plot) + theme(figure_size=figure.size, dpi=DPI)).draw()
            try:
                # Laid out once, at the PNG's resolution, for both files (as the stage has long done).
                drawn.get_layout_engine().execute(drawn)
                drawn.set_layout_engine(None)
                drawn.savefig(tmp_path / "plain.png", format="png", dpi=DPI, metadata={"Software": None})
                drawn.savefig(
                    tmp_path / "plain.svg", format="svg", dpi=DPI, metadata=SVG_METADATA | {"Title": title}
                )
            finally:
                plt.close(drawn)
        with Image.open(paths["png"]) as ours, Image.open(tmp_path / "plain.png") as plain:
            assert (ours.mode, ours.size, ours.info["dpi"]) == (plain.mode, plain.size, plain.info["dpi"]), (
                name
            )
            assert np.array_equal(np.asarray(ours), np.asarray(plain)), name
        assert _drawing(paths["svg"].read_bytes()) == _drawing((tmp_path / "plain.svg").read_bytes()), name


def test_png_bytes_decode_to_the_pixels_given(tmp_path):
    from PIL import Image

    from pipeline.figures.common import png_bytes

    pixels = np.random.default_rng(3).integers(0, 256, size=(37, 53, 4), dtype=np.uint8)
    (tmp_path / "p.png").write_bytes(png_bytes(pixels, 150))
    with Image.open(tmp_path / "p.png") as image:
        assert image.mode == "RGBA" and image.size == (53, 37)
        assert np.array_equal(np.asarray(image), pixels)
        assert image.info["dpi"] == pytest.approx((150.0, 150.0), abs=0.02)
    with pytest.raises(ValueError, match="8-bit RGBA"):
        png_bytes(pixels[:, :, :3], 150)
