"""``lsp-rap profile FILE [--lsp ID]``: one partnership's 7S profile against the national reference values.

The same computation as the improvement tool's page (pipeline/templates/improvement_tool.js), in Python,
from the same reference values (analysis/improvement_tool.json), for offices that prefer a command. Reads
a CSV or XLSX export in the codebook's shape: one row per person, the 7S questions as columns named as in
the codebook, answers as codes (1-5; -8 don't know, -9 not answered) or their labels ("Agree"); optional
``respondent_id``, ``lsp_id`` and ``respondent_type`` columns. Writes ``<FILE stem>_profile.csv`` and
``<FILE stem>_profile.html`` beside the file (or into ``--out``). Loops are plain Python floats in the
page's order, so the two agree to rounding (a browser test holds them to 1e-9).
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import math
import re
from pathlib import Path
from typing import Any

from pipeline.core.errors import PipelineError
from pipeline.core.paths import rebuild_command
from pipeline.study.improvement import MIN_RATED, placement, rating

PROFILE_COLUMNS = (
    "kind",
    "element",
    "item",
    "label",
    "respondents",
    "value",
    "ci_low",
    "ci_high",
    "england_p10",
    "england_p25",
    "england_p50",
    "england_p75",
    "england_p90",
    "england_pct",
    "placement",
    "rating",
    "peer_group",
    "peer_p25",
    "peer_p50",
    "peer_p75",
    "peer_pct",
)


def format_number(value: float | None) -> str:
    """The shortest text that reads back as the same double (JavaScript's String(), Python's repr)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def read_table(path: Path) -> list[dict[str, str]]:
    """The file's rows as text, header names stripped; an XLSX workbook's first sheet through pandas."""
    if not path.exists():
        raise PipelineError(f"{path}: not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        text = path.read_bytes().decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
    elif suffix == ".xlsx":
        import pandas as pd

        sheet = pd.read_excel(path, dtype=str, keep_default_na=False, header=None, engine="calamine")
        rows = sheet.to_numpy().tolist()
    else:
        raise PipelineError(f"{path}: not a .csv or .xlsx file")
    if not rows:
        raise PipelineError(f"{path}: the file is empty")
    header = [str(name).strip() for name in rows[0]]
    return [
        dict(zip(header, [str(v) for v in row], strict=False))
        for row in rows[1:]
        if any(str(v).strip() for v in row)
    ]


def answers(
    rows: list[dict[str, str]], reference: dict[str, Any], source: str, lsp: str | None
) -> dict[str, Any]:
    """Check and decode the answers: each cell a code, a label or blank; one line naming row and column."""
    item_names = [item["name"] for item in reference["items"]]
    columns = set(rows[0]) if rows else set()
    present = [name for name in item_names if name in columns]
    if not rows or not present:
        raise PipelineError(f"{source}: no column is a 7S question of the codebook (e.g. {item_names[0]})")
    if lsp is not None:
        if "lsp_id" not in columns:
            raise PipelineError(f"{source}: --lsp {lsp} given but the file has no lsp_id column")
        rows = [row for row in rows if row.get("lsp_id", "").strip() == lsp]
        if not rows:
            raise PipelineError(f"{source}: no row has lsp_id {lsp}")
    ids = sorted({row.get("lsp_id", "").strip() for row in rows} - {""})
    if len(ids) > 1:
        raise PipelineError(f"{source}: the file holds answers for {len(ids)} LSPs; choose one with --lsp")
    labels = {label.lower(): int(code) for code, label in reference["agree_labels"].items()}
    labels |= {label.lower(): int(code) for code, label in reference["missing_codes"].items()}
    valid_codes = {int(code) for code in reference["agree_labels"]}
    people = []
    for number, row in enumerate(rows, start=2):
        person: dict[str, Any] = {"type": respondent_type(row, reference)}
        for name in present:
            text = row.get(name, "").strip()
            code = decode(text, labels)
            if code is None:
                raise PipelineError(
                    f"{source}: row {number}, column {name}: {text!r} is not an answer on the agree scale "
                    "(1-5, -8, -9 or their labels)"
                )
            person[name] = code if code in valid_codes else None
        people.append(person)
    return {"people": people, "lsp_id": lsp or (ids[0] if ids else None)}


def decode(text: str, labels: dict[str, int]) -> int | None:
    """A cell's code: blank is not answered (-9); digits or a known label; None when it is neither."""
    if text == "":
        return -9
    if re.fullmatch(r"-?\d+(\.0+)?", text):
        code = int(float(text))
        return code if code in set(labels.values()) else None
    return labels.get(text.lower())


def respondent_type(row: dict[str, str], reference: dict[str, Any]) -> str:
    """coordinator or partner: the respondent_type column, else the codebook's id patterns, else partner."""
    stated = row.get("respondent_type", "").strip().lower()
    if stated in ("coordinator", "partner"):
        return stated
    for instrument, pattern in reference["respondent_id_patterns"].items():
        if re.fullmatch(pattern.strip("^$"), row.get("respondent_id", "").strip()):
            return instrument
    return "partner"


def scale_score(person: dict[str, Any], items: list[dict[str, Any]]) -> float | None:
    """Mean of the element's valid item scores (reverse-worded flipped), given at least half answered.

    ``items`` are the scale's items the person's instrument asks.
    """
    total, answered = 0.0, 0
    for item in items:
        code = person.get(item["name"])
        if code is not None:
            total += (6 - code) if item["reverse"] else code
            answered += 1
    return total / answered if answered >= math.ceil(len(items) / 2) and answered > 0 else None


def _percentile(values: dict[str, Any] | None, p: float) -> float | None:
    if not values:
        return None
    for row in values["percentiles"]:
        if row["p"] == p:
            return row["value"]
    return None


def compute_profile(
    loaded: dict[str, Any], reference: dict[str, Any], peer_group: str | None
) -> list[dict[str, Any]]:
    """The profile's rows: one per element, then one per question answered."""
    people = loaded["people"]
    rows = []
    for element in reference["elements"]:
        key = element["key"]
        items = [i for i in reference["items"] if i["element"] == key and i["in_scale"]]
        # Each person is scored on the scale's items their instrument is asked, as the derive stage does.
        scored = (scale_score(p, [i for i in items if p["type"] in i["instruments"]]) for p in people)
        scores = [s for s in scored if s is not None]
        values = reference["scale_values"][key]
        england = values["groups"].get("all")
        peer = values["groups"].get(peer_group) if peer_group else None
        row: dict[str, Any] = {"kind": "element", "element": key, "item": "", "label": element["label"]}
        row["respondents"] = len(scores)
        p25, p75 = _percentile(england, 0.25), _percentile(england, 0.75)
        if scores:
            total = 0.0
            for score in scores:
                total += score
            mean = total / len(scores)
            half = values["within_lsp"]["t"] * values["within_lsp"]["sd"] / math.sqrt(len(scores))
            row |= {"value": mean, "ci_low": mean - half, "ci_high": mean + half}
            where = placement(row["ci_low"], row["ci_high"], p25, p75)
            row |= {"placement": where, "rating": rating(len(scores), where)}
        else:
            row |= {"placement": "", "rating": "not rated"}
        for p in (0.1, 0.25, 0.5, 0.75, 0.9):
            row[f"england_p{round(p * 100)}"] = _percentile(england, p)
        if peer_group:
            row["peer_group"] = peer_group
            for p in (0.25, 0.5, 0.75):
                row[f"peer_p{round(p * 100)}"] = _percentile(peer, p)
        rows.append(row)
    for item in reference["items"]:
        answered = [person[item["name"]] for person in people if person.get(item["name"]) is not None]
        if not answered:
            continue
        agree = sum(1 for code in answered if code in reference["agree_codes"])
        item_values = reference["item_values"][item["name"]]["groups"]
        row = {
            "kind": "item",
            "element": item["element"],
            "item": item["name"],
            "label": item["label"],
            "respondents": len(answered),
            "value": 100 * agree / len(answered),
            "england_pct": (item_values.get("all") or {}).get("pct"),
        }
        if peer_group:
            row |= {"peer_group": peer_group, "peer_pct": (item_values.get(peer_group) or {}).get("pct")}
        rows.append(row)
    return rows


def profile_csv(rows: list[dict[str, Any]]) -> str:
    """The profile as CSV text, numbers written as the page writes them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PROFILE_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                format_number(row.get(c))
                if isinstance(row.get(c), float | int) and c != "kind"
                else row.get(c, "") or ""
                for c in PROFILE_COLUMNS
            ]
        )
    return out.getvalue()


def peer_label(reference: dict[str, Any], key: str | None) -> str:
    """The comparison group's name."""
    return next((g["label"] for g in reference["groups"] if g["key"] == key), "none")


def profile_html(
    rows: list[dict[str, Any]], reference: dict[str, Any], name: str, peer_group: str | None
) -> str:
    """A printable one-page profile (no script), the same numbers as the CSV."""
    e = html.escape
    fewest = min((r["respondents"] for r in rows if r["kind"] == "element"), default=0)
    warning = (
        f"<p class='warning'><strong>Only {fewest} answer(s) on some elements.</strong> With fewer than "
        f"{MIN_RATED} people the interval is too wide to rank the partnership: those elements are not "
        f"rated.</p>"
        if fewest < MIN_RATED
        else ""
    )
    body = []
    for r in (r for r in rows if r["kind"] == "element"):
        value = (
            "" if r.get("value") is None else f"{r['value']:.2f} ({r['ci_low']:.2f} to {r['ci_high']:.2f})"
        )
        band = "" if r.get("england_p25") is None else f"{r['england_p25']:.2f} to {r['england_p75']:.2f}"
        where = reference["placements"].get(r.get("placement", ""), "no answers")
        body.append(
            f"<tr><th "
            f"scope='row'>{e(r['label'])}</th><td>{r['respondents']}</td><td>{value}</td><td>{band}</td>"
            f"<td>{e(where)}</td><td>{e(r['rating'])}</td></tr>"
        )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>7S profile: "
        f"{e(name)}</title><style>body{{font-family:sans-serif;max-width:60rem;margin:1rem auto}}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3rem .5rem;text-align:left}"
        ".warning{border-left:4px solid #b35900;padding-left:.5rem}</style></head><body>"
        f"<h1>7S profile: {e(name)}</h1><p>{e(reference['data_note'])}</p>{warning}"
        f"<p>Comparison group: {e(peer_label(reference, peer_group))}. {e(reference['rating_rule'])}</p>"
        "<table><thead><tr><th scope='col'>Element</th><th scope='col'>People</th>"
        "<th scope='col'>Score (95% interval)</th><th scope='col'>England middle half</th>"
        "<th scope='col'>Placement</th><th scope='col'>Rating</th></tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table></body></html>\n"
    )


def main(argv: list[str] | None = None) -> None:
    from pipeline.core.config import load_config
    from pipeline.core.io import write_text

    parser = argparse.ArgumentParser(prog="lsp-rap profile", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="a CSV or XLSX export of the partnership's 7S answers")
    parser.add_argument(
        "--lsp", help="the LSP's id (lsp_id, as in the frame): selects its rows, sets its groups"
    )
    parser.add_argument(
        "--group",
        help="comparison group: its key (e.g. tier:single, 'maturity:more mature'), or a partition "
        "(tier, authority_type, region, deprivation) for the LSP's own group where the reference values "
        "list LSPs",
    )
    parser.add_argument(
        "--reference", type=Path, help="the reference values (default analysis/improvement_tool.json)"
    )
    parser.add_argument("--out", type=Path, help="folder for the profile files (default: beside FILE)")
    arguments = parser.parse_args(argv)
    reference_path = arguments.reference or load_config().analysis_dir / "improvement_tool.json"
    if not reference_path.exists():
        raise PipelineError(f"{reference_path}: not found; run `{rebuild_command('all')}` first")
    reference = json.loads(reference_path.read_text(encoding="utf-8"))
    loaded = answers(read_table(arguments.file), reference, str(arguments.file), arguments.lsp)
    lsp = next((x for x in reference.get("lsps") or [] if x["id"] == loaded["lsp_id"]), None)
    peer = peer_group_key(reference, lsp, arguments.group)
    left_out = reference.get("lsps_left_out")
    if left_out and peer is None:
        # As the page says it: without the list an lsp_id cannot name the partnership's groups.
        print(
            f"compared with England only: the reference values do not list the frame's "
            f"{left_out['frame_lsps']:,} LSPs (they are listed up to {left_out['list_max']:,}), so "
            f"choose a comparison group by name with --group ({group_keys(reference)})"
        )
    rows = compute_profile(loaded, reference, peer)
    out_dir = arguments.out or arguments.file.parent
    stem = arguments.file.stem
    name = lsp["name"] if lsp else stem
    write_text(out_dir / f"{stem}_profile.csv", profile_csv(rows))
    write_text(out_dir / f"{stem}_profile.html", profile_html(rows, reference, name, peer))
    print(f"wrote {out_dir / (stem + '_profile.csv')} and {out_dir / (stem + '_profile.html')}")


def peer_group_key(
    reference: dict[str, Any], lsp: dict[str, Any] | None, partition: str | None
) -> str | None:
    """The LSP's group in the chosen partition (tier by default); None when the LSP is not known.

    A group key itself (``"maturity:more mature"``) is taken as given: the frame does not say how mature an
    LSP is, so the partnership says which maturity group it belongs to.
    """
    if partition and ":" in partition:
        if not any(g["key"] == partition and g["respondents"] for g in reference["groups"]):
            raise PipelineError(
                f"--group {partition}: not a published comparison group ({group_keys(reference)})"
            )
        return partition
    left_out = reference.get("lsps_left_out")
    if partition and left_out:
        raise PipelineError(
            f"--group {partition}: the reference values do not list the frame's {left_out['frame_lsps']:,} "
            f"LSPs (they are listed up to {left_out['list_max']:,}), so the partnership's {partition} "
            f"group cannot be looked up; name the group itself ({group_keys(reference)})"
        )
    if lsp is None:
        return None
    partition = partition or "tier"
    column = {
        "tier": "tier",
        "authority_type": "authority_type",
        "region": "region",
        "deprivation": "imd_band",
    }
    if partition not in column:
        raise PipelineError(
            f"--group {partition}: the frame does not say which {partition} group an LSP is in"
        )
    return f"{partition}:{lsp[column[partition]]}"


def group_keys(reference: dict[str, Any]) -> str:
    """The published comparison groups' keys, as ``--group`` takes them."""
    return ", ".join(g["key"] for g in reference["groups"] if g["respondents"] and g["key"] != "all")
