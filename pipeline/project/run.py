"""Run the out-of-date stages of a project in order, without make: ``lsp-rap run [--project DIR] [-n]``.

The graph is make's (``pipeline.project.chain``): a stage runs when one of its outputs is missing or older
than anything it is made from, and then so does every stage that reads what it wrote. Each stage runs as
its own process, as make runs it, and prints its log as it goes; the first stage that fails stops the run
with its one-line error, which names ``lsp-rap run`` as the way to rebuild. A second run does nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from pipeline.core import stage_server
from pipeline.core.errors import PipelineError
from pipeline.core.paths import PROJECT_ROOT, ROOT_ENV, RUNNER_ENV

CONFIG_NAME = "config.yaml"


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(
        prog="lsp-rap run",
        description=(
            "Run the out-of-date stages of a project in order (ingest, validate, derive, analyse, "
            "nonresponse, models, measurement, improvement, figures, report, spreadsheets), as `make all` "
            "would: a stage runs when an output is missing or older than its code, data or config keys."
        ),
    )
    made.add_argument(
        "--project",
        type=Path,
        default=None,
        metavar="DIR",
        help=(
            "the project folder, with its config.yaml (default: LSP_RAP_ROOT, else the current folder; "
            "in a source tree, the tree)"
        ),
    )
    made.add_argument(
        "-n", "--dry-run", action="store_true", help="print the stages that would run, and why; run nothing"
    )
    return made


def main(argv: list[str] | None = None) -> None:
    arguments = parser().parse_args(argv)
    project = (arguments.project or PROJECT_ROOT).resolve()
    if not (project / CONFIG_NAME).is_file():
        raise PipelineError(
            f"{project}: no {CONFIG_NAME} here; start a project with `lsp-rap init DIR`, "
            "or name one with --project DIR"
        )
    if project != PROJECT_ROOT:
        # Every path the stages resolve is anchored at the project root, fixed when the process starts:
        # the run continues in a process rooted at the project.
        rest = ["--dry-run"] if arguments.dry_run else []
        environment = {**os.environ, ROOT_ENV: str(project)}
        completed = subprocess.run(
            [sys.executable, "-m", "pipeline", "run", *rest], env=environment, check=False
        )
        sys.exit(completed.returncode)
    run(project, dry_run=arguments.dry_run)


def run(project: Path, dry_run: bool = False) -> list[str]:
    """Run (or, ``dry_run``, list) the out-of-date stages; returns their names in the order run."""
    from pipeline.core import config_slices
    from pipeline.core.codebook import load_codebook
    from pipeline.core.config import load_config
    from pipeline.project.chain import steps, why_out_of_date

    config = load_config(project / CONFIG_NAME)
    fragment = project / ".make" / "config.mk"
    # The config slices make reads (each rewritten only when the keys it holds change), shared with make.
    config_slices.write_stage_slices(config.raw, fragment)
    chain = steps(config, load_codebook(config.codebook), fragment)
    environment = {**os.environ, ROOT_ENV: str(project), RUNNER_ENV: "1"}
    environment.pop("MAKELEVEL", None)
    # As under make: the stages start through the preloading stage server (docs/stage_server.md), about a
    # CPU-second less each; LSP_RAP_STAGE_SERVER=0 runs each in a fresh process of its own.
    environment.setdefault(stage_server.ENABLE, "1")
    ran: list[str] = []
    remade: set[Path] = set()
    started = time.perf_counter()
    for step in chain:
        reason = why_out_of_date(step, remade if dry_run else set())
        if reason is None:
            continue
        print(f"lsp-rap run: {step.stage} ({reason})", flush=True)
        ran.append(step.stage)
        if dry_run:
            remade.update(step.outputs)
            continue
        completed = subprocess.run(
            [sys.executable, "-m", "pipeline", *step.command], cwd=project, env=environment, check=False
        )
        if completed.returncode != 0:
            # The stage has said what went wrong, in one line; the run stops there, as make does.
            sys.exit(completed.returncode)
    if not ran:
        print("lsp-rap run: every stage is up to date", flush=True)
    elif not dry_run:
        print(f"lsp-rap run: {len(ran)} stages run in {time.perf_counter() - started:.1f} s", flush=True)
    return ran
