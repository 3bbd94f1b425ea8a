"""The one command-line entry point: ``lsp-rap <command> [options]`` (or ``python -m pipeline <command>``).

Each command runs one stage or tool; ``lsp-rap <command> --help`` shows its options and their defaults,
whatever state the configuration is in. The Makefile calls these commands, in the order of ``COMMANDS``.
Standard library only at import, so ``--help`` and ``dependencies`` are instant and need no virtual
environment; a command imports its module only when it runs.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

from pipeline import __version__


@dataclass(frozen=True)
class Command:
    """One command: the module whose ``main(argv)`` runs it, and what it does in a line."""

    module: str
    summary: str
    in_chain: bool = True


# The stage chain first, in the order data flows; then the tools outside it.
COMMANDS = {
    "ingest": Command("pipeline.stages.ingest", "read the survey exports into tidy tables and the manifest"),
    "validate": Command("pipeline.stages.validate", "check every row against the codebook and the frame"),
    "derive": Command("pipeline.stages.derive", "join frame variables, score the 7S scales, define maturity"),
    "analyse": Command("pipeline.stages.analyse", "design-based estimates, comparisons, FDR, power"),
    "nonresponse": Command(
        "pipeline.stages.nonresponse",
        "respondents vs frame, R-indicators, weight diagnostics and sensitivity",
    ),
    "models": Command(
        "pipeline.stages.models", "adjusted tier and maturity effects, the primary tests, imputed partners"
    ),
    "measurement": Command("pipeline.stages.measurement", "CFA of the 7S structure and its invariance"),
    "improvement": Command(
        "pipeline.stages.improvement_tool", "the improvement tool page and its national reference values"
    ),
    "report-tables": Command(
        "pipeline.stages.report.table_export", "every table the report shows, for the report and spreadsheets"
    ),
    "figures": Command("pipeline.figures.__main__", "draw the out-of-date figures (png, svg, csv, caption)"),
    "report": Command("pipeline.stages.report", "write the HTML report and the data dictionary"),
    "spreadsheets": Command("pipeline.stages.spreadsheets", "write every published table as .xlsx and .ods"),
    "init": Command(
        "pipeline.project.init", "write a new project: config, codebook, frame, example exports", False
    ),
    "run": Command("pipeline.project.run", "run the out-of-date stages in order, without make", False),
    "profile": Command(
        "pipeline.study.profile", "one partnership's 7S profile (HTML and CSV) from its answers", False
    ),
    "verify": Command("pipeline.checks.verify", "recompute every figure's numbers independently", False),
    "validate-methods": Command(
        "pipeline.checks.methods_validation", "simulation study of the methods' coverage and error", False
    ),
    "validate-weighting": Command(
        "pipeline.checks.weighting_validation", "simulation study of the weightings under nonresponse", False
    ),
    "validate-models": Command(
        "pipeline.checks.model_validation",
        "simulation study of the primary tests and adjusted effects",
        False,
    ),
    "synthetic": Command("pipeline.synthetic.simulate", "regenerate the synthetic survey exports", False),
    "outputs": Command("pipeline.study.outputs", "write the data dictionary of every output", False),
    "dependencies": Command(
        "pipeline.core.dependencies", "write the makefile fragment of each command's source files", False
    ),
    "config-slices": Command(
        "pipeline.core.config_slices", "write each stage's slice of config.yaml (make's prerequisites)", False
    ),
}


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [f"usage: lsp-rap <command> [options]   (lsp-survey-rap {__version__})"]
    for heading, in_chain in (("stages, in the order data flows:", True), ("tools:", False)):
        lines += ["", heading]
        lines += [
            f"  {name.ljust(width)}  {command.summary}"
            for name, command in COMMANDS.items()
            if command.in_chain == in_chain
        ]
    lines += ["", "`lsp-rap <command> --help` shows a command's options and their defaults."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments and arguments[0] in COMMANDS and COMMANDS[arguments[0]].in_chain and argv is None:
        # A stage that make runs: through the preloading fork server when it is on (the Makefile turns it
        # on), so the libraries are not imported again; where it cannot serve, here as always.
        from pipeline.core import stage_server

        if stage_server.enabled():
            code = stage_server.run_through_server(arguments)
            if code is not None:
                sys.exit(code)
    run(arguments)


def run(arguments: list[str]) -> None:
    """Run one command in this process (the server's child runs its stage through this too)."""
    if not arguments or arguments[0] in ("-h", "--help"):
        print(usage())
        return
    if arguments[0] == "--version":
        print(f"lsp-survey-rap {__version__}")
        return
    name, rest = arguments[0], arguments[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    module = importlib.import_module(COMMANDS[name].module)
    sys.argv[0] = f"lsp-rap {name}"  # what each command's --help calls itself
    if name == "dependencies":
        module.main(rest, {command: spec.module for command, spec in COMMANDS.items()})
        return
    from pipeline.core.io import run_stage

    run_stage(name, module.main, rest)
