"""The stage chain as a graph of real files, for ``lsp-rap run``: what each stage writes and what it is made
from, judged out of date as make judges it (an output missing, or older than anything it is made from).

The Makefile's rules and this graph list the same files, and tests/test_run.py holds them equal for every
stage against make's own database. What is derived is derived the same way for both: a stage's code is the
closure of its imports (``pipeline.core.dependencies``, which writes make's SOURCES_ lists), its config is
the slice of the keys its code reads (``pipeline.core.config_slices``, which writes make's CONFIG_ files),
its outputs are the output registry's (``pipeline.study.outputs``). What a stage reads of the other stages'
files is declared once, here, in ``READS``, as the Makefile's rules declare it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from pipeline.core import config_slices
from pipeline.core.codebook import Codebook
from pipeline.core.config import Config
from pipeline.core.dependencies import ROOT as CODE_ROOT
from pipeline.core.dependencies import command_sources, figure_code
from pipeline.core.paths import (
    INFORMATIVE_NONRESPONSE_RESULTS,
    PROJECT_ROOT,
    WEIGHTING_VALIDATION_RESULTS,
    figures_checked_path,
)
from pipeline.stages import CHAIN
from pipeline.study.outputs import all_outputs, relative_path
from pipeline.study.vocabulary import INSTRUMENTS

# Every command of the chain and the module its process runs (as pipeline.cli.COMMANDS names them; a test
# holds the two equal), and the arguments make gives it.
MODULES = {
    "ingest": "pipeline.stages.ingest",
    "validate": "pipeline.stages.validate",
    "derive": "pipeline.stages.derive",
    "analyse": "pipeline.stages.analyse",
    "nonresponse": "pipeline.stages.nonresponse",
    "models": "pipeline.stages.models",
    "measurement": "pipeline.stages.measurement",
    "improvement": "pipeline.stages.improvement_tool",
    "report-tables": "pipeline.stages.report.table_export",
    "figures": "pipeline.figures.__main__",
    "report": "pipeline.stages.report",
    "spreadsheets": "pipeline.stages.spreadsheets",
}
ARGUMENTS = {"figures": ("--stale-only",)}

# What each stage reads besides its code, the codebook, its config slice and the installed environment:
# "raw" is every file beside the configured inputs (the Makefile's RAW_INPUTS), "frame" and "dataset.*" the
# configured files, "stage:<name>" every output of a stage, any other name one output of the registry.
RAW, FRAME, PUBLISHED_TARGETS = "raw", "frame", "dataset.published_targets"
READS: dict[str, tuple[str, ...]] = {
    "ingest": (RAW,),
    "validate": (*(f"responses_{instrument}" for instrument in INSTRUMENTS), FRAME),
    "derive": (*(f"valid_{instrument}" for instrument in INSTRUMENTS), FRAME),
    "analyse": ("analysis_base", PUBLISHED_TARGETS, FRAME),
    "nonresponse": ("analysis_base", FRAME),
    "models": ("analysis_base", FRAME),
    "measurement": ("analysis_base",),
    "improvement": ("analysis_base", FRAME),
    "report-tables": (
        "stage:analyse",
        "stage:nonresponse",
        "stage:models",
        "stage:measurement",
        "scale_reliability",
        "analysis_base",
        FRAME,
        "ingest_manifest",
        "validation_report",
    ),
    "figures": ("analysis_base", FRAME, "estimates", "comparisons", "published_vs_reproduced"),
    "report": (
        "stage:figures",
        "stage:analyse",
        "stage:nonresponse",
        "stage:models",
        "stage:measurement",
        "scale_reliability",
        "analysis_base",
        FRAME,
        "report_tables",
        "ingest_manifest",
        "validation_report",
    ),
    "spreadsheets": (
        "stage:analyse",
        "scale_reliability",
        "stage:nonresponse",
        "stage:models",
        "stage:measurement",
        "report_tables",
        FRAME,
        "validation_report",
    ),
}
TEMPLATES = CODE_ROOT / "pipeline" / "templates"
IMPROVEMENT_TEMPLATES = "improvement_tool.*"


@dataclass(frozen=True)
class Step:
    """One stage of the chain: the files it writes and every file it is made from. ``products``: files it
    keeps whose times are not judged, only that they exist (the figures: the stage stamps figures/.checked,
    its ``outputs``, and leaves a figure's files untouched when their bytes come out the same, as the
    Makefile's figure rules say)."""

    stage: str
    outputs: tuple[Path, ...]
    inputs: tuple[Path, ...]
    products: tuple[Path, ...] = ()

    @property
    def command(self) -> tuple[str, ...]:
        return (self.stage, *ARGUMENTS.get(self.stage, ()))


def _templates(stage: str) -> list[Path]:
    improvement = set(TEMPLATES.glob(IMPROVEMENT_TEMPLATES))
    if stage == "improvement":
        return sorted(improvement)
    if stage in ("report-tables", "report"):
        found = [*TEMPLATES.glob("*.j2"), *TEMPLATES.glob("*.css"), *TEMPLATES.glob("sections/*.j2")]
        return sorted(set(found) - improvement)
    return []


def raw_inputs(config: Config) -> list[Path]:
    """Every file in the folders of the configured raw inputs (codebook, frame, exports), their READMEs
    aside: what ingest is made from (a new export dropped beside the others counts, as in make)."""
    folders = {
        path.parent
        for path in (
            config.codebook,
            config.frame,
            config.published_targets,
            *(i.path for i in config.inputs),
        )
    }
    return sorted(
        path
        for folder in folders
        for path in folder.glob("*")
        if path.is_file() and path.name != "README.md" and not path.name.startswith(".")
    )


def config_file(config: Config, stage: str, fragment: Path) -> Path:
    """The file of the config keys the stage reads (make's CONFIG_<stage>): its slice, or the whole file."""
    if config_slices.reads_whole_file(config_slices.stage_keys()[stage]):
        return config.source
    return config_slices.slice_path(fragment, stage)


def steps(config: Config, codebook: Codebook, fragment: Path) -> list[Step]:
    """The chain in order, each stage with its outputs and inputs under this project's configuration."""
    folders = {
        key: getattr(config, key).as_posix() for key in ("processed_dir", "analysis_dir", "figures_dir")
    }
    registered = all_outputs(codebook)
    outputs_of = {
        stage: [Path(relative_path(output, folders)) for output in registered if output.stage == stage]
        for stage in CHAIN
    }
    by_name = {output.name: Path(relative_path(output, folders)) for output in registered}
    named = {FRAME: [config.frame], PUBLISHED_TARGETS: [config.published_targets], RAW: raw_inputs(config)}
    environment = Path(sys.prefix) / ".installed"  # the Makefile's stamp of the installed dependencies
    found = []
    for stage in CHAIN:
        reads: list[Path] = []
        for name in READS[stage]:
            if name.startswith("stage:"):
                reads += outputs_of[name.removeprefix("stage:")]
            else:
                reads += named.get(name) or [by_name[name]]
        code = [CODE_ROOT / source for source in command_sources(MODULES[stage], CODE_ROOT)]
        if stage == "figures":
            code += [CODE_ROOT / source for source in figure_code(CODE_ROOT)]
        if stage in ("report-tables", "report"):
            reads += [
                p for p in (WEIGHTING_VALIDATION_RESULTS, INFORMATIVE_NONRESPONSE_RESULTS) if p.exists()
            ]
        inputs = [
            *code,
            *_templates(stage),
            *reads,
            config_file(config, stage, fragment),
            config.codebook,
            *([environment] if environment.exists() else []),
        ]
        outputs, products = outputs_of[stage], []
        if stage == "figures":
            outputs, products = [figures_checked_path(Path(folders["figures_dir"]))], outputs
        found.append(
            Step(
                stage,
                tuple(_absolute(path) for path in outputs),
                tuple(dict.fromkeys(_absolute(path) for path in inputs)),
                tuple(_absolute(path) for path in products),
            )
        )
    return found


def _absolute(path: Path) -> Path:
    return path if path.is_absolute() else PROJECT_ROOT / path


def why_out_of_date(step: Step, remade: set[Path] = frozenset()) -> str | None:
    """Why make would run the stage (None: up to date): an output missing, an input missing or about to be
    remade by an earlier stage (``remade``), or an input newer than the oldest output."""
    missing = [path for path in step.outputs if not path.exists()]
    if missing:
        return "no outputs yet" if len(missing) == len(step.outputs) else f"{_shown(missing[0])} is missing"
    lost = next((path for path in step.products if not path.exists()), None)
    if lost is not None:
        return f"{_shown(lost)} is missing"
    coming = next((path for path in step.inputs if path in remade), None)
    if coming is not None:
        return f"{_shown(coming)} is remade"
    absent = next((path for path in step.inputs if not path.exists()), None)
    if absent is not None:
        return f"{_shown(absent)} is missing"
    oldest = min(path.stat().st_mtime_ns for path in step.outputs)
    newer = [path for path in step.inputs if path.stat().st_mtime_ns > oldest]
    if newer:
        return f"{_shown(max(newer, key=lambda path: path.stat().st_mtime_ns))} changed"
    return None


def _shown(path: Path) -> str:
    """A path as the user knows it: inside the project relative to it, the installed code by module."""
    for root in (PROJECT_ROOT, CODE_ROOT):
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            continue
    return path.as_posix()
