"""The built report opens in headless Chromium with every image drawn and no console error.

Needs Debian's ``chromium`` (``.ci/run`` installs it and sets REQUIRE_BROWSER=1, so CI cannot skip this).
On a machine without it the test is skipped with that reason: the README's `make test` must still run
with only Python and make. The screenshot of the first screen is kept as
``<built project>/analysis/report-first-screen.png`` for a person to look at.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest

from tests.browser import find_chromium, open_page
from tests.built_project import make_variable

# Every test that uses the session's built project runs on one xdist worker, which builds it once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("built_project")]

CHROMIUM = find_chromium()
if CHROMIUM is None and os.environ.get("REQUIRE_BROWSER") == "1":
    raise RuntimeError("REQUIRE_BROWSER=1 but no chromium on PATH: apt-get install chromium")


@pytest.fixture(scope="module")
def opened(built_project: Path):
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run does)")
    report = open_page(CHROMIUM, built_project / "analysis" / "report.html")
    (built_project / "analysis" / "report-first-screen.png").write_bytes(report.screenshot)
    return report


def test_every_figure_is_drawn_and_none_is_broken(opened):
    figures = {Path(name).stem for name in make_variable("FIGURES") if name.endswith(".png")}
    assert opened.facts["images"] == len(figures)
    assert opened.facts["broken"] == []


def test_no_console_error(opened):
    assert opened.console_errors == []


def test_first_screen_says_synthetic_and_is_not_blank(opened):
    assert "SYNTHETIC" in opened.facts["firstScreen"].upper()
    pixels = matplotlib.image.imread(io.BytesIO(opened.screenshot), format="png")
    assert pixels.shape[:2] == (900, 1280)
    # A rendered page has text and colour; a blank or failed page is one flat colour.
    assert pixels[..., :3].std() > 0.05


def test_report_holds_every_published_number(built_project: Path):
    html = (built_project / "analysis" / "report.html").read_text(encoding="utf-8")
    published = pd.read_csv(built_project / "analysis/tables/published_vs_reproduced.csv")
    for text in published["published"].dropna():
        assert str(text).replace("&", "&amp;").replace("'", "&#x27;") in html or str(text) in html, text
