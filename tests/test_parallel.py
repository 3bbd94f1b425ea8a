"""pipeline.core.parallel: pieces of a stage's work side by side give what the loop gives, in order, and an
error in a piece reaches the stage as it would from the loop."""

from __future__ import annotations

import os
from functools import partial

import pytest

from pipeline.core import parallel
from pipeline.core.errors import PipelineError


def _square_where(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def _fail_on_two(x: int) -> int:
    if x == 2:
        raise PipelineError(f"piece {x} failed")
    return x


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(parallel, "available_cores", lambda: 2)


def test_pieces_on_two_cores_give_the_loop_in_order_from_other_processes(two_cores):
    results = parallel.side_by_side(_square_where, list(range(7)))
    assert [square for square, _ in results] == [x * x for x in range(7)]
    assert os.getpid() not in {pid for _, pid in results}


def test_on_one_core_the_pieces_run_in_this_process(monkeypatch):
    monkeypatch.setattr(parallel, "available_cores", lambda: 1)
    assert parallel.side_by_side(_square_where, [1, 2]) == [(1, os.getpid()), (4, os.getpid())]


def test_an_error_in_a_piece_reaches_the_caller(two_cores):
    with pytest.raises(PipelineError, match=r"^piece 2 failed$"):
        parallel.side_by_side(_fail_on_two, [1, 2, 3])


def test_calls_side_by_side_run_the_first_here_and_the_rest_in_a_worker(two_cores):
    here, there = parallel.call_side_by_side([partial(_square_where, 3), partial(_square_where, 4)])
    assert here == (9, os.getpid())
    assert there[0] == 16 and there[1] != os.getpid()
    with pytest.raises(PipelineError, match=r"^piece 2 failed$"):
        parallel.call_side_by_side([partial(_fail_on_two, 1), partial(_fail_on_two, 2)])
