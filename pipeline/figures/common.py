"""Shared pieces of every figure: inputs, labels, theme, the diverging Likert and interval charts, saving.

A figure module is a pure function ``build(inputs, **params) -> Figure``: it reads what it needs from
``Inputs`` and returns the ggplot, the table of exactly the numbers it plots (one row per mark) and the
caption. ``save_figure`` writes the four files. Nothing here reads a label that the codebook holds
from anywhere but the codebook.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import filecmp
import io
import os
import struct
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from plotnine import (
    aes,
    coord_cartesian,
    element_blank,
    element_line,
    element_rect,
    element_text,
    facet_grid,
    facet_wrap,
    geom_blank,
    geom_errorbarh,
    geom_point,
    geom_text,
    geom_tile,
    geom_vline,
    ggplot,
    guides,
    labs,
    scale_colour_manual,
    scale_fill_manual,
    scale_x_continuous,
    theme,
    theme_bw,
)

from pipeline.core.codebook import Codebook, Variable, load_codebook
from pipeline.core.config import Config
from pipeline.core.errors import PipelineError
from pipeline.core.paths import rebuild_command, relative_to_root
from pipeline.study.designs import STRATUM, design_columns
from pipeline.study.figure_titles import as_written, figure_title, wrapped
from pipeline.study.frame import read_frame
from pipeline.study.outcomes import group_column
from pipeline.study.outputs import BASE
from pipeline.study.respondents import check_table_instruments, read_analysis_base
from pipeline.study.weighting import primary_weighted_base

matplotlib.use("Agg")


class geom_text_by_panel(geom_text):
    """``geom_text`` drawing each panel's labels in one pass. plotnine's default draws them group by
    group, and every label of a discrete axis or a text aesthetic is its own group: a data-frame
    transformation per label. Labels never overlap here, so the order they are drawn in changes no pixel.
    """

    def draw_panel(self, data: pd.DataFrame, panel_params: Any, coord: Any, ax: Any) -> None:
        data = data.reset_index(drop=True)
        params = self.params
        if "boxstyle" in params or params["adjust_text"] is not None or params["path_effects"]:
            self.draw_group(data, panel_params, coord, ax, params)
            return
        # plotnine's draw_group for plain text, except that each label's arguments come from one
        # conversion of the frame to records rather than a row selection per label: the same values
        # (pandas boxes both to Python scalars), in the same order, to the same ``ax.text``.
        from plotnine._utils import to_rgba

        data = coord.transform(data, panel_params)
        names = list(set(geom_text.DEFAULT_AES) | geom_text.REQUIRED_AES)
        renamed = {"label": "s", "angle": "rotation", "lineheight": "linespacing"}
        plot_data = data[names].rename(renamed, axis=1)
        plot_data["color"] = to_rgba(data["color"], data["alpha"])
        plot_data["zorder"] = params["zorder"]
        plot_data["rasterized"] = params["raster"]
        plot_data["clip_on"] = True
        for arguments in plot_data.to_dict("records"):
            ax.text(**arguments)


class geom_vline_once(geom_vline):
    """``geom_vline`` of one line per panel, drawn as plotnine draws it (one segment across the panel's
    range) without the duplicate search and grouping that plotnine's draw_panel does for many lines."""

    def draw_panel(self, data: pd.DataFrame, panel_params: Any, coord: Any, ax: Any) -> None:
        if len(data) != 1:
            super().draw_panel(data, panel_params, coord, ax)
            return
        from plotnine import geom_segment

        ranges = coord.backtransform_range(panel_params)
        data = data.assign(x=data["xintercept"], xend=data["xintercept"], y=ranges.y[0], yend=ranges.y[1])
        geom_segment.draw_group(data.reset_index(), panel_params, coord, ax, self.params)


class coord_cartesian_columns(coord_cartesian):
    """``coord_cartesian`` whose transform squishes infinite positions column by column. plotnine's
    applies a function over a frame of the position columns and assigns the frame back, which costs
    more than the rest of drawing a small layer; the values are the same.

    With ``minor_hidden`` (the theme draws neither minor grid lines nor minor tick marks) the panels
    have no minor breaks: matplotlib would otherwise make, style and lay out an invisible tick for each
    (about a third of every axis's ticks)."""

    minor_hidden = False

    def setup_panel_params(self, scale_x: Any, scale_y: Any) -> Any:
        view = super().setup_panel_params(scale_x, scale_y)
        if self.minor_hidden:
            view.x.minor_breaks = view.y.minor_breaks = []
        return view

    def transform(self, data: pd.DataFrame, panel_params: Any, munch: bool = False) -> pd.DataFrame:
        from mizani.bounds import squish_infinite
        from plotnine.mapping.aes import X_AESTHETICS, Y_AESTHETICS

        if len(data) == 0:
            return data
        x, y = panel_params.x.range, panel_params.y.range
        for aesthetics, limits in ((X_AESTHETICS, x), (Y_AESTHETICS, y)):
            for column in [name for name in data.columns if name in aesthetics]:
                data[column] = squish_infinite(data[column], range=limits)
        return data


class guides_themed_once(guides):
    """plotnine's ``guides`` whose guide themes style only what the guides drew. plotnine applies each
    legend's theme (the plot's theme with the legend's own additions) as a whole, every panel's axes
    included, just before the plot's theme styles those axes again with the same values: the first pass
    changes nothing a reader sees (no figure here gives a legend a theme of its own, and the plot's theme
    is applied after it either way), and on a Likert chart it was a tenth of plotnine's drawing time."""

    def _apply_guide_themes(self, gdefs: list[Any]) -> None:
        for guide in gdefs:
            axes = guide.theme.axs
            guide.theme.axs = []
            try:
                guide.theme.apply()
            finally:
                guide.theme.axs = axes


class geom_errorbarh_by_panel(geom_errorbarh):
    """``geom_errorbarh`` drawing each panel's bars as one collection of segments (one row per bar: the
    bars of different rows never overlap), rather than one collection per bar."""

    def draw_panel(self, data: pd.DataFrame, panel_params: Any, coord: Any, ax: Any) -> None:
        self.draw_group(data.reset_index(drop=True), panel_params, coord, ax, self.params)


# 150 dpi: an 8-inch figure is 1,200 pixels wide, twice what the report shows it at (110 dpi, so sharp on
# a high-density screen); print and zooming use the SVG. At 300 dpi the PNG cost about a third of each
# figure's drawing time (rasterising four times the pixels and compressing them) for detail no reader saw.
DPI = 150
FONT = "DejaVu Sans"  # bundled with matplotlib: the same glyphs on every machine
SYNTHETIC_NOTE = "Synthetic data: not the Audit Commission's figures"
SOURCE = "Audit Commission LSP survey, 2008 (reconstructed)"
FRAME_SOURCE = "LSP frame 2008 (data/raw/lsp_frame_2008.csv)"
# Okabe-Ito: distinguishable under the common colour-vision deficiencies.
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"]
INSTRUMENT_COLOURS = {"coordinator": "#0072B2", "partner": "#D55E00"}
# ColorBrewer RdBu (5 classes, colour-blind safe), with a mid grey for the neutral middle so it stays
# visible on white; "don't know" in a darker grey, outside the diverging scale.
LIKERT_COLOURS = ["#CA0020", "#F4A582", "#CCCCCC", "#92C5DE", "#0571B0"]
DONT_KNOW_COLOUR = "#7F7F7F"
TIER_LABELS = {"single": "Single-tier", "multi": "Multi-tier"}
# Every PNG/SVG byte must depend on the data only: no software version stamp, no date, fixed ids (the PNG
# is written by ``png_bytes``, with no text chunk at all).
SVG_METADATA = {"Date": None, "Creator": None}
# Text is drawn unhinted: laying out a string with FreeType's hinting costs about twice as much in
# matplotlib 3.11 (each string is laid out again for its size, its PNG pixels and its SVG outline, and text
# is most of a figure's drawing time), and at 150 dpi unhinted glyphs are as crisp (the SVG's outlines
# never were hinted).
FIXED_RC = {
    "svg.hashsalt": "lsp-survey-figures",
    "svg.fonttype": "path",
    "font.family": FONT,
    "text.hinting": "no_hinting",
}
# zlib's fastest level: compressing is part of each PNG's time, and on two figures measured level 1 wrote
# them 7% faster than the default with files no larger (unhinted text gives smoother edges, which compress
# less either way). The same zlib gives the same bytes.
PNG_COMPRESS_LEVEL = 1
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Figure:
    """What a figure module returns: the plot, the numbers it plots, its caption, its size in inches."""

    plot: ggplot
    table: pd.DataFrame
    caption: str
    size: tuple[float, float] = (8.0, 6.0)


# The analysis base's columns that every figure drawn from it reads besides its own: who answered, for
# which LSP, in which stratum (the design's columns, from which the primary weights are computed).
RESPONDENT_COLUMNS = ("respondent_id", "lsp_id", "respondent_type", STRATUM)


class Inputs:
    """The figure stage's inputs, each read on first use (a figure reads only what it needs).

    The analysis base is read by columns: ``respondents`` (the design's columns and the primary weights)
    once, shared by every figure drawn from the base, and each figure's own columns beside it
    (``answers``). A whole base of Place-Survey size (473,000 respondents, 88 columns) is gigabytes in
    memory, of which a figure plots a handful of columns.
    """

    def __init__(
        self, config: Config, base_path: Path, tables_dir: Path, codebook: Codebook | None = None
    ) -> None:
        """``codebook``: the one the caller already loaded from ``config.codebook``, if it has."""
        self.config = config
        self.base_path = Path(base_path)
        self.tables_dir = Path(tables_dir)
        if codebook is not None:
            self.__dict__["codebook"] = codebook  # what the cached property would have read

    @cached_property
    def codebook(self) -> Codebook:
        return load_codebook(self.config.codebook)

    @cached_property
    def frame(self) -> pd.DataFrame:
        return read_frame(self.config.frame)

    @cached_property
    def base_columns(self) -> tuple[str, ...]:
        """The analysis base's column names, in the file's order (its schema: no rows read)."""
        import pyarrow.parquet as pq

        if not self.base_path.exists():
            read_analysis_base(self.base_path)  # the one-line error naming the missing file
        return tuple(pq.read_schema(self.base_path).names)

    @cached_property
    def respondents(self) -> pd.DataFrame:
        """Every respondent of the analysis base, in its order: ``RESPONDENT_COLUMNS``, the stratum's
        population and the primary weight (``WEIGHT``; pipeline.study.weighting.primary_weighted_base),
        read from those columns of the file alone."""
        others = [column for column in self.base_columns if column not in RESPONDENT_COLUMNS]
        rows = design_columns(read_analysis_base(self.base_path, unread=others), self.frame)
        return primary_weighted_base(rows, self.frame, self.config.weighting)

    def answers(self, columns: Iterable[str]) -> pd.DataFrame:
        """``respondents`` with the named columns of the analysis base beside them, only those read from
        the file; a column the base lacks stops the run in one line naming the file and the column."""
        known = set(self.base_columns)
        wanted = [column for column in dict.fromkeys(columns) if column not in self.respondents.columns]
        missing = [column for column in wanted if column not in known]
        if missing:
            raise PipelineError(
                f"{relative_to_root(self.base_path)}: no column {missing[0]!r}; "
                f"run `{rebuild_command('derive')}` to rebuild it"
            )
        if not wanted:
            return self.respondents
        read = pd.read_parquet(self.base_path, columns=wanted)
        if len(read) != len(self.respondents):
            raise PipelineError(
                f"{relative_to_root(self.base_path)}: changed while the figures were drawn; run them again"
            )
        return pd.concat([self.respondents, read.set_axis(self.respondents.index)], axis=1)

    @cached_property
    def base(self) -> pd.DataFrame:
        """The whole analysis base with each respondent's primary weight (``answers`` of every column): for
        a reader who wants all of it; the figures read only their columns."""
        return self.answers(self.base_columns)

    def load(self, name: str) -> None:
        """Read input ``name`` (BASE, FRAME, ESTIMATES, ...) as every figure drawn from it shares it: of the
        analysis base, its ``respondents`` (each figure reads its own columns)."""
        getattr(self, "respondents" if name == BASE else name)

    @property
    def n_lsps(self) -> int:
        """How many LSPs the frame holds: the population every coordinator figure describes."""
        return len(self.frame)

    def group_column(self, group: str, element: str | None) -> str | None:
        """The analysis-base column a breakdown of an outcome of `element` splits on, as the analysis
        chose it (`pipeline.study.outcomes.group_column`: maturity under the primary definition)."""
        return group_column(self.config, group, element)

    def _table(self, name: str) -> pd.DataFrame:
        path = self.tables_dir / f"{name}.csv"
        if not path.exists():
            raise PipelineError(
                f"{relative_to_root(path)}: not found; run `{rebuild_command('analyse')}` first"
            )
        table = pd.read_csv(path, dtype={"suppressed": "string", "element": "string"})
        return table.assign(suppressed=table["suppressed"].fillna(""))

    @cached_property
    def estimates(self) -> pd.DataFrame:
        table = self._table("estimates")
        check_table_instruments(table, relative_to_root(self.tables_dir / "estimates.csv"))
        return table

    @cached_property
    def comparisons(self) -> pd.DataFrame:
        return self._table("comparisons")

    @cached_property
    def published(self) -> pd.DataFrame:
        path = self.tables_dir / "published_vs_reproduced.csv"
        if not path.exists():
            raise PipelineError(
                f"{relative_to_root(path)}: not found; run `{rebuild_command('analyse')}` first"
            )
        return pd.read_csv(path, dtype={"bounds": "string", "reason": "string"})


# ------------------------------------------------------------------------------------------- labels


def instrument_label(codebook: Codebook, instrument: str) -> str:
    """Plural respondent label from the codebook, e.g. 'LSP coordinators'."""
    return f"{codebook.instruments[instrument]['label']}s"


def authority_label(authority_type: str) -> str:
    return authority_type.replace("_", " ").capitalize()


def level_label(group: str, level: str) -> str:
    """Display label of one level of a breakdown."""
    if group == "tier":
        return TIER_LABELS.get(level, level)
    if group == "authority_type":
        return authority_label(level)
    if group == "all":
        return "All"
    return level.capitalize()


def by_provenance(
    codebook: Codebook, provenance: str, types: tuple[str, ...] | None = None
) -> list[Variable]:
    """The codebook variables whose finding comes from one report figure or paragraph."""
    found = [
        v
        for v in codebook.variables
        if v.provenance == provenance and v.publish and (types is None or v.type in types)
    ]
    if not found:
        raise PipelineError(f"codebook: no variable has provenance {provenance!r}")
    return found


def n_label(label: str, n: float) -> str:
    return f"{label} (n = {int(n)})"


# ----------------------------------------------------------------------------------------- captions


def caption_text(
    config: Config, *, population: str, n: str, weighting: str, source: str = SOURCE, survey: bool = True
) -> str:
    """The caption file: population, n, weighting, source, and the synthetic-data warning.

    ``survey=False`` for figures of the (real) frame alone, which synthetic survey data never touch.
    """
    lines = [f"Population: {population}", f"n: {n}", f"Weighting: {weighting}", f"Source: {source}"]
    if config.synthetic_data and survey:
        lines.append(SYNTHETIC_NOTE)
    return "\n".join(lines) + "\n"


def plot_caption(config: Config, text: str, survey: bool = True) -> str:
    """The caption drawn under the plot; 'Synthetic data' leads it so nobody can miss it."""
    return f"{SYNTHETIC_NOTE}.\n{text}" if config.synthetic_data and survey else text


WEIGHTED = (
    "weighted with the primary weights (config.yaml weighting.primary; by default raked to the frame's "
    "authority type x deprivation band, region and LAA round; partners at LSP level)"
)
# The same in a reader's words, for the caption notes the report shows (no configuration keys or paths;
# WEIGHTED and FRAME_SOURCE stay as drawn inside the charts).
WEIGHTED_NOTE = (
    "weighted with the primary weighting (as configured: by default raked to the frame's authority type x "
    "deprivation band, region and LAA round; partners at LSP level)"
)
FRAME_SOURCE_NOTE = "LSP frame 2008 (the project's frame of the 388 LSPs)"


# -------------------------------------------------------------------------------------------- theme


def theme_report(size: tuple[float, float]) -> theme:
    return theme_bw(base_size=8, base_family=FONT) + theme(
        figure_size=size,
        dpi=DPI,
        text=element_text(family=FONT),
        plot_title=element_text(size=10, weight="bold"),
        plot_subtitle=element_text(size=8),
        plot_caption=element_text(size=6.5, ha="left"),
        strip_background=element_rect(fill="#F0F0F0"),
        panel_grid_minor=element_blank(),
        panel_grid_major_y=element_blank(),
        legend_position="bottom",
        legend_title=element_text(size=7),
        legend_text=element_text(size=7),
        axis_text=element_text(size=7),
    )


# ------------------------------------------------------------------------------- estimates tables


def select_estimates(
    estimates: pd.DataFrame,
    *,
    instrument: str,
    items: list[str],
    measure: str,
    group: str,
    levels: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Weighted rows of estimates.csv for some items in one breakdown, in the order asked for."""
    rows = estimates[
        estimates["instrument"].eq(instrument)
        & estimates["item"].isin(items)
        & estimates["measure"].eq(measure)
        & estimates["group"].eq(group)
        & estimates["weighting"].eq("weighted")
    ]
    if levels is not None:
        rows = rows[rows["level"].isin(levels)]
    if rows.empty:
        raise PipelineError(f"estimates.csv has no weighted {measure} rows for {items} by {group}")
    order = {item: k for k, item in enumerate(items)}
    level_order = {level: k for k, level in enumerate(levels or ())}
    return rows.assign(
        _item=rows["item"].map(order), _level=rows["level"].map(level_order).fillna(0)
    ).sort_values(["_item", "_level"], kind="stable")[[*ESTIMATE_KEYS, *ESTIMATE_VALUES, "suppressed"]]


ESTIMATE_KEYS = ["instrument", "item", "item_label", "measure", "group", "level", "weighting"]
ESTIMATE_VALUES = ["n", "estimate", "ci_low", "ci_high"]


def interval_chart(
    table: pd.DataFrame,
    *,
    title: str,
    subtitle: str,
    caption: str,
    x_title: str,
    size: tuple[float, float],
    percent: bool = True,
    colour: str = "instrument",
    colours: dict[str, str] | None = None,
    ncol: int = 1,
) -> ggplot:
    """Estimates with 95% CIs: one row (``row`` column) per mark, a panel per ``panel`` value.

    Suppressed marks are kept as a row reading "suppressed (n < min cell)" with no point.
    ``row`` and ``panel`` must be ordered categoricals; rows are drawn top to bottom in their order.
    """
    scale = 100.0 if percent else 1.0
    data = table.assign(
        x=table["estimate"] * scale,
        xmin=table["ci_low"] * scale,
        xmax=table["ci_high"] * scale,
        row=table["row"].cat.reorder_categories(list(reversed(table["row"].cat.categories))),
    )
    shown = data[data["suppressed"].eq("")]
    hidden = data[data["suppressed"].ne("")]
    upper = 100.0 if percent else float(np.nanmax(data["xmax"].to_numpy(dtype=float))) * 1.08
    lower = 0.0 if percent else float(np.nanmin(data["xmin"].to_numpy(dtype=float))) * 0.95
    label = (shown["x"].map(lambda v: f"{v:.0f}%")) if percent else shown["x"].map(lambda v: f"{v:.2f}")
    plot = (
        ggplot(shown, aes(x="x", y="row", colour=colour))
        + geom_blank(data=data, mapping=aes(x="x", y="row"), inherit_aes=False)
        + geom_errorbarh_by_panel(aes(xmin="xmin", xmax="xmax"), height=0.25, size=0.6)
        + geom_point(size=2.2)
        + geom_text_by_panel(
            shown.assign(label=label.to_numpy()),
            aes(x="xmax", y="row", label="label"),
            nudge_y=0.3,
            ha="left",
            size=6,
            colour="#333333",
            inherit_aes=False,
        )
        + facet_wrap("panel", ncol=ncol, scales="free_y")
        + scale_x_continuous(limits=(lower, upper))
        + labs(title=title, subtitle=subtitle, caption=caption, x=x_title, y="", colour="")
        + theme_report(size)
    )
    if not hidden.empty:
        plot += geom_text_by_panel(
            hidden.assign(x=(lower + upper) / 2, label="suppressed (n < min cell)"),
            aes(x="x", y="row", label="label"),
            size=6,
            colour="#555555",
            inherit_aes=False,
        )
    if colours is not None:
        plot += scale_colour_manual(values=colours, breaks=list(colours))
    if colour == "instrument":
        # The rows and panels already name the respondents; a legend of raw codes would only repeat them.
        plot += theme(legend_position="none")
    return plot


# ---------------------------------------------------------------------------------- diverging Likert

DONT_KNOW = "dont_know"


def likert_segments(table: pd.DataFrame, categories: list[int]) -> pd.DataFrame:
    """Start and end of each category's bar segment, with the neutral category centred on zero.

    ``table`` has one row per (group, item, category) with its ``percentage`` of substantive answers.
    Disagreement runs left from zero, agreement right; the middle category is split half each side.
    One row per (group, item) cell and category, cells in order of first appearance.
    """
    middle = categories[len(categories) // 2]
    # Every cell at once, one column per category (a category a cell lacks counts as 0), adding the
    # shares left to right as a walk along one bar would: the same sums, in the same order, per cell.
    cell = table.groupby(["group", "item"], sort=False, observed=True).ngroup().to_numpy()
    column = table["category"].map({category: k for k, category in enumerate(categories)})
    known = column.notna().to_numpy()
    share = np.zeros((int(cell.max()) + 1 if len(cell) else 0, len(categories)))
    share[cell[known], column[known].to_numpy(dtype=int)] = table["percentage"].to_numpy(dtype=float)[known]
    share = np.nan_to_num(share, nan=0.0)
    below = [k for k, category in enumerate(categories) if category < middle]
    start = -(share[:, below].sum(axis=1) + share[:, categories.index(middle)] / 2)
    starts, ends = [], []
    for k in range(len(categories)):
        starts.append(start)
        start = start + share[:, k]
        ends.append(start)
    first = np.unique(cell, return_index=True)[1]
    cells = len(first)
    return pd.DataFrame(
        {
            "group": np.repeat(table["group"].to_numpy()[first].astype(object), len(categories)).tolist(),
            "item": np.repeat(table["item"].to_numpy()[first].astype(object), len(categories)).tolist(),
            "category": np.tile(np.asarray(categories), cells).tolist(),
            "start": np.column_stack(starts).reshape(-1) if cells else [],
            "end": np.column_stack(ends).reshape(-1) if cells else [],
        }
    )


def diverging_likert(
    table: pd.DataFrame,
    *,
    category_labels: dict[int, str],
    dont_know_label: str,
    title: str,
    subtitle: str,
    caption: str,
    size: tuple[float, float],
    label_from: float = 6.0,
) -> ggplot:
    """Diverging stacked bars of Likert items, facetted by group, with "don't know" in its own column.

    ``table``: one row per (group, item, category) with ``percentage``; ``category`` is a substantive
    code of ``category_labels`` (its shares sum to 100 per group and item) or ``"dont_know"`` (its
    share among everyone asked, drawn aside, never inside the bars). ``group`` and ``item`` should be
    ordered categoricals: groups are facet rows top to bottom, items bottom to top. Segments of at least
    ``label_from`` per cent are labelled.
    """
    codes = list(category_labels)
    substantive = table[table["category"].ne(DONT_KNOW)].astype({"category": int})
    segments = likert_segments(substantive, codes).merge(
        substantive, on=["group", "item", "category"], validate="one_to_one"
    )
    dont_know = table[table["category"].eq(DONT_KNOW)]
    agreement_panel, dk_panel = "Answers (%; neutral split either side of 0)", f"{dont_know_label} (%)"
    fill_order = [*category_labels.values(), dont_know_label]
    bars = segments.assign(
        panel=agreement_panel,
        x=(segments["start"] + segments["end"]) / 2,
        width=segments["end"] - segments["start"],
        fill=segments["category"].map(category_labels),
    )
    dk = dont_know.assign(
        panel=dk_panel, x=dont_know["percentage"] / 2, width=dont_know["percentage"], fill=dont_know_label
    )
    drawn = pd.concat([bars, dk], ignore_index=True)
    drawn["panel"] = pd.Categorical(drawn["panel"], categories=[agreement_panel, dk_panel])
    drawn["fill"] = pd.Categorical(drawn["fill"], categories=fill_order)
    drawn["group"] = pd.Categorical(drawn["group"], categories=table["group"].cat.categories)
    drawn["item"] = pd.Categorical(drawn["item"], categories=table["item"].cat.categories)
    labelled = drawn[drawn["width"] >= label_from].assign(
        label=lambda frame: frame["width"].map(lambda v: f"{v:.0f}")
    )
    dk_limit = max(10.0, float(np.ceil(dont_know["percentage"].max() / 5.0) * 5.0)) if len(dk) else 10.0
    limits = pd.DataFrame(
        {
            "panel": pd.Categorical(
                [agreement_panel, agreement_panel, dk_panel, dk_panel], categories=[agreement_panel, dk_panel]
            ),
            "x": [-100.0, 100.0, 0.0, dk_limit],
        }
    )
    # Panel heights follow the number of items in each row (partners answer items coordinators do not).
    heights = [
        float(drawn.loc[drawn["group"].eq(group), "item"].nunique())
        for group in drawn["group"].cat.categories
        if drawn["group"].eq(group).any()
    ]
    return (
        ggplot(drawn, aes(x="x", y="item"))
        + geom_blank(data=limits, mapping=aes(x="x"), inherit_aes=False)
        + geom_tile(aes(width="width", fill="fill"), height=0.72, colour="white", size=0.2)
        + geom_vline_once(xintercept=0, colour="#444444", size=0.3)
        + geom_text_by_panel(labelled, aes(label="label"), size=5.5, colour="#1A1A1A")
        + facet_grid(rows="group", cols="panel", scales="free", space={"x": [5.0, 1.0], "y": heights})
        + scale_fill_manual(
            values=dict(zip(fill_order, [*LIKERT_COLOURS, DONT_KNOW_COLOUR], strict=True)),
            breaks=fill_order,
            drop=False,
        )
        + scale_x_continuous(labels=lambda values: [f"{abs(v):g}" for v in values])
        + labs(title=title, subtitle=subtitle, caption=caption, x="Per cent", y="", fill="")
        + theme_report(size)
        + theme(
            strip_text_y=element_text(size=6.5, angle=-90, linespacing=1.1),
            panel_grid_major_x=element_line(colour="#E5E5E5", size=0.3),
            legend_key_size=8,
        )
    )


# ------------------------------------------------------------------------------------------- output


def outputs(out_dir: Path, name: str) -> dict[str, Path]:
    """The four files of one figure."""
    return {ext: Path(out_dir) / f"{name}.{ext}" for ext in ("png", "svg", "csv", "caption.txt")}


@contextlib.contextmanager
def _fixed_rc() -> Iterator[None]:
    # SOURCE_DATE_EPOCH would otherwise stamp PDF/PS; fixed here for any backend a caller might pick.
    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
    with matplotlib.rc_context(FIXED_RC):
        yield


def warm_up() -> None:
    """Import and load, once, what drawing any figure needs the first time (pyplot, both backends, the
    font files, plotnine's drawing modules): a tiny chart drawn to memory in both formats. The stage
    calls it before forking its workers, which then share what it loaded instead of each paying for it
    on its first figure."""
    import matplotlib.pyplot as plt

    plot = (
        ggplot(pd.DataFrame({"x": [0.0, 1.0], "y": ["a", "b"], "label": ["0", "1"]}), aes("x", "y"))
        + geom_point()
        + geom_text(aes(label="label"))
        + facet_wrap("y")
        + labs(title="warm-up", caption="warm-up")
        + theme_report((2.0, 1.5))
    )
    with _fixed_rc():
        mpl_figure = drawable(Figure(plot=plot, table=pd.DataFrame(), caption="", size=(2.0, 1.5))).draw()
        try:
            for file_format in ("rgba", "svg"):
                mpl_figure.savefig(io.BytesIO(), format=file_format, dpi=DPI)
        finally:
            plt.close(mpl_figure)


def drawable(figure: Figure, copied: bool = True) -> ggplot:
    """The figure's plot ready to draw, at the figure's size and ``DPI``, with cartesian coordinates that
    transform a layer's columns one by one (``coord_cartesian_columns``): a copy (drawing changes a
    ggplot, and a figure may be saved twice), or, ``copied`` false, the plot itself, for a caller that
    draws the figure once and drops it (a deep copy of a ggplot costs about 5% of drawing it)."""
    plot = copy.deepcopy(figure.plot) if copied else figure.plot
    if type(plot.coordinates) is coord_cartesian:
        lean = coord_cartesian_columns.__new__(coord_cartesian_columns)
        lean.__dict__.update(vars(plot.coordinates))  # the same limits and expansion
        lean.minor_hidden = all(
            plot.theme.T.is_blank(f"{element}_{axis}")
            for element in ("panel_grid_minor", "axis_ticks_minor")
            for axis in "xy"
        )
        plot.coordinates = lean
    if type(plot.guides) is guides:
        plot.guides.__class__ = guides_themed_once  # the same fields; one method differs
    if tuple(plot.theme.getp("figure_size")) != tuple(figure.size) or plot.theme.getp("dpi") != DPI:
        plot += theme(figure_size=figure.size, dpi=DPI)
    return plot


def png_bytes(rgba: np.ndarray, dpi: float) -> bytes:
    """An 8-bit RGBA image (height x width x 4) as a PNG file: the header, its resolution (``dpi``), the
    pixels at ``PNG_COMPRESS_LEVEL`` and the end.

    Written here rather than by Pillow (through matplotlib's PNG writer) because Pillow tries all five PNG
    row filters on every row to pick one, which was most of the time a figure's PNG took to write (43 ms
    of a Likert chart's 1,350 x 1,425 pixels, against 19 ms here): the rows go unfiltered (PNG filter type
    0), and a decoder gives back exactly the same pixels. The files are about a tenth larger.
    """

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    height, width, channels = rgba.shape
    if channels != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"png_bytes takes 8-bit RGBA pixels, not {channels} channels of {rgba.dtype}")
    rows = np.zeros((height, 1 + width * channels), dtype=np.uint8)  # each row: its filter type (0), pixels
    rows[:, 1:] = rgba.reshape(height, width * channels)
    per_metre = int(dpi / 0.0254 + 0.5)  # PNG states resolution in pixels per metre, as Pillow rounds it
    return b"".join(
        (
            PNG_SIGNATURE,
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)),  # 8-bit RGBA, no interlace
            chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)),
            chunk(b"IDAT", zlib.compress(rows, PNG_COMPRESS_LEVEL)),
            chunk(b"IEND", b""),
        )
    )


@contextlib.contextmanager
def _replaced_if_changed(target: Path, rewritten: list[Path]) -> Iterator[Path]:
    """As ``pipeline.core.io.atomic_path`` (a temporary file beside ``target``, renamed onto it when the
    block succeeds), except that a result byte-identical to ``target`` is dropped and ``target`` is left as
    it was, its time included: make then remakes nothing made from it (the report, which embeds the
    figures). ``rewritten`` collects the files that did change."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        raise PipelineError(f"{target.parent}: cannot write here ({error.strerror})") from None
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        if not (target.exists() and filecmp.cmp(temporary, target, shallow=False)):
            os.chmod(temporary, 0o644)  # mkstemp's files are the owner's only
            os.replace(temporary, target)
            rewritten.append(target)
    finally:
        temporary.unlink(missing_ok=True)


def save_figure(
    figure: Figure, name: str, out_dir: Path, rewritten: list[Path] | None = None, *, last_use: bool = False
) -> dict[str, Path]:
    """Write ``<name>.png`` (``DPI``), ``.svg``, ``.csv`` and ``.caption.txt``, each atomically and only
    where its bytes differ from the file already there (``rewritten`` collects those that did).
    ``last_use``: the caller will not use ``figure`` again, so its plot is drawn as it is, not a copy."""
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    paths = outputs(out_dir, name)
    rewritten = [] if rewritten is None else rewritten
    with _fixed_rc():
        title = " ".join((figure.plot.labels.title or name).split())
        mpl_figure = drawable(figure, copied=not last_use).draw()
        try:
            # An Agg canvas of its own (plotnine's figure has none, so every renderer it asked for was a
            # new one): the layout below and the PNG then measure text with the same renderer, so each
            # string's extent is worked out once, from the same font at the same dpi, not once each.
            FigureCanvasAgg(mpl_figure)
            # savefig would run plotnine's layout engine (after a full draw with rendering disabled) once
            # per format. The layout needs only the artists' extents at the PNG's resolution: run it
            # once, then both formats draw the same laid-out figure once each.
            mpl_figure.get_layout_engine().execute(mpl_figure)
            mpl_figure.set_layout_engine(None)
            # The PNG's pixels as matplotlib's PNG writer would take them (Agg's buffer after the same
            # savefig), written by ``png_bytes``.
            mpl_figure.savefig(io.BytesIO(), format="rgba", dpi=DPI)
            png = png_bytes(np.asarray(mpl_figure.canvas.buffer_rgba()), DPI)
            with _replaced_if_changed(paths["png"], rewritten) as temporary:
                temporary.write_bytes(png)
            with _replaced_if_changed(paths["svg"], rewritten) as temporary:
                # The title travels in the SVG's metadata too, on one line: the report heads the figure
                # with it.
                metadata = SVG_METADATA | {"Title": title}
                mpl_figure.savefig(temporary, format="svg", dpi=DPI, metadata=metadata)
        finally:
            plt.close(mpl_figure)
    with _replaced_if_changed(paths["csv"], rewritten) as temporary:
        figure.table.to_csv(temporary, index=False, lineterminator="\n")
    with _replaced_if_changed(paths["caption.txt"], rewritten) as temporary:
        temporary.write_text(figure.caption, encoding="utf-8", newline="\n")
    return paths


def with_finding_title(built: Figure, name: str, declared: tuple[str, ...], codebook: Codebook) -> Figure:
    """The built figure titled with the finding its plotted numbers state (pipeline.study.figure_titles),
    computed from those numbers as its CSV will hold them; the chart's own title, which names what it
    shows, moves to the top of the subtitle. Unchanged where no rule states a finding."""
    finding = figure_title(name, as_written(built.table), declared, codebook)
    if finding is None:
        return built
    labels = built.plot.labels
    subtitle = "\n".join(part for part in (labels.get("title", None), labels.get("subtitle", None)) if part)
    # A finding is a sentence: it takes the figure's whole width, not only the panels'.
    plot = (
        built.plot
        + labs(title=wrapped(finding, built.size[0]), subtitle=subtitle)
        + theme(plot_title_position="plot")
    )
    return dataclasses.replace(built, plot=plot)


def estimate_figure(
    rows: pd.DataFrame,
    *,
    config: Config,
    title: str,
    subtitle: str,
    population: str,
    size: tuple[float, float],
    percent: bool = True,
    x_title: str = "Weighted per cent (95% CI)",
    colour: str = "instrument",
    colours: dict[str, str] | None = None,
    ncol: int = 1,
    n_text: str | None = None,
) -> Figure:
    """A figure of estimates.csv rows: ``rows`` carries ordered categoricals ``panel`` and ``row``.

    The CSV is exactly the plotted rows: the estimate keys, the panel and row labels, n, estimate and
    CI (blank and flagged where the analysis suppressed the cell). ``n_text`` is the caption's n where the
    figure can say it once (the distinct respondents: ``distinct_respondents``); by default each mark's.
    """
    if n_text is None:
        # Each panel named once, then each of its marks' n ("Board partners: All 270, County 31").
        counts: dict[str, list[str]] = {}
        for panel, row, n in zip(rows["panel"], rows["row"], rows["n"], strict=True):
            counts.setdefault(str(panel), []).append(f"{row} {'suppressed' if pd.isna(n) else int(n)}")
        lists = list(counts.values())
        if len(lists) > 1 and all(marks == lists[0] for marks in lists):
            n_text = f"{', '.join(lists[0])} (the same in each panel)"  # one question's answers, side by side
        else:
            n_text = "; ".join(f"{panel}: {', '.join(marks)}" for panel, marks in counts.items())
    plot = interval_chart(
        rows,
        title=title,
        subtitle=subtitle,
        caption=plot_caption(
            config,
            f"Source: {SOURCE}. Weighted; 95% CIs (logit scale for proportions).\n"
            f"Cells with fewer than {config.min_cell} answers are not shown.",
        ),
        x_title=x_title,
        size=size,
        percent=percent,
        colour=colour,
        colours=colours,
        ncol=ncol,
    )
    table = rows.assign(panel=rows["panel"].astype(str), row=rows["row"].astype(str))[
        ["panel", "row", *ESTIMATE_KEYS, *ESTIMATE_VALUES, "suppressed"]
    ]
    caption = caption_text(config, population=population, n=n_text, weighting=WEIGHTED_NOTE)
    return Figure(plot=plot, table=table, caption=caption, size=size)


def distinct_respondents(base: pd.DataFrame, variables: list[Variable], instrument: str) -> int:
    """How many respondents of one instrument gave a valid answer to at least one of the variables (a
    multiple-choice question's options): each counted once, however many options they answered."""
    mine = base[base["respondent_type"].eq(instrument)]
    answered = pd.Series(False, index=mine.index)
    for variable in variables:
        if variable.name in mine:
            answered |= mine[variable.name].isin(list(variable.codes)).fillna(False).to_numpy(dtype=bool)
    return int(answered.sum())


def ordered(values: pd.Series | list[str]) -> pd.Categorical:
    """An ordered categorical keeping first-seen order (rows and panels are drawn in that order)."""
    values = list(values)
    return pd.Categorical(values, categories=list(dict.fromkeys(values)))


INSTRUMENT_COLOUR_KEYS = INSTRUMENT_COLOURS
