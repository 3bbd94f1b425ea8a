"""Image regression of every registered figure: the PNG `make all` draws against a committed baseline.

Baselines (tests/figure_baselines/<figure>.png) are the built PNGs reduced by block averaging
(``REDUCTION`` pixels square to one), which keeps them small and averages away anti-aliasing; the
comparison reduces the new PNG the same way. Regenerate them after a change you have looked at:

    make all && .venv/bin/python -m tests.figure_images

which rewrites the baseline of every registered figure from figures/ (and removes any other).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from pipeline.core.paths import PROJECT_ROOT

BASELINES = Path(__file__).parent / "figure_baselines"
REDUCTION = 4
# Mean absolute difference (0-1 scale, over the reduced pixels and channels) allowed against a baseline.
# Measured when the baselines were made: the same figure redrawn, 0.0001 (the baseline's rounding to 8
# bits); anti-aliasing switched off altogether for text, lines and patches, 0.0012-0.0022 (forest, Likert,
# barriers: more than a library's anti-aliasing changes); one word added to the barriers title, 0.0025.
IMAGE_TOLERANCE = 0.0015


def reduced(png: Path) -> np.ndarray:
    """The image as RGB floats in 0-1, each REDUCTION x REDUCTION block averaged (edges trimmed)."""
    from PIL import Image

    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    height, width = (pixels.shape[0] // REDUCTION) * REDUCTION, (pixels.shape[1] // REDUCTION) * REDUCTION
    blocks = pixels[:height, :width].reshape(height // REDUCTION, REDUCTION, width // REDUCTION, REDUCTION, 3)
    return blocks.mean(axis=(1, 3))


def write_baseline(png: Path, baseline: Path) -> None:
    from PIL import Image

    pixels = np.round(reduced(png) * 255.0).astype(np.uint8)
    baseline.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode="RGB").save(baseline, format="PNG", optimize=True)


def difference(png: Path, baseline: Path) -> float:
    """Mean absolute difference between a drawn PNG (reduced) and its baseline; inf if the sizes differ."""
    from PIL import Image

    new = reduced(png)
    with Image.open(baseline) as image:
        old = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    if new.shape != old.shape:
        return float("inf")
    return float(np.abs(new - old).mean())


def registered_figures() -> list[str]:
    from pipeline.core.codebook import load_codebook
    from pipeline.core.config import load_config
    from pipeline.figures import registry

    return list(registry(load_codebook(load_config().codebook)))


def main(argv: list[str]) -> None:
    figures = Path(argv[0]) if argv else PROJECT_ROOT / "figures"
    names = registered_figures()
    missing = [name for name in names if not (figures / f"{name}.png").exists()]
    if missing:
        raise SystemExit(f"{figures}: no PNG for {', '.join(missing)}; run `make all` first")
    for name in names:
        write_baseline(figures / f"{name}.png", BASELINES / f"{name}.png")
    for stale in sorted(BASELINES.glob("*.png")):
        if stale.stem not in names:
            stale.unlink()
    print(f"wrote {len(names)} baselines to {BASELINES.relative_to(PROJECT_ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
