"""Draw the study's figures into figures/: ``lsp-rap figures [names...]`` (default: all).

Each figure writes <name>.png (300 dpi), <name>.svg, <name>.csv (the plotted numbers) and
<name>.caption.txt. ``--list`` prints the figure names. ``--stale-only`` (what `make` runs) redraws only
the figures whose files are older than their own module, their inputs or the shared figure code, and
marks the others up to date, so one process serves every figure and touching one figure module
redraws that figure alone.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from pipeline.core.codebook import load_codebook
from pipeline.core.config import Config, parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import run_stage, write_text
from pipeline.core.paths import PROJECT_ROOT, relative_to_root
from pipeline.figures import (
    BASE,
    COMPARISONS,
    ESTIMATES,
    FRAME,
    PUBLISHED,
    Figure,
    module_sources,
    output_paths,
    registry,
    shared_sources,
    sources_digest,
    stale,
    stamp_path,
)

log = logging.getLogger("pipeline.figures")
# Figures are drawn in parallel on up to this many cores (the machines this runs on have two).
MAX_WORKERS = 2


def input_files(config: Config, base: Path, tables_dir: Path) -> dict[str, Path]:
    return {
        BASE: base,
        FRAME: config.frame,
        ESTIMATES: tables_dir / "estimates.csv",
        COMPARISONS: tables_dir / "comparisons.csv",
        PUBLISHED: tables_dir / "published_vs_reproduced.csv",
    }


def dependencies(spec: Figure, config: Config, inputs: dict[str, Path]) -> list[Path]:
    """Everything a figure is drawn from; the Makefile's figure rule lists the union of these."""
    environment = Path(sys.prefix) / ".installed"  # the Makefile's stamp of the installed dependencies
    return [
        *(PROJECT_ROOT / source for source in shared_sources(PROJECT_ROOT)),
        *(PROJECT_ROOT / source for source in module_sources(spec.module, PROJECT_ROOT)),
        config.source,
        config.codebook,
        environment,
        *(inputs[name] for name in spec.inputs),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="figures to draw (default: all)")
    parser.add_argument("--list", action="store_true", help="print the figure names and stop")
    parser.add_argument(
        "--stale-only", action="store_true", help="redraw only out-of-date figures; mark the rest up to date"
    )
    path_option(parser, "--base", "{processed_dir}/analysis_base.parquet", "the analysis base")
    path_option(parser, "--tables-dir", "{analysis_dir}/tables", "the analysis tables")
    path_option(parser, "--out-dir", "{figures_dir}", "where to write the figures")
    arguments, config = parse_stage_arguments(parser, argv)
    specs = registry(load_codebook(config.codebook))
    if arguments.list:
        print("\n".join(specs))
        return
    unknown = [name for name in arguments.names if name not in specs]
    if unknown:
        raise PipelineError(f"unknown figure {unknown[0]!r}; `lsp-rap figures --list` names them")
    chosen = [specs[name] for name in arguments.names or list(specs)]
    files = input_files(config, arguments.base, arguments.tables_dir)
    sources = {spec.name: dependencies(spec, config, files) for spec in chosen}
    if arguments.stale_only:
        drawn = [spec for spec in chosen if stale(spec, arguments.out_dir, sources[spec.name])]
        for spec in chosen:
            if spec not in drawn:
                # Up to date by its own sources' contents, but older than something make saw change.
                for path in output_paths(arguments.out_dir, spec.name):
                    os.utime(path)
        log.info("%d of %d figures out of date", len(drawn), len(chosen))
        chosen = drawn
    if not chosen:
        return
    # Imported here so that --list and an up-to-date --stale-only do not pay for plotnine.
    from pipeline.figures.common import Inputs

    inputs = Inputs(config, arguments.base, arguments.tables_dir)
    workers = min(len(chosen), len(os.sched_getaffinity(0)), MAX_WORKERS)
    if workers < 2:
        for spec in chosen:
            _log_drawn(_draw(spec, inputs, arguments.out_dir))
            _stamp(spec, arguments.out_dir, sources[spec.name])
        return
    # Drawing is CPU-bound matplotlib work, one figure independent of the next: forked workers share the
    # imported libraries and the parent's loaded inputs, and each figure's bytes do not depend on which
    # worker drew it.
    for name in {name for spec in chosen for name in spec.inputs}:
        getattr(inputs, name)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        drawn = pool.map(_draw, chosen, [inputs] * len(chosen), [arguments.out_dir] * len(chosen))
        for spec, result in zip(chosen, drawn, strict=True):
            _log_drawn(result)
            _stamp(spec, arguments.out_dir, sources[spec.name])


def _draw(spec: Figure, inputs: object, out_dir: Path) -> tuple[str, int, float]:
    from pipeline.figures.common import save_figure

    started = time.perf_counter()
    figure = spec.build(inputs)
    paths = save_figure(figure, spec.name, out_dir)
    label = relative_to_root(paths["png"]).removesuffix(".png") + ".{png,svg,csv,caption.txt}"
    return label, len(figure.table), time.perf_counter() - started


def _stamp(spec: Figure, out_dir: Path, sources: list[Path]) -> None:
    """Record the contents the figure was drawn from; written after its files, so a crash in between
    leaves the figure stale (redrawn), never falsely up to date."""
    write_text(stamp_path(out_dir, spec.name), sources_digest(sources) + "\n")


def _log_drawn(drawn: tuple[str, int, float]) -> None:
    log.info("wrote %s (%d rows plotted) in %.1f s", *drawn)


if __name__ == "__main__":
    run_stage("figures", main)
