"""pipeline/core/memory.py: freed memory handed back between a stage's steps."""

from __future__ import annotations

import os
import platform

import numpy as np

from pipeline.core import memory


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_glibc_malloc_trim_is_found_exactly_where_glibc_is():
    assert (memory._malloc_trim() is not None) == (platform.libc_ver()[0] == "glibc")
    assert memory.release_free_memory() is None


def test_freed_arrays_that_malloc_holds_are_handed_back():
    """Arrays below malloc's mapping threshold, freed, stay in the process until trimmed."""
    if memory._malloc_trim() is None:
        return  # without glibc there is nothing to hand back, and the call does nothing
    held = [np.ones(16_000) for _ in range(1_000)]  # 128 kB each, 128 MB from malloc's heap
    in_use = np.ones(16_000)  # allocated after them: the heap's top stays in use, so free() keeps them
    del held
    before = _rss_bytes()
    memory.release_free_memory()
    assert before - _rss_bytes() > 64 * 2**20
    assert in_use.sum() == 16_000


def test_without_heap_malloc_keeps_what_it_holds():
    """`heap=False` gives back Arrow's pages only: malloc's freed arrays stay for the next step's reuse."""
    if memory._malloc_trim() is None:
        return
    held = [np.ones(16_000) for _ in range(1_000)]
    in_use = np.ones(16_000)
    del held
    before = _rss_bytes()
    memory.release_free_memory(heap=False)
    assert before - _rss_bytes() < 16 * 2**20
    memory.release_free_memory()
    assert before - _rss_bytes() > 64 * 2**20
    assert in_use.sum() == 16_000
