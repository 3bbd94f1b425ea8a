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

# The one place the version is written: pyproject.toml reads it, and the manifests and report print it.
__version__ = "0.2.0"
