"""Shared plumbing every layer uses: the project root, the configuration, atomic I/O, errors, the codebook.

Nothing here knows about a stage; the only study module it reads is the leaf ``pipeline.study.vocabulary``.
"""
