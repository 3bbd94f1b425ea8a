"""The improvement tool used as a person uses it, in headless Chromium, opened from disk.

A coordinator opens analysis/improvement_tool.html from the built project, chooses a board's CSV in the
file picker, and reads the profile. The page's profile (its CSV) must equal `lsp-rap profile` on the same
file within 1e-9, number for number; the page must make no request beyond loading itself (DevTools
Network events); at 390 px nothing may scroll sideways; axe-core must find no violation; a board of two
must see the warning and no rating; an .xlsx workbook gives its CSV's profile and a damaged one is
refused in one line; the on-screen form gives the same profile as the file; the printed summary is one A4
page. Both of the page's modes are used: the bundled frame's page lists its 388 LSPs, and a large frame's
page (built here from the same reference values with the list left out, as the stage leaves it out above
LSP_LIST_MAX) says so, takes the comparison group by name and still says something true about the case
studies. Screenshots at 1280 and 390 px of both are kept in tests/artifacts/browser/.

Needs Debian's chromium and axe-core (``make browser-tools``); with REQUIRE_BROWSER=1 (``.ci/run``) a
missing tool is an error, elsewhere a skip with the reason.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core.paths import PROJECT_ROOT
from tests.browser import find_chromium, page_session

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("improvement_browser")]  # one Chromium

REQUIRED = os.environ.get("REQUIRE_BROWSER") == "1"
CHROMIUM = find_chromium()
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
if REQUIRED and (CHROMIUM is None or not AXE.exists()):
    raise RuntimeError(
        "REQUIRE_BROWSER=1 but chromium or axe-core is missing (apt-get install chromium; make browser-tools)"
    )
BOARDS = Path(__file__).resolve().parent / "fixtures" / "improvement"
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", PROJECT_ROOT / "tests" / "artifacts" / "browser"))
AXE_RUN = """axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(
  r.violations.map(v => ({id: v.id, impact: v.impact,
                          nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))))"""
WIDE = """Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('details:not([open])'))
  .slice(0, 5).map(e => e.tagName + (e.id ? '#' + e.id : ''))"""


@pytest.fixture(scope="module")
def page(built_project: Path) -> Path:
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run does)")
    return built_project / "analysis" / "improvement_tool.html"


@pytest.fixture(scope="module")
def large_page(built_project: Path, tmp_path_factory) -> tuple[Path, Path]:
    """A large frame's page and reference values: the bundled values with the LSP list left out, as the
    stage leaves it out for a frame of more than its limit (here a limit of 100 for the 388 LSPs)."""
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run does)")
    from pipeline.stages.improvement_tool import frame_lsp_list, render_page
    from pipeline.study.frame import read_frame
    from pipeline.study.weighting import frame_variables

    folder = tmp_path_factory.mktemp("large_frame")
    values = json.loads((built_project / "analysis" / "improvement_tool.json").read_text(encoding="utf-8"))
    frame = read_frame(built_project / "data" / "raw" / "lsp_frame_2008.csv")
    values = {k: v for k, v in values.items() if k != "lsps"}
    values |= frame_lsp_list(frame, frame_variables(frame), list_max=100)
    (folder / "improvement_tool.json").write_text(json.dumps(values), encoding="utf-8")
    (folder / "improvement_tool.html").write_text(render_page(values), encoding="utf-8")
    return folder / "improvement_tool.html", folder / "improvement_tool.json"


def python_profile(built_project: Path, board: Path, tmp_path: Path, *options: str) -> list[dict[str, str]]:
    subprocess.run(
        [sys.executable, "-m", "pipeline", "profile", str(board), "--out", str(tmp_path), *options],
        cwd=built_project,
        check=True,
        capture_output=True,
        text=True,
    )
    return list(
        csv.DictReader(io.StringIO((tmp_path / f"{board.stem}_profile.csv").read_text(encoding="utf-8")))
    )


def page_profile(session, board: Path) -> list[dict[str, str]]:
    """Choose the file and read the page's profile once it has read that file (not an earlier one)."""
    session.choose_files("#answers-file", [board])
    session.wait_until(f"document.getElementById('load-message').innerText.includes(' from {board.name}.')")
    text = session.evaluate("window.improvementTool.current()")
    return list(csv.DictReader(io.StringIO(text)))


def assert_same_profile(ours: list[dict[str, str]], theirs: list[dict[str, str]]) -> None:
    assert len(ours) == len(theirs) > 7
    for mine, other in zip(ours, theirs, strict=True):
        assert mine.keys() == other.keys()
        for column, value in mine.items():
            try:
                assert abs(float(value) - float(other[column])) <= 1e-9, (mine["label"], column)
            except ValueError:
                assert value == other[column], (mine["label"], column)


def test_the_page_computes_what_the_command_computes_and_sends_nothing(page, built_project, tmp_path):
    board = BOARDS / "board_dudley.csv"
    with page_session(CHROMIUM, 1280) as session:
        session.navigate(page)
        in_page = page_profile(session, board)
        assert_same_profile(in_page, python_profile(built_project, board, tmp_path))
        # The form, filled with the same seven people, gives the same profile.
        people = list(csv.DictReader(board.open(encoding="utf-8")))
        for person in people:
            session.evaluate(
                "(function (p) { document.getElementById('q-respondent_type').value = p.respondent_type;"
                " Object.keys(p).forEach(function (k) { var s = document.getElementById('q-' + k);"
                " if (s && k !== 'respondent_type') { s.value = ['-9', ''].indexOf(p[k]) >= 0 ? '' : "
                "p[k]; } });"
                " document.getElementById('add-person').click(); })(" + json.dumps(person) + ")"
            )
        session.evaluate("document.getElementById('use-typed').click()")
        typed = list(csv.DictReader(io.StringIO(session.evaluate("window.improvementTool.current()"))))
        assert_same_profile(
            [r | {"peer_group": ""} for r in typed], [r | {"peer_group": ""} for r in in_page]
        )
        text = session.evaluate("document.getElementById('results').innerText")
        assert "Dudley" in session.evaluate("document.getElementById('lsp-select').selectedOptions[0].text")
        assert "Case-study partnerships like yours" in text and "Bolton" in text
        assert session.console_errors() == []
        # The printable summary of a board of seven is one A4 page.
        a4 = {"paperWidth": 8.27, "paperHeight": 11.69}
        pdf = base64.b64decode(session.call("Page.printToPDF", a4)["data"])
        assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") == 1
        requests = session.requests()
        assert requests == [page.resolve().as_uri()]  # the page itself, and nothing else
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "improvement-1280px.png").write_bytes(session.screenshot(full_page=True))


def test_at_390_px_nothing_scrolls_sideways_and_axe_finds_nothing(page):
    board = BOARDS / "board_dudley.csv"
    with page_session(CHROMIUM, 390) as session:
        session.navigate(page)
        page_profile(session, board)
        assert session.evaluate("document.documentElement.scrollWidth") <= 390
        assert session.evaluate(WIDE) == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "improvement-390px.png").write_bytes(session.screenshot(full_page=True))
        if AXE.exists():
            session.evaluate(AXE.read_text(encoding="utf-8"))
            assert json.loads(session.evaluate(AXE_RUN, awaited=True, timeout=120)) == []
        assert session.requests() == [page.resolve().as_uri()]


def test_a_board_of_two_sees_the_warning_and_no_rating(page):
    with page_session(CHROMIUM, 1280) as session:
        session.navigate(page)
        rows = page_profile(session, BOARDS / "board_of_two.csv")
        assert {r["rating"] for r in rows if r["kind"] == "element"} == {"not rated"}
        warning = session.evaluate("document.getElementById('warning').innerText")
        assert warning.startswith("Only 2 people answered some elements.")
        if AXE.exists():
            session.evaluate(AXE.read_text(encoding="utf-8"))
            assert json.loads(session.evaluate(AXE_RUN, awaited=True, timeout=120)) == []


def test_an_xlsx_workbook_gives_the_profile_its_csv_gives(page, built_project, tmp_path):
    import pandas as pd

    board = BOARDS / "board_dudley.csv"
    workbook = tmp_path / "board_dudley.xlsx"
    # As a survey tool writes it: answers as numbers, blanks empty, on a sheet that is not called Sheet1.
    table = pd.read_csv(board, dtype={"lsp_id": str})
    table.to_excel(workbook, index=False, sheet_name="responses")
    with page_session(CHROMIUM, 1280) as session:
        session.navigate(page)
        assert_same_profile(page_profile(session, workbook), page_profile(session, board))
        assert session.requests() == [page.resolve().as_uri()]
    assert_same_profile(
        python_profile(built_project, workbook, tmp_path), python_profile(built_project, board, tmp_path)
    )


def test_a_damaged_workbook_or_a_bad_answer_is_refused_in_one_line(page, tmp_path):
    workbook = tmp_path / "board.xlsx"
    workbook.write_bytes(b"PK\x03\x04 not read")
    bad = tmp_path / "bad.csv"
    bad.write_text("respondent_id,meetings_strategic\nP0001,4\nP0002,very much\n", encoding="utf-8")
    with page_session(CHROMIUM, 1280) as session:
        session.navigate(page)
        page_profile(session, BOARDS / "board_of_two.csv")  # a profile on screen, then a refused file
        session.choose_files("#answers-file", [workbook])
        # Wait for the refusal itself: the earlier file's "Read 2 people's answers" line is there until then.
        message = session.wait_until(
            "document.getElementById('load-message').innerText.indexOf('board.xlsx') === 0 && "
            "document.getElementById('load-message').innerText"
        )
        assert message == (
            "board.xlsx: not a readable .xlsx workbook (not a zip archive); save the sheet as CSV (UTF-8) "
            "and load that"
        )
        # The earlier profile is gone, so it cannot be taken for the refused file's.
        assert session.evaluate("document.getElementById('results').hidden") is True
        assert session.evaluate("window.improvementTool.current()") is None
        session.choose_files("#answers-file", [bad])
        message = session.wait_until(
            "document.getElementById('load-message').innerText.indexOf('bad.csv') === 0 && "
            "document.getElementById('load-message').innerText"
        )
        assert message == (
            "bad.csv: row 3, column meetings_strategic: 'very much' is not an answer on the agree scale "
            "(1-5, -8, -9 or their labels)"
        )
        assert session.requests() == [page.resolve().as_uri()]


GROUP_OPTIONS = """Array.from(document.getElementById('group-select').options).map(o => o.value)"""


def test_every_published_group_can_be_chosen_by_name_beside_the_partnerships_own(page, built_project):
    reference = json.loads((built_project / "analysis" / "improvement_tool.json").read_text(encoding="utf-8"))
    published = [g["key"] for g in reference["groups"] if g["respondents"] and g["key"] != "all"]
    with page_session(CHROMIUM, 1280) as session:
        session.navigate(page)
        own = ["tier", "authority_type", "region", "deprivation"]
        assert session.evaluate(GROUP_OPTIONS) == ["", *own, *published]
        assert session.evaluate("document.getElementById('group-select').value") == "tier"
        assert session.evaluate("document.getElementById('lsp-choice').hidden") is False
        assert session.evaluate("document.getElementById('lsp-list-note').hidden") is True


def test_a_large_frames_page_takes_the_group_by_name_and_says_why(large_page, built_project, tmp_path):
    page, reference_path = large_page
    reference = json.loads(reference_path.read_text(encoding="utf-8"))
    published = [g["key"] for g in reference["groups"] if g["respondents"] and g["key"] != "all"]
    board = BOARDS / "board_dudley.csv"
    with page_session(CHROMIUM, 1280) as session:
        session.navigate(page)
        # No picker of LSPs, and a plain sentence instead; every published group by name.
        assert session.evaluate("document.getElementById('lsp-choice').hidden") is True
        note = session.evaluate("document.getElementById('lsp-list-note').innerText")
        assert note.startswith(
            "This page does not list the frame's 388 LSPs: it lists them only for a frame of at most 100"
        )
        assert session.evaluate(GROUP_OPTIONS) == ["", *published]
        assert session.evaluate("document.getElementById('group-select').value") == ""  # England only
        in_page = page_profile(session, board)
        message = session.evaluate("document.getElementById('load-message').innerText")
        assert "its lsp_id (00CR) cannot choose your comparison group: choose it below." in message
        assert {r["peer_group"] for r in in_page} == {""}
        session.evaluate(
            "document.getElementById('group-select').value = 'authority_type:metropolitan_district';"
            "document.getElementById('group-select').dispatchEvent(new Event('change'))"
        )
        chosen = list(csv.DictReader(io.StringIO(session.evaluate("window.improvementTool.current()"))))
        assert_same_profile(
            chosen,
            python_profile(
                built_project,
                board,
                tmp_path,
                "--reference",
                str(reference_path),
                "--group",
                "authority_type:metropolitan_district",
            ),
        )
        counts = reference["lsps_left_out"]["case_study_lsps"]
        cases = session.evaluate("document.getElementById('case-studies').innerText")
        assert cases == (
            "This page cannot name the Audit Commission's case-study LSPs like yours: it does not list the "
            "frame's 388 LSPs (see Choose who to compare with). The frame flags "
            f"{counts['all']} of them as case studies (2008), "
            f"{counts['authority_type:metropolitan_district']} of them among Metropolitan districts."
        )
        assert session.console_errors() == []
        assert session.requests() == [page.resolve().as_uri()]
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "improvement-large-frame-1280px.png").write_bytes(session.screenshot(full_page=True))
    with page_session(CHROMIUM, 390) as session:
        session.navigate(page)
        page_profile(session, board)
        assert session.evaluate("document.documentElement.scrollWidth") <= 390
        assert session.evaluate(WIDE) == []
        (ARTIFACTS / "improvement-large-frame-390px.png").write_bytes(session.screenshot(full_page=True))
        if AXE.exists():
            session.evaluate(AXE.read_text(encoding="utf-8"))
            assert json.loads(session.evaluate(AXE_RUN, awaited=True, timeout=120)) == []
