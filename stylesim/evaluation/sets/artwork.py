"""Build a crop-identification set from real artwork in Debian's wallpaper packages: each artwork
is one class and gets CROPS random square crops (side 0.3-0.6 of its short side, anywhere in it,
resized to SIZE). A query crop should find the other crops of its artwork: palette, brushwork and
motifs all count, as in the held-out set of painting crops this mirrors (issue 17). Style label
= the artwork (given by the packages: one file per design), content label empty.

Two sets from disjoint packages, so one can be tuned on and the other not:
  wallpapers  plasma-workspace-wallpapers (every design, its largest image), ukui-wallpapers,
              lomiri-wallpapers-16.04: illustrations, digital paintings and photos
  artwork     desktop-base and debian-edu-artwork-* themes (each theme's wallpaper), gnome-backgrounds
              (one variant per design), mate-backgrounds' abstract and desktop art, sway and lomiri's
              warty: vector illustrations and abstract art (kept out of every tuning)

Variants of one design (light/dark, portrait, lock screen, login) are left out, so no two classes
share a drawing. SVGs are drawn by cairosvg at RENDER px wide.

    python -m stylesim.evaluation.sets.artwork OUT_DIR [--set wallpapers|artwork] [--crops 4] [--size 256]

writes OUT_DIR/<package>/<design>-<k>.jpg and OUT_DIR/labels.csv (path,style,content).
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from stylesim.evaluation.sets.debian import DataUnavailable, fetch_package, write_labels

RENDER = 1600  # SVG drawing width, px
MIN_SIDE = 480  # artworks smaller than this are skipped (crops would be upscaled)
CROP_SIDE = (0.3, 0.6)  # crop side as a fraction of the artwork's short side
MIN_SPREAD = 6.0  # a crop whose grey levels spread less than this (std) is flat: drawn again
TRIES = 20  # draws per crop before the artwork is judged flat and skipped
LICENCES = {
    "plasma-workspace-wallpapers": "GPL-2+ (debian/copyright)",
    "ukui-wallpapers": "CC-BY-SA-3.0 (debian/copyright)",
    "lomiri-wallpapers-16.04": "CC-BY-4.0 / CC-BY-SA-3.0 / CC-BY-SA-4.0 / CC0 (debian/copyright, per file)",
    "desktop-base": "GPL-2+ / GPL-3+ / CC-BY-SA-3.0 (debian/copyright, per theme)",
    "debian-edu-artwork-emerald": "GPL-2+ (debian/copyright)",
    "debian-edu-artwork-homeworld": "GPL-2+ (debian/copyright)",
    "debian-edu-artwork-softwaves": "GPL-2+ (debian/copyright)",
    "debian-edu-artwork-spacefun": "GPL-2+ (debian/copyright)",
    "gnome-backgrounds": "CC-BY-SA-3.0 / CC-BY-SA-2.0 / CC-BY-2.0 (debian/copyright, per file)",
    "mate-backgrounds": "GPL-2+ / CC-BY-SA-4.0 (debian/copyright)",
    "sway-backgrounds": "Expat (debian/copyright)",
    "lomiri-wallpapers": "CC-BY-SA (debian/copyright)",
}
# set -> (package, glob under the package, how a file's design is named)
SOURCES: dict[str, list[tuple[str, str, str]]] = {
    "wallpapers": [
        ("plasma-workspace-wallpapers", "usr/share/wallpapers/*/contents/images/*", "folder3"),
        ("ukui-wallpapers", "usr/share/backgrounds/*", "stem"),
        ("lomiri-wallpapers-16.04", "usr/share/backgrounds/*", "stem"),
    ],
    "artwork": [
        ("desktop-base", "usr/share/desktop-base/*-theme/wallpaper/contents/images/*", "folder4"),
        *(
            (f"debian-edu-artwork-{theme}", "usr/share/desktop-base/*/wallpaper/contents/images/*", "folder4")
            for theme in ("emerald", "homeworld", "softwaves", "spacefun")
        ),
        ("gnome-backgrounds", "usr/share/backgrounds/gnome/*", "variant"),
        ("mate-backgrounds", "usr/share/backgrounds/mate/abstract/*", "stem"),
        ("mate-backgrounds", "usr/share/backgrounds/mate/desktop/*", "stem"),
        ("sway-backgrounds", "usr/share/backgrounds/sway/*", "variant"),
        ("lomiri-wallpapers", "usr/share/backgrounds/*", "stem"),
    ],
}
PICTURE_SUFFIXES = {".png", ".jpg", ".jpeg", ".svg", ".webp"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def design_name(path: Path, rule: str) -> str:
    """The design a file draws: variants (sizes, light/dark, portrait) map to one name."""
    if rule.startswith("folder"):
        return path.parents[int(rule[-1]) - 1].name
    stem = re.sub(r"_\d+x\d+", "", path.stem)
    if rule == "variant":
        stem = re.sub(r"(-[ld]|_Portrait|-(light|dark))$", "", stem, flags=re.IGNORECASE)
        stem = re.sub(r"_(Portrait|Light|Dark)$", "", stem)
    stem = re.sub(r"^Ubuntu-Mate-\w+-no-logo$", "Ubuntu-Mate-no-logo", stem)  # four palettes, one drawing
    return re.sub(r"-(Dark|Light)$", "", stem)


def open_artwork(path: Path) -> Image.Image | None:
    """RGB picture of a file (SVGs drawn RENDER px wide), or None where it cannot be read."""
    try:
        if path.suffix.lower() == ".svg":
            import cairosvg

            png = cairosvg.svg2png(bytestring=path.read_bytes(), output_width=RENDER)
            opened = Image.open(io.BytesIO(png))
        else:
            opened = Image.open(path)
        opened.load()
    except Exception as err:  # a broken or exotic file is skipped with its reason
        log(f"skipped {path.name}: {err}")
        return None
    if opened.mode not in ("RGBA", "LA", "P"):
        return opened.convert("RGB")
    drawn = opened.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", drawn.size, (255, 255, 255, 255)), drawn).convert("RGB")


def designs(name: str) -> Iterator[tuple[str, str, Path]]:
    """(package, design, file) for each design of a set: the largest file (by bytes) of each."""
    for package, pattern, rule in SOURCES[name]:
        root = fetch_package(package)
        best: dict[str, Path] = {}
        for path in sorted(root.glob(pattern)):
            if path.suffix.lower() not in PICTURE_SUFFIXES or not path.is_file():
                continue
            key = design_name(path, rule)
            if key not in best or path.stat().st_size > best[key].stat().st_size:
                best[key] = path
        for key, path in sorted(best.items()):
            yield package, key, path


def random_crop(image: Image.Image, size: int, rng: np.random.Generator) -> Image.Image | None:
    """A square of side CROP_SIDE x the short side, anywhere in the image, resized to ``size``;
    drawn again while it is flat (an empty canvas shows nothing of the artwork), None after TRIES."""
    w, h = image.size
    for _ in range(TRIES):
        side = int(min(w, h) * rng.uniform(*CROP_SIDE))
        x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        crop = image.crop((x, y, x + side, y + side)).resize((size, size), Image.Resampling.LANCZOS)
        if float(np.asarray(crop.convert("L"), np.float32).std()) >= MIN_SPREAD:
            return crop
    return None


def build_artwork(
    out: Path, name: str = "wallpapers", crops: int = 4, size: int = 256, seed: int = 0
) -> list[tuple[Path, str]]:
    """Write the crops of set ``name``; returns (path, class) rows and writes out/labels.csv."""
    if name not in SOURCES:
        raise ValueError(f"unknown artwork set {name!r}; use {' or '.join(SOURCES)}")
    rng = np.random.default_rng(seed)
    rows: list[tuple[Path, str]] = []
    for package, design, path in designs(name):
        image = open_artwork(path)
        if image is None or min(image.size) < MIN_SIDE:
            continue
        pictures = [random_crop(image, size, rng) for _ in range(crops)]
        if any(p is None for p in pictures):
            log(f"skipped {package}/{design}: mostly flat")
            continue
        (out / package).mkdir(parents=True, exist_ok=True)
        for k, picture in enumerate(pictures):
            target = out / package / f"{design}-{k}.jpg"
            picture.save(target, quality=92)  # type: ignore[union-attr]
            rows.append((target, f"{package}/{design}"))
    if not rows:
        raise DataUnavailable(f"{name}: no artwork found in {', '.join(p for p, _, _ in SOURCES[name])}")
    write_labels(out, [(p, label, "") for p, label in rows])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--set", dest="name", default="wallpapers", choices=sorted(SOURCES))
    parser.add_argument("--crops", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        rows = build_artwork(args.out, args.name, args.crops, args.size, args.seed)
    except DataUnavailable as err:
        log(str(err))
        return 1
    log(f"{len(rows)} crops of {len({label for _, label in rows})} artworks in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
