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
from tests.browser import find_chromium, open_page_at
from tests.built_project import make_variable

# The built project is made once per run and shared by every worker (tests/built_project.py).
pytestmark = pytest.mark.slow

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


@pytest.fixture(scope="module")
def pages(built_project: Path):
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run does)")
    reports = open_page_at(
        CHROMIUM,
        built_project / "analysis" / "report.html",
        WIDTHS,
        HEIGHT,
        axe_script=AXE if AXE.exists() else None,
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, report in reports.items():
        (ARTIFACTS / f"report-{width}px-screen1.png").write_bytes(report.screenshot)
        (ARTIFACTS / f"report-{width}px-screen2.png").write_bytes(report.second_screen)
    return reports


@pytest.mark.parametrize("width", WIDTHS)
def test_the_page_never_scrolls_sideways(pages, width):
    facts = pages[width].facts
    assert facts["viewportWidth"] == width
    assert facts["pageWidth"] <= width, facts["wideElements"]
    assert facts["wideElements"] == []


def test_the_published_against_reproduced_table_fits_at_1280_px(pages):
    assert "table-published" not in pages[1280].facts["scrollingBoxes"]
    # At a phone's width it scrolls inside its own box instead (the page does not: see above).
    assert "table-published" in pages[390].facts["scrollingBoxes"]


@pytest.mark.parametrize("width", WIDTHS)
def test_every_figure_is_drawn_and_none_is_broken(pages, width):
    figures = {Path(name).stem for name in make_variable("FIGURES") if name.endswith(".png")}
    assert pages[width].facts["images"] == len(figures)
    assert pages[width].facts["broken"] == []


@pytest.mark.parametrize("width", WIDTHS)
def test_no_console_error(pages, width):
    assert pages[width].console_errors == []


def test_the_tab_title_says_synthetic(pages):
    assert load_config().synthetic_data
    for report in pages.values():
        assert "Synthetic" in report.facts["title"]


@pytest.mark.parametrize("width", WIDTHS)
def test_no_serious_or_critical_accessibility_violation(pages, width):
    violations = pages[width].violations
    if violations is None:
        pytest.skip("axe-core not installed (make browser-tools; .ci/run does)")
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert serious == [], serious


def test_first_screen_says_synthetic_and_is_not_blank(pages):
    report = pages[1280]
    assert "SYNTHETIC" in report.facts["firstScreen"].upper()
    for shot in (report.screenshot, report.second_screen):
        pixels = matplotlib.image.imread(io.BytesIO(shot), format="png")
        assert pixels.shape[:2] == (HEIGHT, 1280)
        # A rendered page has text and colour; a blank or failed page is one flat colour.
        assert pixels[..., :3].std() > 0.05


def test_the_page_weighs_at_most_3_mb_and_every_file_link_resolves(built_project: Path):
    page = built_project / "analysis" / "report.html"
    assert page.stat().st_size <= MAX_PAGE_BYTES
    html = page.read_text(encoding="utf-8")
    links = re.findall(r'href="(?!#|https?:)([^"]+)"', html)
    assert len(links) >= 3 * 25  # each figure's PNG, SVG and CSV at least
    for link in links:
        assert (page.parent / link).resolve().is_file(), link


def test_report_holds_every_published_number(built_project: Path):
    html = (built_project / "analysis" / "report.html").read_text(encoding="utf-8")
    published = pd.read_csv(built_project / "analysis/tables/published_vs_reproduced.csv")
    for text in published["published"].dropna():
        escaped = (
            str(text).replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;").replace(">", "&gt;")
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
    assert [v for v in page.violations if v["impact"] in ("serious", "critical")] == []
