"""Shared plumbing every layer uses: the project root, the configuration, atomic I/O, errors, the codebook.

Nothing here knows about a stage, and nothing here imports from a layer above it (pipeline/study and up).
"""
