"""Independent pieces of one stage's work side by side on the machine's cores.

A stage at the end of the build's critical path (the report's screen images, the spreadsheets' two
workbooks) would otherwise leave the second core idle: nothing else in the graph can run beside it. The
pieces run in forked worker processes, so they see the stage's imports and data without pickling them
back and forth beyond their arguments and results; each piece's output is the same bytes whichever
process makes it. Where a process pool cannot start (one core, no fork, no semaphores in a sandbox),
the pieces run one after another in this process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

log = logging.getLogger("pipeline.core.parallel")

Result = TypeVar("Result")
# More workers than this only adds start-up for the few pieces a stage has.
MAX_WORKERS = 8


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform says)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def process_pool(pieces: int, here: int = 0, most: int = MAX_WORKERS) -> ProcessPoolExecutor | None:
    """A pool of forked workers for ``pieces`` pieces of work beside the ``here`` this process does
    itself, at most ``most`` processes in all; None if they could not run at once (run them in a loop)."""
    side = min(pieces + here, available_cores(), most)
    workers = side - here
    if side < 2 or workers < 1 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    try:
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    except (OSError, NotImplementedError) as error:
        log.debug("one process: no process pool (%s)", error)
        return None


def side_by_side(function: Callable[..., Result], pieces: Sequence[Any]) -> list[Result]:
    """``[function(piece) for piece in pieces]``, computed on up to as many cores as there are pieces.

    ``function`` must be a module-level function and its pieces and results picklable. An exception in a
    piece is raised here, as it would be in the loop."""
    pool = process_pool(len(pieces))
    if pool is None:
        return [function(piece) for piece in pieces]
    with pool:
        return list(pool.map(function, pieces))


def call_side_by_side(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run the argument-free ``calls`` (module-level functions or ``functools.partial`` of them), the
    first in this process and the others in forked workers at the same time; their results in order."""
    pool = process_pool(len(calls) - 1, here=1)
    if pool is None:
        return [call() for call in calls]
    with pool:
        others = [pool.submit(call) for call in calls[1:]]
        first = calls[0]()
        return [first] + [future.result() for future in others]
