"""Atomic writes: a failure part-way leaves the old file (or none), never a partial one."""

import os

import pytest

from pipeline.core.errors import PipelineError
from pipeline.core.io import atomic_open, write_json


def test_a_failed_write_leaves_no_output_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("half")
        raise RuntimeError("crash")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rewrite_keeps_the_previous_output(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("new")
        raise RuntimeError("crash")
    assert target.read_text() == "old"


def test_json_is_written_deterministically(tmp_path):
    write_json(tmp_path / "a.json", {"b": 1, "a": [1, 2]})
    write_json(tmp_path / "b.json", {"a": [1, 2], "b": 1})
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert oct(os.stat(tmp_path / "a.json").st_mode & 0o777) == "0o644"


def test_an_unwritable_output_folder_is_one_clear_error(tmp_path):
    # A regular file where the output folder should be: unwritable even for root, unlike chmod.
    blocker = tmp_path / "processed"
    blocker.write_text("not a folder")
    with pytest.raises(PipelineError, match="cannot write here"):
        write_json(blocker / "out.json", {})
