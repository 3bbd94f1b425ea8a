"""The built report in headless Chromium at a phone's, a tablet's and a laptop's width.

At 390, 768 and 1280 px: the page never scrolls sideways (wide tables and figures scroll in their own
box), every image is drawn, nothing is written to the console, the tab title says "Synthetic" when the
data are, and axe-core's accessibility audit finds no serious or critical violation. The first two
screens at each width are kept as PNGs in tests/artifacts/browser/ (git-ignored) for a person to look at.

Needs Debian's ``chromium`` and axe-core from npm (``make browser-tools``); ``.ci/run`` installs both and
sets REQUIRE_BROWSER=1, so CI cannot skip this. Elsewhere a missing tool skips the test with that reason:
the README's `make test` must still run with only Python and make.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest

from pipeline.core.config import load_config
from pipeline.core.paths import PROJECT_ROOT
from pipeline.stages.report_tables import words
from tests.browser import find_chromium, open_page_at
from tests.built_project import make_variable

# The built project is made once per run and shared by every worker (tests/built_project.py).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("report_browser")]  # its pages are opened once

REQUIRED = os.environ.get("REQUIRE_BROWSER") == "1"
CHROMIUM = find_chromium()
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
if REQUIRED and CHROMIUM is None:
    raise RuntimeError("REQUIRE_BROWSER=1 but no chromium on PATH: apt-get install chromium")
if REQUIRED and not AXE.exists():
    raise RuntimeError("REQUIRE_BROWSER=1 but axe-core is not installed: make browser-tools")
WIDTHS = (390, 768, 1280)
HEIGHT = 900
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", PROJECT_ROOT / "tests" / "artifacts" / "browser"))
MAX_PAGE_BYTES = 3 * 1024 * 1024


# The main page may be at most this many screens long at 1280 px (issue 24).
MAX_MAIN_SCREENS = 20


@pytest.fixture(scope="module")
def release(built_project: Path):
    """Both pages of the release at every width: {page: {width: PageReport}}."""
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run does)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out = {}
    for page in ("report", "technical_annex"):
        out[page] = open_page_at(
            CHROMIUM,
            built_project / "analysis" / f"{page}.html",
            WIDTHS,
            HEIGHT,
            axe_script=AXE if AXE.exists() else None,
        )
        for width, report in out[page].items():
            (ARTIFACTS / f"{page}-{width}px-screen1.png").write_bytes(report.screenshot)
            (ARTIFACTS / f"{page}-{width}px-screen2.png").write_bytes(report.second_screen)
    return out


@pytest.fixture(scope="module")
def pages(release):
    return release["report"]


def test_key_findings_begin_on_the_first_screen_at_1280_px_and_by_the_second_at_390_px(pages):
    assert pages[1280].facts["findingsTop"] < HEIGHT
    assert pages[390].facts["findingsTop"] < 2 * HEIGHT


def test_the_main_page_is_at_most_20_screens_at_1280_px(pages):
    assert pages[1280].facts["pageHeight"] <= MAX_MAIN_SCREENS * HEIGHT


@pytest.mark.parametrize("page", ("report", "technical_annex"))
@pytest.mark.parametrize("width", WIDTHS)
def test_tables_and_charts_fit(release, page, width):
    facts = release[page][width].facts
    assert facts["clippedCells"] == []
    assert facts["tallRows"] == []
    assert facts["wideCharts"] == []


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_scrolls_sideways(release, width):
    for page in release.values():
        facts = page[width].facts
        assert facts["viewportWidth"] == width
        assert facts["pageWidth"] <= width, facts["wideElements"]
        assert facts["wideElements"] == []


def test_the_published_against_reproduced_table_never_scrolls_sideways(pages):
    # On a phone its rows become cards; wider, it fits the text column.
    for width in WIDTHS:
        assert "table-published" not in pages[width].facts["scrollingBoxes"]


@pytest.mark.parametrize("width", WIDTHS)
def test_every_figure_is_drawn_once_on_one_page_and_none_is_broken(release, width):
    figures = {Path(name).stem for name in make_variable("FIGURES") if name.endswith(".png")}
    assert sum(release[page][width].facts["images"] for page in release) == len(figures)
    for page in release:
        assert release[page][width].facts["broken"] == []


@pytest.mark.parametrize("width", WIDTHS)
def test_no_console_error(release, width):
    for page in release.values():
        assert page[width].console_errors == []


def test_the_tab_title_says_synthetic(release):
    assert load_config().synthetic_data
    for page in release.values():
        for report in page.values():
            assert "Synthetic" in report.facts["title"]


@pytest.mark.parametrize("page", ("report", "technical_annex"))
@pytest.mark.parametrize("width", WIDTHS)
def test_no_accessibility_violation(release, page, width):
    violations = release[page][width].violations
    if violations is None:
        pytest.skip("axe-core not installed (make browser-tools; .ci/run does)")
    assert violations == []


def test_first_screen_says_synthetic_and_is_not_blank(pages):
    report = pages[1280]
    assert "SYNTHETIC" in report.facts["firstScreen"].upper()
    for shot in (report.screenshot, report.second_screen):
        pixels = matplotlib.image.imread(io.BytesIO(shot), format="png")
        assert pixels.shape[:2] == (HEIGHT, 1280)
        # A rendered page has text and colour; a blank or failed page is one flat colour.
        assert pixels[..., :3].std() > 0.05


def test_each_page_weighs_at_most_3_mb_and_every_file_link_resolves(built_project: Path):
    links = []
    for name in ("report.html", "technical_annex.html"):
        page = built_project / "analysis" / name
        assert page.stat().st_size <= MAX_PAGE_BYTES
        html = page.read_text(encoding="utf-8")
        links += [link.partition("#")[0] for link in re.findall(r'href="(?!#|https?:)([^"]+)"', html)]
    assert len(links) >= 3 * 25  # each figure's PNG, SVG and CSV at least
    for link in links:
        assert (page.parent / link).resolve().is_file(), link


def test_report_holds_every_published_number(built_project: Path):
    html = (built_project / "analysis" / "report.html").read_text(encoding="utf-8")
    published = pd.read_csv(built_project / "analysis/tables/published_vs_reproduced.csv")
    for text in published["published"].dropna():
        escaped = (
            words(text).replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;").replace(">", "&gt;")
        )
        assert escaped in html, text


@pytest.fixture(scope="module")
def dictionary(built_project: Path):
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run does)")
    return open_page_at(
        CHROMIUM,
        built_project / "analysis" / "data_dictionary.html",
        (390, 1280),
        HEIGHT,
        axe_script=AXE if AXE.exists() else None,
    )


@pytest.mark.parametrize("width", (390, 1280))
def test_the_data_dictionary_page_fits_and_passes_the_audit(dictionary, width):
    page = dictionary[width]
    assert page.facts["pageWidth"] <= width, page.facts["wideElements"]
    assert page.console_errors == []
    assert "Synthetic" in page.facts["title"]
    if page.violations is None:
        pytest.skip("axe-core not installed (make browser-tools; .ci/run does)")
    assert page.violations == []
