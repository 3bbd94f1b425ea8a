"""What the report is built from: its tables, manifests and figures, read once into ``ReportInputs``;
the page's fixed wording and the template environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
import pandas as pd

from pipeline.core.codebook import Codebook
from pipeline.core.config import Config
from pipeline.core.errors import PipelineError
from pipeline.core.paths import rebuild_command, relative_to_root
from pipeline.stages import report_inference

if TYPE_CHECKING:
    from pipeline.stages.report.embed import FigureEntry

TITLE = "Working better together? Reproducing the 2008 survey of Local Strategic Partnerships"
SYNTHETIC_HEAD = "Synthetic data: not the Audit Commission's figures."
SYNTHETIC_BANNER = (
    "The Audit Commission never published the survey's microdata: every number in this "
    "report comes from the project's synthetic survey, a seeded model calibrated to the report's published "
    "figures. No estimate here is the Audit Commission's; the published values are quoted only beside ours "
    "for comparison."
)
DICTIONARY_NAME = "data_dictionary.html"
# The release's two pages: the main page (findings first) and the technical annex.
MAIN_PAGE, ANNEX_PAGE = "report.html", "technical_annex.html"
ANNEX_TITLE = "Technical annex: methods, weighting, models, quality and provenance"
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# The analysis tables, then those the inference sections read (a name two of them read is read once).
TABLE_NAMES = tuple(
    dict.fromkeys(
        (
            "estimates",
            "comparisons",
            "maturity_sensitivity",
            "power",
            "scale_reliability",
            "published_vs_reproduced",
            *report_inference.PRIMARY_TABLES,
            *report_inference.NONRESPONSE_TABLES,
        )
    )
)


@dataclass
class ReportInputs:
    """Everything a section may draw on."""

    config: Config
    codebook: Codebook
    tables: dict[str, pd.DataFrame]
    manifests: dict[str, dict]
    figures: dict[str, FigureEntry]
    outputs: pd.DataFrame = field(default_factory=pd.DataFrame)
    links: dict[str, str] = field(default_factory=dict)

    def figure(self, name: str) -> FigureEntry | None:
        return self.figures.get(name)

    @property
    def frame_lsps(self) -> int:
        """The LSPs in the frame, for the prose (never typed): the frame size the nonresponse stage's frame
        comparison counts on every numeric frame variable (its ``mean`` rows: all LSPs, never suppressed,
        since they rest on every responding LSP)."""
        table = self.tables["nonresponse_frame_comparison"]
        sizes = table.loc[table["level"].eq("mean"), "frame_lsps"].dropna()
        if sizes.empty:
            raise PipelineError(
                "nonresponse_frame_comparison.csv: no frame size (no numeric frame variable's mean row); "
                "run `make nonresponse`"
            )
        return int(sizes.max())


def environment() -> jinja2.Environment:
    """The report's templates: autoescaped, and an undefined name is an error, never an empty string."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise PipelineError(
            f"{relative_to_root(path)}: not found; run `{rebuild_command('all')}` to build it"
        )
    return pd.read_csv(path, keep_default_na=False, na_values=[""])
