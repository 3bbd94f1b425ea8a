"""Draw the study's figures into figures/: ``lsp-rap figures [names...]`` (default: all).

Each figure writes <name>.png (150 dpi), <name>.svg, <name>.csv (the plotted numbers) and
<name>.caption.txt, each only where its bytes change. ``--list`` prints the figure names. ``--stale-only``
(what `make` runs) redraws only the figures whose record of what they were drawn from is older than their
own module, their inputs or the shared figure code and differs from them in content, and then stamps
figures/.checked (``figures_checked_path``), the one file make compares with those sources: so one
process serves every figure, touching or editing one figure module redraws that figure alone, and a
figure whose files come out the same keeps them untouched, so nothing made from it (the report) reruns.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from pipeline.core import config_reads
from pipeline.core.codebook import load_codebook
from pipeline.core.config import Config, parse_stage_arguments, path_option, stage_parser
from pipeline.core.config_slices import config_slice
from pipeline.core.errors import PipelineError
from pipeline.core.io import run_stage, write_text
from pipeline.core.parallel import process_pool
from pipeline.core.paths import PROJECT_ROOT, figures_checked_path, relative_to_root
from pipeline.figures import (
    BASE,
    COMPARISONS,
    ESTIMATES,
    FRAME,
    PUBLISHED,
    Figure,
    build_figure,
    config_keys,
    content_digest,
    content_stamp_path,
    drawing_sources,
    figure_module,
    identity,
    module_sources,
    output_paths,
    registry,
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


def code_dependencies(spec: Figure, config: Config) -> list[Path]:
    """What turns a figure's data into marks: the shared drawing code, its module, the codebook, the
    environment (not the registries, the stage's driver or the entry point: ``NOT_DRAWING``)."""
    environment = Path(sys.prefix) / ".installed"  # the Makefile's stamp of the installed dependencies
    return [
        *(PROJECT_ROOT / source for source in drawing_sources(PROJECT_ROOT)),
        *(PROJECT_ROOT / source for source in module_sources(spec.module, PROJECT_ROOT)),
        config.codebook,
        environment,
    ]


def dependencies(spec: Figure, config: Config, inputs: dict[str, Path]) -> list[Path]:
    """Every file a figure is drawn from (besides config.yaml, of which only its keys count); the
    Makefile's figure rule lists the union of these."""
    # Every figure names the frame's size (``Inputs.n_lsps``), so every figure is drawn from the frame too.
    files = [*spec.inputs, *([] if FRAME in spec.inputs else [FRAME])]
    return [*code_dependencies(spec, config), *(inputs[name] for name in files)]


def source_extras(spec: Figure, config: Config) -> tuple[bytes, bytes]:
    """The figure's registry entry and its slice of the config, as the sources digest hashes them."""
    with config_reads.unrecorded():  # bookkeeping: hashing the keys the record says the figure reads
        return identity(spec), config_slice(config.raw, config_keys(spec))


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
    codebook = load_codebook(config.codebook)
    specs = registry(codebook)
    if arguments.list:
        print("\n".join(specs))
        return
    unknown = [name for name in arguments.names if name not in specs]
    if unknown:
        raise PipelineError(f"unknown figure {unknown[0]!r}; `lsp-rap figures --list` names them")
    chosen = [specs[name] for name in arguments.names or list(specs)]
    files = input_files(config, arguments.base, arguments.tables_dir)
    sources = {spec.name: dependencies(spec, config, files) for spec in chosen}
    extra = {spec.name: source_extras(spec, config) for spec in chosen}
    out = arguments.out_dir
    # The stage's stamp takes the time it started: a source edited while it runs is newer, so make runs it
    # again.
    started = time.time_ns()
    if arguments.stale_only:
        with config_reads.unrecorded():
            watched = (config.source,)
        drawn = [spec for spec in chosen if stale(spec, out, sources[spec.name], extra[spec.name], watched)]
        for spec in chosen:
            if spec not in drawn:
                _mark_up_to_date(spec, out)
        log.info("%d of %d figures out of date", len(drawn), len(chosen))
        chosen = drawn
    if chosen:
        _draw_all(chosen, config, arguments, codebook, out, sources, extra, force=not arguments.stale_only)
    if arguments.stale_only and not arguments.names:
        # Every figure is checked: make's stamp (its time, not its contents, is what make reads).
        checked = figures_checked_path(out)
        write_text(checked, f"{len(chosen)} of {len(specs)} figures redrawn or checked by content\n")
        os.utime(checked, ns=(started, started))


def _draw_all(
    chosen: list[Figure],
    config: Config,
    arguments: Any,
    codebook: Any,
    out: Path,
    sources: dict[str, list[Path]],
    extra: dict[str, tuple[bytes, bytes]],
    force: bool,
) -> None:
    """Build the chosen figures and draw those whose content changed (all of them when ``force``)."""
    # The code half of each figure's content digest (its data half needs the built figure).
    code = {spec.name: sources_digest(code_dependencies(spec, config), *extra[spec.name]) for spec in chosen}
    # Imported here so that --list and an up-to-date --stale-only do not pay for plotnine.
    from pipeline.figures.common import Inputs, warm_up

    global _inputs
    _inputs = Inputs(config, arguments.base, arguments.tables_dir, codebook)
    jobs = [(spec, out, code[spec.name], force) for spec in chosen]
    pool = process_pool(len(chosen), most=MAX_WORKERS)
    if pool is None:
        results = map(_draw, jobs)
    else:
        # Drawing is CPU-bound matplotlib work, one figure independent of the next: forked workers share
        # the imported libraries and the inputs loaded here (what several figures read: the frame, the
        # respondents and their weights, the tables), and each figure's bytes do not depend on which
        # worker drew it.
        for name in sorted({name for spec in chosen for name in spec.inputs}):
            _inputs.load(name)
        for spec in chosen:
            figure_module(spec)
        warm_up()
        results = pool.map(_draw, jobs)  # the workers fork here, after the warm-up above
    unchanged = same_bytes = 0
    record = config_reads.record_folder()
    loading = _input_reads(chosen, config, arguments) if record else {}
    try:
        for spec, (drawn, content, reads) in zip(chosen, results, strict=True):
            config_reads.note(reads)  # a forked worker's reads are the stage's too
            if record:
                own = reads.union(*(loading[name] for name in ("codebook", *spec.inputs)))
                config_reads.save(record, f"figure.{spec.name}", own)
            if drawn is None:
                unchanged += 1
            else:
                same_bytes += drawn[-1] == 0
                _log_drawn(drawn)
            _stamp(spec, out, sources[spec.name], extra[spec.name], content)
    finally:
        if pool is not None:
            pool.shutdown()
    if unchanged:
        log.info("%d of them built the same content as when last drawn: not redrawn", unchanged)
    if same_bytes:
        log.info("%d of them drawn again gave the same files: kept, times included", same_bytes)


def _input_reads(chosen: list[Figure], config: Config, arguments: Any) -> dict[str, frozenset[str]]:
    """The config keys read to load each input the figures use (the primary weights of the analysis base,
    say), each loaded afresh: the shared inputs are loaded once, by whichever figure came first, so a
    figure's own reads would miss them."""
    from pipeline.figures.common import Inputs

    reads = {}
    # The codebook too: every figure is drawn from it (its digest hashes it), though only the first figure
    # a worker builds loads it.
    for name in sorted({"codebook", *(name for spec in chosen for name in spec.inputs)}):
        with config_reads.unrecorded(), config_reads.recording() as keys:
            Inputs(config, arguments.base, arguments.tables_dir).load(name)
        reads[name] = frozenset(keys)
    return reads


# What was drawn: the files' label, rows plotted, seconds, CPU seconds, how many files were rewritten.
Drawn = tuple[str, int, float, float, int]
# The inputs of the figures being drawn (``pipeline.figures.common.Inputs``), set before the workers fork:
# they inherit it with what it has loaded. A job names its figure only: the inputs in each job would be
# pickled to the worker, a copy of everything loaded for every figure.
_inputs: Any = None


def _draw(job: tuple[Figure, Path, str, bool]) -> tuple[Drawn | None, str, frozenset[str]]:
    """Build one figure from ``_inputs`` and draw it, unless (``force`` false) its content digest is the
    one recorded when it was last drawn and its files exist; returns what was drawn (None: nothing), the
    digest and the config keys the figure's code read (pipeline.core.config_reads)."""
    from pipeline.figures.common import save_figure

    spec, out_dir, code, force = job
    started, started_cpu = time.perf_counter(), time.process_time()
    with config_reads.recording() as reads:
        figure = build_figure(spec, _inputs)
    content = content_digest(code, figure)
    recorded = content_stamp_path(out_dir, spec.name)
    if (
        not force
        and recorded.exists()
        and recorded.read_text(encoding="utf-8").strip() == content
        and all(path.exists() for path in output_paths(out_dir, spec.name))
    ):
        return None, content, frozenset(reads)
    rewritten: list[Path] = []
    paths = save_figure(figure, spec.name, out_dir, rewritten, last_use=True)
    label = relative_to_root(paths["png"]).removesuffix(".png") + ".{png,svg,csv,caption.txt}"
    seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    return (label, len(figure.table), seconds, cpu, len(rewritten)), content, frozenset(reads)


def _mark_up_to_date(spec: Figure, out_dir: Path) -> None:
    # Up to date by its own sources' contents: its record's time is renewed (so the next check is by times
    # alone), never its files' (make would remake whatever is made from them).
    os.utime(stamp_path(out_dir, spec.name))


def _stamp(spec: Figure, out_dir: Path, sources: list[Path], extra: tuple[bytes, ...], content: str) -> None:
    """Record the contents the figure was drawn from and what it showed; written after its files, so a
    crash in between leaves the figure stale (rebuilt), never falsely up to date."""
    write_text(content_stamp_path(out_dir, spec.name), content + "\n")
    write_text(stamp_path(out_dir, spec.name), sources_digest(sources, *extra) + "\n")


def _log_drawn(drawn: Drawn) -> None:
    # The CPU seconds are the figure's own cost (make bench reads them): wall time on a shared
    # machine also counts other processes.
    label, rows, seconds, cpu, rewritten = drawn
    if rewritten:
        log.info("wrote %s (%d rows plotted) in %.1f s, %.2f CPU-s", label, rows, seconds, cpu)
    else:
        log.info(
            "drew %s (%d rows plotted) in %.1f s, %.2f CPU-s: the same bytes, kept", label, rows, seconds, cpu
        )


if __name__ == "__main__":
    run_stage("figures", main)
