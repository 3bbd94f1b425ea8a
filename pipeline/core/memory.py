"""Freed memory given back to the system between a stage's large steps (`release_free_memory`).

glibc's malloc keeps what a process frees for its later requests, and once a large array has been freed
it serves arrays of up to 32 MB from that pool rather than mapping each on its own. At 1,000 times the
bundled survey a stage's steps leave a few hundred MB freed but held that way (the models stage: 370 MB
before its partners' calibration), and the next step's temporaries are laid on top: the process's peak
counts both. ``malloc_trim(0)`` hands the free pages back. pandas keeps text columns in Arrow arrays, and
Arrow's allocator keeps the pages of freed arrays for its own reuse, which numpy's arrays cannot use: every
text operation of a step (a column read, compared, mapped or relabelled) leaves its pages resident for the
rest of the stage (64 MB more in models; a few hundred MB of the analyse stage's peak). Releasing both costs
milliseconds and changes no number; on a system without glibc only Arrow's part is done.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl without it, Windows)
        return None


def release_free_memory(heap: bool = True) -> None:
    """Return the pages Arrow holds free to the system (``release_unused``; only when the process has
    loaded it), and with `heap` those malloc holds (glibc's ``malloc_trim(0)``).

    `heap=False` where the next step reuses malloc's freed pages anyway: trimming them only makes it fault
    them back in (the analyse stage at 1000x: 4.7 CPU-s more for the same peak, 1,694 against 1,704 MiB).
    """
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
    trim = _malloc_trim() if heap else None
    if trim is not None:
        trim(0)
