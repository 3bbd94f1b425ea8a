"""The sampling frame in data/raw: the real 388 LSPs, with ids kept as text."""

from pathlib import Path


def test_frame_has_388_unique_lsps(frame):
    assert len(frame) == 388
    assert frame["lsp_id"].is_unique


def test_frame_counts_by_authority_type(frame):
    assert frame["authority_type"].value_counts().to_dict() == {
        "shire_district": 238,
        "unitary": 47,
        "metropolitan_district": 36,
        "county": 34,
        "london_borough": 33,
    }


def test_frame_counts_by_tier_follow_authority_type(frame):
    assert frame["tier"].value_counts().to_dict() == {"multi": 272, "single": 116}
    single = frame["authority_type"].isin(["metropolitan_district", "london_borough", "unitary"])
    assert (frame.loc[single, "tier"] == "single").all()
    assert (frame.loc[~single, "tier"] == "multi").all()


def test_county_ids_keep_their_leading_zeros(frame):
    assert "09" in set(frame.loc[frame["authority_type"] == "county", "lsp_id"])
    assert frame["lsp_id"].str.len().isin([2, 4]).all()


def test_frame_has_150_laa_areas_and_17_case_studies(frame):
    assert frame["laa_area_id"].nunique() == 150
    assert (frame["case_study_2008"] == "true").sum() == 17


def test_a_frame_that_passed_is_checked_again_only_when_its_bytes_change(config, tmp_path, monkeypatch):
    """The frame's check is remembered by content (pipeline.study.frame.CHECKED_FRAMES): the same bytes
    are not checked twice, and a changed frame is checked, and refused, as if never seen."""
    import shutil

    import pytest

    from pipeline.core.errors import PipelineError
    from pipeline.study import frame as frame_module

    monkeypatch.setattr(frame_module, "CHECKED_FRAMES", tmp_path / "checked")
    checks = []
    original_check = frame_module.check_frame
    monkeypatch.setattr(frame_module, "check_frame", lambda *a: checks.append(1) or original_check(*a))
    path = tmp_path / "lsp_frame_2008.csv"
    shutil.copyfile(config.frame, path)
    first = frame_module.read_frame(path)
    second = frame_module.read_frame(path)
    assert len(checks) == 1 and first.equals(second)
    assert len(list((tmp_path / "checked").iterdir())) == 1
    text = path.read_text(encoding="utf-8").splitlines()
    header = text[0].split(",")
    row = text[1].split(",")
    row[header.index("tier")] = "nowhere"
    path.write_text("\n".join([text[0], ",".join(row), *text[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=r"row 2 .* column tier: 'nowhere' fails tier"):
        frame_module.read_frame(path)
    assert len(checks) == 2 and len(list((tmp_path / "checked").iterdir())) == 1


def test_the_remembered_check_is_keyed_by_every_project_module_the_check_imports():
    """A pass is remembered under a hash of the checking code: every pipeline module the schema check
    imports, directly or not, must be in that hash, or an edit of it would leave a stale pass standing."""
    import subprocess
    import sys

    from pipeline.core.paths import PROJECT_ROOT
    from pipeline.study import frame as frame_module

    probe = (
        "import sys; from pipeline.study import schemas; "
        "print('\\n'.join(sorted(m.__file__ for n, m in sys.modules.items() "
        "if n.startswith('pipeline.') and getattr(m, '__file__', None))))"
    )
    listed = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    package = PROJECT_ROOT / "pipeline"
    imported = {str(Path(name).relative_to(package)) for name in listed if not name.endswith("__init__.py")}
    # frame.py holds check_frame itself; what it imports to store the stamp does not decide a pass.
    assert imported | {"study/frame.py"} == set(frame_module.CHECK_CODE)


def test_a_stage_may_keep_some_columns_and_a_new_frame_is_still_checked_whole(config, tmp_path, monkeypatch):
    """``read_frame(path, columns)`` is ``read_frame(path)[columns]``, whether the frame is new (read whole
    and checked) or already passed (only those columns parsed); a broken frame is refused either way."""
    import shutil

    import pandas as pd
    import pytest

    from pipeline.core.errors import PipelineError
    from pipeline.study import frame as frame_module

    monkeypatch.setattr(frame_module, "CHECKED_FRAMES", tmp_path / "checked")
    checks = []
    original_check = frame_module.check_frame
    monkeypatch.setattr(
        frame_module, "check_frame", lambda *a: checks.append(a[0].shape) or original_check(*a)
    )
    path = tmp_path / "lsp_frame_2008.csv"
    shutil.copyfile(config.frame, path)
    columns = ["region", "lsp_id", "case_study_2008"]
    new = frame_module.read_frame(path, columns)
    passed = frame_module.read_frame(path, columns)
    whole = frame_module.read_frame(path)
    assert len(checks) == 1 and checks[0][1] > len(columns)  # the new frame was checked whole
    pd.testing.assert_frame_equal(new, whole[columns])
    pd.testing.assert_frame_equal(passed, whole[columns])
    assert list(passed.columns) == columns and passed["lsp_id"].str.startswith("0").any()
    text = path.read_text(encoding="utf-8").splitlines()
    header, row = text[0].split(","), text[1].split(",")
    row[header.index("tier")] = "nowhere"
    path.write_text("\n".join([text[0], ",".join(row), *text[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=r"row 2 .* column tier: 'nowhere' fails tier"):
        frame_module.read_frame(path, columns)
