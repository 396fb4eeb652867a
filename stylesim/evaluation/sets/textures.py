"""Build a style-only retrieval set from GIMP's patterns (Debian `gimp-data`, fetched and cached
by stylesim/evaluation/sets/debian.py): every pattern is one class, and each class gets CROPS random crops
(random scale 0.5-1 of a 3x3 tiling, random position, random 90-degree rotation), resized to
SIZE. A query crop should find the other crops of its pattern.

With --recolour every crop's hue is also rotated by a random angle and its saturation scaled by
0.6-1.4: the pattern stays, the palette changes, so a colour histogram cannot recognise it and
the set measures texture. (Without it, each pattern's crops share one palette, and a colour
histogram alone finds them: mAP@10 0.99.)

    python -m stylesim.evaluation.sets.textures OUT_DIR [--crops 4] [--size 192] [--seed 0] [--recolour]

writes OUT_DIR/<folder>/<pattern>-<k>.jpg and OUT_DIR/labels.csv (path,style,content with an
empty content: the set measures style only).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from stylesim.evaluation.sets.debian import gimp_patterns

MIN_SIDE = 32  # patterns smaller than this are skipped (a few 1-2 px stripe tiles)


def random_crop(pattern: Image.Image, size: int, rng: np.random.Generator) -> Image.Image:
    w, h = pattern.size
    tiled = Image.new("RGB", (3 * w, 3 * h))
    for i in range(3):
        for j in range(3):
            tiled.paste(pattern, (i * w, j * h))
    side = int(min(w, h) * 2 * rng.uniform(0.5, 1.0))
    x, y = int(rng.integers(0, 3 * w - side + 1)), int(rng.integers(0, 3 * h - side + 1))
    crop = tiled.crop((x, y, x + side, y + side)).rotate(90 * int(rng.integers(0, 4)))
    return crop.resize((size, size), Image.Resampling.LANCZOS)


def recolour(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Hue rotated by a random angle, saturation scaled by 0.6-1.4 (brightness kept)."""
    h, s, v = (np.asarray(c, np.float32) for c in image.convert("HSV").split())
    h = (h + rng.uniform(0, 256)) % 256
    s = np.clip(s * rng.uniform(0.6, 1.4), 0, 255)
    hsv = [Image.fromarray(c.round().astype(np.uint8), "L") for c in (h, s, v)]
    return Image.merge("HSV", hsv).convert("RGB")


def build_textures(
    out: Path, crops: int = 4, size: int = 192, seed: int = 0, recoloured: bool = False
) -> list[tuple[Path, str]]:
    """Write the crops; returns (path, class) rows and writes out/labels.csv."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[Path, str]] = []
    for folder, name, pattern in gimp_patterns():
        if min(pattern.size) < MIN_SIDE:
            continue
        for k in range(crops):
            path = out / folder / f"{name}-{k}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            crop = random_crop(pattern, size, rng)
            (recolour(crop, rng) if recoloured else crop).save(path, quality=92)
            rows.append((path, f"{folder}/{name}"))
    with open(out / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "style", "content"])
        for path, label in rows:
            writer.writerow([path.relative_to(out).as_posix(), label, ""])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--crops", type=int, default=4)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recolour", action="store_true", help="random hue and saturation per crop")
    args = parser.parse_args()
    rows = build_textures(args.out, args.crops, args.size, args.seed, args.recolour)
    print(f"wrote {len(rows)} crops of {len({r[1] for r in rows})} patterns to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
