"""The figures as the page embeds them: each 150-dpi PNG downscaled deterministically to screen resolution,
its title from the SVG, its caption lines, its description from the registry and its download links."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import logging
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.codebook import Codebook
from pipeline.core.errors import PipelineError
from pipeline.core.io import write_bytes
from pipeline.core.parallel import side_by_side
from pipeline.core.paths import PROJECT_ROOT, relative_to_root
from pipeline.stages.report.inputs import MAIN_PAGE
from pipeline.stages.report.sections import SECTIONS
from pipeline.study import outputs as registered

log = logging.getLogger("pipeline.stages.report")
# The figure stage draws at 150 dpi (pipeline/figures/common.py, DPI); the page shows each figure at
# 110 dpi, sharp at its natural size on a screen and light enough that 25 figures stay well under 3 MB.
SOURCE_DPI, SCREEN_DPI = 150, 110


@dataclass(frozen=True)
class FigureEntry:
    """One figure as the page shows it."""

    name: str
    title: str
    description: str
    caption: tuple[tuple[str, str], ...]
    image: str
    width: int
    height: int
    links: tuple[tuple[str, str], ...]
    rows: int
    number: int = 0
    page: str = MAIN_PAGE
    # What the chart shows, stated from its own plotted numbers: the title drawn in the figure and kept in
    # its SVG (pipeline.study.figure_titles), one sentence for the picture and the page.
    heading: str = ""

    @property
    def anchor(self) -> str:
        return f"figure-{self.name}"

    @property
    def label(self) -> str:
        return f"Figure {self.number}"

    @property
    def alt(self) -> str:
        return f"{self.label}: {self.heading or self.title}. {self.description}"


def _svg_title(svg: Path) -> str | None:
    head = svg.read_text(encoding="utf-8")[:4000]
    match = re.search(r"<dc:title>(.*?)</dc:title>", head, re.DOTALL)
    if not match:
        return None
    return " ".join(html.unescape(match.group(1)).split())


# Downscaling is most of the report's time; the result depends only on the source bytes and these
# settings, so it is kept in make's bookkeeping folder, keyed by both, and a rebuild redoes only the
# figures that changed. Change SCREEN_VERSION with the method.
SCREEN_VERSION = 2
SCREEN_CACHE = PROJECT_ROOT / ".make" / "screen"


def _downscale(source_bytes: bytes) -> tuple[bytes, int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(source_bytes)) as source:
        image = source.convert("RGB")
    width = max(1, round(image.width * SCREEN_DPI / SOURCE_DPI))
    height = max(1, round(image.height * SCREEN_DPI / SOURCE_DPI))
    small = image.resize((width, height), Image.Resampling.LANCZOS)
    # 256 colours by maximum coverage: every colour within 8 levels of the resampled image (median cut left
    # some 74 levels off) for 0.7 of the time; zlib at its default level, not 9: 3% larger for a sixth of
    # the time. Both were about 2 of the report's 3.5 CPU-s for 26 figures, on the cold build's
    # critical path (the figures, then the report).
    small = small.quantize(colors=256, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue(), width, height


def _cache_file(source_bytes: bytes, cache: Path | None) -> Path | None:
    key = hashlib.sha256(f"{SCREEN_VERSION}:{SOURCE_DPI}:{SCREEN_DPI}:".encode() + source_bytes).hexdigest()
    return None if cache is None else cache / f"{key}.png"


def _read_cached(cached: Path | None) -> tuple[bytes, int, int] | None:
    if cached is None or not cached.is_file():
        return None
    data = cached.read_bytes()
    width, height = struct.unpack(">II", data[16:24])  # the PNG header's IHDR size
    return data, width, height


def _store(cached: Path | None, data: bytes) -> None:
    if cached is None:
        return
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(cached, data)
    except OSError as error:  # a read-only checkout still builds the report, only slower
        log.debug("screen-image cache not written: %s", error)


def screen_png(png: Path, cache: Path | None = SCREEN_CACHE) -> tuple[bytes, int, int]:
    """The figure's PNG at screen resolution: resampled, 256 colours, no dithering, so it is deterministic."""
    source_bytes = png.read_bytes()
    cached = _cache_file(source_bytes, cache)
    hit = _read_cached(cached)
    if hit is not None:
        return hit
    data, width, height = _downscale(source_bytes)
    _store(cached, data)
    return data, width, height


def screen_pngs(pngs: list[Path], cache: Path | None = SCREEN_CACHE) -> dict[Path, tuple[bytes, int, int]]:
    """``screen_png`` of every figure. After a cold figure stage every image is new, and downscaling them
    is most of the report's time, on the build's critical path: the uncached ones are downscaled side by
    side on the machine's cores (pipeline.core.parallel)."""
    images: dict[Path, tuple[bytes, int, int]] = {}
    todo: dict[Path, tuple[bytes, Path | None]] = {}
    for png in pngs:
        source_bytes = png.read_bytes()
        cached = _cache_file(source_bytes, cache)
        hit = _read_cached(cached)
        if hit is None:
            todo[png] = (source_bytes, cached)
        else:
            images[png] = hit
    made = side_by_side(_downscale, [source for source, _ in todo.values()])
    for (png, (_, cached)), image in zip(todo.items(), made, strict=True):
        _store(cached, image[0])
        images[png] = image
    return {png: images[png] for png in pngs}


def _caption_lines(text: str) -> tuple[tuple[str, str], ...]:
    lines = []
    for line in text.strip().splitlines():
        label, colon, rest = line.partition(":")
        lines.append((label.strip(), rest.strip()) if colon and len(label) < 40 else ("", line.strip()))
    return tuple(lines)


def figure_description(name: str, codebook: Codebook) -> str:
    """What the chart shows, in a sentence: the figure's registry entry says it (pipeline.study.outputs)."""
    figure = {figure.name: figure for figure in registered.figures(codebook)}.get(name)
    if figure is None or not figure.description:
        raise PipelineError(
            f"figure {name} has no description: add one to its entry in pipeline/study/outputs/figures.py"
        )
    return figure.description


def load_figures(
    figures_dir: Path, report_dir: Path, codebook: Codebook, synthetic: bool
) -> dict[str, FigureEntry]:
    """Every figure in ``figures_dir``, numbered in the order the sections show them."""
    pages = {name: section.page for section in SECTIONS for name in section.figure_names(codebook)}
    order = list(pages)
    on_disk = sorted(png.stem for png in figures_dir.glob("*.png"))
    unplaced = sorted(set(on_disk) - set(order))
    if unplaced:
        raise PipelineError(
            f"figures {', '.join(unplaced)} are in no report section: "
            f"name them in a Section of {__name__}.SECTIONS"
        )
    names = [n for n in order if n in on_disk]
    screen_images = screen_pngs([figures_dir / f"{name}.png" for name in names])
    entries = {}
    for name in names:
        png = figures_dir / f"{name}.png"
        data, svg, caption_path = (
            png.with_suffix(".csv"),
            png.with_suffix(".svg"),
            figures_dir / f"{name}.caption.txt",
        )
        if not data.exists():
            raise PipelineError(f"{relative_to_root(png)} has no data file beside it ({data.name})")
        title = (_svg_title(svg) if svg.exists() else None) or name.replace("_", " ").capitalize()
        caption = caption_path.read_text(encoding="utf-8") if caption_path.exists() else ""
        lines = _caption_lines(caption)
        if synthetic and "synthetic" not in caption.lower():
            lines += (("Synthetic data", "not the Audit Commission's figures"),)
        image, width, height = screen_images[png]
        links = [(f"PNG, {SOURCE_DPI} dpi", png), ("SVG", svg), ("numbers plotted, CSV", data)]
        entries[name] = FigureEntry(
            name=name,
            title=title,
            description=figure_description(name, codebook),
            caption=lines,
            image="data:image/png;base64," + base64.b64encode(image).decode("ascii"),
            width=width,
            height=height,
            links=tuple(
                (label, Path(os.path.relpath(path.resolve(), report_dir.resolve())).as_posix())
                for label, path in links
                if path.exists()
            ),
            rows=sum(1 for _ in data.open(encoding="utf-8")) - 1,
            number=len(entries) + 1,
            page=pages[name],
            heading=title,
        )
    return entries
