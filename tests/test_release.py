"""The built release read as a reader reads it: names, never codes; every cross-reference shows what its
sentence names; every "N of M" and every n equals its table's count.

Static checks of the built pages (no browser): tests/test_report_browser.py checks what Chromium draws.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

PAGES = ("report.html", "technical_annex.html")

# Reader-facing text must not hold these (code elements in the technical annex excepted).
CODES = {
    "snake_case token": re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b"),
    "|-joined codes": re.compile(r"\b\w+\|\w+\b"),
    "configuration key": re.compile(
        r"\b(?:dataset|weighting|models|maturity|disclosure|release|synthetic|seeds)\.[a-z_]+\b(?!\.)"
        r"|\bconfig\.yaml\b"
    ),
    "file-system path": re.compile(
        r"\b[\w-]+/[\w./-]*\.(?:py|csv|yaml|json|parquet|md|png|svg|txt)\b"
        r"|\b(?:data|analysis|figures|pipeline|docs)/[\w/-]*"
    ),
}


class ReaderText(HTMLParser):
    """The text a reader meets: element text and alt text, without styles, scripts and (where allowed)
    code; every element's id with its text, and every link with its text and data-names."""

    def __init__(self, skip_code: bool) -> None:
        super().__init__()
        self.skipped = {"style", "script", "title"} | ({"code", "pre"} if skip_code else set())
        self.depth = 0
        self.chunks: list[str] = []
        self.open_ids: list[tuple[str, str, int]] = []
        self.texts: dict[str, list[str]] = {}
        self.links: list[dict[str, str]] = []
        self._link: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in self.skipped:
            self.depth += 1
        if values.get("id"):
            self.open_ids.append((values["id"] or "", tag, 0))
            self.texts.setdefault(values["id"] or "", [])
        self.open_ids = [(i, t, d + (tag == t)) for i, t, d in self.open_ids]
        if not self.depth and values.get("alt"):
            self.chunks.append(values["alt"] or "")
        if tag == "a" and values.get("href"):
            self._link = {"href": values["href"] or "", "names": values.get("data-names") or "", "text": ""}

    def handle_endtag(self, tag: str) -> None:
        if tag in self.skipped:
            self.depth -= 1
        kept = []
        for element, opened, depth in self.open_ids:
            depth -= tag == opened
            if depth > 0:
                kept.append((element, opened, depth))
        self.open_ids = kept
        if tag == "a" and self._link is not None:
            self.links.append(self._link)
            self._link = None

    def handle_data(self, data: str) -> None:
        for element, _, _ in self.open_ids:
            self.texts[element].append(data)
        if self._link is not None:
            self._link["text"] += data
        if not self.depth:
            self.chunks.append(data)

    def text_of(self, element: str) -> str:
        return " ".join(" ".join(self.texts.get(element, [])).split())


def _read(path: Path, skip_code: bool) -> ReaderText:
    parser = ReaderText(skip_code)
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def release(built_project: Path) -> Path:
    return built_project / "analysis"


@pytest.mark.parametrize("page", PAGES)
def test_reader_facing_text_has_names_not_codes(release, page):
    # The main page holds no code at all; the annex may show file paths and module names as code.
    text = " ".join(_read(release / page, skip_code=page != "report.html").chunks)
    found = {
        kind: sorted({match.group(0) for match in pattern.finditer(text)}) for kind, pattern in CODES.items()
    }
    assert {kind: tokens for kind, tokens in found.items() if tokens} == {}


def test_the_main_page_shows_no_code_element(release):
    html = (release / "report.html").read_text(encoding="utf-8")
    assert "<code" not in html and "<pre" not in html


def _figure_csv(release: Path, figure_id: str) -> str:
    name = figure_id.removeprefix("figure-")
    return (release.parent / "figures" / f"{name}.csv").read_text(encoding="utf-8")


def test_every_cross_reference_shows_what_its_sentence_names(release):
    pages = {page: _read(release / page, skip_code=False) for page in PAGES}
    checked = 0
    for page, parsed in pages.items():
        for link in parsed.links:
            href = link["href"]
            if "#" not in href or href.startswith("http"):
                continue
            target_page, _, target = href.partition("#")
            target_page = target_page or page
            if target_page not in pages:
                continue
            target_text = pages[target_page].text_of(target)
            assert target_text, f"{page}: link {href!r} ({link['text']!r}) has no target"
            text = " ".join(link["text"].split())
            # Each link's text names its target: a figure by its number, a row or table by its words.
            if target.startswith("figure-"):
                number = re.match(r"Figure (\d+)", text)
                if number:
                    assert target_text.startswith(f"Figure {number.group(1)}:"), (text, target_text[:60])
                shown = target_text + " " + _figure_csv(release, target)
            else:
                shown = target_text
            for name in filter(None, link["names"].split("|")):
                assert name.lower() in shown.lower(), f"{text!r} -> {href}: the target does not show {name!r}"
                checked += 1
    assert checked >= 15


def test_no_link_text_is_a_file_name_pointing_elsewhere(release):
    for page in PAGES:
        for link in _read(release / page, skip_code=False).links:
            text = " ".join(link["text"].split())
            if re.search(r"\.(md|py|csv|yaml)$", text):
                assert link["href"].endswith(text.rsplit("/", 1)[-1]), (page, text, link["href"])


def _findings_text(release: Path) -> str:
    return _read(release / "report.html", skip_code=False).text_of("findings")


def test_every_n_of_m_in_the_findings_equals_its_tables_count(release, built_project):
    findings = _findings_text(release)
    plotted = pd.read_csv(built_project / "figures" / "published.csv")
    inside = int(plotted["published_in_ci"].astype(str).str.lower().eq("true").sum())
    assert f"meets {inside} of the {len(plotted)} published survey numbers" in findings
    figure = _read(release / "report.html", skip_code=False).text_of("figure-published")
    assert f"meets {'all ' + str(inside) if inside == len(plotted) else f'{inside} of'}" in figure
    comparisons = pd.read_csv(built_project / "analysis/tables/comparisons.csv")
    scales = comparisons[
        (comparisons["weighting"] == "weighted")
        & (comparisons["measure"] == "positive")
        & (comparisons["test"] == "difference (design-based t)")
        & (comparisons["instrument"] == "coordinator")
    ]
    for group, sign in (("tier", -1), ("maturity", 1)):
        rows = scales[scales["group"] == group]
        leaning = int(((rows["estimate"] * sign) > 0).sum())
        count = f"all {len(rows)}" if leaning == len(rows) else f"{leaning} of the {len(rows)}"
        assert f"{count} scales put" in findings, group


def test_every_n_in_a_figure_note_counts_distinct_respondents(release, built_project):
    base = pd.read_parquet(built_project / "data/processed/analysis_base.parquet")
    answered = base["respondent_type"].value_counts()
    coverage = _read(release / "report.html", skip_code=False).text_of("figure-coverage")
    assert f"LSP coordinators: {answered['coordinator']};" in coverage
    assert f"Board partners: {answered['partner']};" in coverage
    lede = (release / "report.html").read_text(encoding="utf-8")
    assert f"{answered['coordinator']} coordinators and {answered['partner']} board partners" in lede


def test_findings_that_rest_on_an_unreliable_scale_say_so(release, built_project):
    reliability = pd.read_csv(built_project / "analysis/tables/scale_reliability.csv")
    findings = _findings_text(release)
    for row in reliability.itertuples(index=False):
        label = str(row.element_label).lower()
        named = re.search(rf"\b(largest is on|about|score) {re.escape(label)}\b", findings)
        if named and row.alpha < 0.6 and row.instrument == "coordinator":
            assert f"The {label} scale is less reliable" in findings, label
