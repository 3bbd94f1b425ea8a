"""A project outside the source tree: ``lsp-rap init`` writes one, ``lsp-rap run`` builds it without make
(``chain``: make's graph of the stages' files)."""
