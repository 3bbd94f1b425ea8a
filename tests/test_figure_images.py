"""Image regression for every figure: each PNG the shared `make all` build drew against its baseline in
tests/figure_baselines/ (tests/figure_images.py says how they are made and how to regenerate them:
``make all && .venv/bin/python -m tests.figure_images``). The update is a separate command, never a test
mode, so a test can never compare a file with itself."""

from __future__ import annotations

import pytest

from tests.figure_images import BASELINES, IMAGE_TOLERANCE, difference, registered_figures

FIGURES = registered_figures()


def test_every_registered_figure_has_a_baseline_and_nothing_else_does():
    assert sorted(path.stem for path in BASELINES.glob("*.png")) == sorted(FIGURES)


@pytest.mark.parametrize("name", FIGURES)
def test_image_matches_baseline(built_project, name):
    measured = difference(built_project / "figures" / f"{name}.png", BASELINES / f"{name}.png")
    assert measured < IMAGE_TOLERANCE, (
        f"{name}.png differs from its baseline by {measured:.4f} (tolerance {IMAGE_TOLERANCE}); "
        "if the change is intended, look at the figure, then run "
        "`make all && .venv/bin/python -m tests.figure_images`"
    )
