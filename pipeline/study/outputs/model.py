"""The registry's records: an output, a column, a figure, and where outputs live."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Where an output lives: the configured folder it is written to (config.yaml keys), so a registry path is
# the same whatever those folders are.
LOCATIONS = {
    "processed": "processed_dir",
    "analysis": "analysis_dir",
    "tables": "analysis_dir/tables",
    "figures": "figures_dir",
}
COLUMN_KINDS = ("text", "integer", "number", "boolean")


@dataclass(frozen=True)
class Column:
    """One column of an output: its name, what its values are (``COLUMN_KINDS``) and what it means."""

    name: str
    kind: str
    description: str
    nullable: bool = True

    def __post_init__(self) -> None:
        if self.kind not in COLUMN_KINDS:
            raise ValueError(f"column {self.name}: kind {self.kind!r} is not one of {COLUMN_KINDS}")


@dataclass(frozen=True)
class Output:
    """One file the pipeline writes.

    ``maker`` is ``module:function`` (the function that builds the content); ``inputs`` name the files it
    is made from (other outputs by name, raw inputs by their config key); ``columns`` is ``None`` for files
    that are not tables (manifests, the report) and for tables whose columns are the codebook's variables
    (``codebook_columns``).
    """

    name: str
    location: str
    filename: str
    stage: str
    maker: str
    description: str
    inputs: tuple[str, ...] = ()
    columns: tuple[Column, ...] | None = None
    codebook_columns: bool = False

    def __post_init__(self) -> None:
        if self.location not in LOCATIONS:
            raise ValueError(
                f"output {self.name}: location {self.location!r} is not one of {tuple(LOCATIONS)}"
            )
        if ":" not in self.maker:
            raise ValueError(f"output {self.name}: maker must be module:function, got {self.maker!r}")

    @property
    def module(self) -> str:
        return self.maker.split(":")[0]

    @property
    def function(self) -> str:
        return self.maker.split(":")[1]


@dataclass(frozen=True)
class Figure:
    """One figure: four files (png, svg, the plotted numbers as csv, the caption) drawn by one module.

    ``module`` is under ``pipeline.figures`` and exposes ``build(inputs, **params)``; ``verify_kind`` names
    the independent recomputation ``make verify`` applies to the figure's csv (``pipeline.checks.verify``).
    """

    name: str
    module: str
    inputs: tuple[str, ...]
    verify_kind: str
    columns: tuple[Column, ...]
    params: dict[str, Any] = field(default_factory=dict)
    # One sentence saying what the chart shows; with the title it is the figure's alt text in the report.
    description: str = ""

    @property
    def maker(self) -> str:
        return f"pipeline.figures.{self.module}:build"


FIGURE_SUFFIXES = ("png", "svg", "csv", "caption.txt")
# What make verify knows how to recompute (pipeline.checks.verify.CHECKS has one function for each).
VERIFY_KINDS = ("estimates", "likert", "differences", "coverage", "frame_profile", "published", "nonresponse")
# Inputs a figure can read; the Makefile lists the same files as the figure rule's prerequisites.
BASE, FRAME, ESTIMATES, COMPARISONS, PUBLISHED = "base", "frame", "estimates", "comparisons", "published"
FIGURE_INPUT_OUTPUTS = {
    BASE: "analysis_base",
    FRAME: "frame",
    ESTIMATES: "estimates",
    COMPARISONS: "comparisons",
    PUBLISHED: "published_vs_reproduced",
}
LIKERT_GROUPS = ("tier", "maturity")


def relative_path(output: Output, folders: dict[str, str]) -> str:
    """The output's path, given the configured folders by config key (processed_dir, ...)."""
    folder = LOCATIONS[output.location]
    key, _, sub = folder.partition("/")
    return "/".join(part for part in (folders[key], sub, output.filename) if part)
