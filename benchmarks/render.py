"""Markdown of a report: results.md, the results section of docs/benchmarks.md, the ingest 50k table."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from measure import med
from sandbox import (
    DOCS,
    DOCS_END,
    DOCS_START,
    FIGURE_MODULE,
    IMPORT_FLOOR,
    STAGE_IMPORTS,
    STAGE_NAMES,
    VALIDATE_MODULE,
)
from targets import Target

BUSY_CORES = 0.25  # other processes using this many cores during a measurement are reported


def fmt_seconds(block: dict[str, Any] | None) -> str:
    if not block:
        return "–"
    return f"{block['median']:.2f} ({block['min']:.2f}–{block['max']:.2f})"


def fmt_mib(block: dict[str, Any] | None) -> str:
    if not block:
        return "–"
    if block["max"] - block["min"] < 0.5:
        return f"{block['median']:.0f}"
    return f"{block['median']:.0f} ({block['min']:.0f}–{block['max']:.0f})"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def results_markdown(report: dict[str, Any], targets: list[Target]) -> str:
    m = report["machine"]
    settings = report["settings"]
    bundled = report["bundled"]
    runs = settings["runs"]
    packages = ", ".join(f"{name} {version}" for name, version in m["packages"].items())
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` ({' '.join(settings['argv']) or 'default options'}) on {m['date']}. "
        f"Times in seconds, peak RSS in MiB; each cell is the median (min–max) of {runs} runs.",
        "",
        f"- **Machine**: {m['cpu']}, {m['cores']} cores ({m['cores_available']} available), "
        f"{m['memory_gib']} GiB memory; {m['os']}",
        f"- **Software**: Python {m['python']}, {m['make']}; {packages}",
        f"- **Code**: git commit {m['commit']}" + (" with uncommitted changes" if m["dirty"] else ""),
        f"- **Bytecode**: {settings['bytecode']}",
        "",
        "## Bundled survey (191 coordinators, 282 partners)",
        "",
    ]
    make = bundled.get("make", {})

    def row(label: str, block: dict[str, Any], notes: str = "") -> list[str]:
        notes = "; ".join([notes, *block["failures"][:1]]).strip("; ")
        return [
            label,
            fmt_seconds(block["seconds"]),
            fmt_seconds(block["in_stage_seconds"]),
            fmt_mib(block["max_rss_mib"]),
            fmt_load(block),
            notes,
        ]

    rows = []
    if "import_floor" in bundled:
        rows += [
            row(
                f"import floor ({IMPORT_FLOOR})",
                bundled["import_floor"],
                first(bundled["import_floor"]["notes"]),
            ),
            row(
                f"for comparison, the issue-7 floor: `{STAGE_IMPORTS}`",
                bundled["stage_imports"],
                "no stage imports statsmodels.api",
            ),
        ]
    if make:
        rows += [
            row("cold `make all` (fresh copy)", make["cold"], first(make["cold"]["notes"])),
            row("no-op `make all`", make["noop"], first(make["noop"]["notes"])),
            row(
                f"`make all` after `touch {FIGURE_MODULE}` (time only, same contents)",
                make["touch_figure_mtime"],
                first(make["touch_figure_mtime"]["notes"]),
            ),
            row(
                f"`make all` after editing `{FIGURE_MODULE}` (a comment added)",
                make["touch_figure"],
                first(make["touch_figure"]["notes"]),
            ),
            row(
                f"`make all` after editing `{VALIDATE_MODULE}` (a comment added)",
                make["touch_validate"],
                first(make["touch_validate"]["notes"]),
            ),
        ]
    if make.get("figure_cpu", {}).get("seconds"):
        cpu = make["figure_cpu"]["seconds"]
        rows.append(
            [
                "one figure, CPU seconds (every figure of every cold build)",
                f"{cpu['median']:.2f} ({cpu['min']:.2f}–{cpu['max']:.2f})",
                "",
                "",
                fmt_load(make["figure_cpu"]),
                f"{len(cpu['runs'])} figures drawn",
            ]
        )
    if bundled.get("make_test"):
        test = bundled["make_test"]
        rows.append(row("`make test` in a fresh copy", test, first(test["notes"])))
    if "stages" in bundled:
        for name in STAGE_NAMES:
            rows.append(row(f"stage `{name}` alone", bundled["stages"][name]))
        rows.append(row("all stages one by one (sum; peak = max)", bundled["stages"]["total"]))
    if rows:
        lines += table(
            ["what", "time (s)", "in-stage time (s)", "peak RSS (MiB)", "other load (cores)", "notes"], rows
        )
    else:
        lines.append(f"Not measured in this run (phases: {', '.join(settings.get('phases', []))}).")
    lines += ["", "## Scaling (synthetic surveys at K times the bundled size)", ""]
    scaling = [entry for entry in report["scaling"] if "stages" in entry]
    failed = [entry for entry in report["scaling"] if "stages" not in entry]
    if scaling:
        lines += scaling_tables(report, scaling)
    for entry in failed:
        lines.append(f"- {entry['scale']}x: generation failed: {entry['generation_error']}")
    lines += engine_table(report.get("engine_vs_r"))
    lines += ["", load_note(report)]
    lines += ["", "## Targets", "", "```", *(target.line() for target in targets), "```", ""]
    return "\n".join(lines)


def engine_table(engine: dict[str, Any] | None) -> list[str]:
    """The engine against R's survey package (benchmarks/engine_vs_r.py), one row per size."""
    if not engine:
        return []
    lines = ["", "## The survey engine against R's survey package (same data, same run)", ""]
    if engine.get("error"):
        return [*lines, f"Failed: {engine['error']}"]
    if engine["r"] != "available":
        lines += [f"R's side skipped: {engine['r']}. The engine's times alone:", ""]

    def cell(block: dict[str, Any] | None, scale: float = 1.0, digits: int = 2) -> str:
        if not block:
            return "–"
        return (
            f"{block['median'] * scale:.{digits}f} "
            f"({block['min'] * scale:.{digits}f}–{block['max'] * scale:.{digits}f})"
        )

    def gaps(entry: dict[str, Any]) -> str:
        found = entry.get("largest_difference_from_r") or {}
        return ", ".join(f"{key} {value:.1e}" for key, value in found.items()) or "–"

    lines += table(
        [
            "respondents",
            "R (CPU-s)",
            "engine, batch path (CPU-s)",
            "ratio",
            "engine, per-item path (CPU-s)",
            "ratio",
            "one olr fit (ms)",
            "largest difference from R",
        ],
        [
            [
                f"{int(n):,}",
                cell(entry["r_cpu_seconds"]),
                cell(entry["engine_batch_cpu_seconds"]),
                cell(entry["ratio_batch"], digits=3),
                cell(entry["engine_plain_cpu_seconds"]),
                cell(entry["ratio_plain"], digits=3),
                cell(entry["olr_fit_cpu_seconds"], 1000.0, 1),
                gaps(entry),
            ]
            for n, entry in engine["sizes"].items()
        ],
    )
    lines += [
        "",
        "Per size: 60 Likert items; per item the proportion agreeing with a logit 95% CI by tier and by "
        "authority type, the Rao-Scott F by tier and the proportional-odds fit on tier + maturity. CPU "
        "time of the work alone in each process (libraries loaded, data read). The olr coefficients "
        "differ from R's by R's default optimiser tolerance (the engine converges fully).",
    ]
    return lines


def scaling_tables(report: dict[str, Any], scaling: list[dict[str, Any]]) -> list[str]:
    """End to end (`make all`) per scale, then each stage's wall time, CPU, in-stage time and peak RSS
    per scale, and the largest scale's timeline (which stage ran when, and where)."""
    scales = [f"{entry['scale']}x" for entry in scaling]

    def exponent(name: str, key: str) -> str:
        return fmt_exponent(report["exponents"].get("end to end" if name == "total" else name, {}).get(key))

    def cell(entry: dict[str, Any], name: str, key: str, fmt: Callable[[Any], str]) -> str:
        block = entry["stages"].get(name)
        if block is None:  # a stage the run's version of the chain did not have
            return "–"
        if block["failures"]:
            return f"STOPPED: {block['failures'][0]}"
        if block.get(key):
            return fmt(block[key])
        return "not run (make stopped)" if entry["stages"]["total"]["failures"] else "–"

    def generated(entry: dict[str, Any]) -> str:
        generation = entry["generation"]
        if "seconds" not in generation:
            return "reused (--scaled-data)"
        return f"{generation['seconds']:.1f} s, {generation['max_rss_mib']:.0f} MiB"

    def total_cell(entry: dict[str, Any], key: str, fmt: Callable[[Any], str]) -> str:
        total = entry["stages"]["total"]
        if not total["failures"]:
            return fmt(total.get(key))
        # A build that stopped: what it had used by then (last run), said so.
        stopped = [
            run for run in entry.get("timelines", []) if run.get("failure") and run.get(key) is not None
        ]
        if not stopped:
            return "–"
        value = stopped[-1][key]
        shown = f"{value:.0f}" if key.endswith("mib") else f"{value:.2f}"
        return f"{shown} (when make stopped)"

    def result(entry: dict[str, Any]) -> str:
        failures = entry["stages"]["total"]["failures"]
        return f"MISS: {'; '.join(sorted(set(failures)))}" if failures else "finished"

    lines = ["### End to end: `make all` on the scaled survey", ""]
    lines += table(
        ["", *scales, "exponent"],
        [
            ["responses (LSPs)", *(f"{e['responses']:,} ({e['lsps']:,})" for e in scaling), ""],
            ["generating the survey (not timed with the build)", *(generated(e) for e in scaling), ""],
            ["result", *(result(e) for e in scaling), ""],
            [
                "wall time (s)",
                *(total_cell(e, "seconds", fmt_seconds) for e in scaling),
                exponent("total", "process"),
            ],
            [
                "CPU (s): make, every stage, the stage server",
                *(total_cell(e, "cpu_seconds", fmt_seconds) for e in scaling),
                exponent("total", "cpu"),
            ],
            [
                "of which the stage server's own (its preload)",
                *(total_cell(e, "server_own_cpu_seconds", fmt_seconds) for e in scaling),
                "",
            ],
            [
                "peak RSS of the largest single process (MiB)",
                *(total_cell(e, "max_rss_mib", fmt_mib) for e in scaling),
                "",
            ],
            [
                "largest memory of all processes at once, PSS (MiB)",
                *(total_cell(e, "concurrent_pss_mib", fmt_mib) for e in scaling),
                "",
            ],
            [
                "the same as summed RSS (MiB; counts shared pages once per process)",
                *(total_cell(e, "concurrent_rss_mib", fmt_mib) for e in scaling),
                "",
            ],
            [
                "sampling that memory took (CPU-s; counted in no figure above)",
                *(total_cell(e, "memory_sampler_cpu_seconds", fmt_seconds) for e in scaling),
                "",
            ],
            [
                "other load (cores; median, max)",
                *(
                    fmt_load(e["stages"]["total"]) if not e["stages"]["total"]["failures"] else "–"
                    for e in scaling
                ),
                "",
            ],
        ],
    )
    for title, key, fmt, exponent_key in (
        ("Each stage's wall time in the build (s)", "seconds", fmt_seconds, "process"),
        ("Each stage's CPU (s), with its workers", "cpu_seconds", fmt_seconds, "cpu"),
        (
            "Each stage's own logged time (s): no start-up or imports",
            "in_stage_seconds",
            fmt_seconds,
            "in_stage",
        ),
    ):
        lines += ["", f"### {title}", ""]
        lines += table(
            [
                "stage",
                *scales,
                "exponent",
                *(["local exponent, last two scales"] if key == "in_stage_seconds" else []),
            ],
            [
                [
                    f"`{name}`",
                    *(cell(e, name, key, fmt) for e in scaling),
                    exponent(name, exponent_key),
                    *([exponent(name, "in_stage_local")] if key == "in_stage_seconds" else []),
                ]
                for name in STAGE_NAMES
            ],
        )
    lines += ["", "### Each stage's peak RSS (MiB), its largest process", ""]
    lines += table(
        ["stage", *scales],
        [[f"`{name}`", *(cell(e, name, "max_rss_mib", fmt_mib) for e in scaling)] for name in STAGE_NAMES],
    )
    largest = scaling[-1]
    timeline = (largest.get("timelines") or [None])[-1]
    if timeline:
        lines += [
            "",
            f"### When each stage ran: {largest['scale']}x, last run",
            "",
            "Seconds from the start of `make all`; the stage server runs a stage unless it was still "
            "preloading when make started it.",
            "",
        ]
        lines += table(
            [
                "stage",
                "start",
                "end",
                "wall (s)",
                "CPU (s)",
                "peak RSS (MiB)",
                "in-stage (s)",
                "ran in",
                "outcome",
            ],
            [
                [
                    f"`{row['stage']}`",
                    f"{row['start']:.1f}",
                    f"{row['end']:.1f}",
                    f"{row['seconds']:.1f}",
                    f"{row['cpu_seconds']:.1f}",
                    f"{row['max_rss_mib']:.0f}",
                    "–" if row["in_stage_seconds"] is None else f"{row['in_stage_seconds']:.1f}",
                    row["where"],
                    row.get("error", "ok"),
                ]
                for row in timeline["rows"]
            ],
        )
    lines += [
        "",
        "Each scale is one `make all` in a fresh copy whose data/raw holds the scaled exports and frame "
        "(config.yaml names them), with make's -j from the cores and the stage server on, as a user runs "
        "it; stages run side by side, so a stage's wall time includes waiting for a core. CPU counts make, "
        "every stage and its workers and the stage server's preload. Peak RSS is per process (the largest "
        "of make's descendants and the server's children); all processes at once is sampled every 0.5 s "
        "from /proc. Exponent: least-squares slope of log(median) on log(size) over the scales run; the "
        "local exponent is the slope between the last two scales.",
    ]
    return lines


def fmt_load(block: dict[str, Any]) -> str:
    load = block.get("other_processes_cores")
    return "–" if not load else f"{load['median']:.2f}, {load['max']:.2f}"


def load_note(report: dict[str, Any]) -> str:
    """How busy the rest of the machine was while the measurements ran."""
    bundled = report["bundled"]
    blocks = [bundled[key] for key in ("import_floor", "stage_imports", "make_test") if bundled.get(key)]
    blocks += [block for key, block in bundled.get("make", {}).items() if key != "edits"]
    blocks += [block for key, block in bundled.get("stages", {}).items() if key != "total"]
    for entry in report["scaling"]:
        blocks += [block for key, block in entry.get("stages", {}).items() if key == "total"]
    values = [
        value for block in blocks for value in (block.get("other_processes_cores") or {}).get("runs", [])
    ]
    busy = sum(value >= BUSY_CORES for value in values)
    return (
        "Other load: CPU used by other processes while a command ran, from /proc/stat minus the "
        f"command's own CPU time, in cores ({report['machine']['cores_available']} available). "
        f"{busy} of {len(values)} measured commands ran while other processes used {BUSY_CORES} cores "
        "or more; on a shared machine that slows them, so compare like with like."
    )


def first(notes: Sequence[str]) -> str:
    distinct = sorted(set(notes))
    return "; ".join(distinct) if len(distinct) <= 2 else f"{distinct[0]} (and {len(distinct) - 1} others)"


def fmt_exponent(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def update_docs(markdown: str) -> None:
    """Copy the results (without their title) between the markers of docs/benchmarks.md."""
    if not DOCS.exists():
        return
    text = DOCS.read_text(encoding="utf-8")
    if DOCS_START not in text or DOCS_END not in text:
        return
    # Drop the title; every heading goes one level down, under the document's own section.
    lines = markdown.split("\n")[2:]
    body = "\n".join(f"#{line}" if line.startswith("#") else line for line in lines).strip("\n")
    head, rest = text.split(DOCS_START, 1)
    _, tail = rest.split(DOCS_END, 1)
    DOCS.write_text(f"{head}{DOCS_START}\n{body}\n{DOCS_END}{tail}", encoding="utf-8")


def ingest_50k_markdown(block: dict[str, Any] | None) -> str:
    """The section of results.md for the 50,000-row ingest and validate timings."""
    if not block or "files" not in block:
        return ""
    rows = []
    for label, stages in block["files"].items():
        ingest, validate = stages["ingest"], stages["validate"]
        total = [(med(ingest["seconds"]) or 0) + (med(validate["seconds"]) or 0)]
        rows.append(
            [
                label,
                fmt_seconds(ingest["seconds"]),
                fmt_seconds(ingest["in_stage_seconds"]),
                fmt_seconds(validate["seconds"]),
                fmt_seconds(validate["in_stage_seconds"]),
                f"{total[0]:.1f} s",
                f"{max(med(ingest['max_rss_mib']) or 0, med(validate['max_rss_mib']) or 0):.0f} MiB",
            ]
        )
    lines = [
        "",
        "## Ingest and validate at 50,000 rows",
        "",
        "A 50,000-row coordinator CSV and a 50,000-row partner workbook (.xlsx), cycled from the committed "
        "exports (benchmarks/ingest_50k.py); each stage is its own process (median of the runs; in-stage "
        "time excludes start-up and imports).",
        "",
        *table(
            [
                "input",
                "ingest",
                "ingest in stage",
                "validate",
                "validate in stage",
                "ingest + validate",
                "peak RSS",
            ],
            rows,
        ),
    ]
    return "\n".join(lines) + "\n"
