"""Fixtures shared by the stage tests: the project's config, codebook, frame and LSP ids, a temporary
config writer and the built project."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import Config, load_config
from pipeline.study.frame import read_frame
from tests.config_copy import write_config_copy

# Where each test goes in the run: first the tests that build a project of their own with the installed
# package (one full build, the longest unit of work, needing nothing else), then the tests that need no built
# project (while the shared build runs beside them), then those that rebuild a private copy of it, then
# those that only read it. Within each phase a module grouped on one worker (``xdist_group``: a costly
# fixture computed once) comes before the single tests, and once the shared build exists every grouped
# module (those that rebuild a copy and those that only read it) comes before any single test: a group is
# one unit of work (the browser groups take 15-20 s), and one left for last kept one worker busy about 13 s
# after the other had nothing to do. Collection order is the order pytest-xdist hands the work out
# (``pytest_configure`` turns off its reordering of groups by size, which put the browser groups first, to
# wait on the shared build), so the long units start early and the short single tests fill both workers to
# the end.
OWN_BUILD, NO_BUILD, REBUILDS, READS_BUILD = 0, 1, 2, 3


def build_phase(item: pytest.Item) -> int:
    fixtures = getattr(item, "fixturenames", ())
    if "installed_package" in fixtures:
        return OWN_BUILD
    if "scratch_project" in fixtures:
        return REBUILDS
    return READS_BUILD if "built_project" in fixtures else NO_BUILD


def run_order(item: pytest.Item) -> tuple[int, int, int]:
    """The phase, then a grouped module before the single tests; after the shared build, every grouped
    module before any single test."""
    phase, single = build_phase(item), 0 if item.get_closest_marker("xdist_group") else 1
    if phase >= REBUILDS:
        return REBUILDS, single, phase
    return phase, single, 0


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist's loadgroup scheduler sorts the work units by size unless told not to; the order above is
    # the one wanted (the option exists only where pytest-xdist is loaded).
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_sessionstart(session: pytest.Session) -> None:
    # The folder every process of this run shares (a worker's temporary folder is inside it), where
    # tests/toy_survey.py leaves the toy analysis for the other worker.
    from tests.toy_survey import SHARED_FOLDER_ENV

    root = session.config._tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    os.environ[SHARED_FOLDER_ENV] = str(root)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # The browser tests share one Chromium per process (tests/browser.py): close it with the session.
    browser = sys.modules.get("tests.browser")
    if browser is not None:
        browser.close_browsers()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the tests by ``run_order``, start the shared build, and regroup for ``--dist loadgroup``.

    The sort is stable, so every worker collects the same order. When any test needs the built project,
    it is built now in the background (``start_shared_build``), beside the tests that need none, so no
    worker waits for it later.

    Under pytest 9.2 ``--dist loadgroup`` needs help to group: pytest-xdist 3.8 tags each item of an
    ``xdist_group`` by appending ``@group`` to ``item._nodeid``; pytest 9.2 builds ``item.nodeid`` from
    ``item._id`` instead, so the tag never reaches the scheduler and every grouped module was spread over
    both workers, its module fixtures computed on each. Copy the tag into the id the scheduler reads.
    """
    items.sort(key=run_order)
    if not config.option.collectonly and any(build_phase(item) in (REBUILDS, READS_BUILD) for item in items):
        from tests.built_project import start_shared_build

        start_shared_build(config._tmp_path_factory)
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        tagged = getattr(item, "_nodeid", None)
        if isinstance(tagged, str) and tagged != item.nodeid and "@" in tagged:
            item._id = coerce_node_id(tagged)


@pytest.fixture(scope="session")
def config() -> Config:
    """The project's own configuration (config.yaml), loaded once."""
    return load_config()


@pytest.fixture(scope="session")
def codebook(config: Config) -> Codebook:
    return load_codebook(config.codebook)


@pytest.fixture(scope="session")
def frame(config: Config) -> pd.DataFrame:
    """The sampling frame through the one frame reader (so it has passed the frame's checks)."""
    return read_frame(config.frame)


@pytest.fixture(scope="session")
def lsp_ids(frame: pd.DataFrame) -> list[str]:
    """The frame's LSP ids, in frame order (for building tidy test rows)."""
    return frame["lsp_id"].tolist()


@pytest.fixture(scope="session")
def built_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean copy of the project after `make all`, built once per test run and shared read-only.

    Under pytest-xdist every worker asks for it; the first builds it under a file lock in the run's
    common temporary folder and the others wait and reuse it, so the suite pays for one build. Tests that
    edit files or rebuild take a ``scratch_project`` instead and leave this one as the build left it.
    """
    from tests.built_project import shared_build

    return shared_build(tmp_path_factory)


@pytest.fixture
def scratch_project(built_project: Path, tmp_path: Path) -> Path:
    """A private copy of the built project, timestamps kept, so make sees it exactly as built."""
    from tests.built_project import copy_built

    return copy_built(built_project, tmp_path / "lsp")


@pytest.fixture(scope="session")
def installed_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a fresh environment with the package installed from its wheel (tests/new_project.py).

    Session-scoped, and its tests share one ``xdist_group("installed_package")``, so one worker builds it
    once."""
    from tests.new_project import install_package

    return install_package(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def new_project(installed_package: Path, tmp_path_factory: pytest.TempPathFactory):
    """A project made and built by the installed package, with docs/extending.md's question added: one full
    build that tests/test_package.py and tests/test_extending.py each check for their own property."""
    from tests.new_project import build_new_project

    return build_new_project(installed_package / "lsp-rap", tmp_path_factory.mktemp("new_project"))


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a copy of config.yaml with other inputs and a temporary processed_dir; returns its path."""
    return functools.partial(write_config_copy, tmp_path)
