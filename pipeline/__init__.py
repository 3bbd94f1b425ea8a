"""Reproducible analytical pipeline for the Audit Commission's 2008 survey of Local Strategic Partnerships.

Layers (each imports only from those above it; tests/test_layers.py holds them to it):

    core/       paths, configuration, atomic I/O, errors, the codebook, source dependencies
    study/      the study's vocabulary, frame, designs, schemas, disclosure, published targets, outputs
    survey/     the statistical engine: imports nothing from the pipeline
    stages/     ingest -> validate -> derive -> analyse -> (figures/) -> report
    figures/    the figure stage: one module per figure
    checks/     reviewer and methodologist tools (verify, method validation), outside the chain
    synthetic/  the synthetic survey's generator, outside the chain
    cli.py      the one entry point, `lsp-rap <command>`
"""

import os

# The one place the version is written: pyproject.toml reads it, and the manifests and report print it.
__version__ = "0.2.0"

# One BLAS thread per process, unless the user says otherwise. The engine's matrix products are small
# (rows x a few dozen columns) and run many thousand times; OpenBLAS's threads cost more to wake and
# synchronise than they save, and on a loaded 2-core machine they spin: analyse at 10 times the bundled
# survey took 13.2 CPU-s and 98 s wall with the default threads, 8.1 CPU-s and 37 s with one. make runs
# two stages side by side, which uses the cores better. It only takes effect before numpy is imported,
# which every stage's `python -m pipeline` and the `lsp-rap` command do after this module.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
