"""``python -m pipeline <command>``: the same entry point as the installed ``lsp-rap`` command."""

from pipeline.cli import main

main()
